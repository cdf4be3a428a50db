//! Which split a run uses: the one asked for, or (by default) the most honest one the data
//! allows, with the reason, so that training never fails for lack of a column.
//!
//! Preference: time (train on the past, test on the future), then host (no host on both
//! sides), then file (earlier files train, later ones test: CIC-IDS2017's MachineLearningCVE
//! files are days and have neither timestamps nor addresses), and random only when nothing
//! else is possible, said to be optimistic. A split qualifies when the data has what it needs
//! and both sides can be scored: the training side holds both classes, the test side attacks
//! and benign rows. A host split whose attacks all come from one host cannot be scored: one
//! side would hold every attack (a model that never saw one, or a test with none to find).
//!
//! Decision-point samples (several rows per flow) are split by flow: every split is made over
//! the flows, and a flow's rows follow it, so no flow is on both sides.

use std::borrow::Cow;

use serde::Serialize;

use super::split::{self, Split, SplitKind};
use super::Dataset;

/// Auto's order of preference.
pub const PREFERENCE: [SplitKind; 4] = [
    SplitKind::Time,
    SplitKind::Host,
    SplitKind::File,
    SplitKind::Random,
];

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SplitOption {
    pub split: SplitKind,
    pub usable: bool,
    /// What the split does on this data, or why it cannot be used.
    pub why: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SplitChoice {
    pub split: SplitKind,
    /// Picked by `--split auto` (the default) rather than asked for.
    pub automatic: bool,
    /// Which split, and why, in words.
    pub reason: String,
    /// Every split looked at (auto), in order of preference.
    pub considered: Vec<SplitOption>,
    /// Why a side of this split lacks a class (its precision, recall and F1 then measure the
    /// split, not the model): `train` writes no model then unless asked to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub one_class_side: Option<String>,
    /// Splits that leave both classes on both sides of this data, in order of preference.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_work: Vec<SplitKind>,
}

/// What to do when a split leaves one class on a side: the first split of `would_work`, or what
/// the data lacks (`automatic`: the split was picked by `--split auto`, so none works at all).
pub fn use_instead(would_work: &[SplitKind], automatic: bool) -> String {
    match would_work.first() {
        Some(k) => format!(
            "use --split {} (it leaves both classes on both sides of this data)",
            k.name()
        ),
        None if automatic => "no split of this data leaves both classes on both sides: add rows of the missing class (more files, a longer capture)".to_string(),
        None => "no other split leaves both classes on both sides either: add rows of the missing class".to_string(),
    }
}

/// The splits of `ds` whose both sides can be scored, in order of preference.
fn scorable_splits(ds: &Dataset, test_share: f64, seed: u64) -> Vec<SplitKind> {
    PREFERENCE
        .into_iter()
        .filter(|&k| split_rows(ds, k, test_share, seed).is_ok_and(|s| scorable(ds, &s).is_ok()))
        .collect()
}

/// The unit a split assigns: a row, or a flow (decision-point samples). Rows borrow the
/// dataset's columns (millions of rows are not copied for each split looked at).
struct Units<'a> {
    /// Per unit: its rows (None: unit i is row i).
    rows: Option<Vec<Vec<usize>>>,
    time_ns: Cow<'a, [i64]>,
    host: Cow<'a, [String]>,
    file: Cow<'a, [u32]>,
    malicious: Cow<'a, [bool]>,
}

/// `v` if it has a value per row, else nothing.
fn per_row<T: Clone>(v: &[T], n: usize) -> Cow<'_, [T]> {
    if v.len() == n {
        Cow::Borrowed(v)
    } else {
        Cow::Owned(Vec::new())
    }
}

