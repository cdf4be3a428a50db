//! `workbench export MODEL --format c -o DIR`: the integer model as dependency-free C99 (a
//! header and a source file) for embedded targets. It computes exactly what `shared` computes:
//! the same node walk, the same integer log2, the same clamping, saturating sums and floor
//! shifts, written portably (a right shift of a negative number is implementation-defined in C,
//! so it is spelled out as a floor division).
//!
//! Every name of an export starts with its prefix (`--prefix`, default `ebml`), the static ones
//! in the source too, so two models link (or are #included) into one firmware; the header alone
//! says how to call the model and what its score means.

use std::fmt::Write;
use std::path::{Path, PathBuf};

pub use super::error::ExportError;
use shared::features::FEATURES;
use shared::model::{
    codec, Model, KIND_FOREST, KIND_LOGISTIC, KIND_TREE, LOG2_FRAC_BITS, MAX_DEPTH, SCORE_ONE, TRANSFORM_LOG2,
};

use super::build::used_features;
use super::scale::{threshold_words, ScoreScale};
use super::{id_string, kind_name};

/// The prefix of the names every export had before `--prefix`: `ebml_score`, `EBML_MODEL_H`,
/// `ebml_model.h`.
pub const DEFAULT_PREFIX: &str = "ebml";

/// How to export, besides the model.
#[derive(Debug, Clone)]
pub struct Options {
    /// Begins every function, macro (upper-cased), the header guard and the file names.
    pub prefix: String,
    /// The decision points the model was trained at, in words (as `model show` says them), when
    /// the model file records them.
    pub decision_points: Option<String>,
    /// The model file says its training rows held whole flows' end-of-flow values (a public
    /// dataset's CSV): the header warns that scores of a flow so far are not what it was tested on.
    pub end_of_flow: bool,
    /// Overwrite output files that hold another model's export (or no export).
    pub force: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            prefix: DEFAULT_PREFIX.into(),
            decision_points: None,
            end_of_flow: false,
            force: false,
        }
    }
}

pub struct Exported {
    pub header: String,
    pub source: String,
}

/// The header's and the source's file names for `prefix`.
pub fn file_names(prefix: &str) -> [String; 2] {
    [format!("{prefix}_model.h"), format!("{prefix}_model.c")]
}

/// The longest prefix: `PREFIX_is_malicious`, the longest external name, then stays within the
/// 31 characters C99 promises to tell external names apart (older firmware toolchains cut there).
pub const MAX_PREFIX_CHARS: usize = 31 - "_is_malicious".len();

/// A prefix must make C identifiers of every name. A leading `_` is refused too: upper-cased
/// (macros, the guard) it makes `_X...`, a name C reserves for the implementation. Upper case is
/// refused because macros are the prefix upper-cased: `ids` and `IDS` would define the same
/// `IDS_THRESHOLD` in one firmware, and a redefined macro is only a warning in C.
pub fn check_prefix(prefix: &str) -> Result<(), ExportError> {
    let why = match prefix.chars().next() {
        None => Some("is empty".to_string()),
        Some(c) if c.is_ascii_digit() => Some("starts with a digit".into()),
        Some('_') => Some("starts with `_` (C reserves such names once upper-cased)".into()),
        _ => prefix
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
            .map(|c| format!("holds {c:?}"))
            .or_else(|| {
                prefix.chars().find(char::is_ascii_uppercase).map(|c| {
                    format!(
                        "holds the upper-case {c:?} (macros are the prefix upper-cased: two prefixes differing \
                         only in case would define the same ones)"
                    )
                })
            })
            .or_else(|| {
                (prefix.len() > MAX_PREFIX_CHARS).then(|| {
                    format!(
                        "is {} characters long (`{prefix}_is_malicious` would pass the 31 characters C99 \
                         promises to tell external names apart)",
                        prefix.len()
                    )
                })
            }),
    };
    match why {
        Some(why) => Err(ExportError::Prefix {
            prefix: prefix.into(),
            why,
        }),
        None => Ok(()),
    }
}

/// Every signed constant of the export. `-9223372036854775808LL` is the negation of a constant
/// no signed type holds, which gcc and clang reject under -Werror, so i64::MIN is an expression;
/// negative values are parenthesised so that a macro stays one operand.
pub fn c_int(v: i64) -> String {
    match v {
        i64::MIN => "(-INT64_MAX - 1)".into(),
        v if v < 0 => format!("({v}LL)"),
        v => format!("{v}LL"),
    }
}

