//! `workbench bench probe` (and later `bench all`).

use clap::Subcommand;
use color_eyre::eyre::Result;

use super::print_json;
use crate::bench::probe::{self, BenchReport};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The probe's cost per packet (BPF_PROG_TEST_RUN on a private load, attached nowhere):
    /// empty program, probe deciding nothing, no model, depth-12 tree, 40-feature logistic,
    /// forest of 4 trees.
    Probe {
        /// Repetitions of the packet per test run (the kernel reports their mean).
        #[arg(long, default_value_t = probe::DEFAULT_REPEAT,
              value_parser = clap::value_parser!(u32).range(1..=100_000_000))]
        repeat: u32,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Probe { repeat, json } => {
            let report = probe::run(&probe::Options {
                repeat,
                ..probe::Options::default()
            })?;
            if json {
                return print_json(&report);
            }
            print!("{}", render(&report));
            Ok(())
        }
    }
}

/// The report as a table with the targets below it.
pub fn render(r: &BenchReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "probe cost per packet in ns (BPF_PROG_TEST_RUN, median of {} runs x {} repetitions)",
        r.runs, r.repeat
    );
    let _ = writeln!(
        out,
        "{:<16} {:>6} {:>12} {:>9} {:>6} {:>13} {:>9} {:>7} {:>11}",
        "packet",
        "empty",
        "no_decision",
        "no_model",
        "tree",
        "tree_default",
        "logistic",
        "forest",
        "model_part"
    );
    for p in &r.packets {
        let _ = writeln!(
            out,
            "{:<16} {:>6} {:>12} {:>9} {:>6} {:>13} {:>9} {:>7} {:>11}",
            format!("{} ({} B)", p.packet, p.frame_bytes),
            p.empty_ns,
            p.no_decision_ns,
            p.no_model_ns,
            p.tree_ns,
            p.tree_default_decisions_ns,
            p.logistic_ns,
            p.forest_ns,
            p.model_part_ns
        );
    }
    for t in &r.targets {
        let verdict = if t.met {
            format!("met, {} ns to spare", -t.difference_ns)
        } else {
            format!("MISSED by {} ns", t.difference_ns)
        };
        let _ = writeln!(
            out,
            "target {} <= {} ns ({}): {} ns, {verdict}",
            t.metric, t.target_ns, t.packet, t.measured_ns
        );
    }
    let _ = writeln!(
        out,
        "probe: {} instructions verified; kernel {}, {} CPUs, {}, load average {}",
        r.verified_instructions.map_or("?".to_string(), |n| n.to_string()),
        r.kernel,
        r.machine.nproc,
        r.machine.cpu_model,
        r.machine
            .load_average_1m
            .map_or("?".to_string(), |l| format!("{l:.2}"))
    );
    out
}
