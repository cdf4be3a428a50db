//! Reading one CSV source into a table (`source::read_all` calls it per file): the column types
//! decided from the first lines, the typed read in blocks (`csv_blocks`), the all-text fallback when a
//! later value does not fit, and ragged rows turned into one clear error. See `source` for why.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor};
use std::sync::Arc;

use polars::prelude::*;

use super::csv_blocks::{read_mapped, Mapped};
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

/// A row whose field count differs from the header's, as [`find_ragged`] finds it.
#[derive(Debug, PartialEq, Eq)]
enum Ragged {
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
fn find_ragged(c: &Content, expected: usize, sep: u8) -> Option<Ragged> {
    let reader: Box<dyn BufRead> = match c {
        Content::Path(p) => Box::new(BufReader::new(File::open(p).ok()?)),
        Content::Bytes(b) => Box::new(Cursor::new(b.as_slice())),
    };
    // The row being read when it runs over several lines: its first line and its text so far.
    let mut open: Option<(usize, String)> = None;
    for (i, line) in reader.split(b'\n').enumerate() {
        let text = String::from_utf8_lossy(&line.ok()?)
            .trim_end_matches('\r')
            .to_string();
        let (start, row, was_quoted) = match open.take() {
            Some((start, mut row)) => {
                row.push('\n');
                row.push_str(&text);
                (start, row, true)
            }
            None if text.is_empty() => continue,
            None => (i + 1, text.clone(), false),
        };
        // Each quote toggles (a doubled quote inside a field toggles twice): an odd number of
        // them opens a quote that runs past the line, or closes the one an earlier line opened.
        let odd = text.bytes().filter(|&b| b == b'"').count() % 2 == 1;
        let quoted = was_quoted != odd;
        if quoted {
            // A quoted field of a megabyte is no field: the quote is not closed (and the rest
            // of a large file is not gathered into one string to find that out).
            if row.len() > MAX_QUOTED_ROW_BYTES {
                return Some(Ragged::Unclosed { line: start });
            }
            open = Some((start, row));
            continue;
        }
        let n = split_fields_by(&row, sep).len();
        if n != expected {
            let end = i + 1;
            return Some(if end > start {
                Ragged::Spans {
                    line: start,
                    end,
                    fields: n,
                }
            } else {
                Ragged::Line {
                    line: start,
                    fields: n,
                }
            });
        }
    }
    open.map(|(line, _)| Ragged::Unclosed { line })
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

fn typed_reader(sources: ScanSources, schema: &Arc<Schema>, skip: usize, sep: u8) -> PolarsResult<DataFrame> {
    LazyCsvReader::new_with_sources(sources)
        .with_has_header(false)
        .with_separator(sep)
        .with_decimal_comma(decimal_comma(sep))
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
    let file = File::open(path)?;
    let map = match Mapped::open(&file) {
        Ok(Some(map)) => map,
        Ok(None) => return typed_reader(buffer(Vec::new()), &schema, 0, sep),
        // A file system that cannot map files: read it whole, as a zip entry is.
        Err(_) => return typed_reader(buffer(std::fs::read(path)?), &schema, skip, sep),
    };
    if let Some(frame) = read_mapped(&map, &schema, skip, block_bytes, sep)? {
        return Ok(frame);
    }
    // Quoted fields: one piece through the scanner.
    drop(map);
    typed_reader(ScanSources::Files(Arc::from(vec![file])), &schema, skip, sep)
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
        .with_parse_options(parse_options(sep));
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
        // 37-byte blocks: every block boundary falls inside a line, two blocks parse at once.
        let pieces = read_typed_blocks(&c, &n, &numeric, true, 37, b',').expect("blocks");
        assert_eq!(whole.height(), 501);
        assert!(whole.equals_missing(&pieces));
        // The same as polars' streaming reader over the whole file (the path before blocks).
        let schema = Arc::new(Schema::from_iter([
            Field::new("a".into(), DataType::Float64),
            Field::new("b".into(), DataType::Float64),
            Field::new("Label".into(), DataType::String),
        ]));
        let file = File::open(tmp.path().join("t.csv")).expect("open");
        let scanned =
            typed_reader(ScanSources::Files(Arc::from(vec![file])), &schema, 1, b',').expect("scan");
        assert!(scanned.equals_missing(&pieces));
        let b = whole.column("b").expect("b").f64().expect("f64").clone();
        assert_eq!(b.get(0), Some(f64::INFINITY));
        assert!(b.get(500).is_some_and(f64::is_nan));
    }

    /// A late value that does not fit lies in a later block, parsed while an earlier one is:
    /// the typed read fails as a whole (no partial table) and the text read has every row.
    #[test]
    fn a_late_value_in_a_later_block_fails_the_typed_read_as_a_whole() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let p = tmp.path().join("late.csv");
        let mut text = String::from("x,label\n");
        for i in 0..TYPE_SAMPLE_LINES + 500 {
            text.push_str(&format!("{i},BENIGN\n"));
        }
        text.push_str("0x1f,DoS\n");
        for i in 0..300 {
            text.push_str(&format!("{i}.25,BENIGN\n"));
        }
        std::fs::write(&p, &text).expect("write");
        let c = Content::Path(p.clone());
        let n = names(&["x", "label"]);
        let numeric = numeric_columns(&c, "late.csv", 2, true, b',').expect("sample");
        assert_eq!(numeric, [true, false]);
        assert!(read_typed_blocks(&c, &n, &numeric, true, 4096, b',').is_err());
        let src = SourceFile { path: p, entry: None };
        let frame = read_csv(&src, content(&src).expect("content"), &n, true, b',').expect("read");
        assert_eq!(frame.height(), TYPE_SAMPLE_LINES + 801);
        let x = frame.column("x").expect("x").str().expect("text").clone();
        assert_eq!(x.get(TYPE_SAMPLE_LINES + 500), Some("0x1f"));
        assert_eq!(x.get(TYPE_SAMPLE_LINES + 800), Some("299.25"));
    }

