//! The workbench on Debian 12's own kernel (6.1: no TCX), booted under qemu.
//!
//! The kernel is Debian's current `linux-image-6.1.*-cloud-amd64` (what the metapackage
//! `linux-image-cloud-amd64` depends on), fetched with `apt-get download` and unpacked with
//! `dpkg-deb -x`; qemu runs it with TCG (no KVM needed) and an initramfs holding busybox, the
//! workbench this test run built, iproute2 and the modules veth, sch_ingress and cls_bpf. Inside:
//! `probe attach --attach tcx` refused in one line, `probe attach` (auto: the classic tc path),
//! `tc` showing the filters, a known capture replayed into a replay lab, `probe flows` with exact
//! counts, `probe detach` leaving no filter and no qdisc, then `verify` of the committed sample
//! capture (every flow identical), `bench probe` (BPF_PROG_TEST_RUN), the headless demo and `bench
//! live --quick` (which attach in labs of their own), and nothing left behind. Each step's status and output come
//! back on a second serial port and are asserted here. Timings inside the emulator are not
//! performance figures; the boot's wall time is printed only to budget CI.
//!
//! A missing qemu, busybox, cpio or kernel package fails the test (naming it); it is never skipped.
//! `WORKBENCH_QEMU_KERNEL_DEB=FILE.deb` boots
//! another kernel package (e.g. Debian 11's 5.10) with the same steps.

#[path = "../qemu/mod.rs"]
mod qemu;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::report;
use serde_json::{json, Value};
use workbench_flow::craft::{ipv4_udp, Ipv4Endpoints};

/// The wall-time limit of one boot with every step (TCG on 2 shared cores).
const BOOT_LIMIT: Duration = Duration::from_secs(25 * 60);

/// Flow i of the replayed capture: 4 UDP flows, flow i with i + 1 datagrams of 50 + 10 i bytes.
const FLOWS: u16 = 4;

fn payload_bytes(i: u16) -> usize {
    50 + 10 * usize::from(i)
}

fn known_capture(path: &Path) {
    let ep = Ipv4Endpoints {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src: std::net::Ipv4Addr::new(192, 0, 2, 1),
        dst: std::net::Ipv4Addr::new(192, 0, 2, 2),
        ttl: 64,
    };
    let mut frames = Vec::new();
    for i in 0..FLOWS {
        for _ in 0..=i {
            frames.push(ipv4_udp(&ep, 40_000 + i, 53, &vec![7u8; payload_bytes(i)]));
        }
    }
    crate::common::capfile::write_ethernet(path, &frames, 1_000_000);
}

/// The steps run inside the VM (name, command).
fn steps() -> Vec<(&'static str, String)> {
    let ns = "/usr/sbin/ip netns exec ebml-q /usr/sbin/tc";
    vec![
        ("kernel", "uname -r".into()),
        ("lab_up", "workbench lab up --id q --json".into()),
        (
            "attach_tcx",
            "workbench probe attach --iface ebml-qb --netns ebml-q --attach tcx".into(),
        ),
        (
            "attach",
            "workbench probe attach --iface ebml-qb --netns ebml-q --json".into(),
        ),
        ("qdisc_attached", format!("{ns} qdisc show dev ebml-qb")),
        (
            "ingress_attached",
            format!("{ns} filter show dev ebml-qb ingress"),
        ),
        ("egress_attached", format!("{ns} filter show dev ebml-qb egress")),
        (
            "replay",
            "workbench replay /data/flows.pcap --iface ebml-qa --netns ebml-q --pps 1000 --json".into(),
        ),
        ("flows", "workbench probe flows --iface ebml-qb --json".into()),
        ("status", "workbench probe status --iface ebml-qb --json".into()),
        ("detach", "workbench probe detach --iface ebml-qb --json".into()),
        ("qdisc_detached", format!("{ns} qdisc show dev ebml-qb")),
        (
            "ingress_detached",
            format!("{ns} filter show dev ebml-qb ingress"),
        ),
        ("lab_down", "workbench lab down --id q --json".into()),
        (
            "verify",
            "workbench verify /data/honest.pcap --model /data/model.ebml --lab-id v --json".into(),
        ),
        // BPF_PROG_TEST_RUN on a tc program (the benchmark's method); its figures mean nothing here.
        ("test_run", "workbench bench probe --repeat 10 --json".into()),
        // The demo and the pps benchmark attach in labs of their own: they must work without TCX.
        (
            "demo",
            "env HOME=/tmp workbench demo --headless --json --seconds 3 --samples /data".into(),
        ),
        ("bench_live", "workbench bench live --quick --json".into()),
        (
            "leftovers",
            "sh -c 'ls -A /sys/fs/bpf; /usr/sbin/ip netns list; /usr/sbin/ip -o link show'".into(),
        ),
    ]
}

