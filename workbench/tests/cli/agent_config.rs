//! `workbench agent` refuses a bad configuration at start: exit status 1 and one line on stderr
//! naming the file, the key and what is wrong, before anything touches the kernel (these run
//! without privileges: every check here comes before the probe).

use std::path::Path;
use std::process::Command;

use crate::common::{save_model, TempDir};
use workbench_flow::model::build;

/// Runs `workbench agent --config FILE`: (exit code, stderr).
fn agent(config: &Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["agent", "--config"])
        .arg(config)
        .output()
        .expect("the workbench binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

/// Writes `text` as DIR/agent.toml and runs the agent on it: the one error line.
fn refused(dir: &Path, text: &str) -> String {
    let config = dir.join("agent.toml");
    std::fs::write(&config, text).expect("write config");
    let (code, stderr) = agent(&config);
    assert_eq!(code, Some(1), "exit status; stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        !stderr.contains("panicked") && stderr.starts_with("error: "),
        "{stderr}"
    );
    assert!(
        stderr.contains(&config.display().to_string()),
        "names the file: {stderr}"
    );
    stderr
}

#[test]
fn agent_config_errors_name_the_file_the_key_and_the_value() {
    let dir = TempDir::new("agent-config");
    let model = save_model(dir.path(), "m.ebml", &build::syn_count_tree(3).expect("tree"));
    let model = model.display();

    let e = refused(
        dir.path(),
        &format!("[agent]\ninterfaces = [\"lo\", \"ebmlnosuch0\"]\nmodel = \"{model}\"\n"),
    );
    assert!(
        e.contains("key `agent.interfaces`") && e.contains("\"ebmlnosuch0\""),
        "missing interface: {e}"
    );

    let e = refused(
        dir.path(),
        &format!("[agent]\ninterfaces = [\"lo\"]\nmodel = \"{model}\"\nmodle_dir = \"/tmp\"\n"),
    );
    assert!(
        e.contains("agent.toml:4:1:") && e.contains("unknown field `modle_dir`"),
        "unknown key: {e}"
    );

    let e = refused(
        dir.path(),
        "[agent]\ninterfaces = [\"lo\"]\nmodel = \"/nonexistent/model.ebml\"\n",
    );
    assert!(
        e.contains("key `agent.model`") && e.contains("/nonexistent/model.ebml"),
        "missing model file: {e}"
    );

    let e = refused(
        dir.path(),
        &format!("[agent]\ninterfaces = [\"lo\"]\nmodel = \"{model}\"\npromote_max_disagreement = 2.0\n"),
    );
    assert!(e.contains("key `agent.promote_max_disagreement`"), "{e}");

    // No [agent] table at all (a workbench settings file given by mistake).
    let e = refused(dir.path(), "iface = \"lo\"\n");
    assert!(e.contains("agent"), "{e}");

    let (code, stderr) = agent(&dir.path().join("absent.toml"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("absent.toml: cannot read the agent configuration"),
        "{stderr}"
    );
}

/// Runs `workbench ARGS`: (exit code, stdout, stderr).
fn workbench(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(args)
        .output()
        .expect("the workbench binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

/// `workbench agent --check --config FILE --json`: (exit code, report).
fn check_json(config: &Path) -> (Option<i32>, serde_json::Value) {
    let path = config.display().to_string();
    let (code, stdout, stderr) = workbench(&["agent", "--check", "--config", &path, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("one JSON document ({e}): {stdout}\nstderr: {stderr}"));
    // Exit 0 exactly when the report says ok; otherwise one error line on stderr.
    assert_eq!(code == Some(0), v["ok"] == true, "{v:#}\nstderr: {stderr}");
    if code != Some(0) {
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.lines().count() == 1,
            "{stderr}"
        );
    }
    (code, v)
}

/// Every agent configuration shipped under deploy/ (the systemd example and the TOML the
/// Kubernetes ConfigMap embeds) passes `agent --check` as a file: a shipped file that stops
/// parsing, or names a key the agent does not know, fails here. The host checks (eth0, the
/// model under /etc or the ConfigMap's mount) depend on this machine and are only reported.
#[test]
fn agent_check_validates_every_shipped_agent_config() {
    let dir = TempDir::new("agent-check-deploy");
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let cm: serde_json::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(deploy.join("kubernetes/configmap.yaml")).expect("read configmap"),
    )
    .expect("configmap.yaml is YAML");
    let embedded = dir.path().join("configmap-agent.toml");
    std::fs::write(
        &embedded,
        cm["data"]["agent.toml"]
            .as_str()
            .expect("the ConfigMap holds agent.toml"),
    )
    .expect("write");
    for (file, on_exit) in [(deploy.join("systemd/agent.toml"), "default"), (embedded, "file")] {
        let (_, v) = check_json(&file);
        assert_eq!(v["file_ok"], true, "{}: {v:#}", file.display());
        assert_eq!(v["error"], serde_json::Value::Null, "{v:#}");
        let settings = v["settings"].as_array().expect("settings");
        let get = |k: &str| {
            settings
                .iter()
                .find(|s| s["key"] == k)
                .unwrap_or_else(|| panic!("{k} in {v:#}"))
        };
        assert_eq!(get("interfaces")["value"], serde_json::json!(["eth0"]), "{v:#}");
        assert_eq!(get("interfaces")["source"], "file");
        assert_eq!(get("mode")["value"], "monitor");
        // The DaemonSet keeps its probe across pod restarts (`on_exit = "keep"`).
        assert_eq!(get("on_exit")["source"], on_exit, "{}", file.display());
        let checks = v["host_checks"].as_array().expect("host checks");
        assert!(
            checks.iter().any(|c| c["key"] == "agent.model"),
            "the model file is checked: {v:#}"
        );
        // `config check` says what the file is and names the command that checks it.
        let path = file.display().to_string();
        let (code, _, stderr) = workbench(&["config", "check", &path]);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains("an agent configuration")
                && stderr.contains(&format!("workbench agent --check --config {path}")),
            "{stderr}"
        );
    }
}

#[test]
fn agent_check_passes_a_good_file_and_refuses_a_bad_one_without_attaching() {
    let dir = TempDir::new("agent-check");
    let model = save_model(dir.path(), "m.ebml", &build::syn_count_tree(3).expect("tree"));
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[agent]\ninterfaces = [\"lo\"]\nmodel = \"{}\"\nmetrics_listen = \"127.0.0.1:0\"\n",
            model.display()
        ),
    )
    .expect("write");
    let (code, v) = check_json(&config);
    assert_eq!(code, Some(0), "{v:#}");
    assert!(
        v["host_checks"]
            .as_array()
            .is_some_and(|c| c.iter().all(|c| c["ok"] == true)),
        "{v:#}"
    );
    // The text: every setting with its source, the host checks, the verdict.
    let path = config.display().to_string();
    let (code, text, stderr) = workbench(&["agent", "--check", "--config", &path]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        text.contains("promote_after_decisions") && text.contains("= 1000 [default]"),
        "{text}"
    );
    assert!(text.contains("ok      interface lo exists"), "{text}");
    assert!(text.contains("would start with this file"), "{text}");

    // A host failure: the file is valid, the interface is not here.
    std::fs::write(
        &config,
        format!(
            "[agent]\ninterfaces = [\"ebmlnosuch0\"]\nmodel = \"{}\"\n",
            model.display()
        ),
    )
    .expect("write");
    let (code, v) = check_json(&config);
    assert_eq!(code, Some(1));
    assert_eq!(v["file_ok"], true, "{v:#}");
    assert!(
        v["host_checks"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("ebmlnosuch0")),
        "{v:#}"
    );

    // A file error: an unknown key, named with its line.
    std::fs::write(
        &config,
        "[agent]\ninterfaces = [\"lo\"]\nmodel = \"m\"\nmodle_dir = \"/tmp\"\n",
    )
    .expect("write");
    let (code, v) = check_json(&config);
    assert_eq!(code, Some(1));
    assert_eq!(v["file_ok"], false, "{v:#}");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("agent.toml:4:1:") && e.contains("modle_dir")),
        "{v:#}"
    );
}

/// `--config` in `agent --help` names the agent's file and its default, not the settings
/// file's search ($WORKBENCH_CONFIG, which the agent does not read).
#[test]
fn agent_help_names_its_own_config_default() {
    let (code, help, _) = workbench(&["agent", "--help"]);
    assert_eq!(code, Some(0));
    assert!(help.contains("/etc/ebpf-ml-workbench/agent.toml"), "{help}");
    assert!(help.contains("--check"), "{help}");
    let config_help: String = help
        .split("--config <FILE>")
        .nth(1)
        .unwrap_or_default()
        .split("--check ")
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        config_help.contains("$WORKBENCH_CONFIG") && config_help.contains("not read"),
        "{help}"
    );
}
