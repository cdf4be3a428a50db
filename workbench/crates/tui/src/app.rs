//! The application state and its single mutator, `App::update(Action)`. Rendering reads this
//! state and never changes it; the background poller only delivers snapshots as actions.

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use super::action::{Action, Tab};
use super::jobs::JobRequest;
use super::keymap::Context;
use super::source::{Control, Snapshot};
use super::state::data::DataState;
use super::state::eval::{EvalState, ShadowStory};
use super::state::pitfalls::PitfallsState;
use super::state::train::TrainState;
use super::theme::ThemeKind;
use super::ui::layout;
use super::view::{self, SortKey, ViewSpec};

/// Points kept for the sparklines (one per poll).
pub const HISTORY: usize = 120;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    /// The flow detail of the selected Live row.
    Detail,
    Confirm(Control),
    /// Why the shadow model disagrees (the demo's story: its skew on the replayed data).
    Shadow,
}

/// A flow's 5-tuple, to find it again in the next snapshot.
/// Endpoints, protocol and VLAN id: what tells two flows apart (the probe's flow key).
type FlowId = (std::net::IpAddr, u16, std::net::IpAddr, u16, &'static str, u16);

/// Something the event loop must hand to the background poller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    UseIface(String),
    Control(Control),
}

pub struct App {
    pub tab: Tab,
    pub overlay: Overlay,
    pub theme: ThemeKind,
    pub snapshot: Arc<Snapshot>,
    pub paused: bool,
    pub sort: SortKey,
    pub sort_desc: bool,
    /// The applied filter, and the text being typed after `/` (None when not typing).
    pub filter: String,
    pub filter_input: Option<String>,
    /// Indices into `snapshot.flows`, filtered and sorted.
    pub view: Vec<u32>,
    pub selected: usize,
    /// First visible row of the Live table.
    pub offset: usize,
    pub deploy_selected: usize,
    pub pps: VecDeque<u64>,
    pub verdicts: VecDeque<u64>,
    pub histogram: (Vec<u64>, i64, i64),
    /// Flows the active model flags, and the shadow's disagreements summed over flows
    /// (counted once per snapshot, not per frame).
    pub flagged: usize,
    pub shadow_disagreements: u64,
    pub status: Option<String>,
    /// The last confirmed kernel change and the local time it finished ("HH:MM:SS"): shown on
    /// the Deploy tab, where a later status line (a load finishing) cannot hide it.
    pub last_control: Option<(String, String)>,
    pub quit: bool,
    pub size: (u16, u16),
    pub export_dir: PathBuf,
    exports: u32,
    pub requests: Vec<Request>,
    /// `--debug-panic`: the next render panics.
    pub debug_panic: bool,
    /// Data, Pitfalls and Train (state in `state/`), and the background jobs they asked for.
    pub data: DataState,
    pub pitfalls: PitfallsState,
    pub train: TrainState,
    /// The Train tab's evaluation view.
    pub eval: EvalState,
    /// The shadow model's evaluation on the Live data, when the caller (the demo) made one.
    pub shadow_story: Option<Arc<ShadowStory>>,
    pub jobs: Vec<JobRequest>,
    /// The Deploy tab's live cost (BPF statistics held by the event loop while it is open).
    pub live_cost: super::state::cost::LiveCost,
}

impl App {
    pub fn new(snapshot: Snapshot, size: (u16, u16)) -> Self {
        let mut app = App {
            tab: Tab::Live,
            overlay: Overlay::None,
            theme: ThemeKind::Default,
            snapshot: Arc::new(Snapshot::default()),
            paused: false,
            sort: SortKey::Score,
            sort_desc: true,
            filter: String::new(),
            filter_input: None,
            view: Vec::new(),
            selected: 0,
            offset: 0,
            deploy_selected: 0,
            pps: VecDeque::with_capacity(HISTORY),
            verdicts: VecDeque::with_capacity(HISTORY),
            histogram: (Vec::new(), 0, 0),
            flagged: 0,
            shadow_disagreements: 0,
            status: None,
            last_control: None,
            quit: false,
            size,
            export_dir: PathBuf::from("."),
            exports: 0,
            requests: Vec::new(),
            debug_panic: false,
            data: DataState::default(),
            pitfalls: PitfallsState::default(),
            train: TrainState::default(),
            eval: EvalState::default(),
            shadow_story: None,
            jobs: Vec::new(),
            live_cost: Default::default(),
        };
        app.accept(Arc::new(snapshot));
        app
    }

