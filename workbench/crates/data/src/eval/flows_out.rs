//! `eval --flows-out FILE`: one row per flow (captures) or per table row, with its last decision
//! and why the model made it (`workbench_flow::explain`, the TUI's flow detail), as CSV or JSON
//! Lines by the file's extension. Written into a temporary file beside the output that is renamed
//! into place only when every row is written (as `workbench features` writes its tables), so a
//! failed run never leaves a half file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use shared::model::{Model, SCORE_ONE};
use workbench_flow::explain::{explain_features, score_decimal, Explanation, Step};
use workbench_flow::model::scale::ScoreScale;

use super::flow_detail::{Details, FlowDetail, Place};
use super::score::FlowOutcome;
use super::{bail, io_error, Result};
use crate::features::csv_rows::CsvRows;

/// The columns of a capture's flows (`vlan_id`: the outermost VLAN tag's id, part of the flow's
/// key as in the probe; 0 untagged).
pub const CAPTURE_COLUMNS: [&str; 16] = [
    "file",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "proto",
    "vlan_id",
    "label",
    "packets",
    "verdict",
    "score",
    "score_raw",
    "decided_at_packet",
    "ever_flagged",
    "first_flagged_packet",
    "why",
];

/// The columns of a table's rows: the row's place instead of the flow's endpoints and packets.
pub const TABLE_COLUMNS: [&str; 8] = [
    "file",
    "line",
    "row",
    "label",
    "verdict",
    "score",
    "score_raw",
    "why",
];

/// What `--flows-out` wrote (the report's `flows_out`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FlowsOutInfo {
    pub path: String,
    pub rows: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    JsonLines,
}

/// The output file while it is written: its temporary file is removed unless it was renamed
/// into place.
pub struct FlowsOut {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
    format: Format,
}

impl FlowsOut {
    /// Checks the extension and makes the temporary file, before any data is read (a bad name
    /// or an unwritable folder fails at once). `inputs` may not be overwritten.
    pub fn create(path: &Path, inputs: &[&Path]) -> Result<FlowsOut> {
        let shown = path.display();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let format = match ext.as_deref() {
            Some("csv") => Format::Csv,
            Some("jsonl") => Format::JsonLines,
            Some(other) => bail!(
                "--flows-out {shown}: `.{other}` is not a format it writes: name the file .csv or .jsonl"
            ),
            None => bail!("--flows-out {shown}: no extension: name the file .csv or .jsonl"),
        };
        if path.is_dir() {
            bail!("--flows-out {shown}: is a directory, expected an output file");
        }
        if let Ok(out) = path.canonicalize() {
            if let Some(input) = inputs.iter().find(|i| i.canonicalize().is_ok_and(|i| i == out)) {
                bail!(
                    "--flows-out {shown}: is the input {}: choose another file",
                    input.display()
                );
            }
        }
        let name = path
            .file_name()
            .ok_or_else(|| super::invalid!("--flows-out {shown}: no file name"))?;
        let (tmp, file) = crate::features::output::create_temporary(path, name).map_err(io_error(
            format!("--flows-out {shown}: cannot create the output file"),
        ))?;
        Ok(FlowsOut {
            path: path.to_path_buf(),
            tmp,
            file: Some(file),
            format,
        })
    }

    /// Writes one row per outcome (`details` in the same order; `files`: the inputs, by
    /// number) and moves the file into place.
    pub fn write(
        mut self,
        model: &Model,
        files: &[String],
        outcomes: &[FlowOutcome],
        details: &Details,
    ) -> Result<FlowsOutInfo> {
        let shown = self.path.display().to_string();
        if outcomes.len() != details.rows.len() {
            bail!(
                "--flows-out {shown}: internal: {} flows scored but {} described",
                outcomes.len(),
                details.rows.len()
            );
        }
        let file = self
            .file
            .take()
            .ok_or_else(|| super::invalid!("--flows-out {shown}: internal: written twice"))?;
        let rows = outcomes
            .iter()
            .zip(&details.rows)
            .map(|(o, d)| Row::of(model, files, o, d, details));
        let table = details
            .rows
            .first()
            .is_some_and(|d| matches!(d.place, Place::Row(_)));
        let written = match self.format {
            Format::Csv => write_csv(file, if table { &TABLE_COLUMNS } else { &CAPTURE_COLUMNS }, rows),
            Format::JsonLines => write_jsonl(file, rows),
        };
        written.map_err(io_error(format!("--flows-out {shown}: writing rows")))?;
        std::fs::rename(&self.tmp, &self.path).map_err(io_error(format!(
            "--flows-out {shown}: cannot move {} into place",
            self.tmp.display()
        )))?;
        // Renamed: nothing left to remove.
        self.tmp = PathBuf::new();
        Ok(FlowsOutInfo {
            path: shown,
            rows: outcomes.len() as u64,
        })
    }
}

