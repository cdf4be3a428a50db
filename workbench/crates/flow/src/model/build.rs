//! Building integer models field by field (the compiler of trained models and the tests use
//! this), and sealing them: feature mask, version, content id.

use shared::features::FEATURE_COUNT;
use shared::model::codec::{self, FNV_OFFSET};
use shared::model::{
    LogisticTerm, Model, ModelHeader, TreeNode, KIND_FOREST, KIND_LOGISTIC, KIND_TREE, MAX_NODES, MAX_TREES,
    MODEL_LAYOUT_VERSION, MODEL_MAGIC,
};

pub use super::error::CompileError;

type Result<T, E = CompileError> = std::result::Result<T, E>;

/// A node as built in userspace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Node {
    /// Go to `left` when feature <= threshold, else `right`.
    Split {
        feature: usize,
        threshold: i64,
        left: usize,
        right: usize,
    },
    Leaf {
        score: i32,
    },
}

fn fill_nodes(model: &mut Model, nodes: &[Node]) -> Result<()> {
    if nodes.is_empty() || nodes.len() > MAX_NODES {
        return Err(CompileError::TreeSize { nodes: nodes.len() });
    }
    for (i, n) in nodes.iter().enumerate() {
        model.nodes[i] = match *n {
            Node::Split {
                feature,
                threshold,
                left,
                right,
            } => {
                if feature >= FEATURE_COUNT || left >= nodes.len() || right >= nodes.len() {
                    return Err(CompileError::NodeOutOfRange {
                        node: i,
                        feature,
                        left,
                        right,
                    });
                }
                TreeNode {
                    threshold,
                    feature: feature as u8,
                    left: left as u16,
                    right: right as u16,
                    ..TreeNode::default()
                }
            }
            Node::Leaf { score } => TreeNode {
                score,
                is_leaf: 1,
                ..TreeNode::default()
            },
        };
    }
    Ok(())
}

fn header(kind: u8, node_count: usize, tree_count: usize, threshold: i64, bias: i64) -> ModelHeader {
    ModelHeader {
        magic: MODEL_MAGIC,
        layout_version: MODEL_LAYOUT_VERSION,
        kind,
        feature_count: FEATURE_COUNT as u8,
        node_count: node_count as u16,
        tree_count: tree_count as u16,
        threshold,
        bias,
        ..ModelHeader::default()
    }
}

/// A decision tree (node 0 is the root); malicious when the leaf score >= `threshold`.
pub fn tree(nodes: &[Node], threshold: i64) -> Result<Box<Model>> {
    let mut m = Box::new(Model::zeroed());
    fill_nodes(&mut m, nodes)?;
    m.header = header(KIND_TREE, nodes.len(), 1, threshold, 0);
    seal(&mut m)?;
    Ok(m)
}

/// The smallest model whose verdict traffic can drive: malicious (score 1.0) once a flow has
/// seen `min_syns` SYN packets, benign (0) before. The twin's unit test and the kernel tests
/// (models, flood) use it, so they all exercise one known tree.
pub fn syn_count_tree(min_syns: u32) -> Result<Box<Model>> {
    let Some(syn) = shared::features::feature_id("syn_count") else {
        return Err(CompileError::NoSynCount);
    };
    if min_syns == 0 {
        return Err(CompileError::ZeroMinSyns);
    }
    tree(
        &[
            Node::Split {
                feature: syn,
                threshold: i64::from(min_syns) - 1,
                left: 1,
                right: 2,
            },
            Node::Leaf { score: 0 },
            Node::Leaf {
                score: shared::model::SCORE_ONE as i32,
            },
        ],
        shared::model::SCORE_ONE / 2,
    )
}

/// A forest: `trees` are node lists, concatenated; scores add up.
pub fn forest(trees: &[Vec<Node>], threshold: i64) -> Result<Box<Model>> {
    if trees.is_empty() || trees.len() > MAX_TREES {
        return Err(CompileError::ForestSize { trees: trees.len() });
    }
    let mut all = Vec::new();
    let mut m = Box::new(Model::zeroed());
    for (t, nodes) in trees.iter().enumerate() {
        let base = all.len();
        m.roots[t] = base as u16;
        all.extend(nodes.iter().map(|n| match *n {
            Node::Split {
                feature,
                threshold,
                left,
                right,
            } => Node::Split {
                feature,
                threshold,
                left: left + base,
                right: right + base,
            },
            leaf @ Node::Leaf { .. } => leaf,
        }));
    }
    fill_nodes(&mut m, &all)?;
    m.header = header(KIND_FOREST, all.len(), trees.len(), threshold, 0);
    seal(&mut m)?;
    Ok(m)
}

/// A logistic model from integer terms (feature id -> term) and a bias, both x 2^16.
pub fn logistic(terms: &[(usize, LogisticTerm)], bias: i64, threshold: i64) -> Result<Box<Model>> {
    let mut m = Box::new(Model::zeroed());
    for &(i, t) in terms {
        if i >= FEATURE_COUNT {
            return Err(CompileError::NoSuchFeature { feature: i });
        }
        m.terms[i] = t;
    }
    m.header = header(KIND_LOGISTIC, 0, 0, threshold, bias);
    seal(&mut m)?;
    Ok(m)
}

/// Features a model reads.
pub fn used_features(m: &Model) -> u64 {
    let mut mask = 0u64;
    if m.header.kind == KIND_LOGISTIC {
        for (i, t) in m.terms.iter().enumerate() {
            if t.weight != 0 {
                mask |= 1 << i;
            }
        }
    } else {
        for n in &m.nodes[..m.header.node_count as usize] {
            if n.is_leaf == 0 {
                mask |= 1 << n.feature;
            }
        }
    }
    mask
}

/// The id a sealed model carries: the hash of its encoded content without the id and the
/// checksum, so equal models get equal ids (and a file whose id is not its content's was
/// edited).
pub fn content_id(m: &Model) -> u32 {
    let mut bytes = vec![0u8; codec::encoded_len(m)];
    codec::encode(m, &mut bytes);
    bytes[12..16].fill(0);
    bytes[40..44].fill(0);
    codec::fnv1a(FNV_OFFSET, &bytes)
}

/// Sets the feature mask and the content id, then validates the model through the codec, so a
/// sealed model is exactly what a model file or the kernel will accept.
pub fn seal(m: &mut Model) -> Result<()> {
    m.header.feature_mask = used_features(m);
    m.header.model_id = content_id(m);
    m.header.checksum = 0;
    let mut bytes = vec![0u8; codec::encoded_len(m)];
    codec::encode(m, &mut bytes);
    let mut check = Box::new(Model::zeroed());
    codec::decode(&bytes, &mut check).map_err(CompileError::Invalid)?;
    m.header.checksum = check.header.checksum;
    Ok(())
}