/// Text from the feature table placed inside a C comment: nothing in it may end the comment,
/// open a nested one (-Wcomment) or form a trigraph (-Wtrigraphs, on in -std=c99).
fn comment_text(s: &str) -> String {
    s.replace("*/", "* /").replace("/*", "/ *").replace("??", "? ?")
}

/// `@p` and `@P` in a template: the prefix and its upper-case form (macros, the guard).
struct Names<'a> {
    lower: &'a str,
    upper: String,
}

impl Names<'_> {
    fn fill(&self, template: &str) -> String {
        template.replace("@P", &self.upper).replace("@p", self.lower)
    }
}

/// The score in words, per kind: what the integer is and how to read it as a probability.
fn score_words(m: &Model) -> String {
    let one = SCORE_ONE;
    match m.header.kind {
        KIND_TREE => format!(
            " * The score is the P(malicious) of the leaf the features reach, in fixed point: \
             score / {one}.0\n * is the probability (@P_SCORE_ONE, {one}, is 1.0)."
        ),
        KIND_FOREST => format!(
            " * The score is the sum of the {n} trees' leaves, each a P(malicious) in fixed \
             point (@P_SCORE_ONE,\n * {one}, is 1.0): score / ({n} * {one}.0) is their mean \
             probability.",
            n = m.header.tree_count
        ),
        KIND_LOGISTIC => format!(
            " * The score is the logit (the log-odds of malicious) in fixed point: score / \
             {one}.0 is the logit\n * and 1 / (1 + exp(-score / {one}.0)) the probability."
        ),
        _ => " * This model kind scores every vector 0.".into(),
    }
}

fn render_header(m: &Model, n: &Names, opts: &Options) -> String {
    let h = &m.header;
    // The features of the model's file layout: 40 unless it reads the opt-in vlan_id, so a
    // model exported before that feature existed keeps its C interface.
    let feature_count = codec::layout_of(m).1;
    let id = id_string(h.model_id);
    let [h_name, c_name] = file_names(n.lower);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "/* Model {id} ({}), exported by the eBPF ML workbench. C99, no dependencies.",
        kind_name(h.kind)
    );
    out.push_str(&n.fill(&format!(
        " * Compile {c_name} with the firmware and include {h_name} (C or C++): fill a vector of\n * @P_FEATURE_COUNT features (ids below), call @p_score on it, then @p_is_malicious on the score.\n * Integers only: the score is the probe's, bit for bit. */\n"
    )));
    out.push_str(&n.fill(
        "#ifndef @P_MODEL_H\n#define @P_MODEL_H\n\n#include <stdint.h>\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n",
    ));
    out.push_str(&n.fill(&format!(
        "#define @P_MODEL_ID 0x{:08x}u\n#define @P_FEATURE_COUNT {feature_count}\n/* The fixed-point scale of scores: {SCORE_ONE} is 1.0. */\n#define @P_SCORE_ONE {}\n\n",
        h.model_id,
        c_int(SCORE_ONE)
    )));
    let rule = if h.threshold == i64::MIN {
        "every score is malicious".to_string()
    } else {
        threshold_words(ScoreScale::of(m), h.threshold)
    };
    out.push_str(&n.fill(&format!(
        "/* The decision: a score >= @P_THRESHOLD means malicious (what @p_is_malicious returns 1 for);\n * for this model: {rule}.\n{}\n */\n#define @P_THRESHOLD {}\n\n",
        score_words(m),
        c_int(h.threshold)
    )));
    if let Some(points) = &opts.decision_points {
        let _ = writeln!(
            out,
            "/* Trained at the probe's decision points: {}.\n * The probe scores a flow at those packets, on the flow's features so far; score at the same\n * packets for the decisions the model was tested on. */\n",
            comment_text(points)
        );
    }
    if opts.end_of_flow {
        out.push_str(&n.fill(
            "/* Trained on END-OF-FLOW values: each training row held a whole flow's statistics, as a\n * public dataset's CSV does. The probe, or firmware calling @p_score on a flow's first packets,\n * sees the flow so far, whose values differ: the test-side figures of this model do not hold for\n * those decisions (`workbench skew MODEL CAPTURE` measures how far the values move; a model\n * trained on a capture with `--at decision-points` is tested on what it will see). */\n\n",
        ));
    }
    let used = used_features(m);
    let reads = (0..feature_count).filter(|i| used & (1 << i) != 0).count();
    let reading = match reads {
        0 => "The model reads no feature (its score is a constant).".to_string(),
        r if r == feature_count => format!("The model reads all {r}."),
        r => {
            format!("The model reads the {r} marked \"read\"; it ignores the others (any value, 0 will do).")
        }
    };
    out.push_str(&n.fill(&format!(
        "/* The features: the index in the vector passed to @p_score, the name [unit] and what it is.\n * {reading} */\n"
    )));
    for (i, f) in FEATURES.iter().take(feature_count).enumerate() {
        let mark = if used & (1 << i) != 0 { ", read" } else { "" };
        let _ = writeln!(
            out,
            "/* {i:2} {} [{}]{mark}: {} */\n{} {i}",
            f.name,
            f.unit,
            comment_text(f.doc),
            n.fill(&format!("#define @P_F_{}", f.name.to_ascii_uppercase()))
        );
    }
    out.push_str(&n.fill(
        "\n/* The model's score for one feature vector (see above for what it means). */\nint64_t @p_score(const int64_t features[@P_FEATURE_COUNT]);\n\n/* 1 when the score means malicious (score >= @P_THRESHOLD), else 0. */\nint @p_is_malicious(int64_t score);\n\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n",
    ));
    out
}

