//! The TUI in fixed states: insta snapshots of every screen at 80x24 and 160x48 (fixture data,
//! nothing time-dependent: the fixture clock is fixed), key handling, mouse, export.

use crate::tuikit::{draw, press, press_mod, text};
use crossterm::event::{KeyCode, KeyModifiers};
use workbench_tui::action::{Action, Tab};
use workbench_tui::app::{App, Overlay};
use workbench_tui::{fake, keymap};

#[test]
fn every_screen_at_80x24_and_160x48() {
    for size in [(80u16, 24u16), (160, 48)] {
        for name in fake::SCREENS {
            let app = fake::screen(name, size).expect("screen");
            let term = draw(&app);
            insta::assert_snapshot!(format!("{name}_{}x{}", size.0, size.1), term.backend());
        }
    }
}

#[test]
fn keys_switch_tabs_by_number_tab_and_backtab() {
    let mut app = fake::screen("live", (80, 24)).expect("screen");
    press(&mut app, KeyCode::Char('4'));
    assert_eq!(app.tab, Tab::Deploy);
    assert!(text(&app).contains("models in the kernel"));
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.tab, Tab::Live);
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.tab, Tab::Data);
    press(&mut app, KeyCode::BackTab);
    assert_eq!(app.tab, Tab::Live);
    press(&mut app, KeyCode::Char('3'));
    assert_eq!(app.tab, Tab::Train);
    assert!(text(&app).contains("workbench train"));
}

#[test]
fn sort_key_cycles_and_reverses_the_order() {
    let mut app = fake::screen("live", (160, 48)).expect("screen");
    let scores = |app: &App| -> Vec<i64> {
        app.view
            .iter()
            .map(|&i| app.snapshot.flows[i as usize].record.score)
            .collect()
    };
    let s = scores(&app);
    assert!(s.windows(2).all(|w| w[0] >= w[1]), "score descending by default");
    press(&mut app, KeyCode::Char('S'));
    let s = scores(&app);
    assert!(s.windows(2).all(|w| w[0] <= w[1]), "S reverses");
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.sort.name(), "packets");
    let packets: Vec<u64> = app
        .view
        .iter()
        .map(|&i| workbench_tui::view::packets(&app.snapshot.flows[i as usize]))
        .collect();
    assert!(packets.windows(2).all(|w| w[0] <= w[1]));
    assert!(text(&app).contains("sort packets↑"));
}

#[test]
fn filter_typed_after_slash_keeps_matching_rows_and_esc_clears_it() {
    let mut app = fake::screen("live", (80, 24)).expect("screen");
    let all = app.view.len();
    press(&mut app, KeyCode::Char('/'));
    for c in "malicious".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    // While typing, 'q' and digits are text, not commands.
    assert!(!app.quit);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.filter, "malicious");
    assert!(!app.view.is_empty() && app.view.len() < all);
    assert!(app
        .view
        .iter()
        .all(|&i| app.snapshot.flows[i as usize].record.verdict == "malicious"));
    press(&mut app, KeyCode::Esc);
    assert!(app.filter.is_empty());
    assert_eq!(app.view.len(), all);
}

#[test]
fn pause_freezes_the_view_until_resumed() {
    let mut app = fake::screen("live", (80, 24)).expect("screen");
    press(&mut app, KeyCode::Char(' '));
    assert!(app.paused);
    assert!(text(&app).contains("PAUSED"));
    let newer = fake::snapshot(10, false).expect("snapshot");
    app.update(Action::Snapshot(std::sync::Arc::new(newer.clone())));
    assert_eq!(app.snapshot.flows.len(), 300, "paused: the snapshot is not taken");
    press(&mut app, KeyCode::Char(' '));
    app.update(Action::Snapshot(std::sync::Arc::new(newer)));
    assert_eq!(app.snapshot.flows.len(), 10);
}

