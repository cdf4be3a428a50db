//! Labels for flows: from a rules file (`.toml`), from a CIC-IDS2017 labelled-flows CSV or from
//! the generator's own labels CSV (`.csv`, told apart by the header). A flow is labelled once, when it starts (its orientation and first packet time are
//! known then), so `--every-packet` rows carry their flow's label.

mod capture;
mod cic;
mod generated;
mod pairs;
mod rules;
mod time;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;

pub use cic::CicOptions;
pub use time::parse_utc_offset;

/// What a label source matches on: the flow oriented from its initiator, and its first packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowFacts {
    pub src_ip: IpAddr,
    pub src_port: u16,
    pub dst_ip: IpAddr,
    pub dst_port: u16,
    pub proto: u8,
    pub first_seen_ns: u64,
}

/// A label given to a flow: indices into the labeler's name table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Assigned {
    pub label: u32,
    pub attack_type: Option<u32>,
}

/// How many flows one rule labelled.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RuleCount {
    /// 1-based, in file order.
    pub rule: usize,
    /// Line of the rule's `[[rule]]` header.
    pub line: usize,
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attack_type: Option<String>,
    pub flows: u64,
}

/// The labelling report (stderr, and `labels` in `--json`).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct LabelReport {
    pub file: String,
    /// "rules", "cic" or "generator".
    pub kind: &'static str,
    /// Flows per label.
    pub labels: BTreeMap<String, u64>,
    /// Flows that no rule (no CIC row) matched; their label is empty.
    pub unmatched_flows: u64,
    /// Rules files: flows matched per rule.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleCount>,
    /// CIC files: rows read (with an address), and rows that labelled at least one flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cic_rows: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cic_rows_used: Option<u64>,
    /// Generator labels files: rows read, and rows that labelled a flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generator_rows: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generator_rows_used: Option<u64>,
}

enum Source {
    Rules(rules::Rules),
    Cic(cic::CicIndex),
    Generated(generated::GeneratedIndex),
}

/// A loaded label source plus its counts.
pub struct Labeler {
    file: String,
    source: Source,
    names: Vec<String>,
    /// Flows per label name index.
    label_flows: Vec<u64>,
    unmatched: u64,
    /// The capture file being read (rules may name it: `capture = "http.pcap"`).
    capture: Option<std::path::PathBuf>,
    /// The first packet times of the flows labelled so far, earliest and latest (ns).
    flow_span: Option<(u64, u64)>,
    /// How CIC stamps were read (named when no flow matches).
    cic: CicOptions,
}