fn render_source(m: &Model, n: &Names) -> String {
    let h = &m.header;
    let feature_count = codec::layout_of(m).1;
    let id = id_string(h.model_id);
    let mut src = String::new();
    let _ = writeln!(
        src,
        "/* Model {id}: generated, do not edit. Mirrors shared/src/model of the workbench. */"
    );
    let [h_name, _] = file_names(n.lower);
    let _ = writeln!(src, "#include \"{h_name}\"\n");
    if h.kind == KIND_LOGISTIC {
        src.push_str(&n.fill(&format!("static const int64_t @P_BIAS = {};\n\n", c_int(h.bias))));
    }
    if h.kind != KIND_TREE {
        src.push_str(&n.fill(
            "static int64_t @p_sat_add(int64_t a, int64_t b) {\n    if (b > 0 && a > INT64_MAX - b) return INT64_MAX;\n    if (b < 0 && a < INT64_MIN - b) return INT64_MIN;\n    return a + b;\n}\n\n",
        ));
    }
    let nodes = if h.kind == KIND_LOGISTIC {
        0
    } else {
        h.node_count as usize
    };
    if nodes > 0 {
        src.push_str(&n.fill("typedef struct { int64_t threshold; int32_t score; uint8_t feature; uint8_t is_leaf; uint16_t left; uint16_t right; } @p_node;\n\n"));
        src.push_str(&n.fill(&format!("static const @p_node @P_NODES[{nodes}] = {{\n")));
        for node in &m.nodes[..nodes] {
            let _ = writeln!(
                src,
                "    {{ {}, {}, {}, {}, {}, {} }},",
                c_int(node.threshold),
                c_int(i64::from(node.score)),
                node.feature,
                node.is_leaf,
                node.left,
                node.right
            );
        }
        src.push_str("};\n\n");
        let trees = if h.kind == KIND_FOREST {
            h.tree_count as usize
        } else {
            1
        };
        let roots: Vec<String> = m.roots[..trees.max(1)]
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        src.push_str(&n.fill(&format!(
            "static const uint16_t @P_ROOTS[{}] = {{ {} }};\n\n",
            roots.len(),
            roots.join(", ")
        )));
        src.push_str(&n.fill(&format!(
            "static int64_t @p_walk(uint16_t root, const int64_t *x) {{\n    uint32_t i = root;\n    int step;\n    for (step = 0; step < {}; step++) {{\n        const @p_node *n = &@P_NODES[i];\n        if (n->is_leaf) return n->score;\n        i = (x[n->feature] <= n->threshold) ? n->left : n->right;\n    }}\n    return 0;\n}}\n\n",
            MAX_DEPTH + 1
        )));
    }
    if h.kind == KIND_LOGISTIC {
        render_terms(m, n, feature_count, &mut src);
    }
    src.push_str(&n.fill("int64_t @p_score(const int64_t features[@P_FEATURE_COUNT]) {\n"));
    src.push_str(&n.fill(match h.kind {
        KIND_TREE => "    return @p_walk(@P_ROOTS[0], features);\n",
        KIND_FOREST => "    int64_t sum = 0;\n    unsigned t;\n    for (t = 0; t < sizeof @P_ROOTS / sizeof @P_ROOTS[0]; t++) sum = @p_sat_add(sum, @p_walk(@P_ROOTS[t], features));\n    return sum;\n",
        KIND_LOGISTIC => "    int64_t acc = @P_BIAS;\n    int i;\n    for (i = 0; i < @P_FEATURE_COUNT; i++) acc = @p_sat_add(acc, @p_term(i, features[i]));\n    return acc;\n",
        _ => "    (void)features;\n    return 0;\n",
    }));
    src.push_str(
        &n.fill("}\n\nint @p_is_malicious(int64_t score) {\n    return score >= @P_THRESHOLD;\n}\n"),
    );
    src
}

