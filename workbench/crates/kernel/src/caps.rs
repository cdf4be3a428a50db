//! Which Linux capabilities this process has, so that kernel features can say exactly what is
//! missing instead of failing later with EPERM.

use crate::error::{err, Result};

pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_NET_RAW: u32 = 13;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_PERFMON: u32 = 38;
pub const CAP_BPF: u32 = 39;

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The effective capability set of this thread as a 64-bit mask.
pub fn effective() -> u64 {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget with a v3 header writes exactly two CapData structs.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &raw mut header, data.as_mut_ptr()) };
    if rc != 0 {
        return 0;
    }
    data[0].effective as u64 | ((data[1].effective as u64) << 32)
}

pub fn has(cap: u32) -> bool {
    effective() & (1u64 << cap) != 0
}

/// Fails with one line naming the missing capabilities when this process cannot load, attach or
/// read BPF programs and maps. CAP_SYS_ADMIN stands in for CAP_BPF on kernels before 5.8.
pub fn require_kernel_access(action: &str) -> Result<()> {
    let caps = effective();
    let mut missing = Vec::new();
    if caps & (1 << CAP_BPF) == 0 && caps & (1 << CAP_SYS_ADMIN) == 0 {
        missing.push("CAP_BPF");
    }
    if caps & (1 << CAP_NET_ADMIN) == 0 {
        missing.push("CAP_NET_ADMIN");
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(err!(
        Unsupported,
        "{action} needs CAP_BPF and CAP_NET_ADMIN; this process lacks {} (run as root, or grant them: \
         setcap cap_bpf,cap_net_admin+ep $(command -v workbench))",
        missing.join(" and ")
    ))
}

/// Loading the probe needs CAP_PERFMON too: without it the verifier applies Spectre v1
/// sanitation to pointer arithmetic (the model walk indexes a map value by a data-dependent
/// node index) and explores speculative paths, and the probe exceeds its jump-sequence limit.
pub fn require_load_access(action: &str) -> Result<()> {
    let caps = effective();
    let admin = caps & (1 << CAP_SYS_ADMIN) != 0;
    let mut missing = Vec::new();
    if caps & (1 << CAP_BPF) == 0 && !admin {
        missing.push("CAP_BPF");
    }
    if caps & (1 << CAP_NET_ADMIN) == 0 {
        missing.push("CAP_NET_ADMIN");
    }
    if caps & (1 << CAP_PERFMON) == 0 && !admin {
        missing.push("CAP_PERFMON");
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(err!(
        Unsupported,
        "{action} needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (the verifier needs CAP_PERFMON to accept the \
         model walk's pointer arithmetic); this process lacks {} (run as root, or: setcap \
         cap_bpf,cap_net_admin,cap_perfmon+ep $(command -v workbench))",
        missing.join(" and ")
    ))
}
