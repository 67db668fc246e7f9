//! The drift report of a run, in three forms: a self-contained HTML page for people, JSON
//! (a stable, documented schema) for tools, and CSV with one row per field decision. Every run
//! writes one, dry or not.
//!
//! `RunReport` is the one data model; `render` turns it into each form. All values in it are
//! hostile input (captions come from anyone with an editor's login), so the HTML escapes
//! everything and carries no script.

mod describe;
pub mod render;

pub use describe::{describe_stored, describe_sync};

use crate::http::RequestCounts;
use crate::store::{FieldOutcome, RunStatus};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// Version of the JSON schema below; bumped on any incompatible change.
pub const REPORT_SCHEMA_VERSION: u32 = 2;

/// Everything a run found and did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RunReport {
    pub schema_version: u32,
    pub run_id: i64,
    /// ISO-8601 UTC.
    pub started_at: String,
    pub finished_at: String,
    pub dry_run: bool,
    /// `done`, `failed`, `stopped` (guard, listing check), `locked_out`.
    pub status: RunStatus,
    pub exit_code: u8,
    /// Why the run stopped before writing, if it did (mass-change guard, bad listing, lock).
    pub stopped: Option<String>,
    pub summary: Summary,
    /// One row per field decision worth a look: drift, conflicts, fields not compared, and
    /// fields in sync whose agreed value is new. Fields found equal and already agreed are
    /// counted in the summary, not listed: a large library would list millions.
    pub fields: Vec<FieldRow>,
    pub rights: Vec<RightsProblem>,
    pub failures: Vec<Failure>,
    pub transfers: Vec<TransferRow>,
    /// Writes that may have replaced an edit someone else made between ferry's re-read of
    /// the target and its write; each field is also in the review queue.
    #[serde(default)]
    pub concurrent_edits: Vec<ConcurrentEdit>,
}

impl RunReport {
    /// A report as `render` wrote it in JSON. Fields an older ferry did not write read as
    /// their defaults.
    pub fn from_json(text: &str) -> Result<RunReport, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// The run in numbers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Summary {
    pub assets_photoshelter: u64,
    pub assets_preservica: u64,
    /// Every pair, compared or not.
    pub pairs: u64,
    /// Pairs not compared again: an earlier run found them equal and agreed, and neither
    /// system's copy, nor their baselines, nor the mapping has changed since.
    #[serde(default)]
    pub pairs_unchanged: u64,
    pub fields_compared: u64,
    pub in_sync: u64,
    pub drifted: u64,
    pub pushed_to_photoshelter: u64,
    pub pushed_to_preservica: u64,
    pub conflicts_queued: u64,
    pub conflicts_resolved: u64,
    /// Writes skipped because the target changed during the run, and fields not compared.
    pub skipped: u64,
    pub failures: u64,
    /// Writes that may have replaced a concurrent edit (see [`RunReport::concurrent_edits`]).
    #[serde(default)]
    pub concurrent_edits: u64,
    pub api_calls_photoshelter: RequestCounts,
    pub api_calls_preservica: RequestCounts,
    pub seconds_pull_photoshelter: f64,
    pub seconds_pull_preservica: f64,
    pub seconds_push: f64,
    pub seconds_total: f64,
}

/// One field decision.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FieldRow {
    pub asset_id: i64,
    pub photoshelter_id: Option<String>,
    pub preservica_ref: Option<String>,
    /// A human label for the asset (its title where known).
    pub label: String,
    pub field: String,
    /// `text`, `date`, `set`, `enum`, `bool`: text fields get a word diff in HTML.
    pub kind: String,
    /// Values in their stored form: a set's is its canonical JSON array (written to JSON as an
    /// array, to CSV joined with `; `, to HTML joined with `, `).
    #[serde(deserialize_with = "value_or_set")]
    pub photoshelter_value: Option<String>,
    #[serde(deserialize_with = "value_or_set")]
    pub preservica_value: Option<String>,
    pub has_baseline: bool,
    #[serde(deserialize_with = "value_or_set")]
    pub baseline_value: Option<String>,
    /// `in_sync`, `push_to_preservica`, `push_to_photoshelter`, `conflict_resolved`,
    /// `queued_for_review`, `skipped`.
    pub outcome: FieldOutcome,
    pub rule: String,
    pub reason: String,
    /// The value both systems are to hold, where one was decided.
    #[serde(deserialize_with = "value_or_set")]
    pub decided_value: Option<String>,
    /// What happened to the writes: `planned` (dry run or guard), `done`, `stale`, `failed`,
    /// or empty when nothing was to be written.
    pub write_state: String,
}

