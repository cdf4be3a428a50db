//! Keys -> actions. One table drives both the mapping and the help overlay, so the help can
//! never list a key that does nothing (and README's key table is copied from it).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};

use super::action::{Action, Tab};
use super::source::Control;

/// What currently receives keys: an overlay or text input takes them before the tabs do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Normal,
    Filter,
    Confirm,
    Help,
}

/// (keys, what it does, the subcommand doing the same headless) for the help overlay.
pub const HELP: &[(&str, &str, &str)] = &[
    (
        "1-5 Tab S-Tab",
        "switch tab (Data Pitfalls Train Deploy Live)",
        "",
    ),
    // One row per group of keys: the whole table fits an 80x24 terminal.
    (
        "↑↓ jk PgUp/Dn",
        "move the selection by a row / a page; g G first/last",
        "",
    ),
    (
        "s / S",
        "Live: next sort column / reverse; Data: sort the columns",
        "probe flows --json | jq",
    ),
    (
        "n",
        "Data: next loaded dataset (Pitfalls and Train use it)",
        "inspect DATA... --json",
    ),
    (
        "h",
        "Pitfalls: naive (random) vs honest (time/host) split score",
        "inspect DATA --json (split_comparison)",
    ),
    ("← → - +", "Train: change the field (↑↓ choose the field)", ""),
    (
        "c / C",
        "Train: F1 beside kernel ns/packet per depth · C picks",
        "train DATA --cost-depths 2,4,8,12 --json",
    ),
    (
        "v / w",
        "Train: evaluation view · Live: why the shadow disagrees",
        "eval MODEL DATA... --json",
    ),
    ("/", "Live: filter rows (text; Enter applies, Esc clears)", ""),
    ("space", "Live: pause / resume updates", ""),
    (
        "Enter",
        "explain (Live) · use the interface (Deploy) · train · score",
        "train DATA --model M --split S -o MODEL",
    ),
    (
        "d / D",
        "deploy the trained model as active / shadow (confirm)",
        "deploy MODEL --iface IF [--shadow]",
    ),
    (
        "x",
        "Live: export the visible flows as JSON lines",
        "probe flows --iface IF --json",
    ),
    (
        "r p e",
        "Deploy: rollback · promote shadow · monitor/enforce, asks",
        "deploy --rollback|--promote-shadow|--mode M --iface IF",
    ),
    ("y / n", "confirm / cancel a kernel change", ""),
    ("t", "theme: default, high contrast, colour-blind safe", ""),
    (
        "? Esc",
        "this help · close the dialog, detail, help or message",
        "",
    ),
    ("q Ctrl-C", "quit (the terminal is restored)", ""),
    ("mouse", "click a tab or a row; wheel scrolls", ""),
];

pub fn key(ev: KeyEvent, context: Context) -> Option<Action> {
    if ev.code == KeyCode::Char('c') && ev.modifiers.contains(KeyModifiers::CONTROL) {
        return Some(Action::Quit);
    }
    match context {
        Context::Filter => filter_key(ev.code),
        Context::Confirm => match ev.code {
            KeyCode::Char('y' | 'Y') => Some(Action::Confirm),
            KeyCode::Char('n' | 'N') | KeyCode::Esc => Some(Action::Close),
            _ => None,
        },
        Context::Help => match ev.code {
            KeyCode::Char('q') => Some(Action::Quit),
            KeyCode::Char('?') | KeyCode::Esc | KeyCode::Enter => Some(Action::Close),
            _ => None,
        },
        Context::Normal => normal_key(ev.code),
    }
}

fn filter_key(code: KeyCode) -> Option<Action> {
    match code {
        KeyCode::Enter => Some(Action::FilterApply),
        KeyCode::Esc => Some(Action::Close),
        KeyCode::Backspace => Some(Action::FilterBackspace),
        KeyCode::Char(c) => Some(Action::FilterChar(c)),
        _ => None,
    }
}

fn normal_key(code: KeyCode) -> Option<Action> {
    let action = match code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Tab => Action::NextTab,
        KeyCode::BackTab => Action::PrevTab,
        KeyCode::Char(c @ '1'..='5') => {
            let i = (c as usize) - ('1' as usize);
            Action::GoTab(Tab::ALL.get(i).copied().unwrap_or(Tab::Live))
        }
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Action::Top,
        KeyCode::End | KeyCode::Char('G') => Action::Bottom,
        KeyCode::Char('s') => Action::CycleSort,
        KeyCode::Char('S') => Action::ReverseSort,
        KeyCode::Char('/') => Action::StartFilter,
        KeyCode::Char(' ') => Action::TogglePause,
        KeyCode::Char('x') => Action::Export,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Char('t') => Action::ToggleTheme,
        KeyCode::Enter => Action::Open,
        KeyCode::Esc => Action::Close,
        KeyCode::Char('r') => Action::Ask(Control::Rollback),
        KeyCode::Char('p') => Action::Ask(Control::PromoteShadow),
        KeyCode::Char('e') => Action::Ask(Control::ToggleMode),
        KeyCode::Char('n') => Action::NextDataset,
        KeyCode::Char('h') => Action::ToggleHonest,
        KeyCode::Left | KeyCode::Char('-') => Action::Change(-1),
        KeyCode::Right | KeyCode::Char('+' | '=') => Action::Change(1),
        KeyCode::Char('d') => Action::DeployTrained { shadow: false },
        KeyCode::Char('D') => Action::DeployTrained { shadow: true },
        KeyCode::Char('v') => Action::ToggleEval,
        KeyCode::Char('w') => Action::ExplainShadow,
        KeyCode::Char('c') => Action::CostCandidates,
        KeyCode::Char('C') => Action::PickCandidate,
        _ => return None,
    };
    Some(action)
}

pub fn mouse(ev: MouseEvent) -> Option<Action> {
    match ev.kind {
        MouseEventKind::Down(_) => Some(Action::Click {
            column: ev.column,
            row: ev.row,
        }),
        MouseEventKind::ScrollUp => Some(Action::Up),
        MouseEventKind::ScrollDown => Some(Action::Down),
        _ => None,
    }
}
