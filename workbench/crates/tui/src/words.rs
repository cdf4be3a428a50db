//! Counts in words: `1 packet`, `5 packets`.

/// `n` and the noun that agrees with it: `one` for exactly 1, `many` otherwise.
pub fn plural(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::plural;

    #[test]
    fn agrees_with_the_count() {
        assert_eq!(plural(0u64, "pass", "passes"), "0 passes");
        assert_eq!(plural(1u64, "pass", "passes"), "1 pass");
        assert_eq!(plural(2u32, "dataset", "datasets"), "2 datasets");
    }
}
