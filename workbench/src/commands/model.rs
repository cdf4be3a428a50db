//! `workbench model show MODEL`: what a model file holds.

use std::path::PathBuf;

use clap::Subcommand;
use color_eyre::eyre::Result;

use crate::output::Output;
use workbench_flow::model::file;

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Describe a model file: kind and size, features, the threshold as P(malicious), the
    /// training data, split and test metrics.
    Show {
        /// The model file (written by `workbench train`).
        model: PathBuf,
        #[command(flatten)]
        output: Output,
    },
}

pub fn run(cmd: ModelCommand) -> Result<()> {
    match cmd {
        ModelCommand::Show { model, output } => {
            // Any model file, also one the kernel cannot run (it says so).
            let m = file::read_meta(&model)?;
            output.emit(&super::model_words::json(&m))
        }
    }
}
