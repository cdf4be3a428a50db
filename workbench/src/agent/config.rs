//! The agent's configuration file: one `[agent]` table (deploy/systemd/agent.toml is an example).
//! Everything that can be checked before the kernel is touched is checked here, so that a bad
//! file fails the start, or is refused by a SIGHUP reload, in one line naming the file and the
//! key, and the running agent never half-applies it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use workbench_flow::model::file::{self, ModelFile};
use workbench_kernel::enforce::{self, DefaultRoute};
use workbench_kernel::eve_sink::MAX_ROTATE_KEEP;
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

/// `metrics_listen`: an address and port (`127.0.0.1:9464`, `[::]:9464`) or a host name and port
/// (`localhost:9464`), resolved when the file is read. Of a name's addresses the first IPv4 one
/// is bound: `localhost` is ::1 first on many hosts, and scrapers try 127.0.0.1.
fn listen_address<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    resolve_listen(&text).map_err(|e| serde::de::Error::custom(format!("key `agent.metrics_listen`: {e}")))
}

fn default_drop_unparsed() -> u32 {
    shared::abi::DROP_UNPARSED_DEFAULT
}

/// `drop_unparsed = ["ip_fragment", ...]`, `[]` or `"none"` (as `deploy --drop-unparsed`).
fn drop_unparsed<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Reasons {
        List(Vec<String>),
        One(String),
    }
    let list = match Reasons::deserialize(d)? {
        Reasons::List(reasons) if reasons.is_empty() => return Ok(0),
        Reasons::List(reasons) => reasons.join(","),
        Reasons::One(text) => text,
    };
    workbench_kernel::models::unparsed::parse_as("key `agent.drop_unparsed`", &list)
        .map_err(serde::de::Error::custom)
}

