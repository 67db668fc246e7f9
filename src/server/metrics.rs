//! `/metrics` in the Prometheus text exposition format (version 0.0.4).
//!
//! | metric | type | what |
//! |---|---|---|
//! | `ferry_runs_total{status}` | counter | real runs recorded, by status |
//! | `ferry_dry_runs_total` | counter | dry runs recorded (counted nowhere else) |
//! | `ferry_last_run_exit_code` | gauge | exit code of the latest finished real run |
//! | `ferry_last_run_timestamp_seconds` | gauge | when it finished (Unix time) |
//! | `ferry_last_run_duration_seconds` | gauge | its `summary.seconds_total` |
//! | `ferry_fields_drifted` | gauge | its `summary.drifted` |
//! | `ferry_last_run_api_requests{system}` | gauge | its requests to each system |
//! | `ferry_last_run_api_requests_by_kind{system,kind}` | gauge | the same by what each was for (login, listing_page, record_read, reread_before_write, write, read_back, download, upload) |
//! | `ferry_last_run_concurrency{system,bound}` | gauge | the limit on requests in flight to each system in that run: its `low` and `high`, and the `ceiling` |
//! | `ferry_pushes_total{system}` | counter | writes to each system verified and done |
//! | `ferry_push_failures_total{system}` | counter | writes to each system that failed |
//! | `ferry_failures_total` | counter | failures over all runs' summaries |
//! | `ferry_api_requests_total{system}` | counter | requests to each system over all runs' summaries |
//! | `ferry_open_conflicts` | gauge | conflicts waiting for a person |
//! | `ferry_lockout` | gauge | 1 while runs are locked out |
//! | `ferry_live_*` | counter, histogram | live mode only: webhook events received, deliveries refused and replayed, events applied, corrections, and `ferry_live_lag_seconds` from an edit to its correction (see `crate::live::metrics`) |
//!
//! The numbers come from the store (runs and their summaries, the outbox, the review queue),
//! so they survive restarts and are the same whichever process ran the sync. Dry runs change
//! nothing, so they feed no number but `ferry_dry_runs_total`: "the last run" is the last real
//! one.

use super::{Shared, with_store};
use crate::store::{Run, RunTotals};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::fmt::Write as _;

const SYSTEMS: [&str; 2] = ["photoshelter", "preservica"];
const STATUSES: [&str; 5] = ["done", "failed", "interrupted", "locked_out", "running"];

/// `/metrics`.
pub async fn metrics(State(state): State<Shared>) -> Response {
    let result = with_store(&state, |store, _| {
        Ok((
            store.run_totals()?,
            store.last_real_run()?,
            store.lockout()?.is_some(),
        ))
    })
    .await;
    match result {
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "# the store could not be read: {}\n",
                e.message().replace('\n', " ")
            ),
        )
            .into_response(),
        Ok((totals, last, locked_out)) => {
            let mut text = render(&totals, last.as_ref(), locked_out);
            if let Some(live) = &state.live {
                live.metrics().render(&mut text);
            }
            let mut resp = text.into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            resp
        }
    }
}

fn describe(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value escaped as the format asks (`\`, `"` and newlines).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn count_of(pairs: &[(String, u64)], key: &str) -> u64 {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, n)| *n)
        .unwrap_or(0)
}

/// A number in the format's notation.
fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else if v.is_nan() {
        "NaN".into()
    } else if v > 0.0 {
        "+Inf".into()
    } else {
        "-Inf".into()
    }
}

fn render(t: &RunTotals, last: Option<&Run>, locked_out: bool) -> String {
    let mut out = String::with_capacity(4096);
    render_runs(&mut out, t);
    render_last_run(&mut out, last);
    render_concurrency(&mut out, last.and_then(|r| r.summary.as_ref()));
    render_totals(&mut out, t, locked_out);
    out
}

/// Runs recorded, by status, and dry runs.
fn render_runs(out: &mut String, t: &RunTotals) {
    describe(
        out,
        "ferry_runs_total",
        "counter",
        "Runs recorded in the store, by status.",
    );
    let mut statuses: Vec<&str> = STATUSES.to_vec();
    for (s, _) in &t.runs_by_status {
        if !statuses.contains(&s.as_str()) {
            statuses.push(s);
        }
    }
    for s in statuses {
        let _ = writeln!(
            out,
            "ferry_runs_total{{status=\"{}\"}} {}",
            label(s),
            count_of(&t.runs_by_status, s)
        );
    }

    describe(
        out,
        "ferry_dry_runs_total",
        "counter",
        "Dry runs recorded; they count in no other metric.",
    );
    let _ = writeln!(out, "ferry_dry_runs_total {}", t.dry_runs);
}

