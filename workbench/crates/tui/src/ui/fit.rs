//! Lines laid out as whole items (` · ` between them) that drop items rather than cut one:
//! a number cut short reads as another number ("shadow disagrees 88" for 8802).

use ratatui::style::Style;
use ratatui::text::{Line, Span};

const SEP: &str = " · ";
const GAP: &str = "…";

fn len(s: &str) -> usize {
    s.chars().count()
}

/// `prefix`, then `items` (each with a rank: the higher, the sooner it is left out; of equal
/// ranks the later one goes first), whole, in their order, in at most `width` columns. Each run
/// of left-out items shows as `…`. Separators and `…` take `style`.
pub fn fit_spans<'a>(
    prefix: Vec<Span<'a>>,
    items: Vec<(u8, Span<'a>)>,
    style: Style,
    width: usize,
) -> Vec<Span<'a>> {
    let prefix_len: usize = prefix.iter().map(|s| len(&s.content)).sum();
    let mut keep = vec![true; items.len()];
    // Tokens are kept items and one `…` per run of left-out ones.
    let shown_len = |keep: &[bool]| {
        let mut total = prefix_len;
        let mut tokens = 0;
        for (i, (_, item)) in items.iter().enumerate() {
            let token = match keep[i] {
                true => len(&item.content),
                false if i > 0 && !keep[i - 1] => continue,
                false => len(GAP),
            };
            total += token + if tokens > 0 { len(SEP) } else { 0 };
            tokens += 1;
        }
        total
    };
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(items[i].0), std::cmp::Reverse(i)));
    for i in order {
        if shown_len(&keep) <= width {
            break;
        }
        keep[i] = false;
    }
    let mut out = prefix;
    let mut tokens = 0;
    for (i, (_, item)) in items.into_iter().enumerate() {
        let token = match keep[i] {
            true => item,
            false if i > 0 && !keep[i - 1] => continue,
            false => Span::styled(GAP, style),
        };
        if tokens > 0 {
            out.push(Span::styled(SEP, style));
        }
        out.push(token);
        tokens += 1;
    }
    out
}

/// `prefix` and as many whole `items` (joined by ` · `) as fit in `width` characters; `…` in
/// place of those left out (the last ones first).
pub fn fit_items(prefix: &str, items: &[String], width: usize) -> String {
    let ranked = items
        .iter()
        .enumerate()
        .map(|(i, item)| (u8::try_from(i).unwrap_or(u8::MAX), Span::raw(item.as_str())))
        .collect();
    fit_spans(vec![Span::raw(prefix)], ranked, Style::default(), width)
        .iter()
        .map(|s| s.content.as_ref())
        .collect()
}

/// A source label ("KERNEL probe on IF (demo lab NS) · replay pass 3 · 1200 packets sent") in
/// `width` columns: its first part, then its other parts whole (the last ones left out first).
/// A first part too long on its own is cut at a space with `…` (its first words say whose
/// verdicts these are: KERNEL or SIMULATED).
pub fn fit_label(label: &str, width: usize) -> String {
    let mut parts = label.split(SEP);
    let head = parts.next().unwrap_or("");
    if len(head) > width {
        let mut cut = String::new();
        for word in head.split(' ') {
            let sep = usize::from(!cut.is_empty());
            if len(&cut) + sep + len(word) + len(GAP) + 1 > width {
                break;
            }
            if sep == 1 {
                cut.push(' ');
            }
            cut.push_str(word);
        }
        if cut.is_empty() {
            return head.chars().take(width).collect();
        }
        return format!("{cut} {GAP}");
    }
    let rest: Vec<String> = parts.map(str::to_string).collect();
    if rest.is_empty() {
        return head.to_string();
    }
    fit_items(&format!("{head}{SEP}"), &rest, width)
}

