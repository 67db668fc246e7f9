//! The outbox: every write to either system, planned here before it is made (safety invariant
//! 2), and moved through [`OutboxState`] as it is written, read back and finished. Finishing a
//! write also records the value it replaced (field history), the snapshot's new value and the
//! baseline, in the one transaction that marks it done.

use super::history::INSERT_HISTORY_SQL;
use super::snapshots::{PUT_BASELINE_SQL, set_field};
use super::{AssetId, OutboxState, RunId, Store, StoreError, ts};
use crate::model::System;
use chrono::{DateTime, Utc};
use rusqlite::params;

/// A planned write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: i64,
    pub run_id: RunId,
    pub asset_id: AssetId,
    pub decision_id: Option<i64>,
    pub system: System,
    pub field: String,
    /// What the snapshot said the target held: the write is stale if the target moved.
    pub expected_value: Option<String>,
    pub new_value: Option<String>,
    pub state: OutboxState,
    pub attempts: i64,
}

/// A write to one field of an asset, planned or made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetWrite {
    pub id: i64,
    pub run_id: RunId,
    pub system: String,
    pub field: String,
    pub new_value: Option<String>,
    pub state: OutboxState,
    pub last_error: Option<String>,
    pub updated_at: String,
}

impl Store {
    /// Plans writes. A write already pending for the same asset, system and field (from a run
    /// that crashed) is kept and this one skipped: the pending one is completed first.
    pub fn enqueue(
        &mut self,
        run: RunId,
        items: &[OutboxEntry],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let e = self.sql_errors();
        let tx = self.tx()?;
        let mut n = 0;
        {
            let mut put = tx
                .prepare(
                    "INSERT OR IGNORE INTO outbox (run_id, asset_id, decision_id, system, field, expected_value, new_value, state, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
                )
                .map_err(&e)?;
            for i in items {
                n += put
                    .execute(params![
                        run,
                        i.asset_id,
                        i.decision_id,
                        i.system,
                        i.field,
                        i.expected_value,
                        i.new_value,
                        OutboxState::Planned,
                        ts(now)
                    ])
                    .map_err(&e)?;
            }
        }
        tx.commit().map_err(&e)?;
        Ok(n)
    }

    /// Writes not yet finished, from any run, oldest first.
    pub fn pending_outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.query_rows(
            &format!(
                "SELECT id, run_id, asset_id, decision_id, system, field, expected_value, new_value, state, attempts
                 FROM outbox WHERE state IN {} ORDER BY id",
                OutboxState::PENDING_SQL
            ),
            [],
            |r| {
                Ok(from_columns!(r, OutboxEntry {
                    id, run_id, asset_id, decision_id, system, field, expected_value, new_value,
                    state, attempts,
                }))
            },
        )
    }

    /// Moves a write to `state` (`written`, `stale`, `failed`), counting attempts.
    pub fn set_outbox_state(
        &mut self,
        id: i64,
        state: OutboxState,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE outbox SET state = ?2, last_error = ?3, updated_at = ?4, attempts = attempts + ?5 WHERE id = ?1",
            params![id, state, error, ts(now), state.is_attempt()],
        )?;
        Ok(())
    }

    /// Finishes a verified write in one transaction: the write is done, the overwritten value
    /// goes to field history, the snapshot takes the new value, and — when no other write for
    /// this field is pending — the baseline advances to it.
    pub fn complete_write(
        &mut self,
        entry: &OutboxEntry,
        old_value: Option<&str>,
        reason: &str,
        run: RunId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let e = self.sql_errors();
        let tx = self.tx()?;
        tx.execute(
            "UPDATE outbox SET state = ?3, last_error = NULL, updated_at = ?2 WHERE id = ?1",
            params![entry.id, ts(now), OutboxState::Done],
        )
        .map_err(&e)?;
        tx.execute(
            INSERT_HISTORY_SQL,
            params![
                entry.asset_id,
                entry.field,
                entry.system,
                old_value,
                entry.new_value,
                run,
                reason,
                ts(now)
            ],
        )
        .map_err(&e)?;
        let new_value = entry.new_value.as_deref();
        set_field(&tx, entry.asset_id, entry.system, &entry.field, new_value).map_err(&e)?;
        let others: i64 = tx
            .query_row(
                &format!(
                    "SELECT count(*) FROM outbox WHERE asset_id = ?1 AND field = ?2 AND id <> ?3 AND state IN {}",
                    OutboxState::PENDING_SQL
                ),
                params![entry.asset_id, entry.field, entry.id],
                |r| r.get(0),
            )
            .map_err(&e)?;
        if others == 0 {
            tx.execute(
                PUT_BASELINE_SQL,
                params![entry.asset_id, entry.field, new_value, run, ts(now)],
            )
            .map_err(&e)?;
        }
        tx.commit().map_err(&e)
    }

    /// Writes to an asset: every unfinished one, then the latest finished ones, newest first,
    /// at most `limit` in all.
    pub fn asset_writes(&self, id: AssetId, limit: usize) -> Result<Vec<AssetWrite>, StoreError> {
        self.query_rows(
            &format!(
                "SELECT id, run_id, system, field, new_value, state, last_error, updated_at FROM outbox
                 WHERE asset_id = ?1
                 ORDER BY state IN {} DESC, id DESC LIMIT ?2",
                OutboxState::PENDING_SQL
            ),
            params![id, limit as i64],
            |r| {
                Ok(from_columns!(r, AssetWrite {
                    id, run_id, system, field, new_value, state, last_error, updated_at,
                }))
            },
        )
    }
}
