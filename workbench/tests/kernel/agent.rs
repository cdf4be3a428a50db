//! `workbench agent` against the real kernel (issue 15 item 2), as a child process on a lab
//! veth: ready with the configured model; a restart with `on_exit = "keep"` reuses the pinned
//! probe (same program id, still one cls_bpf filter per direction); SIGHUP applies a changed
//! mode and refuses a broken file; an invalid model dropped in the model directory is
//! rejected (counter 1, active model unchanged); a disagreeing model stays shadow and says
//! why; an agreeing one is promoted by the rule after N decisions of lab traffic; the verdict
//! events are schema-valid EVE lines; SIGTERM with `on_exit = "detach"` leaves no pin, filter,
//! qdisc or claim. Traffic only between the ends of the test's own veth pair.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::promtool::{promtool_check, sample};
use crate::common::tc::{filters, has_clsact};
use crate::common::{eve_schema, lab_id, require_tool, save_model, workbench_json, DetachOnDrop, TempDir};
use serde_json::Value;
use shared::model::SCORE_ONE;
use workbench_flow::craft::TCP_SYN;
use workbench_flow::model::build::{self, Node};
use workbench_flow::model::id_string;
use workbench_kernel::lab::{traffic, Lab};
use workbench_kernel::probe;

const WAIT: Duration = Duration::from_secs(15);

/// The agent as a child process; its stderr lines collected (and echoed) by a thread.
pub(crate) struct Agent {
    pub(crate) child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// The thread collecting `lines`: it ends when the agent's stderr closes.
    reader: Option<std::thread::JoinHandle<()>>,
    addr: String,
}

impl Agent {
    pub(crate) fn start(config: &Path) -> Agent {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_workbench"));
        cmd.args(["agent", "--config"]).arg(config);
        Agent::spawn(cmd)
    }

