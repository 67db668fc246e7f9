//! Transfer records: one row per asset moving between the systems (an archive or a
//! republish), with the step it reached. Each step is committed before the next begins, so a
//! crash resumes at the step that did not finish, and the unique (kind, source, container)
//! key means a retry continues the same row instead of sending the asset twice.

use super::{RunId, Store, StoreError, ts};
use crate::model::System;
use chrono::{DateTime, Utc};
use rusqlite::params;

stored_by_name! {
    /// Which way a transfer goes (`transfers.kind`).
    pub enum TransferKind {
        /// PhotoShelter → Preservica.
        Archive = "archive",
        /// Preservica → PhotoShelter.
        Republish = "republish",
    }
}

impl TransferKind {
    fn systems(self) -> (System, System) {
        match self {
            TransferKind::Archive => (System::PhotoShelter, System::Preservica),
            TransferKind::Republish => (System::Preservica, System::PhotoShelter),
        }
    }
}

stored_by_name! {
    /// Where a transfer stands (`transfers.state`).
    pub enum TransferState {
        Planned = "planned",
        InProgress = "in_progress",
        Done = "done",
        Failed = "failed",
    }
}

/// A completed step of a transfer, as [`Store::record_transfer_step`] records it.
#[derive(Debug, Clone, Copy)]
pub struct StepRecord<'a> {
    pub state: TransferState,
    /// The step's name.
    pub step: &'a str,
    /// The id the target system gave the new asset, once known (`None` keeps the one stored).
    pub target_id: Option<&'a str>,
    pub detail: &'a serde_json::Value,
    pub error: Option<&'a str>,
}

/// One transfer as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TransferRecord {
    pub id: i64,
    /// The run that last worked on it.
    pub run_id: RunId,
    pub kind: TransferKind,
    pub source_id: String,
    pub target_container: String,
    /// The id the target system gave the new asset.
    pub target_id: Option<String>,
    pub state: TransferState,
    /// The last step completed (`None` before the first).
    pub step: Option<String>,
    /// What the steps found out (staged file, checksums, names, package), as JSON.
    pub detail: serde_json::Value,
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str = "id, run_id, kind, source_id, target_container, target_id, state, step, \
                       error, created_at, updated_at, detail_json";

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<TransferRecord> {
    let detail: Option<String> = r.get(11)?;
    Ok(from_columns!(r, TransferRecord {
        id, run_id, kind, source_id, target_container, target_id, state, step, error,
        created_at, updated_at,
    } with {
        detail: detail
            .and_then(|d| serde_json::from_str(&d).ok())
            .unwrap_or(serde_json::Value::Null),
    }))
}