#[test]
fn question_mark_shows_help_with_every_key_and_esc_closes_it() {
    let mut app = fake::screen("live", (160, 48)).expect("screen");
    press(&mut app, KeyCode::Char('?'));
    assert_eq!(app.overlay, Overlay::Help);
    let screen = text(&app);
    for (keys, _, _) in keymap::HELP {
        assert!(screen.contains(keys), "help lacks {keys}");
    }
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn q_and_ctrl_c_quit() {
    let mut app = fake::screen("live", (80, 24)).expect("screen");
    press(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
    let mut app = fake::screen("live", (80, 24)).expect("screen");
    press(&mut app, KeyCode::Char('/'));
    press_mod(&mut app, KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(app.quit, "Ctrl-C quits even while typing a filter");
}

#[test]
fn enter_explains_the_selected_flow_and_moves_follow_the_keys() {
    let mut app = fake::screen("live", (80, 24)).expect("screen");
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    assert_eq!(app.selected, 2);
    press(&mut app, KeyCode::Char('G'));
    assert_eq!(app.selected, app.view.len() - 1);
    assert!(app.offset > 0, "the table scrolled to the last row");
    press(&mut app, KeyCode::Char('g'));
    assert_eq!((app.selected, app.offset), (0, 0));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.overlay, Overlay::Detail);
    assert!(text(&app).contains("Why (tree"));
}

#[test]
fn mouse_clicks_select_tabs_and_rows() {
    let mut app = fake::screen("live", (80, 24)).expect("screen");
    // The tab bar is " 1 Data  2 Pitfalls ..." on row 0.
    app.update(Action::Click { column: 13, row: 0 });
    assert_eq!(app.tab, Tab::Pitfalls);
    app.update(Action::GoTab(Tab::Live));
    // Row 1 summary, rows 2-6 charts, row 7 the table header: row 10 is the third data row.
    app.update(Action::Click { column: 5, row: 10 });
    assert_eq!(app.selected, 2);
}

#[test]
fn deploy_changes_ask_for_confirmation_first() {
    let mut app = fake::screen("deploy", (80, 24)).expect("screen");
    press(&mut app, KeyCode::Char('r'));
    assert!(matches!(app.overlay, Overlay::Confirm(_)));
    assert!(text(&app).contains("deploy --rollback --iface ebml-demoh"));
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(app.overlay, Overlay::None);
    assert!(app.requests.is_empty(), "cancelled: nothing sent");
    press(&mut app, KeyCode::Char('r'));
    press(&mut app, KeyCode::Char('y'));
    assert_eq!(app.requests.len(), 1);
    // The result stays on the Deploy tab after a later notice (a load finishing) replaced the
    // status line: the kernel test once missed a rollback that way.
    app.update(Action::Controlled("rolled back on ebml-demoh".into()));
    app.update(Action::Notice("loaded 2 datasets".into()));
    let screen = text(&app);
    assert!(screen.contains("loaded 2 datasets"), "{screen}");
    assert!(screen.contains(": rolled back on ebml-demoh"), "{screen}");
    assert!(screen.contains("last change "), "{screen}");
}

#[test]
fn export_writes_the_visible_flows_as_json_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = fake::screen("live-filtered", (80, 24)).expect("screen");
    app.export_dir = dir.path().to_path_buf();
    press(&mut app, KeyCode::Char('x'));
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(std::result::Result::ok)
        .collect();
    assert_eq!(files.len(), 1);
    let body = std::fs::read_to_string(files[0].path()).expect("read");
    let lines: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), app.view.len());
    assert!(lines.iter().all(|l| l["verdict"] == "malicious"));
    assert!(lines[0]["src_port"].is_u64());
    // The records `probe flows --json` prints, with the `flow_id` the flow's events carry.
    for l in &lines {
        let ip =
            |k: &str| -> std::net::IpAddr { l[k].as_str().and_then(|s| s.parse().ok()).expect("address") };
        let port = |k: &str| u16::try_from(l[k].as_u64().expect("port")).expect("port");
        let proto = if l["proto"] == "udp" { 17 } else { 6 };
        let id = workbench_kernel::flows::endpoints_flow_id(
            proto,
            (ip("src_ip"), port("src_port")),
            (ip("dest_ip"), port("dest_port")),
        );
        assert_eq!(l["flow_id"].as_u64(), Some(id), "{l}");
    }
}

