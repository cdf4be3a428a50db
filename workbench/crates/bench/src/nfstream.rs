//! The NFStream baseline of `workbench bench features`: `bench/nfstream_features.py CAPTURE`
//! (`NFStreamer(source=CAPTURE, statistical_analysis=True)`, every flow consumed) in
//! `bench/.venv`, which `bench/venv.sh` fills with pip. NFStream is what users pick for flow
//! features (tshark only extracts fields), so the target is set against it: our packets per
//! second >= 30x NFStream's on the 1 GB capture and on a real capture, process included.
//!
//! Both tools are timed twice: the whole child process (start-up, imports, output; what a user
//! waits for) and in-process (ours: `elapsed_ns` of `workbench features --json`; NFStream: the
//! script's `seconds`, from creating the streamer to its last flow). Packets per second use the
//! packets our extraction read from the file for both (the file is the same); NFStream's own
//! count (packets in its flows) is kept beside it.

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::child;
use super::features::ToolRun;
use super::figure::Figure;
use super::python::{self, Baseline};
use crate::error::{err, Error, Result};

/// Target: ours >= 30x NFStream's packets per second, process included.
pub const TARGET_RATIO: f64 = 30.0;
pub const TOOL: &str = "NFStream (statistical_analysis=True)";

/// What `nfstream_features.py` prints.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ScriptOut {
    /// Packets in NFStream's flows (bidirectional_packets summed).
    pub packets: u64,
    pub flows: u64,
    /// Inside the process, from creating the streamer to the last flow.
    pub seconds: f64,
    pub nfstream_version: String,
}

/// Reads the script's JSON; a time that is not a positive finite number is refused (it would
/// make an infinite or negative rate).
pub fn parse(stdout: &[u8]) -> Result<ScriptOut> {
    let out: ScriptOut = serde_json::from_slice(stdout).map_err(|e| {
        Error::json(
            "nfstream_features.py printed no JSON object with packets, flows, seconds and nfstream_version",
            e,
        )
    })?;
    if !(out.seconds.is_finite() && out.seconds > 0.0) {
        return Err(err!(
            Child,
            "nfstream_features.py reported {} seconds; expected a positive time",
            out.seconds
        ));
    }
    Ok(out)
}

/// One NFStream run on a capture.
#[derive(Debug, Clone, Serialize)]
pub struct NfstreamRun {
    /// Packets are the extraction's (the file's), wall and peak RSS the whole process.
    #[serde(flatten)]
    pub run: ToolRun,
    /// Packets NFStream counted in its flows (it leaves out frames it does not meter).
    pub nfstream_packets: u64,
    pub flows: u64,
}

/// The interpreter and script, after `bench/venv.sh nfstream` (pip installs it when missing);
/// the error is the reason the baseline is skipped.
pub fn prepare() -> Result<Baseline> {
    python::baseline("nfstream_features.py", &["nfstream"])
}

/// Runs NFStream on `capture`, whose packets our extraction counted as `packets`. Returns the
/// run and NFStream's version.
pub fn run(b: &Baseline, capture: &Path, packets: u64) -> Result<(NfstreamRun, String)> {
    let r = child::checked(Command::new(&b.python).arg(&b.script).arg(capture))?;
    let out = parse(&r.stdout)?;
    let run = ToolRun::measured(TOOL, capture, packets, &r, Some((out.seconds * 1e9) as u64))?;
    Ok((
        NfstreamRun {
            run,
            nfstream_packets: out.packets,
            flows: out.flows,
        },
        out.nfstream_version,
    ))
}

/// Packets per second inside the process, if it reported its time.
pub fn in_process_packets_per_s(r: &ToolRun) -> Option<f64> {
    r.in_process_ns
        .map(|ns| r.packets as f64 / (ns.max(1) as f64 / 1e9))
}

