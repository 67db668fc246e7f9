//! Renders a [`RunReport`] in its three forms: [`to_html`] (one self-contained page for people),
//! [`to_json`] (for tools) and [`to_csv`] (one row per field decision, for spreadsheets).
//! [`write_all`] writes all three next to each other, each one atomically.
//!
//! # HTML
//!
//! One page with everything inline: CSS in a `<style>` element, no JavaScript, no fonts,
//! images or links to anything outside the page, and a Content-Security-Policy meta element
//! (`default-src 'none'; style-src 'unsafe-inline'`) so that even a value that got past the
//! escaping could neither run script nor load anything. Every value from the report goes
//! through [`escape_html`]; values are shown in direction-isolated spans (`dir="auto"`), so
//! right-to-left text or a stray bidi override in a caption cannot reorder the page around it.
//!
//! Order: header (run id, times, dry-run badge, status, the reason a run stopped), summary,
//! drifted fields grouped per asset (text fields carry a word diff PhotoShelter → Preservica),
//! the in-sync fields in a collapsed `<details>`, rights problems, failures, writes that may
//! have replaced a concurrent edit, transfers.
//!
//! # CSV
//!
//! Written by `crate::csv_out` (see there: RFC 4180 quoting, CRLF, the formula-injection
//! guard, sets as one cell joined with `; `, the optional byte-order mark): a header row then
//! one row per [`FieldRow`], columns in this order:
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
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use similar::{ChangeTag, TextDiff};

use super::{FieldRow, REPORT_SCHEMA_VERSION, RunReport, Summary};

mod concurrent;
mod csv;
mod files;

use crate::http::RequestCounts;
use crate::store::FieldOutcome;
pub use csv::{CSV_COLUMNS, to_csv, to_csv_with};
pub use files::{ReportPaths, ReportWriteError, write_all, write_all_with};

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
            let Some(slot) = row.get_mut(key) else {
                continue;
            };
            if let Some(members) = slot
                .as_str()
                .and_then(|s| serde_json::from_str::<Vec<String>>(s).ok())
            {
                *slot = serde_json::Value::from(members);
            }
        }
    }
}

/// `s` escaped for HTML text and attribute values: `&`, `<`, `>`, `"` and `'` become character
/// references. Control characters other than tab, LF and CR (which HTML forbids in a document)
/// are shown as their Unicode control pictures (U+0007 as `␇`, U+007F as `␡`), C1 controls as
/// U+FFFD.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    push_escaped(&mut out, s);
    out
}

fn push_escaped(out: &mut String, s: &str) {
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let rep: Option<Cow<'static, str>> = match c {
            '&' => Some(Cow::Borrowed("&amp;")),
            '<' => Some(Cow::Borrowed("&lt;")),
            '>' => Some(Cow::Borrowed("&gt;")),
            '"' => Some(Cow::Borrowed("&quot;")),
            '\'' => Some(Cow::Borrowed("&#39;")),
            '\t' | '\n' | '\r' => None,
            '\u{0}'..='\u{1f}' => {
                let picture = char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}');
                Some(Cow::Owned(picture.to_string()))
            }
            '\u{7f}' => Some(Cow::Borrowed("\u{2421}")),
            '\u{80}'..='\u{9f}' => Some(Cow::Borrowed("\u{fffd}")),
            _ => None,
        };
        if let Some(rep) = rep {
            out.push_str(&s[start..i]);
            out.push_str(&rep);
            start = i + c.len_utf8();
        }
    }
    out.push_str(&s[start..]);
}

/// Longest a single word diff may take before `similar` settles for a coarser (still complete
/// and correct) diff; hostile 100 KB captions must not stall a report.
const DIFF_TIMEOUT: Duration = Duration::from_millis(200);
/// Time all word diffs of one page may take together; past it, diffs are coarse.
const DIFF_BUDGET: Duration = Duration::from_secs(5);

