//! Prerequisites of the build and the tests: check them fast, install them when we may.
//!
//! The recipe is the one verified in the project's toolchain notes (docs/TOOLCHAIN.md): Debian's
//! `rustc-web` ships a precompiled `core` for `bpfel-unknown-none`, `bpf-linker` is built against
//! Debian's LLVM 22, and Debian's compiler is linked into rustup as the toolchain `debian`.
//! A second run with everything present costs three short process spawns (well under 2 s).

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Debian packages: the eBPF toolchain, the C libraries that LLVM and polars link, and the
/// tools that the kernel tests and the lab use (`ip`, `bpftool`).
pub const DEBIAN_PACKAGES: &[&str] = &[
    "rustc-web",
    "cargo-web",
    "libstd-rust-web-dev-bpf",
    "llvm-22-dev",
    "libpolly-22-dev",
    "zlib1g-dev",
    "libzstd-dev",
    "bpftool",
    "iproute2",
];

/// Packages the test suite needs beyond the build (independent references and the TUI end-to-end
/// test), the benchmarks' Python baselines (`bench/venv.sh` makes a virtualenv and
/// pip-installs pandas and scikit-learn into it), and the test on Debian 12's own kernel: qemu
/// boots the kernel package (which the test fetches with `apt-get download`) with an initramfs of
/// busybox and the workbench, packed by cpio. `systemd` brings `systemd-analyze`, which checks the
/// agent's unit file (deploy/systemd, tests/cli/deploy_files.rs); `prometheus` brings `promtool`,
/// which checks the metrics (tests/cli/metrics_format.rs, tests/kernel/metrics_scrape.rs).
pub const DEBIAN_TEST_PACKAGES: &[&str] = &[
    "tshark",
    "tmux",
    "python3-venv",
    "qemu-system-x86",
    "busybox-static",
    "cpio",
    "systemd",
    "prometheus",
];

pub const BPF_LINKER_VERSION: &str = "0.13.0";
pub const DEBIAN_TOOLCHAIN: &str = "debian";

#[derive(Debug)]
pub struct Missing {
    pub what: String,
    pub fix: String,
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions; declared here to keep xtask free of dependencies.
    extern "C" {
        fn geteuid() -> u32;
    }
    unsafe { geteuid() == 0 }
}

fn is_debian() -> bool {
    std::path::Path::new("/etc/debian_version").exists()
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from("/root/.cargo"))
}

/// Debian packages among `wanted` that are not installed (one dpkg-query call).
pub fn missing_debian_packages(wanted: &[&str]) -> Vec<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Package} ${db:Status-Abbrev}\n"])
        .args(wanted)
        .stderr(Stdio::null())
        .output();
    let Ok(out) = out else {
        return wanted.iter().map(std::string::ToString::to_string).collect();
    };
    let text = String::from_utf8_lossy(&out.stdout);
    wanted
        .iter()
        .filter(|pkg| {
            !text
                .lines()
                .any(|l| l.split_whitespace().next() == Some(pkg) && l.contains(" ii"))
        })
        .map(std::string::ToString::to_string)
        .collect()
}

fn bpf_linker_ok() -> bool {
    let exe = cargo_home().join("bin").join("bpf-linker");
    Command::new(exe)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(BPF_LINKER_VERSION))
}

fn debian_toolchain_ok() -> bool {
    Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.split_whitespace().next() == Some(DEBIAN_TOOLCHAIN))
        })
}

/// Everything missing, each with the one command that fixes it.
pub fn check(with_test_tools: bool) -> Vec<Missing> {
    let mut wanted: Vec<&str> = DEBIAN_PACKAGES.to_vec();
    if with_test_tools {
        wanted.extend_from_slice(DEBIAN_TEST_PACKAGES);
    }
    let mut missing: Vec<Missing> = missing_debian_packages(&wanted)
        .into_iter()
        .map(|pkg| Missing {
            fix: format!("apt-get install -y {pkg}"),
            what: format!("Debian package {pkg}"),
        })
        .collect();
    if !bpf_linker_ok() {
        missing.push(Missing {
            what: format!("bpf-linker {BPF_LINKER_VERSION} (built against LLVM 22)"),
            fix: bpf_linker_install_command().join(" "),
        });
    }
    if !debian_toolchain_ok() {
        missing.push(Missing {
            what: format!(
                "rustup toolchain `{DEBIAN_TOOLCHAIN}` (Debian's rustc-web, which has core for bpfel)"
            ),
            fix: format!("rustup toolchain link {DEBIAN_TOOLCHAIN} /usr"),
        });
    }
    missing
}

fn bpf_linker_install_command() -> Vec<String> {
    [
        "env",
        "LLVM_PREFIX=/usr/lib/llvm-22",
        "cargo",
        "install",
        "--locked",
        &format!("bpf-linker@{BPF_LINKER_VERSION}"),
        "--no-default-features",
        "--features",
        "llvm-22",
    ]
    .iter()
    .map(std::string::ToString::to_string)
    .collect()
}

fn run(cmd: &mut Command) -> Result<(), String> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}"))
    }
}

/// Installs what is missing when running as root on Debian; otherwise prints one line per missing
/// prerequisite with the command that fixes it and fails.
pub fn ensure(with_test_tools: bool) -> Result<(), String> {
    let missing = check(with_test_tools);
    if missing.is_empty() {
        return Ok(());
    }
    if !(is_root() && is_debian()) {
        for m in &missing {
            eprintln!("missing: {} -- fix: {}", m.what, m.fix);
        }
        let why = if is_debian() {
            "not root"
        } else {
            "not a Debian machine"
        };
        return Err(format!(
            "{} prerequisite(s) missing and this xtask cannot install them ({why})",
            missing.len()
        ));
    }
    let mut wanted: Vec<&str> = DEBIAN_PACKAGES.to_vec();
    if with_test_tools {
        wanted.extend_from_slice(DEBIAN_TEST_PACKAGES);
    }
    let pkgs = missing_debian_packages(&wanted);
    if !pkgs.is_empty() {
        run(Command::new("apt-get").args(["update", "-q"]))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&pkgs)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    if !bpf_linker_ok() {
        let cmd = bpf_linker_install_command();
        run(Command::new(&cmd[0]).args(&cmd[1..]))?;
    }
    if !debian_toolchain_ok() {
        run(Command::new("rustup").args(["toolchain", "link", DEBIAN_TOOLCHAIN, "/usr"]))?;
    }
    let left = check(with_test_tools);
    if left.is_empty() {
        Ok(())
    } else {
        for m in &left {
            eprintln!("still missing after install: {} -- fix: {}", m.what, m.fix);
        }
        Err("installation did not complete".into())
    }
}
