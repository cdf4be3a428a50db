//! Waiting for a condition instead of sleeping a fixed time. Frames sent into a namespace reach
//! the probe in a softirq after the send returns, records reach a ring from there, a child
//! process takes its time to start: on a loaded machine (CI: 2 CPUs, two kernel tests at once)
//! each can take far longer than any fixed pause, and a test that read too early failed.

use std::time::{Duration, Instant};

/// How long a test waits for what must come: far beyond the milliseconds a working system
/// takes, short enough that a failure is reported soon.
pub const SETTLE: Duration = Duration::from_secs(10);

/// Calls `read` every 20 ms until `done` holds for what it returned or `timeout` has passed,
/// and returns the last value read. The caller asserts on that value as it did after a fixed
/// pause, so a timeout fails there, with the numbers reached.
pub fn poll<T>(timeout: Duration, mut read: impl FnMut() -> T, mut done: impl FnMut(&T) -> bool) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let value = read();
        if done(&value) || Instant::now() >= deadline {
            return value;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether process `pid` holds a BPF map fd of `map_type` (`map_type:` in /proc/PID/fdinfo;
/// 27 is BPF_MAP_TYPE_RINGBUF): how a test knows a reader it started has opened its ring.
pub fn holds_map_fd(pid: u32, map_type: u32) -> bool {
    let want = format!("map_type:\t{map_type}");
    std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
        fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|to| to.as_os_str() == "anon_inode:bpf-map")
                && std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy()))
                    .is_ok_and(|info| info.lines().any(|l| l == want))
        })
    })
}
