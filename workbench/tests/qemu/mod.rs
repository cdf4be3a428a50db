//! Booting a Debian kernel under qemu (TCG: no KVM needed) with the workbench in an initramfs,
//! for the test on Debian 12's own kernel (qemu_debian12.rs).
//!
//! Everything comes from Debian's packages: the kernel image (`apt-get download`, unpacked with
//! `dpkg-deb -x`), `qemu-system-x86`, `busybox-static` and `cpio` (`cargo xtask setup` installs
//! the last three). The initramfs holds busybox, the workbench binary (the one this test run
//! built, stripped), iproute2's `ip` and `tc`, the libraries `ldd` names for them,
//! the kernel modules the probe needs with their dependencies, the test's data files and an
//! `/init` script. The script writes each step's exit status and output to the second serial
//! port, which qemu writes to a file: a channel no kernel message can interleave with. The VM has
//! no network device at all.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The modules the probe needs on Debian's cloud kernels (built as modules there).
pub const MODULES: [&str; 3] = ["veth", "sch_ingress", "cls_bpf"];

/// Why the test cannot run (it then fails, naming this).
pub type Missing = String;

/// Where downloads and unpacked kernels are kept between runs (target/tmp).
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("qemu-kernels")
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{} cannot start: {e}", cmd.get_program().to_string_lossy()))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The package the metapackage `meta` (e.g. linux-image-cloud-amd64) depends on: today's build.
pub fn resolve_kernel_package(meta: &str) -> Result<String, Missing> {
    let deps = run(Command::new("apt-cache").args(["depends", "--no-recommends", "--no-suggests", meta]))?;
    deps.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .map(str::trim)
        .find(|p| p.starts_with("linux-image-"))
        .map(str::to_string)
        .ok_or_else(|| format!("apt-cache depends {meta} names no linux-image package:\n{deps}"))
}

/// `apt-get download PACKAGE` into the cache (reused when present).
pub fn download(package: &str) -> Result<PathBuf, Missing> {
    let dir = cache_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let find = || {
        std::fs::read_dir(&dir).ok().and_then(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path())).find(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.starts_with(&format!("{package}_"))
                        && std::path::Path::new(n).extension().is_some_and(|e| e == "deb")
                })
            })
        })
    };
    if let Some(deb) = find() {
        return Ok(deb);
    }
    run(Command::new("apt-get")
        .args(["download", "-q", package])
        .current_dir(&dir))?;
    find().ok_or_else(|| format!("apt-get download {package} left no .deb in {}", dir.display()))
}

/// Today's build of metapackage `meta`, downloaded. When the package lists are older than the
/// mirror (the named build is gone from it), root runs `apt-get update` once and resolves again.
pub fn fetch_kernel(meta: &str, accept: impl Fn(&str) -> Result<(), Missing>) -> Result<PathBuf, Missing> {
    let attempt = || {
        let package = resolve_kernel_package(meta)?;
        accept(&package)?;
        download(&package)
    };
    match attempt() {
        Ok(deb) => Ok(deb),
        // SAFETY: geteuid has no preconditions.
        Err(first) if unsafe { libc::geteuid() } == 0 => {
            run(Command::new("apt-get").args(["update", "-q"])).map_err(|e| format!("{first}; then {e}"))?;
            attempt()
        }
        Err(first) => Err(first),
    }
}

/// A kernel package unpacked: its image and its modules directory.
pub struct Kernel {
    pub release: String,
    pub vmlinuz: PathBuf,
    pub modules: PathBuf,
}

