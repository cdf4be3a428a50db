//! The Live tab: summary line, pps / verdicts-per-second sparklines, score histogram, and the
//! flow table. The table formats only the rows on screen, so a frame costs the same with 100
//! flows or 100,000 (docs/BENCHMARKS.md).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Sparkline, Table};
use ratatui::Frame;
use shared::model::SCORE_ONE;
use workbench_flow::model::scale::ScoreScale;

use super::layout;
use crate::app::App;
use crate::source::FlowRow;
use crate::view;

/// A fixed-point value as a decimal (a histogram bound in P(malicious) x 2^16, a leaf, a logit
/// term in the explanation).
pub fn score(s: i64) -> String {
    format!("{:.2}", s as f64 / SCORE_ONE as f64)
}

/// P(malicious) as shown in every score column ("?" for a model no longer in the probe).
pub fn probability(p: Option<f64>) -> String {
    p.map_or_else(|| "?".into(), |p| format!("{p:.2}"))
}

/// A model's threshold on the same scale.
pub fn threshold(m: &shared::model::Model) -> String {
    format!(
        "{:.2}",
        ScoreScale::of(m).threshold_probability(m.header.threshold)
    )
}

pub fn age(now_ns: u64, last_ns: u64) -> String {
    let s = now_ns.saturating_sub(last_ns) / 1_000_000_000;
    match s {
        0..=99 => format!("{s}s"),
        100..=5999 => format!("{}m", s / 60),
        _ => format!("{}h", s / 3600),
    }
}

pub fn count(n: u64) -> String {
    match n {
        0..=99_999 => n.to_string(),
        100_000..=99_999_999 => format!("{}k", n / 1000),
        _ => format!("{}M", n / 1_000_000),
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let r = layout::live(area);
    render_summary(frame, r.summary, app);
    render_charts(frame, r.charts, app);
    render_table(frame, r.table, app);
}

fn render_summary(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme.theme();
    let s = &app.snapshot;
    let (flagged, disagree) = (app.flagged, app.shadow_disagreements);
    let model = s
        .models
        .as_ref()
        .and_then(|m| m.active.as_ref())
        .map_or_else(|| "no model".into(), |a| format!("{} {}", a.kind, a.model));
    // Whole items, the least important left out first (rank: higher goes sooner): a count cut
    // short reads as another number. At 80 columns the shadow's count (the demo's story) stays
    // and the model's name goes; the Deploy tab names it too.
    let mut items = vec![
        (0, Span::styled(format!("flows {}", s.flows.len()), theme.title)),
        (3, Span::raw(format!("shown {}", app.view.len()))),
        (0, Span::styled(format!("flagged {flagged}"), theme.malicious)),
    ];
    match &app.filter_input {
        Some(f) => items.push((0, Span::styled(format!("filter: {f}▏"), theme.accent))),
        None if !app.filter.is_empty() => items.push((
            1,
            Span::styled(format!("filter \"{}\"", app.filter), theme.accent),
        )),
        None => {}
    }
    items.push((2, Span::raw(format!("model {model}"))));
    if s.models.as_ref().is_some_and(|m| m.shadow.is_some()) {
        // With an explanation at hand (the demo's), the count says how to open it.
        let why = if app.shadow_story.is_some() { " (w)" } else { "" };
        items.push((
            1,
            Span::styled(
                format!(
                    "shadow disagreed on {}{why}",
                    crate::words::plural(disagree, "decision", "decisions")
                ),
                theme.accent,
            ),
        ));
    }
    items.push((
        4,
        Span::styled(
            format!(
                "sort {}{}",
                app.sort.name(),
                if app.sort_desc { "↓" } else { "↑" }
            ),
            theme.dim,
        ),
    ));
    let spans = super::fit_spans(Vec::new(), items, theme.dim, area.width as usize);
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_charts(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme.theme();
    let [a, b, c] = Layout::horizontal([Constraint::Ratio(1, 3); 3]).areas(area);
    let last = |h: &std::collections::VecDeque<u64>| h.back().copied().unwrap_or(0);
    let spark = |title: String, data: Vec<u64>| {
        Sparkline::default()
            .block(Block::new().borders(Borders::ALL).title(title))
            .style(theme.spark)
            .data(data)
    };
    // Newest on the right: keep only the points that fit.
    let tail = |h: &std::collections::VecDeque<u64>, w: u16| {
        let w = w.saturating_sub(2) as usize;
        h.iter()
            .skip(h.len().saturating_sub(w))
            .copied()
            .collect::<Vec<_>>()
    };
    frame.render_widget(
        spark(
            format!(" pps {} ", count(last(&app.pps))),
            tail(&app.pps, a.width),
        ),
        a,
    );
    frame.render_widget(
        spark(
            format!(" verdicts/s {} ", count(last(&app.verdicts))),
            tail(&app.verdicts, b.width),
        ),
        b,
    );
    let (bins, lo, hi) = &app.histogram;
    let inner = c.width.saturating_sub(2) as usize;
    // Each column shows the bin it falls in, so the histogram fills the box at any width.
    let cols: Vec<u64> = (0..inner)
        .map(|x| bins.get(x * bins.len() / inner.max(1)).copied().unwrap_or(0))
        .collect();
    let threshold = app
        .snapshot
        .active_model
        .as_ref()
        .map(|m| format!(" thr {}", threshold(m)))
        .unwrap_or_default();
    let title = if c.width >= 40 {
        format!(" scores {}..{}{threshold} ", score(*lo), score(*hi))
    } else {
        format!(" scores{threshold} ")
    };
    frame.render_widget(spark(title, cols), c);
}

fn row<'a>(app: &App, f: &'a FlowRow, wide: bool) -> Row<'a> {
    let theme = app.theme.theme();
    let r = &f.record;
    let mut cells = vec![
        Cell::from(format!("{}:{}", r.src, r.src_port)),
        Cell::from(format!("{}:{}", r.dst, r.dst_port)),
        Cell::from(r.proto),
        Cell::from(count(view::packets(f))),
        Cell::from(count(view::bytes(f))),
        Cell::from(if r.verdict == "none" {
            "-".into()
        } else {
            probability(r.probability)
        }),
        Cell::from(Span::styled(r.verdict, theme.verdict(r.verdict))),
    ];
    if wide {
        cells.push(Cell::from(r.model.clone().unwrap_or_else(|| "-".into())));
        cells.push(Cell::from(Span::styled(
            r.shadow_verdict,
            theme.verdict(r.shadow_verdict),
        )));
    }
    cells.push(Cell::from(age(app.snapshot.now_ns, r.last_seen_ns)));
    Row::new(cells)
}

