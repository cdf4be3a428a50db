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
            let f = file::read(&model)?;
            if json {
                return print_json(&f.meta);
            }
            let m = &f.meta;
            println!(
                "model {} ({}), {} nodes, {} trees, threshold {}",
                m.model_id, m.kind, m.node_count, m.tree_count, m.threshold
            );
            for feature in &m.features {
                println!("  feature {:>2} {} [{}]", feature.id, feature.name, feature.unit);
            }
            if !m.provenance.is_null() {
                println!("provenance: {}", m.provenance);
            }
            Ok(())
        }
    }
}