impl Drop for FlowsOut {
    /// Not renamed into place (an error on the way): the temporary file goes.
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// One output row, whatever the format.
struct Row<'a> {
    file: &'a str,
    place: &'a Place,
    label: Option<&'a str>,
    packets: Option<u32>,
    /// `malicious`, `benign`, or `none` (no decision point reached), as `probe flows` says.
    verdict: &'static str,
    score: Option<f64>,
    score_raw: Option<i64>,
    decided_at_packet: Option<u32>,
    ever_flagged: bool,
    first_flagged_packet: Option<u32>,
    explained: Option<Explanation>,
}

impl<'a> Row<'a> {
    fn of(
        model: &Model,
        files: &'a [String],
        o: &'a FlowOutcome,
        d: &'a FlowDetail,
        details: &Details,
    ) -> Row<'a> {
        let file = match &d.place {
            Place::Flow { file, .. } => files.get(*file).map_or("", String::as_str),
            Place::Row(r) => r.file.as_str(),
        };
        let decision = d.decision.as_ref();
        Row {
            file,
            place: &d.place,
            label: o.class.as_deref(),
            packets: d.packets,
            verdict: match decision {
                Some(d) if d.malicious => "malicious",
                Some(_) => "benign",
                None => "none",
            },
            score: decision.map(|d| ScoreScale::of(model).probability(d.score_raw)),
            score_raw: decision.map(|d| d.score_raw),
            decided_at_packet: decision.and_then(|d| d.packet),
            ever_flagged: o.ever_flagged,
            first_flagged_packet: o.first_flag.map(|(packet, _)| packet),
            explained: decision.map(|d| explain_features(model, &details.features(d))),
        }
    }

    fn why(&self) -> String {
        self.explained.as_ref().map(Explanation::line).unwrap_or_default()
    }
}

fn write_csv<'a>(file: File, columns: &[&str], rows: impl Iterator<Item = Row<'a>>) -> std::io::Result<()> {
    let mut w = CsvRows::new(file, columns);
    for r in rows {
        csv_row(&mut w, &r);
        w.end_row()?;
    }
    w.finish()
}

/// A text cell a spreadsheet would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or
/// a carriage return: OWASP's CSV injection list) gets a leading `'`, which spreadsheets show
/// as text. Labels and file names come from files a third party may have written; the CSV is
/// meant to be opened by an analyst. The JSON lines keep the text as it was.
fn spreadsheet_safe(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

fn csv_row(w: &mut CsvRows, r: &Row<'_>) {
    let int = |w: &mut CsvRows, v: Option<i64>| match v {
        Some(v) => w.int(v),
        None => w.str(None),
    };
    w.str(Some(&spreadsheet_safe(r.file)));
    match r.place {
        Place::Flow { tuple, .. } => {
            w.ip(tuple.src_ip);
            w.int(tuple.src_port.into());
            w.ip(tuple.dest_ip);
            w.int(tuple.dest_port.into());
            w.str(Some(tuple.proto));
            w.int(tuple.vlan_id.into());
        }
        Place::Row(p) => {
            int(w, p.line.map(|l| l as i64));
            w.int(p.row as i64);
        }
    }
    // Unlabelled: an empty field.
    w.str(r.label.filter(|l| !l.is_empty()).map(spreadsheet_safe).as_deref());
    if matches!(r.place, Place::Flow { .. }) {
        int(w, r.packets.map(i64::from));
    }
    w.str(Some(r.verdict));
    w.str(r.score.map(|p| format!("{p:.4}")).as_deref());
    int(w, r.score_raw);
    if matches!(r.place, Place::Flow { .. }) {
        int(w, r.decided_at_packet.map(i64::from));
        w.str(Some(if r.ever_flagged { "true" } else { "false" }));
        int(w, r.first_flagged_packet.map(i64::from));
    }
    w.str(Some(&r.why()));
}

fn write_jsonl<'a>(file: File, rows: impl Iterator<Item = Row<'a>>) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, file);
    for r in rows {
        serde_json::to_writer(&mut out, &json_row(&r))?;
        out.write_all(b"\n")?;
    }
    out.into_inner()
        .map_err(std::io::IntoInnerError::into_error)?
        .flush()
}

