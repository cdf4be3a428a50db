//! `workbench config show [--json]` and `workbench config check FILE [--json]`.

use std::path::PathBuf;

use clap::Subcommand;
use color_eyre::eyre::Result;
use serde::Serialize;

use super::print_json;
use crate::config::{self, apply::targets_of, Config, Origin, KEYS};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// The effective settings and where each comes from (the file, or the built-in default).
    Show {
        /// Print the result as one JSON document on stdout (progress and notes go to stderr).
        #[arg(long)]
        json: bool,
    },
    /// Validate a config file: every error names the key, line and column.
    Check {
        /// The config file (TOML) to check.
        file: PathBuf,
        /// Print the result as one JSON document on stdout (progress and notes go to stderr).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Serialize)]
struct Entry {
    key: &'static str,
    /// A string, or a list for `deploy.allow`.
    value: serde_json::Value,
    /// `file` or `default`.
    source: &'static str,
    /// The flags this setting is the default of (a flag given on the command line wins).
    sets: Vec<String>,
}

#[derive(Debug, Serialize)]
struct ShowReport {
    /// The file read, if any.
    file: Option<String>,
    /// How it was found: flag (--config), env ($WORKBENCH_CONFIG), xdg.
    origin: Option<Origin>,
    settings: Vec<Entry>,
}

fn entries(config: Option<&Config>) -> Vec<Entry> {
    KEYS.iter()
        .map(|(key, _, default)| {
            let from_file = config.and_then(|c| c.get(key));
            let value = match from_file {
                Some(v) if *key == "deploy.allow" => serde_json::json!(v),
                Some(v) => serde_json::json!(v.first().cloned().unwrap_or_default()),
                None => serde_json::json!(default),
            };
            Entry {
                key,
                value,
                source: if from_file.is_some() { "file" } else { "default" },
                sets: targets_of(key),
            }
        })
        .collect()
}

fn render(report: &ShowReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    match (&report.file, report.origin) {
        (Some(f), Some(o)) => {
            let _ = writeln!(out, "config file: {f} (found through {})", o.describe());
        }
        _ => {
            let _ = writeln!(
                out,
                "config file: none (--config FILE, $WORKBENCH_CONFIG, or $XDG_CONFIG_HOME/ebpf-ml-workbench/config.toml)"
            );
        }
    }
    for e in &report.settings {
        let value = match &e.value {
            serde_json::Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        let _ = writeln!(
            out,
            "{:<20} = {:<28} [{}]  -> {}",
            e.key,
            value,
            e.source,
            e.sets.join(", ")
        );
    }
    let _ = writeln!(out, "flags on the command line override these values.");
    out
}

pub fn run(cmd: ConfigCommand, located: Option<(PathBuf, Origin)>) -> Result<()> {
    match cmd {
        ConfigCommand::Show { json } => {
            let config = match &located {
                Some((path, origin)) => Some(config::load(path, *origin)?),
                None => None,
            };
            let report = ShowReport {
                file: config.as_ref().map(|c| c.path.display().to_string()),
                origin: config.as_ref().map(|c| c.origin),
                settings: entries(config.as_ref()),
            };
            if json {
                return print_json(&report);
            }
            print!("{}", render(&report));
            Ok(())
        }
        ConfigCommand::Check { file, json } => {
            let config = config::load(&file, Origin::Flag)?;
            if json {
                return print_json(&serde_json::json!({
                    "file": file.display().to_string(),
                    "ok": true,
                    "settings": config.settings,
                }));
            }
            println!(
                "{}: ok, {} setting(s): {}",
                file.display(),
                config.settings.len(),
                config
                    .settings
                    .iter()
                    .map(|s| s.key)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(())
        }
    }
}
