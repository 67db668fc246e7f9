//! The rights page (`/rights`): how many assets are ok, expiring, expired, restricted or of
//! unknown rights, and how many licences expire in each of the coming months, as charts whose
//! bars open the matching search.

use super::chrome;
use crate::html::{Layout, Nav};
use crate::server::figures;
use crate::server::html::render;
use crate::server::search::{index_error, index_of};
use crate::server::{PageError, Shared, WebError, with_store};
use askama::Template;
use axum::extract::State;
use axum::response::Html;

#[derive(Template)]
#[template(path = "rights.html")]
struct RightsPage {
    layout: Layout,
    total: u64,
    today: chrono::NaiveDate,
    expiring_days: u64,
    charts: String,
}

/// `/rights`.
pub async fn rights(State(state): State<Shared>) -> Result<Html<String>, PageError> {
    let chrome = with_store(&state, |store, _| chrome(store)).await?;
    let today = chrono::Utc::now().date_naive();
    let worker = state.clone();
    let counts = tokio::task::spawn_blocking(move || {
        let index = index_of(&worker)?;
        let index = index
            .lock()
            .map_err(|_| WebError::Internal("the search index lock is poisoned".into()))?;
        figures::rights_counts(&index, today).map_err(index_error)
    })
    .await
    .map_err(|e| WebError::Internal(format!("the rights worker failed: {e}")))??;
    Ok(render(&RightsPage {
        layout: Layout::app("Rights", Nav::Rights, &chrome),
        total: counts.by_status.iter().map(|(_, n)| n).sum(),
        today,
        expiring_days: crate::index::EXPIRING_WITHIN_DAYS,
        charts: figures::rights_charts(&counts),
    }))
}
