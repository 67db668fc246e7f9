//! The canonical asset record: whichever system an asset lives in, ferry reads it into one map
//! from canonical field name to a typed, normalised value, so that comparing the two systems is
//! comparing values, not formats.
//!
//! Normalisation is what keeps formatting from looking like drift: text is Unicode NFC with
//! line endings unified and the ends trimmed; dates from any of the formats the two systems use
//! become one form; sets are sorted and de-duplicated (case-sensitively: "Harbour" and "harbour"
//! are two keywords). An empty value is no value: an empty caption and a missing caption are the
//! same thing in both systems.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use unicode_normalization::UnicodeNormalization;

/// The kind of a canonical field, as named in the mapping file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    Text,
    Date,
    Set,
    Enum,
    Bool,
}

impl FieldKind {
    pub const ALL: [FieldKind; 5] = [
        FieldKind::Text,
        FieldKind::Date,
        FieldKind::Set,
        FieldKind::Enum,
        FieldKind::Bool,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Date => "date",
            FieldKind::Set => "set",
            FieldKind::Enum => "enum",
            FieldKind::Bool => "bool",
        }
    }

    pub fn from_name(name: &str) -> Option<FieldKind> {
        FieldKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for FieldKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A date as the systems hold it: a calendar day, or an instant (kept in UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DateValue {
    Day(NaiveDate),
    Instant(DateTime<Utc>),
}

impl DateValue {
    /// The calendar day, for comparisons where only the day matters (expiry, search ranges).
    pub fn day(&self) -> NaiveDate {
        match self {
            DateValue::Day(d) => *d,
            DateValue::Instant(t) => t.date_naive(),
        }
    }
}

impl fmt::Display for DateValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DateValue::Day(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            // AutoSi prints fractional seconds only when there are any, so a value read back
            // from a system that drops them compares equal.
            DateValue::Instant(t) => f.write_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        }
    }
}

/// A normalised field value. Constructed only through [`FieldValue::parse`] and the
/// `from_*` constructors, which normalise, so two values that mean the same are `==`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldValue {
    Text(String),
    Date(DateValue),
    Set(BTreeSet<String>),
    Enum(String),
    Bool(bool),
}

/// A value that could not be read as its field's kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a valid {kind}: {reason}")]
pub struct ValueError {
    pub kind: FieldKind,
    pub value: String,
    pub reason: String,
}

impl FieldValue {
    /// Reads `raw` as a value of `kind`, normalised. `Ok(None)` means "no value" (empty or
    /// whitespace only). Sets are read from their canonical JSON-array form or, failing that,
    /// as a comma-separated list (the form IPTC keywords take).
    pub fn parse(kind: FieldKind, raw: &str) -> Result<Option<FieldValue>, ValueError> {
        match kind {
            FieldKind::Text => Ok(FieldValue::text(raw)),
            FieldKind::Enum => Ok(normalise_text(raw).map(FieldValue::Enum)),
            FieldKind::Date => parse_date(raw).map(|d| d.map(FieldValue::Date)),
            FieldKind::Bool => parse_bool(raw).map(|b| b.map(FieldValue::Bool)),
            FieldKind::Set => {
                let trimmed = raw.trim();
                if trimmed.starts_with('[') {
                    let items: Vec<String> =
                        serde_json::from_str(trimmed).map_err(|e| ValueError {
                            kind,
                            value: raw.to_string(),
                            reason: format!("not a JSON list of strings ({e})"),
                        })?;
                    Ok(FieldValue::set(items))
                } else {
                    Ok(FieldValue::set(trimmed.split(',')))
                }
            }
        }
    }

    /// A normalised text value, or `None` when it is empty after normalisation.
    pub fn text(raw: &str) -> Option<FieldValue> {
        normalise_text(raw).map(FieldValue::Text)
    }

    /// A normalised set, or `None` when no non-empty member remains.
    pub fn set<I, S>(items: I) -> Option<FieldValue>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let set: BTreeSet<String> = items
            .into_iter()
            .filter_map(|s| normalise_text(s.as_ref()))
            .collect();
        (!set.is_empty()).then_some(FieldValue::Set(set))
    }

    pub fn kind(&self) -> FieldKind {
        match self {
            FieldValue::Text(_) => FieldKind::Text,
            FieldValue::Date(_) => FieldKind::Date,
            FieldValue::Set(_) => FieldKind::Set,
            FieldValue::Enum(_) => FieldKind::Enum,
            FieldValue::Bool(_) => FieldKind::Bool,
        }
    }

    /// The one string form a value is stored and compared in (baselines, snapshots,
    /// decisions). [`FieldValue::parse`] reads it back to an equal value.
    pub fn to_canonical_string(&self) -> String {
        match self {
            FieldValue::Text(s) | FieldValue::Enum(s) => s.clone(),
            FieldValue::Date(d) => d.to_string(),
            FieldValue::Bool(b) => b.to_string(),
            FieldValue::Set(items) => {
                serde_json::to_string(items).expect("a list of strings always serialises")
            }
        }
    }

    /// The members of a set, or the single value of any other kind, as strings: the form a
    /// system that holds one string per element (a repeated XML element) needs.
    pub fn members(&self) -> Vec<String> {
        match self {
            FieldValue::Set(items) => items.iter().cloned().collect(),
            other => vec![other.to_canonical_string()],
        }
    }
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Set(items) => {
                let joined: Vec<&str> = items.iter().map(String::as_str).collect();
                f.write_str(&joined.join(", "))
            }
            other => f.write_str(&other.to_canonical_string()),
        }
    }
}

