//! Security review: root must not write into names other users can make first in the shared
//! temporary folder, and the events rotation has an upper bound.
//!
//! `bench all --quick` wrote its report to `$TMPDIR/ebpf-ml-workbench-bench-quick/`, following
//! a symlink or a folder another user had made there; it now writes to the user's cache folder
//! (`$XDG_CACHE_HOME/ebpf-ml-workbench/bench-quick`, made 0700, refused if someone else owns
//! it). `live --rotate-keep` is at most 1000 (each rotation looks at every kept file).

use std::os::unix::fs::PermissionsExt;

use crate::common::TempDir;

fn bench_quick(dir: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["bench", "all", "--quick", "--section", "tui"])
        .current_dir(dir)
        .env("TMPDIR", dir.join("tmp"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .output()
        .expect("run workbench")
}

#[test]
fn sec_bench_quick_writes_to_the_private_cache_folder_not_tmp() {
    let dir = TempDir::new("ebml-sec-bench-quick-");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    // What another user could have planted: the old fixed name, a symlink to a folder of
    // root's whose files would be overwritten.
    let victim = dir.path().join("victim");
    std::fs::create_dir_all(&victim).expect("victim");
    std::fs::write(victim.join("BENCHMARKS.md"), "root's file\n").expect("victim file");
    std::os::unix::fs::symlink(&victim, tmp.join("ebpf-ml-workbench-bench-quick")).expect("planted");
    let out = bench_quick(dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(victim.join("BENCHMARKS.md")).expect("victim"),
        "root's file\n",
        "written through the planted symlink"
    );
    assert!(
        !victim.join("benchmarks.json").exists(),
        "written into the planted folder"
    );
    let quick = dir.path().join("cache/ebpf-ml-workbench/bench-quick");
    let table = std::fs::read_to_string(quick.join("BENCHMARKS.md")).expect("the quick table");
    assert!(
        table.contains("workbench bench all --quick --section tui"),
        "{table}"
    );
    assert!(quick.join("benchmarks.json").is_file());
    let mode = std::fs::metadata(&quick).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{mode:o}");
    assert!(
        stdout.contains(&quick.join("BENCHMARKS.md").display().to_string()),
        "the output says where: {stdout}"
    );
}

/// As root: the quick report's folder made by another user is refused, nothing written there.
#[test]
fn sec_bench_quick_refuses_a_folder_another_user_owns() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: chown needs it; skipped");
        return;
    }
    let uid = 54_321u32;
    if std::env::var("SUDO_UID").is_ok_and(|u| u == uid.to_string()) {
        return;
    }
    let dir = TempDir::new("ebml-sec-bench-owner-");
    std::fs::create_dir_all(dir.path().join("tmp")).expect("tmp");
    let quick = dir.path().join("cache/ebpf-ml-workbench/bench-quick");
    std::fs::create_dir_all(&quick).expect("quick");
    let c = std::ffi::CString::new(quick.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::chown(c.as_ptr(), uid, uid) }, 0);
    let out = bench_quick(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("belongs to user 54321"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(&quick).expect("ls").count(),
        0,
        "nothing written"
    );
}

#[test]
fn sec_live_rotate_keep_is_bounded() {
    let out = crate::common::workbench(&[
        "live",
        "--iface",
        "lo",
        "--jsonl",
        "--events-file",
        "/nonexistent-dir/eve.json",
        "--rotate-keep",
        "4000000000",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--rotate-keep") && stderr.contains("0..=1000"),
        "{stderr}"
    );
    let out = crate::common::workbench(&[
        "live",
        "--iface",
        "lo",
        "--jsonl",
        "--events-file",
        "/nonexistent-dir/eve.json",
        "--rotate-keep",
        "1000",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("--rotate-keep"), "1000 is allowed: {stderr}");
}
