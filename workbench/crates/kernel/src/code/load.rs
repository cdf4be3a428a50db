//! Loading a copy, and the verifier's reason in one line when it refuses one.

use std::os::fd::OwnedFd;

use super::BPF_PROG_TYPE_SCHED_CLS;
use crate::error::{Error, Result};
use crate::sys;

/// Loads the copy; a refusal is reported with the verifier's own last lines.
pub(super) fn load(instructions: &[u64]) -> Result<OwnedFd> {
    match sys::prog_load_raw(BPF_PROG_TYPE_SCHED_CLS, instructions, "wb_tc_code") {
        Ok(fd) => Ok(fd),
        Err(first) => {
            // Again with the log, only now: a 16 MiB log costs time on every load.
            let mut log = vec![0u8; 16 << 20];
            let again = sys::prog_load_logged(
                BPF_PROG_TYPE_SCHED_CLS,
                instructions,
                "wb_tc_code",
                Some(&mut log),
            );
            if let Ok(fd) = again {
                return Ok(fd);
            }
            let text = sys::log_text(&log);
            let reason = verifier_reason(&text);
            let what = match first.raw_os_error() {
                // The verifier's own refusals; anything else (EPERM, ENOMEM, E2BIG) is not.
                Some(libc::EACCES | libc::EINVAL) if !reason.is_empty() => format!(
                    "the kernel verifier refused the compiled models ({} instructions): {}",
                    instructions.len(),
                    reason.join(" / ")
                ),
                _ => format!(
                    "loading the compiled copy of the probe ({} instructions)",
                    instructions.len()
                ),
            };
            Err(Error::io(what, first))
        }
    }
}

/// The verifier's reason out of its log: the last line that is neither a register state, an
/// instruction of the trace nor a statistic (the reason comes before the state dumps), then
/// the count of instructions it processed.
fn verifier_reason(log: &str) -> Vec<&str> {
    let lines: Vec<&str> = log.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let noise = [
        "processed ",
        "verification time",
        "stack depth",
        "old state",
        "new state",
        "cur state",
        "from ",
        "frame",
        "last_idx",
        "regs=",
        "mark_precise",
        ";",
    ];
    let reason = lines
        .iter()
        .rev()
        .find(|l| !trace_or_state(l) && !noise.iter().any(|n| l.starts_with(n)));
    let processed = lines.iter().rev().find(|l| l.starts_with("processed "));
    reason.into_iter().chain(processed).copied().collect()
}

/// An instruction of the trace (`12: (85) call ...`) or a register state (`R1=...`, `R10=fp0`).
fn trace_or_state(line: &str) -> bool {
    let digit_at = |i: usize| line[i..].starts_with(|c: char| c.is_ascii_digit());
    digit_at(0) || (line.starts_with('R') && digit_at(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log cut back by the verifier: the reason and the count come from before the NUL, not
    /// from the dropped trace after it.
    #[test]
    fn the_reason_comes_from_the_log_before_its_nul() {
        let mut log = b"4188: (15) if r3 == 0x5 goto pc-1     ; R3=5\n\
infinite loop detected at insn 4188\n\
cur state: R0=14 R3=5\n\
old state: R0=14 R3=P5\n\
processed 38503 insns (limit 1000000) max_states_per_insn 22\n\0"
            .to_vec();
        log.extend_from_slice(b"3) *(u8 *)(r5 +177) = r1\nff=(0x0; 0xff))\n");
        log.resize(4096, 0);
        let text = sys::log_text(&log);
        assert_eq!(
            verifier_reason(&text),
            [
                "infinite loop detected at insn 4188",
                "processed 38503 insns (limit 1000000) max_states_per_insn 22"
            ]
        );
    }
}
