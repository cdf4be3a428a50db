//! Benchmarks: what the workbench costs, measured on this machine (`workbench bench ...`).

pub mod child;
pub mod cic_file;
pub mod figure;
pub mod load;
pub mod machine;
pub mod models;
pub mod pitfalls;
pub mod probe;
pub mod python;
pub mod train;
