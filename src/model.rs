//! The canonical asset record: whichever system an asset lives in, ferry reads it into one map
//! from canonical field name to a typed, normalised value, so that comparing the two systems is
//! comparing values, not formats.
//!
//! Normalisation is what keeps formatting from looking like drift: text is Unicode NFC with
//! line endings unified and the ends trimmed; a date in any of the forms the two systems use
//! becomes the calendar day it names; sets are sorted and de-duplicated (case-sensitively:
//! "Harbour" and "harbour" are two keywords). An empty value is no value: an empty caption and a missing caption are the
//! same thing in both systems.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use unicode_normalization::UnicodeNormalization;

/// A set's stored form (a JSON array written into a string) turned into the array itself,
/// in place: how every JSON output shows a set. Any other value is left as it is.
pub fn set_as_array(slot: &mut serde_json::Value) {
    if let Some(members) = slot
        .as_str()
        .and_then(|s| serde_json::from_str::<Vec<String>>(s).ok())
    {
        *slot = serde_json::Value::from(members);
    }
}

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

/// The value of a `date` field: a calendar day. Every form either system uses for one day
/// (`1968-04-13`, `1968-04-13 00:00:00 GMT`, `1968-04-13T09:30:00+02:00`, `19680413`,
/// `1968:04:13`, seconds or milliseconds since 1970) reads as the same value, the day as written, so a difference of form is never
/// drift. How a system spelled it is kept apart, as a [`DateForm`], for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateValue(NaiveDate);

impl DateValue {
    pub fn new(day: NaiveDate) -> DateValue {
        DateValue(day)
    }

    /// The calendar day.
    pub fn day(&self) -> NaiveDate {
        self.0
    }
}

impl fmt::Display for DateValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
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

/// How a system spelled a date. ferry compares dates by day whatever the form, and writes a
/// date in the form the target system used for that field, so that what it reads back is the
/// same text it would have written itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateForm {
    /// `1968-04-13`: ferry's own form, and the one used when a target holds no value yet.
    Day,
    /// `19680413` (IPTC's Date Created).
    Compact,
    /// `1968:04:13` (EXIF).
    Colons,
    /// `1968:04:13 00:00:00` (EXIF date-time).
    ColonsTime,
    /// `1968-04-13 00:00:00 GMT` (PhotoShelter's timestamps); `zone` is `GMT` or `UTC`.
    Timestamp { zone: &'static str },
    /// `1968-04-13 00:00:00`, or with `T` when `t` is set.
    Naive { t: bool },
    /// `1968-04-13T00:00:00Z`, RFC 3339 (any offset when read).
    Rfc3339,
    /// Seconds since 1970 (9 to 11 digits): a day in UTC.
    EpochSeconds,
    /// Milliseconds since 1970 (12 or 13 digits): a day in UTC.
    EpochMillis,
}

/// Date-time forms with an explicit numeric offset (RFC 3339's own parser takes the rest).
const ZONED_FORMATS: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f%:z",
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f%:z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f %z",
];

/// Date-time forms without a zone (after ` GMT`, ` UTC` or `Z` is taken off).
const NAIVE_FORMATS: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

impl DateForm {
    /// The day `raw` names, as written (an offset does not move it to another day), and the
    /// form it is written in; `None` when it is no date ferry knows.
    pub fn read(raw: &str) -> Option<(NaiveDate, DateForm)> {
        let v = raw.trim();
        if let Some(d) = plain_day(v) {
            return Some((d, DateForm::Day));
        }
        if v.bytes().all(|b| b.is_ascii_digit()) {
            return match v.len() {
                8 => NaiveDate::parse_from_str(v, "%Y%m%d")
                    .ok()
                    .map(|d| (d, DateForm::Compact)),
                9..=11 => DateTime::from_timestamp(v.parse().ok()?, 0)
                    .map(|t| (t.date_naive(), DateForm::EpochSeconds)),
                12 | 13 => DateTime::from_timestamp_millis(v.parse().ok()?)
                    .map(|t| (t.date_naive(), DateForm::EpochMillis)),
                _ => None,
            };
        }
        if v.as_bytes().get(4) == Some(&b':') {
            if let Ok(d) = NaiveDate::parse_from_str(v, "%Y:%m:%d") {
                return Some((d, DateForm::Colons));
            }
            return NaiveDateTime::parse_from_str(v, "%Y:%m:%d %H:%M:%S")
                .ok()
                .map(|t| (t.date(), DateForm::ColonsTime));
        }
        let day = plain_day(v.get(..10)?)?;
        let form = date_time_form(v)?;
        Some((day, form))
    }

