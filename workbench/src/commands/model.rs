//! `workbench model show MODEL`: what a model file holds.

use std::path::PathBuf;

use clap::Subcommand;
use color_eyre::eyre::Result;

use super::print_json;
use workbench_flow::model::file;

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Describe a model file: kind and size, features, the threshold as P(malicious), the
    /// training data, split and test metrics.
    Show {
        /// The model file (written by `workbench train`).
        model: PathBuf,
        /// Print the header as one JSON document (raw `threshold` and `threshold_probability`).
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
                return print_json(&super::model_words::json(&m));
            }
            print!("{}", super::model_words::describe(&m));
            Ok(())
        }
    }
}