/// NFC, CRLF/CR to LF, ends trimmed; `None` when nothing is left.
pub fn normalise_text(raw: &str) -> Option<String> {
    // Most values (and every stored canonical one) are already NFC with plain line ends:
    // the quick check says so without building a normalised copy.
    if !raw.contains('\r') {
        let trimmed = raw.trim();
        if unicode_normalization::is_nfc_quick(trimmed.chars())
            == unicode_normalization::IsNormalized::Yes
        {
            return (!trimmed.is_empty()).then(|| trimmed.to_string());
        }
    }
    let unified = if raw.contains('\r') {
        raw.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        raw.to_string()
    };
    let nfc: String = unified.trim().nfc().collect();
    // NFC can turn a lone combining mark into something trimmable only in theory; trimming
    // again keeps the function idempotent whatever the input.
    let nfc = nfc.trim();
    (!nfc.is_empty()).then(|| nfc.to_string())
}

fn parse_bool(raw: &str) -> Result<Option<bool>, ValueError> {
    let v = raw.trim();
    if v.is_empty() {
        return Ok(None);
    }
    // PhotoShelter v3 sends `t`/`f`; people write yes/no; both systems may send 1/0.
    match v.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Ok(Some(true)),
        "false" | "f" | "no" | "n" | "0" => Ok(Some(false)),
        _ => Err(ValueError {
            kind: FieldKind::Bool,
            value: raw.to_string(),
            reason: "expected true/false, t/f, yes/no or 1/0".into(),
        }),
    }
}

/// Date-time forms with an explicit zone or offset.
const ZONED_FORMATS: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f%:z",
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f%:z",
    "%Y-%m-%d %H:%M:%S%.f%z",
];

/// Date-time forms without a zone: both systems mean UTC by them (PhotoShelter writes
/// `2019-04-25 14:54:12.136828`, and `... GMT`/`... UTC`, handled by stripping the suffix).
const NAIVE_FORMATS: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

const DAY_FORMATS: &[&str] = &["%Y-%m-%d", "%Y%m%d", "%Y:%m:%d"];

fn parse_date(raw: &str) -> Result<Option<DateValue>, ValueError> {
    let v = raw.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let err = |reason: &str| ValueError {
        kind: FieldKind::Date,
        value: raw.to_string(),
        reason: reason.to_string(),
    };
    // A plain day, the stored form of most dates, without trying every pattern first.
    if let Some(d) = plain_day(v) {
        return Ok(Some(DateValue::Day(d)));
    }
    // RFC 3339 with `Z` first: the commonest form on the wire.
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(Some(DateValue::Instant(t.with_timezone(&Utc))));
    }
    for f in ZONED_FORMATS {
        if let Ok(t) = DateTime::parse_from_str(v, f) {
            return Ok(Some(DateValue::Instant(t.with_timezone(&Utc))));
        }
    }
    let without_zone = v
        .strip_suffix(" GMT")
        .or_else(|| v.strip_suffix(" UTC"))
        .or_else(|| v.strip_suffix('Z'))
        .unwrap_or(v)
        .trim_end();
    for f in NAIVE_FORMATS {
        if let Ok(t) = NaiveDateTime::parse_from_str(without_zone, f) {
            return Ok(Some(DateValue::Instant(t.and_utc())));
        }
    }
    if without_zone.len() == v.len() {
        for f in DAY_FORMATS {
            if let Ok(d) = NaiveDate::parse_from_str(v, f) {
                return Ok(Some(DateValue::Day(d)));
            }
        }
    }
    Err(err(
        "expected a date like 2024-05-01, 2024-05-01T12:00:00Z or 2024-05-01 12:00:00 GMT",
    ))
}

