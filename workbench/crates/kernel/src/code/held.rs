//! Which models the copy in place holds, pinned beside it (`code_models`): a slot change whose
//! models the copy holds already needs no new copy.

use std::os::fd::AsFd;
use std::path::Path;

use shared::model::Model;

use super::{in_use, PIN_CODE_MODELS};
use crate::error::Result;
use crate::sys;

/// The most models one copy holds: active, previous and next in the active function, shadow
/// and next shadow in the other (with one to spare).
pub(super) const HELD_MAX: usize = 6;
/// The held-models map's value: counts, then (id, checksum, instructions) per model.
const HELD_WORDS: usize = 2 + 3 * HELD_MAX;

/// The models of the copy in place, as the held-models pin records them: (function, id,
/// checksum, instructions).
pub(super) fn read_held(dir: &Path) -> Vec<(&'static str, u32, u32, u32)> {
    let Ok(fd) = sys::obj_get(&dir.join(PIN_CODE_MODELS)) else {
        return Vec::new();
    };
    let mut value = [0u8; HELD_WORDS * 4];
    if !matches!(
        sys::map_lookup(
            fd.as_fd(),
            &0u32.to_ne_bytes(),
            &mut value,
            "reading the code's models"
        ),
        Ok(true)
    ) {
        return Vec::new();
    }
    let word =
        |i: usize| u32::from_ne_bytes([value[4 * i], value[4 * i + 1], value[4 * i + 2], value[4 * i + 3]]);
    let (actives, shadows) = (word(0) as usize, word(1) as usize);
    (0..(actives + shadows).min(HELD_MAX))
        .map(|k| {
            let function = if k < actives { "active" } else { "shadow" };
            (function, word(2 + 3 * k), word(3 + 3 * k), word(4 + 3 * k))
        })
        .collect()
}

/// Records which models the copy just put in place holds.
pub(super) fn write_held(dir: &Path, held: &[(&'static str, u32, u32, u32)]) -> Result<()> {
    let pin = dir.join(PIN_CODE_MODELS);
    let fd = match sys::obj_get(&pin) {
        Ok(fd) => fd,
        Err(_) => {
            let fd = sys::map_create(
                sys::BPF_MAP_TYPE_ARRAY,
                4,
                (HELD_WORDS * 4) as u32,
                1,
                None,
                "ebml_code_held",
            )?;
            sys::obj_pin(fd.as_fd(), &pin)?;
            fd
        }
    };
    let mut words = [0u32; HELD_WORDS];
    words[0] = held.iter().filter(|h| h.0 == "active").count() as u32;
    words[1] = held.iter().filter(|h| h.0 == "shadow").count() as u32;
    // Active ones first, as `read_held` reads them.
    let ordered = held
        .iter()
        .filter(|h| h.0 == "active")
        .chain(held.iter().filter(|h| h.0 == "shadow"));
    for (k, (_, id, checksum, instructions)) in ordered.take(HELD_MAX).enumerate() {
        words[2 + 3 * k] = *id;
        words[3 + 3 * k] = *checksum;
        words[4 + 3 * k] = *instructions;
    }
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    sys::map_update(
        fd.as_fd(),
        &0u32.to_ne_bytes(),
        &bytes,
        "recording the code's models",
    )
}

/// Whether the copy in place holds every one of `active` and `shadow` in that function (the
/// same id and checksum: the same content).
pub fn holds(dir: &Path, active: &[&Model], shadow: &[&Model]) -> bool {
    if !in_use(dir) {
        return false;
    }
    let held = read_held(dir);
    let has = |function: &str, m: &Model| {
        held.iter()
            .any(|h| h.0 == function && h.1 == m.header.model_id && h.2 == m.header.checksum)
    };
    active.iter().all(|m| has("active", m)) && shadow.iter().all(|m| has("shadow", m))
}
