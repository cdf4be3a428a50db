//! Where each row of a loaded table is (`RowPlace`: its file, line and place among the file's
//! rows), and the line each data row of a CSV file starts on, so that a bad value, a dropped row and
//! `eval --flows-out` name the line an analyst opens the file at. Usually the row's place plus
//! the header's line; a blank line between rows (read and dropped) or a quoted field holding a
//! line break moves every later row down, and reading "first line + row" then named the wrong
//! line for all of them.
//!
//! Found without a second pass over the file when every block of it went through the plain
//! reader (`csv_fast`: one row per line, no blank line, no quote); otherwise the file is scanned
//! once more for where each record starts (quotes, blank lines, carriage returns: the 0.96 GB
//! CIC-sized file saved with CRLF line ends pays 0.32 s for the scan, beside 5.2 s for its read;
//! `WORKBENCH_LOAD_PHASES=1` prints it).

use serde::{Deserialize, Serialize};

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
/// empty, and whether it holds only separators (a row of no values, which reading drops).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    line: u32,
    empty_line: bool,
    no_values: bool,
}

/// Every record of a file by the quote rule `find_ragged` uses: a line with an odd number of
/// double quotes opens a field that runs on to the line that closes it. Fed whole lines (a
/// block of them at a time); two vectorised passes over each (line breaks, quotes per line).
#[derive(Default)]
struct Records {
    out: Vec<Record>,
    open: bool,
    lines: u32,
    /// Past 4G lines: no line numbers.
    overflow: bool,
}

impl Records {
    /// `bytes`: whole lines, the last one ended by a line break unless it ends the file.
    fn feed(&mut self, bytes: &[u8], sep: u8) {
        let mut start = 0;
        let ends =
            memchr::memchr_iter(b'\n', bytes).chain((bytes.last() != Some(&b'\n')).then_some(bytes.len()));
        for end in ends {
            let line = &bytes[start..end];
            start = end + 1;
            let Some(n) = self.lines.checked_add(1) else {
                self.overflow = true;
                return;
            };
            self.lines = n;
            if !self.open {
                let text = line.strip_suffix(b"\r").unwrap_or(line);
                self.out.push(Record {
                    line: n,
                    empty_line: text.is_empty(),
                    no_values: text.iter().all(|&b| b == sep || b == b' '),
                });
            }
            self.open ^= memchr::memchr_iter(b'"', line).count() % 2 == 1;
        }
    }

    fn done(self) -> Option<Vec<Record>> {
        (!self.overflow).then_some(self.out)
    }
}

/// The records of a file on disk, read through a mapping in blocks of whole lines whose pages
/// leave the process once scanned, as the typed read's blocks do: a mapping read whole counts
/// the file's size in resident memory (+215 MB on a 250 MB file).
fn records_of_file(path: &std::path::Path, sep: u8, block_bytes: usize) -> Option<Vec<Record>> {
    let file = std::fs::File::open(path).ok()?;
    let Some(map) = super::csv_blocks::Mapped::open(&file).ok()? else {
        return Some(Vec::new());
    };
    let mut records = Records::default();
    for range in super::csv_blocks::block_ranges(map.bytes(), block_bytes) {
        records.feed(&map.bytes()[range.clone()], sep);
        map.dont_need(range);
    }
    records.done()
}

/// The scan's block: large enough that the advice calls cost nothing, small against memory.
const SCAN_BLOCK_BYTES: usize = 32 << 20;

/// Jumps kept at most: each is a pair in the cache's metadata, and a file whose every row holds
/// a quoted line break would store one per row. Past this, no lines are named.
const MAX_JUMPS: usize = 100_000;

