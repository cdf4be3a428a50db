//! What a file is before it is parsed as a table: a packet capture given where a table is
//! expected gets its own error with the command that turns it into one (read as CSV, a pcap's
//! bytes made "line 2 has 1 fields ... (ragged row)"), and the CSV field separator is taken
//! from the header line (`,`, `;` or tab), or the error names what the line holds instead.

use std::io::Read;
use std::path::Path;

use super::DataError;

/// The capture format a file's first four bytes announce (the magics the capture reader
/// accepts: pcap in either byte order, microsecond or nanosecond, and pcapng).
pub fn capture_format(magic: [u8; 4]) -> Option<&'static str> {
    match u32::from_le_bytes(magic) {
        0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 | 0xa1b2_cd34 | 0x34cd_b2a1 => Some("pcap"),
        0x0a0d_0d0a => Some("pcapng"),
        _ => None,
    }
}

/// The capture format of the file at `path`, if it is one (unreadable or short: not a capture;
/// the table reader then reports what is wrong).
pub fn capture_format_of(path: &Path) -> Option<&'static str> {
    let mut magic = [0u8; 4];
    std::fs::File::open(path).ok()?.read_exact(&mut magic).ok()?;
    capture_format(magic)
}

/// A capture given where a table is expected: what it is and how to make a table of it.
pub fn capture_not_table(path: &Path, format: &str) -> DataError {
    let name = path.display().to_string();
    let stem = path
        .file_stem()
        .map_or_else(|| "flows".to_string(), |s| s.to_string_lossy().into_owned());
    DataError::file(
        &name,
        format!(
            "is a packet capture ({format}), not a table (CSV or Parquet); make a feature table of it \
             with `workbench features {name} -o {stem}.csv` and give that file here \
             (`workbench train` and `workbench eval` also take captures directly)"
        ),
    )
}

/// What a table reader expects, as the messages for other inputs name it.
const TABLE: &str = "a table (CSV or Parquet)";

/// Refuses a plain file that is a known input of another kind: a packet capture (see
/// [`capture_not_table`]), a workbench model file, a compressed file, an executable or object
/// file, or a JSON document. Each is named with what to give instead; read as CSV they made "the
/// header line has no `,`, `;` or tab" or a ragged row, which names neither.
pub fn refuse_non_table(path: &Path) -> Result<(), DataError> {
    let Some(head) = workbench_flow::capture::read_head(path, 64) else {
        return Ok(()); // the table reader names the cause
    };
    let head = head.as_slice();
    let name = path.display().to_string();
    if let Some(format) = head
        .get(..4)
        .and_then(|m| capture_format([m[0], m[1], m[2], m[3]]))
    {
        return Err(capture_not_table(path, format));
    }
    let message = if workbench_flow::capture::is_model_file(head) {
        workbench_flow::capture::model_given_as_data(
            &name,
            TABLE,
            "a dataset table (CSV, Parquet, a CIC-IDS2017 zip) or a .pcap/.pcapng capture",
        )
    } else if let Some((format, unpack)) = workbench_flow::capture::compressed(head) {
        workbench_flow::capture::compressed_message(&name, format, unpack, TABLE)
    } else if head.starts_with(b"\x7fELF") {
        format!(
            "is an executable or object file (ELF), not {TABLE}; give the dataset's CSV or \
             Parquet file"
        )
    } else if head
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{')
    {
        format!(
            "is a JSON document (a `--json` report?), not {TABLE}; give the dataset's CSV or \
             Parquet file (`workbench features PCAP -o FILE.csv` makes one from a capture)"
        )
    } else {
        return Ok(());
    };
    Err(DataError::file(name, message))
}

/// Whether a file's first line (decoded lossily, as `csv_read::first_lines` does) is UTF-16
/// text (Excel's "Unicode Text"): a UTF-16 byte-order mark (FF FE or FE FF, two bytes that are
/// not UTF-8) or NUL bytes between the characters. Read as UTF-8 it made "line 2301 has 1
/// fields".
pub fn is_utf16(first_line: &str) -> bool {
    first_line.starts_with("\u{FFFD}\u{FFFD}") || first_line.contains('\0')
}

/// Field separators a table may use, as named in messages.
const SEPARATORS: [(u8, &str); 3] = [(b',', "`,`"), (b';', "`;`"), (b'\t', "tab")];

/// Occurrences of `sep` outside double quotes.
fn count_outside_quotes(line: &str, sep: u8) -> usize {
    let mut quoted = false;
    let mut n = 0;
    for b in line.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if b == sep && !quoted {
            n += 1;
        }
    }
    n
}

