//! The few bpf(2) commands aya 0.13.1 does not offer: creating a map-of-maps (aya never sets
//! `inner_map_fd`), updating and reading it by fd, opening a map by id, BPF_PROG_TEST_RUN, and
//! loading raw instructions with hand-made BTF (`bench probe`'s dispatch measurement, which
//! needs a program with a global function and a `BPF_PROG_TYPE_EXT` program replacing it).
//! Written by hand because no maintained crate wraps exactly these for aya's fds; each function is
//! a thin, checked wrapper around one command (attribute offsets from include/uapi/linux/bpf.h).

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use crate::error::{err, Error, Result};

const BPF_MAP_CREATE: u32 = 0;
const BPF_MAP_LOOKUP_ELEM: u32 = 1;
const BPF_MAP_UPDATE_ELEM: u32 = 2;
const BPF_MAP_DELETE_ELEM: u32 = 3;
const BPF_PROG_LOAD: u32 = 5;
const BPF_OBJ_PIN: u32 = 6;
const BPF_OBJ_GET: u32 = 7;
const BPF_PROG_TEST_RUN: u32 = 10;
const BPF_MAP_GET_FD_BY_ID: u32 = 14;
const BPF_OBJ_GET_INFO_BY_FD: u32 = 15;
const BPF_BTF_LOAD: u32 = 18;
const BPF_LINK_CREATE: u32 = 28;
const BPF_LINK_UPDATE: u32 = 29;

pub const BPF_MAP_TYPE_ARRAY: u32 = 2;
pub const BPF_MAP_TYPE_PROG_ARRAY: u32 = 3;
pub const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
pub const BPF_PROG_TYPE_EXT: u32 = 28;
pub const BPF_MAP_TYPE_ARRAY_OF_MAPS: u32 = 12;
pub const BPF_ANY: u64 = 0;

/// `union bpf_attr` as bytes; 128 covers every command used here.
#[repr(C, align(8))]
struct Attr([u8; 128]);

