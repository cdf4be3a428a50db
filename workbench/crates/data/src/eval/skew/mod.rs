//! The skew report: the training rows' per-feature quantiles (recorded in the model file) against
//! the same features where the model now decides (the probe's decision points on a capture, or a
//! table's rows). Features are ranked by PSI; for each, the tree splits or the logistic term the
//! shift moves, and a sentence saying what happened, e.g. "trained on end-of-flow `duration_us`
//! (median 5.2 s); decided at packets 1-32, then every 16th (median 0.4 ms)".

pub(crate) mod stats;
pub mod words;

use serde::Serialize;
use shared::model::{Model, KIND_LOGISTIC, MAX_NODES, SCORE_ONE};
use workbench_flow::model::distribution::{FeatureQuantiles, TakenAt, TrainingQuantiles, WeightedColumn};

pub use stats::{flow_key, Decisions};

/// PSI above which a feature counts as shifted (the usual reading: below 0.1 stable, 0.1-0.25
/// moderate, above 0.25 a major shift).
pub const PSI_MAJOR: f64 = 0.25;
pub const PSI_MODERATE: f64 = 0.1;

/// What the training rows were (from the model file).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TrainedOn {
    pub taken_at: TakenAt,
    pub source: String,
    pub rows: u64,
}

/// The decision packets seen on the data (captures).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PacketRange {
    pub min: u32,
    pub median: u32,
    pub max: u32,
}