#[test]
fn theme_key_cycles_themes() {
    let mut app = fake::screen("live", (80, 24)).expect("screen");
    let before = draw(&app).backend().buffer().clone();
    press(&mut app, KeyCode::Char('t'));
    assert_eq!(app.theme.name(), "high contrast");
    assert_ne!(&before, draw(&app).backend().buffer());
    press(&mut app, KeyCode::Char('t'));
    assert_eq!(app.theme.name(), "colour-blind safe");
}

#[test]
fn tiny_and_odd_terminal_sizes_render_without_panicking() {
    for size in [(1u16, 1u16), (10, 3), (20, 5), (39, 12), (81, 25), (250, 70)] {
        for name in fake::SCREENS {
            let mut app = fake::screen(name, size).expect("screen");
            draw(&app);
            // Moving around and resizing at that size must not panic either.
            for action in [
                Action::Bottom,
                Action::PageUp,
                Action::Click { column: 0, row: 0 },
            ] {
                app.update(action);
            }
            let half = ((size.0 / 2).max(1), (size.1 / 2).max(1));
            app.update(Action::Resize {
                width: half.0,
                height: half.1,
            });
            draw(&app);
        }
    }
}

/// Positions (x, y) where `needle` starts in the rendered buffer, row by row.
fn find_all(buf: &ratatui::buffer::Buffer, needle: &str) -> Vec<(u16, u16)> {
    let area = buf.area;
    let mut found = Vec::new();
    for y in area.top()..area.bottom() {
        let row: Vec<&str> = (area.left()..area.right())
            .map(|x| buf[(x, y)].symbol())
            .collect();
        let n = needle.chars().count();
        for x in 0..(row.len() + 1).saturating_sub(n) {
            if needle
                .chars()
                .enumerate()
                .all(|(i, c)| row[x + i] == c.to_string())
            {
                found.push((area.left() + x as u16, y));
            }
        }
    }
    found
}

#[test]
fn each_theme_paints_tabs_verdicts_and_the_source_badge_in_its_own_colours() {
    use workbench_tui::theme::ThemeKind;
    let mut app = fake::screen("live", (160, 48)).expect("screen");
    let mut seen = Vec::new();
    for kind in [
        ThemeKind::Default,
        ThemeKind::HighContrast,
        ThemeKind::ColourBlind,
    ] {
        app.theme = kind;
        let t = kind.theme();
        let term = draw(&app);
        let buf = term.backend().buffer();
        let cell = |(x, y): (u16, u16)| buf[(x, y)].clone();

        // The active tab (Live) in the theme's tab colours.
        let tab = find_all(buf, "5 Live")[0];
        let c = cell((tab.0 + 2, tab.1));
        assert_eq!(
            (Some(c.fg), Some(c.bg)),
            (t.tab_active.fg, t.tab_active.bg),
            "{}: tab",
            kind.name()
        );

        // Verdicts in the theme's verdict colours (on rows other than the selected one; the
        // fixture's visible rows are the flagged ones).
        let style = t.malicious;
        let painted = find_all(buf, "malicious").into_iter().map(cell).any(|c| {
            Some(c.fg) == style.fg && c.modifier.contains(style.add_modifier) && Some(c.bg) != t.selected.bg
        });
        assert!(painted, "{}: no `malicious` cell in {style:?}", kind.name());

        // The source badge: the kernel's colours.
        let badge = find_all(buf, "KERNEL")[0];
        let c = cell(badge);
        assert_eq!(
            (Some(c.fg), Some(c.bg)),
            (t.kernel.fg, t.kernel.bg),
            "{}: badge",
            kind.name()
        );
        seen.push((c.bg, cell((tab.0 + 2, tab.1)).bg));

        // A simulation's badge in the simulation's colours.
        let mut sim = fake::screen("deploy-simulated", (160, 48)).expect("screen");
        sim.theme = kind;
        let term = draw(&sim);
        let buf = term.backend().buffer();
        let badge = find_all(buf, "SIMULATED")[0];
        let c = buf[badge].clone();
        assert_eq!(
            (Some(c.fg), Some(c.bg)),
            (t.simulated.fg, t.simulated.bg),
            "{}: simulated badge",
            kind.name()
        );
    }
    // Three themes, three different looks.
    seen.dedup();
    assert_eq!(seen.len(), 3, "{seen:?}");
}

