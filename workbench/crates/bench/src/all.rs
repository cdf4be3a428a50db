//! `workbench bench all`: every section as a child process `workbench bench <section> --json`,
//! each measured alone (peak RSS, wall time), read back in the one [`Section`] shape, and
//! written as a table (docs/BENCHMARKS.md) and a JSON file.
//!
//! A section that cannot run here says so (`"skipped": "<reason>"` in its JSON): it is recorded
//! as skipped with the reason, never dropped. A section that fails (non-zero exit, output that is
//! not a section, or a subcommand this build does not have: every section is part of the build,
//! so a missing one is a broken build, not a machine that cannot run it) makes `bench all` fail,
//! after the report is written.

use std::path::{Path, PathBuf};

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
            output_dir(dir)?;
        }
    }
    let json = serde_json::to_string_pretty(report).map_err(|e| Error::json("the bench all report", e))?;
    replace_file(&options.json_out, (json + "\n").as_bytes())?;
    let existing = match read_regular(&options.md) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(format!("reading {}", options.md.display()), e)),
    };
    let region = super::markdown::region(report, &options.json_out);
    let text = super::markdown::splice(existing.as_deref(), &region);
    replace_file(&options.md, text.as_bytes())?;
    Ok(())
}

/// The users this run trusts with the folders it writes to: itself, root, and the user who
/// started it with sudo (a checkout of their own).
fn trusted_owner(uid: u32) -> bool {
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let sudo = std::env::var("SUDO_UID").ok().and_then(|u| u.parse::<u32>().ok());
    uid == me || uid == 0 || Some(uid) == sudo
}

/// Makes `dir` if it is missing (private: 0700) and checks that nobody else owns it: a folder
/// another user made (in /tmp, say) lets them swap the files in it under a root run.
pub fn output_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .context(|| format!("creating {}", dir.display()))?;
    let meta = std::fs::metadata(dir).context(|| format!("reading {}", dir.display()))?;
    if !meta.is_dir() {
        return Err(Error::Invalid(format!("{}: not a directory", dir.display())));
    }
    if !trusted_owner(meta.uid()) {
        return Err(Error::Invalid(format!(
            "{}: belongs to user {}, not to this user or root: another user could swap the report's files there; name another folder with --md and --json-out",
            dir.display(),
            meta.uid()
        )));
    }
    Ok(())
}

/// Reads `path` if it is a regular file, without following a symlink at its name (a report
/// replaced by a link to /dev/zero or a FIFO is refused, not read).
fn read_regular(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    Ok(text)
}

/// Writes `bytes` as the new content of `path`: into a file of its own made beside it (O_EXCL:
/// never an existing file or a symlink planted there), then renamed over `path`, which replaces
/// the name (a symlink at `path` included) instead of writing through it.
fn replace_file(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("{}: no file name", path.display())))?;
    let io = |e: std::io::Error| Error::io(format!("writing {}", path.display()), e);
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    // tempfile makes `.NAME.RANDOM.tmp` with O_EXCL (another name when one is taken) and
    // removes it if anything below fails; `persist` is the rename over `path`.
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A symlink planted at the report's name (in a folder others can write) is replaced, not
    /// written through: the file it points to keeps its content.
    #[test]
    fn bench_all_report_write_does_not_follow_a_symlink() {
        let dir = tempfile::tempdir().expect("tmp");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "secret\n").expect("victim");
        let out = dir.path().join("benchmarks.json");
        std::os::unix::fs::symlink(&victim, &out).expect("symlink");
        replace_file(&out, b"report\n").expect("written");
        assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "secret\n");
        let meta = std::fs::symlink_metadata(&out).expect("stat");
        assert!(meta.file_type().is_file(), "a file of its own now");
        assert_eq!(std::fs::read_to_string(&out).expect("report"), "report\n");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "no temporary file left");
        // A FIFO at the table's name is refused, not read (which would block).
        let md = dir.path().join("BENCHMARKS.md");
        let c = std::ffi::CString::new(md.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(read_regular(&md).is_err());
    }

    /// A folder made by another user (pre-created in /tmp) is refused; a missing one is made
    /// private.
    #[test]
    fn bench_all_output_dir_is_private_and_ours() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let made = dir.path().join("a").join("b");
        output_dir(&made).expect("made");
        let mode = std::fs::metadata(&made).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{mode:o}");
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("not root: the foreign-owner case needs chown");
            return;
        }
        let theirs = dir.path().join("theirs");
        std::fs::create_dir(&theirs).expect("dir");
        let c = std::ffi::CString::new(theirs.as_os_str().as_encoded_bytes()).expect("path");
        let uid = 54_321;
        if std::env::var("SUDO_UID").is_ok_and(|u| u == uid.to_string()) {
            return;
        }
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::chown(c.as_ptr(), uid, uid) }, 0);
        let e = output_dir(&theirs).expect_err("another user's folder");
        assert!(e.to_string().contains("belongs to user 54321"), "{e}");
    }

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
