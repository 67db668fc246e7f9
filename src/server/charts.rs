//! Bar charts drawn on the server as inline SVG: no script, no external file, nothing fetched.
//! The pages build a typed [`BarChart`] from their data and insert [`BarChart::to_svg`].
//!
//! Invariants: every text that reaches the SVG (title, description, labels, links) goes
//! through [`xml_text`], which escapes markup and replaces characters XML cannot hold; a link
//! is drawn only when it is a path on this site (`/…`, never `//host` or `javascript:`); each
//! bar is exactly one `<rect class="bar">` (inside an `<a>` when it links), so the number of
//! bars a page shows is the number of `rect.bar` elements. The chart is labelled for screen
//! readers (`role="img"` with a `<title>`; each bar's `<title>` and link label say its label
//! and value).

use std::fmt::Write as _;

/// One bar: what it counts, how many, and the page that lists them.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: u64,
    /// A path on this site (e.g. the matching search); anything else is not linked.
    pub href: Option<String>,
}

/// A bar chart: one series of bars left to right, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    pub title: String,
    /// One sentence for screen readers: what the bars count.
    pub description: String,
    pub bars: Vec<Bar>,
    /// Which palette colour the bars take (a closed choice, so a page cannot inject a style).
    pub tone: Tone,
    /// Drawing size in CSS pixels.
    pub size: Size,
}

/// Bar colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tone {
    #[default]
    Accent,
    Good,
    Warn,
    Bad,
    Muted,
}

impl Tone {
    fn fill(self) -> &'static str {
        match self {
            Tone::Accent => "#0b5cad",
            Tone::Good => "#116329",
            Tone::Warn => "#bc4c00",
            Tone::Bad => "#a4001d",
            Tone::Muted => "#6e7781",
        }
    }
}

/// How big a chart is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Size {
    /// A page's main chart: 640 × 220.
    #[default]
    Wide,
    /// A small histogram beside a list (facets): 240 × 80, no value labels.
    Small,
}

impl Size {
    fn dims(self) -> (f64, f64) {
        match self {
            Size::Wide => (640.0, 220.0),
            Size::Small => (240.0, 80.0),
        }
    }
}

/// Room below the bars for their labels, and above for the title.
const LABEL_ROOM: f64 = 34.0;
const TITLE_ROOM: f64 = 22.0;
const SMALL_LABEL_ROOM: f64 = 14.0;

impl BarChart {
    pub fn new(title: &str, description: &str, bars: Vec<Bar>) -> BarChart {
        BarChart {
            title: title.to_string(),
            description: description.to_string(),
            bars,
            tone: Tone::default(),
            size: Size::default(),
        }
    }

    pub fn tone(mut self, tone: Tone) -> BarChart {
        self.tone = tone;
        self
    }

    pub fn small(mut self) -> BarChart {
        self.size = Size::Small;
        self
    }

    /// The chart as one `<svg>` element, ready to be put into an HTML page as it is.
    pub fn to_svg(&self) -> String {
        let (width, height) = self.size.dims();
        let small = self.size == Size::Small;
        let top = if small { 4.0 } else { TITLE_ROOM };
        let bottom = if small { SMALL_LABEL_ROOM } else { LABEL_ROOM };
        let plot = height - top - bottom;
        let max = self.bars.iter().map(|b| b.value).max().unwrap_or(0).max(1) as f64;
        let slot = width / self.bars.len().max(1) as f64;
        let gap = (slot * 0.2).min(6.0);
        let mut out = String::with_capacity(512 + self.bars.len() * 320);
        let _ = write!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" role=\"img\" \
             viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" \
             aria-label=\"{}\"><title>{}</title><desc>{}</desc>",
            xml_text(&self.title),
            xml_text(&self.title),
            xml_text(&self.description)
        );
        if !small {
            let _ = write!(
                out,
                "<text x=\"0\" y=\"14\" font-size=\"13\" font-weight=\"600\" fill=\"#1b1f24\">{}</text>",
                xml_text(&self.title)
            );
        }
        let base = top + plot;
        let _ = write!(
            out,
            "<line x1=\"0\" y1=\"{base}\" x2=\"{width}\" y2=\"{base}\" stroke=\"#d5dbe1\"/>"
        );
        // Labels under the bars: as many as fit without overlapping (about 7 px a character).
        let every = label_step(&self.bars, slot, small);
        for (i, bar) in self.bars.iter().enumerate() {
            let x = i as f64 * slot + gap / 2.0;
            let w = (slot - gap).max(1.0);
            let h = (bar.value as f64 / max * plot).max(if bar.value > 0 { 1.0 } else { 0.0 });
            let y = base - h;
            let said = format!("{}: {}", bar.label, bar.value);
            let link = bar.href.as_deref().filter(|h| is_site_path(h));
            if let Some(href) = link {
                let _ = write!(
                    out,
                    "<a href=\"{}\" aria-label=\"{}\">",
                    xml_text(href),
                    xml_text(&said)
                );
            }
            let _ = write!(
                out,
                "<rect class=\"bar\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" \
                 fill=\"{}\" data-value=\"{}\"><title>{}</title></rect>",
                self.tone.fill(),
                bar.value,
                xml_text(&said)
            );
            if link.is_some() {
                out.push_str("</a>");
            }
            let cx = x + w / 2.0;
            if !small && bar.value > 0 && slot >= 18.0 {
                let _ = write!(
                    out,
                    "<text x=\"{cx:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#5b6570\" aria-hidden=\"true\">{}</text>",
                    y - 3.0,
                    bar.value
                );
            }
            if i % every == 0 {
                let _ = write!(
                    out,
                    "<text x=\"{cx:.1}\" y=\"{:.1}\" font-size=\"{}\" text-anchor=\"middle\" fill=\"#5b6570\" aria-hidden=\"true\">{}</text>",
                    base + if small { 11.0 } else { 14.0 },
                    if small { 9 } else { 11 },
                    xml_text(&shorten(&bar.label, if small { 6 } else { 14 }))
                );
            }
        }
        out.push_str("</svg>");
        out
    }
}

