//! The report as HTML (`templates/report.html` and `templates/report/`), in the one layout:
//! [`to_html`] is the standalone file (self-contained, no links out), [`to_app_html`] the same
//! report inside the web app (its navigation, labels linking to asset pages, queued fields to
//! the conflicts page). What the page shows is decided here; how, in the templates.

use crate::html::{Chrome, Layout, Nav};
use crate::report::RightsProblem;
use crate::report::{FieldRow, REPORT_SCHEMA_VERSION, RunReport, Summary};
use crate::store::{FieldOutcome, RunKind};
use askama::Template;
use similar::{ChangeTag, TextDiff};
use std::borrow::Cow;
use std::time::{Duration, Instant};

/// Longest a single word diff may take before `similar` settles for a coarser (still complete
/// and correct) diff; hostile 100 KB captions must not stall a report.
const DIFF_TIMEOUT: Duration = Duration::from_millis(200);
/// Time all word diffs of one page may take together; past it, diffs are coarse.
const DIFF_BUDGET: Duration = Duration::from_secs(5);

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage<'a> {
    layout: Layout,
    r: &'a RunReport,
    schema_version: u32,
    /// Inside the app: labels link to asset pages, queued fields to the conflicts page.
    linked: bool,
    /// A transfer run's report opens with its transfers, not with the sync's counters.
    transfer_first: bool,
    /// The status badge's tone and words.
    status: (&'static str, &'a str),
    took: String,
    push_time: String,
    counts: Vec<(&'static str, u64, bool)>,
    calls: Vec<(&'static str, String, String)>,
    drifted: Vec<Group<'a>>,
    drifted_fields: usize,
    in_sync: Vec<Group<'a>>,
    in_sync_fields: usize,
    rights: Vec<RightsGroup<'a>>,
}

/// One asset's rows.
struct Group<'a> {
    first: &'a FieldRow,
    rows: Vec<Row<'a>>,
}

struct Row<'a> {
    f: &'a FieldRow,
    badge: (&'static str, &'a str),
    /// Links the badge to the conflicts page (a field left for a person, inside the app).
    to_conflicts: bool,
    /// The values for people (a set's members joined with `, `; see `FieldRow::shown`).
    photoshelter: Option<Cow<'a, str>>,
    preservica: Option<Cow<'a, str>>,
    baseline: Option<Cow<'a, str>>,
    /// The decided value, when it is neither system's.
    decided: Option<Cow<'a, str>>,
    /// A text field's word diff PhotoShelter → Preservica.
    diff: Option<Vec<DiffPart>>,
}

/// A run of words a word diff kept, deleted or inserted.
struct DiffPart {
    change: Change,
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Kept,
    Deleted,
    Inserted,
}

/// The rights problems of one kind, sorted by their date.
struct RightsGroup<'a> {
    kind: &'a str,
    label: &'static str,
    tone: &'static str,
    problems: Vec<Dated<'a>>,
}

struct Dated<'a> {
    p: &'a RightsProblem,
    /// The expiry it is about (from the problem's date fields, else from its prose).
    date: Option<&'a str>,
}

/// The report as one self-contained HTML page (see the module docs of `render`).
pub fn to_html(report: &RunReport) -> String {
    let kind = if looks_like_transfer(report) {
        RunKind::Archive
    } else {
        RunKind::Sync
    };
    render(report, Layout::standalone(title(report)), false, kind)
}

/// The report inside the web app: its navigation and chrome, asset and conflict links.
/// `kind` is the run's, as the store knows it.
pub fn to_app_html(report: &RunReport, kind: RunKind, chrome: &Chrome) -> String {
    let layout = Layout::app(title(report), Nav::Runs, chrome);
    render(report, layout, true, kind)
}

fn title(report: &RunReport) -> String {
    let dry = if report.dry_run { " (dry run)" } else { "" };
    format!(
        "ferry run {} — {}{dry}",
        report.run_id,
        report.status.as_str()
    )
}

/// A report a transfer run wrote: transfers, and no sync work (the file says no kind).
fn looks_like_transfer(r: &RunReport) -> bool {
    !r.transfers.is_empty()
        && r.fields.is_empty()
        && r.summary.pairs == 0
        && r.summary.assets_photoshelter == 0
        && r.summary.assets_preservica == 0
}

