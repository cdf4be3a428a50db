//! Frame time of the Live tab with many flows (`workbench tui --bench`): renders the fixture
//! state into ratatui's TestBackend, which does the same layout and cell work as a terminal
//! frame but leaves out writing the changed cells to the tty (bounded by the screen, not by
//! the number of flows). Measured here, never asserted in tests: timings depend on the machine.

use std::sync::Arc;
use std::time::Instant;

use crate::error::Result;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use serde::Serialize;

use super::app::App;
use super::view;

#[derive(Debug, Serialize)]
pub struct FrameBench {
    pub flows: usize,
    pub width: u16,
    pub height: u16,
    pub frames: usize,
    pub frame_mean_ns: u64,
    pub frame_max_ns: u64,
    /// Sort of all flows (on the poller thread per snapshot; on the UI thread only when the
    /// user changes the order or filter).
    pub view_ns: u64,
    /// Accepting a new snapshot on the UI thread (view, histogram and counts were prepared by
    /// the poller thread).
    pub snapshot_accept_ns: u64,
}

pub fn live_frames(flows: usize, size: (u16, u16), frames: usize) -> Result<FrameBench> {
    let snapshot = super::fake::snapshot(flows, false)?;
    let mut app = App::new(snapshot, size);
    let t = Instant::now();
    let v = view::compute(&app.snapshot, app.sort, app.sort_desc, "");
    let view_ns = t.elapsed().as_nanos() as u64;
    app.view = v;
    // As the poller hands it over: prepared for the current order on its own thread.
    let mut again = (*app.snapshot).clone();
    again.prepared = Some(view::prepare(&again, &app.view_spec()));
    let again = Arc::new(again);
    let t = Instant::now();
    app.update(super::action::Action::Snapshot(again));
    let snapshot_accept_ns = t.elapsed().as_nanos() as u64;
    let mut term = Terminal::new(TestBackend::new(size.0, size.1))?;
    let mut times = Vec::with_capacity(frames);
    for i in 0..frames {
        // Move the selection so every frame shows other rows, as scrolling does.
        app.update(super::action::Action::Down);
        if i % 50 == 0 {
            app.update(super::action::Action::Top);
        }
        let t = Instant::now();
        term.draw(|f| super::ui::render(f, &app))?;
        times.push(t.elapsed().as_nanos() as u64);
    }
    let frames = times.len().max(1);
    Ok(FrameBench {
        flows,
        width: size.0,
        height: size.1,
        frames,
        frame_mean_ns: times.iter().sum::<u64>() / frames as u64,
        frame_max_ns: times.iter().copied().max().unwrap_or(0),
        view_ns,
        snapshot_accept_ns,
    })
}
