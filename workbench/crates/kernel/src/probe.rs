//! Loading the embedded probe, attaching it to an interface and detaching it again.
//!
//! Attachment is a TCX link per direction (kernel >= 6.6; aya's default there). The links, the
//! program and the maps are pinned under the project's bpffs directory, so the probe keeps
//! running after `workbench probe attach` exits and `probe flows`/`probe detach` find it again.
//! Detaching is removing those pins: the last reference to a TCX link goes, and the kernel
//! detaches it. TCX links are invisible to `tc filter show`; `bpftool link show` lists them.

use std::path::{Path, PathBuf};

use aya::maps::MapData;
use aya::programs::links::FdLink;
use aya::programs::{tc::TcAttachType, SchedClassifier};
use aya::{Ebpf, EbpfLoader};
use color_eyre::eyre::{bail, eyre, Result, WrapErr};
use serde::Serialize;

use super::{bpffs, caps, models};
use crate::lifecycle::claims::{self, Claim, Object};

/// The probe object, built by build.rs with Debian's toolchain and embedded in this binary.
pub static PROBE_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/probe.o"));

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
/// Every pin the probe makes, in removal order: links first (that detaches the program).
pub const ALL_PINS: [&str; 13] = [
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
];

#[derive(Debug, Clone, Serialize)]
pub struct AttachReport {
    pub iface: String,
    pub ifindex: u32,
    pub program_id: u32,
    pub verified_instructions: Option<u32>,
    pub attach_mode: &'static str,
    pub directions: Vec<&'static str>,
    pub pin_dir: String,
    pub flow_table_entries: u32,
}

#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    /// Overrides the flow table size compiled into the probe.
    pub flow_table_entries: Option<u32>,
    /// Size of the packet-record ring buffer (record mode, `workbench verify`); a power of two
    /// multiple of the page size. Default: one page.
    pub packet_ring_bytes: Option<u32>,
}

/// [`attach`] for an interface inside network namespace `netns` (the lab's), run on a thread
/// that joined it: interface indexes and TCX attachment are per namespace; pins are not.
pub fn attach_in(netns: Option<&str>, iface: &str, options: &AttachOptions) -> Result<AttachReport> {
    match netns {
        Some(ns) => crate::lab::netns::run_in(ns, || attach(iface, options))?,
        None => attach(iface, options),
    }
}

/// Index of a network interface in this process's network namespace.
pub fn ifindex(iface: &str) -> Result<u32> {
    let name = std::ffi::CString::new(iface).map_err(|_| eyre!("interface name {iface:?} contains NUL"))?;
    // SAFETY: valid C string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        bail!("no network interface named {iface:?} (see `ip link`)");
    }
    Ok(index)
}

/// Pins left behind in `dir`, if any.
fn existing_pins(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
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
}