/// Everything up to the boot; Err when something cannot be had.
fn prepare(work: &Path) -> Result<(qemu::Kernel, PathBuf), qemu::Missing> {
    for (tool, package) in [
        ("qemu-system-x86_64", "qemu-system-x86"),
        ("cpio", "cpio"),
        ("dpkg-deb", "dpkg"),
        ("apt-get", "apt"),
    ] {
        qemu::host_program(tool)
            .map_err(|_| format!("{tool} is not installed (apt-get install {package})"))?;
    }
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        return Err("/bin/busybox is missing (apt-get install busybox-static)".into());
    }
    let deb = match std::env::var_os("WORKBENCH_QEMU_KERNEL_DEB") {
        Some(deb) => PathBuf::from(deb),
        None => qemu::fetch_kernel("linux-image-cloud-amd64", |package| {
            if package.starts_with("linux-image-6.1.") {
                Ok(())
            } else {
                Err(format!(
                    "linux-image-cloud-amd64 depends on {package}, not Debian 12's 6.1"
                ))
            }
        })?,
    };
    let kernel = qemu::unpack(&deb)?;
    let modules = qemu::modules_in_load_order(&kernel, &qemu::MODULES)?;

    let initramfs = qemu::Initramfs::new(work.join("root"));
    initramfs.add(busybox, "/bin/busybox");
    initramfs.add_workbench(Path::new(env!("CARGO_BIN_EXE_workbench")))?;
    initramfs.add_program(&qemu::host_program("ip")?, "/usr/sbin/ip")?;
    initramfs.add_program(&qemu::host_program("tc")?, "/usr/sbin/tc")?;
    let mut in_guest = Vec::new();
    for m in &modules {
        let at = format!(
            "/lib/modules/{}",
            m.file_name().and_then(|n| n.to_str()).expect("module name")
        );
        initramfs.add(m, &at);
        in_guest.push(at);
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    initramfs.add(&repo.join("sample-pcaps/honest.pcap"), "/data/honest.pcap");
    initramfs.add(
        &repo.join("sample-pcaps/labels-honest.csv"),
        "/data/labels-honest.csv",
    );
    // `bench live` replays the shared SYN flood capture from where this build's repository sees
    // it (`<repo>/../shared/data`): the same path, inside the guest.
    let flood = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/pcaps/synflood-spoofed.pcap");
    let repo_abs = std::fs::canonicalize(&repo).expect("the repository");
    let in_guest_repo = repo_abs.to_str().expect("utf-8 path");
    initramfs.write(&format!("{in_guest_repo}/.keep"), b"", 0o644);
    let flood_in_guest = repo_abs
        .parent()
        .expect("above the repository")
        .join("shared/data/pcaps/synflood-spoofed.pcap");
    initramfs.add(&flood, flood_in_guest.to_str().expect("utf-8 path"));
    known_capture(&initramfs.root.join("data/flows.pcap"));
    let tree = workbench_flow::model::build::syn_count_tree(3).expect("tree");
    workbench_flow::model::file::write(&initramfs.root.join("data/model.ebml"), &tree, Value::Null)
        .expect("model file");
    initramfs.write("/init", qemu::init_script(&in_guest, &steps()).as_bytes(), 0o755);
    let initrd = work.join("initrd.cpio");
    initramfs.pack(&initrd)?;
    Ok((kernel, initrd))
}

