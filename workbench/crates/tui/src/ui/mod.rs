//! Rendering: one module per tab or region, each a `render(frame, area, &app)` that reads the
//! state and changes nothing.

pub(crate) mod bars;
pub(crate) mod cost;
pub(crate) mod data;
pub(crate) mod deploy;
pub(crate) mod detail;
pub(crate) mod eval;
mod fit;
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
pub use fit::{fit_items, fit_label, fit_spans};

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
    if app.overlay == Overlay::None {
        render_message(frame, r.body, app);
    }
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

/// The source label as the status line shows it.
fn label(app: &App) -> &str {
    if app.snapshot.label.is_empty() {
        "no source"
    } else {
        app.snapshot.label.as_str()
    }
}

/// Whether the status message does not fit on the status line after the source label (which
/// stays whole: it says whether verdicts are the kernel's or a simulation's): it is then shown
/// whole in a box just above it (`render_message`).
pub fn message_overflows(app: &App, width: u16) -> bool {
    let Some(msg) = &app.status else {
        return false;
    };
    let paused = if app.paused { " PAUSED ".len() } else { 0 };
    label(app).chars().count() + 2 + paused + 1 + msg.chars().count() > width as usize
}

/// `text` in lines of at most `width` characters, broken at spaces (a longer word is cut).
pub fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let used = line.chars().count();
            let sep = usize::from(used > 0);
            if used + sep + word.len() <= width {
                if sep == 1 {
                    line.push(' ');
                }
                line.extend(word.iter());
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            // A word longer than a line: its first `width` characters fill this one.
            let rest = word.split_off(width);
            line.extend(word.iter());
            lines.push(std::mem::take(&mut line));
            word = rest;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// The source label, then the status message when it fits there too (otherwise it is in a box
/// above the status line: `render_message`).
fn render_status(frame: &mut Frame, area: ratatui::layout::Rect, app: &App) {
    let theme = app.theme.theme();
    let source_style = if app.snapshot.simulated {
        theme.simulated
    } else {
        theme.kernel
    };
    // The label in whole parts, never past PAUSED: a frozen view must say so at 80 columns.
    let paused = if app.paused { " PAUSED ".len() } else { 0 };
    let room = (area.width as usize).saturating_sub(paused + 2);
    let mut spans = vec![Span::styled(
        format!(" {} ", fit_label(label(app), room)),
        source_style,
    )];
    if app.paused {
        spans.push(Span::styled(" PAUSED ", theme.tab_active));
    }
    if let Some(msg) = &app.status {
        if !message_overflows(app, area.width) {
            spans.push(Span::styled(format!(" {msg}"), theme.accent));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(Style::default()), area);
}

/// A message that does not fit on the status line, whole, in a box just above it (over the
/// bottom of the tab; Esc closes it).
fn render_message(frame: &mut Frame, body: ratatui::layout::Rect, app: &App) {
    let Some(msg) = &app.status else {
        return;
    };
    if !message_overflows(app, body.width) || body.height < 4 {
        return;
    }
    let theme = app.theme.theme();
    let lines = wrap_words(msg, body.width as usize);
    // At most half the tab: the message's start is what matters when it is longer still.
    let h = (lines.len() as u16 + 1).min(body.height / 2);
    let area = ratatui::layout::Rect::new(body.x, body.y + body.height - h, body.width, h);
    frame.render_widget(ratatui::widgets::Clear, area);
    let text: Vec<Line> = lines
        .into_iter()
        .map(|l| Line::from(Span::styled(l, theme.accent)))
        .collect();
    frame.render_widget(
        Paragraph::new(text).style(theme.base).block(
            ratatui::widgets::Block::new()
                .borders(ratatui::widgets::Borders::TOP)
                .title(" message · Esc closes "),
        ),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_wrap_at_spaces_and_give_the_text_back() {
        let text = "loaded 1 dataset: good.csv, 2 failed: nosuch.csv: cannot read: No such file or directory";
        for width in [12, 24, 38, 80] {
            let lines = wrap_words(text, width);
            assert!(
                lines.iter().all(|l| l.chars().count() <= width),
                "{width}: {lines:?}"
            );
            assert_eq!(lines.join(" "), text, "{width}");
        }
        // A word longer than the line is cut across lines, nothing lost.
        let lines = wrap_words("a /very/long/path/to/a/file.jsonl b", 8);
        assert!(lines.iter().all(|l| l.chars().count() <= 8), "{lines:?}");
        assert_eq!(
            lines.concat().replace(' ', ""),
            "a/very/long/path/to/a/file.jsonlb"
        );
    }
}