/// The rows of a frame (the backend's text, one quoted row a line).
fn rows(app: &App) -> Vec<String> {
    text(app)
        .lines()
        .map(|l| l.trim_matches('"').to_string())
        .collect()
}

/// Whether `msg` is on screen whole: on the status line, or in the message box above it
/// (wrapped at spaces).
fn message_shown(app: &App, msg: &str) -> bool {
    let rows = rows(app);
    let status = rows.last().cloned().unwrap_or_default();
    if status.contains(msg) {
        return true;
    }
    let Some(top) = rows.iter().position(|l| l.contains(" message · Esc closes ")) else {
        return false;
    };
    let joined = rows[top + 1..rows.len() - 1]
        .iter()
        .map(|l| l.trim_end())
        .collect::<Vec<_>>()
        .join(" ");
    joined.contains(msg)
}

/// Issue: the status message came after the source label (over 150 characters when simulated)
/// and was cut off at any usual width. The label stays whole on the status line (it says whose
/// verdicts these are), the message follows it where it fits and is otherwise shown whole in a
/// box above it, until Esc.
#[test]
fn status_messages_are_seen_whole_at_80x24_and_160x48() {
    let dir = tempfile::tempdir().expect("tempdir");
    for size in [(80u16, 24u16), (160, 48)] {
        let mut app = fake::screen("live-simulated-colourblind", size).expect("screen");
        assert!(app.snapshot.label.chars().count() > 80, "a long source label");
        app.export_dir = dir.path().to_path_buf();
        let mut seen = Vec::new();
        for key in [
            KeyCode::Char('x'),
            KeyCode::Char(' '),
            KeyCode::Char('t'),
            KeyCode::Char('w'),
        ] {
            press(&mut app, key);
            let msg = app.status.clone().expect("a message");
            assert!(message_shown(&app, &msg), "{size:?}: {msg}\n{}", text(&app));
            let status = rows(&app).last().cloned().unwrap_or_default();
            assert!(
                status.starts_with(" SIMULATED (userspace twin, no kernel): capture.pcap"),
                "{status}"
            );
            seen.push(msg);
        }
        assert!(seen[0].starts_with("exported "), "{seen:?}");
        assert_eq!(seen[1], "the view is frozen (space resumes)");
        assert!(seen[2].starts_with("theme: "), "{seen:?}");
        press(&mut app, KeyCode::Char(' '));

        // A long one (a load with failures): whole, above the status line; Esc closes it.
        let long = "loaded 1 dataset: good.csv, 2 failed: nosuch.csv: cannot read: No such file or directory; somebad.csv: no label column: expected one of Label, label, attack_cat";
        app.update(Action::Notice(long.into()));
        assert!(message_shown(&app, long), "{size:?}\n{}", text(&app));
        press(&mut app, KeyCode::Esc);
        assert_eq!(app.status, None);
        assert!(!text(&app).contains(" message · Esc closes "));
    }
    // Where label and message fit, the message is on the status line itself.
    let mut app = fake::screen("live", (160, 48)).expect("screen");
    app.update(Action::Notice("theme: default".into()));
    let status = rows(&app).last().cloned().unwrap_or_default();
    assert!(
        status.starts_with(" KERNEL probe on ebml-demoh (fixture data)  theme: default"),
        "{status}"
    );
    assert!(!text(&app).contains(" message · Esc closes "));
}

