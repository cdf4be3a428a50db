//! Who talks to whom, when, and with which TTL: the part where the two variants differ.
//!
//! Both variants run the same scenarios with the same code, benign and attack alike, so the
//! flows of one scenario look the same in both. What differs is where an attack comes from and
//! when: *naive* runs each attack type once, from its own machine in an attacker subnet
//! (192.0.2.0/24) whose packets arrive with a TTL no benign host has, in its own time window;
//! *honest* splits each attack type into campaigns from the workstations that also make benign
//! traffic, with their TTLs, at random times over the capture.

use std::net::Ipv4Addr;

use rand::Rng;

use super::session::{Gen, Host, SEC};
use super::{attacks, benign, Variant};

/// Flows per scenario, the same in both variants. About 64% of flows are benign, so a rule that
/// learned nothing scores about 0.64, far from the naive leak's 1.0.
pub const WEB_FLOWS: usize = 60;
pub const DNS_FLOWS: usize = 700;
pub const SSH_FLOWS: usize = 10;
/// Connections of a busy web client's page loads (bursts of 8-18).
pub const WEB_BURST_FLOWS: usize = 100;
/// The site resolvers' own queries to authoritative servers.
pub const UPSTREAM_FLOWS: usize = 130;
pub const NTP_FLOWS: usize = 60;
/// Connection attempts that fail or are checked and closed (down services, health checks).
pub const RETRY_FLOWS: usize = 90;
/// Long-lived HTTP connections that send a small message now and then.
pub const LONG_POLL_FLOWS: usize = 30;
pub const SYN_FLOOD_FLOWS: usize = 260;
pub const HSCAN_FLOWS: usize = 130;
pub const VSCAN_FLOWS: usize = 160;
/// Per amplification kind (DNS ANY and NTP monlist).
pub const AMP_FLOWS: usize = 40;
pub const SLOWLORIS_FLOWS: usize = 50;

/// Benign traffic spans this long; honest attacks fall anywhere inside it.
const BENIGN_SPAN: u64 = 900 * SEC;

/// The naive variant's attack machines, one per attack type in the order of [`ATTACKS`], and
/// the second its window opens at (plus up to 20 s). They sit far away in the attacker subnet,
/// so their packets arrive with TTLs that no benign host here has (benign initiators arrive
/// with 62-64, 126-128 and 253-255): five Linux machines 13-17 hops away (initial TTL 64, so
/// 47-51: one interval of `fwd_ttl` holds 640 of the 680 attack flows and no benign one) and,
/// for the NTP reflection near the end of the capture, a Windows machine 15 hops away (113). A
/// time split trains on the first four attacks and tests on the last two: a model that learned
/// "TTL 47-51 is the attacker" misses the NTP reflection.
const NAIVE_ATTACKERS: [(u8, u8, u64); 6] = [
    (66, 51, 100),
    (67, 49, 200),
    (68, 47, 300),
    (69, 48, 420),
    (70, 113, 700),
    (71, 50, 790),
];

/// An attack type, its flow count, and into how many campaigns the honest variant splits it.
type AttackFn = fn(&mut Gen, &World, &Campaign);
const ATTACKS: [(AttackFn, usize, usize); 6] = [
    (attacks::syn_flood, SYN_FLOOD_FLOWS, 3),
    (attacks::horizontal_scan, HSCAN_FLOWS, 4),
    (attacks::vertical_scan, VSCAN_FLOWS, 4),
    (attacks::dns_amplification, AMP_FLOWS, 3),
    (attacks::ntp_amplification, AMP_FLOWS, 3),
    (attacks::slowloris, SLOWLORIS_FLOWS, 4),
];

/// The first few web servers are the popular ones (see [`World::web_server`]).
pub const POPULAR_WEB_SERVERS: usize = 4;

/// One run of an attack: when it starts, how many flows it makes, and from where.
pub struct Campaign {
    pub start: u64,
    pub flows: usize,
    pub attacker: Host,
}

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
    /// Authoritative DNS servers and NTP servers on the internet (203.0.113.0/24).
    pub dns_servers: Vec<Host>,
    pub ntp_servers: Vec<Host>,
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
        let dns_servers = (1..61)
            .map(|i| Host {
                ip: Ipv4Addr::new(203, 0, 113, i),
                ttl: os_ttl(g, 4, 12),
            })
            .collect();
        let ntp_servers = (120..128)
            .map(|i| Host {
                ip: Ipv4Addr::new(203, 0, 113, i),
                ttl: os_ttl(g, 4, 12),
            })
            .collect();
        World {
            variant,
            clients,
            web_servers,
            resolvers,
            ssh_servers,
            dns_servers,
            ntp_servers,
        }
    }

    /// A web server as clients choose them: nearly half of all connections go to the four most
    /// popular sites (the ones an attacker floods, too), the rest anywhere.
    pub fn web_server(&self, g: &mut Gen) -> Host {
        if g.chance(0.45) {
            Self::pick(
                g,
                &self.web_servers[..POPULAR_WEB_SERVERS.min(self.web_servers.len())],
            )
        } else {
            Self::pick(g, &self.web_servers)
        }
    }

    pub fn pick(g: &mut Gen, hosts: &[Host]) -> Host {
        let i = g.rng.random_range(0..hosts.len().max(1));
        hosts.get(i).copied().unwrap_or(Host {
            ip: Ipv4Addr::new(10, 10, 1, 1),
            ttl: 64,
        })
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

    /// Generates every flow: benign first, then the attack campaigns.
    pub fn populate(&self, g: &mut Gen) {
        benign::generate(g, self, BENIGN_SPAN);
        for (i, (attack, flows, campaigns)) in ATTACKS.into_iter().enumerate() {
            match self.variant {
                Variant::Naive => {
                    let (octet, ttl, window_s) = NAIVE_ATTACKERS[i];
                    let c = Campaign {
                        start: window_s * SEC + g.dur(0, 20 * SEC),
                        flows,
                        attacker: Host {
                            ip: Ipv4Addr::new(192, 0, 2, octet),
                            ttl,
                        },
                    };
                    attack(g, self, &c);
                }
                Variant::Honest => {
                    for k in 0..campaigns {
                        // Slow campaigns last minutes; starting in the first two thirds keeps
                        // them inside the benign traffic.
                        let c = Campaign {
                            start: g.dur(0, BENIGN_SPAN * 2 / 3),
                            flows: flows / campaigns + usize::from(k < flows % campaigns),
                            attacker: Self::pick(g, &self.clients),
                        };
                        attack(g, self, &c);
                    }
                }
            }
        }
    }
}
