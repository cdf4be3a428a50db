//! Application payloads with real wire formats (DNS, NTP mode 7, TLS record headers, HTTP), so
//! the generated captures dissect sensibly in Wireshark and sizes follow from content.

use std::net::Ipv4Addr;

pub const QTYPE_A: u16 = 1;
pub const QTYPE_TXT: u16 = 16;
pub const QTYPE_AAAA: u16 = 28;
pub const QTYPE_DNSKEY: u16 = 48;
pub const QTYPE_ANY: u16 = 255;

/// A name in DNS label encoding (RFC 1035 3.1). Labels longer than 63 bytes are cut, as a
/// resolver would refuse them anyway.
fn put_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let b = &label.as_bytes()[..label.len().min(63)];
        out.push(b.len() as u8);
        out.extend_from_slice(b);
    }
    out.push(0);
}

fn put_header(out: &mut Vec<u8>, id: u16, flags: u16, qd: u16, an: u16) {
    for v in [id, flags, qd, an, 0, 0] {
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// A recursive query for `name`/`qtype`.
pub fn dns_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(32 + name.len());
    put_header(&mut m, id, 0x0100, 1, 0); // RD
    put_name(&mut m, name);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes()); // IN
    m
}

/// One answer record: a compression pointer to the question's name (offset 12), type, class,
/// TTL and data.
fn put_answer(out: &mut Vec<u8>, rtype: u16, ttl: u32, rdata: &[u8]) {
    out.extend_from_slice(&0xc00cu16.to_be_bytes());
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
}

/// The answer to [`dns_query`]: the question echoed, then `addrs` as A records.
pub fn dns_response_a(id: u16, name: &str, qtype: u16, addrs: &[Ipv4Addr], ttl: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(32 + name.len() + 16 * addrs.len());
    put_header(&mut m, id, 0x8180, 1, addrs.len() as u16); // QR RD RA
    put_name(&mut m, name);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    for a in addrs {
        put_answer(&mut m, QTYPE_A, ttl, &a.octets());
    }
    m
}

/// An ANY answer padded out with TXT records (each TXT string at most 255 bytes) until the
/// message is about `target_bytes` long: the amplification reflector's reply.
pub fn dns_response_any(id: u16, name: &str, target_bytes: usize, txt_byte: u8) -> Vec<u8> {
    dns_response_padded(id, name, QTYPE_ANY, target_bytes, txt_byte)
}

/// An answer to a `qtype` question padded out with TXT records to about `target_bytes`: the
/// shape of an ANY reflection, and of a large benign answer (DNSSEC keys and signatures, SPF
/// and verification TXT records).
pub fn dns_response_padded(id: u16, name: &str, qtype: u16, target_bytes: usize, txt_byte: u8) -> Vec<u8> {
    let mut m = Vec::with_capacity(target_bytes + 300);
    put_header(&mut m, id, 0x8180, 1, 0);
    put_name(&mut m, name);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    let mut answers = 0u16;
    // Each TXT record costs 12 bytes of record header and 1 of string length besides its text.
    while m.len() + 13 < target_bytes {
        let text_len = (target_bytes - m.len() - 13).min(255);
        let mut rdata = Vec::with_capacity(text_len + 1);
        rdata.push(text_len as u8);
        rdata.extend(std::iter::repeat_n(txt_byte, text_len));
        put_answer(&mut m, QTYPE_TXT, 3600, &rdata);
        answers += 1;
    }
    m[6..8].copy_from_slice(&answers.to_be_bytes());
    m
}

/// NTP mode 7 (private) MON_GETLIST_1 request, the "monlist" query amplifiers answer: an
/// 8-byte header padded to 48 bytes as the common tools send it.
pub fn ntp_monlist_request() -> Vec<u8> {
    let mut m = vec![0u8; 48];
    m[0] = 0x17; // version 2, mode 7
    m[2] = 0x03; // implementation XNTPD
    m[3] = 0x2a; // request code MON_GETLIST_1
    m
}

/// An NTP v4 packet of mode 3 (client request) or 4 (server reply): the 48-byte header every
/// time query and answer carries; `stamp` fills the timestamps.
pub fn ntp_time_packet(mode: u8, stamp: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8; 48];
    m[0] = (4 << 3) | (mode & 7); // leap 0, version 4
    if mode == 4 {
        m[1] = 2; // stratum
        m[12..16].copy_from_slice(b"GPS\0");
    }
    m[2] = 6; // poll: 64 s
    m[3] = 0xe9; // precision: about 2^-23 s
    for (i, b) in m[16..].iter_mut().enumerate() {
        *b = stamp.get(i % stamp.len().max(1)).copied().unwrap_or(0);
    }
    m
}

/// One monlist response datagram carrying `entries` 72-byte entries (at most 6 per datagram,
/// 440 bytes of UDP payload when full), `more` set on all but the last.
pub fn ntp_monlist_response(seq: u8, entries: u8, more: bool, fill: &[u8]) -> Vec<u8> {
    let entries = entries.min(6);
    let mut m = Vec::with_capacity(8 + 72 * entries as usize);
    m.push(if more { 0xd7 } else { 0x97 }); // response bit, more bit, version 2, mode 7
    m.push(seq & 0x7f);
    m.push(0x03);
    m.push(0x2a);
    m.extend_from_slice(&(u16::from(entries)).to_be_bytes());
    m.extend_from_slice(&72u16.to_be_bytes());
    for i in 0..72 * entries as usize {
        m.push(fill.get(i % fill.len().max(1)).copied().unwrap_or(0));
    }
    m
}

/// A TLS record header (type, version 1.2, length) followed by `body`; `body` is random bytes
/// from the caller, which is what encrypted records look like.
pub fn tls_record(content_type: u8, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(5 + body.len());
    m.push(content_type);
    m.extend_from_slice(&[0x03, 0x03]);
    m.extend_from_slice(&(body.len().min(u16::MAX as usize) as u16).to_be_bytes());
    m.extend_from_slice(body);
    m
}

pub const TLS_HANDSHAKE: u8 = 22;
pub const TLS_APPLICATION_DATA: u8 = 23;
pub const TLS_CHANGE_CIPHER_SPEC: u8 = 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_query_matches_the_rfc_1035_layout() {
        let q = dns_query(0x1234, "www.example.com", QTYPE_A);
        let expected: Vec<u8> = [
            &[0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0][..],
            b"\x03www\x07example\x03com\x00",
            &[0, 1, 0, 1],
        ]
        .concat();
        assert_eq!(q, expected);
    }

    #[test]
    fn any_response_reaches_its_target_size_with_counted_answers() {
        let r = dns_response_any(7, "example.org", 1400, b'v');
        assert!((1388..=1400).contains(&r.len()), "length {}", r.len());
        let answers = u16::from_be_bytes([r[6], r[7]]) as usize;
        // 12 header + 13 name + 4 question, then records of 12 + 1 + text each.
        let text: usize = r.iter().filter(|&&b| b == b'v').count();
        assert_eq!(12 + 13 + 4 + answers * 13 + text, r.len());
        assert!(answers >= 5);
    }

    #[test]
    fn monlist_response_sizes() {
        assert_eq!(ntp_monlist_response(0, 6, true, b"ab").len(), 440);
        assert_eq!(ntp_monlist_response(1, 9, false, b"ab").len(), 440);
        assert_eq!(ntp_monlist_response(2, 1, false, b"ab")[0], 0x97);
        assert_eq!(ntp_monlist_request().len(), 48);
    }
}
