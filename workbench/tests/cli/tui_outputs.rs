//! Outputs where the user looks, and a TUI that opens where the data is (issue 20 items 4 and
//! 6): the help overlay complete at every supported size; a model trained in the Train tab
//! written under the working folder, its absolute path and the complete command shown uncut,
//! and that command, run as shown after the TUI has ended, writing the same model; `demo --autoplay` training in the
//! Train tab.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use workbench_tui::keymap::HELP;
use workbench_tui::{fake, ui};

use crate::common::demo::sample_dir;
use crate::common::tmux::Tmux;
use crate::common::TempDir;

fn text(size: (u16, u16)) -> (Terminal<TestBackend>, String) {
    let app = fake::screen("help", size).expect("screen");
    let mut term = Terminal::new(TestBackend::new(size.0, size.1)).expect("terminal");
    term.draw(|f| ui::render(f, &app)).expect("draw");
    let s = term.backend().to_string();
    (term, s)
}

/// Every row of the help (keys and the whole "does" text, on one line) at the smallest size the
/// TUI supports, at 120x36 (where the third column used to squeeze the second), and at 160x48
/// (where the third column fits whole and shows).
#[test]
fn the_help_overlay_is_complete_at_80x24_120x36_and_160x48() {
    for size in [(80u16, 24u16), (120, 36), (160, 48)] {
        let (term, screen) = text(size);
        let lines: Vec<&str> = screen.lines().collect();
        for (key, does, cmd) in HELP {
            assert!(
                lines.iter().any(|l| l.contains(key) && l.contains(does)),
                "{}x{}: the row {key:?} {does:?} is not whole:\n{screen}",
                size.0,
                size.1
            );
            if size.0 >= 160 && !cmd.is_empty() {
                assert!(
                    lines.iter().any(|l| l.contains(&format!("workbench {cmd}"))),
                    "{cmd}:\n{screen}"
                );
            }
        }
        let (last_key, last_does, _) = HELP.last().expect("rows");
        assert!(
            screen.contains(last_key) && screen.contains(last_does),
            "{screen}"
        );
        if size.0 < 160 {
            assert!(!screen.contains("same without the TUI"), "{screen}");
        }
        if size != (160, 48) {
            // 160x48 is in tui_screens' snapshots already.
            insta::assert_snapshot!(format!("help-overlay_{}x{}", size.0, size.1), term.backend());
        }
    }
}

/// The model box's text: the lines below its title, up to the next panel, each line but the
/// last of a part padded back to the full width (tmux drops trailing spaces) so that the hard
/// wrapping joins back exactly. Returns (path, command).
fn model_box(screen: &str, width: usize) -> (String, String) {
    let lines: Vec<&str> = screen.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains(" model file · the same run as a command "))
        .expect("the model box");
    let body: Vec<&str> = lines[start + 1..]
        .iter()
        .take_while(|l| !l.starts_with('┌'))
        .copied()
        .collect();
    let cmd_at = body
        .iter()
        .position(|l| l.starts_with("workbench "))
        .expect("the command line");
    let join = |part: &[&str]| {
        let mut s = String::new();
        for (i, l) in part.iter().enumerate() {
            s.push_str(l);
            if i + 1 < part.len() {
                s.push_str(&" ".repeat(width.saturating_sub(l.chars().count())));
            }
        }
        s.trim_end().to_string()
    };
    (join(&body[..cmd_at]), join(&body[cmd_at..]))
}