/// How a shift moves one part of the model.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Move {
    /// A tree split `feature <= threshold`: the share of rows it sends left, at training (about:
    /// from the recorded quantiles) and at the decisions (exact).
    Split {
        node: usize,
        threshold: i64,
        training_left_share: f64,
        decisions_left_share: f64,
    },
    /// A logistic term: its contribution to the logit at the training median and at the
    /// decisions' median.
    Term {
        training_median_contribution: f64,
        decisions_median_contribution: f64,
    },
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FeatureShift {
    pub rank: usize,
    pub feature: String,
    pub unit: String,
    /// The model reads it (a tree split on it, or a logistic weight other than 0).
    pub used_by_model: bool,
    pub psi: f64,
    pub ks: f64,
    /// Share of decisions below the training minimum or above the training maximum.
    pub outside_training_range_share: f64,
    pub below_training_min_share: f64,
    pub above_training_max_share: f64,
    /// Values at the report's `levels`.
    pub training_quantiles: Vec<i64>,
    pub decision_quantiles: Vec<i64>,
    pub moves: Vec<Move>,
    pub words: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SkewReport {
    /// False when the model file has no training quantiles (`reason` says why).
    pub comparable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trained_on: Option<TrainedOn>,
    /// Where the model decides on the data, in words.
    pub decided_at: String,
    pub decisions: u64,
    /// The flows those decisions were made on.
    pub flows: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_packets: Option<PacketRange>,
    /// How the two sides are weighed, in words.
    pub method: String,
    pub levels: Vec<f64>,
    /// Every recorded feature, most shifted first.
    pub features: Vec<FeatureShift>,
    /// What happened, in sentences (most shifted features the model uses first).
    pub summary: Vec<String>,
}

impl SkewReport {
    /// The report when there is nothing to compare with.
    pub fn not_comparable(reason: String, decided_at: String, decisions: u64, flows: u64) -> SkewReport {
        SkewReport {
            comparable: false,
            summary: vec![format!("cannot compare: {reason}")],
            reason: Some(reason),
            trained_on: None,
            decided_at,
            decisions,
            flows,
            decision_packets: None,
            method: METHOD.into(),
            levels: Vec::new(),
            features: Vec::new(),
        }
    }
}

/// How the report weighs its two sides.
pub const METHOD: &str = "every flow counts once on each side: a flow's N decisions weigh 1/N each (as `train --at \
     decision-points` weighs its samples; training rows likewise), so long flows do not outweigh short ones in PSI, \
     KS, medians, shares and the decision packets";

/// Feature ids a model reads.
pub fn used_features(model: &Model) -> u64 {
    model.header.feature_mask
}

fn moves(model: &Model, train: &FeatureQuantiles, levels: &[f64], decided: &WeightedColumn) -> Vec<Move> {
    let id = train.id;
    if model.header.kind == KIND_LOGISTIC {
        if model.terms.get(id).is_none_or(|t| t.weight == 0) {
            return Vec::new();
        }
        let median = |v: i64| model.term(id, v) as f64 / SCORE_ONE as f64;
        let decisions_median = decided.quantile(0.5);
        return vec![Move::Term {
            training_median_contribution: median(train.at_level(levels, 0.5)),
            decisions_median_contribution: median(decisions_median),
        }];
    }
    let count = (model.header.node_count as usize).min(MAX_NODES);
    let mut out: Vec<Move> = model.nodes[..count]
        .iter()
        .enumerate()
        .filter(|(_, n)| n.is_leaf == 0 && n.feature as usize == id)
        .map(|(i, n)| Move::Split {
            node: i,
            threshold: n.threshold,
            training_left_share: train.share_at_or_below(n.threshold),
            decisions_left_share: decided.share_at_or_below(n.threshold),
        })
        .collect();
    // The splits the shift moves most first.
    out.sort_by(|a, b| moved_by(b).total_cmp(&moved_by(a)));
    out
}

fn moved_by(m: &Move) -> f64 {
    match m {
        Move::Split {
            training_left_share,
            decisions_left_share,
            ..
        } => (training_left_share - decisions_left_share).abs(),
        Move::Term {
            training_median_contribution,
            decisions_median_contribution,
        } => (training_median_contribution - decisions_median_contribution).abs(),
    }
}

fn sentence(
    f: &FeatureShift,
    train: &FeatureQuantiles,
    levels: &[f64],
    trained: &TrainedOn,
    decided_at: &str,
) -> String {
    let median_t = words::value(train.at_level(levels, 0.5) as f64, &train.unit);
    let median_d = words::value(
        f.decision_quantiles
            .get(levels.iter().position(|&l| l == 0.5).unwrap_or(0))
            .copied()
            .unwrap_or(0) as f64,
        &train.unit,
    );
    let mut s = format!(
        "trained on {} `{}` (median {median_t}); {decided_at} (median {median_d})",
        trained.taken_at.words(),
        f.feature
    );
    s.push_str(&format!(": PSI {:.2}, KS {:.2}", f.psi, f.ks));
    if f.outside_training_range_share > 0.0 {
        // The flow's duration past a CIC-IDS2017 model's training maximum: its rows stop at the
        // timeout. (Gaps and means are bounded by it too, but their maxima sit far below 120 s,
        // so naming the timeout there would only puzzle.)
        let timeout = if f.above_training_max_share > 0.0
            && f.feature == "duration_us"
            && trained.taken_at == TakenAt::EndOfFlow
            && trained.source.contains("CIC-IDS2017")
        {
            ": CIC-IDS2017 rows end at CICFlowMeter's 120 s flow timeout"
        } else {
            ""
        };
        s.push_str(&format!(
            ", {} of decisions outside the training range ({} to {}{timeout})",
            words::percent(f.outside_training_range_share),
            words::value(train.min() as f64, &train.unit),
            words::value(train.max() as f64, &train.unit)
        ));
    }
    match f.moves.first() {
        Some(Move::Split {
            node,
            threshold,
            training_left_share,
            decisions_left_share,
        }) => s.push_str(&format!(
            "; tree node {node} (`{}` <= {}) sent about {} of training rows left, {} of decisions{}",
            f.feature,
            words::value(*threshold as f64, &train.unit),
            words::percent(*training_left_share),
            words::percent(*decisions_left_share),
            match f.moves.len() {
                1 => String::new(),
                n => format!(" ({n} splits on it)"),
            }
        )),
        Some(Move::Term {
            training_median_contribution,
            decisions_median_contribution,
        }) => s.push_str(&format!(
            "; its logistic term adds {training_median_contribution:+.2} to the logit at the training median, \
             {decisions_median_contribution:+.2} at the decisions' median"
        )),
        None => s.push_str("; the model does not read it"),
    }
    s
}

/// Compares the recorded training quantiles with the decisions (`decided_at`: where the model
/// decided, in words, e.g. "decided at packets 1-32, then every 16th").
pub fn compare(
    quantiles: Option<&TrainingQuantiles>,
    model: &Model,
    decisions: &Decisions,
    decided_at: &str,
) -> SkewReport {
    let Some(q) = quantiles else {
        return SkewReport::not_comparable(
            "the model file records no training quantiles (written before `workbench train` kept \
             them, or built by hand): retrain it to compare"
                .into(),
            decided_at.into(),
            decisions.count,
            decisions.flow_count,
        );
    };
    if decisions.count == 0 {
        return SkewReport::not_comparable(
            "no decision was made on the data (no flow reached a decision point)".into(),
            decided_at.into(),
            0,
            0,
        );
    }
    let trained = TrainedOn {
        taken_at: q.taken_at,
        source: q.source.clone(),
        rows: q.rows,
    };
    let mask = used_features(model);
    let mut features: Vec<(FeatureShift, &FeatureQuantiles)> = q
        .features
        .iter()
        .filter_map(|fq| {
            let decided = decisions.column(fq.id)?;
            let s = stats::shift(fq, &q.levels, decided);
            let shift = FeatureShift {
                rank: 0,
                feature: fq.name.clone(),
                unit: fq.unit.clone(),
                used_by_model: fq.id < 64 && mask & (1 << fq.id) != 0,
                psi: s.psi,
                ks: s.ks,
                outside_training_range_share: s.below_min_share + s.above_max_share,
                below_training_min_share: s.below_min_share,
                above_training_max_share: s.above_max_share,
                training_quantiles: fq.values.clone(),
                decision_quantiles: s.quantiles,
                moves: moves(model, fq, &q.levels, decided),
                words: String::new(),
            };
            Some((shift, fq))
        })
        .collect();
    features.sort_by(|a, b| b.0.psi.total_cmp(&a.0.psi).then(b.0.ks.total_cmp(&a.0.ks)));
    for (i, (f, fq)) in features.iter_mut().enumerate() {
        f.rank = i + 1;
        f.words = sentence(f, fq, &q.levels, &trained, decided_at);
    }
    let features: Vec<FeatureShift> = features.into_iter().map(|(f, _)| f).collect();
    let summary = summary(&features, decided_at);
    let packets = &decisions.packet_column;
    SkewReport {
        comparable: true,
        reason: None,
        trained_on: Some(trained),
        decided_at: decided_at.into(),
        decisions: decisions.count,
        flows: decisions.flow_count,
        decision_packets: (!packets.is_empty()).then(|| PacketRange {
            min: packets.quantile(0.0) as u32,
            median: packets.quantile(0.5) as u32,
            max: packets.quantile(1.0) as u32,
        }),
        method: METHOD.into(),
        levels: q.levels.clone(),
        features,
        summary,
    }
}

fn summary(features: &[FeatureShift], decided_at: &str) -> Vec<String> {
    let used: Vec<&FeatureShift> = features.iter().filter(|f| f.used_by_model).collect();
    let major = used.iter().filter(|f| f.psi > PSI_MAJOR).count();
    let mut out = vec![format!(
        "{major} of the {} features the model reads shifted by PSI > {PSI_MAJOR} between its training rows and the data ({decided_at})",
        used.len(),
    )];
    out.extend(
        used.iter()
            .filter(|f| f.psi > PSI_MODERATE)
            .take(3)
            .map(|f| f.words.clone()),
    );
    if major == 0 {
        if let Some(top) = used.first() {
            out.push(format!(
                "the largest shift of a feature it reads is `{}` (PSI {:.2}): the model meets about the values it was trained on",
                top.feature, top.psi
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests;
