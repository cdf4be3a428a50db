//! The Deploy tab: interfaces with the probe, the models in the kernel (active, shadow,
//! previous), mode and decision points, hot-swap keys, and the probe's statistics.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use crate::app::App;
use workbench_kernel::models::SlotInfo;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    // Statistics take the full width below: their names are long and there are 20 of them.
    let [top, stats] = Layout::vertical([Constraint::Length(10), Constraint::Min(3)]).areas(area);
    let [left, right] = Layout::horizontal([Constraint::Length(26), Constraint::Min(30)]).areas(top);
    render_ifaces(frame, left, app);
    render_models(frame, right, app);
    render_stats(frame, stats, app);
}

fn render_ifaces(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme.theme();
    let s = &app.snapshot;
    let mut lines: Vec<Line> = Vec::new();
    if s.ifaces.is_empty() {
        lines.push(Line::from("no interface has the probe attached"));
        lines.push(Line::from(Span::styled(
            "workbench probe attach --iface IF",
            theme.accent,
        )));
    }
    for (i, name) in s.ifaces.iter().enumerate() {
        let current = s.iface.as_deref() == Some(name.as_str());
        let marker = if current { "● " } else { "  " };
        let style = if i == app.deploy_selected {
            theme.selected
        } else {
            theme.base
        };
        lines.push(Line::from(Span::styled(format!("{marker}{name}"), style)));
    }
    lines.push(Line::from(Span::styled("↑↓ choose · Enter use", theme.dim)));
    lines.extend(super::cost::live_lines(
        app,
        area.width.saturating_sub(2) as usize,
    ));
    let block = Block::new().borders(Borders::ALL).title(" probe attached on ");
    frame.render_widget(
        Paragraph::new(lines).block(block).wrap(Wrap { trim: false }),
        area,
    );
}

fn slot_line<'a>(name: &'a str, slot: Option<&SlotInfo>, app: &App) -> Line<'a> {
    let theme = app.theme.theme();
    match slot {
        Some(s) => Line::from(vec![
            Span::styled(format!("{name:<9}"), theme.title),
            Span::raw(format!("{} {:<8}", s.model, s.kind)),
            // Map id 0 never names a kernel map: the simulation's model lives in userspace.
            Span::styled(
                if s.kernel_map_id == 0 {
                    " in userspace".to_string()
                } else {
                    format!(" map {}", s.kernel_map_id)
                },
                theme.dim,
            ),
        ]),
        None => Line::from(vec![
            Span::styled(format!("{name:<9}"), theme.title),
            Span::styled("empty", theme.dim),
        ]),
    }
}

fn render_models(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme.theme();
    let s = &app.snapshot;
    let mut lines = Vec::new();
    match &s.models {
        None => lines.push(Line::from("no probe in use")),
        Some(m) => {
            lines.push(slot_line("active", m.active.as_ref(), app));
            lines.push(slot_line("shadow", m.shadow.as_ref(), app));
            lines.push(slot_line("previous", m.previous.as_ref(), app));
            let mode_style = if m.mode == "enforce" {
                theme.malicious
            } else {
                theme.benign
            };
            lines.push(Line::from(vec![
                Span::styled("mode     ", theme.title),
                Span::styled(m.mode, mode_style),
                Span::raw(format!(
                    " · decide at {}",
                    workbench_kernel::models::decision_points_words(m.decide_first_packets, m.decide_every)
                )),
            ]));
        }
    }
    // The engine, and the hook when it is not the usual TCX (the box has no row to spare).
    lines.push(match &s.models {
        Some(m) if !s.simulated => Line::from(vec![
            Span::styled("engine   ", theme.title),
            Span::raw(match m.code_program_id {
                Some(id) => format!(
                    "code (program {id}, {} evaluations)",
                    s.stats.get("code_evaluations").copied().unwrap_or(0)
                ),
                None => "table".to_string(),
            }),
            Span::styled(
                if m.attach_mode == "tc" {
                    " · hook: cls_bpf filters (no TCX here, or --attach tc)"
                } else {
                    ""
                },
                theme.dim,
            ),
        ]),
        _ => Line::from(""),
    });
    // The row left out when the box is short (80x24): the spacer, or the command hint.
    let mut optional = lines.len() - 1;
    if s.simulated {
        lines.push(Line::from(Span::styled(
            "simulated source: r, p and e need a probe (workbench probe attach --iface IF, as root).",
            theme.accent,
        )));
    } else {
        lines.push(Line::from(vec![
            Span::styled(" r ", theme.tab_active),
            Span::raw(" roll back "),
            Span::styled(" p ", theme.tab_active),
            Span::raw(" promote shadow "),
            Span::styled(" e ", theme.tab_active),
            Span::raw(" monitor/enforce"),
        ]));
        optional = lines.len();
        lines.push(Line::from(Span::styled(
            "each asks first; = workbench deploy --rollback | --promote-shadow | --mode",
            theme.dim,
        )));
    }
    let width = area.width.saturating_sub(2) as usize;
    lines.push(Line::from(match &app.train.result {
        Some(r) => {
            // The longest wording that fits on one row.
            let (model, id) = (r.form.model_name(), &r.report.model_id);
            let twin = if s.simulated {
                " (swaps the twin's model)"
            } else {
                ""
            };
            let line = [
                format!(" d / D  deploy the trained {model} {id} as active / shadow{twin}"),
                format!(" d / D  deploy {model} {id} as active / shadow{twin}"),
                format!(" d / D  deploy {model} {id} as active / shadow"),
            ]
            .into_iter()
            .find(|l| l.chars().count() <= width)
            .unwrap_or_else(|| format!(" d / D  deploy {model} {id} as active / shadow"));
            Span::styled(line, theme.accent)
        }
        None => Span::styled(" d / D  deploy a model trained on the Train tab", theme.dim),
    }));
    // Wrapped here, so that rows can be counted: the d / D line must stay inside the box.
    let rows = area.height.saturating_sub(2) as usize;
    let wrap = |lines: &[Line]| -> Vec<Line<'static>> {
        lines
            .iter()
            .flat_map(|l| super::fit::wrap_spans(l.spans.clone(), width))
            .collect()
    };
    let mut wrapped = wrap(&lines);
    if wrapped.len() > rows {
        lines.remove(optional);
        wrapped = wrap(&lines);
    }
    let title = if s.simulated {
        " models (simulation) "
    } else {
        " models in the kernel "
    };
    let mut block = Block::new().borders(Borders::ALL).title(title);
    // On the border, so it costs no row: the outcome of the last r / p / e / d stays in view
    // after the status bar has moved on.
    if let Some((at, line)) = &app.last_control {
        block = block.title_bottom(Line::from(Span::styled(
            format!(" last change {at}: {line} "),
            theme.accent,
        )));
    }
    frame.render_widget(Paragraph::new(wrapped).block(block), area);
}

