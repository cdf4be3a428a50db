//! Reading only some of a table's columns ([`super::LoadOptions::columns`]): a model reads a
//! few dozen of CIC-IDS2017's 79 columns, and the rest, parsed into 8-byte floats, was most of
//! `workbench train`'s memory (docs/BENCHMARKS.md, "Training's memory"). The readers are given
//! the projection (the plain CSV reader walks over the other fields without storing them;
//! polars' readers take it as theirs), so the other columns never exist as a table. What the
//! caller needs to decide which columns to ask for, the files' column names and kind, comes
//! from [`header`] without reading a row.

use std::path::PathBuf;
use std::sync::Arc;

use polars::prelude::{DataFrame, DataType, Field, PlSmallStr, PolarsResult, Schema, SchemaRef};

use super::detect::{column_key, DatasetKind};
use super::{source, DataError, LoadOptions};

/// The first table's column names and kind, as a load would find them.
#[derive(Debug, Clone)]
pub struct TableHeader {
    pub kind: DatasetKind,
    /// Every column, in file order (a headerless layout's standard names).
    pub columns: Vec<String>,
    /// The tables (a zip archive's entries as `ARCHIVE:ENTRY`), for messages.
    pub sources: Vec<String>,
}

/// The column names and kind of the first table of `paths` (after expanding folders and zip
/// archives), from its header line or schema only.
pub fn header(paths: &[PathBuf], opts: &LoadOptions) -> Result<TableHeader, DataError> {
    let files = source::expand(paths)?;
    let (detected, columns) = source::header(&files, opts.kind)?;
    Ok(TableHeader {
        kind: detected.kind,
        columns,
        sources: files.iter().map(source::SourceFile::display_name).collect(),
    })
}

/// Per column of `names`: whether `wanted` names it (as [`column_key`] compares names: case,
/// spaces and underscores do not count, as when files are stacked).
pub(super) fn keep_mask(names: &[String], wanted: &[String]) -> Vec<bool> {
    let keys: Vec<String> = wanted.iter().map(|w| column_key(w)).collect();
    names.iter().map(|n| keys.contains(&column_key(n))).collect()
}

/// `frame` cut to the columns `keep` marks (a table read whole; all with None).
pub(super) fn cut(frame: DataFrame, keep: Option<&[bool]>) -> PolarsResult<DataFrame> {
    let Some(keep) = keep else {
        return Ok(frame);
    };
    let names: Vec<PlSmallStr> = frame
        .get_column_names()
        .into_iter()
        .zip(keep)
        .filter(|(_, &k)| k)
        .map(|(n, _)| n.clone())
        .collect();
    frame.select(names)
}

/// `schema` with the columns `keep` does not mark as text: read by polars only to be dropped,
/// so a value in them that is not a number must not fail the typed read.
pub(super) fn unread_as_text(schema: &SchemaRef, keep: Option<&[bool]>) -> SchemaRef {
    let Some(keep) = keep else {
        return schema.clone();
    };
    Arc::new(
        schema
            .iter()
            .zip(keep)
            .map(|((name, dtype), &k)| {
                Field::new(name.clone(), if k { dtype.clone() } else { DataType::String })
            })
            .collect(),
    )
}