/// `dpkg-deb -x DEB` into the cache (once per package file).
pub fn unpack(deb: &Path) -> Result<Kernel, Missing> {
    let stem = deb.file_stem().and_then(|s| s.to_str()).unwrap_or("kernel");
    let root = cache_dir().join(format!("{stem}.unpacked"));
    if !root.join("boot").exists() {
        let partial = cache_dir().join(format!("{stem}.partial"));
        let _ = std::fs::remove_dir_all(&partial);
        run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&partial))?;
        std::fs::rename(&partial, &root).map_err(|e| format!("renaming {}: {e}", partial.display()))?;
    }
    let vmlinuz = std::fs::read_dir(root.join("boot"))
        .map_err(|e| format!("{}: {e}", root.join("boot").display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
        .ok_or_else(|| format!("{} has no boot/vmlinuz-*", deb.display()))?;
    let release = vmlinuz
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("vmlinuz-"))
        .unwrap_or_default()
        .to_string();
    let modules = root.join("lib/modules").join(&release);
    if !modules.exists() {
        return Err(format!("{} has no {}", deb.display(), modules.display()));
    }
    Ok(Kernel {
        release,
        vmlinuz,
        modules,
    })
}

/// The `depends=` of a module's .modinfo (module names, `-` and `_` alike).
fn module_depends(ko: &[u8]) -> Vec<String> {
    let key = b"depends=";
    ko.windows(key.len())
        .position(|w| w == key)
        .map(|at| {
            let rest = &ko[at + key.len()..];
            let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
            String::from_utf8_lossy(&rest[..end])
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.replace('-', "_"))
                .collect()
        })
        .unwrap_or_default()
}

fn module_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(std::result::Result::ok)
    {
        let path = entry.path();
        if path.is_dir() {
            module_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "ko") {
            out.push(path);
        }
    }
}

fn module_named<'a>(files: &'a [PathBuf], name: &str) -> Option<&'a PathBuf> {
    files.iter().find(|p| {
        p.file_stem()
            .and_then(|s| s.to_str())
            .is_some_and(|s| s.replace('-', "_") == name)
    })
}

fn visit(
    name: &str,
    files: &[PathBuf],
    seen: &mut BTreeSet<String>,
    order: &mut Vec<PathBuf>,
) -> Result<(), Missing> {
    if !seen.insert(name.to_string()) {
        return Ok(());
    }
    let path =
        module_named(files, name).ok_or_else(|| format!("the kernel package has no module {name}.ko"))?;
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    for dep in module_depends(&bytes) {
        visit(&dep, files, seen, order)?;
    }
    order.push(path.clone());
    Ok(())
}

/// `wanted` and everything they depend on, dependencies first (what `insmod` needs, in order).
pub fn modules_in_load_order(kernel: &Kernel, wanted: &[&str]) -> Result<Vec<PathBuf>, Missing> {
    let mut files = Vec::new();
    module_files(&kernel.modules, &mut files);
    let (mut order, mut seen) = (Vec::new(), BTreeSet::new());
    for name in wanted {
        visit(&name.replace('-', "_"), &files, &mut seen, &mut order)?;
    }
    Ok(order)
}

/// A host program by name (`ip`, `tc`), as the host's PATH finds it.
pub fn host_program(name: &str) -> Result<PathBuf, Missing> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{name} is not installed (apt-get install iproute2)"))
}

/// The shared libraries `ldd` lists for `binary` (with the dynamic loader).
pub fn libraries(binary: &Path) -> Result<Vec<PathBuf>, Missing> {
    let out = run(Command::new("ldd").arg(binary))?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = match l.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next(),
                None => l.split_whitespace().next(),
            }?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

/// The initramfs being assembled in a temporary directory.
pub struct Initramfs {
    pub root: PathBuf,
}

impl Initramfs {
    pub fn new(root: PathBuf) -> Initramfs {
        let _ = std::fs::remove_dir_all(&root);
        for d in [
            "bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "run", "data", "etc",
        ] {
            std::fs::create_dir_all(root.join(d)).expect("initramfs directory");
        }
        Initramfs { root }
    }

    /// Copies `from` to `at` inside (parents created, mode kept).
    pub fn add(&self, from: &Path, at: &str) {
        let to = self.root.join(at.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().expect("a parent")).expect("initramfs directory");
        std::fs::copy(from, &to)
            .unwrap_or_else(|e| panic!("copying {} into the initramfs: {e}", from.display()));
    }