fn render_stats(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme.theme();
    let stats = &app.snapshot.stats;
    // Two columns of name/value pairs. The code engine's count is on the engine line above.
    let items: Vec<(&str, u64)> = stats
        .iter()
        .filter(|(k, _)| **k != "code_evaluations")
        .map(|(k, v)| (*k, *v))
        .collect();
    let items = fitted(items, usize::from(area.height.saturating_sub(2)) * 2);
    let unread = app.snapshot.events_read == Some(false) && stats.get("events_lost").is_some_and(|n| *n > 0);
    let half = items.len().div_ceil(2);
    let rows = (0..half).map(|i| {
        let cell = |j: usize| items.get(j).cloned().unwrap_or_default();
        let (a, av) = cell(i);
        let (b, bv) = cell(i + half);
        Row::new(vec![a, av, b, bv])
    });
    let widths = [
        Constraint::Length(24),
        Constraint::Length(12),
        Constraint::Length(25),
        Constraint::Length(12),
    ];
    let table = Table::new(rows, widths)
        .style(theme.base)
        .block(
            Block::new()
                .borders(Borders::ALL)
                .title(if app.snapshot.simulated {
                    " twin statistics (simulation) "
                } else if unread {
                    // An audience asks why events are "lost": nobody reads the ring here.
                    " probe statistics · events_lost: no event reader (agent, live --jsonl) "
                } else {
                    " probe statistics (probe flows) "
                }),
        );
    frame.render_widget(table, area);
}

/// The counters as (name, value) cells for `cells` places: all of them, alphabetical, when they
/// fit; else the non-zero ones first (what a presenter points at), then zeros, and the last cell
/// says how many are left out (a 80x24 terminal has 20 places for 26 counters).
fn fitted(items: Vec<(&str, u64)>, cells: usize) -> Vec<(String, String)> {
    let cell = |(k, v): (&str, u64)| (k.to_string(), v.to_string());
    if items.len() <= cells {
        return items.into_iter().map(cell).collect();
    }
    let (mut shown, zeros): (Vec<_>, Vec<_>) = items.into_iter().partition(|(_, v)| *v > 0);
    shown.extend(zeros);
    let keep = cells.saturating_sub(1);
    let left = shown.len() - keep.min(shown.len());
    let mut out: Vec<(String, String)> = shown.into_iter().take(keep).map(cell).collect();
    out.push((format!("+{left} more"), "probe flows".into()));
    out
}

#[cfg(test)]
mod tests {
    use super::fitted;

    #[test]
    fn counters_that_do_not_fit_leave_out_zeros_first_and_say_how_many() {
        let items = vec![("a", 0), ("b", 5), ("c", 0), ("d", 7), ("e", 0)];
        let names = |v: Vec<(String, String)>| v.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(names(fitted(items.clone(), 5)), ["a", "b", "c", "d", "e"]);
        assert_eq!(names(fitted(items.clone(), 4)), ["b", "d", "a", "+2 more"]);
        assert_eq!(names(fitted(items, 2)), ["b", "+4 more"]);
    }
}
