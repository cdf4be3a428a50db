//! `gen-pcaps`: deterministic captures with known ground truth, so a demo or a class needs no
//! attack traffic of its own.
//!
//! Two variants of the same scenarios, made by the same code. *naive* leaks the label the way
//! many public datasets do: each attack type runs once, in a time window of its own, from a
//! machine of an attacker subnet whose TTL no benign host has. *honest* draws attackers from the
//! benign hosts' address range and OS mix and splits each attack type into campaigns spread over
//! the capture. Both hold flows that look like the other class (`busy`, `connect`: failed and
//! checked connections, resolvers, NTP, long polls; connect() scans, floods that complete their
//! handshakes, reflectors that do not amplify), so an honest split scores well but not perfectly.
//! A model that looks perfect on naive under a random split and falls under a time split learned
//! the leak, not the attack (sample-pcaps/README.md has the numbers).
//!
//! Everything derives from one ChaCha8 stream per variant (seed, stream = variant), so a seed
//! gives byte-identical files. Addresses come only from 10.0.0.0/8 and the documentation and
//! benchmarking ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 198.18.0.0/15).

mod attacks;
mod benign;
mod busy;
mod connect;
mod payload;
mod pcapw;
mod session;
pub mod vlan;
mod world;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use session::Gen;
use world::World;

/// The seed of the captures committed under `sample-pcaps/`.
pub const DEFAULT_SEED: u64 = 2026;

/// Capture start: Monday 2026-01-05 09:00:00 UTC.
const START_NS: u64 = 1_767_603_600 * 1_000_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    Naive,
    Honest,
}

impl Variant {
    pub const ALL: [Variant; 2] = [Variant::Naive, Variant::Honest];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Naive => "naive",
            Variant::Honest => "honest",
        }
    }
}

/// Ground truth of one flow: its label (`BENIGN` or the attack) and the scenario that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label {
    pub label: &'static str,
    pub scenario: &'static str,
}

pub const BENIGN: &str = "BENIGN";

/// One frame and its capture time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedFrame {
    pub ts_ns: u64,
    pub data: Vec<u8>,
}

/// One labelled flow, oriented from its initiator (the sender of its first packet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowLabel {
    pub src: Ipv4Addr,
    pub sport: u16,
    pub dst: Ipv4Addr,
    pub dport: u16,
    pub proto: u8,
    pub first_ts_ns: u64,
    pub last_ts_ns: u64,
    pub label: Label,
}

/// A generated capture: frames in time order and one label per flow.
pub struct Dataset {
    pub variant: Variant,
    pub frames: Vec<TimedFrame>,
    pub flows: Vec<FlowLabel>,
}

impl Dataset {
    pub fn pcap_bytes(&self) -> Vec<u8> {
        pcapw::to_bytes(&self.frames)
    }

    /// The labels file: a header line, then one row per flow in order of first packet.
    pub fn labels_csv(&self) -> String {
        let mut out =
            String::from("src,sport,dst,dport,proto,first_ts_ns,last_ts_ns,label,scenario,variant\n");
        for f in &self.flows {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{}",
                f.src,
                f.sport,
                f.dst,
                f.dport,
                f.proto,
                f.first_ts_ns,
                f.last_ts_ns,
                f.label.label,
                f.label.scenario,
                self.variant.name()
            );
        }
        out
    }

    /// Flows per scenario.
    pub fn scenario_counts(&self) -> BTreeMap<&'static str, usize> {
        let mut m = BTreeMap::new();
        for f in &self.flows {
            *m.entry(f.label.scenario).or_insert(0) += 1;
        }
        m
    }
}

