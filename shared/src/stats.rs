//! Indices of the probe's per-CPU statistics array, and their names for userspace.

use crate::packet::ParseError;

/// Every frame the program ran on.
pub const PACKETS: u32 = 0;
/// Frames that became flow packets. The probe no longer counts them (one per-CPU increment a
/// packet less: 4-5 ns of about 145 in `bench probe`); readers derive them with [`parsed`]. The
/// slot stays, so the indices after it do not move (an older probe still fills it, with the same
/// value [`parsed`] derives).
pub const PARSED: u32 = 1;
/// New entries created in the flow map.
pub const FLOWS_CREATED: u32 = 2;
/// Flow map insertions that failed (should stay 0: the map is an LRU).
pub const FLOW_INSERT_FAILED: u32 = 3;
/// Model evaluations (active model).
pub const EVALUATIONS: u32 = 4;
/// Active verdict changes (each one is an event on the ring buffer).
pub const VERDICT_CHANGES: u32 = 5;
/// Verdict events that did not fit in the ring buffer.
pub const EVENTS_LOST: u32 = 6;
/// Decisions where the shadow model disagreed with the active one.
pub const SHADOW_DISAGREEMENTS: u32 = 7;
/// Packets dropped in enforce mode.
pub const DROPPED: u32 = 8;
/// Packet records (record mode) that did not fit in the ring buffer.
pub const RECORDS_LOST: u32 = 9;
/// Packets of malicious flows passed because an endpoint is on the allowlist.
pub const ALLOWLISTED: u32 = 10;
/// Packets dry-run mode would have dropped.
pub const WOULD_DROP: u32 = 11;
/// Packets left out of their flow because another CPU held the flow's lock for all of the
/// probe's tries (see `FlowEntry::lock`; should stay 0). They pass, and enforce mode acts on the
/// flow's verdict.
pub const FLOW_LOCK_BUSY: u32 = 12;
/// First index of the unparsed reasons, one per [`ParseError`] variant but the later ones
/// (see [`ParseError::stat_index`]).
pub const UNPARSED_BASE: u32 = 13;
/// The unparsed reasons the first probes had, at `UNPARSED_BASE..UNPARSED_BASE + 8`.
const FIRST_UNPARSED_REASONS: u32 = 8;
/// Model evaluations (active or shadow) done by the model's compiled code rather than by the
/// table interpreter (`deploy --engine code`; issue 14). A swap in progress, or a model the
/// code engine does not compile, falls back to the table and is not counted here. After the
/// unparsed reasons: a new counter goes at the end, so a probe attached by an older workbench
/// keeps its indices (its array is shorter, and readers stop at its size).
pub const CODE_EVALUATIONS: u32 = UNPARSED_BASE + FIRST_UNPARSED_REASONS;
/// Frames with more IPv6 extension headers than the parser walks
/// ([`ParseError::TooManyIpv6ExtensionHeaders`]): a reason added after `code_evaluations`, so at
/// the end.
pub const TOO_MANY_IPV6_EXTENSION_HEADERS: u32 = CODE_EVALUATIONS + 1;
/// Unparsed frames enforce mode dropped under the configuration's `drop_unparsed` policy
/// (`shared::abi::unparsed_action`); not in [`DROPPED`], which counts packets of malicious flows.
pub const DROPPED_UNPARSED: u32 = TOO_MANY_IPV6_EXTENSION_HEADERS + 1;
/// Unparsed frames dry-run mode would have dropped under that policy.
pub const WOULD_DROP_UNPARSED: u32 = DROPPED_UNPARSED + 1;
/// Decisions where a shadow model was evaluated and the active model said malicious.
pub const SHADOW_BESIDE_MALICIOUS: u32 = WOULD_DROP_UNPARSED + 1;
/// Of them, decisions where the shadow said benign: what a promotion would stop flagging.
pub const SHADOW_MISSED: u32 = SHADOW_BESIDE_MALICIOUS + 1;
pub const COUNT: u32 = SHADOW_MISSED + 1;

impl ParseError {
    pub const ALL: [ParseError; 9] = [
        ParseError::NotIp,
        ParseError::TooManyVlanTags,
        ParseError::Truncated,
        ParseError::BadIpHeader,
        ParseError::Fragment,
        ParseError::UnknownNextHeader,
        ParseError::UnsupportedProtocol,
        ParseError::BadTransportHeader,
        ParseError::TooManyIpv6ExtensionHeaders,
    ];

    /// Statistics index of this reason: the first eight in order from [`UNPARSED_BASE`], a
    /// later one after the counters that were there when it came.
    #[inline(always)]
    pub fn stat_index(self) -> u32 {
        match self {
            ParseError::TooManyIpv6ExtensionHeaders => TOO_MANY_IPV6_EXTENSION_HEADERS,
            e => UNPARSED_BASE + e as u32,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ParseError::NotIp => "not_ip",
            ParseError::TooManyVlanTags => "too_many_vlan_tags",
            ParseError::Truncated => "truncated",
            ParseError::BadIpHeader => "bad_ip_header",
            ParseError::Fragment => "ip_fragment",
            ParseError::UnknownNextHeader => "ipv6_unknown_next_header",
            ParseError::UnsupportedProtocol => "unsupported_protocol",
            ParseError::BadTransportHeader => "bad_transport_header",
            ParseError::TooManyIpv6ExtensionHeaders => "too_many_ipv6_ext_headers",
        }
    }
}