impl FieldRow {
    /// A value of this row for people: a set's members joined with `, `, any other as stored.
    pub fn shown<'v>(&self, value: &'v Option<String>) -> Option<Cow<'v, str>> {
        let v = value.as_deref()?;
        if self.kind == "set"
            && let Ok(members) = serde_json::from_str::<Vec<String>>(v)
        {
            return Some(Cow::Owned(members.join(", ")));
        }
        Some(Cow::Borrowed(v))
    }
}

/// The four value keys of a field row, which JSON writes as arrays for sets.
pub(crate) const VALUE_KEYS: [&str; 4] = [
    "photoshelter_value",
    "preservica_value",
    "baseline_value",
    "decided_value",
];

/// Reads a field row's value: a string (any kind; version 1 wrote sets so too) or an array
/// of strings (a set, from version 2 on), kept in the stored form (the canonical JSON array).
fn value_or_set<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Value {
        Text(String),
        Set(std::collections::BTreeSet<String>),
    }
    Ok(match Option::<Value>::deserialize(d)? {
        None => None,
        Some(Value::Text(s)) => Some(s),
        Some(Value::Set(items)) => {
            Some(serde_json::to_string(&items).map_err(serde::de::Error::custom)?)
        }
    })
}

/// A rights or expiry problem found on an asset.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RightsProblem {
    pub asset_id: i64,
    pub photoshelter_id: Option<String>,
    pub preservica_ref: Option<String>,
    pub label: String,
    /// `expired_licence`, `expiry_differs`, `expiring_soon`, `restricted`.
    pub kind: String,
    pub detail: String,
    /// The licence expiry the run settled on (`YYYY-MM-DD`), where there is one.
    pub expires_on: Option<String>,
    /// The expiry date each system holds, where it holds one.
    pub photoshelter_expiry: Option<String>,
    pub preservica_expiry: Option<String>,
}

/// Something that failed, with where.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Failure {
    pub asset_id: Option<i64>,
    pub system: String,
    pub item: String,
    pub error: String,
}

/// A write that may have replaced someone else's edit: verified, but what the system shows
/// says someone changed the record between ferry's re-read and its write.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ConcurrentEdit {
    pub asset_id: i64,
    /// The system written to.
    pub system: String,
    /// Its media id or asset ref.
    pub item: String,
    pub field: String,
    /// What ferry read just before writing.
    pub value_read: Option<String>,
    /// What ferry wrote.
    pub value_written: Option<String>,
    /// Always `may have replaced a concurrent edit`.
    pub note: String,
    /// What ferry saw, in one line.
    pub evidence: String,
}

/// A transfer of the run (archive or republish).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TransferRow {
    pub kind: String,
    pub source: String,
    pub target: Option<String>,
    pub state: String,
    pub detail: String,
}

/// Where a run's report is: the path the store holds (absolute, since the config's paths are),
/// or, for a run an older ferry recorded with a path relative to its working directory, the
/// file of that name in `paths.reports` when it is there.
pub fn stored_path(stored: &str, reports: &Path) -> PathBuf {
    let path = Path::new(stored);
    if path.is_absolute() || path.exists() {
        return path.to_path_buf();
    }
    match path.file_name() {
        Some(name) if reports.join(name).is_file() => reports.join(name),
        _ => path.to_path_buf(),
    }
}
