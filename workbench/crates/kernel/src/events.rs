//! Verdict events from the probe's ring buffer, and the raw flow table for checks that need the
//! probe's own feature state.

use std::os::fd::AsFd;

use crate::error::{err, Result};
use aya::maps::{HashMap, Map};
use shared::abi::{PacketRecord, VerdictEvent};
use shared::{FlowEntry, FlowKey};

use super::{caps, probe};
use crate::eve::{ClockOffset, EveVerdict};
use crate::ring::Ring;
use workbench_flow::model::scale::ScaleBook;

/// Records handed out by one read: callers read in a loop, so a producer faster than the
/// reader cannot keep one call from returning.
const MAX_RECORDS_PER_READ: usize = 1 << 16;

/// Reader of the probe's verdict events on `iface`.
pub struct EventReader {
    iface: String,
    ring: Ring,
    /// Scales of the models seen, for P(malicious); refreshed when an event names a new one.
    book: ScaleBook,
    /// Model ids looked for in the slots and not found (not looked for again on every event).
    missing: std::collections::BTreeSet<u32>,
    /// Read once at open: turns the probe's monotonic timestamps into wall-clock time.
    clock: ClockOffset,
    /// The kernel's id of the ring read, for a reader opened on a probe's pins ([`Self::open`]);
    /// None for a private map ([`Self::from_map`]).
    ring_id: Option<u32>,
    /// This process is the ring's one reader ([`crate::locks::events_reader_lock`]); None for a
    /// private map, and where /run is not writable.
    _lock: Option<crate::locks::IfaceLock>,
}

/// Why a reader's probe no longer feeds it ([`EventReader::check_source`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceGone {
    /// Nothing attached to the interface any more (`probe detach`, `lab down`, `probe cleanup`).
    Detached,
    /// A probe is attached again, with a ring of its own this reader does not read.
    Replaced,
    /// The interface was deleted (a namespace removed, a veth's peer deleted): the kernel
    /// detached the probe's links, whose pins are left.
    InterfaceGone,
}

/// Whether a process reads `iface`'s verdict events (holds the ring's reader lock: the agent,
/// `live --jsonl`). Without one the ring fills, and the probe counts each event it could not
/// write in `events_lost`. Asking never takes the lock.
pub fn reader_active(iface: &str) -> bool {
    crate::locks::events_reader_active(iface)
}

/// The probe on `iface` lost its interface (deleted with its namespace or its veth peer): its
/// pinned TCX link is defunct (the kernel keeps it with ifindex 0), or, for a tc-filter attach
/// (kernels without TCX, `--attach tc`), the interface its record names is not there with the
/// recorded ifindex.
pub fn interface_gone(iface: &str) -> bool {
    let dir = crate::bpffs::iface_dir(iface);
    let pin = dir.join(probe::PIN_LINK_INGRESS);
    crate::sys::obj_get(&pin)
        .and_then(|fd| crate::sys::link_type_and_tcx_ifindex(fd.as_fd()))
        .is_ok_and(|(kind, ifindex)| kind == crate::sys::BPF_LINK_TYPE_TCX && ifindex == 0)
        || crate::tc::interface_gone(&dir)
}

impl EventReader {
    /// The reader of the probe's ring on `iface`, the only one: a second reader (another
    /// agent, a `live --jsonl`) is refused while this one lives, naming it.
    pub fn open(iface: &str) -> Result<Self> {
        caps::require_kernel_access("reading verdict events")?;
        let lock = crate::locks::events_reader_lock(iface)?;
        let map = probe::open_pinned_map(iface, probe::PIN_EVENTS)?;
        let ring_id = Some(map.info()?.id());
        Ok(EventReader {
            iface: iface.to_string(),
            ring: Ring::open(map)?,
            book: crate::flows::scale_book(iface),
            missing: std::collections::BTreeSet::default(),
            clock: ClockOffset::read(),
            ring_id,
            _lock: lock,
        })
    }

    /// Whether the probe this reader was opened on still feeds it: attached to the interface,
    /// with the ring this reader reads pinned as its events map. A reader holds the ring open,
    /// so after a `probe detach` it reads an empty ring forever; after a detach and a new attach
    /// it reads the old one while the new probe writes elsewhere. Callers that run for long
    /// (`live --jsonl`) check this every second or so. None: still fed (and always for a
    /// reader of a private map).
    pub fn check_source(&self) -> Option<SourceGone> {
        let want = self.ring_id?;
        if !probe::is_attached(&self.iface) {
            return Some(SourceGone::Detached);
        }
        if interface_gone(&self.iface) {
            return Some(SourceGone::InterfaceGone);
        }
        let pin = crate::bpffs::iface_dir(&self.iface).join(probe::PIN_EVENTS);
        match crate::sys::obj_get(&pin).and_then(|fd| crate::sys::map_id(fd.as_fd())) {
            Ok(id) if id == want => None,
            Ok(_) => Some(SourceGone::Replaced),
            // Links pinned but the ring's pin gone: being detached right now.
            Err(_) => Some(SourceGone::Detached),
        }
    }

