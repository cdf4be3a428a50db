//! The configuration file: settings users repeat on every command (interface, theme, flow-table
//! size, deploy mode and allowlist, decision points, data cache, training defaults).
//!
//! Found as `--config FILE`, else `$WORKBENCH_CONFIG`, else
//! `$XDG_CONFIG_HOME/ebpf-ml-workbench/config.toml` (`~/.config/...` when XDG_CONFIG_HOME is
//! unset) if that file exists. Its values become the defaults of the matching flags
//! ([`apply`]), so a flag on the command line always wins. Every schema error names the file, the
//! key as a dotted path, the line and column, and what was expected.

pub mod apply;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// Where the file came from (shown by `config show`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Flag,
    Env,
    Xdg,
}

impl Origin {
    pub fn describe(self) -> &'static str {
        match self {
            Origin::Flag => "--config",
            Origin::Env => "$WORKBENCH_CONFIG",
            Origin::Xdg => "$XDG_CONFIG_HOME/ebpf-ml-workbench/config.toml",
        }
    }
}

/// A schema or read error, rendered in one line:
/// `FILE:LINE:COLUMN: key `a.b`: MESSAGE (expected ...)`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}{at}: {key}{message}", at = self.at(), key = self.key_part())]
pub struct ConfigError {
    pub file: String,
    pub key: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl ConfigError {
    fn at(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!(":{l}:{c}"),
            _ => String::new(),
        }
    }

