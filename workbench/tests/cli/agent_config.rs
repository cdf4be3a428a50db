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
