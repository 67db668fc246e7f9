//! Runs: the `runs` table, one row per command run (sync, archive, republish) including runs
//! refused by the lock or the lockout, and the one shape a run is read in, [`Run`].
//!
//! Invariant: a dry run is recorded and listed like any run, but it never answers "the last
//! run": [`Store::last_real_run`] and the totals skip rows with `dry_run = 1`, so health,
//! metrics and status reflect only runs that could have changed something.

use super::{RunId, RunKind, RunStatus, Store, StoreError, ts};
use chrono::{DateTime, Utc};
use rusqlite::params;

/// A run as the store keeps it; `ferry report`, `ferry status`, the web app's list and
/// `/api/runs` all read this one shape (serialised, it is `/api/runs`' row).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Run {
    pub id: RunId,
    pub kind: RunKind,
    pub status: RunStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub dry_run: bool,
    pub exit_code: Option<i64>,
    pub error: Option<String>,
    /// The report's `summary` object (see `report::render`), when the run finished.
    pub summary: Option<serde_json::Value>,
    /// Where the run's HTML report was written, as recorded.
    #[serde(skip)]
    pub report_path: Option<String>,
    /// Whether `run-<id>.html` is in the reports directory: only the web app looks (see
    /// `server::view::run_view`); false as read from the store.
    pub has_report: bool,
}

/// How a run ended, as [`Store::finish_run`] records it.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunEnding<'a> {
    pub exit_code: u8,
    /// The report's `summary` object as JSON.
    pub summary_json: Option<&'a str>,
    pub report_path: Option<&'a str>,
    pub error: Option<&'a str>,
}

pub(super) const RUN_COLUMNS: &str = "id, kind, status, started_at, finished_at, dry_run, exit_code, error, report_path, summary_json";

pub(super) fn run_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Run> {
    let summary: Option<String> = r.get(9)?;
    Ok(from_columns!(r, Run {
        id, kind, status, started_at, finished_at, dry_run, exit_code, error, report_path,
    } with {
        summary: summary.and_then(|s| serde_json::from_str(&s).ok()),
        has_report: false,
    }))
}

impl Store {
    pub fn begin_run(
        &mut self,
        kind: RunKind,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> Result<RunId, StoreError> {
        self.execute(
            "INSERT INTO runs (kind, started_at, dry_run, status) VALUES (?1, ?2, ?3, ?4)",
            params![kind, ts(now), dry_run, RunStatus::Running],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Closes `run` with `status` (a `stopped` run is recorded as `done`, see
    /// [`RunStatus::stored`]).
    pub fn finish_run(
        &mut self,
        run: RunId,
        status: RunStatus,
        end: RunEnding<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE runs SET status = ?2, exit_code = ?3, summary_json = ?4, report_path = ?5, error = ?6, finished_at = ?7 WHERE id = ?1",
            params![
                run,
                status.stored(),
                end.exit_code,
                end.summary_json,
                end.report_path,
                end.error,
                ts(now)
            ],
        )?;
        Ok(())
    }

    /// Marks runs left `running` by a process that died as interrupted.
    pub fn close_interrupted_runs(&mut self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.execute(
            "UPDATE runs SET status = ?2, finished_at = ?1, error = 'the process stopped before the run finished' WHERE status = ?3",
            params![ts(now), RunStatus::Interrupted, RunStatus::Running],
        )
    }

    /// The latest runs, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<Run>, StoreError> {
        self.query_rows(
            &format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?1"),
            [limit as i64],
            run_of,
        )
    }

    /// The latest runs with their summaries, newest first (the same as [`Store::runs`]: a
    /// run is read whole).
    pub fn run_details(&self, limit: usize) -> Result<Vec<Run>, StoreError> {
        self.runs(limit)
    }

    /// One run, or `None` when the store does not know the id.
    pub fn run(&self, id: RunId) -> Result<Option<Run>, StoreError> {
        self.query_opt(
            &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
            [id],
            run_of,
        )
    }

    /// The latest run that has finished (whatever its status), dry runs included; health
    /// and metrics ask [`Store::last_real_run`] instead.
    pub fn last_finished_run(&self) -> Result<Option<Run>, StoreError> {
        self.query_opt(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1"
            ),
            [],
            run_of,
        )
    }

    /// The latest finished run that was not a dry run nor a live one (live runs come every few
    /// minutes; "the last run" of health and metrics is the last command or nightly run).
    pub fn last_real_run(&self) -> Result<Option<Run>, StoreError> {
        self.query_opt(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE finished_at IS NOT NULL AND dry_run = 0 AND kind <> ?1 ORDER BY id DESC LIMIT 1"
            ),
            [RunKind::Live],
            run_of,
        )
    }

    /// How many dry runs the store has recorded.
    pub fn dry_run_count(&self) -> Result<u64, StoreError> {
        self.count("SELECT count(*) FROM runs WHERE dry_run = 1", [])
    }
}
