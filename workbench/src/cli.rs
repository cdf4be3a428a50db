//! Command-line interface (clap derive). Names and JSON keys follow the project's command
//! contract (docs/CLI.md).

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "workbench",
    version,
    about = "eBPF ML workbench: from an intrusion-detection dataset to a model deciding per packet in the kernel"
)]
pub struct Cli {
    /// Settings file (TOML); else $WORKBENCH_CONFIG, else
    /// $XDG_CONFIG_HOME/ebpf-ml-workbench/config.toml if present. Flags override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Walk the whole path on the embedded default: lab namespaces, probe, traffic, flows.
    Demo(DemoArgs),
    /// Attach, inspect and detach the tc probe.
    #[command(subcommand)]
    Probe(ProbeCommand),
    /// Hot-swap a model into the probe (active or shadow), roll back, switch monitor/enforce.
    Deploy(crate::commands::deploy::DeployArgs),
    /// Replay a capture into the probe and compare every flow with the userspace twin.
    Verify(crate::commands::verify::VerifyArgs),
    /// Stream verdict changes from the probe (headless).
    Live(crate::commands::live::LiveArgs),
    /// Serve the probe's Prometheus metrics over HTTP (or print them once).
    Metrics(crate::commands::metrics::MetricsArgs),
    /// Run as a long-lived agent: the probe on the interfaces of an `[agent]` config (--config,
    /// default /etc/ebpf-ml-workbench/agent.toml), metrics and health over HTTP, events, a
    /// watched model directory; SIGHUP reloads, SIGTERM detaches. --check validates the file.
    Agent(crate::commands::agent::AgentArgs),
    /// Export a model for other targets (C99 for embedded devices).
    Export(crate::commands::export::ExportArgs),
    /// Inspect model files.
    #[command(subcommand)]
    Model(crate::commands::model::ModelCommand),
    /// Send a capture's frames out of a replay-lab interface.
    Replay(ReplayArgs),
    /// Create or remove the replay lab (a namespace holding both ends of a veth pair).
    #[command(subcommand)]
    Lab(LabCommand),
    /// Write the project's sample captures (naive and honest variants) with ground-truth labels.
    GenPcaps(crate::commands::gen_pcaps::GenPcapsArgs),
    /// Measure what the workbench costs on this machine.
    #[command(subcommand)]
    Bench(crate::commands::bench::BenchCommand),
    /// The interactive TUI (also `workbench` with no subcommand).
    Tui(crate::commands::tui::TuiArgs),
    /// Render every TUI screen in a fixed state to SVG (the README's pictures).
    Screenshots(crate::commands::screenshots::ScreenshotsArgs),
    /// Feature table (CSV or Parquet) from captures, computed by the probe's own flow code.
    Features(crate::commands::features::FeaturesArgs),
    /// Load a dataset and report its pitfalls (identifiers, leakage, duplicates, splits, ...).
    Inspect(crate::commands::inspect::InspectArgs),
    /// Train a tree or logistic model on kernel features under an honest split and compile it.
    Train(crate::commands::train::TrainArgs),
    /// Score a model file on captures (at the probe's decision points) or tables: confusion,
    /// per-class recall, false positive rate, time to detect, and the training/decision skew.
    Eval(crate::commands::eval::EvalArgs),
    /// Regenerate docs/EVALUATION.md: models x evaluation data (own test split, honest sample,
    /// real captures) and the cross-dataset rows.
    EvalTable(crate::commands::eval_table::EvalTableArgs),
    /// Compare the values a model was trained on with the values where it decides on DATA.
    Skew(crate::commands::skew::SkewArgs),
    /// Show the effective settings (config file, defaults) or check a config file.
    #[command(subcommand)]
    Config(crate::commands::config::ConfigCommand),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Walk the tabs on a timer (a stage demo); q still quits.
    #[arg(long, conflicts_with_all = ["script", "headless", "json"])]
    pub autoplay: bool,
    /// Play a script of steps (tab, wait, key, type, repeat, quit; see `workbench/crates/tui/src/script.rs`).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["headless", "json"])]
    pub script: Option<std::path::PathBuf>,
    /// No TUI: run the demo for --seconds, then print a summary and clean up.
    #[arg(long)]
    pub headless: bool,
    /// Headless, with the summary as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    /// Headless: how long the Live stage runs.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub seconds: u64,
    /// Headless: stop as soon as a flow of the SYN flood sample is flagged.
    #[arg(long)]
    pub until_flagged: bool,
    /// Replay the sample capture this many times faster than it was recorded.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub speed: u32,
    /// Directory holding honest.pcap and labels-honest.csv (default: ./sample-pcaps, else generated).
    #[arg(long, value_name = "DIR")]
    pub samples: Option<std::path::PathBuf>,
    /// Simulate the Live tab even with the privileges for the kernel.
    #[arg(long)]
    pub simulated: bool,
    /// Id of the replay lab (namespace ebml-ID); default d<pid>.
    #[arg(long, value_name = "ID")]
    pub lab_id: Option<String>,
    /// Panic inside the first render (tests check that the lab is removed all the same).
    #[arg(long, hide = true)]
    pub debug_panic: bool,
}

