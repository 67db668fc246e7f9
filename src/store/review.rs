//! Decisions and the review queue: `decisions` (what reconcile decided for each field, with the
//! values it saw) and `review_queue` (the true conflicts those decisions leave to a person, and
//! what the person chose until a run carries it out).

use super::{AssetId, FieldOutcome, RunId, Store, StoreError, ts};
use chrono::{DateTime, Utc};
use rusqlite::params;
use std::collections::HashMap;

/// A decision as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRow {
    pub asset_id: AssetId,
    pub field: String,
    pub photoshelter_value: Option<String>,
    pub preservica_value: Option<String>,
    /// `None`: no baseline yet; `Some(None)`: agreed on no value.
    pub baseline: Option<Option<String>>,
    pub outcome: FieldOutcome,
    pub rule: String,
    pub reason: String,
    pub winning_value: Option<String>,
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
    pub outcome: FieldOutcome,
    pub rule: Option<String>,
    pub reason: String,
    pub winning_value: Option<String>,
    pub created_at: String,
}

/// An open conflict waiting for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewItem {
    pub id: i64,
    pub asset_id: AssetId,
    pub photoshelter_id: Option<String>,
    pub preservica_ref: Option<String>,
    pub field: String,
    pub photoshelter_value: Option<String>,
    pub preservica_value: Option<String>,
    pub reason: String,
    pub status: String,
    pub resolution: Option<String>,
    pub resolution_value: Option<String>,
    /// Who decided it (the OS user, or the name given in the web app); `None` while open.
    pub decided_by: Option<String>,
    /// The note the person left with the decision.
    pub decision_note: Option<String>,
}

/// Who made a decision, and the note they left with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decider {
    pub name: String,
    pub note: Option<String>,
}

/// A person's decision on a conflict waiting for the next sync to carry it out. `V` is the
/// value as stored (`String`) or as the mapping reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution<V = String> {
    /// The review-queue item.
    pub id: i64,
    /// `photoshelter`, `preservica` or `value`.
    pub take: String,
    /// The value the person saw for the side they took, or the one they typed.
    pub value: Option<V>,
    /// Who decided, as recorded (older decisions have none).
    pub decided_by: Option<String>,
}

/// A conflict a person decided, and whether a sync has carried it out yet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DecidedConflict {
    pub id: i64,
    pub asset_id: AssetId,
    pub field: String,
    /// `photoshelter`, `preservica` or `value`.
    pub resolution: String,
    pub resolution_value: Option<String>,
    pub resolved_at: String,
    pub decided_by: Option<String>,
    pub decision_note: Option<String>,
    /// `run N` once that run wrote it; `None` while it waits for the next sync.
    pub carried_out_by: Option<String>,
}

