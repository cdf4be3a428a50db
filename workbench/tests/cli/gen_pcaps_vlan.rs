//! `gen-pcaps --vlan ID` / `--qinq OUTER,INNER`: the generator's captures with every frame
//! tagged, read back through the project's reader and parser: the same flows and labels as the
//! untagged captures, each frame 4 (or 8) bytes longer and carrying the outermost tag's id. Bad
//! ids are refused with the value named.

use std::path::Path;

use crate::common::{workbench, workbench_json};
use shared::packet::{parse_ethernet, FrameBytes, ParsedPacket};
use workbench_flow::capture;

fn parsed(pcap: &Path) -> Vec<ParsedPacket> {
    capture::open(pcap, false)
        .unwrap_or_else(|e| panic!("{}: {e}", pcap.display()))
        .map(|p| {
            let p = p.expect("a packet");
            parse_ethernet(&FrameBytes {
                data: &p.data,
                wire_len_bytes: p.wire_len_bytes,
            })
            .expect("generated frames parse")
        })
        .collect()
}

#[test]
fn tagged_captures_hold_the_untagged_flows_with_their_tags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = |name: &str| dir.path().join(name);
    let s = |p: &Path| p.to_str().expect("utf8").to_string();
    workbench_json(&["gen-pcaps", "-o", &s(&out("plain")), "--seed", "11", "--json"]);
    for (name, flag, value, vlan_id, extra) in [
        ("dot1q", "--vlan", "943", 943, 4),
        ("qinq", "--qinq", "100,200", 100, 8),
    ] {
        let report = workbench_json(&[
            "gen-pcaps",
            "-o",
            &s(&out(name)),
            "--seed",
            "11",
            flag,
            value,
            "--json",
        ]);
        for variant in ["naive", "honest"] {
            let plain = parsed(&out("plain").join(format!("{variant}.pcap")));
            let tagged_path = out(name).join(format!("{variant}.pcap"));
            let tagged = parsed(&tagged_path);
            assert_eq!(tagged.len(), plain.len(), "{name} {variant}: packets");
            for (t, p) in tagged.iter().zip(&plain) {
                let mut expected = *p;
                expected.vlan_id = vlan_id;
                expected.frame_bytes += extra;
                assert_eq!(*t, expected, "{name} {variant}");
            }
            let labels = format!("labels-{variant}.csv");
            assert_eq!(
                std::fs::read(out(name).join(&labels)).expect("labels"),
                std::fs::read(out("plain").join(&labels)).expect("labels"),
                "{name}: tags change no flow"
            );
            let file = report["files"]
                .as_array()
                .expect("files")
                .iter()
                .find(|f| f["variant"] == variant)
                .expect("the variant's report");
            let size = std::fs::metadata(&tagged_path).expect("written").len();
            assert_eq!(file["pcap_bytes"].as_u64(), Some(size), "{name}: reported size");
        }
    }
}

#[test]
fn bad_tags_are_refused_with_the_value_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = dir.path().to_str().expect("utf8");
    for (args, needle) in [
        (vec!["--vlan", "0"], "`0` is not a VLAN id"),
        (vec!["--vlan", "4095"], "`4095` is not a VLAN id"),
        (vec!["--qinq", "100"], "OUTER,INNER"),
        (vec!["--qinq", "1,x"], "`x` is not a VLAN id"),
        (vec!["--vlan", "5", "--qinq", "1,2"], "cannot be used with"),
    ] {
        let mut all = vec!["gen-pcaps", "-o", o];
        all.extend(&args);
        let out = workbench(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} must be refused");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    assert!(
        std::fs::read_dir(dir.path()).expect("dir").next().is_none(),
        "nothing written for a refused command"
    );
}
