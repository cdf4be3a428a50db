//! The agent's configuration file: one `[agent]` table (deploy/systemd/agent.toml is an example).
//! Everything that can be checked before the kernel is touched is checked here, so that a bad
//! file fails the start, or is refused by a SIGHUP reload, in one line naming the file and the
//! key, and the running agent never half-applies it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use workbench_flow::model::file::{self, ModelFile};
use workbench_kernel::enforce::{self, DefaultRoute};
use workbench_kernel::models::Clock;
use workbench_kernel::tc::AttachMode;

/// Where `workbench agent` reads its configuration without `--config` (the unit's path).
pub const DEFAULT_PATH: &str = "/etc/ebpf-ml-workbench/agent.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    agent: AgentConfig,
}

pub use workbench_kernel::models::Mode;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnExit {
    /// SIGTERM/SIGINT detach the probe and remove its pins (what `probe detach` does).
    #[default]
    Detach,
    /// Leave the pinned probe running; the next agent start reuses it.
    Keep,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Attach {
    #[default]
    Auto,
    Tcx,
    Tc,
}

impl Attach {
    pub fn mode(self) -> AttachMode {
        match self {
            Attach::Auto => AttachMode::Auto,
            Attach::Tcx => AttachMode::Tcx,
            Attach::Tc => AttachMode::Tc,
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}
fn default_rotate_bytes() -> u64 {
    100 << 20
}
fn default_rotate_keep() -> u32 {
    5
}
fn default_poll_ms() -> u64 {
    1000
}
fn default_after() -> u64 {
    1000
}
fn default_max_disagreement() -> f64 {
    0.01
}

/// The `[agent]` table; the defaults are docs/CLI.md's.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub interfaces: Vec<String>,
    pub model: PathBuf,
    #[serde(default = "default_listen")]
    pub metrics_listen: SocketAddr,
    #[serde(default)]
    pub mode: Mode,
    /// Allow enforce mode on an interface that carries the default route.
    #[serde(default)]
    pub enforce_on_default_route: bool,
    #[serde(default)]
    pub attach: Attach,
    /// `coarse`: the timer tick's clock, cheaper, time features at tick resolution
    /// (docs/FEATURES.md, "The coarse clock").
    #[serde(default)]
    pub clock: Clock,
    /// How the probe scores the models: `code` (compiled, the default) or `table`
    /// (`deploy --engine`; docs/MODEL_ENGINE.md, "The model as code").
    #[serde(default)]
    pub engine: workbench_kernel::code::Engine,
    pub flow_table: Option<u32>,
    pub events_file: Option<PathBuf>,
    #[serde(default = "default_rotate_bytes")]
    pub events_rotate_bytes: u64,
    #[serde(default = "default_rotate_keep")]
    pub events_rotate_keep: u32,
    pub events_socket: Option<PathBuf>,
    pub model_dir: Option<PathBuf>,
    #[serde(default = "default_poll_ms")]
    pub model_dir_poll_ms: u64,
    #[serde(default = "default_after")]
    pub promote_after_decisions: u64,
    #[serde(default = "default_max_disagreement")]
    pub promote_max_disagreement: f64,
    #[serde(default)]
    pub on_exit: OnExit,
}

impl AgentConfig {
    pub fn policy(&self) -> DefaultRoute {
        if self.enforce_on_default_route {
            DefaultRoute::Allow
        } else {
            DefaultRoute::Refuse
        }
    }
}

/// A configuration that passed every check, with its model file read and validated.
pub struct Loaded {
    pub path: PathBuf,
    pub cfg: AgentConfig,
    pub model: ModelFile,
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Parses `text` (the file `path`): one line per error, `FILE:LINE:COLUMN: message`.
pub fn parse(text: &str, path: &Path) -> Result<AgentConfig, String> {
    let file = path.display();
    let doc: Document = toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(String::new(), |s| {
            let (l, c) = line_column(text, s.start);
            format!(":{l}:{c}")
        });
        // toml's message is one sentence (its Display adds the source lines: not one line).
        format!("{file}{at}: {}", e.message().trim().replace('\n', " "))
    })?;
    Ok(doc.agent)
}

/// Reads, parses and checks the configuration at `path`.
pub fn load(path: &Path) -> Result<Loaded, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the agent configuration: {e}", path.display()))?;
    let cfg = parse(&text, path)?;
    let model = check(&cfg, path)?;
    Ok(Loaded {
        path: path.to_path_buf(),
        cfg,
        model,
    })
}