    fn key_part(&self) -> String {
        self.key
            .as_ref()
            .map(|k| format!("key `{k}`: "))
            .unwrap_or_default()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Schema {
    iface: Option<Spanned<String>>,
    theme: Option<Spanned<String>>,
    #[serde(default)]
    probe: ProbeSection,
    #[serde(default)]
    deploy: DeploySection,
    #[serde(default)]
    verify: VerifySection,
    #[serde(default)]
    data: DataSection,
    #[serde(default)]
    train: TrainSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbeSection {
    flow_table: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeploySection {
    mode: Option<Spanned<String>>,
    allow: Option<Vec<Spanned<String>>>,
    decide_first: Option<Spanned<i64>>,
    decide_every: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifySection {
    pps: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataSection {
    cache_dir: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainSection {
    split: Option<Spanned<String>>,
    max_depth: Option<Spanned<i64>>,
    model_dir: Option<Spanned<String>>,
}

/// One setting: its dotted key and its value as the matching flag would spell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting {
    pub key: &'static str,
    /// One value, or several for a list (`deploy.allow`).
    pub values: Vec<String>,
}

/// A loaded, validated file.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub path: PathBuf,
    pub origin: Origin,
    pub settings: Vec<Setting>,
}

impl Config {
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.settings
            .iter()
            .find(|s| s.key == key)
            .map(|s| s.values.as_slice())
    }
}

/// Every key the file may hold, with what it sets and its built-in default (for `config show`).
pub const KEYS: [(&str, &str, &str); 12] = [
    (
        "iface",
        "--iface of probe, deploy and live",
        "(none: --iface is required)",
    ),
    ("theme", "TUI colour theme (tui --theme)", "default"),
    (
        "probe.flow_table",
        "probe attach --flow-table (entries)",
        "131072",
    ),
    ("deploy.mode", "deploy --mode", "(unchanged)"),
    ("deploy.allow", "deploy --allow CIDR (list)", "[]"),
    (
        "deploy.decide_first",
        "deploy/verify --decide-first",
        "probe default",
    ),
    (
        "deploy.decide_every",
        "deploy/verify --decide-every",
        "probe default",
    ),
    ("verify.pps", "verify --pps", "20000"),
    (
        "data.cache_dir",
        "inspect/train/tui --cache-dir",
        "$XDG_CACHE_HOME/ebpf-ml-workbench/datasets",
    ),
    ("train.split", "train --split", "auto"),
    (
        "train.max_depth",
        "train --max-depth, tui --max-depth (the Train tab's depth)",
        "8",
    ),
    (
        "train.model_dir",
        "tui --model-dir (where the Train tab writes models)",
        "models (in the working folder)",
    ),
];

/// The file to read: `--config FILE` (found in `args` before clap parses them, since its
/// values become clap's defaults), else $WORKBENCH_CONFIG, else the XDG file if it exists.
pub fn locate(args: &[OsString]) -> Option<(PathBuf, Origin)> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let Some(s) = a.to_str() else { continue };
        if s == "--" {
            break;
        }
        if s == "--config" {
            return it.next().map(|v| (PathBuf::from(v), Origin::Flag));
        }
        if let Some(v) = s.strip_prefix("--config=") {
            return Some((PathBuf::from(v), Origin::Flag));
        }
    }
    if let Some(v) = std::env::var_os("WORKBENCH_CONFIG").filter(|v| !v.is_empty()) {
        return Some((PathBuf::from(v), Origin::Env));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))?;
    let path = base.join("ebpf-ml-workbench").join("config.toml");
    path.is_file().then_some((path, Origin::Xdg))
}

/// The first word of the command line that is not a flag (nor `--config`'s value).
pub fn subcommand(args: &[OsString]) -> Option<&str> {
    let mut it = args.iter().skip(1).filter_map(|a| a.to_str());
    while let Some(a) = it.next() {
        if a == "--config" {
            it.next();
        } else if !a.starts_with('-') {
            return Some(a);
        }
    }
    None
}

/// Reads and validates `path`.
pub fn load(path: &Path, origin: Origin) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        key: None,
        line: None,
        column: None,
        message: format!("cannot read the config file: {e}"),
    })?;
    let settings = parse(&text, &file)?;
    Ok(Config {
        path: path.to_path_buf(),
        origin,
        settings,
    })
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    // toml's spans fall on character boundaries; step back to one anyway rather than panic.
    let end = (0..=offset.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The dotted key whose key or value covers byte `offset` (deepest match), from the parsed
/// document's spans: toml's own errors carry a span but not the path.
fn key_at(text: &str, offset: usize) -> Option<String> {
    use toml::de::{DeTable, DeValue};
    fn walk(table: &DeTable<'_>, offset: usize, path: &mut Vec<String>) -> bool {
        for (k, v) in table {
            path.push(k.get_ref().to_string());
            // A `[section]`'s span covers its header, not its keys: look inside first.
            if let DeValue::Table(t) = v.get_ref() {
                if walk(t, offset, path) {
                    return true;
                }
            }
            let (ks, vs) = (k.span(), v.span());
            if ks.contains(&offset) || vs.contains(&offset) {
                return true;
            }
            path.pop();
        }
        false
    }
    let doc = DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    walk(doc.get_ref(), offset, &mut path).then(|| path.join("."))
}

fn schema_error(text: &str, file: &str, e: &toml::de::Error) -> ConfigError {
    let (line, column, key) = match e.span() {
        Some(span) => {
            let (l, c) = line_column(text, span.start);
            (Some(l), Some(c), key_at(text, span.start))
        }
        None => (None, None, None),
    };
    let mut message = e.message().trim().to_string();
    if message.starts_with("unknown field") {
        // The key is the unknown one; its table is the path without it.
        message = message.replace("expected one of", "expected one of the keys");
    }
    ConfigError {
        file: file.to_string(),
        key,
        line,
        column,
        message,
    }
}

/// Checks one value, building the error from its span.
struct Checker<'a> {
    text: &'a str,
    file: &'a str,
}

impl Checker<'_> {
    fn error<T>(&self, key: &str, at: &Spanned<T>, message: String) -> ConfigError {
        let (l, c) = line_column(self.text, at.span().start);
        ConfigError {
            file: self.file.to_string(),
            key: Some(key.to_string()),
            line: Some(l),
            column: Some(c),
            message,
        }
    }

    fn range(
        &self,
        key: &'static str,
        v: &Option<Spanned<i64>>,
        lo: i64,
        hi: i64,
    ) -> Result<Option<Setting>, ConfigError> {
        let Some(v) = v else { return Ok(None) };
        let n = *v.get_ref();
        if !(lo..=hi).contains(&n) {
            return Err(self.error(
                key,
                v,
                format!("{n} is out of range (expected an integer from {lo} to {hi})"),
            ));
        }
        Ok(Some(Setting {
            key,
            values: vec![n.to_string()],
        }))
    }

    fn one_of(
        &self,
        key: &'static str,
        v: &Option<Spanned<String>>,
        allowed: &[&str],
    ) -> Result<Option<Setting>, ConfigError> {
        let Some(v) = v else { return Ok(None) };
        if !allowed.contains(&v.get_ref().as_str()) {
            return Err(self.error(
                key,
                v,
                format!(
                    "{:?} is not allowed (expected one of {})",
                    v.get_ref(),
                    allowed.join(", ")
                ),
            ));
        }
        Ok(Some(Setting {
            key,
            values: vec![v.get_ref().clone()],
        }))
    }
}

