//! The interfaces of a capture: what each declared (pcapng interface description blocks; a
//! classic pcap has one, id 0), how many packets each held, which one a reader keeps.
//!
//! A pcapng of several interfaces (`dumpcap -i eth0 -i eth1`, both sides of a router) holds a
//! forwarded packet once per interface; read into one flow table it counts twice in its flow
//! (twice the packets, zero inter-arrival times). tshark picks one with `frame.interface_id`;
//! here [`InterfaceSelector`] does, and [`several_interfaces_warning`] says when none was picked.
//!
//! Ids are the interface description blocks' positions in the whole file (as Wireshark numbers
//! them): a second section's interfaces continue after the first section's.

use std::fmt;

use serde::Serialize;

use super::link::{known_name, LinkType};

/// Which interface's packets to keep: its id, or its `if_name` (every interface of that name).
/// Digits are an id (as tshark's `frame.interface_id`); anything else is a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterfaceSelector {
    Id(u32),
    Name(String),
}

impl std::str::FromStr for InterfaceSelector {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("an interface id (0, 1, ...) or name (eth0) is needed".into());
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse()
                .map(InterfaceSelector::Id)
                .map_err(|_| format!("interface id {s} is too large"));
        }
        Ok(InterfaceSelector::Name(s.to_string()))
    }
}

impl fmt::Display for InterfaceSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterfaceSelector::Id(id) => write!(f, "{id}"),
            InterfaceSelector::Name(name) => write!(f, "{name:?}"),
        }
    }
}

/// One interface of a capture and the packets recorded on it (kept or not).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct InterfaceCount {
    pub file: String,
    pub id: u32,
    /// The `if_name` option; null in a classic pcap or when the capture does not name it.
    pub name: Option<String>,
    /// `ethernet`, `linux_sll`, ... for the link types the reader decodes, else the type's
    /// common name (`IEEE 802.11`) or `unknown`.
    pub link_type: String,
    /// The `LINKTYPE_*` number.
    pub link_type_code: u32,
    pub packets: u64,
}

/// Packets of one interface skipped in lenient mode because its link type is not decoded: not
/// damage, so not counted with the damaged records.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct UnsupportedSkip {
    pub file: String,
    pub interface: u32,
    pub name: Option<String>,
    pub link_type: String,
    pub link_type_code: u32,
    pub packets: u64,
}

impl fmt::Display for UnsupportedSkip {
    /// `12 packets on interface 1 (link type IEEE 802.11/105) skipped: unsupported link type`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} packet{} on interface {}{} (link type {}/{}) skipped: unsupported link type",
            self.file,
            self.packets,
            if self.packets == 1 { "" } else { "s" },
            self.interface,
            self.name.as_ref().map(|n| format!(" {n:?}")).unwrap_or_default(),
            self.link_type,
            self.link_type_code
        )
    }
}

/// The link type's name for reports.
fn link_type_name(code: u32) -> String {
    match LinkType::from_code(code) {
        Ok(l) => l.name().to_string(),
        Err(_) => known_name(code).unwrap_or("unknown").to_string(),
    }
}

/// `0 "eth0" (ethernet, 12 packets)`.
fn describe(i: &InterfaceCount) -> String {
    let name = i.name.as_ref().map(|n| format!(" {n:?}")).unwrap_or_default();
    let plural = if i.packets == 1 { "" } else { "s" };
    format!("{}{name} ({}, {} packet{plural})", i.id, i.link_type, i.packets)
}

/// The warning for a capture whose packets came from more than one interface and were read
/// together (no selector given); `None` when at most one interface held packets the reader
/// decodes (an unsupported link type's packets go into no flow table).
pub fn several_interfaces_warning(interfaces: &[InterfaceCount]) -> Option<String> {
    let with_packets: Vec<&InterfaceCount> = interfaces
        .iter()
        .filter(|i| i.packets > 0 && LinkType::from_code(i.link_type_code).is_ok())
        .collect();
    let first = with_packets.first()?;
    if with_packets.len() < 2 {
        return None;
    }
    let list: Vec<String> = with_packets.iter().map(|i| describe(i)).collect();
    Some(format!(
        "{}: packets on {} interfaces, read into one flow table: {}; a packet forwarded from one \
         to another counts twice in its flow: pass --interface ID|NAME to read one",
        first.file,
        with_packets.len(),
        list.join(", ")
    ))
}

/// One declared interface, as the reader tallies it.
struct Declared {
    name: Option<String>,
    link_type_code: u32,
    packets: u64,
    unsupported_skipped: u64,
}

/// The reader's bookkeeping of interfaces: declarations, packet counts, the selection.
pub(super) struct Interfaces {
    file: String,
    declared: Vec<Declared>,
    selector: Option<InterfaceSelector>,
    /// Classic pcap: its one interface is implicit (no id or name in the file).
    classic: bool,
}

impl Interfaces {
    pub(super) fn new(file: &str, classic: bool) -> Interfaces {
        Interfaces {
            file: file.to_string(),
            declared: Vec::new(),
            selector: None,
            classic,
        }
    }

    pub(super) fn select(&mut self, selector: Option<InterfaceSelector>) {
        self.selector = selector;
    }

    /// A new interface; returns its id.
    pub(super) fn declare(&mut self, name: Option<String>, link_type_code: u32) -> u32 {
        self.declared.push(Declared {
            name,
            link_type_code,
            packets: 0,
            unsupported_skipped: 0,
        });
        (self.declared.len() - 1) as u32
    }

