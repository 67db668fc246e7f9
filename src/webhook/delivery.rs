//! Reading a Preservica webhook delivery (contract §7.3): `subscriptionId`, `trigger`,
//! `timestamp` and `events[]` of `{entityRef, entityType, identifiers}`.
//!
//! The shape is only partly known ([S]/[?] in the contract), so the reading is lenient where
//! the contract is unsure and strict where safety needs it: `entityRef` may be a bare ref or a
//! URL whose last path segment is the ref; `entityType` may be `IO`/`SO`/`CO` or a longer
//! spelling (else `None`); `identifiers` and unknown fields are ignored whatever their shape.
//! Invariant: every ref handed out passed [`crate::ids::check`] and is one path segment (no
//! `/`, `\`, `.` or `..`); an event whose ref does not is counted in
//! [`Delivery::rejected`] and dropped. Bodies over [`MAX_DELIVERY_BYTES`] are refused before
//! parsing, and no error quotes the body.

use crate::preservica::wire::EntityKind;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Largest delivery body read: a delivery names a few entities; a megabyte is thousands.
pub const MAX_DELIVERY_BYTES: usize = 1024 * 1024;
/// Longest top-level text field (`trigger`, `subscriptionId`, `timestamp`) kept.
const MAX_FIELD: usize = 256;

/// One delivery, as far as ferry needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    pub subscription_id: Option<String>,
    pub trigger: Option<String>,
    pub timestamp: Option<String>,
    pub events: Vec<EntityEvent>,
    /// Events left out because their ref was missing or unsafe.
    pub rejected: usize,
}

/// One entity a delivery names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityEvent {
    pub entity_ref: String,
    pub kind: Option<EntityKind>,
}

/// Why a delivery body cannot be read. Never quotes the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("the delivery body is {len} bytes, more than the {MAX_DELIVERY_BYTES} ferry reads")]
    TooLarge { len: usize },
    #[error("the delivery body is not UTF-8")]
    NotUtf8,
    #[error("the delivery body is not JSON ({0})")]
    NotJson(String),
    #[error("the delivery body is JSON but not an object")]
    NotObject,
    #[error("the delivery's `events` is not an array")]
    EventsNotArray,
}

/// Reads a delivery body.
pub fn parse_delivery(body: &[u8]) -> Result<Delivery, DeliveryError> {
    if body.len() > MAX_DELIVERY_BYTES {
        return Err(DeliveryError::TooLarge { len: body.len() });
    }
    let text = std::str::from_utf8(body).map_err(|_| DeliveryError::NotUtf8)?;
    // serde_json's messages name a line and column, never the text; its recursion limit
    // stops deeply nested junk.
    let value: Value =
        serde_json::from_str(text).map_err(|e| DeliveryError::NotJson(e.to_string()))?;
    let top = value.as_object().ok_or(DeliveryError::NotObject)?;
    let field = |name: &str| {
        top.get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| crate::ids::check(s).is_ok() && s.len() <= MAX_FIELD)
            .map(str::to_string)
    };
    let mut delivery = Delivery {
        subscription_id: field("subscriptionId"),
        trigger: field("trigger"),
        timestamp: field("timestamp"),
        ..Delivery::default()
    };
    let events = match top.get("events") {
        None | Some(Value::Null) => return Ok(delivery),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(DeliveryError::EventsNotArray),
    };
    for event in events {
        match read_event(event) {
            Some(e) => delivery.events.push(e),
            None => delivery.rejected += 1,
        }
    }
    Ok(delivery)
}

fn read_event(event: &Value) -> Option<EntityEvent> {
    let raw = event.get("entityRef")?.as_str()?.trim();
    let (entity_ref, kind_from_url) = ref_of(raw)?;
    let kind = event
        .get("entityType")
        .and_then(Value::as_str)
        .and_then(kind_of)
        .or(kind_from_url);
    Some(EntityEvent { entity_ref, kind })
}

