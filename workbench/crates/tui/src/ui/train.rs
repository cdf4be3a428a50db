//! The Train tab: the form (model, depth or L2 alpha, feature set, split, engine) with the
//! command that does the same, a progress gauge while the background run works, and its
//! result: metrics and confusion matrix (with the kernel-feature and dataset-feature scores side
//! by side once both are trained), ROC curve, feature importance, how often the integer (kernel)
//! model decides like the float one, and why: the split and its reason, what the leakage gate
//! left out, and what the values are (end-of-flow values: `workbench skew`).

use std::collections::BTreeMap;

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
use crate::state::train::RunNotes;
use workbench_data::train::metrics::{CurvePoint, Metrics};
use workbench_data::train::run::At;
use workbench_data::train::{Agreement, SplitKind};

/// What the tab shows of the newer result, kernel or dataset.
struct View<'a> {
    title: String,
    split: SplitKind,
    rows_train: usize,
    rows_test: usize,
    metrics: &'a Metrics,
    other_splits: &'a BTreeMap<String, Metrics>,
    roc: &'a [CurvePoint],
    importance: Vec<(String, f64)>,
    /// None for a dataset-feature model (the kernel cannot run it).
    agreement: Option<&'a Agreement>,
    notes: &'a RunNotes,
    command: &'a str,
    model_path: &'a std::path::Path,
}

fn view(app: &App) -> Option<View<'_>> {
    let t = &app.train;
    match (&t.result, &t.dataset_result, t.showing_dataset) {
        (_, Some(d), true) => Some(View {
            title: format!("{} {} · dataset columns", d.form.model_name(), d.report.model_id),
            split: d.report.split,
            rows_train: d.report.rows_train,
            rows_test: d.report.rows_test,
            metrics: &d.report.metrics,
            other_splits: &d.report.other_splits,
            roc: &d.report.roc,
            importance: d.report.importance.clone(),
            agreement: None,
            notes: &d.notes,
            command: &d.command,
            model_path: &d.model_path,
        }),
        (Some(r), _, _) => Some(View {
            title: format!("{} {}", r.form.model_name(), r.report.model_id),
            split: r.report.split,
            rows_train: r.report.rows_train,
            rows_test: r.report.rows_test,
            metrics: &r.report.metrics,
            other_splits: &r.report.other_splits,
            roc: &r.report.roc,
            importance: r
                .report
                .importance
                .iter()
                .map(|(n, v)| (n.to_string(), *v))
                .collect(),
            agreement: Some(&r.report.agreement),
            notes: &r.notes,
            command: &r.command,
            model_path: &r.model_path,
        }),
        _ => None,
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let v = view(app);
    // Inside the box: the full width, less nothing (it has only a top border).
    let model = v
        .as_ref()
        .map(|v| model_lines(v, area.width as usize))
        .unwrap_or_default();
    let model_h = if model.is_empty() {
        0
    } else {
        model.len() as u16 + 1
    };
    let r = layout::train(area, model_h);
    render_form(frame, r.form, app, v.as_ref());
    render_metrics(frame, r.metrics, app, v.as_ref());
    render_gauge(frame, r.gauge, app, v.as_ref());
    render_model(frame, r.model, app, &model);
    if super::cost::shown(app) {
        super::cost::render_candidates(frame, r.roc, app);
    } else {
        render_roc(frame, r.roc, app, v.as_ref());
    }
    render_importance(frame, r.importance, app, v.as_ref());
    render_notes(frame, r.notes, app, v.as_ref());
}

/// `text` cut into lines of exactly `width` characters (the last shorter): a path or a command
/// is one word that word wrapping would push out of view; hard wrapping shows all of it, and
/// the lines joined give it back as it is.
pub fn hard_wrap(text: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(width.max(1)).map(|c| c.iter().collect()).collect()
}

/// The model box's lines: the model file's absolute path, then the command that writes the
/// same model (each hard-wrapped to `width`).
fn model_lines(v: &View, width: usize) -> Vec<(bool, String)> {
    let mut lines: Vec<(bool, String)> = Vec::new();
    lines.extend(
        hard_wrap(&v.model_path.display().to_string(), width)
            .into_iter()
            .map(|l| (true, l)),
    );
    lines.extend(hard_wrap(v.command, width).into_iter().map(|l| (false, l)));
    lines
}