/// Issue: files that failed to load were only named in the status line: the Data tab lists
/// them first, and its title counts them.
#[test]
fn the_data_tab_names_the_files_that_failed_to_load() {
    for size in [(80u16, 24u16), (160, 48)] {
        let mut app = fake::screen("data", size).expect("screen");
        let errors = vec![
            "nosuch.csv: cannot read: No such file or directory".to_string(),
            "somebad.csv: no label column".to_string(),
        ];
        app.update(Action::Job(workbench_tui::jobs::JobUpdate::Loaded {
            generation: app.data.generation,
            sets: app.data.sets.clone(),
            errors: errors.clone(),
        }));
        assert_eq!(app.data.errors, errors);
        let screen = text(&app);
        // The title counts them where it has room (at 80 columns the box's first lines do).
        if size.0 >= 160 {
            assert!(screen.contains("(1/2, n: next) · 2 failed "), "{screen}");
        } else {
            assert!(screen.contains("(1/2, n: next) ─"), "{screen}");
        }
        // The info box wraps at 80 columns: its first rows, joined, hold the first error whole.
        let rows = rows(&app);
        let info: String = rows[2..5]
            .iter()
            .map(|r| r.split('│').nth(1).unwrap_or("").trim_end().to_string())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            info.starts_with("not loaded (1/2): nosuch.csv: cannot read: No such file or directory"),
            "{info}\n{screen}"
        );
        assert!(screen.contains("not loaded (2/2): somebad.csv"), "{screen}");
    }
}

/// Issue: at 80x24 the other splits' line ended in `random F1 0.` (a number cut in half).
#[test]
fn the_train_result_shows_whole_numbers_or_leaves_items_out() {
    for size in [(80u16, 24u16), (160, 48)] {
        let app = fake::screen("train", size).expect("screen");
        let rows = rows(&app);
        let line = rows
            .iter()
            .find_map(|r| r.split("other splits: ").nth(1))
            .unwrap_or_else(|| panic!("{size:?}: no other splits\n{}", rows.join("\n")));
        let items: Vec<&str> = line.trim_end_matches(['│', ' ']).split(" · ").collect();
        for item in &items {
            if *item == "…" {
                continue;
            }
            let number = item.rsplit(' ').next().unwrap_or("");
            assert!(
                number.len() == 5 && number.parse::<f64>().is_ok(),
                "{size:?}: {item:?} in {line:?}"
            );
        }
        if size.0 >= 160 {
            assert!(!items.contains(&"…"), "room for all at 160: {line}");
        } else {
            assert_eq!(items.last(), Some(&"…"), "at 80 the last split gives way: {line}");
        }
    }
}

