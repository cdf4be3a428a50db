//! Rules files: an ordered list of `[[rule]]` tables, each a conjunction of conditions on the
//! flow (oriented from its initiator) and a label; the first rule that matches labels the flow.
//!
//! ```toml
//! [[rule]]
//! label = "attack"
//! attack_type = "synflood"        # optional; adds the attack_type column
//! src = "10.0.0.0/8"              # CIDR or one address; the initiator
//! dst = "192.168.10.50"           # the responder
//! src_port = "1024-65535"         # a port or an inclusive range "lo-hi"
//! dst_port = 80
//! proto = "tcp"                   # tcp, udp, icmp, icmpv6 or a number
//! from = "2017-07-07T15:56:00Z"   # first packet at or after (RFC 3339 or ns since 1970)
//! until = 1499443200000000000     # first packet before
//! capture = "apps/*"              # the capture file the flow is in (end of its path, `*` wildcard)
//! ```
//! A rule without conditions matches every flow (a catch-all, e.g. `label = "BENIGN"` last).

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use super::{invalid, io_at, Result};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::capture::CapturePattern;
use super::time::parse_rfc3339_ns;
use super::{intern, Assigned, FlowFacts, RuleCount};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rule: Vec<toml::Spanned<RuleSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    label: String,
    attack_type: Option<String>,
    src: Option<Cidr>,
    dst: Option<Cidr>,
    src_port: Option<PortRange>,
    dst_port: Option<PortRange>,
    proto: Option<Proto>,
    from: Option<TimeNs>,
    until: Option<TimeNs>,
    capture: Option<CapturePattern>,
}

/// An address prefix; addresses of the other family never match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(a) => (u32::from(a) as u128, 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

/// An address range in a rule that does not parse, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a CIDR such as 10.0.0.0/8 or 2001:db8::/32 ({why})")]
pub struct NotACidr {
    pub text: String,
    /// `bad address`, `bad prefix length`, `prefix length above 32`.
    pub why: String,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, NotACidr> {
        let bad = |why: String| NotACidr {
            text: s.to_string(),
            why,
        };
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad("bad address".into()))?;
        let max = bits(addr).1;
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().map_err(|_| bad("bad prefix length".into()))?,
            None => max,
        };
        if prefix > max {
            return Err(bad(format!("prefix length above {max}")));
        }
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, width) = bits(self.addr);
        let (a, w) = bits(ip);
        if w != width {
            return false;
        }
        let shift = (width - self.prefix) as u32;
        // A /0 shifts by the full width, which u128 allows only below 128 bits.
        shift >= 128 || (net >> shift) == (a >> shift)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Cidr::parse(&s).map_err(de::Error::custom)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PortRange(u16, u16);

struct PortVisitor;