fn render(report: &RunReport, layout: Layout, linked: bool, kind: RunKind) -> String {
    let budget_end = Instant::now() + DIFF_BUDGET;
    let (in_sync, drifted): (Vec<&FieldRow>, Vec<&FieldRow>) = report
        .fields
        .iter()
        .partition(|r| r.outcome == FieldOutcome::InSync);
    let s = &report.summary;
    let (a, b) = (&s.api_calls_photoshelter, &s.api_calls_preservica);
    let page = ReportPage {
        layout,
        r: report,
        schema_version: REPORT_SCHEMA_VERSION,
        linked,
        transfer_first: kind != RunKind::Sync,
        status: status_badge(report.status.as_str()),
        took: seconds(s.seconds_total),
        push_time: seconds(s.seconds_push),
        counts: counts(s),
        calls: vec![
            ("Requests (retries included)", a.requests, b.requests),
            ("Retries", a.retries, b.retries),
            ("Throttled (429)", a.throttled, b.throttled),
            ("Server errors (5xx)", a.server_errors, b.server_errors),
        ]
        .into_iter()
        .map(|(l, x, y)| (l, x.to_string(), y.to_string()))
        .chain([(
            "Pull time",
            seconds(s.seconds_pull_photoshelter),
            seconds(s.seconds_pull_preservica),
        )])
        .collect(),
        drifted_fields: drifted.len(),
        drifted: groups(&drifted, linked, Some(budget_end)),
        in_sync_fields: in_sync.len(),
        in_sync: groups(&in_sync, linked, None),
        rights: rights(&report.rights),
    };
    page.render().unwrap_or_else(|e| {
        // Only a broken `Display` can fail a render; say so rather than write half a page.
        tracing::error!(error = %e, run = report.run_id, "the report template failed");
        format!(
            "<!DOCTYPE html><title>ferry run {}</title><p>This report could not be shown.</p>",
            report.run_id
        )
    })
}

fn status_badge(status: &str) -> (&'static str, &str) {
    let class = match status {
        "done" => "ok",
        "stopped" => "warn",
        "failed" | "locked_out" => "bad",
        _ => "neutral",
    };
    (
        class,
        if status == "locked_out" {
            "locked out"
        } else {
            status
        },
    )
}

pub(super) fn seconds(s: f64) -> String {
    if s.is_finite() {
        format!("{s:.1} s")
    } else {
        "—".to_string()
    }
}

/// The sync's counters: label, number, and whether a number above 0 asks for attention.
fn counts(s: &Summary) -> Vec<(&'static str, u64, bool)> {
    vec![
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
    ]
}

/// Rows grouped by asset, groups in order of first appearance, rows in their own order;
/// `diff_deadline` set: text fields that differ get a word diff.
fn groups<'a>(
    rows: &[&'a FieldRow],
    linked: bool,
    diff_deadline: Option<Instant>,
) -> Vec<Group<'a>> {
    let mut index = std::collections::HashMap::new();
    let mut groups: Vec<Group<'a>> = Vec::new();
    for &f in rows {
        let i = *index.entry(f.asset_id).or_insert_with(|| {
            groups.push(Group {
                first: f,
                rows: Vec::new(),
            });
            groups.len() - 1
        });
        groups[i].rows.push(row(f, linked, diff_deadline));
    }
    groups
}

fn row(f: &FieldRow, linked: bool, diff_deadline: Option<Instant>) -> Row<'_> {
    let decided = f
        .decided_value
        .as_deref()
        .filter(|d| {
            f.photoshelter_value.as_deref() != Some(d) && f.preservica_value.as_deref() != Some(d)
        })
        .and_then(|_| f.shown(&f.decided_value));
    let diff = match (diff_deadline, &f.photoshelter_value, &f.preservica_value) {
        (Some(deadline), Some(a), Some(b)) if f.kind == "text" && a != b => {
            Some(word_diff(a, b, deadline))
        }
        _ => None,
    };
    Row {
        badge: outcome_badge(f.outcome.as_str()),
        to_conflicts: linked && f.outcome == FieldOutcome::QueuedForReview,
        photoshelter: f.shown(&f.photoshelter_value),
        preservica: f.shown(&f.preservica_value),
        baseline: f.shown(&f.baseline_value),
        decided,
        diff,
        f,
    }
}

fn outcome_badge(outcome: &str) -> (&'static str, &str) {
    match outcome {
        "in_sync" => ("ok", "✓ in sync"),
        "push_to_preservica" => ("push", "→ push to Preservica"),
        "push_to_photoshelter" => ("push", "← push to PhotoShelter"),
        "conflict_resolved" => ("warn", "⚖ conflict resolved"),
        "queued_for_review" => ("bad", "⚑ queued for review"),
        "skipped" => ("neutral", "– skipped"),
        other => ("neutral", other),
    }
}

