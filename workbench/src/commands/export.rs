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
    /// Dependency-free C99: PREFIX_model.h and PREFIX_model.c (ebml_model.h, ebml_model.c).
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
    /// Begins every function, macro (upper-cased), the header guard and the file names, so two
    /// models link into one firmware: lower-case ASCII letters, digits and `_`, a letter first,
    /// at most 18 characters.
    #[arg(long, value_name = "NAME", default_value = export_c::DEFAULT_PREFIX)]
    pub prefix: String,
    /// Overwrite output files that hold another model's export (or something else); without it
    /// the export refuses them, naming the file and the model in it.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub output: Output,
}

pub fn run(args: ExportArgs) -> Result<()> {
    // Before the model is read: a bad prefix is the quicker thing to say.
    export_c::check_prefix(&args.prefix)?;
    let m = file::read(&args.model)?;
    let opts = export_c::Options {
        prefix: args.prefix,
        decision_points: super::model_words::decision_points(&m.meta.provenance),
        end_of_flow: m.meta.provenance["values_at"] == "end_of_flow",
        force: args.force,
    };
    let written = match args.format {
        Format::C => export_c::write(&m.model, &args.out, &opts)?,
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
