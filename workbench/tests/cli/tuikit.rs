//! Driving the TUI's `App` in tests without a terminal: keys through the real keymap, frames
//! rendered into ratatui's test backend.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use workbench_tui::app::App;
use workbench_tui::{keymap, ui};

/// One frame of `app` at its size.
pub fn draw(app: &App) -> Terminal<TestBackend> {
    let mut term = Terminal::new(TestBackend::new(app.size.0, app.size.1)).expect("terminal");
    term.draw(|f| ui::render(f, app)).expect("draw");
    term
}

/// The frame as text.
pub fn text(app: &App) -> String {
    draw(app).backend().to_string()
}

/// A key as the keymap maps it in the app's current context.
pub fn press(app: &mut App, code: KeyCode) {
    press_mod(app, code, KeyModifiers::NONE);
}

pub fn press_mod(app: &mut App, code: KeyCode, modifiers: KeyModifiers) {
    if let Some(action) = keymap::key(KeyEvent::new(code, modifiers), app.context()) {
        app.update(action);
    }
}
