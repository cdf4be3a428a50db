//! Everything the user (or the background poller) can make the app do. Keys and mouse events
//! become actions through the keymap; `App::update` is the only place that changes state.

use std::sync::Arc;

use super::source::{Control, Snapshot};

/// The five screens along the path, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Data,
    Pitfalls,
    Train,
    Deploy,
    Live,
}

impl Tab {
    pub const ALL: [Tab; 5] = [Tab::Data, Tab::Pitfalls, Tab::Train, Tab::Deploy, Tab::Live];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Data => "Data",
            Tab::Pitfalls => "Pitfalls",
            Tab::Train => "Train",
            Tab::Deploy => "Deploy",
            Tab::Live => "Live",
        }
    }

    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

#[derive(Debug, Clone)]
pub enum Action {
    Quit,
    NextTab,
    PrevTab,
    GoTab(Tab),
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    CycleSort,
    ReverseSort,
    StartFilter,
    FilterChar(char),
    FilterBackspace,
    FilterApply,
    TogglePause,
    Export,
    ToggleHelp,
    ToggleTheme,
    /// Enter: flow detail on Live, use the interface on Deploy.
    Open,
    /// Esc: close the topmost overlay (or cancel the filter being typed).
    Close,
    /// Ask for a kernel change; it runs only after the confirmation dialog says yes.
    Ask(Control),
    Confirm,
    Click {
        column: u16,
        row: u16,
    },
    Resize {
        width: u16,
        height: u16,
    },
    /// A new state of the data source (from the background poller).
    Snapshot(Arc<Snapshot>),
    /// A line for the status bar (result of a background request).
    Notice(String),
    /// The result line of a confirmed kernel change (rollback, promote, mode, deploy).
    Controlled(String),
    /// Progress or result of a background load, inspection or training run.
    Job(super::jobs::JobUpdate),
    /// Data: show the next loaded dataset (Pitfalls and Train follow it).
    NextDataset,
    /// Pitfalls: naive (random split) vs honest (time/host split) score.
    ToggleHonest,
    /// Train: change the focused field by this step (left -1, right +1).
    Change(isize),
    /// Deploy the trained model as the active (or shadow) model, after confirmation.
    DeployTrained {
        shadow: bool,
    },
    /// Train: the evaluation view (pick data, score the model) or the form.
    ToggleEval,
    /// Live: why the shadow model disagrees (its skew on the Live data).
    ExplainShadow,
    /// Train: candidates of several depths, F1 beside kernel ns per packet.
    CostCandidates,
    /// Train: the next candidate's depth into the form.
    PickCandidate,
}
