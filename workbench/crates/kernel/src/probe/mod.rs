//! Loading the embedded probe, attaching it to an interface and detaching it again.
//!
//! Attachment is a TCX link per direction where the kernel has TCX (6.6+), else (or with
//! `--attach tc`) a direct-action cls_bpf filter per direction on a clsact qdisc (`tc.rs`). The
//! links, the program and the maps are pinned under the project's bpffs directory, so the probe
//! keeps running after `workbench probe attach` exits and `probe flows`/`probe detach` find it
//! again. Detaching a TCX attachment is removing those pins: the last reference to a TCX link
//! goes, and the kernel detaches it. TCX links are invisible to `tc filter show`; `bpftool link
//! show` lists them. cls_bpf filters are deleted through the record pinned beside them, then
//! the pins go.

use std::path::Path;

use crate::error::{err, fail, Context, Error, Result};
use aya::maps::MapData;
use aya::programs::links::{FdLink, LinkOrder};
use aya::programs::tc::TcAttachOptions;
use aya::programs::{tc::TcAttachType, SchedClassifier};
use aya::{Ebpf, EbpfLoader};
use serde::Serialize;

use super::tc::{self, AttachMode, TcAttachment};
use super::{bpffs, caps, features, models};
use crate::lifecycle::claims::{self, Claim, Object};
use crate::locks::iface_lock;

mod detach;
pub mod vintage;

pub use detach::{detach, detach_in, DetachReport, PinGuard};

/// The probe object, built by build.rs with Debian's toolchain and embedded in this binary.
pub static PROBE_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/probe.o"));
/// The same probe without the per-flow lock, for kernels whose verifier refuses its atomic
/// instructions (before 5.12): [`FlowLock`].
pub static PROBE_OBJECT_UNLOCKED: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/probe-unlocked.o"));

pub const PROGRAM_NAME: &str = "workbench_tc";
pub const FLOWS_MAP: &str = "FLOWS";
pub const STATS_MAP: &str = "STATS";

/// Names of the pins in an interface's directory.
pub const PIN_PROGRAM: &str = "program";
pub const PIN_FLOWS: &str = "flows";
pub const PIN_STATS: &str = "stats";
pub const PIN_LINK_INGRESS: &str = "link_ingress";
pub const PIN_LINK_EGRESS: &str = "link_egress";
pub const PIN_EVENTS: &str = "events";
pub const PIN_PACKETS: &str = "packets";
pub const CONFIG_MAP: &str = "CONFIG";
pub const EVENTS_MAP: &str = "EVENTS";
pub const PACKETS_MAP: &str = "PACKETS";
/// Every pin the probe makes, in removal order: links first (that detaches the program). The tc
/// record goes last: its filters are deleted before any pin (`remove_pins`).
pub const ALL_PINS: [&str; 21] = [
    super::code::PIN_CODE_PROGRAM,
    super::code::PIN_CODE_PROGRAM_NEW,
    super::code::PIN_CODE_MODELS,
    super::code::PIN_ENGINE_TABLE,
    models::SLOT_PINS[0],
    models::SLOT_PINS[1],
    models::SLOT_PINS[2],
    PIN_LINK_INGRESS,
    PIN_LINK_EGRESS,
    PIN_PROGRAM,
    PIN_FLOWS,
    PIN_STATS,
    PIN_EVENTS,
    PIN_PACKETS,
    super::allowlist::PIN_ALLOW,
    models::PIN_CONFIG,
    models::PIN_MODELS,
    super::code::PIN_SCRATCH,
    super::code::PIN_CODE_MAP,
    super::code::PIN_CODE_MAP_UNLOCKED,
    tc::PIN_TC_RECORD,
];

#[derive(Debug, Clone, Serialize)]
pub struct AttachReport {
    pub iface: String,
    pub ifindex: u32,
    pub program_id: u32,
    pub verified_instructions: Option<u32>,
    /// "tcx" (TCX links) or "tc" (cls_bpf filters on a clsact qdisc).
    pub attach_mode: &'static str,
    /// The classic path's priority, handle and whether it added the qdisc; null for TCX.
    pub tc: Option<TcAttachment>,
    /// Why `--attach auto` took the classic path (the kernel's answer to a TCX attach).
    pub tcx_unavailable: Option<String>,
    pub directions: Vec<&'static str>,
    pub pin_dir: String,
    pub flow_table_entries: u32,
    /// The probe locks each flow's entry while a packet updates it (docs/ARCHITECTURE.md, "The
    /// per-flow lock"); false on kernels before 5.12.
    pub flow_lock: bool,
}

