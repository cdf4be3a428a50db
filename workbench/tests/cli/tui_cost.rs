//! The Train tab's cost candidates and the Deploy tab's live cost (issue 14 item 6), on the
//! fixture screens: `c` asks for the candidates job with the form's depths, `C` puts the next
//! candidate's depth into the form, the live cost is the mean since the view turned statistics
//! on, and "stats off" shows when they are not.

use std::sync::Arc;

use crate::tuikit::{press, text};
use crossterm::event::KeyCode;
use workbench_tui::action::Tab;
use workbench_tui::fake;
use workbench_tui::jobs::JobRequest;
use workbench_tui::state::cost::{self, StatsState};
use workbench_tui::state::data::JobStatus;

#[test]
fn c_asks_for_candidates_of_the_forms_run_and_shows_the_command() {
    let mut app = fake::screen("train", (160, 48)).expect("screen");
    app.train.form.max_depth = 6;
    press(&mut app, KeyCode::Char('c'));
    let Some(JobRequest::Cost { form, .. }) = app.jobs.last() else {
        panic!(
            "c starts a cost job, got {:?}",
            app.jobs.last().map(|_| "another job")
        );
    };
    assert_eq!(
        cost::depths(form),
        vec![2, 4, 6, 8, 12],
        "the form's depth is a candidate"
    );
    assert!(matches!(app.train.cost.status, JobStatus::Running { .. }));
    // A second c while it runs starts nothing more.
    let jobs = app.jobs.len();
    press(&mut app, KeyCode::Char('c'));
    assert_eq!(app.jobs.len(), jobs);
    assert!(text(&app).contains("cost candidates"));
    // Elsewhere c does nothing.
    let mut live = fake::screen("live", (80, 24)).expect("screen");
    press(&mut live, KeyCode::Char('c'));
    assert!(live.jobs.is_empty());
}

#[test]
fn capital_c_picks_the_next_candidate_depth_for_enter_to_train() {
    let mut app = fake::screen("train-cost", (160, 48)).expect("screen");
    assert_eq!(app.train.form.max_depth, 8);
    press(&mut app, KeyCode::Char('C'));
    assert_eq!(app.train.form.max_depth, 12);
    assert!(app
        .status
        .as_deref()
        .is_some_and(|s| s.contains("depth 12 picked (124 ns per packet)")));
    // Past the deepest it wraps to the shallowest.
    press(&mut app, KeyCode::Char('C'));
    assert_eq!(app.train.form.max_depth, 2);
    let screen = text(&app);
    assert!(screen.contains("◂ form"), "{screen}");
    press(&mut app, KeyCode::Enter);
    assert!(
        matches!(app.jobs.last(), Some(JobRequest::Train { form, .. }) if form.max_depth == 2),
        "Enter trains the picked depth"
    );
}

#[test]
fn the_live_cost_is_the_mean_since_statistics_came_on_or_says_stats_off() {
    let mut app = fake::screen("deploy-live-cost", (80, 24)).expect("screen");
    assert_eq!(app.tab, Tab::Deploy);
    let screen = text(&app);
    // (1,420,000,000 - 1,120,000,000) ns over (10,000,000 - 8,000,000) runs.
    assert!(screen.contains("live 150 ns/packet"), "{screen}");
    assert!(screen.contains("2000000 runs counted"), "{screen}");
    app.set_stats(StatsState::Off);
    assert!(app.live_cost.base.is_none(), "a new view averages afresh");
    assert!(text(&app).contains("live cost: stats off"));
    app.set_stats(StatsState::Failed("needs CAP_BPF".into()));
    assert!(text(&app).contains("stats off: needs CAP_BPF"));
    // On again: the next snapshot is the new base, so nothing counted yet shows the total mean.
    app.set_stats(StatsState::On);
    let snap = (*app.snapshot).clone();
    app.update(workbench_tui::action::Action::Snapshot(Arc::new(snap)));
    assert_eq!(
        app.live_cost.base.map(|b| b.run_count),
        Some(10_000_000),
        "based at the first snapshot after statistics came on"
    );
    assert!(text(&app).contains("live 142 ns/packet"), "{}", text(&app));
}
