//! The project's directory on the BPF file system, where attached probes pin their links and
//! maps so that they outlive the command that attached them.
//!
//! These machines boot without bpffs at /sys/fs/bpf. If it is missing we mount it there (where
//! bpftool and systemd expect it) and leave a marker under /run, so that the last detach can
//! unmount it again and leave the machine as it was.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use crate::error::{err, Context, Result};

pub const BPFFS_ROOT: &str = "/sys/fs/bpf";
/// Everything the project pins lives below this directory (one per project, versioned layout).
pub const PROJECT_DIR: &str = "/sys/fs/bpf/ebpf-ml-workbench";
/// Layout version of what is pinned: a probe from an incompatible build refuses old pins.
pub const PIN_LAYOUT: &str = "v1";
const MOUNT_MARKER: &str = "/run/ebpf-ml-workbench/bpffs-mounted";
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

fn is_bpffs(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs writes into the zeroed struct we pass.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statfs(c.as_ptr(), &raw mut st) };
    rc == 0 && st.f_type as i64 == BPF_FS_MAGIC
}

/// Mounts bpffs at /sys/fs/bpf when it is not there yet.
pub fn ensure_mounted() -> Result<()> {
    let root = Path::new(BPFFS_ROOT);
    if is_bpffs(root) {
        return Ok(());
    }
    // Constants without NUL: the conversions cannot fail.
    let c = |s: &str| CString::new(s).map_err(|_| err!(Invalid, "{s:?} contains NUL"));
    let src = c("bpffs")?;
    let target = c(BPFFS_ROOT)?;
    let fstype = c("bpf")?;
    let opts = c("mode=0700")?;
    // SAFETY: plain mount(2) with valid C strings.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            opts.as_ptr().cast(),
        )
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EPERM) {
            return Err(err!(
                Unsupported,
                "the BPF file system is not mounted at {BPFFS_ROOT} and mounting it needs CAP_SYS_ADMIN; \
                 mount it once as root (mount -t bpf bpffs {BPFFS_ROOT}), then CAP_BPF and CAP_NET_ADMIN suffice"
            ));
        }
        return Err(err!(
            Unsupported,
            "cannot mount the BPF file system at {BPFFS_ROOT}: {err}; run as root, or mount it first: `mount -t bpf bpf {BPFFS_ROOT}`"
        ));
    }
    if let Some(dir) = Path::new(MOUNT_MARKER).parent() {
        std::fs::create_dir_all(dir).context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(MOUNT_MARKER, b"mounted by workbench\n").context(|| MOUNT_MARKER)?;
    Ok(())
}

/// The pin directory of the probe on one interface.
/// Removes the pin at `path`; one that is not there is already the end state.
pub(crate) fn unpin(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(crate::error::Error::io(format!("removing {}", path.display()), e)),
    }
}

pub fn iface_dir(iface: &str) -> PathBuf {
    Path::new(PROJECT_DIR).join(PIN_LAYOUT).join(iface)
}

/// Removes empty project directories, and unmounts bpffs if we mounted it and nothing at all is
/// pinned any more.
pub fn tidy() {
    let layout = Path::new(PROJECT_DIR).join(PIN_LAYOUT);
    let _ = std::fs::remove_dir(&layout);
    let _ = std::fs::remove_dir(PROJECT_DIR);
    if !Path::new(MOUNT_MARKER).exists() || !is_bpffs(Path::new(BPFFS_ROOT)) {
        return;
    }
    // The kernel's bpf_preload puts maps.debug and progs.debug into every fresh bpffs.
    let empty = std::fs::read_dir(BPFFS_ROOT).is_ok_and(|d| {
        d.filter_map(std::result::Result::ok)
            .all(|e| matches!(e.file_name().to_str(), Some("maps.debug" | "progs.debug")))
    });
    if !empty {
        return;
    }
    if let Ok(target) = CString::new(BPFFS_ROOT) {
        // SAFETY: umount(2) of the bpffs we mounted ourselves.
        if unsafe { libc::umount(target.as_ptr()) } == 0 {
            let _ = std::fs::remove_file(MOUNT_MARKER);
        }
    }
}

/// Interfaces that have a pin directory (attached, or left behind by a killed process).
pub fn pinned_ifaces() -> Vec<String> {
    let layout = Path::new(PROJECT_DIR).join(PIN_LAYOUT);
    let Ok(dir) = std::fs::read_dir(layout) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .filter_map(std::result::Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