/// Which probe object [`load`] loads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FlowLock {
    /// The locked probe where the kernel has BPF atomics (5.12), the unlocked one elsewhere.
    #[default]
    Auto,
    /// The unlocked probe (the benchmark's baseline for the lock's cost, and tests).
    Off,
}

impl FlowLock {
    /// Whether the probe loaded with this choice locks flows on this kernel.
    pub fn resolve(self) -> bool {
        self == FlowLock::Auto && features::bpf_atomics()
    }
}

#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    /// Overrides the flow table size compiled into the probe.
    pub flow_table_entries: Option<u32>,
    /// Size of the packet-record ring buffer (record mode, `workbench verify`); a power of two
    /// multiple of the page size. Default: one page.
    pub packet_ring_bytes: Option<u32>,
    /// TCX, classic tc, or TCX where the kernel has it (the default).
    pub mode: AttachMode,
    /// The locked probe where the kernel allows it (the default), or the unlocked one.
    pub flow_lock: FlowLock,
}

/// [`attach`] for an interface inside network namespace `netns` (the lab's), run on a thread
/// that joined it: interface indexes and TCX attachment are per namespace; pins are not.
pub fn attach_in(netns: Option<&str>, iface: &str, options: &AttachOptions) -> Result<AttachReport> {
    match netns {
        Some(ns) => crate::lab::netns::run_in(ns, || attach_here(iface, options, Some(ns)))?,
        None => attach_here(iface, options, None),
    }
}

/// Index of a network interface in this process's network namespace.
pub fn ifindex(iface: &str) -> Result<u32> {
    let name =
        std::ffi::CString::new(iface).map_err(|_| err!(Invalid, "interface name {iface:?} contains NUL"))?;
    // SAFETY: valid C string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        fail!(Invalid, "no network interface named {iface:?} (see `ip link`)");
    }
    Ok(index)
}

/// The link type of `iface` in this network namespace (`ARPHRD_*`, the `sa_family` that
/// SIOCGIFHWADDR reports), None when it cannot be read.
fn link_type(iface: &str) -> Option<u16> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let name = iface.as_bytes();
    if name.len() >= libc::IFNAMSIZ {
        return None;
    }
    // SAFETY: plain socket(2); the fd is owned below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return None;
    }
    // SAFETY: a new fd nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: a zeroed ifreq is valid; the name is copied in with its NUL left in place.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR fills ifr_hwaddr of the ifreq it is given.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) } != 0 {
        return None;
    }
    // SAFETY: the union member SIOCGIFHWADDR wrote.
    Some(unsafe { req.ifr_ifru.ifru_hwaddr.sa_family })
}

/// The probe parses Ethernet frames (tc gives it the MAC header): on a layer-3 device (tun,
/// WireGuard, a GRE or IPIP tunnel) there is none, and every packet would be counted as not IP
/// or misread as whatever its first bytes look like. Refused before anything is made.
fn require_ethernet(iface: &str) -> Result<()> {
    let Some(kind) = link_type(iface) else {
        return Ok(());
    };
    if kind == libc::ARPHRD_ETHER {
        return Ok(());
    }
    let what = match kind {
        libc::ARPHRD_LOOPBACK => "the loopback device",
        libc::ARPHRD_NONE => "a layer-3 device without link headers (tun, WireGuard)",
        libc::ARPHRD_TUNNEL | libc::ARPHRD_TUNNEL6 | libc::ARPHRD_SIT | libc::ARPHRD_IPGRE => "an IP tunnel",
        _ => "not an Ethernet device",
    };
    fail!(
        Unsupported,
        "{iface} is {what} (link type {kind}): the probe reads Ethernet frames, so on it every packet \
         would count as unparsed or be misread; attach it to the Ethernet interface the traffic \
         crosses (a NIC, a veth, a bridge, a VLAN or bond device)"
    );
}

