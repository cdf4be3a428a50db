//! The per-packet update of a flow's state: one frame, or the frames a GSO/GRO super-packet
//! stands for on the wire.

use super::FlowState;
use crate::packet::ParsedPacket;

/// The frames on the wire one packet stands for, as [`FlowState::update`] adds them.
struct Frames {
    count: u32,
    /// Sum of the squares of their payload lengths.
    payload_sumsq: u64,
    smallest: u32,
    largest: u32,
    /// IP + transport header bytes of all of them.
    header_bytes: u64,
}

impl FlowState {
    /// Adds one packet; `forward` = sent by the initiator. Timestamps that go backwards (two
    /// CPUs) count as an inter-arrival time of 0.
    ///
    /// A packet that stands for several frames on the wire (GSO/GRO, `extra_segments > 0`)
    /// counts as those frames: each one a packet with its own headers, payloads of
    /// `segment_payload_bytes` and a last, shorter or equal, one; every frame carries the ACK
    /// flag, only one the others (segmentation clears FIN and PSH on all but the last frame, GRO
    /// ends a batch at a PSH or FIN); the gaps between them are 0 at the probe's clock, which
    /// sees them at one instant (docs/FEATURES.md says how far that is from the wire's).
    #[inline(always)]
    pub fn update(&mut self, p: &ParsedPacket, forward: bool, ts_ns: u64) {
        let packets = self.fwd_packets as u64 + self.bwd_packets as u64;
        if packets > 0 {
            let iat = ts_ns.saturating_sub(self.last_ts_ns);
            if iat < self.iat_min_ns {
                self.iat_min_ns = iat;
            }
            if iat > self.iat_max_ns {
                self.iat_max_ns = iat;
            }
        }
        if ts_ns > self.last_ts_ns {
            self.last_ts_ns = ts_ns;
        }
        let len = p.payload_bytes;
        if p.extra_segments == 0 {
            // One frame, as nearly every packet is: the plain sums, constants folded in.
            let len64 = len as u64;
            // len < 2^32, so len * len fits in u64 without a 128-bit multiply (BPF has none).
            self.add(
                p,
                forward,
                Frames {
                    count: 1,
                    payload_sumsq: len64 * len64,
                    smallest: len,
                    largest: len,
                    header_bytes: p.header_bytes as u64,
                },
            );
        } else {
            self.iat_min_ns = 0;
            let extra = p.extra_segments;
            // Payload of the first `extra` frames, and of the last one: the parser keeps
            // 0 < last <= seg, extra < 2^16 and seg < 2^16, so no product below overflows.
            let seg = p.segment_payload_bytes as u64;
            let last = (len as u64).saturating_sub((extra as u64).wrapping_mul(seg));
            let frames = extra.saturating_add(1);
            self.add(
                p,
                forward,
                Frames {
                    count: frames,
                    payload_sumsq: (extra as u64)
                        .wrapping_mul(seg)
                        .wrapping_mul(seg)
                        .wrapping_add(last * last),
                    smallest: last as u32,
                    largest: (seg as u32).max(last as u32),
                    header_bytes: p.header_bytes as u64 * frames as u64,
                },
            );
        }
    }

    /// Adds the frames of one packet to its direction's sums (the totals of `p` are already
    /// over all its frames), and its flags: every frame carries the ACK, one frame the others.
    #[inline(always)]
    fn add(&mut self, p: &ParsedPacket, forward: bool, f: Frames) {
        if forward {
            if self.fwd_packets == 0 {
                self.fwd_init_window = p.tcp_window;
                self.fwd_ttl = p.ttl;
            }
            self.fwd_packets = self.fwd_packets.saturating_add(f.count);
            self.fwd_frame_bytes = self.fwd_frame_bytes.wrapping_add(p.frame_bytes as u64);
            self.fwd_payload_bytes = self.fwd_payload_bytes.wrapping_add(p.payload_bytes as u64);
            self.fwd_payload_sumsq = self.fwd_payload_sumsq.wrapping_add(f.payload_sumsq);
            self.fwd_header_bytes = self.fwd_header_bytes.wrapping_add(f.header_bytes);
            self.fwd_len_min = self.fwd_len_min.min(f.smallest);
            self.fwd_len_max = self.fwd_len_max.max(f.largest);
        } else {
            if self.bwd_packets == 0 {
                self.bwd_init_window = p.tcp_window;
                self.bwd_ttl = p.ttl;
            }
            self.bwd_packets = self.bwd_packets.saturating_add(f.count);
            self.bwd_frame_bytes = self.bwd_frame_bytes.wrapping_add(p.frame_bytes as u64);
            self.bwd_payload_bytes = self.bwd_payload_bytes.wrapping_add(p.payload_bytes as u64);
            self.bwd_payload_sumsq = self.bwd_payload_sumsq.wrapping_add(f.payload_sumsq);
            self.bwd_header_bytes = self.bwd_header_bytes.wrapping_add(f.header_bytes);
            self.bwd_len_min = self.bwd_len_min.min(f.smallest);
            self.bwd_len_max = self.bwd_len_max.max(f.largest);
        }
        // Flag bits are added arithmetically, not tested: a test per flag would leave the flags
        // register with different known bits on each side, and the verifier would walk 2^6 paths.
        let flags = p.tcp_flags as u16;
        self.fin_count = self.fin_count.saturating_add(flags & 1);
        self.syn_count = self.syn_count.saturating_add((flags >> 1) & 1);
        self.rst_count = self.rst_count.saturating_add((flags >> 2) & 1);
        self.psh_count = self.psh_count.saturating_add((flags >> 3) & 1);
        let ack_frames = f.count.min(u16::MAX as u32) as u16;
        self.ack_count = self.ack_count.saturating_add(((flags >> 4) & 1) * ack_frames);
        self.urg_count = self.urg_count.saturating_add((flags >> 5) & 1);
    }
}
