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
    let whole = read_typed_blocks(&c, &n, &numeric, true, 1 << 20, b',', None)
        .expect("whole")
        .0;
    // 37-byte blocks: every block boundary falls inside a line, two blocks parse at once.
    let pieces = read_typed_blocks(&c, &n, &numeric, true, 37, b',', None)
        .expect("blocks")
        .0;
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
        typed_reader(ScanSources::Files(Arc::from(vec![file])), &schema, 1, b',', None).expect("scan");
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
    assert!(read_typed_blocks(&c, &n, &numeric, true, 4096, b',', None).is_err());
    let src = SourceFile { path: p, entry: None };
    let frame = read_csv(&src, content(&src).expect("content"), &n, true, b',', None)
        .expect("read")
        .0;
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
    let frame = read_typed_blocks(&c, &n, &[true, false], true, 64, b',', None)
        .expect("read")
        .0;
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
    let frame = read_csv(&src, c, &n, true, b',', None).expect("read").0;
    assert_eq!(frame.height(), TYPE_SAMPLE_LINES + 11);
    // Read as text; the cleaning step turns the hex port into 49320.
    let sport = frame.column("sport").expect("sport");
    assert_eq!(sport.dtype(), &DataType::String);
    assert_eq!(
        sport.str().expect("str").get(TYPE_SAMPLE_LINES + 10),
        Some("0xc0a8")
    );
}

/// A row with no value in the columns a projected read takes (`train`: features and label) but
/// one in another column is no blank row: the projected read keeps it as the full read
/// (`inspect`) does, and both name every row on the same line; a row of separators, a blank
/// line and a row of spaces are treated alike by both (the first two removed, the last kept).
/// Whichever reader takes the file: polars' block reader, the one-piece scan (a quote), CRLF.
#[test]
fn a_row_empty_only_in_the_columns_read_is_kept_by_every_read() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let header = "a,note,b,Label";
    let mut rows: Vec<String> = (0..30)
        .map(|i| {
            format!(
                "{i},n{i},{}.5,{}",
                i * 2,
                if i % 3 == 0 { "DoS" } else { "BENIGN" }
            )
        })
        .collect();
    // Lines 2.. hold rows 0..; these go after row 9, 19 and 24.
    rows.insert(25, ",,,".to_string());
    rows.insert(20, String::new());
    rows.insert(10, ",only a note,,".to_string());
    rows.insert(5, " , , ,".to_string());
    let kept_lines: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.is_empty() && r.as_str() != ",,,")
        .map(|(i, _)| i + 2)
        .collect();
    let names = names(&["a", "note", "b", "Label"]);
    let projected_names = ["a".to_string(), "b".to_string(), "Label".to_string()];
    let keep = super::super::projection::keep_mask(&names, &projected_names);
    let plain = format!("{header}\n{}\n", rows.join("\n"));
    let quoted = plain.replace("n3,", "\"n,3\",");
    let cases = [
        ("plain", plain.clone()),
        ("quoted", quoted),
        ("crlf", plain.replace('\n', "\r\n")),
    ];
    for (case, text) in cases {
        let path = tmp.path().join(format!("{case}.csv"));
        std::fs::write(&path, &text).expect("write");
        let src = SourceFile {
            path: path.clone(),
            entry: None,
        };
        let read = |keep: Option<&[bool]>| {
            read_csv(&src, content(&src).expect("content"), &names, true, b',', keep)
                .unwrap_or_else(|e| panic!("{case}: {e}"))
        };
        let (full, full_lines) = read(None);
        let (projected, projected_lines) = read(Some(&keep));
        assert_eq!(full.height(), 32, "{case}: 30 rows, the note's and the spaces'");
        assert!(
            projected.equals_missing(&full.select(["a", "b", "Label"]).expect("select")),
            "{case}: {projected:?}"
        );
        let full_lines = full_lines.expect("full read's lines");
        assert_eq!(projected_lines.as_ref(), Some(&full_lines), "{case}");
        let lines: Vec<usize> = (0..full.height()).map(|r| full_lines.line(r)).collect();
        assert_eq!(lines, kept_lines, "{case}");
        // Through the load, as `train` (columns asked for) and `inspect` (all) load it.
        let load = |columns: Option<Vec<String>>| {
            let opts = crate::dataset::LoadOptions {
                no_cache: true,
                columns,
                ..Default::default()
            };
            crate::dataset::load(std::slice::from_ref(&path), &opts).unwrap_or_else(|e| panic!("{case}: {e}"))
        };
        let (all, some) = (load(None), load(Some(projected_names.to_vec())));
        assert_eq!((all.rows(), some.rows()), (32, 32), "{case}");
        for r in 0..32 {
            assert_eq!(some.row_place(r), all.row_place(r), "{case}: row {r}");
        }
        assert_eq!(all.row_place(31).line, Some(35), "{case}");
    }
}