fn json(name: &str, step: &qemu::Step) -> Value {
    serde_json::from_str(&step.stdout)
        .unwrap_or_else(|e| panic!("{name}: stdout is not one JSON document ({e}): {step:?}"))
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn the_probe_attaches_counts_detaches_and_verifies_on_debian_12s_own_kernel() {
    // A failed run keeps its directory (initramfs tree, console) for a look; the next run clears it.
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    for old in std::fs::read_dir(&tmp)
        .into_iter()
        .flatten()
        .filter_map(std::result::Result::ok)
    {
        if old.file_name().to_string_lossy().starts_with("qemu-debian12-") {
            let _ = std::fs::remove_dir_all(old.path());
        }
    }
    let work = tmp.join(format!("qemu-debian12-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("work directory");
    let (kernel, initrd) = match prepare(&work) {
        Ok(k) => k,
        Err(why) => panic!("the Debian 12 kernel test cannot run: {why}"),
    };
    let boot = qemu::boot(&kernel.vmlinuz, &initrd, &work, BOOT_LIMIT).unwrap_or_else(|e| panic!("{e}"));
    let steps: BTreeMap<String, qemu::Step> = qemu::parse_steps(&boot.results).into_iter().collect();
    let context = format!("results:\n{}\nconsole:\n{}", boot.results, boot.console);
    assert!(
        boot.results.contains("EBML-DONE"),
        "the init script did not finish; {context}"
    );
    let step = |name: &str| -> &qemu::Step {
        steps
            .get(name)
            .unwrap_or_else(|| panic!("no step {name}; {context}"))
    };
    let ok = |name: &str| -> &qemu::Step {
        let s = step(name);
        assert_eq!(s.rc, Some(0), "{name} failed in the VM: {s:?}");
        s
    };
    for m in qemu::MODULES {
        ok(&format!("insmod-{m}"));
    }
    let release = ok("kernel").stdout.trim().to_string();
    assert_eq!(release, kernel.release, "the VM runs the unpacked kernel");
    ok("lab_up");

    // No TCX before 6.6: forcing it fails in one line and leaves nothing.
    let tcx = step("attach_tcx");
    assert_ne!(tcx.rc, Some(0), "{tcx:?}");
    assert_eq!(tcx.stderr.trim_end().lines().count(), 1, "{tcx:?}");
    assert!(
        tcx.stderr.contains("this kernel has no TCX") && tcx.stderr.contains("--attach tc"),
        "{tcx:?}"
    );

    // auto takes the classic path and says why.
    let attached = json("attach", ok("attach"));
    assert_eq!(attached["attach_mode"], "tc", "{attached:#}");
    assert_eq!(attached["tc"]["qdisc_created"], true, "{attached:#}");
    assert!(
        attached["tcx_unavailable"]
            .as_str()
            .is_some_and(|r| r.contains("TCX needs Linux 6.6")),
        "{attached:#}"
    );
    let program = attached["program_id"].as_u64().expect("program id");
    // Linux 5.16+ reports the count; older kernels accept the probe without saying how much.
    let insns = attached["verified_instructions"]
        .as_u64()
        .map_or("count not reported before 5.16".to_string(), |n| {
            format!("{n} instructions")
        });
    assert!(ok("qdisc_attached").stdout.contains("qdisc clsact ffff:"));
    for hook in ["ingress_attached", "egress_attached"] {
        let lines = &ok(hook).stdout;
        assert!(
            lines.contains("pref 65515 bpf")
                && lines.contains("handle 0xeb1 workbench_tc direct-action")
                && lines.contains(&format!(" id {program} ")),
            "{hook}: {lines}"
        );
    }
    let replayed = json("replay", ok("replay"));
    let frames: u64 = (0..FLOWS).map(|i| u64::from(i) + 1).sum();
    assert_eq!(replayed["sent_packets"], frames, "{replayed:#}");

    // Exact counts through cls_bpf.
    let table = json("flows", ok("flows"));
    let mut seen: Vec<(u64, u64, u64, u64)> = table["flows"]
        .as_array()
        .expect("flows")
        .iter()
        .map(|f| {
            let n = |k: &str| f[k].as_u64().expect(k);
            (n("src_port"), n("fwd_packets"), n("fwd_bytes"), n("bwd_packets"))
        })
        .collect();
    seen.sort_unstable();
    let expected: Vec<(u64, u64, u64, u64)> = (0..FLOWS)
        .map(|i| {
            let packets = u64::from(i) + 1;
            (
                40_000 + u64::from(i),
                packets,
                packets * (42 + payload_bytes(i) as u64),
                0,
            )
        })
        .collect();
    assert_eq!(seen, expected, "flow table in the VM: {table:#}");
    assert_eq!(json("status", ok("status"))["attach_mode"], "tc");

    let detached = json("detach", ok("detach"));
    assert_eq!(
        detached["removed_filters"].as_array().map(Vec::len),
        Some(2),
        "{detached:#}"
    );
    assert_eq!(detached["removed_qdiscs"][0], "ebml-qb", "{detached:#}");
    assert!(!ok("qdisc_detached").stdout.contains("clsact"));
    assert_eq!(ok("ingress_detached").stdout.trim(), "");
    ok("lab_down");

    // The sample capture, every flow identical, through cls_bpf.
    let v = json("verify", ok("verify"));
    let (flows, compared, identical) = (
        v["flows"].as_u64(),
        v["compared"].as_u64(),
        v["identical"].as_u64(),
    );
    assert!(
        flows.is_some_and(|n| n > 1000) && compared == flows && identical == compared,
        "{v:#}"
    );
    assert_eq!(v["attach_mode"], "tc");
    assert_eq!(v["parse_mismatches"], 0);
    // Scored by the compiled model, reached by a jump: 6.1's verifier takes the inlined copy.
    assert_eq!(
        (&v["engine"], &v["code_inlined"]),
        (&json!("code"), &json!(true)),
        "{v:#}"
    );

    let bench = json("test_run", ok("test_run"));
    assert!(
        bench["figures"].as_array().is_some_and(|f| !f.is_empty()),
        "BPF_PROG_TEST_RUN ran the probe: {bench:#}"
    );
    // Debian's kernel loads extensions (this VM's host kernel refuses them): the freplace
    // path of the dispatch measurement runs for real here.
    assert!(
        crate::bench::assert_dispatch(&bench, 7),
        "Debian 12's kernel refused the extension: {:#}",
        bench["dispatch"]
    );

    let demo = json("demo", ok("demo"));
    assert_eq!(demo["mode"], "kernel", "{demo:#}");
    assert_eq!(demo["leftovers"], serde_json::json!([]), "{demo:#}");
    let live = json("bench_live", ok("bench_live"));
    assert!(
        live.get("skipped").is_none(),
        "bench live could not run: {live:#}"
    );

    // Nothing left: no pins, no namespace, no ebml- link.
    let left = ok("leftovers").stdout.clone();
    assert!(
        !left.contains("ebpf-ml-workbench") && !left.contains("ebml-"),
        "left behind in the VM: {left}"
    );
    report(&format!(
        "qemu test on Debian's {release} (no TCX): verifier accepted the probe ({insns}), \
         attached as cls_bpf on a clsact it added, {} flows exact, detach left no filter or qdisc, \
         verify: {} of {} flows identical ({} malicious); an extension replaced a global function \
         (a second one {}; an in-place update {}; swap window {} us under TCG); demo and bench live ran in their labs; \
         boot and steps took {:.0} s of wall time under TCG (not a performance figure)",
        expected.len(),
        identical.unwrap_or(0),
        flows.unwrap_or(0),
        v["malicious_flows"],
        bench["dispatch"]["freplace"]["second_extension"],
        bench["dispatch"]["freplace"]["link_update"],
        bench["dispatch"]["freplace"]["swap_window_us"],
        boot.elapsed.as_secs_f64()
    ));
    let _ = std::fs::remove_dir_all(&work);
}
