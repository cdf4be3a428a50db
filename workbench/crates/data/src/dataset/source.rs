//! Files to tables: plain CSV/Parquet files, folders of them, and .zip archives read in memory
//! (the CIC-IDS2017 archive exactly as downloaded), concatenated into one table of one kind.
//!
//! A CSV is read in one pass by polars' streaming CSV reader with the column types decided by the
//! loader from the first lines (numbers as Float64, which parses `6.0`, `Infinity` and `NaN`;
//! everything else as text), so 2.8 million rows never exist as text. Should a later value not
//! fit its column's type (a hex port in row 2,000,001), the file is read again with every column
//! as text and the cleaning step decides per value, as before: slower, never wrong.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::*;

use super::detect::{self, DatasetKind, Detected};
use super::parquet_check;
use super::DataError;

/// One table source: a file, or a CSV inside a zip archive.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    /// The entry name inside a zip archive.
    pub entry: Option<String>,
}

impl SourceFile {
    pub fn display_name(&self) -> String {
        match &self.entry {
            Some(e) => format!("{}:{e}", self.path.display()),
            None => self.path.display().to_string(),
        }
    }

    fn is_parquet(&self) -> bool {
        let name = self
            .entry
            .clone()
            .unwrap_or_else(|| self.path.display().to_string());
        name.to_ascii_lowercase().ends_with(".parquet")
    }
}

/// The concatenated text table and the kind it was read as.
pub struct RawData {
    pub frame: DataFrame,
    pub detected: Detected,
    pub sources: Vec<String>,
    /// Rows read from each source, in `sources` order (the file split needs each row's file).
    pub file_rows: Vec<usize>,
}

fn lower_ext(p: &Path) -> String {
    p.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

fn zip_entries(path: &Path) -> Result<Vec<SourceFile>, DataError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| DataError::io(&name, "cannot open", e))?;
    let mut zip =
        ::zip::ZipArchive::new(file).map_err(|e| DataError::zip(&name, "not a readable zip archive", e))?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let entry = zip
            .by_index(i)
            .map_err(|e| DataError::zip(&name, format!("zip entry {i}"), e))?;
        let entry_name = entry.name().to_string();
        // macOS archives carry `__MACOSX/._x.csv` resource forks that are not CSV.
        let lower = entry_name.to_ascii_lowercase();
        if entry.is_file()
            && !lower.contains("__macosx/")
            && std::path::Path::new(&lower)
                .extension()
                .is_some_and(|e| e == "csv" || e == "parquet")
        {
            out.push(SourceFile {
                path: path.to_path_buf(),
                entry: Some(entry_name),
            });
        }
    }
    if out.is_empty() {
        return Err(DataError::file(
            name,
            format!(
                "no .csv or .parquet file inside the archive ({} entries)",
                zip.len()
            ),
        ));
    }
    out.sort_by(|a, b| a.entry.cmp(&b.entry));
    Ok(out)
}

/// Paths as given (files, folders, zip archives) to the list of tables to read, in order.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<SourceFile>, DataError> {
    let mut out = Vec::new();
    for p in paths {
        let name = p.display().to_string();
        let meta = std::fs::metadata(p).map_err(|e| DataError::io(&name, "cannot read", e))?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| DataError::io(&name, "cannot list folder", e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| matches!(lower_ext(f).as_str(), "csv" | "parquet" | "txt" | "zip"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(DataError::file(
                    name,
                    "folder holds no .csv, .txt, .parquet or .zip file",
                ));
            }
            out.extend(expand(&found)?);
        } else if lower_ext(p) == "zip" {
            out.extend(zip_entries(p)?);
        } else {
            // A capture read as CSV is a "ragged row" at line 2: name it, with the way out.
            super::sniff::refuse_capture(p)?;
            out.push(SourceFile {
                path: p.clone(),
                entry: None,
            });
        }
    }
    Ok(out)
}

enum Content {
    Path(PathBuf),
    Bytes(Vec<u8>),
}

fn content(src: &SourceFile) -> Result<Content, DataError> {
    let name = src.display_name();
    let Some(entry) = &src.entry else {
        let size = std::fs::metadata(&src.path)
            .map_err(|e| DataError::io(&name, "cannot read", e))?
            .len();
        if size == 0 {
            return Err(DataError::file(name, "file is empty (0 bytes)"));
        }
        return Ok(Content::Path(src.path.clone()));
    };
    let file = File::open(&src.path).map_err(|e| DataError::io(&name, "cannot open", e))?;
    let mut zip = ::zip::ZipArchive::new(file).map_err(|e| DataError::zip(&name, "zip", e))?;
    let mut f = zip
        .by_name(entry)
        .map_err(|e| DataError::zip(&name, "zip entry", e))?;
    let mut bytes = Vec::with_capacity(f.size() as usize);
    f.read_to_end(&mut bytes)
        .map_err(|e| DataError::io(&name, "cannot decompress", e))?;
    if bytes.is_empty() {
        return Err(DataError::file(name, "file is empty (0 bytes)"));
    }
    Ok(Content::Bytes(bytes))
}