fn resolve_listen(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(text)
        .map_err(|e| {
            format!("{text:?} is neither an address with a port (127.0.0.1:9464, [::]:9464) nor a host name with a port that resolves (localhost:9464): {e}")
        })?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
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
fn default_max_missed() -> f64 {
    0.1
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
    #[serde(default = "default_listen", deserialize_with = "listen_address")]
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
    /// Frames the probe cannot read that enforce mode drops: a list of the unparsed
    /// statistics' reasons (`deploy --drop-unparsed`), `[]` for none.
    #[serde(default = "default_drop_unparsed", deserialize_with = "drop_unparsed")]
    pub drop_unparsed: u32,
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
    /// The largest share of the active model's malicious decisions the candidate may call
    /// benign and be promoted (`promotion.rs`: the disagreement share alone is diluted by the
    /// benign decisions both models agree on).
    #[serde(default = "default_max_missed")]
    pub promote_max_missed: f64,
    #[serde(default)]
    pub on_exit: OnExit,
}

impl AgentConfig {
    /// The promotion rule's settings.
    pub fn rule(&self) -> super::promotion::Rule {
        super::promotion::Rule {
            after: self.promote_after_decisions,
            max_disagreement: self.promote_max_disagreement,
            max_missed: self.promote_max_missed,
        }
    }

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

/// The checks that need the machine (interfaces, files) but not the probe; the file's own
/// values first, then what this host must have.
fn check(cfg: &AgentConfig, path: &Path) -> Result<ModelFile, String> {
    check_values(cfg, path)?;
    let mut model = None;
    for c in host_checks(cfg, path) {
        if let Some(e) = c.error {
            return Err(e);
        }
        if c.model.is_some() {
            model = c.model;
        }
    }
    model.ok_or_else(|| format!("{}: key `agent.model`: not read", path.display()))
}

/// The checks on the file's values alone (the same on every host).
fn check_values(cfg: &AgentConfig, path: &Path) -> Result<(), String> {
    let key = |k: &str, msg: String| format!("{}: key `agent.{k}`: {msg}", path.display());
    if cfg.interfaces.is_empty() {
        return Err(key("interfaces", "names no interface".into()));
    }
    for (i, iface) in cfg.interfaces.iter().enumerate() {
        if cfg.interfaces[..i].contains(iface) {
            return Err(key("interfaces", format!("names {iface:?} twice")));
        }
    }
    if let Some(dir) = cfg.model_dir.as_deref().filter(|d| cfg.model.starts_with(d)) {
        return Err(key(
            "model",
            format!(
                "{} is inside model_dir {}: a file there is a shadow candidate too, so a restart during its trial would make it the active model (with no rollback); keep the active model outside model_dir (deploy/README.md, \"Rolling a model out\")",
                cfg.model.display(),
                dir.display()
            ),
        ));
    }
    if cfg.model_dir_poll_ms < 10 {
        return Err(key("model_dir_poll_ms", "must be at least 10".into()));
    }
    if cfg.promote_after_decisions == 0 {
        return Err(key("promote_after_decisions", "must be at least 1".into()));
    }
    for (name, share) in [
        ("promote_max_disagreement", cfg.promote_max_disagreement),
        ("promote_max_missed", cfg.promote_max_missed),
    ] {
        if !(0.0..=1.0).contains(&share) {
            return Err(key(name, format!("{share} is not a share between 0 and 1")));
        }
    }
    if cfg.events_rotate_bytes == 0 {
        return Err(key("events_rotate_bytes", "must be at least 1".into()));
    }
    if cfg.events_rotate_keep > MAX_ROTATE_KEEP {
        return Err(key(
            "events_rotate_keep",
            format!(
                "{} is more than the {MAX_ROTATE_KEEP} rotated files allowed (each rotation looks at every one)",
                cfg.events_rotate_keep
            ),
        ));
    }
    if cfg.flow_table == Some(0) {
        return Err(key("flow_table", "must be at least 1 entry".into()));
    }
    Ok(())
}

/// One check against this host (`agent --check`): what was checked, under which key, and the
/// error line the agent's start would stop with.
pub struct HostCheck {
    pub key: &'static str,
    pub what: String,
    pub error: Option<String>,
    /// The model file, read and validated (the `model` check).
    pub model: Option<ModelFile>,
}

/// Every check against this host, in the order the start makes them: each interface exists
/// (and enforce mode is allowed on it), the model file reads and validates, `model_dir` is a
/// directory. All of them, not only up to the first failure.
pub fn host_checks(cfg: &AgentConfig, path: &Path) -> Vec<HostCheck> {
    let key = |k: &str, msg: String| format!("{}: key `agent.{k}`: {msg}", path.display());
    let mut out = Vec::new();
    for iface in &cfg.interfaces {
        let error = match workbench_kernel::probe::ifindex(iface) {
            Err(e) => Some(key("interfaces", e.to_string())),
            Ok(_) => enforce::check(iface, cfg.mode.abi(), cfg.policy()).err().map(|e| {
                key(
                    "mode",
                    format!("{e} (in this file: enforce_on_default_route = true)").replace(
                        "; pass --i-know-enforce-can-cut-this-machine-off to `workbench deploy` to do it anyway",
                        "",
                    ),
                )
            }),
        };
        out.push(HostCheck {
            key: "interfaces",
            what: format!(
                "interface {iface} exists (and allows mode {})",
                value_name(&cfg.mode)
            ),
            error,
            model: None,
        });
    }
    let (model, error) = match file::read(&cfg.model) {
        Ok(m) => (Some(m), None),
        Err(e) => (None, Some(key("model", format!("{e:#}")))),
    };
    out.push(HostCheck {
        key: "model",
        what: format!("model file {} reads and validates", cfg.model.display()),
        error,
        model,
    });
    if let Some(dir) = &cfg.model_dir {
        out.push(HostCheck {
            key: "model_dir",
            what: format!("model_dir {} is a directory", dir.display()),
            error: (!dir.is_dir()).then(|| key("model_dir", format!("{} is not a directory", dir.display()))),
            model: None,
        });
    }
    out
}

/// What the start does after [`host_checks`] and before it attaches anything, tried by `agent
/// --check` only (a reload must not bind the port it serves): the metrics address bound and
/// let go, the events file's folder opened for writing (nothing created, truncated or written).
/// The errors are the start's, word for word.
pub fn start_checks(cfg: &AgentConfig, path: &Path) -> Vec<HostCheck> {
    let key = |k: &str, msg: String| format!("{}: key `agent.{k}`: {msg}", path.display());
    let addr = cfg.metrics_listen;
    let mut out = vec![HostCheck {
        key: "metrics_listen",
        what: format!("metrics_listen {addr} can be bound (bound and let go)"),
        // The words of http::Server::bind, which the start calls.
        error: std::net::TcpListener::bind(addr)
            .err()
            .map(|e| key("metrics_listen", format!("cannot listen on {addr}: {e}"))),
        model: None,
    }];
    if let Some(file) = &cfg.events_file {
        out.push(HostCheck {
            key: "events_file",
            what: format!("events_file {} can be opened for appending", file.display()),
            error: workbench_kernel::eve_sink::RotatingFile::check_writable(file)
                .err()
                .map(|e| key("events_file", format!("{e:#}"))),
            model: None,
        });
    }
    out
}

/// The name a configuration file (and the matching flag) spells a value with.
fn value_name<E: clap::ValueEnum>(e: &E) -> String {
    e.to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_string())
}

/// One key of the `[agent]` table as the agent resolved it.
#[derive(Debug, serde::Serialize)]
pub struct Resolved {
    pub key: &'static str,
    pub value: serde_json::Value,
    /// `file` (set in the file) or `default`.
    pub source: &'static str,
}

/// Every key of the `[agent]` table with the value the agent uses (the file's or the default;
/// `text` is the file, to tell which). docs/CLI.md lists the same keys.
pub fn resolved(cfg: &AgentConfig, text: &str) -> Vec<Resolved> {
    use serde_json::{json, Value};
    let table: toml::Table = toml::from_str(text).unwrap_or_default();
    let given = |k: &str| {
        table
            .get("agent")
            .and_then(toml::Value::as_table)
            .is_some_and(|t| t.contains_key(k))
    };
    let path = |p: &Option<PathBuf>| p.as_ref().map_or(Value::Null, |p| json!(p.display().to_string()));
    let entries: Vec<(&'static str, Value)> = vec![
        ("interfaces", json!(cfg.interfaces)),
        ("model", json!(cfg.model.display().to_string())),
        ("metrics_listen", json!(cfg.metrics_listen.to_string())),
        ("mode", json!(value_name(&cfg.mode))),
        ("enforce_on_default_route", json!(cfg.enforce_on_default_route)),
        (
            "attach",
            json!(match cfg.attach {
                Attach::Auto => "auto",
                Attach::Tcx => "tcx",
                Attach::Tc => "tc",
            }),
        ),
        ("clock", json!(value_name(&cfg.clock))),
        (
            "drop_unparsed",
            json!(workbench_kernel::models::unparsed::names(cfg.drop_unparsed)),
        ),
        ("engine", json!(value_name(&cfg.engine))),
        ("flow_table", cfg.flow_table.map_or(Value::Null, |n| json!(n))),
        ("events_file", path(&cfg.events_file)),
        ("events_rotate_bytes", json!(cfg.events_rotate_bytes)),
        ("events_rotate_keep", json!(cfg.events_rotate_keep)),
        ("events_socket", path(&cfg.events_socket)),
        ("model_dir", path(&cfg.model_dir)),
        ("model_dir_poll_ms", json!(cfg.model_dir_poll_ms)),
        ("promote_after_decisions", json!(cfg.promote_after_decisions)),
        ("promote_max_disagreement", json!(cfg.promote_max_disagreement)),
        ("promote_max_missed", json!(cfg.promote_max_missed)),
        (
            "on_exit",
            json!(match cfg.on_exit {
                OnExit::Detach => "detach",
                OnExit::Keep => "keep",
            }),
        ),
    ];
    entries
        .into_iter()
        .map(|(key, value)| Resolved {
            key,
            value,
            source: if given(key) { "file" } else { "default" },
        })
        .collect()
}

/// Reads and parses `path` and checks its values, without the host checks (`agent --check`):
/// the file's text and its configuration.
pub fn read_and_check_values(path: &Path) -> Result<(String, AgentConfig), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the agent configuration: {e}", path.display()))?;
    let cfg = parse(&text, path)?;
    check_values(&cfg, path)?;
    Ok((text, cfg))
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

    #[test]
    fn agent_drop_unparsed_takes_a_list_an_empty_one_or_none() {
        let p = Path::new("a.toml");
        let with = |v: &str| {
            parse(
                &format!("[agent]\ninterfaces = [\"lo\"]\nmodel = \"m\"\ndrop_unparsed = {v}\n"),
                p,
            )
        };
        let default = parse("[agent]\ninterfaces = [\"lo\"]\nmodel = \"m\"\n", p).expect("parses");
        assert_eq!(default.drop_unparsed, shared::abi::DROP_UNPARSED_DEFAULT);
        assert_eq!(default.promote_max_missed, 0.1);
        assert_eq!(with("[]").expect("empty").drop_unparsed, 0);
        assert_eq!(with("\"none\"").expect("none").drop_unparsed, 0);
        let two = with("[\"ip_fragment\", \"too_many_ipv6_ext_headers\"]").expect("two");
        assert_eq!(
            workbench_kernel::models::unparsed::names(two.drop_unparsed),
            ["ip_fragment", "too_many_ipv6_ext_headers"]
        );
        let e = with("[\"not_ip\"]").expect_err("never dropped");
        assert!(
            e.starts_with("a.toml:4:")
                && e.contains("key `agent.drop_unparsed`: not_ip")
                && !e.contains("--drop"),
            "{e}"
        );
    }

    #[test]
    fn agent_metrics_listen_takes_an_address_or_a_host_name() {
        let listen = |v: &str| {
            parse(
                &format!("[agent]\ninterfaces = [\"lo\"]\nmodel = \"m\"\nmetrics_listen = \"{v}\"\n"),
                Path::new("a.toml"),
            )
            .map(|c| c.metrics_listen)
        };
        assert_eq!(listen("[::]:9464"), Ok("[::]:9464".parse().expect("v6")));
        assert_eq!(
            listen("localhost:9464"),
            Ok("127.0.0.1:9464".parse().expect("v4"))
        );
        for bad in ["localhost", "no-such-host.invalid:9464"] {
            let e = listen(bad).expect_err(bad);
            assert!(
                e.starts_with("a.toml:4:") && e.contains("key `agent.metrics_listen`") && e.contains(bad),
                "{e}"
            );
            assert_eq!(e.lines().count(), 1, "{e}");
        }
    }

    /// Each rotation looks at every kept file: a keep in the billions would stall the event
    /// loop, so the key is bounded, and the error names the file and the key.
    #[test]
    fn agent_config_rotate_keep_is_bounded() {
        let p = Path::new("a.toml");
        let with = |keep: u64| {
            parse(
                &format!("[agent]\ninterfaces = [\"lo\"]\nmodel = \"m\"\nevents_rotate_keep = {keep}\n"),
                p,
            )
            .expect("parses")
        };
        check_values(&with(1000), p).expect("1000 is allowed");
        check_values(&with(0), p).expect("0 is allowed");
        let e = check_values(&with(4_000_000_000), p).expect_err("too many");
        assert!(
            e.starts_with("a.toml: key `agent.events_rotate_keep`: ") && e.contains("1000"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1, "{e}");
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
        // The active model and the candidates are two directories (two ConfigMaps).
        let dir = cfg.model_dir.clone().expect("model_dir");
        assert!(
            !cfg.model.starts_with(&dir),
            "{} in {}",
            cfg.model.display(),
            dir.display()
        );
        check_values(&cfg, Path::new("configmap.yaml")).expect("values in range");
        let r = resolved(&cfg, text);
        let source = |k: &str| r.iter().find(|e| e.key == k).map(|e| e.source);
        assert_eq!(source("model_dir"), Some("file"));
        // A pod restart keeps the probe (and a promoted model).
        assert_eq!(source("on_exit"), Some("file"));
        // The layout the ConfigMap had before is refused.
        let mut inside = cfg.clone();
        inside.model_dir = cfg.model.parent().map(Path::to_path_buf);
        let e = check_values(&inside, Path::new("a.toml")).expect_err("model inside model_dir");
        assert!(
            e.starts_with("a.toml: key `agent.model`: ") && e.contains("is inside model_dir"),
            "{e}"
        );
        assert_eq!(r.len(), 20, "every key of the table");
    }
}
