//! The `capture` condition of a rules file: which capture file a flow was read from, so that one
//! rules file can label a whole set of captures file by file (`bench/real-eval/labels.toml`
//! labels the real captures in ../shared/data/pcaps this way).
//!
//! The pattern is compared with the end of the capture's path, component by component, and `*`
//! in a component matches any run of characters: `http.pcap` matches `../data/pcaps/http.pcap`,
//! `apps/*` every file in a directory named `apps`, `*.pcapng` every pcapng file.

use std::fmt;
use std::path::Path;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturePattern(Vec<String>);

/// Whether `text` matches `pattern`, where `*` stands for any run of characters.
fn wild(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(mut tail) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('*').collect();
    let (last, middle) = parts.split_last().unwrap_or((&"", &[]));
    for part in middle {
        match tail.find(part) {
            Some(i) => tail = &tail[i + part.len()..],
            None => return false,
        }
    }
    tail.len() >= last.len() && tail.ends_with(last)
}

/// A `capture` value of a rule that names no capture (empty, or climbing with `..`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a capture pattern such as \"http.pcap\" or \"apps/*\" (the end of the capture's \
     path, `*` for any characters)"
)]
pub struct NotAPattern(pub String);

impl CapturePattern {
    pub fn parse(s: &str) -> Result<CapturePattern, NotAPattern> {
        let parts: Vec<String> = s
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .map(str::to_string)
            .collect();
        if parts.is_empty() || parts.iter().any(|c| c == "..") {
            return Err(NotAPattern(s.to_string()));
        }
        Ok(CapturePattern(parts))
    }

    pub fn matches(&self, capture: &Path) -> bool {
        let components: Vec<String> = capture
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        components.len() >= self.0.len()
            && self
                .0
                .iter()
                .rev()
                .zip(components.iter().rev())
                .all(|(p, c)| wild(p, c))
    }
}

struct PatternVisitor;

impl Visitor<'_> for PatternVisitor {
    type Value = CapturePattern;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the end of a capture's path, such as \"http.pcap\" or \"apps/*\"")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<CapturePattern, E> {
        CapturePattern::parse(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for CapturePattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(PatternVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_the_end_of_the_path() {
        let p = |s: &str| CapturePattern::parse(s).expect(s);
        let path = Path::new("../shared/data/pcaps/apps/zoom.pcap");
        assert!(p("zoom.pcap").matches(path));
        assert!(p("apps/*").matches(path));
        assert!(p("pcaps/apps/z*.pcap").matches(path));
        assert!(p("*.pcap").matches(path));
        assert!(!p("*.pcapng").matches(path));
        assert!(!p("pcaps/*").matches(path));
        assert!(!p("oom.pcap").matches(path));
        assert!(p("*zoom*").matches(path));
        assert!(CapturePattern::parse("../x.pcap").is_err());
        assert!(CapturePattern::parse("").is_err());
    }
}
