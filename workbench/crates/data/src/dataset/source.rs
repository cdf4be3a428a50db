//! Files to tables: plain CSV/Parquet files, folders of them, and .zip archives read in memory
//! (the CIC-IDS2017 archive exactly as downloaded), concatenated into one table of one kind.
//!
//! A CSV (`csv_read`) is read in one pass by polars' CSV reader, in blocks parsed in place from
//! a memory map (`csv_blocks`), with the column types decided by the loader from the first
//! lines (numbers as Float64, which parses `6.0`, `Infinity` and `NaN`; everything else as
//! text), so 2.8 million rows never exist as text. Should a later value not
//! fit its column's type (a hex port in row 2,000,001), the file is read again with every column
//! as text and the cleaning step decides per value, as before: slower, never wrong.

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use polars::prelude::*;

pub use super::csv_read::split_fields_by;
use super::csv_read::{first_lines, read_csv};
use super::detect::{self, DatasetKind, Detected};
use super::parquet_check;
use super::row_lines::RowLines;
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
    /// Per source: the line each data row starts on; None for Parquet, whose rows have no lines,
    /// and for a file whose rows' lines could not be told. Messages name a bad value's line.
    pub row_lines: Vec<Option<RowLines>>,
    /// Some CSV file is `;`-separated, so its numbers have a decimal comma (`12,5`): read as
    /// text, such values are numbers all the same (`csv_read::decimal_comma`).
    pub decimal_comma: bool,
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
            // A capture read as CSV is a "ragged row" at line 2, a model file a one-column
            // header: name what it is, with the way out.
            super::sniff::refuse_non_table(p)?;
            out.push(SourceFile {
                path: p.clone(),
                entry: None,
            });
        }
    }
    Ok(out)
}

/// A source's bytes: a file on disk, or a zip entry read into memory.
pub(super) enum Content {
    Path(PathBuf),
    Bytes(Vec<u8>),
}

