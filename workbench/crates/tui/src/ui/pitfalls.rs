//! The Pitfalls tab: findings by severity (the list), the selected finding's summary, advice and
//! evidence with a chart, and the naive-vs-honest split panel (`h` toggles the honest score).

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use super::bars::{bar_lines, waiting, NO_DATA};
use super::layout;
use crate::app::App;
use crate::state::pitfalls::{evidence_bars, evidence_lines, split_drop};
use crate::theme::Theme;
use workbench_data::pitfalls::Severity;

fn severity_style(theme: &Theme, s: Severity) -> Style {
    match s {
        Severity::High => theme.malicious,
        Severity::Medium => theme.accent,
        Severity::Low | Severity::Info => theme.dim,
    }
}

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::High => "HIGH",
        Severity::Medium => "MED ",
        Severity::Low => "LOW ",
        Severity::Info => "INFO",
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Some(set) = app.data.current() else {
        waiting(frame, area, app, &app.data.status, "Pitfalls", NO_DATA);
        return;
    };
    let theme = app.theme.theme();
    let findings = &set.findings;
    let r = layout::pitfalls(area);

    let first = layout::pitfalls_first_row(app.pitfalls.selected, app.size);
    let rows = r.list.height.saturating_sub(2) as usize;
    let list: Vec<Line> = findings
        .iter()
        .enumerate()
        .skip(first)
        .take(rows)
        .map(|(i, f)| {
            let line = Line::from(vec![
                Span::styled(severity_name(f.severity), severity_style(&theme, f.severity)),
                Span::raw(format!(" {}", f.id)),
            ]);
            if i == app.pitfalls.selected {
                line.style(theme.selected)
            } else {
                line
            }
        })
        .collect();
    let high = findings.iter().filter(|f| f.severity == Severity::High).count();
    frame.render_widget(
        Paragraph::new(list).block(Block::new().borders(Borders::ALL).title(format!(
            " {} findings, {high} high · {} ",
            findings.len(),
            set.summary.name
        ))),
        r.list,
    );

    render_split(frame, r.split, app, findings);

    let Some(f) = findings.get(app.pitfalls.selected) else {
        frame.render_widget(
            Paragraph::new("no findings").block(Block::new().borders(Borders::ALL)),
            r.detail,
        );
        return;
    };
    let inner_w = r.detail.width.saturating_sub(2) as usize;
    let mut lines = vec![
        Line::from(vec![
            Span::styled(severity_name(f.severity), severity_style(&theme, f.severity)),
            Span::styled(format!(" {}", f.id), theme.title),
        ]),
        Line::from(f.summary.clone()),
        Line::from(""),
    ];
    if let Some(b) = evidence_bars(f) {
        lines.push(Line::from(Span::styled(b.title.clone(), theme.title)));
        // Leave room for the advice: at most half the panel for bars.
        let room = (r.detail.height as usize / 2).max(3);
        let shown: Vec<(String, f64)> = b.bars.iter().take(room).cloned().collect();
        lines.extend(bar_lines(&shown, b.max, inner_w, theme.accent, b.max == 1.0));
        if b.bars.len() > shown.len() {
            lines.push(Line::from(Span::styled(
                format!(
                    "… {} more in `workbench inspect --json`",
                    b.bars.len() - shown.len()
                ),
                theme.dim,
            )));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled("advice ", theme.title),
        Span::raw(f.advice.clone()),
    ]));
    // Below the advice (seen on tall terminals): every evidence key, as `inspect --json` has it.
    lines.push(Line::from(""));
    for l in evidence_lines(f) {
        lines.push(Line::from(Span::styled(l, theme.dim)));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::new().borders(Borders::ALL).title(" evidence "))
            .wrap(Wrap { trim: false }),
        r.detail,
    );
}

fn render_split(frame: &mut Frame, area: Rect, app: &App, findings: &[workbench_data::pitfalls::Finding]) {
    let theme = app.theme.theme();
    let w = area.width.saturating_sub(2) as usize;
    let title = if app.pitfalls.honest {
        " naive vs HONEST split (h) "
    } else {
        " NAIVE split (h: honest) "
    };
    let mut lines = Vec::new();
    match split_drop(findings) {
        None => lines.push(Line::from(Span::styled(
            "no split comparison (one class, or no feature column)",
            theme.dim,
        ))),
        Some(d) => {
            let mut bars = vec![("random F1".to_string(), d.naive_f1)];
            if app.pitfalls.honest {
                match &d.honest {
                    Some((name, f1, _)) => {
                        bars.push((format!("{name} F1"), *f1));
                        lines.extend(bar_lines(&bars, 1.0, w, theme.accent, true));
                        let drop = d.naive_f1 - f1;
                        // The threshold of the split_comparison finding's HIGH severity.
                        let (why, style) = if drop >= 0.1 {
                            (
                                format!("the random split is optimistic by {drop:.3}"),
                                theme.malicious,
                            )
                        } else if drop > 0.0 {
                            (
                                format!("F1 drop {drop:.3}: small, the score mostly holds"),
                                theme.benign,
                            )
                        } else {
                            (format!("no drop ({drop:.3})"), theme.benign)
                        };
                        lines.push(Line::from(Span::styled(why, style)));
                    }
                    None => {
                        lines.extend(bar_lines(&bars, 1.0, w, theme.accent, true));
                        lines.push(Line::from(Span::styled(
                            d.note.clone().unwrap_or_default(),
                            theme.dim,
                        )));
                    }
                }
            } else {
                lines.extend(bar_lines(&bars, 1.0, w, theme.accent, true));
                lines.push(Line::from(format!(
                    "accuracy {:.3}: what a random train/test split reports",
                    d.naive_accuracy
                )));
            }
        }
    }
    lines.push(Line::from(Span::styled(
        "= workbench inspect DATA --json (split_comparison)",
        theme.dim,
    )));
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::new().borders(Borders::ALL).title(title))
            .wrap(Wrap { trim: true }),
        area,
    );
}
