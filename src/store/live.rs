//! What the live mode of `ferry serve` keeps: the events a live run left for the nightly run
//! (`live_events`) and the per-hour view of live runs the web app shows instead of a row each.
//!
//! Invariant: live runs are runs (`runs.kind = 'live'`); this module only reads them in their
//! own shape, and the run list most readers see leaves them out ([`Store::runs_except_live`]).

use super::{RunId, RunKind, Store, StoreError, ts};
use crate::model::System;
use chrono::{DateTime, Utc};
use rusqlite::params;

/// An event a live run could not act on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LiveEvent {
    pub run_id: RunId,
    pub system: String,
    pub system_id: String,
    pub reason: String,
    pub at: String,
}

/// Live runs that started in one hour.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LiveHour {
    /// `YYYY-MM-DDTHH` (UTC).
    pub hour: String,
    pub runs: u64,
    /// Writes verified in either system (the summaries' pushed counts).
    pub corrections: u64,
    /// Runs that ended with failures or did not finish.
    pub failed: u64,
}

impl Store {
    /// Records the ids a live run saw but left for the nightly pairing.
    pub fn record_live_events(
        &mut self,
        run: RunId,
        events: &[(System, String, String)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let e = self.sql_errors();
        let tx = self.tx()?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO live_events (run_id, system, system_id, reason, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(&e)?;
            for (system, id, reason) in events {
                st.execute(params![run, system, id, reason, ts(now)])
                    .map_err(&e)?;
            }
        }
        tx.commit().map_err(e)
    }

    /// The latest events live runs left for the nightly run, newest first.
    pub fn live_events(&self, limit: usize) -> Result<Vec<LiveEvent>, StoreError> {
        self.query_rows(
            "SELECT run_id, system, system_id, reason, at FROM live_events ORDER BY id DESC LIMIT ?1",
            [limit as i64],
            |r| {
                Ok(LiveEvent {
                    run_id: r.get(0)?,
                    system: r.get(1)?,
                    system_id: r.get(2)?,
                    reason: r.get(3)?,
                    at: r.get(4)?,
                })
            },
        )
    }

    /// Live runs per hour since `since`, newest hour first.
    pub fn live_runs_per_hour(&self, since: DateTime<Utc>) -> Result<Vec<LiveHour>, StoreError> {
        self.query_rows(
            "SELECT substr(started_at, 1, 13) AS hour, count(*),
                    coalesce(sum(coalesce(json_extract(summary_json, '$.pushed_to_photoshelter'), 0)
                               + coalesce(json_extract(summary_json, '$.pushed_to_preservica'), 0)), 0),
                    sum(CASE WHEN status <> 'done' OR exit_code >= 2 THEN 1 ELSE 0 END)
             FROM runs WHERE kind = ?1 AND dry_run = 0 AND started_at >= ?2
             GROUP BY hour ORDER BY hour DESC",
            params![RunKind::Live, ts(since)],
            |r| {
                let n = |i| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
                Ok(LiveHour {
                    hour: r.get(0)?,
                    runs: n(1)?,
                    corrections: n(2)?,
                    failed: n(3)?,
                })
            },
        )
    }

    /// The latest runs but live ones, newest first: what the runs page and `ferry status`
    /// list one by one (live runs are counted per hour instead).
    pub fn runs_except_live(&self, limit: usize) -> Result<Vec<super::Run>, StoreError> {
        self.query_rows(
            &format!(
                "SELECT {} FROM runs WHERE kind <> ?1 ORDER BY id DESC LIMIT ?2",
                super::runs::RUN_COLUMNS
            ),
            params![RunKind::Live, limit as i64],
            super::runs::run_of,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{RunEnding, RunStatus};

    #[test]
    fn live_runs_are_counted_per_hour_and_left_out_of_the_run_list() {
        let mut store = Store::open_in_memory().unwrap();
        let t = |h: u32, m: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 3, 1)
                .unwrap()
                .and_hms_opt(h, m, 0)
                .unwrap()
                .and_utc()
        };
        let nightly = store.begin_run(RunKind::Sync, false, t(2, 0)).unwrap();
        store
            .finish_run(nightly, RunStatus::Done, RunEnding::default(), t(2, 5))
            .unwrap();
        for (h, m, pushed) in [(9, 1, 1), (9, 30, 2), (10, 2, 0)] {
            let run = store.begin_run(RunKind::Live, false, t(h, m)).unwrap();
            let summary =
                format!("{{\"pushed_to_photoshelter\": {pushed}, \"pushed_to_preservica\": 0}}");
            let end = RunEnding {
                summary_json: Some(&summary),
                ..Default::default()
            };
            store
                .finish_run(run, RunStatus::Done, end, t(h, m + 1))
                .unwrap();
        }
        let hours = store.live_runs_per_hour(t(0, 0)).unwrap();
        let seen: Vec<(&str, u64, u64)> = hours
            .iter()
            .map(|h| (h.hour.as_str(), h.runs, h.corrections))
            .collect();
        assert_eq!(seen, [("2026-03-01T10", 1, 0), ("2026-03-01T09", 2, 3)]);
        assert!(store.live_runs_per_hour(t(11, 0)).unwrap().is_empty());
        let listed = store.runs_except_live(10).unwrap();
        assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), [nightly]);
        store
            .record_live_events(
                nightly + 1,
                &[(System::Preservica, "ref-1".into(), "not paired".into())],
                t(9, 2),
            )
            .unwrap();
        let events = store.live_events(5).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].system, "preservica");
    }
}
