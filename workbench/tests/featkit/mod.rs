//! Helpers for the `workbench features` tests: the sample captures, an independent per-flow
//! count (its own bidirectional key, not `FlowKey`), and reading the written tables back.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use polars::prelude::*;
use shared::ParsedPacket;
use workbench_data::features::labels::CicOptions;
use workbench_data::features::{extract, DecisionPoint, FeaturesOptions, FeaturesReport};
use workbench_data::progress::NoProgress;

pub type Endpoint = (IpAddr, u16);
/// (src_ip, src_port, dst_ip, dst_port, proto), oriented from the initiator.
pub type Tuple = (IpAddr, u16, IpAddr, u16, u8);

pub fn pcap(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/pcaps")
        .join(name)
}

pub fn options(pcaps: &[PathBuf], output: &Path, decision: DecisionPoint) -> FeaturesOptions {
    FeaturesOptions {
        pcaps: pcaps.to_vec(),
        output: output.to_path_buf(),
        decision,
        labels: None,
        cic: CicOptions::default(),
        lenient: false,
        interface: None,
        opt_in: 0,
    }
}

pub fn run(opts: &FeaturesOptions) -> FeaturesReport {
    extract(opts, &NoProgress).unwrap_or_else(|e| panic!("features: {e:#}"))
}

fn ip(version: u8, a: &[u8; 16]) -> IpAddr {
    if version == 4 {
        IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(*a))
    }
}

/// One flow as the test counts it.
#[derive(Clone, Debug)]
pub struct Flow {
    pub src: Endpoint,
    pub dst: Endpoint,
    pub proto: u8,
    pub packets: u32,
    pub fwd_packets: u32,
    pub syn_packets: u32,
    pub first_ts_ns: u64,
    pub max_ts_ns: u64,
    /// Every packet: parsed header facts, sent by the initiator, capture timestamp.
    pub trace: Vec<(ParsedPacket, bool, u64)>,
}

/// Flows in first-seen order, plus (packets read, packets parsed).
pub struct Independent {
    pub flows: Vec<Flow>,
    pub packets: u64,
    pub parsed: u64,
}

pub fn independent(path: &Path, lenient: bool) -> Independent {
    let mut flows: Vec<Flow> = Vec::new();
    let mut index: HashMap<(Endpoint, Endpoint, u8), usize> = HashMap::new();
    let (mut packets, mut parsed) = (0, 0);
    for packet in workbench_flow::capture::open(path, lenient).unwrap_or_else(|e| panic!("{e}")) {
        let Ok(packet) = packet else { break };
        packets += 1;
        let Ok(p) = packet.parse() else { continue };
        parsed += 1;
        let a = (ip(p.ip_version, &p.src_addr.bytes()), p.src_port);
        let b = (ip(p.ip_version, &p.dst_addr.bytes()), p.dst_port);
        let key = if a <= b { (a, b, p.proto) } else { (b, a, p.proto) };
        let i = *index.entry(key).or_insert_with(|| {
            flows.push(Flow {
                src: a,
                dst: b,
                proto: p.proto,
                packets: 0,
                fwd_packets: 0,
                syn_packets: 0,
                first_ts_ns: packet.ts_ns,
                max_ts_ns: packet.ts_ns,
                trace: Vec::new(),
            });
            flows.len() - 1
        });
        let f = &mut flows[i];
        let forward = a == f.src;
        f.packets += 1;
        f.fwd_packets += forward as u32;
        f.syn_packets += (p.tcp_flags & 0x02 != 0) as u32;
        f.max_ts_ns = f.max_ts_ns.max(packet.ts_ns);
        f.trace.push((p, forward, packet.ts_ns));
    }
    Independent {
        flows,
        packets,
        parsed,
    }
}

pub fn read_table(path: &Path) -> DataFrame {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let result = if ext == "parquet" {
        std::fs::File::open(path)
            .map_err(PolarsError::from)
            .and_then(|f| ParquetReader::new(f).finish())
    } else {
        CsvReadOptions::default()
            .with_has_header(true)
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .and_then(polars::prelude::SerReader::finish)
    };
    result.unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn ints(df: &DataFrame, name: &str) -> Vec<i64> {
    let c = df
        .column(name)
        .unwrap_or_else(|e| panic!("column {name}: {e}"))
        .cast(&DataType::Int64)
        .unwrap_or_else(|e| panic!("column {name}: {e}"));
    c.i64()
        .unwrap_or_else(|e| panic!("column {name}: {e}"))
        .into_iter()
        .map(|v| v.unwrap_or_else(|| panic!("column {name}: null")))
        .collect()
}

pub fn strings(df: &DataFrame, name: &str) -> Vec<Option<String>> {
    let c = df
        .column(name)
        .unwrap_or_else(|e| panic!("column {name}: {e}"))
        .cast(&DataType::String)
        .unwrap_or_else(|e| panic!("column {name}: {e}"));
    c.str()
        .unwrap_or_else(|e| panic!("column {name}: {e}"))
        .into_iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

/// (src_ip, src_port, dst_ip, dst_port, proto) of every row.
pub fn tuples(df: &DataFrame) -> Vec<Tuple> {
    let parse = |s: Option<String>| -> IpAddr { s.expect("address").parse().expect("an IP address") };
    let (si, sp, di, dp, pr) = (
        strings(df, "src_ip"),
        ints(df, "src_port"),
        strings(df, "dst_ip"),
        ints(df, "dst_port"),
        ints(df, "proto"),
    );
    (0..df.height())
        .map(|i| {
            (
                parse(si[i].clone()),
                sp[i] as u16,
                parse(di[i].clone()),
                dp[i] as u16,
                pr[i] as u8,
            )
        })
        .collect()
}

pub fn tuple_of(f: &Flow) -> Tuple {
    (f.src.0, f.src.1, f.dst.0, f.dst.1, f.proto)
}
