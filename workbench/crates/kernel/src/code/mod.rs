//! The code engine (issue 14, "the model as code"; docs/MODEL_ENGINE.md): the deployed models
//! compiled to eBPF instructions (`workbench_flow::model::bpf_code`) and linked into a copy of
//! the probe, which the attached probe reaches by a tail call through its `CODE` program array.
//!
//! How a copy is made: the embedded probe object is parsed with aya-obj; the bodies of its two
//! placeholder functions (`workbench_code_active`, `workbench_code_shadow`, each alone in a
//! text section) are replaced by compiled models: the active function holds the active and the
//! previous model (and, while a slot change is made, the next one), the shadow function the
//! shadow model, each picked by the slot's model id (`bpf_code::dispatch`). So a rollback, or a
//! swap back and forth between two models, needs no new copy, and a new copy is loaded before
//! the slot changes: a model the verifier refuses is refused before anything changes, and
//! every decision after the change is the code's. Its map references are
//! relocated to the attached probe's own pinned maps (flows, statistics, configuration, models,
//! scratch...), so the copy shares every piece of state with the probe; its calls of the
//! compiled functions become jumps (`inline`: a call costs several ns on kernels with
//! return-stack mitigations); the kernel verifies it (BPF_PROG_LOAD); one update of `CODE`
//! slot 0 puts it in. Each compiled function returns the
//! id of the model it was compiled from, and the copy uses its score only when that is the id
//! of the model in the slot it looked up: for a model the copy does not hold, or one without
//! code, the table interpreter scores the slot's model. So a decision is always one whole model's,
//! whichever engine scored it, and the slots (active, shadow, previous, rollback) stay the one
//! truth. An empty `CODE` slot is the table engine: the tail call fails and the probe runs on.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use serde::Serialize;
use shared::model::Model;
use workbench_flow::model::bpf_code::{self, Insn};
use workbench_flow::model::id_string;

mod held;
mod inline;
mod link;
mod load;

pub use held::holds;
use held::{read_held, write_held, HELD_MAX};
use link::link;
use load::load;

use crate::bpffs::unpin;
use crate::error::{err, Error, Result};
use crate::sys::BPF_PROG_TYPE_SCHED_CLS;
use crate::{probe, sys};

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
/// Which models the copy in place holds (an array of one entry, [`Held`]): a slot change whose
/// models it holds already needs no new copy.
pub const PIN_CODE_MODELS: &str = "code_models";
/// The user chose the table engine (`deploy --engine table`): a second pin of the code map,
/// as a marker that a later `deploy MODEL` without `--engine` keeps the table.
pub const PIN_ENGINE_TABLE: &str = "engine_table";

pub const CODE_MAP: &str = "CODE";
pub const SCRATCH_MAP: &str = "SCRATCH";
const CODE_PROGRAM: &str = "workbench_tc_code";
const ACTIVE_FN: &str = "workbench_code_active";
const SHADOW_FN: &str = "workbench_code_shadow";

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
    /// The probe reaches the code by a jump, not a call (`inline`): false for a single model too
    /// large for eBPF's 16-bit jumps (about 31,000 instructions), and for a copy made by a build
    /// before 2026-12-08.
    pub inlined: bool,
}

/// A model a copy holds.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HeldModel {
    pub model: String,
    /// The function that holds it: "active" (the active slot's, which also holds the previous
    /// model) or "shadow".
    pub function: &'static str,
    /// Instructions of its code (0: the table interpreter scores it).
    pub instructions: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_because: Option<String>,
    /// Its function is reached by a jump, not a call ([`SlotCode::inlined`]).
    pub inlined: bool,
    /// The model's id and checksum: what tells it apart (`model` is the id as text).
    #[serde(skip)]
    pub id: u32,
    #[serde(skip)]
    pub checksum: u32,
}

impl HeldModel {
    /// Whether this is `m` (the same id and checksum: the same content).
    pub fn is(&self, m: &Model) -> bool {
        self.id == m.header.model_id && self.checksum == m.header.checksum
    }
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
    /// Every model the copy holds (a swap among them needs no new copy).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<HeldModel>,
}

