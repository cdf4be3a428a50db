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

/// The shapes of a probe's statistics and configuration maps, which tell its build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vintage {
    stat_entries: u32,
    config_bytes: usize,
}

impl Vintage {
    /// The probe attached to `iface`.
    pub fn of(iface: &str) -> Result<Vintage> {
        let dir = bpffs::iface_dir(iface);
        let [_, _, _, stat_entries] = sys::map_shape(sys::obj_get(&dir.join(super::PIN_STATS))?.as_fd())?;
        Ok(Vintage {
            stat_entries,
            config_bytes: models::config_bytes(iface)?,
        })
    }

    /// Whether its configuration has room for the policy for frames it cannot read.
    pub fn has_unparsed_policy(&self) -> bool {
        self.config_bytes >= std::mem::size_of::<ProbeConfig>()
    }

    /// What this build reads or sets that the probe lacks, in words; empty for a probe of this
    /// build.
    pub fn lacks(&self) -> Vec<&'static str> {
        let has = |index: u32| index < self.stat_entries;
        let mut out = Vec::new();
        if !self.has_unparsed_policy() {
            out.push("the policy for frames it cannot read (--drop-unparsed: it drops none)");
        }
        if self.config_bytes < std::mem::offset_of!(ProbeConfig, clock) + 4 {
            out.push("the coarse clock");
        }
        if !has(stats::SHADOW_MISSED) {
            out.push(
                "the shadow's misses (shadow_missed: the agent's promote_max_missed holds nothing back)",
            );
        }
        if !has(stats::TOO_MANY_IPV6_EXTENSION_HEADERS) {
            out.push("the too_many_ipv6_ext_headers counter");
        }
        out
    }
}

/// [`Vintage::lacks`] of the probe on `iface`.
pub fn lacks(iface: &str) -> Result<Vec<&'static str>> {
    Ok(Vintage::of(iface)?.lacks())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vintage(stat_entries: u32, config_bytes: usize) -> Vintage {
        Vintage {
            stat_entries,
            config_bytes,
        }
    }

    #[test]
    fn an_older_probes_map_shapes_say_what_it_lacks() {
        let ours = vintage(stats::COUNT, std::mem::size_of::<ProbeConfig>());
        assert!(ours.lacks().is_empty(), "this build's probe lacks nothing");
        assert!(ours.has_unparsed_policy());
        // The build before this one: 23 counters, 20 bytes of configuration.
        let before = vintage(stats::TOO_MANY_IPV6_EXTENSION_HEADERS + 1, 20);
        let lacks = before.lacks();
        assert_eq!(lacks.len(), 2, "{lacks:?}");
        assert!(lacks[0].contains("--drop-unparsed") && lacks[1].contains("shadow_missed"));
        assert!(!before.has_unparsed_policy());
        let oldest = vintage(stats::CODE_EVALUATIONS, 16).lacks();
        assert_eq!(oldest.len(), 4, "{oldest:?}");
    }
}
