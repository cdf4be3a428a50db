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

/// An error and its sources on one line, `outer: cause: cause` (the flow crate's `errors::line`,
/// one wording in every crate).
pub use workbench_flow::errors::line as error_chain;