/// Generates one variant.
pub fn generate(variant: Variant, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(match variant {
        Variant::Naive => 1,
        Variant::Honest => 2,
    });
    let mut g = Gen::new(rng);
    let world = World::new(&mut g, variant);
    world.populate(&mut g);
    let mut frames = std::mem::take(&mut g.frames);
    // Stable: frames with one stamp keep the order they were made in, which within a flow is
    // the order they were sent.
    frames.sort_by_key(|f| f.ts_ns);
    for f in &mut frames {
        f.ts_ns += START_NS;
    }
    let mut flows: Vec<FlowLabel> = g
        .flows
        .into_iter()
        .filter(|f| f.first_ts_ns != u64::MAX)
        .collect();
    for f in &mut flows {
        f.first_ts_ns += START_NS;
        f.last_ts_ns += START_NS;
    }
    flows.sort_by_key(|f| f.first_ts_ns);
    Dataset {
        variant,
        frames,
        flows,
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct GenError {
    pub path: String,
    pub message: String,
}

fn fail(path: &Path, message: impl std::fmt::Display) -> GenError {
    GenError {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

#[derive(Debug, Serialize)]
pub struct FileReport {
    pub variant: Variant,
    pub pcap: String,
    pub labels: String,
    pub packets: usize,
    pub flows: usize,
    pub benign_flows: usize,
    pub attack_flows: usize,
    pub pcap_bytes: usize,
    pub scenarios: BTreeMap<&'static str, usize>,
}

#[derive(Debug, Serialize)]
pub struct GenReport {
    pub seed: u64,
    pub out_dir: String,
    pub files: Vec<FileReport>,
}

/// The file names of one variant's capture and labels inside the output directory.
pub fn file_names(variant: Variant) -> (String, String) {
    (
        format!("{}.pcap", variant.name()),
        format!("labels-{}.csv", variant.name()),
    )
}

/// Generates both variants into `dir` (created if missing) and reports what was written.
pub fn write_all(dir: &Path, seed: u64) -> Result<GenReport, GenError> {
    if dir.exists() && !dir.is_dir() {
        return Err(fail(dir, "exists and is not a directory"));
    }
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, format!("cannot create directory: {e}")))?;
    let mut files = Vec::new();
    for variant in Variant::ALL {
        let data = generate(variant, seed);
        let (pcap_name, labels_name) = file_names(variant);
        let pcap_path: PathBuf = dir.join(pcap_name);
        let labels_path: PathBuf = dir.join(labels_name);
        let pcap = data.pcap_bytes();
        std::fs::write(&pcap_path, &pcap).map_err(|e| fail(&pcap_path, format!("cannot write: {e}")))?;
        std::fs::write(&labels_path, data.labels_csv())
            .map_err(|e| fail(&labels_path, format!("cannot write: {e}")))?;
        let benign = data.flows.iter().filter(|f| f.label.label == BENIGN).count();
        files.push(FileReport {
            variant,
            pcap: pcap_path.display().to_string(),
            labels: labels_path.display().to_string(),
            packets: data.frames.len(),
            flows: data.flows.len(),
            benign_flows: benign,
            attack_flows: data.flows.len() - benign,
            pcap_bytes: pcap.len(),
            scenarios: data.scenario_counts(),
        });
    }
    Ok(GenReport {
        seed,
        out_dir: dir.display().to_string(),
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let a = generate(Variant::Honest, 5);
        let b = generate(Variant::Honest, 5);
        let c = generate(Variant::Honest, 6);
        assert_eq!(a.pcap_bytes(), b.pcap_bytes());
        assert_eq!(a.labels_csv(), b.labels_csv());
        assert_ne!(a.pcap_bytes(), c.pcap_bytes());
        assert_ne!(a.labels_csv(), c.labels_csv());
    }

    #[test]
    fn frames_are_in_time_order_and_inside_their_flows() {
        let d = generate(Variant::Naive, 1);
        assert!(d.frames.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
        assert!(d.flows.iter().all(|f| f.first_ts_ns <= f.last_ts_ns));
        assert!(
            d.frames.iter().all(|f| f.data.len() <= 1514),
            "no frame above the MTU"
        );
    }
}
