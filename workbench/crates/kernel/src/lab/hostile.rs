//! Hostile frames for the probe: malformed, unusual or adversarial headers, built from the
//! project's packet builder by editing bytes. Each one carries the answer the probe must give:
//! a flow with a given 5-tuple, or an unparsed frame with a given reason (or either, where the
//! kernel itself may rewrite the frame first, as it does by untagging one VLAN tag).

use std::net::Ipv4Addr;

use workbench_flow::craft::{self, checksum_add, checksum_finish, Ipv4Endpoints, TcpSegment};

/// What the probe must make of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// A flow (proto, source port, destination port) from the sender to the receiver.
    Flow(&'static str, u16, u16),
    /// Counted as unparsed for this reason (a `stats` key).
    Unparsed(&'static str),
    /// Either: the kernel may strip a VLAN tag before the probe runs.
    FlowOrUnparsed(&'static str, u16, u16, &'static str),
}

#[derive(Debug, Clone)]
pub struct HostileFrame {
    pub name: &'static str,
    pub frame: Vec<u8>,
    pub expect: Expect,
}

fn fix_ipv4_checksum(frame: &mut [u8], ip_at: usize) {
    let ihl = ((frame[ip_at] & 0x0f) as usize * 4).max(20);
    frame[ip_at + 10..ip_at + 12].fill(0);
    let end = (ip_at + ihl).min(frame.len());
    let sum = checksum_finish(checksum_add(0, &frame[ip_at..end]));
    frame[ip_at + 10..ip_at + 12].copy_from_slice(&sum.to_be_bytes());
}

fn with_vlan_tags(frame: &[u8], tpids: &[u16]) -> Vec<u8> {
    let mut out = frame[..12].to_vec();
    for (i, &tpid) in tpids.iter().enumerate() {
        out.extend_from_slice(&tpid.to_be_bytes());
        out.extend_from_slice(&(100 + i as u16).to_be_bytes());
    }
    out.extend_from_slice(&frame[12..]);
    out
}

fn ipv6_udp(ep: &Ipv4Endpoints, next_header: u8, ext: &[u8], sport: u16, dport: u16) -> Vec<u8> {
    let mut f = ep.dst_mac.to_vec();
    f.extend_from_slice(&ep.src_mac);
    f.extend_from_slice(&0x86ddu16.to_be_bytes());
    let udp_len = 8u16;
    let payload_len = ext.len() as u16 + udp_len;
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&payload_len.to_be_bytes());
    f.extend_from_slice(&[next_header, 64]);
    f.extend_from_slice(&[0xfd, 0xeb, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    f.extend_from_slice(&[0xfd, 0xeb, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    f.extend_from_slice(ext);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f
}

/// The hostile set, from `src` to `dst` (the receiver should not answer: use a destination MAC
/// the receiver does not own, so its stack drops the frames after the probe has seen them).
pub fn frames(src_mac: [u8; 6], dst_mac: [u8; 6], src: Ipv4Addr, dst: Ipv4Addr) -> Vec<HostileFrame> {
    let ep = Ipv4Endpoints {
        src_mac,
        dst_mac,
        src,
        dst,
        ttl: 64,
    };
    let udp = |sport| craft::ipv4_udp(&ep, sport, 53, b"hostile");
    let tcp = |sport, flags| {
        craft::ipv4_tcp(
            &ep,
            &TcpSegment {
                src_port: sport,
                dst_port: 80,
                seq: 1,
                ack: 0,
                flags,
                window: 1024,
                payload: &[],
            },
        )
    };
    let mut out = Vec::new();
    let mut push = |name, frame, expect| out.push(HostileFrame { name, frame, expect });

    let base = tcp(50_001, craft::TCP_SYN);
    push(
        "truncated IPv4 header",
        base[..14 + 10].to_vec(),
        Expect::Unparsed("truncated"),
    );
    push(
        "truncated TCP header",
        base[..14 + 20 + 12].to_vec(),
        Expect::Unparsed("truncated"),
    );
    let mut ihl4 = udp(50_002);
    ihl4[14] = 0x44;
    fix_ipv4_checksum(&mut ihl4, 14);
    push("IPv4 IHL 4", ihl4, Expect::Unparsed("bad_ip_header"));
    // IPv4 with 4 bytes of options (NOP NOP NOP EOL): the transport header moves.
    let plain = udp(50_003);
    let mut opts = plain[..34].to_vec();
    opts.extend_from_slice(&[1, 1, 1, 0]);
    opts.extend_from_slice(&plain[34..]);
    opts[14] = 0x46;
    let total = u16::from_be_bytes([opts[16], opts[17]]) + 4;
    opts[16..18].copy_from_slice(&total.to_be_bytes());
    fix_ipv4_checksum(&mut opts, 14);
    push("IPv4 options", opts, Expect::Flow("udp", 50_003, 53));
    let mut first_frag = udp(50_004);
    first_frag[20..22].copy_from_slice(&0x2000u16.to_be_bytes());
    fix_ipv4_checksum(&mut first_frag, 14);
    push("first fragment", first_frag, Expect::Flow("udp", 50_004, 53));
    let mut later_frag = udp(50_005);
    later_frag[20..22].copy_from_slice(&0x00b9u16.to_be_bytes());
    fix_ipv4_checksum(&mut later_frag, 14);
    push("later fragment", later_frag, Expect::Unparsed("ip_fragment"));
    let mut zero_len = udp(50_006);
    zero_len[38..40].copy_from_slice(&0u16.to_be_bytes());
    push("UDP length 0", zero_len, Expect::Flow("udp", 50_006, 53));
    push(
        "TCP every flag",
        tcp(50_007, 0xff),
        Expect::Flow("tcp", 50_007, 80),
    );
    push(
        "802.1Q",
        with_vlan_tags(&udp(50_008), &[0x8100]),
        Expect::Flow("udp", 50_008, 53),
    );
    push(
        "QinQ",
        with_vlan_tags(&udp(50_009), &[0x88a8, 0x8100]),
        Expect::Flow("udp", 50_009, 53),
    );
    push(
        "three VLAN tags",
        with_vlan_tags(&udp(50_010), &[0x88a8, 0x8100, 0x8100]),
        Expect::FlowOrUnparsed("udp", 50_010, 53, "too_many_vlan_tags"),
    );
    push(
        "IPv6 UDP",
        ipv6_udp(&ep, 17, &[], 50_011, 53),
        Expect::Flow("udp", 50_011, 53),
    );
    // Hop-by-hop options header (8 bytes: next header UDP, length 0, PadN): walked to UDP.
    push(
        "IPv6 hop-by-hop",
        ipv6_udp(&ep, 0, &[17, 0, 1, 4, 0, 0, 0, 0], 50_012, 53),
        Expect::Flow("udp", 50_012, 53),
    );
    // Destination options (16 bytes: length 1) then a first fragment (offset 0, more to come).
    let mut dest_frag = vec![44, 1, 1, 12];
    dest_frag.extend_from_slice(&[0; 12]);
    dest_frag.extend_from_slice(&[17, 0, 0, 1, 0, 0, 0, 7]);
    push(
        "IPv6 destination options + first fragment",
        ipv6_udp(&ep, 60, &dest_frag, 50_013, 53),
        Expect::Flow("udp", 50_013, 53),
    );
    // A later fragment (offset 8 units): its bytes are no UDP header, whatever they look like.
    push(
        "IPv6 later fragment",
        ipv6_udp(&ep, 44, &[17, 0, 0, 64, 0, 0, 0, 7], 50_014, 53),
        Expect::Unparsed("ip_fragment"),
    );
    // Five destination options headers: one more than the parser walks.
    let mut five = Vec::new();
    for i in 0..5 {
        five.extend_from_slice(&[if i < 4 { 60 } else { 17 }, 0, 1, 4, 0, 0, 0, 0]);
    }
    push(
        "IPv6 five destination options headers",
        ipv6_udp(&ep, 60, &five, 50_015, 53),
        Expect::Unparsed("too_many_ipv6_ext_headers"),
    );
    // ESP: what follows is encrypted.
    push(
        "IPv6 ESP",
        ipv6_udp(&ep, 50, &[0, 0, 0, 1, 0, 0, 0, 1], 50_016, 53),
        Expect::Unparsed("ipv6_unknown_next_header"),
    );
    let mut arp = ep.dst_mac.to_vec();
    arp.extend_from_slice(&ep.src_mac);
    arp.extend_from_slice(&0x0806u16.to_be_bytes());
    arp.extend_from_slice(&[0u8; 28]);
    push("ARP", arp, Expect::Unparsed("not_ip"));
    out
}