/// Loads the probe with the default configuration and pins its program and maps in `dir` (an
/// existing, empty directory on bpffs). Used by `attach` and by the benchmark, which loads a
/// private copy that is never attached. On error, pins made so far stay in `dir`: the caller's
/// guard removes them.
pub fn load(dir: &Path, options: &AttachOptions) -> Result<LoadedProbe> {
    models::create_models_map(dir)?;
    let mut loader = EbpfLoader::new();
    // The map of models is pinned by name in `dir`; aya reuses it (it cannot create it) and
    // treats its type as unsupported, which is fine: only the probe and kernel::models use it.
    loader.map_pin_path(dir).allow_unsupported_maps();
    if let Some(n) = options.flow_table_entries {
        if n == 0 {
            bail!("--flow-table must be at least 1 entry");
        }
        loader.set_max_entries(FLOWS_MAP, n);
    }
    if let Some(bytes) = options.packet_ring_bytes {
        if bytes < 4096 || !bytes.is_power_of_two() {
            bail!("the packet ring must be a power of two of at least 4096 bytes, got {bytes}");
        }
        loader.set_max_entries(PACKETS_MAP, bytes);
    }
    let mut ebpf: Ebpf = loader
        .load(PROBE_OBJECT)
        .wrap_err("loading the probe object into the kernel")?;
    let config: &mut aya::maps::Map = ebpf
        .map_mut(CONFIG_MAP)
        .ok_or_else(|| eyre!("probe object has no map {CONFIG_MAP}"))?;
    aya::maps::Array::<_, shared::abi::ProbeConfig>::try_from(config)?
        .set(0, shared::abi::ProbeConfig::default(), 0)
        .wrap_err("writing the default probe configuration")?;
    for (map, pin) in [
        (FLOWS_MAP, PIN_FLOWS),
        (STATS_MAP, PIN_STATS),
        (CONFIG_MAP, models::PIN_CONFIG),
        (EVENTS_MAP, PIN_EVENTS),
        (PACKETS_MAP, PIN_PACKETS),
        (super::allowlist::ALLOW_MAP, super::allowlist::PIN_ALLOW),
    ] {
        ebpf.map(map)
            .ok_or_else(|| eyre!("probe object has no map {map}"))?
            .pin(dir.join(pin))
            .wrap_err_with(|| format!("pinning map {map}"))?;
    }
    let program: &mut SchedClassifier = ebpf
        .program_mut(PROGRAM_NAME)
        .ok_or_else(|| eyre!("probe object has no program {PROGRAM_NAME}"))?
        .try_into()?;
    program
        .load()
        .wrap_err("the kernel verifier rejected the probe")?;
    let info = program.info()?;
    program
        .pin(dir.join(PIN_PROGRAM))
        .wrap_err("pinning the program")?;
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
    })
}

/// Loads the probe and attaches it at ingress and egress of `iface`, pinning everything.
pub fn attach(iface: &str, options: &AttachOptions) -> Result<AttachReport> {
    caps::require_load_access("attaching the probe")?;
    let ifindex = ifindex(iface)?;
    bpffs::ensure_mounted()?;
    let dir = bpffs::iface_dir(iface);
    let left = existing_pins(&dir);
    let mine = Object::Probe {
        iface: iface.to_string(),
    };
    // Left by a command that was killed (verify, a half-done attach): say that, in one line.
    if let Some(stale) = claims::stale().into_iter().find(|s| s.has(&mine)) {
        bail!("{stale}");
    }
    if !left.is_empty()
        && ![PIN_LINK_INGRESS, PIN_LINK_EGRESS]
            .iter()
            .all(|l| left.iter().any(|p| p == l))
    {
        bail!(
            "stale probe on {iface}: {} holds {} but no attached links (a `probe attach` was killed half-way): \
             remove it with `workbench probe detach --iface {iface}` (or `workbench probe cleanup`, which removes everything the project made)",
            dir.display(),
            left.join(", ")
        );
    }
    if !left.is_empty() {
        bail!(
            "the probe is already attached to {iface} (pins in {}: {}); run `workbench probe detach --iface {iface}` first",
            dir.display(),
            left.join(", ")
        );
    }
    // Until the links are pinned, a kill leaves a partial probe: noted so the next start says so.
    let mut claim = Claim::new("probe attach");
    claim.add(mine);
    std::fs::create_dir_all(&dir).wrap_err_with(|| format!("creating {}", dir.display()))?;
    // From here on, anything that fails removes what was pinned so far.
    let mut guard = PinGuard::new(dir.clone());

    let mut loaded = load(&dir, options)?;
    let program: &mut SchedClassifier = loaded
        .ebpf
        .program_mut(PROGRAM_NAME)
        .ok_or_else(|| eyre!("probe object has no program {PROGRAM_NAME}"))?
        .try_into()?;
    for (direction, pin) in [
        (TcAttachType::Ingress, PIN_LINK_INGRESS),
        (TcAttachType::Egress, PIN_LINK_EGRESS),
    ] {
        let id = program
            .attach(iface, direction)
            .wrap_err_with(|| format!("attaching the probe to {iface} ({direction:?})"))?;
        let link: FdLink = program.take_link(id)?.try_into().map_err(|e| {
            eyre!("{iface} needs TCX (kernel >= 6.6) for a pinned attachment; got a netlink filter: {e}")
        })?;
        link.pin(dir.join(pin))
            .wrap_err_with(|| format!("pinning the {direction:?} link"))?;
    }
    // Ctrl-C during the attach (handler installed by the command) leaves nothing attached.
    crate::lifecycle::check()?;
    guard.disarm();
    drop(claim);
    Ok(AttachReport {
        iface: iface.to_string(),
        ifindex,
        program_id: loaded.program_id,
        verified_instructions: loaded.verified_instructions,
        attach_mode: "tcx",
        directions: vec!["ingress", "egress"],
        pin_dir: dir.display().to_string(),
        flow_table_entries: loaded.flow_table_entries,
    })
}

