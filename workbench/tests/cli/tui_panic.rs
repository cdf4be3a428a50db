//! A panic inside a render restores the terminal (in-process: the hook's restore logic). Its own
//! test binary, because it replaces the process-wide panic hook while it runs.

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use workbench_tui::{fake, terminal, ui};

#[test]
fn a_panic_inside_a_render_restores_the_terminal() {
    use std::sync::{Arc, Mutex};
    let written = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = written.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    terminal::install_panic_hook(move || {
        if let Ok(mut out) = sink.lock() {
            terminal::restore_to(&mut *out);
        }
    });
    terminal::mark_active();
    let mut app = fake::screen("live", (80, 24)).expect("screen");
    app.debug_panic = true;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut term = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
        let _ = term.draw(|f| ui::render(f, &app));
    }));
    let _ = std::panic::take_hook();
    std::panic::set_hook(previous);
    assert!(result.is_err(), "the render panicked");
    assert!(!terminal::is_active());
    let out = String::from_utf8(written.lock().expect("lock").clone()).expect("utf8");
    assert!(out.contains("\x1b[?1049l"), "left the alternate screen: {out:?}");
    assert!(out.contains("\x1b[?25h"), "cursor shown again: {out:?}");
}
