//! The C export computes what `shared` computes: compiled with the system C compiler (strict
//! C99, every warning an error), it gives identical scores on 10,000 feature vectors per model
//! kind. Two exports under different `--prefix`es link into one C program; the header links
//! from C++; an export does not silently replace another model's files; i64::MIN constants
//! compile under -Werror.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use shared::features::{FEATURES, FEATURE_COUNT};
use shared::model::{LogisticTerm, Model, LOG2_FRAC_BITS, SCORE_ONE, TRANSFORM_IDENTITY, TRANSFORM_LOG2};
use workbench_data::train::split::SplitMix64;
use workbench_flow::model::build::{self, Node};

/// Every compile: the warnings an embedded build turns on, each an error.
const WARNINGS: [&str; 5] = ["-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Werror"];

/// A program that reads feature vectors of `count` features (one a line) and prints, for each
/// model prefix in turn, "score verdict " (C99 and C++11 alike). Each model reads the first
/// `NAME_FEATURE_COUNT` of them: a model that reads vlan_id takes 41, the others 40.
fn harness(prefixes: &[&str], count: usize) -> String {
    let mut c = String::from("#include <stdio.h>\n#include <inttypes.h>\n");
    for p in prefixes {
        c.push_str(&format!("#include \"{p}_model.h\"\n"));
    }
    c.push_str(&format!(
        "int main(void) {{\n    int64_t x[{count}];\n    for (;;) {{\n        int i;\n        for (i = 0; i < {count}; i++) {{\n            if (scanf(\"%\" SCNd64, &x[i]) != 1) return 0;\n        }}\n"
    ));
    for p in prefixes {
        c.push_str(&format!(
            "        {{\n            int64_t s = {p}_score(x);\n            printf(\"%\" PRId64 \" %d \", s, {p}_is_malicious(s));\n        }}\n"
        ));
    }
    c.push_str("        printf(\"\\n\");\n    }\n}\n");
    c
}

fn vectors(n: usize, seed: u64) -> Vec<[i64; FEATURE_COUNT]> {
    let mut rng = SplitMix64(seed);
    (0..n)
        .map(|_| {
            let mut v = [0i64; FEATURE_COUNT];
            for x in &mut v {
                *x = match rng.next_u64() % 6 {
                    0 => 0,
                    1 => (rng.next_u64() % 16) as i64,
                    2 => (rng.next_u64() % 70_000) as i64,
                    3 => (rng.next_u64() >> 20) as i64,
                    4 => i64::MAX,
                    _ => (rng.next_u64() % 3_000) as i64,
                };
            }
            v
        })
        .collect()
}

/// Whether `tool` runs; if not, the calling test says that it skips its compile steps (CI has
/// gcc, g++ and clang: `apt-get install build-essential clang`).
fn have(tool: &str, test: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("{test}: SKIPPED the compile and run steps: `{tool}` is not installed");
    }
    ok
}

/// `workbench export MODEL --format c -o OUT EXTRA...`.
fn export(model: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_workbench"))
        .arg("export")
        .arg(model)
        .args(["--format", "c", "-o"])
        .arg(out)
        .args(extra)
        .output()
        .expect("workbench export runs")
}