pub(super) fn content(src: &SourceFile) -> Result<Content, DataError> {
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

/// The Parquet source as a table of the columns `columns` names (by [`detect::column_key`];
/// None: all), read from the file with that projection.
fn read_parquet(src: &SourceFile, c: Content, columns: Option<&[String]>) -> Result<DataFrame, DataError> {
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
            crate::contain::contained(|| projected(ParquetReader::new(f), columns)?.finish())
        }
        Content::Bytes(b) => {
            checked(Ok(polars::polars_utils::mmap::MemSlice::from_vec(b.clone())))?;
            crate::contain::contained(|| projected(ParquetReader::new(Cursor::new(b)), columns)?.finish())
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

/// `reader` reading only the columns `columns` names (by key), those of its schema that are.
fn projected<R: polars::io::mmap::MmapBytesReader>(
    mut reader: ParquetReader<R>,
    columns: Option<&[String]>,
) -> PolarsResult<ParquetReader<R>> {
    let Some(wanted) = columns else {
        return Ok(reader);
    };
    let names: Vec<String> = reader.schema()?.iter_names().map(ToString::to_string).collect();
    let keep = super::projection::keep_mask(&names, wanted);
    let kept = names.into_iter().zip(keep).filter(|(_, k)| *k).map(|(n, _)| n);
    Ok(reader.with_columns(Some(kept.collect())))
}

/// The first table's column names (a header line, a Parquet schema, or a headerless layout's
/// standard names) and its kind, without reading its rows: what a caller needs to decide which
/// columns to read ([`super::LoadOptions::columns`]).
pub fn header(
    files: &[SourceFile],
    forced: Option<DatasetKind>,
) -> Result<(Detected, Vec<String>), DataError> {
    let src = files
        .first()
        .ok_or_else(|| DataError::Other("no data files given".into()))?;
    let name = src.display_name();
    if src.is_parquet() {
        let c = content(src)?;
        let f = read_parquet_schema(src, c)?;
        let d = detect::detect_named(&f, forced, &name)?;
        return Ok((d, f));
    }
    let c = match &src.entry {
        // A zip entry: its first line only, not the whole entry decompressed.
        Some(_) => Content::Bytes(zip_head(src)?),
        None => content(src)?,
    };
    let (d, names, _) = csv_header(src, &c, None, forced)?;
    Ok((d, names))
}

/// The column names of a Parquet source (its schema; checked as a read is).
fn read_parquet_schema(src: &SourceFile, c: Content) -> Result<Vec<String>, DataError> {
    let name = src.display_name();
    let schema = |mut r: ParquetReader<_>| {
        r.schema()
            .map(|s| s.iter_names().map(ToString::to_string).collect())
    };
    let result = match c {
        Content::Path(p) => {
            let f = File::open(&p).map_err(|e| DataError::io(&name, "cannot open", e))?;
            parquet_check::map(&f)
                .and_then(parquet_check::check)
                .map_err(|source| DataError::Parquet {
                    file: name.clone(),
                    source,
                })?;
            crate::contain::contained(|| schema(ParquetReader::new(f)))
        }
        Content::Bytes(b) => crate::contain::contained(|| {
            let mut r = ParquetReader::new(Cursor::new(b));
            r.schema()
                .map(|s| s.iter_names().map(ToString::to_string).collect())
        }),
    };
    result
        .map_err(|panic| {
            DataError::file(
                &name,
                format!("not a readable Parquet file: damaged data ({panic})"),
            )
        })?
        .map_err(|e| DataError::polars(&name, "not a readable Parquet file", e))
}

/// The first 64 KiB of a zip entry (its header line), not the whole entry.
fn zip_head(src: &SourceFile) -> Result<Vec<u8>, DataError> {
    let name = src.display_name();
    let file = File::open(&src.path).map_err(|e| DataError::io(&name, "cannot open", e))?;
    let mut zip = ::zip::ZipArchive::new(file).map_err(|e| DataError::zip(&name, "zip", e))?;
    let entry = src.entry.as_deref().unwrap_or_default();
    let f = zip
        .by_name(entry)
        .map_err(|e| DataError::zip(&name, "zip entry", e))?;
    let mut head = Vec::new();
    f.take(64 << 10)
        .read_to_end(&mut head)
        .map_err(|e| DataError::io(&name, "cannot decompress", e))?;
    Ok(head)
}

/// A CSV source's header: its kind (`detected` for a further file of the dataset), its column
/// names and its separator; errors for what cannot be a table's first line.
fn csv_header(
    src: &SourceFile,
    c: &Content,
    detected: Option<&Detected>,
    forced: Option<DatasetKind>,
) -> Result<(Detected, Vec<String>, u8), DataError> {
    let name = src.display_name();
    let lines = first_lines(c, &name, 1)?;
    let first = lines.first().cloned().unwrap_or_default();
    if super::sniff::is_utf16(&first) {
        return Err(DataError::file(
            name,
            "is UTF-16; save it as UTF-8 (CSV UTF-8 in Excel, or `iconv -f UTF-16 -t UTF-8`)",
        ));
    }
    // A UTF-8 byte-order mark (Excel's "CSV UTF-8") is no part of the first name.
    let first = match first.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => first,
    };
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
    let d = match detected {
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
    Ok((d, names, sep))
}

/// Reads every table, checks they share one set of columns, and stacks them. `columns`: read
/// only these (by [`detect::column_key`]; None: all), the others never parsed into the table.
pub fn read_all(
    files: &[SourceFile],
    forced: Option<DatasetKind>,
    columns: Option<&[String]>,
) -> Result<RawData, DataError> {
    let mut detected: Option<Detected> = None;
    let mut frame: Option<DataFrame> = None;
    let mut file_rows = Vec::with_capacity(files.len());
    let mut row_lines = Vec::with_capacity(files.len());
    let mut decimal_comma = false;
    for src in files {
        let name = src.display_name();
        let c = content(src)?;
        let mut part = if src.is_parquet() {
            let f = read_parquet(src, c, columns)?;
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
            row_lines.push(None);
            f
        } else {
            let (d, names, sep) = csv_header(src, &c, detected.as_ref(), forced)?;
            decimal_comma |= super::csv_read::decimal_comma(sep);
            let keep = columns.map(|wanted| super::projection::keep_mask(&names, wanted));
            let (f, lines) = read_csv(src, c, &names, d.has_header, sep, keep.as_deref())?;
            row_lines.push(lines);
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
        row_lines,
        decimal_comma,
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
