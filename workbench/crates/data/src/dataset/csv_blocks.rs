//! The typed CSV read of a file on disk, block by block from a memory map (`csv_read` decides
//! the types and calls it).
//!
//! Why blocks, and why mapped: mapping the whole 0.96 GB CIC-IDS2017-sized file and handing it to
//! polars in one piece adds the file's size to the process's resident memory (mapped pages count,
//! 2.69 GB peak, over the 0.5x-pandas budget); reading it with `read` into 64 MiB buffers kept
//! the memory down but cost a zero-filled allocation, a copy and a pause of every parsing thread
//! per block (docs/BENCHMARKS.md, "Loading"). Here the file is mapped once, each block of whole
//! lines is parsed in place, and its pages are dropped from the process (`MADV_DONTNEED`: they
//! stay in the page cache) as soon as its table is built, while the next block is already being
//! parsed, so the two CPUs do not wait between blocks.

use std::fs::File;
use std::io::Cursor;

use polars::prelude::*;

/// A read-only mapping of a whole file (memmap2, which polars builds already).
#[derive(Debug)]
pub(super) struct Mapped(memmap2::Mmap);

impl Mapped {
    /// Maps `file` (None for an empty file: there is nothing to map).
    pub(super) fn open(file: &File) -> std::io::Result<Option<Mapped>> {
        if file.metadata()?.len() == 0 {
            return Ok(None);
        }
        // SAFETY: memmap2's contract is that the file is not changed while it is mapped. The
        // mapping is read-only; a file truncated by another process during the load ends it
        // with SIGBUS, as polars' own scans of a mapped file do (docs/DATA.md).
        let map = unsafe { memmap2::MmapOptions::new().map(file)? };
        Ok(Some(Mapped(map)))
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Asks the kernel to map `range`'s pages ahead (a hint: failure changes nothing).
    fn will_need(&self, range: std::ops::Range<usize>) {
        let _ = self
            .0
            .advise_range(memmap2::Advice::WillNeed, range.start, range.len());
    }

    /// Drops `range`'s pages from the process (they stay in the page cache; a hint).
    pub(super) fn dont_need(&self, range: std::ops::Range<usize>) {
        // SAFETY: DONTNEED on a read-only file mapping only drops page-table entries: a later
        // read of a page (memmap2 widens the range to whole pages, so the next block's first
        // page may be one) maps the page-cache page again, with the same bytes.
        let _ = unsafe {
            self.0
                .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, range.start, range.len())
        };
    }
}

/// Byte ranges of about `block_bytes`, each ending after a line break (the last at the end).
pub(super) fn block_ranges(bytes: &[u8], block_bytes: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let want = start.saturating_add(block_bytes.max(1)).min(bytes.len());
        let end = if want == bytes.len() {
            want
        } else {
            // After the last line break in the block; a line longer than a block runs on to its
            // own end.
            match bytes[start..want].iter().rposition(|&b| b == b'\n') {
                Some(i) => start + i + 1,
                None => bytes[want..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |i| want + i + 1),
            }
        };
        out.push(start..end);
        start = end;
    }
    out
}

/// Blocks parsed at once: one per CPU (the plain reader, `csv_fast`, is one thread per block;
/// with polars' multi-threaded reader, the next block keeps the CPUs busy while one block's
/// last lines are parsed).
fn blocks_in_flight() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 16))
}

/// One block (whole lines) with the given types: by the plain reader when it takes the block on
/// (true: then one row per line), else by polars' multi-threaded CSV reader (false); None when
/// the block holds a double quote. Only the
/// columns `keep` marks are in the table (all with None): the plain reader never stores the
/// others; polars reads the block whole, the others as text (a value in them is never a reason
/// to fall back), and it is cut after, since polars given a projection does not refuse a line
/// with too many fields (one block's columns, for a moment).
fn parse_block(
    bytes: &[u8],
    schema: &SchemaRef,
    skip: usize,
    sep: u8,
    keep: Option<&[bool]>,
) -> PolarsResult<Option<(DataFrame, bool)>> {
    if bytes.contains(&b'"') {
        return Ok(None);
    }
    if let Some(frame) = super::csv_fast::parse_plain(bytes, schema, skip, sep, keep) {
        return Ok(Some((frame, true)));
    }
    let whole = CsvReadOptions::default()
        .with_has_header(false)
        .with_skip_rows(skip)
        .with_schema(Some(super::projection::unread_as_text(schema, keep)))
        .with_raise_if_empty(false)
        .with_rechunk(false)
        .with_parse_options(super::csv_read::parse_options(sep))
        .into_reader_with_file_handle(Cursor::new(bytes))
        .finish()?;
    super::projection::cut(whole, keep).map(|f| Some((f, false)))
}