fn export_ok(model: &Path, out: &Path, extra: &[&str]) {
    let o = export(model, out, extra);
    assert!(
        o.status.success(),
        "export {extra:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Compiles with `tool` (`std` first, then [`WARNINGS`]); the compiler's words on failure.
fn compile(tool: &str, std: &str, args: &[&Path]) {
    let out = Command::new(tool)
        .arg(std)
        .args(WARNINGS)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} runs: {e}"));
    assert!(
        out.status.success(),
        "{tool} {std} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A model file `dir/NAME.ebml` holding `model` (with `provenance`); its path.
fn save(dir: &Path, name: &str, model: &Model, provenance: serde_json::Value) -> PathBuf {
    let path = dir.join(format!("{name}.ebml"));
    workbench_flow::model::file::write(&path, model, provenance).expect("write model");
    path
}

/// What the harness prints for `x`, by the tool's own integer scoring of each model.
fn expected(models: &[&Model], x: &[i64; FEATURE_COUNT]) -> String {
    let mut line = String::new();
    for m in models {
        let score = m.score(x);
        line.push_str(&format!("{score} {} ", i32::from(m.is_malicious(score))));
    }
    line
}

/// Runs the compiled harness on `xs` (the first `count` features of each); its lines.
fn run_harness(exe: &Path, xs: &[[i64; FEATURE_COUNT]], count: usize) -> Vec<String> {
    let mut input = String::new();
    for x in xs {
        input.push_str(
            &x[..count]
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        );
        input.push('\n');
    }
    // Input from a file: writing 10,000 lines into a pipe while the child fills its stdout
    // pipe would deadlock.
    let input_path = exe.with_extension("vectors");
    std::fs::write(&input_path, &input).expect("vectors");
    let output = Command::new(exe)
        .stdin(std::fs::File::open(&input_path).expect("open vectors"))
        .stdout(Stdio::piped())
        .output()
        .expect("the compiled harness runs");
    let lines: Vec<String> = String::from_utf8(output.stdout)
        .expect("utf8")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), xs.len(), "one line per vector");
    lines
}

/// The C program's lines are the tool's scores and verdicts, vector by vector.
fn assert_same_scores(what: &str, models: &[&Model], xs: &[[i64; FEATURE_COUNT]], lines: &[String]) {
    for (x, line) in xs.iter().zip(lines) {
        assert_eq!(*line, expected(models, x), "{what}: features {x:?}");
    }
}

/// The feature count of the C interface: 40 unless the model reads vlan_id.
fn count(model: &Model) -> usize {
    shared::model::codec::layout_of(model).1
}

fn check(name: &str, model: &Model, dir: &Path) {
    let out = dir.join(name);
    export_ok(&dir.join(format!("{name}.ebml")), &out, &[]);
    if !have("gcc", "c_export_gives_identical_scores_on_10000_vectors") {
        return;
    }
    std::fs::write(out.join("main.c"), harness(&["ebml"], count(model))).expect("harness");
    let exe = out.join("scores");
    compile(
        "gcc",
        "-std=c99",
        &[
            Path::new("-O2"),
            Path::new("-o"),
            &exe,
            &out.join("ebml_model.c"),
            &out.join("main.c"),
        ],
    );
    let xs = vectors(10_000, name.len() as u64);
    let lines = run_harness(&exe, &xs, count(model));
    assert_same_scores(name, &[model], &xs, &lines);
    let malicious = lines.iter().filter(|l| l.ends_with(" 1 ")).count();
    assert!(
        malicious > 0 && malicious < xs.len(),
        "{name}: both verdicts occur ({malicious})"
    );
}

fn sample_tree() -> Box<Model> {
    build::tree(
        &[
            Node::Split {
                feature: 21,
                threshold: 5,
                left: 1,
                right: 2,
            },
            Node::Split {
                feature: 2,
                threshold: 1_000_000,
                left: 3,
                right: 4,
            },
            Node::Split {
                feature: 15,
                threshold: 20_000,
                left: 5,
                right: 6,
            },
            Node::Leaf { score: 10 },
            Node::Leaf { score: 40_000 },
            Node::Leaf { score: 20_000 },
            Node::Leaf {
                score: SCORE_ONE as i32,
            },
        ],
        SCORE_ONE / 2,
    )
    .expect("tree")
}

fn sample_logistic() -> Box<Model> {
    let terms: Vec<(usize, LogisticTerm)> = (0..FEATURE_COUNT)
        .map(|i| {
            let log = i % 3 != 0;
            (
                i,
                LogisticTerm {
                    weight: ((i as i32 * 7919) % 2001 - 1000) * 977,
                    shift: if log { LOG2_FRAC_BITS as u8 + 3 } else { 20 },
                    transform: if log { TRANSFORM_LOG2 } else { TRANSFORM_IDENTITY },
                    _pad: [0; 2],
                },
            )
        })
        .collect();
    build::logistic(&terms, -5 * SCORE_ONE, 0).expect("logistic")
}

fn sample_forest() -> Box<Model> {
    let leaf = |s| {
        vec![
            Node::Split {
                feature: 4,
                threshold: s,
                left: 1,
                right: 2,
            },
            Node::Leaf { score: 30_000 },
            Node::Leaf { score: 5_000 },
        ]
    };
    build::forest(&[leaf(3), leaf(900), leaf(70_000)], SCORE_ONE).expect("forest")
}

#[test]
fn c_export_gives_identical_scores_on_10000_vectors() {
    let dir = tempfile::tempdir().expect("tmp");
    for (name, m) in [
        ("tree", sample_tree()),
        ("logistic", sample_logistic()),
        ("forest", sample_forest()),
    ] {
        save(dir.path(), name, &m, serde_json::Value::Null);
        check(name, &m, dir.path());
    }
}

/// Two models exported into one folder under two prefixes: four files, and one C program
/// that includes both headers and links both objects scores each model as the tool does.
#[test]
fn two_prefixes_export_two_models_into_one_folder_and_one_program() {
    let dir = tempfile::tempdir().expect("tmp");
    let (tree, logistic) = (sample_tree(), sample_logistic());
    let out = dir.path().join("c");
    export_ok(
        &save(dir.path(), "tree", &tree, serde_json::Value::Null),
        &out,
        &["--prefix", "ids_a"],
    );
    export_ok(
        &save(dir.path(), "logistic", &logistic, serde_json::Value::Null),
        &out,
        &["--prefix", "ids_b"],
    );
    for f in ["ids_a_model.h", "ids_a_model.c", "ids_b_model.h", "ids_b_model.c"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    assert!(!out.join("ebml_model.h").exists());
    let header = std::fs::read_to_string(out.join("ids_b_model.h")).expect("header");
    assert!(
        header.contains("#ifndef IDS_B_MODEL_H") && header.contains("#define IDS_B_THRESHOLD"),
        "{header}"
    );
    if !have(
        "gcc",
        "two_prefixes_export_two_models_into_one_folder_and_one_program",
    ) {
        return;
    }
    // The tree reads 40 features, the logistic model 41 (it has a term for vlan_id): one vector
    // of 41 feeds both, each reads its own count.
    let n = count(&logistic);
    assert_eq!((count(&tree), n), (40, 41));
    std::fs::write(out.join("main.c"), harness(&["ids_a", "ids_b"], n)).expect("harness");
    let exe = out.join("both");
    compile(
        "gcc",
        "-std=c99",
        &[
            Path::new("-o"),
            &exe,
            &out.join("main.c"),
            &out.join("ids_a_model.c"),
            &out.join("ids_b_model.c"),
        ],
    );
    let xs = vectors(2_000, 7);
    let lines = run_harness(&exe, &xs, n);
    assert_same_scores("ids_a and ids_b", &[&tree, &logistic], &xs, &lines);
}

/// C++ firmware includes the header and links the C object: the header's extern "C" keeps the
/// C names (without it: undefined reference to `ebml_score(long const*)`).
#[test]
fn the_header_links_from_cpp_against_the_c_object() {
    let dir = tempfile::tempdir().expect("tmp");
    let forest = sample_forest();
    let out = dir.path().join("c");
    export_ok(
        &save(dir.path(), "forest", &forest, serde_json::Value::Null),
        &out,
        &[],
    );
    let test = "the_header_links_from_cpp_against_the_c_object";
    if !have("gcc", test) || !have("g++", test) {
        return;
    }
    let object = out.join("ebml_model.o");
    compile(
        "gcc",
        "-std=c99",
        &[
            Path::new("-c"),
            Path::new("-o"),
            &object,
            &out.join("ebml_model.c"),
        ],
    );
    std::fs::write(out.join("main.cpp"), harness(&["ebml"], count(&forest))).expect("harness");
    let exe = out.join("scores_cpp");
    compile(
        "g++",
        "-std=c++11",
        &[Path::new("-o"), &exe, &out.join("main.cpp"), &object],
    );
    let xs = vectors(2_000, 11);
    let lines = run_harness(&exe, &xs, count(&forest));
    assert_same_scores("C++", &[&forest], &xs, &lines);
}

/// A second model exported with the same prefix into the same folder is refused, naming the
/// file, the model in it and both ways out; the same model again is fine; `--force` overwrites.
/// A file there that is no export at all is refused too, and nothing is written.
#[test]
fn an_export_does_not_overwrite_another_models_files_without_force() {
    let dir = tempfile::tempdir().expect("tmp");
    let (tree, logistic) = (sample_tree(), sample_logistic());
    let tree_path = save(dir.path(), "tree", &tree, serde_json::Value::Null);
    let logistic_path = save(dir.path(), "logistic", &logistic, serde_json::Value::Null);
    let (tree_id, logistic_id) = (
        format!("{:08x}", tree.header.model_id),
        format!("{:08x}", logistic.header.model_id),
    );
    let out = dir.path().join("c");
    let header = out.join("ebml_model.h");
    let holds = |id: &str| {
        std::fs::read_to_string(&header)
            .expect("header")
            .contains(&format!("#define EBML_MODEL_ID 0x{id}u"))
    };
    export_ok(&tree_path, &out, &[]);
    export_ok(&tree_path, &out, &[]);
    assert!(holds(&tree_id));

    let refused = export(&logistic_path, &out, &[]);
    assert!(!refused.status.success(), "a second model replaced the first");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains(&format!(
            "{} holds the C export of model {tree_id}, not of model {logistic_id}",
            header.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("another --prefix") && err.contains("--force"),
        "{err}"
    );
    assert!(holds(&tree_id), "the refused export wrote nothing");

    export_ok(&logistic_path, &out, &["--force"]);
    assert!(holds(&logistic_id));
    let source = std::fs::read_to_string(out.join("ebml_model.c")).expect("source");
    assert!(
        source.starts_with(&format!("/* Model {logistic_id}:")),
        "{source}"
    );

    let other = dir.path().join("mine");
    std::fs::create_dir_all(&other).expect("dir");
    let mine = "int main(void) { return 0; }\n";
    std::fs::write(other.join("ebml_model.c"), mine).expect("a file of the user's");
    let refused = export(&tree_path, &other, &[]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains(&format!(
            "{} exists and is not a C export of a workbench model",
            other.join("ebml_model.c").display()
        )) && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(other.join("ebml_model.c")).expect("kept"),
        mine
    );
    assert!(
        !other.join("ebml_model.h").exists(),
        "nothing written before the refusal"
    );
}

#[test]
fn a_prefix_that_is_not_a_lower_case_c_identifier_is_refused_naming_the_flag() {
    let dir = tempfile::tempdir().expect("tmp");
    let model = save(dir.path(), "tree", &sample_tree(), serde_json::Value::Null);
    let out = dir.path().join("c");
    for (prefix, why) in [
        ("9lives", "starts with a digit"),
        ("ids-v2", "holds '-'"),
        ("_ids", "starts with `_`"),
        ("", "is empty"),
        // `IDS_THRESHOLD` would be the macro of `ids` too: one firmware, one redefined macro.
        ("IDS", "holds the upper-case 'I'"),
        ("a_very_long_prefix_x", "is 20 characters long"),
    ] {
        let o = export(&model, &out, &["--prefix", prefix]);
        assert!(!o.status.success(), "{prefix:?} accepted");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(&format!("--prefix {prefix:?} {why}")), "{err}");
        assert!(
            err.contains("lower-case ASCII letters, digits and `_`, starting with a letter"),
            "{err}"
        );
        assert!(!out.exists(), "{prefix:?}: nothing written");
    }
}

/// A threshold, bias or split at i64::MIN is written as `(-INT64_MAX - 1)`: the literal
/// `-9223372036854775808LL` is refused by gcc and clang under -Werror.
#[test]
fn i64_min_constants_compile_under_werror() {
    let dir = tempfile::tempdir().expect("tmp");
    let tree = build::tree(
        &[
            Node::Split {
                feature: 3,
                threshold: i64::MIN,
                left: 1,
                right: 2,
            },
            Node::Leaf { score: i32::MIN },
            Node::Leaf { score: 1_000 },
        ],
        i64::MIN,
    )
    .expect("tree");
    let terms = [(
        2,
        LogisticTerm {
            weight: 977,
            shift: 4,
            transform: TRANSFORM_IDENTITY,
            _pad: [0; 2],
        },
    )];
    let logistic = build::logistic(&terms, i64::MIN, i64::MIN).expect("logistic");
    let compilers: Vec<&str> = ["gcc", "clang"]
        .into_iter()
        .filter(|c| have(c, "i64_min_constants_compile_under_werror"))
        .collect();
    for (name, m) in [("tmin", &tree), ("lmin", &logistic)] {
        let out = dir.path().join(name);
        export_ok(
            &save(dir.path(), name, m, serde_json::Value::Null),
            &out,
            &["--prefix", name],
        );
        let header = std::fs::read_to_string(out.join(format!("{name}_model.h"))).expect("header");
        assert!(
            header.contains(&format!(
                "#define {}_THRESHOLD (-INT64_MAX - 1)",
                name.to_ascii_uppercase()
            )),
            "{header}"
        );
        assert!(!header.contains("9223372036854775808"), "{header}");
        std::fs::write(out.join("main.c"), harness(&[name], count(m))).expect("harness");
        let xs = vectors(500, 3);
        for cc in &compilers {
            let exe = out.join(format!("scores_{cc}"));
            compile(
                cc,
                "-std=c99",
                &[
                    Path::new("-o"),
                    &exe,
                    &out.join(format!("{name}_model.c")),
                    &out.join("main.c"),
                ],
            );
            let lines = run_harness(&exe, &xs, count(m));
            assert_same_scores(name, &[m], &xs, &lines);
            assert!(
                lines.iter().all(|l| l.ends_with(" 1 ")),
                "{name}: every score is malicious"
            );
        }
    }
}

/// The header alone says how to use the model: the decision rule and threshold, what the score
/// is, each feature's id, name, unit and definition (the feature table's), which ones the model
/// reads, and the decision points the model file records, in `model show`'s words.
#[test]
fn the_header_describes_the_model_and_its_training_decision_points() {
    let dir = tempfile::tempdir().expect("tmp");
    let tree = build::syn_count_tree(2).expect("tree");
    let model = save(
        dir.path(),
        "syn",
        &tree,
        serde_json::json!({
            "sources": ["flows.pcap"],
            "rows": 10,
            "decision_points": {"decide_first": 32, "decide_every": 16},
        }),
    );
    let out = dir.path().join("c");
    export_ok(&model, &out, &[]);
    let header = std::fs::read_to_string(out.join("ebml_model.h")).expect("header");
    let syn = shared::features::feature_id("syn_count").expect("syn_count");
    let f = &FEATURES[syn];
    for needle in [
        format!("#define EBML_THRESHOLD {}LL", SCORE_ONE / 2),
        "a score >= EBML_THRESHOLD means malicious".into(),
        "for this model: malicious at P(malicious) >= 0.5000".into(),
        "score / 65536.0\n * is the probability".into(),
        "Trained at the probe's decision points: packets 1-32, then every 16th.".into(),
        "The model reads the 1 marked \"read\"; it ignores the others (any value, 0 will do).".into(),
        format!("/* {syn} {} [{}], read: {} */", f.name, f.unit, f.doc),
        format!("#define EBML_F_SYN_COUNT {syn}"),
        format!(
            "/*  0 {} [{}]: {} */",
            FEATURES[0].name, FEATURES[0].unit, FEATURES[0].doc
        ),
    ] {
        assert!(header.contains(&needle), "{needle}\n---\n{header}");
    }
    let show = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["model", "show"])
        .arg(&model)
        .output()
        .expect("model show runs");
    assert!(
        String::from_utf8_lossy(&show.stdout).contains("decision points: packets 1-32, then every 16th"),
        "model show says the same: {}",
        String::from_utf8_lossy(&show.stdout)
    );
}
