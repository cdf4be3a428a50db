//! `workbench bench <section>` (probe, events, live, features, load, pitfalls, train, tui) and
//! `workbench bench all`.
//!
//! Every section takes `--quick` and `--json`. With `--json` it prints one document in the
//! shape `bench all` reads (`section`, `figures`, `notes`, then its own keys), or, when it
//! cannot run on this machine (not root, tshark missing), `{"section", "skipped": REASON}` and
//! exits 0; without `--json` the same reason is an error.

use std::path::PathBuf;

use clap::Subcommand;
use color_eyre::eyre::{bail, eyre, Result};

use super::print_json;
use crate::output::{Output, Shown};
use workbench_bench::probe::{self, BenchReport};
use workbench_bench::{self as b, all, features, live, markdown, section_json, skipped_json};
use workbench_bench::{cic_file, events, load, pitfalls, train};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The probe's cost per packet (BPF_PROG_TEST_RUN on a private load, attached nowhere):
    /// empty program, probe deciding nothing, no model, depth-12 tree, 40-feature logistic,
    /// forest of 4 trees.
    Probe {
        /// Repetitions of the packet per test run (the kernel reports their mean).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000_000))]
        repeat: Option<u32>,
        /// Fewer runs and repetitions.
        #[arg(long)]
        quick: bool,
        #[command(flatten)]
        json: Output,
    },
    /// Where verdict events start getting lost: new flows through a private probe (attached
    /// nowhere) at increasing rates while a reader drains the EVENTS ring into EVE lines in a
    /// file, as the agent does; events written and lost per rate, and the loss point.
    Events {
        /// Offered rates, new flows per second, comma-separated, `max` for unpaced (default
        /// 1000,5000,10000,20000,30000,40000,50000,75000,100000,150000,200000,300000,max).
        #[arg(long, value_parser = events::parse_rates_arg)]
        rates: Option<events::Rates>,
        /// How long each rate is held (default 1000 ms; --quick: 250 ms).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=600_000))]
        step_ms: Option<u64>,
        /// The reader's sleep between drains (default: the agent's turn, 20 ms).
        #[arg(long, default_value_t = events::AGENT_TURN_MS, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        poll_ms: u64,
        /// Shorter steps.
        #[arg(long)]
        quick: bool,
        #[command(flatten)]
        json: Output,
    },
    /// Packets per second through a lab veth pair with the probe attached vs the empty tc
    /// program, while the SYN flood sample and then a mixed capture (the honest sample) are
    /// replayed at top speed (needs root).
    Live {
        /// Fewer runs and smaller inputs: a faster, rougher figure.
        #[arg(long)]
        quick: bool,
        #[command(flatten)]
        json: Output,
    },
    /// Feature extraction from captures vs `tshark -T fields`, and its peak memory at two
    /// capture sizes.
    Features {
        /// 10 MB and 50 MB synthetic captures instead of 100 MB and 1 GB.
        #[arg(long)]
        quick: bool,
        #[command(flatten)]
        json: Output,
    },
    /// The TUI's Live frame time with 100,000 flows vs 100 flows.
    Tui {
        /// Fewer runs and smaller inputs: a faster, rougher figure.
        #[arg(long)]
        quick: bool,
        #[command(flatten)]
        json: Output,
    },
    /// Every section, each as a child process; writes the table and a JSON file.
    All {
        /// Smaller inputs and fewer runs (under 3 minutes on 2 cores).
        #[arg(long)]
        quick: bool,
        #[command(flatten)]
        json: Output,
        /// The markdown file whose generated region is rewritten (default docs/BENCHMARKS.md;
        /// with --quick, BENCHMARKS.md in the system's temporary folder: a quick run's
        /// small-input numbers never replace the committed release table unless named here).
        #[arg(long)]
        md: Option<PathBuf>,
        /// The JSON report (default docs/benchmarks.json; with --quick, beside the quick table).
        #[arg(long)]
        json_out: Option<PathBuf>,
        /// Only these sections (repeatable; default: all).
        #[arg(long = "section", value_name = "NAME")]
        sections: Vec<String>,
    },
    /// Loading the CIC-IDS2017-sized CSV (built from the real rows in ../shared/data, reused
    /// when present): our first load and cached reload against pandas read_csv.
    Load(CicFileArgs),
    /// The full pitfall report (`workbench inspect`, loading included, no cache) on the
    /// CIC-IDS2017-sized file; target under 60 s at 2.8M rows.
    Pitfalls(CicFileArgs),
    /// Tree (max depth 12) and logistic training against scikit-learn on the same rows (the
    /// 40 kernel features at the probe's decision points of generated honest captures, made
    /// once into target/bench-data/), and `workbench train`'s peak memory on the
    /// CIC-IDS2017-sized file against the file's size (target: at most twice; the 200,000-row
    /// file with --quick or --rows below 1,000,000, not judged).
    Train {
        /// Distinct rows the table holds at least (default 1,000,000; --quick: 50,000).
        #[arg(long)]
        rows: Option<usize>,
        /// Fewer runs and smaller inputs: a faster, rougher figure.
        #[arg(long)]
        quick: bool,
        /// Seed of the first generated capture and of the split (the same seed, the same rows).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[command(flatten)]
        json: Output,
    },
    /// What the coarse clock (`deploy --clock coarse`) does to the features: captures replayed
    /// with their own timestamps and with each cut to its timer tick, the features compared
    /// at the default decision points (default captures: ../shared/data/pcaps and its apps/).
    Clock {
        /// Captures (pcap or pcapng) or folders of them.
        captures: Vec<PathBuf>,
        /// Milliseconds between timer ticks (Debian's kernels: HZ 250, 4 ms).
        #[arg(long, default_value_t = workbench_bench::clock::DEFAULT_TICK_MS,
              value_parser = clap::value_parser!(u64).range(1..=1000))]
        tick_ms: u64,
        /// Also count the decision points whose verdict this model gives differently.
        #[arg(long)]
        model: Option<PathBuf>,
        #[command(flatten)]
        json: Output,
    },
    /// One load of FILE, printed as JSON (the child process that `bench load` measures).
    #[command(hide = true)]
    LoadOnce {
        file: PathBuf,
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
}

