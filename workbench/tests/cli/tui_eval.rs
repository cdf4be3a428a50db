//! The Train tab's evaluation view and the Live tab's shadow explanation, through the keymap and
//! the real background job: the view shows the numbers `workbench eval --json` prints for the
//! same model and data (one library call behind both), a typed path that does not exist fails
//! with its name, and `w` or a click on the disagreement count opens the shadow's skew.

use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::tuikit::{press, text};
use crossterm::event::KeyCode;
use workbench_tui::action::{Action, Tab};
use workbench_tui::app::{App, Overlay};
use workbench_tui::event::Event;
use workbench_tui::state::data::JobStatus;
use workbench_tui::state::eval::{EvalRun, Origin, ShadowStory};
use workbench_tui::{fake, jobs};

use crate::common::{workbench_json, TempDir};

/// Runs the app's jobs on their threads and feeds their results back until the evaluation ends.
fn drive_eval(app: &mut App) {
    let (tx, rx) = mpsc::channel();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        for job in app.jobs.drain(..) {
            jobs::spawn(job, tx.clone());
        }
        if matches!(app.eval.status, JobStatus::Done | JobStatus::Failed(_)) {
            return;
        }
        assert!(Instant::now() < deadline, "the evaluation did not finish");
        if let Ok(Event::Job(update)) = rx.recv_timeout(Duration::from_millis(200)) {
            app.update(Action::Job(update));
            text(app);
        }
    }
}

fn f(v: &serde_json::Value) -> Option<f64> {
    v.as_f64()
}

fn same(a: Option<f64>, b: Option<f64>, what: &str) {
    match (a, b) {
        (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "{what}: view {a} vs eval --json {b}"),
        (a, b) => assert_eq!(a, b, "{what}"),
    }
}