    /// Which handler receives keys now.
    pub fn context(&self) -> Context {
        if self.filter_input.is_some() {
            Context::Filter
        } else {
            match self.overlay {
                Overlay::Confirm(_) => Context::Confirm,
                Overlay::Help => Context::Help,
                _ => Context::Normal,
            }
        }
    }

    /// The flow under the selection, if any.
    pub fn selected_flow(&self) -> Option<&super::source::FlowRow> {
        let i = *self.view.get(self.selected)?;
        self.snapshot.flows.get(i as usize)
    }

    /// The order and filter of the Live table (published to the poller).
    pub fn view_spec(&self) -> ViewSpec {
        ViewSpec {
            sort: self.sort,
            desc: self.sort_desc,
            filter: self.filter.clone(),
        }
    }

    /// The event loop's BPF statistics state; the live cost is averaged from when they came on.
    pub fn set_stats(&mut self, stats: super::state::cost::StatsState) {
        if stats != self.live_cost.stats {
            self.live_cost.base = None;
            self.live_cost.stats = stats;
        }
    }

    fn accept(&mut self, mut snapshot: Arc<Snapshot>) {
        // Before the swap: the view's indices point into the old snapshot.
        let keep = self.selected_key();
        push(&mut self.pps, snapshot.pps);
        push(&mut self.verdicts, snapshot.verdicts_per_s);
        // The poller's snapshot arrives unshared: move its prepared parts out, no copy.
        let ready = match Arc::get_mut(&mut snapshot) {
            Some(s) => s.prepared.take(),
            None => snapshot.prepared.clone(),
        };
        if self.live_cost.stats == super::state::cost::StatsState::On && self.live_cost.base.is_none() {
            self.live_cost.base = snapshot.program_cost;
        }
        let old = std::mem::replace(&mut self.snapshot, snapshot);
        // Freeing 100k rows (two heap strings each) takes milliseconds: not on the UI thread.
        if old.flows.len() > 10_000 {
            std::thread::spawn(move || drop(old));
        }
        let spec = self.view_spec();
        // Prepared by the poller for the current order and filter: take it as it is. Otherwise
        // (fixtures, or the user changed the order since the poll) compute it here.
        let prepared = match ready {
            Some(p) if p.spec == spec => p,
            _ => view::prepare(&self.snapshot, &spec),
        };
        self.histogram = prepared.histogram;
        self.flagged = prepared.flagged;
        self.shadow_disagreements = prepared.shadow_disagreements;
        self.set_view(prepared.view, keep);
    }

    fn recompute(&mut self) {
        let keep = self.selected_key();
        let v = view::compute(&self.snapshot, self.sort, self.sort_desc, &self.filter);
        self.set_view(v, keep);
    }

    fn selected_key(&self) -> Option<FlowId> {
        self.selected_flow().map(|r| {
            let f = &r.record;
            (f.src, f.src_port, f.dst, f.dst_port, f.proto, f.vlan_id)
        })
    }

    /// Keeps the same flow selected across polls and re-sorts when it is still there. A
    /// selection on the first row follows the top instead (as `top` does): new high scores
    /// appear there, rather than scrolling the table to keep an older first flow in view.
    fn set_view(&mut self, new_view: Vec<u32>, keep: Option<FlowId>) {
        self.view = new_view;
        if let Some(k) = keep.filter(|_| self.selected > 0) {
            if let Some(pos) = self.view.iter().position(|&i| {
                let f = &self.snapshot.flows[i as usize].record;
                // Ports first: a cheap test that rejects almost every other flow.
                f.src_port == k.1
                    && f.dst_port == k.3
                    && (f.src, f.src_port, f.dst, f.dst_port, f.proto, f.vlan_id) == k
            }) {
                self.selected = pos;
            }
        }
        self.clamp_selection();
    }

    fn page(&self) -> usize {
        match self.tab {
            Tab::Data => layout::data_table_rows(self.size).max(1),
            _ => layout::live_table_rows(self.size).max(1),
        }
    }

    fn clamp_selection(&mut self) {
        let n = self.view.len();
        self.selected = self.selected.min(n.saturating_sub(1));
        let page = self.page();
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + page {
            self.offset = self.selected + 1 - page;
        }
        self.offset = self.offset.min(n.saturating_sub(page));
    }

    fn move_by(&mut self, delta: isize) {
        match self.tab {
            Tab::Live => {
                self.selected = self.selected.saturating_add_signed(delta);
                self.clamp_selection();
            }
            Tab::Deploy => {
                let n = self.snapshot.ifaces.len();
                self.deploy_selected = self
                    .deploy_selected
                    .saturating_add_signed(delta)
                    .min(n.saturating_sub(1));
            }
            _ => self.move_tab(delta),
        }
    }