/// A word diff of `old` → `new` in runs of kept, deleted and inserted words (the template
/// puts deleted runs in `<del>`, inserted in `<ins>`, and escapes every word). Made with
/// `similar`'s word diff, with a deadline.
fn word_diff(old: &str, new: &str, budget_end: Instant) -> Vec<DiffPart> {
    let deadline = (Instant::now() + DIFF_TIMEOUT).min(budget_end);
    let diff = TextDiff::configure()
        .deadline(deadline)
        .diff_words(old, new);
    let mut parts: Vec<DiffPart> = Vec::new();
    for change in diff.iter_all_changes() {
        let kind = match change.tag() {
            ChangeTag::Equal => Change::Kept,
            ChangeTag::Delete => Change::Deleted,
            ChangeTag::Insert => Change::Inserted,
        };
        match parts.last_mut() {
            Some(last) if last.change == kind => last.text.push_str(change.value()),
            _ => parts.push(DiffPart {
                change: kind,
                text: change.value().to_string(),
            }),
        }
    }
    parts
}

/// A rights kind's label and tone, and its place in the list (most urgent first).
fn rights_label(kind: &str) -> (usize, &'static str, &'static str) {
    match kind {
        "expired_licence_visible" => (0, "bad", "expired licence still visible"),
        "expired_licence" => (1, "bad", "licence expired"),
        "model_release_missing" => (2, "bad", "model release missing"),
        "restricted" => (3, "warn", "restricted by ferry"),
        "expiry_differs" => (4, "warn", "expiry differs between systems"),
        "expiring_soon" => (5, "warn", "licence expiring soon"),
        _ => (6, "neutral", "other"),
    }
}

/// The rights problems grouped by kind (most urgent kind first), each group by date (ISO
/// dates sort as text; problems without one last).
fn rights(problems: &[RightsProblem]) -> Vec<RightsGroup<'_>> {
    let mut groups: Vec<(usize, RightsGroup<'_>)> = Vec::new();
    for p in problems {
        let (rank, tone, label) = rights_label(&p.kind);
        let at = match groups.iter().position(|(_, g)| g.kind == p.kind) {
            Some(at) => at,
            None => {
                let label = if rank == 6 { "" } else { label };
                groups.push((
                    rank,
                    RightsGroup {
                        kind: &p.kind,
                        label,
                        tone,
                        problems: Vec::new(),
                    },
                ));
                groups.len() - 1
            }
        };
        groups[at].1.problems.push(Dated {
            p,
            date: p
                .expires_on
                .as_deref()
                .or(p.photoshelter_expiry.as_deref())
                .or(p.preservica_expiry.as_deref())
                .or_else(|| first_iso_date(&p.detail)),
        });
    }
    groups.sort_by_key(|(rank, g)| (*rank, g.kind));
    groups
        .into_iter()
        .map(|(_, mut g)| {
            if g.label.is_empty() {
                g.label = "other";
            }
            g.problems.sort_by_key(|d| (d.date.is_none(), d.date));
            g
        })
        .collect()
}

/// The first `YYYY-MM-DD` in `text`: the date of a problem in a report of schema version 1,
/// which kept it only in the prose.
fn first_iso_date(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(9)).find_map(|i| {
        let w = &bytes[i..i + 10];
        let digits = |r: std::ops::Range<usize>| w[r].iter().all(u8::is_ascii_digit);
        let boundary = |j: Option<&u8>| j.is_none_or(|c| !c.is_ascii_digit());
        (digits(0..4)
            && w[4] == b'-'
            && digits(5..7)
            && w[7] == b'-'
            && digits(8..10)
            && boundary(i.checked_sub(1).and_then(|j| bytes.get(j)))
            && boundary(bytes.get(i + 10)))
        .then(|| &text[i..i + 10])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_iso_date_is_found_and_nothing_else_is_a_date() {
        assert_eq!(
            first_iso_date("the licence expired on 2024-12-31; still published"),
            Some("2024-12-31")
        );
        assert_eq!(
            first_iso_date("PhotoShelter says 2030-01-02, Preservica says 2031-01-02"),
            Some("2030-01-02")
        );
        assert_eq!(first_iso_date("12024-12-310 and 2024-1-31"), None);
        assert_eq!(first_iso_date("2024-12-31"), Some("2024-12-31"));
        assert_eq!(first_iso_date("ü2024-12-31ü"), Some("2024-12-31"));
        assert_eq!(first_iso_date(""), None);
    }

    #[test]
    fn word_diff_runs_join_neighbouring_words() {
        let far = Instant::now() + Duration::from_secs(5);
        let parts = word_diff("a b d", "a x y d", far);
        let shown: Vec<(Change, &str)> =
            parts.iter().map(|p| (p.change, p.text.as_str())).collect();
        assert_eq!(
            shown,
            [
                (Change::Kept, "a "),
                (Change::Deleted, "b"),
                (Change::Inserted, "x y"),
                (Change::Kept, " d")
            ]
        );
    }
}
