//! `workbench eval MODEL DATA... [--labels FILE] [--at decision-points|last-packet|packet N]
//! [--flows-out FILE]`: score a model file on a capture (through the userspace twin, at the
//! probe's decision points by default) or a table, with the skew between its training rows and
//! the data, and optionally each flow's last decision and why.

use std::fmt;
use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::Result;
use shared::abi::ProbeConfig;

use crate::output::{Output, Shown};
use workbench_data::dataset::{Dropped, LoadOptions};
use workbench_data::eval::skew::words;
use workbench_data::eval::{self, At, EvalMetrics, EvalOptions, EvalReport};

/// The flags `eval` and `skew` share: where the model decides and how the data is read.
#[derive(Debug, Args)]
pub struct DecideArgs {
    /// Where each flow is decided: `decision-points` (the probe's; default), `last-packet`, or
    /// `packet N`.
    #[arg(long, num_args = 1..=2, value_names = ["WHERE", "N"], default_value = "decision-points")]
    pub at: Vec<String>,
    /// Decision points: the first N packets of every flow ...
    #[arg(long, default_value_t = ProbeConfig::default().decide_first_packets,
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub decide_first: u32,
    /// ... then every M-th packet (0: not again).
    #[arg(long, default_value_t = ProbeConfig::default().decide_every,
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub decide_every: u32,
    /// Tables: the label column (detected for known datasets).
    #[arg(long)]
    pub label: Option<String>,
    /// Tables: comma list of labels that count as malicious (default: all but benign/normal).
    #[arg(long)]
    pub positive: Option<String>,
    /// Captures: skip damaged records (and the packets of an interface whose link type is not
    /// decoded) instead of stopping at the first one.
    #[arg(long)]
    pub lenient: bool,
    /// Captures: read only this pcapng interface's packets, by id (0, 1, ... in the file's
    /// order) or name (`eth0`). Without it every interface's packets go into one flow table.
    #[arg(long, value_name = "ID|NAME")]
    pub interface: Option<workbench_flow::capture::InterfaceSelector>,
    /// Neither read nor write the parsed-dataset cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Directory of the parsed-dataset cache (default $XDG_CACHE_HOME/ebpf-ml-workbench/datasets).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl DecideArgs {
    /// The options for `data` (a stray value clap gave `--at` is a data file).
    pub fn options(
        &self,
        model: PathBuf,
        mut data: Vec<PathBuf>,
        labels: Option<PathBuf>,
    ) -> Result<EvalOptions> {
        workbench_kernel::models::check_decision_points(self.decide_first, self.decide_every)?;
        let (at, stray) = At::parse(&self.at)?;
        data.extend(stray.map(PathBuf::from));
        Ok(EvalOptions {
            model,
            data,
            labels,
            at,
            config: ProbeConfig {
                decide_first_packets: self.decide_first,
                decide_every: self.decide_every,
                ..ProbeConfig::default()
            },
            load: LoadOptions {
                label: self.label.clone(),
                no_cache: self.no_cache,
                cache_dir: self.cache_dir.clone(),
                ..Default::default()
            },
            positive: self.positive.clone(),
            lenient: self.lenient,
            interface: self.interface.clone(),
        })
    }
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The model file (`workbench train -o`).
    pub model: PathBuf,
    /// Captures (pcap, pcapng), or tables (CSV, Parquet, a dataset folder or zip, `workbench
    /// features` output).
    #[arg(required = true)]
    pub data: Vec<PathBuf>,
    /// Labels for captures: a rules file (.toml), a CIC-IDS2017 CSV or the generator's labels CSV
    /// (default: labels-NAME.csv beside each capture).
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Also write one row per flow (table: per row) with its last decision and why: the tree's
    /// path or the largest logistic terms. `.csv` or `.jsonl` (with the steps as an array).
    #[arg(long, value_name = "FILE")]
    pub flows_out: Option<PathBuf>,
    #[command(flatten)]
    pub decide: DecideArgs,
    #[command(flatten)]
    pub output: Output,
}

fn figure(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3}"))
}

fn metrics_line(m: &EvalMetrics) -> String {
    let c = &m.confusion;
    format!(
        "{} labelled ({} attack, {} benign): TP {} FP {} TN {} FN {}; precision {}, recall {}, F1 {}, false positive rate {}, precision at 1 in 10,000 {}",
        m.flows,
        m.malicious_flows,
        m.benign_flows,
        c.true_positive,
        c.false_positive,
        c.true_negative,
        c.false_negative,
        figure(m.precision),
        figure(m.recall),
        figure(m.f1),
        figure(m.false_positive_rate),
        m.base_rate_words()
    )
}