fn render_model(frame: &mut Frame, area: Rect, app: &App, lines: &[(bool, String)]) {
    if area.height == 0 {
        return;
    }
    let theme = app.theme.theme();
    let lines: Vec<Line> = lines
        .iter()
        .map(|(path, l)| {
            Line::from(Span::styled(
                l.clone(),
                if *path { theme.title } else { theme.base },
            ))
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::new()
                .borders(Borders::TOP)
                .title(" model file · the same run as a command "),
        ),
        area,
    );
}

fn render_form(frame: &mut Frame, area: Rect, app: &App, v: Option<&View>) {
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
    // Narrow: the keys are in the help overlay, the command must stay in view.
    let keys = if area.width >= 60 {
        " · ↑↓←→ edit · Enter train · c cost"
    } else {
        " · Enter trains · c cost"
    };
    lines.push(Line::from(match &dataset {
        Some(name) => Span::styled(format!("on {name}{keys}"), theme.dim),
        None => Span::styled("no dataset: load one (Data tab)", theme.accent),
    }));
    if v.is_some() {
        // The run's own command, with its files and model path, is in the model box below.
        lines.push(Line::from(Span::styled(
            format!("= {}", form.command(&["DATA".to_string()], "MODEL")),
            theme.dim,
        )));
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

fn render_metrics(frame: &mut Frame, area: Rect, app: &App, v: Option<&View>) {
    let theme = app.theme.theme();
    let block = Block::new().borders(Borders::ALL).title(" test-side result ");
    let Some(v) = v else {
        frame.render_widget(
            Paragraph::new(Span::styled("no model trained yet", theme.dim)).block(block),
            area,
        );
        return;
    };
    let m = v.metrics;
    let c = &m.confusion;
    let w = c
        .true_negative
        .max(c.false_positive)
        .max(c.false_negative)
        .max(c.true_positive)
        .to_string()
        .len()
        .max(6);
    let one_class = m.one_class();
    let mut lines = vec![
        Line::from(vec![
            Span::styled(v.title.clone(), theme.title),
            Span::raw(format!(
                " · {} split · {}/{} {}",
                v.split.name(),
                v.rows_train,
                v.rows_test,
                if v.notes.values_at == At::DecisionPoints {
                    "samples"
                } else {
                    "rows"
                }
            )),
        ]),
        // A test side with one class: the figures that need both say undefined, not 0.000.
        Line::from(format!(
            "precision {} recall {}",
            m.shown("precision", m.precision),
            m.shown("recall", m.recall)
        )),
        Line::from(format!(
            "F1 {} ROC-AUC {}",
            m.shown("f1", m.f1),
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
    if let Some(why) = one_class {
        lines.push(Line::from(Span::styled(
            format!("undefined: {why}"),
            theme.accent,
        )));
    }
    // Both feature sets trained: how much of the score is left with what the kernel computes.
    // Whole items only: a narrow box drops the last ones, never half a number.
    let inner_w = area.width.saturating_sub(2) as usize;
    if let (Some(k), Some(d)) = (&app.train.result, &app.train.dataset_result) {
        let items = [
            format!(
                "kernel F1 {} ({} split)",
                k.report.metrics.shown("f1", k.report.metrics.f1),
                k.report.split.name(),
            ),
            format!(
                "dataset F1 {} ({} split)",
                d.report.metrics.shown("f1", d.report.metrics.f1),
                d.report.split.name()
            ),
        ];
        lines.push(Line::from(Span::styled(
            super::fit_items("", &items, inner_w),
            theme.accent,
        )));
    }
    let others: Vec<String> = v
        .other_splits
        .iter()
        .map(|(name, o)| format!("{name} F1 {}", o.shown("f1", o.f1)))
        .collect();
    if !others.is_empty() {
        lines.push(Line::from(Span::styled(
            super::fit_items("other splits: ", &others, inner_w),
            theme.dim,
        )));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn render_gauge(frame: &mut Frame, area: Rect, app: &App, v: Option<&View>) {
    let theme = app.theme.theme();
    let block = Block::new().borders(Borders::ALL);
    let (ratio, label, style): (f64, String, Style) = match (&app.train.status, v) {
        (JobStatus::Running { stage, fraction }, _) => {
            (*fraction, format!("training: {stage}"), theme.accent)
        }
        (JobStatus::Failed(e), _) => (0.0, format!("failed: {e}"), theme.malicious),
        (_, Some(View { agreement: None, .. })) => (
            0.0,
            "dataset columns: not deployable (the kernel does not compute them) · compare with a kernel-feature run".into(),
            theme.accent,
        ),
        (_, Some(View { agreement: Some(a), .. })) => {
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

fn render_roc(frame: &mut Frame, area: Rect, app: &App, v: Option<&View>) {
    let theme = app.theme.theme();
    let block = Block::new().borders(Borders::ALL);
    let Some(v) = v else {
        frame.render_widget(block.title(" ROC curve "), area);
        return;
    };
    let points: Vec<(f64, f64)> = v.roc.iter().map(|p| (p.x, p.y)).collect();
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
            v.metrics.roc_auc.map_or_else(|| "undefined".into(), pct)
        )))
        .x_axis(Axis::default().bounds([0.0, 1.0]).labels(["0", "1"]))
        .y_axis(Axis::default().bounds([0.0, 1.0]).labels(["0", "1"]));
    frame.render_widget(chart, area);
}

fn render_importance(frame: &mut Frame, area: Rect, app: &App, v: Option<&View>) {
    let theme = app.theme.theme();
    let block = Block::new().borders(Borders::ALL).title(" feature importance ");
    let Some(v) = v else {
        frame.render_widget(block, area);
        return;
    };
    let rows = area.height.saturating_sub(2) as usize;
    let bars: Vec<(String, f64)> = v
        .importance
        .iter()
        .filter(|(_, v)| *v > 0.0)
        .take(rows)
        .cloned()
        .collect();
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max);
    let w = area.width.saturating_sub(2) as usize;
    let lines = bar_lines(&bars, max, w, theme.accent, true);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// The split and why, the columns left out and why, what the values are.
fn render_notes(frame: &mut Frame, area: Rect, app: &App, v: Option<&View>) {
    let theme = app.theme.theme();
    let block = Block::new().borders(Borders::ALL).title(" why ");
    let Some(v) = v else {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "after a run: the split and why, the columns left out and why, what the values are",
                theme.dim,
            ))
            .block(block)
            .wrap(Wrap { trim: true }),
            area,
        );
        return;
    };
    let n = v.notes;
    // Short lines first: a small panel shows what was left out and what the values are; the
    // split's full reason follows.
    let mut lines = Vec::new();
    if !n.left_out.is_empty() {
        let names: Vec<String> = n
            .left_out
            .iter()
            .map(|f| format!("{} ({})", f.feature, finding_word(f.finding)))
            .collect();
        lines.push(Line::from(vec![
            Span::styled("left out ", theme.title),
            Span::raw(format!(
                "{}: the pitfall report flags them (features: kernel, all keeps them)",
                names.join(", ")
            )),
        ]));
    }
    if !n.kept_flagged.is_empty() {
        let names: Vec<&str> = n.kept_flagged.iter().map(|f| f.feature.as_str()).collect();
        lines.push(Line::from(vec![
            Span::styled("kept although flagged ", theme.malicious),
            Span::raw(names.join(", ")),
        ]));
    }
    lines.push(Line::from(vec![
        Span::styled("values ", theme.title),
        Span::raw(match n.values_at {
            At::EndOfFlow => "end-of-flow values; the probe decides at its decision points, earlier in the flow: `workbench skew MODEL --on CAPTURE` measures the gap",
            At::DecisionPoints => "at the probe's decision points, each flow weighing 1",
        }),
    ]));
    lines.push(Line::from(vec![
        Span::styled("split ", theme.title),
        Span::raw(n.split_reason.clone()),
    ]));
    frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: true }), area);
}

fn finding_word(id: &str) -> &'static str {
    match id {
        "identifier_columns" => "identifier",
        "host_artefacts" => "host artefact",
        "single_feature_leakage" => "leaks alone",
        _ => "flagged",
    }
}
