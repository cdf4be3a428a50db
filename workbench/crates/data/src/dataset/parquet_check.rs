//! A Parquet file's own numbers, checked before polars decodes it.
//!
//! polars 0.52 reads a data page's `num_values` (an i32 in the file) with `as usize`: a negative
//! count from a damaged or hostile file becomes about 2^64 and the validity bitmap asks the
//! allocator for 2^61 bytes, which aborts the process (no panic to contain). Fuzzing found it
//! (docs/HARDENING.md). Every page header is read here first (headers only: no decompression,
//! no decoding) and any negative or impossible count is refused with an error naming the file.

use polars::polars_utils::mmap::{MemReader, MemSlice};
use polars_parquet::parquet::page::{CompressedPage, DataPageHeader};
use polars_parquet::parquet::read::{get_page_iterator, read_metadata};

/// The largest page polars would read (its own default limit is smaller; this only bounds the
/// header walk).
const MAX_PAGE_BYTES: usize = 1 << 30;

/// The file mapped (not read) into memory, for [`check`].
pub fn map(file: &std::fs::File) -> Result<MemSlice, String> {
    MemSlice::from_file(file).map_err(|e| format!("cannot map the file: {e}"))
}

/// Checks every data page header of the Parquet file in `data`.
pub fn check(data: MemSlice) -> Result<(), String> {
    let meta = read_metadata(&mut MemReader::new(data.clone())).map_err(|e| format!("metadata: {e}"))?;
    for (g, group) in meta.row_groups.iter().enumerate() {
        let rows = group.num_rows();
        for column in group.parquet_columns() {
            let name = &column.descriptor().path_in_schema;
            let pages = get_page_iterator(column, MemReader::new(data.clone()), Vec::new(), MAX_PAGE_BYTES)
                .map_err(|e| format!("row group {g}, column {name:?}: {e}"))?;
            for (p, page) in pages.enumerate() {
                let page = page.map_err(|e| format!("row group {g}, column {name:?}, page {p}: {e}"))?;
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
                        return Err(format!(
                            "row group {g} ({rows} rows), column {name:?}, page {p}: {field} is {value} (expected a count >= 0)"
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}