/// `schema` cut to the columns `keep` marks.
pub(super) fn kept_schema(schema: &Schema, keep: Option<&[bool]>) -> Schema {
    schema
        .iter()
        .enumerate()
        .filter(|(i, _)| keep.is_none_or(|k| k.get(*i).copied().unwrap_or(true)))
        .map(|(_, (name, dtype))| Field::new(name.clone(), dtype.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(ToString::to_string).collect()
    }

    /// A projected read is the full read's columns, whichever reader takes the file: the plain
    /// reader, polars' block reader (a value the plain one leaves to it), the one-piece scan (a
    /// quoted line break), the all-text fallback (a late value that is not a number), CRLF
    /// lines; and a ragged line is still named although its short field is not read.
    #[test]
    fn a_projected_read_is_the_full_reads_columns_whatever_reader_takes_it() {
        use super::super::csv_read::read_csv;
        use super::super::source::{content, SourceFile};
        let tmp = tempfile::tempdir().expect("tempdir");
        let header = "a,wide,b,note,Label";
        // `odd` goes after the kept column b's value, `wide_odd` after the unread wide one's.
        let line = |i: usize, odd: &str, wide_odd: &str| {
            format!(
                "{i},{}{wide_odd},{}.25{odd},n{i},{}",
                "9".repeat(12),
                i * 3,
                if i.is_multiple_of(3) { "DoS" } else { "BENIGN" }
            )
        };
        let body = |odd_at: Option<(usize, &str)>, eol: &str| {
            let mut t = format!("{header}{eol}");
            for i in 0..3_000 {
                let odd = match odd_at {
                    Some((at, o)) if at == i => o,
                    _ => "",
                };
                t.push_str(&line(i, odd, ""));
                t.push_str(eol);
            }
            t
        };
        let mut quoted = body(None, "\n");
        quoted.push_str("7,1,2.5,\"two\nlines\",DoS\n");
        let cases = [
            ("plain", body(None, "\n")),
            (
                "leading blank for polars",
                body(None, "\n").replacen("\n1,", "\n 1,", 1),
            ),
            ("quoted line break", quoted),
            ("late text", body(Some((2_900, "x")), "\n")),
            ("crlf", body(None, "\r\n")),
        ];
        let names: Vec<String> = header.split(',').map(ToString::to_string).collect();
        let keep = keep_mask(&names, &["a".to_string(), "b".to_string(), "Label".to_string()]);
        for (case, text) in cases {
            let path = tmp.path().join(format!("{}.csv", case.replace(' ', "-")));
            std::fs::write(&path, &text).expect("write");
            let src = SourceFile { path, entry: None };
            let read = |keep: Option<&[bool]>| {
                read_csv(&src, content(&src).expect("content"), &names, true, b',', keep)
                    .unwrap_or_else(|e| panic!("{case}: {e}"))
                    .0
            };
            let full = read(None);
            let projected = read(Some(&keep));
            assert_eq!(
                projected.get_column_names(),
                ["a", "b", "Label"],
                "{case}: only the asked-for columns"
            );
            let expected = full.select(["a", "b", "Label"]).expect("select");
            assert!(
                projected.equals_missing(&expected),
                "{case}: {projected:?} vs {expected:?}"
            );
        }
        // The file read with only the asked-for columns.
        let read_kept = |path: PathBuf| {
            let src = SourceFile { path, entry: None };
            read_csv(
                &src,
                content(&src).expect("content"),
                &names,
                true,
                b',',
                Some(&keep),
            )
            .map(|r| r.0)
        };
        // A late value that is not a number in a column not read does not make the others text.
        let path = tmp.path().join("late-unread.csv");
        let mut text = body(None, "\n");
        text.push_str(&line(3_000, "", "x"));
        std::fs::write(&path, &text).expect("write");
        let projected = read_kept(path).expect("read");
        let b = projected.column("b").expect("b").f64().expect("typed").clone();
        assert_eq!(b.get(3_000), Some(9_000.25));
        // ... nor when polars reads the block (a carriage return at each line end).
        let path = tmp.path().join("late-unread-crlf.csv");
        std::fs::write(&path, text.replace('\n', "\r\n")).expect("write");
        let projected = read_kept(path).expect("read");
        let b = projected.column("b").expect("b").f64().expect("typed").clone();
        assert_eq!(b.get(3_000), Some(9_000.25));
        // A line of too few or too many fields: the fields not read do not hide it.
        for (bad, fields) in [("1,2".to_string(), 2), (format!("{},extra", line(1, "", "")), 6)] {
            let path = tmp.path().join("ragged.csv");
            std::fs::write(&path, format!("{header}\n{}\n{bad}\n", line(0, "", ""))).expect("write");
            let e = read_kept(path).expect_err("ragged");
            assert!(
                e.to_string()
                    .contains(&format!("line 3 has {fields} fields, the header has 5")),
                "{e}"
            );
        }
    }

    /// A Parquet file is read with the projection too, through `load`, and the header of its
    /// schema is what `header` gives.
    #[test]
    fn a_parquet_file_is_read_with_the_columns_asked_for() {
        use polars::prelude::{Column, NamedFrom, ParquetWriter, Series};
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("t.parquet");
        let n = 50;
        let col = |name: &str, f: &dyn Fn(usize) -> f64| -> Column {
            Series::new(name.into(), (0..n).map(f).collect::<Vec<f64>>()).into()
        };
        let label: Column = Series::new(
            "label".into(),
            (0..n)
                .map(|i| if i % 2 == 0 { "BENIGN" } else { "DoS" })
                .collect::<Vec<_>>(),
        )
        .into();
        let mut frame = DataFrame::new(vec![
            col("syn_count", &|i| i as f64),
            col("wide", &|i| i as f64 * 1.5),
            col("fwd_packets", &|i| (i % 7) as f64),
            label,
        ])
        .expect("frame");
        ParquetWriter::new(std::fs::File::create(&path).expect("create"))
            .finish(&mut frame)
            .expect("write");
        let opts = LoadOptions {
            no_cache: true,
            ..Default::default()
        };
        let h = header(std::slice::from_ref(&path), &opts).expect("header");
        assert_eq!(h.columns, ["syn_count", "wide", "fwd_packets", "label"]);
        let some = super::super::load(
            std::slice::from_ref(&path),
            &LoadOptions {
                columns: Some(vec!["Label".into(), "syn_count".into(), "fwd_packets".into()]),
                ..opts.clone()
            },
        )
        .expect("load");
        assert_eq!(some.column_names(), ["syn_count", "fwd_packets", "label"]);
        let all = super::super::load(std::slice::from_ref(&path), &opts).expect("load");
        let expected = all
            .frame
            .select(["syn_count", "fwd_packets", "label"])
            .expect("select");
        assert!(some.frame.equals_missing(&expected));
        assert_eq!(some.malicious, all.malicious);
    }

    #[test]
    fn columns_are_matched_by_key_and_kept_in_file_order() {
        let file = names(&[
            " Flow Duration",
            "Idle Std",
            "Fwd Header Length",
            "Fwd Header Length.1",
            "Label",
        ]);
        let keep = keep_mask(&file, &names(&["label", "flow_duration", "Fwd Header Length.1"]));
        assert_eq!(keep, [true, false, false, true, true]);
    }
}
