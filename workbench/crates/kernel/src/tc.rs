//! The classic tc path, for kernels without TCX (before 6.6: Debian 12's 6.1, Ubuntu 22.04's 5.15,
//! RHEL 9's 5.14) or when asked for with `probe attach --attach tc`.
//!
//! The probe becomes a direct-action cls_bpf filter at the ingress and egress hooks of a clsact
//! qdisc, at priority [`TC_PRIORITY`] with handle [`TC_HANDLE`]. The qdisc is added only when the
//! interface has none, and removed on detach only if we added it and no other filter is on it.
//! Unlike a TCX link, a filter cannot be pinned: it holds the program until it is deleted, so
//! removing the pins alone would leave the probe running. What was made is therefore recorded
//! *before* it is made, in a one-entry BPF array map pinned beside the program ([`PIN_TC_RECORD`]):
//! bpffs holds only BPF objects, and a map there lives and dies with the other pins, in the same
//! mount namespace, with no second place (a file under /run) that could be lost or disagree with
//! them. `probe detach`, `probe cleanup`, a failed attach's guard and the next start after a
//! SIGKILL all read it; a filter is deleted only if it is at our priority and handle *and* runs
//! the pinned program, so another program's filter on the same interface is never touched.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{err, fail, Context, Error, Result};
use aya::programs::links::Link;
use aya::programs::tc::{NlOptions, SchedClassifierLink, TcAttachOptions};
use aya::programs::{SchedClassifier, TcAttachType};
use serde::Serialize;

use super::rtnl::{self, PARENT_EGRESS, PARENT_INGRESS};
use super::sys;

/// Name of the record's pin in the probe's directory.
pub const PIN_TC_RECORD: &str = "tc_record";
/// The filters' priority: near the end of the range, so the probe runs after the filters already
/// there (as a TCX link is appended after the programs already attached). A direct-action filter
/// that returns "ok" ends the hook's classification, so running first would hide every packet
/// from the filters behind ours. The kernel numbers filters added without a priority from 49152
/// down, and hand-written `tc` commands mostly use 1: 65515 meets neither.
pub const TC_PRIORITY: u16 = 0xFFEB;
/// The filters' handle at that priority ("eb1" for ebml).
pub const TC_HANDLE: u32 = 0xEB1;
/// The name aya gives the filters (the program's), shown by `tc filter show`.
const FILTER_NAME: &str = super::probe::PROGRAM_NAME;

const RECORD_MAGIC: &[u8; 4] = b"EBTC";
const RECORD_VERSION: u32 = 1;
const RECORD_BYTES: usize = 128;
const IFNAME_BYTES: usize = 16;
const NETNS_NAME_BYTES: usize = 64;

/// How `probe attach` hooks the probe into an interface.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum AttachMode {
    /// TCX links where the kernel has them (6.6+), else classic tc.
    #[default]
    Auto,
    /// TCX links only (fails on kernels before 6.6).
    Tcx,
    /// A clsact qdisc with direct-action cls_bpf filters, on any kernel.
    Tc,
}

/// What the classic path made, as `probe attach --json` reports it (key `tc`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TcAttachment {
    pub priority: u16,
    pub handle: u32,
    /// True when the interface had no clsact qdisc and the probe added it (detach removes it).
    pub qdisc_created: bool,
}

/// What removing a classic attachment did (keys of `probe detach` / `probe cleanup`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct TcRemoval {
    /// e.g. "ebml-q1b ingress prio 65515 handle 0xeb1".
    pub removed_filters: Vec<String>,
    /// Interfaces whose clsact qdisc (added by the probe) was removed.
    pub removed_qdiscs: Vec<String>,
    /// Why something recorded was not removed (gone already, or not ours).
    pub notes: Vec<String>,
}

impl TcRemoval {
    pub fn extend(&mut self, other: TcRemoval) {
        self.removed_filters.extend(other.removed_filters);
        self.removed_qdiscs.extend(other.removed_qdiscs);
        self.notes.extend(other.notes);
    }
}