impl CodeReport {
    /// The report with `active` and `shadow` saying how the models now in those slots are
    /// scored (by their code in this copy, or by the table).
    pub fn for_slots(mut self, active: Option<&Model>, shadow: Option<&Model>) -> CodeReport {
        let on = self.program_id.is_some();
        let slot = |m: Option<&Model>, function: &str| -> Option<SlotCode> {
            if !on {
                return None;
            }
            let Some(m) = m else {
                return Some(SlotCode {
                    model: None,
                    instructions: 0,
                    table_because: None,
                    inlined: false,
                });
            };
            let held = self.held.iter().find(|h| h.function == function && h.is(m));
            Some(SlotCode {
                model: Some(id_string(m.header.model_id)),
                instructions: held.map_or(0, |h| h.instructions),
                table_because: match held {
                    Some(h) => h.table_because.clone(),
                    None => Some("the copy in place does not hold it".to_string()),
                },
                inlined: held.is_some_and(|h| h.instructions > 0 && h.inlined),
            })
        };
        self.active = slot(active, "active");
        self.shadow = slot(shadow, "shadow");
        self
    }
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
        held: match info {
            Some(_) => read_held(dir),
            None => Vec::new(),
        },
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
    unpin(&dir.join(PIN_CODE_MODELS))?;
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

/// Compiles `active` (the models the active slot may hold while this copy is in: the active,
/// the previous, the next) and `shadow`, links them into a copy of the probe in `dir`, has the
/// kernel verify it and puts it in `CODE` slot 0 (one map update: a packet runs the old copy or
/// the new one). Refused by the verifier: nothing changes and the error is its last line.
pub fn install(dir: &Path, active: &[&Model], shadow: &[&Model]) -> Result<CodeReport> {
    let mut held = Vec::new();
    let active_fn = compile_function(active, "active", &mut held)?;
    let shadow_fn = compile_function(shadow, "shadow", &mut held)?;
    install_functions(dir, &active_fn, &shadow_fn, held)
}

/// [`install`] with the two functions given: how a test shows that a copy the verifier refuses
/// changes nothing (no copy of valid models is refused).
#[doc(hidden)]
pub fn install_raw(dir: &Path, active_fn: &[Insn], shadow_fn: &[Insn]) -> Result<CodeReport> {
    install_functions(dir, active_fn, shadow_fn, Vec::new())
}

fn install_functions(
    dir: &Path,
    active_fn: &[Insn],
    shadow_fn: &[Insn],
    mut held: Vec<HeldModel>,
) -> Result<CodeReport> {
    let (map, locked) = code_map(dir)?;
    let object = if locked {
        probe::PROBE_OBJECT
    } else {
        probe::PROBE_OBJECT_UNLOCKED
    };
    // The map fds the instructions refer to stay open until the kernel has loaded them.
    let (instructions, _map_fds) = link(object, dir, &[(ACTIVE_FN, active_fn), (SHADOW_FN, shadow_fn)])?;
    let words = |f: &[Insn]| -> Vec<u64> { f.iter().map(|i| u64::from_le_bytes(i.to_bytes())).collect() };
    let (active_words, shadow_words) = (words(active_fn), words(shadow_fn));
    let inlined = inline::inline_calls(&instructions, &[&active_words, &shadow_words]);
    let instructions = inlined.insns;
    // The bodies were given active first, then shadow.
    for h in &mut held {
        h.inlined = inlined.bodies[if h.function == "active" { 0 } else { 1 }];
    }
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
    write_held(dir, &held)?;
    unpin(&dir.join(PIN_ENGINE_TABLE))?;
    Ok(CodeReport { held, ..status(dir) })
}

/// One placeholder's replacement: `models` (duplicates by id left out: the first stays)
/// compiled and dispatched on the slot's model id; a model without code is held with 0
/// instructions and its reason (the table scores it).
fn compile_function(
    models: &[&Model],
    function: &'static str,
    held: &mut Vec<HeldModel>,
) -> Result<Vec<Insn>> {
    let mut bodies = Vec::new();
    for m in models {
        let id = m.header.model_id;
        if let Some(twin) = held.iter().find(|h| h.function == function && h.id == id) {
            if twin.checksum != m.header.checksum {
                return Err(err!(
                    State,
                    "two different models carry the id {} (an edited model file?): the code engine tells models apart by their id",
                    id_string(id)
                ));
            }
            continue;
        }
        let (instructions, table_because) = match bpf_code::compile(m) {
            Ok(insns) => {
                let n = insns.len();
                bodies.push((id, insns));
                (n, None)
            }
            Err(e) => (0, Some(e.to_string())),
        };
        held.push(HeldModel {
            model: id_string(id),
            function,
            instructions,
            table_because,
            inlined: false,
            id,
            checksum: m.header.checksum,
        });
    }
    if held.len() > HELD_MAX {
        return Err(err!(
            Build,
            "a copy of the probe holds at most {HELD_MAX} models, not {}",
            held.len()
        ));
    }
    bpf_code::dispatch(&bodies).map_err(|e| err!(Build, "joining the compiled models: {e}"))
}
