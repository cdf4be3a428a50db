//! The Python baselines (`bench/*.py` at the repository root) and the virtualenv they run in
//! (`bench/.venv`, made by `bench/venv.sh`, which pip-installs what is missing).

use std::path::PathBuf;
use std::process::Command;

use crate::error::{err, fail, Error, Result};

/// The repository's `bench/` folder: the first one holding `venv.sh` above the current
/// directory, the executable or this crate.
pub fn scripts_dir() -> Option<PathBuf> {
    super::find_above("bench", "venv.sh")
}

/// A baseline's interpreter and script, or why it cannot run (the section then says "skipped:
/// <reason>" instead of a figure).
pub struct Baseline {
    pub python: PathBuf,
    pub script: PathBuf,
}

pub fn baseline(script: &str, packages: &[&str]) -> Result<Baseline> {
    let dir = scripts_dir().ok_or_else(|| {
        err!(
            Unavailable,
            "bench/venv.sh not found above the current directory or the executable"
        )
    })?;
    let script = dir.join(script);
    if !script.is_file() {
        fail!(Unavailable, "{} is missing", script.display());
    }
    eprintln!(
        "bench: preparing {} (pip installs {} when missing)",
        dir.join(".venv").display(),
        packages.join(", ")
    );
    let out = Command::new("sh")
        .arg(dir.join("venv.sh"))
        .args(packages)
        .output()
        .map_err(|e| Error::io(format!("cannot run sh {}", dir.join("venv.sh").display()), e))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Unavailable(
            why.trim()
                .lines()
                .last()
                .unwrap_or("bench/venv.sh failed")
                .to_string(),
        ));
    }
    let python = String::from_utf8_lossy(&out.stdout)
        .trim()
        .lines()
        .last()
        .unwrap_or("")
        .to_string();
    if python.is_empty() {
        fail!(Unavailable, "bench/venv.sh printed no interpreter path");
    }
    Ok(Baseline {
        python: PathBuf::from(python),
        script,
    })
}
