//! `POST /webhooks/preservica`: where Preservica sends its webhook traffic for the live mode.
//!
//! - `?challengeCode=<code>`: the subscription handshake; answers
//!   `{"challengeCode": code, "challengeResponse": hex HMAC-SHA256(secret, code)}`.
//! - Otherwise a delivery: its `Preservica-Signature` is checked over the raw body (401 when
//!   missing or wrong, logged without the body), a delivery seen before is dropped, and the
//!   assets it names are queued; the answer comes at once (202), the work happens in the
//!   live loop.
//!
//! This route sits outside the web app's login (Preservica cannot log in): the signature is
//! its authentication, and it opens nothing else. Without `[live] enabled` it does not exist
//! (404). Bodies are bounded ([`MAX_BODY`]).

use super::Shared;
use crate::webhook::signature::{DELIVERY_PREFIX, SIGNATURE_HEADER};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The largest delivery accepted: Preservica sends a few events per delivery; a megabyte is
/// thousands of them.
pub const MAX_BODY: usize = 1024 * 1024;

/// The longest challenge code answered.
const MAX_CHALLENGE: usize = 1024;

/// The route, for [`super::router`].
pub fn routes() -> axum::Router<Shared> {
    axum::Router::new()
        .route("/webhooks/preservica", axum::routing::post(webhook))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
}

async fn webhook(
    State(state): State<Shared>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(live) = &state.live else {
        return plain(StatusCode::NOT_FOUND, "not found");
    };
    let challenge = query.as_deref().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "challengeCode")
            .map(|(_, v)| v.into_owned())
    });
    if let Some(code) = challenge {
        // A code starting with the delivery signature's prefix is refused: its answer would
        // be the signature of a forged delivery.
        if code.is_empty()
            || code.len() > MAX_CHALLENGE
            || code.as_bytes().starts_with(DELIVERY_PREFIX)
        {
            tracing::warn!(
                len = code.len(),
                "webhook: refused a challenge code ferry does not answer"
            );
            return plain(StatusCode::BAD_REQUEST, "challenge code refused");
        }
        let answer = live.challenge_response(&code);
        return axum::Json(serde_json::json!({
            "challengeCode": code,
            "challengeResponse": answer,
        }))
        .into_response();
    }
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    match live.receive(&body, signature, chrono::Utc::now()) {
        Ok(crate::live::Received::Queued(n)) => (
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({ "queued": n })),
        )
            .into_response(),
        Ok(crate::live::Received::Replayed) => {
            tracing::info!("webhook: a delivery seen before was dropped");
            (
                StatusCode::OK,
                axum::Json(serde_json::json!({ "duplicate": true })),
            )
                .into_response()
        }
        Err(crate::live::Refused::Signature(e)) => {
            tracing::warn!(reason = %e, bytes = body.len(), "webhook: refused a delivery");
            plain(StatusCode::UNAUTHORIZED, "signature refused")
        }
        Err(crate::live::Refused::Body(e)) => {
            tracing::warn!(reason = %e, bytes = body.len(), "webhook: a signed delivery could not be read");
            plain(StatusCode::BAD_REQUEST, "delivery not understood")
        }
    }
}

fn plain(status: StatusCode, msg: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        msg,
    )
        .into_response()
}
