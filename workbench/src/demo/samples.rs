//! The demo's traffic and its ground truth: `sample-pcaps/honest.pcap` with `labels-honest.csv`
//! (from `--samples DIR`, `./sample-pcaps`, or generated with the default seed when neither is
//! there: the generator is deterministic and the committed files are what it writes), the
//! training table built from them by the probe's own code, and the model trained on it with the
//! same `train::train` as `workbench train`.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use color_eyre::eyre::{bail, eyre, Result, WrapErr};
use serde::Serialize;
use shared::abi::ProbeConfig;
use shared::features::FEATURES;

use workbench_data::train::{self, Dataset, ModelKind, SplitKind, TrainOptions, Trained};
use workbench_flow::capture::unique;
use workbench_flow::flowfmt::proto_name;
use workbench_flow::gen::{self, Variant};
use workbench_flow::twin::Twin;
use workbench_kernel::flows::FlowRecord;

/// The sample variant the demo replays: its attacks come from the same hosts as benign traffic,
/// so the model cannot lean on an address or a TTL (sample-pcaps/README.md).
pub const VARIANT: Variant = Variant::Honest;
/// The scenario the demo's story is about (the tmux test waits for it).
pub const FLOOD_SCENARIO: &str = "syn_flood";

/// The capture and labels file the demo uses.
#[derive(Debug, Clone, Serialize)]
pub struct Samples {
    pub pcap: PathBuf,
    pub labels: PathBuf,
    /// True when they were generated (into the demo's cache folder, where they outlive it for
    /// the commands it prints).
    pub generated: bool,
}

/// Finds the sample capture: `dir` when given (it must hold the files), else `./sample-pcaps`,
/// else generates it into `keep` (unless an identical copy is there).
pub fn locate(dir: Option<&Path>, keep: &Path) -> Result<Samples> {
    let (pcap_name, labels_name) = gen::file_names(VARIANT);
    let in_dir = |d: &Path| Samples {
        pcap: d.join(&pcap_name),
        labels: d.join(&labels_name),
        generated: false,
    };
    if let Some(d) = dir {
        let s = in_dir(d);
        for f in [&s.pcap, &s.labels] {
            if !f.is_file() {
                bail!(
                    "{}: missing; --samples DIR must hold {pcap_name} and {labels_name} (write them with `workbench gen-pcaps -o DIR`)",
                    f.display()
                );
            }
        }
        return Ok(s);
    }
    let s = in_dir(Path::new("sample-pcaps"));
    if s.pcap.is_file() && s.labels.is_file() {
        return Ok(s);
    }
    let data = gen::generate(VARIANT, gen::DEFAULT_SEED);
    let s = Samples {
        generated: true,
        ..in_dir(keep)
    };
    for (path, bytes) in [
        (&s.pcap, data.pcap_bytes()),
        (&s.labels, data.labels_csv().into_bytes()),
    ] {
        if std::fs::read(path).is_ok_and(|b| b == bytes) {
            continue;
        }
        super::embedded::write_whole(path, |tmp| {
            std::fs::write(tmp, &bytes).wrap_err_with(|| format!("writing {}", path.display()))
        })?;
    }
    Ok(s)
}