/// What the latest finished real run's record and summary say.
fn render_last_run(out: &mut String, last: Option<&Run>) {
    let summary = last.and_then(|r| r.summary.as_ref());
    let field = |path: &[&str]| -> Option<f64> {
        let mut v = summary?;
        for p in path {
            v = v.get(p)?;
        }
        v.as_f64()
    };
    if let Some(r) = last {
        describe(
            out,
            "ferry_last_run_exit_code",
            "gauge",
            "Exit code of the latest finished run (0 done, 1 skipped, 2 failures, 3 fatal or locked out).",
        );
        let _ = writeln!(out, "ferry_last_run_exit_code {}", r.exit_code.unwrap_or(3));
        if let Some(ts) = r
            .finished_at
            .as_deref()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        {
            describe(
                out,
                "ferry_last_run_timestamp_seconds",
                "gauge",
                "When the latest finished run finished, in Unix time.",
            );
            let _ = writeln!(
                out,
                "ferry_last_run_timestamp_seconds {}",
                num(ts.timestamp_millis() as f64 / 1000.0)
            );
        }
    }
    if let Some(seconds) = field(&["seconds_total"]) {
        describe(
            out,
            "ferry_last_run_duration_seconds",
            "gauge",
            "How long the latest finished run took.",
        );
        let _ = writeln!(out, "ferry_last_run_duration_seconds {}", num(seconds));
    }
    if let Some(drifted) = field(&["drifted"]) {
        describe(
            out,
            "ferry_fields_drifted",
            "gauge",
            "Fields that differed between the systems in the latest finished run.",
        );
        let _ = writeln!(out, "ferry_fields_drifted {}", num(drifted));
    }
    if summary.is_some() {
        describe(
            out,
            "ferry_last_run_api_requests",
            "gauge",
            "Requests the latest finished run sent to each system, retries included.",
        );
        for s in SYSTEMS {
            let n = field(&[&format!("api_calls_{s}"), "requests"]).unwrap_or(0.0);
            let _ = writeln!(
                out,
                "ferry_last_run_api_requests{{system=\"{s}\"}} {}",
                num(n)
            );
        }
    }
}

/// The range the adaptive limit on requests in flight moved in during the latest finished
/// run, per system: how fast each server let ferry go.
fn render_concurrency(out: &mut String, summary: Option<&serde_json::Value>) {
    let ranges: Vec<(&str, crate::http::ConcurrencyRange)> = SYSTEMS
        .into_iter()
        .filter_map(|s| {
            let v = summary?.get(format!("api_calls_{s}"))?.get("concurrency")?;
            Some((s, serde_json::from_value(v.clone()).ok()?))
        })
        .collect();
    render_kinds(out, summary);
    if ranges.is_empty() {
        return;
    }
    describe(
        out,
        "ferry_last_run_concurrency",
        "gauge",
        "The limit on requests in flight to each system during the latest finished run: the lowest and highest it reached, and its ceiling.",
    );
    for (s, r) in ranges {
        for (bound, n) in [("low", r.low), ("high", r.high), ("ceiling", r.ceiling)] {
            let _ = writeln!(
                out,
                "ferry_last_run_concurrency{{system=\"{s}\",bound=\"{bound}\"}} {n}"
            );
        }
    }
}

/// The latest finished run's requests to each system by what they were for.
fn render_kinds(out: &mut String, summary: Option<&serde_json::Value>) {
    let counts: Vec<(&str, crate::http::KindCounts)> = SYSTEMS
        .into_iter()
        .filter_map(|s| {
            let v = summary?.get(format!("api_calls_{s}"))?.get("by_kind")?;
            Some((s, serde_json::from_value(v.clone()).ok()?))
        })
        .collect();
    if counts.is_empty() {
        return;
    }
    describe(
        out,
        "ferry_last_run_api_requests_by_kind",
        "gauge",
        "Requests the latest finished run sent to each system, by what each was for.",
    );
    for (s, c) in counts {
        for kind in crate::http::RequestKind::ALL {
            let _ = writeln!(
                out,
                "ferry_last_run_api_requests_by_kind{{system=\"{s}\",kind=\"{}\"}} {}",
                kind.name(),
                c.get(kind)
            );
        }
    }
}

/// Writes, failures and requests over all runs, and the store's state now.
fn render_totals(out: &mut String, t: &RunTotals, locked_out: bool) {
    describe(
        out,
        "ferry_pushes_total",
        "counter",
        "Writes to each system that were verified and recorded.",
    );
    for s in SYSTEMS {
        let _ = writeln!(
            out,
            "ferry_pushes_total{{system=\"{s}\"}} {}",
            count_of(&t.writes_done_by_system, s)
        );
    }
    describe(
        out,
        "ferry_push_failures_total",
        "counter",
        "Writes to each system that failed.",
    );
    for s in SYSTEMS {
        let _ = writeln!(
            out,
            "ferry_push_failures_total{{system=\"{s}\"}} {}",
            count_of(&t.writes_failed_by_system, s)
        );
    }
    describe(
        out,
        "ferry_failures_total",
        "counter",
        "Failures listed in the reports of all runs.",
    );
    let _ = writeln!(out, "ferry_failures_total {}", t.failures);
    describe(
        out,
        "ferry_api_requests_total",
        "counter",
        "Requests sent to each system over all runs, retries included.",
    );
    let _ = writeln!(
        out,
        "ferry_api_requests_total{{system=\"photoshelter\"}} {}",
        t.api_requests.0
    );
    let _ = writeln!(
        out,
        "ferry_api_requests_total{{system=\"preservica\"}} {}",
        t.api_requests.1
    );
    describe(
        out,
        "ferry_open_conflicts",
        "gauge",
        "Conflicts waiting for a person.",
    );
    let _ = writeln!(out, "ferry_open_conflicts {}", t.open_conflicts);
    describe(
        out,
        "ferry_lockout",
        "gauge",
        "1 while sync runs are locked out after a critical error, else 0.",
    );
    let _ = writeln!(out, "ferry_lockout {}", u8::from(locked_out));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_store_still_names_every_counter() {
        let text = render(&RunTotals::default(), None, false);
        for name in [
            "ferry_runs_total{status=\"done\"} 0",
            "ferry_pushes_total{system=\"preservica\"} 0",
            "ferry_failures_total 0",
            "ferry_api_requests_total{system=\"photoshelter\"} 0",
            "ferry_open_conflicts 0",
            "ferry_lockout 0",
        ] {
            assert!(text.contains(name), "{name} missing:\n{text}");
        }
        assert!(!text.contains("ferry_last_run_exit_code"));
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
