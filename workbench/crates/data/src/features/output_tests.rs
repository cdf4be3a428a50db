use super::*;

const BEGIN: &str = "<!-- feature-table:begin -->\n";
const END: &str = "<!-- feature-table:end -->";

/// docs/FEATURES.md holds the generated table. `WORKBENCH_BLESS_DOCS=1` rewrites it.
#[test]
fn docs_feature_table_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../docs/FEATURES.md");
    let doc = std::fs::read_to_string(&path).expect("docs/FEATURES.md");
    let start = doc.find(BEGIN).expect("begin marker") + BEGIN.len();
    let end = doc.find(END).expect("end marker");
    let table = markdown_feature_table();
    if std::env::var_os("WORKBENCH_BLESS_DOCS").is_some() {
        let new = format!("{}{table}{}", &doc[..start], &doc[end..]);
        std::fs::write(&path, new).expect("write docs");
        return;
    }
    assert_eq!(&doc[start..end], table, "docs/FEATURES.md is out of date");
}

/// The temporary file is made with O_EXCL under a name nobody can guess: a symlink
/// planted at the name it used to have (`.NAME.PID.tmp`) points at a file that stays as it
/// was, and the table still gets written.
#[test]
fn the_temporary_file_is_never_one_planted_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "root's file\n").expect("victim");
    let out = dir.path().join("t.parquet");
    let planted = dir.path().join(format!(".t.parquet.{}.tmp", std::process::id()));
    std::os::unix::fs::symlink(&victim, &planted).expect("symlink");
    let layout = Layout {
        decided_at: false,
        label: false,
        attack_type: false,
        opt_in: 0,
    };
    let w = TableWriter::create(&out, layout).expect("created");
    assert_ne!(w.tmp, planted);
    assert_eq!(w.tmp.parent(), Some(dir.path()), "beside the output");
    w.finish().expect("finished");
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "root's file\n");
    assert!(out.is_file());
    // Two names in a row differ.
    let (a, _) = create_temporary(&out, std::ffi::OsStr::new("x")).expect("a");
    let (b, _) = create_temporary(&out, std::ffi::OsStr::new("x")).expect("b");
    assert_ne!(a, b);
}

/// A whole table as `workbench features` writes it (labels, `decided_at`, the opt-in
/// columns, IPv4 and IPv6 addresses, a file name that needs quoting, two captures) is byte
/// for byte what polars' CSV writer makes of the same table, as it wrote it before the rows
/// were formatted directly.
#[test]
fn the_csv_table_is_what_polars_writes() {
    use super::super::labels::CicOptions;
    use super::super::{extract, DecisionPoint, FeaturesOptions};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let dir = tempfile::tempdir().expect("tempdir");
    let odd = dir.path().join("odd, \"quoted\" name.pcap");
    std::fs::copy(root.join("sample-pcaps/honest.pcap"), &odd).expect("copy the sample");
    let mut pcaps = vec![odd];
    // IPv6 flows, where the shared data is present.
    let v6 = root.join("../shared/data/pcaps/apps/1kxun.pcap");
    if v6.exists() {
        pcaps.push(v6);
    }
    let opts = FeaturesOptions {
        pcaps,
        output: dir.path().join("ours.csv"),
        decision: DecisionPoint::Packet(3),
        labels: Some(root.join("sample-pcaps/labels-honest.csv")),
        cic: CicOptions::default(),
        lenient: false,
        interface: None,
        opt_in: shared::features::OPT_IN_FEATURES,
    };
    let report = extract(&opts, &crate::progress::NoProgress).expect("features");
    assert!(report.rows > 1000, "{} rows", report.rows);
    let layout = Layout {
        decided_at: true,
        label: true,
        attack_type: true,
        opt_in: shared::features::OPT_IN_FEATURES,
    };
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .with_schema(Some(std::sync::Arc::new(TableWriter::schema(layout))))
        .try_into_reader_with_file_path(Some(opts.output.clone()))
        .and_then(SerReader::finish)
        .expect("read the table back");
    assert_eq!(df.height() as u64, report.rows);
    let theirs = dir.path().join("polars.csv");
    let mut w = CsvWriter::new(File::create(&theirs).expect("create"))
        .include_header(true)
        .batched(&TableWriter::schema(layout))
        .expect("writer");
    w.write_batch(&df).expect("write");
    w.finish().expect("finish");
    let ours = std::fs::read(&opts.output).expect("ours");
    let polars = std::fs::read(&theirs).expect("polars");
    assert!(
        ours == polars,
        "the tables differ (ours {} bytes, polars {})",
        ours.len(),
        polars.len()
    );
    let text = String::from_utf8(ours).expect("utf-8");
    let quoted = format!(
        ",\"{}\"\n",
        opts.pcaps[0].display().to_string().replace('"', "\"\"")
    );
    assert!(text.contains(&quoted), "the file name is quoted: {quoted}");
    assert!(text.contains(",,"), "missing labels are empty fields");
}

#[test]
fn columns_are_unique_and_hold_every_feature() {
    let mut layout = Layout {
        decided_at: true,
        label: true,
        attack_type: true,
        opt_in: shared::features::OPT_IN_FEATURES,
    };
    let cols = layout.columns();
    let unique: std::collections::HashSet<_> = cols.iter().collect();
    assert_eq!(unique.len(), cols.len());
    for f in &FEATURES {
        assert!(cols.contains(&f.name), "{}", f.name);
    }
    assert_eq!(cols.len(), 5 + 1 + 3 + 1 + (FEATURE_COUNT - 2) + 3);
    assert_eq!(TableWriter::schema(layout).len(), cols.len());
    // Without asking, the opt-in host artefacts have no column.
    layout.opt_in = 0;
    let default = layout.columns();
    assert!(!default.contains(&"vlan_id"));
    assert_eq!(default.len(), cols.len() - 1);
    assert_eq!(TableWriter::schema(layout).len(), default.len());
}