impl<'de> Visitor<'de> for PortVisitor {
    type Value = PortRange;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a port (0..65535) or a range such as \"1024-65535\"")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortRange, E> {
        let p = u16::try_from(v).map_err(|_| E::custom(format!("port {v} is outside 0..65535")))?;
        Ok(PortRange(p, p))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<PortRange, E> {
        let port = |s: &str| {
            s.trim()
                .parse::<u16>()
                .map_err(|_| E::custom(format!("`{v}` is not a port or a range such as 1024-65535")))
        };
        let (lo, hi) = match v.split_once('-') {
            Some((lo, hi)) => (port(lo)?, port(hi)?),
            None => (port(v)?, port(v)?),
        };
        if lo > hi {
            return Err(E::custom(format!("port range `{v}` ends before it starts")));
        }
        Ok(PortRange(lo, hi))
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PortVisitor)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Proto(u8);

struct ProtoVisitor;

impl<'de> Visitor<'de> for ProtoVisitor {
    type Value = Proto;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("tcp, udp, icmp, icmpv6 or an IP protocol number")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Proto, E> {
        u8::try_from(v)
            .map(Proto)
            .map_err(|_| E::custom(format!("protocol {v} is outside 0..255")))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Proto, E> {
        match v.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Proto(6)),
            "udp" => Ok(Proto(17)),
            "icmp" => Ok(Proto(1)),
            "icmpv6" => Ok(Proto(58)),
            _ => Err(E::custom(format!(
                "`{v}` is not a protocol: expected tcp, udp, icmp, icmpv6 or a number"
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for Proto {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ProtoVisitor)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TimeNs(u64);

struct TimeVisitor;

impl<'de> Visitor<'de> for TimeVisitor {
    type Value = TimeNs;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("nanoseconds since 1970 or an RFC 3339 time with an offset")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<TimeNs, E> {
        u64::try_from(v)
            .map(TimeNs)
            .map_err(|_| E::custom(format!("time {v} ns is before 1970")))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<TimeNs, E> {
        parse_rfc3339_ns(v).map(TimeNs).map_err(E::custom)
    }
    /// An unquoted TOML date-time reaches serde as a one-entry map holding its text.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TimeNs, A::Error> {
        let (_, text): (String, String) = map
            .next_entry()?
            .ok_or_else(|| de::Error::custom("an empty time"))?;
        parse_rfc3339_ns(&text).map(TimeNs).map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for TimeNs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TimeVisitor)
    }
}

struct Rule {
    spec: RuleSpec,
    line: usize,
    label: u32,
    attack_type: Option<u32>,
    flows: u64,
}

impl Rule {
    fn matches(&self, f: &FlowFacts, capture: Option<&Path>) -> bool {
        let s = &self.spec;
        let port = |r: Option<PortRange>, p: u16| r.is_none_or(|PortRange(lo, hi)| (lo..=hi).contains(&p));
        s.src.is_none_or(|c| c.contains(f.src_ip))
            && s.dst.is_none_or(|c| c.contains(f.dst_ip))
            && port(s.src_port, f.src_port)
            && port(s.dst_port, f.dst_port)
            && s.proto.is_none_or(|p| p.0 == f.proto)
            && s.from.is_none_or(|t| f.first_seen_ns >= t.0)
            && s.until.is_none_or(|t| f.first_seen_ns < t.0)
            && s.capture
                .as_ref()
                .is_none_or(|p| capture.is_some_and(|c| p.matches(c)))
    }
}

pub struct Rules {
    rules: Vec<Rule>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

/// A TOML error as one line: file, line, the key on that line, the message.
fn one_line(file: &str, text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', "; ");
    let Some(span) = e.span() else {
        return format!("{file}: {message}");
    };
    let line = line_of(text, span.start);
    let key = text
        .lines()
        .nth(line - 1)
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !message.contains(&format!("`{k}`")));
    match key {
        Some(k) => format!("{file}:{line}: key `{k}`: {message}"),
        None => format!("{file}:{line}: {message}"),
    }
}

impl Rules {
    pub fn load(path: &Path, names: &mut Vec<String>) -> Result<Rules> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(io_at(&file, "cannot read"))?;
        let parsed: RulesFile =
            toml::from_str(&text).map_err(|e| super::LabelsError::Invalid(one_line(&file, &text, &e)))?;
        if parsed.rule.is_empty() {
            return Err(invalid!("{file}: no rules: expected one or more [[rule]] tables"));
        }
        let mut rules = Vec::with_capacity(parsed.rule.len());
        for spanned in parsed.rule {
            let line = line_of(&text, spanned.span().start);
            let spec = spanned.into_inner();
            if let (Some(from), Some(until)) = (spec.from, spec.until) {
                if until.0 <= from.0 {
                    return Err(invalid!(
                        "{file}:{line}: key `until`: the rule's time range ends before it starts"
                    ));
                }
            }
            let label = intern(names, &spec.label);
            let attack_type = spec.attack_type.as_deref().map(|a| intern(names, a));
            rules.push(Rule {
                spec,
                line,
                label,
                attack_type,
                flows: 0,
            });
        }
        Ok(Rules { rules })
    }

    pub fn has_attack_type(&self) -> bool {
        self.rules.iter().any(|r| r.attack_type.is_some())
    }

    /// The first rule matching a flow of `capture` (None: the flow is from no capture file).
    pub fn label(&mut self, flow: &FlowFacts, capture: Option<&Path>) -> Option<Assigned> {
        let rule = self.rules.iter_mut().find(|r| r.matches(flow, capture))?;
        rule.flows += 1;
        Some(Assigned {
            label: rule.label,
            attack_type: rule.attack_type,
        })
    }

    pub fn counts(&self, names: &[String]) -> Vec<RuleCount> {
        let name = |i: u32| names.get(i as usize).cloned().unwrap_or_default();
        self.rules
            .iter()
            .enumerate()
            .map(|(i, r)| RuleCount {
                rule: i + 1,
                line: r.line,
                label: name(r.label),
                attack_type: r.attack_type.map(name),
                flows: r.flows,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_membership() {
        let c = Cidr::parse("10.1.0.0/16").expect("cidr");
        assert!(c.contains("10.1.200.3".parse().expect("ip")));
        assert!(!c.contains("10.2.0.1".parse().expect("ip")));
        assert!(!c.contains("::ffff:10.1.0.1".parse().expect("ip")));
        let all = Cidr::parse("0.0.0.0/0").expect("cidr");
        assert!(all.contains("203.0.113.9".parse().expect("ip")));
        let host = Cidr::parse("2001:db8::1").expect("cidr");
        assert!(host.contains("2001:db8::1".parse().expect("ip")));
        assert!(!host.contains("2001:db8::2".parse().expect("ip")));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("10.0.0/8").is_err());
    }
}
