//! Running one measured child process: its exit status, its output and its peak resident
//! memory. `bench all` runs every section this way, and `bench features` runs each extraction
//! and each tshark this way, so that every peak RSS belongs to one run alone (a process's
//! high-water mark never goes down, so two measurements in one process would hide each other).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::error::{err, Context, Error, Result};

/// What one child did.
#[derive(Debug, Clone)]
pub struct ChildRun {
    /// The exit code; None when a signal ended it.
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    /// Its stderr (also passed through to ours when `echo_stderr`).
    pub stderr: String,
    /// Peak resident set size of the child (wait4's ru_maxrss, KiB in Linux, in bytes here): the
    /// largest of the child and the descendants it waited for, not their sum.
    pub peak_rss_bytes: u64,
    pub wall_ns: u64,
    /// CPU time the child spent in user and system mode.
    pub cpu_ns: u64,
}

impl ChildRun {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// The exit in words, for error messages.
    pub fn describe_exit(&self) -> String {
        match (self.exit_code, self.signal) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            _ => "unknown exit".to_string(),
        }
    }
}

fn timeval_ns(t: libc::timeval) -> u64 {
    (t.tv_sec as u64) * 1_000_000_000 + (t.tv_usec as u64) * 1_000
}

/// Runs `cmd` to its end and measures it. `stdout_to`: a file the child's stdout goes to
/// (tshark's field output) instead of being captured. `echo_stderr`: pass the child's stderr
/// lines on to ours, prefixed, while keeping them.
pub fn run(mut cmd: Command, stdout_to: Option<&Path>, echo_stderr: Option<&str>) -> Result<ChildRun> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    match stdout_to {
        Some(path) => {
            let file = std::fs::File::create(path).context(|| format!("creating {}", path.display()))?;
            cmd.stdout(Stdio::from(file));
        }
        None => {
            cmd.stdout(Stdio::piped());
        }
    }
    cmd.stderr(Stdio::piped()).stdin(Stdio::null());
    let started = Instant::now();
    let mut child = cmd.spawn().context(|| format!("starting {program}"))?;
    let pid = child.id() as libc::pid_t;
    // Both pipes are drained on their own threads, so a child that fills one cannot block.
    let stdout_reader = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out.read_to_end(&mut buf);
            buf
        })
    });
    let prefix = echo_stderr.map(str::to_string);
    let stderr_reader = child.stderr.take().map(|err| {
        std::thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(err).lines().map_while(std::result::Result::ok) {
                if let Some(p) = &prefix {
                    eprintln!("{p}{line}");
                }
                text.push_str(&line);
                text.push('\n');
            }
            text
        })
    });
    let mut status: libc::c_int = 0;
    // SAFETY: zeroed rusage is a valid output buffer.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // wait4 rather than Child::wait: it also returns this child's own resource usage (peak
    // RSS), not the sum over all children that getrusage(RUSAGE_CHILDREN) gives.
    let rc = loop {
        // SAFETY: pid is our child, status and usage are valid output buffers.
        let rc = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
        if rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        break rc;
    };
    let wall_ns = started.elapsed().as_nanos() as u64;
    if rc != pid {
        return Err(Error::io(
            format!("waiting for {program}"),
            std::io::Error::last_os_error(),
        ));
    }
    let stdout = stdout_reader
        .map(|t| t.join().unwrap_or_default())
        .unwrap_or_default();
    let stderr = stderr_reader
        .map(|t| t.join().unwrap_or_default())
        .unwrap_or_default();
    // The child is reaped: std's handle must not wait for it again (it never does on drop).
    drop(child);
    let (exit_code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    };
    Ok(ChildRun {
        exit_code,
        signal,
        stdout,
        stderr,
        peak_rss_bytes: usage.ru_maxrss as u64 * 1024,
        wall_ns,
        cpu_ns: timeval_ns(usage.ru_utime) + timeval_ns(usage.ru_stime),
    })
}

/// `run` for a child that must succeed: any other exit is an error quoting its last stderr line
/// (the Python baselines and `bench load-once`).
pub fn checked(cmd: &mut Command) -> Result<ChildRun> {
    let what = format!("{cmd:?}");
    let owned = std::mem::replace(cmd, Command::new("true"));
    let run = run(owned, None, None).map_err(|e| match e {
        Error::Io { what: doing, source } => Error::io(format!("{what}: {doing}"), source),
        e => e,
    })?;
    if !run.success() {
        let last = run.stderr.trim().lines().last().unwrap_or("").to_string();
        return Err(err!(Child, "{what} failed ({}): {last}", run.describe_exit()));
    }
    Ok(run)
}

/// This program, for running a section or a subcommand as a child.
pub fn workbench_command() -> Result<Command> {
    let exe = std::env::current_exe().context(|| "finding this program's path")?;
    Ok(Command::new(exe))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_exit_output_and_memory_of_a_child() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let run = run(cmd, None, None).expect("runs");
        assert_eq!(run.exit_code, Some(3));
        assert!(!run.success());
        assert_eq!(String::from_utf8_lossy(&run.stdout), "out\n");
        assert_eq!(run.stderr, "err\n");
        // A shell's resident set is a few hundred KiB at least; ru_maxrss is in KiB.
        assert!(run.peak_rss_bytes >= 100 * 1024, "{}", run.peak_rss_bytes);
        assert!(run.wall_ns > 0);
    }
}
