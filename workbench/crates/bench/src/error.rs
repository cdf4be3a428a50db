//! The benchmarks' error. A section that cannot run on this machine is not an error (it is
//! reported as skipped with its reason); these are the failures of one that could. Each message
//! is the line the user reads; a wrapped cause stays the `#[source]`, so the one-line chain
//! (`{:#}`, what the binary prints) reads "what was being done: cause".

use workbench_flow::errors::write_with_causes as with_causes;
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or system call failed; `what` names it ("creating DIR", "PATH").
    #[error(fmt = io_fmt)]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A child's output (or a section's details) that is not the JSON expected.
    #[error(fmt = json_fmt)]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// A child process (the workbench itself, tshark, a Python baseline) that failed or printed
    /// something else than expected; the message quotes it.
    #[error("{0}")]
    Child(String),
    /// What a section needs is not on this machine (the Python virtualenv, ../shared/data).
    #[error("{0}")]
    Unavailable(String),
    /// The benchmark's inputs or options are not what it needs (empty source file, a column
    /// count that differs, --repeat 0).
    #[error("{0}")]
    Invalid(String),
    /// A figure that cannot be measured from what the runs gave (no run, a missing packet).
    #[error("{0}")]
    Measure(String),
    /// aya refused (loading the empty program, a map, a test run).
    #[error(fmt = bpf_fmt)]
    Bpf {
        what: String,
        #[source]
        source: Box<workbench_kernel::error::BpfError>,
    },
    #[error(transparent)]
    Kernel(#[from] workbench_kernel::Error),
    #[error(transparent)]
    Compile(#[from] workbench_flow::model::CompileError),
    /// Another of these errors, with what was being done when it happened.
    #[error(fmt = context_fmt)]
    Context {
        what: String,
        #[source]
        source: Box<Error>,
    },
    /// Loading or training through workbench-data (the linfa engine, the dataset loader).
    #[error(transparent)]
    Data(Box<dyn std::error::Error + Send + Sync>),
}

type Fmt<'a, 'b> = &'a mut std::fmt::Formatter<'b>;

fn io_fmt(what: &str, source: &std::io::Error, f: Fmt) -> std::fmt::Result {
    with_causes(what, source, f)
}

fn json_fmt(what: &str, source: &serde_json::Error, f: Fmt) -> std::fmt::Result {
    with_causes(what, source, f)
}

fn bpf_fmt(what: &str, source: &workbench_kernel::error::BpfError, f: Fmt) -> std::fmt::Result {
    with_causes(what, source, f)
}

fn context_fmt(what: &str, source: &Error, f: Fmt) -> std::fmt::Result {
    with_causes(what, source, f)
}

impl Error {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    pub fn json(what: impl Into<String>, source: serde_json::Error) -> Error {
        Error::Json {
            what: what.into(),
            source,
        }
    }

    pub fn bpf(what: impl Into<String>, source: impl Into<workbench_kernel::error::BpfError>) -> Error {
        Error::Bpf {
            what: what.into(),
            source: Box::new(source.into()),
        }
    }

    /// The interruption (Ctrl-C, SIGTERM) this error is, if it is one: `main` exits with the
    /// signal's status for it.
    pub fn interrupted(&self) -> Option<&workbench_kernel::lifecycle::Interrupted> {
        match self {
            Error::Kernel(k) => k.interrupted(),
            Error::Context { source, .. } => source.interrupted(),
            _ => None,
        }
    }

    /// An error of workbench-data, whatever its type, with its chain.
    pub fn data(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::Data(source.into())
    }
}

impl From<workbench_kernel::lifecycle::Interrupted> for Error {
    fn from(i: workbench_kernel::lifecycle::Interrupted) -> Error {
        Error::Kernel(i.into())
    }
}

/// `?` on aya errors with nothing to add: the message is aya's own.
macro_rules! from_aya {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(source: $t) -> Error {
                Error::Kernel(source.into())
            }
        }
    )*};
}
from_aya!(
    aya::EbpfError,
    aya::programs::ProgramError,
    aya::maps::MapError,
    aya::pin::PinError
);

/// Adds what was being done to an I/O or aya failure: `.context(|| format!("creating {dir}"))`.
pub(crate) trait Context<T> {
    fn context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|source| Error::io(what(), source))
    }
}

impl<T> Context<T> for Result<T> {
    fn context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|source| Error::Context {
            what: what().into(),
            source: Box::new(source),
        })
    }
}

macro_rules! bpf_context {
    ($($t:ty),*) => {$(
        impl<T> Context<T> for std::result::Result<T, $t> {
            fn context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
                self.map_err(|source| Error::bpf(what(), source))
            }
        }
    )*};
}
bpf_context!(
    aya::EbpfError,
    aya::programs::ProgramError,
    aya::maps::MapError,
    aya::pin::PinError
);

/// `return Err(Error::Variant(format!(..)))`.
macro_rules! fail {
    ($variant:ident, $($fmt:tt)+) => {
        return Err($crate::error::Error::$variant(format!($($fmt)+)))
    };
}
pub(crate) use fail;

/// `Error::Variant(format!(..))`.
macro_rules! err {
    ($variant:ident, $($fmt:tt)+) => {
        $crate::error::Error::$variant(format!($($fmt)+))
    };
}
pub(crate) use err;

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_missing_source_file_is_an_io_error_naming_it_with_not_found_as_its_source() {
        let scratch = std::env::temp_dir().join(format!("bench-error-test-{}", std::process::id()));
        let data = scratch.join("no-shared-data");
        let e = crate::cic_file::build_or_reuse(&scratch, &data, 10, 1).expect_err("no source files");
        let _ = std::fs::remove_dir_all(&scratch);
        let Error::Io { what, source } = &e else {
            panic!("expected Error::Io, got {e:?}");
        };
        assert!(
            what.starts_with(&data.display().to_string()) && what.ends_with(": cannot read"),
            "{what}"
        );
        assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        let io = e.source().and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(io.map(std::io::Error::kind), Some(std::io::ErrorKind::NotFound));
    }

    #[test]
    fn a_kernel_interruption_inside_a_benchmark_error_is_still_found() {
        let e = Error::from(workbench_kernel::lifecycle::Interrupted {
            signal: "SIGTERM",
            exit_status: 143,
        });
        assert!(matches!(e, Error::Kernel(_)), "{e:?}");
        assert_eq!(e.interrupted().map(|i| i.exit_status), Some(143));
        assert_eq!(
            e.to_string(),
            "interrupted by SIGTERM; what this run made was removed"
        );
    }
}
