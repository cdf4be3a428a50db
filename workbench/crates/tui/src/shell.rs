//! Command lines shown to the user (TUI, confirmations) must paste back into a shell unchanged:
//! paths with spaces or quotes are quoted with `shlex` (POSIX rules).

use std::borrow::Cow;

/// One word, quoted when the shell would otherwise split or expand it. A NUL byte cannot be
/// passed to a command at all; such a word is shown as it is (it could never be pasted anyway).
pub fn word(s: &str) -> Cow<'_, str> {
    shlex::try_quote(s).unwrap_or(Cow::Borrowed(s))
}

/// Several words, each quoted as needed, joined by spaces.
pub fn words<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items.into_iter().map(word).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_the_shell_would_split() {
        assert_eq!(word("sample-pcaps/honest.pcap"), "sample-pcaps/honest.pcap");
        assert_eq!(word("/tmp/my data.csv"), "'/tmp/my data.csv'");
        assert_eq!(words(["a b", "c"]), "'a b' c");
        assert_eq!(word("it's"), "\"it's\"");
    }
}
