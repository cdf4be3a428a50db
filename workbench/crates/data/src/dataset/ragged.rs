//! Ragged rows: the first row whose field count differs from the header's, for the one clear
//! error `csv_read` gives instead of polars' rows filled with nulls. It runs whenever the last
//! column read holds a null (the cheap hint), so it must cost little on a large file: lines
//! without a double quote are counted on their bytes (separators found by memchr, no string
//! made), and a file on disk is read through a mapping in blocks whose pages leave the process
//! (`csv_lines`, with the quote rule `row_lines` uses too).
//! Read line by line into strings, one empty label made a 250 MB file's read take 3.0-4.2 s
//! instead of 0.6-0.9 s; counted on the bytes, 0.8-1.0 s (release build).

use std::ops::ControlFlow;

use super::csv_lines::{scan_blocks, QuotedLines, SCAN_BLOCK_BYTES};
use super::csv_read::split_fields_by;
use super::source::Content;

/// A row whose field count differs from the header's, as [`find_ragged`] finds it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Ragged {
    /// Line `line` has `fields` fields.
    Line { line: usize, fields: usize },
    /// A double quote opened at line `line` is never closed: the rest of the file is one field.
    Unclosed { line: usize },
    /// A quote opened at line `line` closes only at line `end`: the lines between became one
    /// row of `fields` fields.
    Spans { line: usize, end: usize, fields: usize },
}

/// The longest row a quoted field may stretch over several lines before its quote is taken as
/// never closed.
const MAX_QUOTED_ROW_BYTES: usize = 1 << 20;

/// The first row whose field count differs from `expected`. A quoted field may hold line
/// breaks, so a row runs on until its quotes close; a quote that never closes (or closes lines
/// later in a row of the wrong width) is named as such, since a field count alone hides it.
pub(super) fn find_ragged(c: &Content, expected: usize, sep: u8) -> Option<Ragged> {
    find_ragged_in_blocks(c, expected, sep, SCAN_BLOCK_BYTES)
}

/// [`find_ragged`], a file on disk read in blocks of about `block_bytes`.
fn find_ragged_in_blocks(c: &Content, expected: usize, sep: u8, block_bytes: usize) -> Option<Ragged> {
    let mut check = Check {
        expected,
        sep,
        lines: QuotedLines::default(),
        open: None,
    };
    match scan_blocks(c, block_bytes, |block| check.feed(block)).ok()? {
        ControlFlow::Break(r) => Some(r),
        ControlFlow::Continue(()) => check.open.map(|(line, _)| Ragged::Unclosed { line }),
    }
}

/// The scan's state between blocks of whole lines.
struct Check {
    expected: usize,
    sep: u8,
    lines: QuotedLines,
    /// The row being read when it runs over several lines: its first line and its text so far.
    open: Option<(usize, String)>,
}

impl Check {
    fn feed(&mut self, bytes: &[u8]) -> ControlFlow<Ragged> {
        for line in self.lines.lines(bytes) {
            let i = line.number;
            let mut raw = line.bytes;
            while let Some(rest) = raw.strip_suffix(b"\r") {
                raw = rest;
            }
            // Most lines: no quote, no row running on. Separators counted on the bytes.
            if line.starts_record && line.quotes == 0 {
                if raw.is_empty() {
                    continue;
                }
                let n = 1 + memchr::memchr_iter(self.sep, raw).count();
                if n != self.expected {
                    return ControlFlow::Break(Ragged::Line { line: i, fields: n });
                }
                continue;
            }
            let text = String::from_utf8_lossy(raw);
            let (start_line, row) = match self.open.take() {
                Some((start_line, mut row)) => {
                    row.push('\n');
                    row.push_str(&text);
                    (start_line, row)
                }
                None => (i, text.into_owned()),
            };
            if line.runs_on() {
                // A quoted field of a megabyte is no field: the quote is not closed (and the
                // rest of a large file is not gathered into one string to find that out).
                if row.len() > MAX_QUOTED_ROW_BYTES {
                    return ControlFlow::Break(Ragged::Unclosed { line: start_line });
                }
                self.open = Some((start_line, row));
                continue;
            }
            let n = split_fields_by(&row, self.sep).len();
            if n != self.expected {
                return ControlFlow::Break(if i > start_line {
                    Ragged::Spans {
                        line: start_line,
                        end: i,
                        fields: n,
                    }
                } else {
                    Ragged::Line {
                        line: start_line,
                        fields: n,
                    }
                });
            }
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Split into blocks anywhere between lines, the file gives what the whole text gives.
    #[test]
    fn a_file_read_in_blocks_finds_what_the_whole_text_finds() {
        let texts = [
            "a,b,c\n1,2,3\n4,5\n",
            "a,b,c\r\n1,2,3\r\n\r\n4,5,6\r\n7,8",
            "a,b,c\n1,\"two\nlines\",3\n4,\"x\"\"y\",6\n7\n",
            "a,b,c\n\"1,2,3\n4,5,6\n7,8\",9\n",
            "a,b,c\n1,2,3\n\"4,5,6\n7,8,9\n",
        ];
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.csv");
        for text in texts {
            let whole = find_ragged(&Content::Bytes(text.as_bytes().to_vec()), 3, b',');
            std::fs::write(&path, text).expect("write");
            for block in 1..text.len() + 2 {
                assert_eq!(
                    find_ragged_in_blocks(&Content::Path(path.clone()), 3, b',', block),
                    whole,
                    "{text:?} in {block}-byte blocks"
                );
            }
            assert_eq!(
                find_ragged(&Content::Path(path.clone()), 3, b','),
                whole,
                "{text:?}"
            );
        }
        assert_eq!(
            find_ragged(&Content::Bytes(texts[1].as_bytes().to_vec()), 3, b','),
            Some(Ragged::Line { line: 5, fields: 2 })
        );
        assert_eq!(
            find_ragged(&Content::Bytes(texts[2].as_bytes().to_vec()), 3, b','),
            Some(Ragged::Line { line: 5, fields: 1 })
        );
    }
}