impl Store {
    /// The transfer of `source_id` into `target_container`, created (planned) if there is
    /// none; an existing one is claimed by `run` and returned as it stands, so its steps
    /// resume where they stopped.
    pub fn plan_transfer(
        &mut self,
        run: RunId,
        kind: TransferKind,
        source_id: &str,
        target_container: &str,
        now: DateTime<Utc>,
    ) -> Result<TransferRecord, StoreError> {
        let (from, to) = kind.systems();
        let e = self.sql_errors();
        let tx = self.tx()?;
        tx.execute(
            "INSERT INTO transfers (run_id, kind, source_system, source_id, target_system,
                                    target_container, state, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'planned', ?7, ?7)
             ON CONFLICT (kind, source_id, target_container) DO UPDATE
                SET run_id = excluded.run_id
                WHERE transfers.state <> 'done'",
            params![run, kind, from, source_id, to, target_container, ts(now)],
        )
        .map_err(&e)?;
        let row = tx
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM transfers
                     WHERE kind = ?1 AND source_id = ?2 AND target_container = ?3"
                ),
                params![kind, source_id, target_container],
                record,
            )
            .map_err(&e)?;
        tx.commit().map_err(&e)?;
        Ok(row)
    }

    /// The transfer of `source_id` into `target_container`, if there is one.
    pub fn transfer_for(
        &self,
        kind: TransferKind,
        source_id: &str,
        target_container: &str,
    ) -> Result<Option<TransferRecord>, StoreError> {
        self.query_opt(
            &format!(
                "SELECT {COLUMNS} FROM transfers
                 WHERE kind = ?1 AND source_id = ?2 AND target_container = ?3"
            ),
            params![kind, source_id, target_container],
            record,
        )
    }

    /// Every transfer of `kind` from `source_id`, into any container.
    pub fn transfers_from(
        &self,
        kind: TransferKind,
        source_id: &str,
    ) -> Result<Vec<TransferRecord>, StoreError> {
        self.query_rows(
            &format!(
                "SELECT {COLUMNS} FROM transfers WHERE kind = ?1 AND source_id = ?2 ORDER BY id"
            ),
            params![kind, source_id],
            record,
        )
    }

    /// Records a completed step: the new state, step name, detail and (once known) the
    /// target id, in one statement, so a crash leaves either the old step or the new one.
    pub fn record_transfer_step(
        &mut self,
        id: i64,
        step: &StepRecord<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let StepRecord {
            state,
            step,
            target_id,
            detail,
            error,
        } = *step;
        self.execute(
            "UPDATE transfers
                SET state = ?2, step = ?3, target_id = COALESCE(?4, target_id),
                    detail_json = ?5, error = ?6, updated_at = ?7
              WHERE id = ?1",
            params![
                id,
                state,
                step,
                target_id,
                detail.to_string(),
                error,
                ts(now)
            ],
        )?;
        Ok(())
    }

    /// Records that the transfer `id` was chosen by the search `query`, so a later run with
    /// the same query into the same gallery selects the same assets.
    pub fn mark_selected_by(&mut self, id: i64, query: &str) -> Result<(), StoreError> {
        self.execute(
            "UPDATE transfers
                SET detail_json = json_set(COALESCE(detail_json, '{}'), '$.query', ?2)
              WHERE id = ?1",
            params![id, query],
        )?;
        Ok(())
    }

    /// The archive assets an earlier republish by `query` into `gallery` selected, in order.
    pub fn republish_selection(
        &self,
        gallery: &str,
        query: &str,
    ) -> Result<Vec<String>, StoreError> {
        self.query_rows(
            "SELECT source_id FROM transfers
              WHERE kind = 'republish' AND target_container = ?1
                AND json_extract(detail_json, '$.query') = ?2
              ORDER BY id",
            params![gallery, query],
            |r| r.get::<_, String>(0),
        )
    }

    /// The transfers a run worked on, in the order they were planned.
    pub fn transfers_of_run(&self, run: RunId) -> Result<Vec<TransferRecord>, StoreError> {
        self.query_rows(
            &format!("SELECT {COLUMNS} FROM transfers WHERE run_id = ?1 ORDER BY id"),
            [run],
            record,
        )
    }

    /// Whether some transfer created the PhotoShelter media `media_id`.
    pub fn photoshelter_id_of_any_transfer(&self, media_id: &str) -> Result<bool, StoreError> {
        self.query_one(
            "SELECT EXISTS (SELECT 1 FROM transfers WHERE kind = 'republish' AND target_id = ?1)",
            [media_id],
            |r| r.get::<_, bool>(0),
        )
    }

    /// The latest transfers, newest first.
    pub fn recent_transfers(&self, limit: usize) -> Result<Vec<TransferRecord>, StoreError> {
        self.query_rows(
            &format!("SELECT {COLUMNS} FROM transfers ORDER BY updated_at DESC, id DESC LIMIT ?1"),
            [i64::try_from(limit).unwrap_or(i64::MAX)],
            record,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RunKind;

    #[test]
    fn a_planned_transfer_is_resumed_not_duplicated() {
        let mut store = Store::open_in_memory().unwrap();
        let now = Utc::now();
        let run1 = store.begin_run(RunKind::Archive, false, now).unwrap();
        let t = store
            .plan_transfer(run1, TransferKind::Archive, "I0000abc", "folder-1", now)
            .unwrap();
        assert_eq!(t.state, TransferState::Planned);
        let detail = serde_json::json!({"sha256": "00"});
        store
            .record_transfer_step(
                t.id,
                &StepRecord {
                    state: TransferState::InProgress,
                    step: "downloaded",
                    target_id: None,
                    detail: &detail,
                    error: None,
                },
                now,
            )
            .unwrap();
        let run2 = store.begin_run(RunKind::Archive, false, now).unwrap();
        let again = store
            .plan_transfer(run2, TransferKind::Archive, "I0000abc", "folder-1", now)
            .unwrap();
        assert_eq!(again.id, t.id);
        assert_eq!(again.run_id, run2);
        assert_eq!(again.step.as_deref(), Some("downloaded"));
        assert_eq!(again.detail, detail);
        // Done transfers keep the run that finished them.
        store
            .record_transfer_step(
                t.id,
                &StepRecord {
                    state: TransferState::Done,
                    step: "done",
                    target_id: Some("ref-1"),
                    detail: &detail,
                    error: None,
                },
                now,
            )
            .unwrap();
        let run3 = store.begin_run(RunKind::Archive, false, now).unwrap();
        let done = store
            .plan_transfer(run3, TransferKind::Archive, "I0000abc", "folder-1", now)
            .unwrap();
        assert_eq!(done.run_id, run2);
        assert_eq!(done.target_id.as_deref(), Some("ref-1"));
        assert_eq!(store.transfers_of_run(run2).unwrap().len(), 1);
        assert!(store.transfers_of_run(run3).unwrap().is_empty());
    }
}