/// The field separator of a CSV file from its first line: the most frequent of `,` `;` and
/// tab outside quotes (commas first on a tie, the datasets' own separator). A line with none of
/// them is a one-column table, which no dataset is: the error says which character the line
/// seems to use instead, or that it holds no separator at all.
pub fn separator(first_line: &str) -> Result<u8, NoSeparator> {
    let best = SEPARATORS
        .iter()
        .map(|&(sep, _)| (sep, count_outside_quotes(first_line, sep)))
        .max_by_key(|&(sep, n)| (n, sep == b','))
        .filter(|&(_, n)| n > 0);
    if let Some((sep, _)) = best {
        return Ok(sep);
    }
    // What else might separate the fields: the most frequent punctuation or space.
    let mut other: Vec<(char, usize)> = Vec::new();
    for ch in first_line
        .chars()
        .filter(|c| matches!(c, '|' | ':' | ' ' | '^' | '~' | '#' | '/'))
    {
        match other.iter_mut().find(|(c, _)| *c == ch) {
            Some((_, n)) => *n += 1,
            None => other.push((ch, 1)),
        }
    }
    other.sort_by_key(|b| std::cmp::Reverse(b.1));
    Err(NoSeparator {
        likely: other.first().copied(),
    })
}

/// A header line with no `,`, `;` or tab between its fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the header line has no `,`, `;` or tab between its fields: {}; save the table with `,`, \
     `;` or tab between fields (a table needs a label column and at least one feature)",
    self.seen()
)]
pub struct NoSeparator {
    /// The character that seems to separate the fields instead, and how often the line has it.
    pub likely: Option<(char, usize)>,
}

impl NoSeparator {
    fn seen(&self) -> String {
        match self.likely {
            Some((' ', n)) => format!("it holds {n} spaces, so its fields look separated by spaces"),
            Some((c, n)) => format!("it holds `{c}` {n} times, so its fields look separated by `{c}`"),
            None => "it holds no separator at all (one column)".to_string(),
        }
    }
}

/// The separator's name in messages.
pub fn separator_name(sep: u8) -> &'static str {
    SEPARATORS
        .iter()
        .find(|(s, _)| *s == sep)
        .map_or("`,`", |(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_are_taken_from_the_header() {
        assert_eq!(separator("Flow ID,Source IP,Label"), Ok(b','));
        assert_eq!(separator("Flow ID;Source IP;Label"), Ok(b';'));
        assert_eq!(separator("a\tb\tLabel"), Ok(b'\t'));
        // A comma inside quotes does not count; the `;` between fields does.
        assert_eq!(separator("\"a,b\";c;Label"), Ok(b';'));
        let e = separator("a|b|c|Label").expect_err("pipes");
        assert_eq!(e.likely, Some(('|', 3)));
        let e = e.to_string();
        assert!(e.contains("`|` 3 times") && e.contains("save the table"), "{e}");
        let e = separator("Label").expect_err("one column").to_string();
        assert!(e.contains("no separator at all"), "{e}");
    }

    #[test]
    fn utf16_first_lines_are_recognised() {
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert!(is_utf16(&lossy(b"\xff\xfeF\0l\0o\0w\0")));
        assert!(is_utf16(&lossy(b"\xfe\xff\0F\0l")));
        assert!(is_utf16(&lossy(b"F\0l\0o\0w\0\t\0")));
        assert!(!is_utf16("\u{feff}Flow ID,Label"));
        assert!(!is_utf16("Flow ID,Label"));
    }

    #[test]
    fn capture_magics_are_recognised() {
        assert_eq!(capture_format(0xa1b2_c3d4u32.to_le_bytes()), Some("pcap"));
        assert_eq!(capture_format(0xa1b2_c3d4u32.to_be_bytes()), Some("pcap"));
        assert_eq!(capture_format(0x0a0d_0d0au32.to_le_bytes()), Some("pcapng"));
        assert_eq!(capture_format(*b"Flow"), None);
    }
}
