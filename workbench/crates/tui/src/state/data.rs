//! The Data tab's state: the datasets loaded in the background (`data::load`, the loader of
//! `workbench inspect`), what the tab shows of each, and the column table's order and scroll.

use std::sync::Arc;

use workbench_data::dataset::{kernel_mapping_for, LoadedDataset};
use workbench_data::pitfalls::Finding;

/// One column of the loaded table.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSummary {
    pub name: String,
    /// `numeric` or `text`, as `workbench inspect --json` says.
    pub dtype: &'static str,
    /// Empty values: still in the table (text columns) plus rows dropped for this column.
    pub missing: usize,
    /// NaN or Infinity: rows dropped for this column (numeric columns keep none).
    pub infinite: usize,
    /// The probe feature this column feeds, if any.
    pub kernel_feature: Option<&'static str>,
    /// The label, the attack type, the time or the host column.
    pub role: Option<&'static str>,
}

/// What the Data tab shows of one dataset (computed once, on the loading thread).
#[derive(Debug, Clone, PartialEq)]
pub struct DataSummary {
    pub name: String,
    pub files: Vec<String>,
    pub kind: String,
    pub kind_reason: String,
    pub rows: usize,
    pub rows_read: usize,
    pub rows_dropped: usize,
    /// (reason, rows), most first.
    pub drop_reasons: Vec<(String, usize)>,
    pub dropped_columns: Vec<String>,
    pub label_column: String,
    /// (class, rows), most first.
    pub classes: Vec<(String, usize)>,
    pub malicious: usize,
    pub columns: Vec<ColumnSummary>,
    /// The subcommands doing the same headless (first: how the table was made, if it was).
    pub commands: Vec<String>,
    /// Why this dataset is part of what was given as one (a folder of several layouts).
    pub note: Option<String>,
}

impl DataSummary {
    pub fn of(ds: &LoadedDataset, name: &str, commands: Vec<String>) -> Self {
        let names = ds.column_names();
        let mapping = kernel_mapping_for(ds.kind, &names);
        let columns = ds
            .frame
            .get_columns()
            .iter()
            .map(|c| {
                let name = c.name().to_string();
                let (dtype, infinite_now) = match c.f64() {
                    Ok(f) => (
                        "numeric",
                        f.into_iter().flatten().filter(|v| !v.is_finite()).count(),
                    ),
                    Err(_) => ("text", 0),
                };
                let role = if name == ds.label_column {
                    Some("label")
                } else if ds.class_column.as_deref() == Some(name.as_str()) {
                    Some("attack type")
                } else if ds.time_column.as_deref() == Some(name.as_str()) {
                    Some("time")
                } else if ds.host_column.as_deref() == Some(name.as_str()) {
                    Some("host")
                } else {
                    None
                };
                ColumnSummary {
                    // The loaded table keeps every row (cleaning happens before training), so
                    // the column itself holds its nulls and non-finite values.
                    missing: c.null_count(),
                    infinite: infinite_now,
                    kernel_feature: mapping
                        .mapped
                        .iter()
                        .find(|m| m.column == name)
                        .map(|m| m.feature),
                    role,
                    dtype,
                    name,
                }
            })
            .collect();
        let mut classes: std::collections::BTreeMap<&str, usize> = Default::default();
        for c in &ds.class {
            *classes.entry(c.as_str()).or_default() += 1;
        }
        let mut classes: Vec<(String, usize)> =
            classes.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        classes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        DataSummary {
            name: name.to_string(),
            files: ds.sources.clone(),
            kind: ds.kind.to_string(),
            kind_reason: ds.kind_reason.clone(),
            rows: ds.rows(),
            rows_read: ds.dropped.rows_read,
            rows_dropped: ds.dropped.rows_dropped,
            drop_reasons: ds
                .dropped
                .rows_by_reason
                .iter()
                .map(|r| (r.reason.clone(), r.rows))
                .collect(),
            dropped_columns: ds.dropped.columns.iter().map(|c| c.column.clone()).collect(),
            label_column: ds.label_column.clone(),
            classes,
            malicious: ds.malicious.iter().filter(|&&m| m).count(),
            columns,
            commands,
            note: None,
        }
    }
}

/// A dataset ready for the three tabs: the table (kept for training), its summary and its
/// pitfall findings (`pitfalls::inspect`, as `workbench inspect` reports them).
#[derive(Debug)]
pub struct Loaded {
    pub dataset: Arc<LoadedDataset>,
    pub summary: DataSummary,
    pub findings: Vec<Finding>,
    /// The files `workbench inspect` / `train` read for this dataset: the tables as given, or
    /// the feature table made from a capture (not `dataset.sources`, which names zip entries).
    pub table_files: Vec<String>,
    /// The same files as the commands the TUI shows name them: the tables as given, or, for a
    /// capture, the table `prelude` writes in the working folder (the TUI's own copy is in a
    /// temporary folder removed when it ends, so a command naming it would fail afterwards).
    pub command_files: Vec<String>,
    /// The command that makes `command_files` first (`workbench features CAPTURE ...`), if any.
    pub prelude: Option<String>,
}

