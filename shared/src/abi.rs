//! What the probe and userspace agree on beyond flows: model slots, the runtime configuration
//! and the events the probe emits.

use crate::flow::FlowKey;
use crate::packet::{ParseError, ParsedPacket};

/// Slots of the outer map of models (an ARRAY_OF_MAPS; each inner map holds one `Model`).
pub const SLOT_ACTIVE: u32 = 0;
/// Evaluated beside the active model; never acts.
pub const SLOT_SHADOW: u32 = 1;
/// The model before the active one, kept for a one-step rollback; the probe never reads it.
pub const SLOT_PREVIOUS: u32 = 2;
pub const MODEL_SLOTS: u32 = 3;
/// What a compiled-model function returns for a slot without code (above every u32, so never
/// a model's id): the probe then scores the slot's model with the table interpreter.
pub const CODE_NO_MODEL: u64 = 1 << 32;

pub const MODE_MONITOR: u32 = 0;
/// Drop packets of flows whose active verdict is malicious.
pub const MODE_ENFORCE: u32 = 1;
/// Count what enforce would drop (`would_drop`), but pass every packet.
pub const MODE_DRY_RUN: u32 = 2;

/// Allowlist keys (an LPM trie): the IP version byte, then the 16 address bytes, so an IPv4
/// prefix never matches an IPv6 address. The prefix length counts the version byte's 8 bits.
pub const ALLOW_KEY_BYTES: usize = 17;
pub const ALLOW_VERSION_BITS: u32 = 8;

#[inline(always)]
pub fn allow_key(ip_version: u8, addr: &[u8; 16]) -> [u8; ALLOW_KEY_BYTES] {
    let mut k = [0u8; ALLOW_KEY_BYTES];
    k[0] = ip_version;
    let mut i = 0;
    while i < 16 {
        k[1 + i] = addr[i];
        i += 1;
    }
    k
}

/// Runtime configuration (a one-entry array map), changed without reloading the program.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeConfig {
    pub mode: u32,
    /// Evaluate at packets 1..=decide_first_packets of every flow ...
    pub decide_first_packets: u32,
    /// ... and then at every decide_every-th packet (0: not again).
    pub decide_every: u32,
    /// 1: emit a [`PacketRecord`] for every parsed packet (`workbench verify`).
    pub record_packets: u32,
    /// The clock that stamps packets: [`CLOCK_NS`] or [`CLOCK_COARSE`].
    pub clock: u32,
    /// Frames the probe cannot read that enforce mode drops (dry-run counts them), one bit per
    /// [`ParseError`] ([`unparsed_bit`]); [`NEVER_DROPPED`] is ignored. A frame it cannot read
    /// joins no flow, so the model never sees it: without this, padding a malicious flow's
    /// packets past the parser's limits (a sixth IPv6 extension header) would carry it through
    /// enforce mode. Added after `clock`: an older probe's map is 20 bytes and has no policy.
    pub drop_unparsed: u32,
}
const _: () = assert!(core::mem::size_of::<ProbeConfig>() == 24);

/// The bit of `reason` in [`ProbeConfig::drop_unparsed`].
#[inline(always)]
pub const fn unparsed_bit(reason: ParseError) -> u32 {
    1 << reason as u32
}

/// Frames that are never dropped for being unreadable: not IP (ARP, LLDP, ...), which the
/// probe has no business reading; dropping ARP would cut the machine off its network.
pub const NEVER_DROPPED: u32 = unparsed_bit(ParseError::NotIp);

/// The default policy: a chain of more IPv6 extension headers than the parser walks, which no
/// stack sends on its own (RFC 9098) and which exists to hide the transport header.
pub const DROP_UNPARSED_DEFAULT: u32 = unparsed_bit(ParseError::TooManyIpv6ExtensionHeaders);

/// What `mode` does with a frame the probe could not read for `reason` under the policy
/// `drop_unparsed`; the probe and the tests ask the same function.
#[inline(always)]
pub fn unparsed_action(mode: u32, drop_unparsed: u32, reason: ParseError) -> UnparsedAction {
    if drop_unparsed & !NEVER_DROPPED & unparsed_bit(reason) == 0 {
        return UnparsedAction::Pass;
    }
    match mode {
        MODE_ENFORCE => UnparsedAction::Drop,
        MODE_DRY_RUN => UnparsedAction::WouldDrop,
        _ => UnparsedAction::Pass,
    }
}

