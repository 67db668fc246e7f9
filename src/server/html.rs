//! Small HTML builders shared by the pages. Every value that came from a system, the store or
//! the request goes through [`esc`] (the report's `escape_html`) or [`attr`]; values are shown
//! in `<bdi>` so right-to-left text or a stray bidi override cannot reorder the page around it.
//! Pages carry no script.

use crate::model::{FieldKind, FieldValue};
use crate::html::escape_html;
use axum::response::Html;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    escape_html(s)
}

/// Percent-encodes one query-string component.
pub fn qs(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub use crate::html::{Chrome, Layout, Nav};

/// Any body built in Rust, in the one layout (pages not yet moved to their own template).
#[derive(askama::Template)]
#[template(path = "raw.html")]
struct RawPage<'a> {
    layout: Layout,
    body: &'a str,
}

/// A whole page: head, navigation, the lockout banner when runs are locked out, `body`.
pub fn page(title: &str, nav: Nav, chrome: &Chrome, body: &str) -> Html<String> {
    render(&RawPage {
        layout: Layout::app(title, nav, chrome),
        body,
    })
}

/// A page template rendered; rendering only fails on a broken `Display`, never on a value.
pub fn render(page: &impl askama::Template) -> Html<String> {
    Html(page.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "a page template failed to render");
        "<!DOCTYPE html><title>ferry</title><p>This page could not be shown.</p>".to_string()
    }))
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
