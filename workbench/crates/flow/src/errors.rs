//! An error chain on one line, `what: cause: cause`, as the binary prints any error (eyre's
//! `{:#}`). Every library crate's errors keep their causes as `#[source]` instead of in their
//! own text, so the places that print a library error themselves (the TUI's status line, a
//! note, a test) and the errors' own `{:#}` use these two functions: one wording everywhere.

use std::error::Error;
use std::fmt;

/// `e` and every cause after it, joined with ": ".
pub fn line(e: &dyn Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// For an error's `Display`: `what`, and with `{:#}` also `source` and every cause after it.
/// (eyre prints each link with `{}`, so through a report nothing comes twice.)
pub fn write_with_causes<E: Error>(what: &str, source: &E, f: &mut fmt::Formatter) -> fmt::Result {
    f.write_str(what)?;
    if f.alternate() {
        write!(f, ": {source}")?;
        let mut cause = source.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write_with_causes("reading x.ebml", &self.0, f)
        }
    }

    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn the_line_and_the_alternate_display_agree() {
        let e = Outer(std::io::Error::new(std::io::ErrorKind::NotFound, "gone"));
        assert_eq!(e.to_string(), "reading x.ebml");
        assert_eq!(format!("{e:#}"), "reading x.ebml: gone");
        assert_eq!(line(&e), "reading x.ebml: gone");
    }
}
