//! Several datasets side by side in the TUI (issue 20 item 5): each file, or each group of files
//! with one layout (the same columns), is a dataset of its own; `n` moves between them; a folder
//! whose files have different layouts is split the same way and says so. The command line keeps
//! reading its DATA arguments as one dataset (`inspect` and `train` stack them), so there files
//! of different layouts stay an error naming the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use workbench_data::dataset::LoadOptions;
use workbench_tui::action::Action;
use workbench_tui::groups::{group, TableGroup};
use workbench_tui::state::data::JobStatus;
use workbench_tui::{fake, jobs, ui};

use crate::common::demo::sample_dir;
use crate::common::tmux::Tmux;
use crate::common::{shared_data, TempDir};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// Two layouts of the project's real data: CIC-IDS2017 (`Flow ID`, ...) and UNSW-NB15.
fn cic() -> PathBuf {
    shared_data("cic-ids2017/friday-ddos-labelled-flows-head300.csv")
}

fn unsw() -> PathBuf {
    shared_data("unsw-nb15/unsw-nb15-training-sample.csv")
}

#[test]
fn files_group_by_layout_and_a_folder_of_two_layouts_is_split_with_a_note() {
    let tmp = TempDir::new("tui-groups");
    let d = tmp.path();
    let a = write(d, "a.csv", "Flow ID,Src IP,Label\nx,1.2.3.4,BENIGN\n");
    let b = write(d, "b.csv", "srcip,label\n1.2.3.4,0\n");
    // The same columns spelt as the loader matches them (case, `_`, spaces), `;`-separated.
    let a2 = write(d, "a2.csv", "flow_id;src_ip;label\ny;1.2.3.5;DDoS\n");
    let g = group(&[a.clone(), b.clone(), a2.clone()]);
    assert_eq!(g.len(), 2, "{g:?}");
    assert_eq!(g[0].paths, vec![a.clone(), a2.clone()]);
    assert_eq!(g[0].name, "a.csv +1 more");
    assert_eq!(
        (g[1].paths.clone(), g[1].name.as_str()),
        (vec![b.clone()], "b.csv")
    );
    assert!(g.iter().all(|g| g.note.is_none()));

    // A folder of one layout is given back whole (its commands name the folder).
    let one = d.join("one");
    std::fs::create_dir(&one).expect("mkdir");
    write(&one, "x.csv", "flow_id,src_ip,label\nz,1.2.3.6,BENIGN\n");
    write(&one, "y.csv", "flow_id,src_ip,label\nz,1.2.3.7,BENIGN\n");
    assert_eq!(
        group(std::slice::from_ref(&one)),
        vec![TableGroup {
            paths: vec![one.clone()],
            name: "one".into(),
            note: None
        }]
    );
    // A folder of two layouts: two groups, each saying why.
    let mixed = d.join("mixed");
    std::fs::create_dir(&mixed).expect("mkdir");
    write(&mixed, "a.csv", "Flow ID,Src IP,Label\nx,1.2.3.4,BENIGN\n");
    write(&mixed, "b.csv", "srcip,label\n1.2.3.4,0\n");
    let g = group(std::slice::from_ref(&mixed));
    assert_eq!(g.len(), 2, "{g:?}");
    for t in &g {
        let note = t.note.as_deref().expect("a note");
        assert!(
            note.contains("mixed holds files of 2 different layouts (columns), so it is not one dataset"),
            "{note}"
        );
    }
    // A file whose layout cannot be read stays alone: its load names what is wrong.
    assert_eq!(group(&[d.join("missing.csv"), a]).len(), 2);
}

#[test]
fn a_folder_of_two_real_layouts_loads_as_two_datasets_and_the_data_tab_says_why() {
    let tmp = TempDir::new("tui-mixed");
    let folder = tmp.path().join("downloads");
    std::fs::create_dir(&folder).expect("mkdir");
    std::fs::copy(cic(), folder.join("cic.csv")).expect("copy");
    std::fs::copy(unsw(), folder.join("unsw.csv")).expect("copy");
    let options = LoadOptions {
        no_cache: true,
        ..LoadOptions::default()
    };
    let (sets, errors) = jobs::load(std::slice::from_ref(&folder), &options, &|_, _| {});
    assert!(errors.is_empty(), "{errors:?}");
    let names: Vec<&str> = sets.iter().map(|s| s.summary.name.as_str()).collect();
    assert_eq!(names, ["cic.csv", "unsw.csv"]);
    assert_eq!(sets[0].summary.rows_read, 299);
    let mut app = fake::screen("live", (120, 36)).expect("screen");
    app.start_load(vec![folder.clone()], options);
    app.jobs.clear();
    app.update(Action::Job(jobs::JobUpdate::Loaded {
        generation: app.data.generation,
        sets,
        errors,
    }));
    assert_eq!(app.data.status, JobStatus::Done);
    let status = app.status.clone().unwrap_or_default();
    assert!(
        status.starts_with("loaded 2 datasets (n: next): cic.csv, unsw.csv; ")
            && status.contains("downloads holds files of 2 different layouts"),
        "{status}"
    );
    app.update(Action::GoTab(workbench_tui::action::Tab::Data));
    let mut term = Terminal::new(TestBackend::new(120, 36)).expect("terminal");
    term.draw(|f| ui::render(f, &app)).expect("draw");
    let screen = term.backend().to_string();
    assert!(screen.contains("dataset cic.csv (1/2, n: next)"), "{screen}");
    assert!(
        screen.contains("downloads holds files of 2 different"),
        "{screen}"
    );
    app.update(Action::NextDataset);
    let mut term = Terminal::new(TestBackend::new(120, 36)).expect("terminal");
    term.draw(|f| ui::render(f, &app)).expect("draw");
    let screen = term.backend().to_string();
    assert!(screen.contains("dataset unsw.csv (2/2, n: next)"), "{screen}");
}

