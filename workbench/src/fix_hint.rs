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

/// The fix appended to an error line that does not say one, when its cause has a usual fix.
fn fix(line: &str) -> Option<&'static str> {
    if FIX_MARKERS.iter().any(|m| line.contains(m)) {
        return None;
    }
    fix_for(line)
}

/// The error line with the fix appended when it does not say one and the cause has a usual fix.
#[cfg(test)]
fn with_fix(line: &str) -> String {
    match fix(line) {
        Some(fix) => format!("{line}; {fix}"),
        None => line.to_string(),
    }
}

/// An error as it is reported: the one line (the whole cause chain, then what to do) and the
/// part of it that says what to do when it was added here (`None` when the message says it
/// itself, or nothing fits).
pub struct Explained {
    pub line: String,
    pub hint: Option<String>,
}

/// The line and hint for `e`. `lenient_available`: the command has `--lenient` and was run
/// without it, so a damaged capture record (the capture reader's [`CaptureError::Record`]) gets
/// the hint that the flag reads past the damage.
pub fn explain(e: &color_eyre::eyre::Report, lenient_available: bool) -> Explained {
    let chain = format!("{e:#}");
    let hint = match damaged_record(e).filter(|_| lenient_available) {
        Some(fault) => Some(lenient_hint(fault)),
        None => fix(&chain),
    };
    Explained {
        line: match hint {
            Some(hint) => format!("{chain}; {hint}"),
            None => chain,
        },
        hint: hint.map(str::to_string),
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
        RecordFault::UnsupportedLinkType => {
            "pass --interface ID|NAME to read only another interface's packets, or --lenient to \
             skip this interface's packets and read the rest"
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
        let explained = explain(&record(RecordFault::Truncated).into(), true);
        let hinted = explained.line;
        assert!(
            explained.hint.is_some_and(|h| hinted.ends_with(&h)),
            "the hint is the end of the line: {hinted}"
        );
        // Without --lenient available the line is the error alone.
        assert_eq!(explain(&record(RecordFault::Truncated).into(), false).line, cut);
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
            let line = explain(&e, true).line;
            assert!(
                line.ends_with(
                    "; pass --lenient to skip the damaged records and read the rest of the capture"
                ),
                "{line}"
            );
        }
        // The same words from elsewhere are not a damaged record; a whole-file error is not one.
        let text = "t.pcap: truncated record at byte 3839 (packet 9)";
        assert_eq!(explain(&color_eyre::eyre::eyre!("{text}"), true).line, text);
        let empty = CaptureError::File {
            file: "t.pcap".into(),
            message: "file is empty (0 bytes)".into(),
        };
        assert_eq!(
            explain(&empty.into(), true).line,
            "t.pcap: file is empty (0 bytes)"
        );
    }
}
