//! The kernel demo's Live tab at the projector's 80x24 and a little wider: the summary and the
//! status line leave items out whole, never cut one (the summary once read "shadow disagrees
//! 88" for 8802), the shadow's count outlives the less important items, and PAUSED stays
//! visible after a long source label.

use std::sync::Arc;

use workbench_tui::app::Overlay;
use workbench_tui::fake;

use crate::tuikit::text;

const LABEL: &str = "KERNEL probe on ebml-pr13b (demo lab ebml-pr13) · replay pass 63 · 656828 packets sent";

fn demo_live(width: u16) -> workbench_tui::app::App {
    // The fixture with a shadow story (so the count says "(w)"), on its Live tab.
    let mut app = fake::screen("live-shadow-why", (width, 24)).expect("screen");
    app.overlay = Overlay::None;
    let mut s = (*app.snapshot).clone();
    s.label = LABEL.into();
    app.snapshot = Arc::new(s);
    app.shadow_disagreements = 8802;
    app.flagged = 5072;
    app.paused = true;
    app
}

#[test]
fn the_live_summary_and_status_line_never_cut_a_number() {
    for width in 80..=140u16 {
        let screen = text(&demo_live(width));
        let lines: Vec<&str> = screen.lines().collect();
        let summary = lines[1];
        let status = lines[lines.len() - 1];
        assert!(
            summary.contains("shadow disagrees 8802 (w)"),
            "{width}: the shadow's count stays, whole: {summary}"
        );
        assert!(
            summary.contains("flows 300") && summary.contains("flagged 5072"),
            "{width}: {summary}"
        );
        assert!(status.contains("PAUSED"), "{width}: {status}");
        assert!(
            status.contains("KERNEL probe on ebml-pr13b (demo lab ebml-pr13)"),
            "{width}: {status}"
        );
        // Each part of the label is there whole or not at all.
        for part in ["replay pass 63", "656828 packets sent"] {
            let start = &part[..part.len() - 3];
            assert!(
                status.contains(part) || !status.contains(start),
                "{width}: {part:?} cut: {status}"
            );
        }
    }
    insta::assert_snapshot!(
        "live-kernel-paused_80x24",
        crate::tuikit::draw(&demo_live(80)).backend()
    );
}