impl<'a> Units<'a> {
    fn of(ds: &'a Dataset) -> Units<'a> {
        // Rows are counted by their labels: a dataset-feature run has no kernel vectors.
        let n = ds.malicious.len();
        if !ds.is_decision_points() {
            return Units {
                rows: None,
                time_ns: per_row(&ds.time_ns, n),
                host: per_row(&ds.host, n),
                file: per_row(&ds.file, n),
                malicious: Cow::Borrowed(&ds.malicious),
            };
        }
        let flows = ds.flow.iter().map(|&f| f as usize + 1).max().unwrap_or(0);
        let mut rows = vec![Vec::new(); flows];
        for (i, &f) in ds.flow.iter().enumerate() {
            rows[f as usize].push(i);
        }
        rows.retain(|r| !r.is_empty());
        let first = |r: &Vec<usize>| r[0];
        let time_ns = if ds.time_ns.len() == n {
            rows.iter()
                .map(|r| r.iter().map(|&i| ds.time_ns[i]).min().unwrap_or(0))
                .collect()
        } else {
            Vec::new()
        };
        let host = if ds.host.len() == n {
            rows.iter().map(|r| ds.host[first(r)].clone()).collect()
        } else {
            Vec::new()
        };
        let file = if ds.file.len() == n {
            rows.iter().map(|r| ds.file[first(r)]).collect()
        } else {
            Vec::new()
        };
        Units {
            time_ns: Cow::Owned(time_ns),
            host: Cow::Owned(host),
            file: Cow::Owned(file),
            malicious: Cow::Owned(rows.iter().map(|r| ds.malicious[first(r)]).collect()),
            rows: Some(rows),
        }
    }

    fn len(&self) -> usize {
        self.malicious.len()
    }

    /// A split of units as a split of rows.
    fn rows_of(&self, s: Split) -> Split {
        let Some(rows) = &self.rows else { return s };
        let expand = |units: &[usize]| {
            let mut out: Vec<usize> = units.iter().flat_map(|&u| rows[u].iter().copied()).collect();
            out.sort_unstable();
            out
        };
        Split {
            train: expand(&s.train),
            test: expand(&s.test),
        }
    }
}

fn noun(ds: &Dataset) -> &'static str {
    if ds.is_decision_points() {
        "flows"
    } else {
        "rows"
    }
}

/// Why the data allows no split of the kind asked for (or none that can be scored), in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{why}")]
pub struct SplitRefused {
    pub why: String,
}

impl From<String> for SplitRefused {
    fn from(why: String) -> Self {
        SplitRefused { why }
    }
}

impl From<&str> for SplitRefused {
    fn from(why: &str) -> Self {
        why.to_string().into()
    }
}

/// The rows of each side under `kind`, or why the data does not allow it.
pub fn split_rows(ds: &Dataset, kind: SplitKind, test_share: f64, seed: u64) -> Result<Split, SplitRefused> {
    let u = Units::of(ds);
    let n = u.len();
    let what = noun(ds);
    let s = match kind {
        SplitKind::Random => split::random(n, test_share, seed),
        SplitKind::Time => {
            if u.time_ns.len() != n {
                return Err(match &ds.untimed {
                    Some(row) => format!("a time split needs a timestamp per row; {row}").into(),
                    None => "a time split needs a timestamp per row; the data has none".into(),
                });
            }
            split::by_time(&u.time_ns, test_share)
        }
        SplitKind::Host => {
            if u.host.len() != n {
                return Err(
                    "a host split needs the source host of each row; the data has no address column".into(),
                );
            }
            let mut attackers: Vec<&str> = u
                .host
                .iter()
                .zip(u.malicious.iter())
                .filter(|(_, &m)| m)
                .map(|(h, _)| h.as_str())
                .collect();
            let attack_units = attackers.len();
            attackers.sort_unstable();
            attackers.dedup();
            if let [only] = attackers.as_slice() {
                return Err(format!(
                    "all {attack_units} attack {what} come from one host ({only}): a host split puts every attack on one side, so one side has no attack to learn or to find (F1 0 would measure the split, not the model)"
                )
                .into());
            }
            split::by_host(&u.host, test_share, seed).map_err(|e| e.to_string())?
        }
        SplitKind::File => {
            if u.file.len() != n {
                return Err("a file split needs each row's source file".into());
            }
            split::by_file(&u.file, test_share).map_err(|e| e.to_string())?
        }
    };
    Ok(u.rows_of(s))
}

/// Whether both sides of `s` can be scored: the training side holds both classes, the test
/// side at least one attack and one benign row. `Err` says which side lacks what.
fn scorable(ds: &Dataset, s: &Split) -> Result<(), String> {
    let attacks = |rows: &[usize]| rows.iter().filter(|&&i| ds.malicious[i]).count();
    let (train_attacks, test_attacks) = (attacks(&s.train), attacks(&s.test));
    if s.train.is_empty() || s.test.is_empty() {
        return Err("one side is empty".into());
    }
    if train_attacks == 0 {
        return Err("its training side holds no attack".into());
    }
    if train_attacks == s.train.len() {
        return Err("its training side holds no benign row".into());
    }
    if test_attacks == 0 {
        return Err("its test side holds no attack".into());
    }
    if test_attacks == s.test.len() {
        return Err("its test side holds no benign row".into());
    }
    Ok(())
}

