//! How a compiled model is reached, each mechanism measured alone (issue 14 item 1: "a tail call
//! through a program-array slot, or a `BPF_PROG_TYPE_EXT` replacement of a global function:
//! measure both"). The probe itself cannot be an extension's target: the kernel attaches one
//! only to a function that its program's BTF describes, and the probe is built without BTF
//! (docs/TOOLCHAIN.md). So tc programs of a few instructions, assembled here with hand-made BTF,
//! return a value through one mechanism each, and BPF_PROG_TEST_RUN measures them round-robin
//! on the benchmark frame:
//! - `direct`: returns 7 (the floor: the test run and the program call);
//! - `static_call`: calls a static function that returns 7 (how the code engine's copy of the
//!   probe calls its compiled model);
//! - `tail_call`: tail-calls, through a one-slot program array, a program that returns 7 (how
//!   the probe reaches the copy);
//! - `global_call`: calls a global function, described in BTF, that returns 5;
//! - `freplace`: the same program with that function replaced by an extension returning 7.
//!
//! Each return code proves its mechanism ran (a `freplace` run returning 5 ran the original).
//! Then the swap: the kernel holds one extension per function, so replacing a model means
//! detaching one extension and attaching the next, and in between the original function runs.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use serde::Serialize;
use workbench_kernel::cost::median;
use workbench_kernel::sys::{self, insn, ProgBtf, BPF_PROG_TYPE_EXT, BPF_PROG_TYPE_SCHED_CLS};

use crate::error::{Error, Result};

/// What the runs gave, in ns per packet (medians), with every run and return code.
#[derive(Debug, Clone, Serialize)]
pub struct DispatchReport {
    pub direct_ns: u32,
    pub static_call_ns: u32,
    pub tail_call_ns: u32,
    pub global_call_ns: u32,
    /// What the code engine adds to a packet: its tail call and its call of the compiled
    /// function, each beyond `direct_ns`.
    pub code_engine_extra_ns: i64,
    /// What calling a global function adds beyond `direct_ns`: an extension-based engine would
    /// pay it at every decision, with or without a model in place.
    pub global_call_extra_ns: i64,
    /// The extension's figures; absent when this kernel refuses `BPF_PROG_TYPE_EXT`, with its
    /// answer in `freplace_unavailable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub freplace: Option<FreplaceReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub freplace_unavailable: Option<String>,
    pub runs_ns: BTreeMap<&'static str, Vec<u32>>,
    pub return_codes: BTreeMap<&'static str, Vec<u32>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FreplaceReport {
    /// The global-call program with its function replaced by an extension.
    pub freplace_ns: u32,
    /// What an extension-based engine would add instead of `code_engine_extra_ns`: the call of
    /// the replaced function beyond `direct_ns` (no tail call).
    pub freplace_extra_ns: i64,
    /// Replacing the attached extension in place (BPF_LINK_UPDATE): the kernel's answer.
    pub link_update: String,
    /// A second extension for the same function while the first is attached: the kernel's
    /// answer.
    pub second_extension: String,
    /// Median time from detaching one extension to the next one attached, in microseconds:
    /// the window in which the original function runs instead of either model.
    pub swap_window_us: u64,
    /// What a test run returned right after each swap (alternately 9 and 7: the new extension).
    pub swap_return_codes: Vec<u32>,
}

const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const MOV64_K: u8 = 0xb7;
const EXIT: u8 = 0x95;
const CALL: u8 = 0x85;
const LD_IMM64: u8 = 0x18;
/// `src` of a call to a function of the same program (`imm` is the relative target).
const PSEUDO_CALL: u8 = 1;
/// `src` of a 64-bit immediate load that holds a map's file descriptor.
const PSEUDO_MAP_FD: u8 = 1;
const BPF_FUNC_TAIL_CALL: i32 = 12;

fn returns(value: i32) -> [u64; 2] {
    [insn(MOV64_K, R0, 0, 0, value), insn(EXIT, 0, 0, 0, 0)]
}

/// `main` calls the function at instruction 3, which returns `value`.
fn calling(value: i32) -> Vec<u64> {
    let mut p = vec![
        insn(MOV64_K, R1, 0, 0, 3),
        insn(CALL, 0, PSEUDO_CALL, 0, 1),
        insn(EXIT, 0, 0, 0, 0),
    ];
    p.extend(returns(value));
    p
}
const CALLED_AT: u32 = 3;

/// BTF ids in [`target_btf`] and [`extension_btf`].
const MAIN_FUNC: u32 = 3;
const F_FUNC: u32 = 5;
const EXT_FUNC: u32 = 3;

