//! How a failed run ends: one line on stderr for a person (as always) and, when the command
//! line asked for JSON (a `--json` flag, `live --jsonl`), also one JSON object on one line of
//! stdout for a script:
//!
//! `{"error": {"message", "causes": [outer, .., root], "hint", "exit_status", "kind"}}`
//!
//! so `workbench CMD --json | jq` gets something parseable whatever happened, and a stream of
//! JSON lines ends with it. A command that printed its one JSON document before failing
//! (`verify` with mismatches, `agent --check` refusing) said what went wrong there: stdout
//! stays that one document. The exit status is the one the text path has always used: 2 for a
//! usage error (clap's), the signal's status when interrupted, 1 otherwise.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::ArgMatches;
use color_eyre::eyre::Report;
use serde::Serialize;
use workbench_kernel::lifecycle;

use crate::fix_hint;

/// What the command line said about reporting an error, known before the command runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    /// JSON output was asked for.
    pub json: bool,
    /// A command with `--lenient` run without it: a damaged record's error says to pass it.
    pub lenient_available: bool,
}

/// The arguments that make a command print JSON: every `--json`, and `live --jsonl`'s stream.
const JSON_FLAGS: [&str; 2] = ["json", "jsonl"];

/// Whether the parsed command line asked for JSON: the flag of the subcommand (or of a nested
/// one, `bench train --json`), whatever the field is called in the arguments' struct.
pub fn asks_json(m: &ArgMatches) -> bool {
    JSON_FLAGS
        .iter()
        .any(|id| matches!(m.try_get_one::<bool>(id), Ok(Some(true))))
        || m.subcommand().is_some_and(|(_, sub)| asks_json(sub))
}

/// Whether the raw arguments hold a JSON flag: for the errors that come before the command line
/// is parsed (clap's usage errors, a broken config file). Values after `--` are not flags.
pub fn json_in_args(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .filter_map(|a| a.to_str()?.strip_prefix("--"))
        .any(|flag| JSON_FLAGS.contains(&flag))
}

#[derive(Serialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Usage,
    Interrupted,
    Error,
    /// A bug: the panic hook printed its report on stderr.
    Panic,
}

#[derive(Serialize)]
struct Body {
    message: String,
    causes: Vec<String>,
    hint: Option<String>,
    exit_status: u8,
    kind: Kind,
}

#[derive(Serialize)]
struct Envelope {
    error: Body,
}

/// Reports a failed run as `style` says; returns the exit status.
pub fn report(e: &Report, style: Style) -> ExitCode {
    if let Some(usage) = e.downcast_ref::<clap::Error>() {
        return usage_error(usage, style.json);
    }
    let causes: Vec<String> = e.chain().map(ToString::to_string).collect();
    let (message, hint, exit_status, kind) = match interruption(e) {
        Some((message, exit_status)) => (message, None, exit_status, Kind::Interrupted),
        None => {
            let explained = fix_hint::explain(e, style.lenient_available);
            // One line: the whole cause chain, no backtrace, ending with what to do.
            let _ = writeln!(std::io::stderr(), "error: {}", explained.line);
            (explained.line, explained.hint, 1, Kind::Error)
        }
    };
    if style.json && !crate::output::json_emitted() {
        print_json(Body {
            message,
            causes,
            hint,
            exit_status,
            kind,
        });
    }
    ExitCode::from(exit_status)
}

/// A panic (a bug; the hook already reported it on stderr, with the terminal restored): under
/// JSON, also the error object, so a script reading stdout learns that the run failed and why.
/// Exit status 101, as Rust's own.
pub fn report_panic(payload: &(dyn std::any::Any + Send), style: Style) -> ExitCode {
    const EXIT_STATUS: u8 = 101;
    if style.json && !crate::output::json_emitted() {
        let message = format!("workbench panicked (a bug): {}", panic_message(payload));
        print_json(Body {
            causes: vec![message.clone()],
            message,
            hint: Some("please report it with the command line and the text on stderr".into()),
            exit_status: EXIT_STATUS,
            kind: Kind::Panic,
        });
    }
    ExitCode::from(EXIT_STATUS)
}

/// The text a panic was raised with (`panic!("...")` gives a `&str` or a `String`).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}

