use super::*;

fn pkt(payload: u32, flags: u8, window: u16, ttl: u8) -> ParsedPacket {
    ParsedPacket {
        proto: 6,
        dst_port: 80,
        src_port: 40000,
        ttl,
        tcp_flags: flags,
        tcp_window: window,
        payload_bytes: payload,
        header_bytes: 40,
        frame_bytes: 54 + payload,
        ..ParsedPacket::default()
    }
}

#[test]
fn a_small_tcp_exchange_gives_hand_computed_features() {
    // t=0 SYN fwd, t=1ms SYN-ACK bwd, t=3ms ACK+PSH fwd 100 bytes, t=6ms ACK bwd 300 bytes
    let mut s = FlowState::start(&pkt(0, TCP_SYN, 64240, 64), 0);
    s.update(&pkt(0, TCP_SYN | TCP_ACK, 65160, 63), false, 1_000_000);
    s.update(&pkt(100, TCP_ACK | TCP_PSH, 502, 64), true, 3_000_000);
    s.update(&pkt(300, TCP_ACK, 510, 63), false, 6_000_000);
    let v = s.features();
    let get = |name: &str| v[feature_id(name).expect(name)];
    assert_eq!(get("duration_us"), 6000);
    assert_eq!((get("fwd_packets"), get("bwd_packets")), (2, 2));
    assert_eq!((get("fwd_payload_bytes"), get("bwd_payload_bytes")), (100, 300));
    assert_eq!(
        (get("fwd_len_min"), get("fwd_len_max"), get("fwd_len_mean")),
        (0, 100, 50)
    );
    assert_eq!(get("fwd_len_var"), 2500); // population variance of {0, 100}
    assert_eq!(get("bwd_len_var"), 22500); // of {0, 300}
    assert_eq!(
        (get("iat_min_us"), get("iat_max_us"), get("iat_mean_us")),
        (1000, 3000, 2000)
    );
    assert_eq!(get("bytes_per_s"), 400 * 1_000_000 / 6000);
    assert_eq!(get("packets_per_s"), 4 * 1_000_000 / 6000);
    assert_eq!(
        (
            get("syn_count"),
            get("ack_count"),
            get("psh_count"),
            get("fin_count")
        ),
        (2, 3, 1, 0)
    );
    assert_eq!((get("fwd_init_window"), get("bwd_init_window")), (64240, 65160));
    assert_eq!((get("fwd_ttl"), get("bwd_ttl")), (64, 63));
    assert_eq!((get("fwd_header_bytes"), get("bwd_header_bytes")), (80, 80));
    assert_eq!(
        (get("pkt_len_min"), get("pkt_len_max"), get("pkt_len_mean")),
        (0, 300, 100)
    );
    assert_eq!(get("down_up_ratio"), 1);
    assert_eq!(get("avg_frame_bytes"), (54 * 4 + 400) / 4);
    assert_eq!(get("packets"), 4);
    assert_eq!(get("dst_port"), 80);
}

#[test]
fn one_packet_has_no_rates_and_no_iat() {
    let s = FlowState::start(&pkt(10, TCP_SYN, 1024, 128), 5);
    let v = s.features();
    for name in [
        "duration_us",
        "bytes_per_s",
        "packets_per_s",
        "iat_min_us",
        "iat_max_us",
        "iat_mean_us",
        "bwd_len_min",
    ] {
        assert_eq!(v[feature_id(name).expect(name)], 0, "{name}");
    }
    assert_eq!(v[feature_id("pkt_len_min").expect("id")], 10);
}

#[test]
fn vector_reads_out_of_range_ids_as_zero() {
    let v = FlowState::start(&pkt(10, TCP_SYN, 1024, 128), 5).features();
    assert_eq!(FeatureSource::feature(&v, 39), 1);
    assert_eq!(FeatureSource::feature(&v, FEATURE_COUNT), 0);
}

#[test]
fn the_vlan_id_is_the_first_packets_and_opt_in() {
    let mut first = pkt(10, TCP_SYN, 1024, 128);
    first.vlan_id = 943;
    let mut s = FlowState::start(&first, 5);
    s.update(&pkt(0, TCP_SYN | TCP_ACK, 1024, 64), false, 9);
    assert_eq!(s.features()[feature_id("vlan_id").expect("id")], 943);
    assert_eq!(feature_id("vlan_id"), Some(VLAN_ID_FEATURE));
    assert!(is_opt_in(VLAN_ID_FEATURE) && !is_opt_in(0) && !is_opt_in(FEATURE_COUNT));
    assert_eq!(DEFAULT_FEATURES.count_ones(), 40);
    assert_eq!(DEFAULT_FEATURES | OPT_IN_FEATURES, ALL_FEATURES);
}

#[test]
fn feature_names_are_unique_and_documented() {
    for (i, f) in FEATURES.iter().enumerate() {
        assert_eq!(feature_id(f.name), Some(i));
        assert!(!f.doc.is_empty() && !f.unit.is_empty());
    }
}

