//! Numbers across tables, each read at one moment: the row counts `ferry status` shows and the
//! totals behind `/metrics`.

use super::{OutboxState, Store, StoreError};

/// Row counts of the main tables, as `ferry status` shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreCounts {
    pub runs: u64,
    pub assets: u64,
    /// Assets known to both systems.
    pub paired_assets: u64,
    pub snapshots: u64,
    pub baselines: u64,
    pub decisions: u64,
    /// Writes planned but not yet finished (planned, written or verified).
    pub outbox_pending: u64,
    pub field_history: u64,
    pub transfers: u64,
    /// Review-queue items waiting for a person.
    pub open_conflicts: u64,
    /// Pair suggestions waiting for a person (accepted and rejected ones are not counted).
    pub pair_suggestions: u64,
}

impl StoreCounts {
    /// Each count with a label for people, in a fixed order.
    pub fn rows(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("runs", self.runs),
            ("assets", self.assets),
            ("paired assets", self.paired_assets),
            ("snapshots", self.snapshots),
            ("baselines", self.baselines),
            ("decisions", self.decisions),
            ("pending writes", self.outbox_pending),
            ("field history entries", self.field_history),
            ("transfers", self.transfers),
            ("open conflicts", self.open_conflicts),
            ("open pair suggestions", self.pair_suggestions),
        ]
    }
}

/// Totals over every run's stored summary and over the outbox, for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunTotals {
    /// Real runs by status (`done`, `failed`, `locked_out`, ...); dry runs are not counted.
    pub runs_by_status: Vec<(String, u64)>,
    /// Verified writes by the system written to.
    pub writes_done_by_system: Vec<(String, u64)>,
    /// Writes that failed, by the system written to.
    pub writes_failed_by_system: Vec<(String, u64)>,
    /// The sum of `summary.failures` over all real runs.
    pub failures: u64,
    /// The sum of `summary.api_calls_<system>.requests` over all runs: (PhotoShelter, Preservica).
    pub api_requests: (u64, u64),
    pub open_conflicts: u64,
    /// Dry runs recorded: counted here only, never in the totals above.
    pub dry_runs: u64,
}

/// A count as SQLite gives it (an i64 that is never negative) as a u64.
pub(super) fn nonneg(v: i64) -> u64 {
    u64::try_from(v).unwrap_or_default()
}

impl Store {
    /// How many rows of each kind the database holds, for `ferry status`.
    pub fn counts(&self) -> Result<StoreCounts, StoreError> {
        // One statement, so every number comes from the same moment even while a sync writes.
        let sql = format!(
            "SELECT
            (SELECT count(*) FROM runs),
            (SELECT count(*) FROM assets),
            (SELECT count(*) FROM assets WHERE paired_by IS NOT NULL),
            (SELECT count(*) FROM snapshots),
            (SELECT count(*) FROM baselines),
            (SELECT count(*) FROM decisions),
            (SELECT count(*) FROM outbox WHERE state IN {}),
            (SELECT count(*) FROM field_history),
            (SELECT count(*) FROM transfers),
            (SELECT count(*) FROM review_queue WHERE status = 'open'),
            (SELECT count(*) FROM pair_suggestions WHERE status = 'open')",
            OutboxState::PENDING_SQL
        );
        self.query_one(&sql, [], |row| {
            let n = |i| row.get::<_, i64>(i).map(nonneg);
            Ok(StoreCounts {
                runs: n(0)?,
                assets: n(1)?,
                paired_assets: n(2)?,
                snapshots: n(3)?,
                baselines: n(4)?,
                decisions: n(5)?,
                outbox_pending: n(6)?,
                field_history: n(7)?,
                transfers: n(8)?,
                open_conflicts: n(9)?,
                pair_suggestions: n(10)?,
            })
        })
    }

    /// The numbers behind `/metrics`, read in one transaction so they agree with each other.
    pub fn run_totals(&self) -> Result<RunTotals, StoreError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.sql_error(e))?;
        let grouped = |sql: &str| -> Result<Vec<(String, u64)>, StoreError> {
            self.query_rows(sql, [], |r| Ok((r.get(0)?, nonneg(r.get(1)?))))
        };
        // Dry runs change nothing, so they count in none of these (see `runs.rs`).
        let runs_by_status = grouped(
            "SELECT status, count(*) FROM runs WHERE dry_run = 0 GROUP BY status ORDER BY status",
        )?;
        let by_system = |state: OutboxState| {
            grouped(&format!(
                "SELECT system, count(*) FROM outbox WHERE state = '{state}' GROUP BY system ORDER BY system"
            ))
        };
        let writes_done_by_system = by_system(OutboxState::Done)?;
        let writes_failed_by_system = by_system(OutboxState::Failed)?;
        let (failures, ps, pv, open, dry_runs) = self.query_one(
            "SELECT
                (SELECT coalesce(sum(json_extract(summary_json, '$.failures')), 0) FROM runs WHERE dry_run = 0),
                (SELECT coalesce(sum(json_extract(summary_json, '$.api_calls_photoshelter.requests')), 0) FROM runs WHERE dry_run = 0),
                (SELECT coalesce(sum(json_extract(summary_json, '$.api_calls_preservica.requests')), 0) FROM runs WHERE dry_run = 0),
                (SELECT count(*) FROM review_queue WHERE status = 'open'),
                (SELECT count(*) FROM runs WHERE dry_run = 1)",
            [],
            |r| {
                let n = |i| r.get::<_, i64>(i).map(nonneg);
                Ok((n(0)?, n(1)?, n(2)?, n(3)?, n(4)?))
            },
        )?;
        tx.finish().map_err(|e| self.sql_error(e))?;
        Ok(RunTotals {
            runs_by_status,
            writes_done_by_system,
            writes_failed_by_system,
            failures,
            api_requests: (ps, pv),
            open_conflicts: open,
            dry_runs,
        })
    }
}
