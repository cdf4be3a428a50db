//! Models in the kernel: the map of models (ARRAY_OF_MAPS) with its active, shadow and previous
//! slots, and the runtime configuration.
//!
//! Hot swap = create a new inner array map holding the whole model, then replace the slot's inner
//! map with one BPF_MAP_UPDATE_ELEM. The kernel does not return from that update while programs
//! that may still hold the old inner map run (it waits for them), and the probe reads every
//! field of a model from the one inner map it looked up, so each packet is evaluated by one
//! complete model: never a mix, and no program reload. This was preferred to two slots + an
//! active index (needs a grace period we would have to wait for ourselves: membarrier's RCU
//! wait is not its documented promise) and to a prog-array tail call (a verifier load per swap,
//! 13-20 ms, and an empty slot falls through silently). Measured: docs/TOOLCHAIN.md.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::error::{fail, Error, Result};
use serde::Serialize;
use shared::abi::{MODEL_SLOTS, SLOT_ACTIVE, SLOT_PREVIOUS, SLOT_SHADOW};
use shared::model::Model;

mod config;
mod engine;
pub mod unparsed;

pub use config::{
    check_clock, check_decision_points, check_fits, clock_name, config_bytes, decision_points_words,
    mode_name, read_config, read_config_at, write_config, Clock, Mode,
};
pub use engine::EngineIntent;

use super::{bpffs, caps, sys};
use workbench_flow::model::{id_string, kind_name};

/// Pinned by the name the probe object gives the map, so that aya reuses it at load.
pub const PIN_MODELS: &str = "MODELS";
pub const PIN_CONFIG: &str = "config";

const MODEL_VALUE_BYTES: u32 = std::mem::size_of::<Model>() as u32;

fn new_inner_map() -> Result<OwnedFd> {
    sys::map_create(
        sys::BPF_MAP_TYPE_ARRAY,
        4,
        MODEL_VALUE_BYTES,
        1,
        None,
        "ebml_model",
    )
}

/// Creates the (empty) map of models and pins it in `dir`, before the probe is loaded.
pub fn create_models_map(dir: &Path) -> Result<()> {
    let template = new_inner_map()?;
    let outer = sys::map_create(
        sys::BPF_MAP_TYPE_ARRAY_OF_MAPS,
        4,
        4,
        MODEL_SLOTS,
        Some(template.as_fd()),
        PIN_MODELS,
    )?;
    sys::obj_pin(outer.as_fd(), &dir.join(PIN_MODELS))
}

fn model_bytes(model: &Model) -> &[u8] {
    // SAFETY: Model is repr(C) with every byte a declared field (asserted in shared), so all
    // of its bytes are initialised.
    unsafe {
        std::slice::from_raw_parts(
            std::ptr::from_ref::<Model>(model).cast::<u8>(),
            std::mem::size_of::<Model>(),
        )
    }
}

/// The map of models and config of the probe on `iface`.
pub struct ProbeModels {
    iface: String,
    /// The pin directory (for the configuration beside the map of models).
    dir: PathBuf,
    outer: OwnedFd,
    /// Why the code engine could not be turned on for the last slot change (the table scores
    /// the models); taken by `take_code_warning`.
    code_warning: std::sync::Mutex<Option<String>>,
    /// The engine slot changes end in (`set_intent`).
    intent: std::sync::Mutex<EngineIntent>,
    /// What the last compile made of the slots (the per-slot detail `deploy --json` shows).
    last_code: std::sync::Mutex<Option<super::code::CodeReport>>,
}

/// What [`ProbeModels::deploy_to`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployed {
    /// The model went into the slot (the active one became the rollback target).
    Swapped,
    /// The slot held that model already: no slot changed.
    Unchanged,
}

/// The slots' models: active, shadow, previous.
type Slots = [Option<Box<Model>>; 3];

