//! Benchmarks: what the workbench costs, measured on this machine (`workbench bench ...`).

pub mod figure;
pub mod machine;
pub mod models;
pub mod probe;
