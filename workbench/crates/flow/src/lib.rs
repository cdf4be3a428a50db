//! Flows, without polars or aya: the first half of the workbench's path that both the data and
//! the kernel crates build on.
//!
//! `capture` reads pcap/pcapng captures; `craft` builds frames; `gen` writes the sample captures
//! with their ground truth; `twin` runs the probe's own per-packet code (`shared`) in userspace;
//! `model` holds the model file format, the float-to-integer compiler and the C export;
//! `flowfmt` presents flow keys; `explain` says why a model gave a flow its verdict.

pub mod capture;
pub mod craft;
pub mod errors;
pub mod explain;
pub mod flowfmt;
pub mod gen;
pub mod model;
pub mod twin;
