//! Scripted walks through the TUI for a stage demo: `workbench demo --autoplay` (a built-in walk
//! on a timer) or `--script FILE`. A script is plain text, one step per line:
//!
//! ```text
//! # comments and blank lines are ignored
//! tab data          # go to a tab: data pitfalls train deploy live, or 1-5
//! wait 4s           # pause: 500ms, 4s, 1.5s
//! key s             # one key, through the keymap as if typed: a character, or enter esc
//!                   # tab backtab space up down left right pgup pgdn home end
//! type syn          # each character as a key (after `key /` this types a Live filter)
//! repeat            # start again from the first step (an endless stage loop)
//! quit              # leave the TUI
//! ```
//!
//! The steps run on a driver thread that sends events into the TUI's event loop, so a script
//! does exactly what the same keys and tab switches would do, and the UI never waits for it.

use std::path::Path;
use std::sync::mpsc::Sender;
use std::time::Duration;

use crate::error::Result;
use crossterm::event::{Event as Ct, KeyCode, KeyEvent, KeyModifiers};

use super::action::{Action, Tab};
use super::event::Event;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Tab(Tab),
    Wait(Duration),
    Key(KeyCode),
    Repeat,
    Quit,
}

/// The built-in `--autoplay` walk: each stage for a few seconds (Train trains a model with the
/// form's defaults, then its evaluation view scores it), then Live with the most suspicious
/// flow explained and the shadow's disagreement explained, in an endless loop until someone
/// presses q.
pub fn autoplay() -> Vec<Step> {
    let s = |secs| Step::Wait(Duration::from_secs(secs));
    vec![
        Step::Tab(Tab::Data),
        s(5),
        Step::Tab(Tab::Pitfalls),
        s(5),
        Step::Tab(Tab::Train),
        s(1),
        // Train on the loaded dataset in the background (once it is loaded, if it still loads):
        // the result, its model file and the command doing the same fill the tab.
        Step::Key(KeyCode::Enter),
        s(10),
        // The evaluation view: the model just trained (before a run: the model the caller
        // gave) scored on the first sample capture, in the background.
        Step::Key(KeyCode::Char('v')),
        Step::Key(KeyCode::Enter),
        s(8),
        Step::Key(KeyCode::Char('v')),
        Step::Tab(Tab::Deploy),
        s(5),
        Step::Tab(Tab::Live),
        s(12),
        // Highest score first (the default sort): Enter explains the top flow's verdict.
        Step::Key(KeyCode::Home),
        Step::Key(KeyCode::Enter),
        s(8),
        Step::Key(KeyCode::Esc),
        s(4),
        // Why the shadow disagrees (when the caller explained it; otherwise a status line).
        Step::Key(KeyCode::Char('w')),
        s(8),
        Step::Key(KeyCode::Esc),
        s(2),
        Step::Repeat,
    ]
}

fn tab(name: &str) -> Option<Tab> {
    let lower = name.to_ascii_lowercase();
    Tab::ALL
        .into_iter()
        .enumerate()
        .find(|(i, t)| t.title().eq_ignore_ascii_case(&lower) || (i + 1).to_string() == lower)
        .map(|(_, t)| t)
}

fn duration(text: &str) -> Option<Duration> {
    let (number, unit) = match text.strip_suffix("ms") {
        Some(n) => (n, 1e-3),
        None => (text.strip_suffix('s')?, 1.0),
    };
    let v: f64 = number.parse().ok()?;
    (v.is_finite() && v >= 0.0 && v * unit <= 86_400.0).then(|| Duration::from_secs_f64(v * unit))
}

fn key(name: &str) -> Option<KeyCode> {
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return Some(KeyCode::Char(c));
    }
    Some(match name.to_ascii_lowercase().as_str() {
        "enter" => KeyCode::Enter,
        "esc" | "escape" => KeyCode::Esc,
        "tab" => KeyCode::Tab,
        "backtab" => KeyCode::BackTab,
        "space" => KeyCode::Char(' '),
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "pgup" | "pageup" => KeyCode::PageUp,
        "pgdn" | "pagedown" => KeyCode::PageDown,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        "backspace" => KeyCode::Backspace,
        _ => return None,
    })
}