/// The ref an `entityRef` names: itself when bare, else the last path segment of an http(s)
/// URL (percent-decoded), with the kind the segment before it names
/// (`…/information-objects/{ref}`). `None` when the result is not a safe single segment.
fn ref_of(raw: &str) -> Option<(String, Option<EntityKind>)> {
    let lower = raw.to_ascii_lowercase();
    let (reference, kind) = if lower.starts_with("http://") || lower.starts_with("https://") {
        // Split by hand rather than through `url::Url`, which would resolve `.`/`..` and
        // their encoded forms into another segment instead of letting them be refused.
        let after_scheme = &raw[raw.find("://")? + 3..];
        let path = &after_scheme[after_scheme.find('/')?..];
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let (last, before) = segments.split_last()?;
        let kind = before.last().and_then(|s| EntityKind::from_segment(s));
        (percent_decode(last)?, kind)
    } else {
        (raw.to_string(), None)
    };
    let unsafe_segment = reference.contains(['/', '\\']) || reference == "." || reference == "..";
    (!unsafe_segment && crate::ids::check(&reference).is_ok()).then_some((reference, kind))
}

fn percent_decode(segment: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

/// The kind an `entityType` names: the codes and the longer spellings seen in Preservica's
/// APIs, in any case; anything else is `None`.
fn kind_of(s: &str) -> Option<EntityKind> {
    let key: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_uppercase();
    match key.as_str() {
        "IO" | "INFORMATIONOBJECT" | "INFORMATIONOBJECTS" | "ASSET" => Some(EntityKind::Asset),
        "SO" | "STRUCTURALOBJECT" | "STRUCTURALOBJECTS" | "FOLDER" => Some(EntityKind::Folder),
        "CO" | "CONTENTOBJECT" | "CONTENTOBJECTS" => Some(EntityKind::ContentObject),
        _ => None,
    }
}

/// A stable digest of a delivery's body (lowercase hex SHA-256 of the bytes, surrounding
/// whitespace aside): a repeated delivery has the same body and so the same id.
pub fn delivery_id(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body.trim_ascii()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REF: &str = "2e0d5f55-7a7b-4d7e-9d3c-6d7e8f9a0b1c";

    #[test]
    fn the_composed_example_of_the_contract_is_read() {
        let body = format!(
            r#"{{"subscriptionId": "c306c99c", "trigger": "FULL_TEXT_INDEXED", "tenant": "TEST",
            "timestamp": "2025-03-01T10:00:00.000Z",
            "events": [{{"entityType": "IO", "entityRef": "{REF}", "identifiers": [{{"SourceID": "abc"}}]}}]}}"#
        );
        let d = parse_delivery(body.as_bytes()).unwrap();
        assert_eq!(d.subscription_id.as_deref(), Some("c306c99c"));
        assert_eq!(d.trigger.as_deref(), Some("FULL_TEXT_INDEXED"));
        assert_eq!(d.timestamp.as_deref(), Some("2025-03-01T10:00:00.000Z"));
        assert_eq!(
            d.events,
            vec![EntityEvent {
                entity_ref: REF.into(),
                kind: Some(EntityKind::Asset)
            }]
        );
        assert_eq!(d.rejected, 0);
    }

    #[test]
    fn a_ref_given_as_a_url_is_its_last_segment_and_the_url_may_name_the_kind() {
        let body = format!(
            r#"{{"events": [
              {{"entityRef": "https://eu.preservica.com/api/entity/structural-objects/{REF}/"}},
              {{"entityRef": "https://eu.preservica.com/api/entity/information-objects/a%20b", "entityType": "so"}}
            ]}}"#
        );
        let d = parse_delivery(body.as_bytes()).unwrap();
        assert_eq!(d.events[0].entity_ref, REF);
        assert_eq!(d.events[0].kind, Some(EntityKind::Folder));
        assert_eq!(d.events[1].entity_ref, "a b");
        assert_eq!(
            d.events[1].kind,
            Some(EntityKind::Folder),
            "entityType wins over the URL"
        );
    }

    #[test]
    fn entity_types_are_mapped_from_any_spelling_or_left_out() {
        for (t, want) in [
            ("IO", Some(EntityKind::Asset)),
            ("information-object", Some(EntityKind::Asset)),
            ("InformationObject", Some(EntityKind::Asset)),
            ("StructuralObject", Some(EntityKind::Folder)),
            ("co", Some(EntityKind::ContentObject)),
            ("XX", None),
            ("", None),
        ] {
            let body = serde_json::json!({"events": [{"entityRef": REF, "entityType": t}]});
            let d = parse_delivery(body.to_string().as_bytes()).unwrap();
            assert_eq!(d.events[0].kind, want, "{t}");
        }
        let numeric = serde_json::json!({"events": [{"entityRef": REF, "entityType": 7}]});
        let d = parse_delivery(numeric.to_string().as_bytes()).unwrap();
        assert_eq!(d.events[0].kind, None);
    }

    #[test]
    fn unsafe_refs_are_dropped_and_counted() {
        let long = "a".repeat(crate::ids::MAX_BYTES + 1);
        let body = serde_json::json!({"events": [
            {"entityRef": "../../etc/passwd"},
            {"entityRef": ".."},
            {"entityRef": "a\\b"},
            {"entityRef": "x\u{0}y"},
            {"entityRef": long},
            {"entityRef": "https://host/api/entity/information-objects/%2E%2E"},
            {"entityRef": "https://host/a/..%2Fetc"},
            {"entityRef": "https://host/"},
            {"entityRef": ""},
            {"entityRef": 12},
            {"entityType": "IO"},
            "just a string",
            {"entityRef": REF},
        ]});
        let d = parse_delivery(body.to_string().as_bytes()).unwrap();
        assert_eq!(d.events.len(), 1);
        assert_eq!(d.events[0].entity_ref, REF);
        assert_eq!(d.rejected, 12);
    }

    #[test]
    fn identifiers_and_unknown_fields_of_any_shape_are_ignored() {
        let body = serde_json::json!({"trigger": {"nested": [1, 2]}, "subscriptionId": 5,
            "extra": {"deep": [[[{}]]]},
            "events": [{"entityRef": REF, "identifiers": "not a list"},
                       {"entityRef": REF, "identifiers": [1, null, {"a": {"b": []}}]},
                       {"entityRef": REF, "identifiers": {"SourceID": "x"}}]});
        let d = parse_delivery(body.to_string().as_bytes()).unwrap();
        assert_eq!(d.events.len(), 3);
        assert_eq!((d.trigger, d.subscription_id), (None, None));
    }

    #[test]
    fn hostile_bodies_are_refused_with_errors_that_do_not_quote_them() {
        let huge = vec![b' '; MAX_DELIVERY_BYTES + 1];
        assert_eq!(
            parse_delivery(&huge),
            Err(DeliveryError::TooLarge {
                len: MAX_DELIVERY_BYTES + 1
            })
        );
        assert_eq!(
            parse_delivery(b"{\"events\":\xff\xfe}"),
            Err(DeliveryError::NotUtf8)
        );
        let html = b"<html><script>alert('owned')</script></html>";
        let e = parse_delivery(html).unwrap_err();
        assert!(matches!(e, DeliveryError::NotJson(_)));
        assert!(!e.to_string().contains("script"), "{e}");
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            parse_delivery(deep.as_bytes()),
            Err(DeliveryError::NotObject | DeliveryError::NotJson(_))
        ));
        let deep_events = format!(
            "{{\"events\":{}{}}}",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(matches!(
            parse_delivery(deep_events.as_bytes()),
            Err(DeliveryError::NotJson(_))
        ));
        assert_eq!(parse_delivery(b"[1,2]"), Err(DeliveryError::NotObject));
        assert_eq!(
            parse_delivery(b"{\"events\": {}}"),
            Err(DeliveryError::EventsNotArray)
        );
        assert_eq!(parse_delivery(b"{}").unwrap().events, vec![]);
    }

    #[test]
    fn the_delivery_id_is_the_same_for_a_repeat_and_differs_otherwise() {
        let a = br#"{"events":[{"entityRef":"a"}],"timestamp":"1"}"#;
        let b = br#"{"events":[{"entityRef":"a"}],"timestamp":"2"}"#;
        let repeat = String::from_utf8_lossy(a).into_owned();
        assert_eq!(delivery_id(a), delivery_id(repeat.as_bytes()));
        assert_eq!(delivery_id(a), delivery_id(&[&a[..], b"\r\n"].concat()));
        assert_ne!(delivery_id(a), delivery_id(b));
        assert_eq!(delivery_id(a), hex::encode(Sha256::digest(a)));
    }
}
