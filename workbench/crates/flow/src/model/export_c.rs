//! `workbench export MODEL --format c -o DIR`: the integer model as dependency-free C99 (a
//! header and a source file) for embedded targets. It computes exactly what `shared` computes:
//! the same node walk, the same integer log2, the same clamping, saturating sums and floor
//! shifts, written portably (a right shift of a negative number is implementation-defined in C,
//! so it is spelled out as a floor division).

use std::fmt::Write;
use std::path::Path;

pub use super::error::ExportError;
use shared::features::FEATURES;
use shared::model::{
    codec, Model, KIND_FOREST, KIND_LOGISTIC, KIND_TREE, LOG2_FRAC_BITS, MAX_DEPTH, TRANSFORM_LOG2,
};

use super::{id_string, kind_name};

pub struct Exported {
    pub header: String,
    pub source: String,
}

pub fn render(m: &Model) -> Exported {
    let h = &m.header;
    // The features of the model's file layout: 40 unless it reads the opt-in vlan_id, so a
    // model exported before that feature existed keeps its C interface.
    let feature_count = codec::layout_of(m).1;
    let id = id_string(h.model_id);
    let mut header = String::new();
    let _ = writeln!(
        header,
        "/* Model {id} ({}), exported by the eBPF ML workbench. C99, no dependencies. */",
        kind_name(h.kind)
    );
    header.push_str("#ifndef EBML_MODEL_H\n#define EBML_MODEL_H\n\n#include <stdint.h>\n\n");
    let _ = writeln!(
        header,
        "#define EBML_MODEL_ID 0x{:08x}u\n#define EBML_FEATURE_COUNT {feature_count}\n",
        h.model_id
    );
    header.push_str("/* Feature ids (the index in the vector passed to ebml_score):\n");
    for (i, f) in FEATURES.iter().take(feature_count).enumerate() {
        let _ = writeln!(header, " *   {i:2} {} [{}]", f.name, f.unit);
    }
    header.push_str(" */\n\n");
    header.push_str("/* The model's score (fixed point, x 65536) for one feature vector. */\n");
    header.push_str("int64_t ebml_score(const int64_t features[EBML_FEATURE_COUNT]);\n\n");
    header.push_str(
        "/* 1 when the score means malicious. */\nint ebml_is_malicious(int64_t score);\n\n#endif\n",
    );

    let mut src = String::new();
    let _ = writeln!(
        src,
        "/* Model {id}: generated, do not edit. Mirrors shared/src/model of the workbench. */"
    );
    src.push_str("#include \"ebml_model.h\"\n\n");
    let _ = writeln!(src, "static const int64_t EBML_THRESHOLD = {}LL;", h.threshold);
    if h.kind == KIND_LOGISTIC {
        let _ = writeln!(src, "static const int64_t EBML_BIAS = {}LL;", h.bias);
    }
    src.push('\n');
    if h.kind != KIND_TREE {
        src.push_str(
            "static int64_t sat_add(int64_t a, int64_t b) {\n    if (b > 0 && a > INT64_MAX - b) return INT64_MAX;\n    if (b < 0 && a < INT64_MIN - b) return INT64_MIN;\n    return a + b;\n}\n\n",
        );
    }
    let nodes = if h.kind == KIND_LOGISTIC {
        0
    } else {
        h.node_count as usize
    };
    if nodes > 0 {
        src.push_str("typedef struct { int64_t threshold; int32_t score; uint8_t feature; uint8_t is_leaf; uint16_t left; uint16_t right; } ebml_node;\n\n");
        let _ = writeln!(src, "static const ebml_node EBML_NODES[{nodes}] = {{");
        for n in &m.nodes[..nodes] {
            let _ = writeln!(
                src,
                "    {{ {}LL, {}, {}, {}, {}, {} }},",
                n.threshold, n.score, n.feature, n.is_leaf, n.left, n.right
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
        let _ = writeln!(
            src,
            "static const uint16_t EBML_ROOTS[{}] = {{ {} }};\n",
            roots.len(),
            roots.join(", ")
        );
        let _ = writeln!(
            src,
            "static int64_t walk(uint16_t root, const int64_t *x) {{\n    uint32_t i = root;\n    int step;\n    for (step = 0; step < {}; step++) {{\n        const ebml_node *n = &EBML_NODES[i];\n        if (n->is_leaf) return n->score;\n        i = (x[n->feature] <= n->threshold) ? n->left : n->right;\n    }}\n    return 0;\n}}\n",
            MAX_DEPTH + 1
        );
    }
    if h.kind == KIND_LOGISTIC {
        let (mut w, mut s, mut t) = (Vec::new(), Vec::new(), Vec::new());
        for term in &m.terms[..feature_count] {
            w.push(term.weight.to_string());
            s.push(term.shift.to_string());
            t.push(term.transform.to_string());
        }
        let _ = writeln!(
            src,
            "static const int32_t EBML_WEIGHTS[{feature_count}] = {{ {} }};",
            w.join(", ")
        );
        let _ = writeln!(
            src,
            "static const uint8_t EBML_SHIFTS[{feature_count}] = {{ {} }};",
            s.join(", ")
        );
        let _ = writeln!(
            src,
            "static const uint8_t EBML_TRANSFORMS[{feature_count}] = {{ {} }};\n",
            t.join(", ")
        );
        let _ = writeln!(
            src,
            "/* log2(1 + x) with {LOG2_FRAC_BITS} fractional bits, as the probe computes it. */\nstatic int64_t log2fx(int64_t x) {{\n    uint64_t v = (uint64_t)(x > 0 ? x : 0) + 1u;\n    uint64_t frac, mask = (1u << {LOG2_FRAC_BITS}) - 1u;\n    int ip = 63;\n    if (v == 0) v = UINT64_MAX; /* saturating add of the +1 */\n    while (ip > 0 && !((v >> ip) & 1u)) ip--;\n    frac = ip >= {LOG2_FRAC_BITS} ? (v >> (ip - {LOG2_FRAC_BITS})) & mask : (v << ({LOG2_FRAC_BITS} - ip)) & mask;\n    return ((int64_t)ip << {LOG2_FRAC_BITS}) | (int64_t)frac;\n}}\n"
        );
        src.push_str(
            "/* Floor of v / 2^s (what an arithmetic right shift gives, spelled out portably). */\nstatic int64_t floor_shift(int64_t v, unsigned s) {\n    if (s == 0) return v;\n    if (v >= 0) return v >> s;\n    return -(((-(v + 1)) >> s) + 1);\n}\n\n",
        );
        let _ = writeln!(
            src,
            "static int64_t term(int i, int64_t value) {{\n    int64_t x = EBML_TRANSFORMS[i] == {TRANSFORM_LOG2} ? log2fx(value) : value;\n    if (x < 0) x = 0;\n    if (x > INT32_MAX) x = INT32_MAX;\n    return floor_shift(x * (int64_t)EBML_WEIGHTS[i], EBML_SHIFTS[i] & 63u);\n}}\n"
        );
    }
    src.push_str("int64_t ebml_score(const int64_t features[EBML_FEATURE_COUNT]) {\n");
    match h.kind {
        KIND_TREE => src.push_str("    return walk(EBML_ROOTS[0], features);\n"),
        KIND_FOREST => src.push_str(
            "    int64_t sum = 0;\n    unsigned t;\n    for (t = 0; t < sizeof EBML_ROOTS / sizeof EBML_ROOTS[0]; t++) sum = sat_add(sum, walk(EBML_ROOTS[t], features));\n    return sum;\n",
        ),
        KIND_LOGISTIC => src.push_str(
            "    int64_t acc = EBML_BIAS;\n    int i;\n    for (i = 0; i < EBML_FEATURE_COUNT; i++) acc = sat_add(acc, term(i, features[i]));\n    return acc;\n",
        ),
        _ => src.push_str("    (void)features;\n    return 0;\n"),
    }
    src.push_str("}\n\nint ebml_is_malicious(int64_t score) {\n    return score >= EBML_THRESHOLD;\n}\n");
    Exported { header, source: src }
}

/// Writes `ebml_model.h` and `ebml_model.c` into `dir`.
pub fn write(m: &Model, dir: &Path) -> Result<Vec<String>, ExportError> {
    std::fs::create_dir_all(dir).map_err(|source| ExportError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let e = render(m);
    let mut written = Vec::new();
    for (name, text) in [("ebml_model.h", &e.header), ("ebml_model.c", &e.source)] {
        let path = dir.join(name);
        if let Err(source) = std::fs::write(&path, text) {
            return Err(ExportError::Write { path, source });
        }
        written.push(path.display().to_string());
    }
    Ok(written)
}
