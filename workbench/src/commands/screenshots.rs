//! `workbench screenshots -o DIR`: every screen in its fixed state (fixture data, no kernel)
//! rendered at 160x48 to SVG, the pictures in README.

use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::{Result, WrapErr};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use crate::output::Output;
use workbench_tui::{fake, svg, ui};

#[derive(Debug, Args)]
pub struct ScreenshotsArgs {
    /// Directory for the SVG files (created if missing).
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
    /// Columns (the TUI's smallest supported terminal is 80x24).
    #[arg(long, default_value_t = 160, value_parser = clap::value_parser!(u16).range(80..=1000))]
    pub width: u16,
    /// Terminal rows of every screen.
    #[arg(long, default_value_t = 48, value_parser = clap::value_parser!(u16).range(24..=500))]
    pub height: u16,
    #[command(flatten)]
    pub output: Output,
}

pub fn run(args: ScreenshotsArgs) -> Result<()> {
    std::fs::create_dir_all(&args.out).wrap_err_with(|| format!("creating {}", args.out.display()))?;
    let mut written = Vec::new();
    for name in fake::SCREENS {
        let app = fake::screen(name, (args.width, args.height))?;
        let mut term = Terminal::new(TestBackend::new(args.width, args.height))?;
        term.draw(|f| ui::render(f, &app))?;
        let path = args.out.join(format!("{name}.svg"));
        std::fs::write(&path, svg::render(term.backend().buffer()))
            .wrap_err_with(|| format!("writing {}", path.display()))?;
        written.push(path.display().to_string());
    }
    args.output.emit(&Written { files: written })
}

/// The pictures written; as text, one path per line.
#[derive(serde::Serialize)]
struct Written {
    files: Vec<String>,
}

impl std::fmt::Display for Written {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.files.iter().try_for_each(|p| writeln!(f, "{p}"))
    }
}