/// Issues: `live cost: stats on, no…` cut at 160 columns; `--mode monitor|enforce` in the
/// enforce confirmation; `1..=32` on the Deploy tab; a rollback confirmation with no previous
/// model to roll back to.
#[test]
fn the_deploy_tab_says_things_whole_and_asks_only_what_it_can_do() {
    use std::sync::Arc;
    use workbench_tui::state::cost::StatsState;
    for size in [(80u16, 24u16), (160, 48)] {
        let mut app = fake::screen("deploy", size).expect("screen");
        let screen = text(&app);
        assert!(screen.contains("decide at packets 1-32, then"), "{screen}");
        assert!(!screen.contains("..="), "{screen}");

        let mut s = (*app.snapshot).clone();
        s.program_cost = None;
        app.snapshot = Arc::new(s);
        app.set_stats(StatsState::On);
        let left: Vec<String> = rows(&app)
            .iter()
            .map(|r| r.split('│').nth(1).unwrap_or("").trim_end().to_string())
            .collect();
        assert!(
            left.iter().any(|l| l == "live cost: stats on") && left.iter().any(|l| l == "no packet yet"),
            "{size:?}: {left:?}"
        );
        let why = "BPF statistics need CAP_SYS_ADMIN (run as root)";
        app.set_stats(StatsState::Failed(why.into()));
        let left: Vec<String> = rows(&app)
            .iter()
            .map(|r| r.split('│').nth(1).unwrap_or("").trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        let joined = left.join(" ");
        assert!(
            joined.contains(&format!("stats off: {why}")),
            "{size:?}: {left:?}"
        );
        assert!(!joined.contains('…'), "{size:?}: {left:?}");

        // e: the command it runs, for the mode it switches to.
        press(&mut app, KeyCode::Char('e'));
        assert!(matches!(app.overlay, Overlay::Confirm(_)));
        let screen = text(&app);
        assert!(
            screen.contains("workbench deploy --mode enforce --iface ebml-demoh"),
            "{screen}"
        );
        assert!(!screen.contains("monitor|enforce"), "{screen}");
        press(&mut app, KeyCode::Char('n'));
        let mut s = (*app.snapshot).clone();
        s.models.as_mut().expect("models").mode = "enforce";
        app.snapshot = Arc::new(s);
        press(&mut app, KeyCode::Char('e'));
        let screen = text(&app);
        assert!(
            screen.contains("workbench deploy --mode monitor --iface ebml-demoh"),
            "{screen}"
        );
        assert!(screen.contains("Switch ebml-demoh to monitor?"), "{screen}");
        press(&mut app, KeyCode::Char('n'));

        // r and p with nothing to roll back to or promote: said, not asked.
        let mut s = (*app.snapshot).clone();
        let m = s.models.as_mut().expect("models");
        m.previous = None;
        m.shadow = None;
        app.snapshot = Arc::new(s);
        press(&mut app, KeyCode::Char('r'));
        assert_eq!(app.overlay, Overlay::None, "nothing to confirm");
        let msg = app.status.clone().unwrap_or_default();
        assert!(msg.starts_with("no previous model on ebml-demoh"), "{msg}");
        assert!(message_shown(&app, &msg), "{size:?}\n{}", text(&app));
        press(&mut app, KeyCode::Char('p'));
        assert_eq!(app.overlay, Overlay::None, "nothing to confirm");
        let msg = app.status.clone().unwrap_or_default();
        assert!(msg.starts_with("no shadow model on ebml-demoh"), "{msg}");
        assert!(app.requests.is_empty(), "nothing sent to the kernel");
    }
}

/// Issue: the evidence said `splits: 3 keys` and `columns: 5 entries`: the values are written
/// out, as `workbench inspect` prints them.
#[test]
fn pitfall_evidence_shows_values_not_counts() {
    let mut app = fake::screen("pitfalls", (160, 48)).expect("screen");
    let at = |app: &App, id: &str| {
        app.findings()
            .iter()
            .position(|f| f.id == id)
            .unwrap_or_else(|| panic!("no {id}"))
    };
    app.pitfalls.selected = at(&app, "split_comparison");
    let screen = text(&app);
    assert!(screen.contains("│splits:"), "{screen}");
    for split in ["host", "random", "time"] {
        assert!(
            screen.contains(&format!("│  - {split}: accuracy ")),
            "{split}:\n{screen}"
        );
    }
    app.pitfalls.selected = at(&app, "identifier_columns");
    let screen = text(&app);
    assert!(screen.contains("│columns:"), "{screen}");
    assert!(screen.contains("column src_ip"), "{screen}");
    for i in 0..app.findings().len() {
        app.pitfalls.selected = i;
        let screen = text(&app);
        for counted in [" keys ", " entries "] {
            assert!(
                !screen.contains(counted),
                "{}: `{counted}`\n{screen}",
                app.findings()[i].id
            );
        }
    }
}

/// The Deploy tab says why `events_lost` climbs when no process reads the probe's events (the
/// demo alone: an audience asked what was being lost); with a reader, or nothing lost, it says
/// nothing.
#[test]
fn deploy_names_the_missing_event_reader_when_events_are_lost() {
    let mut app = fake::screen("deploy", (80, 24)).expect("screen");
    let said = "events_lost: no event reader (agent, live --jsonl)";
    assert!(!text(&app).contains(said), "a reader drains the fixture's ring");
    let unread = |app: &mut App, lost: u64| {
        let snapshot = std::sync::Arc::make_mut(&mut app.snapshot);
        snapshot.events_read = Some(false);
        snapshot.stats.insert("events_lost", lost);
    };
    unread(&mut app, 0);
    assert!(!text(&app).contains(said), "nothing lost yet");
    unread(&mut app, 1_234);
    assert!(text(&app).contains(said), "{}", text(&app));
}
