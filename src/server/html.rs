//! What the app's page templates share beyond `crate::html`: rendering a page, the message
//! pages (errors, login, moved), query-string encoding, and values and tones in words.
//! Escaping is the templates' (see `crate::html`); pages carry no script.

use crate::model::{FieldKind, FieldValue};
use askama::Template;
use axum::response::Html;

pub use crate::html::{Chrome, Layout, Nav};

/// Percent-encodes one query-string component.
pub fn qs(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A page template rendered. Rendering fails only on a broken `Display`, never on a value;
/// then the page says it could not be shown (and the log says why).
pub fn render(page: &impl Template) -> Html<String> {
    Html(page.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "a page template failed to render");
        "<!DOCTYPE html><title>ferry</title><p>This page could not be shown.</p>".to_string()
    }))
}

/// The short pages that say one thing (`templates/message.html`).
#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    layout: Layout,
    message: Message<'a>,
}

enum Message<'a> {
    Error { title: &'a str, detail: &'a str },
    Unauthorised,
    Login { failed: bool },
    Moved { message: &'a str, location: &'a str },
}

fn message(title: &str, message: Message<'_>) -> Html<String> {
    render(&MessagePage {
        layout: Layout::app(title, Nav::None, &Chrome::default()),
        message,
    })
}

/// The page a request without the access token gets (status set by the caller).
pub fn unauthorised_page() -> Html<String> {
    message("Access token required", Message::Unauthorised)
}

/// The login form (a GET form: `/login?token=…` sets the session cookie).
pub fn login_page(failed: bool) -> Html<String> {
    message("Log in", Message::Login { failed })
}

/// An error page: what went wrong, in a sentence.
pub fn error_page(title: &str, detail: &str) -> Html<String> {
    message(title, Message::Error { title, detail })
}

/// The page of a permanent redirect, for a browser that does not follow it.
pub fn moved_page(what: &str, location: &str) -> Html<String> {
    message(
        "Moved",
        Message::Moved {
            message: what,
            location,
        },
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