    /// Through the whole load: the late hex value's file is read as text and cleaned to the
    /// same numbers the typed read gives for every other row (the hex port as 31).
    #[test]
    fn a_late_value_that_does_not_fit_loads_with_the_same_numbers() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let p = tmp.path().join("late.csv");
        let rows = TYPE_SAMPLE_LINES + 900;
        let mut text = String::from("sport,bytes,Label\n");
        let mut expected = Vec::new();
        for i in 0..rows {
            let (sport, v) = if i == TYPE_SAMPLE_LINES + 600 {
                ("0x1f".to_string(), 31.0)
            } else {
                (format!("{}", i % 60_000), (i % 60_000) as f64)
            };
            let bytes = if i % 7 == 0 {
                "Infinity".to_string()
            } else {
                format!("{i}.5")
            };
            text.push_str(&format!(
                "{sport},{bytes},{}\n",
                if i % 3 == 0 { "DoS" } else { "BENIGN" }
            ));
            expected.push((v, if i % 7 == 0 { f64::INFINITY } else { i as f64 + 0.5 }));
        }
        std::fs::write(&p, &text).expect("write");
        let opts = crate::dataset::LoadOptions {
            no_cache: true,
            ..Default::default()
        };
        let ds = crate::dataset::load(&[p], &opts).expect("load");
        assert_eq!(ds.rows(), rows);
        let sport = ds
            .frame
            .column("sport")
            .expect("sport")
            .f64()
            .expect("f64")
            .clone();
        let bytes = ds
            .frame
            .column("bytes")
            .expect("bytes")
            .f64()
            .expect("f64")
            .clone();
        for (i, (s, b)) in expected.iter().enumerate() {
            assert_eq!(sport.get(i), Some(*s), "sport, row {i}");
            assert_eq!(bytes.get(i), Some(*b), "bytes, row {i}");
        }
        assert_eq!(ds.malicious.iter().filter(|m| **m).count(), rows.div_ceil(3));
    }

    /// A quoted field with a line break in a late block: the file is read in one piece, so the
    /// field stays whole.
    #[test]
    fn a_quoted_line_break_in_a_later_block_is_read_in_one_piece() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let p = tmp.path().join("quoted.csv");
        let mut text = String::from("x,note\n");
        for i in 0..400 {
            text.push_str(&format!("{i},plain\n"));
        }
        text.push_str("400,\"two\nlines, one field\"\n401,plain\n");
        std::fs::write(&p, &text).expect("write");
        let c = Content::Path(p);
        let n = names(&["x", "note"]);
        let frame = read_typed_blocks(&c, &n, &[true, false], true, 64, b',').expect("read");
        assert_eq!(frame.height(), 402);
        let note = frame.column("note").expect("note").str().expect("text").clone();
        assert_eq!(note.get(400), Some("two\nlines, one field"));
        let x = frame.column("x").expect("x").f64().expect("f64").clone();
        assert_eq!(x.get(401), Some(401.0));
    }

    /// A `;` file's decimal commas are numbers, read typed or (a late value that does not fit)
    /// as text; a column a kernel feature is read from that holds text is an error; and a blank
    /// in a column no model reads costs no row once cleaning is narrowed to the used columns.
    #[test]
    fn decimal_commas_blanks_and_text_in_kernel_columns() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let opts = crate::dataset::LoadOptions {
            no_cache: true,
            ..Default::default()
        };
        let load = |name: &str, text: &str| {
            let p = tmp.path().join(name);
            std::fs::write(&p, text).expect("write");
            crate::dataset::load(&[p], &opts)
        };
        let rows = TYPE_SAMPLE_LINES + 20;
        let mut text = String::from("fwd_len_mean;Idle Std;label\n");
        for i in 0..rows {
            let idle = if i % 2 == 0 {
                String::new()
            } else {
                format!("{i},25")
            };
            let late = if i == rows - 1 { "0x1f;" } else { "" };
            let mean = if late.is_empty() {
                format!("{i},5;")
            } else {
                late.to_string()
            };
            text.push_str(&format!(
                "{mean}{idle};{}\n",
                if i % 3 == 0 { "DoS" } else { "BENIGN" }
            ));
        }
        let ds = load("eu.csv", &text).expect("load");
        let mean = ds
            .frame
            .column("fwd_len_mean")
            .expect("col")
            .f64()
            .expect("f64")
            .clone();
        assert_eq!(mean.get(3), Some(3.5));
        assert_eq!(mean.get(rows - 1), Some(31.0));
        let idle = ds
            .frame
            .column("Idle Std")
            .expect("col")
            .f64()
            .expect("f64")
            .clone();
        assert_eq!(idle.get(1), Some(1.25));
        assert_eq!(ds.dropped.rows_dropped, rows / 2);
        let narrowed = ds.cleaning_only(&["fwd_len_mean".to_string()]);
        assert_eq!(narrowed.dropped.rows_dropped, 0);
        assert_eq!(narrowed.cleaned().expect("cleaned").rows(), rows);
        assert_eq!(narrowed.dropped.summary(), None);
        assert_eq!(
            ds.dropped.summary().as_deref(),
            Some(format!("{} of {rows} rows dropped: missing values in Idle Std", rows / 2).as_str())
        );
        // Tab-separated: a comma is no decimal point there, and the mapped column is text.
        let e = load("eu.tsv", &text.replace(';', "\t")).expect_err("text in a kernel column");
        let e = e.to_string();
        assert!(
            e.starts_with(&format!(
                "{}: line 2: column `fwd_len_mean`",
                tmp.path().join("eu.tsv").display()
            )),
            "{e}"
        );
        assert!(e.contains("(`0,5`)"), "{e}");
    }

    #[test]
    fn an_unclosed_quote_is_found_where_it_opens() {
        let find = |text: &str| find_ragged(&Content::Bytes(text.as_bytes().to_vec()), 3, b',');
        assert_eq!(
            find("a,b,c\n1,2,3\n4,5\n"),
            Some(Ragged::Line { line: 3, fields: 2 })
        );
        assert_eq!(
            find("a,b,c\n1,2,3\n\"4,5,6\n7,8,9\n"),
            Some(Ragged::Unclosed { line: 3 })
        );
        // A quoted line break is one row, not a ragged one.
        assert_eq!(find("a,b,c\n1,\"two\nlines\",3\n4,\"x\"\"y\",6\n"), None);
        // A stray quote closed by another one lines later: one row of the wrong width.
        assert_eq!(
            find("a,b,c\n\"1,2,3\n4,5,6\n7,8\",9\n"),
            Some(Ragged::Spans {
                line: 2,
                end: 4,
                fields: 2
            })
        );
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