/// The same two files given to the command line: one dataset there, so an error naming the
/// second file and the column it lacks (the CLI reads DATA... as one table, by design).
#[test]
fn the_command_line_still_reads_its_files_as_one_dataset() {
    let out = crate::common::workbench(&[
        "inspect",
        cic().to_str().expect("utf-8"),
        unsw().to_str().expect("utf-8"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("unsw-nb15-training-sample.csv") && stderr.contains("(the first file has it)"),
        "{stderr}"
    );
}

/// `workbench tui A.csv B.csv` (two layouts) in a real terminal: it opens on the Data tab with
/// the first dataset, `n` shows the second, and `n` again the first.
#[test]
fn tui_given_two_csv_files_of_two_layouts_opens_on_data_and_n_switches_between_them() {
    crate::common::tmux::require(
        "tui_given_two_csv_files_of_two_layouts_opens_on_data_and_n_switches_between_them",
    );
    let dir = TempDir::new("tui-two");
    let command = format!(
        "XDG_CACHE_HOME={} {} tui --pcap {} {} --data {}",
        dir.path().join("cache").display(),
        env!("CARGO_BIN_EXE_workbench"),
        sample_dir().join("honest.pcap").display(),
        cic().display(),
        unsw().display(),
    );
    // 160 columns: the Data tab's title holds the whole file name (narrower, its middle gives way).
    let tmux = Tmux::start("tui-two", dir.path(), &command, (160, 48));
    let first = tmux.wait_until(
        "the first dataset on the Data tab",
        Duration::from_secs(60),
        |s| s.contains("dataset friday-ddos-labelled-flows-head300.csv (1/2, n: next)"),
    );
    assert!(first.contains("299 rows x 85 columns"), "{first}");
    tmux.keys("n");
    let second = tmux.wait_for("dataset unsw-nb15-training-sample.csv (2/2, n: next)");
    assert!(!second.contains("has no column"), "{second}");
    tmux.keys("n");
    tmux.wait_for("dataset friday-ddos-labelled-flows-head300.csv (1/2, n: next)");
    tmux.keys("q");
    let after = tmux.wait_for("EXITED:");
    assert!(after.contains("EXITED:0"), "{after}");
}

/// `workbench tui nosuch.csv somebad.csv good.csv` at 80x24: the files that did not load are
/// on the Data tab (first, in its title's count) and the whole load message is on screen; at
/// this size it once was cut off after the source label, invisible below 300 columns.
#[test]
fn files_that_fail_to_load_are_shown_on_the_data_tab_and_the_message_whole_at_80x24() {
    crate::common::tmux::require(
        "files_that_fail_to_load_are_shown_on_the_data_tab_and_the_message_whole_at_80x24",
    );
    let dir = TempDir::new("tui-failed");
    std::fs::copy(cic(), dir.path().join("good.csv")).expect("copy");
    write(dir.path(), "somebad.csv", "a,b\n1,2\n");
    let command = format!(
        "XDG_CACHE_HOME={} {} tui --pcap {} nosuch.csv somebad.csv good.csv",
        dir.path().join("cache").display(),
        env!("CARGO_BIN_EXE_workbench"),
        sample_dir().join("honest.pcap").display(),
    );
    let tmux = Tmux::start("tui-failed", dir.path(), &command, (80, 24));
    let screen = tmux.wait_until("the dataset on the Data tab", Duration::from_secs(60), |s| {
        s.contains("dataset good.csv") && s.contains("2 failed")
    });
    assert!(
        screen.contains("not loaded (1/2): nosuch.csv:") && screen.contains("somebad.csv"),
        "{screen}"
    );
    // The message box above the status line: the whole message, wrapped at spaces.
    let lines: Vec<&str> = screen.lines().collect();
    let top = lines
        .iter()
        .position(|l| l.contains(" message · Esc closes "))
        .unwrap_or_else(|| panic!("no message box:\n{screen}"));
    let message = lines[top + 1..lines.len().saturating_sub(1)]
        .iter()
        .map(|l| l.trim_end())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        message.starts_with(
            "loaded 1 dataset: good.csv, 2 failed: nosuch.csv: cannot read: No such file or directory"
        ) && message.contains("; somebad.csv: no label column"),
        "{message}\n{screen}"
    );
    tmux.keys("Escape");
    let closed = tmux.wait_until("the message closed", Duration::from_secs(10), |s| {
        !s.contains(" message · Esc closes ")
    });
    // The Data tab still lists the failures.
    assert!(closed.contains("not loaded (1/2): nosuch.csv:"), "{closed}");
    tmux.keys("q");
    let after = tmux.wait_for("EXITED:");
    assert!(after.contains("EXITED:0"), "{after}");
}
