//! The eBPF ML workbench: library behind the `workbench` binary.
//!
//! The path a user walks is laid out in modules: `kernel` (probe loading, attachment, flow
//! table), `lab` (namespaces and veth pairs that traffic may go to), `craft` (packet builder),
//! and `commands` (one module per subcommand).

pub mod argcheck;
pub mod bench;
pub mod capture;
pub mod cli;
pub mod commands;
pub mod config;
pub mod contain;
pub mod craft;
pub mod data;
pub mod demo;
pub mod features;
pub mod flowfmt;
pub mod gen;
pub mod kernel;
pub mod lab;
pub mod lifecycle;
pub mod model;
pub mod pitfalls;
pub mod replay;
pub mod shell;
pub mod train;
pub mod tui;
pub mod twin;
pub mod verify;

use clap::{CommandFactory, FromArgMatches};
use color_eyre::eyre::Result;

/// Parses the command line with the config file's values as flag defaults. `config show|check`
/// read the file themselves (a broken file must not stop the command that checks it).
fn parse() -> Result<(cli::Cli, Option<(std::path::PathBuf, config::Origin)>)> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let located = config::locate(&args);
    let is_config_command = config::subcommand(&args) == Some("config");
    let mut cmd = cli::Cli::command();
    if let (Some((path, origin)), false) = (&located, is_config_command) {
        cmd = config::apply::apply(cmd, &config::load(path, *origin)?);
    }
    let matches = cmd.get_matches_from(args);
    let cli = cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    Ok((cli, located))
}

/// Runs the command line; errors are returned for `main` to print as one line.
pub fn run() -> Result<()> {
    let (cli, located) = parse()?;
    // Commands that touch the kernel first name what a killed run left behind (one line each).
    if matches!(
        cli.command,
        Some(
            cli::Command::Probe(_)
                | cli::Command::Deploy(_)
                | cli::Command::Verify(_)
                | cli::Command::Live(_)
                | cli::Command::Replay(_)
                | cli::Command::Lab(_)
                | cli::Command::Bench(_)
        )
    ) {
        lifecycle::claims::warn_stale();
    }
    let result = match cli.command {
        Some(cli::Command::Demo(args)) => commands::demo::run(args),
        Some(cli::Command::Probe(cmd)) => commands::probe::run(cmd),
        Some(cli::Command::Deploy(args)) => commands::deploy::run(args),
        Some(cli::Command::Model(cmd)) => commands::model::run(cmd),
        Some(cli::Command::Export(args)) => commands::export::run(args),
        Some(cli::Command::Live(args)) => commands::live::run(args),
        Some(cli::Command::Verify(args)) => commands::verify::run(args),
        Some(cli::Command::Replay(args)) => commands::replay::run(args),
        Some(cli::Command::Lab(cmd)) => commands::lab::run(cmd),
        Some(cli::Command::Features(args)) => commands::features::run(args),
        Some(cli::Command::GenPcaps(args)) => commands::gen_pcaps::run(args),
        Some(cli::Command::Inspect(args)) => commands::inspect::run(args),
        Some(cli::Command::Train(args)) => commands::train::run(args),
        Some(cli::Command::Bench(cmd)) => commands::bench::run(cmd),
        Some(cli::Command::Tui(args)) => commands::tui::run(args),
        Some(cli::Command::Screenshots(args)) => commands::screenshots::run(args),
        Some(cli::Command::Config(cmd)) => commands::config::run(cmd, located),
        None => commands::tui::run(commands::tui::TuiArgs::default()),
    };
    // A dataset cache still being written on its own thread is finished before the exit.
    data::cache::wait_for_writes();
    result
}
