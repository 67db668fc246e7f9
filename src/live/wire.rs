//! STAND-IN for HW's `src/webhook/` (signature.rs, delivery.rs, subscriptions.rs), with the
//! same signatures as the interface in the round's notes, private to the live mode until that
//! module is merged; the integrator swaps these for `crate::webhook::…` and deletes this file.
//!
//! The wire (api/preservica.md §7.3): the challenge answer is lowercase hex
//! HMAC-SHA256(secret, code); a delivery's `Preservica-Signature` is lowercase hex
//! HMAC-SHA256(secret, "preservica-webhook-auth" + raw body). Signatures are compared in
//! constant time. A delivery's body is JSON with `subscriptionId`, `trigger`, `timestamp` and
//! `events[]` of `entityRef` (a bare ref or a URL ending in it) and `entityType` (IO/SO/CO).

use crate::preservica::wire::EntityKind;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// What is signed before a delivery's body.
const DELIVERY_PREFIX: &[u8] = b"preservica-webhook-auth";

fn mac(secret: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length")
}

/// The answer to a subscription's challenge: lowercase hex HMAC-SHA256(secret, code).
pub fn challenge_response(secret: &[u8], code: &str) -> String {
    let mut m = mac(secret);
    m.update(code.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// The `Preservica-Signature` of a delivery of `body`.
pub fn sign_delivery(secret: &[u8], body: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(DELIVERY_PREFIX);
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the delivery carries no Preservica-Signature header")]
    Missing,
    #[error("the Preservica-Signature header is not hex")]
    Malformed,
    #[error("the Preservica-Signature does not match the body")]
    Mismatch,
}

/// Checks a delivery's signature over its raw body, in constant time.
pub fn verify_delivery(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let given = hex::decode(header.trim()).map_err(|_| SignatureError::Malformed)?;
    let mut m = mac(secret);
    m.update(DELIVERY_PREFIX);
    m.update(body);
    m.verify_slice(&given).map_err(|_| SignatureError::Mismatch)
}

/// One delivery as parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    pub subscription_id: Option<String>,
    pub trigger: Option<String>,
    pub timestamp: Option<String>,
    pub events: Vec<EntityEvent>,
}

/// One entity a delivery names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityEvent {
    pub entity_ref: String,
    pub kind: Option<EntityKind>,
}

/// Why a delivery's body could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the delivery is not the JSON Preservica sends: {0}")]
pub struct DeliveryError(String);

/// Reads a delivery leniently: unknown fields are ignored, an event without a ref is dropped,
/// a ref given as a URL is cut to its last segment.
pub fn parse_delivery(body: &[u8]) -> Result<Delivery, DeliveryError> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| DeliveryError(e.to_string()))?;
    let obj = v
        .as_object()
        .ok_or_else(|| DeliveryError("not an object".into()))?;
    let text = |k: &str| obj.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let events = obj
        .get("events")
        .and_then(|e| e.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            let raw = e.get("entityRef")?.as_str()?.trim();
            let entity_ref = raw.trim_end_matches('/').rsplit('/').next()?.to_owned();
            if entity_ref.is_empty() {
                return None;
            }
            let kind = match e.get("entityType").and_then(|t| t.as_str()) {
                Some("IO") => Some(EntityKind::Asset),
                Some("SO") => Some(EntityKind::Folder),
                Some("CO") => Some(EntityKind::ContentObject),
                _ => None,
            };
            Some(EntityEvent { entity_ref, kind })
        })
        .collect();
    Ok(Delivery {
        subscription_id: text("subscriptionId"),
        trigger: text("trigger"),
        timestamp: text("timestamp"),
        events,
    })
}

/// A stable digest of a delivery's body, for dropping a delivery seen before.
pub fn delivery_id(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Why managing subscriptions failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WebhookError(String);

/// What renewing subscriptions did.
#[derive(Debug, Clone, Default)]
pub struct Renewed {
    pub subscribed: Vec<String>,
    pub refused: Vec<String>,
}

/// STAND-IN: subscribing needs the Preservica client's webhook calls (HW's work); until they
/// are merged this reports that subscriptions are unavailable, and the live mode polls.
pub async fn renew(
    _client: &crate::preservica::client::PreservicaClient,
    _url: &str,
    _secret: &str,
) -> Result<Renewed, WebhookError> {
    Err(WebhookError(
        "this build cannot manage Preservica webhook subscriptions yet".into(),
    ))
}

/// STAND-IN: see [`renew`]; nothing was subscribed, so nothing is removed.
pub async fn remove_own(
    _client: &crate::preservica::client::PreservicaClient,
    _url: &str,
) -> Result<usize, WebhookError> {
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_delivery_verifies_and_any_change_does_not() {
        let body = br#"{"events":[{"entityRef":"abc","entityType":"IO"}]}"#;
        let sig = sign_delivery(b"s3cret", body);
        assert_eq!(sig.len(), 64);
        assert!(verify_delivery(b"s3cret", body, Some(&sig)).is_ok());
        assert_eq!(
            verify_delivery(b"other", body, Some(&sig)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_delivery(b"s3cret", b"{}", Some(&sig)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_delivery(b"s3cret", body, None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_delivery(b"s3cret", body, Some("zz")),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn the_challenge_answer_is_the_hmac_of_the_code() {
        // RFC 4231 test case 2: key "Jefe".
        assert_eq!(
            challenge_response(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn refs_are_read_bare_or_from_a_url() {
        let body = br#"{"trigger":"MOVED","events":[{"entityRef":"https://x/api/entity/information-objects/r1","entityType":"IO"},{"entityRef":"r2"},{"entityType":"SO"}]}"#;
        let d = parse_delivery(body).unwrap();
        let refs: Vec<_> = d.events.iter().map(|e| e.entity_ref.as_str()).collect();
        assert_eq!(refs, ["r1", "r2"]);
        assert_eq!(d.events[0].kind, Some(EntityKind::Asset));
        assert!(parse_delivery(b"\xff").is_err());
    }
}