/// Parses and validates the text of a config file named `file` into its settings, in KEYS order.
pub fn parse(text: &str, file: &str) -> Result<Vec<Setting>, ConfigError> {
    let s: Schema = toml::from_str(text).map_err(|e| schema_error(text, file, &e))?;
    let c = Checker { text, file };
    let mut out: Vec<Setting> = Vec::new();
    if let Some(iface) = &s.iface {
        let name = iface.get_ref();
        if name.is_empty() || name.len() > 15 || name.contains(['/', ' ', '\0']) {
            return Err(c.error(
                "iface",
                iface,
                format!("{name:?} is not an interface name (expected 1-15 bytes, no '/', space or NUL)"),
            ));
        }
        out.push(Setting {
            key: "iface",
            values: vec![name.clone()],
        });
    }
    out.extend(c.one_of("theme", &s.theme, workbench_tui::theme::ThemeKind::NAMES)?);
    out.extend(c.range("probe.flow_table", &s.probe.flow_table, 1, 16_777_216)?);
    // `dry_run` (as JSON wrote it before) is taken as `dry-run`, the name shown everywhere.
    let mode = s.deploy.mode.as_ref().map(|m| {
        let mut m = m.clone();
        if m.get_ref() == "dry_run" {
            *m.get_mut() = "dry-run".into();
        }
        m
    });
    out.extend(c.one_of("deploy.mode", &mode, &["monitor", "enforce", "dry-run"])?);
    if let Some(list) = &s.deploy.allow {
        let mut values = Vec::new();
        for (i, cidr) in list.iter().enumerate() {
            if let Err(e) = cidr.get_ref().parse::<workbench_kernel::allowlist::Cidr>() {
                return Err(c.error(
                    &format!("deploy.allow[{i}]"),
                    cidr,
                    // The parser's message says what a CIDR looks like.
                    format!("{e}"),
                ));
            }
            values.push(cidr.get_ref().clone());
        }
        out.push(Setting {
            key: "deploy.allow",
            values,
        });
    }
    out.extend(c.range("deploy.decide_first", &s.deploy.decide_first, 0, 1_000_000)?);
    out.extend(c.range("deploy.decide_every", &s.deploy.decide_every, 0, 1_000_000)?);
    if let (Some(first), Some(every)) = (&s.deploy.decide_first, &s.deploy.decide_every) {
        if *first.get_ref() == 0 && *every.get_ref() == 0 {
            return Err(c.error(
                "deploy.decide_every",
                every,
                "0 with decide_first 0 decides at no packet: the model would never score a flow (expected one of them above 0)".into(),
            ));
        }
    }
    out.extend(c.range("verify.pps", &s.verify.pps, 1, 10_000_000)?);
    if let Some(dir) = &s.data.cache_dir {
        if dir.get_ref().is_empty() {
            return Err(c.error("data.cache_dir", dir, "empty path (expected a directory)".into()));
        }
        out.push(Setting {
            key: "data.cache_dir",
            values: vec![dir.get_ref().clone()],
        });
    }
    out.extend(c.one_of(
        "train.split",
        &s.train.split,
        &["auto", "random", "time", "host", "file"],
    )?);
    out.extend(c.range("train.max_depth", &s.train.max_depth, 1, 24)?);
    if let Some(dir) = &s.train.model_dir {
        if dir.get_ref().is_empty() {
            return Err(c.error("train.model_dir", dir, "empty path (expected a directory)".into()));
        }
        out.push(Setting {
            key: "train.model_dir",
            values: vec![dir.get_ref().clone()],
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