/// The record of a classic attachment (one map value, [`RECORD_BYTES`] long).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcRecord {
    pub iface: String,
    pub ifindex: u32,
    /// The named namespace (`/run/netns/NAME`) the interface lives in; None: the attaching
    /// process's own.
    pub netns: Option<String>,
    /// Inode of that network namespace, to find it again (and not mistake a new one for it).
    pub netns_ino: u64,
    pub priority: u16,
    pub handle: u32,
    pub qdisc_created: bool,
}

impl TcRecord {
    fn to_bytes(&self) -> [u8; RECORD_BYTES] {
        let mut b = [0u8; RECORD_BYTES];
        b[0..4].copy_from_slice(RECORD_MAGIC);
        b[4..8].copy_from_slice(&RECORD_VERSION.to_ne_bytes());
        b[8..12].copy_from_slice(&self.ifindex.to_ne_bytes());
        b[12..14].copy_from_slice(&self.priority.to_ne_bytes());
        b[16..20].copy_from_slice(&self.handle.to_ne_bytes());
        b[20..24].copy_from_slice(&u32::from(self.qdisc_created).to_ne_bytes());
        b[24..32].copy_from_slice(&self.netns_ino.to_ne_bytes());
        let name = self.iface.as_bytes();
        b[32..32 + name.len().min(IFNAME_BYTES - 1)]
            .copy_from_slice(&name[..name.len().min(IFNAME_BYTES - 1)]);
        let ns = self.netns.as_deref().unwrap_or("").as_bytes();
        let n = ns.len().min(NETNS_NAME_BYTES - 1);
        b[48..48 + n].copy_from_slice(&ns[..n]);
        b
    }

    fn from_bytes(b: &[u8; RECORD_BYTES]) -> Result<TcRecord> {
        let u32_at = |at: usize| u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        if &b[0..4] != RECORD_MAGIC || u32_at(4) != RECORD_VERSION {
            fail!(
                Mismatch,
                "not a tc record of this version (magic {:?}, version {})",
                &b[0..4],
                u32_at(4)
            );
        }
        let text = |range: std::ops::Range<usize>| {
            let s = &b[range];
            let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
            String::from_utf8_lossy(&s[..end]).into_owned()
        };
        let netns = text(48..48 + NETNS_NAME_BYTES);
        Ok(TcRecord {
            iface: text(32..32 + IFNAME_BYTES),
            ifindex: u32_at(8),
            netns: (!netns.is_empty()).then_some(netns),
            netns_ino: u64::from_ne_bytes(b[24..32].try_into().expect("8 bytes")),
            priority: u16::from_ne_bytes([b[12], b[13]]),
            handle: u32_at(16),
            qdisc_created: u32_at(20) != 0,
        })
    }
}

/// Creates the record map, writes `record` and pins it in `dir`.
fn record_create(dir: &Path, record: &TcRecord) -> Result<OwnedFd> {
    let map = sys::map_create(
        sys::BPF_MAP_TYPE_ARRAY,
        4,
        RECORD_BYTES as u32,
        1,
        None,
        "ebml_tc_record",
    )?;
    record_write(&map, record)?;
    sys::obj_pin(map.as_fd(), &dir.join(PIN_TC_RECORD))?;
    Ok(map)
}

fn record_write(map: &OwnedFd, record: &TcRecord) -> Result<()> {
    sys::map_update(
        map.as_fd(),
        &0u32.to_ne_bytes(),
        &record.to_bytes(),
        "writing the tc record",
    )
}

/// The record pinned in `dir`, if the probe there was attached through classic tc.
pub fn read_record(dir: &Path) -> Result<Option<TcRecord>> {
    let path = dir.join(PIN_TC_RECORD);
    if !path.exists() {
        return Ok(None);
    }
    let map = sys::obj_get(&path)?;
    let mut value = [0u8; RECORD_BYTES];
    if !sys::map_lookup(
        map.as_fd(),
        &0u32.to_ne_bytes(),
        &mut value,
        "reading the tc record",
    )? {
        fail!(State, "{} holds no record", path.display());
    }
    TcRecord::from_bytes(&value)
        .map(Some)
        .context(|| format!("reading {}", path.display()))
}

