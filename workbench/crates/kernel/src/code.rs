//! The code engine (issue 14, "the model as code"; docs/MODEL_ENGINE.md): the deployed models
//! compiled to eBPF instructions (`workbench_flow::model::bpf_code`) and linked into a copy of
//! the probe, which the attached probe reaches by a tail call through its `CODE` program array.
//!
//! How a copy is made: the embedded probe object is parsed with aya-obj; the bodies of its two
//! placeholder functions (`workbench_code_active`, `workbench_code_shadow`, each alone in a
//! text section) are replaced by the compiled active and shadow models; its map references are
//! relocated to the attached probe's own pinned maps (flows, statistics, configuration, models,
//! scratch...), so the copy shares every piece of state with the probe; the kernel verifies it
//! (BPF_PROG_LOAD); one update of `CODE` slot 0 puts it in. Each compiled function returns the
//! id of the model it was compiled from, and the copy uses its score only when that is the id
//! of the model in the slot it looked up: during a swap, or for a model without code (logistic),
//! the table interpreter scores the slot's model. So a decision is always one whole model's,
//! whichever engine scored it, and the slots (active, shadow, previous, rollback) stay the one
//! truth. An empty `CODE` slot is the table engine: the tail call fails and the probe runs on.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use aya_obj::generated::bpf_insn;
use serde::Serialize;
use shared::model::Model;
use workbench_flow::model::bpf_code::{self, Insn};
use workbench_flow::model::id_string;

use crate::bpffs::unpin;
use crate::error::{err, Error, Result};
use crate::{allowlist, models, probe, sys};

/// The probe's program array, pinned under a name that says which probe object its programs
/// must be built from (the copy must take the same flow lock as the probe it stands in for).
pub const PIN_CODE_MAP: &str = "code";
pub const PIN_CODE_MAP_UNLOCKED: &str = "code_unlocked";
/// The probe's per-CPU scratch map, shared with its copies.
pub const PIN_SCRATCH: &str = "scratch";
/// The copy in `CODE` slot 0, pinned for `probe status` (its id and verifier cost).
pub const PIN_CODE_PROGRAM: &str = "code_program";
/// Where a new copy is pinned before it replaces `code_program` (one rename; bpffs refuses
/// names with a dot).
pub const PIN_CODE_PROGRAM_NEW: &str = "code_program_new";
/// The user chose the table engine (`deploy --engine table`): a second pin of the code map,
/// as a marker that a later `deploy MODEL` without `--engine` keeps the table.
pub const PIN_ENGINE_TABLE: &str = "engine_table";

pub const CODE_MAP: &str = "CODE";
pub const SCRATCH_MAP: &str = "SCRATCH";
const CODE_PROGRAM: &str = "workbench_tc_code";
const ACTIVE_FN: &str = "workbench_code_active";
const SHADOW_FN: &str = "workbench_code_shadow";
const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;

/// How the probe scores models: compiled code (trees, forests, logistic models) or the table
/// interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    #[default]
    Code,
    Table,
}

impl Engine {
    /// As JSON and the reports say it.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Code => "code",
            Engine::Table => "table",
        }
    }
}

/// One slot's part of a compiled copy.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SlotCode {
    /// The model compiled (None: the slot was empty).
    pub model: Option<String>,
    /// Instructions of its compiled function (0 when the table interpreter scores it).
    pub instructions: usize,
    /// Why the table interpreter scores this slot's model (a logistic model whose sum could
    /// saturate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_because: Option<String>,
}

/// What the engine is on a probe, and what the kernel made of the copy.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CodeReport {
    /// "code" or "table".
    pub engine: &'static str,
    /// The copy's kernel program id (code engine).
    pub program_id: Option<u32>,
    /// Instructions the verifier walked to accept the copy.
    pub verified_instructions: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<SlotCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow: Option<SlotCode>,
}

