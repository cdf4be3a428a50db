//! `workbench skew MODEL --on DATA...`: the training rows' per-feature quantiles (kept in the model
//! file) against the same features where the model decides on DATA, ranked by shift, with the
//! tree splits or logistic terms each shift moves.

use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::Result;
use serde::Serialize;

use super::eval::DecideArgs;
use super::print_json;
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
    /// Print the result as one JSON document on stdout (progress and notes go to stderr).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct SkewOutput<'a> {
    model: &'a ModelInfo,
    data: Vec<String>,
    #[serde(flatten)]
    skew: &'a SkewReport,
}

pub fn run(args: SkewArgs) -> Result<()> {
    let opts = args.decide.options(args.model, args.on, None)?;
    let (model, skew) = eval::skew_report(&opts)?;
    if args.json {
        return print_json(&SkewOutput {
            model: &model,
            data: opts.data.iter().map(|d| d.display().to_string()).collect(),
            skew: &skew,
        });
    }
    println!(
        "model {} ({}) on {}: {} decisions ({})",
        model.model_id,
        model.kind,
        opts.data
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        skew.decisions,
        skew.decided_at
    );
    for line in &skew.summary {
        println!("  {line}");
    }
    if skew.comparable {
        println!("  rank  feature               PSI     KS  outside range  model");
        for f in &skew.features {
            println!(
                "  {:>4}  {:<20} {:>6.2} {:>6.2}  {:>13}  {}",
                f.rank,
                f.feature,
                f.psi,
                f.ks,
                words::percent(f.outside_training_range_share),
                if f.used_by_model { "reads it" } else { "" }
            );
        }
    }
    Ok(())
}
