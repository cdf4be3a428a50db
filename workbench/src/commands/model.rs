//! `workbench model show MODEL`: what a model file holds.

use std::path::PathBuf;

use clap::Subcommand;
use color_eyre::eyre::Result;

use super::print_json;
use workbench_flow::model::file;

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Print a model file's header: id, kind, features, threshold, provenance.
    Show {
        model: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: ModelCommand) -> Result<()> {
    match cmd {
        ModelCommand::Show { model, json } => {
            // Any model file, also one the kernel cannot run (it says so).
            let m = file::read_meta(&model)?;
            if json {
                return print_json(&m);
            }
            if let (Some(why), Some(d)) = (&m.not_deployable, &m.dataset_model) {
                println!(
                    "model {} ({} on {} dataset inputs): NOT DEPLOYABLE: {why}",
                    m.model_id,
                    m.kind,
                    d.inputs.len()
                );
                for input in &d.inputs {
                    println!("  input {} (column {})", input.name, input.column);
                }
            } else {
                println!(
                    "model {} ({}), {} nodes, {} trees, threshold {}",
                    m.model_id, m.kind, m.node_count, m.tree_count, m.threshold
                );
            }
            for feature in &m.features {
                println!("  feature {:>2} {} [{}]", feature.id, feature.name, feature.unit);
            }
            if !m.provenance.is_null() {
                // The training quantiles are for `workbench skew` (and `--json`): one line here.
                let mut shown = m.provenance.clone();
                if let Some(p) = shown.as_object_mut() {
                    p.remove(file::TRAINING_QUANTILES_KEY);
                }
                println!("provenance: {shown}");
            }
            match m.training_quantiles() {
                Ok(Some(q)) => println!(
                    "training quantiles: {} features over {} rows ({:?}); compare with `workbench skew`",
                    q.features.len(),
                    q.rows,
                    q.taken_at
                ),
                Ok(None) => println!("training quantiles: none recorded (`workbench skew` cannot compare)"),
                Err(e) => println!("training quantiles: unreadable: {e}"),
            }
            Ok(())
        }
    }
}
