//! The deployment files in deploy/ (issue 15 item 5). The systemd unit is checked by
//! `systemd-analyze verify` (and its exposure by `systemd-analyze security --offline`); the
//! Kubernetes manifests and the Vector configuration cannot run here (no cluster, no Vector), so
//! they are checked statically: parsed, and the fields the agent depends on asserted, across
//! files (the ConfigMap's config against the DaemonSet's mounts, the events file against
//! Vector's source). None of this runs `workbench agent` (issue 15 item 2).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::TempDir;
use serde_json::Value;

fn deploy(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(rel)
}

fn read(rel: &str) -> String {
    let p = deploy(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn yaml(rel: &str) -> Value {
    serde_yaml_ng::from_str(&read(rel)).unwrap_or_else(|e| panic!("deploy/{rel}: not YAML: {e}"))
}

fn toml_value(text: &str, what: &str) -> toml::Value {
    toml::from_str(text).unwrap_or_else(|e| panic!("{what}: not TOML: {e}"))
}

const UNIT: &str = "systemd/ebpf-ml-workbench-agent.service";
const INSTALLED_BIN: &str = "/usr/local/bin/workbench";

/// `key=value` lines of the unit (the last one wins for a key given twice, as for most keys).
fn unit_values(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_string)
        .collect()
}

fn systemd_analyze(args: &[&str]) -> std::process::Output {
    Command::new("systemd-analyze").args(args).output().unwrap_or_else(|e| {
        panic!("systemd-analyze cannot run ({e}): install the Debian package systemd (`cargo xtask setup` does)")
    })
}

/// The unit with its ExecStart pointed at the workbench binary this build made, written to `dir`:
/// `verify` checks that ExecStart's program exists, and nothing is installed under /usr/local.
fn unit_copy(dir: &Path, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let text = read(UNIT).replace(INSTALLED_BIN, env!("CARGO_BIN_EXE_workbench"));
    let path = dir.join(name);
    std::fs::write(&path, edit(text)).expect("write unit");
    path
}

#[test]
fn deploy_systemd_unit_passes_verify_with_three_capabilities() {
    let text = read(UNIT);
    let caps = |key: &str| -> BTreeSet<String> {
        unit_values(&text, key)
            .iter()
            .flat_map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect()
    };
    let three: BTreeSet<String> = ["CAP_BPF", "CAP_NET_ADMIN", "CAP_PERFMON"]
        .map(String::from)
        .into();
    assert_eq!(caps("CapabilityBoundingSet"), three);
    assert_eq!(caps("AmbientCapabilities"), three);
    // No other capability anywhere, and uid 0 (the pins belong to root) with only these three.
    assert!(
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .all(|l| !l.contains("CAP_SYS_ADMIN")),
        "{text}"
    );
    assert!(unit_values(&text, "User").is_empty());
    assert_eq!(unit_values(&text, "NoNewPrivileges"), ["yes"]);
    assert_eq!(
        unit_values(&text, "ExecStart"),
        [format!(
            "{INSTALLED_BIN} agent --config /etc/ebpf-ml-workbench/agent.toml"
        )]
    );
    // The one privileged step ('+') is the bpffs mount.
    let pre = unit_values(&text, "ExecStartPre");
    assert!(
        pre.len() == 1 && pre[0].starts_with('+') && pre[0].contains("mount -t bpf bpf /sys/fs/bpf"),
        "{pre:?}"
    );

    let dir = TempDir::new("deploy-unit");
    let unit = unit_copy(dir.path(), "ebpf-ml-workbench-agent.service", |t| t);
    let unit_s = unit.to_str().expect("utf8");
    let out = systemd_analyze(&["verify", "--man=no", unit_s]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Silent and 0: a warning (an unknown key, a bad value) counts as a failure here.
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );

    // The check can fail: an unknown key is reported, a program that does not exist is an error.
    let typo = unit_copy(dir.path(), "typo.service", |t| {
        t.replace("CapabilityBoundingSet=", "CapabilityBoundSet=")
    });
    let out = systemd_analyze(&["verify", "--man=no", typo.to_str().expect("utf8")]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Unknown key"),
        "{out:?}"
    );
    let missing = unit_copy(dir.path(), "missing.service", |t| {
        t.replace(env!("CARGO_BIN_EXE_workbench"), "/nonexistent/workbench")
    });
    assert!(
        !systemd_analyze(&["verify", "--man=no", missing.to_str().expect("utf8")])
            .status
            .success()
    );

    // systemd's own exposure score of the sandbox: "OK" or better (below 5.0 of 10).
    let out = systemd_analyze(&["security", "--offline=true", unit_s]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure level: {text}"));
    let exposure: f64 = line
        .split(": ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    println!(
        "deploy unit: systemd-analyze verify clean; {}",
        line.trim_start_matches(|c: char| !c.is_alphanumeric())
    );
    assert!(exposure < 5.0, "{line}");
}

/// The agent's `[agent]` table with the keys the command contract names.
fn agent_table(text: &str, what: &str) -> toml::Table {
    let v = toml_value(text, what);
    let agent = v
        .get("agent")
        .and_then(toml::Value::as_table)
        .cloned()
        .unwrap_or_else(|| panic!("{what}: no [agent]"));
    for key in ["interfaces", "model", "metrics_listen", "events_file"] {
        assert!(agent.contains_key(key), "{what}: [agent] has no {key}");
    }
    assert!(
        agent["interfaces"].as_array().is_some_and(|a| !a.is_empty()),
        "{what}: interfaces"
    );
    agent
}

fn str_of<'a>(t: &'a toml::Table, key: &str) -> &'a str {
    t[key].as_str().unwrap_or_else(|| panic!("{key} is not a string"))
}

