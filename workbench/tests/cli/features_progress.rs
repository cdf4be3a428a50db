//! The `Progress` contract of `features::extract` (issue 18: the library reports progress through
//! a trait; the CLI adapts it to indicatif, the TUI to its job events): one total first, in bytes
//! of capture read with every pass counted, then steps that add up to exactly that total.

use std::cell::RefCell;
use std::path::PathBuf;

use crate::featkit;
use workbench_data::features::{extract, DecisionPoint};
use workbench_data::progress::Progress;

#[derive(Default)]
struct Counting {
    totals: RefCell<Vec<u64>>,
    steps: RefCell<Vec<u64>>,
    messages: RefCell<Vec<String>>,
}

impl Progress for Counting {
    fn set_total(&self, total: u64) {
        self.totals.borrow_mut().push(total);
    }
    fn advance(&self, done: u64) {
        self.steps.borrow_mut().push(done);
    }
    fn message(&self, text: &str) {
        self.messages.borrow_mut().push(text.to_string());
    }
}

fn size(p: &PathBuf) -> u64 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .len()
}

fn check(pcaps: &[PathBuf], decision: DecisionPoint, passes: u64) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let opts = featkit::options(pcaps, &tmp.path().join("t.csv"), decision);
    let counting = Counting::default();
    let report = extract(&opts, &counting).unwrap_or_else(|e| panic!("features: {e:#}"));
    let bytes: u64 = pcaps.iter().map(size).sum::<u64>() * passes;
    let steps = counting.steps.borrow();
    let read: u64 = steps.iter().sum();
    println!(
        "{decision:?}: {} packets, total {bytes} bytes, {} steps adding up to {read}",
        report.packets,
        steps.len()
    );
    assert_eq!(*counting.totals.borrow(), vec![bytes]);
    assert_eq!(read, bytes);
    assert!(steps.iter().all(|&s| s > 0), "{steps:?}");
    // A step every 4096 packets of a pass (the count restarts with each file's first pass).
    let files = pcaps.len() as u64;
    assert!(
        steps.len() as u64 + files >= report.packets * passes / 4096,
        "{} steps",
        steps.len()
    );
    let names: Vec<String> = pcaps.iter().map(|p| p.display().to_string()).collect();
    assert_eq!(*counting.messages.borrow(), names);
}

#[test]
fn progress_steps_add_up_to_the_bytes_of_every_pass() {
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-pcaps/honest.pcap");
    let pcaps = [sample, featkit::pcap("http.pcap")];
    check(&pcaps, DecisionPoint::LastPacket, 1);
    check(&pcaps, DecisionPoint::EveryPacket, 2);
}
