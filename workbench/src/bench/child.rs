//! Runs a benchmark's work in a child process and reads its peak memory from the kernel
//! (`wait4`'s rusage): the same measurement for the Python baselines and for our own code, so
//! that neither side's memory includes the harness.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct ChildRun {
    pub elapsed_ns: u64,
    /// Peak resident set of the child (`ru_maxrss`), in bytes.
    pub max_rss_bytes: u64,
    /// CPU time of the child, user + system (on a busy machine the wall time includes waiting
    /// for a CPU; this does not).
    pub cpu_ns: u64,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Runs `cmd` to the end; an exit status other than 0 is an error quoting the child's stderr.
pub fn run(cmd: &mut Command) -> Result<ChildRun, String> {
    let what = format!("{cmd:?}");
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    // Both pipes are drained on threads so that a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().ok_or("no stdout pipe")?;
    let mut err = child.stderr.take().ok_or("no stderr pipe")?;
    let out_thread = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_thread = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data filled by the kernel; the pid is our own unreaped child
    // (std's Child is not waited on afterwards, so the pid is reaped exactly once).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = loop {
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break rc;
    };
    let elapsed_ns = started.elapsed().as_nanos() as u64;
    let stdout = out_thread.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&err_thread.join().unwrap_or_default()).into_owned();
    if rc != pid {
        return Err(format!(
            "{what}: wait4 failed: {}",
            std::io::Error::last_os_error()
        ));
    }
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if !ok {
        let last = stderr.trim().lines().last().unwrap_or("").to_string();
        return Err(format!("{what} failed (status {status}): {last}"));
    }
    Ok(ChildRun {
        elapsed_ns,
        // Linux reports ru_maxrss in KiB.
        max_rss_bytes: (usage.ru_maxrss.max(0) as u64) * 1024,
        cpu_ns: [usage.ru_utime, usage.ru_stime]
            .iter()
            .map(|t| t.tv_sec.max(0) as u64 * 1_000_000_000 + t.tv_usec.max(0) as u64 * 1_000)
            .sum(),
        stdout,
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_that_touches_memory_shows_it_in_its_peak() {
        // 64 MiB written by a shell tool that exists everywhere: head from /dev/zero into a pipe
        // does not grow; `dd` with a 64 MiB block size does.
        let r = run(Command::new("dd").args(["if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]))
            .expect("dd runs");
        assert!(r.max_rss_bytes >= 64 << 20, "{}", r.max_rss_bytes);
        let e = run(&mut Command::new("false")).expect_err("false fails");
        assert!(e.contains("failed"), "{e}");
    }
}
