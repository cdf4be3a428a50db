//! Value checks for flags that clap's built-in parsers do not cover: names that become paths
//! (interface, namespace and lab names end up in /sys/fs/bpf/... and /run/netns/...), and
//! numbers with a meaningful range. Each returns the message clap prints after
//! "invalid value 'X' for '--flag'".

/// A Linux interface name: 1-15 bytes, no '/', whitespace or NUL, not "." or "..". The name
/// becomes a directory under the project's bpffs directory, so `../x` must never pass.
pub fn iface(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 15 {
        return Err(format!(
            "an interface name has 1 to 15 bytes, this one has {}",
            s.len()
        ));
    }
    if s == "." || s == ".." || s.contains(|c: char| c == '/' || c == ':' || c.is_whitespace() || c == '\0') {
        return Err(
            "an interface name has no '/', ':', whitespace or NUL and is not '.' or '..' (see `ip link`)"
                .into(),
        );
    }
    Ok(s.to_string())
}

/// A network namespace name as `ip netns` keeps it (a file in /run/netns).
pub fn netns(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 255 || s == "." || s == ".." || s.contains(['/', '\0']) {
        return Err(
            "a namespace name is a file name in /run/netns: 1 to 255 bytes, no '/' (see `ip netns list`)"
                .into(),
        );
    }
    Ok(s.to_string())
}

/// A replay-lab id (part of interface names).
pub fn lab_id(s: &str) -> Result<String, String> {
    workbench_kernel::lab::replay_lab::validate_id(s).map_err(|e| e.to_string())?;
    Ok(s.to_string())
}

/// A probability strictly between 0 and 1.
pub fn probability(s: &str) -> Result<f64, String> {
    let p: f64 = s
        .parse()
        .map_err(|_| format!("expected a number between 0 and 1, got {s:?}"))?;
    if !(p > 0.0 && p < 1.0) {
        return Err(format!("expected a number strictly between 0 and 1, got {p}"));
    }
    Ok(p)
}

/// A finite number of at least 0 (a regularisation strength: NaN, infinity or a negative value
/// would only fail inside the solver, after the dataset has loaded).
pub fn non_negative(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("expected a number of at least 0, got {s:?}"))?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("expected a finite number of at least 0, got {v}"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_escape_their_directory_are_refused() {
        for bad in [
            "",
            "..",
            ".",
            "../../x",
            "a/b",
            "a b",
            "sixteen-bytes-xx",
            "eth0:1",
        ] {
            assert!(iface(bad).is_err(), "{bad:?}");
        }
        for good in ["lo", "eth0", "ebml-v12345b", "enp0s31f6", "wlan0.100"] {
            assert_eq!(iface(good).as_deref(), Ok(good));
        }
        assert!(netns("../etc").is_err() && netns("").is_err());
        assert!(netns("ebml-x").is_ok());
        assert!(lab_id("a/b").is_err() && lab_id("ok1").is_ok());
        assert!(probability("0").is_err() && probability("1").is_err() && probability("nan").is_err());
        assert_eq!(probability("0.25"), Ok(0.25));
        for bad in ["-1", "nan", "inf", "-0.5", "x"] {
            assert!(non_negative(bad).is_err(), "{bad:?}");
        }
        assert_eq!(non_negative("0"), Ok(0.0));
        assert_eq!(non_negative("10"), Ok(10.0));
    }
}
