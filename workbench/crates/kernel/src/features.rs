//! The kernel features the probe needs, probed before it is loaded, so that an old kernel gets
//! one line naming what it lacks instead of a verifier log or an errno from deep inside aya.
//!
//! Each feature is probed by using it (creating a one-entry map of the type); a kernel version
//! is never compared, since distributions backport features (RHEL 9's 5.14 has much of 6.x).
//! The versions named are where each feature first appeared upstream. The newest of them, the
//! BPF ring buffer (5.8), makes the floor; the oldest kernel the project has run on is Debian
//! 11's 5.10 (README, "Supported kernels").

use std::os::fd::AsFd;

use crate::error::{err, Error, Result};

use super::sys::{self, insn};

/// The first upstream release with every feature below.
pub const OLDEST_UPSTREAM: &str = "5.8";

const BPF_MAP_TYPE_PERCPU_ARRAY: u32 = 6;
const BPF_MAP_TYPE_LRU_HASH: u32 = 9;
const BPF_MAP_TYPE_LPM_TRIE: u32 = 11;
const BPF_MAP_TYPE_RINGBUF: u32 = 27;
const BPF_F_NO_PREALLOC: u32 = 1;

/// A kernel feature the probe uses, and how to see whether this kernel has it.
pub struct Feature {
    /// What the one-line error names.
    pub name: &'static str,
    /// The first upstream kernel that has it.
    pub since: &'static str,
    /// What uses it.
    pub used_for: &'static str,
    probe: fn() -> std::io::Result<()>,
}

fn map(map_type: u32, key_bytes: u32, value_bytes: u32, entries: u32, flags: u32) -> std::io::Result<()> {
    sys::map_create_raw(
        map_type,
        key_bytes,
        value_bytes,
        entries,
        flags,
        None,
        "ebml_probe",
    )
    .map(drop)
}

fn map_of_maps() -> std::io::Result<()> {
    let inner = sys::map_create_raw(sys::BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0, None, "ebml_probe")?;
    sys::map_create_raw(
        sys::BPF_MAP_TYPE_ARRAY_OF_MAPS,
        4,
        4,
        1,
        0,
        Some(inner.as_fd()),
        "ebml_probe",
    )
    .map(drop)
}

/// Every feature, oldest first.
pub const FEATURES: [Feature; 5] = [
    Feature {
        name: "per-CPU array maps (BPF_MAP_TYPE_PERCPU_ARRAY)",
        since: "4.6",
        used_for: "the probe's statistics",
        probe: || map(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 1, 0),
    },
    Feature {
        name: "LRU hash maps (BPF_MAP_TYPE_LRU_HASH)",
        since: "4.10",
        used_for: "the flow table",
        probe: || map(BPF_MAP_TYPE_LRU_HASH, 4, 4, 1, 0),
    },
    Feature {
        name: "LPM trie maps (BPF_MAP_TYPE_LPM_TRIE)",
        since: "4.11",
        used_for: "the enforce-mode allowlist",
        probe: || map(BPF_MAP_TYPE_LPM_TRIE, 8, 1, 1, BPF_F_NO_PREALLOC),
    },
    Feature {
        name: "maps of maps (BPF_MAP_TYPE_ARRAY_OF_MAPS)",
        since: "4.12",
        used_for: "hot-swapping models",
        probe: map_of_maps,
    },
    Feature {
        name: "BPF ring buffers (BPF_MAP_TYPE_RINGBUF)",
        since: "5.8",
        used_for: "verdict events and verify's packet records",
        probe: || map(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, 0),
    },
];

/// A socket filter that takes and releases a lock word on its stack the way the probe's
/// per-flow lock does: BPF_CMPXCHG and BPF_XCHG on a 64-bit word (Linux 5.12).
const ATOMICS_PROBE: [u64; 8] = [
    insn(0xb7, 1, 0, 0, 0),      // r1 = 0
    insn(0x7b, 10, 1, -8, 0),    // *(u64 *)(r10 - 8) = r1
    insn(0xb7, 0, 0, 0, 0),      // r0 = 0
    insn(0xb7, 1, 0, 0, 1),      // r1 = 1
    insn(0xdb, 10, 1, -8, 0xf1), // r0 = cmpxchg_64(r10 - 8, r0, r1)
    insn(0xdb, 10, 1, -8, 0xe1), // r1 = xchg_64(r10 - 8, r1)
    insn(0xb7, 0, 0, 0, 0),      // r0 = 0
    insn(0x95, 0, 0, 0, 0),      // exit
];
const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;

