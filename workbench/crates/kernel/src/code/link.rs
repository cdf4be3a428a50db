//! The copy's instructions: the embedded probe object with its placeholder functions replaced,
//! its maps relocated to the attached probe's pins and its calls linked (aya-obj).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use aya_obj::generated::bpf_insn;
use workbench_flow::model::bpf_code::Insn;

use super::{code_map, CODE_MAP, CODE_PROGRAM, PIN_SCRATCH, SCRATCH_MAP};
use crate::error::{err, Error, Result};
use crate::{allowlist, models, probe, sys};

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
pub(super) fn link(object: &[u8], dir: &Path, bodies: &[(&str, &[Insn])]) -> Result<(Vec<u64>, MapFds)> {
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
        // as `flow_lock::wait` is of .text: without a distinct address here, the calls to
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
