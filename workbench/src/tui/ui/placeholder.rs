//! Data, Pitfalls and Train: their back ends (`workbench inspect`, `workbench train`) land in
//! parallel issues. Until then the tab says honestly which command and issue bring it.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use crate::tui::action::Tab;
use crate::tui::app::App;

fn text(tab: Tab) -> (&'static str, &'static str, &'static str) {
    match tab {
        Tab::Data => (
            "Load an intrusion-detection dataset (CSV/Parquet, CIC-IDS2017 style) and see rows, columns, labels.",
            "workbench inspect DATA... [--label COL] [--json]",
            "issue \"data and pitfalls\"",
        ),
        Tab::Pitfalls => (
            "Evidence why naive datasets lie: leaking columns, duplicates, label noise, time and host splits.",
            "workbench inspect DATA... --json (key `findings`)",
            "issue \"data and pitfalls\"",
        ),
        _ => (
            "Train a small tree or logistic model on kernel features and compile it to the integer form.",
            "workbench train DATA... --model tree|logistic -o MODEL",
            "issue \"train and compile\"",
        ),
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme.theme();
    let (what, command, issue) = text(app.tab);
    let lines = vec![
        Line::from(Span::styled(
            format!("{} — not in this build yet", app.tab.title()),
            theme.title,
        )),
        Line::from(""),
        Line::from(what),
        Line::from(""),
        Line::from(vec![Span::raw("Back end: "), Span::styled(command, theme.accent)]),
        Line::from(format!("Arrives with the {issue}; this tab then shows it.")),
        Line::from(""),
        Line::from(Span::styled(
            "Available now: 4 Deploy (models in the kernel, hot swap) and 5 Live (per-flow verdicts).",
            theme.dim,
        )),
    ];
    let block = Block::new()
        .borders(Borders::ALL)
        .title(format!(" {} ", app.tab.title()));
    frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: true }), area);
}