impl Attr {
    fn new() -> Self {
        Attr([0; 128])
    }
    fn u32_at(&mut self, at: usize, v: u32) -> &mut Self {
        self.0[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64_at(&mut self, at: usize, v: u64) -> &mut Self {
        self.0[at..at + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn read_u32(&self, at: usize) -> u32 {
        u32::from_ne_bytes([self.0[at], self.0[at + 1], self.0[at + 2], self.0[at + 3]])
    }
}

fn bpf_raw(cmd: u32, attr: &mut Attr) -> std::io::Result<i64> {
    // SAFETY: attr is a valid, writable bpf_attr of the size we pass; pointers inside it are
    // valid for the sizes the callers set.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.0.as_mut_ptr(), attr.0.len()) };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn bpf(cmd: u32, attr: &mut Attr, what: &str) -> Result<i64> {
    bpf_raw(cmd, attr).map_err(|e| Error::io(what, e))
}

fn owned(fd: i64) -> OwnedFd {
    // SAFETY: the kernel just returned this new fd to us.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

/// One BPF instruction as the kernel reads it: opcode, registers (dst low nibble, src high),
/// offset, immediate.
pub const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    (code as u64)
        | (((src << 4 | dst) as u64) << 8)
        | ((off as u16 as u64) << 16)
        | ((imm as u32 as u64) << 32)
}

/// Creates a map; `inner` is the template inner map for map-of-maps types.
pub fn map_create(
    map_type: u32,
    key_bytes: u32,
    value_bytes: u32,
    max_entries: u32,
    inner: Option<BorrowedFd<'_>>,
    name: &str,
) -> Result<OwnedFd> {
    map_create_raw(map_type, key_bytes, value_bytes, max_entries, 0, inner, name)
        .map_err(|e| Error::io(format!("creating BPF map {name}"), e))
}

/// [`map_create`] with `map_flags` (e.g. `BPF_F_NO_PREALLOC`), returning the kernel's errno: the
/// kernel feature probes tell "unknown map type" (EINVAL) from other failures.
pub fn map_create_raw(
    map_type: u32,
    key_bytes: u32,
    value_bytes: u32,
    max_entries: u32,
    map_flags: u32,
    inner: Option<BorrowedFd<'_>>,
    name: &str,
) -> std::io::Result<OwnedFd> {
    let mut attr = Attr::new();
    attr.u32_at(0, map_type)
        .u32_at(4, key_bytes)
        .u32_at(8, value_bytes)
        .u32_at(12, max_entries)
        .u32_at(16, map_flags)
        .u32_at(20, inner.map_or(0, |fd| fd.as_raw_fd() as u32));
    let name_bytes = name.as_bytes();
    let n = name_bytes.len().min(15);
    attr.0[28..28 + n].copy_from_slice(&name_bytes[..n]);
    bpf_raw(BPF_MAP_CREATE, &mut attr).map(owned)
}

/// Loads a program of `prog_type` from raw instructions (8 bytes each, as the kernel reads
/// them), returning the kernel's errno: the feature probes tell "the verifier refuses this
/// instruction" (EINVAL) from other failures.
pub fn prog_load_raw(prog_type: u32, instructions: &[u64], name: &str) -> std::io::Result<OwnedFd> {
    prog_load_logged(prog_type, instructions, name, None)
}

/// [`prog_load_raw`] that, given `log`, has the verifier write its log there (level 1: what
/// it refused and the path that led there).
pub fn prog_load_logged(
    prog_type: u32,
    instructions: &[u64],
    name: &str,
    log: Option<&mut Vec<u8>>,
) -> std::io::Result<OwnedFd> {
    prog_load(prog_type, instructions, name, None, log)
}

/// A load's log (`prog_load_logged`, `prog_load_btf`, `btf_load`) as text, up to its first NUL:
/// when the verifier drops the trace of a path it moves the log's end back and writes a NUL
/// there, leaving the dropped bytes after it (a refusal deep in the probe left 16 MiB of them,
/// whose last line read as the reason).
pub fn log_text(log: &[u8]) -> std::borrow::Cow<'_, str> {
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    String::from_utf8_lossy(&log[..end])
}

/// A program's functions as its BTF describes them, for BPF_PROG_LOAD; for an extension
/// (`BPF_PROG_TYPE_EXT`), also the function it replaces.
pub struct ProgBtf<'a> {
    /// The loaded BTF ([`btf_load`]).
    pub btf: BorrowedFd<'a>,
    /// `(first instruction, BTF id of its FUNC)` of every function, in instruction order.
    pub funcs: &'a [[u32; 2]],
    /// An extension's target: the program, and the BTF id of the function in that program's BTF.
    pub replaces: Option<(BorrowedFd<'a>, u32)>,
}

/// [`prog_load_logged`] of a program described by BTF.
pub fn prog_load_btf(
    prog_type: u32,
    instructions: &[u64],
    name: &str,
    btf: &ProgBtf<'_>,
    log: Option<&mut Vec<u8>>,
) -> std::io::Result<OwnedFd> {
    prog_load(prog_type, instructions, name, Some(btf), log)
}

fn prog_load(
    prog_type: u32,
    instructions: &[u64],
    name: &str,
    btf: Option<&ProgBtf<'_>>,
    log: Option<&mut Vec<u8>>,
) -> std::io::Result<OwnedFd> {
    let license = c"GPL";
    let mut attr = Attr::new();
    attr.u32_at(0, prog_type)
        .u32_at(4, instructions.len() as u32)
        .u64_at(8, instructions.as_ptr() as u64)
        .u64_at(16, license.as_ptr() as u64);
    if let Some(log) = log {
        attr.u32_at(24, 1)
            .u32_at(28, log.len() as u32)
            .u64_at(32, log.as_mut_ptr() as u64);
    }
    let name_bytes = name.as_bytes();
    let n = name_bytes.len().min(15);
    attr.0[48..48 + n].copy_from_slice(&name_bytes[..n]);
    if let Some(b) = btf {
        // prog_btf_fd, func_info_rec_size (struct bpf_func_info: insn_off, type_id), func_info,
        // func_info_cnt; attach_btf_id and attach_prog_fd for an extension.
        attr.u32_at(72, b.btf.as_raw_fd() as u32)
            .u32_at(76, 8)
            .u64_at(80, b.funcs.as_ptr() as u64)
            .u32_at(88, b.funcs.len() as u32);
        if let Some((target, func)) = b.replaces {
            attr.u32_at(108, func).u32_at(112, target.as_raw_fd() as u32);
        }
    }
    bpf_raw(BPF_PROG_LOAD, &mut attr).map(owned)
}

/// Loads a BTF blob (header, types, strings); `log` gets the kernel's reason for a refusal.
pub fn btf_load(blob: &[u8], log: &mut Vec<u8>) -> std::io::Result<OwnedFd> {
    let mut attr = Attr::new();
    attr.u64_at(0, blob.as_ptr() as u64)
        .u64_at(8, log.as_mut_ptr() as u64)
        .u32_at(16, blob.len() as u32)
        .u32_at(20, log.len() as u32)
        .u32_at(24, 1);
    bpf_raw(BPF_BTF_LOAD, &mut attr).map(owned)
}

/// Attaches an extension program in place of the function of `target` whose BTF id is `func`
/// (BPF_LINK_CREATE). Named every time: once an extension was detached, the kernel forgets the
/// target it was loaded for and refuses a re-attach without one (EINVAL). Dropping the link
/// detaches it, and the original function runs again.
pub fn link_create_ext(ext: BorrowedFd<'_>, target: BorrowedFd<'_>, func: u32) -> std::io::Result<OwnedFd> {
    let mut attr = Attr::new();
    attr.u32_at(0, ext.as_raw_fd() as u32)
        .u32_at(4, target.as_raw_fd() as u32)
        .u32_at(16, func);
    bpf_raw(BPF_LINK_CREATE, &mut attr).map(owned)
}

/// Puts `prog` in place of the program of `link` (BPF_LINK_UPDATE); not every kind of link can.
pub fn link_update(link: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> std::io::Result<()> {
    let mut attr = Attr::new();
    attr.u32_at(0, link.as_raw_fd() as u32)
        .u32_at(4, prog.as_raw_fd() as u32);
    bpf_raw(BPF_LINK_UPDATE, &mut attr).map(|_| ())
}

pub fn map_update(map: BorrowedFd<'_>, key: &[u8], value: &[u8], what: &str) -> Result<()> {
    let mut attr = Attr::new();
    attr.u32_at(0, map.as_raw_fd() as u32)
        .u64_at(8, key.as_ptr() as u64)
        .u64_at(16, value.as_ptr() as u64)
        .u64_at(24, BPF_ANY);
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr, what).map(|_| ())
}

/// Looks `key` up into `value`; `Ok(false)` when the key has no value (ENOENT).
pub fn map_lookup(map: BorrowedFd<'_>, key: &[u8], value: &mut [u8], what: &str) -> Result<bool> {
    let mut attr = Attr::new();
    attr.u32_at(0, map.as_raw_fd() as u32)
        .u64_at(8, key.as_ptr() as u64)
        .u64_at(16, value.as_mut_ptr() as u64);
    // The caller's `value` must hold the map's value size.
    match bpf_raw(BPF_MAP_LOOKUP_ELEM, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(Error::io(what, e)),
    }
}

/// Deletes `key`; a key that has no value is not an error.
pub fn map_delete(map: BorrowedFd<'_>, key: &[u8], what: &str) -> Result<()> {
    let mut attr = Attr::new();
    attr.u32_at(0, map.as_raw_fd() as u32)
        .u64_at(8, key.as_ptr() as u64);
    match bpf_raw(BPF_MAP_DELETE_ELEM, &mut attr) {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(e) => Err(Error::io(what, e)),
    }
}

/// The start of an open map's `struct bpf_map_info` (BPF_OBJ_GET_INFO_BY_FD) as u32 words:
/// type, id, key_size, value_size, max_entries, map_flags.
fn map_info(map: BorrowedFd<'_>) -> Result<[u32; 6]> {
    let mut info = [0u8; 80];
    let mut attr = Attr::new();
    attr.u32_at(0, map.as_raw_fd() as u32)
        .u32_at(4, info.len() as u32)
        .u64_at(8, info.as_mut_ptr() as u64);
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr, "reading BPF map info")?;
    Ok(std::array::from_fn(|i| {
        u32::from_ne_bytes([info[4 * i], info[4 * i + 1], info[4 * i + 2], info[4 * i + 3]])
    }))
}

/// The kernel id of an open map.
pub fn map_id(map: BorrowedFd<'_>) -> Result<u32> {
    Ok(map_info(map)?[1])
}

/// The shape of an open map (type, key_size, value_size, max_entries), to check that a map is
/// the one an object expects.
pub fn map_shape(map: BorrowedFd<'_>) -> Result<[u32; 4]> {
    let [map_type, _, key, value, entries, _] = map_info(map)?;
    Ok([map_type, key, value, entries])
}

/// The kernel id of an open program (`struct bpf_prog_info` also starts with `type`, then `id`).
pub fn prog_id(prog: BorrowedFd<'_>) -> Result<u32> {
    let mut info = [0u8; 256];
    let mut attr = Attr::new();
    attr.u32_at(0, prog.as_raw_fd() as u32)
        .u32_at(4, info.len() as u32)
        .u64_at(8, info.as_mut_ptr() as u64);
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr, "reading BPF program info")?;
    Ok(u32::from_ne_bytes([info[4], info[5], info[6], info[7]]))
}

/// `BPF_LINK_TYPE_TCX` in `struct bpf_link_info`'s `type`.
pub const BPF_LINK_TYPE_TCX: u32 = 11;

/// An open link's type and, for a TCX link, the index of its interface: `struct bpf_link_info`
/// starts with `type`, `id`, `prog_id` and its union at offset 16, where a TCX link keeps
/// `ifindex` (0 once the interface is gone: the kernel detaches the link and leaves it defunct).
pub fn link_type_and_tcx_ifindex(link: BorrowedFd<'_>) -> Result<(u32, u32)> {
    let mut info = [0u8; 64];
    let mut attr = Attr::new();
    attr.u32_at(0, link.as_raw_fd() as u32)
        .u32_at(4, info.len() as u32)
        .u64_at(8, info.as_mut_ptr() as u64);
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr, "reading BPF link info")?;
    let word = |at: usize| u32::from_ne_bytes([info[at], info[at + 1], info[at + 2], info[at + 3]]);
    Ok((word(0), word(16)))
}

