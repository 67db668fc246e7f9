//! Envelopes: the JSON wrappers of both API versions and their errors.

use super::*;
use serde_json::{Map, Value};

/// A JSON object member, or `None`.
pub fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object().and_then(|o| o.get(key))
}

/// v4 error body (`errors[]` with `id`, string `status`, `title`, `detail`); SPEC's sloppy
/// examples also show a single object and `error`, read too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiError {
    pub id: Option<String>,
    pub title: Option<String>,
    pub detail: Option<String>,
}

impl ApiError {
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(id) = &self.id {
            parts.push(id.clone());
        }
        if let Some(t) = &self.title {
            parts.push(t.clone());
        }
        if let Some(d) = &self.detail
            && Some(d) != self.title.as_ref()
        {
            parts.push(d.clone());
        }
        parts.join(": ")
    }
}

/// Reads a v4 `errors` body or a v3 `{"status":"error","error":{class,message}}` body.
pub fn parse_error(body: &Value) -> Option<ApiError> {
    let text = |v: Option<&Value>| v.and_then(lenient_text).filter(|s| !s.is_empty());
    let one = |e: &Value| ApiError {
        id: text(get(e, "id")).or_else(|| text(get(e, "class"))),
        title: text(get(e, "title")).or_else(|| text(get(e, "message"))),
        detail: text(get(e, "detail")),
    };
    match get(body, "errors").or_else(|| get(body, "error")) {
        Some(Value::Array(items)) => items.first().map(one),
        Some(e @ Value::Object(_)) => Some(one(e)),
        Some(Value::String(s)) => Some(ApiError {
            title: Some(s.clone()),
            ..ApiError::default()
        }),
        _ => None,
    }
}

/// v3 `status`: `ok` or not.
pub fn v3_ok(body: &Value) -> bool {
    get(body, "status")
        .and_then(Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("ok"))
}

/// A v3 error class that means the session is gone (PM treats any class containing
/// "session" so).
pub fn v3_session_error(body: &Value) -> bool {
    parse_error(body)
        .and_then(|e| e.id)
        .is_some_and(|c| c.to_ascii_lowercase().contains("session"))
}

/// One organisation a user belongs to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OrgInfo {
    pub id: String,
    pub name: Option<String>,
    pub member: Option<bool>,
}

/// The `org` member of a login reply: an array of orgs, or (older servers) one object.
pub fn parse_orgs(v: Option<&Value>) -> Result<Vec<OrgInfo>, String> {
    let items: Vec<&Value> = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        Some(other) => return Err(format!("`org` is {}", kind_of(other))),
    };
    items
        .into_iter()
        .map(|o| {
            let id = get(o, "id")
                .or_else(|| get(o, "org_id"))
                .and_then(lenient_text)
                .ok_or("an organisation without an id")?;
            check_id(&id).map_err(|e| format!("organisation id \"{id}\": {e}"))?;
            if let Some(why) = odd_shape(IdKind::Organization, &id) {
                tracing::warn!(%id, "PhotoShelter organisation id of an unexpected shape ({why}); ids are opaque, going on");
            }
            let attrs = get(o, "attributes").unwrap_or(o);
            Ok(OrgInfo {
                id,
                name: get(attrs, "name").and_then(lenient_text),
                member: match get(attrs, "member") {
                    Some(m) => lenient_bool(m)?,
                    None => None,
                },
            })
        })
        .collect()
}

/// A v4 list page's total, from `meta.paging.total` or `meta.total`.
pub fn page_total(body: &Value) -> Result<Option<u64>, String> {
    let meta = get(body, "meta");
    let total = meta
        .and_then(|m| get(m, "paging"))
        .and_then(|p| get(p, "total"))
        .or_else(|| meta.and_then(|m| get(m, "total")));
    match total {
        Some(t) => lenient_u64(t),
        None => Ok(None),
    }
}

/// Whether a v4 list page says there is a next page (`meta.paging.next`); `None` when the
/// server does not say.
pub fn page_has_next(body: &Value) -> Option<bool> {
    let paging = get(body, "meta").and_then(|m| get(m, "paging"))?;
    Some(get(paging, "next").is_some_and(|n| !n.is_null()))
}

/// The `attributes` object of a v4 resource (empty when absent).
pub fn attributes(item: &Value) -> Map<String, Value> {
    get(item, "attributes")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}
