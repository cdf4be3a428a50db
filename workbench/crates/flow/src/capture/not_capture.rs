//! A file given where a capture is expected that is not one: a table (CSV, Parquet, a zip of
//! them) or a model file is named as such, with the command that reads it; anything else gets
//! the magic numbers a capture starts with.

use std::io::Read;
use std::path::Path;

/// What the file at `path` holds instead of a capture, and what to do with it. `magic` is its
/// first four bytes.
pub fn describe(path: &Path, magic: [u8; 4]) -> String {
    let name = path.display();
    let what = if &magic == b"PAR1" {
        Some("a Parquet table")
    } else if magic == [b'P', b'K', 3, 4] {
        Some("a zip archive (a table archive such as CIC-IDS2017's?)")
    } else if &magic == b"EBML" {
        Some("a workbench model file")
    } else if looks_like_text(path) {
        Some("a text file (a CSV table?)")
    } else {
        None
    };
    match what {
        Some("a workbench model file") => format!(
            "is a workbench model file, not a capture: give it as the model (`--model {name}`, or \
             `workbench deploy {name}`), and a .pcap/.pcapng capture as the data"
        ),
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
fn looks_like_text(path: &Path) -> bool {
    let mut head = [0u8; 1024];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let head = &head[..n];
    let text = head
        .iter()
        .all(|&b| b == b'\n' || b == b'\r' || b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80);
    text && head.iter().any(|&b| matches!(b, b'\n' | b',' | b';' | b'\t'))
}
