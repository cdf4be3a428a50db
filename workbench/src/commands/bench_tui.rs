//! `workbench bench tui`: the Live tab's frame time with 100,000 flows (target <= 16 ms), against
//! the same frame with 100 flows: the ratio shows whether a frame's cost grows with the flows.

use color_eyre::eyre::Result;
use serde::Serialize;

use workbench_bench::figure::Figure;
use workbench_tui::bench::{live_frames, FrameBench};

pub const FLOWS: usize = 100_000;
pub const FEW_FLOWS: usize = 100;
/// The usual terminal the screenshots use.
pub const SIZE: (u16, u16) = (160, 48);
pub const TARGET_FRAME_MS: f64 = 16.0;

#[derive(Debug, Serialize)]
pub struct TuiBench {
    pub many: FrameBench,
    pub few: FrameBench,
}

pub fn run(quick: bool) -> Result<TuiBench> {
    let frames = if quick { 60 } else { 300 };
    Ok(TuiBench {
        many: live_frames(FLOWS, SIZE, frames)?,
        few: live_frames(FEW_FLOWS, SIZE, frames)?,
    })
}

pub fn figures(b: &TuiBench) -> Vec<Figure> {
    let ms = |ns: u64| ns as f64 / 1e6;
    let mean = ms(b.many.frame_mean_ns);
    vec![
        Figure::versus(
            "tui_live_frame_mean_ms_100k_flows",
            mean,
            "ms",
            "the same frame with 100 flows",
            ms(b.few.frame_mean_ns),
            false,
        )
        .with_target(&format!("<= {TARGET_FRAME_MS} ms"), mean <= TARGET_FRAME_MS),
        Figure::versus(
            "tui_live_frame_max_ms_100k_flows",
            ms(b.many.frame_max_ns),
            "ms",
            "the same frame with 100 flows",
            ms(b.few.frame_max_ns),
            false,
        ),
    ]
}

pub fn notes(b: &TuiBench) -> Vec<String> {
    vec![format!(
        "{} frames at {}x{} into ratatui's TestBackend (layout and cell work of a terminal frame, \
         without writing to a tty); sorting the 100k flows took {:.1} ms on the poller thread, \
         accepting the snapshot {:.2} ms on the UI thread",
        b.many.frames,
        b.many.width,
        b.many.height,
        b.many.view_ns as f64 / 1e6,
        b.many.snapshot_accept_ns as f64 / 1e6
    )]
}
