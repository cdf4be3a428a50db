use std::process::ExitCode;

fn main() -> ExitCode {
    // Panic and error hooks (they restore the terminal once the TUI exists).
    let _ = color_eyre::install();
    match workbench::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the whole cause chain, no backtrace.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
