//! `workbench export MODEL [--format c] -o DIR` (C is the only format, so the default).

use std::fmt;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use color_eyre::eyre::Result;
use serde::Serialize;

use crate::output::Output;
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
    #[command(flatten)]
    pub output: Output,
}

pub fn run(args: ExportArgs) -> Result<()> {
    let m = file::read(&args.model)?;
    let written = match args.format {
        Format::C => export_c::write(&m.model, &args.out)?,
    };
    args.output.emit(&Exported {
        model: &m.meta.model_id,
        files: written,
    })
}

/// The model id and the files written; as text, one file per line.
#[derive(Serialize)]
struct Exported<'a> {
    model: &'a str,
    files: Vec<String>,
}

impl fmt::Display for Exported<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.files.iter().try_for_each(|w| writeln!(f, "{w}"))
    }
}
