//! Datasets, the second stage of the path: loading public datasets and flow tables (`dataset`),
//! feature tables from captures computed by the probe's own code (`features`), the pitfall
//! report (`pitfalls`), training with its glue from columns to kernel features (`train`), and
//! scoring a model file on any of that data with the skew report (`eval`).
//! The only crate of the workbench that uses polars.

mod contain;
pub mod dataset;
pub mod eval;
pub mod features;
pub mod pitfalls;
pub mod progress;
pub mod train;

/// An error and its sources on one line, `outer: cause: cause`: what `{:#}` of an eyre report
/// prints, for the places that print a library error themselves (a note, a test). The errors of
/// this crate keep their causes as sources rather than in their own message.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        line.push_str(": ");
        line.push_str(&s.to_string());
        source = s.source();
    }
    line
}