/// What a usable split does, in words.
fn what_it_does(ds: &Dataset, kind: SplitKind, s: &Split, files: &[String]) -> String {
    let what = noun(ds);
    // Shares of units: flows for decision-point samples, rows otherwise.
    let units = |rows: &[usize]| {
        if ds.is_decision_points() {
            let mut f: Vec<u32> = rows.iter().map(|&i| ds.flow[i]).collect();
            f.sort_unstable();
            f.dedup();
            f.len()
        } else {
            rows.len()
        }
    };
    let total = units(&s.train) + units(&s.test);
    let share = |rows: &[usize]| 100.0 * units(rows) as f64 / total.max(1) as f64;
    match kind {
        SplitKind::Time => format!(
            "the data has a timestamp per row: train on the earliest {what} ({:.0}%), test on the latest ({:.0}%): flows that came after every training row (later flows of the same attacks, too)",
            share(&s.train),
            share(&s.test)
        ),
        SplitKind::Host => {
            let mut hosts: Vec<&str> = s.test.iter().map(|&i| ds.host[i].as_str()).collect();
            hosts.sort_unstable();
            hosts.dedup();
            format!(
                "the data names each row's source host: {} hosts test ({:.0}% of the {what}), none of them seen in training",
                hosts.len(),
                share(&s.test)
            )
        }
        SplitKind::File => {
            let mut test_files: Vec<u32> = s.test.iter().map(|&i| ds.file[i]).collect();
            test_files.sort_unstable();
            test_files.dedup();
            let names: Vec<&str> = test_files
                .iter()
                .filter_map(|&f| files.get(f as usize).map(|n| short(n)))
                .collect();
            format!(
                "{} files in time order: train on the earlier ones, test on the later ({}; {:.0}% of the {what})",
                files.len(),
                names.join(", "),
                share(&s.test)
            )
        }
        SplitKind::Random => format!(
            "{:.0}% of the {what} at random: near-identical {what} land on both sides, so the score is optimistic",
            share(&s.test)
        ),
    }
}

/// A file's name without its folders.
fn short(name: &str) -> &str {
    name.rsplit(['/', ':']).next().unwrap_or(name)
}