/// The report as one self-contained HTML page (see the module docs).
pub fn to_html(report: &RunReport) -> String {
    let mut out = String::with_capacity(16 * 1024 + report.fields.len() * 512);
    let diff_budget_end = Instant::now() + DIFF_BUDGET;

    out.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
    );
    let _ = write!(out, "ferry run {} — ", report.run_id);
    push_escaped(&mut out, report.status.as_str());
    if report.dry_run {
        out.push_str(" (dry run)");
    }
    out.push_str("</title>\n<style>\n");
    out.push_str(CSS);
    out.push_str("</style>\n</head>\n<body>\n");

    render_header(&mut out, report);
    out.push_str(
        "<nav><a href=\"#summary\">Summary</a> · <a href=\"#drift\">Drifted fields</a> · \
         <a href=\"#in-sync\">In sync</a> · <a href=\"#rights\">Rights</a> · \
         <a href=\"#failures\">Failures</a> · <a href=\"#concurrent\">Concurrent edits</a> · \
         <a href=\"#transfers\">Transfers</a></nav>\n",
    );
    render_summary(&mut out, &report.summary);

    let (in_sync, drifted): (Vec<&FieldRow>, Vec<&FieldRow>) = report
        .fields
        .iter()
        .partition(|r| r.outcome == FieldOutcome::InSync);

    let drifted_groups = group_by_asset(&drifted);
    out.push_str("<section id=\"drift\">\n<h2>Drifted fields</h2>\n");
    if drifted.is_empty() {
        out.push_str("<p class=\"empty-note\">No drifted fields.</p>\n");
    } else {
        let _ = writeln!(
            out,
            "<p>{} {} on {} {}.</p>",
            drifted.len(),
            plural(drifted.len(), "field", "fields"),
            drifted_groups.len(),
            plural(drifted_groups.len(), "asset", "assets"),
        );
        for group in &drifted_groups {
            render_asset_group(&mut out, group, Some(diff_budget_end));
        }
    }
    out.push_str("</section>\n");

    out.push_str("<section id=\"in-sync\">\n<h2>In sync</h2>\n");
    let _ = write!(
        out,
        "<details>\n<summary>{} {} in sync</summary>\n",
        in_sync.len(),
        plural(in_sync.len(), "field", "fields"),
    );
    if in_sync.is_empty() {
        out.push_str("<p class=\"empty-note\">No fields in sync.</p>\n");
    }
    for group in group_by_asset(&in_sync) {
        render_asset_group(&mut out, &group, None);
    }
    out.push_str("</details>\n</section>\n");

    render_rights(&mut out, report);
    render_failures(&mut out, report);
    concurrent::render_concurrent_edits(&mut out, report);
    render_transfers(&mut out, report);

    let _ = writeln!(
        out,
        "<footer>ferry drift report · JSON schema version {REPORT_SCHEMA_VERSION}</footer>"
    );
    out.push_str("</body>\n</html>\n");
    out
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

fn render_header(out: &mut String, report: &RunReport) {
    let _ = write!(out, "<header>\n<h1>ferry run {}", report.run_id);
    out.push_str("</h1>\n<p class=\"badges\">");
    if report.dry_run {
        out.push_str(
            "<span class=\"badge dry\">Dry run — nothing was written to either system</span> ",
        );
    }
    let status_class = match report.status.as_str() {
        "done" => "ok",
        "stopped" => "warn",
        "failed" | "locked_out" => "bad",
        _ => "neutral",
    };
    let status_text = match report.status.as_str() {
        "done" => "done",
        "stopped" => "stopped",
        "failed" => "failed",
        "locked_out" => "locked out",
        other => other,
    };
    let _ = write!(out, "<span class=\"badge {status_class}\">Status: ");
    push_escaped(out, status_text);
    let _ = writeln!(
        out,
        "</span> <span class=\"badge neutral\">Exit code {}</span></p>",
        report.exit_code
    );
    out.push_str("<dl class=\"times\"><dt>Started</dt><dd>");
    push_escaped(out, &report.started_at);
    out.push_str("</dd><dt>Finished</dt><dd>");
    push_escaped(out, &report.finished_at);
    out.push_str("</dd><dt>Took</dt><dd>");
    out.push_str(&seconds(report.summary.seconds_total));
    out.push_str("</dd></dl>\n");
    if let Some(reason) = &report.stopped {
        out.push_str(
            "<div class=\"stopped\" role=\"alert\"><strong>Stopped before writing:</strong> \
             <span class=\"v\" dir=\"auto\">",
        );
        push_escaped(out, reason);
        out.push_str("</span></div>\n");
    }
    out.push_str("</header>\n");
}

fn seconds(s: f64) -> String {
    if s.is_finite() {
        format!("{s:.1} s")
    } else {
        "—".to_string()
    }
}