/// `spans` in lines of at most `width` columns, broken between words (a word longer than a
/// line is cut into pieces); each word keeps its span's style. Spaces stay as written except
/// the one a break replaces.
pub fn wrap_spans(spans: Vec<Span<'_>>, width: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    // On a line a break started, the space before its first word is the break.
    let sep = |i: usize, used: usize, broken: bool| usize::from(i > 0 && (used > 0 || !broken));
    let mut broken = false;
    for span in spans {
        for (i, word) in span.content.split(' ').enumerate() {
            if used > 0 && used + sep(i, used, broken) + len(word) > width {
                lines.push(Line::from(std::mem::take(&mut line)));
                (used, broken) = (0, true);
            }
            let mut piece: String = " ".repeat(sep(i, used, broken));
            let mut room = width.saturating_sub(used + piece.len());
            for c in word.chars() {
                if room == 0 {
                    line.push(Span::styled(std::mem::take(&mut piece), span.style));
                    lines.push(Line::from(std::mem::take(&mut line)));
                    (used, broken, room) = (0, true, width);
                }
                piece.push(c);
                room -= 1;
            }
            used += len(&piece);
            if !piece.is_empty() {
                line.push(Span::styled(piece, span.style));
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(Line::from(line));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_left_out_whole_never_cut_mid_number() {
        let items = ["host F1 0.843".to_string(), "random F1 0.990".to_string()];
        let all = "other splits: host F1 0.843 · random F1 0.990";
        assert_eq!(fit_items("other splits: ", &items, 80), all);
        assert_eq!(fit_items("other splits: ", &items, all.chars().count()), all);
        // One character short: the last item goes whole, `…` says something was left out.
        assert_eq!(
            fit_items("other splits: ", &items, all.chars().count() - 1),
            "other splits: host F1 0.843 · …"
        );
        assert_eq!(fit_items("other splits: ", &items, 20), "other splits: …");
        for width in 0..60 {
            let shown = fit_items("other splits: ", &items, width);
            assert!(
                shown.ends_with('…') || shown.ends_with("0.843") || shown.ends_with("0.990"),
                "{width}: {shown}"
            );
        }
    }

    #[test]
    fn the_least_important_items_go_first_and_the_rest_keep_their_order() {
        let items = vec![
            (0, Span::raw("flows 14189")),
            (3, Span::raw("shown 14189")),
            (0, Span::raw("flagged 5072")),
            (1, Span::raw("shadow disagrees 8802 (w)")),
            (4, Span::raw("sort age↓")),
        ];
        let text = |width| -> String {
            fit_spans(Vec::new(), items.clone(), Style::default(), width)
                .iter()
                .map(|s| s.content.as_ref())
                .collect()
        };
        let all = "flows 14189 · shown 14189 · flagged 5072 · shadow disagrees 8802 (w) · sort age↓";
        assert_eq!(text(80), all);
        // Too wide by two: the sort goes, then `shown` (equal to flows without a filter).
        assert_eq!(
            text(72),
            "flows 14189 · shown 14189 · flagged 5072 · shadow disagrees 8802 (w) · …"
        );
        assert_eq!(
            text(71),
            "flows 14189 · … · flagged 5072 · shadow disagrees 8802 (w) · …"
        );
        assert_eq!(text(40), "flows 14189 · … · flagged 5072 · …");
        for width in 15..90 {
            let shown = text(width);
            assert!(shown.contains("flows 14189"), "{width}: {shown}");
            if shown.contains("disagrees") {
                assert!(shown.contains("8802 (w)"), "{width}: {shown}");
            }
        }
    }

    #[test]
    fn a_label_keeps_its_first_words_and_whole_numbers() {
        let label = "KERNEL probe on ebml-pr13b (demo lab ebml-pr13) · replay pass 63 · 656828 packets sent";
        assert_eq!(fit_label(label, 100), label);
        assert_eq!(
            fit_label(label, 70),
            "KERNEL probe on ebml-pr13b (demo lab ebml-pr13) · replay pass 63 · …"
        );
        let simulated = "SIMULATED (userspace twin, no kernel: no privileges for the kernel (lacks CAP_BPF, CAP_NET_ADMIN)) · honest.pcap replayed 100x";
        let shown = fit_label(simulated, 60);
        assert!(shown.starts_with("SIMULATED (userspace twin"), "{shown}");
        assert!(shown.ends_with(" …") && shown.chars().count() <= 60, "{shown}");
    }

    #[test]
    fn wrap_spans_breaks_between_words_and_keeps_styles() {
        let text = |lines: &[Line]| -> Vec<String> {
            lines
                .iter()
                .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
                .collect()
        };
        let bold = Style::default().add_modifier(ratatui::style::Modifier::BOLD);
        let lines = wrap_spans(
            vec![Span::styled("8802 decisions", bold), Span::raw(" so far on Live")],
            12,
        );
        assert_eq!(text(&lines), ["8802", "decisions so", "far on Live"]);
        assert_eq!(lines[1].spans[0].style, bold);
        assert_eq!(
            text(&wrap_spans(vec![Span::raw("abcdefgh ij")], 5)),
            ["abcde", "fgh", "ij"]
        );
        assert_eq!(
            text(&wrap_spans(vec![Span::raw("fits whole")], 80)),
            ["fits whole"]
        );
        // An indent the line starts with stays; the space a break replaces goes.
        assert_eq!(
            text(&wrap_spans(vec![Span::raw(" r "), Span::raw(" roll back")], 10)),
            [" r  roll", "back"]
        );
    }
}
