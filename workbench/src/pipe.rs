//! Stdout closed early (`workbench ... | head`, quitting `less`): the command ends quietly, as a
//! C tool killed by SIGPIPE does, instead of panicking with a backtrace.
//!
//! Rust ignores SIGPIPE, so a write to a closed pipe fails with EPIPE: `println!` panics on it
//! and `writeln!` returns the error. Restoring SIGPIPE's default action would kill the process
//! without running the cleanup guards (pins, labs, claims) of the commands that hold kernel
//! objects, so instead the panic is recognised and unwound (the guards run), and `main` exits
//! with the status a shell shows for SIGPIPE.
//!
//! Stderr gone (the terminal closed: writes fail with EIO) is the same case for `eprintln!`:
//! the panic is unwound quietly, as reporting it would write to the dead stderr again inside
//! the panic hook, and a panic there aborts the process before any guard runs.

use std::sync::atomic::{AtomicBool, Ordering};

/// The exit status of a process killed by SIGPIPE as a shell reports it (128 + 13).
pub const EXIT_STATUS: u8 = 141;

static BROKEN: AtomicBool = AtomicBool::new(false);

/// Whether a panic or an error was a write to a closed stdout.
pub fn happened() -> bool {
    BROKEN.load(Ordering::Relaxed)
}

/// `std`'s message for a failed `eprint!`: "failed printing to stderr: Input/output error ...".
fn is_stderr_message(message: &str) -> bool {
    message.contains("failed printing to stderr")
}

/// `std`'s message for a failed `print!`: "failed printing to stdout: Broken pipe (os error 32)".
fn is_broken_pipe_message(message: &str) -> bool {
    message.contains("failed printing to stdout") && message.contains("Broken pipe")
}

/// Wraps the installed panic hook: a print to a closed stdout is noted and not reported, nor is
/// one to a dead stderr; any other panic goes to the previous hook (color-eyre's, which also
/// restores the terminal).
pub fn install_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if is_broken_pipe_message(message) {
            BROKEN.store(true, Ordering::Relaxed);
        } else if !is_stderr_message(message) {
            // (A dead stderr has nothing to report it on: unwinding runs the guards.)
            previous(info);
        }
    }));
}

/// Whether an error's cause chain holds an EPIPE from a write (`writeln!` to stdout).
pub fn is_broken_pipe_error(e: &color_eyre::eyre::Report) -> bool {
    let broken = e
        .chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe);
    if broken {
        BROKEN.store(true, Ordering::Relaxed);
    }
    broken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_failed_print_to_stdout_on_a_closed_pipe_is_recognised() {
        assert!(is_broken_pipe_message(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(!is_broken_pipe_message(
            "failed printing to stdout: No space left on device (os error 28)"
        ));
        assert!(!is_broken_pipe_message("index out of bounds: Broken pipe"));
        assert!(is_stderr_message(
            "failed printing to stderr: Input/output error (os error 5)"
        ));
        assert!(!is_stderr_message(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        let e = color_eyre::eyre::Report::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .wrap_err("writing the flow table");
        assert!(is_broken_pipe_error(&e));
        let other = color_eyre::eyre::eyre!("no such file");
        assert!(!is_broken_pipe_error(&other));
    }
}
