//! Entering and leaving the terminal's TUI mode (raw mode, alternate screen, mouse capture),
//! and making sure it is left on every way out: normal exit, an error (the guard's Drop) and a
//! panic (the hook, which then hands over to color-eyre's panic report).

use std::io::Write;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

/// True while the terminal is in TUI mode; restoring twice (hook, then guard) is harmless.
static ACTIVE: AtomicBool = AtomicBool::new(false);

pub type Term = Terminal<CrosstermBackend<std::io::Stdout>>;

/// Leaves TUI mode by writing to `out`, once. Returns whether anything was done.
pub fn restore_to<W: Write>(out: &mut W) -> bool {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return false;
    }
    // Errors are ignored: this also runs while panicking, and there is no one left to tell.
    let _ = disable_raw_mode();
    let _ = execute!(out, DisableMouseCapture, LeaveAlternateScreen, cursor::Show);
    let _ = out.flush();
    true
}

pub fn restore() {
    restore_to(&mut std::io::stdout());
}

/// Marks the terminal as being in TUI mode (the part of `enter` a test can do without a tty).
pub fn mark_active() {
    ACTIVE.store(true, Ordering::SeqCst);
}

pub fn is_active() -> bool {
    ACTIVE.load(Ordering::SeqCst)
}

/// Wraps the current panic hook (color-eyre's) so the terminal is restored before the report
/// is printed; otherwise the report would land on the alternate screen and vanish.
pub fn install_panic_hook(restore: impl Fn() + Send + Sync + 'static) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

/// Restores the terminal when dropped (early return with an error included).
pub struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// The terminal in TUI mode; dropping it restores the terminal (`Guard`). ratatui's own drop
/// never runs: it `eprintln!`s when it cannot show the cursor, which panics when the terminal
/// is gone (a closed window, a dropped SSH session: writes fail with EIO), and the panic
/// report's own write to the dead stderr then aborts the process before the caller's cleanup
/// (the demo's lab and probe) runs. `restore` shows the cursor itself and ignores errors.
pub struct Screen {
    term: ManuallyDrop<Term>,
    _guard: Guard,
}

impl Deref for Screen {
    type Target = Term;
    fn deref(&self) -> &Term {
        &self.term
    }
}

impl DerefMut for Screen {
    fn deref_mut(&mut self) -> &mut Term {
        &mut self.term
    }
}

pub fn enter() -> crate::error::Result<Screen> {
    enable_raw_mode()?;
    mark_active();
    let guard = Guard;
    execute!(std::io::stdout(), EnterAlternateScreen, EnableMouseCapture)?;
    let terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
    Ok(Screen {
        term: ManuallyDrop::new(terminal),
        _guard: guard,
    })
}
