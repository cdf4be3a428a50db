//! Where each region goes, as pure functions of the terminal size: rendering and mouse
//! hit-testing both use them, so a click lands on what was drawn.

use ratatui::layout::Rect;

use crate::action::Tab;

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

/// Data tab: dataset facts, class balance chart, column table.
pub struct DataRegions {
    pub info: Rect,
    pub classes: Rect,
    pub table: Rect,
}

pub fn data(body: Rect) -> DataRegions {
    let top_h = if body.height >= 40 { 12 } else { 8 }.min(body.height);
    let info_w = (body.width / 2).max(body.width.min(40));
    DataRegions {
        info: Rect::new(body.x, body.y, info_w.min(body.width), top_h),
        classes: Rect::new(
            body.x + info_w.min(body.width),
            body.y,
            body.width.saturating_sub(info_w),
            top_h,
        ),
        table: Rect::new(body.x, body.y + top_h, body.width, body.height - top_h),
    }
}

/// Data rows the column table shows (inside its border, below its header).
pub fn data_table_rows(size: (u16, u16)) -> usize {
    data(regions(full(size)).body).table.height.saturating_sub(3) as usize
}

/// The visible column-table row (0 = first) under a click.
pub fn data_row_at(size: (u16, u16), _column: u16, row: u16) -> Option<usize> {
    let t = data(regions(full(size)).body).table;
    let first = t.y + 2;
    (row >= first && row + 1 < t.y + t.height).then(|| (row - first) as usize)
}

/// Pitfalls tab: findings list and split panel on the left, the selected finding on the right.
pub struct PitfallsRegions {
    pub list: Rect,
    pub split: Rect,
    pub detail: Rect,
}

pub fn pitfalls(body: Rect) -> PitfallsRegions {
    let left_w = (body.width * 2 / 5).clamp(body.width.min(32), body.width.min(60));
    let split_h = 7.min(body.height / 2);
    PitfallsRegions {
        list: Rect::new(body.x, body.y, left_w, body.height - split_h),
        split: Rect::new(body.x, body.y + body.height - split_h, left_w, split_h),
        detail: Rect::new(body.x + left_w, body.y, body.width - left_w, body.height),
    }
}

/// Findings the list shows at once.
pub fn pitfalls_list_rows(size: (u16, u16)) -> usize {
    pitfalls(regions(full(size)).body).list.height.saturating_sub(2) as usize
}

/// The first finding shown: the list scrolls so that the selection stays visible.
pub fn pitfalls_first_row(selected: usize, size: (u16, u16)) -> usize {
    selected.saturating_sub(pitfalls_list_rows(size).saturating_sub(1))
}

/// The visible finding (0 = first shown) under a click.
pub fn pitfalls_row_at(size: (u16, u16), column: u16, row: u16) -> Option<usize> {
    let l = pitfalls(regions(full(size)).body).list;
    let inside = column >= l.x && column < l.x + l.width && row > l.y && row + 1 < l.y + l.height;
    inside.then(|| (row - l.y - 1) as usize)
}

/// Train tab: form, progress gauge, metrics and confusion matrix, ROC chart, importance bars.
pub struct TrainRegions {
    pub form: Rect,
    pub metrics: Rect,
    pub gauge: Rect,
    /// The trained model's file and the command writing it (empty before a run).
    pub model: Rect,
    pub roc: Rect,
    pub importance: Rect,
    /// Why: the split and its reason, what the gate left out, what the values are.
    pub notes: Rect,
}

/// `model_h`: rows the model file box needs (its lines, wrapped, plus its top border; 0
/// before a run). It goes full width below the gauge, so that the path and the command are
/// never cut; ROC, importance and notes share what is left.
pub fn train(body: Rect, model_h: u16) -> TrainRegions {
    let top_h = if body.height >= 40 { 11 } else { 9 }.min(body.height);
    let gauge_h = 3.min(body.height - top_h);
    let model_h = model_h.min(body.height - top_h - gauge_h);
    let rest = body.height - top_h - gauge_h - model_h;
    let form_w = (body.width * 9 / 20).min(body.width);
    let roc_w = body.width / 2;
    let y2 = body.y + top_h + gauge_h + model_h;
    // Importance above, the notes below it (they are read once; the bars stay in view).
    let importance_h = rest / 2;
    TrainRegions {
        form: Rect::new(body.x, body.y, form_w, top_h),
        metrics: Rect::new(body.x + form_w, body.y, body.width - form_w, top_h),
        gauge: Rect::new(body.x, body.y + top_h, body.width, gauge_h),
        model: Rect::new(body.x, body.y + top_h + gauge_h, body.width, model_h),
        roc: Rect::new(body.x, y2, roc_w, rest),
        importance: Rect::new(body.x + roc_w, y2, body.width - roc_w, importance_h),
        notes: Rect::new(
            body.x + roc_w,
            y2 + importance_h,
            body.width - roc_w,
            rest - importance_h,
        ),
    }
}

/// The form field (0 = model) under a click.
pub fn train_field_at(size: (u16, u16), column: u16, row: u16) -> Option<usize> {
    // The form sits above the model box: its height does not matter here.
    let f = train(regions(full(size)).body, 0).form;
    let inside = column >= f.x && column < f.x + f.width && row > f.y;
    let i = row.saturating_sub(f.y + 1) as usize;
    (inside && i < crate::state::train::FIELDS).then_some(i)
}

/// The Live summary line (a click on it opens the shadow explanation).
pub fn live_summary_at(size: (u16, u16), row: u16) -> bool {
    row == live(regions(full(size)).body).summary.y
}

/// Train tab, evaluation view: data list and figures on top, recall per class beside the
/// time-to-detect chart, the skew table below.
pub struct EvalRegions {
    pub data: Rect,
    pub figures: Rect,
    pub classes: Rect,
    pub detect: Rect,
    pub skew: Rect,
}

pub fn eval(body: Rect) -> EvalRegions {
    let tall = body.height >= 40;
    // At 24 rows: five lines of figures, the seven classes of the samples, four of skew.
    let top_h = if tall { 12 } else { 7 }.min(body.height);
    let mid_h = if tall { 14 } else { 9 }.min(body.height - top_h);
    let skew_h = body.height - top_h - mid_h;
    let left_w = (body.width * 9 / 20).min(body.width);
    let half = body.width / 2;
    let y2 = body.y + top_h;
    EvalRegions {
        data: Rect::new(body.x, body.y, left_w, top_h),
        figures: Rect::new(body.x + left_w, body.y, body.width - left_w, top_h),
        classes: Rect::new(body.x, y2, half, mid_h),
        detect: Rect::new(body.x + half, y2, body.width - half, mid_h),
        skew: Rect::new(body.x, y2 + mid_h, body.width, skew_h),
    }
}

/// Entries the evaluation view's data list shows at once (below the model line, above the
/// command line).
pub fn eval_list_rows(size: (u16, u16)) -> usize {
    (eval(regions(full(size)).body).data.height.saturating_sub(4) as usize).max(1)
}

/// The visible entry of the evaluation view's data list (0 = first shown) under a click.
pub fn eval_choice_at(size: (u16, u16), column: u16, row: u16) -> Option<usize> {
    let d = eval(regions(full(size)).body).data;
    let first = d.y + 2;
    let inside = column > d.x && column + 1 < d.x + d.width && row >= first;
    let i = row.saturating_sub(first) as usize;
    (inside && i < eval_list_rows(size)).then_some(i)
}
