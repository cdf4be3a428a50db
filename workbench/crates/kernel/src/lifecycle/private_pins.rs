//! A private pin directory for a load of the probe that is attached nowhere (`bench probe`,
//! `bench events`, `bench live`, a model's cost): made inside the project's bpffs directory, so
//! that whatever cleans up after the project finds it; noted in a claim, so that a killed process
//! leaves a note the next start names; removed with everything pinned in it when dropped (an
//! error, Ctrl-C) or by [`PrivatePins::remove`].

use std::path::{Path, PathBuf};

use super::claims::{Claim, Object};
use crate::bpffs;
use crate::error::{fail, Context, Result};
use crate::probe::PinGuard;

pub struct PrivatePins {
    // Dropped in this order: the pins, then the claim that named them.
    guard: PinGuard,
    _claim: Claim,
}

impl PrivatePins {
    /// `<project bpffs dir>/<name>` for `command` (the claim's words). Fails if it exists: a
    /// killed run of the same process id left it.
    pub fn create(command: &str, name: &str) -> Result<PrivatePins> {
        bpffs::ensure_mounted()?;
        let dir: PathBuf = Path::new(bpffs::PROJECT_DIR).join(name);
        if dir.exists() {
            fail!(
                Invalid,
                "{} already exists (left by a killed {command} with this process id?); remove it and retry",
                dir.display()
            );
        }
        // Noted before it is made: a kill between the two leaves a note, never an unnamed dir.
        let mut claim = Claim::new(command);
        claim.add(Object::Pins {
            dir: name.to_string(),
        });
        std::fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
        Ok(PrivatePins {
            guard: PinGuard::new(dir),
            _claim: claim,
        })
    }

    pub fn dir(&self) -> &Path {
        self.guard.dir()
    }

    /// Removes the pins and the directory now, reporting a failure (a drop ignores it).
    pub fn remove(self) -> Result<()> {
        let PrivatePins { guard, _claim } = self;
        guard.remove()?;
        Ok(())
    }
}
