//! `workbench probe cleanup` finds what a killed process left behind. Its own test binary: the
//! command removes every project namespace and pin, so nothing else may run beside it.

use crate::common::{lab_id, report, workbench_json};
use workbench_kernel::lab::Lab;

fn prog_links(program_id: u64) -> usize {
    let out = std::process::Command::new("bpftool")
        .args(["--json", "link", "show"])
        .output()
        .expect("bpftool");
    let links: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bpftool JSON");
    links.as_array().map_or(0, |a| {
        a.iter()
            .filter(|l| l["prog_id"].as_u64() == Some(program_id))
            .count()
    })
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn cleanup_removes_stale_attachments_pins_and_labs() {
    crate::common::require_kernel("cleanup_removes_stale_attachments_pins_and_labs");
    // `probe cleanup` removes every project lab and pin it can see: the test runs in namespaces
    // of its own, where that is only what it made.
    if !crate::common::on_a_private_machine("cleanup::cleanup_removes_stale_attachments_pins_and_labs") {
        return;
    }
    let lab = Lab::create(
        &format!("c{}", std::process::id() % 100_000),
        (std::process::id() % 200) as u8 + 4,
    )
    .expect("lab");
    // The attaching process exits (as a killed one would): the pinned attachment stays.
    let attached = workbench_json(&["probe", "attach", "--iface", &lab.host_if, "--json"]);
    let program_id = attached["program_id"].as_u64().expect("program id");
    assert_eq!(prog_links(program_id), 2);
    let again = crate::common::workbench(&["probe", "attach", "--iface", &lab.host_if]);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already attached"),
        "the next start names the stale attachment"
    );

    let cleaned = workbench_json(&["probe", "cleanup", "--json"]);
    let pins = cleaned["removed_pins"].as_array().map_or(0, Vec::len);
    // As `probe detach` removes them (kernel crate, probe/detach.rs): links, program, maps, the code slot.
    assert_eq!(pins, 12, "{cleaned:#}");
    assert!(cleaned["removed_namespaces"]
        .as_array()
        .is_some_and(|a| a.iter().any(|n| n == lab.netns.as_str())));
    assert_eq!(prog_links(program_id), 0, "TCX links gone (bpftool link show)");
    assert!(!std::path::Path::new("/sys/fs/bpf/ebpf-ml-workbench").exists());
    assert!(
        workbench_kernel::lab::project_namespaces().is_empty()
            && workbench_kernel::lab::project_links().is_empty()
    );
    // A second run finds nothing and still succeeds.
    let again = workbench_json(&["probe", "cleanup", "--json"]);
    assert_eq!(again["removed_pins"].as_array().map_or(1, Vec::len), 0);
    report("kernel test: probe cleanup removed a stale attachment, its pins and the lab");
}

/// Whether something is pinned for `iface` (a probe, attached or half made by a killed attach).
fn pinned(iface: &str) -> bool {
    std::fs::read_dir(workbench_kernel::bpffs::iface_dir(iface)).is_ok_and(|mut d| d.next().is_some())
}

/// `probe cleanup --stale` removes what killed commands left, as their claims name it (a
/// `verify` killed with its lab up and its probe attached: what a test run stopped at a session's
/// end left for the next CI run on the same host, whose kernel tests then failed on the "stale"
/// lines), and nothing a live process holds: a running agent's probe stays attached.
#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn cleanup_stale_removes_a_killed_verifys_lab_and_keeps_a_running_agents_probe() {
    use crate::agent::{config, Agent};
    use crate::common::{repo, save_model, workbench, TempDir};
    crate::common::require_kernel(
        "cleanup_stale_removes_a_killed_verifys_lab_and_keeps_a_running_agents_probe",
    );
    // It removes whatever stale things it sees; other tests make some on purpose.
    if !crate::common::on_a_private_machine(
        "cleanup::cleanup_stale_removes_a_killed_verifys_lab_and_keeps_a_running_agents_probe",
    ) {
        return;
    }
    let dir = TempDir::new("cleanup-stale");
    let model = save_model(
        dir.path(),
        "syn3.ebml",
        &workbench_flow::model::build::syn_count_tree(3).expect("tree"),
    );
    // A running agent on a lab of its own.
    let lab = Lab::create(&lab_id("ca"), (std::process::id() % 200) as u8 + 4).expect("lab");
    let cfg = dir.path().join("agent.toml");
    config(
        &cfg,
        &format!(
            "interfaces = [\"{}\"]\nmodel = \"{}\"\nmetrics_listen = \"127.0.0.1:0\"\n",
            lab.host_if,
            model.display()
        ),
        "",
    );
    let agent = Agent::start(&cfg);

    // A verify killed half-way: its lab is up and its probe attached.
    let id = lab_id("cb");
    let recv = format!("ebml-{id}b");
    let mut verify = std::process::Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["verify"])
        .arg(repo("sample-pcaps/honest.pcap"))
        .arg("--model")
        .arg(&model)
        .args(["--lab-id", &id, "--pps", "200"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("verify");
    let started = std::time::Instant::now();
    while !workbench_kernel::probe::is_attached(&recv) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "verify attached nothing to {recv} in 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    verify.kill().expect("kill -9 verify");
    let _ = verify.wait();
    let said = crate::common::stale_lines(&id);
    assert!(
        said.contains(&format!("stale lab namespace ebml-{id}")) && said.contains("`workbench verify`"),
        "{said}"
    );

    let cleaned = workbench_json(&["probe", "cleanup", "--stale", "--json"]);
    assert_eq!(cleaned["stale_only"], true);
    let leftovers = cleaned["leftovers"].as_array().expect("leftovers");
    assert_eq!(leftovers.len(), 1, "{cleaned:#}");
    assert_eq!(leftovers[0]["command"], "verify");
    assert_eq!(leftovers[0]["pid"].as_u64(), Some(u64::from(verify.id())));
    assert_eq!(
        cleaned["removed_namespaces"],
        serde_json::json!([format!("ebml-{id}")]),
        "{cleaned:#}"
    );
    assert!(
        cleaned["removed_pins"]
            .as_array()
            .is_some_and(
                |p| p.iter().all(|p| p.as_str().is_some_and(|p| p.contains(&recv))) && p.len() >= 10
            ),
        "the probe's pins, only its: {cleaned:#}"
    );
    assert!(!pinned(&recv), "the killed verify's probe is gone");
    assert!(!workbench_kernel::lab::project_namespaces().contains(&format!("ebml-{id}")));
    assert!(
        workbench_kernel::probe::is_attached(&lab.host_if),
        "the running agent's probe stays"
    );
    assert_eq!(
        crate::common::stale_lines(&id),
        "",
        "nothing is called stale any more"
    );
    let claims = std::fs::read_dir("/run/ebpf-ml-workbench/claims").map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .count()
    });
    assert_eq!(
        claims, 1,
        "the killed verify's claims are gone, the agent's stays"
    );

    // Nothing more to do: said in words.
    let again = workbench(&["probe", "cleanup", "--stale"]);
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stdout).starts_with("nothing stale"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert!(agent.stop().success());
    assert!(!workbench_kernel::probe::is_attached(&lab.host_if));
    report(&format!(
        "kernel test: probe cleanup --stale removed a killed verify's lab and {} pins, kept a running agent's probe",
        cleaned["removed_pins"].as_array().map_or(0, Vec::len)
    ));
}
