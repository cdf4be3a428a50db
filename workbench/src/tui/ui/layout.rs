//! Where each region goes, as pure functions of the terminal size: rendering and mouse
//! hit-testing both use them, so a click lands on what was drawn.

use ratatui::layout::Rect;

use crate::tui::action::Tab;

/// The label of a tab in the tab bar (its number is its key).
pub fn tab_label(tab: Tab) -> String {
    format!(" {} {} ", tab.index() + 1, tab.title())
}

pub struct Regions {
    pub tabs: Rect,
    pub body: Rect,
    pub status: Rect,
}

pub fn regions(area: Rect) -> Regions {
    let body_h = area.height.saturating_sub(2);
    Regions {
        tabs: Rect::new(area.x, area.y, area.width, area.height.min(1)),
        body: Rect::new(area.x, area.y.saturating_add(1), area.width, body_h),
        status: Rect::new(
            area.x,
            area.y.saturating_add(area.height.saturating_sub(1)),
            area.width,
            area.height.min(1),
        ),
    }
}

/// Live tab: summary line, charts, table.
pub struct LiveRegions {
    pub summary: Rect,
    pub charts: Rect,
    pub table: Rect,
}

pub fn live(body: Rect) -> LiveRegions {
    // Charts get more room on tall terminals; at 24 rows the table keeps 14 rows.
    let charts_h = if body.height >= 40 { 10 } else { 5 }.min(body.height.saturating_sub(2));
    let summary = Rect::new(body.x, body.y, body.width, body.height.min(1));
    let charts = Rect::new(body.x, body.y.saturating_add(1), body.width, charts_h);
    let table_y = body.y.saturating_add(1 + charts_h);
    let table_h = body.height.saturating_sub(1 + charts_h);
    LiveRegions {
        summary,
        charts,
        table: Rect::new(body.x, table_y, body.width, table_h),
    }
}

fn full(size: (u16, u16)) -> Rect {
    Rect::new(0, 0, size.0, size.1)
}

/// Data rows the Live table shows (its first line is the header).
pub fn live_table_rows(size: (u16, u16)) -> usize {
    live(regions(full(size)).body).table.height.saturating_sub(1) as usize
}

/// The tab under a click on the tab bar.
pub fn tab_at(size: (u16, u16), column: u16, row: u16) -> Option<Tab> {
    if row != regions(full(size)).tabs.y {
        return None;
    }
    let mut x = 0u16;
    for tab in Tab::ALL {
        let w = tab_label(tab).chars().count() as u16;
        if column >= x && column < x + w {
            return Some(tab);
        }
        x += w + 1;
    }
    None
}

/// The visible Live row (0 = first data row) under a click.
pub fn live_row_at(size: (u16, u16), row: u16) -> Option<usize> {
    let table = live(regions(full(size)).body).table;
    let first = table.y + 1;
    (row >= first && row < table.y + table.height).then(|| (row - first) as usize)
}

/// A centred rectangle of at most `w` x `h` inside `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}
