//! `workbench export MODEL [--format c] -o DIR` (C is the only format, so the default).

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use color_eyre::eyre::Result;

use super::print_json;
use workbench_flow::model::{export_c, file};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Dependency-free C99: ebml_model.h and ebml_model.c.
    C,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The model file to export (written by `workbench train`).
    pub model: PathBuf,
    /// The target language.
    #[arg(long, value_enum, default_value = "c")]
    pub format: Format,
    /// The folder to write the source files into (created if missing).
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub out: PathBuf,
    /// Print the model id and the files written as one JSON document.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ExportArgs) -> Result<()> {
    let m = file::read(&args.model)?;
    let written = match args.format {
        Format::C => export_c::write(&m.model, &args.out)?,
    };
    if args.json {
        return print_json(&serde_json::json!({ "model": m.meta.model_id, "files": written }));
    }
    for w in written {
        println!("{w}");
    }
    Ok(())
}
