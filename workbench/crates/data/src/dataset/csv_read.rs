//! Reading one CSV source into a table (`source::read_all` calls it per file): the column types
//! decided from the first lines, the typed read in blocks (`csv_blocks`), the all-text fallback when a
//! later value does not fit, and ragged rows turned into one clear error. See `source` for why.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor};
use std::sync::Arc;

use polars::prelude::*;

use super::csv_blocks::{read_mapped, Mapped};
use super::projection::cut;
use super::ragged::{find_ragged, Ragged};
use super::row_lines::RowLines;
use super::source::{Content, SourceFile};
use super::DataError;

/// The first `n` lines, decoded lossily (label bytes that are not UTF-8 must not stop detection).
pub(super) fn first_lines(c: &Content, name: &str, n: usize) -> Result<Vec<String>, DataError> {
    let reader: Box<dyn BufRead> = match c {
        Content::Path(p) => Box::new(BufReader::new(
            File::open(p).map_err(|e| DataError::io(name, "cannot open", e))?,
        )),
        Content::Bytes(b) => Box::new(Cursor::new(b.as_slice())),
    };
    let mut lines = Vec::new();
    for line in reader.split(b'\n').take(n) {
        let line = line.map_err(|e| DataError::io(name, "cannot read", e))?;
        let text = String::from_utf8_lossy(&line).trim_end_matches('\r').to_string();
        lines.push(text);
    }
    Ok(lines)
}