fn render_summary(out: &mut String, s: &Summary) {
    out.push_str("<section id=\"summary\">\n<h2>Summary</h2>\n<div class=\"summary\">\n");
    out.push_str("<table class=\"numbers\">\n<caption>Assets and fields</caption>\n<tbody>\n");
    let rows: [(&str, u64, bool); 14] = [
        ("Assets in PhotoShelter", s.assets_photoshelter, false),
        ("Assets in Preservica", s.assets_preservica, false),
        ("Pairs", s.pairs, false),
        (
            "Pairs unchanged since an earlier run",
            s.pairs_unchanged,
            false,
        ),
        ("Fields compared", s.fields_compared, false),
        ("In sync", s.in_sync, false),
        ("Drifted", s.drifted, true),
        ("Pushed to PhotoShelter", s.pushed_to_photoshelter, false),
        ("Pushed to Preservica", s.pushed_to_preservica, false),
        ("Conflicts resolved by rule", s.conflicts_resolved, false),
        ("Conflicts queued for review", s.conflicts_queued, true),
        ("Skipped", s.skipped, true),
        ("Failures", s.failures, true),
        (
            "Writes that may have replaced a concurrent edit",
            s.concurrent_edits,
            true,
        ),
    ];
    for (label, n, flag) in rows {
        let class = if flag && n > 0 { " class=\"attn\"" } else { "" };
        let _ = writeln!(
            out,
            "<tr{class}><th scope=\"row\">{label}</th><td>{n}</td></tr>"
        );
    }
    out.push_str("</tbody>\n</table>\n");

    out.push_str(
        "<table class=\"numbers\">\n<caption>API calls and time</caption>\n<thead><tr><th></th>\
         <th scope=\"col\">PhotoShelter</th><th scope=\"col\">Preservica</th></tr></thead>\n<tbody>\n",
    );
    let (a, b): (&RequestCounts, &RequestCounts) =
        (&s.api_calls_photoshelter, &s.api_calls_preservica);
    let calls: [(&str, u64, u64); 4] = [
        ("Requests (retries included)", a.requests, b.requests),
        ("Retries", a.retries, b.retries),
        ("Throttled (429)", a.throttled, b.throttled),
        ("Server errors (5xx)", a.server_errors, b.server_errors),
    ];
    for (label, x, y) in calls {
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{label}</th><td>{x}</td><td>{y}</td></tr>"
        );
    }
    let _ = writeln!(
        out,
        "<tr><th scope=\"row\">Pull time</th><td>{}</td><td>{}</td></tr>",
        seconds(s.seconds_pull_photoshelter),
        seconds(s.seconds_pull_preservica)
    );
    let _ = writeln!(
        out,
        "<tr><th scope=\"row\">Push time (both)</th><td colspan=\"2\">{}</td></tr>",
        seconds(s.seconds_push)
    );
    let _ = writeln!(
        out,
        "<tr><th scope=\"row\">Total time</th><td colspan=\"2\">{}</td></tr>",
        seconds(s.seconds_total)
    );
    out.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

/// Rows grouped by asset, groups in order of first appearance, rows in their own order.
fn group_by_asset<'a>(rows: &[&'a FieldRow]) -> Vec<Vec<&'a FieldRow>> {
    let mut index = std::collections::HashMap::new();
    let mut groups: Vec<Vec<&FieldRow>> = Vec::new();
    for &row in rows {
        let i = *index.entry(row.asset_id).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[i].push(row);
    }
    groups
}

/// The heading line of an asset: its label and both ids.
fn render_asset_heading(
    out: &mut String,
    tag: &str,
    asset_id: Option<i64>,
    label: &str,
    ps: Option<&str>,
    pv: Option<&str>,
) {
    let _ = write!(out, "<{tag} class=\"asset\">");
    if label.is_empty() {
        out.push_str("<span class=\"none\">(no label)</span>");
    } else {
        out.push_str("<span class=\"v\" dir=\"auto\">");
        push_escaped(out, label);
        out.push_str("</span>");
    }
    let _ = write!(out, "</{tag}>\n<p class=\"ids\">PhotoShelter ");
    push_id(out, ps);
    out.push_str(" · Preservica ");
    push_id(out, pv);
    if let Some(id) = asset_id {
        let _ = write!(out, " · ferry asset {id}");
    }
    out.push_str("</p>\n");
}

fn push_id(out: &mut String, id: Option<&str>) {
    match id {
        Some(id) => {
            out.push_str("<code dir=\"auto\">");
            push_escaped(out, id);
            out.push_str("</code>");
        }
        None => push_none(out),
    }
}

fn push_none(out: &mut String) {
    out.push_str("<span class=\"none\" title=\"no value\" aria-label=\"no value\">—</span>");
}

