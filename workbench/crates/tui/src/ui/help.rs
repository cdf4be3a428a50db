//! The help overlay (every key, from the keymap's own table) and the confirmation dialog.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::layout;
use crate::app::App;
use crate::keymap::HELP;
use crate::source::Control;

/// Widths of the help table's columns (key, does, the subcommand with `workbench `), from the
/// table itself: the overlay shows the third column only where all three fit whole.
fn help_widths() -> (u16, u16, u16) {
    let w = |f: fn(&(&str, &str, &str)) -> usize| HELP.iter().map(f).max().unwrap_or(0) as u16;
    (
        // One space more after the keys: they read apart from what they do.
        w(|h| h.0.chars().count() + 1),
        w(|h| h.1.chars().count()),
        w(|h| {
            if h.2.is_empty() {
                0
            } else {
                "workbench ".len() + h.2.chars().count()
            }
        }),
    )
}

pub fn render_help(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme.theme();
    let (key_w, does_w, cmd_w) = help_widths();
    let popup_w = area.width.saturating_sub(4);
    // Borders, then one space between columns.
    let wide = popup_w >= 2 + key_w + 1 + does_w + 1 + cmd_w;
    let rows = HELP.iter().map(|(k, what, cmd)| {
        let mut cells = vec![Span::styled(*k, theme.accent).into(), (*what).into()];
        if wide {
            cells.push(
                Span::styled(
                    if cmd.is_empty() {
                        String::new()
                    } else {
                        format!("workbench {cmd}")
                    },
                    theme.dim,
                )
                .into(),
            );
        }
        Row::new::<Vec<ratatui::widgets::Cell>>(cells)
    });
    let mut widths = vec![Constraint::Length(key_w), Constraint::Min(does_w)];
    if wide {
        widths.push(Constraint::Length(cmd_w));
    }
    let h = (HELP.len() as u16 + 3).min(area.height);
    let popup = layout::centered(area, popup_w, h);
    frame.render_widget(Clear, popup);
    let title = format!(" keys · theme {} · Esc or ? closes ", app.theme.name());
    let header = if wide {
        vec!["key", "does", "same without the TUI"]
    } else {
        vec!["key", "does"]
    };
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.title))
        .block(Block::new().borders(Borders::ALL).title(title).style(theme.base));
    frame.render_widget(table, popup);
}

pub fn render_confirm(frame: &mut Frame, area: Rect, app: &App, control: &Control) {
    let theme = app.theme.theme();
    let iface = app.snapshot.iface.as_deref().unwrap_or("IF");
    let models = app.snapshot.models.as_ref();
    let what = match control {
        Control::Rollback => format!(
            "Roll back {iface}: make the previous model ({}) active?",
            models
                .and_then(|m| m.previous.as_ref())
                .map_or("none", |s| s.model.as_str())
        ),
        Control::PromoteShadow => format!(
            "Promote the shadow model ({}) to active on {iface}?",
            models
                .and_then(|m| m.shadow.as_ref())
                .map_or("none", |s| s.model.as_str())
        ),
        Control::ToggleMode => {
            let to = match Control::toggled(models.map(|m| m.mode)) {
                "enforce" => match models.map(|m| m.drop_unparsed.as_slice()) {
                    Some(reasons) if !reasons.is_empty() => format!(
                        "enforce (drops packets of flagged flows, and frames it cannot read: {})",
                        reasons.join(", ")
                    ),
                    _ => "enforce (drops packets of flagged flows)".to_string(),
                },
                other => other.to_string(),
            };
            format!("Switch {iface} to {to}?")
        }
        Control::DeployModel { path, shadow } => {
            let role = if *shadow {
                "as the shadow model (beside the active one, counting disagreements)"
            } else {
                "as the active model (hot swap, no reload)"
            };
            let name = path
                .file_name()
                .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().to_string());
            if app.snapshot.simulated {
                format!("Swap the simulation's model: run {name} {role}? (on a probe:)")
            } else {
                format!("Deploy {name} on {iface} {role}?")
            }
        }
    };
    let lines = vec![
        Line::from(Span::styled(what, theme.title)),
        Line::from(""),
        Line::from(Span::styled(
            format!("same as: {}", control.command(iface, models.map(|m| m.mode))),
            theme.dim,
        )),
        Line::from(""),
        Line::from(vec![
            Span::styled(" y ", theme.tab_active),
            Span::raw(" yes   "),
            Span::styled(" n ", theme.tab_active),
            Span::raw(" no"),
        ]),
    ];
    let popup = layout::centered(area, 72, 10);
    frame.render_widget(Clear, popup);
    let block = Block::new()
        .borders(Borders::ALL)
        .title(" confirm ")
        .style(theme.base);
    frame.render_widget(
        Paragraph::new(lines).block(block).wrap(Wrap { trim: true }),
        popup,
    );
}