/// Stopped by a signal after cleaning up: says so on stderr; the message and the signal's exit
/// status. `None` for any other error.
fn interruption(e: &Report) -> Option<(String, u8)> {
    // The library crates' errors carry it inside (`kernel::Error::Interrupted`, the benchmarks'
    // and the TUI's `Error::Kernel`), as a variant that displays as the interruption itself.
    let interrupted = e.chain().find_map(|c| {
        lifecycle::interrupted_in(c).or_else(|| {
            c.downcast_ref::<workbench_bench::Error>()
                .and_then(|b| b.interrupted())
                .or_else(|| {
                    c.downcast_ref::<workbench_tui::error::Error>()
                        .and_then(|t| t.interrupted())
                })
        })
    });
    // Written without eprintln!, which panics (exit 101) when the terminal that stderr was went
    // away with the SIGHUP that stopped us.
    if let Some(i) = interrupted {
        let _ = writeln!(std::io::stderr(), "workbench: {i}");
        return Some((i.to_string(), i.exit_status));
    }
    // A system call the signal broke (EINTR) fails with its own error: same outcome.
    let (signal, exit_status) = lifecycle::stop_signal()?;
    let i = lifecycle::Interrupted { signal, exit_status };
    let message = format!("{i} (it broke: {e:#})");
    let _ = writeln!(std::io::stderr(), "workbench: {message}");
    Some((message, exit_status))
}

/// A usage error: clap's own text on stderr, as without JSON; the JSON's message is its
/// `error:` line, the hint its tips (else the usage line).
fn usage_error(e: &clap::Error, json: bool) -> ExitCode {
    let exit_status = u8::try_from(e.exit_code()).unwrap_or(2);
    let _ = e.print();
    if json {
        let text = e.render().to_string();
        let message = usage_message(&text);
        let tips: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("tip: "))
            .collect();
        let hint = if tips.is_empty() {
            text.lines()
                .find_map(|l| l.strip_prefix("Usage: "))
                .map(|usage| format!("usage: {usage}; see --help"))
        } else {
            Some(tips.join("; "))
        };
        print_json(Body {
            causes: vec![message.clone()],
            message,
            hint,
            exit_status,
            kind: Kind::Usage,
        });
    }
    ExitCode::from(exit_status)
}

/// The `error:` line of clap's text with the indented lines that continue it (the missing
/// arguments), as one line.
fn usage_message(text: &str) -> String {
    let mut lines = text.lines().skip_while(|l| !l.starts_with("error: "));
    let Some(first) = lines.next().and_then(|l| l.strip_prefix("error: ")) else {
        // Help shown for a missing subcommand or argument has no `error:` line.
        return "a subcommand or argument is missing: the command's help is on stderr".to_string();
    };
    let mut message = first.trim_end().to_string();
    for more in lines.take_while(|l| l.starts_with(char::is_whitespace) && !l.trim().is_empty()) {
        message.push(' ');
        message.push_str(more.trim());
    }
    message
}

/// One line on stdout; a closed stdout is not reported (there is nowhere left to report it).
fn print_json(body: Body) {
    let Ok(line) = serde_json::to_string(&Envelope { error: body }) else {
        return;
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn a_panics_message_is_its_text_whatever_its_type() {
        let owned = std::panic::catch_unwind(|| panic!("index {} out of range", 7)).expect_err("it panics");
        assert_eq!(panic_message(owned.as_ref()), "index 7 out of range");
        let literal = std::panic::catch_unwind(|| panic!("plain")).expect_err("it panics");
        assert_eq!(panic_message(literal.as_ref()), "plain");
        let other = std::panic::catch_unwind(|| std::panic::panic_any(42u8)).expect_err("it panics");
        assert_eq!(panic_message(other.as_ref()), "no message");
    }

    #[test]
    fn json_flags_count_before_the_double_dash_only() {
        assert!(json_in_args(&args(&[
            "workbench",
            "features",
            "x.pcap",
            "--json"
        ])));
        assert!(json_in_args(&args(&[
            "workbench",
            "live",
            "--iface",
            "a",
            "--jsonl"
        ])));
        assert!(!json_in_args(&args(&["workbench", "features", "--", "--json"])));
        assert!(!json_in_args(&args(&["workbench", "features", "--jsonish"])));
    }

    #[test]
    fn a_usage_message_keeps_the_lines_that_continue_it() {
        let text = "error: the following required arguments were not provided:\n  <MODEL>\n\nUsage: workbench model show <MODEL>\n";
        assert_eq!(
            usage_message(text),
            "the following required arguments were not provided: <MODEL>"
        );
        let tip = "error: unexpected argument '--x' found\n\n  tip: to pass '--x' as a value, use '-- --x'\n";
        assert_eq!(usage_message(tip), "unexpected argument '--x' found");
    }

    #[test]
    fn the_parsed_flag_is_found_in_nested_subcommands() {
        let m = crate::command()
            .try_get_matches_from(["workbench", "model", "show", "m.ebml", "--json"])
            .expect("parses");
        assert!(asks_json(&m));
        let m = crate::command()
            .try_get_matches_from(["workbench", "model", "show", "m.ebml"])
            .expect("parses");
        assert!(!asks_json(&m));
    }
}