/// A value cell's content: escaped, direction-isolated, wrapping; `None` as a grey em dash.
fn push_value(out: &mut String, v: Option<&str>) {
    match v {
        None => push_none(out),
        Some("") => out.push_str("<span class=\"none\">(empty)</span>"),
        Some(v) => {
            out.push_str("<span class=\"v\" dir=\"auto\">");
            push_escaped(out, v);
            out.push_str("</span>");
        }
    }
}

fn render_asset_group(out: &mut String, rows: &[&FieldRow], diff_deadline: Option<Instant>) {
    let Some(first) = rows.first() else {
        return;
    };
    out.push_str("<div class=\"group\">\n");
    render_asset_heading(
        out,
        "h3",
        Some(first.asset_id),
        &first.label,
        first.photoshelter_id.as_deref(),
        first.preservica_ref.as_deref(),
    );
    out.push_str(
        "<table class=\"fields\">\n<colgroup><col class=\"c-field\"><col class=\"c-val\">\
         <col class=\"c-val\"><col class=\"c-val\"><col class=\"c-outcome\"><col class=\"c-rule\">\
         <col class=\"c-reason\"></colgroup>\n<thead><tr><th scope=\"col\">Field</th>\
         <th scope=\"col\">PhotoShelter</th><th scope=\"col\">Preservica</th>\
         <th scope=\"col\">Baseline</th><th scope=\"col\">Outcome</th><th scope=\"col\">Rule</th>\
         <th scope=\"col\">Reason</th></tr></thead>\n<tbody>\n",
    );
    for row in rows {
        render_field_row(out, row, diff_deadline);
    }
    out.push_str("</tbody>\n</table>\n</div>\n");
}

fn outcome_badge(outcome: &str) -> (&'static str, Cow<'_, str>) {
    match outcome {
        "in_sync" => ("ok", Cow::Borrowed("✓ in sync")),
        "push_to_preservica" => ("push", Cow::Borrowed("→ push to Preservica")),
        "push_to_photoshelter" => ("push", Cow::Borrowed("← push to PhotoShelter")),
        "conflict_resolved" => ("warn", Cow::Borrowed("⚖ conflict resolved")),
        "queued_for_review" => ("bad", Cow::Borrowed("⚑ queued for review")),
        "skipped" => ("neutral", Cow::Borrowed("– skipped")),
        other => ("neutral", Cow::Borrowed(other)),
    }
}

fn render_field_row(out: &mut String, row: &FieldRow, diff_deadline: Option<Instant>) {
    out.push_str("<tr><th scope=\"row\"><span class=\"v\" dir=\"auto\">");
    push_escaped(out, &row.field);
    out.push_str("</span>");
    if !row.kind.is_empty() {
        out.push_str("<br><span class=\"kind\">");
        push_escaped(out, &row.kind);
        out.push_str("</span>");
    }
    out.push_str("</th><td>");
    push_value(out, row.shown(&row.photoshelter_value).as_deref());
    out.push_str("</td><td>");
    push_value(out, row.shown(&row.preservica_value).as_deref());
    out.push_str("</td><td>");
    if row.has_baseline {
        push_value(out, row.shown(&row.baseline_value).as_deref());
    } else {
        out.push_str("<span class=\"none\">no baseline (first meeting)</span>");
    }
    let (class, text) = outcome_badge(row.outcome.as_str());
    let _ = write!(out, "</td><td><span class=\"badge {class}\" title=\"");
    push_escaped(out, row.outcome.as_str());
    out.push_str("\">");
    push_escaped(out, &text);
    out.push_str("</span>");
    if !row.write_state.is_empty() {
        out.push_str("<br><span class=\"ws\">write: ");
        push_escaped(out, &row.write_state);
        out.push_str("</span>");
    }
    if let Some(decided) = &row.decided_value
        && row.photoshelter_value.as_ref() != Some(decided)
        && row.preservica_value.as_ref() != Some(decided)
    {
        out.push_str("<div class=\"decided\">decided: ");
        push_value(out, row.shown(&row.decided_value).as_deref());
        out.push_str("</div>");
    }
    out.push_str("</td><td><span class=\"v\" dir=\"auto\">");
    push_escaped(out, &row.rule);
    out.push_str("</span></td><td><span class=\"v\" dir=\"auto\">");
    push_escaped(out, &row.reason);
    out.push_str("</span></td></tr>\n");

    if let Some(deadline) = diff_deadline
        && row.kind == "text"
        && let (Some(a), Some(b)) = (&row.photoshelter_value, &row.preservica_value)
        && a != b
    {
        out.push_str(
            "<tr class=\"diff\"><td></td><td colspan=\"6\"><span class=\"diff-label\">\
             Word diff PhotoShelter → Preservica:</span> <span class=\"v\" dir=\"auto\">",
        );
        push_word_diff(out, a, b, deadline);
        out.push_str("</span></td></tr>\n");
    }
}

