//! `workbench eval-table [--md docs/EVALUATION.md] [--check] [--json]`: train the models of
//! docs/EVALUATION.md, score each on its own test split, the honest sample capture and the real
//! captures (at the last packet and at the decision points), add the cross-dataset rows, and write
//! the table between the document's markers (or, with `--check`, say whether it is current).

use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::{bail, Result, WrapErr};

use crate::output::{Output, Shown};
use workbench_data::eval::matrix::{self, markdown, MatrixOptions};

#[derive(Debug, Args)]
pub struct EvalTableArgs {
    /// The document whose marked region is rewritten.
    #[arg(long, default_value = "docs/EVALUATION.md")]
    pub md: PathBuf,
    /// Write nothing; fail (naming the first differing line) unless the document's table is
    /// what this run produces.
    #[arg(long)]
    pub check: bool,
    /// The project's real data (CIC-IDS2017, UNSW-NB15, NSL-KDD files and the captures).
    #[arg(long, value_name = "DIR", default_value = "../shared/data")]
    pub shared_data: PathBuf,
    /// The sample captures with their labels files.
    #[arg(long, value_name = "DIR", default_value = "sample-pcaps")]
    pub samples: PathBuf,
    /// File-level labels of the real captures.
    #[arg(long, value_name = "FILE", default_value = "bench/real-eval/labels.toml")]
    pub real_labels: PathBuf,
    #[command(flatten)]
    pub output: Output,
}

/// Removes the working directory however the run ends.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn run(args: EvalTableArgs) -> Result<()> {
    let work = WorkDir(std::env::temp_dir().join(format!("workbench-eval-table-{}", std::process::id())));
    let opts = MatrixOptions {
        shared_data: args.shared_data,
        samples: args.samples,
        real_labels: args.real_labels,
        work_dir: work.0.clone(),
    };
    let report = matrix::build(&opts, &|step| eprintln!("eval-table: {step}"))?;
    let region = markdown::region(&report);
    let existing = std::fs::read_to_string(&args.md).ok();
    if args.check {
        let current = existing.as_deref().and_then(markdown::current_region);
        match current {
            Some(c) if c == region => eprintln!("eval-table: {} is current", args.md.display()),
            Some(c) => {
                let (line, (old, new)) = c
                    .lines()
                    .zip(region.lines())
                    .enumerate()
                    .find(|(_, (a, b))| a != b)
                    .map_or(
                        (c.lines().count().min(region.lines().count()) + 1, ("", "")),
                        |(i, p)| (i + 1, p),
                    );
                bail!(
                    "{}: the generated table differs at its line {line}: the document has `{old}`, this run gives `{new}`; \
                     regenerate with `workbench eval-table --md {}`",
                    args.md.display(),
                    args.md.display()
                );
            }
            None => bail!(
                "{}: no generated table (markers `<!-- eval:begin` and `{}`)",
                args.md.display(),
                markdown::END
            ),
        }
    } else {
        std::fs::write(&args.md, markdown::splice(existing.as_deref(), &region))
            .wrap_err_with(|| format!("writing {}", args.md.display()))?;
        eprintln!("eval-table: wrote {}", args.md.display());
    }
    // As text the table is the document written (or checked) above: nothing more on stdout.
    args.output.emit(&Shown::new(&report, |_, _| Ok(())))
}
