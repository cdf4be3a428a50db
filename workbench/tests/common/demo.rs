//! What the demo tests look for: the SYN flood flows of the committed sample (ground truth from
//! its labels file, through the replay loop's per-pass address shift: `Truth::of`) among the
//! rows the Live tab shows.

use std::path::PathBuf;

use workbench::demo::samples::{Truth, Tuple};

/// The committed sample captures.
pub fn sample_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sample-pcaps")
}

/// The SYN flood target: every flood flow goes there (checked below), and so does benign
/// traffic, as it is the most popular site of the sample.
pub const FLOOD_TARGET: &str = "198.51.100.10:80";

/// The ground truth of labels-honest.csv, checked against sample-pcaps/README.md.
pub struct Flood {
    truth: Truth,
}

impl Flood {
    /// Whether the flow `src:sport -> dst:dport` (as the Live tab and `probe flows` write them,
    /// TCP) is a SYN flood flow of the sample, from any replay pass.
    pub fn contains(&self, src: &str, dst: &str) -> bool {
        let split = |s: &str| -> Option<(std::net::IpAddr, u16)> {
            let (a, p) = s.rsplit_once(':')?;
            Some((a.parse().ok()?, p.parse().ok()?))
        };
        let (Some((s, sp)), Some((d, dp))) = (split(src), split(dst)) else {
            return false;
        };
        let tuple: Tuple = (s, sp, d, dp, "tcp");
        self.truth
            .of_tuple(tuple)
            .is_some_and(|t| t.scenario == "syn_flood")
    }
}

/// The sample's flood: 260 flows (sample-pcaps/README.md), all to [`FLOOD_TARGET`], which
/// benign flows visit too (so the filter shows both).
pub fn flood_flows() -> Flood {
    let path = sample_dir().join("labels-honest.csv");
    let truth = Truth::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let target = |t: &Tuple| format!("{}:{}", t.2, t.3) == FLOOD_TARGET;
    let flood: Vec<&Tuple> = truth
        .flows
        .iter()
        .filter(|(_, f)| f.scenario == "syn_flood")
        .map(|(t, _)| t)
        .collect();
    assert_eq!(flood.len(), 260, "sample-pcaps/README.md: 260 flood flows");
    assert!(
        flood.iter().all(|t| target(t)),
        "every flood flow goes to {FLOOD_TARGET}"
    );
    assert!(
        truth.flows.iter().any(|(t, f)| target(t) && !f.malicious()),
        "benign flows go to {FLOOD_TARGET} too"
    );
    Flood { truth }
}

/// Live table rows on `screen` that show a flood flow flagged malicious.
pub fn flagged_flood_rows(screen: &str, flood: &Flood) -> usize {
    screen
        .lines()
        .filter(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            cols.len() >= 7 && cols.contains(&"malicious") && flood.contains(cols[0], cols[1])
        })
        .count()
}

/// `workbench demo` started in tmux at 100x32, with its dataset cache in `dir` and the committed
/// samples: `program` is the binary or a command that runs it (unprivileged, for example), `flags`
/// the demo's own flags.
pub fn start_in_tmux(name: &str, dir: &std::path::Path, program: &str, flags: &str) -> super::tmux::Tmux {
    let command = format!(
        "XDG_CACHE_HOME={} {program} demo {flags} --samples {}",
        dir.display(),
        sample_dir().display()
    );
    super::tmux::Tmux::start(name, dir, &command, (100, 32))
}

/// Filters the Live tab to the flood's target: `/`, the address, Enter.
pub fn filter_to_flood_target(tmux: &super::tmux::Tmux) {
    tmux.keys("/");
    tmux.cmd(&["send-keys", "-t", "t", "-l", FLOOD_TARGET]);
    tmux.keys("Enter");
}

/// `workbench demo FLAGS --samples SAMPLES`, the committed samples: for `json_summary`.
pub fn demo_command(flags: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_workbench"));
    cmd.arg("demo").args(flags).arg("--samples").arg(sample_dir());
    cmd
}

/// Runs a headless demo (`cmd` with `--json` among its flags) to its end, with its dataset cache
/// and working folder in `dir`; checks that it succeeded and returns its JSON summary and its
/// stderr (the demo's progress notes).
pub fn json_summary(mut cmd: std::process::Command, dir: &std::path::Path) -> (serde_json::Value, String) {
    let out = cmd
        .env("XDG_CACHE_HOME", dir)
        .current_dir(dir)
        .output()
        .expect("the workbench runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let summary = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    (summary, stderr)
}