/// Why a labels file cannot be used: always names the file (and line, column or key).
#[derive(Debug, thiserror::Error)]
pub enum LabelsError {
    /// The file, or a line of it, could not be read (`place` is `FILE` or `FILE:LINE`).
    #[error("{place}: {action}")]
    Io {
        place: String,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A CIC timestamp that does not parse.
    #[error("{place}: column `Timestamp`")]
    Timestamp {
        place: String,
        #[source]
        source: time::StampError,
    },
    /// A header, line, field or key that is not what the format expects (the message says
    /// where and what was expected).
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = LabelsError> = std::result::Result<T, E>;

/// An `Io` error at `place`, for `map_err`.
pub(crate) fn io_at(
    place: impl Into<String>,
    action: &'static str,
) -> impl FnOnce(std::io::Error) -> LabelsError {
    let place = place.into();
    move |source| LabelsError::Io {
        place,
        action,
        source,
    }
}

/// `LabelsError::Invalid` from a format string.
macro_rules! invalid {
    ($($t:tt)*) => {
        $crate::features::labels::LabelsError::Invalid(format!($($t)*))
    };
}
pub(crate) use invalid;

impl Labeler {
    /// Loads a rules file (`.toml`) or a CSV (`.csv`): the generator's labels file when its
    /// header has the generator's columns, else a CIC-IDS2017 labelled-flows file.
    pub fn load(path: &Path, cic: &CicOptions) -> Result<Labeler> {
        let file = path.display().to_string();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let mut names = Vec::new();
        let source = match ext.as_deref() {
            Some("toml") => Source::Rules(rules::Rules::load(path, &mut names)?),
            Some("csv") if is_generator_csv(path)? => {
                Source::Generated(generated::GeneratedIndex::load(path, &mut names)?)
            }
            Some("csv") => Source::Cic(cic::CicIndex::load(path, cic, &mut names)?),
            _ => {
                return Err(invalid!(
                    "{file}: unknown labels format: expected a rules file ending in .toml, or a \
                     CIC-IDS2017 labelled-flows or generator labels file ending in .csv"
                ))
            }
        };
        let label_flows = vec![0; names.len()];
        Ok(Labeler {
            file,
            source,
            names,
            label_flows,
            unmatched: 0,
            capture: None,
            flow_span: None,
            cic: *cic,
        })
    }

    /// Rules that set `attack_type` exist (the table then gets that column).
    pub fn has_attack_type(&self) -> bool {
        match &self.source {
            Source::Rules(r) => r.has_attack_type(),
            Source::Cic(_) => false,
            Source::Generated(_) => true,
        }
    }

    /// The flows labelled from now on are read from `capture` (for rules with a `capture`
    /// condition).
    pub fn start_capture(&mut self, capture: &Path) {
        self.capture = Some(capture.to_path_buf());
    }

    /// The label of a new flow, counted in the report.
    pub fn label(&mut self, flow: &FlowFacts) -> Option<Assigned> {
        let t = flow.first_seen_ns;
        self.flow_span = Some(match self.flow_span {
            Some((a, b)) => (a.min(t), b.max(t)),
            None => (t, t),
        });
        let assigned = match &mut self.source {
            Source::Rules(r) => r.label(flow, self.capture.as_deref()),
            Source::Cic(c) => c.label(flow),
            Source::Generated(g) => g.label(flow),
        };
        match assigned {
            Some(a) => {
                if let Some(n) = self.label_flows.get_mut(a.label as usize) {
                    *n += 1;
                }
            }
            None => self.unmatched += 1,
        }
        assigned
    }

    /// When the file labelled none of the `flows` flows of `data` (and there were some): the
    /// error that says so, with what the file holds and what the flows look like (their time
    /// range against the rows', how many flows share endpoints with a row), so that a labels
    /// file for other traffic is told apart from a time zone or window that is off.
    pub fn none_matched(&self, flows: u64, data: &str) -> Option<LabelsError> {
        if flows == 0 || self.label_flows.iter().any(|&n| n > 0) {
            return None;
        }
        let utc = |ns: i64| {
            chrono::DateTime::from_timestamp_nanos(ns)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        };
        let range = |(a, b): (i64, i64)| {
            if a == b {
                utc(a)
            } else {
                format!("{} to {}", utc(a), utc(b))
            }
        };
        let flows_at = self
            .flow_span
            .map(|(a, b)| {
                format!(
                    "the flows start {}",
                    range((
                        i64::try_from(a).unwrap_or(i64::MAX),
                        i64::try_from(b).unwrap_or(i64::MAX)
                    ))
                )
            })
            .unwrap_or_default();
        let (read, rows_at, pairs, fix) = match &self.source {
            Source::Rules(r) => (
                format!(
                    "{} rules, none of which matched a flow",
                    r.counts(&self.names).len()
                ),
                String::new(),
                None,
                "check the rules' addresses, ports and times against the capture",
            ),
            Source::Cic(c) => (
                format!("{} CIC rows", c.rows()),
                c.span()
                    .map(|s| {
                        format!(
                            "the rows' Timestamps span {} (read at UTC offset {}, matched within {} s)",
                            range(s),
                            offset_words(self.cic.utc_offset_s),
                            self.cic.window_s
                        )
                    })
                    .unwrap_or_default(),
                Some(c.pair_hits()),
                "give the CIC file of the day and hours of this capture, or check --cic-utc-offset \
                 and --cic-window-s when the endpoints match but the times do not",
            ),
            Source::Generated(g) => (
                format!("{} generator rows", g.rows()),
                g.span()
                    .map(|s| format!("the rows span {}", range(s)))
                    .unwrap_or_default(),
                Some(g.pair_hits()),
                "give the labels-NAME.csv written with this capture by `workbench gen-pcaps`",
            ),
        };
        let pairs = pairs.map(|n| match n {
            0 => "no flow has both endpoints (address and port) in any row".to_string(),
            n => format!("{n} flows have both endpoints in a row, at other times or protocols"),
        });
        let facts: Vec<String> = [flows_at, rows_at]
            .into_iter()
            .filter(|s| !s.is_empty())
            .chain(pairs)
            .collect();
        Some(invalid!(
            "{}: the labels file matches none of the {flows} flows of {data} (read: {read}){}; {fix}",
            self.file,
            if facts.is_empty() {
                String::new()
            } else {
                format!("; {}", facts.join("; "))
            }
        ))
    }

    /// The text of a label or attack type index.
    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", String::as_str)
    }

    pub fn report(&self) -> LabelReport {
        let mut labels = BTreeMap::new();
        for (name, &n) in self.names.iter().zip(&self.label_flows) {
            if n > 0 {
                *labels.entry(name.clone()).or_insert(0) += n;
            }
        }
        let (mut cic_rows, mut cic_rows_used) = (None, None);
        let (mut generator_rows, mut generator_rows_used) = (None, None);
        let (kind, rules) = match &self.source {
            Source::Rules(r) => ("rules", r.counts(&self.names)),
            Source::Cic(c) => {
                (cic_rows, cic_rows_used) = (Some(c.rows()), Some(c.rows_used()));
                ("cic", Vec::new())
            }
            Source::Generated(g) => {
                (generator_rows, generator_rows_used) = (Some(g.rows()), Some(g.rows_used()));
                ("generator", Vec::new())
            }
        };
        LabelReport {
            file: self.file.clone(),
            kind,
            labels,
            unmatched_flows: self.unmatched,
            rules,
            cic_rows,
            cic_rows_used,
            generator_rows,
            generator_rows_used,
        }
    }
}

/// Whether a CSV's first line is the generator's labels header (else it is read as CIC).
fn is_generator_csv(path: &Path) -> Result<bool> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(io_at(path.display().to_string(), "cannot open"))?;
    let mut header = Vec::new();
    std::io::BufReader::new(file)
        .read_until(b'\n', &mut header)
        .map_err(io_at(path.display().to_string(), "cannot read"))?;
    let header = String::from_utf8_lossy(&header);
    let fields = cic::split_csv(header.trim_end_matches(['\r', '\n']));
    Ok(generated::columns(&fields).is_some())
}

