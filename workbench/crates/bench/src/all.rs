//! `workbench bench all`: every section as a child process `workbench bench <section> --json`,
//! each measured alone (peak RSS, wall time), read back in the one [`Section`] shape, and
//! written as a table (docs/BENCHMARKS.md) and a JSON file.
//!
//! A section that cannot run here says so (`"skipped": "<reason>"` in its JSON): it is recorded
//! as skipped with the reason, never dropped. A section that fails (non-zero exit, output that is
//! not a section, or a subcommand this build does not have: every section is part of the build,
//! so a missing one is a broken build, not a machine that cannot run it) makes `bench all` fail,
//! after the report is written.

use std::path::PathBuf;

use crate::error::{Context, Error, Result};
use serde::Serialize;
use serde_json::Value;

use super::child::{self, ChildRun};
use super::figure::Figure;
use super::machine::Machine;

/// Every section, in the order the report lists them.
pub const SECTIONS: [&str; 8] = [
    "probe", "events", "live", "features", "load", "pitfalls", "train", "tui",
];

#[derive(Debug, Clone)]
pub struct Options {
    pub quick: bool,
    pub md: PathBuf,
    pub json_out: PathBuf,
    /// The command line, as the report quotes it.
    pub command: String,
    /// Run only these sections (all when empty).
    pub only: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ran,
    Skipped,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct SectionResult {
    pub section: String,
    pub status: Status,
    /// Why it was skipped or how it failed.
    pub reason: Option<String>,
    /// The child's command line.
    pub command: String,
    pub elapsed_ms: u64,
    /// Peak resident memory of the section's process.
    pub peak_rss_bytes: u64,
    pub figures: Vec<Figure>,
    pub notes: Vec<String>,
    /// The section's whole JSON document (its own detailed keys).
    pub details: Option<Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AllReport {
    pub command: String,
    pub quick: bool,
    /// UTC, RFC 3339.
    pub timestamp_utc: String,
    /// `dev` or `release`: the profile this binary was built with.
    pub build_profile: &'static str,
    pub machine: Machine,
    /// The 1-minute load average when the run started (`machine` has the one at the end).
    pub load_average_1m_start: Option<f64>,
    pub elapsed_ms: u64,
    pub sections: Vec<SectionResult>,
    pub targets_met: usize,
    pub targets_missed: usize,
    pub failed_sections: Vec<String>,
}

pub fn build_profile() -> &'static str {
    if cfg!(debug_assertions) {
        "dev"
    } else {
        "release"
    }
}

/// RFC 3339 UTC time of now (chrono without its clock feature: from SystemTime).
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    chrono::DateTime::from_timestamp(secs, 0).map_or_else(
        || secs.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

/// What a section's child run means: ran, skipped (with the reason) or failed.
pub fn interpret(section: &str, command: String, run: &ChildRun) -> SectionResult {
    let mut result = SectionResult {
        section: section.to_string(),
        status: Status::Failed,
        reason: None,
        command,
        elapsed_ms: run.wall_ns / 1_000_000,
        peak_rss_bytes: run.peak_rss_bytes,
        figures: Vec::new(),
        notes: Vec::new(),
        details: None,
    };
    if !run.success() {
        // clap's words for a subcommand this build does not have: a failure, since every
        // section is built in.
        if run.stderr.contains("unrecognized subcommand") {
            result.reason = Some(format!(
                "unknown subcommand: this build has no `workbench bench {section}`"
            ));
            return result;
        }
        let last = run
            .stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no error message");
        result.reason = Some(format!("{}: {last}", run.describe_exit()));
        return result;
    }
    let doc: Value = match serde_json::from_slice(&run.stdout) {
        Ok(v) => v,
        Err(e) => {
            result.reason = Some(format!("stdout is not one JSON document: {e}"));
            return result;
        }
    };
    result.notes = doc["notes"]
        .as_array()
        .map(|a| a.iter().filter_map(|n| n.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    if let Some(reason) = doc["skipped"].as_str() {
        result.status = Status::Skipped;
        result.reason = Some(reason.to_string());
        result.details = Some(doc);
        return result;
    }
    match serde_json::from_value::<Vec<Figure>>(doc["figures"].clone()) {
        Ok(figures) if !figures.is_empty() => {
            result.status = Status::Ran;
            result.figures = figures;
        }
        Ok(_) => result.reason = Some("the section reported no figures".to_string()),
        Err(e) => result.reason = Some(format!("its `figures` are not figures: {e}")),
    }
    result.details = Some(doc);
    result
}

/// Runs the sections and writes the markdown and JSON files. Returns the report; the caller
/// exits non-zero when `failed_sections` is not empty.
pub fn run(options: &Options) -> Result<AllReport> {
    let started = std::time::Instant::now();
    let load_average_1m_start = Machine::this().load_average_1m;
    let mut sections = Vec::new();
    for &section in &SECTIONS {
        if !options.only.is_empty() && !options.only.iter().any(|s| s == section) {
            continue;
        }
        let mut args = vec!["bench".to_string(), section.to_string(), "--json".to_string()];
        if options.quick {
            args.push("--quick".to_string());
        }
        let command = format!("workbench {}", args.join(" "));
        eprintln!("bench all: {command}");
        let mut cmd = child::workbench_command()?;
        cmd.args(&args);
        let result = match child::run(cmd, None, Some(&format!("  [{section}] "))) {
            Ok(run) => interpret(section, command, &run),
            Err(e) => SectionResult {
                section: section.to_string(),
                status: Status::Failed,
                reason: Some(format!("{e:#}")),
                command,
                elapsed_ms: 0,
                peak_rss_bytes: 0,
                figures: Vec::new(),
                notes: Vec::new(),
                details: None,
            },
        };
        eprintln!(
            "bench all: {section}: {}{} ({:.1} s)",
            match result.status {
                Status::Ran => "ran",
                Status::Skipped => "skipped",
                Status::Failed => "FAILED",
            },
            result
                .reason
                .as_deref()
                .map_or(String::new(), |r| format!(": {r}")),
            result.elapsed_ms as f64 / 1e3
        );
        sections.push(result);
    }
    let targets = sections
        .iter()
        .flat_map(|s| &s.figures)
        .filter_map(|f| f.target_met);
    let targets_met = targets.clone().filter(|&m| m).count();
    let targets_missed = targets.filter(|&m| !m).count();
    let report = AllReport {
        command: options.command.clone(),
        quick: options.quick,
        timestamp_utc: now_utc(),
        build_profile: build_profile(),
        machine: Machine::this(),
        load_average_1m_start,
        elapsed_ms: started.elapsed().as_millis() as u64,
        failed_sections: sections
            .iter()
            .filter(|s| s.status == Status::Failed)
            .map(|s| s.section.clone())
            .collect(),
        sections,
        targets_met,
        targets_missed,
    };
    write_outputs(&report, options)?;
    Ok(report)
}

fn write_outputs(report: &AllReport, options: &Options) -> Result<()> {
    for path in [&options.md, &options.json_out] {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).context(|| format!("creating {}", dir.display()))?;
        }
    }
    let json = serde_json::to_string_pretty(report).map_err(|e| Error::json("the bench all report", e))?;
    std::fs::write(&options.json_out, json + "\n")
        .context(|| format!("writing {}", options.json_out.display()))?;
    let existing = match std::fs::read_to_string(&options.md) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(format!("reading {}", options.md.display()), e)),
    };
    let region = super::markdown::region(report, &options.json_out);
    let text = super::markdown::splice(existing.as_deref(), &region);
    std::fs::write(&options.md, text).context(|| format!("writing {}", options.md.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_with(code: i32, stdout: &str, stderr: &str) -> ChildRun {
        ChildRun {
            exit_code: Some(code),
            signal: None,
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.to_string(),
            peak_rss_bytes: 1 << 20,
            wall_ns: 2_000_000,
            cpu_ns: 1_000_000,
        }
    }

    #[test]
    fn unknown_subcommand_is_a_failure_with_the_reason() {
        let r = interpret(
            "load",
            "workbench bench load --json".into(),
            &run_with(2, "", "error: unrecognized subcommand 'load'\n"),
        );
        assert_eq!(r.status, Status::Failed);
        assert!(r.reason.as_deref().unwrap_or("").contains("unknown subcommand"));
    }

    #[test]
    fn a_section_that_says_skipped_is_skipped() {
        let r = interpret(
            "live",
            "c".into(),
            &run_with(
                0,
                r#"{"section":"live","skipped":"needs root","figures":[],"notes":["n"]}"#,
                "",
            ),
        );
        assert_eq!(
            (r.status, r.reason.as_deref()),
            (Status::Skipped, Some("needs root"))
        );
        assert_eq!(r.notes, vec!["n".to_string()]);
    }

    #[test]
    fn failures_keep_the_last_error_line() {
        let r = interpret(
            "probe",
            "c".into(),
            &run_with(1, "", "progress\nError: no bpffs\n\n"),
        );
        assert_eq!(r.status, Status::Failed);
        assert_eq!(r.reason.as_deref(), Some("exit code 1: Error: no bpffs"));
        let r = interpret("probe", "c".into(), &run_with(0, "not json", ""));
        assert_eq!(r.status, Status::Failed);
        let r = interpret(
            "probe",
            "c".into(),
            &run_with(0, r#"{"section":"probe","figures":[]}"#, ""),
        );
        assert_eq!(
            r.status,
            Status::Failed,
            "a section with no figures did not measure anything"
        );
    }

    #[test]
    fn figures_are_read_back() {
        let f =
            Figure::versus("x_pps", 10.0, "packets_per_s", "tshark", 2.0, true).with_target(">= 10x", false);
        let doc = serde_json::json!({"section": "features", "figures": [f], "notes": [], "extra": 1});
        let r = interpret("features", "c".into(), &run_with(0, &doc.to_string(), ""));
        assert_eq!(r.status, Status::Ran);
        assert_eq!(r.figures, vec![f]);
        assert_eq!(
            r.details.as_ref().map(|d| d["extra"].clone()),
            Some(serde_json::json!(1))
        );
    }
}