    pub fn update(&mut self, action: Action) {
        match action {
            Action::Quit => self.quit = true,
            Action::NextTab => self.go((self.tab.index() + 1) % Tab::ALL.len()),
            Action::PrevTab => self.go((self.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len()),
            Action::GoTab(t) => self.go(t.index()),
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-(self.page() as isize)),
            Action::PageDown => self.move_by(self.page() as isize),
            Action::Top => self.move_by(isize::MIN / 2),
            Action::Bottom => self.move_by(isize::MAX / 2),
            Action::CycleSort if self.tab == Tab::Data => self.sort_columns(false),
            Action::ReverseSort if self.tab == Tab::Data => self.sort_columns(true),
            Action::CycleSort => {
                self.sort = self.sort.next();
                self.recompute();
            }
            Action::ReverseSort => {
                self.sort_desc = !self.sort_desc;
                self.recompute();
            }
            Action::Job(update) => self.job(update),
            Action::NextDataset => self.next_dataset(),
            Action::ToggleHonest => self.toggle_honest(),
            Action::Change(step) => self.change_field(step),
            Action::DeployTrained { shadow } => self.ask_deploy_trained(shadow),
            Action::ToggleEval => self.toggle_eval(),
            Action::ExplainShadow => self.explain_shadow(),
            Action::CostCandidates => self.start_cost(),
            Action::PickCandidate => self.pick_candidate(),
            Action::StartFilter => self.filter_input = Some(self.filter.clone()),
            Action::FilterChar(c) => {
                if let Some(f) = self.filter_input.as_mut() {
                    f.push(c);
                }
            }
            Action::FilterBackspace => {
                if let Some(f) = self.filter_input.as_mut() {
                    f.pop();
                }
            }
            Action::FilterApply if self.tab == Tab::Train && self.eval.showing => {
                if let Some(path) = self.filter_input.take() {
                    self.add_eval_path(path);
                }
            }
            Action::FilterApply => {
                if let Some(f) = self.filter_input.take() {
                    self.filter = f;
                    self.selected = 0;
                    self.recompute();
                }
            }
            Action::TogglePause => {
                self.paused = !self.paused;
                self.status = Some(
                    if self.paused {
                        "the view is frozen (space resumes)"
                    } else {
                        "resumed"
                    }
                    .into(),
                );
            }
            Action::Export => self.export(),
            Action::ToggleHelp => {
                self.overlay = if self.overlay == Overlay::Help {
                    Overlay::None
                } else {
                    Overlay::Help
                };
            }
            Action::ToggleTheme => {
                self.theme = self.theme.next();
                self.status = Some(format!("theme: {}", self.theme.name()));
            }
            Action::Open => self.open(),
            Action::Close => self.close(),
            Action::Ask(control) => self.ask(control),
            Action::Confirm => {
                if let Overlay::Confirm(c) = std::mem::replace(&mut self.overlay, Overlay::None) {
                    self.status = Some("working…".into());
                    self.requests.push(Request::Control(c));
                }
            }
            Action::Click { column, row } => self.click(column, row),
            Action::Resize { width, height } => {
                self.size = (width, height);
                self.clamp_selection();
            }
            Action::Snapshot(s) => {
                // Paused: the view stays as it was; the poller keeps running and the newest
                // state shows on resume.
                if !self.paused {
                    self.accept(s);
                }
            }
            Action::Notice(text) => self.status = Some(text),
            Action::Controlled(line) => {
                self.last_control = Some((local_hms(), line.clone()));
                self.status = Some(line);
            }
        }
    }

    fn go(&mut self, index: usize) {
        if let Some(t) = Tab::ALL.get(index) {
            self.tab = *t;
            self.overlay = Overlay::None;
        }
    }

    fn open(&mut self) {
        match self.tab {
            Tab::Live if self.selected_flow().is_some() => self.overlay = Overlay::Detail,
            Tab::Deploy => {
                if let Some(iface) = self.snapshot.ifaces.get(self.deploy_selected) {
                    self.status = Some(format!("switching to the probe on {iface}…"));
                    self.requests.push(Request::UseIface(iface.clone()));
                }
            }
            Tab::Train if self.eval.showing => self.start_eval(),
            Tab::Train if !matches!(self.train.status, super::state::data::JobStatus::Running { .. }) => {
                self.start_train();
            }
            _ => {}
        }
    }

