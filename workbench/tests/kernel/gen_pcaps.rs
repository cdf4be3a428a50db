//! The committed sample captures through the kernel: replayed into a replay lab with the probe
//! attached at the receiving end, every frame parses in the probe and the probe's flow table
//! holds exactly the labelled flows, oriented from the same initiators.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::{report, workbench_json, DetachOnDrop};
use workbench_flow::gen::{self, Variant};
use workbench_kernel::lab::ReplayLab;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sample-pcaps")
        .join(name)
}

/// (src, sport, dst, dport, proto) rows of a labels file.
fn labelled(path: &Path) -> BTreeSet<(String, u64, String, u64, u64)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .map(|line| {
            let c: Vec<&str> = line.split(',').collect();
            let n = |k: usize| c[k].parse::<u64>().unwrap_or_else(|e| panic!("{line}: {e}"));
            (c[0].to_string(), n(1), c[2].to_string(), n(3), n(4))
        })
        .collect()
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn sample_captures_replayed_into_the_probe_give_exactly_the_labelled_flows() {
    crate::common::require_kernel("sample_captures_replayed_into_the_probe_give_exactly_the_labelled_flows");
    for variant in Variant::ALL {
        // One lab per capture: a fresh probe starts with an empty flow table and zero counters.
        let lab = ReplayLab::create(&format!(
            "g{}{}",
            &variant.name()[..1],
            std::process::id() % 100_000
        ))
        .expect("replay lab");
        let info = lab.info.clone();
        let (pcap, labels) = gen::file_names(variant);
        let expected = labelled(&sample(&labels));
        let path = sample(&pcap);
        let packets = workbench_flow::capture::open(&path, false)
            .unwrap_or_else(|e| panic!("{e}"))
            .count() as u64;

        workbench_json(&[
            "probe",
            "attach",
            "--iface",
            &info.receive_iface,
            "--netns",
            &info.netns,
            "--json",
        ]);
        let detach = DetachOnDrop(info.receive_iface.clone());
        let path_s = path.to_str().expect("utf-8 path");
        let sent = workbench_json(&[
            "replay",
            path_s,
            "--iface",
            &info.send_iface,
            "--netns",
            &info.netns,
            "--pps",
            "20000",
            "--json",
        ]);
        assert_eq!(sent["sent_packets"].as_u64(), Some(packets), "{pcap}: {sent:#}");

        let flows = workbench_json(&["probe", "flows", "--iface", &info.receive_iface, "--json"]);
        let stats = &flows["stats"];
        assert_eq!(stats["packets"].as_u64(), Some(packets), "{pcap}: {stats:#}");
        assert_eq!(
            stats["parsed"].as_u64(),
            Some(packets),
            "{pcap}: unparsed frames {stats:#}"
        );
        assert_eq!(
            stats["flows_created"].as_u64(),
            Some(expected.len() as u64),
            "{pcap}: {stats:#}"
        );
        let table = flows["flows"].as_array().expect("flows array");
        let proto = |p: &str| match p {
            "tcp" => 6,
            "udp" => 17,
            other => panic!("{pcap}: unexpected protocol {other}"),
        };
        let got: BTreeSet<_> = table
            .iter()
            .map(|f| {
                (
                    f["src_ip"].as_str().expect("src_ip").to_string(),
                    f["src_port"].as_u64().expect("src_port"),
                    f["dest_ip"].as_str().expect("dest_ip").to_string(),
                    f["dest_port"].as_u64().expect("dest_port"),
                    proto(f["proto"].as_str().expect("proto")),
                )
            })
            .collect();
        let extra: Vec<_> = got.difference(&expected).take(5).collect();
        let missing: Vec<_> = expected.difference(&got).take(5).collect();
        assert!(
            extra.is_empty() && missing.is_empty(),
            "{pcap}: kernel flows without label {extra:?}, labels without kernel flow {missing:?}"
        );
        let counted: u64 = table
            .iter()
            .map(|f| f["fwd_packets"].as_u64().unwrap_or(0) + f["bwd_packets"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(counted, packets, "{pcap}: packets in the flow table");
        report(&format!(
            "gen-pcaps kernel test: {pcap}: {packets} packets parsed by the probe into {} labelled flows",
            got.len()
        ));
        drop(detach);
        drop(lab);
    }
}
