//! Verdict events as EVE-style JSON lines, in the shape of Suricata's EVE output, so that the
//! pipelines that already read Suricata (Vector, Filebeat's Suricata module, Splunk) take them
//! with the least mapping. The schema is docs/schema/eve-verdict.schema.json; docs/EVENTS.md says
//! where each key comes from and where it differs from Suricata:
//!
//! - `timestamp`: RFC 3339 with microseconds in UTC, `2026-12-06T03:54:02.123456+00:00`. Suricata
//!   writes the offset as `+0000`, which RFC 3339 does not allow; `+00:00` is what JSON Schema's
//!   `date-time` and Elasticsearch's default date format both accept. The probe stamps events with
//!   the kernel's monotonic clock (`bpf_ktime_get_ns`); [`ClockOffset`] turns that into wall-clock
//!   time with the offset between CLOCK_REALTIME and CLOCK_MONOTONIC read once when the reader
//!   opens, and the raw value stays in `timestamp_ns`.
//! - `flow_id`: [`flow_id`], a hash of the 5-tuple (and VLAN), the same for both directions.
//! - `vlan`: the outermost VLAN tag's id in a list, as Suricata writes its tags (it lists the
//!   inner QinQ tag too, which the probe does not keep); absent untagged, as in Suricata.
//! - `proto`: [`proto_name`], upper-case as Suricata writes it.
//! - the model's part in one object, `workbench`, as Suricata keeps an alert's in `alert`.

use std::borrow::Cow;
use std::net::IpAddr;

use serde::Serialize;
use shared::abi::VerdictEvent;
use shared::FlowKey;
use workbench_flow::flowfmt::FlowTuple;

use crate::flows::verdict_name;

/// The largest integer a JSON reader that keeps numbers as doubles (JavaScript, jq) reads
/// exactly: flow ids stay below it.
pub const FLOW_ID_MASK: u64 = (1 << 53) - 1;

/// A stable id of the flow whose key is `key`: FNV-1a (64 bits) over the key's fields in a fixed
/// order, masked to 53 bits. The key is already direction-free (its endpoints are ordered), so
/// both directions get the same id; a fixed hash (not std's, whose output may change between
/// releases) gives the same id on every host and in every version, so events of one flow seen by
/// two hosts join on it. Unlike Suricata's, the id does not mix in the flow's start time: a
/// 5-tuple used again later gets the same id. The VLAN id is fed only when there is one, so an
/// untagged flow keeps the id it had before the VLAN was part of the key.
pub fn flow_id(key: &FlowKey) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    feed(&[key.ip_version, key.proto]);
    feed(&key.addr_lo);
    feed(&key.addr_hi);
    feed(&key.port_lo.to_be_bytes());
    feed(&key.port_hi.to_be_bytes());
    if key.vlan_id != 0 {
        feed(&key.vlan_id.to_be_bytes());
    }
    h & FLOW_ID_MASK
}

/// The protocol as Suricata's EVE writes it: "TCP", "UDP", "ICMP", "IPv6-ICMP" (the IANA name
/// Suricata uses for ICMPv6), and any other protocol as its decimal number.
pub fn proto_name(proto: u8) -> Cow<'static, str> {
    match proto {
        1 => "ICMP".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        58 => "IPv6-ICMP".into(),
        n => n.to_string().into(),
    }
}

/// Converts the probe's monotonic timestamps into wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockOffset {
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC, nanoseconds.
    realtime_minus_monotonic_ns: i128,
}

fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; both clocks exist on every Linux.
    unsafe { libc::clock_gettime(clock, &raw mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

impl ClockOffset {
    /// Reads both clocks now: the monotonic clock before and after the real-time one, and takes
    /// the middle, so that the offset is off by at most half the time between the reads.
    pub fn read() -> Self {
        let before = clock_ns(libc::CLOCK_MONOTONIC);
        let real = clock_ns(libc::CLOCK_REALTIME);
        let after = clock_ns(libc::CLOCK_MONOTONIC);
        ClockOffset {
            realtime_minus_monotonic_ns: real - (before + after) / 2,
        }
    }

    /// A fixed offset (tests, and replays of recorded events).
    pub fn from_ns(realtime_minus_monotonic_ns: i128) -> Self {
        ClockOffset {
            realtime_minus_monotonic_ns,
        }
    }

    /// Nanoseconds since the Unix epoch of the monotonic instant `monotonic_ns`.
    pub fn unix_ns(&self, monotonic_ns: u64) -> i128 {
        i128::from(monotonic_ns) + self.realtime_minus_monotonic_ns
    }
}

/// `unix_ns` (nanoseconds since the Unix epoch, UTC) as RFC 3339 with microseconds:
/// `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`. Truncates to the microsecond, as Suricata does.
pub fn rfc3339_micros(unix_ns: i128) -> String {
    let micros = unix_ns.div_euclid(1_000);
    let secs = micros.div_euclid(1_000_000);
    let frac_us = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac_us:06}+00:00",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Year, month, day of the day `days` after 1970-01-01 in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i128) -> (i128, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i128::from(m <= 2);
    (y, m, d)
}

/// The model's part of a verdict event.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WorkbenchVerdict {
    /// Id of the active model that decided (`model show` prints the same).
    pub model: String,
    /// P(malicious) in 0..1 (null for a model already gone from every slot of the probe when the
    /// event was read).
    pub score: Option<f64>,
    /// The probe's fixed-point score as it is (a logistic model's logit x 2^16).
    pub score_raw: i64,
    /// "benign" or "malicious".
    pub verdict: &'static str,
    /// The shadow model scored at the same decision, and its verdict (both null without one).
    pub shadow_model: Option<String>,
    pub shadow_verdict: Option<&'static str>,
    /// Packets of the flow (both directions) when it was decided.
    pub packets: u32,
}

/// One verdict change of a flow, oriented from the flow's initiator.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EveVerdict {
    pub timestamp: String,
    /// The probe's kernel monotonic clock, nanoseconds (what `timestamp` was made from).
    pub timestamp_ns: u64,
    pub event_type: &'static str,
    pub flow_id: u64,
    pub src_ip: IpAddr,
    pub src_port: u16,
    pub dest_ip: IpAddr,
    pub dest_port: u16,
    pub proto: Cow<'static, str>,
    /// `[id]` of the flow's outermost VLAN tag; absent untagged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<[u16; 1]>,
    pub workbench: WorkbenchVerdict,
}

impl EveVerdict {
    /// The event `ev` read from the probe, with its score as a probability when the model's
    /// scale is known.
    pub fn of(ev: &VerdictEvent, clock: &ClockOffset, probability: Option<f64>) -> Self {
        let tuple = FlowTuple::of(&ev.key, ev.initiator_is_lo != 0);
        let shadow = (ev.shadow_verdict != shared::flow::VERDICT_NONE).then_some(ev);
        EveVerdict {
            timestamp: rfc3339_micros(clock.unix_ns(ev.ts_ns)),
            timestamp_ns: ev.ts_ns,
            event_type: "verdict",
            flow_id: flow_id(&ev.key),
            src_ip: tuple.src_ip,
            src_port: tuple.src_port,
            dest_ip: tuple.dest_ip,
            dest_port: tuple.dest_port,
            proto: proto_name(ev.key.proto),
            vlan: (ev.key.vlan_id != 0).then_some([ev.key.vlan_id]),
            workbench: WorkbenchVerdict {
                model: workbench_flow::model::id_string(ev.model_id),
                score: probability,
                score_raw: ev.score,
                verdict: verdict_name(ev.verdict),
                shadow_model: shadow.map(|e| workbench_flow::model::id_string(e.shadow_model_id)),
                shadow_verdict: shadow.map(|e| verdict_name(e.shadow_verdict)),
                packets: ev.packets,
            },
        }
    }

    /// The event as one line of JSON (no newline).
    pub fn to_line(&self) -> String {
        // Serializing these fields cannot fail (string keys, finite or null numbers: a NaN
        // score would become null).
        serde_json::to_string(self).unwrap_or_default()
    }
}