    fn close(&mut self) {
        if self.filter_input.take().is_some() {
            return;
        }
        if self.overlay != Overlay::None {
            self.overlay = Overlay::None;
        } else if !self.filter.is_empty() {
            self.filter.clear();
            self.recompute();
        } else {
            // Last: the status message (a long one covers the bottom of the tab).
            self.status = None;
        }
    }

    fn ask(&mut self, control: Control) {
        if self.tab != Tab::Deploy {
            return;
        }
        if self.snapshot.simulated || self.snapshot.iface.is_none() {
            self.status = Some("no kernel probe in use: simulated source (rollback/promote/mode need `workbench probe attach`)".into());
            return;
        }
        // Nothing to ask about: `workbench deploy --rollback` / `--promote-shadow` refuse it too.
        let iface = self.snapshot.iface.as_deref().unwrap_or("IF");
        let models = self.snapshot.models.as_ref();
        let missing = match control {
            Control::Rollback if models.is_none_or(|m| m.previous.is_none()) => Some(format!(
                "no previous model on {iface}: nothing to roll back to (a deploy keeps the model it replaces as the previous one)"
            )),
            Control::PromoteShadow if models.is_none_or(|m| m.shadow.is_none()) => Some(format!(
                "no shadow model on {iface}: nothing to promote (D on the Train tab deploys one as shadow)"
            )),
            _ => None,
        };
        if let Some(why) = missing {
            self.status = Some(why);
            return;
        }
        self.overlay = Overlay::Confirm(control);
    }

    fn click(&mut self, column: u16, row: u16) {
        if let Some(tab) = layout::tab_at(self.size, column, row) {
            self.go(tab.index());
            return;
        }
        if self.tab == Tab::Live && self.overlay == Overlay::None && layout::live_summary_at(self.size, row) {
            self.explain_shadow();
        } else if self.tab == Tab::Live && self.overlay == Overlay::None {
            if let Some(r) = layout::live_row_at(self.size, row) {
                let target = self.offset + r;
                if target < self.view.len() {
                    self.selected = target;
                }
            }
        } else if self.overlay == Overlay::None {
            self.click_tab(column, row);
        }
    }

    /// Writes the visible (filtered, sorted) flows as JSON lines, one FlowRecord per line, the
    /// same objects `workbench probe flows --json` prints.
    fn export(&mut self) {
        if self.tab != Tab::Live {
            return;
        }
        self.exports += 1;
        let path = self.export_dir.join(format!(
            "workbench-flows-{}-{}.jsonl",
            std::process::id(),
            self.exports
        ));
        let result = (|| -> std::io::Result<usize> {
            let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
            for &i in &self.view {
                let record = &self.snapshot.flows[i as usize].record;
                serde_json::to_writer(&mut out, record)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
            Ok(self.view.len())
        })();
        self.status = Some(match result {
            Ok(n) => format!("exported {n} flows to {}", path.display()),
            Err(e) => format!("export to {} failed: {e}", path.display()),
        });
    }
}

fn push(history: &mut VecDeque<u64>, value: u64) {
    if history.len() == HISTORY {
        history.pop_front();
    }
    history.push_back(value);
}

/// The local wall-clock time as "HH:MM:SS" (the Deploy tab's "last change" line).
fn local_hms() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as libc::time_t);
    // SAFETY: localtime_r only writes into the tm we pass; a zeroed tm is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&raw const now, &raw mut tm) }.is_null() {
        return "--:--:--".into();
    }
    format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec)
}

#[cfg(all(test, feature = "fixtures"))]
mod tests {
    use super::*;

    #[test]
    fn the_first_row_follows_the_top_and_another_selected_flow_stays_selected() {
        let mut app = super::super::fake::screen("live", (80, 24)).expect("fixture");
        let mut next = (*app.snapshot).clone();
        next.prepared = None;
        // The lowest-scored flow jumps to the top score.
        let riser = *app.view.last().expect("flows");
        next.flows[riser as usize].record.score = i64::MAX / 2;
        app.update(Action::Snapshot(Arc::new(next.clone())));
        assert_eq!((app.selected, app.view[0]), (0, riser), "row 0 shows the new top");
        app.update(Action::Down);
        app.update(Action::Down);
        let kept = app.view[2];
        let other = *app.view.last().expect("flows");
        next.flows[other as usize].record.score = i64::MAX / 2 + 1;
        app.update(Action::Snapshot(Arc::new(next)));
        assert_eq!(
            app.view[app.selected], kept,
            "the selected flow moved down a row with its selection"
        );
        assert_eq!(app.selected, 3);
    }
}