/// A logistic model's weights, shifts and transforms, and its per-feature term.
fn render_terms(m: &Model, n: &Names, feature_count: usize, src: &mut String) {
    let (mut w, mut s, mut t) = (Vec::new(), Vec::new(), Vec::new());
    for term in &m.terms[..feature_count] {
        w.push(c_int(i64::from(term.weight)));
        s.push(term.shift.to_string());
        t.push(term.transform.to_string());
    }
    src.push_str(&n.fill(&format!(
        "static const int32_t @P_WEIGHTS[{feature_count}] = {{ {} }};\nstatic const uint8_t @P_SHIFTS[{feature_count}] = {{ {} }};\nstatic const uint8_t @P_TRANSFORMS[{feature_count}] = {{ {} }};\n\n",
        w.join(", "),
        s.join(", "),
        t.join(", ")
    )));
    src.push_str(&n.fill(&format!(
        "/* log2(1 + x) with {LOG2_FRAC_BITS} fractional bits, as the probe computes it. */\nstatic int64_t @p_log2fx(int64_t x) {{\n    uint64_t v = (uint64_t)(x > 0 ? x : 0) + 1u;\n    uint64_t frac, mask = (1u << {LOG2_FRAC_BITS}) - 1u;\n    int ip = 63;\n    if (v == 0) v = UINT64_MAX; /* saturating add of the +1 */\n    while (ip > 0 && !((v >> ip) & 1u)) ip--;\n    frac = ip >= {LOG2_FRAC_BITS} ? (v >> (ip - {LOG2_FRAC_BITS})) & mask : (v << ({LOG2_FRAC_BITS} - ip)) & mask;\n    return ((int64_t)ip << {LOG2_FRAC_BITS}) | (int64_t)frac;\n}}\n\n"
    )));
    src.push_str(&n.fill(
        "/* Floor of v / 2^s (what an arithmetic right shift gives, spelled out portably). */\nstatic int64_t @p_floor_shift(int64_t v, unsigned s) {\n    if (s == 0) return v;\n    if (v >= 0) return v >> s;\n    return -(((-(v + 1)) >> s) + 1);\n}\n\n",
    ));
    src.push_str(&n.fill(&format!(
        "static int64_t @p_term(int i, int64_t value) {{\n    int64_t x = @P_TRANSFORMS[i] == {TRANSFORM_LOG2} ? @p_log2fx(value) : value;\n    if (x < 0) x = 0;\n    if (x > INT32_MAX) x = INT32_MAX;\n    return @p_floor_shift(x * (int64_t)@P_WEIGHTS[i], @P_SHIFTS[i] & 63u);\n}}\n\n"
    )));
}

/// The header and the source of `m` under `opts.prefix` (checked by [`check_prefix`]).
pub fn render(m: &Model, opts: &Options) -> Exported {
    let names = Names {
        lower: &opts.prefix,
        upper: opts.prefix.to_ascii_uppercase(),
    };
    Exported {
        header: render_header(m, &names, opts),
        source: render_source(m, &names),
    }
}

/// The model id an export names on its first line (`/* Model 1a2b3c4d ...`; exports before
/// `--prefix` wrote the same line), None for any other text.
fn exported_model(text: &str) -> Option<&str> {
    let id = text.lines().next()?.strip_prefix("/* Model ")?.get(..8)?;
    id.chars().all(|c| c.is_ascii_hexdigit()).then_some(id)
}

/// Refuses, before anything is written, a file in the way that holds another model's export
/// or none: a second export into the same folder must not replace the first without a word.
fn check_overwrite(path: &Path, model: &str) -> Result<(), ExportError> {
    // Unreadable (or not UTF-8) counts as "not an export".
    let Ok(text) = std::fs::read_to_string(path) else {
        return if path.exists() {
            Err(ExportError::OtherModel {
                path: path.to_path_buf(),
                found: None,
                model: model.into(),
            })
        } else {
            Ok(())
        };
    };
    match exported_model(&text) {
        Some(found) if found == model => Ok(()),
        found => Err(ExportError::OtherModel {
            path: path.to_path_buf(),
            found: found.map(str::to_string),
            model: model.into(),
        }),
    }
}

