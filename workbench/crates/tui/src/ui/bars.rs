//! Small pieces the Data, Pitfalls and Train tabs share: horizontal text bars (long labels read
//! better beside a bar than under a column) and the "nothing loaded yet" panel.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Gauge, Paragraph, Wrap};
use ratatui::Frame;

use crate::app::App;
use crate::state::data::JobStatus;

/// One line per bar: label (cut to fit), bar of `width` cells scaled to `max`, value.
pub fn bar_lines(
    bars: &[(String, f64)],
    max: f64,
    width: usize,
    style: Style,
    percent: bool,
) -> Vec<Line<'static>> {
    let label_w = bars
        .iter()
        .map(|b| b.0.chars().count())
        .max()
        .unwrap_or(0)
        .min(width / 3)
        .max(4);
    let value_w = if percent { 6 } else { 8 };
    let bar_w = width.saturating_sub(label_w + value_w + 2).max(1);
    bars.iter()
        .map(|(label, v)| {
            let share = if max > 0.0 { (v / max).clamp(0.0, 1.0) } else { 0.0 };
            // Eighths of a cell, so that close values still look different.
            let eighths = (share * bar_w as f64 * 8.0).round() as usize;
            let mut bar = "█".repeat(eighths / 8);
            if !eighths.is_multiple_of(8) {
                bar.push(['▏', '▎', '▍', '▌', '▋', '▊', '▉'][eighths % 8 - 1]);
            }
            let pad = bar_w.saturating_sub(bar.chars().count());
            let label: String = if label.chars().count() > label_w {
                label.chars().take(label_w - 1).chain(['…']).collect()
            } else {
                format!("{label:<label_w$}")
            };
            let value = if percent {
                format!("{v:>5.3}")
            } else {
                format!("{:>7}", *v as u64)
            };
            Line::from(vec![
                Span::raw(format!("{label} ")),
                Span::styled(bar, style),
                Span::raw(format!("{} {value}", " ".repeat(pad))),
            ])
        })
        .collect()
}

/// The panel of a tab whose data is not there: progress while loading, the error, or what to do.
pub fn waiting(frame: &mut Frame, area: Rect, app: &App, status: &JobStatus, title: &str, idle: &[&str]) {
    let theme = app.theme.theme();
    let block = Block::new().borders(Borders::ALL).title(format!(" {title} "));
    match status {
        JobStatus::Running { stage, fraction } => {
            let inner = block.inner(area);
            frame.render_widget(block, area);
            let gauge = Gauge::default()
                .gauge_style(theme.accent)
                .ratio(fraction.clamp(0.0, 1.0))
                .label(stage.clone());
            frame.render_widget(
                gauge,
                Rect::new(inner.x, inner.y, inner.width, inner.height.min(1)),
            );
        }
        JobStatus::Failed(e) => {
            let lines = vec![
                Line::from(Span::styled("failed", theme.malicious)),
                Line::from(e.clone()),
            ];
            frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: true }), area);
        }
        _ => {
            let lines: Vec<Line> = idle
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    if l.starts_with("workbench") {
                        Line::from(Span::styled(l.to_string(), theme.accent))
                    } else if i == 0 {
                        Line::from(Span::styled(l.to_string(), theme.title))
                    } else {
                        Line::from(l.to_string())
                    }
                })
                .collect();
            frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: true }), area);
        }
    }
}

/// The text to show when no dataset is loaded.
pub const NO_DATA: &[&str] = &[
    "No dataset loaded.",
    "",
    "Start with the files to load (CSV, Parquet, CIC-IDS2017 zip, or captures with labels-NAME.csv beside them):",
    "workbench tui DATA...",
    "or run it where sample-pcaps/ holds labelled captures (workbench gen-pcaps -o sample-pcaps).",
    "Headless: workbench inspect DATA... --json",
];
