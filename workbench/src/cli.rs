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
    /// Stream verdict changes from the probe (headless).
    Live(crate::commands::live::LiveArgs),
    /// Inspect model files.
    #[command(subcommand)]
    Model(crate::commands::model::ModelCommand),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Print the final flow table as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ProbeCommand {
    /// Load the probe and attach it at ingress and egress of an interface (pinned: it stays
    /// attached after this command exits).
    Attach {
        #[arg(long)]
        iface: String,
        /// Flow table size (entries of the LRU map); default 131072.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=16_777_216))]
        flow_table: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// Detach the probe from an interface and remove its pinned objects.
    Detach {
        #[arg(long)]
        iface: String,
        #[arg(long)]
        json: bool,
    },
    /// Show the models in the kernel (active, shadow, previous) and the mode.
    Status {
        #[arg(long)]
        iface: String,
        #[arg(long)]
        json: bool,
    },
    /// Print the probe's flow table and statistics.
    Flows {
        #[arg(long)]
        iface: String,
        #[arg(long)]
        json: bool,
    },
}
