//! `workbench train ... --cost-depths 4,8,12`: one candidate tree per depth on the run's own
//! rows, features and split, each with its F1 next to its kernel cost per packet measured on
//! this machine (BPF_PROG_TEST_RUN on a private load of the probe, `workbench_kernel::cost`),
//! so that a user picks a model within a budget. Without kernel access the figures stay and the
//! cost is null with the reason (`cost_unavailable`).

use std::fmt;

use serde::Serialize;

use workbench_data::train::candidates::{self, CandidateFigures};
use workbench_data::train::{Dataset, TrainOptions};
use workbench_kernel::cost::{self, CostOptions, CostReport};

/// One candidate in `train --json`'s `candidates`.
#[derive(Debug, Serialize)]
pub struct CandidateRow {
    #[serde(flatten)]
    pub figures: CandidateFigures,
    /// The probe's cost per packet with this model, every packet a decision point; null when
    /// the cost could not be measured (`cost_unavailable` says why).
    pub kernel_ns_per_packet: Option<u32>,
    /// kernel_ns_per_packet / the empty tc program's cost in the same run.
    pub vs_empty: Option<f64>,
    /// kernel_ns_per_packet - the probe's cost with no model: what the model adds.
    pub model_part_ns: Option<i64>,
}

/// The candidates' keys of `train --json` (flattened into the run's document).
#[derive(Debug, Serialize)]
pub struct CandidatesReport {
    pub candidates: Vec<CandidateRow>,
    /// Why there are no candidates (a logistic model has no depth).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates_note: Option<String>,
    /// The baselines of the same measurement: the empty program, the probe with no model.
    pub cost_empty_ns: Option<u32>,
    pub cost_no_model_ns: Option<u32>,
    /// How the cost was measured (packets, repetitions, runs); null without a measurement.
    pub cost_method: Option<String>,
    /// Why the cost is null (no CAP_BPF, a kernel refusal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_unavailable: Option<String>,
}

/// `--cost-depths` on a model of the dataset's own columns: nothing the kernel can run.
pub fn not_deployable() -> CandidatesReport {
    CandidatesReport {
        candidates: Vec::new(),
        candidates_note: Some(
            "the model reads the dataset's own columns, which the probe does not compute: no kernel cost (train with --features kernel)".into(),
        ),
        cost_empty_ns: None,
        cost_no_model_ns: None,
        cost_method: None,
        cost_unavailable: None,
    }
}

/// Fits the candidates and measures their cost. A fit error is the command's error; a cost
/// error (no permission, a kernel refusal) becomes `cost_unavailable`.
pub fn candidates(
    ds: &Dataset,
    base: &TrainOptions,
    depths: &[usize],
) -> color_eyre::Result<CandidatesReport> {
    if let Some(why) = candidates::unsupported(base.kind) {
        return Ok(CandidatesReport {
            candidates: Vec::new(),
            candidates_note: Some(why.to_string()),
            cost_empty_ns: None,
            cost_no_model_ns: None,
            cost_method: None,
            cost_unavailable: None,
        });
    }
    let fitted = candidates::fit(ds, base, depths, &|d| {
        eprintln!("train: candidate of depth {d}");
    })?;
    let measured = match cost::unavailable() {
        Some(why) => Err(why),
        None => {
            // From here Ctrl-C stops the measurement between test runs, which removes its
            // private probe, and then the command (`lifecycle::check` below).
            workbench_kernel::lifecycle::install()?;
            eprintln!(
                "train: measuring {} candidates in the kernel (BPF_PROG_TEST_RUN, nothing attached)",
                fitted.len()
            );
            let models: Vec<&shared::model::Model> = fitted.iter().map(|c| &*c.model).collect();
            cost::model_cost(&models, &CostOptions::default()).map_err(|e| {
                // Ctrl-C: the measurement removed its pins; stop the command as `main` expects.
                workbench_flow::errors::line(&e)
            })
        }
    };
    workbench_kernel::lifecycle::check()?;
    Ok(report(
        fitted.iter().map(candidates::Candidate::figures).collect(),
        measured,
    ))
}