/// Each occupied slot's inner map is also pinned under these names: reopening a map by its id
/// (BPF_MAP_GET_FD_BY_ID) needs CAP_SYS_ADMIN, a pin needs only CAP_BPF. The outer map stays the
/// truth (the probe reads it); a pin whose map id differs from the slot's is not used.
pub const SLOT_PINS: [&str; 3] = ["slot_active", "slot_shadow", "slot_previous"];

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SlotInfo {
    pub model: String,
    pub kind: &'static str,
    pub kernel_map_id: u32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelsReport {
    pub iface: String,
    pub active: Option<SlotInfo>,
    pub shadow: Option<SlotInfo>,
    pub previous: Option<SlotInfo>,
    pub mode: &'static str,
    pub decide_first_packets: u32,
    pub decide_every: u32,
    /// The clock that stamps packets: "ns" or "coarse" (`shared::abi::CLOCK_COARSE`).
    pub clock: &'static str,
    /// The frames the probe cannot read that enforce mode drops (dry-run counts), by reason
    /// (the unparsed statistics' names; empty: none, as on a probe attached by an older
    /// workbench).
    pub drop_unparsed: Vec<&'static str>,
    /// What the probe lacks because an older workbench attached it (`probe::vintage`): empty
    /// for a probe of this build.
    pub older_probe_lacks: Vec<&'static str>,
    /// CIDRs enforce mode never drops.
    pub allowlist: Vec<String>,
    /// How the probe hooks into the interface: "tcx" (TCX links), "tc" (cls_bpf filters on a
    /// clsact qdisc), "none" (a simulation).
    pub attach_mode: &'static str,
    /// How models are scored: "code" (compiled, `deploy --engine code`) or "table".
    pub engine: &'static str,
    /// The compiled copy of the probe that scores them (code engine).
    pub code_program_id: Option<u32>,
}

impl ProbeModels {
    pub fn open(iface: &str) -> Result<Self> {
        caps::require_kernel_access("changing the probe's model")?;
        let dir = bpffs::iface_dir(iface);
        let path = dir.join(PIN_MODELS);
        if !path.exists() {
            fail!(
                State,
                "the probe is not attached to {iface}; {}",
                crate::probe::not_attached_fix(iface)
            );
        }
        Ok(ProbeModels {
            iface: iface.to_string(),
            outer: sys::obj_get(&path)?,
            dir,
            code_warning: Default::default(),
            intent: Default::default(),
            last_code: Default::default(),
        })
    }

    /// The map of models pinned in `dir` (a probe loaded there with `probe::load`, attached or
    /// not); `label` stands for the interface in reports.
    pub fn open_dir(dir: &Path, label: &str) -> Result<Self> {
        Ok(ProbeModels {
            iface: label.to_string(),
            outer: sys::obj_get(&dir.join(PIN_MODELS))?,
            dir: dir.to_path_buf(),
            code_warning: Default::default(),
            intent: Default::default(),
            last_code: Default::default(),
        })
    }

    /// One slot change at a time on this interface, across processes (the agent and a
    /// `deploy`, two TUIs): an exclusive `flock` on the pin directory, held until the change and
    /// its copy are done. Without it two changes could interleave their slot updates (leaving a
    /// previous model that is neither's) or leave in place the copy made for the other's
    /// models (correct, since the probe checks ids, but scored by the table). Best effort: a
    /// directory that cannot be opened is not locked.
    pub(crate) fn turn(&self) -> Option<OwnedFd> {
        let fd = OwnedFd::from(std::fs::File::open(&self.dir).ok()?);
        // SAFETY: flock on an fd owned here; it is released when the fd is closed.
        let rc = unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX) };
        (rc == 0).then_some(fd)
    }

    /// Empties the active slot: the probe then decides nothing (and the rollback target stays).
    pub fn clear_active(&self) -> Result<()> {
        let _turn = self.turn();
        let now = self.code_slots()?;
        let [a, s, p] = now.each_ref().map(Option::as_deref);
        self.code_ahead([a, s, p], [None, s, p])?;
        self.clear_slot(SLOT_ACTIVE)
    }

    /// The models in the active, shadow and previous slots.
    fn slots(&self) -> Result<Slots> {
        let read = |slot| Ok::<_, Error>(self.read_slot(slot)?.map(|(_, m)| m));
        Ok([read(SLOT_ACTIVE)?, read(SLOT_SHADOW)?, read(SLOT_PREVIOUS)?])
    }

    fn slot_fd(&self, slot: u32) -> Result<Option<(u32, OwnedFd)>> {
        let mut id = [0u8; 4];
        if !sys::map_lookup(
            self.outer.as_fd(),
            &slot.to_ne_bytes(),
            &mut id,
            "reading a model slot",
        )? {
            return Ok(None);
        }
        let id = u32::from_ne_bytes(id);
        let pin = self.slot_pin(slot);
        if let Ok(fd) = sys::obj_get(&pin) {
            if sys::map_id(fd.as_fd())? == id {
                return Ok(Some((id, fd)));
            }
        }
        // No matching pin (an older layout, or an interrupted swap): open by id, which needs
        // CAP_SYS_ADMIN.
        Ok(Some((id, sys::map_fd_by_id(id)?)))
    }

    fn slot_pin(&self, slot: u32) -> std::path::PathBuf {
        self.dir.join(SLOT_PINS[(slot as usize).min(SLOT_PINS.len() - 1)])
    }

    fn repin(&self, slot: u32, inner: Option<BorrowedFd<'_>>) -> Result<()> {
        let pin = self.slot_pin(slot);
        bpffs::unpin(&pin)?;
        match inner {
            Some(fd) => sys::obj_pin(fd, &pin),
            None => Ok(()),
        }
    }

    fn set_slot(&self, slot: u32, inner: BorrowedFd<'_>) -> Result<()> {
        let fd = (inner.as_raw_fd() as u32).to_ne_bytes();
        sys::map_update(
            self.outer.as_fd(),
            &slot.to_ne_bytes(),
            &fd,
            "swapping a model slot",
        )?;
        self.repin(slot, Some(inner))
    }

    fn clear_slot(&self, slot: u32) -> Result<()> {
        sys::map_delete(self.outer.as_fd(), &slot.to_ne_bytes(), "clearing a model slot")?;
        self.repin(slot, None)
    }

    /// The model in `slot`, read back from the kernel.
    pub fn read_slot(&self, slot: u32) -> Result<Option<(u32, Box<Model>)>> {
        let Some((id, fd)) = self.slot_fd(slot)? else {
            return Ok(None);
        };
        let mut model = Box::new(Model::zeroed());
        // SAFETY: Model is plain old data; the kernel writes exactly size_of::<Model>() bytes.
        let buf = unsafe {
            std::slice::from_raw_parts_mut((&raw mut *model).cast::<u8>(), std::mem::size_of::<Model>())
        };
        sys::map_lookup(fd.as_fd(), &0u32.to_ne_bytes(), buf, "reading a model")?;
        Ok(Some((id, model)))
    }

    /// The model in a map of its own, not yet in any slot: everything that can refuse a model
    /// (its feature mask, map creation, the kernel's write) happens here, before a slot changes.
    fn prepare(&self, model: &Model) -> Result<OwnedFd> {
        check_feature_mask(model)?;
        let inner = new_inner_map()?;
        sys::map_update(
            inner.as_fd(),
            &0u32.to_ne_bytes(),
            model_bytes(model),
            "writing the model into a new map",
        )?;
        Ok(inner)
    }

    /// Makes `model` the active one; the active one becomes the rollback target. The new model
    /// is prepared first, so a model that is refused leaves active and previous as they were.
    /// The model already active changes nothing ([`Self::deploy_to`] says so).
    pub fn deploy(&self, model: &Model) -> Result<()> {
        self.deploy_to(model, false).map(drop)
    }

    /// [`Self::deploy`] (`shadow` false) or [`Self::deploy_shadow`] (`shadow` true), saying
    /// whether a slot changed: the model already in that slot (byte for byte) is left as it
    /// is, and so are the other slots (deploying the active model again must not make it its
    /// own rollback target).
    pub fn deploy_to(&self, model: &Model, shadow: bool) -> Result<Deployed> {
        let inner = self.prepare(model)?;
        let _turn = self.turn();
        let slot = if shadow { SLOT_SHADOW } else { SLOT_ACTIVE };
        if self.holds(slot, model)? {
            return Ok(Deployed::Unchanged);
        }
        if shadow {
            self.swap_shadow(model, &inner)?;
        } else {
            self.swap_active(model, &inner)?;
        }
        Ok(Deployed::Swapped)
    }

    /// Whether `slot` holds `model`, byte for byte.
    fn holds(&self, slot: u32, model: &Model) -> Result<bool> {
        Ok(self
            .read_slot(slot)?
            .is_some_and(|(_, m)| model_bytes(&m) == model_bytes(model)))
    }

    fn swap_active(&self, model: &Model, inner: &OwnedFd) -> Result<()> {
        let now = self.code_slots()?;
        let [a, s, p] = now.each_ref().map(Option::as_deref);
        self.code_ahead([a, s, p], [Some(model), s, a.or(p)])?;
        if let Some((_, current)) = self.slot_fd(SLOT_ACTIVE)? {
            self.set_slot(SLOT_PREVIOUS, current.as_fd())?;
        }
        self.set_slot(SLOT_ACTIVE, inner.as_fd())
    }

    /// Puts `model` beside the active one, evaluated but never acting (the model already in
    /// the shadow slot changes nothing).
    pub fn deploy_shadow(&self, model: &Model) -> Result<()> {
        self.deploy_to(model, true).map(drop)
    }

    fn swap_shadow(&self, model: &Model, inner: &OwnedFd) -> Result<()> {
        let now = self.code_slots()?;
        let [a, s, p] = now.each_ref().map(Option::as_deref);
        self.code_ahead([a, s, p], [a, Some(model), p])?;
        self.set_slot(SLOT_SHADOW, inner.as_fd())
    }

    pub fn clear_shadow(&self) -> Result<()> {
        let _turn = self.turn();
        let now = self.code_slots()?;
        let [a, s, p] = now.each_ref().map(Option::as_deref);
        self.code_ahead([a, s, p], [a, None, p])?;
        self.clear_slot(SLOT_SHADOW)
    }

    /// The shadow model becomes the active one (the active one the rollback target). A shadow
    /// that is the active model already only leaves the shadow slot: the rollback target stays.
    pub fn promote_shadow(&self) -> Result<()> {
        let _turn = self.turn();
        let Some((_, shadow)) = self.slot_fd(SLOT_SHADOW)? else {
            fail!(State, "no shadow model on {} to promote", self.iface);
        };
        if let Some((_, m)) = self.read_slot(SLOT_SHADOW)? {
            if self.holds(SLOT_ACTIVE, &m)? {
                let now = self.code_slots()?;
                let [a, s, p] = now.each_ref().map(Option::as_deref);
                self.code_ahead([a, s, p], [a, None, p])?;
                return self.clear_slot(SLOT_SHADOW);
            }
        }
        let now = self.code_slots()?;
        let [a, s, p] = now.each_ref().map(Option::as_deref);
        self.code_ahead([a, s, p], [s, None, a.or(p)])?;
        if let Some((_, current)) = self.slot_fd(SLOT_ACTIVE)? {
            self.set_slot(SLOT_PREVIOUS, current.as_fd())?;
        }
        self.set_slot(SLOT_ACTIVE, shadow.as_fd())?;
        self.clear_slot(SLOT_SHADOW)
    }

    /// Swaps the active and the previous model (a second rollback undoes the first). Refused
    /// when there is no previous model, or when it is the active model itself (nothing
    /// different to restore).
    pub fn rollback(&self) -> Result<()> {
        let _turn = self.turn();
        let Some((_, previous)) = self.slot_fd(SLOT_PREVIOUS)? else {
            fail!(State, "no previous model on {} to roll back to", self.iface);
        };
        if let Some((_, m)) = self.read_slot(SLOT_PREVIOUS)? {
            if self.holds(SLOT_ACTIVE, &m)? {
                fail!(
                    State,
                    "nothing to roll back to on {}: the previous model {} is the active model",
                    self.iface,
                    id_string(m.header.model_id)
                );
            }
        }
        let now = self.code_slots()?;
        let [a, s, p] = now.each_ref().map(Option::as_deref);
        self.code_ahead([a, s, p], [p, s, a])?;
        let current = self.slot_fd(SLOT_ACTIVE)?;
        self.set_slot(SLOT_ACTIVE, previous.as_fd())?;
        match current {
            Some((_, fd)) => self.set_slot(SLOT_PREVIOUS, fd.as_fd()),
            None => self.clear_slot(SLOT_PREVIOUS),
        }
    }

    /// Adds the score scale of every model in a slot that `book` does not know yet.
    pub fn add_scales(&self, book: &mut workbench_flow::model::scale::ScaleBook) {
        for slot in [SLOT_ACTIVE, SLOT_SHADOW, SLOT_PREVIOUS] {
            if let Ok(Some((_, m))) = self.read_slot(slot) {
                if !book.contains(m.header.model_id) {
                    book.insert(&m);
                }
            }
        }
    }

    pub fn report(&self) -> Result<ModelsReport> {
        let info = |slot| -> Result<Option<SlotInfo>> {
            Ok(self.read_slot(slot)?.map(|(id, m)| SlotInfo {
                model: id_string(m.header.model_id),
                kind: kind_name(m.header.kind),
                kernel_map_id: id,
            }))
        };
        let config = read_config_at(&self.dir)?;
        let code = super::code::status(&self.dir);
        Ok(ModelsReport {
            iface: self.iface.clone(),
            active: info(SLOT_ACTIVE)?,
            shadow: info(SLOT_SHADOW)?,
            previous: info(SLOT_PREVIOUS)?,
            mode: mode_name(config.mode),
            decide_first_packets: config.decide_first_packets,
            decide_every: config.decide_every,
            clock: clock_name(config.clock),
            drop_unparsed: unparsed::names(config.drop_unparsed),
            older_probe_lacks: crate::probe::vintage::lacks(&self.iface).unwrap_or_default(),
            allowlist: super::allowlist::list(&self.iface)
                .map(|l| l.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
            attach_mode: if self.dir.join(super::tc::PIN_TC_RECORD).exists() {
                "tc"
            } else {
                "tcx"
            },
            engine: code.engine,
            code_program_id: code.program_id,
        })
    }
}

/// The probe computes only the features in its models' masks (docs/MODEL_ENGINE.md): a model
/// reading a feature outside its mask would be scored on stale values, so it is refused.
fn check_feature_mask(model: &Model) -> Result<()> {
    let used = workbench_flow::model::build::used_features(model);
    if used != model.header.feature_mask {
        fail!(
            Invalid,
            "model {}: its feature mask is {:#x} but its nodes or terms read features {:#x}; \
             the probe computes only the masked features, so it is not installed",
            id_string(model.header.model_id),
            model.header.feature_mask,
            used
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_reading_outside_its_feature_mask_is_refused() {
        let mut m = workbench_flow::model::build::syn_count_tree(3).expect("tree");
        check_feature_mask(&m).expect("a sealed model passes");
        m.header.feature_mask = 1 << 3;
        let err = check_feature_mask(&m).expect_err("refused").to_string();
        assert!(
            err.contains("feature mask is 0x8") && err.contains("read features 0x200000"),
            "{err}"
        );
    }
}