/// A BTF blob: the header, then `types`, then `strings`.
fn btf_blob(types: &[u32], strings: &[u8]) -> Vec<u8> {
    let type_len = (types.len() * 4) as u32;
    let mut b = Vec::new();
    b.extend(0xeb9f_u16.to_ne_bytes());
    b.extend([1u8, 0]); // version, flags
    for word in [24, 0, type_len, type_len, strings.len() as u32] {
        b.extend(word.to_ne_bytes()); // hdr_len, type_off, type_len, str_off, str_len
    }
    for t in types {
        b.extend(t.to_ne_bytes());
    }
    b.extend_from_slice(strings);
    b
}

const KIND_INT: u32 = 1 << 24;
const KIND_FUNC: u32 = 12 << 24;
const KIND_FUNC_PROTO: u32 = 13 << 24;
const LINKAGE_STATIC: u32 = 0;
const LINKAGE_GLOBAL: u32 = 1;
/// Strings of both blobs: offsets 1 "int", 5 "x", 7 "main", 12 "f".
const STRINGS: &[u8] = b"\0int\0x\0main\0f\0";
/// `int`: a signed 32-bit integer.
const INT: [u32; 4] = [1, KIND_INT, 4, (1 << 24) | 32];
/// `int (int x)`, referring to `int` as type 1.
const PROTO_INT_X: [u32; 5] = [0, KIND_FUNC_PROTO | 1, 1, 5, 1];

/// The calling program's BTF: 1 `int`, 2 `int (void)`, 3 static `main`, 4 `int (int x)`, 5
/// global `f`.
fn target_btf() -> Vec<u8> {
    let mut t = INT.to_vec();
    t.extend([0, KIND_FUNC_PROTO, 1]);
    t.extend([7, KIND_FUNC | LINKAGE_STATIC, 2]);
    t.extend(PROTO_INT_X);
    t.extend([12, KIND_FUNC | LINKAGE_GLOBAL, 4]);
    btf_blob(&t, STRINGS)
}

/// The extension's BTF: 1 `int`, 2 `int (int x)`, 3 global `f` (the replaced function's type).
fn extension_btf() -> Vec<u8> {
    let mut t = INT.to_vec();
    t.extend(PROTO_INT_X);
    t.extend([12, KIND_FUNC | LINKAGE_GLOBAL, 2]);
    btf_blob(&t, STRINGS)
}

fn kernel(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::io(format!("dispatch measurement: {what}"), e)
}

/// The kernel's last line of a load's log (its reason for a refusal).
fn last_line(log: &[u8]) -> String {
    let text = sys::log_text(log);
    let text = text.trim_end();
    let last = text.lines().last().unwrap_or("");
    if last.is_empty() {
        "refused before the verifier ran".to_string()
    } else {
        last.to_string()
    }
}

fn load_btf(blob: &[u8], what: &str) -> Result<OwnedFd> {
    let mut log = vec![0u8; 64 << 10];
    sys::btf_load(blob, &mut log).map_err(|e| {
        let why = last_line(&log);
        Error::io(format!("dispatch measurement: loading the {what} BTF ({why})"), e)
    })
}

fn load_plain(instructions: &[u64], name: &str) -> Result<OwnedFd> {
    sys::prog_load_raw(BPF_PROG_TYPE_SCHED_CLS, instructions, name).map_err(kernel(name))
}

/// The programs and the extensions, loaded.
struct Programs {
    direct: OwnedFd,
    static_call: OwnedFd,
    tail_call: OwnedFd,
    global_call: OwnedFd,
    /// Returning 7 and 9; the kernel's answer when it refuses them.
    extensions: std::result::Result<[OwnedFd; 2], String>,
    // Kept open for the tail call's program array.
    _slots: OwnedFd,
    _callee: OwnedFd,
}

