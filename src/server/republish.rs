//! The "republish to PhotoShelter" action on search results: the chosen archive assets go
//! into a gallery (created when missing) through the same transfer code as `ferry
//! republish`, under the same run lock, and the page shows what happened.

use super::html::{Nav, render};
use super::{AppState, PageError, Shared, WebError};
use crate::html::Layout;
use crate::transfer::republish::check::MetadataRefusal;
use crate::transfer::republish::{RepublishOptions, RepublishRequest};
use crate::transfer::{PlannedTransfer, TransferError, TransferOutcome, human_bytes};
use askama::Template;
use axum::extract::{RawForm, State};
use axum::http::StatusCode;
use axum::response::Html;

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
    let planned: Vec<String> = match &ran {
        Ok(outcome) => outcome.planned.iter().map(|p| p.source.clone()).collect(),
        Err(_) => Vec::new(),
    };
    let (chrome, ids) = super::with_store(&state, move |store, _| {
        let mut ids = std::collections::HashMap::new();
        for reference in planned {
            if let Some(id) = store.asset_id_of(crate::model::System::Preservica, &reference)? {
                ids.insert(reference, id);
            }
        }
        let chrome = super::html::Chrome {
            lockout: store.lockout()?,
            open_conflicts: store.open_conflict_count()?,
        };
        Ok((chrome, ids))
    })
    .await?;
    let (status, title, view) = match &ran {
        Ok(outcome) => (StatusCode::OK, "Republish", outcome_view(outcome, &ids)),
        Err(refusals) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Republish refused",
            RepublishView::Refused(refusals),
        ),
    };
    let page = RepublishPage {
        layout: Layout::app(title, Nav::Search, &chrome),
        gallery: &gallery,
        view,
    };
    Ok((status, render(&page)))
}

#[derive(Template)]
#[template(path = "republish.html")]
struct RepublishPage<'a> {
    layout: Layout,
    gallery: &'a str,
    view: RepublishView<'a>,
}

enum RepublishView<'a> {
    /// What a run did, or a dry run would do, as a table of assets.
    Outcome {
        dry: bool,
        /// The first line of what the transfer tells of itself.
        summary: Option<String>,
        rows: Vec<PlannedRow<'a>>,
        /// Where the run's report was written.
        report: Option<String>,
    },
    /// Why nothing was uploaded: each value that cannot be written, by asset and field.
    Refused(&'a [MetadataRefusal]),
}

struct PlannedRow<'a> {
    p: &'a PlannedTransfer,
    /// The small thumbnail of the picture that will be sent, when ferry knows the asset.
    thumb: Option<String>,
    size: String,
    what: String,
}

/// `ids`: ferry's asset id of each archive asset planned, by its ref.
fn outcome_view<'a>(
    out: &'a TransferOutcome,
    ids: &std::collections::HashMap<String, i64>,
) -> RepublishView<'a> {
    let dry = out.run_id.is_none();
    let mut lines = Vec::new();
    crate::transfer::describe(out, &mut |l| lines.push(l));
    RepublishView::Outcome {
        dry,
        summary: lines.into_iter().next(),
        rows: out
            .planned
            .iter()
            .map(|p| PlannedRow {
                size: p.size.map(human_bytes).unwrap_or_default(),
                what: what_happens(p, dry),
                thumb: ids
                    .get(&p.source)
                    .map(|id| format!("/assets/{id}/thumb/small")),
                p,
            })
            .collect(),
        report: out
            .paths
            .as_ref()
            .map(|paths| paths.html.display().to_string()),
    }
}

fn what_happens(p: &PlannedTransfer, dry: bool) -> String {
    match (&p.skip, dry) {
        (Some(why), _) => format!("left as it is: {why}"),
        (None, true) => "would be uploaded with its metadata".into(),
        (None, false) => "republished".into(),
    }
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