    /// A reader of the ring `map` of a probe that is not attached to an interface (the private
    /// load of `bench events`); `label` stands for the interface in messages and `book` holds
    /// the scales of the models it runs. Reads exactly as [`EventReader::open`]'s reader does.
    pub fn from_map(label: &str, map: aya::maps::MapData, book: ScaleBook) -> Result<Self> {
        Ok(EventReader {
            iface: label.to_string(),
            ring: Ring::open(map)?,
            book,
            missing: std::collections::BTreeSet::default(),
            clock: ClockOffset::read(),
            ring_id: None,
            _lock: None,
        })
    }

    /// Drops every event already waiting (what earlier traffic left in the ring): a reader
    /// that starts "from now" calls this first. Returns how many were dropped.
    pub fn skip_backlog(&mut self) -> usize {
        // Every record the probe writes is one VerdictEvent behind an 8-byte header.
        let stride_bytes = (8 + std::mem::size_of::<VerdictEvent>()).next_multiple_of(8);
        self.ring.skip_to_end() / stride_bytes
    }

    /// Every event waiting in the ring buffer, as EVE-style records (`crate::eve`).
    pub fn drain(&mut self) -> Result<Vec<EveVerdict>> {
        let mut events = Vec::new();
        let mut short = None;
        self.ring.consume(MAX_RECORDS_PER_READ, |bytes| {
            if bytes.len() < std::mem::size_of::<VerdictEvent>() {
                short.get_or_insert(bytes.len());
                return;
            }
            // SAFETY: length checked; VerdictEvent is plain old data; read_unaligned copes with
            // any alignment of the ring buffer's bytes.
            events.push(unsafe { std::ptr::read_unaligned::<VerdictEvent>(bytes.as_ptr().cast()) });
        });
        if let Some(len) = short {
            return Err(err!(
                Mismatch,
                "verdict event of {len} bytes, expected {} (a probe of another version?)",
                std::mem::size_of::<VerdictEvent>()
            ));
        }
        let mut out = Vec::with_capacity(events.len());
        for ev in events {
            if !self.book.contains(ev.model_id) && !self.missing.contains(&ev.model_id) {
                // A model deployed since the reader opened: read its scale from the slots.
                if let Ok(probe) = crate::models::ProbeModels::open(&self.iface) {
                    probe.add_scales(&mut self.book);
                }
                if !self.book.contains(ev.model_id) {
                    self.missing.insert(ev.model_id);
                }
            }
            let probability = self.book.probability(ev.model_id, ev.score);
            out.push(EveVerdict::of(&ev, &self.clock, probability));
        }
        Ok(out)
    }
}

/// Reader of the packet records the probe emits in record mode (`workbench verify`).
pub struct PacketRecordReader {
    ring: Ring,
}

impl PacketRecordReader {
    pub fn open(iface: &str) -> Result<Self> {
        caps::require_kernel_access("reading packet records")?;
        Ok(PacketRecordReader {
            ring: Ring::open(probe::open_pinned_map(iface, probe::PIN_PACKETS)?)?,
        })
    }

    /// Appends every record waiting in the ring buffer to `out`.
    pub fn drain_into(&mut self, out: &mut Vec<PacketRecord>) -> Result<()> {
        let mut short = None;
        self.ring.consume(MAX_RECORDS_PER_READ, |bytes| {
            if bytes.len() < std::mem::size_of::<PacketRecord>() {
                short.get_or_insert(bytes.len());
                return;
            }
            // SAFETY: length checked; PacketRecord is plain old data.
            out.push(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) });
        });
        match short {
            Some(len) => Err(err!(
                Mismatch,
                "packet record of {len} bytes, expected {}",
                std::mem::size_of::<PacketRecord>()
            )),
            None => Ok(()),
        }
    }
}

/// Every flow entry as the probe stores it (feature state included).
pub fn raw_flows(iface: &str) -> Result<Vec<(FlowKey, FlowEntry)>> {
    caps::require_kernel_access("reading the probe's flows")?;
    let map = Map::LruHashMap(probe::open_pinned_map(iface, probe::PIN_FLOWS)?);
    let map: HashMap<_, FlowKey, FlowEntry> = HashMap::try_from(map)?;
    Ok(map.iter().map_while(std::result::Result::ok).collect())
}