/// `workbench tui --pcap X honest.pcap` in a real 120x36 terminal, from a fresh folder: Enter
/// on the Train tab trains; the model is written under `./models/` (absolute path shown whole),
/// the command shown whole, and that command, run as shown, writes the same model again.
#[test]
fn a_model_trained_in_the_tui_lands_in_the_working_folder_with_its_full_path_and_command() {
    crate::common::tmux::require("a_model_trained_in_the_tui_lands_in_the_working_folder");
    let dir = TempDir::new("tui-model-dir");
    let cwd = std::fs::canonicalize(dir.path()).expect("canonical");
    let honest = sample_dir().join("honest.pcap");
    let bin = env!("CARGO_BIN_EXE_workbench");
    let command = format!(
        "XDG_CACHE_HOME={} {bin} tui --pcap {} {}",
        dir.path().join("cache").display(),
        honest.display(),
        honest.display()
    );
    let tmux = Tmux::start("tui-model", dir.path(), &command, (120, 36));
    tmux.wait_until("the dataset on the Data tab", Duration::from_secs(120), |s| {
        s.contains("dataset honest") && s.contains("1860 rows x")
    });
    tmux.keys("3");
    tmux.wait_for("Enter train");
    tmux.keys("Enter");
    let screen = tmux.wait_until("the trained model", Duration::from_secs(180), |s| {
        s.contains(" model file · the same run as a command ")
    });
    let (path, shown) = model_box(&screen, 120);
    let path = PathBuf::from(&path);
    assert!(path.is_absolute(), "{}\n{screen}", path.display());
    assert!(
        path.starts_with(cwd.join("models")),
        "{} is not under {}/models:\n{screen}",
        path.display(),
        cwd.display()
    );
    let written = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let model = workbench_flow::model::file::read(&path).expect("a model file");
    let id = workbench_flow::model::id_string(model.model.header.model_id);
    assert!(screen.contains(&format!("tree {id}")), "{screen}");
    // From the capture the TUI was given: its feature table made in the working folder, then
    // the training run on it (the TUI's own table is in a temporary folder that goes when it
    // ends, so a command naming that would fail once the TUI is closed).
    assert!(
        shown.starts_with(&format!(
            "workbench features {} --labels {} -o honest.parquet && workbench train honest.parquet ",
            honest.display(),
            honest.with_file_name("labels-honest.csv").display()
        )) && shown.contains(" --max-depth 8 ")
            && shown.ends_with(&format!(" -o {}", path.display())),
        "{shown}"
    );
    assert!(!shown.contains("ebpf-ml-workbench-tui-"), "{shown}");
    tmux.keys("q");
    let after = tmux.wait_for("EXITED:");
    assert!(after.contains("EXITED:0"), "{after}");
    // Run as shown once the TUI has ended, with this build's binary first on PATH.
    std::fs::remove_file(&path).expect("remove the TUI's model");
    let bin_dir = Path::new(bin).parent().expect("bin dir");
    let out = Command::new("sh")
        .arg("-c")
        .arg(&shown)
        .current_dir(&cwd)
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{shown}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = workbench_flow::model::file::read(&path).expect("the command's model");
    assert_eq!(workbench_flow::model::id_string(again.model.header.model_id), id);
    assert!(again.model == model.model, "the command fitted another model");
    // Byte for byte: the TUI's model names its table as the command does (honest.parquet, not
    // the TUI's temporary copy).
    let rewritten = std::fs::read(&path).expect("read");
    assert!(
        rewritten == written,
        "the command wrote other bytes than the TUI ({} vs {} bytes): {:?} vs {:?}",
        rewritten.len(),
        written.len(),
        again.meta.provenance.get("sources"),
        model.meta.provenance.get("sources")
    );
    assert_eq!(
        model.meta.provenance.get("sources"),
        Some(&serde_json::json!(["honest.parquet"]))
    );
    assert!(
        cwd.join("honest.parquet").is_file(),
        "the features step wrote the table"
    );
    crate::common::report(&format!(
        "tui test: trained {id} into {}, the shown command, run after the TUI ended, rewrote it byte for byte ({} bytes)",
        path.display(),
        written.len()
    ));
}

/// `workbench demo --simulated --autoplay`: the walk trains in the Train tab (its model box
/// shows), where it used to stay at "no model trained yet", and what it trains is the shadow.
#[test]
fn demo_autoplay_trains_a_model_in_the_train_tab() {
    crate::common::tmux::require("demo_autoplay_trains_a_model_in_the_train_tab");
    let dir = TempDir::new("demo-autoplay");
    let command = format!(
        "XDG_CACHE_HOME={} {} demo --simulated --autoplay --samples {}",
        dir.path().display(),
        env!("CARGO_BIN_EXE_workbench"),
        sample_dir().display()
    );
    let tmux = Tmux::start("demo-autoplay", dir.path(), &command, (120, 36));
    // The demo trained the shadow during its setup: the first screen of the Train tab (before
    // the walk's Enter, a second after it arrives) already shows that model, not "no model
    // trained yet".
    let screen = tmux.wait_until("the Train tab", Duration::from_secs(300), |s| {
        s.contains(" test-side result ")
    });
    assert!(!screen.contains("no model trained yet"), "{screen}");
    assert!(
        screen.contains(" model file · the same run as a command "),
        "{screen}"
    );
    // The result's title: `tree ID · SPLIT split`.
    let trained = screen
        .split("tree ")
        .skip(1)
        .map(|r| r.chars().take(8).collect::<String>())
        .find(|id| id.len() == 8 && id.chars().all(|c| c.is_ascii_hexdigit()))
        .expect("the result's title names the tree");
    // The walk's Enter trains it again, into models/ of the working folder: the same model.
    let cwd = std::fs::canonicalize(dir.path()).expect("canonical");
    let again = cwd.join("models").join(format!("tree-{trained}.ebml"));
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while !again.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "Enter on the Train tab wrote no {}:\n{}",
            again.display(),
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    tmux.keys("q");
    let after = tmux.wait_for("EXITED:");
    assert!(after.contains("EXITED:0"), "{after}");
    // What the walk trains is the deployed shadow itself (one Kaggle tree on screen, not two
    // with different numbers): the id the demo printed before the TUI opened.
    let shadow = after
        .split("demo: shadow tree ")
        .nth(1)
        .map(|r| r.chars().take(8).collect::<String>())
        .expect("the demo names its shadow tree");
    assert_eq!(trained, shadow, "{after}");
}
