//! The JSON API (`/api/search`, `/api/assets/{id}`, `/api/runs`, `/api/conflicts`) and
//! `/healthz`. The shapes are the structs of `view.rs` and `search.rs`, serialised as they are.

use super::search::{self, SearchParams};
use super::view::{self, RunView};
use super::{ApiError, Shared, WebError, parse_id, with_store};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

/// `/api/search?q=&limit=&offset=&sort=`: hits and facet counts.
pub async fn search(
    State(state): State<Shared>,
    Query(params): Query<SearchParams>,
) -> Result<Json<search::SearchOutcome>, ApiError> {
    Ok(Json(search::run(&state, &params).await?))
}

/// `/api/assets/{id}`: the asset page's data; a set field's values are arrays, as in every
/// JSON ferry writes.
pub async fn asset(
    State(state): State<Shared>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw, "asset")?;
    let asset = with_store(&state, move |store, state| {
        view::asset_view(store, &state.mapping, id)?
            .ok_or_else(|| WebError::NotFound(format!("ferry knows no asset {id}")))
    })
    .await?;
    let mut json = serde_json::to_value(&asset)
        .map_err(|e| WebError::Internal(format!("the asset does not serialise: {e}")))?;
    sets_as_arrays(&mut json);
    Ok(Json(json))
}

/// The values of set fields (each system's, the baseline, the decided one) as arrays.
fn sets_as_arrays(asset: &mut Value) {
    let Some(fields) = asset.get_mut("fields").and_then(Value::as_array_mut) else {
        return;
    };
    for f in fields.iter_mut().filter(|f| f["kind"] == "set") {
        for key in ["photoshelter", "preservica", "baseline"] {
            if let Some(slot) = f.get_mut(key) {
                crate::model::set_as_array(slot);
            }
        }
        if let Some(slot) = f.pointer_mut("/decision/winning_value") {
            crate::model::set_as_array(slot);
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct RunsParams {
    limit: Option<usize>,
}

/// `/api/runs?limit=`: the latest runs (50 by default, at most 1000), newest first.
pub async fn runs(
    State(state): State<Shared>,
    Query(params): Query<RunsParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = params.limit.unwrap_or(50).clamp(1, 1000);
    let runs: Vec<RunView> = with_store(&state, move |store, state| {
        Ok(store
            .run_details(limit)?
            .into_iter()
            .map(|d| view::run_view(d, &state.reports_dir))
            .collect())
    })
    .await?;
    Ok(Json(json!({ "runs": runs })))
}

/// `/api/conflicts`: the open conflicts.
pub async fn conflicts(State(state): State<Shared>) -> Result<Json<Value>, ApiError> {
    let open = with_store(&state, |store, state| {
        view::open_conflicts(store, &state.mapping)
    })
    .await?;
    Ok(Json(json!({ "conflicts": open })))
}

/// `/healthz`: `{"status": "ok" | "locked_out", "locked_out": bool, "lockout": {...} | null,
/// "last_run": {...} | null}`; HTTP 503 while runs are locked out (and when the store cannot be
/// read). `last_run` is the last finished real run: a dry run never stands in for it.
pub async fn healthz(State(state): State<Shared>) -> Response {
    let result = with_store(&state, |store, _| {
        Ok((store.lockout()?, store.last_real_run()?))
    })
    .await;
    match result {
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "error", "error": e.message() })),
        )
            .into_response(),
        Ok((lockout, last)) => {
            let status = if lockout.is_some() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            };
            let body = json!({
                "status": if lockout.is_some() { "locked_out" } else { "ok" },
                "locked_out": lockout.is_some(),
                "lockout": lockout.map(|l| json!({
                    "reason": l.reason,
                    "since": l.since,
                    "run_id": l.run_id,
                })),
                "last_run": last.map(|r| json!({
                    "id": r.id,
                    "kind": r.kind,
                    "status": r.status,
                    "dry_run": r.dry_run,
                    "started_at": r.started_at,
                    "finished_at": r.finished_at,
                    "exit_code": r.exit_code,
                })),
            });
            (status, Json(body)).into_response()
        }
    }
}
