//! Running code inside a network namespace: a scoped thread that joins the namespace with
//! setns(2). The network namespace is per thread, so the rest of the process stays where it is.

use std::os::fd::AsRawFd;

use crate::error::{err, Context, Error, Result};

pub fn run_in<T: Send>(netns: &str, f: impl FnOnce() -> T + Send) -> Result<T> {
    run_in_path(std::path::Path::new(&format!("/run/netns/{netns}")), f)
}

/// [`run_in`] for a namespace given by path (`/run/netns/NAME`, or `/proc/PID/ns/net` of a
/// process inside it).
pub fn run_in_path<T: Send>(path: &std::path::Path, f: impl FnOnce() -> T + Send) -> Result<T> {
    let netns = path.display().to_string();
    let file = std::fs::File::open(path).context(|| format!("opening network namespace {netns}"))?;
    let path = netns.clone();
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                // SAFETY: setns on a valid namespace fd affects only this thread.
                if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(Error::last_os(format!("setns into {path}")));
                }
                Ok(f())
            })
            .join()
            .map_err(|_| err!(Thread, "the thread inside namespace {netns} panicked"))?
    })
}
