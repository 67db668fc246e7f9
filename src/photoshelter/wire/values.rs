//! Lenient values (contract §3.1, §4): numbers as strings, `t`/`f`, several timestamp forms.

use super::*;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

/// A count or size sent as a number or as a numeric string. `Ok(None)` for null or "".
pub fn lenient_u64(v: &Value) -> Result<Option<u64>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("{n} is not a whole non-negative number")),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => s
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| format!("\"{s}\" is not a whole non-negative number")),
        other => Err(format!("{} is not a number", kind_of(other))),
    }
}

/// A boolean sent as `true`/`false`, `t`/`f`, `1`/`0` (number or string).
pub fn lenient_bool(v: &Value) -> Result<Option<bool>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(Some(true)),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(Some(false)),
        Value::String(s) => parse_bool_text(s),
        other => Err(format!("{} is not a boolean", kind_of(other))),
    }
}

/// `true`/`false`, `t`/`f`, `1`/`0`, `yes`/`no`; empty is no value.
pub fn parse_bool_text(s: &str) -> Result<Option<bool>, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "t" | "true" | "1" | "yes" | "y" => Ok(Some(true)),
        "f" | "false" | "0" | "no" | "n" => Ok(Some(false)),
        _ => Err(format!("\"{s}\" is not a boolean (t/f, true/false, 1/0)")),
    }
}

/// Text of a scalar (string, number or boolean); `None` for null.
pub fn lenient_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(super) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A timestamp in any of the forms PhotoShelter uses: `2019-10-02 14:39:23 GMT` (or `UTC`),
/// `2019-04-25 14:54:12.136828` (no zone: UTC), RFC 3339, `… +0000`, or a bare date (midnight
/// UTC). Named zones other than GMT/UTC are refused rather than guessed.
pub fn parse_timestamp(raw: &str) -> Result<DateTime<Utc>, String> {
    let v = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f %z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(v, f) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    let bare = v
        .strip_suffix(" GMT")
        .or_else(|| v.strip_suffix(" UTC"))
        .or_else(|| v.strip_suffix('Z'))
        .unwrap_or(v)
        .trim_end();
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(bare, f) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(bare, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    Err(format!(
        "\"{raw}\" is not a timestamp PhotoShelter sends (e.g. 2024-05-01 12:00:00 GMT)"
    ))
}

/// A timestamp that may be absent (null or "").
pub fn lenient_timestamp(v: &Value) -> Result<Option<DateTime<Utc>>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => parse_timestamp(s).map(Some),
        // Unix seconds, just in case.
        Value::Number(n) => n
            .as_i64()
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .map(Some)
            .ok_or_else(|| format!("{n} is not a timestamp")),
        other => Err(format!("{} is not a timestamp", kind_of(other))),
    }
}

pub fn format_timestamp(t: DateTime<Utc>) -> String {
    t.format(TIMESTAMP_FORMAT).to_string()
}
