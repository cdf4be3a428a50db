//! `workbench tui [--iface IF] [--pcap FILE]` (and `workbench` alone): the interactive TUI.

use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::Result;

use super::print_json;

#[derive(Debug, Args)]
pub struct TuiArgs {
    /// Datasets for the Data, Pitfalls and Train tabs (CSV, Parquet, zip, folders, or captures
    /// with labels-NAME.csv beside them); default: the labelled captures in sample-pcaps/.
    #[arg(value_name = "DATA")]
    pub data: Vec<PathBuf>,
    /// The same as DATA (repeatable), for scripts that build the argument list.
    #[arg(long = "data", value_name = "DATA")]
    pub data_files: Vec<PathBuf>,
    /// Show the probe attached to this interface (default: the first attached one).
    #[arg(long, conflicts_with = "pcap", value_parser = crate::argcheck::iface)]
    pub iface: Option<String>,
    /// Simulate: replay this capture through the userspace twin in a loop (no kernel needed).
    #[arg(long)]
    pub pcap: Option<PathBuf>,
    /// Model for the simulation (default: a built-in demo tree).
    #[arg(long, requires = "pcap")]
    pub model: Option<PathBuf>,
    /// Directory of the parsed-dataset cache, as `inspect --cache-dir` (config `data.cache_dir`;
    /// default $XDG_CACHE_HOME/ebpf-ml-workbench/datasets).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Where the Train tab writes the models it trains (config `train.model_dir`).
    #[arg(long, value_name = "DIR", default_value = "models")]
    pub model_dir: PathBuf,
    /// The Train form's tree depth at start, as `workbench train --max-depth` (config
    /// `train.max_depth`).
    #[arg(long, default_value_t = workbench_data::train::TrainOptions::default().max_depth,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=shared::model::MAX_DEPTH as u64))]
    pub max_depth: usize,
    /// Colour theme at start (`t` switches while running).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(workbench_tui::theme::ThemeKind::NAMES))]
    pub theme: Option<String>,
    /// Panic inside the first render (checks that the terminal is restored).
    #[arg(long, hide = true)]
    pub debug_panic: bool,
    /// Measure the Live tab's frame time with N fixture flows instead of running (JSON).
    #[arg(long, value_name = "FLOWS", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000_000))]
    pub bench: Option<usize>,
}

pub fn run(args: TuiArgs) -> Result<()> {
    if let Some(flows) = args.bench {
        let mut results = Vec::new();
        for size in [(80, 24), (160, 48), (300, 90)] {
            results.push(workbench_tui::bench::live_frames(flows, size, 300)?);
        }
        return print_json(&results);
    }
    workbench_tui::run(workbench_tui::Config {
        iface: args.iface,
        pcap: args.pcap,
        model: args.model,
        debug_panic: args.debug_panic,
        data: args.data.into_iter().chain(args.data_files).collect(),
        theme: args
            .theme
            .as_deref()
            .and_then(workbench_tui::theme::ThemeKind::from_name),
        shadow_story: None,
        sample_dir: None,
        model_dir: Some(args.model_dir),
        cache_dir: args.cache_dir,
        max_depth: Some(args.max_depth),
        start_tab: None,
        trained: None,
    })
    .map_err(|e| terminal_error(e, TUI_INSTEAD))
}

/// What to run instead of the TUI without a terminal.
const TUI_INSTEAD: &str = "without one, the subcommands print the same results, as JSON with \
     --json: `workbench inspect DATA --json`, `workbench train DATA --model tree -o MODEL --json`, \
     `workbench eval MODEL DATA --json`, `workbench probe status --iface IF --json`, `workbench \
     live --iface IF --jsonl`";

/// The TUI's error, with a terminal that cannot be set up because there is none (stdin or
/// stdout redirected, no controlling terminal) said as such: the TUI crate reports it as "the
/// terminal: No such device or address (os error 6)", which names neither the cause nor the
/// way out (`instead`).
pub(crate) fn terminal_error(e: workbench_tui::error::Error, instead: &str) -> color_eyre::eyre::Report {
    use std::io::IsTerminal;
    let is_terminal_failure =
        matches!(&e, workbench_tui::error::Error::Io { what, .. } if what == "the terminal");
    let missing: Vec<&str> = [
        ("stdin", std::io::stdin().is_terminal()),
        ("stdout", std::io::stdout().is_terminal()),
    ]
    .iter()
    .filter(|(_, tty)| !tty)
    .map(|(name, _)| *name)
    .collect();
    if !is_terminal_failure || missing.is_empty() {
        return e.into();
    }
    color_eyre::eyre::eyre!(
        "the TUI needs a terminal, and {} {} not one ({:#}); run it in a terminal (a shell, tmux, \
         ssh -t); {instead}",
        missing.join(" and "),
        if missing.len() == 1 { "is" } else { "are" },
        color_eyre::eyre::Report::from(e)
    )
}