    fn matches(&self, id: u32) -> bool {
        match &self.selector {
            None => true,
            Some(InterfaceSelector::Id(want)) => *want == id,
            Some(InterfaceSelector::Name(want)) => self
                .declared
                .get(id as usize)
                .is_some_and(|d| d.name.as_deref() == Some(want.as_str())),
        }
    }

    /// Counts a packet on interface `id`; whether the reader keeps it.
    pub(super) fn packet(&mut self, id: u32) -> bool {
        if let Some(d) = self.declared.get_mut(id as usize) {
            d.packets += 1;
        }
        self.matches(id)
    }

    /// A kept packet skipped for its interface's link type (lenient mode).
    pub(super) fn unsupported(&mut self, id: u32) {
        if let Some(d) = self.declared.get_mut(id as usize) {
            d.unsupported_skipped += 1;
        }
    }

    pub(super) fn counts(&self) -> Vec<InterfaceCount> {
        self.declared
            .iter()
            .enumerate()
            .map(|(id, d)| InterfaceCount {
                file: self.file.clone(),
                id: id as u32,
                name: d.name.clone(),
                link_type: link_type_name(d.link_type_code),
                link_type_code: d.link_type_code,
                packets: d.packets,
            })
            .collect()
    }

    pub(super) fn unsupported_skips(&self) -> Vec<UnsupportedSkip> {
        self.declared
            .iter()
            .enumerate()
            .filter(|(_, d)| d.unsupported_skipped > 0)
            .map(|(id, d)| UnsupportedSkip {
                file: self.file.clone(),
                interface: id as u32,
                name: d.name.clone(),
                link_type: link_type_name(d.link_type_code),
                link_type_code: d.link_type_code,
                packets: d.unsupported_skipped,
            })
            .collect()
    }

    /// At the end of the file: the message when the selector matched no declared interface.
    pub(super) fn unmatched(&self) -> Option<String> {
        let selector = self.selector.as_ref()?;
        if (0..self.declared.len() as u32).any(|id| self.matches(id)) {
            return None;
        }
        let what = match selector {
            InterfaceSelector::Id(id) => format!("no interface {id}"),
            InterfaceSelector::Name(name) => format!("no interface named {name:?}"),
        };
        let there = if self.declared.is_empty() {
            "it declares no interface".to_string()
        } else if self.classic {
            format!(
                "a classic pcap has one interface, 0 (unnamed, {})",
                self.counts().first().map_or("", |i| i.link_type.as_str())
            )
        } else {
            let list: Vec<String> = self.counts().iter().map(describe).collect();
            format!("its interfaces: {}", list.join(", "))
        };
        Some(format!(
            "{what} in this capture ({there}); pass --interface with one of those ids or names"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_an_id_anything_else_a_name() {
        assert_eq!("1".parse(), Ok(InterfaceSelector::Id(1)));
        assert_eq!("eth0".parse(), Ok(InterfaceSelector::Name("eth0".into())));
        assert!("".parse::<InterfaceSelector>().is_err());
        assert!("99999999999".parse::<InterfaceSelector>().is_err());
    }

    #[test]
    fn a_name_selects_every_interface_of_that_name_and_none_other() {
        let mut ifs = Interfaces::new("t.pcapng", false);
        let eth0 = ifs.declare(Some("eth0".into()), 1);
        let eth1 = ifs.declare(Some("eth1".into()), 1);
        ifs.select(Some(InterfaceSelector::Name("eth1".into())));
        assert_eq!(
            (ifs.packet(eth0), ifs.packet(eth1), ifs.packet(eth1)),
            (false, true, true)
        );
        assert_eq!(ifs.counts().iter().map(|i| i.packets).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(ifs.unmatched(), None);
        ifs.select(Some(InterfaceSelector::Name("wlan0".into())));
        let msg = ifs.unmatched().expect("no such interface");
        assert_eq!(
            msg,
            "no interface named \"wlan0\" in this capture (its interfaces: 0 \"eth0\" (ethernet, 1 \
             packet), 1 \"eth1\" (ethernet, 2 packets)); pass --interface with one of those ids or names"
        );
        let warning = several_interfaces_warning(&ifs.counts()).expect("two with packets");
        assert!(
            warning.starts_with("t.pcapng: packets on 2 interfaces"),
            "{warning}"
        );
        // Packets of a link type the reader skips are in no flow table: no warning for them.
        let mut ifs = Interfaces::new("t.pcapng", false);
        let eth0 = ifs.declare(Some("eth0".into()), 1);
        let wlan0 = ifs.declare(Some("wlan0".into()), 105);
        assert!(ifs.packet(eth0) && ifs.packet(wlan0));
        assert_eq!(several_interfaces_warning(&ifs.counts()), None);
    }

    #[test]
    fn an_unsupported_skip_names_interface_and_link_type() {
        let skip = UnsupportedSkip {
            file: "t.pcapng".into(),
            interface: 1,
            name: None,
            link_type: link_type_name(105),
            link_type_code: 105,
            packets: 12,
        };
        assert_eq!(
            skip.to_string(),
            "t.pcapng: 12 packets on interface 1 (link type IEEE 802.11/105) skipped: unsupported link type"
        );
    }
}