/// The first `n` lines, decoded lossily (label bytes that are not UTF-8 must not stop detection).
fn first_lines(c: &Content, name: &str, n: usize) -> Result<Vec<String>, DataError> {
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

fn read_csv(
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

fn read_parquet(src: &SourceFile, c: Content) -> Result<DataFrame, DataError> {
    let name = src.display_name();
    // polars aborts on negative counts in page headers, and asserts on other damage (both found
    // by workbench/tests/cli/fuzz_parsers.rs): check the headers first, and contain a panic.
    let checked = |data: Result<polars::polars_utils::mmap::MemSlice, parquet_check::ParquetCheckError>| {
        crate::contain::contained(|| data.and_then(parquet_check::check))
            .unwrap_or_else(|panic| Err(parquet_check::ParquetCheckError::Damaged(panic)))
            .map_err(|source| DataError::Parquet {
                file: name.clone(),
                source,
            })
    };
    let result = match c {
        Content::Path(p) => {
            let f = File::open(&p).map_err(|e| DataError::io(&name, "cannot open", e))?;
            checked(parquet_check::map(&f))?;
            crate::contain::contained(|| ParquetReader::new(f).finish())
        }
        Content::Bytes(b) => {
            checked(Ok(polars::polars_utils::mmap::MemSlice::from_vec(b.clone())))?;
            crate::contain::contained(|| ParquetReader::new(Cursor::new(b)).finish())
        }
    };
    let frame = result
        .map_err(|panic| {
            DataError::file(
                &name,
                format!("not a readable Parquet file: damaged data ({panic})"),
            )
        })?
        .map_err(|e| DataError::polars(&name, "not a readable Parquet file", e))?;
    // Numbers stay numbers; everything else becomes text, like a CSV column.
    let mut cols = Vec::with_capacity(frame.width());
    for col in frame.take_columns() {
        let dtype = col.dtype().clone();
        let cast = if dtype.is_primitive_numeric() || dtype == DataType::Boolean {
            col.cast(&DataType::Float64)
        } else {
            col.cast(&DataType::String)
        };
        cols.push(cast.map_err(|e| DataError::polars(&name, format!("column {}", col.name()), e))?);
    }
    DataFrame::new(cols).map_err(|e| DataError::polars(&name, "", e))
}

/// Reads every table, checks they share one set of columns, and stacks them.
pub fn read_all(files: &[SourceFile], forced: Option<DatasetKind>) -> Result<RawData, DataError> {
    let mut detected: Option<Detected> = None;
    let mut frame: Option<DataFrame> = None;
    let mut file_rows = Vec::with_capacity(files.len());
    for src in files {
        let name = src.display_name();
        let c = content(src)?;
        let mut part = if src.is_parquet() {
            let f = read_parquet(src, c)?;
            let names: Vec<String> = f
                .get_column_names()
                .iter()
                .map(std::string::ToString::to_string)
                .collect();
            let d = match &detected {
                Some(d) => d.clone(),
                None => detect::detect_named(&names, forced, &name)?,
            };
            detected.get_or_insert(d);
            f
        } else {
            let lines = first_lines(&c, &name, 1)?;
            let first = lines.first().cloned().unwrap_or_default();
            if first.trim().is_empty() {
                return Err(DataError::file(
                    name,
                    "the first line is empty: no header and no data",
                ));
            }
            let sep = super::sniff::separator(&first).map_err(|source| DataError::Separator {
                file: name.clone(),
                source,
            })?;
            let fields = split_fields_by(&first, sep);
            let d = match &detected {
                // Later files may or may not repeat a header; decide per file.
                Some(d) => d.for_next_file(&fields),
                None => detect::detect(&fields, forced, &name)?,
            };
            let names = match &d.names {
                Some(n) => n.clone(),
                None => detect::normalise_names(&fields),
            };
            if !d.has_header && fields.len() != names.len() {
                return Err(DataError::file(
                    name,
                    format!(
                        "line 1 has {} fields, a {} row has {}",
                        fields.len(),
                        d.kind,
                        names.len()
                    ),
                ));
            }
            let f = read_csv(src, c, &names, d.has_header, sep)?;
            detected.get_or_insert(d);
            f
        };
        if part.height() == 0 {
            return Err(DataError::file(name, "no data rows (header only)"));
        }
        file_rows.push(part.height());
        frame = Some(match frame {
            None => part,
            Some(mut acc) => {
                part = align(&acc, part, &name)?;
                acc.vstack_mut_owned(part)
                    .map_err(|e| DataError::polars(&name, "cannot append", e))?;
                acc
            }
        });
    }
    let (Some(frame), Some(detected)) = (frame, detected) else {
        return Err(DataError::Other("no data files given".into()));
    };
    Ok(RawData {
        frame,
        detected,
        sources: files.iter().map(SourceFile::display_name).collect(),
        file_rows,
    })
}

/// Renames and reorders `part`'s columns to the first table's spelling and order.
fn align(first: &DataFrame, part: DataFrame, name: &str) -> Result<DataFrame, DataError> {
    let key = |s: &str| detect::column_key(s);
    let mut cols = Vec::with_capacity(first.width());
    for target in first.get_columns() {
        let found = part
            .get_columns()
            .iter()
            .find(|c| key(c.name()) == key(target.name()))
            .ok_or_else(|| {
                DataError::file(
                    name,
                    format!("has no column `{}` (the first file has it)", target.name()),
                )
            })?;
        let mut c = found.clone();
        c.rename(target.name().clone());
        if c.dtype() != target.dtype() {
            c = c
                .cast(target.dtype())
                .map_err(|e| DataError::polars(name, format!("column {}", target.name()), e))?;
        }
        cols.push(c);
    }
    if part.width() > first.width() {
        let extra: Vec<String> = part
            .get_columns()
            .iter()
            .filter(|c| !first.get_columns().iter().any(|t| key(t.name()) == key(c.name())))
            .map(|c| c.name().to_string())
            .collect();
        return Err(DataError::file(
            name,
            format!("has columns the first file lacks: {}", extra.join(", ")),
        ));
    }
    DataFrame::new(cols).map_err(|e| DataError::polars(name, "", e))
}

#[cfg(test)]
mod tests {
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
