//! The Train tab's evaluation view (`v`) and the Live tab's shadow explanation (`w`), both drawn
//! from a `workbench_data::eval::EvalReport`, the report `workbench eval --json` prints: the data
//! list and the command doing the same, the last-decision-point and ever-flagged figures, recall
//! per class beside the time-to-detect chart (median packet of each attack class's first flagged
//! decision, p90 and time after it), and the skew table (features by PSI, the sentences `workbench
//! skew` writes).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::layout;
use crate::app::App;
use crate::state::data::JobStatus;
use crate::state::eval::{figure, EvalRun};
use crate::theme::Theme;
use workbench_data::eval::skew::{words, SkewReport};
use workbench_data::eval::EvalReport;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let r = layout::eval(area);
    let run = app.eval.result.as_deref();
    render_data(frame, r.data, app);
    render_figures(frame, r.figures, app, run);
    let theme = app.theme.theme();
    match run {
        Some(run) => {
            render_classes(frame, r.classes, &theme, &run.report);
            render_detect(frame, r.detect, &theme, &run.report);
            let block = Block::new()
                .borders(Borders::ALL)
                .title(" skew: training rows vs decisions ");
            let inner = block.inner(r.skew);
            frame.render_widget(block, r.skew);
            render_skew(frame, inner, &theme, &run.report.skew);
        }
        None => {
            for (area, title) in [
                (r.classes, " per class "),
                (r.detect, " time to detect "),
                (r.skew, " skew "),
            ] {
                frame.render_widget(Block::new().borders(Borders::ALL).title(title), area);
            }
        }
    }
}

fn cut(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn render_data(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme.theme();
    let w = area.width.saturating_sub(2) as usize;
    let rows = area.height.saturating_sub(2) as usize;
    let model = app.eval_model();
    let mut lines = vec![Line::from(vec![
        Span::styled("model ", theme.title),
        match &model {
            Some(m) => Span::raw(cut(
                &m.file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
                w.saturating_sub(6),
            )),
            None => Span::styled("none: train one first (v: the form)", theme.accent),
        },
    ])];
    let choices = app.eval.choices(&app.data.sets);
    // The list keeps its selection in view; the last line is the command (or the path typed).
    let list_rows = layout::eval_list_rows(app.size).min(rows.saturating_sub(2).max(1));
    let first = app.eval.first_shown(list_rows);
    if choices.is_empty() {
        lines.push(Line::from(Span::styled(
            "no data: sample-pcaps/, the Data tab, or / and a path",
            theme.dim,
        )));
    }
    for (i, c) in choices.iter().enumerate().skip(first).take(list_rows) {
        let selected = i == app.eval.selected;
        lines.push(Line::from(Span::styled(
            cut(
                &format!("{} {}", if selected { "▸" } else { " " }, c.describe()),
                w,
            ),
            if selected { theme.selected } else { theme.base },
        )));
    }
    let last = match (&app.filter_input, &app.eval.result, &model) {
        (Some(typed), _, _) => Span::styled(format!("path: {typed}▏"), theme.accent),
        (None, Some(run), _) => Span::styled(format!("= {}", run.command), theme.dim),
        (None, None, Some(m)) => Span::styled(
            match choices.get(app.eval.selected) {
                Some(c) => format!("= {}", c.command(m)),
                None => "= workbench eval MODEL DATA... --json".into(),
            },
            theme.dim,
        ),
        (None, None, None) => Span::styled("= workbench eval MODEL DATA... --json", theme.dim),
    };
    // The list keeps one line per entry; the command takes the lines left (cut on the last).
    let room = rows.saturating_sub(lines.len()).max(1);
    let chars: Vec<char> = last.content.chars().collect();
    let pieces: Vec<String> = chars.chunks(w.max(1)).map(|c| c.iter().collect()).collect();
    for (i, piece) in pieces.iter().enumerate().take(room) {
        let text = if i + 1 == room && pieces.len() > room {
            cut(&format!("{piece}…"), w)
        } else {
            piece.clone()
        };
        lines.push(Line::from(Span::styled(text, last.style)));
    }
    let title = if area.width >= 60 {
        " evaluate · ↑↓ data · / path · Enter score · v form "
    } else {
        " evaluate · Enter score "
    };
    frame.render_widget(
        Paragraph::new(lines).block(Block::new().borders(Borders::ALL).title(title)),
        area,
    );
}

fn render_figures(frame: &mut Frame, area: Rect, app: &App, run: Option<&EvalRun>) {
    let theme = app.theme.theme();
    let title = match run {
        Some(run) => format!(" result on {} ", run.data_name),
        None => " result ".into(),
    };
    let block = Block::new().borders(Borders::ALL).title(title);
    let lines = match (&app.eval.status, run) {
        (JobStatus::Running { stage, .. }, _) => {
            vec![Line::from(Span::styled(format!("{stage}…"), theme.accent))]
        }
        (JobStatus::Failed(e), _) => vec![Line::from(Span::styled(format!("failed: {e}"), theme.malicious))],
        (_, Some(run)) => figure_lines(&theme, run),
        _ => vec![Line::from(Span::styled(
            "pick the data and press Enter: the model is scored through the probe's own code at its decision points",
            theme.dim,
        ))],
    };
    frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: true }), area);
}

