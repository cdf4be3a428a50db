//! The TUI crate's error: the library crates' own errors as they are (their causes kept as
//! sources), plus what only the TUI can get wrong (the terminal, a demo script, the sample
//! captures, a refused action). The TUI shows an error as one line, `line(&e)`: every message of
//! the chain joined with ": ", as the binary prints any other error.

use workbench_flow::capture::CaptureError;
use workbench_flow::gen::GenError;
use workbench_flow::model::{CompileError, ModelFileError};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kernel(#[from] workbench_kernel::Error),
    /// Ctrl-C or SIGTERM while the TUI ran (it cleaned up; the binary exits with the signal's
    /// status).
    #[error(transparent)]
    Interrupted(#[from] workbench_kernel::lifecycle::Interrupted),
    #[error(transparent)]
    ModelFile(#[from] ModelFileError),
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Gen(#[from] GenError),
    #[error(transparent)]
    Data(#[from] workbench_data::dataset::DataError),
    #[error(transparent)]
    Features(#[from] workbench_data::features::FeaturesError),
    #[error(transparent)]
    Train(#[from] workbench_data::train::TrainError),
    #[error(transparent)]
    Eval(#[from] workbench_data::eval::EvalError),
    /// A file, a folder or the terminal failed; `what` says what was being done.
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A demo script or a value given to the TUI that cannot be used; the message says what is
    /// expected.
    #[error("{0}")]
    Invalid(String),
    /// Something to show is missing (no labels beside a capture, no sample captures); the message
    /// says how to get it.
    #[error("{0}")]
    Missing(String),
    /// An action refused on purpose (a model that would score nothing, no probe to change).
    #[error("{0}")]
    Refused(String),
}

impl Error {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// The interruption (Ctrl-C, SIGTERM) inside this error, for the binary's exit status.
    pub fn interrupted(&self) -> Option<&workbench_kernel::lifecycle::Interrupted> {
        match self {
            Error::Kernel(k) => k.interrupted(),
            Error::Interrupted(i) => Some(i),
            _ => None,
        }
    }
}

/// The terminal's own errors (crossterm and ratatui report io errors).
impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Error {
        Error::io("the terminal", source)
    }
}

/// ratatui's test backend cannot fail.
impl From<std::convert::Infallible> for Error {
    fn from(never: std::convert::Infallible) -> Error {
        match never {}
    }
}

/// `e` and every cause after it on one line, as eyre's `{:#}` prints a report.
pub use workbench_flow::errors::line;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_script_is_an_io_error_naming_it_with_its_cause_on_one_line() {
        let e = crate::script::read(std::path::Path::new("/nonexistent/demo.script"))
            .expect_err("no such script");
        let Error::Io { what, source } = &e else {
            panic!("expected Error::Io, got {e:?}");
        };
        assert_eq!(what, "reading script /nonexistent/demo.script");
        assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        assert_eq!(
            line(&e),
            "reading script /nonexistent/demo.script: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn a_bad_script_line_is_invalid_and_says_what_is_expected() {
        let e = crate::script::parse("tab nowhere\n", "demo.script").expect_err("bad tab");
        assert!(matches!(e, Error::Invalid(_)), "{e:?}");
        assert!(line(&e).contains("unknown tab \"nowhere\""), "{}", line(&e));
    }
}