/// The captures `bench clock` compares on: those named (folders expanded), else the real ones
/// in ../shared/data/pcaps and its apps/ folder.
fn clock_captures(named: Vec<PathBuf>) -> Result<Vec<PathBuf>> {
    let named = if named.is_empty() {
        let Some(data) = workbench_bench::cic_file::shared_data_dir() else {
            bail!("bench clock: no capture named and no ../shared/data/pcaps here; name captures or folders");
        };
        vec![data.join("pcaps"), data.join("pcaps").join("apps")]
    } else {
        named
    };
    let mut out = Vec::new();
    for p in named {
        if p.is_dir() {
            out.extend(workbench_bench::clock::captures_in(&p)?);
        } else {
            out.push(p);
        }
    }
    Ok(out)
}

/// A section that ran: its JSON document (the shape `bench all` reads) and its text.
struct Ran<T> {
    doc: T,
    text: String,
}

impl<T: serde::Serialize> serde::Serialize for Ran<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.doc.serialize(s)
    }
}

impl<T> std::fmt::Display for Ran<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Prints a section's result: its JSON document, or its text. A section that cannot run here
/// is `{"section", "skipped"}` in JSON (so `bench all` goes on) and an error as text.
fn emit(
    output: Output,
    section: &str,
    result: Result<serde_json::Value, String>,
    text: impl FnOnce() -> String,
) -> Result<()> {
    match (result, output.json) {
        (Ok(doc), _) => output.emit(&Ran { doc, text: text() }),
        (Err(reason), true) => output.emit(&Shown::new(&skipped_json(section, &reason), |_, _| Ok(()))),
        (Err(reason), false) => bail!("bench {section}: cannot run here: {reason}"),
    }
}