fn figure_lines(theme: &Theme, run: &EvalRun) -> Vec<Line<'static>> {
    let r = &run.report;
    let m = &r.metrics;
    let c = &m.confusion;
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{} {}", r.model.kind, r.model.model_id), theme.title),
            Span::raw(format!(" · {} flows · {} flagged", r.flows, r.flagged_flows)),
        ]),
        Line::from(vec![
            Span::styled("false positive rate ", theme.title),
            Span::styled(figure(m.false_positive_rate), theme.malicious),
            Span::raw(format!(
                " · recall {} · precision {} · F1 {}",
                figure(m.recall),
                figure(m.precision),
                figure(m.f1)
            )),
        ]),
    ];
    if let Some(e) = &r.ever_flagged {
        lines.push(Line::from(vec![
            Span::styled("benign flows ever flagged ", theme.title),
            Span::styled(
                e.benign_flows_ever_flagged_share
                    .map_or("n/a".into(), words::percent),
                theme.malicious,
            ),
            Span::raw(format!(
                " ({} of {}) · ever-flagged recall {}",
                e.metrics.confusion.false_positive,
                e.metrics.benign_flows,
                figure(e.metrics.recall)
            )),
        ]));
    }
    lines.push(Line::from(Span::styled(
        format!(
            "TP {} FP {} TN {} FN {} · precision at 1 in 10,000 {} · {}",
            c.true_positive,
            c.false_positive,
            c.true_negative,
            c.false_negative,
            m.base_rate_words(),
            r.at.replace('_', " ")
        ),
        theme.dim,
    )));
    for (key, why) in &m.undefined {
        lines.push(Line::from(Span::styled(format!("{key}: {why}"), theme.dim)));
    }
    lines
}

/// Recall per class (for a benign class: the share left alone), flows and ever flagged.
fn render_classes(frame: &mut Frame, area: Rect, theme: &Theme, r: &EvalReport) {
    let w = area.width.saturating_sub(2) as usize;
    let name_w = w.saturating_sub(20).clamp(8, 26);
    let lines: Vec<Line> = r
        .per_class
        .iter()
        .map(|(class, s)| {
            let style = if s.malicious {
                theme.malicious
            } else {
                theme.benign
            };
            Line::from(vec![
                Span::styled(format!("{:<name_w$}", cut(class, name_w)), style),
                Span::raw(format!(" {:>5} {:>6.3}", s.flows, s.recall)),
                Span::styled(
                    s.ever_flagged.map_or(String::new(), |e| format!(" {e:>5}")),
                    theme.dim,
                ),
            ])
        })
        .collect();
    let title = if w >= 44 {
        " per class: flows · recall · ever flagged "
    } else {
        " flows · recall · ever "
    };
    frame.render_widget(
        Paragraph::new(lines).block(Block::new().borders(Borders::ALL).title(title)),
        area,
    );
}

