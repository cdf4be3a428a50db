//! A file given where a capture is expected that is not one: a table (CSV, Parquet, a zip of
//! them), a model file or a compressed file is named as such, with the command that reads it;
//! anything else gets the magic numbers a capture starts with. [`model_given_as_data`] and
//! [`compressed`] are shared with the table reader, so both kinds of input say the same.

use std::io::Read;
use std::path::Path;

/// Whether `head` (a file's first bytes, at least four) starts like a workbench model file
/// (`model::file::FILE_MAGIC`; four bytes are enough to tell, and all a capture reader reads).
pub fn is_model_file(head: &[u8]) -> bool {
    head.len() >= 4 && head[..4] == crate::model::file::FILE_MAGIC[..4]
}

/// The message for a workbench model file given where `expected` (a capture, a table) goes: what
/// it is, the commands that take it, and what to give as the data instead (`data`).
pub fn model_given_as_data(name: &str, expected: &str, data: &str) -> String {
    format!(
        "is a workbench model file (written by `workbench train`), not {expected}: give it where a \
         model goes (`workbench eval {name} DATA`, `workbench skew {name} --on DATA`, \
         `workbench verify --model {name} PCAP`, `workbench deploy {name} --iface IF`, \
         `workbench model show {name}`), and {data} as the data"
    )
}

/// A compressed file by its first bytes: the format's name and the command that unpacks it.
pub fn compressed(head: &[u8]) -> Option<(&'static str, &'static str)> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(("gzip", "gunzip -k"))
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X']) {
        Some(("xz", "unxz -k"))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(("zstd", "unzstd"))
    } else if head.starts_with(b"BZh") {
        Some(("bzip2", "bunzip2 -k"))
    } else {
        None
    }
}

/// The message for a compressed file given where `expected` goes.
pub fn compressed_message(name: &str, format: &str, unpack: &str, expected: &str) -> String {
    format!(
        "is {format}-compressed, not {expected}: decompress it first (`{unpack} {name}`) and give \
         the decompressed file"
    )
}

/// What the file at `path` holds instead of a capture, and what to do with it. `magic` is its
/// first four bytes.
pub fn describe(path: &Path, magic: [u8; 4]) -> String {
    let name = path.display().to_string();
    if is_model_file(&magic) {
        return model_given_as_data(&name, "a pcap or pcapng capture", "a .pcap/.pcapng capture");
    }
    if let Some((format, unpack)) = compressed(&magic) {
        return compressed_message(&name, format, unpack, "a pcap or pcapng capture");
    }
    let what = if &magic == b"PAR1" {
        Some("a Parquet table")
    } else if magic == [b'P', b'K', 3, 4] {
        Some("a zip archive (a table archive such as CIC-IDS2017's?)")
    } else if looks_like_text(path) {
        Some("a text file (a CSV table?)")
    } else {
        None
    };
    match what {
        Some(table) => format!(
            "is {table}, not a pcap or pcapng capture: `workbench inspect {name}`, \
             `workbench train {name} ...` and `workbench eval MODEL {name}` read tables directly; \
             captures come from tcpdump/Wireshark (`tcpdump -w FILE.pcap`) or `workbench gen-pcaps -o DIR`"
        ),
        None => format!(
            "not a pcap or pcapng file (it starts with 0x{:08x}, expected a pcap magic such as \
             0xa1b2c3d4 or the pcapng section header 0x0a0d0d0a); give a capture written by \
             tcpdump or Wireshark (`tcpdump -w FILE.pcap`)",
            u32::from_be_bytes(magic)
        ),
    }
}

/// Whether the first kilobyte is printable text with a line break or a field separator (a
/// CSV, a labels file).
/// Up to the first `max_bytes` of a file (fewer when it is shorter); None if it cannot be
/// opened (the reader that opens it next names the cause).
pub fn read_head(path: &Path, max_bytes: usize) -> Option<Vec<u8>> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut head = vec![0u8; max_bytes];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    head.truncate(n);
    Some(head)
}

fn looks_like_text(path: &Path) -> bool {
    let Some(head) = read_head(path, 1024) else {
        return false;
    };
    let text = head
        .iter()
        .all(|&b| b == b'\n' || b == b'\r' || b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80);
    text && head.iter().any(|&b| matches!(b, b'\n' | b',' | b';' | b'\t'))
}
