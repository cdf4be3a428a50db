//! The Data tab: the active dataset's files, detected kind (and why), rows and columns, what
//! cleaning dropped; the class balance as bars; the column table (type, missing, NaN/inf, the
//! kernel feature it feeds), sortable and scrollable.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Wrap};
use ratatui::Frame;
use std::fmt::Write as _;

use super::bars::{bar_lines, waiting, NO_DATA};
use super::layout;
use crate::app::App;
use crate::state::data::JobStatus;

/// `name` in at most `width` characters: its start and end around a `…`.
fn middle_cut(name: &str, width: usize) -> String {
    let chars: Vec<char> = name.chars().collect();
    if chars.len() <= width || width < 8 {
        return name.to_string();
    }
    let tail = (width - 1) / 2;
    let head = width - 1 - tail;
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[chars.len() - tail..]);
    out
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Some(set) = app.data.current() else {
        waiting(frame, area, app, &app.data.status, "Data", NO_DATA);
        return;
    };
    let theme = app.theme.theme();
    let s = &set.summary;
    let r = layout::data(area);

    // Most telling first: at 80x24 the panel shows four or five lines.
    let mut info = vec![
        Line::from(vec![
            Span::styled(s.kind.clone(), theme.title),
            Span::raw(format!(
                " · {} rows x {} columns · label `{}`",
                s.rows,
                s.columns.len(),
                s.label_column
            )),
        ]),
        Line::from(format!(
            "{} malicious ({:.1}%) · cleaning: {} read, {} dropped{}{}",
            s.malicious,
            100.0 * s.malicious as f64 / s.rows.max(1) as f64,
            s.rows_read,
            s.rows_dropped,
            s.drop_reasons.iter().fold(String::new(), |mut out, (r, n)| {
                let _ = write!(out, " · {n} {r}");
                out
            }),
            if s.dropped_columns.is_empty() {
                String::new()
            } else {
                format!(" · columns dropped: {}", s.dropped_columns.join(", "))
            }
        )),
    ];
    if let Some(note) = &s.note {
        info.insert(0, Line::from(Span::styled(note.clone(), theme.accent)));
    }
    // Files that did not load, first: the datasets that did are not all that was asked for.
    let failed = &app.data.errors;
    for (i, e) in failed.iter().enumerate().rev() {
        info.insert(
            0,
            Line::from(Span::styled(
                format!("not loaded ({}/{}): {e}", i + 1, failed.len()),
                theme.malicious,
            )),
        );
    }
    // The inspect command last in the list is the one that shows this table headless.
    for c in s.commands.iter().rev() {
        info.push(Line::from(Span::styled(format!("= {c}"), theme.dim)));
    }
    info.push(Line::from(vec![
        Span::styled("files ", theme.dim),
        Span::raw(s.files.join(", ")),
    ]));
    info.push(Line::from(Span::styled(
        format!("detected: {}", s.kind_reason),
        theme.dim,
    )));
    let sets = app.data.sets.len();
    let mut count = if sets > 1 {
        format!(" ({}/{sets}, n: next)", app.data.active + 1)
    } else {
        String::new()
    };
    // The failures are the box's first lines; the title counts them too where it has room.
    let failures = format!(" · {} failed", failed.len());
    let title_w =
        " dataset ".len() + s.name.chars().count() + count.chars().count() + failures.chars().count() + 1;
    if !failed.is_empty() && title_w + 2 <= r.info.width as usize {
        count += &failures;
    }
    // A long file name gives way in its middle: the count and `n` stay in view (the files line
    // below has the whole name).
    let room = (r.info.width as usize).saturating_sub(2 + " dataset ".len() + count.chars().count() + 1);
    let mut title = format!(" dataset {}{count}", middle_cut(&s.name, room));
    if let JobStatus::Running { stage, .. } = &app.data.status {
        title += &format!(" · reloading: {stage}");
    }
    title.push(' ');
    frame.render_widget(
        Paragraph::new(info)
            .block(Block::new().borders(Borders::ALL).title(title))
            .wrap(Wrap { trim: true }),
        r.info,
    );

    let inner_w = r.classes.width.saturating_sub(2) as usize;
    let rows = r.classes.height.saturating_sub(2) as usize;
    let mut classes: Vec<(String, f64)> = s.classes.iter().map(|(c, n)| (c.clone(), *n as f64)).collect();
    if classes.len() > rows && rows > 0 {
        let rest: f64 = classes[rows - 1..].iter().map(|c| c.1).sum();
        let others = classes.len() - (rows - 1);
        classes.truncate(rows - 1);
        classes.push((format!("{others} more"), rest));
    }
    let max = classes.iter().map(|c| c.1).fold(1.0, f64::max);
    frame.render_widget(
        Paragraph::new(bar_lines(&classes, max, inner_w, theme.accent, false))
            .block(Block::new().borders(Borders::ALL).title(" class balance (rows) ")),
        r.classes,
    );

    let page = r.table.height.saturating_sub(3) as usize;
    let body = app
        .data
        .order
        .iter()
        .enumerate()
        .skip(app.data.offset)
        .take(page)
        // `order` is rebuilt whenever the active dataset changes (`reorder`); `get` keeps a
        // render of a stale order from panicking all the same.
        .filter_map(|(pos, &i)| s.columns.get(i).map(|c| (pos, c)))
        .map(|(pos, c)| {
            let style = if pos == app.data.selected {
                theme.selected
            } else {
                theme.base
            };
            let count = |n: usize| if n == 0 { "·".to_string() } else { n.to_string() };
            Row::new(vec![
                c.name.clone(),
                c.dtype.to_string(),
                count(c.missing),
                count(c.infinite),
                c.kernel_feature.unwrap_or("").to_string(),
                c.role.unwrap_or("").to_string(),
            ])
            .style(style)
        });
    let name_w = s
        .columns
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(18, 40);
    let widths = [
        Constraint::Length(name_w as u16),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(22),
        Constraint::Min(11),
    ];
    let arrow = if app.data.desc { "↑" } else { "↓" };
    let title = format!(
        " columns {}-{} of {} · sort {}{arrow} (s/S) ",
        (app.data.offset + 1).min(s.columns.len()),
        (app.data.offset + page).min(s.columns.len()),
        s.columns.len(),
        app.data.sort.name()
    );
    let table = Table::new(body, widths)
        .header(
            Row::new(vec![
                "column",
                "type",
                "missing",
                "NaN/inf",
                "kernel feature",
                "role",
            ])
            .style(theme.title),
        )
        .block(Block::new().borders(Borders::ALL).title(title));
    frame.render_widget(table, r.table);
}