/// A row of the JSON Lines form, its keys in the CSV's column order; capture-only keys are
/// absent for a table's rows, and a flow's missing values are null.
#[derive(Serialize)]
struct JsonRow<'a> {
    file: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_ip: Option<std::net::IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dst_ip: Option<std::net::IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dst_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proto: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vlan_id: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<Option<usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    row: Option<usize>,
    label: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    packets: Option<Option<u32>>,
    verdict: &'static str,
    score: Option<f64>,
    score_raw: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decided_at_packet: Option<Option<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ever_flagged: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_flagged_packet: Option<Option<u32>>,
    why: String,
    steps: Vec<JsonStep>,
}

/// One step with its raw integers (what the probe compares and adds) and, for scores, their
/// decimal value.
#[derive(Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
enum JsonStep {
    Split {
        tree: usize,
        feature: &'static str,
        unit: &'static str,
        value: i64,
        op: &'static str,
        threshold: i64,
        went_left: bool,
    },
    Leaf {
        tree: usize,
        score: f64,
        score_raw: i64,
    },
    Bias {
        bias: f64,
        bias_raw: i64,
    },
    Term {
        feature: &'static str,
        unit: &'static str,
        value: i64,
        contribution: f64,
        contribution_raw: i64,
    },
}

fn json_row<'a>(r: &'a Row<'a>) -> JsonRow<'a> {
    let (tuple, place) = match r.place {
        Place::Flow { tuple, .. } => (Some(tuple), None),
        Place::Row(p) => (None, Some(p)),
    };
    let flow = tuple.is_some();
    JsonRow {
        file: r.file,
        src_ip: tuple.map(|t| t.src_ip),
        src_port: tuple.map(|t| t.src_port),
        dst_ip: tuple.map(|t| t.dest_ip),
        dst_port: tuple.map(|t| t.dest_port),
        proto: tuple.map(|t| t.proto),
        vlan_id: tuple.map(|t| t.vlan_id),
        line: place.map(|p| p.line),
        row: place.map(|p| p.row),
        label: r.label.filter(|l| !l.is_empty()),
        packets: flow.then_some(r.packets),
        verdict: r.verdict,
        score: r.score,
        score_raw: r.score_raw,
        decided_at_packet: flow.then_some(r.decided_at_packet),
        ever_flagged: flow.then_some(r.ever_flagged),
        first_flagged_packet: flow.then_some(r.first_flagged_packet),
        why: r.why(),
        steps: r
            .explained
            .as_ref()
            .map(|e| e.steps.iter().map(json_step).collect())
            .unwrap_or_default(),
    }
}

/// A logit or leaf value (x 2^16) as a decimal.
fn decimal(raw: i64) -> f64 {
    raw as f64 / SCORE_ONE as f64
}

fn json_step(s: &Step) -> JsonStep {
    match *s {
        Step::Split {
            tree,
            feature,
            unit,
            value,
            threshold,
            went_left,
        } => JsonStep::Split {
            tree,
            feature,
            unit,
            value,
            op: if went_left { "<=" } else { ">" },
            threshold,
            went_left,
        },
        Step::Leaf { tree, score } => JsonStep::Leaf {
            tree,
            // As the one-line form prints it.
            score: score_decimal(score).parse().unwrap_or_else(|_| decimal(score)),
            score_raw: score,
        },
        Step::Bias(b) => JsonStep::Bias {
            bias: decimal(b),
            bias_raw: b,
        },
        Step::Term {
            feature,
            unit,
            value,
            contribution,
        } => JsonStep::Term {
            feature,
            unit,
            value,
            contribution: decimal(contribution),
            contribution_raw: contribution,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::spreadsheet_safe;

    #[test]
    fn cells_a_spreadsheet_would_run_are_written_as_text() {
        assert_eq!(
            spreadsheet_safe("=HYPERLINK(\"http://x\",\"y\")"),
            "'=HYPERLINK(\"http://x\",\"y\")"
        );
        for risky in ["+1", "-cmd", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(spreadsheet_safe(risky), format!("'{risky}"));
        }
        for plain in ["BENIGN", "DoS Hulk", "capture.pcap", ""] {
            assert_eq!(spreadsheet_safe(plain), plain);
        }
    }
}
