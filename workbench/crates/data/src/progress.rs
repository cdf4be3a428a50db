//! How a long library call reports its progress, without knowing who shows it: the CLI adapts
//! it to an indicatif bar (`workbench features`), the TUI to its job events, and everything
//! else passes [`NoProgress`]. The unit is the caller's (`features::extract`: bytes of capture
//! read, each pass over a file counted).

/// Receives a call's progress. `set_total` comes first (again if the total changes); the
/// `advance` steps of a call that runs to completion add up to the total.
pub trait Progress {
    /// The work to do, in the call's unit.
    fn set_total(&self, total: u64);
    /// `done` more units of work are finished.
    fn advance(&self, done: u64);
    /// What the call works on now (a file's name), for views that show a line of text.
    fn message(&self, _text: &str) {}
}

/// Progress nobody watches.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn set_total(&self, _total: u64) {}
    fn advance(&self, _done: u64) {}
}

/// Turns absolute positions (what a reader knows: bytes read so far) into `advance` steps.
pub(crate) struct Position<'a> {
    progress: &'a dyn Progress,
    reported: u64,
}

impl<'a> Position<'a> {
    pub(crate) fn new(progress: &'a dyn Progress) -> Self {
        Position {
            progress,
            reported: 0,
        }
    }

    pub(crate) fn progress(&self) -> &'a dyn Progress {
        self.progress
    }

    /// Reports the work up to `position`; a position behind the last one reports nothing.
    pub(crate) fn set(&mut self, position: u64) {
        if position > self.reported {
            self.progress.advance(position - self.reported);
            self.reported = position;
        }
    }
}
