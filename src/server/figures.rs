//! What the charts show: turns runs, rights counts and facet counts into [`BarChart`]s and
//! their SVG, so that each page inserts its charts with one call.
//!
//! Invariant: every bar that links goes to the search whose hit count is the bar's value
//! (rights bars to `rights:<status>`, month bars to `expiry:<range>`, facet bars to the facet's
//! term), or, on the runs page, to the run's report.

use super::charts::{Bar, BarChart, Tone};
use super::html::qs;
use crate::index::{IndexError, RightsStatus, SearchIndex, SearchRequest};
use crate::store::{Run, RunKind};
use chrono::{Datelike, Months, NaiveDate};

/// How many of the latest real runs the runs page draws.
pub const RUNS_CHARTED: usize = 30;
/// How many months ahead the licence expiry chart looks, this month included.
pub const EXPIRY_MONTHS: u32 = 24;

/// The search page URL of `query`.
pub fn search_href(query: &str) -> String {
    format!("/?q={}", qs(query))
}

/// The runs page's charts: drift found, corrections pushed, conflicts queued and failures of
/// each of the last [`RUNS_CHARTED`] sync runs that were not dry runs, oldest first, as four
/// small multiples sharing the same runs. Empty when there is no such run. `runs` is newest
/// first, as the store lists them.
pub fn runs_charts(runs: &[Run]) -> String {
    let mut real: Vec<(&Run, &serde_json::Value)> = runs
        .iter()
        .filter(|r| r.kind == RunKind::Sync && !r.dry_run)
        .filter_map(|r| r.summary.as_ref().map(|s| (r, s)))
        .take(RUNS_CHARTED)
        .collect();
    if real.is_empty() {
        return String::new();
    }
    real.reverse();
    type Value = fn(&serde_json::Value) -> u64;
    let series: [(&str, &str, Tone, Value); 4] = [
        ("Drift found", "fields found drifted", Tone::Accent, |s| {
            n(s, "drifted")
        }),
        (
            "Corrections pushed",
            "corrections written to either system",
            Tone::Good,
            |s| n(s, "pushed_to_photoshelter") + n(s, "pushed_to_preservica"),
        ),
        (
            "Conflicts",
            "conflicts queued for a person",
            Tone::Warn,
            |s| n(s, "conflicts_queued"),
        ),
        ("Failures", "failures", Tone::Bad, |s| n(s, "failures")),
    ];
    let mut out =
        String::from("<section class=\"charts runs-charts\" aria-label=\"runs over time\">\n");
    for (title, what, tone, value) in series {
        let bars = real
            .iter()
            .map(|(run, summary)| Bar {
                label: format!("run {}", run.id),
                value: value(summary),
                href: Some(format!("/runs/{}", run.id)),
            })
            .collect();
        let description = format!(
            "{what} per sync run, the last {} runs that were not dry runs, oldest first",
            real.len()
        );
        out.push_str(&BarChart::new(title, &description, bars).tone(tone).to_svg());
        out.push('\n');
    }
    out.push_str("</section>\n");
    out
}

/// A count of a run's summary (0 when an older ferry did not record it).
fn n(summary: &serde_json::Value, key: &str) -> u64 {
    summary.get(key).and_then(|v| v.as_u64()).unwrap_or(0)
}

/// Counts for the rights page, read from the search index on `today`.
#[derive(Debug, Clone, PartialEq)]
pub struct RightsCounts {
    /// Per status, in [`RightsStatus::ALL`] order.
    pub by_status: Vec<(RightsStatus, u64)>,
    /// Per month from this month on: (first day of the month, the query, matching assets).
    pub by_month: Vec<(NaiveDate, String, u64)>,
}

/// The query of the assets whose licence expires in the month of `first`, from `today` on.
pub fn month_query(first: NaiveDate, today: NaiveDate) -> String {
    let from = first.max(today);
    let last = first
        .checked_add_months(Months::new(1))
        .and_then(|d| d.pred_opt())
        .unwrap_or(first);
    if from == first {
        format!("expiry:{}", first.format("%Y-%m"))
    } else {
        format!("expiry:{from}..{last}")
    }
}

/// Counts every rights status and each month's expiring licences with count-only searches (the
/// same queries the bars link to, so a bar and its search always agree).
pub fn rights_counts(index: &SearchIndex, today: NaiveDate) -> Result<RightsCounts, IndexError> {
    let count = |query: &str| -> Result<u64, IndexError> {
        let mut request = SearchRequest::new(query, today);
        request.limit = 0;
        Ok(index.search(&request)?.total as u64)
    };
    let mut by_status = Vec::with_capacity(RightsStatus::ALL.len());
    for status in RightsStatus::ALL {
        by_status.push((status, count(&format!("rights:{}", status.name()))?));
    }
    let this_month = today.with_day(1).unwrap_or(today);
    let mut by_month = Vec::with_capacity(EXPIRY_MONTHS as usize);
    for i in 0..EXPIRY_MONTHS {
        let Some(first) = this_month.checked_add_months(Months::new(i)) else {
            break;
        };
        let query = month_query(first, today);
        let n = count(&query)?;
        by_month.push((first, query, n));
    }
    Ok(RightsCounts {
        by_status,
        by_month,
    })
}

