//! Read-only questions the web app (`ferry serve`) asks: one asset with everything known about
//! it, one run, and the numbers behind `/metrics` and `/healthz`. The one write the web app
//! makes (a person deciding a conflict) is [`Store::resolve_review`] in `sync.rs`.

use super::sync::{AssetId, AssetRow, RunId, RunRow, Snapshot};
use super::{Store, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
use std::collections::BTreeMap;

/// An asset row with the times the store keeps for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetDetail {
    pub asset: AssetRow,
    pub paired_at: Option<String>,
    pub created_at: String,
}

/// The current snapshot of an asset in one system, with when and by which run it was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotDetail {
    pub snapshot: Snapshot,
    pub run_id: RunId,
    pub captured_at: String,
}

/// The latest decision on one field of an asset, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDecision {
    pub id: i64,
    pub run_id: RunId,
    pub field: String,
    pub photoshelter_value: Option<String>,
    pub preservica_value: Option<String>,
    pub has_baseline: bool,
    pub baseline_value: Option<String>,
    pub outcome: String,
    pub rule: Option<String>,
    pub reason: String,
    pub winning_value: Option<String>,
    pub created_at: String,
}

/// A write to one field of an asset, planned or made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetWrite {
    pub id: i64,
    pub run_id: RunId,
    pub system: String,
    pub field: String,
    pub new_value: Option<String>,
    pub state: String,
    pub last_error: Option<String>,
    pub updated_at: String,
}

/// A run with what `ferry report` shows beyond the list: its summary and error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDetail {
    pub run: RunRow,
    /// The report's `summary` object as JSON (see `report::render`), when the run finished.
    pub summary_json: Option<String>,
    pub error: Option<String>,
}

/// A conflict a person decided, and whether a sync has carried it out yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecidedConflict {
    pub id: i64,
    pub asset_id: AssetId,
    pub field: String,
    /// `photoshelter`, `preservica` or `value`.
    pub resolution: String,
    pub resolution_value: Option<String>,
    pub resolved_at: String,
    /// `run N` once that run wrote it; `None` while it waits for the next sync.
    pub carried_out_by: Option<String>,
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

fn nonneg(v: i64) -> u64 {
    u64::try_from(v).unwrap_or_default()
}

fn run_row(r: &Row<'_>) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        status: r.get(2)?,
        started_at: r.get(3)?,
        finished_at: r.get(4)?,
        dry_run: r.get::<_, i64>(5)? == 1,
        exit_code: r.get(6)?,
        report_path: r.get(7)?,
    })
}

pub(super) const RUN_COLUMNS: &str = "id, kind, status, started_at, finished_at, dry_run, exit_code, report_path, summary_json, error";

pub(super) fn run_detail(r: &Row<'_>) -> rusqlite::Result<RunDetail> {
    Ok(RunDetail {
        run: run_row(r)?,
        summary_json: r.get(8)?,
        error: r.get(9)?,
    })
}

impl Store {
    /// One asset, or `None` when the store does not know the id.
    pub fn asset(&self, id: AssetId) -> Result<Option<AssetDetail>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, photoshelter_id, preservica_ref, paired_by, paired_at, created_at FROM assets WHERE id = ?1",
                [id],
                |r| {
                    Ok(AssetDetail {
                        asset: AssetRow {
                            id: r.get(0)?,
                            photoshelter_id: r.get(1)?,
                            preservica_ref: r.get(2)?,
                            paired_by: r.get(3)?,
                        },
                        paired_at: r.get(4)?,
                        created_at: r.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.sql_error(e))
    }

    /// The current snapshot of one asset in `system`, if ferry has pulled it from there.
    pub fn asset_snapshot(
        &self,
        id: AssetId,
        system: crate::model::System,
    ) -> Result<Option<SnapshotDetail>, StoreError> {
        self.conn
            .query_row(
                "SELECT fields_json, system_modified_at, file_name, file_size, checksum_algorithm, checksum_value, run_id, captured_at
                 FROM snapshots WHERE asset_id = ?1 AND system = ?2",
                params![id, system.name()],
                |r| {
                    let fields: String = r.get(0)?;
                    let modified: Option<String> = r.get(1)?;
                    let alg: Option<String> = r.get(4)?;
                    let val: Option<String> = r.get(5)?;
                    Ok(SnapshotDetail {
                        snapshot: Snapshot {
                            fields: serde_json::from_str(&fields).unwrap_or_default(),
                            modified_at: modified
                                .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
                                .map(|t| t.with_timezone(&Utc)),
                            file_name: r.get(2)?,
                            file_size: r.get::<_, Option<i64>>(3)?.map(nonneg),
                            checksum: alg.zip(val),
                        },
                        run_id: r.get(6)?,
                        captured_at: r.get(7)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.sql_error(e))
    }

    /// The latest decision on each field of an asset, by field name.
    pub fn latest_decisions(&self, id: AssetId) -> Result<Vec<FieldDecision>, StoreError> {
        self.query_rows("SELECT d.id, d.run_id, d.field, d.photoshelter_value, d.preservica_value, d.has_baseline, d.baseline_value,
                        d.outcome, d.rule, d.reason, d.winning_value, d.created_at
                 FROM decisions d
                 WHERE d.asset_id = ?1
                   AND d.id = (SELECT max(id) FROM decisions WHERE asset_id = d.asset_id AND field = d.field)
                 ORDER BY d.field", [id], |r| {
            Ok(FieldDecision {
                id: r.get(0)?,
                run_id: r.get(1)?,
                field: r.get(2)?,
                photoshelter_value: r.get(3)?,
                preservica_value: r.get(4)?,
                has_baseline: r.get::<_, i64>(5)? == 1,
                baseline_value: r.get(6)?,
                outcome: r.get(7)?,
                rule: r.get(8)?,
                reason: r.get(9)?,
                winning_value: r.get(10)?,
                created_at: r.get(11)?,
            })
        })
    }

    /// The baselines of one asset: field → the value both systems last agreed on.
    pub fn asset_baselines(
        &self,
        id: AssetId,
    ) -> Result<BTreeMap<String, Option<String>>, StoreError> {
        self.query_rows(
            "SELECT field, value FROM baselines WHERE asset_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Writes to an asset: every unfinished one, then the latest finished ones, newest first,
    /// at most `limit` in all.
    pub fn asset_writes(&self, id: AssetId, limit: usize) -> Result<Vec<AssetWrite>, StoreError> {
        self.query_rows(
            "SELECT id, run_id, system, field, new_value, state, last_error, updated_at FROM outbox
                 WHERE asset_id = ?1
                 ORDER BY state IN ('planned', 'written', 'verified') DESC, id DESC LIMIT ?2",
            params![id, limit as i64],
            |r| {
                Ok(AssetWrite {
                    id: r.get(0)?,
                    run_id: r.get(1)?,
                    system: r.get(2)?,
                    field: r.get(3)?,
                    new_value: r.get(4)?,
                    state: r.get(5)?,
                    last_error: r.get(6)?,
                    updated_at: r.get(7)?,
                })
            },
        )
    }

    /// One run, or `None` when the store does not know the id.
    pub fn run(&self, id: RunId) -> Result<Option<RunDetail>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                [id],
                run_detail,
            )
            .optional()
            .map_err(|e| self.sql_error(e))
    }

    /// The latest runs with their summaries, newest first.
    pub fn run_details(&self, limit: usize) -> Result<Vec<RunDetail>, StoreError> {
        self.query_rows(
            &format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?1"),
            [limit as i64],
            run_detail,
        )
    }

    /// The latest run that has finished (whatever its status), dry runs included; health
    /// and metrics ask [`Store::last_real_run`] instead.
    pub fn last_finished_run(&self) -> Result<Option<RunDetail>, StoreError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1"
                ),
                [],
                run_detail,
            )
            .optional()
            .map_err(|e| self.sql_error(e))
    }

