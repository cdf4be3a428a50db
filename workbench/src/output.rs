//! One output path for every command's result: `--json` prints one JSON document on stdout,
//! otherwise the same value is written as text for a person. A command builds its report
//! (`Serialize + Display`) and calls [`Output::emit`]; nothing else decides the format, so the
//! JSON and the text cannot drift apart and no command carries an `if json` branch.
//!
//! Writes go through `write!` on a locked stdout rather than `println!`, so a closed pipe
//! (`| head`) comes back as an error that `main` recognises (see `pipe`), not as a panic.

use std::fmt::{self, Display};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use color_eyre::eyre::Result;
use serde::Serialize;

/// Whether this run printed its JSON document: a command that fails after it (`verify` with
/// mismatches, `agent --check` refusing) has said what went wrong in it, and `main` adds no
/// second document (see `failure`).
static JSON_EMITTED: AtomicBool = AtomicBool::new(false);

/// Whether a JSON document was printed on stdout in this run.
pub fn json_emitted() -> bool {
    JSON_EMITTED.load(Ordering::Relaxed)
}

/// The output choice every command that prints a result flattens into its arguments.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct Output {
    /// Print the result as one JSON document on stdout (progress and notes go to stderr).
    #[arg(long)]
    pub json: bool,
}

impl Output {
    /// Prints `report` as pretty JSON (one document, then a newline) or as its text.
    pub fn emit<R: Serialize + Display + ?Sized>(self, report: &R) -> Result<()> {
        let mut out = std::io::stdout().lock();
        if self.json {
            // Serialised first: a write error then reaches `main` as the io::Error it is
            // (serde_json's writer hides it from the error chain `pipe` inspects).
            let text = serde_json::to_string_pretty(report)?;
            JSON_EMITTED.store(true, Ordering::Relaxed);
            writeln!(out, "{text}")?;
        } else {
            write!(out, "{report}")?;
        }
        out.flush()?;
        Ok(())
    }
}

/// A report whose text is given by a function: for result types of the library crates, whose
/// wording belongs to the command line (the orphan rule keeps `Display` for them out of this
/// crate). Serialises exactly as the wrapped value.
pub struct Shown<'a, T: ?Sized> {
    value: &'a T,
    text: fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result,
}

impl<'a, T: ?Sized> Shown<'a, T> {
    pub fn new(value: &'a T, text: fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result) -> Self {
        Shown { value, text }
    }
}

impl<T: Serialize + ?Sized> Serialize for Shown<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

impl<T: ?Sized> Display for Shown<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.text)(self.value, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Counted {
        flows: u32,
    }

    fn words(c: &Counted, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} flows", c.flows)
    }

    #[test]
    fn shown_serialises_as_the_value_and_displays_its_text() {
        let c = Counted { flows: 7 };
        let shown = Shown::new(&c, words);
        assert_eq!(
            serde_json::to_string(&shown).expect("a struct of one integer serialises"),
            r#"{"flows":7}"#
        );
        assert_eq!(shown.to_string(), "7 flows\n");
    }
}