/// Removes every pin of the probe in `dir`, and `dir` itself, when dropped while armed: what a
/// failed (or, for a private load, any) run leaves behind.
pub struct PinGuard {
    dir: PathBuf,
    armed: bool,
}

impl PinGuard {
    pub fn new(dir: PathBuf) -> Self {
        PinGuard { dir, armed: true }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Keeps the pins: the attachment is meant to outlive this process.
    pub fn disarm(&mut self) {
        self.armed = false;
    }

    /// Removes the pins now, reporting a failure (dropping an armed guard ignores it).
    pub fn remove(mut self) -> Result<Vec<String>> {
        self.armed = false;
        remove_pins(&self.dir)
    }
}

impl Drop for PinGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = remove_pins(&self.dir);
        }
    }
}

/// Removes the links first (that detaches the program), then the program and the maps.
fn remove_pins(dir: &Path) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for pin in ALL_PINS {
        let path = dir.join(pin);
        match std::fs::remove_file(&path) {
            Ok(()) => removed.push(pin.to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(eyre!("removing {}: {e}", path.display())),
        }
    }
    // Anything else in the directory is not ours to guess about: leave it and say so.
    let left = existing_pins(dir);
    if !left.is_empty() {
        bail!("{} still holds unknown pins: {}", dir.display(), left.join(", "));
    }
    match std::fs::remove_dir(dir) {
        // Gone already (`probe cleanup` from another process): the end state we want.
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(eyre!("removing {}: {e}", dir.display()));
        }
        _ => {}
    }
    bpffs::tidy();
    Ok(removed)
}

#[derive(Debug, Clone, Serialize)]
pub struct DetachReport {
    pub iface: String,
    pub removed_pins: Vec<String>,
}

/// Detaches the probe from `iface` (the interface may already be gone).
pub fn detach(iface: &str) -> Result<DetachReport> {
    caps::require_kernel_access("detaching the probe")?;
    let dir = bpffs::iface_dir(iface);
    if existing_pins(&dir).is_empty() {
        let _ = std::fs::remove_dir(&dir);
        bpffs::tidy();
        bail!(
            "the probe is not attached to {iface} (nothing pinned in {})",
            dir.display()
        );
    }
    let removed_pins = remove_pins(&dir)?;
    Ok(DetachReport {
        iface: iface.to_string(),
        removed_pins,
    })
}

/// Opens a pinned map of the probe attached to `iface`.
pub fn open_pinned_map(iface: &str, pin: &str) -> Result<MapData> {
    let path = bpffs::iface_dir(iface).join(pin);
    if !path.exists() {
        bail!(
            "the probe is not attached to {iface} ({} does not exist); run `workbench probe attach --iface {iface}`",
            path.display()
        );
    }
    MapData::from_pin(&path).wrap_err_with(|| format!("opening pinned map {}", path.display()))
}
