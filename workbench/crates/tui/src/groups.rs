//! Several table files given to the TUI, sorted into datasets: files of one layout (the same
//! columns, as `dataset::layout` reads them from the header or schema) are one dataset, as
//! `workbench inspect` reads several files; files of different layouts are datasets of their
//! own, side by side (`n` moves between them), where stacking them would fail. A folder whose
//! files do not share one layout is split the same way, with a note that says so.

use std::path::{Path, PathBuf};

use workbench_data::dataset::layout;

/// Tables to load together as one dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableGroup {
    /// The files, or the folder or zip archive as given when all of it is this group.
    pub paths: Vec<PathBuf>,
    /// What the Data tab calls it.
    pub name: String,
    /// Why this is not the whole of what was given as one (a folder of several layouts).
    pub note: Option<String>,
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().to_string())
}

fn is_zip(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

/// The tables of a folder, as the loader lists them (its .csv, .txt, .parquet and .zip files,
/// by name); empty if it lists none.
fn folder_tables(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| {
            f.is_file()
                && f.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    ["csv", "parquet", "txt", "zip"].contains(&e.to_ascii_lowercase().as_str())
                })
        })
        .collect();
    found.sort();
    found
}

/// One file to place: where it came from (the index of the path given) and its layout (None:
/// unknown, so it stays alone and its load names what is wrong).
struct Unit {
    arg: usize,
    file: PathBuf,
    key: Option<Vec<String>>,
}

/// Groups the table paths given (files, folders, zip archives) into datasets, in the order
/// given.
pub fn group(paths: &[PathBuf]) -> Vec<TableGroup> {
    let mut units = Vec::new();
    // Files each folder given holds (to give the folder back when it is one whole group).
    let mut folder_sizes = vec![0usize; paths.len()];
    for (arg, p) in paths.iter().enumerate() {
        let files = if p.is_dir() { folder_tables(p) } else { Vec::new() };
        if files.is_empty() {
            // A file, a zip archive (read whole: its entries are one dataset), or a folder with
            // nothing to read (its load says so).
            let key = (p.is_file() && !is_zip(p))
                .then(|| layout::columns(p).ok().map(|c| layout::key(&c)))
                .flatten();
            units.push(Unit {
                arg,
                file: p.clone(),
                key,
            });
            continue;
        }
        folder_sizes[arg] = files.len();
        for f in files {
            let key = (!is_zip(&f))
                .then(|| layout::columns(&f).ok().map(|c| layout::key(&c)))
                .flatten();
            units.push(Unit { arg, file: f, key });
        }
    }
    // Same layout, same group, in order of first appearance.
    let mut members: Vec<Vec<usize>> = Vec::new();
    let mut keys: Vec<Option<&Vec<String>>> = Vec::new();
    for (i, u) in units.iter().enumerate() {
        match u
            .key
            .as_ref()
            .and_then(|k| keys.iter().position(|g| *g == Some(k)))
        {
            Some(g) => members[g].push(i),
            None => {
                members.push(vec![i]);
                keys.push(u.key.as_ref());
            }
        }
    }
    // How many groups each folder's files went to.
    let mut folder_groups = vec![0usize; paths.len()];
    for m in &members {
        let mut args: Vec<usize> = m.iter().map(|&i| units[i].arg).collect();
        args.dedup();
        for a in args {
            if folder_sizes[a] > 0 {
                folder_groups[a] += 1;
            }
        }
    }
    members
        .iter()
        .map(|m| {
            let first = &units[m[0]];
            let whole_folder = folder_sizes[first.arg] > 0
                && m.len() == folder_sizes[first.arg]
                && m.iter().all(|&i| units[i].arg == first.arg);
            let (paths_out, name) = if whole_folder {
                let dir = &paths[first.arg];
                (vec![dir.clone()], file_name(dir))
            } else {
                let files: Vec<PathBuf> = m.iter().map(|&i| units[i].file.clone()).collect();
                let name = match files.len() {
                    1 => file_name(&files[0]),
                    n => format!("{} +{} more", file_name(&files[0]), n - 1),
                };
                (files, name)
            };
            let split: Vec<String> = m
                .iter()
                .map(|&i| units[i].arg)
                .filter(|&a| folder_groups[a] > 1)
                .map(|a| (a, &paths[a]))
                .fold(Vec::new(), |mut acc: Vec<(usize, &PathBuf)>, x| {
                    if !acc.iter().any(|(a, _)| *a == x.0) {
                        acc.push(x);
                    }
                    acc
                })
                .into_iter()
                .map(|(a, dir)| {
                    format!(
                        "{} holds files of {} different layouts (columns), so it is not one dataset: each layout is a dataset of its own (n: next)",
                        dir.display(),
                        folder_groups[a]
                    )
                })
                .collect();
            TableGroup {
                paths: paths_out,
                name,
                note: (!split.is_empty()).then(|| split.join("; ")),
            }
        })
        .collect()
}