    /// A program and every library it links, at the same paths as on the host.
    pub fn add_program(&self, from: &Path, at: &str) -> Result<(), Missing> {
        self.add(from, at);
        for lib in libraries(from)? {
            let resolved = std::fs::canonicalize(&lib).unwrap_or(lib.clone());
            self.add(&resolved, lib.to_str().expect("utf-8 path"));
        }
        Ok(())
    }

    /// The workbench binary stripped (76 MB instead of 120: the VM's memory holds the whole
    /// initramfs). Copied as is where binutils' strip is missing.
    pub fn add_workbench(&self, from: &Path) -> Result<(), Missing> {
        let to = self.root.join("usr/bin/workbench");
        let stripped = Command::new("strip")
            .arg("-o")
            .arg(&to)
            .arg(from)
            .status()
            .is_ok_and(|s| s.success());
        if !stripped {
            self.add(from, "/usr/bin/workbench");
        }
        for lib in libraries(from)? {
            let resolved = std::fs::canonicalize(&lib).unwrap_or(lib.clone());
            self.add(&resolved, lib.to_str().expect("utf-8 path"));
        }
        Ok(())
    }

    pub fn write(&self, at: &str, bytes: &[u8], mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        let to = self.root.join(at.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().expect("a parent")).expect("initramfs directory");
        std::fs::write(&to, bytes).expect("write into the initramfs");
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    /// The newc cpio archive of the tree (uncompressed: the kernel takes it as is).
    pub fn pack(&self, out: &Path) -> Result<(), Missing> {
        let list = run(Command::new("find").arg(".").current_dir(&self.root))?;
        let file = std::fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
        let mut child = Command::new("cpio")
            .args(["-o", "-H", "newc", "--quiet"])
            .current_dir(&self.root)
            .stdin(Stdio::piped())
            .stdout(file)
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cpio cannot start (apt-get install cpio): {e}"))?;
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin
                .write_all(list.as_bytes())
                .map_err(|e| format!("cpio: {e}"))?;
        }
        let out = child.wait_with_output().map_err(|e| format!("cpio: {e}"))?;
        if !out.status.success() {
            return Err(format!("cpio failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(())
    }
}

/// What one boot produced: the kernel console and the results channel.
pub struct Boot {
    pub console: String,
    pub results: String,
    pub elapsed: Duration,
}

/// Boots `vmlinuz` with `initrd` under TCG (2 vCPUs, 2 GiB, no network device) until the guest
/// powers off, or fails after `limit`.
pub fn boot(vmlinuz: &Path, initrd: &Path, work: &Path, limit: Duration) -> Result<Boot, String> {
    let (console, results) = (work.join("console.log"), work.join("results.log"));
    let started = Instant::now();
    let mut child = Command::new("qemu-system-x86_64")
        .args(["-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "2048"])
        .args(["-nodefaults", "-display", "none", "-no-reboot"])
        .arg("-kernel")
        .arg(vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyS0 quiet panic=-1"])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .arg("-serial")
        .arg(format!("file:{}", results.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("qemu-system-x86_64 cannot start (apt-get install qemu-system-x86): {e}"))?;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("waiting for qemu: {e}"))? {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the VM did not power off within {limit:?}; console:\n{}",
                std::fs::read_to_string(&console).unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    if !status.success() {
        return Err(format!("qemu failed ({status}): {stderr}"));
    }
    Ok(Boot {
        console: std::fs::read_to_string(&console).unwrap_or_default(),
        results: String::from_utf8_lossy(&std::fs::read(&results).unwrap_or_default()).into_owned(),
        elapsed: started.elapsed(),
    })
}

/// One step of the init script as the results channel reports it.
#[derive(Debug, Default, Clone)]
pub struct Step {
    pub rc: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// The steps in the results channel: `EBML-STEP name`, `EBML-RC name N`, then the output
/// between `EBML-STDOUT`/`EBML-STDERR`/`EBML-END` markers.
pub fn parse_steps(results: &str) -> Vec<(String, Step)> {
    let mut steps: Vec<(String, Step)> = Vec::new();
    let mut section: Option<bool> = None; // Some(true): stdout, Some(false): stderr
    for raw in results.lines() {
        let line = raw.trim_end_matches('\r');
        if let Some(name) = line.strip_prefix("EBML-STEP ") {
            steps.push((name.to_string(), Step::default()));
            section = None;
        } else if let Some(rest) = line.strip_prefix("EBML-RC ") {
            if let (Some(last), Some(rc)) = (steps.last_mut(), rest.split_whitespace().nth(1)) {
                last.1.rc = rc.parse().ok();
            }
        } else if line.starts_with("EBML-STDOUT ") {
            section = Some(true);
        } else if line.starts_with("EBML-STDERR ") {
            section = Some(false);
        } else if line.starts_with("EBML-END ") {
            section = None;
        } else if let (Some(out), Some(last)) = (section, steps.last_mut()) {
            let target = if out {
                &mut last.1.stdout
            } else {
                &mut last.1.stderr
            };
            target.push_str(line);
            target.push('\n');
        }
    }
    steps
}

/// The init script: mounts, modules, then `steps` (name, shell command), each reported on
/// /dev/ttyS1, and a power-off.
pub fn init_script(modules: &[String], steps: &[(&str, String)]) -> String {
    let mut s = String::from(
        "#!/bin/busybox sh\n\
         /bin/busybox --install -s /bin\n\
         export PATH=/usr/sbin:/usr/bin:/sbin:/bin\n\
         mount -t proc proc /proc\n\
         mount -t sysfs sysfs /sys\n\
         mount -t devtmpfs devtmpfs /dev\n\
         mount -t tmpfs tmpfs /tmp\n\
         mount -t tmpfs tmpfs /run\n\
         ip link set lo up\n\
         R=/dev/ttyS1\n\
         step() {\n  name=$1; shift\n  echo \"EBML-STEP $name\" > $R\n  \"$@\" > /tmp/out 2> /tmp/err\n  echo \"EBML-RC $name $?\" > $R\n  \
         echo \"EBML-STDOUT $name\" > $R; cat /tmp/out > $R\n  echo \"EBML-STDERR $name\" > $R; cat /tmp/err > $R\n  echo \"EBML-END $name\" > $R\n}\n",
    );
    for m in modules {
        s.push_str(&format!(
            "step insmod-{} insmod {m}\n",
            Path::new(m)
                .file_stem()
                .and_then(|n| n.to_str())
                .unwrap_or("module")
        ));
    }
    for (name, cmd) in steps {
        s.push_str(&format!("step {name} {cmd}\n"));
    }
    s.push_str("echo EBML-DONE > $R\nsync\npoweroff -f\n");
    s
}

#[test]
fn the_results_channel_is_split_into_steps() {
    let results = "\u{1b}[0m\r\nEBML-STEP kernel\nEBML-RC kernel 0\nEBML-STDOUT kernel\n6.1.0-57-cloud-amd64\r\n\
                   EBML-STDERR kernel\nEBML-END kernel\nEBML-STEP attach\nEBML-RC attach 1\nEBML-STDOUT attach\n\
                   EBML-STDERR attach\nerror: no\nEBML-END attach\nEBML-DONE\n";
    let steps = parse_steps(results);
    assert_eq!(steps.len(), 2);
    assert_eq!((steps[0].0.as_str(), steps[0].1.rc), ("kernel", Some(0)));
    assert_eq!(steps[0].1.stdout, "6.1.0-57-cloud-amd64\n");
    assert_eq!(
        (
            steps[1].1.rc,
            steps[1].1.stdout.as_str(),
            steps[1].1.stderr.as_str()
        ),
        (Some(1), "", "error: no\n")
    );
}

#[test]
fn module_dependencies_are_read_from_modinfo() {
    let ko = b"\x7fELF....license=GPL\0depends=nf-conntrack,libcrc32c\0vermagic=6.1\0";
    assert_eq!(module_depends(ko), ["nf_conntrack", "libcrc32c"]);
    assert!(module_depends(b"\0depends=\0name=veth\0").is_empty());
}
