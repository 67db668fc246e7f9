//! The "republish to PhotoShelter" action on search results: the chosen archive assets go
//! into a gallery (created when missing) through the same transfer code as `ferry
//! republish`, under the same run lock, and the page shows what happened.

use super::html::{Nav, esc, page};
use super::{AppState, PageError, Shared, WebError};
use crate::transfer::republish::{RepublishOptions, RepublishRequest};
use axum::extract::{RawForm, State};
use axum::response::Html;
use std::fmt::Write as _;

/// What the web app needs to republish, built by the composition root.
pub use crate::app::Republisher;

/// The republish form under the search results (inside the results' `<form>`).
pub fn render_form(body: &mut String, csrf: &str) {
    let _ = writeln!(
        body,
        "<fieldset class=\"republish\"><legend>Republish the ticked archive assets to PhotoShelter</legend>\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label>Gallery <input name=\"gallery\" required placeholder=\"Anniversary 2027\"></label> \
         <label>Campaign <input name=\"campaign\" placeholder=\"(keep the archive's)\"></label> \
         <label><input type=\"checkbox\" name=\"allow_expired\" value=\"1\"> also assets whose licence has expired</label> \
         <button class=\"primary\" type=\"submit\">Republish</button></fieldset>",
        esc(csrf)
    );
}

/// `POST /republish`: `ref` (repeated), `gallery`, optional `campaign` and `allow_expired`.
pub async fn republish(
    State(state): State<Shared>,
    RawForm(body): RawForm,
) -> Result<Html<String>, PageError> {
    let mut refs = Vec::new();
    let (mut csrf, mut gallery, mut campaign, mut allow_expired) =
        (String::new(), String::new(), String::new(), false);
    for (k, v) in url::form_urlencoded::parse(&body) {
        match k.as_ref() {
            "ref" => refs.push(v.into_owned()),
            "csrf" => csrf = v.into_owned(),
            "gallery" => gallery = v.trim().to_string(),
            "campaign" => campaign = v.trim().to_string(),
            "allow_expired" => allow_expired = true,
            _ => {}
        }
    }
    if !state.auth.csrf_ok(&csrf) {
        return Err(WebError::Forbidden(
            "the form is out of date or was not sent by this app: reload the page and try again"
                .into(),
        )
        .into());
    }
    let Some(settings) = state.republisher.clone() else {
        return Err(WebError::BadRequest(
            "this web app was started without the tenants' settings; run `ferry republish`".into(),
        )
        .into());
    };
    if refs.is_empty() {
        return Err(WebError::BadRequest("tick at least one archive asset".into()).into());
    }
    if gallery.is_empty() {
        return Err(WebError::BadRequest("name the gallery to republish into".into()).into());
    }
    let mut set = Vec::new();
    if !campaign.is_empty() {
        set.push(("campaign".to_string(), campaign));
    }
    let request = RepublishRequest {
        refs,
        to_gallery: gallery.clone(),
        set,
        allow_expired,
        ..RepublishRequest::default()
    };
    // The transfer's future is not `Send` (the client's listing streams borrow across
    // awaits), so it runs on a blocking thread of its own rather than on a server worker.
    let shared = state.clone();
    let lines = tokio::task::spawn_blocking(move || {
        tokio::runtime::Handle::current().block_on(run(&shared, &settings, &request))
    })
    .await
    .map_err(|e| WebError::Internal(format!("the republish stopped: {e}")))??;
    let mut out = format!(
        "<h1>Republish to <bdi>{}</bdi></h1>\n<pre class=\"log\">",
        esc(&gallery)
    );
    for l in &lines {
        let _ = writeln!(out, "{}", esc(l));
    }
    out.push_str("</pre>\n<p><a href=\"/runs\">All runs</a> · <a href=\"/\">Search</a></p>\n");
    let chrome = super::with_store(&state, |store, _| {
        Ok(super::html::Chrome {
            lockout: store.lockout()?,
            open_conflicts: store.open_conflict_count()?,
        })
    })
    .await?;
    Ok(page("Republish", Nav::Search, &chrome, &out))
}

async fn run(
    state: &AppState,
    settings: &Republisher,
    request: &RepublishRequest,
) -> Result<Vec<String>, WebError> {
    let internal = |e: String| WebError::Internal(e);
    let ferry = settings
        .open(
            state.mapping.clone(),
            &state.reports_dir,
            &state.index_dir,
            &state.store_path,
        )
        .map_err(|e| internal(e.to_string()))?;
    let mut store = ferry.open_store().map_err(|e| internal(e.to_string()))?;
    let out = ferry
        .republish(&mut store, request, &RepublishOptions::default(), None)
        .await
        .map_err(|e| match e {
            crate::transfer::TransferError::Invalid(m) => WebError::BadRequest(m),
            crate::transfer::TransferError::Locked(_)
            | crate::transfer::TransferError::LockedOut(_) => WebError::Conflict(e.to_string()),
            other => WebError::Internal(other.to_string()),
        })?;
    let mut lines = Vec::new();
    crate::transfer::describe(&out, &mut |l| lines.push(l));
    Ok(lines)
}