/// A flow oriented from its initiator: (src, sport, dst, dport, protocol name), the way both the
/// labels file and the probe's flow records (`FlowRecord`) orient it.
pub type Tuple = (IpAddr, u16, IpAddr, u16, &'static str);

pub fn tuple_of(r: &FlowRecord) -> Tuple {
    (r.src, r.src_port, r.dst, r.dst_port, r.proto)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowTruth {
    pub label: String,
    pub scenario: String,
    pub first_ts_ns: u64,
}

impl FlowTruth {
    pub fn malicious(&self) -> bool {
        self.label != gen::BENIGN
    }
}

/// Ground truth per flow, from a labels file of `workbench gen-pcaps`.
#[derive(Debug, Clone, Default)]
pub struct Truth {
    pub flows: HashMap<Tuple, FlowTruth>,
    /// The labelled initiators by what the replay loop keeps of a flow (source port, responder,
    /// its port, protocol): a replayed flow's label is found through its shifted initiator.
    initiators: HashMap<(u16, IpAddr, u16, &'static str), Vec<IpAddr>>,
}

const LABELS_HEADER: &str = "src,sport,dst,dport,proto,first_ts_ns,last_ts_ns,label,scenario,variant";

impl Truth {
    /// Reads a labels file; a bad line fails with its file, line number and what was expected.
    pub fn read(path: &Path) -> Result<Truth> {
        let name = path.display();
        let text = std::fs::read_to_string(path).wrap_err_with(|| format!("reading labels file {name}"))?;
        let mut lines = text.lines();
        match lines.next() {
            Some(h) if h.trim_end() == LABELS_HEADER => {}
            other => bail!(
                "{name}:1: expected the header `{LABELS_HEADER}` of a `workbench gen-pcaps` labels file, found {:?}",
                other.unwrap_or("")
            ),
        }
        let mut flows = HashMap::new();
        for (i, line) in lines.enumerate() {
            let n = i + 2;
            if line.trim().is_empty() {
                continue;
            }
            let c: Vec<&str> = line.split(',').collect();
            if c.len() != 10 {
                bail!(
                    "{name}:{n}: expected 10 comma-separated fields, found {}",
                    c.len()
                );
            }
            let bad = |field: &str, what: &str| eyre!("{name}:{n}: `{field}` is not {what}: {line:?}");
            let ip = |k: usize, f: &str| c[k].parse::<IpAddr>().map_err(|_| bad(f, "an IP address"));
            let port = |k: usize, f: &str| c[k].parse::<u16>().map_err(|_| bad(f, "a port (0-65535)"));
            let proto = c[4]
                .parse::<u8>()
                .map_err(|_| bad("proto", "an IP protocol number"))?;
            let first_ts_ns = c[5]
                .parse::<u64>()
                .map_err(|_| bad("first_ts_ns", "nanoseconds"))?;
            let tuple = (
                ip(0, "src")?,
                port(1, "sport")?,
                ip(2, "dst")?,
                port(3, "dport")?,
                proto_name(proto),
            );
            let truth = FlowTruth {
                label: c[7].to_string(),
                scenario: c[8].to_string(),
                first_ts_ns,
            };
            if flows.insert(tuple, truth).is_some() {
                bail!("{name}:{n}: a second row for the flow {:?}", &c[..5]);
            }
        }
        if flows.is_empty() {
            bail!("{name}: no flows after the header");
        }
        let mut initiators: HashMap<_, Vec<IpAddr>> = HashMap::new();
        for (src, sport, dst, dport, proto) in flows.keys() {
            initiators
                .entry((*sport, *dst, *dport, *proto))
                .or_default()
                .push(*src);
        }
        Ok(Truth { flows, initiators })
    }

    /// The label of a flow the probe (or the twin) shows: of the captured flow itself, or, for
    /// a later pass of the replay loop, of the captured flow whose initiator the loop moved
    /// (`capture::unique`: same ports, responder and protocol; the initiator's address `pass x
    /// 65,536` further; the earliest such pass wins).
    pub fn of(&self, r: &FlowRecord) -> Option<&FlowTruth> {
        self.of_tuple(tuple_of(r))
    }

    /// [`Truth::of`] for a flow given by its initiator-oriented tuple.
    pub fn of_tuple(&self, tuple: Tuple) -> Option<&FlowTruth> {
        if let Some(t) = self.flows.get(&tuple) {
            return Some(t);
        }
        let (src, sport, dst, dport, proto) = tuple;
        let original = self
            .initiators
            .get(&(sport, dst, dport, proto))?
            .iter()
            .filter_map(|&o| unique::passes_between(o, src).map(|pass| (pass, o)))
            .min()?
            .1;
        self.flows.get(&(original, sport, dst, dport, proto))
    }
}

/// Features the demo model may use: everything but time. The demo replays the capture faster
/// than it was recorded (`--speed`), so durations, gaps and rates in the kernel are not the
/// capture's; counts, sizes, flags and ports are the same at any speed.
pub fn speed_independent_features() -> Vec<usize> {
    FEATURES
        .iter()
        .enumerate()
        .filter(|(_, f)| f.unit != "us" && !f.unit.ends_with("/s"))
        .map(|(i, _)| i)
        .collect()
}

/// One row per labelled flow of the capture: its features at its last packet, computed by the
/// probe's own flow update (the twin), as `workbench features` does by default.
pub fn training_table(pcap: &Path, truth: &Truth) -> Result<Dataset> {
    let mut twin = Twin::new(ProbeConfig::default(), None, None);
    for packet in workbench_flow::capture::open(pcap, false)? {
        let packet = packet?;
        // Frames the parser refuses (none in the samples) are not flows: the probe skips them too.
        if let Ok(parsed) = packet.parse() {
            twin.packet(&parsed, packet.ts_ns);
        }
    }
    let mut rows: Vec<(u64, Tuple, &FlowTruth, shared::features::FeatureVector)> = Vec::new();
    let mut unlabelled = 0;
    for (key, entry) in &twin.flows {
        let record = FlowRecord::from_entry(key, entry);
        match truth.of(&record) {
            Some(t) => rows.push((t.first_ts_ns, tuple_of(&record), t, entry.state.features())),
            None => unlabelled += 1,
        }
    }
    if unlabelled > 0 || rows.len() != truth.flows.len() {
        bail!(
            "{}: {} flows without a label and {} labelled flows not in the capture: the labels file belongs to another capture",
            pcap.display(),
            unlabelled,
            truth.flows.len().saturating_sub(rows.len())
        );
    }
    // In time order, so that the table (and the time split) does not depend on hash order.
    rows.sort_by_key(|r| (r.0, r.1));
    let mut ds = Dataset::default();
    for (ts, tuple, t, features) in rows {
        ds.features.push(features);
        ds.malicious.push(t.malicious());
        ds.class.push(t.label.clone());
        ds.time_ns.push(ts as i64);
        ds.host.push(tuple.0.to_string());
    }
    Ok(ds)
}

/// The options the demo trains with (shown in the summary).
pub fn train_options() -> TrainOptions {
    TrainOptions {
        kind: ModelKind::Tree,
        max_depth: 6,
        feature_ids: speed_independent_features(),
        split: SplitKind::Host,
        ..TrainOptions::default()
    }
}

/// Trains the demo model on the samples.
pub fn train(samples: &Samples) -> Result<(Trained, Truth, BTreeMap<String, usize>)> {
    let truth = Truth::read(&samples.labels)?;
    let table = training_table(&samples.pcap, &truth)?;
    let mut classes = BTreeMap::new();
    for c in &table.class {
        *classes.entry(c.clone()).or_insert(0) += 1;
    }
    let trained = train::train(&table, &train_options())?;
    Ok((trained, truth, classes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("labels.csv");
        std::fs::write(&p, text).expect("write");
        p
    }

    #[test]
    fn a_bad_labels_line_names_file_line_and_field() {
        let dir = std::env::temp_dir().join(format!("wb-demo-labels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = write(&dir, "a,b\n");
        let e = Truth::read(&p).expect_err("bad header").to_string();
        assert!(e.contains("labels.csv:1: expected the header"), "{e}");
        let p = write(
            &dir,
            &format!("{LABELS_HEADER}\n10.0.0.1,1,10.0.0.2,80,6,5,6,BENIGN,dns,honest\n10.0.0.1,x,10.0.0.2,80,6,5,6,BENIGN,dns,honest\n"),
        );
        let e = Truth::read(&p).expect_err("bad port").to_string();
        assert!(e.contains("labels.csv:3: `sport` is not a port"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn time_features_are_left_out_and_counts_kept() {
        let ids = speed_independent_features();
        let names: Vec<&str> = ids.iter().map(|&i| FEATURES[i].name).collect();
        for gone in ["duration_us", "iat_mean_us", "bytes_per_s", "fwd_packets_per_s"] {
            assert!(!names.contains(&gone), "{gone}");
        }
        for kept in ["syn_count", "bwd_packets", "fwd_len_max", "dst_port"] {
            assert!(names.contains(&kept), "{kept}");
        }
    }
}