/// Writes `{prefix}_model.h` and `{prefix}_model.c` into `dir`; their paths.
pub fn write(m: &Model, dir: &Path, opts: &Options) -> Result<Vec<String>, ExportError> {
    check_prefix(&opts.prefix)?;
    let paths: Vec<PathBuf> = file_names(&opts.prefix)
        .iter()
        .map(|name| dir.join(name))
        .collect();
    if !opts.force {
        let id = id_string(m.header.model_id);
        for path in &paths {
            check_overwrite(path, &id)?;
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| ExportError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let e = render(m, opts);
    let mut written = Vec::new();
    for (path, text) in paths.into_iter().zip([&e.header, &e.source]) {
        if let Err(source) = std::fs::write(&path, text) {
            return Err(ExportError::Write { path, source });
        }
        written.push(path.display().to_string());
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::build;

    #[test]
    fn export_literals_spell_i64_min_as_an_expression() {
        assert_eq!(c_int(i64::MIN), "(-INT64_MAX - 1)");
        assert_eq!(c_int(i64::MIN + 1), "(-9223372036854775807LL)");
        assert_eq!(c_int(-5), "(-5LL)");
        assert_eq!(c_int(0), "0LL");
        assert_eq!(c_int(i64::MAX), "9223372036854775807LL");
    }

    #[test]
    fn export_prefix_must_make_c_identifiers() {
        for ok in ["ebml", "ids_v2", "a", "m_1a2b3c4d", "abcdefghijklmnopqr"] {
            assert!(check_prefix(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", "is empty"),
            ("9lives", "starts with a digit"),
            ("_x", "starts with `_`"),
            ("ids-v2", "holds '-'"),
            ("é", "holds 'é'"),
            ("IDS", "holds the upper-case 'I'"),
            ("ids_V2", "holds the upper-case 'V'"),
            ("abcdefghijklmnopqrs", "is 19 characters long"),
        ] {
            let e = check_prefix(bad).expect_err(bad).to_string();
            assert!(e.starts_with(&format!("--prefix {bad:?} {why}")), "{e}");
            assert!(e.contains("lower-case ASCII letters, digits and `_`"), "{e}");
        }
        assert_eq!(MAX_PREFIX_CHARS, 18);
    }

    #[test]
    fn export_names_carry_the_prefix_and_the_header_says_how_to_use_the_model() {
        let m = build::syn_count_tree(2).expect("tree");
        let opts = Options {
            prefix: "ids_a".into(),
            decision_points: Some("packets 1-32, then every 16th".into()),
            ..Options::default()
        };
        let e = render(&m, &opts);
        for needle in [
            "#ifndef IDS_A_MODEL_H",
            "extern \"C\" {",
            "#define IDS_A_THRESHOLD 32768LL",
            "a score >= IDS_A_THRESHOLD means malicious",
            "malicious at P(malicious) >= 0.5000",
            "score / 65536.0",
            "packets 1-32, then every 16th",
            "The model reads the 1 marked \"read\"; it ignores the others",
            "21 syn_count [packets], read: packets with SYN, both directions",
            "#define IDS_A_F_SYN_COUNT 21",
            "int64_t ids_a_score(const int64_t features[IDS_A_FEATURE_COUNT]);",
            "int ids_a_is_malicious(int64_t score);",
        ] {
            assert!(e.header.contains(needle), "{needle}\n{}", e.header);
        }
        // Every definition is the feature table's, and no name of another prefix is left.
        for f in FEATURES.iter().take(40) {
            assert!(e.header.contains(&comment_text(f.doc)), "{}", f.name);
        }
        for text in [&e.header, &e.source] {
            assert!(!text.contains("ebml_") && !text.contains("EBML_"), "{text}");
        }
        assert!(e.source.contains("#include \"ids_a_model.h\""));
        assert_eq!(
            exported_model(&e.header),
            Some(id_string(m.header.model_id).as_str())
        );
        assert_eq!(
            exported_model(&e.source),
            Some(id_string(m.header.model_id).as_str())
        );
        // Without a recorded training, no decision points are claimed.
        let plain = render(&m, &Options::default());
        assert!(!plain.header.contains("decision points"), "{}", plain.header);
        assert!(!plain.header.contains("END-OF-FLOW"), "{}", plain.header);
        // Trained on end-of-flow rows: the header says its figures are not the probe's.
        let eof = render(
            &m,
            &Options {
                end_of_flow: true,
                ..Options::default()
            },
        );
        assert!(
            eof.header.contains("Trained on END-OF-FLOW values")
                && eof.header.contains("ebml_score on a flow's first"),
            "{}",
            eof.header
        );
        assert!(plain.header.contains("#ifndef EBML_MODEL_H"));
    }

    #[test]
    fn export_feature_names_make_macro_names() {
        for f in &FEATURES {
            assert!(
                f.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                f.name
            );
        }
    }
}
