//! The Train tab: the form (model, depth or L2 alpha, feature set, split) with the command that
//! does the same, a progress gauge while the background run works, and its result: metrics and
//! confusion matrix, ROC curve, feature importance, and how often the integer (kernel) model
//! decides like the float one.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, Gauge, GraphType, Paragraph, Wrap};
use ratatui::Frame;

use super::bars::bar_lines;
use super::layout;
use crate::app::App;
use crate::state::data::JobStatus;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let r = layout::train(area);
    render_form(frame, r.form, app);
    render_metrics(frame, r.metrics, app);
    render_gauge(frame, r.gauge, app);
    render_roc(frame, r.roc, app);
    render_importance(frame, r.importance, app);
}

fn render_form(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme.theme();
    let form = &app.train.form;
    let mut lines: Vec<Line> = form
        .fields()
        .into_iter()
        .enumerate()
        .map(|(i, (label, value))| {
            let focused = i == form.field;
            Line::from(vec![
                Span::styled(format!("{label:<10}"), theme.title),
                Span::styled(
                    format!("◂ {value} ▸"),
                    if focused { theme.selected } else { theme.base },
                ),
            ])
        })
        .collect();
    let dataset = app.data.current().map(|s| s.summary.name.clone());
    lines.push(Line::from(match &dataset {
        Some(name) => Span::styled(format!("on {name} · ↑↓←→ edit · Enter train"), theme.dim),
        None => Span::styled("no dataset: load one first (Data tab)", theme.accent),
    }));
    if let Some(res) = &app.train.result {
        lines.push(Line::from(Span::styled(format!("= {}", res.command), theme.dim)));
    } else {
        lines.push(Line::from(Span::styled(
            format!(
                "= workbench train DATA --model {} --split … -o MODEL --json",
                form.model_name()
            ),
            theme.dim,
        )));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::new().borders(Borders::ALL).title(" train "))
            .wrap(Wrap { trim: true }),
        area,
    );
}

fn pct(v: f64) -> String {
    format!("{v:.3}")
}

fn render_metrics(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme.theme();
    let block = Block::new().borders(Borders::ALL).title(" test-side result ");
    let Some(res) = &app.train.result else {
        frame.render_widget(
            Paragraph::new(Span::styled("no model trained yet", theme.dim)).block(block),
            area,
        );
        return;
    };
    let rep = &res.report;
    let m = &rep.metrics;
    let c = &m.confusion;
    let w = c
        .true_negative
        .max(c.false_positive)
        .max(c.false_negative)
        .max(c.true_positive)
        .to_string()
        .len()
        .max(6);
    let split = serde_json::to_value(rep.split)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{} {}", res.form.model_name(), rep.model_id), theme.title),
            Span::raw(format!(
                " · {split} split · {}/{} rows",
                rep.rows_train, rep.rows_test
            )),
        ]),
        Line::from(format!("precision {} recall {}", pct(m.precision), pct(m.recall))),
        Line::from(format!(
            "F1 {} ROC-AUC {}",
            pct(m.f1),
            m.roc_auc.map_or_else(|| "undefined".into(), pct)
        )),
        Line::from(vec![Span::styled(
            format!("{:>12} {:>w$} {:>w$}", "true\\pred", "benign", "attack"),
            theme.dim,
        )]),
        Line::from(vec![
            Span::styled(format!("{:>12} ", "benign"), theme.dim),
            Span::styled(format!("{:>w$}", c.true_negative), theme.benign),
            Span::styled(format!(" {:>w$}", c.false_positive), theme.malicious),
        ]),
        Line::from(vec![
            Span::styled(format!("{:>12} ", "attack"), theme.dim),
            Span::styled(format!("{:>w$}", c.false_negative), theme.malicious),
            Span::styled(format!(" {:>w$}", c.true_positive), theme.benign),
        ]),
    ];
    let others: Vec<String> = rep
        .other_splits
        .iter()
        .map(|(name, o)| format!("{name} F1 {}", pct(o.f1)))
        .collect();
    if !others.is_empty() {
        lines.push(Line::from(Span::styled(
            format!("other splits: {}", others.join(" · ")),
            theme.dim,
        )));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn render_gauge(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme.theme();
    let block = Block::new().borders(Borders::ALL);
    let (ratio, label, style): (f64, String, Style) = match (&app.train.status, &app.train.result) {
        (JobStatus::Running { stage, fraction }, _) => {
            (*fraction, format!("training: {stage}"), theme.accent)
        }
        (JobStatus::Failed(e), _) => (0.0, format!("failed: {e}"), theme.malicious),
        (_, Some(res)) => {
            let a = &res.report.agreement;
            let label = if area.width >= 110 {
                format!(
                    "the kernel's integer model decides like the float model on {}/{} test rows ({:.2}%), largest score error {:.1e} · d/D: deploy as active/shadow",
                    a.identical_decisions,
                    a.rows,
                    100.0 * a.share_identical,
                    a.max_score_error,
                )
            } else {
                format!(
                    "integer = float on {}/{} test rows ({:.2}%) · d/D deploy",
                    a.identical_decisions,
                    a.rows,
                    100.0 * a.share_identical
                )
            };
            (a.share_identical, label, theme.benign)
        }
        _ => (0.0, "idle: Enter trains in the background".into(), theme.dim),
    };
    let gauge = Gauge::default()
        .block(block.title(" progress · quantization agreement "))
        .gauge_style(style)
        .ratio(ratio.clamp(0.0, 1.0))
        .label(label);
    frame.render_widget(gauge, area);
}

fn render_roc(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme.theme();
    let block = Block::new().borders(Borders::ALL);
    let Some(res) = &app.train.result else {
        frame.render_widget(block.title(" ROC curve "), area);
        return;
    };
    let points: Vec<(f64, f64)> = res.report.roc.iter().map(|p| (p.x, p.y)).collect();
    let diagonal = [(0.0, 0.0), (1.0, 1.0)];
    let data = vec![
        Dataset::default()
            .marker(Marker::Dot)
            .graph_type(GraphType::Line)
            .style(theme.dim)
            .data(&diagonal),
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme.accent)
            .data(&points),
    ];
    let chart = Chart::new(data)
        .block(block.title(format!(
            " ROC · AUC {} · x FPR, y TPR ",
            res.report.metrics.roc_auc.map_or_else(|| "undefined".into(), pct)
        )))
        .x_axis(Axis::default().bounds([0.0, 1.0]).labels(["0", "1"]))
        .y_axis(Axis::default().bounds([0.0, 1.0]).labels(["0", "1"]));
    frame.render_widget(chart, area);
}

fn render_importance(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme.theme();
    let block = Block::new().borders(Borders::ALL).title(" feature importance ");
    let Some(res) = &app.train.result else {
        frame.render_widget(block, area);
        return;
    };
    let rows = area.height.saturating_sub(2) as usize;
    let bars: Vec<(String, f64)> = res
        .report
        .importance
        .iter()
        .filter(|(_, v)| *v > 0.0)
        .take(rows)
        .map(|(n, v)| (n.to_string(), *v))
        .collect();
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max);
    let w = area.width.saturating_sub(2) as usize;
    let lines = bar_lines(&bars, max, w, theme.accent, true);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
