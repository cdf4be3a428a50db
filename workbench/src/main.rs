use std::process::ExitCode;

fn main() -> ExitCode {
    // Panic and error hooks (they restore the terminal once the TUI exists).
    let _ = color_eyre::install();
    match workbench::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Stopped by a signal after cleaning up: say so, exit with the signal's status.
            if let Some(i) = e
                .chain()
                .find_map(|c| c.downcast_ref::<workbench::lifecycle::Interrupted>())
            {
                eprintln!("workbench: {i}");
                return ExitCode::from(i.exit_status);
            }
            // A system call the signal broke (EINTR) fails with its own error: same outcome.
            if let Some((signal, exit_status)) = workbench::lifecycle::stop_signal() {
                let i = workbench::lifecycle::Interrupted { signal, exit_status };
                eprintln!("workbench: {i} (it broke: {e:#})");
                return ExitCode::from(exit_status);
            }
            // One line: the whole cause chain, no backtrace.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
