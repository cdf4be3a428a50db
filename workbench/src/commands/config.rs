//! `workbench config show [--json]` and `workbench config check FILE [--json]`.

use std::fmt;
use std::path::PathBuf;

use clap::Subcommand;
use color_eyre::eyre::Result;
use serde::Serialize;

use crate::config::{self, apply::targets_of, Config, Origin, KEYS};
use crate::output::Output;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// The effective settings and where each comes from (the file, or the built-in default).
    Show {
        #[command(flatten)]
        output: Output,
    },
    /// Validate a config file: every error names the key, line and column.
    Check {
        /// The config file (TOML) to check.
        file: PathBuf,
        #[command(flatten)]
        output: Output,
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

impl fmt::Display for ShowReport {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        render(self, out)
    }
}

fn render(report: &ShowReport, out: &mut fmt::Formatter<'_>) -> fmt::Result {
    match (&report.file, report.origin) {
        (Some(f), Some(o)) => {
            writeln!(out, "config file: {f} (found through {})", o.describe())?;
        }
        _ => {
            writeln!(
                out,
                "config file: none (--config FILE, $WORKBENCH_CONFIG, or $XDG_CONFIG_HOME/ebpf-ml-workbench/config.toml)"
            )?;
        }
    }
    for e in &report.settings {
        let value = match &e.value {
            serde_json::Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        writeln!(
            out,
            "{:<20} = {:<28} [{}]  -> {}",
            e.key,
            value,
            e.source,
            e.sets.join(", ")
        )?;
    }
    writeln!(out, "flags on the command line override these values.")
}

/// `config check`: the file and its settings; as text, one line naming the keys.
#[derive(Serialize)]
struct CheckReport<'a> {
    file: String,
    ok: bool,
    settings: &'a [config::Setting],
}

impl fmt::Display for CheckReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: ok, {} setting(s): {}",
            self.file,
            self.settings.len(),
            self.settings.iter().map(|s| s.key).collect::<Vec<_>>().join(", ")
        )
    }
}

/// Whether `path` is TOML with a top-level `agent` table (the agent's file, deploy/systemd).
fn is_agent_file(path: &std::path::Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .is_some_and(|t| t.get("agent").is_some_and(toml::Value::is_table))
}

pub fn run(cmd: ConfigCommand, located: Option<(PathBuf, Origin)>) -> Result<()> {
    match cmd {
        ConfigCommand::Show { output } => {
            let config = match &located {
                Some((path, origin)) => Some(config::load(path, *origin)?),
                None => None,
            };
            let report = ShowReport {
                file: config.as_ref().map(|c| c.path.display().to_string()),
                origin: config.as_ref().map(|c| c.origin),
                settings: entries(config.as_ref()),
            };
            output.emit(&report)
        }
        ConfigCommand::Check { file, output } => {
            let config = config::load(&file, Origin::Flag).map_err(|e| {
                if is_agent_file(&file) {
                    color_eyre::eyre::eyre!(
                        "{}: an agent configuration (an [agent] table), not a workbench settings file: check it with `workbench agent --check --config {}`",
                        file.display(),
                        file.display()
                    )
                } else {
                    e.into()
                }
            })?;
            output.emit(&CheckReport {
                file: file.display().to_string(),
                ok: true,
                settings: &config.settings,
            })
        }
    }
}