pub fn map_fd_by_id(id: u32) -> Result<OwnedFd> {
    let mut attr = Attr::new();
    attr.u32_at(0, id);
    bpf(
        BPF_MAP_GET_FD_BY_ID,
        &mut attr,
        &format!("opening BPF map id {id}"),
    )
    .map(owned)
}

fn path_cstring(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| err!(Invalid, "path {} contains NUL", path.display()))
}

pub fn obj_pin(fd: BorrowedFd<'_>, path: &Path) -> Result<()> {
    let c = path_cstring(path)?;
    let mut attr = Attr::new();
    attr.u64_at(0, c.as_ptr() as u64).u32_at(8, fd.as_raw_fd() as u32);
    bpf(BPF_OBJ_PIN, &mut attr, &format!("pinning {}", path.display())).map(|_| ())
}

pub fn obj_get(path: &Path) -> Result<OwnedFd> {
    let c = path_cstring(path)?;
    let mut attr = Attr::new();
    attr.u64_at(0, c.as_ptr() as u64);
    bpf(
        BPF_OBJ_GET,
        &mut attr,
        &format!("opening pinned {}", path.display()),
    )
    .map(owned)
}

/// Result of BPF_PROG_TEST_RUN.
#[derive(Debug, Clone, Copy)]
pub struct TestRun {
    pub retval: u32,
    /// Mean run time per repetition, as the kernel measures it.
    pub duration_ns: u32,
}

