//! Where each row of a loaded table is (`RowPlace`: its file, line and place among the file's
//! rows), and the line each data row of a CSV file starts on, so that a bad value, a dropped row and
//! `eval --flows-out` name the line an analyst opens the file at. Usually the row's place plus
//! the header's line; a blank line between rows (read and removed) or a quoted field holding a
//! line break moves every later row down, and reading "first line + row" then named the wrong
//! line for all of them.
//!
//! Found without a second pass over the file when every block of it went through the plain
//! reader (`csv_fast`: one row per line, no blank line, no quote); otherwise the file is scanned
//! once more for where each record starts (quotes, blank lines, carriage returns: the 0.96 GB
//! CIC-sized file saved with CRLF line ends pays 0.32 s for the scan, beside 5.2 s for its read;
//! `WORKBENCH_LOAD_PHASES=1` prints it). The same scan tells which rows are blank (removed):
//! those whose line holds nothing but separators, on the bytes, so that a read of some columns
//! only removes the rows a read of all of them removes ([`scanned`]).

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use super::csv_lines::{scan_blocks, QuotedLines, SCAN_BLOCK_BYTES};
use super::source::Content;

/// Where a file's data rows start: the first on `first`, each next one on the line after the
/// previous one's, except at the `jumps` (row index in the file, the line it starts on).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowLines {
    pub first: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jumps: Vec<(u32, u64)>,
}

impl RowLines {
    /// Rows one per line from line `first`.
    pub fn from_line(first: usize) -> RowLines {
        RowLines {
            first,
            jumps: Vec::new(),
        }
    }

    /// The line row `row` (0-based, in its file) starts on.
    pub fn line(&self, row: usize) -> usize {
        match self.jumps.partition_point(|&(r, _)| r as usize <= row) {
            0 => self.first + row,
            i => {
                let (r, line) = self.jumps[i - 1];
                line as usize + (row - r as usize)
            }
        }
    }

    /// From each row's start line, in row order (None for no rows, and past [`MAX_JUMPS`]).
    fn from_starts(starts: &[u64]) -> Option<RowLines> {
        let first = *starts.first()?;
        let jumps = starts
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w[1] != w[0] + 1)
            .map(|(i, w)| Some((u32::try_from(i + 1).ok()?, w[1])))
            .collect::<Option<Vec<_>>>()?;
        if jumps.len() > MAX_JUMPS {
            return None;
        }
        Some(RowLines {
            first: usize::try_from(first).ok()?,
            jumps,
        })
    }
}

/// The line row `in_file` of source `source` starts on, from the per-source lines (None for a
/// Parquet source, or one whose lines could not be told).
pub(super) fn line_of(lines: &[Option<RowLines>], source: usize, in_file: usize) -> Option<usize> {
    lines
        .get(source)
        .and_then(Option::as_ref)
        .map(|l| l.line(in_file))
}

/// Per row: the index of its source file and its place among that file's rows, from the rows
/// each file gave (in order). A count that does not add up (a cache written without it) gives
/// every row file 0: one file, no file split.
pub(super) fn row_sources(file_rows: &[usize], rows: usize) -> (Vec<u32>, Vec<u32>) {
    if file_rows.iter().sum::<usize>() != rows {
        return (vec![0; rows], (0..rows as u32).collect());
    }
    let mut source = Vec::with_capacity(rows);
    let mut in_file = Vec::with_capacity(rows);
    for (i, &n) in file_rows.iter().enumerate() {
        source.extend(std::iter::repeat_n(i as u32, n));
        in_file.extend(0..n as u32);
    }
    (source, in_file)
}

/// Where a row of a table is: its file, the line it is on (None for Parquet, or when unknown),
/// and its 1-based place among that file's data rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowPlace {
    pub file: String,
    pub line: Option<usize>,
    pub row: usize,
}

/// One record of the file as the scan finds it: the line it starts on, whether that line is
/// empty, and whether it is blank (nothing but separators, or empty: no column has a value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    line: u32,
    empty_line: bool,
    blank: bool,
}

/// Every record of a file by the quote rule `find_ragged` uses (`csv_lines`): a line with an
/// odd number of double quotes opens a field that runs on to the line that closes it. Fed
/// whole lines, a block of them at a time.
#[derive(Default)]
struct Records {
    out: Vec<Record>,
    lines: QuotedLines,
}

