//! Reading one CSV source into a table (`source::read_all` calls it per file): the column types
//! decided from the first lines, the streaming typed read in blocks, the all-text fallback when a
//! later value does not fit, and ragged rows turned into one clear error. See `source` for why.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::sync::Arc;

use polars::prelude::*;

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

/// The first line whose field count differs from `expected` (1-based line number, fields).
fn find_ragged(c: &Content, expected: usize, sep: u8) -> Option<(usize, usize)> {
    let reader: Box<dyn BufRead> = match c {
        Content::Path(p) => Box::new(BufReader::new(File::open(p).ok()?)),
        Content::Bytes(b) => Box::new(Cursor::new(b.as_slice())),
    };
    for (i, line) in reader.split(b'\n').enumerate() {
        let text = String::from_utf8_lossy(&line.ok()?)
            .trim_end_matches('\r')
            .to_string();
        if text.is_empty() {
            continue;
        }
        let n = split_fields_by(&text, sep).len();
        if n != expected {
            return Some((i + 1, n));
        }
    }
    None
}

/// Lines looked at to decide each column's type.
const TYPE_SAMPLE_LINES: usize = 2_000;

/// A value polars' CSV float parser reads as written (`6`, `6.0`, `1e5`, `Infinity`, `NaN`):
/// Rust's parser accepts the same forms and, like polars, no surrounding spaces.
fn parses_as_float(s: &str) -> bool {
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
                numeric[i] &= parses_as_float(v);
            }
        }
    }
    // A column empty in every sampled line is read as text: its later values decide.
    Ok(numeric.iter().zip(&seen).map(|(n, s)| *n && *s).collect())
}

/// Bytes handed to the CSV reader at a time. Reading a file in blocks (cut at line ends) keeps
/// its text out of memory: mapping the whole file, as a plain scan does, would add its size to
/// the process's resident memory on top of the table.
const BLOCK_BYTES: usize = 64 << 20;

fn typed_reader(sources: ScanSources, schema: &Arc<Schema>, skip: usize, sep: u8) -> PolarsResult<DataFrame> {
    LazyCsvReader::new_with_sources(sources)
        .with_has_header(false)
        .with_separator(sep)
        .with_skip_rows(skip)
        .with_schema(Some(schema.clone()))
        .with_raise_if_empty(false)
        .with_encoding(CsvEncoding::LossyUtf8)
        .with_missing_is_null(true)
        .with_truncate_ragged_lines(false)
        .finish()?
        .collect_with_engine(Engine::Streaming)
}

fn buffer(bytes: Vec<u8>) -> ScanSources {
    ScanSources::Buffers(Arc::from(vec![polars::polars_utils::mmap::MemSlice::from_vec(
        bytes,
    )]))
}

/// The file through polars' streaming CSV reader with the given types, one block of whole
/// lines at a time; Err on any value that does not fit (the caller then reads it as text).
/// A file with a double quote anywhere is read in one piece (a quoted field may hold a line
/// break, so a block boundary could fall inside a row).
fn read_typed(
    c: &Content,
    names: &[String],
    numeric: &[bool],
    has_header: bool,
    sep: u8,
) -> PolarsResult<DataFrame> {
    read_typed_blocks(c, names, numeric, has_header, BLOCK_BYTES, sep)
}

