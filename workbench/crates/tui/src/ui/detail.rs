//! The flow detail overlay: the selected flow, and why the active model gives its verdict.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::layout;
use super::live::{probability, score};
use crate::app::App;
use crate::words::plural;
use workbench_flow::explain::{explain, Step};
use workbench_flow::model::scale::ScoreScale;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme.theme();
    let Some(flow) = app.selected_flow() else { return };
    let r = &flow.record;
    let mut lines = vec![
        Line::from(Span::styled(
            format!(
                "{}:{} → {}:{} {}{}",
                r.src,
                r.src_port,
                r.dst,
                r.dst_port,
                r.proto,
                // Only when tagged: the VLAN tells flows with one 5-tuple apart.
                if r.vlan_id == 0 {
                    String::new()
                } else {
                    format!(" vlan {}", r.vlan_id)
                }
            ),
            theme.title,
        )),
        Line::from(vec![
            Span::raw("verdict "),
            Span::styled(r.verdict, theme.verdict(r.verdict)),
            Span::raw(format!(
                "  score {}  model {}  decided at packet {}  ({} fwd, {} bwd)",
                probability(r.probability),
                r.model.as_deref().unwrap_or("-"),
                r.decided_at_packet,
                plural(r.fwd_packets, "packet", "packets"),
                plural(r.bwd_packets, "packet", "packets")
            )),
        ]),
    ];
    if r.shadow_model.is_some() {
        lines.push(Line::from(vec![
            Span::raw("shadow "),
            Span::styled(r.shadow_verdict, theme.verdict(r.shadow_verdict)),
            Span::raw(format!(
                "  score {}  model {}  disagreements {}",
                probability(r.shadow_probability),
                r.shadow_model.as_deref().unwrap_or("-"),
                r.shadow_disagreements
            )),
        ]));
    }
    lines.push(Line::from(""));
    match &app.snapshot.active_model {
        None => lines.push(Line::from("no active model: nothing to explain")),
        Some(model) => {
            let e = explain(model, &flow.state);
            // P(malicious) like every score on screen; a logistic model's logit beside it.
            let scale = ScoreScale::of(model);
            let logit = if model.header.kind == shared::model::KIND_LOGISTIC {
                format!(" (logit {})", score(e.score))
            } else {
                String::new()
            };
            lines.push(Line::from(Span::styled(
                format!(
                    "Why ({}, recomputed on the flow's state now): P(malicious) {:.2}{logit} {} threshold {:.2} → {}",
                    e.kind,
                    scale.probability(e.score),
                    if e.malicious { ">=" } else { "<" },
                    scale.threshold_probability(e.threshold),
                    if e.malicious { "malicious" } else { "benign" }
                ),
                theme.accent,
            )));
            for step in &e.steps {
                lines.push(step_line(step, app));
            }
        }
    }
    lines.push(Line::from(Span::styled("Esc closes", theme.dim)));
    let w = area.width.saturating_sub(4).max(20);
    // Height after wrapping, so the last lines (the leaf, the hint) are not cut off.
    let inner = w.saturating_sub(2).max(1) as usize;
    let rows: usize = lines.iter().map(|l| l.width().max(1).div_ceil(inner)).sum();
    let popup = layout::centered(area, w, (rows as u16).saturating_add(2));
    frame.render_widget(Clear, popup);
    let block = Block::new()
        .borders(Borders::ALL)
        .title(" flow detail ")
        .style(theme.base);
    frame.render_widget(
        Paragraph::new(lines).block(block).wrap(Wrap { trim: false }),
        popup,
    );
}

fn step_line(step: &Step, app: &App) -> Line<'static> {
    let theme = app.theme.theme();
    match step {
        Step::Split {
            tree,
            feature,
            unit,
            value,
            threshold,
            went_left,
        } => Line::from(format!(
            "  t{tree}  {feature} = {}  {}  {threshold}",
            with_unit(value, unit),
            if *went_left { "<=" } else { ">" }
        )),
        Step::Leaf { tree, score: s } => Line::from(Span::styled(
            format!("  t{tree}  leaf: {}", score(*s)),
            theme.title,
        )),
        Step::Bias(b) => Line::from(format!("  bias                      {:>+9}", score(*b))),
        Step::Term {
            feature,
            unit,
            value,
            contribution,
        } => {
            let style = if *contribution > 0 {
                theme.malicious
            } else {
                theme.benign
            };
            Line::from(vec![
                Span::raw(format!("  {feature:<24} {:>+9}", score(*contribution))),
                Span::styled(
                    match contribution.signum() {
                        1 => " ▲",
                        -1 => " ▼",
                        _ => "  ",
                    },
                    style,
                ),
                Span::styled(
                    format!("  ({}; raw {contribution:+})", with_unit(value, unit)),
                    theme.dim,
                ),
            ])
        }
    }
}

/// A feature's value with its unit; a ratio has no unit word (`down_up_ratio = 5`).
fn with_unit(value: impl std::fmt::Display, unit: &str) -> String {
    match unit {
        "" | "ratio" => value.to_string(),
        _ => format!("{value} {unit}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_unit;

    #[test]
    fn a_ratio_has_no_unit_word() {
        assert_eq!(with_unit(5, "ratio"), "5");
        assert_eq!(with_unit(5, ""), "5");
        assert_eq!(with_unit(1200, "us"), "1200 us");
    }
}