fn figures_text(figures: &[workbench_bench::figure::Figure], notes: &[String]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for f in figures {
        let _ = writeln!(
            out,
            "{}: {} {}{}{}",
            f.name,
            markdown::num(f.value),
            f.unit,
            match (&f.baseline, f.baseline_value, f.ratio) {
                (Some(b), Some(v), Some(r)) =>
                    format!(" vs {} {} ({b}): {}x", markdown::num(v), f.unit, markdown::num(r)),
                _ => String::new(),
            },
            f.target.as_ref().map_or(String::new(), |t| format!(
                "; target {t}: {}",
                markdown::verdict(f)
            ))
        );
    }
    for n in notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

/// The CIC-IDS2017-sized file that `bench load` and `bench pitfalls` measure on.
#[derive(Debug, clap::Args)]
pub struct CicFileArgs {
    /// Rows of the file (default: CIC-IDS2017's 2,830,743; --quick: 200,000).
    #[arg(long)]
    rows: Option<usize>,
    /// Fewer runs and smaller inputs: a faster, rougher figure.
    #[arg(long)]
    quick: bool,
    /// Seed of the synthetic data (the same seed, the same input).
    #[arg(long, default_value_t = cic_file::DEFAULT_SEED)]
    seed: u64,
    #[command(flatten)]
    json: Output,
}

/// A section's report: its JSON document, or its figures as text.
fn show<T: serde::Serialize>(
    output: Output,
    report: &T,
    section: &workbench_bench::figure::Section,
) -> Result<()> {
    output.emit(&Ran {
        doc: report,
        text: figures_text(&section.figures, &section.notes),
    })
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
        BenchCommand::Load(CicFileArgs {
            rows,
            quick,
            seed,
            json,
        }) => {
            let report = load::run(&load::Options {
                rows: rows_of(rows, quick),
                seed,
                rounds: if quick { 1 } else { 3 },
            })
            .map_err(|e| eyre!(e))?;
            show(json, &report, &report.section)
        }
        BenchCommand::Pitfalls(CicFileArgs {
            rows,
            quick,
            seed,
            json,
        }) => {
            let report = pitfalls::run(rows_of(rows, quick), seed).map_err(|e| eyre!(e))?;
            show(json, &report, &report.section)
        }
        BenchCommand::Train {
            rows,
            quick,
            seed,
            json,
        } => {
            let opts = train::Options {
                distinct_rows: rows.unwrap_or(if quick { 50_000 } else { 1_000_000 }),
                linfa_rows: if quick { 5_000 } else { 20_000 },
                linfa_logistic_rows: if quick { 1_000 } else { 3_000 },
                seed,
                // A full run measures train's memory on the full-size file; a --quick run, or
                // one on a table below the default size, on the --quick file.
                cic_rows: rows_of(None, quick || rows.is_some_and(|r| r < 1_000_000)),
            };
            let report = train::run(&opts).map_err(|e| eyre!(e))?;
            show(json, &report, &report.section)
        }
        BenchCommand::LoadOnce { file, cache_dir } => {
            let opts = workbench_data::dataset::LoadOptions {
                no_cache: cache_dir.is_none(),
                cache_dir,
                ..Default::default()
            };
            let ds = workbench_data::dataset::load(&[file], &opts)?;
            print_json(&load::LoadOnce {
                rows: ds.rows(),
                columns: ds.frame.width(),
                load_ms: ds.load_ms,
                from_cache: ds.from_cache,
                cache_path: ds.cache_path.clone(),
            })
        }
        BenchCommand::Probe { repeat, quick, json } => {
            if let Some(reason) = b::kernel_unavailable("benchmarking the probe") {
                return emit(json, "probe", Err(reason), String::new);
            }
            let (default_repeat, runs) = if quick {
                (probe::QUICK_REPEAT, probe::QUICK_RUNS)
            } else {
                (probe::DEFAULT_REPEAT, probe::DEFAULT_RUNS)
            };
            workbench_kernel::lifecycle::install()?;
            let report = probe::run(&probe::Options {
                repeat: repeat.unwrap_or(default_repeat),
                runs,
            })?;
            let figures = probe::figures(&report);
            let notes = vec![format!(
                "{} packet (headline); {} runs x {} repetitions per variant, medians; every \
                 packet a decision point except in no_decision",
                report.headline_packet, report.runs, report.repeat
            )];
            let doc = section_json("probe", figures, notes, &report)?;
            emit(json, "probe", Ok(doc), || render(&report))
        }
        BenchCommand::Clock {
            captures,
            tick_ms,
            model,
            json,
        } => {
            let captures = clock_captures(captures)?;
            let model = match model {
                Some(path) => Some(workbench_flow::model::file::read(&path)?.model),
                None => None,
            };
            let report = workbench_bench::clock::run(&captures, tick_ms, model)?;
            json.emit(&Shown::new(&report, |r, f| {
                f.write_str(&workbench_bench::clock::text(r))
            }))
        }
        BenchCommand::Events {
            rates,
            step_ms,
            poll_ms,
            quick,
            json,
        } => {
            if let Some(reason) = b::kernel_unavailable("benchmarking the verdict events") {
                return emit(json, "events", Err(reason), String::new);
            }
            workbench_kernel::lifecycle::install()?;
            let report = events::run(&events::Options {
                rates: rates.map_or_else(|| events::DEFAULT_RATES.to_vec(), |r| r.0),
                step_ms: step_ms.unwrap_or(if quick {
                    events::QUICK_STEP_MS
                } else {
                    events::DEFAULT_STEP_MS
                }),
                poll_ms,
            })?;
            let (figures, notes) = (
                workbench_bench::events_report::figures(&report),
                workbench_bench::events_report::notes(&report),
            );
            let doc = section_json("events", figures, notes, &report)?;
            emit(json, "events", Ok(doc), || {
                workbench_bench::events_report::render(&report)
            })
        }
        BenchCommand::Live { quick, json } => {
            let capture = features::synflood_capture();
            if let Some(reason) = live::unavailable(&capture) {
                return emit(json, "live", Err(reason), String::new);
            }
            workbench_kernel::lifecycle::install()?;
            let r = live::run_both(quick, &capture, &live::mixed_capture())?;
            let (figures, notes) = (live::figures(&r), live::notes(&r));
            let text = figures_text(&figures, &notes);
            emit(
                json,
                "live",
                Ok(section_json("live", figures, notes, &r)?),
                || text,
            )
        }
        BenchCommand::Features { quick, json } => match features::run(quick)? {
            Err(reason) => emit(json, "features", Err(reason), String::new),
            Ok(r) => {
                let (figures, notes) = (features::figures(&r), features::notes(&r));
                let text = figures_text(&figures, &notes);
                emit(
                    json,
                    "features",
                    Ok(section_json("features", figures, notes, &r)?),
                    || text,
                )
            }
        },
        BenchCommand::Tui { quick, json } => {
            let r = super::bench_tui::run(quick)?;
            let (figures, notes) = (super::bench_tui::figures(&r), super::bench_tui::notes(&r));
            let text = figures_text(&figures, &notes);
            emit(json, "tui", Ok(section_json("tui", figures, notes, &r)?), || text)
        }
        BenchCommand::All {
            quick,
            json,
            md,
            json_out,
            sections,
        } => {
            for s in &sections {
                if !all::SECTIONS.contains(&s.as_str()) {
                    bail!(
                        "--section {s:?}: no such section (one of {})",
                        all::SECTIONS.join(", ")
                    );
                }
            }
            let command = std::iter::once("workbench".to_string())
                .chain(std::env::args().skip(1))
                .collect::<Vec<_>>()
                .join(" ");
            let (md, json_out) = outputs(quick, md, json_out)?;
            let report = all::run(&all::Options {
                quick,
                md: md.clone(),
                json_out: json_out.clone(),
                command,
                only: sections,
            })?;
            let text = format!(
                "bench all: {} sections ({} ran), targets {} met / {} missed; wrote {} and {}\n",
                report.sections.len(),
                report
                    .sections
                    .iter()
                    .filter(|s| s.status == all::Status::Ran)
                    .count(),
                report.targets_met,
                report.targets_missed,
                md.display(),
                json_out.display()
            );
            json.emit(&Ran { doc: &report, text })?;
            if !report.failed_sections.is_empty() {
                bail!(
                    "bench all: section(s) failed: {}",
                    report.failed_sections.join(", ")
                );
            }
            Ok(())
        }
    }
}

