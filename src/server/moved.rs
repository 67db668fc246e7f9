//! Asset URLs that outlive a merge. Pairing retires the Preservica-only asset's id (its rows
//! move to the pair; see `store/aliases.rs`), but that id is already in bookmarks, links, API
//! clients and perhaps a search index not refreshed yet. The asset routes answer such an id with
//! a permanent redirect to the same URL under the id the asset lives as now; an id ferry never
//! knew stays 404.
//!
//! The JSON API redirects too (308, with a JSON body naming the new id): clients that follow
//! redirects (curl -L, browsers' fetch, most HTTP libraries by default) keep working unchanged,
//! and one that does not still learns the new id from `Location` or the body. A 404 would
//! break every stored id although ferry knows exactly where the asset went.

use super::html;
use super::{Shared, with_store};
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Middleware for the routes with an asset id in their path: when the route found no such
/// asset, and that id was retired by a merge, a 308 to the surviving id's URL instead.
/// Live ids never reach the store lookup here: only a 404 is looked at.
pub async fn follow_retired_ids(
    State(state): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let response = next.run(request).await;
    if response.status() != StatusCode::NOT_FOUND {
        return response;
    }
    let Some(old) = asset_id_in(&path) else {
        return response;
    };
    match with_store(&state, move |store, _| Ok(store.asset_moved_to(old)?)).await {
        Ok(Some(new)) => {
            let mut location = with_asset_id(&path, new);
            if let Some(q) = query {
                location.push('?');
                location.push_str(&q);
            }
            redirect(old, new, &location, path.starts_with("/api/"))
        }
        Ok(None) => response,
        Err(e) => {
            // The route's own 404 is still a true answer; the lookup only adds a way onward.
            tracing::warn!(
                error = e.message(),
                id = old,
                "cannot look up a retired asset id"
            );
            response
        }
    }
}

/// The asset id in `/assets/{id}…` or `/api/assets/{id}…`.
fn asset_id_in(path: &str) -> Option<i64> {
    let mut segments = path.split('/');
    segments.find(|s| *s == "assets")?;
    segments.next()?.parse::<i64>().ok().filter(|id| *id > 0)
}

/// `path` with the segment after `assets` replaced by `id`.
fn with_asset_id(path: &str, id: i64) -> String {
    let mut segments: Vec<String> = path.split('/').map(str::to_owned).collect();
    if let Some(at) = segments.iter().position(|s| s == "assets")
        && let Some(segment) = segments.get_mut(at + 1)
    {
        *segment = id.to_string();
    }
    segments.join("/")
}

fn redirect(old: i64, new: i64, location: &str, api: bool) -> Response {
    let message = format!("asset {old} was paired and is now asset {new}");
    let mut response = if api {
        Json(serde_json::json!({
            "error": message,
            "moved_to": new,
            "location": location,
        }))
        .into_response()
    } else {
        html::moved_page(&message, location).into_response()
    };
    *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_found_and_replaced_in_every_asset_route() {
        for (path, moved) in [
            ("/assets/383", "/assets/512"),
            ("/assets/383/preview", "/assets/512/preview"),
            ("/assets/383/thumb/small", "/assets/512/thumb/small"),
            ("/assets/383/thumb/medium", "/assets/512/thumb/medium"),
            ("/api/assets/383", "/api/assets/512"),
        ] {
            assert_eq!(asset_id_in(path), Some(383), "{path}");
            assert_eq!(with_asset_id(path, 512), moved);
        }
        for path in [
            "/assets/abc",
            "/assets/0",
            "/assets/-3",
            "/runs/383",
            "/assets",
        ] {
            assert_eq!(asset_id_in(path), None, "{path}");
        }
    }
}
