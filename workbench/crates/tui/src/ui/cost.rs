//! Cost beside accuracy: the Train tab's candidates panel (depth, F1, nodes, kernel ns per
//! packet; `c` measures, `C` picks) and the Deploy tab's live cost lines (the probe program's
//! `run_time_ns / run_cnt` while the tab holds BPF statistics on).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use crate::app::App;
use crate::state::cost::StatsState;
use crate::state::data::JobStatus;

/// Whether the Train tab shows the candidates panel (instead of the ROC curve).
pub fn shown(app: &App) -> bool {
    let c = &app.train.cost;
    c.result.is_some() || !matches!(c.status, JobStatus::Idle)
}

pub fn render_candidates(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme.theme();
    let c = &app.train.cost;
    let block = Block::new()
        .borders(Borders::ALL)
        .title(" cost candidates · c measure · C pick ");
    let mut lines: Vec<Line> = Vec::new();
    match &c.status {
        JobStatus::Running { stage, fraction } => lines.push(Line::from(Span::styled(
            format!("{:.0}% {stage}", fraction * 100.0),
            theme.accent,
        ))),
        JobStatus::Failed(e) => lines.push(Line::from(Span::styled(format!("failed: {e}"), theme.malicious))),
        _ => {}
    }
    if let Some(r) = &c.result {
        lines.push(Line::from(Span::styled(
            format!("{:>5} {:>6} {:>6} {:>8}", "depth", "F1", "nodes", "ns/pkt"),
            theme.title,
        )));
        let form = &app.train.form;
        for row in &r.rows {
            let picked = row.depth == form.max_depth;
            lines.push(Line::from(Span::styled(
                format!(
                    "{:>5} {:>6.3} {:>6} {:>8}{}",
                    row.depth,
                    row.f1,
                    row.nodes,
                    row.ns.map_or("-".into(), |ns| ns.to_string()),
                    if picked { " ◂ form" } else { "" }
                ),
                if picked { theme.selected } else { theme.base },
            )));
        }
        lines.push(Line::from(Span::styled(
            match (&r.unavailable, r.empty_ns, r.no_model_ns) {
                (Some(why), _, _) => format!("no kernel cost: {why}"),
                (None, Some(e), Some(n)) => format!(
                    "same run: empty program {e} ns, probe without model {n} ns (BPF_PROG_TEST_RUN, every packet decides)"
                ),
                _ => String::new(),
            },
            theme.dim,
        )));
        lines.push(Line::from(Span::styled(format!("= {}", r.command), theme.dim)));
    }
    frame.render_widget(
        Paragraph::new(lines).block(block).wrap(Wrap { trim: false }),
        area,
    );
}

/// The Deploy tab's live cost, in lines of at most `width` characters.
pub fn live_lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let theme = app.theme.theme();
    let s = &app.snapshot;
    if s.simulated || s.iface.is_none() {
        return vec![Line::from(Span::styled("live cost: simulated", theme.dim))];
    }
    let text = match (&app.live_cost.stats, app.live_cost.shown(s.program_cost.as_ref())) {
        (StatsState::On, Some((ns, runs))) => {
            let mut lines = vec![Line::from(vec![
                Span::styled("live ", theme.title),
                Span::styled(format!("{ns:.0} ns/packet"), theme.accent),
            ])];
            lines.extend(
                super::wrap_words(&format!("{runs} runs counted"), width)
                    .into_iter()
                    .map(|l| Line::from(Span::styled(l, theme.dim))),
            );
            return lines;
        }
        (StatsState::On, None) => "live cost: stats on\nno packet yet".to_string(),
        (StatsState::Failed(why), _) => format!("stats off: {why}"),
        (StatsState::Off, _) => "live cost: stats off".to_string(),
    };
    // Broken at spaces, whole: the reason statistics are off is worth reading in full.
    text.lines()
        .flat_map(|l| super::wrap_words(l, width))
        .map(|l| Line::from(Span::styled(l, theme.dim)))
        .collect()
}