/// The mapped file in blocks of whole lines, [`blocks_in_flight`] parsed at once, stacked in
/// file order; Err on the first value that does not fit `schema`; None when a block holds a
/// double quote (a quoted field may hold a line break, so a cut could fall inside a row). Only
/// the columns `keep` marks are read into the table (all with None): the others never exist.
/// The flag: every block went through the plain reader, so the file has one row per line.
pub(super) fn read_mapped(
    map: &Mapped,
    schema: &SchemaRef,
    skip: usize,
    block_bytes: usize,
    sep: u8,
    keep: Option<&[bool]>,
) -> PolarsResult<Option<(DataFrame, bool)>> {
    type Parse<'s> = std::thread::ScopedJoinHandle<'s, PolarsResult<Option<(DataFrame, bool)>>>;
    let ranges = block_ranges(map.bytes(), block_bytes);
    let in_flight = blocks_in_flight();
    std::thread::scope(|s| {
        let mut frame: Option<DataFrame> = None;
        let mut plain = true;
        let mut pending: std::collections::VecDeque<(std::ops::Range<usize>, Parse<'_>)> =
            std::collections::VecDeque::new();
        // The oldest block's table onto the stack; false when that block holds a quote.
        let mut take_oldest =
            |pending: &mut std::collections::VecDeque<(std::ops::Range<usize>, Parse<'_>)>| {
                let Some((range, parse)) = pending.pop_front() else {
                    return Ok(true);
                };
                let part = parse
                    .join()
                    .map_err(|_| PolarsError::ComputeError("a CSV reader thread panicked".into()))??;
                // Its text is no longer needed: out of the process's memory (still in the page cache).
                map.dont_need(range);
                let Some((part, part_plain)) = part else {
                    return Ok(false);
                };
                plain &= part_plain;
                match &mut frame {
                    None => frame = Some(part),
                    Some(acc) => {
                        acc.vstack_mut_owned(part)?;
                    }
                }
                PolarsResult::Ok(true)
            };
        for (i, range) in ranges.iter().cloned().enumerate() {
            // The kernel maps the block's pages ahead (from the page cache, usually) while the
            // previous block is parsed.
            map.will_need(range.clone());
            let skip = if i == 0 { skip } else { 0 };
            let bytes = &map.bytes()[range.clone()];
            let parse = std::thread::Builder::new()
                .name("csv-block".into())
                .spawn_scoped(s, move || parse_block(bytes, schema, skip, sep, keep))
                .map_err(|e| {
                    PolarsError::ComputeError(format!("cannot start a CSV reader thread: {e}").into())
                })?;
            pending.push_back((range, parse));
            while pending.len() >= in_flight {
                if !take_oldest(&mut pending)? {
                    return Ok(None);
                }
            }
        }
        while !pending.is_empty() {
            if !take_oldest(&mut pending)? {
                return Ok(None);
            }
        }
        let frame = frame
            .unwrap_or_else(|| DataFrame::empty_with_schema(&super::projection::kept_schema(schema, keep)));
        Ok(Some((frame, plain)))
    })
}

#[cfg(test)]
mod tests {
    use super::block_ranges;

    #[test]
    fn blocks_end_after_line_breaks_and_cover_the_file() {
        let text = b"a,b\n1,2\n333333333,4\n5,6";
        for size in 1..text.len() + 2 {
            let ranges = block_ranges(text, size);
            assert_eq!(ranges.first().map(|r| r.start), Some(0));
            assert_eq!(ranges.last().map(|r| r.end), Some(text.len()));
            for w in ranges.windows(2) {
                assert_eq!(w[0].end, w[1].start);
                assert_eq!(text[w[0].end - 1], b'\n');
            }
        }
    }
}