/// The checks that need the machine (interfaces, files) but not the probe.
fn check(cfg: &AgentConfig, path: &Path) -> Result<ModelFile, String> {
    let key = |k: &str, msg: String| format!("{}: key `agent.{k}`: {msg}", path.display());
    if cfg.interfaces.is_empty() {
        return Err(key("interfaces", "names no interface".into()));
    }
    for (i, iface) in cfg.interfaces.iter().enumerate() {
        if cfg.interfaces[..i].contains(iface) {
            return Err(key("interfaces", format!("names {iface:?} twice")));
        }
        if let Err(e) = workbench_kernel::probe::ifindex(iface) {
            return Err(key("interfaces", e.to_string()));
        }
        if let Err(e) = enforce::check(iface, cfg.mode.abi(), cfg.policy()) {
            return Err(key(
                "mode",
                format!("{e} (in this file: enforce_on_default_route = true)").replace(
                    "; pass --i-know-enforce-can-cut-this-machine-off to `workbench deploy` to do it anyway",
                    "",
                ),
            ));
        }
    }
    let model = file::read(&cfg.model).map_err(|e| key("model", format!("{e:#}")))?;
    if let Some(dir) = &cfg.model_dir {
        if !dir.is_dir() {
            return Err(key("model_dir", format!("{} is not a directory", dir.display())));
        }
    }
    if cfg.model_dir_poll_ms < 10 {
        return Err(key("model_dir_poll_ms", "must be at least 10".into()));
    }
    if cfg.promote_after_decisions == 0 {
        return Err(key("promote_after_decisions", "must be at least 1".into()));
    }
    if !(0.0..=1.0).contains(&cfg.promote_max_disagreement) {
        return Err(key(
            "promote_max_disagreement",
            format!("{} is not a share between 0 and 1", cfg.promote_max_disagreement),
        ));
    }
    if cfg.events_rotate_bytes == 0 {
        return Err(key("events_rotate_bytes", "must be at least 1".into()));
    }
    if cfg.flow_table == Some(0) {
        return Err(key("flow_table", "must be at least 1 entry".into()));
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_config_defaults_and_unknown_keys() {
        let p = Path::new("a.toml");
        let cfg = parse("[agent]\ninterfaces = [\"lo\"]\nmodel = \"m.ebml\"\n", p).expect("parses");
        assert_eq!(cfg.metrics_listen, default_listen());
        assert_eq!(cfg.mode, Mode::Monitor);
        assert_eq!(cfg.on_exit, OnExit::Detach);
        assert_eq!(cfg.promote_after_decisions, 1000);
        let e = parse(
            "[agent]\ninterfaces = [\"lo\"]\nmodel = \"m.ebml\"\nmodle_dir = \"x\"\n",
            p,
        )
        .expect_err("unknown key");
        assert!(e.starts_with("a.toml:4:1: ") && e.contains("modle_dir"), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        let e = parse(
            "[agent]\ninterfaces = [\"lo\"]\nmodel = \"m\"\nmode = \"drop\"\n",
            p,
        )
        .expect_err("bad mode");
        assert!(e.starts_with("a.toml:4:") && e.contains("drop"), "{e}");
    }

    /// The example files in deploy/ are configurations this parser takes.
    #[test]
    fn agent_config_deploy_examples_parse() {
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
        let systemd = std::fs::read_to_string(deploy.join("systemd/agent.toml")).expect("read");
        let cfg = parse(&systemd, Path::new("systemd/agent.toml")).expect("systemd/agent.toml parses");
        assert_eq!(cfg.interfaces, ["eth0"]);
        let cm: serde_yaml_ng::Value = serde_yaml_ng::from_str(
            &std::fs::read_to_string(deploy.join("kubernetes/configmap.yaml")).expect("read"),
        )
        .expect("yaml");
        let text = cm["data"]["agent.toml"].as_str().expect("agent.toml");
        let cfg = parse(text, Path::new("configmap.yaml")).expect("the ConfigMap's agent.toml parses");
        // The model the ConfigMap ships is in the watched directory: a new one goes in as shadow.
        assert_eq!(cfg.model.parent(), cfg.model_dir.as_deref());
    }
}
