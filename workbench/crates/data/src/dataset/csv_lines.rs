//! The raw-line walk the two scans of a CSV file's bytes share (`row_lines`: where each record
//! starts; `ragged`: the first row of the wrong width): the file in blocks of whole lines
//! through a mapping whose pages leave the process once scanned (a mapping read whole counts
//! the file's size in resident memory: +215 MB on a 250 MB file), and the quote rule that
//! tells which lines start a record. One rule for both, so the line a ragged row is named on
//! and the line a row is named on cannot disagree.

use std::ops::ControlFlow;

use super::csv_blocks::{block_ranges, Mapped};
use super::source::Content;

/// The block a file on disk is scanned in: large enough that the advice calls cost nothing,
/// small against memory.
pub(super) const SCAN_BLOCK_BYTES: usize = 32 << 20;

/// Feeds `c`'s bytes to `each` in blocks of whole lines (the last one ended by a line break
/// unless it ends the file), until `each` breaks: content in memory in one block, a file on
/// disk in blocks of about `block_bytes` whose pages are dropped once fed. Err when the file
/// cannot be opened or mapped.
pub(super) fn scan_blocks<B>(
    c: &Content,
    block_bytes: usize,
    mut each: impl FnMut(&[u8]) -> ControlFlow<B>,
) -> std::io::Result<ControlFlow<B>> {
    let path = match c {
        Content::Bytes(b) => return Ok(each(b)),
        Content::Path(p) => p,
    };
    let file = std::fs::File::open(path)?;
    let Some(map) = Mapped::open(&file)? else {
        return Ok(ControlFlow::Continue(()));
    };
    for range in block_ranges(map.bytes(), block_bytes) {
        let flow = each(&map.bytes()[range.clone()]);
        map.dont_need(range);
        if flow.is_break() {
            return Ok(flow);
        }
    }
    Ok(ControlFlow::Continue(()))
}

/// One line of the file as the quote rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Line<'a> {
    /// 1-based, counted from the first block fed.
    pub number: usize,
    /// Without its line break (a carriage return before it is kept).
    pub bytes: &'a [u8],
    /// No quoted field runs into it from an earlier line: a record starts here.
    pub starts_record: bool,
    /// Its double quotes.
    pub quotes: usize,
}

impl Line<'_> {
    /// A quoted field runs on past the line's end. Each quote toggles (a doubled quote inside
    /// a field toggles twice): an odd number of them opens a quote that runs past the line, or
    /// closes the one an earlier line opened.
    #[inline]
    pub fn runs_on(&self) -> bool {
        self.starts_record == (self.quotes % 2 == 1)
    }
}

/// The quote rule's state between blocks: lines so far, and whether a quoted field is open.
#[derive(Debug, Default)]
pub(super) struct QuotedLines {
    lines: usize,
    open: bool,
}

impl QuotedLines {
    /// `block`'s lines (whole lines: see [`scan_blocks`]), the state carried on as each is taken.
    pub fn lines<'s, 'a>(&'s mut self, block: &'a [u8]) -> Lines<'s, 'a> {
        Lines {
            state: self,
            block,
            pos: 0,
            done: false,
        }
    }
}

/// The lines of one block, in order ([`QuotedLines::lines`]): one vectorised pass for the line
/// break and one for the quotes per line.
pub(super) struct Lines<'s, 'a> {
    state: &'s mut QuotedLines,
    block: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Iterator for Lines<'_, 'a> {
    type Item = Line<'a>;

    #[inline]
    fn next(&mut self) -> Option<Line<'a>> {
        if self.done {
            return None;
        }
        let rest = &self.block[self.pos..];
        // A block ending in a line break has no line after it; one that does not (the file's
        // last line, or an empty block) ends with that line.
        let bytes = match memchr::memchr(b'\n', rest) {
            Some(i) => {
                self.pos += i + 1;
                self.done = self.pos == self.block.len();
                &rest[..i]
            }
            None => {
                self.done = true;
                rest
            }
        };
        self.state.lines += 1;
        let line = Line {
            number: self.state.lines,
            bytes,
            starts_record: !self.state.open,
            quotes: quotes(bytes),
        };
        self.state.open = line.runs_on();
        Some(line)
    }
}

/// The double quotes in `bytes`: most lines have none, and finding the first is cheaper than
/// counting them all.
#[inline]
fn quotes(bytes: &[u8]) -> usize {
    memchr::memchr(b'"', bytes).map_or(0, |i| 1 + memchr::memchr_iter(b'"', &bytes[i + 1..]).count())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cut anywhere between lines, the blocks give the lines the whole text gives, with the
    /// quote state carried across a cut inside a quoted field.
    #[test]
    fn lines_of_blocks_are_the_lines_of_the_whole_text() {
        let text = b"a,b\r\n1,\"x\n\ny\"\r\n\"\"\"\",2\n\n3,4";
        let whole: Vec<(usize, Vec<u8>, bool)> = QuotedLines::default()
            .lines(text)
            .map(|l| (l.number, l.bytes.to_vec(), l.starts_record))
            .collect();
        let starts: Vec<usize> = whole.iter().filter(|l| l.2).map(|l| l.0).collect();
        assert_eq!(starts, [1, 2, 5, 6, 7]);
        assert_eq!(whole[0].1, b"a,b\r");
        assert_eq!(whole.last().map(|l| l.1.as_slice()), Some(&b"3,4"[..]));
        for size in 1..text.len() + 2 {
            let mut state = QuotedLines::default();
            let mut got = Vec::new();
            for range in block_ranges(text, size) {
                got.extend(
                    state
                        .lines(&text[range])
                        .map(|l| (l.number, l.bytes.to_vec(), l.starts_record)),
                );
            }
            assert_eq!(got, whole, "{size}-byte blocks");
        }
        // A block ending in a line break has no empty line after it; empty content is one
        // empty line.
        assert_eq!(QuotedLines::default().lines(b"a\n").count(), 1);
        assert_eq!(QuotedLines::default().lines(b"").count(), 1);
    }
}
