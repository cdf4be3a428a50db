//! Feature values as people read them: `5.2 s` rather than `5200000 us`.

/// A value of a feature with `unit` (the units of `shared::features::FEATURES`), short.
pub fn value(v: f64, unit: &str) -> String {
    let scaled = |v: f64, steps: &[(f64, &str)]| -> String {
        for &(size, name) in steps {
            if v.abs() >= size {
                return format!("{} {name}", short(v / size));
            }
        }
        let (_, base) = steps.last().copied().unwrap_or((1.0, ""));
        format!("{} {base}", short(v))
    };
    match unit {
        "us" => {
            if v.abs() >= 120e6 {
                format!("{} min", short(v / 60e6))
            } else {
                scaled(v, &[(1e6, "s"), (1e3, "ms"), (1.0, "us")])
            }
        }
        "bytes" => scaled(v, &[(1e9, "GB"), (1e6, "MB"), (1e3, "KB"), (1.0, "B")]),
        "bytes/s" => scaled(v, &[(1e9, "GB/s"), (1e6, "MB/s"), (1e3, "KB/s"), (1.0, "B/s")]),
        "packets/s" => scaled(
            v,
            &[(1e6, "M packets/s"), (1e3, "k packets/s"), (1.0, "packets/s")],
        ),
        "packets" => format!("{} packets", short(v)),
        "bytes^2" => format!("{} bytes^2", short(v)),
        "port" => format!("port {}", v.round()),
        "ip protocol" => format!("protocol {}", v.round()),
        "hops" => format!("TTL {}", v.round()),
        _ => short(v),
    }
}

/// Three significant digits at most, no needless zeros.
pub fn short(v: f64) -> String {
    let a = v.abs();
    let s = if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A share as a percentage people read at a glance.
pub fn percent(share: f64) -> String {
    let p = share * 100.0;
    if p > 0.0 && p < 1.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_read_naturally() {
        assert_eq!(value(5_200_000.0, "us"), "5.2 s");
        assert_eq!(value(400.0, "us"), "400 us");
        assert_eq!(value(1_500.0, "us"), "1.5 ms");
        assert_eq!(value(130e6, "us"), "2.17 min");
        assert_eq!(value(1_440.0, "bytes"), "1.44 KB");
        assert_eq!(value(6.0, "ip protocol"), "protocol 6");
        assert_eq!(value(3.0, "packets"), "3 packets");
        assert_eq!(percent(0.004), "0.4%");
        assert_eq!(percent(0.41), "41%");
    }
}