    /// The agent as `cmd` starts it (e.g. inside `unshare`).
    pub(crate) fn spawn(mut cmd: Command) -> Agent {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the agent");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                crate::common::report(&format!("  | {line}"));
                sink.lock().expect("lines").push(line);
            }
        });
        let mut agent = Agent {
            child,
            lines,
            reader: Some(reader),
            addr: String::new(),
        };
        let serving = agent.wait_for("serving http://");
        agent.addr = serving
            .split("http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or_else(|| panic!("no address in {serving:?}"))
            .to_string();
        agent
    }

    /// The first line from now on... or already logged, after `from` lines, containing `needle`.
    pub(crate) fn wait_after(&self, from: usize, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(l) = self
                .lines
                .lock()
                .expect("lines")
                .iter()
                .skip(from)
                .find(|l| l.contains(needle))
            {
                return l.clone();
            }
            assert!(
                Instant::now() < deadline,
                "the agent logged no line with {needle:?} in {WAIT:?}:\n{}",
                self.lines.lock().expect("lines").join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The metrics address it serves (`metrics_listen` resolved, port 0 picked).
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    pub(crate) fn wait_for(&self, needle: &str) -> String {
        self.wait_after(0, needle)
    }

    pub(crate) fn logged(&self) -> usize {
        self.lines.lock().expect("lines").len()
    }

    pub(crate) fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// SIGTERM, the exit status and every line the agent logged.
    pub(crate) fn stop_logged(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let (lines, reader) = (self.lines.clone(), self.reader.take());
        let status = self.stop();
        // The reader thread ends with the agent's stderr, once it has the last lines: waited
        // for (a fixed pause lost the exit's lines on a loaded machine), bounded in case a
        // child of the agent still held the pipe.
        let deadline = Instant::now() + WAIT;
        while reader.as_ref().is_some_and(|r| !r.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let logged = lines.lock().expect("lines").clone();
        (status, logged)
    }

    /// SIGTERM and the exit status.
    pub(crate) fn stop(mut self) -> std::process::ExitStatus {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the agent did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn get(&self, path: &str) -> (String, String) {
        http_get(&self.addr, path, Duration::from_secs(10))
    }

    pub(crate) fn metric(&self, series: &str) -> Option<f64> {
        let (status, body) = self.get("/metrics");
        assert!(status.contains("200"), "{status}\n{body}");
        sample(&body, series)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP GET of `path` at `addr`: the status line and the body.
pub(crate) fn http_get(addr: &str, path: &str, timeout: Duration) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(timeout)).expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("reply");
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    (head.lines().next().unwrap_or("").to_string(), body.to_string())
}

pub(crate) fn config(path: &Path, body: &str, extra: &str) {
    std::fs::write(path, format!("[agent]\n{body}{extra}")).expect("write the agent config");
}

fn status(iface: &str) -> Value {
    workbench_json(&["probe", "status", "--iface", iface, "--json"])
}

/// cls_bpf filters of the probe on `iface`: (ingress, egress).
fn filter_count(iface: &str) -> (usize, usize) {
    (
        filters(None, iface, "ingress").len(),
        filters(None, iface, "egress").len(),
    )
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn agent_reuses_its_probe_reloads_rejects_promotes_and_cleans_up() {
    crate::common::require_kernel("agent_reuses_its_probe_reloads_rejects_promotes_and_cleans_up");
    require_tool("agent", "tc", "iproute2");
    require_tool("agent", "promtool", "prometheus");
    let dir = TempDir::new("agent");
    let models = dir.path().join("models");
    std::fs::create_dir(&models).expect("model dir");
    let a = build::syn_count_tree(3).expect("tree");
    let a_file = save_model(dir.path(), "a.ebml", &a);
    let a_id = id_string(a.header.model_id);
    let lab = Lab::create(&lab_id("ag"), ((std::process::id() + 53) % 200) as u8 + 4).expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.clone();
    // A second interface, added and removed by reloads.
    let lab2 = Lab::create(&lab_id("ah"), ((std::process::id() + 54) % 200) as u8 + 4).expect("second lab");
    let _detach2 = DetachOnDrop(lab2.host_if.clone());
    let h2 = lab2.host_if.clone();
    let events = dir.path().join("eve.json");
    let cfg_path = dir.path().join("agent.toml");
    let body_for = |ifaces: &str| {
        format!(
            "interfaces = [{ifaces}]\nmodel = \"{}\"\nmetrics_listen = \"127.0.0.1:0\"\nattach = \"tc\"\n\
         events_file = \"{}\"\nmodel_dir = \"{}\"\nmodel_dir_poll_ms = 100\n\
         promote_after_decisions = 5\npromote_max_disagreement = 0.2\n",
            a_file.display(),
            events.display(),
            models.display()
        )
    };
    let body = body_for(&format!("\"{h}\""));
    config(&cfg_path, &body, "on_exit = \"keep\"\n");

    // Start: attached, the model active, ready.
    let agent = Agent::start(&cfg_path);
    agent.wait_for("probe attached (program id");
    let (st, text) = agent.get("/readyz");
    assert!(st.contains("200"), "{st}: {text}");
    assert!(agent.get("/healthz").0.contains("200"));
    assert!(agent.get("/nope").0.contains("404"));
    let (_, metrics) = agent.get("/metrics");
    let (ok, said) = promtool_check(&metrics);
    assert!(ok && said.trim().is_empty(), "promtool:\n{said}\n{metrics}");
    assert_eq!(
        sample(
            &metrics,
            &format!("workbench_model_info{{iface=\"{h}\",model=\"{a_id}\",slot=\"active\"}}")
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "workbench_agent_models_rejected_total"),
        Some(0.0)
    );
    let program_id = probe::pinned_program_id(&h).expect("pinned program");
    assert_eq!(filter_count(&h), (1, 1), "one cls_bpf filter per direction");

    // on_exit = "keep": SIGTERM leaves the probe; the next start reuses it, no second attach.
    assert!(agent.stop().success());
    assert!(probe::is_attached(&h), "keep leaves the probe pinned");
    assert_eq!(filter_count(&h), (1, 1));
    let agent = Agent::start(&cfg_path);
    let reused = agent.wait_for("reusing the probe");
    assert!(reused.contains(&format!("program id {program_id}")), "{reused}");
    assert!(agent.wait_for("already the active model").contains(&a_id));
    assert_eq!(probe::pinned_program_id(&h).expect("pin"), program_id);
    assert_eq!(filter_count(&h), (1, 1), "still one filter per direction");
    assert!(agent.get("/readyz").0.contains("200"));

    // Not ready without an active model, with the reason in one line; ready again after a deploy.
    workbench_kernel::models::ProbeModels::open(&h)
        .and_then(|m| m.clear_active())
        .expect("clear the active slot");
    let (st, text) = agent.get("/readyz");
    assert!(st.contains("503"), "{st}");
    assert_eq!(text, format!("not ready: no active model on {h}\n"));
    workbench_json(&["deploy", a_file.to_str().expect("utf-8"), "--iface", &h, "--json"]);
    assert!(agent.get("/readyz").0.contains("200"));

    // SIGHUP: a changed mode applies; a broken file is refused and the agent keeps going.
    assert_eq!(status(&h)["mode"], "monitor");
    assert_eq!(status(&h)["clock"], "ns");
    config(
        &cfg_path,
        &body,
        // `dry_run` (as JSON once printed it) is the same mode as `dry-run`.
        "on_exit = \"keep\"\nmode = \"dry_run\"\nclock = \"coarse\"\n",
    );
    let from = agent.logged();
    agent.signal(libc::SIGHUP);
    let reloaded = agent.wait_after(from, "configuration reloaded");
    assert!(reloaded.contains("mode dry-run"), "{reloaded}");
    assert!(reloaded.contains("clock coarse"), "{reloaded}");
    assert_eq!(status(&h)["mode"], "dry-run");
    assert_eq!(status(&h)["clock"], "coarse");
    config(
        &cfg_path,
        &body,
        "on_exit = \"keep\"\nmode = \"dry-run\"\nmdoe = 1\n",
    );
    let from = agent.logged();
    agent.signal(libc::SIGHUP);
    let refused = agent.wait_after(from, "reload refused");
    assert!(refused.contains("unknown field `mdoe`"), "{refused}");
    assert_eq!(
        agent.metric("workbench_agent_config_reloads_total{result=\"ok\"}"),
        Some(1.0)
    );
    assert_eq!(
        agent.metric("workbench_agent_config_reloads_total{result=\"failed\"}"),
        Some(1.0)
    );
    assert_eq!(status(&h)["mode"], "dry-run");
    assert_eq!(status(&h)["clock"], "coarse", "a refused reload keeps the clock");
    assert!(agent.get("/readyz").0.contains("200"));
    config(&cfg_path, &body, "on_exit = \"keep\"\nmode = \"dry-run\"\n");

    // SIGHUP with a second interface: attached there too, in the same mode, with the model;
    // with it gone from the file again: detached from it.
    let two = body_for(&format!("\"{h}\", \"{h2}\""));
    config(&cfg_path, &two, "on_exit = \"keep\"\nmode = \"dry-run\"\n");
    let from = agent.logged();
    agent.signal(libc::SIGHUP);
    let reloaded = agent.wait_after(from, "configuration reloaded");
    assert!(reloaded.contains(&format!("{h2} added")), "{reloaded}");
    assert!(probe::is_attached(&h2));
    let st2 = status(&h2);
    assert_eq!(
        (st2["mode"].clone(), st2["active"]["model"].clone()),
        ("dry-run".into(), a_id.clone().into())
    );
    assert_eq!(
        agent.metric(&format!("workbench_agent_interface_up{{iface=\"{h2}\"}}")),
        Some(1.0)
    );
    assert!(agent.get("/readyz").0.contains("200"));
    // Dropping h2 in a file whose events output cannot be opened: refused whole, before
    // anything changes, so h2 stays attached (it was detached, and the agent not ready).
    let unopenable = body.replace(
        &events.display().to_string(),
        "/proc/workbench-no-such-dir/eve.json",
    );
    config(&cfg_path, &unopenable, "on_exit = \"keep\"\nmode = \"dry-run\"\n");
    let from = agent.logged();
    agent.signal(libc::SIGHUP);
    let refused = agent.wait_after(from, "reload refused");
    assert!(refused.contains("/proc/workbench-no-such-dir"), "{refused}");
    assert!(probe::is_attached(&h2), "a refused reload detached {h2}");
    assert!(agent.get("/readyz").0.contains("200"));
    // The promotion rule's settings, changed, are said (the log said "nothing changed").
    config(
        &cfg_path,
        &two.replace("promote_after_decisions = 5", "promote_after_decisions = 6"),
        "on_exit = \"keep\"\nmode = \"dry-run\"\n",
    );
    let from = agent.logged();
    agent.signal(libc::SIGHUP);
    let reloaded = agent.wait_after(from, "configuration reloaded");
    assert!(reloaded.contains("promotion: after 6 decisions"), "{reloaded}");
    config(&cfg_path, &body, "on_exit = \"keep\"\nmode = \"dry-run\"\n");
    let from = agent.logged();
    agent.signal(libc::SIGHUP);
    let reloaded = agent.wait_after(from, "configuration reloaded");
    assert!(
        reloaded.contains(&format!("detached the probe from {h2}")),
        "{reloaded}"
    );
    assert!(!probe::is_attached(&h2));
    assert!(probe::is_attached(&h));
    assert_eq!(
        agent.metric("workbench_agent_config_reloads_total{result=\"ok\"}"),
        Some(4.0)
    );

    // An invalid model file: one line naming it, the counter, the active model untouched.
    let from = agent.logged();
    std::fs::write(models.join("bad.ebml"), b"not a model at all\n").expect("write");
    let rejected = agent.wait_after(from, "model file rejected");
    assert!(rejected.contains("bad.ebml"), "{rejected}");
    assert_eq!(agent.metric("workbench_agent_models_rejected_total"), Some(1.0));
    assert_eq!(status(&h)["active"]["model"], a_id.as_str());

    // A model that disagrees (benign until 100 SYNs, where the active one says malicious from
    // the third): shadow, and after N decisions it stays shadow, saying why.
    let b = build::syn_count_tree(100).expect("tree");
    let b_id = id_string(b.header.model_id);
    let from = agent.logged();
    save_model(&models, "b.ebml", &b);
    agent.wait_after(from, "deployed as the shadow");
    assert_eq!(status(&h)["shadow"]["model"], b_id.as_str());
    traffic::tcp_segments_from_netns(&lab, 45_101, 9, TCP_SYN, 6).expect("syn");
    let held = agent.wait_after(from, "stays shadow");
    assert!(
        held.contains(&b_id) && held.contains("above promote_max_disagreement 20.0%"),
        "{held}"
    );
    let state = format!(
        "workbench_agent_shadow_candidate_info{{file=\"{}\",model=\"{b_id}\",state=\"held\"}}",
        models.join("b.ebml").display()
    );
    assert_eq!(agent.metric(&state), Some(1.0));
    let st = status(&h);
    assert_eq!(
        (st["active"]["model"].clone(), st["shadow"]["model"].clone()),
        (a_id.clone().into(), b_id.clone().into())
    );

    // A model with A's verdicts (another leaf score, so another id): replaces B as the
    // shadow, agrees on every decision of new traffic, and is promoted by the rule.
    let syn = shared::features::feature_id("syn_count").expect("syn_count");
    let c = build::tree(
        &[
            Node::Split {
                feature: syn,
                threshold: 2,
                left: 1,
                right: 2,
            },
            Node::Leaf { score: 0 },
            Node::Leaf {
                score: SCORE_ONE as i32 - 1,
            },
        ],
        SCORE_ONE / 2,
    )
    .expect("tree");
    let c_id = id_string(c.header.model_id);
    assert_ne!(c_id, a_id);
    let from = agent.logged();
    save_model(&models, "c.ebml", &c);
    agent.wait_after(from, &format!("model {c_id} deployed as the shadow"));
    traffic::tcp_segments_from_netns(&lab, 45_102, 9, TCP_SYN, 6).expect("syn");
    let promoted = agent.wait_after(from, "promoted to active");
    assert!(
        promoted.contains(&c_id) && promoted.contains("disagreed in 0 of"),
        "{promoted}"
    );
    let st = status(&h);
    assert_eq!(st["active"]["model"], c_id.as_str());
    assert_eq!(st["previous"]["model"], a_id.as_str());
    assert_eq!(st["shadow"], Value::Null);
    // The rollback target is in the metrics too (FLEET.md's rollback alerts read it).
    assert_eq!(
        agent.metric(&format!(
            "workbench_model_info{{iface=\"{h}\",model=\"{a_id}\",slot=\"previous\"}}"
        )),
        Some(1.0)
    );
    assert_eq!(agent.metric("workbench_agent_promotions_total"), Some(1.0));
    assert_eq!(agent.metric("workbench_agent_models_rejected_total"), Some(1.0));

    // A restart keeps the promotion: the configured model A is the previous one, so the active
    // model was promoted over it and stays (the kernel's slots are the agent's memory).
    assert!(agent.stop().success());
    let agent = Agent::start(&cfg_path);
    let kept = agent.wait_for("stays active");
    assert!(
        kept.contains(&c_id) && kept.contains(&format!("promoted over the configured model {a_id}")),
        "{kept}"
    );
    assert_eq!(status(&h)["active"]["model"], c_id.as_str());
    assert_eq!(status(&h)["previous"]["model"], a_id.as_str());
    assert!(agent.get("/readyz").0.contains("200"));

    // The verdict events of that traffic, in the events file, valid against the schema.
    let deadline = Instant::now() + WAIT;
    let schema = eve_schema::schema();
    let lines = loop {
        let text = std::fs::read_to_string(&events).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| eve_schema::assert_valid_line(&schema, l))
            .collect();
        if lines.iter().any(|v| v["src_port"] == 45_102) || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let flagged = lines
        .iter()
        .filter(|v| v["workbench"]["verdict"] == "malicious")
        .count();
    assert!(flagged >= 2, "a malicious verdict per flow: {lines:?}");

    // on_exit = "detach" (by reload), then SIGTERM: no pin, filter, qdisc or claim left.
    config(&cfg_path, &body, "mode = \"dry-run\"\n");
    let from = agent.logged();
    agent.signal(libc::SIGHUP);
    let reloaded = agent.wait_after(from, "configuration reloaded");
    assert!(!reloaded.contains("active"), "{reloaded}");
    assert_eq!(
        status(&h)["active"]["model"],
        c_id.as_str(),
        "the promoted model stays"
    );
    let pid = agent.child.id();
    assert!(agent.stop().success());
    assert!(!probe::is_attached(&h));
    assert!(!workbench_kernel::bpffs::iface_dir(&h).exists(), "pins left");
    assert_eq!(filter_count(&h), (0, 0), "filters left");
    assert!(!has_clsact(None, &h), "the qdisc the probe added is gone");
    let claims: Vec<String> = std::fs::read_dir("/run/ebpf-ml-workbench/claims")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("{pid}-")))
                .collect()
        })
        .unwrap_or_default();
    assert!(claims.is_empty(), "claims left: {claims:?}");
    crate::common::report(&format!(
        "agent on {h}: program {program_id} reused across a restart (1+1 filters), dry-run by SIGHUP, 1 bad reload and 1 bad model refused, shadow {b_id} held, {c_id} promoted, {} EVE lines ({flagged} malicious), nothing left after SIGTERM",
        lines.len()
    ));
}