impl Loaded {
    /// `command` (which reads `command_files`) preceded by the `prelude` that makes them: one
    /// line that works in the working folder, after the TUI has ended too.
    pub fn shown_command(&self, command: String) -> String {
        match &self.prelude {
            Some(p) => format!("{p} && {command}"),
            None => command,
        }
    }
}

/// Column table orders (`s` cycles, `S` reverses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnSort {
    File,
    Name,
    Type,
    Missing,
    Infinite,
    Kernel,
}

impl ColumnSort {
    pub fn next(self) -> Self {
        match self {
            ColumnSort::File => ColumnSort::Name,
            ColumnSort::Name => ColumnSort::Type,
            ColumnSort::Type => ColumnSort::Missing,
            ColumnSort::Missing => ColumnSort::Infinite,
            ColumnSort::Infinite => ColumnSort::Kernel,
            ColumnSort::Kernel => ColumnSort::File,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ColumnSort::File => "file order",
            ColumnSort::Name => "name",
            ColumnSort::Type => "type",
            ColumnSort::Missing => "missing",
            ColumnSort::Infinite => "NaN/inf",
            ColumnSort::Kernel => "kernel feature",
        }
    }
}

/// A background job's progress, as the tabs show it.
#[derive(Debug, Clone, PartialEq)]
pub enum JobStatus {
    Idle,
    Running { stage: String, fraction: f64 },
    Failed(String),
    Done,
}

pub struct DataState {
    pub status: JobStatus,
    /// Loaded datasets (tables and captures each become one); `active` feeds Pitfalls and Train.
    pub sets: Vec<Arc<Loaded>>,
    /// Failures of single datasets (the others still load).
    pub errors: Vec<String>,
    pub active: usize,
    pub sort: ColumnSort,
    pub desc: bool,
    /// Indices into the active summary's columns, in table order.
    pub order: Vec<usize>,
    pub selected: usize,
    pub offset: usize,
    /// The generation of the newest load request; older results are ignored.
    pub generation: u64,
}

impl Default for DataState {
    fn default() -> Self {
        DataState {
            status: JobStatus::Idle,
            sets: Vec::new(),
            errors: Vec::new(),
            active: 0,
            sort: ColumnSort::File,
            desc: false,
            order: Vec::new(),
            selected: 0,
            offset: 0,
            generation: 0,
        }
    }
}

impl DataState {
    pub fn current(&self) -> Option<&Arc<Loaded>> {
        self.sets.get(self.active)
    }

    /// Recomputes the column order for the active dataset and the chosen sort.
    pub fn reorder(&mut self) {
        let Some(set) = self.sets.get(self.active) else {
            self.order.clear();
            return;
        };
        let cols = &set.summary.columns;
        let mut order: Vec<usize> = (0..cols.len()).collect();
        // Stable sorts on a key, file order breaking ties: the same data always gives the same table.
        match self.sort {
            ColumnSort::File => {}
            ColumnSort::Name => {
                order.sort_by(|&a, &b| cols[a].name.to_lowercase().cmp(&cols[b].name.to_lowercase()));
            }
            ColumnSort::Type => order.sort_by_key(|&i| cols[i].dtype),
            // Largest counts first when not reversed: that is what one looks for.
            ColumnSort::Missing => order.sort_by_key(|&i| std::cmp::Reverse(cols[i].missing)),
            ColumnSort::Infinite => order.sort_by_key(|&i| std::cmp::Reverse(cols[i].infinite)),
            ColumnSort::Kernel => {
                order.sort_by_key(|&i| (cols[i].kernel_feature.is_none(), cols[i].kernel_feature));
            }
        }
        if self.desc {
            order.reverse();
        }
        self.order = order;
        self.clamp(usize::MAX);
    }

    /// Keeps the selection inside the table and visible in a window of `page` rows.
    pub fn clamp(&mut self, page: usize) {
        let n = self.order.len();
        self.selected = self.selected.min(n.saturating_sub(1));
        let page = page.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if page != usize::MAX && self.selected >= self.offset + page {
            self.offset = self.selected + 1 - page;
        }
        if page != usize::MAX {
            self.offset = self.offset.min(n.saturating_sub(page));
        }
    }

    pub fn move_by(&mut self, delta: isize, page: usize) {
        self.selected = self.selected.saturating_add_signed(delta);
        self.clamp(page);
    }
}
