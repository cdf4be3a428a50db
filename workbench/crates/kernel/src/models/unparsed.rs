//! The policy for frames the probe cannot read (`ProbeConfig::drop_unparsed`): which reasons
//! enforce mode drops (and dry-run counts), as `deploy --drop-unparsed`, the agent's
//! `drop_unparsed` key and `probe status` name them: the probe statistics' names.

use crate::error::{fail, Result};
use shared::abi::{unparsed_bit, NEVER_DROPPED};
use shared::ParseError;

/// The reasons a policy may name: every parse failure but `not_ip` ([`NEVER_DROPPED`]).
fn droppable() -> impl Iterator<Item = ParseError> {
    ParseError::ALL
        .into_iter()
        .filter(|&r| unparsed_bit(r) & NEVER_DROPPED == 0)
}

/// The reasons in `mask`, by name, in the statistics' order (an empty list: none dropped).
pub fn names(mask: u32) -> Vec<&'static str> {
    droppable()
        .filter(|&r| mask & unparsed_bit(r) != 0)
        .map(ParseError::name)
        .collect()
}

/// `mask` in words for text output, e.g. "too_many_ipv6_ext_headers" or "none".
pub fn words(mask: u32) -> String {
    listed(&names(mask))
}

/// Reason names (as [`names`] gives them, or a report's `drop_unparsed`) for text output.
pub fn listed(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// A policy from `none` or a comma-separated list of reasons (the names of the probe's
/// unparsed statistics); `not_ip` and unknown names are refused, naming the valid ones.
pub fn parse(list: &str) -> Result<u32> {
    parse_as("--drop-unparsed", list)
}

/// [`parse`], its errors starting with `what` (the flag, or the agent's key).
pub fn parse_as(what: &str, list: &str) -> Result<u32> {
    let list = list.trim();
    if list == "none" {
        return Ok(0);
    }
    let mut mask = 0;
    for name in list.split(',').map(str::trim) {
        if name == ParseError::NotIp.name() {
            fail!(
                Invalid,
                "{what}: not_ip frames (ARP, LLDP, ...) are never dropped: the probe does not read them, \
                 and dropping ARP would cut the machine off its network; name only IP frames the probe cannot read: {}",
                valid()
            );
        }
        match droppable().find(|r| r.name() == name) {
            Some(r) => mask |= unparsed_bit(r),
            None => fail!(
                Invalid,
                "{what}: unknown reason {name:?}; give `none` or a comma-separated list of: {}",
                valid()
            ),
        }
    }
    Ok(mask)
}

/// Refuses a mask that names a reason no policy may name (a hand-edited configuration).
pub fn check(mask: u32) -> Result<()> {
    let known: u32 = droppable().map(unparsed_bit).fold(0, |a, b| a | b);
    if mask & !known != 0 {
        fail!(
            Invalid,
            "drop_unparsed {mask:#x} names reasons outside {}: not_ip frames are never dropped",
            valid()
        );
    }
    Ok(())
}

fn valid() -> String {
    droppable().map(ParseError::name).collect::<Vec<_>>().join(", ")
}

/// clap's parser for `--drop-unparsed`.
pub fn value_parser(list: &str) -> std::result::Result<u32, String> {
    parse(list).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::abi::DROP_UNPARSED_DEFAULT;

    #[test]
    fn policies_read_and_print_by_the_statistics_names() {
        assert_eq!(names(DROP_UNPARSED_DEFAULT), ["too_many_ipv6_ext_headers"]);
        assert_eq!(words(0), "none");
        assert_eq!(parse("none").expect("none"), 0);
        let two = parse("ip_fragment, too_many_ipv6_ext_headers").expect("two reasons");
        assert_eq!(names(two), ["ip_fragment", "too_many_ipv6_ext_headers"]);
        assert_eq!(
            two,
            unparsed_bit(ParseError::Fragment) | unparsed_bit(ParseError::TooManyIpv6ExtensionHeaders)
        );
        check(two).expect("a valid policy");
        let not_ip = parse("not_ip").expect_err("never dropped").to_string();
        assert!(
            not_ip.contains("never dropped") && not_ip.contains("ip_fragment"),
            "{not_ip}"
        );
        let unknown = parse("fragments").expect_err("unknown").to_string();
        assert!(
            unknown.contains("\"fragments\"") && unknown.contains("too_many_ipv6_ext_headers"),
            "{unknown}"
        );
        assert!(check(NEVER_DROPPED).is_err());
        assert!(check(1 << 31).is_err());
    }
}
