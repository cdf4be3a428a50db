//! `cargo xtask <command>`: the one build entry (README). Installs prerequisites when it may, then
//! runs cargo. Commands:
//!   setup            check and install prerequisites (build + test tools)
//!   demo | run       build the workbench and start `workbench demo` on its embedded default
//!   test [--no-kernel] everything CI runs: fmt, dead-code, clippy (-D warnings), unit and kernel integration
//!                    tests (as root; --no-kernel counts the kernel tests as skipped)
//!   bench [ARGS]     `workbench bench all ARGS` on the release build (e.g. --quick)
//!   eval-table       `workbench eval-table --md docs/EVALUATION.md`: retrain, rescore, rewrite
//!   dead-code [--deny] public modules of the library crates that nothing outside them uses

mod dead_code;
mod prereq;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

fn workspace_root() -> PathBuf {
    // xtask lives at <root>/xtask
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    // `cargo xtask` runs this binary through `cargo run`, which sets CARGO_MANIFEST_DIR,
    // CARGO_PKG_NAME and friends for it. Passed on, they reach the inner build's build scripts:
    // ring's declares rerun-if-env-changed on them, so every switch between `cargo xtask test` and
    // a plain `cargo test` reran it and recompiled rustls, object_store and all of polars (measured:
    // 10-20 minutes on 2 cores). The inner cargo sets its own for each package.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || matches!(
                key.as_ref(),
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_MANIFEST_LINKS"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
            )
        {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd
}

fn step(name: &str, cmd: &mut Command) -> Result<(), String> {
    let started = Instant::now();
    eprintln!("xtask: == {name}");
    let status = cmd.status().map_err(|e| format!("{name}: cannot start: {e}"))?;
    eprintln!(
        "xtask: == {name}: {status} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} failed ({status})"))
    }
}

/// Path of clippy's driver for the stable toolchain, used as RUSTC_WORKSPACE_WRAPPER so that one
/// `cargo test` both lints (with -D warnings) and builds: dependencies are compiled once, in one
/// profile, instead of once for `cargo clippy` (check mode) and again for `cargo test`.
fn clippy_driver() -> Result<String, String> {
    let out = Command::new("rustup")
        .args(["which", "clippy-driver"])
        .output()
        .map_err(|e| format!("rustup which clippy-driver: {e}"))?;
    if !out.status.success() {
        return Err("clippy is not installed: rustup component add clippy".into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Sums cargo's per-binary "test result:" lines while passing the output through.
#[derive(Default)]
struct TestTotals {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl TestTotals {
    fn run(&mut self, name: &str, cmd: &mut Command) -> Result<(), String> {
        use std::io::{BufRead, BufReader};
        let started = Instant::now();
        eprintln!("xtask: == {name}");
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("{name}: cannot start: {e}"))?;
        if let Some(out) = child.stdout.take() {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                println!("{line}");
                self.add(&line);
            }
        }
        let status = child.wait().map_err(|e| format!("{name}: {e}"))?;
        eprintln!(
            "xtask: == {name}: {status} in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        if status.success() {
            Ok(())
        } else {
            Err(format!("{name} failed ({status})"))
        }
    }

    /// Parses "test result: ok. 7 passed; 0 failed; 1 ignored; ...".
    fn add(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(label), Some(n)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match label {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }
}

fn test(args: &[String]) -> Result<(), String> {
    // The kernel tests (workbench/tests/kernel/) are part of the test command: a runner that cannot
    // run them fails. `--no-kernel` leaves them out; they are then ignored and counted as skipped.
    let kernel = !args.iter().any(|a| a == "--no-kernel");
    let extra: Vec<&String> = args.iter().filter(|a| *a != "--no-kernel").collect();
    if kernel && !prereq::is_root() {
        return Err(
            "the kernel tests need root (BPF, network namespaces, qemu): run `cargo xtask test` as \
                    root, or `cargo xtask test --no-kernel` to count them as skipped"
                .into(),
        );
    }
    prereq::ensure(true)?;
    step("rustfmt (workspace)", cargo().args(["fmt", "--all", "--check"]))?;
    step(
        "rustfmt (probe-ebpf)",
        cargo().args(["fmt", "--manifest-path", "probe-ebpf/Cargo.toml", "--check"]),
    )?;
    // A public module nothing outside its crate uses hides its dead code from rustc.
    eprintln!("xtask: dead-code (public modules of the library crates no one else uses)");
    dead_code::run(&workspace_root(), &["--deny".to_string()])?;
    let driver = clippy_driver()?;
    let linted_cargo = || {
        let mut cmd = cargo();
        cmd.env("RUSTC_WORKSPACE_WRAPPER", &driver)
            .env("CLIPPY_ARGS", "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__");
        cmd
    };
    // The same features in both steps, so the workspace is compiled once.
    let features: &[&str] = if kernel {
        &["--features", "workbench/kernel-tests"]
    } else {
        &[]
    };
    let mut totals = TestTotals::default();
    totals.run(
        "doc tests",
        linted_cargo()
            .args(["test", "--workspace", "--doc"])
            .args(features),
    )?;
    totals.run(
        "clippy -D warnings + tests (one build)",
        linted_cargo()
            .args(["test", "--workspace", "--all-targets", "--no-fail-fast"])
            .args(features)
            .args(extra),
    )?;
    // One closing line over every test binary (cargo prints one summary per binary only).
    println!(
        "tests: {} passed, {} failed, {} skipped{}",
        totals.passed,
        totals.failed,
        totals.ignored,
        if kernel {
            ""
        } else {
            " (--no-kernel: the kernel tests are among the skipped)"
        }
    );
    if totals.passed == 0 {
        return Err("no test ran".into());
    }
    Ok(())
}

fn workbench(args: &[&str], extra: &[String]) -> Result<(), String> {
    workbench_in(&[], args, extra)
}

/// `cargo run [PROFILE_ARGS] -p workbench -- ARGS EXTRA`.
fn workbench_in(profile: &[&str], args: &[&str], extra: &[String]) -> Result<(), String> {
    prereq::ensure(false)?;
    step(
        "workbench",
        cargo()
            .arg("run")
            .args(profile)
            .args(["--package", "workbench", "--"])
            .args(args)
            .args(extra),
    )
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => ("help", &[][..]),
    };
    let result = match cmd {
        "setup" => prereq::ensure(true),
        "check" => {
            let missing = prereq::check(true);
            for m in &missing {
                eprintln!("missing: {} -- fix: {}", m.what, m.fix);
            }
            if missing.is_empty() {
                eprintln!("xtask: all prerequisites present");
                Ok(())
            } else {
                Err(format!("{} prerequisite(s) missing", missing.len()))
            }
        }
        "demo" | "run" => workbench(&["demo"], rest),
        "test" => test(rest),
        // Benchmarks compare against pandas, scikit-learn and tshark: only an optimised build
        // says what the workbench costs (the dev profile leaves our own crates unoptimised).
        "bench" => workbench_in(&["--release"], &["bench", "all"], rest),
        "eval-table" => workbench(&["eval-table", "--md", "docs/EVALUATION.md"], rest),
        "dead-code" => dead_code::run(&workspace_root(), rest),
        _ => {
            eprintln!("usage: cargo xtask setup|check|demo|run|test|bench|eval-table|dead-code [ARGS]");
            return if cmd == "help" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}