fn load() -> Result<Programs> {
    let direct = load_plain(&returns(7), "ebml_direct")?;
    let static_call = load_plain(&calling(7), "ebml_static")?;
    let callee = load_plain(&returns(7), "ebml_callee")?;
    let slots = sys::map_create(sys::BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 1, None, "ebml_slots")?;
    let callee_fd = callee.as_raw_fd() as u32;
    sys::map_update(
        slots.as_fd(),
        &0u32.to_ne_bytes(),
        &callee_fd.to_ne_bytes(),
        "dispatch measurement: filling the program array",
    )?;
    let slots_fd = slots.as_raw_fd();
    let tail = [
        insn(LD_IMM64, R2, PSEUDO_MAP_FD, 0, slots_fd),
        insn(0, 0, 0, 0, 0),
        insn(MOV64_K, R3, 0, 0, 0),
        insn(CALL, 0, 0, 0, BPF_FUNC_TAIL_CALL),
        // Reached only when the tail call fails.
        insn(MOV64_K, R0, 0, 0, 0),
        insn(EXIT, 0, 0, 0, 0),
    ];
    let tail_call = load_plain(&tail, "ebml_tail")?;

    let target_btf = load_btf(&target_btf(), "calling program's")?;
    let global_call = sys::prog_load_btf(
        BPF_PROG_TYPE_SCHED_CLS,
        &calling(5),
        "ebml_global",
        &ProgBtf {
            btf: target_btf.as_fd(),
            funcs: &[[0, MAIN_FUNC], [CALLED_AT, F_FUNC]],
            replaces: None,
        },
        None,
    )
    .map_err(kernel("loading the program with a global function"))?;
    // Loaded and attached once (a kernel may load extensions and still refuse to attach them):
    // either failure leaves the other mechanisms measured and says why the extension is not.
    let extensions = load_extensions(global_call.as_fd())
        .and_then(|ext| {
            sys::link_create_ext(ext[0].as_fd(), global_call.as_fd(), F_FUNC)
                .map_err(kernel("attaching an extension (BPF_PROG_TYPE_EXT)"))?;
            Ok(ext)
        })
        .map_err(|e| format!("{e:#}"));
    Ok(Programs {
        direct,
        static_call,
        tail_call,
        global_call,
        extensions,
        _slots: slots,
        _callee: callee,
    })
}

/// Two extensions of `f` in `target`, returning 7 and 9.
fn load_extensions(target: BorrowedFd<'_>) -> Result<[OwnedFd; 2]> {
    let ext_btf = load_btf(&extension_btf(), "extension's")?;
    let extension = |value: i32| {
        let mut log = vec![0u8; 64 << 10];
        sys::prog_load_btf(
            BPF_PROG_TYPE_EXT,
            &returns(value),
            "ebml_ext",
            &ProgBtf {
                btf: ext_btf.as_fd(),
                funcs: &[[0, EXT_FUNC]],
                replaces: Some((target, F_FUNC)),
            },
            Some(&mut log),
        )
        .map_err(|e| {
            let why = last_line(&log);
            Error::io(
                format!("dispatch measurement: loading an extension (BPF_PROG_TYPE_EXT) ({why})"),
                e,
            )
        })
    };
    Ok([extension(7)?, extension(9)?])
}

const KEYS: [&str; 5] = [
    "direct_ns",
    "static_call_ns",
    "tail_call_ns",
    "global_call_ns",
    "freplace_ns",
];

fn test_run(prog: BorrowedFd<'_>, frame: &[u8], repeat: u32, key: &str) -> Result<sys::TestRun> {
    Ok(sys::prog_test_run(prog, frame, repeat)
        .map_err(|e| e.within(format!("dispatch measurement, {key}")))?)
}

/// Measures every mechanism `runs` times on `frame` (round-robin), then the extension's swap.
pub fn measure(frame: &[u8], repeat: u32, runs: usize) -> Result<DispatchReport> {
    let p = load()?;
    let extension = p.extensions.as_ref().ok().map(|[seven, _]| seven.as_fd());
    let mut runs_ns: BTreeMap<&'static str, Vec<u32>> = BTreeMap::new();
    let mut return_codes: BTreeMap<&'static str, Vec<u32>> = BTreeMap::new();
    for _ in 0..runs {
        for key in KEYS {
            let (prog, link) = match (key, extension) {
                ("direct_ns", _) => (p.direct.as_fd(), None),
                ("static_call_ns", _) => (p.static_call.as_fd(), None),
                ("tail_call_ns", _) => (p.tail_call.as_fd(), None),
                ("global_call_ns", _) => (p.global_call.as_fd(), None),
                (_, Some(ext)) => (
                    p.global_call.as_fd(),
                    Some(
                        sys::link_create_ext(ext, p.global_call.as_fd(), F_FUNC)
                            .map_err(kernel("attaching the extension"))?,
                    ),
                ),
                (_, None) => continue,
            };
            let run = test_run(prog, frame, repeat, key)?;
            drop(link);
            runs_ns.entry(key).or_default().push(run.duration_ns);
            let codes = return_codes.entry(key).or_default();
            if !codes.contains(&run.retval) {
                codes.push(run.retval);
                codes.sort_unstable();
            }
        }
    }
    let ns = |key: &str| runs_ns.get(key).map_or(0, |r| median(r));
    let direct = ns("direct_ns") as i64;
    let freplace = match &p.extensions {
        Ok(extensions) => Some(swap(
            extensions,
            p.global_call.as_fd(),
            frame,
            ns("freplace_ns"),
            direct,
        )?),
        Err(_) => None,
    };
    Ok(DispatchReport {
        direct_ns: ns("direct_ns"),
        static_call_ns: ns("static_call_ns"),
        tail_call_ns: ns("tail_call_ns"),
        global_call_ns: ns("global_call_ns"),
        code_engine_extra_ns: (ns("tail_call_ns") as i64 - direct) + (ns("static_call_ns") as i64 - direct),
        global_call_extra_ns: ns("global_call_ns") as i64 - direct,
        freplace,
        freplace_unavailable: p.extensions.as_ref().err().cloned(),
        runs_ns,
        return_codes,
    })
}

