//! A Parquet file's own numbers, checked before polars decodes it.
//!
//! polars 0.52 reads a data page's `num_values` (an i32 in the file) with `as usize`: a negative
//! count from a damaged or hostile file becomes about 2^64 and the validity bitmap asks the
//! allocator for 2^61 bytes, which aborts the process (no panic to contain). Fuzzing found it
//! (docs/HARDENING.md). Every page header is read here first (headers only: no decompression,
//! no decoding) and any negative or impossible count is refused with an error naming the file.

use polars::polars_utils::mmap::{MemReader, MemSlice};
use polars_parquet::parquet::error::ParquetError;
use polars_parquet::parquet::page::{CompressedPage, DataPageHeader};
use polars_parquet::parquet::read::{get_page_iterator, read_metadata};

/// The largest page polars would read (its own default limit is smaller; this only bounds the
/// header walk).
const MAX_PAGE_BYTES: usize = 1 << 30;

/// Why a Parquet file is refused before polars reads it (each step names where it failed).
#[derive(Debug, thiserror::Error)]
pub enum ParquetCheckError {
    #[error("cannot map the file")]
    Map(#[source] polars::prelude::PolarsError),
    #[error("metadata")]
    Metadata(#[source] ParquetError),
    #[error("row group {group}, column {column:?}")]
    Pages {
        group: usize,
        column: Vec<polars::prelude::PlSmallStr>,
        #[source]
        source: ParquetError,
    },
    #[error("row group {group}, column {column:?}, page {page}")]
    Page {
        group: usize,
        column: Vec<polars::prelude::PlSmallStr>,
        page: usize,
        #[source]
        source: ParquetError,
    },
    #[error("row group {group} ({rows} rows), column {column:?}, page {page}: {field} is {value} (expected a count >= 0)")]
    NegativeCount {
        group: usize,
        rows: usize,
        column: Vec<polars::prelude::PlSmallStr>,
        page: usize,
        field: &'static str,
        value: i32,
    },
    /// The reader panicked (contained): the panic's message.
    #[error("damaged data ({0})")]
    Damaged(String),
}

/// The file mapped (not read) into memory, for [`check`].
pub fn map(file: &std::fs::File) -> Result<MemSlice, ParquetCheckError> {
    MemSlice::from_file(file).map_err(ParquetCheckError::Map)
}

/// Checks every data page header of the Parquet file in `data`.
pub fn check(data: MemSlice) -> Result<(), ParquetCheckError> {
    let meta = read_metadata(&mut MemReader::new(data.clone())).map_err(ParquetCheckError::Metadata)?;
    for (g, group) in meta.row_groups.iter().enumerate() {
        let rows = group.num_rows();
        for column in group.parquet_columns() {
            let name = &column.descriptor().path_in_schema;
            let pages = get_page_iterator(column, MemReader::new(data.clone()), Vec::new(), MAX_PAGE_BYTES)
                .map_err(|source| ParquetCheckError::Pages {
                group: g,
                column: name.clone(),
                source,
            })?;
            for (p, page) in pages.enumerate() {
                let page = page.map_err(|source| ParquetCheckError::Page {
                    group: g,
                    column: name.clone(),
                    page: p,
                    source,
                })?;
                let CompressedPage::Data(page) = page else {
                    continue;
                };
                let counts: Vec<(&str, i32)> = match page.header() {
                    DataPageHeader::V1(h) => vec![("num_values", h.num_values)],
                    DataPageHeader::V2(h) => vec![
                        ("num_values", h.num_values),
                        ("num_nulls", h.num_nulls),
                        ("num_rows", h.num_rows),
                        ("definition_levels_byte_length", h.definition_levels_byte_length),
                        ("repetition_levels_byte_length", h.repetition_levels_byte_length),
                    ],
                };
                for (field, value) in counts {
                    if value < 0 {
                        return Err(ParquetCheckError::NegativeCount {
                            group: g,
                            rows,
                            column: name.clone(),
                            page: p,
                            field,
                            value,
                        });
                    }
                }
            }
        }
    }
    Ok(())
}