fn read_typed_blocks(
    c: &Content,
    names: &[String],
    numeric: &[bool],
    has_header: bool,
    block_bytes: usize,
    sep: u8,
) -> PolarsResult<DataFrame> {
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
    let path = match c {
        Content::Bytes(b) => return typed_reader(buffer(b.clone()), &schema, skip, sep),
        Content::Path(p) => p,
    };
    let mut file = File::open(path)?;
    let mut frame: Option<DataFrame> = None;
    let mut carry: Vec<u8> = Vec::new();
    let mut first = true;
    loop {
        let mut block = std::mem::take(&mut carry);
        let start = block.len();
        block.resize(start + block_bytes, 0);
        let mut filled = start;
        while filled < block.len() {
            let n = file.read(&mut block[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        block.truncate(filled);
        let at_end = filled < start + block_bytes;
        if block.contains(&b'"') {
            // Quoted fields: one piece through the scanner (the file is mapped, not read).
            let f = File::open(path)?;
            return typed_reader(ScanSources::Files(Arc::from(vec![f])), &schema, skip, sep);
        }
        if !at_end {
            // Cut after the last complete line; the rest starts the next block.
            let cut = block.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            carry = block.split_off(cut);
        }
        if !block.is_empty() {
            let part = typed_reader(buffer(block), &schema, if first { skip } else { 0 }, sep)?;
            first = false;
            match &mut frame {
                None => frame = Some(part),
                Some(acc) => {
                    acc.vstack_mut_owned(part)?;
                }
            }
        }
        if at_end {
            break;
        }
    }
    frame.map_or_else(|| typed_reader(buffer(Vec::new()), &schema, 0, sep), Ok)
}

pub(super) fn read_csv(
    src: &SourceFile,
    c: Content,
    names: &[String],
    has_header: bool,
    sep: u8,
) -> Result<DataFrame, DataError> {
    let name = src.display_name();
    let numeric = numeric_columns(&c, &name, names.len(), has_header, sep)?;
    let typed = if numeric.iter().any(|&n| n) {
        read_typed(&c, names, &numeric, has_header, sep).ok()
    } else {
        None
    };
    let result = match typed {
        Some(frame) => Ok(frame),
        None => read_text(&c, names, has_header, sep),
    };
    finish_csv(&name, &c, names, result, sep)
}

/// Every column as text (the fallback that cannot fail on a value).
fn read_text(c: &Content, names: &[String], has_header: bool, sep: u8) -> PolarsResult<DataFrame> {
    let schema: Schema = names
        .iter()
        .map(|n| Field::new(n.as_str().into(), DataType::String))
        .collect();
    let options = CsvReadOptions::default()
        .with_has_header(false)
        .with_skip_rows(usize::from(has_header))
        .with_schema(Some(Arc::new(schema)))
        .with_raise_if_empty(false)
        .with_parse_options(
            CsvParseOptions::default()
                .with_separator(sep)
                .with_encoding(CsvEncoding::LossyUtf8)
                .with_missing_is_null(true)
                .with_truncate_ragged_lines(false),
        );
    match c {
        Content::Path(p) => options
            .try_into_reader_with_file_path(Some(p.clone()))
            .and_then(polars::prelude::SerReader::finish),
        Content::Bytes(b) => options
            .into_reader_with_file_handle(Cursor::new(b.as_slice()))
            .finish(),
    }
}

/// Ragged rows to one clear error, blank lines removed.
fn finish_csv(
    name: &str,
    c: &Content,
    names: &[String],
    result: PolarsResult<DataFrame>,
    sep: u8,
) -> Result<DataFrame, DataError> {
    let ragged = |c: &Content| {
        find_ragged(c, names.len(), sep).map(|(line, n)| {
            DataError::file(
                name,
                format!(
                    "line {line} has {n} fields, the header has {} (ragged row, fields separated by {}); \
                     give every row as many fields as the header, or remove the row",
                    names.len(),
                    super::sniff::separator_name(sep)
                ),
            )
        })
    };
    let mut frame = match result {
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
    if last_has_nulls {
        if let Some(e) = ragged(c) {
            return Err(e);
        }
        // Rows with no value at all are blank lines (polars reads one after a lone header).
        let mut blank = vec![true; frame.height()];
        for col in frame.get_columns() {
            let nulls = col.is_null();
            for (b, n) in blank.iter_mut().zip(&nulls) {
                *b &= n == Some(true);
            }
        }
        if blank.iter().any(|&b| b) {
            let keep: BooleanChunked = blank.iter().map(|&b| !b).collect();
            frame = frame.filter(&keep).map_err(|e| DataError::polars(name, "", e))?;
        }
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::super::source::content;
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(std::string::ToString::to_string).collect()
    }

    #[test]
    fn blocks_cut_at_line_ends_give_the_same_table_as_one_piece() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let p = tmp.path().join("t.csv");
        let mut text = String::from(" a, b,Label\n");
        for i in 0..500 {
            let b = if i % 97 == 0 {
                "Infinity".to_string()
            } else {
                format!("{}.5", i * 3)
            };
            text.push_str(&format!(
                "{i},{b},{}\n",
                if i % 2 == 0 { "BENIGN" } else { "DoS" }
            ));
        }
        text.push_str("7,NaN,DoS"); // no final line break
        std::fs::write(&p, &text).expect("write");
        let c = Content::Path(p);
        let n = names(&["a", "b", "Label"]);
        let numeric = numeric_columns(&c, "t.csv", 3, true, b',').expect("sample");
        assert_eq!(numeric, [true, true, false]);
        let whole = read_typed_blocks(&c, &n, &numeric, true, 1 << 20, b',').expect("whole");
        // 37-byte blocks: every block boundary falls inside a line.
        let pieces = read_typed_blocks(&c, &n, &numeric, true, 37, b',').expect("blocks");
        assert_eq!(whole.height(), 501);
        assert!(whole.equals_missing(&pieces));
        let b = whole.column("b").expect("b").f64().expect("f64").clone();
        assert_eq!(b.get(0), Some(f64::INFINITY));
        assert!(b.get(500).is_some_and(f64::is_nan));
    }

    #[test]
    fn a_value_that_does_not_fit_the_sampled_type_falls_back_to_text() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let p = tmp.path().join("late-hex.csv");
        let mut text = String::from("sport,label\n");
        for i in 0..TYPE_SAMPLE_LINES + 10 {
            text.push_str(&format!("{i},0\n"));
        }
        text.push_str("0xc0a8,1\n");
        std::fs::write(&p, &text).expect("write");
        let src = SourceFile { path: p, entry: None };
        let c = content(&src).expect("content");
        let n = names(&["sport", "label"]);
        let frame = read_csv(&src, c, &n, true, b',').expect("read");
        assert_eq!(frame.height(), TYPE_SAMPLE_LINES + 11);
        // Read as text; the cleaning step turns the hex port into 49320.
        let sport = frame.column("sport").expect("sport");
        assert_eq!(sport.dtype(), &DataType::String);
        assert_eq!(
            sport.str().expect("str").get(TYPE_SAMPLE_LINES + 10),
            Some("0xc0a8")
        );
    }
}