    /// `day` in this form (midnight, in UTC, where the form has a time).
    pub fn write(self, day: NaiveDate) -> String {
        let f = match self {
            DateForm::Day => "%Y-%m-%d",
            DateForm::Compact => "%Y%m%d",
            DateForm::Colons => "%Y:%m:%d",
            DateForm::ColonsTime => "%Y:%m:%d 00:00:00",
            DateForm::Timestamp { zone: "UTC" } => "%Y-%m-%d 00:00:00 UTC",
            DateForm::Timestamp { .. } => "%Y-%m-%d 00:00:00 GMT",
            DateForm::Naive { t: false } => "%Y-%m-%d 00:00:00",
            DateForm::Naive { t: true } => "%Y-%m-%dT00:00:00",
            DateForm::Rfc3339 => "%Y-%m-%dT00:00:00Z",
            DateForm::EpochSeconds => {
                return day
                    .and_time(NaiveTime::MIN)
                    .and_utc()
                    .timestamp()
                    .to_string();
            }
            DateForm::EpochMillis => {
                return day
                    .and_time(NaiveTime::MIN)
                    .and_utc()
                    .timestamp_millis()
                    .to_string();
            }
        };
        day.format(f).to_string()
    }

    /// `value` as text for a system whose current value for the field is `current`: a date in
    /// that value's form, anything else in its canonical form.
    pub fn spell(value: &FieldValue, current: Option<&str>) -> String {
        match value {
            FieldValue::Date(d) => current
                .and_then(DateForm::read)
                .map_or(DateForm::Day, |(_, form)| form)
                .write(d.day()),
            other => other.to_canonical_string(),
        }
    }
}

/// Whether two system strings name the same day (both must read as dates): the read-back of
/// a date written in one form may come back in another.
pub fn same_day(a: &str, b: &str) -> bool {
    match (DateForm::read(a), DateForm::read(b)) {
        (Some((x, _)), Some((y, _))) => x == y,
        _ => false,
    }
}

/// The form of a date-time that starts with a valid `YYYY-MM-DD`, if the rest is a time.
fn date_time_form(v: &str) -> Option<DateForm> {
    let sep_t = v.as_bytes().get(10) == Some(&b'T');
    if DateTime::parse_from_rfc3339(v).is_ok()
        || ZONED_FORMATS
            .iter()
            .any(|f| DateTime::parse_from_str(v, f).is_ok())
    {
        return Some(DateForm::Rfc3339);
    }
    let (bare, form) = if let Some(b) = v.strip_suffix(" GMT") {
        (b, DateForm::Timestamp { zone: "GMT" })
    } else if let Some(b) = v.strip_suffix(" UTC") {
        (b, DateForm::Timestamp { zone: "UTC" })
    } else if let Some(b) = v.strip_suffix('Z') {
        (b, DateForm::Rfc3339)
    } else {
        (v, DateForm::Naive { t: sep_t })
    };
    NAIVE_FORMATS
        .iter()
        .any(|f| NaiveDateTime::parse_from_str(bare.trim_end(), f).is_ok())
        .then_some(form)
}

fn parse_date(raw: &str) -> Result<Option<DateValue>, ValueError> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    match DateForm::read(raw) {
        Some((day, _)) => Ok(Some(DateValue(day))),
        None => Err(ValueError {
            kind: FieldKind::Date,
            value: raw.to_string(),
            reason: "expected a date like 2024-05-01, 2024-05-01 12:00:00 GMT, \
                     2024-05-01T12:00:00Z, 20240501 or 2024:05:01"
                .into(),
        }),
    }
}

/// `YYYY-MM-DD` and a real day, else `None`.
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

/// What a key of a stored snapshot names. A snapshot is stored as strings (the store's
/// format does not change): a mapped field by its canonical name, access state and filing by
/// `@name`, and a field whose value could not be read by `!unreadable:<field>` (its value says
/// why). Everything that makes keys or tells them apart goes through this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SnapshotKey<'a> {
    /// A mapped field, by its canonical name.
    Field(&'a str),
    /// State ferry reads beside the mapped fields.
    Access(AccessKey),
    /// A marker: this field's value could not be read (never compared, never written).
    Unreadable(&'a str),
}

/// The snapshot keys that are not mapped fields: access state ferry enforces rights on (read
/// and written like fields, but not edited through the mapping), and where an asset is filed
/// (for search only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessKey {
    /// PhotoShelter's searchable flag.
    Searchable,
    /// Preservica's security tag.
    SecurityTag,
    /// The names of the PhotoShelter galleries holding the asset.
    Galleries,
    /// The title of the asset's Preservica folder.
    Folder,
}

impl AccessKey {
    pub const ALL: [AccessKey; 4] = [
        AccessKey::Searchable,
        AccessKey::SecurityTag,
        AccessKey::Galleries,
        AccessKey::Folder,
    ];

    /// The key as stored.
    pub const fn key(self) -> &'static str {
        match self {
            AccessKey::Searchable => "@searchable",
            AccessKey::SecurityTag => "@security_tag",
            AccessKey::Galleries => "@galleries",
            AccessKey::Folder => "@folder",
        }
    }
}

impl<'a> SnapshotKey<'a> {
    /// How an unreadable-field marker starts.
    pub const UNREADABLE_PREFIX: &'static str = "!unreadable:";

