//! Renders a [`RunReport`] in its three forms: [`to_html`] (one self-contained page for people),
//! [`to_json`] (for tools) and [`to_csv`] (one row per field decision, for spreadsheets).
//! [`write_all`] writes all three next to each other, each one atomically.
//!
//! # HTML
//!
//! Built from `templates/report.html` in the app's one layout and stylesheet (see `html`).
//! [`to_html`], the file a run writes, is one page with everything inline: CSS in a `<style>`
//! element, no JavaScript, no fonts, images or links to anything outside the page, and a
//! Content-Security-Policy meta element (`default-src 'none'; style-src 'unsafe-inline'`) so
//! that even a value that got past the escaping could neither run script nor load anything.
//! [`to_app_html`] is the same report as the web app serves it, with its navigation, and
//! labels linking to asset pages. Every value from the report is escaped by the template
//! engine ([`escape_html`]); values are shown in direction-isolated spans (`dir="auto"`), so
//! right-to-left text or a stray bidi override in a caption cannot reorder the page around it.
//!
//! Order: header (run id, times, dry-run badge, status, the reason a run stopped), summary,
//! drifted fields grouped per asset (text fields carry a word diff PhotoShelter → Preservica),
//! the in-sync fields in a collapsed `<details>`, rights problems grouped by kind (counts,
//! each kind's problems by date), failures, writes that may have replaced a concurrent edit,
//! transfers. A transfer run's report opens with its transfers and failures instead, then
//! the API calls and time; sync sections follow only when they hold something.
//!
//! # CSV
//!
//! Written by `crate::csv_out` (see there: RFC 4180 quoting, CRLF, the formula-injection
//! guard, sets as one cell joined with `; `, the optional byte-order mark): a header row then
//! one row per [`FieldRow`](super::FieldRow), columns in this order:
//!
//! `run_id, asset_id, photoshelter_id, preservica_ref, label, field, kind, photoshelter_value,
//! preservica_value, has_baseline, baseline_value, outcome, rule, reason, decided_value,
//! write_state`
//!
//! A missing value (`None`) is an empty cell; `has_baseline` is `true` or `false`. Tools that
//! need values byte for byte should read the JSON, which is never altered.
//!
//! # JSON schema (version 2)
//!
//! [`to_json`] writes the [`RunReport`] as one pretty-printed JSON object. Every key below is
//! always present, in this order; a missing optional value is `null`, never an absent key.
//! Times are ISO-8601 UTC strings. New keys may be added without changing the version; removing
//! or renaming a key, or changing a value's meaning, bumps [`REPORT_SCHEMA_VERSION`].
//!
//! | key | type | meaning |
//! |---|---|---|
//! | `schema_version` | integer | always [`REPORT_SCHEMA_VERSION`] (currently `1`) |
//! | `run_id` | integer | the run's id in ferry's store |
//! | `started_at`, `finished_at` | string | ISO-8601 UTC |
//! | `dry_run` | bool | `true` when the run wrote nothing to either system |
//! | `status` | string | `done`, `failed`, `stopped` (mass-change guard, bad listing), `locked_out` |
//! | `exit_code` | integer | the process exit code: 0 all done, 1 some skipped, 2 non-fatal failures, 3 fatal or locked out |
//! | `stopped` | string or null | why the run stopped before writing, if it did |
//! | `summary` | object | the run in numbers, see below |
//! | `fields` | array of objects | one per compared field of each paired asset, see below |
//! | `rights` | array of objects | rights and expiry problems, see below |
//! | `failures` | array of objects | what failed, see below |
//! | `transfers` | array of objects | archive and republish transfers of the run, see below |
//! | `concurrent_edits` | array of objects | writes that may have replaced a concurrent edit, see below |
//!
//! `summary` holds the integers `assets_photoshelter`, `assets_preservica`, `pairs`,
//! `pairs_unchanged` (pairs an earlier run found settled and that nothing has changed since:
//! not compared again), `fields_compared`, `in_sync`, `drifted`, `pushed_to_photoshelter`, `pushed_to_preservica`,
//! `conflicts_queued`, `conflicts_resolved`, `skipped`, `failures`, `concurrent_edits`; the objects
//! `api_calls_photoshelter` and `api_calls_preservica`, each with the integers `requests`
//! (every attempt on the wire, retries included), `retries`, `throttled` (answers of 429) and
//! `server_errors` (answers of 5xx); and the numbers (seconds) `seconds_pull_photoshelter`,
//! `seconds_pull_preservica`, `seconds_push`, `seconds_total`.
//!
//! `fields` lists the field decisions worth a look: drift, conflicts, fields not compared, and
//! fields in sync whose agreed value (baseline) is new this run. Fields found equal and
//! already agreed are only counted (`in_sync`). Each object of `fields` has: `asset_id` (integer, ferry's id), `photoshelter_id` and
//! `preservica_ref` (string or null), `label` (string), `field` (string, the canonical field
//! name), `kind`, `photoshelter_value`, `preservica_value` (null when absent), `has_baseline`
//! (bool: false when the two systems never agreed on this field before), `baseline_value`
//! (null when absent), `outcome`, `rule` and `reason` (strings: the rule applied and a one-line
//! why), `decided_value` (null when absent: the value both systems are to hold) and `write_state`.
//! A value is a string, except for a field of kind `set`, whose values are arrays of strings
//! (version 1 wrote them as one string; [`RunReport::from_json`](super::RunReport::from_json)
//! reads both).
//!
//! - `kind`: `text`, `date`, `set`, `enum`, `bool`.
//! - `outcome`: `in_sync` (both equal), `push_to_preservica` (PhotoShelter changed),
//!   `push_to_photoshelter` (Preservica changed), `conflict_resolved` (both changed or first
//!   meeting, settled by the field's rule), `queued_for_review` (left for a person),
//!   `skipped` (not compared or not written this run).
//! - `write_state`: `planned` (dry run, or held back by the mass-change guard), `done` (written
//!   and verified), `stale` (the target changed during the run, so the write was skipped),
//!   `failed`, or the empty string when there was nothing to write.
//!
//! Each object of `rights` has `asset_id`, `photoshelter_id`, `preservica_ref`, `label`,
//! `kind`, `detail` (one line for people) and the dates as their own fields (`YYYY-MM-DD` or
//! null): `expires_on` (the licence expiry the run settled on), `photoshelter_expiry` and
//! `preservica_expiry` (what each system holds). `kind` is one of `expired_licence` (the licence
//! has expired; the asset may still be published), `expiry_differs` (the two systems hold
//! different expiry dates), `expiring_soon`, `restricted` (the rights policy restricted the
//! asset; `detail` says why and what was done).
//!
//! Each object of `failures` has `asset_id` (integer or null), `system`, `item` and `error`
//! (strings). Each object of `transfers` has `kind`, `source`, `target` (string or null),
//! `state` and `detail`.
//!
//! Each object of `concurrent_edits` is a write that was made and verified although what the
//! system shows says someone changed the record between ferry's re-read and its write (their
//! edit may be lost; the field is in the review queue): `asset_id`, `system` (written to),
//! `item` (media id or asset ref), `field`, `value_read` and `value_written` (string or null:
//! what ferry read just before writing, and what it wrote), `note` (always `may have
//! replaced a concurrent edit`) and `evidence` (one line: what ferry saw).

