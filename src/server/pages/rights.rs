//! The rights page (`/rights`): how many assets are ok, expiring, expired, restricted or of
//! unknown rights, and how many licences expire in each of the coming months, as charts whose
//! bars open the matching search.

use super::chrome;
use crate::server::figures;
use crate::server::html::{Nav, esc, page};
use crate::server::search::{index_error, index_of};
use crate::server::{PageError, Shared, WebError, with_store};
use axum::extract::State;
use axum::response::Html;
use std::fmt::Write as _;

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
    let total: u64 = counts.by_status.iter().map(|(_, n)| n).sum();
    let mut body = String::from("<h1>Rights</h1>\n");
    let _ = writeln!(
        body,
        "<p class=\"muted\">{total} assets on {}. Expiring soon: the licence ends within {} days; \
         restricted: model release none, or usage terms restricted or editorial only. \
         Each bar opens the matching search.</p>",
        esc(&today.to_string()),
        crate::index::EXPIRING_WITHIN_DAYS
    );
    body.push_str(&figures::rights_charts(&counts));
    Ok(page("Rights", Nav::Rights, &chrome, &body))
}
