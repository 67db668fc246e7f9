//! The "republish to PhotoShelter" action on search results: the chosen archive assets go
//! into a gallery (created when missing) through the same transfer code as `ferry
//! republish`, under the same run lock, and the page shows what happened.

use super::html::{Nav, esc, page};
use super::{AppState, PageError, Shared, WebError};
use crate::transfer::republish::check::MetadataRefusal;
use crate::transfer::republish::{RepublishOptions, RepublishRequest};
use crate::transfer::{PlannedTransfer, TransferError, TransferOutcome, human_bytes};
use axum::extract::{RawForm, State};
use axum::http::StatusCode;
use axum::response::Html;
use std::fmt::Write as _;

/// What the web app needs to republish, built by the composition root.
pub use crate::app::Republisher;

/// `POST /republish`: `ref` (repeated), `gallery`, optional `campaign`, `allow_expired` and
/// `dry_run` (a preview: what would be sent, nothing uploaded).
pub async fn republish(
    State(state): State<Shared>,
    RawForm(body): RawForm,
) -> Result<(StatusCode, Html<String>), PageError> {
    let mut refs = Vec::new();
    let (mut csrf, mut gallery, mut campaign, mut allow_expired, mut dry_run) =
        (String::new(), String::new(), String::new(), false, false);
    for (k, v) in url::form_urlencoded::parse(&body) {
        match k.as_ref() {
            "ref" => refs.push(v.into_owned()),
            "csrf" => csrf = v.into_owned(),
            "gallery" => gallery = v.trim().to_string(),
            "campaign" => campaign = v.trim().to_string(),
            "allow_expired" => allow_expired = true,
            "dry_run" => dry_run = true,
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
    let opts = RepublishOptions {
        dry_run,
        ..RepublishOptions::default()
    };
    // The transfer's future is not `Send` (the client's listing streams borrow across
    // awaits), so it runs on a blocking thread of its own rather than on a server worker.
    let shared = state.clone();
    let ran = tokio::task::spawn_blocking(move || {
        tokio::runtime::Handle::current().block_on(run(&shared, &settings, &request, &opts))
    })
    .await
    .map_err(|e| WebError::Internal(format!("the republish stopped: {e}")))??;
    let (status, title, out) = match ran {
        Ok(outcome) => (
            StatusCode::OK,
            "Republish",
            render_outcome(&gallery, &outcome),
        ),
        Err(refusals) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Republish refused",
            render_refusals(&gallery, &refusals),
        ),
    };
    let chrome = super::with_store(&state, |store, _| {
        Ok(super::html::Chrome {
            lockout: store.lockout()?,
            open_conflicts: store.open_conflict_count()?,
        })
    })
    .await?;
    Ok((status, page(title, Nav::Search, &chrome, &out)))
}

/// What a run did, or a dry run would do, as a table of assets.
fn render_outcome(gallery: &str, out: &TransferOutcome) -> String {
    let dry = out.run_id.is_none();
    let mut html = format!(
        "<h1>{} <bdi>{}</bdi></h1>\n",
        if dry {
            "Preview: republish to"
        } else {
            "Republish to"
        },
        esc(gallery)
    );
    let mut lines = Vec::new();
    crate::transfer::describe(out, &mut |l| lines.push(l));
    if let Some(first) = lines.first() {
        let _ = writeln!(html, "<p class=\"summary\">{}</p>", esc(first));
    }
    html.push_str("<table class=\"transfers\"><thead><tr><th>Archive asset</th><th>File</th><th>Size</th><th>Into</th><th>What happens</th></tr></thead><tbody>\n");
    for p in &out.planned {
        let _ = writeln!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.source),
            esc(&p.name),
            p.size.map(human_bytes).unwrap_or_default(),
            esc(&p.target),
            esc(&what_happens(p, dry))
        );
    }
    html.push_str("</tbody></table>\n");
    if dry {
        html.push_str("<p>Nothing was uploaded. Go back to the search to republish.</p>\n");
    } else if let Some(paths) = &out.paths {
        let _ = writeln!(
            html,
            "<p>Report: <code>{}</code></p>",
            esc(&paths.html.display().to_string())
        );
    }
    html.push_str("<p><a href=\"/runs\">All runs</a> · <a href=\"/\">Search</a></p>\n");
    html
}

fn what_happens(p: &PlannedTransfer, dry: bool) -> String {
    match (&p.skip, dry) {
        (Some(why), _) => format!("left as it is: {why}"),
        (None, true) => "would be uploaded with its metadata".into(),
        (None, false) => "republished".into(),
    }
}

/// Why nothing was uploaded: each value that cannot be written, by asset and field.
fn render_refusals(gallery: &str, refusals: &[MetadataRefusal]) -> String {
    let mut html = format!(
        "<h1>Republish to <bdi>{}</bdi> refused</h1>\n<p class=\"error\">Nothing was uploaded: \
         {} value(s) the republish would write cannot be written in PhotoShelter.</p>\n\
         <table class=\"refusals\"><thead><tr><th>Archive asset</th><th>Field</th><th>Value</th><th>What is wrong</th></tr></thead><tbody>\n",
        esc(gallery),
        refusals.len()
    );
    for r in refusals {
        let _ = writeln!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.asset),
            esc(&r.field),
            esc(&r.value),
            esc(&r.why)
        );
    }
    html.push_str("</tbody></table>\n<p><a href=\"/\">Back to the search</a></p>\n");
    html
}

/// Runs the republish; `Err` inside when its metadata check refused it.
async fn run(
    state: &AppState,
    settings: &Republisher,
    request: &RepublishRequest,
    opts: &RepublishOptions,
) -> Result<Result<TransferOutcome, Vec<MetadataRefusal>>, WebError> {
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
    match ferry.republish(&mut store, request, opts, None).await {
        Ok(out) => Ok(Ok(out)),
        Err(TransferError::Refused(refused)) => Ok(Err(refused.0)),
        Err(TransferError::Invalid(m)) => Err(WebError::BadRequest(m)),
        Err(e @ (TransferError::Locked(_) | TransferError::LockedOut(_))) => {
            Err(WebError::Conflict(e.to_string()))
        }
        Err(other) => Err(WebError::Internal(other.to_string())),
    }
}