/// Splits one CSV line at `sep` (`,`, `;` or tab: see [`super::sniff::separator`]); double
/// quotes respected (the datasets here use none, user files may).
pub fn split_fields_by(line: &str, sep: u8) -> Vec<String> {
    let sep = char::from(sep);
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in line.chars() {
        match ch {
            '"' => quoted = !quoted,
            c if c == sep && !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Lines looked at to decide each column's type.
const TYPE_SAMPLE_LINES: usize = 2_000;

/// Whether numbers in a file with separator `sep` are written with a decimal comma (`12,5`):
/// a `;`-separated file is what a spreadsheet in a decimal-comma locale (most of Europe) saves
/// as "CSV", with its numbers so written. Polars then reads a comma as the decimal point (a
/// point too: `12.5` stays 12.5).
pub(super) fn decimal_comma(sep: u8) -> bool {
    sep == b';'
}

/// A value polars' CSV float parser reads as written (`6`, `6.0`, `1e5`, `Infinity`, `NaN`):
/// Rust's parser accepts the same forms and, like polars, no surrounding spaces. With a
/// decimal comma, `12,5` too (polars reads it as `12.5`).
fn parses_as_float(s: &str, decimal_comma: bool) -> bool {
    if decimal_comma && s.contains(',') {
        return s.replace(',', ".").parse::<f64>().is_ok();
    }
    s.parse::<f64>().is_ok()
}

/// Per column: whether every non-empty value in the sample lines is a number.
fn numeric_columns(
    c: &Content,
    name: &str,
    width: usize,
    has_header: bool,
    sep: u8,
) -> Result<Vec<bool>, DataError> {
    let lines = first_lines(c, name, TYPE_SAMPLE_LINES + 1)?;
    let mut numeric = vec![true; width];
    let mut seen = vec![false; width];
    for line in lines.iter().skip(usize::from(has_header)) {
        if line.is_empty() {
            continue;
        }
        for (i, v) in split_fields_by(line, sep).iter().enumerate().take(width) {
            if !v.is_empty() {
                seen[i] = true;
                numeric[i] &= parses_as_float(v, decimal_comma(sep));
            }
        }
    }
    // A column empty in every sampled line is read as text: its later values decide.
    Ok(numeric.iter().zip(&seen).map(|(n, s)| *n && *s).collect())
}

/// Bytes handed to the CSV reader at a time (`csv_blocks`). Reading a file in blocks (cut at
/// line ends) keeps its text out of memory: mapping the whole file, as a plain scan does, would
/// add its size to the process's resident memory on top of the table. Blocks are parsed one
/// per CPU, so small enough that the last one does not leave the other CPUs idle for long.
const BLOCK_BYTES: usize = 32 << 20;

/// The parse rules every eager CSV read here shares (polars' lazy reader takes the same four
/// settings one by one in `typed_reader`): labels decoded lossily, an empty field is null, a
/// ragged line is an error; a `;` file's numbers with a decimal comma ([`decimal_comma`]).
pub(super) fn parse_options(sep: u8) -> CsvParseOptions {
    CsvParseOptions::default()
        .with_separator(sep)
        .with_decimal_comma(decimal_comma(sep))
        .with_encoding(CsvEncoding::LossyUtf8)
        .with_missing_is_null(true)
        .with_truncate_ragged_lines(false)
}

fn typed_reader(
    sources: ScanSources,
    schema: &Arc<Schema>,
    skip: usize,
    sep: u8,
    keep: Option<&[bool]>,
) -> PolarsResult<DataFrame> {
    let loose = super::projection::unread_as_text(schema, keep);
    let scan = LazyCsvReader::new_with_sources(sources)
        .with_has_header(false)
        .with_separator(sep)
        .with_decimal_comma(decimal_comma(sep))
        .with_skip_rows(skip)
        .with_schema(Some(loose))
        .with_raise_if_empty(false)
        .with_encoding(CsvEncoding::LossyUtf8)
        .with_missing_is_null(true)
        .with_truncate_ragged_lines(false)
        .finish()?;
    // Read whole, then cut: polars given a projection does not refuse a line with too many
    // fields. The files read this way (double quotes, zip entries) are the uncommon ones.
    cut(scan.collect_with_engine(Engine::Streaming)?, keep)
}

fn buffer(bytes: Vec<u8>) -> ScanSources {
    ScanSources::Buffers(Arc::from(vec![polars::polars_utils::mmap::MemSlice::from_vec(
        bytes,
    )]))
}

/// The file through polars' CSV reader with the given types, in blocks of whole lines parsed
/// in place from a memory map (`csv_blocks`); Err on any value that does not fit (the caller
/// then reads it as text). A file with a double quote anywhere is read in one piece by the
/// streaming reader (a quoted field may hold a line break, so a block boundary could fall
/// inside a row); so is a zip entry, already in memory.
fn read_typed(
    c: &Content,
    names: &[String],
    numeric: &[bool],
    has_header: bool,
    sep: u8,
    keep: Option<&[bool]>,
) -> PolarsResult<(DataFrame, bool)> {
    read_typed_blocks(c, names, numeric, has_header, BLOCK_BYTES, sep, keep)
}

fn read_typed_blocks(
    c: &Content,
    names: &[String],
    numeric: &[bool],
    has_header: bool,
    block_bytes: usize,
    sep: u8,
    keep: Option<&[bool]>,
) -> PolarsResult<(DataFrame, bool)> {
    let schema: Schema = names
        .iter()
        .zip(numeric)
        .map(|(n, &num)| {
            let dtype = if num { DataType::Float64 } else { DataType::String };
            Field::new(n.as_str().into(), dtype)
        })
        .collect();
    let schema = Arc::new(schema);
    let skip = usize::from(has_header);
    // Only the plain reader vouches for one row per line (false: the rows' lines are scanned).
    let whole = |r: PolarsResult<DataFrame>| r.map(|f| (f, false));
    let path = match c {
        Content::Bytes(b) => return whole(typed_reader(buffer(b.clone()), &schema, skip, sep, keep)),
        Content::Path(p) => p,
    };
    let file = File::open(path)?;
    let map = match Mapped::open(&file) {
        Ok(Some(map)) => map,
        Ok(None) => return whole(typed_reader(buffer(Vec::new()), &schema, 0, sep, keep)),
        // A file system that cannot map files: read it whole, as a zip entry is.
        Err(_) => {
            return whole(typed_reader(
                buffer(std::fs::read(path)?),
                &schema,
                skip,
                sep,
                keep,
            ))
        }
    };
    if let Some(read) = read_mapped(&map, &schema, skip, block_bytes, sep, keep)? {
        return Ok(read);
    }
    // Quoted fields: one piece through the scanner.
    drop(map);
    whole(typed_reader(
        ScanSources::Files(Arc::from(vec![file])),
        &schema,
        skip,
        sep,
        keep,
    ))
}

/// The CSV source as a table of the columns `keep` marks (per name; None: all of them), with
/// the line each row starts on (None when it cannot be told: no line is named then, rather
/// than a wrong one). Blank rows, whose line holds nothing but separators, are removed; a row
/// empty only in the columns read is kept, as a read of every column keeps it.
pub(super) fn read_csv(
    src: &SourceFile,
    c: Content,
    names: &[String],
    has_header: bool,
    sep: u8,
    keep: Option<&[bool]>,
) -> Result<(DataFrame, Option<RowLines>), DataError> {
    let name = src.display_name();
    let numeric = numeric_columns(&c, &name, names.len(), has_header, sep)?;
    // Only the columns read decide whether a typed read is worth trying.
    let typed = if numeric
        .iter()
        .enumerate()
        .any(|(i, &n)| n && keep.is_none_or(|k| k.get(i).copied().unwrap_or(true)))
    {
        read_typed(&c, names, &numeric, has_header, sep, keep).ok()
    } else {
        None
    };
    let (result, plain) = match typed {
        Some((frame, plain)) => (Ok(frame), plain),
        None => (read_text(&c, names, has_header, sep, keep), false),
    };
    let (frame, empty) = finish_csv(&name, &c, names, result, sep)?;
    let skip = usize::from(has_header);
    if plain && empty.is_empty() {
        return Ok((frame, Some(RowLines::from_line(1 + skip))));
    }
    // Which rows are blank is told on the file's bytes, not on the columns read (a projected
    // read cannot see the others): the same scan finds the rows' lines.
    let started = std::time::Instant::now();
    let scan = super::row_lines::scanned(&c, sep, skip, frame.height(), &empty);
    super::phase("row lines (scan)", started);
    let frame = without_rows(frame, &scan.removed).map_err(|e| DataError::polars(&name, "", e))?;
    Ok((frame, scan.lines))
}

/// `frame` without the rows at `rows` (ascending indices).
fn without_rows(frame: DataFrame, rows: &[usize]) -> PolarsResult<DataFrame> {
    if rows.is_empty() {
        return Ok(frame);
    }
    let mut gone = rows.iter().copied().peekable();
    let keep: BooleanChunked = (0..frame.height())
        .map(|i| gone.next_if_eq(&i).is_none())
        .collect();
    frame.filter(&keep)
}

/// Every column as text (the fallback that cannot fail on a value).
fn read_text(
    c: &Content,
    names: &[String],
    has_header: bool,
    sep: u8,
    keep: Option<&[bool]>,
) -> PolarsResult<DataFrame> {
    let schema: Schema = names
        .iter()
        .map(|n| Field::new(n.as_str().into(), DataType::String))
        .collect();
    let options = CsvReadOptions::default()
        .with_has_header(false)
        .with_skip_rows(usize::from(has_header))
        .with_schema(Some(Arc::new(schema)))
        .with_raise_if_empty(false)
        .with_parse_options(parse_options(sep));
    let whole = match c {
        Content::Path(p) => options
            .try_into_reader_with_file_path(Some(p.clone()))
            .and_then(polars::prelude::SerReader::finish),
        Content::Bytes(b) => options
            .into_reader_with_file_handle(Cursor::new(b.as_slice()))
            .finish(),
    }?;
    cut(whole, keep)
}

/// Ragged rows to one clear error: the table, and the rows with no value in any column read
/// (ascending; whether they are blank rows, empty in the columns not read too, is for the scan
/// of the file's lines to tell: `row_lines::scanned`).
fn finish_csv(
    name: &str,
    c: &Content,
    names: &[String],
    result: PolarsResult<DataFrame>,
    sep: u8,
) -> Result<(DataFrame, Vec<usize>), DataError> {
    let ragged = |c: &Content| {
        let sep_name = super::sniff::separator_name(sep);
        let header = names.len();
        find_ragged(c, header, sep).map(|r| {
            DataError::file(
                name,
                match r {
                    Ragged::Line { line, fields } => format!(
                        "line {line} has {fields} fields, the header has {header} (ragged row, fields \
                         separated by {sep_name}); give every row as many fields as the header, or \
                         remove the row"
                    ),
                    Ragged::Unclosed { line } => format!(
                        "an opening double quote at line {line} is never closed, so the rest of the \
                         file reads as one field; close the quote (a `\"` inside a quoted field is \
                         written `\"\"`) or remove it"
                    ),
                    Ragged::Spans { line, end, fields } => format!(
                        "a double quote opened at line {line} closes only at line {end}, so lines \
                         {line}-{end} read as one row of {fields} fields where the header has {header} \
                         (fields separated by {sep_name}); close the quote on line {line} (a `\"` \
                         inside a quoted field is written `\"\"`) or remove it"
                    ),
                },
            )
        })
    };
    let frame = match result {
        Ok(f) => f,
        Err(e) => {
            return Err(ragged(c).unwrap_or_else(|| DataError::file(
                    name,
                    format!(
                        "cannot parse CSV: {e}; check that it is a table (one header line, fields separated by {})",
                        super::sniff::separator_name(sep)
                    ),
                )))
        }
    };
    // Polars fills a short row with nulls; a null in the last column is the cheap hint to look.
    let last_has_nulls = frame.get_columns().last().is_some_and(|l| l.null_count() > 0);
    if !last_has_nulls {
        return Ok((frame, Vec::new()));
    }
    if let Some(e) = ragged(c) {
        return Err(e);
    }
    // Rows with no value read: blank lines among them (polars reads one after a lone header).
    let mut empty = vec![true; frame.height()];
    for col in frame.get_columns() {
        let nulls = col.is_null();
        for (b, n) in empty.iter_mut().zip(&nulls) {
            *b &= n == Some(true);
        }
    }
    let empty = empty
        .iter()
        .enumerate()
        .filter(|(_, &b)| b)
        .map(|(i, _)| i)
        .collect();
    Ok((frame, empty))
}

#[cfg(test)]
#[path = "csv_read_tests.rs"]
mod tests;