impl Store {
    /// Records decisions; those for review open a queue item (unless one is open already).
    /// Returns the decision ids in order.
    pub fn record_decisions(
        &mut self,
        run: RunId,
        rows: &[DecisionRow],
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        let e = self.sql_errors();
        let tx = self.tx()?;
        let mut ids = Vec::with_capacity(rows.len());
        {
            let mut put = tx
                .prepare(
                    "INSERT INTO decisions (run_id, asset_id, field, photoshelter_value, preservica_value, has_baseline, baseline_value, outcome, rule, reason, winning_value, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )
                .map_err(&e)?;
            let mut review = tx
                .prepare("INSERT OR IGNORE INTO review_queue (decision_id, asset_id, field, status, created_at) VALUES (?1, ?2, ?3, 'open', ?4)")
                .map_err(&e)?;
            for d in rows {
                let reason = d.reason.replace(['\n', '\r'], " ");
                put.execute(params![
                    run,
                    d.asset_id,
                    d.field,
                    d.photoshelter_value,
                    d.preservica_value,
                    d.baseline.is_some(),
                    d.baseline.clone().flatten(),
                    d.outcome,
                    d.rule,
                    reason,
                    d.winning_value,
                    ts(now)
                ])
                .map_err(&e)?;
                let id = tx.last_insert_rowid();
                if d.outcome == FieldOutcome::QueuedForReview {
                    review
                        .execute(params![id, d.asset_id, d.field, ts(now)])
                        .map_err(&e)?;
                }
                ids.push(id);
            }
        }
        tx.commit().map_err(&e)?;
        Ok(ids)
    }

    /// Why decision `id` was made, as the run recorded it; `None` when there is no such decision.
    pub fn decision_reason(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.query_opt("SELECT reason FROM decisions WHERE id = ?1", [id], |r| {
            r.get(0)
        })
    }

    /// The latest decision on each field of an asset, by field name.
    pub fn latest_decisions(&self, id: AssetId) -> Result<Vec<FieldDecision>, StoreError> {
        self.query_rows(
            "SELECT d.id, d.run_id, d.field, d.photoshelter_value, d.preservica_value, d.has_baseline, d.baseline_value,
                    d.outcome, d.rule, d.reason, d.winning_value, d.created_at
             FROM decisions d
             WHERE d.asset_id = ?1
               AND d.id = (SELECT max(id) FROM decisions WHERE asset_id = d.asset_id AND field = d.field)
             ORDER BY d.field",
            [id],
            |r| {
                Ok(from_columns!(r, FieldDecision {
                    id, run_id, field, photoshelter_value, preservica_value, has_baseline,
                    baseline_value, outcome, rule, reason, winning_value, created_at,
                }))
            },
        )
    }

    /// Conflicts for people: open ones, or all.
    pub fn review_items(&self, open_only: bool) -> Result<Vec<ReviewItem>, StoreError> {
        let sql = format!(
            "SELECT q.id, q.asset_id, a.photoshelter_id, a.preservica_ref, q.field, d.photoshelter_value, d.preservica_value, d.reason, q.status, q.resolution, q.resolution_value, q.decided_by, q.decision_note
             FROM review_queue q JOIN decisions d ON d.id = q.decision_id JOIN assets a ON a.id = q.asset_id {} ORDER BY q.id",
            if open_only { "WHERE q.status = 'open'" } else { "" }
        );
        self.query_rows(&sql, [], |r| {
            Ok(from_columns!(
                r,
                ReviewItem {
                    id,
                    asset_id,
                    photoshelter_id,
                    preservica_ref,
                    field,
                    photoshelter_value,
                    preservica_value,
                    reason,
                    status,
                    resolution,
                    resolution_value,
                    decided_by,
                    decision_note,
                }
            ))
        })
    }

    /// Records a decision on a conflict without saying who made it (tests, old callers).
    pub fn resolve_review(
        &mut self,
        id: i64,
        resolution: &str,
        value: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.resolve_review_by(id, resolution, value, None, now)
    }

    /// Records a person's decision on a conflict, with who made it and their note; the next
    /// sync carries it out. `false` when the conflict is no longer open.
    pub fn resolve_review_by(
        &mut self,
        id: i64,
        resolution: &str,
        value: Option<&str>,
        who: Option<&Decider>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = self.execute(
            "UPDATE review_queue SET status = 'resolved', resolution = ?2, resolution_value = ?3, resolved_at = ?4, decided_by = ?5, decision_note = ?6 WHERE id = ?1 AND status = 'open'",
            params![
                id,
                resolution,
                value,
                ts(now),
                who.map(|w| w.name.as_str()),
                who.and_then(|w| w.note.as_deref())
            ],
        )?;
        Ok(n == 1)
    }

    /// Resolved conflicts whose value has not been carried out yet.
    pub fn resolutions(&self) -> Result<HashMap<(AssetId, String), Resolution>, StoreError> {
        // A side taken comes with the value the person saw for it (used when the systems
        // agree by the time the resolution is carried out; otherwise the side's current one).
        self.query_rows(
            "SELECT q.id, q.asset_id, q.field, q.resolution,
                CASE q.resolution WHEN 'photoshelter' THEN d.photoshelter_value WHEN 'preservica' THEN d.preservica_value ELSE q.resolution_value END,
                q.decided_by
             FROM review_queue q JOIN decisions d ON d.id = q.decision_id
             WHERE q.status = 'resolved' AND q.resolution IS NOT NULL AND q.resolved_by IS NULL",
            [],
            |r| {
                Ok((
                    (r.get(1)?, r.get(2)?),
                    Resolution {
                        id: r.get(0)?,
                        take: r.get(3)?,
                        value: r.get(4)?,
                        decided_by: r.get(5)?,
                    },
                ))
            },
        )
    }

    /// Marks a resolution as carried out by `run`.
    pub fn resolution_applied(&mut self, id: i64, run: RunId) -> Result<(), StoreError> {
        self.execute(
            "UPDATE review_queue SET resolved_by = ?2 WHERE id = ?1",
            params![id, format!("run {run}")],
        )?;
        Ok(())
    }

    /// Conflicts people decided, newest first.
    pub fn decided_conflicts(&self, limit: usize) -> Result<Vec<DecidedConflict>, StoreError> {
        self.decided("ORDER BY resolved_at DESC, id DESC LIMIT ?1", limit as i64)
    }

    /// Conflicts people decided on one asset, newest first.
    pub fn decided_conflicts_of(&self, asset: AssetId) -> Result<Vec<DecidedConflict>, StoreError> {
        self.decided(
            "AND asset_id = ?1 ORDER BY resolved_at DESC, id DESC",
            asset,
        )
    }

    /// Decided conflicts, narrowed and ordered by `tail` (one parameter, `?1`).
    fn decided(&self, tail: &str, arg: i64) -> Result<Vec<DecidedConflict>, StoreError> {
        self.query_rows(
            &format!(
                "SELECT id, asset_id, field, resolution, resolution_value, resolved_at, decided_by, decision_note, resolved_by
                 FROM review_queue WHERE status = 'resolved' {tail}"
            ),
            [arg],
            |r| {
                Ok(from_columns!(r, DecidedConflict {
                    id, asset_id, field, resolution, resolution_value, resolved_at, decided_by,
                    decision_note, carried_out_by,
                }))
            },
        )
    }

    /// How many conflicts wait for a person.
    pub fn open_conflict_count(&self) -> Result<u64, StoreError> {
        self.count(
            "SELECT count(*) FROM review_queue WHERE status = 'open'",
            [],
        )
    }
}
