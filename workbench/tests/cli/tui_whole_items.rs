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
            summary.contains("shadow disagreed on 8802 decisions (w)"),
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

/// The rows of a screen's text.
fn rows(app: &workbench_tui::app::App) -> Vec<String> {
    text(app).lines().map(str::to_string).collect()
}

#[test]
fn at_80x24_the_deploy_key_line_stays_inside_the_models_box() {
    for (name, simulated) in [
        ("deploy-trained-confirm", false),
        ("deploy-trained-confirm", true),
    ] {
        for size in [(80, 24), (160, 48)] {
            let mut app = fake::screen(name, size).expect("screen");
            app.overlay = Overlay::None;
            if simulated {
                let mut s = (*app.snapshot).clone();
                s.simulated = true;
                app.snapshot = Arc::new(s);
            }
            let rows = rows(&app);
            // The models box ends at the first bottom border on the right.
            let end = rows
                .iter()
                .position(|r| r.trim_end_matches('"').ends_with('┘'))
                .expect("the models box");
            let key = rows[..end]
                .iter()
                .find(|r| r.contains("d / D  deploy"))
                .unwrap_or_else(|| {
                    panic!(
                        "{size:?} simulated {simulated}: no d / D line\n{}",
                        rows.join("\n")
                    )
                });
            assert!(
                key.contains("as active / shadow"),
                "{size:?}: the key line is whole: {key}"
            );
        }
    }
}

#[test]
fn at_80x24_the_shadow_panel_shows_its_sentences_and_command_whole() {
    let mut app = fake::screen("live-shadow-why", (80, 24)).expect("screen");
    // The demo's command: a model file in its scratch directory, longer than the fixture's.
    let story = app.shadow_story.clone().expect("story");
    let mut run = (*story.run).clone();
    run.command = "workbench eval /tmp/workbench-demo-14263/kaggle-tree-a7bc8e93.ebml \
                   sample-pcaps/honest.pcap --json"
        .into();
    let mut story = (*story).clone();
    story.run = Arc::new(run.clone());
    app.shadow_story = Some(Arc::new(story));
    app.shadow_disagreements = 8802;
    let screen = text(&app);
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let shown: Vec<String> = screen
        .lines()
        // Inside the panel: columns 2 to 77 after the row's opening quote (the tab behind
        // it shows at its edges).
        .flat_map(|l| words(&l.chars().skip(3).take(76).collect::<String>()))
        .collect();
    let sentence = "disagreed with the active model on 8802 decisions so far on Live";
    for expected in [sentence.to_string(), format!("= {}", run.command)] {
        let expected = words(&expected);
        assert!(
            shown.windows(expected.len()).any(|w| w == expected.as_slice()),
            "{expected:?} whole, in order:\n{screen}"
        );
    }
    assert!(!screen.contains("ano…") && !screen.contains("trai…"), "{screen}");
}

#[test]
fn at_80x24_an_attack_class_never_flagged_keeps_its_closing_bracket() {
    let mut app = fake::screen("eval", (80, 24)).expect("screen");
    let mut run = (*app.eval.result.clone().expect("fixture evaluation")).clone();
    for d in run.report.time_to_detect.per_class.values_mut() {
        (d.detected_flows, d.median_packet, d.p90_packet) = (0, None, None);
        (d.median_time_ns, d.p90_time_ns) = (None, None);
    }
    app.eval.result = Some(Arc::new(run));
    let screen = text(&app);
    let never: Vec<&str> = screen.lines().filter(|l| l.contains("never")).collect();
    assert!(!never.is_empty(), "{screen}");
    for line in never {
        let at = line.find("never").expect("never");
        let rest = &line[at..];
        assert!(
            rest.contains("(0 of ") || rest.contains("(0/"),
            "the count is there: {line}"
        );
        let close = rest.find(')').unwrap_or_else(|| panic!("cut: {line}"));
        let shown = &rest[..=close];
        assert!(!shown.contains('…'), "{line}");
    }
}