/// The split a run uses: `requested` if given (an error when the data cannot do it), else the
/// most honest split the data allows (see the module comment), with the reason.
pub fn choose(
    ds: &Dataset,
    requested: Option<SplitKind>,
    test_share: f64,
    seed: u64,
) -> Result<SplitChoice, SplitRefused> {
    if let Some(kind) = requested {
        let s = split_rows(ds, kind, test_share, seed)
            .map_err(|why| format!("--split {}: {why}", kind.name()))?;
        let mut reason = format!(
            "{} (asked for): {}",
            kind.name(),
            what_it_does(ds, kind, &s, &ds.files)
        );
        let one_class_side = scorable(ds, &s).err();
        if let Some(why) = &one_class_side {
            reason.push_str(&format!("; note: {why}, so its scores say little"));
        }
        let would_work = if one_class_side.is_some() {
            scorable_splits(ds, test_share, seed)
        } else {
            Vec::new()
        };
        // A training side of one class trains nothing (unlike a one-class test side, which
        // `--allow-one-class-split` accepts): refused here, with the split that works.
        let train_attacks = s.train.iter().filter(|&&i| ds.malicious[i]).count();
        if train_attacks == 0 || train_attacks == s.train.len() {
            return Err(format!(
                "--split {}: its training side holds {train_attacks} malicious of {} {}, and a model learns nothing from one class (--allow-one-class-split cannot help: it accepts a one-class test side); {}",
                kind.name(),
                s.train.len(),
                noun(ds),
                use_instead(&would_work, false)
            )
            .into());
        }
        return Ok(SplitChoice {
            split: kind,
            automatic: false,
            reason,
            considered: Vec::new(),
            one_class_side,
            would_work,
        });
    }
    let mut considered = Vec::new();
    let mut chosen = None;
    for kind in PREFERENCE {
        let option = match split_rows(ds, kind, test_share, seed) {
            Err(refused) => SplitOption {
                split: kind,
                usable: false,
                why: refused.why,
            },
            Ok(s) => match scorable(ds, &s) {
                Ok(()) => SplitOption {
                    split: kind,
                    usable: true,
                    why: what_it_does(ds, kind, &s, &ds.files),
                },
                Err(why) => SplitOption {
                    split: kind,
                    usable: false,
                    why: format!("the data allows it, but {why}"),
                },
            },
        };
        if option.usable && chosen.is_none() {
            chosen = Some(kind);
        }
        considered.push(option);
    }
    // Nothing scorable: random still trains (both classes in the data), and says so.
    let split = chosen.unwrap_or(SplitKind::Random);
    let mut reason = format!("{} (the most honest split this data allows)", split.name());
    for o in &considered {
        if o.split == split {
            reason.push_str(&format!(": {}", o.why));
            break;
        }
        reason.push_str(&format!("; not {}: {}", o.split.name(), o.why));
    }
    if split == SplitKind::Random {
        let passed_over: Vec<String> = considered
            .iter()
            .filter(|o| o.split != SplitKind::Random)
            .map(|o| format!("{}: {}", o.split.name(), o.why))
            .collect();
        reason = format!(
            "random, because no honest split works on this data ({}); a random split puts near-identical {} on both sides, so its score is optimistic",
            passed_over.join("; "),
            noun(ds)
        );
    }
    // Nothing scorable: random's own reason says which side lacks what.
    let one_class_side = chosen.is_none().then(|| {
        considered
            .iter()
            .find(|o| o.split == SplitKind::Random)
            .map_or_else(
                || "no split can be scored".to_string(),
                |o| o.why.trim_start_matches("the data allows it, but ").to_string(),
            )
    });
    Ok(SplitChoice {
        split,
        automatic: true,
        reason,
        considered,
        one_class_side,
        would_work: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::flows::DecidedAt;

    /// 40 flows of 1-6 decision points; each attack from a host of its own, in two files.
    fn samples() -> Dataset {
        let mut ds = Dataset::default();
        for f in 0..40u32 {
            let attack = f % 3 == 0;
            for k in 1..=(1 + f % 6) {
                ds.features.push([i64::from(k); shared::features::FEATURE_COUNT]);
                ds.malicious.push(attack);
                ds.class.push(if attack { "A" } else { "BENIGN" }.into());
                ds.time_ns.push(i64::from(f) * 1000 + i64::from(k));
                ds.host.push(if attack {
                    format!("10.0.1.{f}")
                } else {
                    format!("10.0.0.{}", 10 + f % 7)
                });
                ds.file.push(u32::from(f >= 25));
                ds.flow.push(f);
                ds.weight.push(1.0 / f64::from(1 + f % 6));
                ds.decided_at.push(DecidedAt {
                    packet: k,
                    elapsed_us: u64::from(k),
                });
            }
        }
        ds.files = vec!["day1.csv".into(), "day2.csv".into()];
        ds
    }

    #[test]
    fn no_flow_is_on_both_sides_of_any_split() {
        let ds = samples();
        for kind in PREFERENCE {
            let s = split_rows(&ds, kind, 0.3, 1).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            let train: std::collections::HashSet<u32> = s.train.iter().map(|&i| ds.flow[i]).collect();
            let test: std::collections::HashSet<u32> = s.test.iter().map(|&i| ds.flow[i]).collect();
            assert!(train.is_disjoint(&test), "{kind:?}: a flow on both sides");
            assert_eq!(
                s.train.len() + s.test.len(),
                ds.features.len(),
                "{kind:?}: every row once"
            );
            assert!(!test.is_empty() && !train.is_empty(), "{kind:?}");
        }
        // Per flow, not per row: the time split tests on the latest flows, whole.
        let s = split_rows(&ds, SplitKind::Time, 0.3, 1).expect("time");
        let test: std::collections::BTreeSet<u32> = s.test.iter().map(|&i| ds.flow[i]).collect();
        assert_eq!(test, (28..40).collect());
    }

    #[test]
    fn auto_prefers_time_then_host_then_file_and_says_why() {
        let mut ds = samples();
        let c = choose(&ds, None, 0.3, 1).expect("choice");
        assert_eq!(c.split, SplitKind::Time);
        assert!(
            c.automatic && c.reason.starts_with("time (the most honest"),
            "{}",
            c.reason
        );
        ds.time_ns.clear();
        let c = choose(&ds, None, 0.3, 1).expect("choice");
        assert_eq!(c.split, SplitKind::Host, "{}", c.reason);
        assert!(
            c.reason.contains("not time: a time split needs a timestamp"),
            "{}",
            c.reason
        );
        // One attacker host: the host split says so and the file split is next.
        for (h, &m) in ds.host.iter_mut().zip(&ds.malicious) {
            if m {
                *h = "10.0.0.1".into();
            }
        }
        let c = choose(&ds, None, 0.3, 1).expect("choice");
        assert_eq!(c.split, SplitKind::File, "{}", c.reason);
        assert!(c.reason.contains("come from one host (10.0.0.1)"), "{}", c.reason);
        assert!(c.reason.contains("day2.csv"), "{}", c.reason);
        let e = choose(&ds, Some(SplitKind::Host), 0.3, 1).expect_err("one attacker host");
        assert!(
            e.why
                .starts_with("--split host: all 14 attack flows come from one host"),
            "{e}"
        );
        // Nothing honest left: random, and it says it is optimistic.
        ds.file.clear();
        let c = choose(&ds, None, 0.3, 1).expect("choice");
        assert_eq!(c.split, SplitKind::Random);
        assert!(
            c.reason.contains("optimistic") && c.reason.contains("file: a file split needs"),
            "{}",
            c.reason
        );
    }
}
