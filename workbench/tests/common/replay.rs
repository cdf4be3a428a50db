//! The replay tests' set-up: a replay lab of their own, the `workbench replay` arguments that
//! target it, and a frame counter at its receiving end.

use std::path::Path;
use std::time::{Duration, Instant};

use workbench_kernel::lab::receiver::FrameCounter;
use workbench_kernel::lab::{ReplayLab, ReplayLabInfo};

/// A replay lab named after the test and this process; removed when dropped.
pub struct TestLab {
    pub info: ReplayLabInfo,
    lab: ReplayLab,
}

impl TestLab {
    pub fn new(tag: &str) -> TestLab {
        let lab = ReplayLab::create(&super::lab_id(tag)).expect("replay lab");
        TestLab {
            info: lab.info.clone(),
            lab,
        }
    }

    /// Counts the frames arriving at the receiving end from now on.
    pub fn counter(&self) -> FrameCounter {
        FrameCounter::start(&self.info.netns, &self.info.receive_iface).expect("receive socket")
    }

    /// `replay PCAP --iface <send end> --netns <lab> EXTRA... --json`.
    pub fn replay_args(&self, pcap: &Path, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "replay".into(),
            pcap.to_str().expect("utf-8 path").into(),
            "--iface".into(),
            self.info.send_iface.clone(),
            "--netns".into(),
            self.info.netns.clone(),
        ];
        args.extend(extra.iter().map(std::string::ToString::to_string));
        args.push("--json".into());
        args
    }

    pub fn remove(mut self) {
        self.lab.remove().expect("remove the lab");
    }
}

/// Waits (up to `timeout`) until `want` frames arrived, then stops counting: (received, dropped).
pub fn count_frames(counter: FrameCounter, want: u64, timeout: Duration) -> (u64, u64) {
    let deadline = Instant::now() + timeout;
    while counter.received() < want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    counter.finish()
}