use std::borrow::Cow;

use super::{REPORT_SCHEMA_VERSION, RunReport};

mod csv;
mod files;
mod html;

pub use csv::{CSV_COLUMNS, to_csv, to_csv_with};
pub use files::{ReportPaths, ReportWriteError, write_all, write_all_with};
pub use html::{to_app_html, to_html};

/// The report as pretty-printed JSON (the schema in the module docs), ending in a newline.
/// `schema_version` is always [`REPORT_SCHEMA_VERSION`], whatever the struct holds.
pub fn to_json(report: &RunReport) -> String {
    let report = if report.schema_version == REPORT_SCHEMA_VERSION {
        Cow::Borrowed(report)
    } else {
        let mut fixed = report.clone();
        fixed.schema_version = REPORT_SCHEMA_VERSION;
        Cow::Owned(fixed)
    };
    // Plain structs with string keys: serialising cannot fail (non-finite floats become null).
    let mut value = serde_json::to_value(report.as_ref()).expect("a report serialises");
    sets_as_arrays(&mut value);
    let mut json = serde_json::to_string_pretty(&value).expect("a JSON value serialises");
    json.push('\n');
    json
}

/// Turns the values of `set` field rows from their stored form (a JSON array in a string)
/// into arrays, as the schema says.
fn sets_as_arrays(report: &mut serde_json::Value) {
    let Some(rows) = report.get_mut("fields").and_then(|f| f.as_array_mut()) else {
        return;
    };
    for row in rows {
        if row.get("kind").and_then(|k| k.as_str()) != Some("set") {
            continue;
        }
        for key in super::VALUE_KEYS {
            if let Some(slot) = row.get_mut(key) {
                crate::model::set_as_array(slot);
            }
        }
    }
}

pub use crate::html::escape_html;
