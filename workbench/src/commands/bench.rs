//! `workbench bench probe|load|pitfalls|train` (and later `bench all`).

use std::path::PathBuf;

use clap::Subcommand;
use color_eyre::eyre::{eyre, Result};

use super::print_json;
use crate::bench::figure::Section;
use crate::bench::probe::{self, BenchReport};
use crate::bench::{cic_file, load, pitfalls, train};

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
    /// Loading the CIC-IDS2017-sized CSV (built from the real rows in ../shared/data, reused
    /// when present): our first load and cached reload against pandas read_csv.
    Load {
        /// Rows of the file (default: CIC-IDS2017's 2,830,743; --quick: 200,000).
        #[arg(long)]
        rows: Option<usize>,
        #[arg(long)]
        quick: bool,
        #[arg(long, default_value_t = cic_file::DEFAULT_SEED)]
        seed: u64,
        #[arg(long)]
        json: bool,
    },
    /// The full pitfall report (`workbench inspect`, loading included, no cache) on the
    /// CIC-IDS2017-sized file; target under 60 s at 2.8M rows.
    Pitfalls {
        #[arg(long)]
        rows: Option<usize>,
        #[arg(long)]
        quick: bool,
        #[arg(long, default_value_t = cic_file::DEFAULT_SEED)]
        seed: u64,
        #[arg(long)]
        json: bool,
    },
    /// Tree (max depth 12) and logistic training against scikit-learn on the same rows (a
    /// sample of the CIC-IDS2017-sized file's numeric columns).
    Train {
        /// Rows sampled for training and testing (default 200,000; --quick: 40,000).
        #[arg(long)]
        rows: Option<usize>,
        #[arg(long)]
        quick: bool,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        json: bool,
    },
    /// One load of FILE, printed as JSON (the child process that `bench load` measures).
    #[command(hide = true)]
    LoadOnce {
        file: PathBuf,
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
}

fn rows_of(rows: Option<usize>, quick: bool) -> usize {
    rows.unwrap_or(if quick {
        cic_file::QUICK_ROWS
    } else {
        cic_file::CIC_ROWS
    })
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Load {
            rows,
            quick,
            seed,
            json,
        } => {
            let report = load::run(&load::Options {
                rows: rows_of(rows, quick),
                seed,
            })
            .map_err(|e| eyre!(e))?;
            if json {
                return print_json(&report);
            }
            print!("{}", render_section(&report.section));
            Ok(())
        }
        BenchCommand::Pitfalls {
            rows,
            quick,
            seed,
            json,
        } => {
            let report = pitfalls::run(rows_of(rows, quick), seed).map_err(|e| eyre!(e))?;
            if json {
                return print_json(&report);
            }
            print!("{}", render_section(&report.section));
            Ok(())
        }
        BenchCommand::Train {
            rows,
            quick,
            seed,
            json,
        } => {
            let opts = train::Options {
                file_rows: rows_of(None, quick),
                rows: rows.unwrap_or(if quick { 40_000 } else { 200_000 }),
                linfa_rows: if quick { 5_000 } else { 20_000 },
                linfa_logistic_rows: if quick { 1_000 } else { 3_000 },
                seed,
            };
            let report = train::run(&opts).map_err(|e| eyre!(e))?;
            if json {
                return print_json(&report);
            }
            print!("{}", render_section(&report.section));
            Ok(())
        }
        BenchCommand::LoadOnce { file, cache_dir } => {
            let opts = crate::data::LoadOptions {
                no_cache: cache_dir.is_none(),
                cache_dir,
                ..Default::default()
            };
            let ds = crate::data::load(&[file], &opts)?;
            print_json(&load::LoadOnce {
                rows: ds.rows(),
                columns: ds.frame.width(),
                load_ms: ds.load_ms,
                from_cache: ds.from_cache,
                cache_path: ds.cache_path.clone(),
            })
        }
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

/// Any section's figures as lines: value, baseline, ratio, target met or missed; then notes.
pub fn render_section(s: &Section) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "bench {}", s.section);
    for f in &s.figures {
        let base = match (&f.baseline, f.baseline_value) {
            (Some(b), Some(v)) => format!(" vs {b} {v:.3} {}", f.unit),
            _ => String::new(),
        };
        let ratio = f.ratio.map_or(String::new(), |r| format!(", ratio {r:.2}"));
        let target = match (&f.target, f.target_met) {
            (Some(t), Some(m)) => format!(" [{t}: {}]", if m { "met" } else { "MISSED" }),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  {}: {:.3} {}{base}{ratio}{target}",
            f.name, f.value, f.unit
        );
    }
    for n in &s.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    out
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
        "{:<16} {:>6} {:>12} {:>9} {:>6} {:>9} {:>7} {:>11}",
        "packet", "empty", "no_decision", "no_model", "tree", "logistic", "forest", "model_part"
    );
    for p in &r.packets {
        let _ = writeln!(
            out,
            "{:<16} {:>6} {:>12} {:>9} {:>6} {:>9} {:>7} {:>11}",
            format!("{} ({} B)", p.packet, p.frame_bytes),
            p.empty_ns,
            p.no_decision_ns,
            p.no_model_ns,
            p.tree_ns,
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