/// Inode of this thread's network namespace.
fn current_netns_ino() -> Result<u64> {
    let path = "/proc/thread-self/ns/net";
    Ok(std::fs::metadata(path).context(|| path)?.ino())
}

/// Attaches `program` (loaded, pinned in `dir`) to `iface` as two cls_bpf filters. Runs on a
/// thread inside the interface's network namespace (`netns`: its name, None for our own).
pub fn attach(
    program: &mut SchedClassifier,
    iface: &str,
    ifindex: u32,
    dir: &Path,
    netns: Option<&str>,
) -> Result<TcAttachment> {
    let mut record = TcRecord {
        iface: iface.to_string(),
        ifindex,
        netns: netns.map(str::to_string),
        netns_ino: current_netns_ino()?,
        priority: TC_PRIORITY,
        handle: TC_HANDLE,
        qdisc_created: false,
    };
    // Written before anything is made: from here on a kill leaves a record that detach and
    // cleanup follow (deleting filters that were never made is a no-op).
    let map = record_create(dir, &record)?;
    match rtnl::clsact_slot(ifindex)? {
        Some(q) if q.kind == "clsact" => {}
        Some(q) => fail!(
            State,
            "{iface} has an `{}` qdisc where the probe needs clsact (it hooks egress too): \
             its filters would go with it, so the probe does not replace it; \
             remove it yourself (tc qdisc del dev {iface} ingress) or attach elsewhere",
            q.kind
        ),
        None => match aya::programs::tc::qdisc_add_clsact(iface) {
            Ok(()) => {
                // A kill between the two calls leaves an empty clsact qdisc behind: harmless,
                // where the opposite order could later delete a qdisc someone else added.
                record.qdisc_created = true;
                record_write(&map, &record)?;
            }
            // Added by someone else since we looked: theirs, so it stays.
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => return Err(clsact_error(iface, e)),
        },
    }
    for (hook, parent, attach_type) in hooks() {
        if let Some(f) = rtnl::filters(ifindex, parent)?
            .into_iter()
            .find(|f| f.priority == TC_PRIORITY && f.handle == TC_HANDLE)
        {
            fail!(
                State,
                "{iface} already has a {} filter at {hook} priority {TC_PRIORITY} handle {TC_HANDLE:#x} ({}): \
                 not the probe's; remove it or attach with --attach tcx",
                f.kind,
                f.bpf_name.as_deref().unwrap_or("no name")
            );
        }
        let id = program
            .attach_with_options(
                iface,
                attach_type,
                TcAttachOptions::Netlink(NlOptions {
                    priority: TC_PRIORITY,
                    handle: TC_HANDLE,
                }),
            )
            .map_err(|e| {
                let what = format!("attaching the probe to {iface} ({hook}) as a cls_bpf filter");
                match e {
                    aya::programs::ProgramError::TcError(aya::programs::tc::TcError::NetlinkError {
                        io_error,
                    }) => {
                        if io_error.raw_os_error() == Some(libc::ENOENT) {
                            err!(
                                Unsupported,
                                "{what}: {io_error}: this kernel has no cls_bpf classifier (CONFIG_NET_CLS_BPF; module cls_bpf)"
                            )
                        } else {
                            Error::io(what, io_error)
                        }
                    }
                    e => Error::bpf(what, e),
                }
            })?;
        // Dropping the link would delete the filter; it must outlive this process. The record,
        // not this handle, is how it is removed.
        std::mem::forget(program.take_link(id)?);
    }
    Ok(TcAttachment {
        priority: TC_PRIORITY,
        handle: TC_HANDLE,
        qdisc_created: record.qdisc_created,
    })
}

/// Adds a clsact qdisc to `iface` (in this thread's namespace) unless it has one; true when it
/// added it. For programs attached without a record (the benchmark's empty program in its lab).
pub fn ensure_clsact(iface: &str) -> Result<bool> {
    let ifindex = super::probe::ifindex(iface)?;
    if rtnl::clsact_slot(ifindex)?.is_some() {
        return Ok(false);
    }
    match aya::programs::tc::qdisc_add_clsact(iface) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(false),
        Err(e) => Err(clsact_error(iface, e)),
    }
}