#[test]
fn the_evaluation_view_shows_what_eval_json_reports_on_the_honest_sample() {
    let dir = TempDir::new("tui-eval");
    workbench_flow::gen::write_all(dir.path(), workbench_flow::gen::DEFAULT_SEED).expect("gen");
    let honest = dir.path().join("honest.pcap");
    let model = dir.path().join("tree.ebml");
    // A tree trained on the naive capture (its shortcuts do not hold on the honest one), the
    // way the Train tab trains on a capture: through its feature table (last-packet values),
    // so that the model file records its training quantiles for the skew table.
    let naive = dir.path().join("naive.pcap");
    let table = dir.path().join("naive.parquet");
    workbench_json(&[
        "features",
        naive.to_str().expect("path"),
        "-o",
        table.to_str().expect("path"),
        "--labels",
        dir.path().join("labels-naive.csv").to_str().expect("path"),
        "--json",
    ]);
    workbench_json(&[
        "train",
        table.to_str().expect("path"),
        "--model",
        "tree",
        "-o",
        model.to_str().expect("path"),
        "--json",
    ]);
    let json = workbench_json(&[
        "eval",
        model.to_str().expect("path"),
        honest.to_str().expect("path"),
        "--json",
    ]);

    let mut app = fake::screen("live", (160, 48)).expect("screen");
    app.eval.model = Some(model.clone());
    app.eval.sample_dir = dir.path().to_path_buf();
    press(&mut app, KeyCode::Char('3'));
    press(&mut app, KeyCode::Char('v'));
    assert!(app.eval.showing && app.tab == Tab::Train);
    let choices = app.eval.choices(&app.data.sets);
    let names: Vec<&str> = choices.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["honest.pcap", "naive.pcap"], "the labelled samples");
    assert!(choices.iter().all(|c| c.origin == Origin::Sample));
    // Keys and the mouse pick the data (the list starts on the third screen row at 160x48).
    press(&mut app, KeyCode::Down);
    assert_eq!(app.eval.selected, 1);
    app.update(Action::Click { column: 5, row: 3 });
    assert_eq!(app.eval.selected, 0, "a click on the first entry");
    press(&mut app, KeyCode::Enter);
    assert!(matches!(app.eval.status, JobStatus::Running { .. }));
    assert!(text(&app).contains("scoring tree.ebml on honest.pcap"));
    drive_eval(&mut app);
    assert_eq!(app.eval.status, JobStatus::Done);
    let run: Arc<EvalRun> = app.eval.result.clone().expect("a result");
    let r = &run.report;

    // The numbers: counts exactly, rates to the last bit the JSON keeps.
    let m = &json["metrics"];
    assert_eq!(r.flows, json["flows"].as_u64().expect("flows"));
    assert_eq!(r.flagged_flows, json["flagged_flows"].as_u64().expect("flagged"));
    assert_eq!(
        r.metrics.confusion.false_positive,
        m["confusion"]["false_positive"].as_u64().expect("fp")
    );
    assert_eq!(
        r.metrics.benign_flows,
        m["benign_flows"].as_u64().expect("benign")
    );
    same(
        r.metrics.false_positive_rate,
        f(&m["false_positive_rate"]),
        "false positive rate",
    );
    same(r.metrics.recall, f(&m["recall"]), "recall");
    let ever = r.ever_flagged.as_ref().expect("decision points: ever flagged");
    same(
        ever.benign_flows_ever_flagged_share,
        f(&json["ever_flagged"]["benign_flows_ever_flagged_share"]),
        "benign flows ever flagged",
    );
    let classes = json["per_class"].as_object().expect("per_class");
    assert_eq!(r.per_class.len(), classes.len());
    assert!(r.per_class.len() >= 7, "BENIGN and six attack classes");
    let screen = text(&app);
    for (class, s) in &r.per_class {
        let j = &classes[class];
        assert_eq!(s.flows, j["flows"].as_u64().expect("flows"), "{class}");
        assert_eq!(s.flagged, j["flagged"].as_u64().expect("flagged"), "{class}");
        same(Some(s.recall), f(&j["recall"]), class);
        // On screen: the class's row with its flow count and recall.
        let row = format!("{:>5} {:>6.3}", s.flows, s.recall);
        assert!(
            screen
                .lines()
                .any(|l| l.contains(class.as_str()) && l.contains(&row)),
            "{class} {row} not on screen:\n{screen}"
        );
    }
    let fpr = format!(
        "false positive rate {:.3}",
        f(&m["false_positive_rate"]).expect("rate")
    );
    assert!(screen.contains(&fpr), "{fpr}:\n{screen}");
    // Time to detect per attack class, and the skew headline `workbench skew` writes.
    for (class, d) in json["time_to_detect"]["per_class"].as_object().expect("ttd") {
        let got = &r.time_to_detect.per_class[class];
        assert_eq!(
            got.median_packet.map(u64::from),
            d["median_packet"].as_u64(),
            "{class}"
        );
        assert!(
            screen.contains(&class[..class.len().min(14)]),
            "{class} in the chart"
        );
    }
    let headline = json["skew"]["summary"][0].as_str().expect("skew sentence");
    assert!(screen.contains(headline), "{headline}:\n{screen}");
    let top = json["skew"]["features"][0]["feature"]
        .as_str()
        .expect("top feature");
    assert!(screen.contains(top));
    assert!(run.command.starts_with("workbench eval "), "{}", run.command);
    crate::common::report(&format!(
        "tui eval test: naive-trained tree on honest.pcap: FPR {}, recall {}, view = eval --json",
        m["false_positive_rate"], m["recall"]
    ));

    // A typed path joins the list; one that does not exist fails with its name.
    press(&mut app, KeyCode::Char('/'));
    for c in "/nonexistent/x.pcap".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    assert!(text(&app).contains("path: /nonexistent/x.pcap"));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.filter, "", "the path is not a Live filter");
    assert_eq!(app.eval.typed, [PathBuf::from("/nonexistent/x.pcap")]);
    assert_eq!(app.eval.selected, 2);
    press(&mut app, KeyCode::Enter);
    drive_eval(&mut app);
    match &app.eval.status {
        JobStatus::Failed(e) => assert!(e.contains("/nonexistent/x.pcap: no such file"), "{e}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    // v goes back to the form.
    press(&mut app, KeyCode::Char('v'));
    assert!(!app.eval.showing);
    assert!(text(&app).contains("workbench train"));
}

#[test]
fn w_and_a_click_on_the_disagreement_count_open_the_shadow_story() {
    let mut app = fake::screen("live", (80, 24)).expect("screen");
    // Without a story the key says where the explanation comes from.
    press(&mut app, KeyCode::Char('w'));
    assert_eq!(app.overlay, Overlay::None);
    assert!(app.status.as_deref().unwrap_or("").contains("workbench eval"));
    let run = fake::screen("eval", (80, 24))
        .expect("screen")
        .eval
        .result
        .clone()
        .expect("fixture evaluation");
    app.shadow_story = Some(Arc::new(ShadowStory {
        model_id: "f12e17ec".into(),
        trained_on: "the embedded Kaggle slice".into(),
        data: "honest.pcap".into(),
        run: run.clone(),
    }));
    assert!(text(&app).contains("shadow disagreed on 1 decision (w)"));
    press(&mut app, KeyCode::Char('w'));
    assert_eq!(app.overlay, Overlay::Shadow);
    let screen = text(&app);
    let top = &run.report.skew.features[0];
    assert!(screen.contains("why the shadow disagrees"), "{screen}");
    assert!(screen.contains(&top.feature) && screen.contains(&format!("{:.2}", top.psi)));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay, Overlay::None);
    // The summary line (row 1, under the tab bar) holds the count: a click opens the same.
    app.update(Action::Click { column: 50, row: 1 });
    assert_eq!(app.overlay, Overlay::Shadow);
}
