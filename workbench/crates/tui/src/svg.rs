//! A terminal buffer as SVG: one monospace text run per stretch of equal style, with a
//! background rectangle where the background is not the default. Enough for README pictures;
//! no fonts embedded, so the viewer's monospace font is used.

use std::fmt::Write;

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

const CELL_W: f32 = 8.4;
const CELL_H: f32 = 17.0;
const DEFAULT_FG: &str = "#d0d0d0";
// Black, as the themes paint it: black cells then need no rectangle of their own.
const DEFAULT_BG: &str = "#000000";

/// xterm's 16 colours, then the 6x6x6 cube and the grey ramp for indexed colours.
fn hex(c: Color, default: &'static str) -> String {
    let named = |i: u8| -> &'static str {
        [
            "#000000", "#cd3131", "#0dbc79", "#e5e510", "#2472c8", "#bc3fbc", "#11a8cd", "#e5e5e5",
            "#666666", "#f14c4c", "#23d18b", "#f5f543", "#3b8eea", "#d670d6", "#29b8db", "#ffffff",
        ][i as usize & 15]
    };
    match c {
        Color::Reset => default.to_string(),
        Color::Black => named(0).into(),
        Color::Red => named(1).into(),
        Color::Green => named(2).into(),
        Color::Yellow => named(3).into(),
        Color::Blue => named(4).into(),
        Color::Magenta => named(5).into(),
        Color::Cyan => named(6).into(),
        Color::Gray => named(7).into(),
        Color::DarkGray => named(8).into(),
        Color::LightRed => named(9).into(),
        Color::LightGreen => named(10).into(),
        Color::LightYellow => named(11).into(),
        Color::LightBlue => named(12).into(),
        Color::LightMagenta => named(13).into(),
        Color::LightCyan => named(14).into(),
        Color::White => named(15).into(),
        Color::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
        Color::Indexed(i) if i < 16 => named(i).into(),
        Color::Indexed(i) if i < 232 => {
            let i = i - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
            format!(
                "#{:02x}{:02x}{:02x}",
                level(i / 36),
                level(i / 6 % 6),
                level(i % 6)
            )
        }
        Color::Indexed(i) => {
            let v = 8 + 10 * (i - 232);
            format!("#{v:02x}{v:02x}{v:02x}")
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

pub fn render(buf: &Buffer) -> String {
    let area = buf.area;
    let (w, h) = (area.width as f32 * CELL_W, area.height as f32 * CELL_H);
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.1} {h:.1}\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" font-size=\"14\">\n<rect width=\"100%\" height=\"100%\" fill=\"{DEFAULT_BG}\"/>\n"
    );
    for y in 0..area.height {
        let mut x = 0;
        while x < area.width {
            let Some(first) = buf.cell((area.x + x, area.y + y)) else {
                break;
            };
            let (fg, bg, m) = (first.fg, first.bg, first.modifier);
            let start = x;
            let mut text = String::new();
            while x < area.width {
                let Some(c) = buf.cell((area.x + x, area.y + y)) else {
                    break;
                };
                if (c.fg, c.bg, c.modifier) != (fg, bg, m) {
                    break;
                }
                text.push_str(c.symbol());
                x += 1;
            }
            let (mut fg_hex, mut bg_hex) = (hex(fg, DEFAULT_FG), hex(bg, DEFAULT_BG));
            if m.contains(Modifier::REVERSED) {
                std::mem::swap(&mut fg_hex, &mut bg_hex);
            }
            let (px, py) = (start as f32 * CELL_W, y as f32 * CELL_H);
            let width = (x - start) as f32 * CELL_W;
            if bg_hex != DEFAULT_BG {
                let _ = writeln!(out, "<rect x=\"{px:.1}\" y=\"{py:.1}\" width=\"{width:.1}\" height=\"{CELL_H}\" fill=\"{bg_hex}\"/>");
            }
            if text.trim().is_empty() {
                continue;
            }
            let weight = if m.contains(Modifier::BOLD) {
                " font-weight=\"bold\""
            } else {
                ""
            };
            let deco = if m.contains(Modifier::UNDERLINED) {
                " text-decoration=\"underline\""
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "<text x=\"{px:.1}\" y=\"{:.1}\" fill=\"{fg_hex}\"{weight}{deco} textLength=\"{width:.1}\" lengthAdjust=\"spacingAndGlyphs\" xml:space=\"preserve\">{}</text>",
                py + CELL_H * 0.78,
                escape(&text)
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::style::Style;

    #[test]
    fn runs_of_one_style_become_one_text_with_escaped_content() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 10, 2));
        buf.set_string(0, 0, "a<b", Style::new().fg(Color::Red));
        buf.set_string(3, 0, "ok", Style::new().bg(Color::Rgb(1, 2, 3)));
        let svg = render(&buf);
        assert!(svg.contains(">a&lt;b</text>"), "{svg}");
        assert!(svg.contains("fill=\"#cd3131\""));
        assert!(
            svg.contains("<rect x=\"25.2\" y=\"0.0\" width=\"16.8\" height=\"17\" fill=\"#010203\"/>"),
            "{svg}"
        );
        // Blank rows produce no text.
        assert_eq!(svg.matches("<text").count(), 2);
    }
}
