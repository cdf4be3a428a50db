//! Every error ends with what to do. Most messages say it themselves (a capture given as a
//! table names `workbench features`, a ragged row says to fix the row); an error that only says
//! what could not be done ("cannot open: No such file or directory") gets the usual fix for its
//! cause appended here, once, where the one error line is printed.

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

/// A damaged capture record (the capture reader's "truncated record at byte N (packet K)",
/// "corrupt record ..." or "unreadable packet ...") in a command that has `--lenient` but was
/// run without it: the error gets the hint that the flag reads past the damage. Any other error
/// is returned as it is.
pub fn with_lenient_hint(e: color_eyre::eyre::Report) -> color_eyre::eyre::Report {
    let line = format!("{e:#}");
    match lenient_hint(&line) {
        Some(hint) => color_eyre::eyre::eyre!("{line}; {hint}"),
        None => e,
    }
}

/// The `--lenient` hint for a damaged-record error line, if it is one.
fn lenient_hint(line: &str) -> Option<&'static str> {
    let at = |fault: &str| line.contains(&format!("{fault} at byte "));
    if at("truncated record") {
        Some(
            "pass --lenient to read the packets before it (the file was cut off inside a record, \
             as a capture still being written or copied is)",
        )
    } else if at("corrupt record") || at("unreadable packet") {
        Some("pass --lenient to skip the damaged records and read the rest of the capture")
    } else {
        None
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

    #[test]
    fn a_damaged_record_gets_the_lenient_hint_and_nothing_else_does() {
        let cut = "t.pcap: truncated record at byte 3839 (packet 9): the file ends 61 bytes into a record of 70 bytes";
        let hinted = format!("{:#}", with_lenient_hint(color_eyre::eyre::eyre!("{cut}")));
        assert!(
            hinted.starts_with(cut) && hinted.contains("; pass --lenient to read the packets before it"),
            "{hinted}"
        );
        // The hint is a fix: nothing more is appended after it.
        assert_eq!(with_fix(&hinted), hinted);
        let corrupt = "t.pcap: corrupt record at byte 24 (packet 1): length 4294967295 is implausible";
        assert!(
            format!("{:#}", with_lenient_hint(color_eyre::eyre::eyre!("{corrupt}")))
                .contains("--lenient to skip")
        );
        let other = "t.pcap: file is empty (0 bytes)";
        assert_eq!(
            format!("{:#}", with_lenient_hint(color_eyre::eyre::eyre!("{other}"))),
            other
        );
    }
}