/// Runs a loaded program `repeat` times on `packet` in the kernel (BPF_PROG_TEST_RUN).
/// Repeats of a test run the kernel broke off with EINTR before the error is given up.
const INTERRUPTED_RETRIES: u32 = 8;

pub fn prog_test_run(prog: BorrowedFd<'_>, packet: &[u8], repeat: u32) -> Result<TestRun> {
    let mut out = vec![0u8; packet.len() + 256];
    let mut attr = Attr::new();
    // struct { prog_fd u32; retval u32; data_size_in u32; data_size_out u32; data_in u64;
    //          data_out u64; repeat u32; duration u32; ... }
    attr.u32_at(0, prog.as_raw_fd() as u32)
        .u32_at(8, packet.len() as u32)
        .u32_at(12, out.len() as u32)
        .u64_at(16, packet.as_ptr() as u64)
        .u64_at(24, out.as_mut_ptr() as u64)
        .u32_at(32, repeat);
    // The kernel gives up a repeated run with EINTR when a signal is pending for the caller (a
    // child exiting, a timer); nothing was measured then, so the run is made again.
    let mut tries = 0;
    loop {
        match bpf_raw(BPF_PROG_TEST_RUN, &mut attr) {
            Err(e) if tries < INTERRUPTED_RETRIES && e.kind() == std::io::ErrorKind::Interrupted => {
                tries += 1;
            }
            other => {
                other.map_err(|e| Error::io("BPF_PROG_TEST_RUN", e))?;
                break;
            }
        }
    }
    Ok(TestRun {
        retval: attr.read_u32(4),
        duration_ns: attr.read_u32(36),
    })
}