/// Where each flow's verdict was taken, in words, after `r.at` (`decision_points`,
/// `last_packet`, `packet_N`, `table_rows`): for "N flagged ..." and the metrics line.
fn verdict_at(at: &str) -> (String, String) {
    match at {
        "decision_points" => (
            "flagged at their last decision point".into(),
            "at the last decision point".into(),
        ),
        "last_packet" => ("flagged at their last packet".into(), "at the last packet".into()),
        "table_rows" => ("flagged (one decision per row)".into(), "on the rows".into()),
        other => match other.strip_prefix("packet_") {
            Some(n) => (
                format!("flagged at packet {n} (the last, for shorter flows)"),
                format!("at packet {n}"),
            ),
            None => (format!("flagged ({other})"), format!("at {other}")),
        },
    }
}

/// The report in words: the figures where each flow was decided (`--at`), then per class, time
/// to detect, per file and the skew.
fn words_of(r: &EvalReport, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let (flagged_at, metrics_at) = verdict_at(&r.at);
    writeln!(
        f,
        "model {} ({}) on {} ({}), at {}: {} flows, {} labelled, {} {flagged_at}",
        r.model.model_id,
        r.model.kind,
        r.data.join(", "),
        r.data_kind,
        r.at,
        r.flows,
        r.labelled_flows,
        r.flagged_flows
    )?;
    if let Some(d) = r.dropped.as_ref().and_then(Dropped::summary) {
        writeln!(f, "  {d}")?;
    }
    writeln!(f, "  {metrics_at}: {}", metrics_line(&r.metrics))?;
    for (why_key, why) in &r.metrics.undefined {
        writeln!(f, "    {why_key} undefined: {why}")?;
    }
    if let Some(e) = &r.ever_flagged {
        writeln!(
            f,
            "  ever flagged (any decision point, what enforce mode drops): {} flows; {}; benign flows ever flagged {}",
            e.flagged_flows,
            metrics_line(&e.metrics),
            e.benign_flows_ever_flagged_share
                .map_or("n/a".into(), words::percent)
        )?;
    }
    for (class, s) in &r.per_class {
        // For a benign class the share found is the share passed (the true-negative rate).
        let share = if s.malicious { "recall" } else { "passed" };
        writeln!(
            f,
            "  {class}: {} flows, {} flagged, {share} {:.3}{}",
            s.flows,
            s.flagged,
            s.recall,
            s.ever_flagged
                .map_or(String::new(), |n| format!(", {n} ever flagged"))
        )?;
    }
    match &r.time_to_detect.undefined {
        Some(why) => writeln!(f, "  time to detect: {why}")?,
        None => {
            for (class, d) in &r.time_to_detect.per_class {
                let time =
                    |ns: Option<u64>| ns.map_or("n/a".into(), |ns| words::value(ns as f64 / 1e3, "us"));
                writeln!(
                    f,
                    "  time to detect {class}: {} of {} flows flagged; packet median {} p90 {}; since the first packet median {} p90 {}",
                    d.detected_flows,
                    d.flows,
                    d.median_packet.map_or("n/a".into(), |p| p.to_string()),
                    d.p90_packet.map_or("n/a".into(), |p| p.to_string()),
                    time(d.median_time_ns),
                    time(d.p90_time_ns)
                )?;
            }
        }
    }
    if r.files.len() > 1 {
        for file in &r.files {
            writeln!(
                f,
                "  {}: {} flows ({} benign, {} attack); flagged {} ({} benign, {} attack)",
                file.file,
                file.flows,
                file.benign_flows,
                file.attack_flows,
                file.flagged_flows,
                file.flagged_benign_flows,
                file.flagged_attack_flows
            )?;
        }
    }
    writeln!(f, "skew:")?;
    for line in &r.skew.summary {
        writeln!(f, "  {line}")?;
    }
    if let Some(o) = &r.flows_out {
        writeln!(f, "flows: {} rows written to {}", o.rows, o.path)?;
    }
    for n in &r.notes {
        writeln!(f, "note: {n}")?;
    }
    Ok(())
}

pub fn run(args: EvalArgs) -> Result<()> {
    let opts = args.decide.options(args.model, args.data, args.labels)?;
    let report = eval::evaluate_with(&opts, args.flows_out.as_deref())?;
    if opts.interface.is_none() {
        super::warn_several_interfaces(&report.interfaces);
    }
    args.output.emit(&Shown::new(&report, words_of))
}
