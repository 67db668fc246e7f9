//! ferry's HTML, shared by the web app and the drift report: the escaper every template uses,
//! the one stylesheet, the one layout's data (`templates/base.html`), and [`Markup`], the only
//! way Rust code hands a template a piece of HTML.
//!
//! Templates are askama's (`templates/`): compiled into the binary and checked when ferry
//! builds, so a template naming a field a page does not have is a build error, and nothing is
//! read or parsed at run time. minijinja was the other candidate: it loads templates at run
//! time, so a typo shows up only when a curator opens the page, and its values are untyped.
//! maud keeps the markup in Rust macros, which is the string building this replaced.
//!
//! Invariant: every value a template prints goes through [`Escape`] (`askama.toml` makes it
//! the escaper of every `.html` template): `&`, `<`, `>`, `"` and `'` become character
//! references and control characters become visible pictures. `|safe` is only ever applied to
//! the stylesheet and to [`Markup`], whose text parts are escaped when it is built.

use crate::store::Lockout;
use std::fmt;

/// The one stylesheet, inlined by every page (the report file must stay self-contained, and
/// inlining in the app needs no extra route or cache rule).
pub const CSS: &str = include_str!("../templates/ferry.css");

/// askama's escaper for ferry's templates (see `askama.toml`): [`escape_html`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Escape;

impl askama::filters::Escaper for Escape {
    fn write_escaped_str<W: fmt::Write>(&self, mut dest: W, s: &str) -> fmt::Result {
        write_escaped(&mut dest, s)
    }
}

/// `s` escaped for HTML text and attribute values: `&`, `<`, `>`, `"` and `'` become character
/// references. Control characters other than tab, LF and CR (which HTML forbids in a document)
/// are shown as their Unicode control pictures (U+0007 as `␇`, U+007F as `␡`), C1 controls as
/// U+FFFD.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    let _ = write_escaped(&mut out, s);
    out
}

fn write_escaped<W: fmt::Write + ?Sized>(out: &mut W, s: &str) -> fmt::Result {
    let mut start = 0;
    let mut picture = [0u8; 4];
    for (i, c) in s.char_indices() {
        let rep: &str = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&#39;",
            '\t' | '\n' | '\r' => continue,
            '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32)
                .unwrap_or('\u{fffd}')
                .encode_utf8(&mut picture),
            '\u{7f}' => "\u{2421}",
            '\u{80}'..='\u{9f}' => "\u{fffd}",
            _ => continue,
        };
        out.write_str(&s[start..i])?;
        out.write_str(rep)?;
        start = i + c.len_utf8();
    }
    out.write_str(&s[start..])
}

/// A piece of HTML built in Rust for a template (`{{ markup|safe }}`): its markup can only be
/// `'static` text written in ferry's source, and every other text is escaped as it is added,
/// so no value from a system or a person can become markup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Markup(String);

impl Markup {
    pub fn new() -> Markup {
        Markup::default()
    }

    /// Appends markup written in ferry's source (a tag, an attribute's name).
    pub fn tag(&mut self, markup: &'static str) -> &mut Markup {
        self.0.push_str(markup);
        self
    }

    /// Appends text, escaped.
    pub fn text(&mut self, text: &str) -> &mut Markup {
        let _ = write_escaped(&mut self.0, text);
        self
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Markup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which navigation entry of the app is the current page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Search,
    Conflicts,
    Runs,
    Rights,
    None,
}

/// What every app page shows around its content: the lockout banner and the conflict count.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    pub lockout: Option<Lockout>,
    pub open_conflicts: u64,
}

/// The app's header around a page.
#[derive(Debug, Clone)]
pub struct AppBar {
    pub nav: Nav,
    pub chrome: Chrome,
}

/// One link of the app's navigation.
pub struct NavEntry {
    pub href: &'static str,
    pub label: &'static str,
    pub active: bool,
    /// Shown as a red count beside the label when above 0.
    pub count: u64,
}

impl AppBar {
    pub fn entries(&self) -> [NavEntry; 4] {
        let entry = |href, label, this: Nav, count| NavEntry {
            href,
            label,
            active: self.nav == this,
            count,
        };
        [
            entry("/", "Search", Nav::Search, 0),
            entry(
                "/conflicts",
                "Conflicts",
                Nav::Conflicts,
                self.chrome.open_conflicts,
            ),
            entry("/runs", "Runs", Nav::Runs, 0),
            entry("/rights", "Rights", Nav::Rights, 0),
        ]
    }
}

/// What `templates/base.html` needs: the title, and the app's header unless the page is a
/// standalone file (then a Content-Security-Policy meta element takes its place, since no
/// server sends one).
#[derive(Debug, Clone)]
pub struct Layout {
    pub title: String,
    pub app: Option<AppBar>,
}

impl Layout {
    /// A page of the web app.
    pub fn app(title: impl Into<String>, nav: Nav, chrome: &Chrome) -> Layout {
        Layout {
            title: title.into(),
            app: Some(AppBar {
                nav,
                chrome: chrome.clone(),
            }),
        }
    }

    /// A self-contained file: no navigation, nothing fetched.
    pub fn standalone(title: impl Into<String>) -> Layout {
        Layout {
            title: title.into(),
            app: None,
        }
    }

    pub fn css(&self) -> &'static str {
        CSS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_escapes_text_and_keeps_static_tags() {
        let mut m = Markup::new();
        m.tag("<del>")
            .text("<script>\"x\" & 'y'\u{7}")
            .tag("</del>");
        assert_eq!(
            m.as_str(),
            "<del>&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;\u{2407}</del>"
        );
    }

    #[test]
    fn the_escaper_is_the_one_askama_uses() {
        use askama::Template;
        #[derive(Template)]
        #[template(source = "<p title=\"{{ v }}\">{{ v }}</p>", ext = "html")]
        struct T<'a> {
            v: &'a str,
        }
        let v = "<b onclick='x'>\"&\u{1b}";
        assert_eq!(
            T { v }.render().unwrap(),
            format!("<p title=\"{0}\">{0}</p>", escape_html(v))
        );
        assert!(!T { v }.render().unwrap().contains('\u{1b}'));
    }

    #[test]
    fn the_stylesheet_loads_nothing() {
        for needle in ["url(", "@import"] {
            assert!(!CSS.contains(needle), "{needle}");
        }
    }
}