/// `YYYY-MM-DD` and a real day, else `None` (the general parser then decides).
fn plain_day(v: &str) -> Option<NaiveDate> {
    let b = v.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| {
        b[r.clone()]
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| v[r].parse::<u32>().ok())
            .flatten()
    };
    NaiveDate::from_ymd_opt(digits(0..4)? as i32, digits(5..7)?, digits(8..10)?)
}

/// Which of the two systems a record or value belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum System {
    #[serde(rename = "photoshelter")]
    PhotoShelter,
    #[serde(rename = "preservica")]
    Preservica,
}

impl System {
    pub fn name(self) -> &'static str {
        match self {
            System::PhotoShelter => "photoshelter",
            System::Preservica => "preservica",
        }
    }

    pub fn other(self) -> System {
        match self {
            System::PhotoShelter => System::Preservica,
            System::Preservica => System::PhotoShelter,
        }
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One asset as one system holds it, in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CanonicalRecord {
    /// Field name (as in the mapping) to value; a field with no value is absent.
    pub fields: BTreeMap<String, FieldValue>,
    /// The system's own last-modified time, when it tells.
    pub modified_at: Option<DateTime<Utc>>,
    pub file_name: Option<String>,
    pub file_size: Option<u64>,
    /// `algorithm:hex`, e.g. `sha1:…`, when the system tells.
    pub checksum: Option<String>,
}

impl CanonicalRecord {
    pub fn get(&self, field: &str) -> Option<&FieldValue> {
        self.fields.get(field)
    }

    /// Sets a field, or removes it when `value` is `None` (no value).
    pub fn set(&mut self, field: &str, value: Option<FieldValue>) {
        match value {
            Some(v) => {
                self.fields.insert(field.to_string(), v);
            }
            None => {
                self.fields.remove(field);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(raw: &str) -> String {
        FieldValue::parse(FieldKind::Date, raw)
            .unwrap()
            .unwrap()
            .to_canonical_string()
    }

    #[test]
    fn dates_of_every_form_the_systems_use_normalise_to_one() {
        assert_eq!(date("2019-10-02 14:39:23 GMT"), "2019-10-02T14:39:23Z");
        assert_eq!(date("2019-10-02T14:39:23Z"), "2019-10-02T14:39:23Z");
        assert_eq!(date("2019-10-02T16:39:23+02:00"), "2019-10-02T14:39:23Z");
        assert_eq!(date("2019-10-02T14:39:23.000Z"), "2019-10-02T14:39:23Z");
        assert_eq!(
            date("2019-04-25 14:54:12.136828"),
            "2019-04-25T14:54:12.136828Z"
        );
        assert_eq!(
            date("2026-11-25T10:42:59.149410+00:00"),
            "2026-11-25T10:42:59.149410Z"
        );
        assert_eq!(date("1962-07-14"), "1962-07-14");
        assert_eq!(date("19620714"), "1962-07-14");
        assert_eq!(date(" 1962-07-14 "), "1962-07-14");
    }

    #[test]
    fn a_bad_date_names_the_value_and_the_accepted_forms() {
        let e = FieldValue::parse(FieldKind::Date, "14/07/1962").unwrap_err();
        assert_eq!(
            e.to_string(),
            "'14/07/1962' is not a valid date: expected a date like 2024-05-01, \
             2024-05-01T12:00:00Z or 2024-05-01 12:00:00 GMT"
        );
        assert!(FieldValue::parse(FieldKind::Date, "2024-02-30").is_err());
    }

    #[test]
    fn text_is_nfc_trimmed_and_line_endings_unified() {
        // "é" as e + combining acute, CRLF inside, spaces around.
        let v = FieldValue::text("  Cafe\u{301}\r\nquay  ").unwrap();
        assert_eq!(v, FieldValue::Text("Café\nquay".into()));
        assert_eq!(FieldValue::text(" \t\n"), None);
    }

    #[test]
    fn sets_are_sorted_deduplicated_and_case_sensitive() {
        let v = FieldValue::parse(FieldKind::Set, "regatta, Harbour,harbour, regatta,,")
            .unwrap()
            .unwrap();
        assert_eq!(
            v.to_canonical_string(),
            r#"["Harbour","harbour","regatta"]"#
        );
        let back = FieldValue::parse(FieldKind::Set, &v.to_canonical_string())
            .unwrap()
            .unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn bools_accept_the_systems_spellings() {
        for t in ["t", "true", "YES", "1"] {
            assert_eq!(
                FieldValue::parse(FieldKind::Bool, t).unwrap(),
                Some(FieldValue::Bool(true))
            );
        }
        for f in ["f", "False", "no", "0"] {
            assert_eq!(
                FieldValue::parse(FieldKind::Bool, f).unwrap(),
                Some(FieldValue::Bool(false))
            );
        }
        assert!(FieldValue::parse(FieldKind::Bool, "maybe").is_err());
    }
}