/// Pins left behind in `dir`, if any.
fn existing_pins(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(std::result::Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The probe loaded into the kernel with its program and maps pinned in a directory, attached to
/// nothing yet. Dropping it closes this process's handles; the pins keep the objects alive.
pub struct LoadedProbe {
    pub ebpf: Ebpf,
    pub program_id: u32,
    pub verified_instructions: Option<u32>,
    pub flow_table_entries: u32,
    pub flow_lock: bool,
}

/// Loads the probe with the default configuration and pins its program and maps in `dir` (an
/// existing, empty directory on bpffs). Used by `attach` and by the benchmark, which loads a
/// private copy that is never attached. On error, pins made so far stay in `dir`: the caller's
/// guard removes them.
pub fn load(dir: &Path, options: &AttachOptions) -> Result<LoadedProbe> {
    // One line naming what an old kernel lacks, before anything is made.
    features::require()?;
    models::create_models_map(dir)?;
    let mut loader = EbpfLoader::new();
    // The map of models is pinned by name in `dir`; aya reuses it (it cannot create it) and
    // treats its type as unsupported, which is fine: only the probe and kernel::models use it.
    loader.map_pin_path(dir).allow_unsupported_maps();
    if let Some(n) = options.flow_table_entries {
        if n == 0 {
            fail!(Invalid, "--flow-table must be at least 1 entry");
        }
        loader.set_max_entries(FLOWS_MAP, n);
    }
    if let Some(bytes) = options.packet_ring_bytes {
        if bytes < 4096 || !bytes.is_power_of_two() {
            fail!(
                Invalid,
                "the packet ring must be a power of two of at least 4096 bytes, got {bytes}"
            );
        }
        loader.set_max_entries(PACKETS_MAP, bytes);
    }
    let flow_lock = options.flow_lock.resolve();
    let object = if flow_lock {
        PROBE_OBJECT
    } else {
        PROBE_OBJECT_UNLOCKED
    };
    let mut ebpf: Ebpf = loader
        .load(object)
        .context(|| "loading the probe object into the kernel")?;
    let config: &mut aya::maps::Map = ebpf
        .map_mut(CONFIG_MAP)
        .ok_or_else(|| Error::missing_map(CONFIG_MAP))?;
    aya::maps::Array::<_, shared::abi::ProbeConfig>::try_from(config)?
        .set(0, shared::abi::ProbeConfig::default(), 0)
        .context(|| "writing the default probe configuration")?;
    for (map, pin) in [
        (FLOWS_MAP, PIN_FLOWS),
        (STATS_MAP, PIN_STATS),
        (CONFIG_MAP, models::PIN_CONFIG),
        (EVENTS_MAP, PIN_EVENTS),
        (PACKETS_MAP, PIN_PACKETS),
        (super::allowlist::ALLOW_MAP, super::allowlist::PIN_ALLOW),
        (super::code::SCRATCH_MAP, super::code::PIN_SCRATCH),
        (
            super::code::CODE_MAP,
            if flow_lock {
                super::code::PIN_CODE_MAP
            } else {
                super::code::PIN_CODE_MAP_UNLOCKED
            },
        ),
    ] {
        ebpf.map(map)
            .ok_or_else(|| Error::missing_map(map))?
            .pin(dir.join(pin))
            .context(|| format!("pinning map {map}"))?;
    }
    let program: &mut SchedClassifier = ebpf
        .program_mut(PROGRAM_NAME)
        .ok_or_else(|| Error::missing_program(PROGRAM_NAME))?
        .try_into()?;
    program
        .load()
        .context(|| "the kernel verifier rejected the probe")?;
    let info = program.info()?;
    program
        .pin(dir.join(PIN_PROGRAM))
        .context(|| "pinning the program")?;
    let flow_table_entries = ebpf
        .map(FLOWS_MAP)
        .and_then(|m| match m {
            aya::maps::Map::LruHashMap(data) => data.info().ok().map(|i| i.max_entries()),
            _ => None,
        })
        .unwrap_or(0);
    Ok(LoadedProbe {
        ebpf,
        program_id: info.id(),
        verified_instructions: info.verified_instruction_count(),
        flow_table_entries,
        flow_lock,
    })
}

/// Loads the probe and attaches it at ingress and egress of `iface`, pinning everything.
pub fn attach(iface: &str, options: &AttachOptions) -> Result<AttachReport> {
    attach_here(iface, options, None)
}

/// Whether `dir` holds an attached probe: both TCX link pins, or a tc record.
fn attached_pins(left: &[String]) -> bool {
    let has = |p: &str| left.iter().any(|l| l == p);
    (has(PIN_LINK_INGRESS) && has(PIN_LINK_EGRESS)) || has(tc::PIN_TC_RECORD)
}

/// The error of a TCX attach on a kernel without TCX (before 6.6 BPF_LINK_CREATE does not know
/// the attach type and answers EINVAL), as the reason `auto` falls back; None for other errors.
fn tcx_missing(e: &aya::programs::ProgramError) -> Option<String> {
    match e {
        aya::programs::ProgramError::SyscallError(s) if s.io_error.raw_os_error() == Some(libc::EINVAL) => {
            Some(format!(
                "{}: {} (TCX needs Linux 6.6; this is {})",
                s.call,
                s.io_error,
                features::kernel_release()
            ))
        }
        _ => None,
    }
}

/// Attaches as TCX links at ingress and egress and pins them. Err(Ok(reason)): this kernel has
/// no TCX and nothing was attached; Err(Err(e)): any other failure.
fn attach_tcx(
    program: &mut SchedClassifier,
    iface: &str,
    dir: &Path,
) -> std::result::Result<(), Result<String>> {
    for (direction, pin) in [
        (TcAttachType::Ingress, PIN_LINK_INGRESS),
        (TcAttachType::Egress, PIN_LINK_EGRESS),
    ] {
        let id = match program.attach_with_options(
            iface,
            direction,
            TcAttachOptions::TcxOrder(LinkOrder::default()),
        ) {
            Ok(id) => id,
            Err(e) => {
                return Err(match (direction, tcx_missing(&e)) {
                    (TcAttachType::Ingress, Some(reason)) => Ok(reason),
                    _ => Err(Error::bpf(
                        format!("attaching the probe to {iface} ({direction:?}) as a TCX link"),
                        e,
                    )),
                })
            }
        };
        let pinned = program
            .take_link(id)
            .map_err(Error::from)
            .and_then(|link| {
                FdLink::try_from(link).map_err(|e| Error::bpf(format!("{iface}: not a TCX link"), e))
            })
            .and_then(|link: FdLink| {
                link.pin(dir.join(pin))
                    .map(drop)
                    .context(|| format!("pinning the {direction:?} link"))
            });
        pinned.map_err(Err)?;
    }
    Ok(())
}

/// [`attach`] on a thread inside network namespace `netns` (None: this thread's own).
fn attach_here(iface: &str, options: &AttachOptions, netns: Option<&str>) -> Result<AttachReport> {
    caps::require_load_access("attaching the probe")?;
    let ifindex = ifindex(iface)?;
    require_ethernet(iface)?;
    bpffs::ensure_mounted()?;
    // Held until the probe is attached (or what was made is removed): another attach or a
    // detach on this interface waits, then sees the whole probe or none.
    let _lock = iface_lock(iface)?;
    let dir = bpffs::iface_dir(iface);
    let left = existing_pins(&dir);
    let mine = Object::Probe {
        iface: iface.to_string(),
    };
    // Left by a command that was killed (verify, a half-done attach): say that, in one line.
    if let Some(stale) = claims::stale().into_iter().find(|s| s.has(&mine)) {
        fail!(State, "{stale}");
    }
    if !left.is_empty() && !attached_pins(&left) {
        fail!(
            State,
            "stale probe on {iface}: {} holds {} but no attached links (a `probe attach` was killed half-way): \
             remove it with `workbench probe detach --iface {iface}` (or `workbench probe cleanup`, which removes everything the project made)",
            dir.display(),
            left.join(", ")
        );
    }
    if !left.is_empty() {
        fail!(
            State,
            "the probe is already attached to {iface} (pins in {}: {}); run `workbench probe detach --iface {iface}` first",
            dir.display(),
            left.join(", ")
        );
    }
    // Until the links are pinned, a kill leaves a partial probe: noted so the next start says so.
    let mut claim = Claim::new("probe attach");
    claim.add(mine);
    std::fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
    // From here on, anything that fails removes what was pinned so far.
    let mut guard = PinGuard::new(dir.clone());

    let mut loaded = load(&dir, options)?;
    let program: &mut SchedClassifier = loaded
        .ebpf
        .program_mut(PROGRAM_NAME)
        .ok_or_else(|| Error::missing_program(PROGRAM_NAME))?
        .try_into()?;
    let (attach_mode, tc_attachment, tcx_unavailable) = match options.mode {
        AttachMode::Tc => (
            "tc",
            Some(tc::attach(program, iface, ifindex, &dir, netns)?),
            None,
        ),
        AttachMode::Tcx => match attach_tcx(program, iface, &dir) {
            Ok(()) => ("tcx", None, None),
            Err(Ok(reason)) => {
                fail!(
                    Unsupported,
                    "{iface}: this kernel has no TCX ({reason}); attach with --attach tc (or auto)"
                )
            }
            Err(Err(e)) => return Err(e),
        },
        AttachMode::Auto => match attach_tcx(program, iface, &dir) {
            Ok(()) => ("tcx", None, None),
            Err(Ok(reason)) => (
                "tc",
                Some(tc::attach(program, iface, ifindex, &dir, netns)?),
                Some(reason),
            ),
            Err(Err(e)) => return Err(e),
        },
    };
    // Ctrl-C during the attach (handler installed by the command) leaves nothing attached.
    crate::lifecycle::check()?;
    guard.disarm();
    drop(claim);
    Ok(AttachReport {
        iface: iface.to_string(),
        ifindex,
        program_id: loaded.program_id,
        verified_instructions: loaded.verified_instructions,
        attach_mode,
        tc: tc_attachment,
        tcx_unavailable,
        directions: vec!["ingress", "egress"],
        pin_dir: dir.display().to_string(),
        flow_table_entries: loaded.flow_table_entries,
        flow_lock: loaded.flow_lock,
    })
}

/// What to do about `iface` when no probe is pinned for it: attach one, in the lab namespace
/// that holds the interface when it is not in this one (`--netns NS`), or, when no such
/// interface exists anywhere the workbench looks, say so instead of suggesting an attach that
/// cannot work. (Pins are kept by interface name, so commands after the attach need no --netns.)
pub fn not_attached_fix(iface: &str) -> String {
    if ifindex(iface).is_ok() {
        return format!("run `workbench probe attach --iface {iface}` first");
    }
    let mut labs = crate::lab::project_namespaces();
    labs.sort();
    let holder = labs
        .iter()
        .find(|ns| crate::lab::netns::run_in(ns, || ifindex(iface).is_ok()).unwrap_or(false));
    match holder {
        Some(ns) => format!(
            "{iface} is in network namespace {ns} (a lab's), not in this one: run `workbench probe \
             attach --iface {iface} --netns {ns}` first"
        ),
        None => format!(
            "no interface {iface} exists in this network namespace (`ip link` lists them){}; check \
             the name, or attach the probe to an interface that exists (`workbench probe attach \
             --iface IF`, with `--netns NS` for one inside a namespace)",
            if labs.is_empty() {
                String::new()
            } else {
                format!(" nor in the lab namespaces ({})", labs.join(", "))
            }
        ),
    }
}

/// Opens a pinned map of the probe attached to `iface`.
pub fn open_pinned_map(iface: &str, pin: &str) -> Result<MapData> {
    let path = bpffs::iface_dir(iface).join(pin);
    if !path.exists() {
        fail!(
            State,
            "the probe is not attached to {iface} ({} does not exist); {}",
            path.display(),
            not_attached_fix(iface)
        );
    }
    MapData::from_pin(&path).context(|| format!("opening pinned map {}", path.display()))
}

/// Whether the probe is attached to `iface` and pinned (both TCX link pins, or the record of
/// its cls_bpf filters): what a restarted `workbench agent` reuses instead of attaching again.
pub fn is_attached(iface: &str) -> bool {
    let dir = bpffs::iface_dir(iface);
    let left = existing_pins(&dir);
    left.iter().any(|p| p == PIN_PROGRAM) && attached_pins(&left)
}

/// The kernel's id of the probe program pinned for `iface`.
pub fn pinned_program_id(iface: &str) -> Result<u32> {
    let pin = bpffs::iface_dir(iface).join(PIN_PROGRAM);
    aya::programs::ProgramInfo::from_pin(&pin)
        .map(|i| i.id())
        .map_err(|e| {
            Error::bpf(
                format!("{iface}: reading the pinned probe program {}", pin.display()),
                e,
            )
        })
}