/// A word diff of `old` → `new`: runs of deleted words in `<del>`, inserted in `<ins>`, all
/// text escaped. Made with `similar`'s word diff (`TextDiff::from_words`, with a deadline).
fn push_word_diff(out: &mut String, old: &str, new: &str, budget_end: Instant) {
    let deadline = (Instant::now() + DIFF_TIMEOUT).min(budget_end);
    let diff = TextDiff::configure()
        .deadline(deadline)
        .diff_words(old, new);
    let mut open: Option<ChangeTag> = None;
    for change in diff.iter_all_changes() {
        let tag = change.tag();
        if open != Some(tag) {
            match open {
                Some(ChangeTag::Delete) => out.push_str("</del>"),
                Some(ChangeTag::Insert) => out.push_str("</ins>"),
                _ => {}
            }
            match tag {
                ChangeTag::Delete => out.push_str("<del>"),
                ChangeTag::Insert => out.push_str("<ins>"),
                ChangeTag::Equal => {}
            }
            open = Some(tag);
        }
        push_escaped(out, change.value());
    }
    match open {
        Some(ChangeTag::Delete) => out.push_str("</del>"),
        Some(ChangeTag::Insert) => out.push_str("</ins>"),
        _ => {}
    }
}

fn rights_label(kind: &str) -> (&'static str, Cow<'_, str>) {
    match kind {
        "expired_licence_visible" => ("bad", Cow::Borrowed("expired licence still visible")),
        "expiry_differs" => ("warn", Cow::Borrowed("expiry differs between systems")),
        "model_release_missing" => ("bad", Cow::Borrowed("model release missing")),
        "expiring_soon" => ("warn", Cow::Borrowed("licence expiring soon")),
        other => ("neutral", Cow::Borrowed(other)),
    }
}