    /// Reads a stored key. An `@` key this version does not know is read as a field name, which
    /// no mapping field has, so it is kept but never compared.
    pub fn parse(key: &'a str) -> SnapshotKey<'a> {
        if let Some(field) = key.strip_prefix(Self::UNREADABLE_PREFIX) {
            return SnapshotKey::Unreadable(field);
        }
        if key.starts_with('@')
            && let Some(access) = AccessKey::ALL.into_iter().find(|a| a.key() == key)
        {
            return SnapshotKey::Access(access);
        }
        SnapshotKey::Field(key)
    }

    /// Whether the key is access state rather than a mapped field.
    pub fn is_access(key: &str) -> bool {
        matches!(SnapshotKey::parse(key), SnapshotKey::Access(_))
    }
}

impl fmt::Display for SnapshotKey<'_> {
    /// The key as stored.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotKey::Field(name) => f.write_str(name),
            SnapshotKey::Access(a) => f.write_str(a.key()),
            SnapshotKey::Unreadable(field) => write!(f, "{}{field}", Self::UNREADABLE_PREFIX),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn snapshot_keys_keep_their_stored_form() {
        for key in [
            "title",
            "@searchable",
            "@security_tag",
            "@galleries",
            "@folder",
            "!unreadable:title",
        ] {
            assert_eq!(SnapshotKey::parse(key).to_string(), key);
        }
        assert_eq!(
            SnapshotKey::parse("@folder"),
            SnapshotKey::Access(AccessKey::Folder)
        );
        assert_eq!(
            SnapshotKey::parse("!unreadable:creator"),
            SnapshotKey::Unreadable("creator")
        );
        assert_eq!(SnapshotKey::parse("creator"), SnapshotKey::Field("creator"));
        assert!(!SnapshotKey::is_access("@unknown"));
    }

    use super::*;

    fn date(raw: &str) -> String {
        FieldValue::parse(FieldKind::Date, raw)
            .unwrap()
            .unwrap()
            .to_canonical_string()
    }

    #[test]
    fn every_form_of_one_day_is_that_day_whatever_the_time() {
        for form in [
            "1968-04-13",
            " 1968-04-13 ",
            "1968-04-13 00:00:00 GMT",
            "1968-04-13 23:59:59 UTC",
            "1968-04-13 14:54:12.136828",
            "1968-04-13T09:30:00Z",
            "1968-04-13T09:30:00.000Z",
            "1968-04-13T23:30:00-05:00",
            "1968-04-13T00:30:00+02:00",
            "1968-04-13 10:00:00 +0000",
            "19680413",
            "1968:04:13",
            "1968:04:13 12:00:00",
        ] {
            assert_eq!(date(form), "1968-04-13", "{form}");
        }
        assert_eq!(
            date("2000000000"),
            "2033-05-18",
            "seconds since 1970, in UTC"
        );
        assert_eq!(date("2000000000000"), "2033-05-18", "milliseconds");
    }

    #[test]
    fn a_date_is_written_in_the_form_the_target_used() {
        let day = NaiveDate::from_ymd_opt(2030, 1, 2).unwrap();
        let v = FieldValue::Date(DateValue::new(day));
        let spelled = |current: Option<&str>| DateForm::spell(&v, current);
        assert_eq!(spelled(None), "2030-01-02");
        assert_eq!(spelled(Some("garbage")), "2030-01-02");
        assert_eq!(
            spelled(Some("2024-05-01 12:00:00 GMT")),
            "2030-01-02 00:00:00 GMT"
        );
        assert_eq!(
            spelled(Some("2024-05-01T12:00:00+02:00")),
            "2030-01-02T00:00:00Z"
        );
        assert_eq!(spelled(Some("20240501")), "20300102");
        assert_eq!(spelled(Some("2024:05:01")), "2030:01:02");
        assert_eq!(spelled(Some("1714564800")), "1893542400");
        assert_eq!(spelled(Some("1714564800000")), "1893542400000");
        for current in [
            "2024-05-01 12:00:00 UTC",
            "2024-05-01T12:00",
            "2024:05:01 10:00:00",
        ] {
            let (back, _) = DateForm::read(&spelled(Some(current))).unwrap();
            assert_eq!(back, day, "{current}");
        }
    }

    #[test]
    fn a_bad_date_names_the_value_and_the_accepted_forms() {
        let e = FieldValue::parse(FieldKind::Date, "14/07/1962").unwrap_err();
        assert_eq!(
            e.to_string(),
            "'14/07/1962' is not a valid date: expected a date like 2024-05-01, \
             2024-05-01 12:00:00 GMT, 2024-05-01T12:00:00Z, 20240501 or 2024:05:01"
        );
        for bad in [
            "2024-02-30",
            "2024-02-01 garbage",
            "2024-02-01T25:00:00Z",
            "1234567",
        ] {
            assert!(FieldValue::parse(FieldKind::Date, bad).is_err(), "{bad}");
        }
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
