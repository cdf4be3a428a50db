//! The simulated source: the userspace twin replays a capture at the capture's pace, in a loop
//! that makes the captured flows anew on every pass, and says that it is a simulation.

use std::time::Duration;

use workbench_flow::capture::unique;
use workbench_tui::sim::{ManualClock, SimSource};
use workbench_tui::source::{Control, Source};

#[test]
fn simulation_replays_the_capture_at_its_pace_and_loops() {
    let dir = crate::common::TempDir::new("tui-sim");
    let path = dir.path().join("ten-flows.pcap");
    // 40 datagrams in 10 flows over 0.39 s of capture time.
    crate::common::capfile::write_udp_flows(&path, |_| vec![7; 20]);

    // The simulation's clock moves only when the test moves it: pacing is asserted at known
    // times, whatever the machine's speed.
    let clock = ManualClock::default();
    let mut sim = SimSource::new(&path, None)
        .expect("open the capture")
        .with_clock(clock.clone());
    let first = sim.poll().expect("poll");
    assert!(first.simulated);
    assert!(
        first.label.starts_with("SIMULATED (userspace twin, no kernel)"),
        "{}",
        first.label
    );
    // Paced: at time 0 only the capture's first instant has been replayed, not its 0.39 s.
    let sent_first = first.stats["packets"];
    assert!(sent_first < 40, "replayed {sent_first} packets at once");
    clock.advance(Duration::from_millis(200));
    let half = sim.poll().expect("poll").stats["packets"];
    assert!(
        sent_first < half && half < 40,
        "at 0.2 s: {sent_first} then {half} of 40"
    );
    clock.advance(Duration::from_millis(400));
    let all = sim.poll().expect("poll");
    assert_eq!(all.stats["packets"], 40);
    assert_eq!(all.flows.len(), 10);
    // The demo tree: no answer but no SYN either -> benign, scored by the model the snapshot names.
    let model = all.active_model.as_ref().expect("model");
    for f in &all.flows {
        assert_eq!(f.record.fwd_packets, 4);
        assert_eq!(f.record.verdict, "benign");
        assert_eq!(f.record.score, model.score(&f.state.features()));
    }
    // The loop starts again one second after the end of the capture.
    clock.advance(Duration::from_millis(1_600));
    let again = sim.poll().expect("poll");
    assert_eq!(again.stats["packets"], 80);
    // The second pass makes the captured flows again as new flows (`capture::unique`: the
    // initiator moved by 65,536), each with its captured packets, as `replay --loop` does.
    assert_eq!(
        again.flows.len(),
        20,
        "the second pass adds the capture's flows anew"
    );
    let first_pass: Vec<_> = all.flows.iter().map(|f| f.record.src).collect();
    let moved = again
        .flows
        .iter()
        .filter(|f| f.record.fwd_packets == 4)
        .filter(|f| first_pass.iter().any(|&s| unique::shift(s, 1) == f.record.src))
        .count();
    assert_eq!(moved, 10, "each captured flow once more, moved to pass 1");
    assert!(sim.control(&Control::Rollback).is_err(), "no kernel to change");
}