impl Records {
    /// `bytes`: whole lines, the last one ended by a line break unless it ends the file. Break
    /// past 4G lines: no line numbers then.
    fn feed(&mut self, bytes: &[u8], sep: u8) -> ControlFlow<()> {
        for line in self.lines.lines(bytes) {
            let Ok(n) = u32::try_from(line.number) else {
                return ControlFlow::Break(());
            };
            if line.starts_record {
                let text = line.bytes.strip_suffix(b"\r").unwrap_or(line.bytes);
                self.out.push(Record {
                    line: n,
                    empty_line: text.is_empty(),
                    // Not spaces: a space is a value in a text column (the full read keeps
                    // ` ,,` when column 1 is text), so a projected read that took spaces for
                    // blanks would remove rows the full read keeps.
                    blank: text.iter().all(|&b| b == sep),
                });
            }
        }
        ControlFlow::Continue(())
    }
}

/// The records of `c`, a file on disk scanned in blocks of about `block_bytes` (`csv_lines`).
fn records(c: &Content, sep: u8, block_bytes: usize) -> Option<Vec<Record>> {
    let mut records = Records::default();
    let flow = scan_blocks(c, block_bytes, |block| records.feed(block, sep)).ok()?;
    flow.is_continue().then_some(records.out)
}

/// Jumps kept at most: each is a pair in the cache's metadata, and a file whose every row holds
/// a quoted line break would store one per row. Past this, no lines are named.
const MAX_JUMPS: usize = 100_000;

/// What the scan of a file's records tells about the rows read: which to remove as blank, and
/// the lines of the others.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Scanned {
    /// Indices among the rows read, ascending.
    pub removed: Vec<usize>,
    /// None when rows and records do not match: no line is then named, rather than a wrong one.
    pub lines: Option<RowLines>,
}

/// The blank rows and the lines of a file's rows after reading: `read_rows` rows came out of
/// the reader, of which `empty` (indices among them, ascending) have no value in any column
/// read. A row is blank, and removed, when its record's line holds nothing but separators (or
/// nothing): then every column of the file is empty, whichever columns the read took, so a
/// projected read (`train`) removes the rows the full read (`inspect`) removes, no more. The
/// reader either gave a row for every record or skipped the empty lines; whichever count
/// matches is taken, and every blank record's row must be one of `empty`. When neither count
/// matches (polars reads a row of nulls after a lone header, which no line holds), or a blank
/// record's row has a value (rows and records are not aligned), or the file cannot be read
/// again: the rows of `empty` are removed, as the columns read show them, and no line is named.
pub(super) fn scanned(c: &Content, sep: u8, skip: usize, read_rows: usize, empty: &[usize]) -> Scanned {
    let unmatched = || Scanned {
        removed: empty.to_vec(),
        lines: None,
    };
    let Some(rows) = matched(c, sep, skip, read_rows) else {
        return unmatched();
    };
    let mut no_value_read = empty.iter().copied().peekable();
    let mut removed = Vec::new();
    let mut starts: Vec<u64> = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let none_read = no_value_read.next_if_eq(&i).is_some();
        if r.blank && !none_read {
            return unmatched();
        }
        if r.blank {
            removed.push(i);
        } else {
            starts.push(u64::from(r.line));
        }
    }
    Scanned {
        removed,
        lines: RowLines::from_starts(&starts),
    }
}