fn answer(r: std::io::Result<impl Sized>) -> String {
    match r {
        Ok(_) => "accepted".to_string(),
        Err(e) => format!("refused: {e}"),
    }
}

/// The extension's report: its cost (measured in the rounds), then 20 swaps of the two
/// extensions (detach, attach) and the kernel's answers to the two alternatives (an in-place
/// update, a second extension at once).
fn swap(
    extensions: &[OwnedFd; 2],
    target: BorrowedFd<'_>,
    frame: &[u8],
    freplace_ns: u32,
    direct_ns: i64,
) -> Result<FreplaceReport> {
    const SWAPS: usize = 20;
    let [seven, nine] = extensions;
    let mut link =
        sys::link_create_ext(seven.as_fd(), target, F_FUNC).map_err(kernel("attaching the extension"))?;
    let link_update = answer(sys::link_update(link.as_fd(), nine.as_fd()));
    let second_extension = answer(sys::link_create_ext(nine.as_fd(), target, F_FUNC));
    let mut windows_us = Vec::with_capacity(SWAPS);
    let mut codes = Vec::with_capacity(SWAPS);
    for i in 0..SWAPS {
        let next = if i % 2 == 0 { nine } else { seven };
        let started = Instant::now();
        drop(link);
        link = sys::link_create_ext(next.as_fd(), target, F_FUNC)
            .map_err(kernel("attaching the next extension"))?;
        windows_us.push(started.elapsed().as_micros() as u32);
        codes.push(test_run(target, frame, 1, "swap")?.retval);
    }
    drop(link);
    Ok(FreplaceReport {
        freplace_ns,
        freplace_extra_ns: freplace_ns as i64 - direct_ns,
        link_update,
        second_extension,
        swap_window_us: u64::from(median(&windows_us)),
        swap_return_codes: codes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_btf_blobs_hold_what_the_loader_is_told() {
        let t = target_btf();
        // Header: magic, version 1, 24-byte header, types right after it.
        assert_eq!(&t[..4], &[0x9f, 0xeb, 1, 0]);
        let word = |b: &[u8], at: usize| u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let (type_len, str_off, str_len) = (word(&t, 12), word(&t, 16), word(&t, 20));
        assert_eq!(
            (type_len, str_off, str_len as usize),
            (18 * 4, 18 * 4, STRINGS.len())
        );
        assert_eq!(t.len(), 24 + (type_len + str_len) as usize);
        // Type 5 (global f) starts after int (16 bytes), the void proto (12), main (12) and the
        // one-parameter proto (20): name "f", FUNC, global, of proto 4.
        let f = 24 + 16 + 12 + 12 + 20;
        assert_eq!(
            (word(&t, f), word(&t, f + 4), word(&t, f + 8)),
            (12, KIND_FUNC | 1, 4)
        );
        assert_eq!(&STRINGS[12..14], b"f\0");
        let e = extension_btf();
        let ext_f = 24 + 16 + 20;
        assert_eq!((word(&e, ext_f), word(&e, ext_f + 8)), (12, 2));
    }

    #[test]
    fn the_calling_program_calls_the_function_it_describes() {
        let p = calling(5);
        // The call at instruction 1 jumps to 1 + 1 + imm = CALLED_AT, which returns 5.
        let imm = (p[1] >> 32) as i32;
        assert_eq!(1 + 1 + imm as u32, CALLED_AT);
        assert_eq!(p[CALLED_AT as usize], returns(5)[0]);
    }
}
