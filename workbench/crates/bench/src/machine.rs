//! What a benchmark ran on: numbers mean little without the machine that produced them.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// CPUs this process may run on (`nproc`).
    pub nproc: usize,
    /// The first `model name` of /proc/cpuinfo.
    pub cpu_model: String,
    /// 1-minute load average when the benchmark ended: other work on the machine shows up as
    /// noise in the runs.
    pub load_average_1m: Option<f64>,
}

/// The running kernel's release, or "unknown".
pub fn kernel_release() -> String {
    // SAFETY: uname fills the zeroed struct; release is a NUL-terminated string inside it.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&raw mut uts) } != 0 {
        return "unknown".to_string();
    }
    let bytes: Vec<u8> = uts
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The `model name` line of a /proc/cpuinfo text.
fn cpu_model_in(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_string())
    })
}

impl Machine {
    pub fn this() -> Self {
        Machine {
            kernel: kernel_release(),
            nproc: std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
            cpu_model: std::fs::read_to_string("/proc/cpuinfo")
                .ok()
                .and_then(|text| cpu_model_in(&text))
                .unwrap_or_else(|| "unknown".to_string()),
            load_average_1m: std::fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|text| text.split_whitespace().next()?.parse().ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_model_is_the_first_model_name() {
        let text = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\n\
                    processor\t: 1\nmodel name\t: Other\n";
        assert_eq!(cpu_model_in(text).as_deref(), Some("Intel(R) Xeon(R) Processor"));
        assert_eq!(cpu_model_in("processor\t: 0\n"), None);
    }

    #[test]
    fn kernel_release_matches_proc() {
        let proc = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
        assert_eq!(kernel_release(), proc.trim());
    }
}