/// Where `bench all` writes: what was asked for, else the committed documents for a full run and
/// the user's cache folder for `--quick` (its small-input figures are not the release numbers):
/// `$XDG_CACHE_HOME/ebpf-ml-workbench/bench-quick` (or `~/.cache/...`), not a fixed name in the
/// shared temporary folder, where another user could have made it first (a root run would then
/// write where they say).
fn outputs(quick: bool, md: Option<PathBuf>, json_out: Option<PathBuf>) -> Result<(PathBuf, PathBuf)> {
    let dir = if quick && (md.is_none() || json_out.is_none()) {
        let Some(base) = workbench_data::dataset::cache::user_cache_base() else {
            bail!("bench all --quick: no cache folder for the report (set XDG_CACHE_HOME or HOME), or name the files with --md and --json-out");
        };
        let dir = base.join("ebpf-ml-workbench").join("bench-quick");
        // Made private, and refused if another user owns it.
        all::output_dir(&dir)?;
        dir
    } else {
        PathBuf::from("docs")
    };
    Ok((
        md.unwrap_or_else(|| dir.join("BENCHMARKS.md")),
        json_out.unwrap_or_else(|| dir.join("benchmarks.json")),
    ))
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
        "{:<16} {:>6} {:>12} {:>9} {:>6} {:>13} {:>9} {:>7} {:>11} {:>9} {:>10} {:>7} {:>6}",
        "packet",
        "empty",
        "no_decision",
        "no_model",
        "tree",
        "tree_default",
        "logistic",
        "forest",
        "model_part",
        "unlocked",
        "flow_lock",
        "coarse",
        "clock"
    );
    for p in &r.packets {
        let _ = writeln!(
            out,
            "{:<16} {:>6} {:>12} {:>9} {:>6} {:>13} {:>9} {:>7} {:>11} {:>9} {:>10} {:>7} {:>6}",
            format!("{} ({} B)", p.packet, p.frame_bytes),
            p.ns.empty_ns,
            p.ns.no_decision_ns,
            p.ns.no_model_ns,
            p.ns.tree_ns,
            p.ns.tree_default_decisions_ns,
            p.ns.logistic_ns,
            p.ns.forest_ns,
            p.ns.model_part_ns,
            p.ns.no_model_unlocked_ns,
            p.ns.flow_lock_ns,
            p.ns.no_model_coarse_clock_ns,
            p.ns.clock_ns
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
        "probe: {} instructions verified ({} without the flow lock); kernel {}, {} CPUs, {}, load average {}",
        r.verified_instructions.map_or("?".to_string(), |n| n.to_string()),
        r.verified_instructions_unlocked
            .map_or("?".to_string(), |n| n.to_string()),
        r.kernel,
        r.machine.nproc,
        r.machine.cpu_model,
        r.machine
            .load_average_1m
            .map_or("?".to_string(), |l| format!("{l:.2}"))
    );
    out
}
