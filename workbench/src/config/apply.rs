//! Config values become the defaults of the flags they stand for, before clap parses the
//! command line: a flag given on the command line wins, and clap's own validation and help see
//! one set of arguments.

use clap::Command;

use super::Config;

/// (key, subcommand path, argument id): where each setting lands.
const TARGETS: &[(&str, &[&str], &str)] = &[
    ("iface", &["probe", "attach"], "iface"),
    ("iface", &["probe", "detach"], "iface"),
    ("iface", &["probe", "status"], "iface"),
    ("iface", &["probe", "flows"], "iface"),
    ("iface", &["deploy"], "iface"),
    ("iface", &["live"], "iface"),
    ("theme", &["tui"], "theme"),
    ("probe.flow_table", &["probe", "attach"], "flow_table"),
    ("deploy.mode", &["deploy"], "mode"),
    ("deploy.allow", &["deploy"], "allow"),
    ("deploy.decide_first", &["deploy"], "decide_first"),
    ("deploy.decide_every", &["deploy"], "decide_every"),
    ("deploy.decide_first", &["verify"], "decide_first"),
    ("deploy.decide_every", &["verify"], "decide_every"),
    ("verify.pps", &["verify"], "pps"),
    ("data.cache_dir", &["inspect"], "cache_dir"),
    ("data.cache_dir", &["train"], "cache_dir"),
    ("data.cache_dir", &["tui"], "cache_dir"),
    ("train.split", &["train"], "split"),
    ("train.max_depth", &["train"], "max_depth"),
    ("train.max_depth", &["tui"], "max_depth"),
    ("train.model_dir", &["tui"], "model_dir"),
];

fn set_default(cmd: Command, path: &[&str], arg: &str, values: &[&'static str]) -> Command {
    match path.split_first() {
        Some((first, rest)) => cmd.mut_subcommand(*first, |sub| set_default(sub, rest, arg, values)),
        None => cmd.mut_arg(arg, |a| {
            // A required flag with a configured value is no longer required.
            let a = a.required(false);
            if values.len() == 1 {
                a.default_value(values[0])
            } else {
                a.default_values(values.to_vec())
            }
        }),
    }
}

/// `cmd` with the config's values as flag defaults.
pub fn apply(mut cmd: Command, config: &Config) -> Command {
    for (key, path, arg) in TARGETS {
        let Some(values) = config.get(key) else { continue };
        // clap keeps defaults as 'static strings; a handful of short values, once per process.
        let values: Vec<&'static str> = values
            .iter()
            .map(|v| &*Box::leak(v.clone().into_boxed_str()))
            .collect();
        cmd = set_default(cmd, path, arg, &values);
    }
    cmd
}

/// Every key of `super::KEYS` has a target (checked by a test).
pub fn targets_of(key: &str) -> Vec<String> {
    TARGETS
        .iter()
        .filter(|(k, _, _)| *k == key)
        .map(|(_, path, arg)| format!("{} --{}", path.join(" "), arg.replace('_', "-")))
        .collect()
}