/// Show every n-th label so that labels do not overlap.
fn label_step(bars: &[Bar], slot: f64, small: bool) -> usize {
    let max_chars = if small { 6 } else { 14 };
    let longest = bars
        .iter()
        .map(|b| b.label.chars().count().min(max_chars))
        .max()
        .unwrap_or(1)
        .max(1);
    let needed = longest as f64 * if small { 5.5 } else { 6.5 } + 4.0;
    ((needed / slot.max(1.0)).ceil() as usize).max(1)
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A path on this site: starts with one `/` (not `//`, which names another host) and holds no
/// backslash (which browsers read as `/`).
fn is_site_path(href: &str) -> bool {
    href.starts_with('/') && !href.starts_with("//") && !href.contains('\\')
}

/// `s` made safe as SVG text or an attribute value: markup characters become references, and
/// characters XML 1.0 cannot hold at all (C0 controls but tab, LF, CR; U+FFFE/U+FFFF) become
/// U+FFFD, since even as references they would make the document ill-formed.
pub fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(' '),
            '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}' => {
                out.push('\u{fffd}')
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(label: &str, value: u64, href: Option<&str>) -> Bar {
        Bar {
            label: label.into(),
            value,
            href: href.map(str::to_string),
        }
    }

    #[test]
    fn one_rect_per_bar_and_a_link_where_given() {
        let chart = BarChart::new(
            "Rights",
            "assets by rights status",
            vec![
                bar("ok", 5, Some("/?q=rights%3Aok")),
                bar("expired", 0, Some("/?q=rights%3Aexpired")),
                bar("unknown", 2, None),
            ],
        );
        let svg = chart.to_svg();
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 3);
        assert_eq!(svg.matches("<a href=").count(), 2);
        assert!(svg.contains("<a href=\"/?q=rights%3Aok\" aria-label=\"ok: 5\">"));
        assert!(svg.contains("data-value=\"2\""));
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("<title>Rights</title><desc>assets by rights status</desc>"));
    }

    #[test]
    fn the_largest_bar_fills_the_plot_and_zero_draws_nothing() {
        let svg = BarChart::new("t", "d", vec![bar("a", 10, None), bar("b", 0, None)]).to_svg();
        let plot = 220.0 - TITLE_ROOM - LABEL_ROOM;
        assert!(svg.contains(&format!("height=\"{plot:.1}\"")), "{svg}");
        assert!(svg.contains("height=\"0.0\""), "{svg}");
    }

    #[test]
    fn hostile_labels_and_links_stay_inert() {
        let hostile = "<script>alert(1)</script>\"' & \u{0}\u{1b}";
        let chart = BarChart::new(
            hostile,
            hostile,
            vec![
                bar(hostile, 1, Some("javascript:alert(1)")),
                bar("x", 1, Some("//evil.example/")),
                bar("y", 1, Some("/\\evil.example")),
                bar("z", 1, Some("/?q=\"><script>")),
            ],
        );
        let svg = chart.to_svg();
        assert!(!svg.contains("<script"), "{svg}");
        assert!(!svg.contains("javascript:"));
        assert!(!svg.contains("evil.example"));
        assert!(!svg.contains('\u{0}') && !svg.contains('\u{1b}'));
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39; &amp;"));
        assert!(svg.contains("<a href=\"/?q=&quot;&gt;&lt;script&gt;\""));
        assert_eq!(svg.matches("<a href=").count(), 1);
        assert_eq!(svg.matches("class=\"bar\"").count(), 4);
    }

    #[test]
    fn an_empty_chart_is_still_well_formed() {
        let svg = BarChart::new("none", "nothing", vec![]).small().to_svg();
        assert!(svg.ends_with("</svg>"));
        assert_eq!(svg.matches("class=\"bar\"").count(), 0);
    }

    #[test]
    fn crowded_labels_are_thinned_but_every_bar_is_drawn() {
        let bars: Vec<Bar> = (0..24)
            .map(|i| bar(&format!("2027-{:02}", i % 12 + 1), i, None))
            .collect();
        let svg = BarChart::new("months", "d", bars).to_svg();
        assert_eq!(svg.matches("class=\"bar\"").count(), 24);
        let labels = svg.matches("aria-hidden=\"true\">2027-").count();
        assert!((6..24).contains(&labels), "{labels}");
    }
}
