//! The one shape every benchmark section reports in, so that `bench all` can run each section as
//! a child process (`workbench bench <section> --json`), read its figures back and write one
//! table. A figure is always a ratio against a baseline measured in the same run; the absolute
//! numbers are kept for context.

use serde::{Deserialize, Serialize};

/// One measured figure and the baseline it is compared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// What was measured, e.g. `probe_tree_ns_per_packet`.
    pub name: String,
    pub value: f64,
    /// Unit of `value` and `baseline_value`, e.g. `ns`, `packets_per_s`, `bytes`, `s`.
    pub unit: String,
    /// What the baseline is, e.g. `pandas read_csv` or `empty tc program`.
    pub baseline: Option<String>,
    pub baseline_value: Option<f64>,
    /// `value / baseline_value` when higher is better, `baseline_value / value` when lower is
    /// better: a ratio above 1 always means "better than the baseline".
    pub ratio: Option<f64>,
    pub higher_is_better: bool,
    /// The target in words, e.g. `>= 10x tshark` or `<= 150 ns`.
    pub target: Option<String>,
    pub target_met: Option<bool>,
}

/// What one section (`bench probe`, `bench load`, ...) prints with `--json` under the key
/// `figures`, next to its own detailed keys. A section that cannot run on this machine (not
/// root, a tool or a Python virtualenv missing) prints `{"section": .., "skipped": "<reason>",
/// "figures": [], "notes": []}` and exits 0 (`bench::skipped_json`); `bench all` then lists it
/// as skipped with that reason. A non-zero exit is a failure.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Section {
    pub section: String,
    pub figures: Vec<Figure>,
    /// Free-text remarks: what was skipped and why, sizes of inputs, tool versions.
    #[serde(default)]
    pub notes: Vec<String>,
}

impl Figure {
    /// A figure compared with a baseline; the ratio is oriented so that > 1 is better.
    pub fn versus(
        name: &str,
        value: f64,
        unit: &str,
        baseline: &str,
        baseline_value: f64,
        higher_is_better: bool,
    ) -> Self {
        let ratio = if higher_is_better {
            value / baseline_value
        } else {
            baseline_value / value
        };
        Figure {
            name: name.to_string(),
            value,
            unit: unit.to_string(),
            baseline: Some(baseline.to_string()),
            baseline_value: Some(baseline_value),
            ratio: ratio.is_finite().then_some(ratio),
            higher_is_better,
            target: None,
            target_met: None,
        }
    }

    /// A figure with no baseline (an absolute budget such as a frame time).
    pub fn absolute(name: &str, value: f64, unit: &str, higher_is_better: bool) -> Self {
        Figure {
            name: name.to_string(),
            value,
            unit: unit.to_string(),
            baseline: None,
            baseline_value: None,
            ratio: None,
            higher_is_better,
            target: None,
            target_met: None,
        }
    }

    /// Attach a target and whether it was met.
    pub fn with_target(mut self, target: &str, met: bool) -> Self {
        self.target = Some(target.to_string());
        self.target_met = Some(met);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_above_one_means_better_in_both_orientations() {
        let faster = Figure::versus("load_s", 2.0, "s", "pandas", 4.0, false);
        assert_eq!(faster.ratio, Some(2.0));
        let more_pps = Figure::versus("pps", 900.0, "packets_per_s", "empty", 1000.0, true);
        assert_eq!(more_pps.ratio, Some(0.9));
        let zero = Figure::versus("x", 0.0, "s", "b", 1.0, false);
        assert_eq!(zero.ratio, None, "a zero time gives no finite ratio");
    }
}
