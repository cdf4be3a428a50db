//! Colours. Three themes, switched with `t`: the default; high contrast (black and white with
//! bold and reverse video, for projectors); colour-blind safe (Okabe-Ito blue/orange, never
//! red against green, and verdicts are also told apart by their text).

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThemeKind {
    Default,
    HighContrast,
    ColourBlind,
}

impl ThemeKind {
    /// Names for `tui --theme` and the config file's `theme`.
    pub const NAMES: &'static [&'static str] = &["default", "high-contrast", "colour-blind"];

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "default" => Some(ThemeKind::Default),
            "high-contrast" => Some(ThemeKind::HighContrast),
            "colour-blind" => Some(ThemeKind::ColourBlind),
            _ => None,
        }
    }

    pub fn next(self) -> Self {
        match self {
            ThemeKind::Default => ThemeKind::HighContrast,
            ThemeKind::HighContrast => ThemeKind::ColourBlind,
            ThemeKind::ColourBlind => ThemeKind::Default,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ThemeKind::Default => "default",
            ThemeKind::HighContrast => "high contrast",
            ThemeKind::ColourBlind => "colour-blind safe",
        }
    }

    pub fn theme(self) -> Theme {
        match self {
            ThemeKind::Default => Theme {
                base: Style::new().fg(Color::Gray).bg(Color::Black),
                title: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
                tab_active: Style::new()
                    .fg(Color::Black)
                    .bg(Color::Cyan)
                    .add_modifier(Modifier::BOLD),
                selected: Style::new().bg(Color::DarkGray).fg(Color::White),
                malicious: Style::new().fg(Color::LightRed).add_modifier(Modifier::BOLD),
                benign: Style::new().fg(Color::Green),
                undecided: Style::new().fg(Color::DarkGray),
                accent: Style::new().fg(Color::Yellow),
                dim: Style::new().fg(Color::DarkGray),
                simulated: Style::new()
                    .fg(Color::Black)
                    .bg(Color::Yellow)
                    .add_modifier(Modifier::BOLD),
                kernel: Style::new()
                    .fg(Color::Black)
                    .bg(Color::Green)
                    .add_modifier(Modifier::BOLD),
                spark: Style::new().fg(Color::Cyan),
            },
            ThemeKind::HighContrast => Theme {
                base: Style::new().fg(Color::White).bg(Color::Black),
                title: Style::new()
                    .fg(Color::White)
                    .add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
                tab_active: Style::new()
                    .fg(Color::Black)
                    .bg(Color::White)
                    .add_modifier(Modifier::BOLD),
                selected: Style::new().fg(Color::Black).bg(Color::White),
                malicious: Style::new()
                    .fg(Color::White)
                    .add_modifier(Modifier::BOLD | Modifier::REVERSED),
                benign: Style::new().fg(Color::White),
                undecided: Style::new().fg(Color::White).add_modifier(Modifier::DIM),
                accent: Style::new().fg(Color::White).add_modifier(Modifier::BOLD),
                dim: Style::new().fg(Color::White),
                simulated: Style::new()
                    .fg(Color::Black)
                    .bg(Color::White)
                    .add_modifier(Modifier::BOLD),
                kernel: Style::new()
                    .fg(Color::Black)
                    .bg(Color::White)
                    .add_modifier(Modifier::BOLD),
                spark: Style::new().fg(Color::White),
            },
            ThemeKind::ColourBlind => {
                let blue = Color::Rgb(0, 114, 178);
                let orange = Color::Rgb(230, 159, 0);
                let sky = Color::Rgb(86, 180, 233);
                Theme {
                    base: Style::new().fg(Color::Gray).bg(Color::Black),
                    title: Style::new().fg(sky).add_modifier(Modifier::BOLD),
                    tab_active: Style::new().fg(Color::Black).bg(sky).add_modifier(Modifier::BOLD),
                    selected: Style::new().bg(Color::DarkGray).fg(Color::White),
                    malicious: Style::new().fg(orange).add_modifier(Modifier::BOLD),
                    benign: Style::new().fg(blue),
                    undecided: Style::new().fg(Color::DarkGray),
                    accent: Style::new().fg(orange),
                    dim: Style::new().fg(Color::DarkGray),
                    simulated: Style::new()
                        .fg(Color::Black)
                        .bg(orange)
                        .add_modifier(Modifier::BOLD),
                    kernel: Style::new()
                        .fg(Color::White)
                        .bg(blue)
                        .add_modifier(Modifier::BOLD),
                    spark: Style::new().fg(sky),
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub base: Style,
    pub title: Style,
    pub tab_active: Style,
    pub selected: Style,
    pub malicious: Style,
    pub benign: Style,
    pub undecided: Style,
    pub accent: Style,
    pub dim: Style,
    pub simulated: Style,
    pub kernel: Style,
    pub spark: Style,
}

impl Theme {
    pub fn verdict(&self, verdict: &str) -> Style {
        match verdict {
            "malicious" => self.malicious,
            "benign" => self.benign,
            _ => self.undecided,
        }
    }
}
