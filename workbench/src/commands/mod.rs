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

/// Warns, once per capture, when packets of several interfaces were read into one flow table
/// (no `--interface` given): a packet forwarded between them counts twice in its flow.
pub fn warn_several_interfaces(interfaces: &[workbench_flow::capture::InterfaceCount]) {
    use std::io::Write;
    let mut files: Vec<&str> = interfaces.iter().map(|i| i.file.as_str()).collect();
    files.dedup();
    for file in files {
        let of_file: Vec<_> = interfaces.iter().filter(|i| i.file == file).cloned().collect();
        if let Some(warning) = workbench_flow::capture::several_interfaces_warning(&of_file) {
            // Not eprintln!: a closed stderr must not panic the command.
            let _ = writeln!(std::io::stderr(), "warning: {warning}");
        }
    }
}