/// Whether this kernel's verifier accepts the per-flow lock's atomic instructions (5.12; the
/// loader picks the probe without the lock where it does not). Probed by loading them, never by
/// comparing versions. Errors other than the verifier's refusal count as "no": the probe then
/// still loads, unlocked, and says so.
pub fn bpf_atomics() -> bool {
    sys::prog_load_raw(BPF_PROG_TYPE_SOCKET_FILTER, &ATOMICS_PROBE, "ebml_atomics").is_ok()
}

/// This kernel's release (`uname -r`).
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".into(), |s| s.trim().to_string())
}

/// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK (64 KiB by default before 5.16), far
/// less than the flow table needs. Raising our own limit is what every loader does there; a
/// process without CAP_SYS_RESOURCE keeps its limit (and a later EPERM names the map).
pub fn raise_memlock_limit() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit with a valid struct; affects this process only.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &raw const unlimited) };
}

/// The one line for the kernel features in `missing`.
fn missing_line(release: &str, missing: &[&Feature]) -> String {
    let what: Vec<String> = missing
        .iter()
        .map(|f| format!("{} (Linux {}, for {})", f.name, f.since, f.used_for))
        .collect();
    format!(
        "this kernel ({release}) lacks {}: the probe needs Linux {OLDEST_UPSTREAM} or later (tested down to 5.10, Debian 11)",
        what.join(" and ")
    )
}

/// Checks `features` with their probes: Err names every missing one in one line. A probe that
/// fails for another reason than "unknown map type" (EINVAL) says so instead.
fn check(features: &[Feature], release: &str) -> Result<()> {
    let mut missing = Vec::new();
    for f in features {
        match (f.probe)() {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => missing.push(f),
            Err(e) => return Err(Error::io(format!("probing the kernel for {}", f.name), e)),
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(err!(Unsupported, "{}", missing_line(release, &missing)))
    }
}

/// Fails with one line naming what this kernel lacks for the probe (after raising the memlock
/// limit that old kernels apply to maps).
pub fn require() -> Result<()> {
    raise_memlock_limit();
    check(&FEATURES, &kernel_release())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown_type() -> std::io::Result<()> {
        Err(std::io::Error::from_raw_os_error(libc::EINVAL))
    }

    fn not_permitted() -> std::io::Result<()> {
        Err(std::io::Error::from_raw_os_error(libc::EPERM))
    }

    fn present() -> std::io::Result<()> {
        Ok(())
    }

    fn feature(name: &'static str, since: &'static str, probe: fn() -> std::io::Result<()>) -> Feature {
        Feature {
            name,
            since,
            used_for: "testing",
            probe,
        }
    }

    #[test]
    fn the_atomics_probe_is_encoded_as_the_kernel_reads_it() {
        // `r0 = cmpxchg_64(r2 + 0, r0, r7)` as LLVM encodes it in the probe object.
        assert_eq!(
            insn(0xdb, 2, 7, 0, 0xf1).to_le_bytes(),
            [0xdb, 0x72, 0, 0, 0xf1, 0, 0, 0]
        );
        // `*(u64 *)(r10 - 8) = r1`: the offset is little-endian two's complement.
        assert_eq!(
            insn(0x7b, 10, 1, -8, 0).to_le_bytes(),
            [0x7b, 0x1a, 0xf8, 0xff, 0, 0, 0, 0]
        );
    }

    #[test]
    fn a_missing_feature_is_named_in_one_line_with_its_kernel() {
        let features = [
            feature("old thing", "4.6", present),
            feature("BPF ring buffers (BPF_MAP_TYPE_RINGBUF)", "5.8", unknown_type),
        ];
        let e = check(&features, "5.4.0-test").expect_err("missing").to_string();
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(
            e.starts_with(
                "this kernel (5.4.0-test) lacks BPF ring buffers (BPF_MAP_TYPE_RINGBUF) (Linux 5.8"
            ),
            "{e}"
        );
        assert!(e.contains("needs Linux 5.8 or later"), "{e}");
        assert!(!e.contains("old thing"), "{e}");
    }

    #[test]
    fn several_missing_features_share_the_line_and_other_errors_are_not_called_missing() {
        let features = [
            feature("a", "4.10", unknown_type),
            feature("b", "4.12", unknown_type),
        ];
        let e = check(&features, "4.9").expect_err("missing").to_string();
        assert!(
            e.contains("lacks a (Linux 4.10, for testing) and b (Linux 4.12"),
            "{e}"
        );
        // `{:#}`: the context and its cause in one line, as the binary prints it.
        let e = check(&[feature("c", "5.8", not_permitted)], "6.1").expect_err("EPERM");
        assert!(matches!(e, crate::Error::Io { .. }), "{e:?}");
        let e = format!("{e:#}");
        assert!(
            e.starts_with("probing the kernel for c: ") && !e.contains("lacks"),
            "{e}"
        );
        assert!(check(&[feature("d", "4.6", present)], "6.1").is_ok());
    }
}