/// The program array pinned in `dir` and whether the probe there takes the flow lock.
fn code_map(dir: &Path) -> Result<(OwnedFd, bool)> {
    for (pin, locked) in [(PIN_CODE_MAP, true), (PIN_CODE_MAP_UNLOCKED, false)] {
        if dir.join(pin).exists() {
            return Ok((sys::obj_get(&dir.join(pin))?, locked));
        }
    }
    Err(err!(
        State,
        "the probe in {} has no code engine (attached by an older workbench): detach and attach it again",
        dir.display()
    ))
}

/// Whether the code engine is on for the probe in `dir` (a compiled copy is in place).
pub fn in_use(dir: &Path) -> bool {
    dir.join(PIN_CODE_PROGRAM).exists()
}

/// The engine on the probe in `dir`, without changing anything.
pub fn status(dir: &Path) -> CodeReport {
    let info = in_use(dir)
        .then(|| aya::programs::ProgramInfo::from_pin(dir.join(PIN_CODE_PROGRAM)).ok())
        .flatten();
    CodeReport {
        engine: if info.is_some() {
            Engine::Code.name()
        } else {
            Engine::Table.name()
        },
        program_id: info.as_ref().map(aya::programs::ProgramInfo::id),
        verified_instructions: info
            .as_ref()
            .and_then(aya::programs::ProgramInfo::verified_instruction_count),
        active: None,
        shadow: None,
    }
}

/// The engine a new model gets when the user names none: the table if they chose it before
/// (`deploy --engine table`), else compiled code.
pub fn default_engine(dir: &Path) -> Engine {
    if dir.join(PIN_ENGINE_TABLE).exists() {
        Engine::Table
    } else {
        Engine::Code
    }
}

/// The table engine: unpins the copy (so nothing reads as "code" any more), then empties
/// `CODE` slot 0 (packets stay in the probe from the next one on). `chosen`: the user asked
/// for it, and a later deploy without `--engine` keeps it.
pub fn remove(dir: &Path, chosen: bool) -> Result<CodeReport> {
    unpin(&dir.join(PIN_CODE_PROGRAM))?;
    if let Ok((map, _)) = code_map(dir) {
        match sys::map_delete(map.as_fd(), &0u32.to_ne_bytes(), "emptying the code slot") {
            Ok(()) => {}
            // Already empty.
            Err(Error::Io { source, .. }) if source.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
        if chosen && !dir.join(PIN_ENGINE_TABLE).exists() {
            sys::obj_pin(map.as_fd(), &dir.join(PIN_ENGINE_TABLE))?;
        }
    }
    Ok(status(dir))
}

/// Compiles `active` and `shadow`, links them into a copy of the probe in `dir`, has the kernel
/// verify it and puts it in `CODE` slot 0 (one map update: a packet runs the old copy or the new
/// one). Refused by the verifier: nothing changes and the error is its last line.
pub fn install(dir: &Path, active: Option<&Model>, shadow: Option<&Model>) -> Result<CodeReport> {
    let (map, locked) = code_map(dir)?;
    let (active_fn, active_code) = compile_slot(active);
    let (shadow_fn, shadow_code) = compile_slot(shadow);
    let object = if locked {
        probe::PROBE_OBJECT
    } else {
        probe::PROBE_OBJECT_UNLOCKED
    };
    // The map fds the instructions refer to stay open until the kernel has loaded them.
    let (instructions, _map_fds) = link(object, dir, &[(ACTIVE_FN, &active_fn), (SHADOW_FN, &shadow_fn)])?;
    let program = load(&instructions)?;
    // Pinned under a new name first, then the slot, then one rename over the old pin: a failure
    // at any step leaves the slot and the pin naming the same copy (or the new pin unused).
    let (pin, new_pin) = (dir.join(PIN_CODE_PROGRAM), dir.join(PIN_CODE_PROGRAM_NEW));
    unpin(&new_pin)?;
    sys::obj_pin(program.as_fd(), &new_pin)?;
    let fd = (program.as_raw_fd() as u32).to_ne_bytes();
    let slot = sys::map_update(
        map.as_fd(),
        &0u32.to_ne_bytes(),
        &fd,
        "putting the compiled probe in the code slot",
    );
    if let Err(e) = slot {
        let _ = unpin(&new_pin);
        return Err(e);
    }
    std::fs::rename(&new_pin, &pin)
        .map_err(|e| Error::io(format!("renaming {} to {}", new_pin.display(), pin.display()), e))?;
    unpin(&dir.join(PIN_ENGINE_TABLE))?;
    Ok(CodeReport {
        active: Some(active_code),
        shadow: Some(shadow_code),
        ..status(dir)
    })
}

/// A slot's compiled function, or the one that sends it to the table interpreter.
fn compile_slot(model: Option<&Model>) -> (Vec<Insn>, SlotCode) {
    let Some(m) = model else {
        let code = SlotCode {
            model: None,
            instructions: 0,
            table_because: None,
        };
        return (bpf_code::no_model(), code);
    };
    let id = Some(id_string(m.header.model_id));
    match bpf_code::compile(m) {
        Ok(insns) => {
            let code = SlotCode {
                model: id,
                instructions: insns.len(),
                table_because: None,
            };
            (insns, code)
        }
        Err(e) => {
            let code = SlotCode {
                model: id,
                instructions: 0,
                table_because: Some(e.to_string()),
            };
            (bpf_code::no_model(), code)
        }
    }
}

/// The maps a linked copy refers to: the object's name, the open pin, the object's definition.
type MapFds = Vec<(String, OwnedFd, aya_obj::Map)>;

/// The pin of each of the probe object's maps, by the name the object gives it.
fn map_pin(name: &str) -> Option<&'static str> {
    Some(match name {
        probe::FLOWS_MAP => probe::PIN_FLOWS,
        probe::STATS_MAP => probe::PIN_STATS,
        probe::CONFIG_MAP => models::PIN_CONFIG,
        probe::EVENTS_MAP => probe::PIN_EVENTS,
        probe::PACKETS_MAP => probe::PIN_PACKETS,
        allowlist::ALLOW_MAP => allowlist::PIN_ALLOW,
        models::PIN_MODELS => models::PIN_MODELS,
        SCRATCH_MAP => PIN_SCRATCH,
        _ => return None,
    })
}