/// What the probe does with an unparsed frame ([`unparsed_action`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnparsedAction {
    Pass,
    /// Dropped, counted `dropped_unparsed`.
    Drop,
    /// Passed, counted `would_drop_unparsed` (dry-run).
    WouldDrop,
}

/// `bpf_ktime_get_ns`: the monotonic clock to the nanosecond (about 24 ns a packet on this
/// project's VM, where it is the probe's largest fixed cost).
pub const CLOCK_NS: u32 = 0;
/// `bpf_ktime_get_coarse_ns`: the same clock as of the last timer tick (1-4 ms resolution with
/// HZ 1000-250), a few ns a packet; every time feature is then at tick resolution
/// (docs/FEATURES.md, "The coarse clock").
pub const CLOCK_COARSE: u32 = 1;

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            mode: MODE_MONITOR,
            decide_first_packets: 32,
            decide_every: 16,
            record_packets: 0,
            clock: CLOCK_NS,
            drop_unparsed: DROP_UNPARSED_DEFAULT,
        }
    }
}

/// Emitted on the ring buffer when a flow's active verdict changes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct VerdictEvent {
    pub key: FlowKey,
    pub ts_ns: u64,
    pub score: i64,
    pub model_id: u32,
    pub packets: u32,
    pub verdict: u8,
    pub initiator_is_lo: u8,
    /// The shadow model's verdict at the same decision (`VERDICT_NONE` when no shadow model was
    /// evaluated there), and that model's id (0 then).
    pub shadow_verdict: u8,
    // Padding written with a plain store (a memset of odd-offset bytes needs pointer
    // arithmetic that the verifier refuses without CAP_PERFMON).
    pub _pad8: u8,
    pub shadow_model_id: u32,
}
const _: () = assert!(core::mem::size_of::<VerdictEvent>() == 72);

/// What the probe saw of one packet, in record mode: the parse result and the kernel's
/// timestamp, so that the userspace twin can replay exactly the kernel's inputs.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PacketRecord {
    pub packet: ParsedPacket,
    pub ts_ns: u64,
    pub from_lo: u32,
    pub _pad: u32,
}
const _: () = assert!(core::mem::size_of::<PacketRecord>() == 80);

#[cfg(test)]
mod tests {
    use super::*;

    /// Only enforce drops, only dry-run counts, only the reasons the policy names, and never a
    /// frame that is not IP, whatever the policy says.
    #[test]
    fn unparsed_frames_are_dropped_only_in_enforce_mode_and_only_as_the_policy_names() {
        let six = ParseError::TooManyIpv6ExtensionHeaders;
        let default = ProbeConfig::default().drop_unparsed;
        assert_eq!(default, DROP_UNPARSED_DEFAULT);
        assert_eq!(unparsed_action(MODE_ENFORCE, default, six), UnparsedAction::Drop);
        assert_eq!(
            unparsed_action(MODE_DRY_RUN, default, six),
            UnparsedAction::WouldDrop
        );
        assert_eq!(unparsed_action(MODE_MONITOR, default, six), UnparsedAction::Pass);
        for reason in ParseError::ALL {
            if reason != six {
                assert_eq!(
                    unparsed_action(MODE_ENFORCE, default, reason),
                    UnparsedAction::Pass,
                    "{reason:?}"
                );
            }
        }
        assert_eq!(unparsed_action(MODE_ENFORCE, 0, six), UnparsedAction::Pass);
        let every = u32::MAX;
        assert_eq!(
            unparsed_action(MODE_ENFORCE, every, ParseError::NotIp),
            UnparsedAction::Pass
        );
        assert_eq!(
            unparsed_action(MODE_DRY_RUN, every, ParseError::NotIp),
            UnparsedAction::Pass
        );
        assert_eq!(
            unparsed_action(MODE_ENFORCE, every, ParseError::Fragment),
            UnparsedAction::Drop
        );
        // Every reason has its own bit.
        let bits: u32 = ParseError::ALL.iter().map(|&r| unparsed_bit(r)).fold(0, |a, b| {
            assert_eq!(a & b, 0);
            a | b
        });
        assert_eq!(bits.count_ones() as usize, ParseError::ALL.len());
    }
}
