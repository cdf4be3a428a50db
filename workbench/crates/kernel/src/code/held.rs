//! Which models the copy in place holds, pinned beside it (`code_models`): a slot change whose
//! models the copy holds already needs no new copy.

use std::os::fd::AsFd;
use std::path::Path;

use shared::model::Model;

use super::{in_use, HeldModel, PIN_CODE_MODELS};
use crate::error::Result;
use crate::sys;
use workbench_flow::model::id_string;

/// The most models one copy holds: active, previous and next in the active function, shadow
/// and next shadow in the other (with one to spare).
pub(super) const HELD_MAX: usize = 6;
/// The held-models map's value: counts, then (id, checksum, instructions) per model, then which
/// functions are inlined ([`INLINED_ACTIVE`], [`INLINED_SHADOW`]; a map pinned by a build before
/// that word was added is one word shorter, reads it as 0 and does not store it).
const HELD_WORDS: usize = 3 + 3 * HELD_MAX;
const INLINED: usize = 2 + 3 * HELD_MAX;
const INLINED_ACTIVE: u32 = 1;
const INLINED_SHADOW: u32 = 2;
fn inlined_bit(function: &str) -> u32 {
    if function == "active" {
        INLINED_ACTIVE
    } else {
        INLINED_SHADOW
    }
}

/// The models of the copy in place, as the held-models pin records them (without the reasons
/// the table scores some: those are in the report of the compile that made the copy).
pub(super) fn read_held(dir: &Path) -> Vec<HeldModel> {
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
    let inlined = word(INLINED);
    (0..(actives + shadows).min(HELD_MAX))
        .map(|k| {
            let id = word(2 + 3 * k);
            let function = if k < actives { "active" } else { "shadow" };
            HeldModel {
                model: id_string(id),
                function,
                instructions: word(4 + 3 * k) as usize,
                table_because: None,
                inlined: inlined & inlined_bit(function) != 0,
                id,
                checksum: word(3 + 3 * k),
            }
        })
        .collect()
}

/// Records which models the copy just put in place holds.
pub(super) fn write_held(dir: &Path, held: &[HeldModel]) -> Result<()> {
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
    let of = |function: &'static str| held.iter().filter(move |h| h.function == function);
    words[0] = of("active").count() as u32;
    words[1] = of("shadow").count() as u32;
    // Active ones first, as `read_held` reads them.
    for (k, h) in of("active").chain(of("shadow")).take(HELD_MAX).enumerate() {
        words[2 + 3 * k] = h.id;
        words[3 + 3 * k] = h.checksum;
        words[4 + 3 * k] = h.instructions as u32;
        if h.inlined {
            words[INLINED] |= inlined_bit(h.function);
        }
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
    let has = |function: &str, m: &Model| held.iter().any(|h| h.function == function && h.is(m));
    active.iter().all(|m| has("active", m)) && shadow.iter().all(|m| has("shadow", m))
}
