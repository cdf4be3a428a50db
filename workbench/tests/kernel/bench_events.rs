//! `workbench bench events` against the real kernel, small: two rates, a slow rate the reader
//! keeps up with and the producer's unpaced rate, with the reader's turn stretched to 200 ms so
//! that the ring (3,276 events) overflows at a rate any machine reaches. Asserted: the books
//! balance (every verdict change the probe counted is a line written or an event lost, per step
//! and in total, and the file holds every line counted), a loss point is reported, the line is
//! an EVE verdict, and no pin or events file is left behind. Rates are reported, not asserted.

use crate::common::{report, workbench, workbench_json};
use serde_json::Value;

const POLL_MS: u64 = 200;
const SLOW_RATE: u64 = 2_000;

fn num(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a whole number in {v:#}"))
}

fn float(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {v:#}"))
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn bench_events_balances_written_and_lost_against_the_probe_and_cleans_up() {
    crate::common::require_kernel("bench_events_balances_written_and_lost_against_the_probe_and_cleans_up");
    let r = workbench_json(&[
        "bench",
        "events",
        "--rates",
        &format!("{SLOW_RATE},max"),
        "--step-ms",
        "300",
        "--poll-ms",
        &POLL_MS.to_string(),
        "--json",
    ]);
    assert_eq!(r["section"], "events");
    // 256 KiB of 80-byte records (72-byte event, 8-byte header).
    assert_eq!(
        (
            num(&r, "ring_bytes"),
            num(&r, "ring_record_bytes"),
            num(&r, "ring_capacity_events")
        ),
        (262_144, 80, 3276)
    );
    let capacity = num(&r, "ring_capacity_events");
    assert_eq!(
        float(&r, "paper_loss_point_per_s"),
        3276.0 * 1000.0 / POLL_MS as f64
    );

    let steps = r["steps"].as_array().expect("steps");
    let offered: Vec<Option<u64>> = steps.iter().map(|s| s["offered_per_s"].as_u64()).collect();
    assert_eq!(offered, [Some(SLOW_RATE), None]);
    let (mut changes, mut written, mut lost) = (0, 0, 0);
    for s in steps {
        let new_flows = num(s, "new_flows");
        assert!(new_flows > 0, "{s:#}");
        // One decision per new flow, and the first decision always changes the verdict.
        assert_eq!(
            num(s, "evaluations"),
            new_flows - num(s, "flow_insert_failed"),
            "{s:#}"
        );
        assert_eq!(num(s, "verdict_changes"), num(s, "evaluations"), "{s:#}");
        assert_eq!(
            num(s, "events_written") + num(s, "events_lost"),
            num(s, "verdict_changes"),
            "every verdict change is written or lost: {s:#}"
        );
        changes += num(s, "verdict_changes");
        written += num(s, "events_written");
        lost += num(s, "events_lost");
    }
    assert_eq!(
        (
            num(&r, "verdict_changes"),
            num(&r, "events_written"),
            num(&r, "events_lost")
        ),
        (changes, written, lost)
    );
    assert_eq!(num(&r["probe_stats"], "verdict_changes"), changes);
    assert_eq!(num(&r["probe_stats"], "events_lost"), lost);
    assert_eq!(num(&r["reader"], "events"), written);
    assert_eq!(
        num(&r, "events_file_bytes"),
        num(&r["reader"], "line_bytes_total"),
        "the file holds every line the reader counted"
    );

    // 400 events per 200 ms turn: far below the ring.
    let slow = &steps[0];
    assert_eq!(num(slow, "events_lost"), 0, "{slow:#}");
    assert_eq!(
        r["loss_point_per_s"].as_f64(),
        Some(float(slow, "achieved_per_s"))
    );
    // A producer that fills the ring twice over in one of the reader's sleeps loses events.
    let fast = &steps[1];
    let per_turn = float(fast, "achieved_per_s") * POLL_MS as f64 / 1000.0;
    if per_turn > 2.0 * capacity as f64 {
        assert!(num(fast, "events_lost") > 0, "{fast:#}");
        assert_eq!(r["loss_reached"], true);
        assert_eq!(
            r["first_loss_per_s"].as_f64(),
            Some(float(fast, "achieved_per_s"))
        );
    }
    let names: Vec<&str> = r["figures"]
        .as_array()
        .expect("figures")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(names.contains(&"events_loss_point_new_flows_per_s"), "{names:?}");
    assert!(names.contains(&"events_eve_line_bytes"), "{names:?}");

    // The first line written is an EVE verdict of one of the benchmark's flows.
    let line: Value = serde_json::from_str(r["sample_line"].as_str().expect("a line")).expect("JSON");
    assert_eq!(line["event_type"], "verdict");
    assert_eq!(
        (line["dest_port"].as_u64(), line["proto"].as_str()),
        (Some(53), Some("UDP"))
    );
    assert_eq!(line["workbench"]["model"], r["model_id"]);
    assert!(
        matches!(
            line["workbench"]["verdict"].as_str(),
            Some("benign" | "malicious")
        ),
        "{line}"
    );
    let line_bytes = r["sample_line"].as_str().map_or(0, str::len) as u64 + 1;
    assert!(
        (num(&r["reader"], "line_bytes_min")..=num(&r["reader"], "line_bytes_max")).contains(&line_bytes)
    );

    // Nothing left: the private pins, and the events folder named after the same process id.
    let pin_dir = r["pin_dir"].as_str().expect("pin_dir");
    assert!(
        pin_dir.starts_with("/sys/fs/bpf/ebpf-ml-workbench/bench-events-"),
        "{pin_dir}"
    );
    assert!(
        !std::path::Path::new(pin_dir).exists(),
        "{pin_dir} was left behind"
    );
    let pid = pin_dir.rsplit('-').next().expect("pid");
    let scratch = std::env::temp_dir().join(format!("workbench-bench-events-{pid}"));
    assert!(!scratch.exists(), "{} was left behind", scratch.display());
    report(&format!(
        "kernel test: bench events: {} new flows/s lost 0 of {}; unpaced {:.0} new flows/s lost {} of {} ({} written); EVE line {:.0} bytes",
        float(slow, "achieved_per_s") as u64,
        num(slow, "verdict_changes"),
        float(fast, "achieved_per_s"),
        num(fast, "events_lost"),
        num(fast, "verdict_changes"),
        num(fast, "events_written"),
        float(&r["reader"], "line_bytes_mean")
    ));
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn bench_events_refuses_a_zero_rate() {
    let out = workbench(&["bench", "events", "--rates", "1000,0"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--rates") && stderr.contains("\"0\" is not a rate"),
        "{stderr}"
    );
}
