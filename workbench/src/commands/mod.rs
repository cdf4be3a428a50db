//! One module per subcommand: parse nothing, validate, call the library, print the result.

pub mod agent;
pub mod bench;
mod bench_tui;
pub mod config;
pub mod demo;
pub mod deploy;
pub mod eval;
pub mod eval_table;
pub mod export;
pub mod features;
pub mod gen_pcaps;
pub mod inspect;
pub mod lab;
pub mod live;
pub mod metrics;
pub mod model;
mod model_words;
pub mod probe;
mod probe_cost;
pub mod replay;
pub mod screenshots;
pub mod skew;
pub mod train;
mod train_cost;
pub mod tui;
pub mod verify;

use color_eyre::eyre::Result;
use serde::Serialize;

/// Prints one JSON document on stdout, for the outputs that have no text form (`tui --bench`,
/// the hidden `bench load-once`); every other result goes through `crate::output::Output::emit`.
pub fn print_json<T: Serialize>(value: &T) -> Result<()> {
    crate::output::Output { json: true }.emit(&crate::output::Shown::new(value, |_, _| Ok(())))
}
