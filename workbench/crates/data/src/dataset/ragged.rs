//! Ragged rows: the first row whose field count differs from the header's, for the one clear
//! error `csv_read` gives instead of polars' rows filled with nulls. It runs whenever the last
//! column read holds a null (the cheap hint), so it must cost little on a large file: lines
//! without a double quote are counted on their bytes (separators found by memchr, no string
//! made), and a file on disk is read through a mapping in blocks whose pages leave the process.
//! Read line by line into strings, one empty label made a 250 MB file's read take 3.0-4.2 s
//! instead of 0.6-0.9 s; counted on the bytes, 0.8-1.0 s (release build).

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

/// The block a file on disk is read in.
const BLOCK_BYTES: usize = 32 << 20;

/// The first row whose field count differs from `expected`. A quoted field may hold line
/// breaks, so a row runs on until its quotes close; a quote that never closes (or closes lines
/// later in a row of the wrong width) is named as such, since a field count alone hides it.
pub(super) fn find_ragged(c: &Content, expected: usize, sep: u8) -> Option<Ragged> {
    let mut check = Check {
        expected,
        sep,
        lines: 0,
        open: None,
    };
    match c {
        Content::Bytes(b) => {
            if let Some(r) = check.feed(b) {
                return Some(r);
            }
        }
        Content::Path(p) => {
            let file = std::fs::File::open(p).ok()?;
            if let Some(map) = super::csv_blocks::Mapped::open(&file).ok()? {
                for range in super::csv_blocks::block_ranges(map.bytes(), BLOCK_BYTES) {
                    if let Some(r) = check.feed(&map.bytes()[range.clone()]) {
                        return Some(r);
                    }
                    map.dont_need(range);
                }
            }
        }
    }
    check.open.map(|(line, _)| Ragged::Unclosed { line })
}

/// The scan's state between blocks of whole lines.
struct Check {
    expected: usize,
    sep: u8,
    /// Lines read so far.
    lines: usize,
    /// The row being read when it runs over several lines: its first line and its text so far.
    open: Option<(usize, String)>,
}

impl Check {
    fn feed(&mut self, bytes: &[u8]) -> Option<Ragged> {
        let mut start = 0;
        let ends =
            memchr::memchr_iter(b'\n', bytes).chain((bytes.last() != Some(&b'\n')).then_some(bytes.len()));
        for end in ends {
            let mut raw = &bytes[start..end];
            start = end + 1;
            self.lines += 1;
            let i = self.lines;
            while let Some(rest) = raw.strip_suffix(b"\r") {
                raw = rest;
            }
            // Most lines: no quote, no row running on. Separators counted on the bytes.
            if self.open.is_none() && memchr::memchr(b'"', raw).is_none() {
                if raw.is_empty() {
                    continue;
                }
                let n = 1 + memchr::memchr_iter(self.sep, raw).count();
                if n != self.expected {
                    return Some(Ragged::Line { line: i, fields: n });
                }
                continue;
            }
            let text = String::from_utf8_lossy(raw).into_owned();
            let (start_line, row, was_quoted) = match self.open.take() {
                Some((start_line, mut row)) => {
                    row.push('\n');
                    row.push_str(&text);
                    (start_line, row, true)
                }
                None => (i, text.clone(), false),
            };
            // Each quote toggles (a doubled quote inside a field toggles twice): an odd number
            // of them opens a quote that runs past the line, or closes the one an earlier line
            // opened.
            let odd = text.bytes().filter(|&b| b == b'"').count() % 2 == 1;
            if was_quoted != odd {
                // A quoted field of a megabyte is no field: the quote is not closed (and the
                // rest of a large file is not gathered into one string to find that out).
                if row.len() > MAX_QUOTED_ROW_BYTES {
                    return Some(Ragged::Unclosed { line: start_line });
                }
                self.open = Some((start_line, row));
                continue;
            }
            let n = split_fields_by(&row, self.sep).len();
            if n != self.expected {
                return Some(if i > start_line {
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
        None
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
                let mut check = Check {
                    expected: 3,
                    sep: b',',
                    lines: 0,
                    open: None,
                };
                let mut found = None;
                for range in super::super::csv_blocks::block_ranges(text.as_bytes(), block) {
                    found = check.feed(&text.as_bytes()[range]);
                    if found.is_some() {
                        break;
                    }
                }
                let found = found.or_else(|| check.open.map(|(line, _)| Ragged::Unclosed { line }));
                assert_eq!(found, whole, "{text:?} in {block}-byte blocks");
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
