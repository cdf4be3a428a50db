//! Every error ends with what to do. Most messages say it themselves (a capture given as a
//! table names `workbench features`, a ragged row says to fix the row); an error that only says
//! what could not be done ("cannot open: No such file or directory") gets the usual fix for its
//! cause appended here, once, where the one error line is printed.

use workbench_data::eval::EvalError;
use workbench_data::features::FeaturesError;
use workbench_data::train::TrainError;
use workbench_flow::capture::{CaptureError, RecordFault};

/// Words that start the fix part of a message: a message holding one already says what to do.
const FIX_MARKERS: &[&str] = &[
    "`workbench ",
    "; give ",
    "; use ",
    "; run ",
    "; check ",
    "; save ",
    "; make ",
    "; remove ",
    "; add ",
    "; pass ",
    "; set ",
    "; see ",
    "; install",
    "; try ",
    "; free ",
    "; choose ",
    "; start ",
    " (use ",
    " (give ",
    " (run ",
    "--help",
];

/// The fix for an error whose message does not say one, by the cause it names.
fn fix_for(line: &str) -> Option<&'static str> {
    let l = line.to_ascii_lowercase();
    let causes: &[(&str, &str)] = &[
        (
            "no such file or directory",
            "check the path (relative paths start at the current folder)",
        ),
        ("is a directory", "give a file, not a folder"),
        (
            "not a directory",
            "check the path: a part of it is a file, not a folder",
        ),
        (
            "operation not permitted",
            "run as root (or with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)",
        ),
        (
            "permission denied",
            "check the file's permissions, or run as a user who may use it",
        ),
        (
            "no space left on device",
            "free disk space, or write somewhere else",
        ),
        ("read-only file system", "write to a writable folder instead"),
        ("file exists", "remove it first, or choose another name"),
        (
            "failed to fill whole buffer",
            "the file is shorter than its format needs (empty or cut off): give the complete file",
        ),
        (
            "invalid data",
            "check that the file is the kind this command reads (see --help)",
        ),
        (
            "stream did not contain valid utf-8",
            "save the file as UTF-8 text",
        ),
    ];
    if let Some((_, fix)) = causes.iter().find(|(cause, _)| l.contains(cause)) {
        return Some(fix);
    }
    l.contains("cannot ")
        .then_some("see `workbench help` and the command's --help for what it expects")
}

/// The error line with the fix appended when it does not say one and the cause has a usual fix.
pub fn with_fix(line: &str) -> String {
    if FIX_MARKERS.iter().any(|m| line.contains(m)) {
        return line.to_string();
    }
    match fix_for(line) {
        Some(fix) => format!("{line}; {fix}"),
        None => line.to_string(),
    }
}

/// A damaged capture record (the capture reader's [`CaptureError::Record`]) in a command that
/// has `--lenient` but was run without it: the error gets the hint that the flag reads past the
/// damage. Any other error is returned as it is.
pub fn with_lenient_hint(e: color_eyre::eyre::Report) -> color_eyre::eyre::Report {
    match damaged_record(&e) {
        Some(fault) => color_eyre::eyre::eyre!("{e:#}; {}", lenient_hint(fault)),
        None => e,
    }
}

/// The fault of the damaged capture record anywhere in the error's chain: as itself, as a
/// cause, or inside one of the error types that carry a capture error transparently.
fn damaged_record(e: &color_eyre::eyre::Report) -> Option<RecordFault> {
    e.chain().find_map(|link| {
        let capture = link
            .downcast_ref::<CaptureError>()
            .or_else(|| {
                link.downcast_ref::<FeaturesError>()
                    .and_then(FeaturesError::capture)
            })
            .or_else(|| link.downcast_ref::<TrainError>().and_then(TrainError::capture))
            .or_else(|| link.downcast_ref::<EvalError>().and_then(EvalError::capture))
            .or_else(|| {
                link.downcast_ref::<workbench_kernel::Error>()
                    .and_then(workbench_kernel::Error::capture)
            });
        capture.and_then(CaptureError::record_fault)
    })
}

/// The `--lenient` hint for a damaged record.
fn lenient_hint(fault: RecordFault) -> &'static str {
    match fault {
        RecordFault::Truncated => {
            "pass --lenient to read the packets before it (the file was cut off inside a record, \
             as a capture still being written or copied is)"
        }
        RecordFault::Corrupt | RecordFault::Unreadable => {
            "pass --lenient to skip the damaged records and read the rest of the capture"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cannot_error_gets_the_fix_for_its_cause_once() {
        let missing = "x.csv: cannot read: No such file or directory (os error 2)";
        assert_eq!(
            with_fix(missing),
            format!("{missing}; check the path (relative paths start at the current folder)")
        );
        // A message that already says what to do is left as it is.
        let told = "x.pcap: is a packet capture (pcap), not a table; make a feature table of it with `workbench features x.pcap -o x.csv`";
        assert_eq!(with_fix(told), told);
        assert!(with_fix("cannot frobnicate").ends_with("--help for what it expects"));
        assert_eq!(with_fix("unrelated failure"), "unrelated failure");
    }

    fn record(fault: RecordFault) -> CaptureError {
        CaptureError::Record {
            file: "t.pcap".into(),
            fault,
            offset: 3839,
            packet: 9,
            detail: "the file ends 61 bytes into a record of 70 bytes".into(),
        }
    }

    #[test]
    fn a_damaged_record_gets_the_lenient_hint_and_nothing_else_does() {
        let cut = "t.pcap: truncated record at byte 3839 (packet 9): the file ends 61 bytes into a record of 70 bytes";
        let hinted = format!("{:#}", with_lenient_hint(record(RecordFault::Truncated).into()));
        assert!(
            hinted.starts_with(cut) && hinted.contains("; pass --lenient to read the packets before it"),
            "{hinted}"
        );
        // The hint is a fix: nothing more is appended after it.
        assert_eq!(with_fix(&hinted), hinted);
        // Wrapped the way the commands' errors wrap it: transparently, as a cause, with context.
        let wrapped: [color_eyre::eyre::Report; 4] = [
            EvalError::from(TrainError::from(FeaturesError::from(record(
                RecordFault::Corrupt,
            ))))
            .into(),
            workbench_kernel::Error::ReplayStopped {
                sent_packets: 8,
                source: record(RecordFault::Unreadable),
            }
            .into(),
            workbench_kernel::Error::from(record(RecordFault::Corrupt))
                .within("replaying t.pcap")
                .into(),
            color_eyre::eyre::Report::from(FeaturesError::from(record(RecordFault::Corrupt)))
                .wrap_err("reading t.pcap"),
        ];
        for e in wrapped {
            let line = format!("{:#}", with_lenient_hint(e));
            assert!(
                line.ends_with(
                    "; pass --lenient to skip the damaged records and read the rest of the capture"
                ),
                "{line}"
            );
        }
        // The same words from elsewhere are not a damaged record; a whole-file error is not one.
        let text = "t.pcap: truncated record at byte 3839 (packet 9)";
        assert_eq!(
            format!("{:#}", with_lenient_hint(color_eyre::eyre::eyre!("{text}"))),
            text
        );
        let empty = CaptureError::File {
            file: "t.pcap".into(),
            message: "file is empty (0 bytes)".into(),
        };
        assert_eq!(
            format!("{:#}", with_lenient_hint(empty.into())),
            "t.pcap: file is empty (0 bytes)"
        );
    }
}
