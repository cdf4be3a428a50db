use clap::{CommandFactory, FromArgMatches};

use super::*;
use crate::cli::{Cli, Command};

fn err(text: &str) -> ConfigError {
    parse(text, "c.toml").expect_err("the file is refused")
}

fn config(text: &str) -> Config {
    Config {
        path: "c.toml".into(),
        origin: Origin::Flag,
        settings: parse(text, "c.toml").expect("valid"),
    }
}

#[test]
fn unknown_key_is_named_with_its_table_and_position() {
    let e = err("iface = \"eth0\"\n\n[deploy]\nmode = \"monitor\"\ndecide_frist = 3\n");
    assert_eq!(e.key.as_deref(), Some("deploy.decide_frist"), "{e}");
    assert_eq!((e.line, e.column), (Some(5), Some(1)), "{e}");
    let s = e.to_string();
    assert!(
        s.starts_with("c.toml:5:1: key `deploy.decide_frist`: unknown field"),
        "{s}"
    );
    assert!(s.contains("decide_first"), "lists the expected keys: {s}");
    let top = err("colour = 1\n");
    assert_eq!(top.key.as_deref(), Some("colour"), "{top}");
}

#[test]
fn wrong_type_names_the_key_and_the_expected_type() {
    let e = err("[probe]\nflow_table = \"big\"\n");
    assert_eq!(e.key.as_deref(), Some("probe.flow_table"), "{e}");
    assert_eq!(e.line, Some(2));
    assert!(
        e.to_string().contains("expected i64") || e.to_string().contains("integer"),
        "{e}"
    );
    let list = err("[deploy]\nallow = \"10.0.0.0/8\"\n");
    assert_eq!(list.key.as_deref(), Some("deploy.allow"), "{list}");
    assert!(list.to_string().contains("expected a sequence"), "{list}");
}

#[test]
fn bad_cidr_names_the_list_entry() {
    let e = err("[deploy]\nallow = [\"10.0.0.0/8\", \"10.0.0.0/33\"]\n");
    assert_eq!(e.key.as_deref(), Some("deploy.allow[1]"), "{e}");
    assert_eq!((e.line, e.column), (Some(2), Some(24)), "{e}");
    assert!(e.to_string().contains("prefix length must be 0-32"), "{e}");
}

#[test]
fn out_of_range_numbers_name_the_key_and_the_range() {
    for (text, key, range) in [
        ("[probe]\nflow_table = 0\n", "probe.flow_table", "1 to 16777216"),
        (
            "[deploy]\ndecide_first = -1\n",
            "deploy.decide_first",
            "0 to 1000000",
        ),
        ("[verify]\npps = 99999999999\n", "verify.pps", "1 to 10000000"),
        ("[train]\nmax_depth = 25\n", "train.max_depth", "1 to 24"),
    ] {
        let e = err(text);
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.to_string().contains(range), "{e}");
    }
    let e = err("theme = \"neon\"\n");
    assert_eq!(e.key.as_deref(), Some("theme"));
    assert!(
        e.to_string().contains("default, high-contrast, colour-blind"),
        "{e}"
    );
    let e = err("[deploy]\nmode = \"drop\"\n");
    assert!(e.to_string().contains("monitor, enforce, dry-run"), "{e}");
    let e = err("[deploy]\ndecide_first = 0\ndecide_every = 0\n");
    assert_eq!(e.key.as_deref(), Some("deploy.decide_every"), "{e}");
    assert!(e.to_string().contains("never score"), "{e}");
    let e = err("iface = \"a-very-long-interface-name\"\n");
    assert!(e.to_string().contains("1-15 bytes"), "{e}");
}

#[test]
fn a_toml_syntax_error_has_a_position() {
    let e = err("[deploy\nmode = 1\n");
    assert_eq!(e.line, Some(1), "{e}");
    assert!(e.to_string().starts_with("c.toml:1:"), "{e}");
}

