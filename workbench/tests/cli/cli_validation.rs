//! Every class of bad flag value is refused by the parser, before anything runs, with a message
//! naming the flag and what was expected (clap's "invalid value 'X' for '--flag': WHY").

use std::process::Command;

fn refuse(args: &[&str], flag: &str, why: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(args)
        .env_remove("WORKBENCH_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent-ebml-config")
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2), "{args:?}: a usage error (exit 2)");
    let err = String::from_utf8_lossy(&out.stderr);
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.contains("invalid value") && first.contains(flag),
        "{args:?}: {first}"
    );
    assert!(err.contains(why), "{args:?}: {why:?} in {err}");
    // Nothing ran: stdout is empty, or holds only the error as JSON when JSON was asked for.
    if args.iter().any(|a| *a == "--json" || *a == "--jsonl") {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: the error as JSON: {e}"));
        assert_eq!(v["error"]["kind"], "usage", "{args:?}: {v}");
    } else {
        assert!(out.stdout.is_empty(), "{args:?}: nothing ran");
    }
}

#[test]
fn interface_names_that_are_not_names_are_refused() {
    // `../x` would become a path under the project's bpffs directory.
    refuse(&["probe", "detach", "--iface", "../../x"], "--iface", "no '/'");
    refuse(&["probe", "flows", "--iface", ""], "--iface", "1 to 15 bytes");
    refuse(
        &["deploy", "--iface", "a-name-of-17-byte", "--rollback"],
        "--iface",
        "1 to 15 bytes",
    );
    refuse(&["live", "--iface", "eth 0", "--jsonl"], "--iface", "whitespace");
    refuse(
        &["replay", "x.pcap", "--iface", "..", "--top-speed"],
        "--iface",
        "not '.' or '..'",
    );
}

#[test]
fn namespace_and_lab_names_are_refused_before_any_path_is_built() {
    refuse(
        &["probe", "attach", "--iface", "eth0", "--netns", "../../etc"],
        "--netns",
        "no '/'",
    );
    refuse(
        &["lab", "up", "--id", "a/b"],
        "--id",
        "1-9 ASCII letters or digits",
    );
    refuse(
        &["lab", "down", "--id", "toolongid12"],
        "--id",
        "1-9 ASCII letters or digits",
    );
    refuse(
        &["verify", "x.pcap", "--model", "m", "--lab-id", "x-y"],
        "--lab-id",
        "1-9 ASCII",
    );
}

#[test]
fn numbers_out_of_their_range_are_refused() {
    refuse(
        &["probe", "attach", "--iface", "eth0", "--flow-table", "0"],
        "--flow-table",
        "1..=16777216",
    );
    refuse(
        &["replay", "x.pcap", "--iface", "ebml-xa", "--count", "0"],
        "--count",
        "1..",
    );
    refuse(
        &["live", "--iface", "lo", "--jsonl", "--duration-s", "0"],
        "--duration-s",
        "1..",
    );
    refuse(
        &["verify", "x.pcap", "--model", "m", "--decide-every", "2000000"],
        "--decide-every",
        "0..=1000000",
    );
    refuse(
        &["screenshots", "-o", "/tmp/x", "--width", "0"],
        "--width",
        "80..=1000",
    );
    refuse(&["tui", "--bench", "0"], "--bench", "1..=10000000");
    refuse(&["bench", "probe", "--repeat", "0"], "--repeat", "1..=100000000");
}

#[test]
fn numbers_that_do_not_parse_or_mean_nothing_are_refused() {
    refuse(
        &["train", "d.csv", "--model", "tree", "-o", "m", "--threshold", "7"],
        "--threshold",
        "strictly between 0 and 1",
    );
    refuse(
        &["train", "d.csv", "--model", "tree", "-o", "m", "--threshold", "x"],
        "--threshold",
        "between 0 and 1",
    );
    refuse(
        &[
            "train", "d.csv", "--model", "logistic", "-o", "m", "--alpha", "nan",
        ],
        "--alpha",
        "finite number of at least 0",
    );
    refuse(
        &["deploy", "--iface", "lo", "--decide-first=-1"],
        "--decide-first",
        "0..=1000000",
    );
    refuse(
        &["verify", "x.pcap", "--model", "m", "--pps", "many"],
        "--pps",
        "invalid digit",
    );
}

#[test]
fn choices_and_cidrs_are_refused_with_the_possible_values() {
    refuse(
        &["deploy", "--iface", "lo", "--mode", "drop"],
        "--mode",
        "[possible values: monitor, enforce, dry-run]",
    );
    refuse(
        &["deploy", "--iface", "lo", "--allow", "10.0.0.0/33"],
        "--allow",
        "prefix length must be 0-32",
    );
    refuse(
        &["tui", "--theme", "neon"],
        "--theme",
        "[possible values: default, high-contrast, colour-blind]",
    );
    refuse(
        &["train", "d.csv", "--model", "forest", "-o", "m"],
        "--model",
        "[possible values: tree, logistic]",
    );
}