/// The figures of one capture: ours against NFStream, process included (with the target: the
/// section runs NFStream only where the target is judged, the real capture and the 1 GB one)
/// and in-process (context, no target).
pub fn figures(key: &str, ours: &ToolRun, nf: &ToolRun) -> Vec<Figure> {
    let mut figures = Vec::new();
    let f = Figure::versus(
        &format!("features_vs_nfstream_packets_per_s_{key}"),
        ours.packets_per_s,
        "packets_per_s",
        &format!("{TOOL}, process included"),
        nf.packets_per_s,
        true,
    );
    let met = f.ratio.is_some_and(|r| r >= TARGET_RATIO);
    figures.push(f.with_target(&format!(">= {TARGET_RATIO}x NFStream"), met));
    if let (Some(o), Some(n)) = (in_process_packets_per_s(ours), in_process_packets_per_s(nf)) {
        figures.push(Figure::versus(
            &format!("features_vs_nfstream_in_process_packets_per_s_{key}"),
            o,
            "packets_per_s",
            &format!("{TOOL}, in process"),
            n,
            true,
        ));
    }
    figures
}

/// One line per run for the section's notes.
pub fn note(name: &str, ours: &ToolRun, nf: &NfstreamRun) -> String {
    let pps = |r: &ToolRun| in_process_packets_per_s(r).map_or("?".to_string(), |p| format!("{p:.0}"));
    format!(
        "{name}: NFStream {:.0} packets/s process included, {} in process ({} flows, {} packets in its flows, {} MiB peak); workbench {:.0} and {} packets/s",
        nf.run.packets_per_s,
        pps(&nf.run),
        nf.flows,
        nf.nfstream_packets,
        nf.run.peak_rss_bytes >> 20,
        ours.packets_per_s,
        pps(ours),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool_run(packets: u64, wall_ns: u64, in_process_ns: Option<u64>) -> ToolRun {
        ToolRun {
            tool: "t",
            capture: "c.pcap".into(),
            capture_bytes: 1,
            packets,
            wall_ns,
            cpu_ns: wall_ns,
            packets_per_s: packets as f64 / (wall_ns as f64 / 1e9),
            peak_rss_bytes: 1 << 20,
            in_process_ns,
        }
    }

    #[test]
    fn parses_the_scripts_json_and_refuses_what_is_not_a_time() {
        let out =
            parse(br#"{"packets": 37841, "flows": 37669, "seconds": 3.87, "nfstream_version": "6.6.0"}"#)
                .expect("parses");
        assert_eq!(
            out,
            ScriptOut {
                packets: 37_841,
                flows: 37_669,
                seconds: 3.87,
                nfstream_version: "6.6.0".into()
            }
        );
        let e = parse(br#"{"packets": 1, "flows": 1, "seconds": 0, "nfstream_version": "x"}"#)
            .expect_err("zero seconds");
        assert!(e.to_string().contains("0 seconds"), "{e}");
        let e = parse(b"Traceback (most recent call last):").expect_err("not JSON");
        assert!(
            e.to_string().contains("nfstream_features.py printed no JSON"),
            "{e}"
        );
        let e = parse(br#"{"packets": 1, "flows": 1, "seconds": 1.0}"#).expect_err("no version");
        assert!(format!("{e:#}").contains("nfstream_version"), "{e:#}");
    }

    #[test]
    fn figures_are_ratios_of_packets_per_second_with_the_target() {
        // 1,000,000 packets: ours in 0.5 s (0.4 s in process), NFStream in 20 s (18 s).
        let ours = tool_run(1_000_000, 500_000_000, Some(400_000_000));
        let nf = tool_run(1_000_000, 20_000_000_000, Some(18_000_000_000));
        let f = figures("synthetic_1000_MB", &ours, &nf);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].name, "features_vs_nfstream_packets_per_s_synthetic_1000_MB");
        assert_eq!(f[0].value, 2_000_000.0);
        assert_eq!(f[0].baseline_value, Some(50_000.0));
        assert_eq!(f[0].ratio, Some(40.0));
        assert_eq!(f[0].target_met, Some(true));
        assert_eq!(
            f[1].name,
            "features_vs_nfstream_in_process_packets_per_s_synthetic_1000_MB"
        );
        let r = f[1].ratio.expect("ratio");
        assert!((r - 45.0).abs() < 1e-9, "{r}");
        assert_eq!(f[1].target, None, "the in-process figure is context");
        // 25x: missed.
        let slow = tool_run(1_000_000, 800_000_000, None);
        let f = figures("x", &slow, &nf);
        assert_eq!(f.len(), 1, "no in-process figure without our in-process time");
        assert_eq!((f[0].ratio, f[0].target_met), (Some(25.0), Some(false)));
        assert_eq!(f[0].target.as_deref(), Some(">= 30x NFStream"));
    }
}