/// The file's records after the `skip` header lines, one per row read (`read_rows`): every
/// record, or the ones not on an empty line, whichever count matches (None when neither does).
fn matched(c: &Content, sep: u8, skip: usize, read_rows: usize) -> Option<Vec<Record>> {
    let mut all = records(c, sep, SCAN_BLOCK_BYTES)?;
    all.drain(..skip.min(all.len()));
    let empty_lines = all.iter().filter(|r| r.empty_line).count();
    if all.len() == read_rows {
        Some(all)
    } else if all.len() - empty_lines == read_rows {
        all.retain(|r| !r.empty_line);
        Some(all)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(s: &str) -> Content {
        Content::Bytes(s.as_bytes().to_vec())
    }

    #[test]
    fn rows_one_per_line_need_no_jumps() {
        let l = RowLines::from_line(2);
        assert_eq!((l.line(0), l.line(9)), (2, 11));
        let scanned = scanned(&bytes("a,b\n1,2\n3,4\n"), b',', 1, 2, &[]);
        assert_eq!(scanned.lines, Some(RowLines::from_line(2)));
        assert_eq!(scanned.removed, [0usize; 0]);
    }

    /// A blank line read as a row and removed, a row of separators removed, a quoted field over
    /// two lines: every later row is named on its own line.
    #[test]
    fn blank_lines_and_quoted_line_breaks_move_later_rows_down() {
        let text = "a,b\n1,2\n\n3,4\n\"5\nx\",6\n,\n7,8\n";
        // Lines: 2 `1,2`, 3 blank, 4 `3,4`, 5-6 the quoted row, 7 `,`, 8 `7,8`.
        let wanted = [2, 4, 5, 8];
        let lines = |s: &Scanned| {
            let l = s.lines.as_ref().expect("lines");
            (0..4).map(|r| l.line(r)).collect::<Vec<_>>()
        };
        // A reader that gave the blank line a row (6 rows, 1 and 4 removed) ...
        let s = scanned(&bytes(text), b',', 1, 6, &[1, 4]);
        assert_eq!((s.removed.as_slice(), lines(&s)), (&[1, 4][..], wanted.to_vec()));
        // ... and one that skipped it (5 rows, the separators' row 3 removed).
        let s = scanned(&bytes(text), b',', 1, 5, &[3]);
        assert_eq!((s.removed.as_slice(), lines(&s)), (&[3][..], wanted.to_vec()));
        // Counts that match neither reading: no line rather than a wrong one, and the rows
        // with no value read removed (the columns read are all that can tell).
        let unmatched = |empty: &[usize]| Scanned {
            removed: empty.to_vec(),
            lines: None,
        };
        assert_eq!(scanned(&bytes(text), b',', 1, 7, &[6]), unmatched(&[6]));
        // A blank record whose row has a value read: the rows are not where assumed.
        assert_eq!(scanned(&bytes(text), b',', 1, 6, &[0]), unmatched(&[0]));
        // Polars' row of nulls after a lone header: no line holds it.
        assert_eq!(scanned(&bytes("a,b\n"), b',', 1, 1, &[0]), unmatched(&[0]));
    }

    /// A row with no value in the columns read but one in another column (a projected read) is
    /// no blank row: kept and named, as the full read keeps it. Nor is a row of spaces (a text
    /// column's value).
    #[test]
    fn a_row_empty_only_in_the_columns_read_is_kept() {
        let text = "a,b,c\n1,2,3\n,x,\n,,\n , ,\n4,5,6\n";
        let s = scanned(&bytes(text), b',', 1, 5, &[1, 2, 3]);
        assert_eq!(s.removed, [2]);
        let l = s.lines.expect("lines");
        assert_eq!((0..4).map(|r| l.line(r)).collect::<Vec<_>>(), [2, 3, 5, 6]);
    }

    /// A file scanned in blocks (a quoted field open across a block's end) gives the records
    /// the whole text gives.
    #[test]
    fn a_file_scanned_in_blocks_gives_the_records_of_the_whole_text() {
        let text = "a,b\r\n1,\"x\n\ny\"\r\n\r\n,\n3,4";
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.csv");
        std::fs::write(&path, text).expect("write");
        let whole = records(&bytes(text), b',', usize::MAX).expect("records");
        assert_eq!(whole.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 2, 5, 6, 7]);
        for block in 1..text.len() + 2 {
            assert_eq!(
                records(&Content::Path(path.clone()), b',', block).as_ref(),
                Some(&whole),
                "{block}-byte blocks"
            );
        }
    }

    #[test]
    fn carriage_returns_and_a_last_line_without_a_break() {
        let l = scanned(&bytes("a,b\r\n1,2\r\n\r\n3,4"), b',', 1, 2, &[])
            .lines
            .expect("lines");
        assert_eq!((l.line(0), l.line(1)), (2, 4));
        let round: RowLines = serde_json::from_str(&serde_json::to_string(&l).expect("json")).expect("json");
        assert_eq!(round, l);
    }
}