/// The copy's instructions: `object` with the named functions' bodies replaced, its maps
/// relocated to the pins in `dir` and its calls linked; with the map fds they name.
fn link(object: &[u8], dir: &Path, bodies: &[(&str, &[Insn])]) -> Result<(Vec<u64>, MapFds)> {
    let broken =
        |what: &str, e: &dyn std::fmt::Display| err!(Build, "the embedded probe object: {what}: {e}");
    let mut obj = aya_obj::Object::parse(object).map_err(|e| broken("parsing", &e))?;
    for (k, (name, body)) in bodies.iter().enumerate() {
        let f = obj
            .functions
            .values_mut()
            .find(|f| f.name == *name)
            .ok_or_else(|| err!(Build, "the embedded probe object has no function {name}"))?;
        f.instructions = body.iter().map(|i| to_bpf_insn(*i)).collect();
        // aya-obj 0.2.1's linker remembers the functions it linked by their address within
        // their section only, and every one of these is at address 0 of a section of its own,
        // as `flow_lock::acquire` is of .text: without a distinct address here, the calls to
        // the compiled models were linked to the lock. (The key in `functions` stays the real
        // one, which the call relocations look up.)
        f.address = (1 << 48) + k as u64;
    }
    // Every map the object declares, opened from the probe's pins (CODE itself too: the copy
    // contains `workbench_tc`'s references, though it never runs them).
    let (code_map_fd, _) = code_map(dir)?;
    let mut fds: MapFds = Vec::new();
    for (name, def) in &obj.maps {
        let fd = if name == CODE_MAP {
            code_map_fd
                .try_clone()
                .map_err(|e| Error::io("duplicating the code map's fd", e))?
        } else {
            let pin = map_pin(name).ok_or_else(|| err!(Build, "the probe object's map {name} has no pin"))?;
            sys::obj_get(&dir.join(pin))?
        };
        check_shape(name, def, fd.as_fd())?;
        // Cloned: relocate_maps borrows the object mutably while it reads the definitions.
        fds.push((name.clone(), fd, def.clone()));
    }
    let text_sections = obj.functions.keys().map(|(section, _)| *section).collect();
    obj.relocate_maps(
        fds.iter().map(|(n, fd, def)| (n.as_str(), fd.as_raw_fd(), def)),
        &text_sections,
    )
    .map_err(|e| broken("relocating maps", &e))?;
    obj.relocate_calls(&text_sections)
        .map_err(|e| broken("linking calls", &e))?;
    let program = obj
        .programs
        .get(CODE_PROGRAM)
        .ok_or_else(|| err!(Build, "the embedded probe object has no program {CODE_PROGRAM}"))?;
    let function = obj
        .functions
        .get(&program.function_key())
        .ok_or_else(|| err!(Build, "the embedded probe object lost {CODE_PROGRAM}"))?;
    let instructions = function.instructions.iter().map(|i| from_bpf_insn(*i)).collect();
    Ok((instructions, fds))
}