fn render_rights(out: &mut String, report: &RunReport) {
    out.push_str("<section id=\"rights\">\n<h2>Rights and expiry problems</h2>\n");
    if report.rights.is_empty() {
        out.push_str("<p class=\"empty-note\">No rights or expiry problems.</p>\n</section>\n");
        return;
    }
    out.push_str(
        "<table class=\"list\">\n<thead><tr><th scope=\"col\">Asset</th><th scope=\"col\">Problem</th>\
         <th scope=\"col\">Detail</th></tr></thead>\n<tbody>\n",
    );
    for p in &report.rights {
        out.push_str("<tr><td>");
        render_asset_heading(
            out,
            "div",
            Some(p.asset_id),
            &p.label,
            p.photoshelter_id.as_deref(),
            p.preservica_ref.as_deref(),
        );
        let (class, text) = rights_label(&p.kind);
        let _ = write!(out, "</td><td><span class=\"badge {class}\" title=\"");
        push_escaped(out, &p.kind);
        out.push_str("\">");
        push_escaped(out, &text);
        out.push_str("</span></td><td>");
        push_value(out, Some(&p.detail));
        out.push_str("</td></tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn render_failures(out: &mut String, report: &RunReport) {
    out.push_str("<section id=\"failures\">\n<h2>Failures</h2>\n");
    if report.failures.is_empty() {
        out.push_str("<p class=\"empty-note\">No failures.</p>\n</section>\n");
        return;
    }
    out.push_str(
        "<table class=\"list\">\n<thead><tr><th scope=\"col\">Asset</th><th scope=\"col\">System</th>\
         <th scope=\"col\">Item</th><th scope=\"col\">Error</th></tr></thead>\n<tbody>\n",
    );
    for f in &report.failures {
        out.push_str("<tr><td>");
        match f.asset_id {
            Some(id) => {
                let _ = write!(out, "{id}");
            }
            None => push_none(out),
        }
        out.push_str("</td><td>");
        push_value(out, Some(&f.system));
        out.push_str("</td><td>");
        push_value(out, Some(&f.item));
        out.push_str("</td><td><span class=\"badge bad\">failed</span> ");
        push_value(out, Some(&f.error));
        out.push_str("</td></tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn render_transfers(out: &mut String, report: &RunReport) {
    out.push_str("<section id=\"transfers\">\n<h2>Transfers</h2>\n");
    if report.transfers.is_empty() {
        out.push_str("<p class=\"empty-note\">No transfers.</p>\n</section>\n");
        return;
    }
    out.push_str(
        "<table class=\"list\">\n<thead><tr><th scope=\"col\">Kind</th><th scope=\"col\">Source</th>\
         <th scope=\"col\">Target</th><th scope=\"col\">State</th><th scope=\"col\">Detail</th>\
         </tr></thead>\n<tbody>\n",
    );
    for t in &report.transfers {
        out.push_str("<tr><td>");
        push_value(out, Some(&t.kind));
        out.push_str("</td><td>");
        push_value(out, Some(&t.source));
        out.push_str("</td><td>");
        push_value(out, t.target.as_deref());
        let class = match t.state.as_str() {
            "done" => "ok",
            "failed" => "bad",
            _ => "neutral",
        };
        let _ = write!(out, "</td><td><span class=\"badge {class}\">");
        push_escaped(out, &t.state);
        out.push_str("</span></td><td>");
        push_value(out, Some(&t.detail));
        out.push_str("</td></tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

const CSS: &str = r#"
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a1a1a;
  background: #fff; margin: 1.5rem auto; max-width: 1400px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .4rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .6rem; border-bottom: 2px solid #ddd; padding-bottom: .2rem; }
h3.asset { font-size: 1.05rem; margin: 1.2rem 0 0; }
nav { margin: .8rem 0; font-size: .9rem; }
nav a { color: #0b57a4; }
code { font: .9em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
.ids { color: #555; margin: .1rem 0 .4rem; font-size: .9rem; }
.times { display: grid; grid-template-columns: max-content auto; gap: .1rem .8rem; margin: .4rem 0; }
.times dt { font-weight: 600; }
.times dd { margin: 0; }
.badge { display: inline-block; padding: .05rem .45rem; border-radius: .6rem; border: 1px solid;
  font-size: .85em; font-weight: 600; white-space: nowrap; }
.badge.ok { background: #e6f4ea; color: #0d5d22; border-color: #0d5d22; }
.badge.push { background: #e5eefb; color: #0b4a8b; border-color: #0b4a8b; }
.badge.warn { background: #fff4d6; color: #7a4b00; border-color: #7a4b00; }
.badge.bad { background: #fde7e7; color: #9b1111; border-color: #9b1111; }
.badge.neutral { background: #f0f0f0; color: #333; border-color: #777; }
.badge.dry { background: #ede4fb; color: #4b1f8f; border-color: #4b1f8f; text-transform: uppercase; }
.stopped { border: 2px solid #9b1111; background: #fde7e7; color: #5c0000; padding: .6rem .8rem;
  margin: .6rem 0; font-size: 1.05rem; border-radius: .3rem; }
.summary { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
table { border-collapse: collapse; }
caption { text-align: left; font-weight: 600; padding: .2rem 0; }
th, td { border: 1px solid #ccc; padding: .3rem .45rem; vertical-align: top; text-align: left; }
thead th { background: #f4f4f4; }
table.numbers td { text-align: right; font-variant-numeric: tabular-nums; min-width: 6rem; }
table.numbers tr.attn th, table.numbers tr.attn td { font-weight: 700; color: #9b1111; }
table.fields, table.list { width: 100%; table-layout: fixed; }
col.c-field { width: 11%; } col.c-val { width: 17%; } col.c-outcome { width: 13%; }
col.c-rule { width: 9%; } col.c-reason { width: 16%; }
td, th { overflow-wrap: anywhere; word-break: break-word; }
.v { white-space: pre-wrap; overflow-wrap: anywhere; }
.none { color: #888; font-style: italic; }
.kind, .ws { color: #666; font-size: .85em; }
.decided { margin-top: .3rem; font-size: .9em; }
tr.diff td { background: #fafafa; border-top: 0; }
.diff-label { color: #555; font-size: .85em; }
del { background: #fde0e0; color: #8a1010; text-decoration: line-through; }
ins { background: #dff3e3; color: #0d5d22; text-decoration: underline; }
details > summary { cursor: pointer; font-weight: 600; margin: .4rem 0; }
.empty-note { color: #555; }
footer { margin-top: 2.5rem; color: #777; font-size: .85rem; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  nav { display: none; }
  .badge, del, ins, .stopped { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
}
"#;