fn render_table(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme.theme();
    let wide = area.width >= 110;
    let mut header = vec![
        "source",
        "destination",
        "proto",
        "pkts",
        "bytes",
        "score",
        "verdict",
    ];
    // IPv4 endpoints fit in 21 columns; longer (IPv6) ones are cut, the detail shows them whole.
    let endpoint = if wide { 24 } else { 18 };
    let mut widths = vec![
        Constraint::Length(endpoint),
        Constraint::Length(endpoint),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(9),
    ];
    if wide {
        header.extend(["model", "shadow"]);
        widths.extend([Constraint::Length(8), Constraint::Length(9)]);
    }
    header.push("age");
    widths.push(Constraint::Length(4));
    let rows_h = area.height.saturating_sub(1) as usize;
    // Only the rows on screen are formatted: the cost of a frame does not grow with the flows.
    let visible = app
        .view
        .iter()
        .skip(app.offset)
        .take(rows_h)
        .enumerate()
        .map(|(i, &idx)| {
            let r = row(app, &app.snapshot.flows[idx as usize], wide);
            if app.offset + i == app.selected {
                r.style(theme.selected)
            } else {
                r
            }
        });
    let table = Table::new(visible, widths)
        .header(Row::new(header).style(theme.title))
        .column_spacing(1)
        .flex(ratatui::layout::Flex::Start);
    if app.view.is_empty() {
        let msg = if app.snapshot.flows.is_empty() {
            "no flows yet: traffic through the probe (or the simulated capture) shows here"
        } else {
            "no flow matches the filter (Esc clears it)"
        };
        frame.render_widget(table, area);
        if area.height > 2 {
            let line = Rect::new(area.x, area.y + 2, area.width, 1);
            frame.render_widget(Paragraph::new(Span::styled(msg, theme.dim)), line);
        }
        return;
    }
    frame.render_widget(table, area);
}
