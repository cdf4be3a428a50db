//! `workbench export MODEL --format c -o DIR`.

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
    pub model: PathBuf,
    #[arg(long, value_enum)]
    pub format: Format,
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
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