/// A failure to add clsact, with the kernel option it needs when the kernel does not know it.
fn clsact_error(iface: &str, e: std::io::Error) -> Error {
    if e.raw_os_error() == Some(libc::ENOENT) || e.raw_os_error() == Some(libc::EOPNOTSUPP) {
        err!(
            Unsupported,
            "adding a clsact qdisc to {iface}: {e}: this kernel has no clsact qdisc \
             (CONFIG_NET_SCH_INGRESS; module sch_ingress)"
        )
    } else {
        Error::io(format!("adding a clsact qdisc to {iface}"), e)
    }
}

fn hooks() -> [(&'static str, u32, TcAttachType); 2] {
    [
        ("ingress", PARENT_INGRESS, TcAttachType::Ingress),
        ("egress", PARENT_EGRESS, TcAttachType::Egress),
    ]
}

/// Where the recorded network namespace is now.
enum Netns {
    /// This thread's.
    Current,
    /// Enter it through this path.
    At(PathBuf),
    /// Gone: its interfaces, and the filters on them, went with it.
    Gone(String),
}

fn ino_of(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

fn locate(record: &TcRecord) -> Result<Netns> {
    if let Some(name) = &record.netns {
        let path = Path::new("/run/netns").join(name);
        return Ok(match ino_of(&path) {
            Some(ino) if ino == record.netns_ino => Netns::At(path),
            Some(_) => Netns::Gone(format!(
                "namespace {name} is not the one the probe was attached in (that one is gone)"
            )),
            None => Netns::Gone(format!("namespace {name} is gone")),
        });
    }
    if current_netns_ino()? == record.netns_ino {
        return Ok(Netns::Current);
    }
    // Attached from another namespace without a name: any process still in it lets us in.
    let named = std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()));
    let procs = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(std::result::Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|c| c.is_ascii_digit())
        })
        .map(|e| e.path().join("ns/net"));
    for path in named.chain(procs) {
        if ino_of(&path) == Some(record.netns_ino) {
            return Ok(Netns::At(path));
        }
    }
    Ok(Netns::Gone(format!(
        "network namespace net:[{}] is gone",
        record.netns_ino
    )))
}

/// Whether the interface a tc-filter probe pinned in `dir` was attached to is gone: no interface
/// with the recorded ifindex in the recorded namespace (deleted, with its namespace or a veth's
/// peer; one made again under the same name has another ifindex, and the filters went with the
/// old one). Asked by ifindex, not name: a renamed interface keeps its filters and is not gone.
/// False without a record (a TCX attach) or when it cannot be told (an unnamed namespace other
/// than this process's: finding it would mean a walk of /proc every second).
pub fn interface_gone(dir: &Path) -> bool {
    let Ok(Some(record)) = read_record(dir) else {
        return false;
    };
    let here = || index_gone(record.ifindex);
    match &record.netns {
        None => current_netns_ino().is_ok_and(|ino| ino == record.netns_ino) && here(),
        Some(_) => match locate(&record) {
            Ok(Netns::Current) => here(),
            Ok(Netns::At(path)) => crate::lab::netns::run_in_path(&path, here).unwrap_or(false),
            Ok(Netns::Gone(_)) => true,
            Err(_) => false,
        },
    }
}

/// No interface has `ifindex` in this thread's namespace (ENXIO/ENODEV); any other failure
/// (out of file descriptors) cannot tell, and is not "gone".
fn index_gone(ifindex: u32) -> bool {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `name` holds IF_NAMESIZE bytes, as if_indextoname requires.
    let found = unsafe { libc::if_indextoname(ifindex, name.as_mut_ptr()) };
    if !found.is_null() {
        return false;
    }
    matches!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::ENXIO | libc::ENODEV)
    )
}

/// Program id of the probe pinned in `dir`, if its pin is still there.
fn pinned_program_id(dir: &Path) -> Option<u32> {
    let fd = sys::obj_get(&dir.join(super::probe::PIN_PROGRAM)).ok()?;
    sys::prog_id(fd.as_fd()).ok()
}

