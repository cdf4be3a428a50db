//! The eBPF ML workbench: library behind the `workbench` binary.
//!
//! The path a user walks is laid out in crates (workbench/crates/): `workbench-flow` (captures,
//! the generator, the userspace twin, model files and the compiler), `workbench-data` (datasets,
//! feature tables, pitfalls, training), `workbench-kernel` (the probe, its maps, the lab, replay,
//! verify), `workbench-tui` and `workbench-bench`. This crate is the thin command line on top:
//! `cli` (arguments), `commands` (one module per subcommand), `config` (the settings file) and
//! `demo`.

mod agent;
mod argcheck;
mod cli;
mod commands;
mod config;
pub mod demo;
mod failure;
mod fix_hint;
mod output;
mod pipe;

use clap::{CommandFactory, FromArgMatches};
use color_eyre::eyre::Result;

/// Parses the command line with the config file's values as flag defaults. `config show|check`
/// read the file themselves (a broken file must not stop the command that checks it). Notes in
/// `style` whether JSON output was asked for: from the raw arguments first (for a usage error
/// or a broken config file), then from the parsed ones.
fn parse(style: &mut failure::Style) -> Result<(cli::Cli, Option<(std::path::PathBuf, config::Origin)>)> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    style.json = failure::json_in_args(&args);
    let located = config::locate(&args);
    // `config` reads the file itself; `agent --config FILE` is the agent's own file.
    let is_config_command = matches!(config::subcommand(&args), Some("config" | "agent"));
    let mut cmd = cli::Cli::command();
    if let (Some((path, origin)), false) = (&located, is_config_command) {
        cmd = config::apply::apply(cmd, &config::load(path, *origin)?);
    }
    let tui = cmd.find_subcommand("tui").cloned();
    // Help and version go to stdout and exit 0 as clap prints them; a usage error is returned,
    // for `main` to report (also as JSON when asked for).
    let matches = cmd
        .try_get_matches_from(args)
        .or_else(|e| if e.use_stderr() { Err(e) } else { e.exit() })?;
    style.json = failure::asks_json(&matches);
    let mut cli = cli::Cli::from_arg_matches(&matches)?;
    if let (None, Some(tui)) = (&cli.command, tui) {
        // `workbench` alone is `workbench tui`, with the config's defaults for it too.
        let m = tui.try_get_matches_from(["tui"])?;
        let args = commands::tui::TuiArgs::from_arg_matches(&m)?;
        cli.command = Some(cli::Command::Tui(args));
    }
    Ok((cli, located))
}

/// The command-line definition (every subcommand and argument), for tests and tools that walk
/// it (the help-text check in tests/cli/cli_help.rs).
pub fn command() -> clap::Command {
    cli::Cli::command()
}

/// Runs the command line; errors are returned for `main` to report as `style` (filled in here
/// from the command line) says.
fn run(style: &mut failure::Style) -> Result<()> {
    let (cli, located) = parse(style)?;
    // Commands that touch the kernel first name what a killed run left behind (one line each);
    // not `probe cleanup`, which removes it and says so.
    let cleanup = matches!(
        cli.command,
        Some(cli::Command::Probe(cli::ProbeCommand::Cleanup { .. }))
    );
    if !cleanup
        && matches!(
            cli.command,
            Some(
                cli::Command::Probe(_)
                    | cli::Command::Deploy(_)
                    | cli::Command::Verify(_)
                    | cli::Command::Live(_)
                    | cli::Command::Metrics(_)
                    | cli::Command::Replay(_)
                    | cli::Command::Lab(_)
                    | cli::Command::Bench(_)
                    | cli::Command::Demo(_)
                    | cli::Command::Tui(_)
            )
        )
    {
        workbench_kernel::lifecycle::claims::warn_stale();
    }
    let config_path = cli.config.clone();
    // Commands that read captures with `--lenient` available but not given: a damaged record
    // gets the hint that the flag reads past it.
    style.lenient_available = match &cli.command {
        Some(cli::Command::Features(a)) => !a.lenient,
        Some(cli::Command::Eval(a)) => !a.decide.lenient,
        Some(cli::Command::Skew(a)) => !a.decide.lenient,
        Some(cli::Command::Replay(a)) => !a.lenient,
        _ => false,
    };
    let result = match cli.command {
        Some(cli::Command::Demo(args)) => commands::demo::run(args),
        Some(cli::Command::Probe(cmd)) => commands::probe::run(cmd),
        Some(cli::Command::Deploy(args)) => commands::deploy::run(args),
        Some(cli::Command::Model(cmd)) => commands::model::run(cmd),
        Some(cli::Command::Export(args)) => commands::export::run(args),
        Some(cli::Command::Live(args)) => commands::live::run(args),
        Some(cli::Command::Metrics(args)) => commands::metrics::run(args),
        Some(cli::Command::Verify(args)) => commands::verify::run(args),
        Some(cli::Command::Replay(args)) => commands::replay::run(args),
        Some(cli::Command::Lab(cmd)) => commands::lab::run(cmd),
        Some(cli::Command::Features(args)) => commands::features::run(args),
        Some(cli::Command::GenPcaps(args)) => commands::gen_pcaps::run(args),
        Some(cli::Command::Inspect(args)) => commands::inspect::run(args),
        Some(cli::Command::Train(args)) => commands::train::run(args),
        Some(cli::Command::Eval(args)) => commands::eval::run(args),
        Some(cli::Command::Skew(args)) => commands::skew::run(args),
        Some(cli::Command::EvalTable(args)) => commands::eval_table::run(args),
        Some(cli::Command::Bench(cmd)) => commands::bench::run(cmd),
        Some(cli::Command::Tui(args)) => commands::tui::run(args),
        Some(cli::Command::Screenshots(args)) => commands::screenshots::run(args),
        Some(cli::Command::Config(cmd)) => commands::config::run(cmd, located),
        Some(cli::Command::Agent(args)) => commands::agent::run(args, config_path),
        // `parse` makes `workbench` alone `workbench tui`.
        None => Err(color_eyre::eyre::eyre!("no subcommand: see `workbench --help`")),
    };
    // A dataset cache still being written on its own thread is finished before the exit.
    workbench_data::dataset::cache::wait_for_writes();
    result
}

/// The binary's entry: runs the command line and turns its outcome into the exit status, with
/// one line on stderr for an error (and one JSON object on stdout when JSON was asked for).
pub fn main() -> std::process::ExitCode {
    use std::process::ExitCode;
    // Panic and error hooks (they restore the terminal once the TUI exists).
    let _ = color_eyre::install();
    pipe::install_hook();
    let mut style = failure::Style::default();
    // A print to a closed stdout panics; unwinding runs the commands' cleanup guards first.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&mut style)));
    if pipe::happened() {
        return ExitCode::from(pipe::EXIT_STATUS);
    }
    let result = match outcome {
        Ok(result) => result,
        // Any other panic was reported by the hook (with the terminal restored).
        Err(payload) => return failure::report_panic(payload.as_ref(), style),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if pipe::is_broken_pipe_error(&e) => ExitCode::from(pipe::EXIT_STATUS),
        Err(e) => failure::report(&e, style),
    }
}