/// The rows from the figures and the measurement (or the reason there is none).
pub fn report(figures: Vec<CandidateFigures>, measured: Result<CostReport, String>) -> CandidatesReport {
    let (cost, unavailable) = match measured {
        Ok(c) => (Some(c), None),
        Err(why) => (None, Some(why)),
    };
    let candidates = figures
        .into_iter()
        .enumerate()
        .map(|(i, figures)| {
            let ns = cost.as_ref().and_then(|c| c.model_ns.get(i).copied());
            CandidateRow {
                figures,
                kernel_ns_per_packet: ns,
                vs_empty: ns.zip(cost.as_ref().map(|c| c.empty_ns)).and_then(|(n, e)| {
                    (e > 0).then(|| (f64::from(n) / f64::from(e) * 100.0).round() / 100.0)
                }),
                model_part_ns: ns
                    .zip(cost.as_ref().map(|c| c.no_model_ns))
                    .map(|(n, base)| i64::from(n) - i64::from(base)),
            }
        })
        .collect();
    CandidatesReport {
        candidates,
        candidates_note: None,
        cost_empty_ns: cost.as_ref().map(|c| c.empty_ns),
        cost_no_model_ns: cost.as_ref().map(|c| c.no_model_ns),
        cost_method: cost.as_ref().map(|c| {
            format!(
                "BPF_PROG_TEST_RUN on a private load of the probe, every packet a decision point, models scored by the {} engine (as deploy does); mean over the {} packets of {} repetitions each, median of {} runs",
                c.engine,
                c.packets.join(" and "),
                c.repeat,
                c.runs
            )
        }),
        cost_unavailable: unavailable,
    }
}

fn ns(v: Option<u32>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

impl fmt::Display for CandidatesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(note) = &self.candidates_note {
            return writeln!(f, "  candidates: none: {note}");
        }
        writeln!(
            f,
            "  candidates (same rows, features and split; cost per packet in this machine's kernel):"
        )?;
        writeln!(
            f,
            "    {:>5} {:>6} {:>6} {:>7} {:>6} {:>9} {:>8}",
            "depth", "F1", "AUC", "nodes", "ns", "vs empty", "model ns"
        )?;
        for c in &self.candidates {
            writeln!(
                f,
                "    {:>5} {:>6.3} {:>6} {:>7} {:>6} {:>9} {:>8}",
                c.figures.depth,
                c.figures.f1,
                c.figures.roc_auc.map_or("-".into(), |a| format!("{a:.3}")),
                c.figures.nodes,
                ns(c.kernel_ns_per_packet),
                c.vs_empty.map_or("-".into(), |v| format!("{v:.2}x")),
                c.model_part_ns.map_or("-".into(), |v| v.to_string())
            )?;
        }
        match (&self.cost_unavailable, self.cost_empty_ns, self.cost_no_model_ns) {
            (Some(why), _, _) => writeln!(f, "    no kernel cost: {why}"),
            (None, Some(e), Some(n)) => writeln!(
                f,
                "    baselines in the same run: empty program {e} ns, probe with no model {n} ns"
            ),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(depth: usize) -> CandidateFigures {
        CandidateFigures {
            depth,
            tree_depth: depth,
            f1: 0.9,
            roc_auc: Some(0.95),
            nodes: 7,
            model_id: "abcd".into(),
        }
    }

    #[test]
    fn rows_carry_the_cost_against_both_baselines_or_the_reason_there_is_none() {
        let measured = CostReport {
            empty_ns: 20,
            no_model_ns: 90,
            model_ns: vec![100, 130],
            model_test_runs: vec![10, 10],
            repeat: 1,
            runs: 5,
            packets: vec!["udp", "tcp_syn"],
            engine: "code",
        };
        let r = report(vec![figures(2), figures(8)], Ok(measured));
        assert_eq!(r.candidates[1].kernel_ns_per_packet, Some(130));
        assert_eq!(r.candidates[1].vs_empty, Some(6.5));
        assert_eq!(r.candidates[0].model_part_ns, Some(10));
        let r = report(vec![figures(2)], Err("needs CAP_BPF".into()));
        assert_eq!(r.candidates[0].kernel_ns_per_packet, None);
        assert_eq!(r.cost_unavailable.as_deref(), Some("needs CAP_BPF"));
        let text = r.to_string();
        assert!(text.contains("no kernel cost: needs CAP_BPF"), "{text}");
    }
}
