//! What a probe attached by an older workbench lacks. A probe outlives the workbench that
//! attached it (the agent's `on_exit = "keep"`, a Kubernetes pod restarted on upgrade), and its
//! maps keep the shapes of that build: a shorter statistics array (counters added since read 0)
//! and a shorter configuration (settings added since cannot be set). Said once where it matters
//! (the agent's start, `probe status`) rather than discovered as zeros.

use std::os::fd::AsFd;

use shared::abi::ProbeConfig;
use shared::stats;

use crate::error::Result;
use crate::{bpffs, models, sys};

/// What this build reads or sets that the probe on `iface` lacks, in words; empty for a probe
/// of this build.
pub fn lacks(iface: &str) -> Result<Vec<&'static str>> {
    let dir = bpffs::iface_dir(iface);
    let [_, _, _, stat_entries] = sys::map_shape(sys::obj_get(&dir.join(super::PIN_STATS))?.as_fd())?;
    let [_, _, config_bytes, _] = sys::map_shape(sys::obj_get(&dir.join(models::PIN_CONFIG))?.as_fd())?;
    Ok(lacks_of(stat_entries, config_bytes))
}

/// [`lacks`] from the two map shapes.
fn lacks_of(stat_entries: u32, config_bytes: u32) -> Vec<&'static str> {
    let has = |index: u32| index < stat_entries;
    let mut out = Vec::new();
    if (config_bytes as usize) < std::mem::size_of::<ProbeConfig>() {
        out.push("the policy for frames it cannot read (--drop-unparsed: it drops none)");
    }
    if (config_bytes as usize) < std::mem::offset_of!(ProbeConfig, clock) + 4 {
        out.push("the coarse clock");
    }
    if !has(stats::SHADOW_MISSED) {
        out.push("the shadow's misses (shadow_missed: the agent's promote_max_missed holds nothing back)");
    }
    if !has(stats::TOO_MANY_IPV6_EXTENSION_HEADERS) {
        out.push("the too_many_ipv6_ext_headers counter");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_probes_map_shapes_say_what_it_lacks() {
        let ours = std::mem::size_of::<ProbeConfig>() as u32;
        assert!(
            lacks_of(stats::COUNT, ours).is_empty(),
            "this build's probe lacks nothing"
        );
        // The build before this one: 23 counters, 20 bytes of configuration.
        let before = lacks_of(stats::TOO_MANY_IPV6_EXTENSION_HEADERS + 1, 20);
        assert_eq!(before.len(), 2, "{before:?}");
        assert!(before[0].contains("--drop-unparsed") && before[1].contains("shadow_missed"));
        let oldest = lacks_of(stats::CODE_EVALUATIONS, 16);
        assert_eq!(oldest.len(), 4, "{oldest:?}");
    }
}
