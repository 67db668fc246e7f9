//! Small HTML builders shared by the pages. Every value that came from a system, the store or
//! the request goes through [`esc`] (the report's `escape_html`) or [`attr`]; values are shown
//! in `<bdi>` so right-to-left text or a stray bidi override cannot reorder the page around it.
//! Pages carry no script.

use crate::model::{FieldKind, FieldValue};
use crate::report::render::escape_html;
use crate::store::Lockout;
use axum::response::Html;
use std::fmt::Write as _;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    escape_html(s)
}

/// Percent-encodes one query-string component.
pub fn qs(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Which navigation entry is the current page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Search,
    Conflicts,
    Runs,
    Rights,
    None,
}

/// What every page shows around its content: the lockout banner and the conflict count.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    pub lockout: Option<Lockout>,
    pub open_conflicts: u64,
}

const CSS: &str = r#"
:root { color-scheme: light; --fg:#1b1f24; --muted:#5b6570; --line:#d5dbe1; --bg:#f6f8fa; --accent:#0b5cad; --warn:#9a3b00; --bad:#a4001d; --good:#116329; }
* { box-sizing: border-box; }
body { margin:0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:#fff; }
header.top { display:flex; align-items:center; gap:1.5rem; padding:.6rem 1.5rem; background:#12263a; color:#fff; }
header.top .brand { font-weight:700; letter-spacing:.04em; color:#fff; text-decoration:none; font-size:1.1rem; }
header.top nav a { color:#cfe3f7; text-decoration:none; margin-right:1rem; }
header.top nav a.active { color:#fff; border-bottom:2px solid #fff; }
header.top .count { background:#d1242f; color:#fff; border-radius:9px; padding:0 .45rem; font-size:.8rem; margin-left:.2rem; }
main { padding:1rem 1.5rem 3rem; max-width:1400px; }
h1 { font-size:1.5rem; margin:.4rem 0 .8rem; }
h2 { font-size:1.15rem; margin:1.6rem 0 .5rem; border-bottom:1px solid var(--line); padding-bottom:.2rem; }
a { color:var(--accent); }
.banner { padding:.7rem 1.5rem; background:#ffebe9; color:var(--bad); border-bottom:1px solid #ffcecb; font-weight:600; }
.notice { padding:.6rem .9rem; background:#dafbe1; border:1px solid #aceebb; border-radius:6px; margin:.5rem 0 1rem; }
.error { padding:.6rem .9rem; background:#ffebe9; border:1px solid #ffcecb; border-radius:6px; margin:.5rem 0 1rem; }
.muted, .absent { color:var(--muted); }
.absent { font-style:italic; }
table { border-collapse:collapse; width:100%; margin:.3rem 0 1rem; }
th, td { text-align:left; vertical-align:top; padding:.35rem .5rem; border-bottom:1px solid var(--line); }
th { background:var(--bg); font-weight:600; font-size:.9rem; }
tr.differs td { background:#fff8c5; }
td.value { max-width:28rem; white-space:pre-wrap; overflow-wrap:anywhere; }
.badge { display:inline-block; padding:0 .45rem; border-radius:9px; font-size:.8rem; border:1px solid var(--line); background:var(--bg); white-space:nowrap; }
.badge.good { color:var(--good); border-color:#aceebb; background:#dafbe1; }
.badge.warn { color:var(--warn); border-color:#f5d0a9; background:#fff1e5; }
.badge.bad { color:var(--bad); border-color:#ffcecb; background:#ffebe9; }
form.search { display:flex; gap:.5rem; margin:.3rem 0 1rem; }
form.search input[type=search] { flex:1; font-size:1.05rem; padding:.45rem .6rem; border:1px solid #8c959f; border-radius:6px; }
button, select, input { font:inherit; }
button { padding:.35rem .8rem; border-radius:6px; border:1px solid #8c959f; background:#f3f4f6; cursor:pointer; }
button.primary { background:var(--accent); color:#fff; border-color:var(--accent); }
.layout { display:grid; grid-template-columns: 16rem 1fr; gap:1.5rem; }
aside.facets h3 { font-size:.85rem; text-transform:uppercase; letter-spacing:.05em; color:var(--muted); margin:1rem 0 .3rem; }
aside.facets ul { list-style:none; margin:0; padding:0; }
aside.facets li { display:flex; justify-content:space-between; gap:.5rem; padding:.1rem 0; }
aside.facets li.active a { font-weight:700; }
aside.facets .n { color:var(--muted); font-variant-numeric:tabular-nums; }
ol.hits { list-style:none; margin:0; padding:0; }
ol.hits li { padding:.6rem 0; border-bottom:1px solid var(--line); }
ol.hits .title { font-size:1.05rem; font-weight:600; }
ol.hits .meta { color:var(--muted); font-size:.9rem; display:flex; flex-wrap:wrap; gap:.6rem; align-items:center; margin:.15rem 0; }
ol.hits .caption { margin:.2rem 0 0; }
.pager { display:flex; gap:1rem; margin:1rem 0; }
.asset-head { display:grid; grid-template-columns: 220px 1fr; gap:1.5rem; align-items:start; }
.preview { width:220px; height:165px; border:1px solid var(--line); border-radius:6px; background:var(--bg); display:flex; flex-direction:column; gap:.4rem; align-items:center; justify-content:center; color:var(--muted); font-size:.85rem; text-align:center; padding:.5rem; }
dl.facts { display:grid; grid-template-columns: max-content 1fr; gap:.25rem 1rem; margin:0; }
dl.facts dt { color:var(--muted); }
dl.facts dd { margin:0; overflow-wrap:anywhere; }
.conflict { border:1px solid var(--line); border-radius:8px; padding:.8rem 1rem; margin:0 0 1rem; }
.conflict h3 { margin:0 0 .5rem; font-size:1.05rem; }
.conflict .sides { display:grid; grid-template-columns: 1fr 1fr; gap:1rem; }
.conflict .side { background:var(--bg); border-radius:6px; padding:.5rem .7rem; white-space:pre-wrap; overflow-wrap:anywhere; }
.conflict form { display:inline-flex; gap:.5rem; align-items:center; margin:.6rem .8rem 0 0; flex-wrap:wrap; }
.conflict input[type=text] { min-width:18rem; padding:.3rem .5rem; }
small.loc { display:block; color:var(--muted); font-size:.78rem; }
"#;

/// A whole page: head, navigation, the lockout banner when runs are locked out, `body`.
pub fn page(title: &str, nav: Nav, chrome: &Chrome, body: &str) -> Html<String> {
    let mut out = String::with_capacity(body.len() + 6 * 1024);
    out.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
    );
    out.push_str(&esc(title));
    out.push_str(" · ferry</title>\n<style>");
    out.push_str(CSS);
    out.push_str("</style>\n</head>\n<body>\n<header class=\"top\"><a class=\"brand\" href=\"/\">ferry</a><nav>");
    let link = |out: &mut String, href: &str, label: &str, this: Nav, extra: &str| {
        let class = if nav == this { " class=\"active\"" } else { "" };
        let _ = write!(out, "<a href=\"{href}\"{class}>{label}{extra}</a>");
    };
    link(&mut out, "/", "Search", Nav::Search, "");
    let count = if chrome.open_conflicts > 0 {
        format!("<span class=\"count\">{}</span>", chrome.open_conflicts)
    } else {
        String::new()
    };
    link(&mut out, "/conflicts", "Conflicts", Nav::Conflicts, &count);
    link(&mut out, "/runs", "Runs", Nav::Runs, "");
    link(&mut out, "/rights", "Rights", Nav::Rights, "");
    out.push_str("</nav></header>\n");
    if let Some(l) = &chrome.lockout {
        let _ = writeln!(
            out,
            "<div class=\"banner\" role=\"alert\">Sync runs are locked out since {} after a critical error: <bdi>{}</bdi>. \
             Check the last report, then run <code>ferry sync --recover</code>.</div>",
            esc(&l.since),
            esc(&l.reason)
        );
    }
    out.push_str("<main>\n");
    out.push_str(body);
    out.push_str("\n</main>\n</body>\n</html>\n");
    Html(out)
}

/// The page a request without the access token gets (status set by the caller).
pub fn unauthorised_page() -> Html<String> {
    page(
        "Access token required",
        Nav::None,
        &Chrome::default(),
        "<h1>Access token required</h1>\n<p>This ferry web app needs its access token. \
         <a href=\"/login\">Log in</a> with it, or send <code>Authorization: Bearer &lt;token&gt;</code>.</p>",
    )
}

/// The login form (a GET form: `/login?token=…` sets the session cookie).
pub fn login_page(failed: bool) -> Html<String> {
    let mut body = String::from("<h1>Log in</h1>\n");
    if failed {
        body.push_str("<p class=\"error\">That is not the access token.</p>\n");
    }
    body.push_str(
        "<form class=\"search\" method=\"get\" action=\"/login\">\
         <input type=\"password\" name=\"token\" placeholder=\"access token\" autocomplete=\"current-password\" required>\
         <button class=\"primary\" type=\"submit\">Log in</button></form>\n\
         <p class=\"muted\">The token is in <code>server.access_token_file</code> or <code>FERRY_SERVER_ACCESS_TOKEN</code> \
         where ferry serve runs.</p>",
    );
    page("Log in", Nav::None, &Chrome::default(), &body)
}

/// An error page body.
pub fn error_body(title: &str, detail: &str) -> String {
    format!(
        "<h1>{}</h1>\n<p class=\"error\"><bdi>{}</bdi></p>\n<p><a href=\"/\">Back to search</a></p>",
        esc(title),
        esc(detail)
    )
}

/// A stored canonical value for people: sets as a comma-separated list, absence marked.
pub fn value_text(kind: Option<FieldKind>, raw: Option<&str>) -> Option<String> {
    let raw = raw?;
    if kind == Some(FieldKind::Set)
        && let Ok(Some(v)) = FieldValue::parse(FieldKind::Set, raw)
    {
        return Some(v.to_string());
    }
    Some(raw.to_string())
}

/// A stored canonical value as escaped HTML.
pub fn value_html(kind: Option<FieldKind>, raw: Option<&str>) -> String {
    match value_text(kind, raw) {
        Some(v) => format!("<bdi>{}</bdi>", esc(&v)),
        None => "<span class=\"absent\">(none)</span>".to_string(),
    }
}

/// A small coloured label.
pub fn badge(text: &str, tone: &str) -> String {
    if tone.is_empty() {
        format!("<span class=\"badge\">{}</span>", esc(text))
    } else {
        format!("<span class=\"badge {tone}\">{}</span>", esc(text))
    }
}

/// The tone of a decision outcome's badge.
pub fn outcome_tone(outcome: &str) -> &'static str {
    match outcome {
        "in_sync" => "good",
        "queued_for_review" | "skipped" => "warn",
        _ => "",
    }
}

/// The tone of a run status's badge.
pub fn status_tone(status: &str) -> &'static str {
    match status {
        "done" => "good",
        "running" => "",
        "interrupted" => "warn",
        _ => "bad",
    }
}

/// A placeholder picture, where neither system holds a picture a browser shows (or the app
/// was started without the tenants' settings).
pub const NO_PREVIEW: &str = "<div class=\"preview\" role=\"img\" aria-label=\"no preview\">\
<svg width=\"64\" height=\"48\" viewBox=\"0 0 64 48\" aria-hidden=\"true\"><rect x=\"1\" y=\"1\" width=\"62\" height=\"46\" rx=\"4\" fill=\"none\" stroke=\"#8c959f\" stroke-width=\"2\"/>\
<circle cx=\"20\" cy=\"16\" r=\"5\" fill=\"#8c959f\"/><path d=\"M4 44 L24 24 L36 36 L44 28 L60 44 Z\" fill=\"#c4cad1\"/></svg>\
<span>No preview available from either system</span></div>";