/// The copy runs this binary's probe code on the attached probe's maps: refused when a map is
/// not the shape this object expects (a probe attached by another workbench build whose flow
/// entry, configuration or scratch differ), instead of reading another layout.
fn check_shape(name: &str, def: &aya_obj::Map, fd: std::os::fd::BorrowedFd<'_>) -> Result<()> {
    let found = sys::map_shape(fd)?;
    let expected = [
        def.map_type(),
        def.key_size(),
        def.value_size(),
        def.max_entries(),
    ];
    // Sized at attach by the user (flow table, packet ring): only the layout must agree.
    let sized_at_attach = name == probe::FLOWS_MAP || name == probe::PACKETS_MAP;
    let agree = expected[..3] == found[..3] && (sized_at_attach || expected[3] == found[3]);
    if !agree {
        return Err(err!(
            State,
            "the attached probe's map {name} is not the one this workbench's probe expects (type, key bytes, value bytes, entries: {found:?}, expected {expected:?}): it was attached by another build; detach and attach it again to use the code engine"
        ));
    }
    Ok(())
}

fn to_bpf_insn(insn: Insn) -> bpf_insn {
    // SAFETY: bpf_insn is the kernel's 8-byte instruction (repr(C), every bit pattern valid);
    // `to_bytes` is that layout.
    unsafe { std::mem::transmute::<[u8; 8], bpf_insn>(insn.to_bytes()) }
}

fn from_bpf_insn(insn: bpf_insn) -> u64 {
    // SAFETY: as above, the other way.
    u64::from_le_bytes(unsafe { std::mem::transmute::<bpf_insn, [u8; 8]>(insn) })
}

/// Loads the copy; a refusal is reported with the verifier's own last lines.
fn load(instructions: &[u64]) -> Result<OwnedFd> {
    match sys::prog_load_raw(BPF_PROG_TYPE_SCHED_CLS, instructions, "wb_tc_code") {
        Ok(fd) => Ok(fd),
        Err(first) => {
            // Again with the log, only now: a 16 MiB log costs time on every load.
            let mut log = vec![0u8; 16 << 20];
            let again = sys::prog_load_logged(
                BPF_PROG_TYPE_SCHED_CLS,
                instructions,
                "wb_tc_code",
                Some(&mut log),
            );
            if let Ok(fd) = again {
                return Ok(fd);
            }
            let text = String::from_utf8_lossy(&log);
            let text = text.trim_end_matches('\0');
            let last: Vec<&str> = text
                .lines()
                .rev()
                .filter(|l| !l.trim().is_empty())
                .take(2)
                .collect();
            let reason: Vec<&str> = last.into_iter().rev().collect();
            let what = match first.raw_os_error() {
                // The verifier's own refusals; anything else (EPERM, ENOMEM, E2BIG) is not.
                Some(libc::EACCES | libc::EINVAL) if !reason.is_empty() => format!(
                    "the kernel verifier refused the compiled models ({} instructions): {}",
                    instructions.len(),
                    reason.join(" / ")
                ),
                _ => format!(
                    "loading the compiled copy of the probe ({} instructions)",
                    instructions.len()
                ),
            };
            Err(Error::io(what, first))
        }
    }
}