/// Parses a script; `name` (the file) and the line number are in every error.
pub fn parse(text: &str, name: &str) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = || format!("{name}:{}", i + 1);
        let (word, arg) = match line.split_once(char::is_whitespace) {
            Some((w, a)) => (w, a.trim()),
            None => (line, ""),
        };
        match (word.to_ascii_lowercase().as_str(), arg) {
            ("tab", a) => steps.push(Step::Tab(tab(a).ok_or_else(|| {
                crate::error::Error::Invalid(format!("{}: unknown tab {a:?}: expected data, pitfalls, train, deploy, live or 1-5", at()))
            })?)),
            ("wait", a) => steps.push(Step::Wait(duration(a).ok_or_else(|| {
                crate::error::Error::Invalid(format!("{}: `wait {a}`: expected a duration such as 500ms, 4s or 1.5s (at most a day)", at()))
            })?)),
            ("key", a) => steps.push(Step::Key(key(a).ok_or_else(|| {
                crate::error::Error::Invalid(format!("{}: unknown key {a:?}: expected one character or enter, esc, tab, backtab, space, up, down, left, right, pgup, pgdn, home, end, backspace", at()))
            })?)),
            // After `type` everything up to a comment is typed, inner spaces included.
            ("type", a) if !a.is_empty() => steps.extend(a.chars().map(|c| Step::Key(KeyCode::Char(c)))),
            ("repeat", "") => steps.push(Step::Repeat),
            ("quit", "") => steps.push(Step::Quit),
            _ => return Err(crate::error::Error::Invalid(format!(
                "{}: cannot read {line:?}: expected `tab NAME`, `wait DURATION`, `key KEY`, `type TEXT`, `repeat` or `quit`",
                at()
            ))),
        }
    }
    if steps.is_empty() {
        return Err(crate::error::Error::Invalid(format!(
            "{name}: the script has no steps"
        )));
    }
    if let Some(p) = steps.iter().position(|s| *s == Step::Repeat) {
        if !steps[..p].iter().any(|s| matches!(s, Step::Wait(_))) {
            return Err(crate::error::Error::Invalid(format!(
                "{name}: `repeat` without a `wait` before it would loop without pause"
            )));
        }
    }
    Ok(steps)
}

pub fn read(path: &Path) -> Result<Vec<Step>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| crate::error::Error::io(format!("reading script {}", path.display()), e))?;
    parse(&text, &path.display().to_string())
}

/// Plays `steps` into the event loop; returns when the script ends or the TUI is gone.
pub fn play(steps: &[Step], tx: &Sender<Event>) {
    let mut i = 0;
    while let Some(step) = steps.get(i) {
        i += 1;
        let event = match step {
            Step::Tab(t) => Event::Action(Action::GoTab(*t)),
            Step::Key(code) => Event::Input(Ct::Key(KeyEvent::new(*code, KeyModifiers::NONE))),
            Step::Quit => Event::Action(Action::Quit),
            Step::Wait(d) => {
                std::thread::sleep(*d);
                continue;
            }
            Step::Repeat => {
                i = 0;
                continue;
            }
        };
        if tx.send(event).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_parses_to_steps() {
        let steps = parse(
            "# stage\ntab data\nwait 1.5s\ntab 5\nkey /\ntype syn # filter\nkey enter\nwait 200ms\nrepeat\n",
            "s.txt",
        )
        .expect("parses");
        assert_eq!(
            steps,
            vec![
                Step::Tab(Tab::Data),
                Step::Wait(Duration::from_millis(1500)),
                Step::Tab(Tab::Live),
                Step::Key(KeyCode::Char('/')),
                Step::Key(KeyCode::Char('s')),
                Step::Key(KeyCode::Char('y')),
                Step::Key(KeyCode::Char('n')),
                Step::Key(KeyCode::Enter),
                Step::Wait(Duration::from_millis(200)),
                Step::Repeat,
            ]
        );
        assert!(parse(&"x".repeat(0), "e").is_err());
    }

    #[test]
    fn bad_lines_name_the_file_and_line() {
        for (text, want) in [
            ("tab data\ntab nowhere", "s.txt:2: unknown tab \"nowhere\""),
            ("wait 3 parsecs", "s.txt:1: `wait 3 parsecs`: expected a duration"),
            ("key f13", "s.txt:1: unknown key \"f13\""),
            ("dance", "s.txt:1: cannot read \"dance\""),
            ("tab live\nrepeat", "`repeat` without a `wait`"),
        ] {
            let e = parse(text, "s.txt").expect_err(text).to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn playing_sends_tab_switches_and_keys_in_order() {
        let (tx, rx) = std::sync::mpsc::channel();
        play(
            &[
                Step::Tab(Tab::Deploy),
                Step::Wait(Duration::from_millis(1)),
                Step::Key(KeyCode::Char('q')),
                Step::Quit,
            ],
            &tx,
        );
        let got: Vec<String> = rx
            .try_iter()
            .map(|e| match e {
                Event::Action(a) => format!("{a:?}"),
                Event::Input(Ct::Key(k)) => format!("key {:?}", k.code),
                _ => "other".into(),
            })
            .collect();
        assert_eq!(got, ["GoTab(Deploy)", "key Char('q')", "Quit"]);
        let walk = autoplay();
        assert!(walk.contains(&Step::Repeat));
        // The walk trains on the Train tab: Enter is its first key there.
        let train = walk
            .iter()
            .position(|s| *s == Step::Tab(Tab::Train))
            .expect("train tab");
        let first_key = walk[train..].iter().find(|s| matches!(s, Step::Key(_)));
        assert_eq!(first_key, Some(&Step::Key(KeyCode::Enter)));
    }
}