#[test]
fn div1000_equals_division_around_every_boundary_and_at_random() {
    let mut checked = 0u64;
    // Around the switch to division, around multiples of 1000 near the top of the multiply range,
    // and the extremes.
    for base in [0u64, 1 << 34, (1 << 34) - 1000, u64::MAX - 2000, 999_999_999_000] {
        for x in base.saturating_sub(2000)..base.saturating_add(2000) {
            assert_eq!(div1000(x), x / 1000, "x = {x}");
            checked += 1;
        }
    }
    // A fixed-seed xorshift over the whole multiply range.
    let mut r = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..2_000_000 {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        for x in [r >> 30, r] {
            assert_eq!(div1000(x), x / 1000, "x = {x}");
            checked += 1;
        }
    }
    assert!(checked >= 4_018_000, "checked only {checked} values");
}

#[test]
fn masked_features_equal_the_full_vector_and_leave_the_rest_alone() {
    let mut s = FlowState::start(&pkt(0, TCP_SYN, 64240, 64), 1_000);
    s.update(&pkt(0, TCP_SYN | TCP_ACK, 65160, 63), false, 21_000_000_123);
    s.update(&pkt(700, TCP_ACK | TCP_PSH, 502, 64), true, 21_500_000_000);
    let full = s.features();
    // Every single feature alone, a few mixes, and all.
    let singles = (0..FEATURE_COUNT).map(|i| 1u64 << i);
    for mask in singles.chain([0, 0b1011 << 14, (1 << 37) | (1 << 9), ALL_FEATURES]) {
        let mut out = [-7i64; FEATURE_COUNT];
        s.features_masked_into(&mut out, &mask);
        let mut skipped = 0;
        for i in 0..FEATURE_COUNT {
            if mask & (1 << i) != 0 {
                assert_eq!(out[i], full[i], "feature {i} under mask {mask:#x}");
            } else if out[i] == -7 {
                skipped += 1;
            } else {
                // Cheap features (and the duration, when a rate needs it) are written anyway,
                // and then with their true value.
                assert_eq!(out[i], full[i], "feature {i} written wrong under mask {mask:#x}");
            }
        }
        // The 14 features that divide are skipped unless wanted (the duration too, unless a
        // feature that needs it is wanted).
        let wanted_dividing = (mask & DIVIDING_FEATURES).count_ones();
        assert!(
            skipped >= 14 - wanted_dividing,
            "{skipped} skipped under {mask:#x}"
        );
    }
}

/// A flow state with every field drawn from `next` (any bit pattern a field can hold, not only
/// the states packets lead to: the bounds must hold whatever the map holds).
fn state_from(mut next: impl FnMut() -> u64) -> FlowState {
    FlowState {
        first_ts_ns: next(),
        last_ts_ns: next(),
        fwd_frame_bytes: next(),
        bwd_frame_bytes: next(),
        fwd_payload_bytes: next(),
        bwd_payload_bytes: next(),
        fwd_payload_sumsq: next(),
        bwd_payload_sumsq: next(),
        fwd_header_bytes: next(),
        bwd_header_bytes: next(),
        iat_min_ns: next(),
        iat_max_ns: next(),
        fwd_packets: next() as u32,
        bwd_packets: next() as u32,
        fwd_len_min: next() as u32,
        fwd_len_max: next() as u32,
        bwd_len_min: next() as u32,
        bwd_len_max: next() as u32,
        fin_count: next() as u16,
        syn_count: next() as u16,
        rst_count: next() as u16,
        psh_count: next() as u16,
        ack_count: next() as u16,
        urg_count: next() as u16,
        fwd_init_window: next() as u16,
        bwd_init_window: next() as u16,
        dst_port: next() as u16,
        proto: next() as u8,
        fwd_ttl: next() as u8,
        bwd_ttl: next() as u8,
        _pad: 0,
        vlan_id: next() as u16,
    }
}

#[test]
fn every_feature_lies_in_zero_to_its_max_on_any_state() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut xorshift = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let check = |s: &FlowState| {
        for (id, v) in s.features().iter().enumerate() {
            assert!(
                (0..=feature_max(id)).contains(v),
                "feature {id} ({}) = {v} outside 0..={}",
                FEATURES[id].name,
                feature_max(id)
            );
        }
    };
    for fixed in [u64::MAX, 0, 1] {
        check(&state_from(|| fixed));
    }
    for round in 0..20_000u64 {
        // Full-width values, and small ones (so that divisions and minima are exercised too).
        let small = round % 2 == 0;
        check(&state_from(|| {
            let r = xorshift();
            if small {
                r % 1_000
            } else {
                r
            }
        }));
    }
    // The narrow features do reach their type's maximum (the bound is tight, not a guess).
    let top = state_from(|| u64::MAX).features();
    for id in (0..FEATURE_COUNT).filter(|&id| feature_max(id) < i64::MAX) {
        assert_eq!(top[id], feature_max(id), "feature {id} at its field's maximum");
    }
}