/// A UTC offset in seconds as `-03:00`.
fn offset_words(s: i64) -> String {
    let sign = if s < 0 { '-' } else { '+' };
    let a = s.unsigned_abs();
    format!("{sign}{:02}:{:02}", a / 3600, a % 3600 / 60)
}

/// Index of `name` in `names`, added if new (labels repeat across many rules and rows).
fn intern(names: &mut Vec<String>, name: &str) -> u32 {
    match names.iter().position(|n| n == name) {
        Some(i) => i as u32,
        None => {
            names.push(name.to_string());
            (names.len() - 1) as u32
        }
    }
}

impl std::fmt::Display for LabelReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "labels from {} ({}):", self.file, self.kind)?;
        for r in &self.rules {
            write!(
                f,
                "\n  rule {} (line {}) -> {}: {} flows",
                r.rule, r.line, r.label, r.flows
            )?;
        }
        for (label, n) in &self.labels {
            write!(f, "\n  {label}: {n} flows")?;
        }
        if let (Some(rows), Some(used)) = (self.cic_rows, self.cic_rows_used) {
            write!(f, "\n  CIC rows: {rows} read, {used} matched a flow")?;
        }
        if let (Some(rows), Some(used)) = (self.generator_rows, self.generator_rows_used) {
            write!(f, "\n  generator rows: {rows} read, {used} matched a flow")?;
        }
        write!(f, "\n  unmatched: {} flows", self.unmatched_flows)
    }
}
