//! `workbench skew MODEL --on DATA...`: the training rows' per-feature quantiles (kept in the model
//! file) against the same features where the model decides on DATA, ranked by shift, with the
//! tree splits or logistic terms each shift moves.

use std::fmt;
use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::Result;
use serde::Serialize;

use super::eval::DecideArgs;
use crate::output::Output;
use workbench_data::dataset::Dropped;
use workbench_data::eval::skew::{words, SkewReport};
use workbench_data::eval::{self, ModelInfo};

#[derive(Debug, Args)]
pub struct SkewArgs {
    /// The model file (`workbench train -o`).
    pub model: PathBuf,
    /// Captures or tables to compare with (no labels needed).
    #[arg(long, required = true, num_args = 1..)]
    pub on: Vec<PathBuf>,
    #[command(flatten)]
    pub decide: DecideArgs,
    #[command(flatten)]
    pub output: Output,
}

#[derive(Debug, Serialize)]
struct SkewOutput<'a> {
    model: &'a ModelInfo,
    data: Vec<String>,
    /// Tables: the rows cleaning removed (a missing value in a column the model reads), as
    /// `eval` and `train` report them.
    #[serde(skip_serializing_if = "Option::is_none")]
    dropped: Option<&'a Dropped>,
    #[serde(flatten)]
    skew: &'a SkewReport,
}

pub fn run(args: SkewArgs) -> Result<()> {
    let opts = args.decide.options(args.model, args.on, None)?;
    let (model, skew, dropped) = eval::skew_report(&opts)?;
    args.output.emit(&SkewOutput {
        model: &model,
        data: opts.data.iter().map(|d| d.display().to_string()).collect(),
        dropped: dropped.as_ref(),
        skew: &skew,
    })
}

impl fmt::Display for SkewOutput<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (model, skew) = (self.model, self.skew);
        writeln!(
            out,
            "model {} ({}) on {}: {} decisions in {} flows ({})",
            model.model_id,
            model.kind,
            self.data.join(", "),
            skew.decisions,
            skew.flows,
            skew.decided_at
        )?;
        if let Some(d) = self.dropped.and_then(Dropped::summary) {
            writeln!(out, "  {d}")?;
        }
        writeln!(out, "  method: {}", skew.method)?;
        for line in &skew.summary {
            writeln!(out, "  {line}")?;
        }
        if !skew.comparable {
            return Ok(());
        }
        writeln!(
            out,
            "  rank  feature               PSI     KS  outside range  model"
        )?;
        for f in &skew.features {
            writeln!(
                out,
                "  {:>4}  {:<20} {:>6.2} {:>6.2}  {:>13}  {}",
                f.rank,
                f.feature,
                f.psi,
                f.ks,
                words::percent(f.outside_training_range_share),
                if f.used_by_model { "reads it" } else { "" }
            )?;
        }
        Ok(())
    }
}