fn port_of(listen: &str) -> u16 {
    listen
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{listen}: no port"))
}

#[test]
fn deploy_daemonset_has_host_network_bpffs_capabilities_and_configmaps() {
    let ns = yaml("kubernetes/namespace.yaml");
    let cm = yaml("kubernetes/configmap.yaml");
    let ds = yaml("kubernetes/daemonset.yaml");
    assert_eq!(
        (&ns["kind"], &cm["kind"], &ds["kind"]),
        (&"Namespace".into(), &"ConfigMap".into(), &"DaemonSet".into())
    );
    assert_eq!(ds["apiVersion"], "apps/v1");
    let namespace = &ns["metadata"]["name"];
    assert_eq!(
        (&cm["metadata"]["namespace"], &ds["metadata"]["namespace"]),
        (namespace, namespace)
    );
    let spec = &ds["spec"]["template"]["spec"];
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(
        ds["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
        ds["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
    );

    let containers = spec["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let agent = &containers[0];
    let sc = &agent["securityContext"];
    assert_eq!(
        sc["capabilities"]["add"],
        serde_json::json!(["BPF", "NET_ADMIN", "PERFMON"])
    );
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(
        (&sc["privileged"], &sc["allowPrivilegeEscalation"]),
        (&false.into(), &false.into())
    );
    // The only privileged container is the one that mounts bpffs, and it runs just that.
    let inits = spec["initContainers"].as_array().expect("initContainers");
    assert_eq!(inits.len(), 1);
    assert!(inits[0]["command"]
        .to_string()
        .contains("mount -t bpf bpf /sys/fs/bpf"));

    let volumes = spec["volumes"].as_array().expect("volumes");
    let volume = |name: &str| {
        volumes
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no volume {name}"))
    };
    let mount_of = |c: &Value, name: &str| -> String {
        c["volumeMounts"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["name"] == name))
            .and_then(|m| m["mountPath"].as_str())
            .unwrap_or_else(|| panic!("{} does not mount {name}", c["name"]))
            .to_string()
    };
    // The node's bpffs, in both containers at its own path.
    let bpffs = volumes
        .iter()
        .find(|v| v["hostPath"]["path"] == "/sys/fs/bpf")
        .expect("a hostPath volume of /sys/fs/bpf");
    let bpffs_name = bpffs["name"].as_str().expect("name");
    assert_eq!(mount_of(agent, bpffs_name), "/sys/fs/bpf");
    assert_eq!(mount_of(&inits[0], bpffs_name), "/sys/fs/bpf");

    // The configuration: a ConfigMap volume mounted where the agent's --config points.
    let command: Vec<&str> = agent["command"]
        .as_array()
        .expect("command")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(&command[..2], ["workbench", "agent"]);
    let config_path =
        Path::new(command[command.iter().position(|a| *a == "--config").expect("--config") + 1]);
    assert_eq!(volume("config")["configMap"]["name"], cm["metadata"]["name"]);
    let config_dir = mount_of(agent, "config");
    assert_eq!(config_path.parent(), Some(Path::new(&config_dir)));
    let file_name = config_path
        .file_name()
        .and_then(|f| f.to_str())
        .expect("file name");
    let config_text = cm["data"][file_name]
        .as_str()
        .unwrap_or_else(|| panic!("the ConfigMap has no {file_name}"));
    let cfg = agent_table(config_text, "the ConfigMap's agent.toml");

    // The model: a ConfigMap volume (made from the file, as the ConfigMap's comment says) holding
    // the file the configuration names.
    let model_cm = volume("model")["configMap"]["name"]
        .as_str()
        .expect("model ConfigMap")
        .to_string();
    assert!(read("kubernetes/configmap.yaml")
        .contains(&format!("create configmap {model_cm} --from-file=model.ebml=")));
    assert_eq!(
        Path::new(str_of(&cfg, "model")),
        Path::new(&mount_of(agent, "model")).join("model.ebml")
    );
    // Candidates: a second ConfigMap volume where `model_dir` points, optional (a node starts
    // without any), and apart from the model (a restart must not make a candidate active).
    assert_eq!(str_of(&cfg, "model_dir"), mount_of(agent, "candidates"));
    assert_eq!(volume("candidates")["configMap"]["optional"], true);
    assert_ne!(
        volume("candidates")["configMap"]["name"].as_str(),
        Some(model_cm.as_str())
    );
    assert!(!Path::new(str_of(&cfg, "model")).starts_with(str_of(&cfg, "model_dir")));

    // Events on the node for Vector; metrics on the port Prometheus is told to scrape.
    let events_dir = mount_of(agent, "events");
    assert_eq!(
        Path::new(str_of(&cfg, "events_file")).parent(),
        Some(Path::new(&events_dir))
    );
    assert_eq!(volume("events")["hostPath"]["path"], events_dir.as_str());
    let port = port_of(str_of(&cfg, "metrics_listen"));
    assert_eq!(agent["ports"][0]["containerPort"], port);
    assert_eq!(
        ds["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"],
        port.to_string()
    );
    println!(
        "deploy daemonset: hostNetwork, caps {}, bpffs hostPath, ConfigMaps {} and {model_cm}, metrics port {port}",
        sc["capabilities"]["add"],
        cm["metadata"]["name"].as_str().unwrap_or("")
    );
}

#[test]
fn deploy_vector_reads_the_agent_events_and_ships_them() {
    let vector = toml_value(&read("vector/vector.toml"), "deploy/vector/vector.toml");
    let kafka = toml_value(&read("vector/kafka.toml"), "deploy/vector/kafka.toml");
    let source = &vector["sources"]["workbench_events"];
    assert_eq!(source["type"].as_str(), Some("file"));
    let include: Vec<&str> = source["include"]
        .as_array()
        .expect("include")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    // The systemd example and the Kubernetes ConfigMap write where Vector reads.
    let systemd_cfg = agent_table(&read("systemd/agent.toml"), "deploy/systemd/agent.toml");
    let cm = yaml("kubernetes/configmap.yaml");
    let k8s_cfg = agent_table(
        cm["data"]["agent.toml"].as_str().expect("agent.toml"),
        "ConfigMap",
    );
    for cfg in [&systemd_cfg, &k8s_cfg] {
        assert!(include.contains(&str_of(cfg, "events_file")), "{include:?}");
    }
    let remap = &vector["transforms"]["workbench_verdicts"];
    assert_eq!(remap["type"].as_str(), Some("remap"));
    assert_eq!(remap["inputs"].as_array().map(Vec::len), Some(1));
    assert_eq!(remap["inputs"][0].as_str(), Some("workbench_events"));
    let vrl = remap["source"].as_str().expect("VRL");
    assert!(
        vrl.contains("parse_json!(.message)") && vrl.contains(".timestamp"),
        "{vrl}"
    );
    let es = &vector["sinks"]["elasticsearch"];
    assert_eq!(es["type"].as_str(), Some("elasticsearch"));
    let k = &kafka["sinks"]["kafka"];
    assert_eq!(k["type"].as_str(), Some("kafka"));
    for sink in [es, k] {
        assert_eq!(sink["inputs"][0].as_str(), Some("workbench_verdicts"));
    }
    // Keyed by a key every event has (the schema requires it).
    let schema = crate::common::eve_schema::schema();
    let key = k["key_field"].as_str().expect("key_field");
    assert!(
        schema["required"]
            .as_array()
            .is_some_and(|r| r.contains(&Value::from(key))),
        "{key}"
    );
    // The systemd unit's --config is where the example configuration is meant to go.
    assert!(read(UNIT).contains("--config /etc/ebpf-ml-workbench/agent.toml"));
}
