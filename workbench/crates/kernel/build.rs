//! Builds the eBPF probe (`probe-ebpf/`) with Debian's toolchain and hands its object to
//! `include_bytes_aligned!`, so the workbench binary is one file and never loads a stale object
//! from `target/`. See docs/TOOLCHAIN.md for why this is not aya-build: aya-build insists on
//! `-Z build-std`, which needs rust-src that these machines do not have.

use std::path::{Path, PathBuf};
use std::process::Command;

const TOOLCHAIN: &str = "debian";
const PROBE_BIN: &str = "workbench-probe";

fn fail(msg: &str) -> ! {
    // cargo::error prints one clear message instead of a build-script backtrace.
    println!("cargo::error={msg}");
    std::process::exit(1);
}

/// Variables of the outer build that must not reach the inner one.
fn leaks_into_inner_build(key: &str) -> bool {
    let prefixed = ["CARGO_", "RUSTC", "RUSTDOC"].iter().any(|p| key.starts_with(p));
    let exact = [
        "RUSTFLAGS",
        "RUSTUP_TOOLCHAIN",
        "CLIPPY_ARGS",
        "TARGET",
        "HOST",
        "OUT_DIR",
        "OPT_LEVEL",
        "PROFILE",
        "DEBUG",
        "NUM_JOBS",
    ]
    .contains(&key);
    (prefixed || exact) && key != "CARGO_HOME"
}

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    // This crate lives at <root>/workbench/crates/kernel; the probe and `shared` at the root.
    let root = manifest_dir
        .ancestors()
        .find(|a| a.join("probe-ebpf").join("Cargo.toml").is_file())
        .unwrap_or(Path::new("../../.."))
        .to_path_buf();
    let probe_dir = root.join("probe-ebpf");
    for watched in ["src", "Cargo.toml", "Cargo.lock", ".cargo/config.toml"] {
        println!("cargo::rerun-if-changed={}", probe_dir.join(watched).display());
    }
    for watched in ["src", "Cargo.toml"] {
        println!(
            "cargo::rerun-if-changed={}",
            root.join("shared").join(watched).display()
        );
    }
    println!("cargo::rerun-if-env-changed=WORKBENCH_PROBE_TARGET_DIR");

    // One probe build directory shared by every profile and by clippy: the inner cargo is then a
    // no-op after the first build.
    // A relative CARGO_TARGET_DIR is relative to where cargo was started, but a build script
    // runs in its crate's folder: read it from the workspace root (where cargo is started).
    let absolute = |d: PathBuf| if d.is_relative() { root.join(d) } else { d };
    let target_dir = std::env::var_os("WORKBENCH_PROBE_TARGET_DIR")
        .map(|d| absolute(PathBuf::from(d)))
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR").map(|d| absolute(PathBuf::from(d)).join("probe-ebpf"))
        })
        .unwrap_or_else(|| root.join("target").join("probe-ebpf"));

    // Two objects: the probe, and the same probe without the per-flow lock (and the coarse
    // clock) for kernels before 5.12, whose verifier refuses the lock's atomic instructions (docs/ARCHITECTURE.md). Each
    // feature set keeps its own artifacts in the inner target, so a rebuild is a copy.
    for (features, file) in [("", "probe.o"), ("before-5-12", "probe-unlocked.o")] {
        build_probe(&probe_dir, &target_dir, features, file);
    }
}

/// Builds the probe with `features` and copies the object to `$OUT_DIR/file`.
fn build_probe(probe_dir: &Path, target_dir: &Path, features: &str, file: &str) {
    let mut cmd = Command::new("rustup");
    cmd.args([
        "run",
        TOOLCHAIN,
        "cargo",
        "build",
        "--release",
        "--target",
        "bpfel-unknown-none",
        "--features",
        features,
    ])
    .current_dir(probe_dir)
    .env("CARGO_TARGET_DIR", target_dir)
    // aya-ebpf uses #![feature(asm_experimental_arch)]; Debian ships a prebuilt core.
    .env("RUSTC_BOOTSTRAP", "1");
    // The outer (stable) build's variables must not leak into the inner one, or the stable rustc
    // is used and fails with E0463 "can't find crate for core".
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if leaks_into_inner_build(&key) {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd.env("CARGO_TARGET_DIR", target_dir);
    let status = match cmd.status() {
        Ok(s) => s,
        Err(e) => fail(&format!(
            "cannot run rustup to build the eBPF probe ({e}); install the toolchain with: cargo xtask setup"
        )),
    };
    if !status.success() {
        let toolchain_present = Command::new("rustup")
            .args([
                "run",
                TOOLCHAIN,
                "rustc",
                "--print",
                "target-libdir",
                "--target",
                "bpfel-unknown-none",
            ])
            .output()
            .is_ok_and(|o| {
                o.status.success() && Path::new(String::from_utf8_lossy(&o.stdout).trim()).exists()
            });
        let linker_present = Command::new("bpf-linker").arg("--version").output().is_ok();
        if !toolchain_present || !linker_present {
            fail("the eBPF toolchain (Debian rustc-web for bpfel, bpf-linker) is missing; run: cargo xtask setup");
        }
        fail("building the eBPF probe (probe-ebpf/) failed; see the compiler output above");
    }
    let object = target_dir
        .join("bpfel-unknown-none")
        .join("release")
        .join(PROBE_BIN);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    if let Err(e) = std::fs::copy(&object, out_dir.join(file)) {
        fail(&format!(
            "probe built but {} is unreadable: {e}",
            object.display()
        ));
    }
}