/// The lines of a file's rows after reading: `read_rows` rows came out of the reader, of
/// which `removed` (indices among them, ascending) were dropped as blank. The reader either
/// gave a row for every record or skipped the empty lines; whichever count matches is taken,
/// and every removed row must be a record of no values. None when neither matches (no line is
/// then named, rather than a wrong one) or the file cannot be read again.
pub(super) fn scanned(
    c: &Content,
    sep: u8,
    skip: usize,
    read_rows: usize,
    removed: &[usize],
) -> Option<RowLines> {
    let all = match c {
        Content::Bytes(b) => {
            let mut records = Records::default();
            records.feed(b, sep);
            records.done()?
        }
        Content::Path(p) => records_of_file(p, sep, SCAN_BLOCK_BYTES)?,
    };
    let all = all.get(skip..).unwrap_or_default();
    let empty_lines = all.iter().filter(|r| r.empty_line).count();
    let rows: Vec<Record> = if all.len() == read_rows {
        all.to_vec()
    } else if all.len() - empty_lines == read_rows {
        all.iter().copied().filter(|r| !r.empty_line).collect()
    } else {
        return None;
    };
    if removed.iter().any(|&i| rows.get(i).is_none_or(|r| !r.no_values)) {
        return None;
    }
    let mut gone = removed.iter().peekable();
    let starts: Vec<u64> = rows
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            if gone.peek() == Some(&i) {
                gone.next();
                false
            } else {
                true
            }
        })
        .map(|(_, r)| u64::from(r.line))
        .collect();
    RowLines::from_starts(&starts)
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
        let scanned = scanned(&bytes("a,b\n1,2\n3,4\n"), b',', 1, 2, &[]).expect("lines");
        assert_eq!(scanned, RowLines::from_line(2));
    }

    /// A blank line read as a row and dropped, a row of separators dropped, a quoted field over
    /// two lines: every later row is named on its own line.
    #[test]
    fn blank_lines_and_quoted_line_breaks_move_later_rows_down() {
        let text = "a,b\n1,2\n\n3,4\n\"5\nx\",6\n,\n7,8\n";
        // Lines: 2 `1,2`, 3 blank, 4 `3,4`, 5-6 the quoted row, 7 `,`, 8 `7,8`.
        let wanted = [2, 4, 5, 8];
        // A reader that gave the blank line a row (6 rows, 1 and 4 removed) ...
        let l = scanned(&bytes(text), b',', 1, 6, &[1, 4]).expect("lines");
        assert_eq!((0..4).map(|r| l.line(r)).collect::<Vec<_>>(), wanted);
        // ... and one that skipped it (5 rows, the separators' row 3 removed).
        let l = scanned(&bytes(text), b',', 1, 5, &[3]).expect("lines");
        assert_eq!((0..4).map(|r| l.line(r)).collect::<Vec<_>>(), wanted);
        // Counts that match neither reading: no line rather than a wrong one.
        assert_eq!(scanned(&bytes(text), b',', 1, 7, &[]), None);
        // A removed row that has values is not a blank one: the rows are not where assumed.
        assert_eq!(scanned(&bytes(text), b',', 1, 6, &[0]), None);
    }

    /// A file scanned in blocks (a quoted field open across a block's end) gives the records
    /// the whole text gives.
    #[test]
    fn a_file_scanned_in_blocks_gives_the_records_of_the_whole_text() {
        let text = "a,b\r\n1,\"x\n\ny\"\r\n\r\n,\n3,4";
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.csv");
        std::fs::write(&path, text).expect("write");
        let mut whole = Records::default();
        whole.feed(text.as_bytes(), b',');
        let whole = whole.done().expect("records");
        assert_eq!(whole.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 2, 5, 6, 7]);
        for block in 1..text.len() + 2 {
            assert_eq!(
                records_of_file(&path, b',', block).as_ref(),
                Some(&whole),
                "{block}-byte blocks"
            );
        }
    }

    #[test]
    fn carriage_returns_and_a_last_line_without_a_break() {
        let l = scanned(&bytes("a,b\r\n1,2\r\n\r\n3,4"), b',', 1, 2, &[]).expect("lines");
        assert_eq!((l.line(0), l.line(1)), (2, 4));
        let round: RowLines = serde_json::from_str(&serde_json::to_string(&l).expect("json")).expect("json");
        assert_eq!(round, l);
    }
}