    /// Conflicts people decided, newest first.
    pub fn decided_conflicts(&self, limit: usize) -> Result<Vec<DecidedConflict>, StoreError> {
        self.query_rows("SELECT id, asset_id, field, resolution, resolution_value, resolved_at, resolved_by
                 FROM review_queue WHERE status = 'resolved' ORDER BY resolved_at DESC, id DESC LIMIT ?1", [limit as i64], |r| {
            Ok(DecidedConflict {
                id: r.get(0)?,
                asset_id: r.get(1)?,
                field: r.get(2)?,
                resolution: r.get(3)?,
                resolution_value: r.get(4)?,
                resolved_at: r.get(5)?,
                carried_out_by: r.get(6)?,
            })
        })
    }

    /// The numbers behind `/metrics`, read in one transaction so they agree with each other.
    pub fn run_totals(&self) -> Result<RunTotals, StoreError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.sql_error(e))?;
        let e = |source| self.sql_error(source);
        let grouped = |sql: &str| -> Result<Vec<(String, u64)>, StoreError> {
            let mut st = tx.prepare(sql).map_err(e)?;
            st.query_map([], |r| Ok((r.get(0)?, nonneg(r.get(1)?))))
                .and_then(|rows| rows.collect())
                .map_err(e)
        };
        // Dry runs change nothing, so they count in none of these (see `operator.rs`).
        let runs_by_status = grouped(
            "SELECT status, count(*) FROM runs WHERE dry_run = 0 GROUP BY status ORDER BY status",
        )?;
        let writes_done_by_system = grouped(
            "SELECT system, count(*) FROM outbox WHERE state = 'done' GROUP BY system ORDER BY system",
        )?;
        let writes_failed_by_system = grouped(
            "SELECT system, count(*) FROM outbox WHERE state = 'failed' GROUP BY system ORDER BY system",
        )?;
        let (failures, ps, pv, open, dry_runs) = tx
            .query_row(
                "SELECT
                    (SELECT coalesce(sum(json_extract(summary_json, '$.failures')), 0) FROM runs WHERE dry_run = 0),
                    (SELECT coalesce(sum(json_extract(summary_json, '$.api_calls_photoshelter.requests')), 0) FROM runs WHERE dry_run = 0),
                    (SELECT coalesce(sum(json_extract(summary_json, '$.api_calls_preservica.requests')), 0) FROM runs WHERE dry_run = 0),
                    (SELECT count(*) FROM review_queue WHERE status = 'open'),
                    (SELECT count(*) FROM runs WHERE dry_run = 1)",
                [],
                |r| {
                    Ok((
                        nonneg(r.get(0)?),
                        nonneg(r.get(1)?),
                        nonneg(r.get(2)?),
                        nonneg(r.get(3)?),
                        nonneg(r.get(4)?),
                    ))
                },
            )
            .map_err(e)?;
        tx.finish().map_err(e)?;
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

    /// How many conflicts wait for a person.
    pub fn open_conflict_count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM review_queue WHERE status = 'open'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(nonneg)
            .map_err(|e| self.sql_error(e))
    }
}
