//! What a capture reader reports when a file or one of its records cannot be read.

/// What went wrong at one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordFault {
    /// The file ends inside the record.
    Truncated,
    /// The record's header is inconsistent or implausible.
    Corrupt,
    /// A well-formed packet the reader cannot interpret (unknown interface, invalid timestamp
    /// resolution).
    Unreadable,
    /// A packet on an interface whose link type the reader does not decode: not damage.
    UnsupportedLinkType,
}

impl std::fmt::Display for RecordFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RecordFault::Truncated => "truncated record",
            RecordFault::Corrupt => "corrupt record",
            RecordFault::Unreadable => "unreadable packet",
            RecordFault::UnsupportedLinkType => "packet of an unsupported link type",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file as a whole: cannot be opened or read, is not a capture, has a bad header.
    #[error("{file}: {message}")]
    File { file: String, message: String },
    /// One record. `packet` is the number the packet at `offset` has (or would have had).
    #[error("{file}: {fault} at byte {offset} (packet {packet}): {detail}")]
    Record {
        file: String,
        fault: RecordFault,
        offset: u64,
        packet: u64,
        detail: String,
    },
}

impl CaptureError {
    /// What was wrong with the damaged record; `None` for an error about the file as a whole.
    pub fn record_fault(&self) -> Option<RecordFault> {
        match self {
            CaptureError::Record { fault, .. } => Some(*fault),
            CaptureError::File { .. } => None,
        }
    }
}
