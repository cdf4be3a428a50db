//! Rendering: one module per tab or region, each a `render(frame, area, &app)` that reads the
//! state and changes nothing.

pub(crate) mod bars;
pub(crate) mod cost;
pub(crate) mod data;
pub(crate) mod deploy;
pub(crate) mod detail;
pub(crate) mod eval;
pub(crate) mod help;
pub(crate) mod layout;
pub(crate) mod live;
pub(crate) mod pitfalls;
pub(crate) mod train;

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use super::action::Tab;
use super::app::{App, Overlay};

pub fn render(frame: &mut Frame, app: &App) {
    // `--debug-panic`: proves the panic hook restores the terminal (tests use it).
    assert!(
        !app.debug_panic,
        "--debug-panic: deliberate panic inside a render"
    );
    let theme = app.theme.theme();
    let area = frame.area();
    frame.render_widget(Block::new().style(theme.base), area);
    let r = layout::regions(area);
    render_tabs(frame, r.tabs, app);
    match app.tab {
        Tab::Data => data::render(frame, r.body, app),
        Tab::Pitfalls => pitfalls::render(frame, r.body, app),
        Tab::Train if app.eval.showing => eval::render(frame, r.body, app),
        Tab::Train => train::render(frame, r.body, app),
        Tab::Deploy => deploy::render(frame, r.body, app),
        Tab::Live => live::render(frame, r.body, app),
    }
    render_status(frame, r.status, app);
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help => help::render_help(frame, r.body, app),
        Overlay::Detail => detail::render(frame, r.body, app),
        Overlay::Shadow => eval::render_shadow(frame, r.body, app),
        Overlay::Confirm(c) => help::render_confirm(frame, r.body, app, c),
    }
}

fn render_tabs(frame: &mut Frame, area: ratatui::layout::Rect, app: &App) {
    let theme = app.theme.theme();
    let mut spans = Vec::new();
    for tab in Tab::ALL {
        let style = if tab == app.tab {
            theme.tab_active
        } else {
            theme.dim
        };
        spans.push(Span::styled(layout::tab_label(tab), style));
        spans.push(Span::raw(" "));
    }
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    let name = "eBPF ML workbench · ? help";
    if (area.width as usize) > used + name.chars().count() {
        let pad = area.width as usize - used - name.chars().count();
        spans.push(Span::raw(" ".repeat(pad)));
        spans.push(Span::styled(name, theme.title));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_status(frame: &mut Frame, area: ratatui::layout::Rect, app: &App) {
    let theme = app.theme.theme();
    let s = &app.snapshot;
    let source_style = if s.simulated {
        theme.simulated
    } else {
        theme.kernel
    };
    let label = if s.label.is_empty() {
        "no source"
    } else {
        s.label.as_str()
    };
    let mut spans = vec![Span::styled(format!(" {label} "), source_style)];
    if app.paused {
        spans.push(Span::styled(" PAUSED ", theme.tab_active));
    }
    if let Some(msg) = &app.status {
        spans.push(Span::styled(format!(" {msg}"), theme.accent));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(Style::default()), area);
}