/// Frames that became flow packets: every frame the probe ran on but the unparsed ones, from
/// `count(index)` (a sum over CPUs, or one CPU's value).
pub fn parsed(count: impl Fn(u32) -> u64) -> u64 {
    let unparsed: u64 = ParseError::ALL.iter().map(|e| count(e.stat_index())).sum();
    count(PACKETS).saturating_sub(unparsed)
}

/// Every statistic's name and total from `by_index` (totals by index; an index past its end, a
/// counter an older probe does not have, reads 0), with `parsed` derived: what every reader of
/// the summed statistics reports.
pub fn named(by_index: &[u64]) -> impl Iterator<Item = (&'static str, u64)> + '_ {
    let at = move |i: u32| by_index.get(i as usize).copied().unwrap_or(0);
    (0..COUNT).map(move |i| (name(i), if i == PARSED { parsed(at) } else { at(i) }))
}

/// Name of a statistics index (snake_case, used as a JSON key).
pub fn name(index: u32) -> &'static str {
    match index {
        PACKETS => "packets",
        PARSED => "parsed",
        FLOWS_CREATED => "flows_created",
        FLOW_INSERT_FAILED => "flow_insert_failed",
        EVALUATIONS => "evaluations",
        VERDICT_CHANGES => "verdict_changes",
        EVENTS_LOST => "events_lost",
        SHADOW_DISAGREEMENTS => "shadow_disagreements",
        DROPPED => "dropped",
        RECORDS_LOST => "records_lost",
        ALLOWLISTED => "allowlisted",
        WOULD_DROP => "would_drop",
        FLOW_LOCK_BUSY => "flow_lock_busy",
        CODE_EVALUATIONS => "code_evaluations",
        DROPPED_UNPARSED => "dropped_unparsed",
        WOULD_DROP_UNPARSED => "would_drop_unparsed",
        SHADOW_BESIDE_MALICIOUS => "shadow_beside_malicious",
        SHADOW_MISSED => "shadow_missed",
        i => match ParseError::ALL.iter().find(|e| e.stat_index() == i) {
            Some(e) => e.name(),
            None => "unknown",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;

    /// Every index has one name, every reason one index, and the indices an older probe has
    /// (up to `code_evaluations`) name what they named before.
    #[test]
    fn every_index_is_named_once_and_old_indices_keep_their_names() {
        let names: std::vec::Vec<&str> = (0..COUNT).map(name).collect();
        assert!(!names.contains(&"unknown"), "{names:?}");
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        for e in ParseError::ALL {
            assert_eq!(name(e.stat_index()), e.name());
        }
        assert_eq!(name(UNPARSED_BASE + 5), "ipv6_unknown_next_header");
        assert_eq!(name(UNPARSED_BASE + 7), "bad_transport_header");
        assert_eq!(CODE_EVALUATIONS, 21);
        assert_eq!(name(22), "too_many_ipv6_ext_headers");
        assert_eq!(name(23), "dropped_unparsed");
        assert_eq!(name(24), "would_drop_unparsed");
        assert_eq!(name(26), "shadow_missed");
        assert_eq!(COUNT, 27);
    }

    #[test]
    fn parsed_frames_are_every_frame_but_the_unparsed_ones() {
        let counts = |i: u32| match i {
            PACKETS => 10,
            // A counter that is not a parse failure does not count against parsed frames.
            FLOWS_CREATED => 4,
            i if i == ParseError::NotIp.stat_index() => 2,
            i if i == ParseError::Truncated.stat_index() => 1,
            _ => 0,
        };
        assert_eq!(parsed(counts), 7);
        // Per-CPU values read at different moments can momentarily disagree: never below 0.
        assert_eq!(parsed(|i| u64::from(i != PACKETS)), 0);
    }

    #[test]
    fn named_totals_derive_parsed_and_read_missing_counters_as_zero() {
        // An older probe: its array ends before `code_evaluations`, and it counted parsed frames.
        let mut by_index = [0u64; CODE_EVALUATIONS as usize];
        by_index[PACKETS as usize] = 10;
        by_index[PARSED as usize] = 7;
        by_index[ParseError::NotIp.stat_index() as usize] = 3;
        by_index[DROPPED as usize] = 2;
        let at = |i: u32| named(&by_index).nth(i as usize);
        assert_eq!(named(&by_index).count(), COUNT as usize);
        assert_eq!(at(PACKETS), Some(("packets", 10)));
        assert_eq!(at(PARSED), Some(("parsed", 7)));
        assert_eq!(at(DROPPED), Some(("dropped", 2)));
        assert_eq!(at(CODE_EVALUATIONS), Some(("code_evaluations", 0)));
        assert_eq!(
            at(TOO_MANY_IPV6_EXTENSION_HEADERS),
            Some(("too_many_ipv6_ext_headers", 0))
        );
        // A new probe leaves the slot at 0: derived all the same.
        by_index[PARSED as usize] = 0;
        assert_eq!(named(&by_index).nth(PARSED as usize), Some(("parsed", 7)));
    }
}
