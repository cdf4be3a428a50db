//! Who talks to whom, when, and with which TTL: the part where the two variants differ.

use std::net::Ipv4Addr;

use rand::Rng;

use super::session::{Gen, Host, SEC};
use super::{attacks, benign, Variant};

/// Flows per scenario, the same in both variants. About 58% of flows are benign, so a rule that
/// learned nothing scores about 0.58, far from the naive leak's 1.0.
pub const WEB_FLOWS: usize = 110;
pub const DNS_FLOWS: usize = 850;
pub const SSH_FLOWS: usize = 16;
pub const SYN_FLOOD_FLOWS: usize = 260;
pub const HSCAN_FLOWS: usize = 130;
pub const VSCAN_FLOWS: usize = 160;
/// Per amplification kind (DNS ANY and NTP monlist).
pub const AMP_FLOWS: usize = 40;
pub const SLOWLORIS_FLOWS: usize = 50;

/// Benign traffic spans this long; honest attacks fall anywhere inside it.
const BENIGN_SPAN: u64 = 900 * SEC;
/// Naive attack campaigns start within this long after the last benign packet.
const NAIVE_ATTACK_SPAN: u64 = 120 * SEC;
/// The naive attacker's TTL: 64 minus 13 hops, a value no benign host here arrives with.
const NAIVE_ATTACKER_TTL: u8 = 51;

pub struct World {
    pub variant: Variant,
    /// Workstations, 10.10.1.0-10.10.4.255.
    pub clients: Vec<Host>,
    /// Public web servers, 198.51.100.0/24.
    pub web_servers: Vec<Host>,
    /// The site's resolvers.
    pub resolvers: Vec<Host>,
    /// Internal SSH servers and scan targets, 10.20.0.0/22.
    pub ssh_servers: Vec<Host>,
}

/// An observed TTL: the initial TTL of a common OS (Linux/macOS 64, Windows 128, network gear
/// 255, in shares 55/40/5) minus `lo..=hi` hops.
pub fn os_ttl(g: &mut Gen, lo: u8, hi: u8) -> u8 {
    let initial: u8 = match g.rng.random_range(0..100) {
        0..55 => 64,
        55..95 => 128,
        _ => 255,
    };
    initial - g.rng.random_range(lo..=hi)
}

impl World {
    pub fn new(g: &mut Gen, variant: Variant) -> Self {
        let mut clients = Vec::new();
        for _ in 0..200 {
            let ip = Ipv4Addr::new(10, 10, g.rng.random_range(1..=4), g.rng.random_range(1..=254));
            if clients.iter().any(|c: &Host| c.ip == ip) {
                continue;
            }
            let ttl = os_ttl(g, 0, 2);
            clients.push(Host { ip, ttl });
        }
        // Servers are several hops away; even the farthest arrives above the naive attacker's
        // TTL, which is what makes naive's TTL leak clean.
        let web_servers = (10..60)
            .map(|i| Host {
                ip: Ipv4Addr::new(198, 51, 100, i),
                ttl: os_ttl(g, 3, 9),
            })
            .collect();
        let resolvers = vec![
            Host {
                ip: Ipv4Addr::new(10, 10, 0, 53),
                ttl: 64,
            },
            Host {
                ip: Ipv4Addr::new(10, 10, 0, 54),
                ttl: 64,
            },
        ];
        let ssh_servers = (0..24)
            .map(|i| Host {
                ip: Ipv4Addr::new(10, 20, 0, 10 + i),
                ttl: 63,
            })
            .collect();
        World {
            variant,
            clients,
            web_servers,
            resolvers,
            ssh_servers,
        }
    }

    pub fn pick(g: &mut Gen, hosts: &[Host]) -> Host {
        let i = g.rng.random_range(0..hosts.len().max(1));
        hosts.get(i).copied().unwrap_or(Host {
            ip: Ipv4Addr::new(10, 10, 1, 1),
            ttl: 64,
        })
    }

    /// The host an attack campaign comes from. Naive: always the one outside address with its
    /// telltale TTL. Honest: one of the workstations, which also has benign traffic.
    pub fn attacker(&self, g: &mut Gen) -> Host {
        match self.variant {
            Variant::Naive => Host {
                ip: Ipv4Addr::new(192, 0, 2, 66),
                ttl: NAIVE_ATTACKER_TTL,
            },
            Variant::Honest => Self::pick(g, &self.clients),
        }
    }

    /// A forged source address (SYN flood, reflection). Naive: the attacker's own (the flows
    /// then differ by port). Honest: anywhere in the workstations' range, with a TTL from the
    /// same OS mix.
    pub fn spoofed(&self, g: &mut Gen, attacker: Host) -> Host {
        match self.variant {
            Variant::Naive => attacker,
            Variant::Honest => Host {
                ip: Ipv4Addr::new(10, 10, g.rng.random_range(1..=4), g.rng.random_range(1..=254)),
                ttl: os_ttl(g, 0, 2),
            },
        }
    }

    /// Generates every flow: benign first, then the attack campaigns at their start times.
    pub fn populate(&self, g: &mut Gen) {
        benign::generate(g, self, BENIGN_SPAN);
        let last_benign = g.frames.iter().map(|f| f.ts_ns).max().unwrap_or(0);
        type Campaign = fn(&mut Gen, &World, u64);
        let campaigns: [Campaign; 6] = [
            attacks::syn_flood,
            attacks::horizontal_scan,
            attacks::vertical_scan,
            attacks::dns_amplification,
            attacks::ntp_amplification,
            attacks::slowloris,
        ];
        for campaign in campaigns {
            let start = match self.variant {
                Variant::Naive => last_benign + SEC + g.rng.random_range(0..NAIVE_ATTACK_SPAN),
                // Slow campaigns last minutes; starting in the first two thirds keeps them
                // inside the benign traffic.
                Variant::Honest => g.rng.random_range(0..BENIGN_SPAN * 2 / 3),
            };
            campaign(g, self, start);
        }
    }
}