/// Removes what the record in `dir` says was made: the probe's filters, and the clsact qdisc if
/// the probe added it and nothing else is on it. The record itself stays (the caller removes the
/// pins once this succeeded). None: no record, nothing to do.
pub fn remove(dir: &Path) -> Result<Option<TcRemoval>> {
    let Some(record) = read_record(dir)? else {
        return Ok(None);
    };
    let program_id = pinned_program_id(dir);
    let removal = match locate(&record)? {
        Netns::Current => remove_here(&record, program_id)?,
        Netns::At(path) => crate::lab::netns::run_in_path(&path, || remove_here(&record, program_id))??,
        Netns::Gone(why) => TcRemoval {
            notes: vec![format!("{}: {why}; its filters went with it", record.iface)],
            ..TcRemoval::default()
        },
    };
    Ok(Some(removal))
}

/// [`remove`] on a thread inside the record's network namespace.
fn remove_here(record: &TcRecord, program_id: Option<u32>) -> Result<TcRemoval> {
    let iface = &record.iface;
    let mut out = TcRemoval::default();
    match super::probe::ifindex(iface) {
        Ok(i) if i == record.ifindex => {}
        _ => {
            out.notes.push(format!(
                "{iface} (ifindex {}) is gone; its filters went with it",
                record.ifindex
            ));
            return Ok(out);
        }
    }
    for (hook, parent, attach_type) in hooks() {
        for f in rtnl::filters(record.ifindex, parent)? {
            if f.priority != record.priority || f.handle != record.handle {
                continue;
            }
            // Ours only if it runs our program (by id while the program pin exists, else by
            // name): someone else's filter at the same place stays.
            let ours = f.kind == "bpf"
                && match program_id {
                    Some(id) => f.bpf_id == Some(id),
                    None => f.bpf_name.as_deref() == Some(FILTER_NAME),
                };
            let what = format!("{iface} {hook} prio {} handle {:#x}", f.priority, f.handle);
            if !ours {
                out.notes.push(format!(
                    "{what}: a {} filter ({}) that is not the probe's; left in place",
                    f.kind,
                    f.bpf_name.as_deref().unwrap_or("no name")
                ));
                continue;
            }
            SchedClassifierLink::attached(iface, attach_type, f.priority, f.handle)
                .context(|| what.clone())?
                .detach()
                .context(|| format!("deleting the filter {what}"))?;
            out.removed_filters.push(what);
        }
    }
    if record.qdisc_created && rtnl::clsact_slot(record.ifindex)?.is_some_and(|q| q.kind == "clsact") {
        let others = rtnl::filters(record.ifindex, PARENT_INGRESS)?.len()
            + rtnl::filters(record.ifindex, PARENT_EGRESS)?.len();
        if others > 0 {
            out.notes.push(format!(
                "{iface}: clsact qdisc added by the probe kept: {others} other filter(s) are on it now"
            ));
        } else if rtnl::delete_clsact(record.ifindex)? {
            out.removed_qdiscs.push(iface.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_round_trips_and_refuses_foreign_bytes() {
        let r = TcRecord {
            iface: "ebml-abcdefghib".into(),
            ifindex: 42,
            netns: Some("ebml-abcdefghi".into()),
            netns_ino: 4_026_532_000,
            priority: TC_PRIORITY,
            handle: TC_HANDLE,
            qdisc_created: true,
        };
        assert_eq!(TcRecord::from_bytes(&r.to_bytes()).expect("valid"), r);
        let own = TcRecord {
            netns: None,
            qdisc_created: false,
            ..r.clone()
        };
        assert_eq!(TcRecord::from_bytes(&own.to_bytes()).expect("valid"), own);
        let mut b = r.to_bytes();
        b[0] = b'X';
        assert!(TcRecord::from_bytes(&b).is_err());
        let mut b = r.to_bytes();
        b[4] = 9;
        let e = TcRecord::from_bytes(&b).expect_err("other version");
        assert!(e.to_string().contains("version 9"), "{e}");
    }
}