#[test]
fn every_key_lands_on_a_flag_and_flags_override_the_file() {
    let c = config(
        "iface = \"cfg0\"\ntheme = \"high-contrast\"\n[probe]\nflow_table = 4096\n[deploy]\nmode = \"dry-run\"\n\
         allow = [\"10.0.0.0/8\", \"fd00::/8\"]\ndecide_first = 3\ndecide_every = 7\n[verify]\npps = 500\n\
         [data]\ncache_dir = \"/tmp/cache\"\n[train]\nsplit = \"host\"\nmax_depth = 5\nmodel_dir = \"/tmp/models\"\n",
    );
    assert_eq!(c.settings.len(), KEYS.len(), "every key set");
    // `dry_run`, as JSON once printed it, is the same mode, shown as the flag takes it.
    let alias = config("[deploy]\nmode = \"dry_run\"\n");
    let shown = alias
        .settings
        .iter()
        .find(|s| s.key == "deploy.mode")
        .expect("mode");
    assert_eq!(shown.values, ["dry-run"]);
    for (key, _, _) in KEYS {
        assert!(!apply::targets_of(key).is_empty(), "{key} sets a flag");
    }
    let cmd = apply::apply(Cli::command(), &c);
    cmd.clone().debug_assert();
    let parse = |args: &[&str]| {
        let m = cmd.clone().try_get_matches_from(args).expect("parses");
        Cli::from_arg_matches(&m).expect("cli")
    };
    // From the file.
    match parse(&["workbench", "deploy"]).command {
        Some(Command::Deploy(d)) => {
            assert_eq!(d.iface, "cfg0");
            assert_eq!((d.decide_first, d.decide_every), (Some(3), Some(7)));
            assert_eq!(d.allow.len(), 2);
            assert_eq!(d.mode, Some(crate::commands::deploy::Mode::DryRun));
        }
        other => panic!("{other:?}"),
    }
    // Flags win.
    match parse(&[
        "workbench",
        "deploy",
        "--iface",
        "eth9",
        "--decide-first",
        "9",
        "--allow",
        "192.168.0.0/16",
    ])
    .command
    {
        Some(Command::Deploy(d)) => {
            assert_eq!(d.iface, "eth9");
            assert_eq!((d.decide_first, d.decide_every), (Some(9), Some(7)));
            assert_eq!(d.allow.len(), 1, "a flag list replaces the file's list");
        }
        other => panic!("{other:?}"),
    }
    match parse(&["workbench", "verify", "x.pcap", "--model", "m"]).command {
        Some(Command::Verify(v)) => assert_eq!((v.pps, v.decide_first, v.decide_every), (500, 3, 7)),
        other => panic!("{other:?}"),
    }
    match parse(&["workbench", "probe", "attach"]).command {
        Some(Command::Probe(crate::cli::ProbeCommand::Attach {
            iface, flow_table, ..
        })) => {
            assert_eq!((iface.as_str(), flow_table), ("cfg0", Some(4096)));
        }
        other => panic!("{other:?}"),
    }
    match parse(&[
        "workbench",
        "train",
        "d.csv",
        "--model",
        "tree",
        "-o",
        "m",
        "--max-depth",
        "3",
    ])
    .command
    {
        Some(Command::Train(t)) => {
            assert_eq!(t.max_depth, 3);
            assert_eq!(t.split, crate::commands::train::SplitArg::Host);
            assert_eq!(t.cache_dir.as_deref(), Some(std::path::Path::new("/tmp/cache")));
        }
        other => panic!("{other:?}"),
    }
    // The TUI's Train tab takes the same depth as `train`, and the model folder.
    match parse(&["workbench", "tui"]).command {
        Some(Command::Tui(t)) => {
            assert_eq!(t.theme.as_deref(), Some("high-contrast"));
            assert_eq!(t.max_depth, 5);
            assert_eq!(t.model_dir, std::path::Path::new("/tmp/models"));
            assert_eq!(t.cache_dir.as_deref(), Some(std::path::Path::new("/tmp/cache")));
        }
        other => panic!("{other:?}"),
    }
}

/// One default depth: `train`, `tui` and the key list say the same number.
#[test]
fn the_default_depth_is_one_number() {
    let m = Cli::command()
        .try_get_matches_from(["workbench", "tui"])
        .expect("parses");
    let Some(Command::Tui(t)) = Cli::from_arg_matches(&m).expect("cli").command else {
        panic!("tui")
    };
    let m = Cli::command()
        .try_get_matches_from(["workbench", "train", "d.csv", "--model", "tree", "-o", "m"])
        .expect("parses");
    let Some(Command::Train(train)) = Cli::from_arg_matches(&m).expect("cli").command else {
        panic!("train")
    };
    let listed = KEYS
        .iter()
        .find(|(k, _, _)| *k == "train.max_depth")
        .map(|(_, _, d)| *d)
        .expect("key");
    assert_eq!((t.max_depth, train.max_depth), (8, 8));
    assert_eq!(listed, "8");
    assert_eq!(workbench_tui::state::train::TrainForm::default().max_depth, 8);
    assert_eq!(t.model_dir, std::path::Path::new("models"));
}

#[test]
fn without_a_file_iface_stays_required() {
    let e = Cli::command()
        .try_get_matches_from(["workbench", "deploy"])
        .expect_err("--iface is required");
    assert!(e.to_string().contains("--iface"), "{e}");
}

#[test]
fn the_config_flag_is_found_before_parsing() {
    let args = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
    assert_eq!(
        locate(&args(&["workbench", "probe", "flows", "--config", "/x.toml"])),
        Some(("/x.toml".into(), Origin::Flag))
    );
    assert_eq!(
        locate(&args(&["workbench", "--config=/y.toml", "deploy"])),
        Some(("/y.toml".into(), Origin::Flag))
    );
    assert_eq!(
        subcommand(&args(&["workbench", "--config", "config", "config", "show"])),
        Some("config")
    );
    assert_eq!(
        subcommand(&args(&["workbench", "--config", "a", "deploy"])),
        Some("deploy")
    );
}

#[test]
fn line_column_counts_characters_and_never_splits_one() {
    let text = "a = 1\nb = \"é\"\n";
    assert_eq!(line_column(text, 6), (2, 1));
    // Byte 12 is inside 'é' (bytes 11-12): the position of 'é' itself, not a panic.
    assert_eq!(line_column(text, 12), (2, 6));
    assert_eq!(line_column(text, 10_000), (3, 1));
}