#[derive(Debug, Subcommand)]
pub enum ProbeCommand {
    /// Load the probe and attach it at ingress and egress of an interface (pinned: it stays
    /// attached after this command exits).
    Attach {
        /// The interface, e.g. the `b` end of a replay lab (`ebml-IDb`).
        #[arg(long, value_parser = crate::argcheck::iface)]
        iface: String,
        /// Flow table size (entries of the LRU map); default 131072.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=16_777_216))]
        flow_table: Option<u32>,
        /// The interface lives in this network namespace (e.g. a lab's).
        #[arg(long, value_parser = crate::argcheck::netns)]
        netns: Option<String>,
        /// How to hook in: TCX links (Linux 6.6+), classic tc (a clsact qdisc with cls_bpf
        /// filters, any kernel), or auto: TCX where the kernel has it, else classic tc.
        #[arg(long, value_enum, default_value_t = workbench_kernel::tc::AttachMode::Auto)]
        attach: workbench_kernel::tc::AttachMode,
        #[command(flatten)]
        output: crate::output::Output,
    },
    /// Detach the probe from an interface and remove its pinned objects.
    Detach {
        /// The interface, e.g. the `b` end of a replay lab (`ebml-IDb`).
        #[arg(long, value_parser = crate::argcheck::iface)]
        iface: String,
        /// The interface lives in this network namespace, as given to `probe attach`: checked
        /// against where the probe was attached before anything is removed.
        #[arg(long, value_parser = crate::argcheck::netns)]
        netns: Option<String>,
        #[command(flatten)]
        output: crate::output::Output,
    },
    /// Remove every probe and every lab the workbench made on this host, anyone's (another
    /// user's, a CI run's): all pinned links, programs and maps on every interface, their cls_bpf
    /// filters, and every `ebml-` lab namespace and link. No prompt; `probe detach --iface IF`
    /// and `lab down --id ID` remove just one; `--stale` only what killed commands left.
    Cleanup {
        /// Remove only what killed commands left behind (the lines starting "stale" name them):
        /// never a running agent's probe or a live lab, so it is safe on a shared host.
        #[arg(long)]
        stale: bool,
        #[command(flatten)]
        output: crate::output::Output,
    },
    /// Show the models in the kernel (active, shadow, previous) and the mode.
    Status {
        /// The interface, e.g. the `b` end of a replay lab (`ebml-IDb`).
        #[arg(long, value_parser = crate::argcheck::iface)]
        iface: String,
        #[command(flatten)]
        output: crate::output::Output,
    },
    /// The probe's live cost per packet from the kernel's own statistics (`run_time_ns /
    /// run_cnt` of its program), counted over a window with BPF statistics on through a
    /// BPF_ENABLE_STATS fd (closed after: `kernel.bpf_stats_enabled` is never written).
    Cost {
        /// The interface, e.g. the `b` end of a replay lab (`ebml-IDb`).
        #[arg(long, value_parser = crate::argcheck::iface)]
        iface: String,
        /// How long to count, in milliseconds.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
        window_ms: u64,
        #[command(flatten)]
        output: crate::output::Output,
    },
    /// Print the probe's flow table and statistics.
    Flows {
        /// The interface, e.g. the `b` end of a replay lab (`ebml-IDb`).
        #[arg(long, value_parser = crate::argcheck::iface)]
        iface: String,
        #[command(flatten)]
        output: crate::output::Output,
    },
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("pace").args(["pps", "realtime", "top_speed"]))]
pub struct ReplayArgs {
    /// The capture (pcap or pcapng).
    pub pcap: std::path::PathBuf,
    /// Interface to send from: the `a` end of a replay lab (`workbench lab up`).
    #[arg(long, value_parser = crate::argcheck::iface)]
    pub iface: String,
    /// The network namespace the interface lives in.
    #[arg(long, value_parser = crate::argcheck::netns)]
    pub netns: Option<String>,
    /// Packets per second (token bucket).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub pps: Option<u64>,
    /// Keep the capture's own timing (the default).
    #[arg(long)]
    pub realtime: bool,
    /// As fast as the socket takes frames.
    #[arg(long)]
    pub top_speed: bool,
    /// Start over at the end of the capture (stop with --count or Ctrl-C).
    #[arg(long = "loop")]
    pub repeat: bool,
    /// Stop after this many packets.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Skip damaged records (and the packets of an interface whose link type is not decoded)
    /// instead of stopping at the first one.
    #[arg(long)]
    pub lenient: bool,
    /// Send only this pcapng interface's packets: its id (0, 1, ... in the file's order) or
    /// name (`eth0`).
    #[arg(long, value_name = "ID|NAME")]
    pub interface: Option<workbench_flow::capture::InterfaceSelector>,
    /// Send even where the safety check refuses (the interface may reach real networks).
    #[arg(long)]
    pub allow_foreign_iface: bool,
    #[command(flatten)]
    pub output: crate::output::Output,
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Create namespace ebml-ID holding both ends of veth ebml-IDa <-> ebml-IDb.
    Up {
        /// The lab id: namespace ebml-ID holding veth ebml-IDa <-> ebml-IDb.
        #[arg(long, default_value = "replay", value_parser = crate::argcheck::lab_id)]
        id: String,
        #[command(flatten)]
        output: crate::output::Output,
    },
    /// Remove lab ID (default `replay`, the lab `lab up` makes without --id), detaching a probe
    /// still attached to its interfaces; --all removes every lab on this host instead.
    Down {
        /// The lab id: namespace ebml-ID holding veth ebml-IDa <-> ebml-IDb.
        #[arg(long, default_value = "replay", value_parser = crate::argcheck::lab_id)]
        id: String,
        /// Remove every lab the workbench made on this host, anyone's (every `ebml-` namespace
        /// and link, and the probes on their interfaces), not only lab ID.
        #[arg(long, conflicts_with = "id")]
        all: bool,
        #[command(flatten)]
        output: crate::output::Output,
    },
}