fn time(ns: u64) -> String {
    words::value(ns as f64 / 1000.0, "us")
}

/// One bar per attack class: the packet of its flows' first flagged decision (median), scaled
/// to the largest p90; undetected classes say so.
fn render_detect(frame: &mut Frame, area: Rect, theme: &Theme, r: &EvalReport) {
    let block = Block::new()
        .borders(Borders::ALL)
        .title(" time to detect: packet (median) ");
    let t = &r.time_to_detect;
    if let Some(why) = &t.undefined {
        frame.render_widget(
            Paragraph::new(Span::styled(why.clone(), theme.dim))
                .block(block)
                .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    let w = area.width.saturating_sub(2) as usize;
    let label_w = (w * 2 / 5).clamp(6, 26);
    let value_w = 16;
    let bar_w = w.saturating_sub(label_w + value_w + 2).max(1);
    let max = t
        .per_class
        .values()
        .filter_map(|d| d.p90_packet.or(d.median_packet))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let lines: Vec<Line> = t
        .per_class
        .iter()
        .map(|(class, d)| {
            let label = format!("{:<label_w$} ", cut(class, label_w));
            match (d.median_packet, d.median_time_ns) {
                (Some(p), Some(ns)) => {
                    let eighths = ((p as f64 / max) * bar_w as f64 * 8.0).round().max(1.0) as usize;
                    let mut bar = "█".repeat(eighths / 8);
                    if !eighths.is_multiple_of(8) {
                        bar.push(['▏', '▎', '▍', '▌', '▋', '▊', '▉'][eighths % 8 - 1]);
                    }
                    let pad = bar_w.saturating_sub(bar.chars().count());
                    Line::from(vec![
                        Span::styled(label, theme.dim),
                        Span::styled(bar, theme.accent),
                        Span::raw(format!(
                            "{} {}/{} {}",
                            " ".repeat(pad),
                            p,
                            d.p90_packet.unwrap_or(p),
                            time(ns)
                        )),
                        Span::styled(
                            if d.detected_flows < d.flows {
                                format!(" {}/{}", d.detected_flows, d.flows)
                            } else {
                                String::new()
                            },
                            theme.dim,
                        ),
                    ])
                }
                _ => {
                    // The longest wording that fits whole after the label.
                    let room = w.saturating_sub(label.chars().count());
                    let never = [
                        format!("never flagged (0 of {})", d.flows),
                        format!("never flagged (0/{})", d.flows),
                        format!("never (0/{})", d.flows),
                    ]
                    .into_iter()
                    .find(|s| s.chars().count() <= room)
                    .unwrap_or_else(|| format!("0/{}", d.flows));
                    Line::from(vec![
                        Span::styled(label, theme.dim),
                        Span::styled(never, theme.malicious),
                    ])
                }
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// A feature's value at the median level of the report.
fn median(report: &SkewReport, values: &[i64], unit: &str) -> String {
    let i = report.levels.iter().position(|&l| l == 0.5).unwrap_or(0);
    values
        .get(i)
        .map_or("-".into(), |&v| words::value(v as f64, unit))
}

/// The skew sentences, then the features by PSI (the ones the model reads marked), as many as
/// fit in `area` (no border: the caller draws one).
pub fn render_skew(frame: &mut Frame, area: Rect, theme: &Theme, report: &SkewReport) {
    let rows = area.height as usize;
    let w = area.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    if !report.comparable {
        lines.push(Line::from(Span::styled(report.summary.join(" "), theme.accent)));
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), area);
        return;
    }
    // The headline, the features by PSI (as many as leave room for the sentences on a tall
    // panel), then the sentences of the most shifted features the model reads.
    let headline = report.summary.first().cloned().unwrap_or_default();
    // Whole words, on a second row when it needs one: a cut headline reads wrong.
    lines.extend(super::fit::wrap_spans(
        vec![Span::styled(headline, theme.accent)],
        w,
    ));
    let table_rows = if rows >= 12 {
        (rows / 2).min(16)
    } else {
        rows.saturating_sub(1 + lines.len())
    };
    let name_w = 20.min(w / 4).max(8);
    lines.push(Line::from(Span::styled(
        format!(
            "{:<name_w$} {:>6} {:>8} {:>12} {:>12}  model",
            "feature", "PSI", "outside", "trained p50", "decided p50"
        ),
        theme.title,
    )));
    for f in report.features.iter().take(table_rows) {
        lines.push(Line::from(vec![
            Span::styled(
                format!("{:<name_w$}", cut(&f.feature, name_w)),
                if f.used_by_model { theme.base } else { theme.dim },
            ),
            Span::styled(
                format!(" {:>6.2}", f.psi),
                if f.psi > workbench_data::eval::skew::PSI_MAJOR {
                    theme.malicious
                } else {
                    theme.base
                },
            ),
            Span::raw(format!(
                " {:>8} {:>12} {:>12}  {}",
                words::percent(f.outside_training_range_share),
                median(report, &f.training_quantiles, &f.unit),
                median(report, &f.decision_quantiles, &f.unit),
                if f.used_by_model { "reads" } else { "" }
            )),
        ]));
    }
    for s in report.summary.iter().skip(1) {
        lines.push(Line::from(Span::styled(s.clone(), theme.dim)));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}

/// The shadow model's story over the Live tab: why it disagrees with the active model.
pub fn render_shadow(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme.theme();
    let Some(story) = &app.shadow_story else { return };
    let popup = layout::centered(area, area.width.saturating_sub(2), area.height.saturating_sub(1));
    frame.render_widget(Clear, popup);
    let block = Block::new()
        .borders(Borders::ALL)
        .title(" why the shadow disagrees · Esc closes ")
        .style(theme.base);
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let r = &story.run.report;
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("shadow {} ", story.model_id), theme.title),
            Span::raw(format!("trained on {}", story.trained_on)),
        ]),
        Line::from(vec![
            Span::raw("disagreed with the active model on "),
            Span::styled(
                crate::words::plural(app.shadow_disagreements, "decision", "decisions"),
                theme.accent,
            ),
            Span::raw(" so far on Live"),
        ]),
        Line::from(format!(
            "on {}: recall {} · false positive rate {}",
            story.data,
            figure(r.metrics.recall),
            figure(r.metrics.false_positive_rate),
        )),
        Line::from(format!(
            "benign flows ever flagged {} (what enforce mode would drop)",
            r.ever_flagged
                .as_ref()
                .and_then(|e| e.benign_flows_ever_flagged_share)
                .map_or("n/a".into(), words::percent)
        )),
    ];
    lines.push(Line::from(Span::styled(
        format!("= {}", story.run.command),
        theme.dim,
    )));
    // Whole words on as many rows as they need: a cut key sentence or command reads wrong.
    let w = inner.width as usize;
    let lines: Vec<Line> = lines
        .into_iter()
        .flat_map(|l| super::fit::wrap_spans(l.spans, w))
        .collect();
    let head = lines.len() as u16 + 1;
    let [top, rest] = [
        Rect::new(inner.x, inner.y, inner.width, head.min(inner.height)),
        Rect::new(
            inner.x,
            inner.y + head.min(inner.height),
            inner.width,
            inner.height.saturating_sub(head),
        ),
    ];
    frame.render_widget(Paragraph::new(lines), top);
    render_skew(frame, rest, &theme, &r.skew);
}