/// The rights page's two charts.
pub fn rights_charts(counts: &RightsCounts) -> String {
    let status_bars = counts
        .by_status
        .iter()
        .map(|(status, n)| Bar {
            label: status_label(*status).to_string(),
            value: *n,
            href: Some(search_href(&format!("rights:{}", status.name()))),
        })
        .collect();
    let month_bars = counts
        .by_month
        .iter()
        .map(|(first, query, n)| Bar {
            label: first.format("%Y-%m").to_string(),
            value: *n,
            href: Some(search_href(query)),
        })
        .collect();
    let mut out = String::from("<section class=\"charts rights-charts\" aria-label=\"rights\">\n");
    out.push_str(
        &BarChart::new(
            "Assets by rights status",
            "how many assets are ok, expiring, expired, restricted or of unknown rights",
            status_bars,
        )
        .to_svg(),
    );
    out.push('\n');
    out.push_str(
        &BarChart::new(
            "Licences expiring per month",
            &format!("assets whose licence expires in each of the next {EXPIRY_MONTHS} months"),
            month_bars,
        )
        .tone(Tone::Warn)
        .to_svg(),
    );
    out.push_str("\n</section>\n");
    out
}

/// A rights status in words, as the chart labels it.
pub fn status_label(status: RightsStatus) -> &'static str {
    match status {
        RightsStatus::Ok => "ok",
        RightsStatus::Expiring => "expiring soon",
        RightsStatus::Expired => "expired",
        RightsStatus::Restricted => "restricted",
        RightsStatus::Unknown => "unknown",
    }
}

/// A small histogram of a chronological facet (`decade`, `year`) whose bars link to the search
/// refined by each value (`href_of` gives the URL); empty for other facets or a single value.
pub fn facet_histogram(
    facet: &str,
    values: &[(String, u64)],
    href_of: impl Fn(&str) -> String,
) -> String {
    if !matches!(facet, "decade" | "year") || values.len() < 2 {
        return String::new();
    }
    let bars = values
        .iter()
        .map(|(value, n)| Bar {
            label: value.clone(),
            value: *n,
            href: Some(href_of(value)),
        })
        .collect();
    let chart = BarChart::new(
        &format!("Assets per {facet}"),
        &format!("matching assets per {facet}, oldest first"),
        bars,
    )
    .tone(Tone::Muted)
    .small();
    format!(
        "<div class=\"histogram\" data-facet=\"{facet}\">{}</div>\n",
        chart.to_svg()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_month_counts_from_today_and_later_months_whole() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let first = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(month_query(first, today), "expiry:2026-12-02..2026-12-31");
        let next = NaiveDate::from_ymd_opt(2027, 2, 1).unwrap();
        assert_eq!(month_query(next, today), "expiry:2027-02");
        assert_eq!(month_query(first, first), "expiry:2026-12");
    }

    fn run(id: i64, dry: bool, drifted: Option<u64>) -> Run {
        Run {
            id,
            kind: RunKind::Sync,
            status: crate::store::RunStatus::Done,
            started_at: String::new(),
            finished_at: None,
            dry_run: dry,
            exit_code: Some(0),
            error: None,
            summary: drifted.map(|d| serde_json::json!({"drifted": d, "pushed_to_preservica": 2, "pushed_to_photoshelter": 1})),
            report_path: None,
            has_report: false,
        }
    }

    #[test]
    fn runs_charts_draw_real_finished_runs_oldest_first() {
        let runs = [
            run(4, false, Some(7)),
            run(3, true, Some(9)),
            run(2, false, None),
            run(1, false, Some(5)),
        ];
        let html = runs_charts(&runs);
        assert_eq!(html.matches("<svg ").count(), 4);
        assert_eq!(
            html.matches("class=\"bar\"").count(),
            8,
            "two real runs in four charts"
        );
        let first = html.find("href=\"/runs/1\"").unwrap();
        let second = html.find("href=\"/runs/4\"").unwrap();
        assert!(first < second, "oldest first");
        assert!(html.contains("aria-label=\"run 4: 7\""));
        assert!(
            html.contains("aria-label=\"run 4: 3\""),
            "pushed sums both systems"
        );
        assert_eq!(runs_charts(&[run(3, true, Some(1))]), "");
    }

    #[test]
    fn facet_histograms_are_for_chronological_facets_only() {
        let values = vec![("1950s".to_string(), 2), ("1960s".to_string(), 5)];
        let html = facet_histogram("decade", &values, |v| format!("/?q={v}"));
        assert_eq!(html.matches("class=\"bar\"").count(), 2);
        assert!(html.contains("href=\"/?q=1960s\""));
        assert_eq!(facet_histogram("creator", &values, |v| v.into()), "");
    }
}
