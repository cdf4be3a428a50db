//! The kernel crate's error: one enum, its variants split by what a caller can do about them
//! (fix the input, run as root or on a newer kernel, remove what is left behind, or report a
//! system fault). Each message is the line the user reads; a wrapped cause (an `io::Error`, an
//! aya error, a model file's fault) stays the `#[source]`, so the one-line chain (`{:#}`, what
//! the binary prints) reads "what was being done: cause" as before.

use workbench_flow::errors::write_with_causes as with_causes;
use workbench_flow::model::ModelFileError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file, socket or system call failed; `what` says what was being done ("reading PATH",
    /// "setns into PATH", "sending a netlink request").
    #[error(fmt = io_fmt)]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// aya refused: loading the object, the verifier, attaching, pinning, a map operation.
    #[error(fmt = bpf_fmt)]
    Bpf {
        what: String,
        #[source]
        source: Box<BpfError>,
    },
    /// aya refused, with nothing to add to its own message.
    #[error(transparent)]
    Aya(Box<BpfError>),
    /// The kernel refused a netlink (rtnetlink, tc) request.
    #[error(fmt = netlink_fmt)]
    Netlink {
        what: String,
        #[source]
        source: crate::rtnl::NetlinkError,
    },
    /// A capture that became unreadable half-way through a replay; the frames before it were
    /// sent.
    #[error(fmt = replay_stopped_fmt)]
    ReplayStopped {
        sent_packets: u64,
        #[source]
        source: workbench_flow::capture::CaptureError,
    },
    /// A ring buffer (verdict events, packet records) that cannot be mapped into this process.
    #[error(transparent)]
    Ring(#[from] crate::ring::RingError),
    /// A capture that cannot be read.
    #[error(transparent)]
    Capture(#[from] workbench_flow::capture::CaptureError),
    /// A program's output (`ip -j`) that is not the JSON expected.
    #[error(fmt = json_fmt)]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// A model file that cannot be installed or verified.
    #[error(transparent)]
    ModelFile(#[from] ModelFileError),
    /// A value given by the caller that cannot be used (a lab id, a queue count, an interface
    /// name, a CIDR); the message says what is expected.
    #[error("{0}")]
    Invalid(String),
    /// Refused to protect the machine: replaying outside the project's namespaces, enforcing on
    /// the default route, removing what the project did not make.
    #[error("{0}")]
    Refused(String),
    /// This kernel or process lacks what is needed (BPF features, TCX, capabilities, bpffs); the
    /// message names it and the fix.
    #[error("{0}")]
    Unsupported(String),
    /// The probe, a lab or a model slot is not in the state the operation needs (not attached,
    /// already attached, stale pins, no shadow or previous model); the message says what to run.
    #[error("{0}")]
    State(String),
    /// The probe object lacks a program or map this build expects (a build fault).
    #[error("probe object has no {kind} {name}")]
    Missing { kind: &'static str, name: String },
    /// The embedded probe object cannot be parsed or linked into a compiled copy (a build
    /// fault: `code.rs`).
    #[error("{0}")]
    Build(String),
    /// A helper program (`ip`, `tc`) failed; the message holds its stderr.
    #[error("{0}")]
    Command(String),
    /// The kernel and the userspace twin disagree, or traffic did not arrive as sent.
    #[error("{0}")]
    Mismatch(String),
    /// A worker thread (namespace, capture, receiver) failed to start or panicked.
    #[error("{0}")]
    Thread(String),
    #[error(transparent)]
    Interrupted(#[from] crate::lifecycle::Interrupted),
    /// Another of this crate's errors, with what was being done when it happened.
    #[error(fmt = context_fmt)]
    Context {
        what: String,
        #[source]
        source: Box<Error>,
    },
}

fn io_fmt(what: &str, source: &std::io::Error, f: &mut std::fmt::Formatter) -> std::fmt::Result {
    with_causes(what, source, f)
}

fn bpf_fmt(what: &str, source: &BpfError, f: &mut std::fmt::Formatter) -> std::fmt::Result {
    with_causes(what, source, f)
}

fn json_fmt(what: &str, source: &serde_json::Error, f: &mut std::fmt::Formatter) -> std::fmt::Result {
    with_causes(what, source, f)
}

fn netlink_fmt(
    what: &str,
    source: &crate::rtnl::NetlinkError,
    f: &mut std::fmt::Formatter,
) -> std::fmt::Result {
    with_causes(what, source, f)
}

fn replay_stopped_fmt(
    sent_packets: &u64,
    source: &workbench_flow::capture::CaptureError,
    f: &mut std::fmt::Formatter,
) -> std::fmt::Result {
    with_causes(
        &format!("replay stopped after sending {sent_packets} packets"),
        source,
        f,
    )
}

fn context_fmt(what: &str, source: &Error, f: &mut std::fmt::Formatter) -> std::fmt::Result {
    with_causes(what, source, f)
}

/// The aya error behind [`Error::Bpf`], kept whole so its own cause (the syscall's errno) stays
/// in the chain (boxed there: aya's errors are large, and every `Result` of the crate carries
/// the error's size).
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    #[error(transparent)]
    Ebpf(#[from] aya::EbpfError),
    #[error(transparent)]
    Program(#[from] aya::programs::ProgramError),
    #[error(transparent)]
    Map(#[from] aya::maps::MapError),
    #[error(transparent)]
    Pin(#[from] aya::pin::PinError),
    #[error(transparent)]
    Link(#[from] aya::programs::links::LinkError),
}

impl Error {
    /// `what` failed with an I/O error.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// `what` failed with the error of the last system call (errno).
    pub fn last_os(what: impl Into<String>) -> Error {
        Error::io(what, std::io::Error::last_os_error())
    }

    /// `what` failed in aya.
    pub fn bpf(what: impl Into<String>, source: impl Into<BpfError>) -> Error {
        Error::Bpf {
            what: what.into(),
            source: Box::new(source.into()),
        }
    }

    /// The interruption (Ctrl-C, SIGTERM) this error is, if it is one, also under context.
    pub fn interrupted(&self) -> Option<&crate::lifecycle::Interrupted> {
        match self {
            Error::Interrupted(i) => Some(i),
            Error::Context { source, .. } => source.interrupted(),
            _ => None,
        }
    }

    /// This error with what was being done when it happened.
    pub fn within(self, what: impl Into<String>) -> Error {
        Error::Context {
            what: what.into(),
            source: Box::new(self),
        }
    }

    /// The capture error this is or stopped on, if any (for the `--lenient` hint).
    pub fn capture(&self) -> Option<&workbench_flow::capture::CaptureError> {
        match self {
            Error::Capture(c) | Error::ReplayStopped { source: c, .. } => Some(c),
            Error::Context { source, .. } => source.capture(),
            _ => None,
        }
    }

    pub fn missing_map(name: impl Into<String>) -> Error {
        Error::Missing {
            kind: "map",
            name: name.into(),
        }
    }

    pub fn missing_program(name: impl Into<String>) -> Error {
        Error::Missing {
            kind: "program",
            name: name.into(),
        }
    }
}

/// Adds what was being done to an I/O or aya failure: `.context(|| format!("reading {path}"))`.
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
    aya::pin::PinError,
    aya::programs::links::LinkError
);

/// `?` on an aya error with nothing to add: the message is aya's own, as before.
macro_rules! from_aya {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(source: $t) -> Error {
                Error::Aya(Box::new(source.into()))
            }
        }
    )*};
}
from_aya!(
    aya::EbpfError,
    aya::programs::ProgramError,
    aya::maps::MapError,
    aya::pin::PinError,
    aya::programs::links::LinkError
);

/// `return Err(Error::Variant(format!(..)))`: the crate's `bail!`, with the kind of failure named.
macro_rules! fail {
    ($variant:ident, $($fmt:tt)+) => {
        return Err($crate::error::Error::$variant(format!($($fmt)+)))
    };
}
pub(crate) use fail;

/// `Error::Variant(format!(..))`: the crate's `eyre!`, with the kind of failure named.
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

    use workbench_flow::errors::line as chain;

    #[test]
    fn a_missing_namespace_is_an_io_error_naming_it_with_not_found_as_its_source() {
        let path = std::path::Path::new("/run/netns/ebml-no-such-namespace-for-a-unit-test");
        let e = crate::lab::netns::run_in_path(path, || ()).expect_err("the namespace does not exist");
        let Error::Io { what, source } = &e else {
            panic!("expected Error::Io, got {e:?}");
        };
        assert_eq!(what, &format!("opening network namespace {}", path.display()));
        assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        let io = e.source().and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(io.map(std::io::Error::kind), Some(std::io::ErrorKind::NotFound));
        let line = chain(&e);
        assert!(
            line.starts_with(&format!(
                "opening network namespace {}: No such file or directory",
                path.display()
            )),
            "{line}"
        );
        // `{:#}` on the error itself prints the same line (code that formats it so, not only eyre).
        assert_eq!(format!("{e:#}"), line);
    }

    #[test]
    fn a_bad_lab_id_is_refused_as_invalid_input_in_one_line() {
        let e = crate::lab::replay_lab::validate_id("way-too-long-id").expect_err("dashes and 15 bytes");
        assert!(matches!(e, Error::Invalid(_)), "{e:?}");
        assert!(e.source().is_none());
        assert_eq!(
            e.to_string(),
            "lab id \"way-too-long-id\" must be 1-9 ASCII letters or digits (interface names have 15 bytes)"
        );
    }

    #[test]
    fn an_interruption_is_found_under_context_and_reads_as_itself() {
        let signal = crate::lifecycle::Interrupted {
            signal: "SIGINT",
            exit_status: 130,
        };
        let e = Error::from(signal).within("replaying into ebml-x");
        assert_eq!(e.interrupted().map(|i| i.exit_status), Some(130));
        // What `main` walks: the chain's second element is the boxed interruption.
        let inner = e.source().expect("the interruption is the source");
        assert_eq!(
            crate::lifecycle::interrupted_in(inner).map(|i| i.signal),
            Some("SIGINT")
        );
        assert_eq!(
            chain(&e),
            "replaying into ebml-x: interrupted by SIGINT; what this run made was removed"
        );
    }
}
