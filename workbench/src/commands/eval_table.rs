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

/// The working directory: `$TMPDIR/workbench-eval-table-PID-RANDOM`, a new directory with mode
/// 0700 (never one already there: another user could make a guessable name first and swap a
/// table before a model is trained on it), removed however the run ends (the TempDir's drop).
fn work_dir() -> Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let prefix = format!("workbench-eval-table-{}-", std::process::id());
    tempfile::Builder::new()
        .prefix(&prefix)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .wrap_err("creating a private temporary folder for eval-table")
}

pub fn run(args: EvalTableArgs) -> Result<()> {
    let work = work_dir()?;
    let opts = MatrixOptions {
        shared_data: args.shared_data,
        samples: args.samples,
        real_labels: args.real_labels,
        work_dir: work.path().to_path_buf(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The working folder is a new private directory, not `$TMPDIR/workbench-eval-table-PID`
    /// that another user could make (or plant as a symlink) first.
    #[test]
    fn eval_table_work_dir_is_private_and_unguessable() {
        use std::os::unix::fs::PermissionsExt;
        let guessable = std::env::temp_dir().join(format!("workbench-eval-table-{}", std::process::id()));
        let victim = tempfile::tempdir().expect("victim");
        let _ = std::fs::remove_file(&guessable);
        std::os::unix::fs::symlink(victim.path(), &guessable).expect("planted");
        let work = work_dir();
        let _ = std::fs::remove_file(&guessable);
        let work = work.expect("made");
        let path = work.path().to_path_buf();
        assert_ne!(path, guessable);
        let meta = std::fs::symlink_metadata(&path).expect("stat");
        assert!(meta.is_dir(), "a directory, not a symlink");
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        drop(work);
        assert!(!path.exists(), "removed at the end");
    }
}
