//! What the sync cycle keeps in the store: runs, the run lock and lockout, assets and their
//! pairing, snapshots, baselines, decisions and the review queue, the outbox, field history
//! and cursors. Values are stored in their canonical string form (`FieldValue::to_canonical_string`);
//! callers parse them back with the field's kind from the mapping.

use super::{Store, StoreError};
use crate::model::System;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{OptionalExtension, params};
use std::collections::{BTreeMap, HashMap, HashSet};

pub type AssetId = i64;
pub type RunId = i64;

/// The one timestamp shape the schema accepts.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_ts(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The snapshot columns [`snapshot_at`] reads, in its order.
const SNAPSHOT_COLUMNS: &str =
    "fields_json, system_modified_at, file_name, file_size, checksum_algorithm, checksum_value";
const SNAPSHOT_COLUMN_COUNT: usize = 6;

fn prefixed_snapshot_columns(table: &str) -> String {
    SNAPSHOT_COLUMNS
        .split(", ")
        .map(|c| format!("{table}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A snapshot from the [`SNAPSHOT_COLUMNS`] starting at column `at`.
fn snapshot_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Snapshot> {
    let fields: String = r.get(at)?;
    let algorithm: Option<String> = r.get(at + 4)?;
    let value: Option<String> = r.get(at + 5)?;
    Ok(Snapshot {
        // The schema's CHECK holds `fields_json` to a JSON object.
        fields: serde_json::from_str(&fields).unwrap_or_default(),
        modified_at: parse_ts(r.get(at + 1)?),
        file_name: r.get(at + 2)?,
        file_size: r.get::<_, Option<i64>>(at + 3)?.map(|v| v as u64),
        checksum: algorithm.zip(value),
    })
}

/// Which settled pairs a run may skip: those recorded under `digest` whose licence expiry
/// (if any) is after `expiring_after` (`YYYY-MM-DD`).
#[derive(Debug, Clone)]
pub struct SettledFilter {
    pub digest: String,
    pub expiring_after: String,
}

/// The SQL condition on `settled_pairs s` for a skippable row.
const SETTLED_EXPIRY: &str = "s.digest = :digest AND (s.license_expiry IS NULL OR substr(s.license_expiry, 1, 10) > :expiring_after)";

/// A paired asset with both systems' snapshots.
#[derive(Debug, Clone)]
pub struct StoredPair {
    pub asset: AssetRow,
    pub photoshelter: Snapshot,
    pub preservica: Snapshot,
}

/// A snapshot row as stored, for its history when a new read replaces it.
struct StoredSnapshot {
    fields: String,
    modified_at: Option<String>,
    captured_at: String,
    run_id: RunId,
}

/// A snapshot of one asset in one system, fields in canonical string form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub fields: BTreeMap<String, String>,
    pub modified_at: Option<DateTime<Utc>>,
    pub file_name: Option<String>,
    pub file_size: Option<u64>,
    /// (algorithm, lowercase hex).
    pub checksum: Option<(String, String)>,
}

/// An asset row: its ids in each system and how it was paired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetRow {
    pub id: AssetId,
    pub photoshelter_id: Option<String>,
    pub preservica_ref: Option<String>,
    pub paired_by: Option<String>,
}

/// The holder of the run lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub owner_pid: i64,
    pub host: String,
    pub acquired_at: String,
    pub expires_at: String,
}

/// Why runs are refused until an operator recovers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockout {
    pub reason: String,
    pub run_id: Option<RunId>,
    pub since: String,
}

/// A decision as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRow {
    pub asset_id: AssetId,
    pub field: String,
    pub photoshelter_value: Option<String>,
    pub preservica_value: Option<String>,
    /// `None`: no baseline yet; `Some(None)`: agreed on no value.
    pub baseline: Option<Option<String>>,
    pub outcome: &'static str,
    pub rule: String,
    pub reason: String,
    pub winning_value: Option<String>,
}

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
    pub state: String,
    pub attempts: i64,
}

/// A person's decision on a conflict, by (asset, field): (queue id, `photoshelter` |
/// `preservica` | `value`, the chosen value when it is `value`).
pub type Resolution = (i64, String, Option<String>);

/// One superseded value of a field: no value is lost, only superseded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub field: String,
    pub system: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub reason: String,
    pub recorded_at: String,
}

/// A run as `ferry report` and the web app list them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRow {
    pub id: RunId,
    pub kind: String,
    pub status: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub dry_run: bool,
    pub exit_code: Option<i64>,
    pub report_path: Option<String>,
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
}

fn system_of(s: &str) -> System {
    if s == "preservica" {
        System::Preservica
    } else {
        System::PhotoShelter
    }
}

/// The run lock's row, whoever holds it.
pub(super) const LOCK_HOLDER_SQL: &str =
    "SELECT owner_pid, host, acquired_at, expires_at FROM run_lock WHERE id = 1";

pub(super) fn lock_holder_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<LockHolder> {
    Ok(LockHolder {
        owner_pid: r.get(0)?,
        host: r.get(1)?,
        acquired_at: r.get(2)?,
        expires_at: r.get(3)?,
    })
}

impl Store {
    pub(super) fn tx(&mut self) -> Result<rusqlite::Transaction<'_>, StoreError> {
        let e = self.sql_errors();
        self.conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)
    }

    // ---- runs ----

    pub fn begin_run(
        &mut self,
        kind: &str,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> Result<RunId, StoreError> {
        self.conn
            .execute(
                "INSERT INTO runs (kind, started_at, dry_run, status) VALUES (?1, ?2, ?3, 'running')",
                params![kind, ts(now), dry_run as i64],
            )
            .map_err(|e| self.sql_error(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn finish_run(
        &mut self,
        run: RunId,
        status: &str,
        exit_code: u8,
        summary_json: Option<&str>,
        report_path: Option<&str>,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE runs SET status = ?2, exit_code = ?3, summary_json = ?4, report_path = ?5, error = ?6, finished_at = ?7 WHERE id = ?1",
                params![run, status, exit_code as i64, summary_json, report_path, error, ts(now)],
            )
            .map_err(|e| self.sql_error(e))?;
        Ok(())
    }

    /// The latest runs, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRow>, StoreError> {
        self.query_rows(
            "SELECT id, kind, status, started_at, finished_at, dry_run, exit_code, report_path FROM runs ORDER BY id DESC LIMIT ?1",
            [limit as i64],
            |r| {
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
            },
        )
    }

    /// Marks runs left `running` by a process that died as interrupted.
    pub fn close_interrupted_runs(&mut self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.conn
            .execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ?1, error = 'the process stopped before the run finished' WHERE status = 'running'",
                [ts(now)],
            )
            .map_err(|e| self.sql_error(e))
    }

    // ---- lock and lockout ----

    /// Takes the run lock, or says who holds it. An expired lock is taken over: its holder
    /// died or hung past its expiry.
    pub fn acquire_lock(
        &mut self,
        pid: i64,
        host: &str,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Result<Result<(), LockHolder>, StoreError> {
        let e = self.sql_errors();
        let tx = self.tx()?;
        let held: Option<LockHolder> = tx
            .query_row(LOCK_HOLDER_SQL, [], lock_holder_of)
            .optional()
            .map_err(&e)?;
        if let Some(h) = held
            && parse_ts(Some(h.expires_at.clone())).is_some_and(|e| e > now)
        {
            return Ok(Err(h));
        }
        tx.execute(
            "INSERT OR REPLACE INTO run_lock (id, owner_pid, host, acquired_at, expires_at) VALUES (1, ?1, ?2, ?3, ?4)",
            params![pid, host, ts(now), ts(now + ttl)],
        )
        .and_then(|_| tx.commit())
        .map_err(&e)?;
        Ok(Ok(()))
    }

    pub fn release_lock(&mut self, pid: i64) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM run_lock WHERE owner_pid = ?1", [pid])
            .map_err(|e| self.sql_error(e))?;
        Ok(())
    }

    pub fn lockout(&self) -> Result<Option<Lockout>, StoreError> {
        self.conn
            .query_row(
                "SELECT reason, run_id, since FROM lockout WHERE id = 1",
                [],
                |r| {
                    Ok(Lockout {
                        reason: r.get(0)?,
                        run_id: r.get(1)?,
                        since: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.sql_error(e))
    }

    pub fn set_lockout(
        &mut self,
        reason: &str,
        run: Option<RunId>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO lockout (id, reason, run_id, since) VALUES (1, ?1, ?2, ?3)",
                params![reason, run, ts(now)],
            )
            .map_err(|e| self.sql_error(e))?;
        Ok(())
    }

    pub fn clear_lockout(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM lockout", [])
            .map_err(|e| self.sql_error(e))?;
        Ok(())
    }

    // ---- assets and pairing ----

    pub fn assets(&self) -> Result<Vec<AssetRow>, StoreError> {
        self.query_rows(
            "SELECT id, photoshelter_id, preservica_ref, paired_by FROM assets ORDER BY id",
            [],
            |r| {
                Ok(AssetRow {
                    id: r.get(0)?,
                    photoshelter_id: r.get(1)?,
                    preservica_ref: r.get(2)?,
                    paired_by: r.get(3)?,
                })
            },
        )
    }

    /// The asset for a system id, created (unpaired) when ferry has not seen it before.
    pub fn ensure_assets(
        &mut self,
        system: System,
        ids: &[String],
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, AssetId>, StoreError> {
        let column = match system {
            System::PhotoShelter => "photoshelter_id",
            System::Preservica => "preservica_ref",
        };
        let e = self.sql_errors();
        let tx = self.tx()?;
        let mut out = HashMap::with_capacity(ids.len());
        {
            let mut find = tx
                .prepare(&format!("SELECT id FROM assets WHERE {column} = ?1"))
                .map_err(&e)?;
            let mut insert = tx
                .prepare(&format!(
                    "INSERT INTO assets ({column}, created_at) VALUES (?1, ?2)"
                ))
                .map_err(&e)?;
            for id in ids {
                let found: Option<i64> =
                    find.query_row([id], |r| r.get(0)).optional().map_err(&e)?;
                let asset = match found {
                    Some(a) => a,
                    None => {
                        insert.execute(params![id, ts(now)]).map_err(&e)?;
                        tx.last_insert_rowid()
                    }
                };
                out.insert(id.clone(), asset);
            }
        }
        tx.commit().map_err(&e)?;
        Ok(out)
    }

    /// Joins the PhotoShelter-only asset `ps` and the Preservica-only asset `pv` into one pair,
    /// keeping `ps`'s row and moving `pv`'s snapshots to it.
    pub fn pair(
        &mut self,
        ps: AssetId,
        pv: AssetId,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<AssetId, StoreError> {
        let e = self.sql_errors();
        let tx = self.tx()?;
        let pv_ref: String = tx
            .query_row(
                "SELECT preservica_ref FROM assets WHERE id = ?1 AND photoshelter_id IS NULL",
                [pv],
                |r| r.get(0),
            )
            .map_err(&e)?;
        tx.execute(
            "UPDATE snapshots SET asset_id = ?1 WHERE asset_id = ?2",
            [ps, pv],
        )
        .map_err(&e)?;
        tx.execute(
            "UPDATE snapshot_history SET asset_id = ?1 WHERE asset_id = ?2",
            [ps, pv],
        )
        .map_err(&e)?;
        tx.execute(
            "UPDATE decisions SET asset_id = ?1 WHERE asset_id = ?2",
            [ps, pv],
        )
        .map_err(&e)?;
        tx.execute(
            "UPDATE field_history SET asset_id = ?1 WHERE asset_id = ?2",
            [ps, pv],
        )
        .map_err(&e)?;
        tx.execute("DELETE FROM assets WHERE id = ?1", [pv])
            .map_err(&e)?;
        tx.execute(
            "UPDATE assets SET preservica_ref = ?2, paired_by = ?3, paired_at = ?4 WHERE id = ?1",
            params![ps, pv_ref, by, ts(now)],
        )
        .map_err(&e)?;
        tx.commit().map_err(&e)?;
        Ok(ps)
    }

    /// Records pairs ferry has not seen either side of yet, in one transaction: for importing
    /// pairs known elsewhere (and for benchmarks that start from a paired library). Returns
    /// the new asset ids in order.
    pub fn insert_pairs(
        &mut self,
        pairs: &[(String, String)],
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<AssetId>, StoreError> {
        let e = self.sql_errors();
        let tx = self.tx()?;
        let mut ids = Vec::with_capacity(pairs.len());
        {
            let mut put = tx
                .prepare(
                    "INSERT INTO assets (photoshelter_id, preservica_ref, paired_by, paired_at, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?4)",
                )
                .map_err(&e)?;
            let at = ts(now);
            for (ps, pv) in pairs {
                put.execute(params![ps, pv, by, at]).map_err(&e)?;
                ids.push(tx.last_insert_rowid());
            }
        }
        tx.commit().map_err(&e)?;
        Ok(ids)
    }

    /// Records a pair suggestion (file name and date match) for a person to confirm.
    pub fn suggest_pair(
        &mut self,
        ps_id: &str,
        pv_ref: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO pair_suggestions (photoshelter_id, preservica_ref, reason, status, created_at) VALUES (?1, ?2, ?3, 'open', ?4)",
                params![ps_id, pv_ref, reason, ts(now)],
            )
            .map_err(|e| self.sql_error(e))?;
        Ok(())
    }

    /// Pair suggestions: (id, PhotoShelter id, Preservica ref, reason, status), open first.
    #[allow(clippy::type_complexity)]
    pub fn pair_suggestions(
        &self,
    ) -> Result<Vec<(i64, String, String, String, String)>, StoreError> {
        self.query_rows("SELECT id, photoshelter_id, preservica_ref, reason, status FROM pair_suggestions ORDER BY status <> 'open', id", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
    }

    /// A person confirms a suggested pair: the two assets become one pair. `Ok(false)` when
    /// the suggestion is not open or either side is already paired.
    pub fn accept_suggestion(&mut self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let row: Option<(String, String)> = self
            .conn
            .query_row("SELECT photoshelter_id, preservica_ref FROM pair_suggestions WHERE id = ?1 AND status = 'open'", [id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(|e| self.sql_error(e))?;
        let Some((ps_id, pv_ref)) = row else {
            return Ok(false);
        };
        let find = |col: &str, v: &str| -> Result<Option<i64>, StoreError> {
            self.conn
                .query_row(
                    &format!("SELECT id FROM assets WHERE {col} = ?1 AND paired_by IS NULL"),
                    [v],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| self.sql_error(e))
        };
        let (Some(ps), Some(pv)) = (
            find("photoshelter_id", &ps_id)?,
            find("preservica_ref", &pv_ref)?,
        ) else {
            return Ok(false);
        };
        self.pair(ps, pv, "manual", now)?;
        self.conn
            .execute(
                "UPDATE pair_suggestions SET status = 'accepted', decided_at = ?2 WHERE id = ?1",
                params![id, ts(now)],
            )
            .map_err(|e| self.sql_error(e))?;
        Ok(true)
    }

    // ---- snapshots ----

    /// Stores the current snapshots of `system` in one transaction; a changed snapshot's
    /// previous version moves to history.
    pub fn put_snapshots(
        &mut self,
        run: RunId,
        system: System,
        items: &[(AssetId, Snapshot)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let e = self.sql_errors();
        let tx = self.tx()?;
        {
            // A snapshot read again unchanged keeps its row (`captured_at` is when this
            // version was first read): a nightly re-read of a million unchanged assets writes
            // nothing. SQLite compares, so an unchanged row is never copied out.
            let mut unchanged = tx
                .prepare(
                    "SELECT 1 FROM snapshots WHERE asset_id = ?1 AND system = ?2 AND fields_json = ?3
                       AND system_modified_at IS ?4 AND file_name IS ?5 AND file_size IS ?6
                       AND checksum_algorithm IS ?7 AND checksum_value IS ?8",
                )
                .map_err(&e)?;
            let mut old = tx
                .prepare("SELECT fields_json, system_modified_at, captured_at, run_id FROM snapshots WHERE asset_id = ?1 AND system = ?2")
                .map_err(&e)?;
            let mut hist = tx
                .prepare("INSERT INTO snapshot_history (asset_id, system, run_id, fields_json, system_modified_at, captured_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .map_err(&e)?;
            let mut put = tx
                .prepare(
                    "INSERT OR REPLACE INTO snapshots (asset_id, system, fields_json, system_modified_at, file_name, file_size, checksum_algorithm, checksum_value, run_id, captured_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(&e)?;
            let captured_at = ts(now);
            for (asset, s) in items {
                let fields = serde_json::to_string(&s.fields).expect("a map of strings serialises");
                let modified_at = s.modified_at.map(ts);
                let file_size = s.file_size.map(|v| v as i64);
                let checksum = s
                    .checksum
                    .as_ref()
                    .map(|c| (c.0.to_lowercase(), c.1.to_lowercase()));
                let (algorithm, value) = checksum.unzip();
                if unchanged
                    .exists(params![
                        asset,
                        system.name(),
                        fields,
                        modified_at,
                        s.file_name,
                        file_size,
                        algorithm,
                        value
                    ])
                    .map_err(&e)?
                {
                    continue;
                }
                let previous = old
                    .query_row(params![asset, system.name()], |r| {
                        Ok(StoredSnapshot {
                            fields: r.get(0)?,
                            modified_at: r.get(1)?,
                            captured_at: r.get(2)?,
                            run_id: r.get(3)?,
                        })
                    })
                    .optional()
                    .map_err(&e)?;
                if let Some(p) = previous
                    && p.fields != fields
                {
                    hist.execute(params![
                        asset,
                        system.name(),
                        p.run_id,
                        p.fields,
                        p.modified_at,
                        p.captured_at
                    ])
                    .map_err(&e)?;
                }
                put.execute(params![
                    asset,
                    system.name(),
                    fields,
                    modified_at,
                    s.file_name,
                    file_size,
                    algorithm,
                    value,
                    run,
                    captured_at
                ])
                .map_err(&e)?;
            }
        }
        tx.commit().map_err(&e)?;
        Ok(())
    }

    /// The current snapshots of `system` for the given assets (those it has).
    pub fn snapshots_of(
        &self,
        system: System,
        assets: impl IntoIterator<Item = AssetId>,
    ) -> Result<HashMap<AssetId, Snapshot>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE asset_id = ?1 AND system = ?2"
            ))
            .map_err(|e| self.sql_error(e))?;
        let mut out = HashMap::new();
        for asset in assets {
            if let Some(s) = st
                .query_row(params![asset, system.name()], |r| snapshot_at(r, 0))
                .optional()
                .map_err(|e| self.sql_error(e))?
            {
                out.insert(asset, s);
            }
        }
        Ok(out)
    }

    /// How many assets `system` has a snapshot of.
    pub fn snapshot_count(&self, system: System) -> Result<u64, StoreError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM snapshots WHERE system = ?1",
                [system.name()],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| self.sql_error(e))
    }

    /// Up to `limit` pairs with a snapshot in both systems, in asset id order, after asset
    /// `after`: the page the engine reconciles next, so that a run holds one page of the
    /// library in memory rather than all of it. With `settled`, pairs [`Store::settled`]
    /// counts are left out.
    pub fn pairs_after(
        &self,
        after: AssetId,
        limit: usize,
        settled: Option<&SettledFilter>,
    ) -> Result<Vec<StoredPair>, StoreError> {
        let (digest, expiring_after) = settled
            .map(|s| (s.digest.as_str(), s.expiring_after.as_str()))
            .unwrap_or(("", ""));
        self.query_rows(
            &format!(
                "SELECT a.id, a.photoshelter_id, a.preservica_ref, a.paired_by, {ps}, {pv}
                 FROM assets a
                 JOIN snapshots p ON p.asset_id = a.id AND p.system = 'photoshelter'
                 JOIN snapshots v ON v.asset_id = a.id AND v.system = 'preservica'
                 WHERE a.paired_by IS NOT NULL AND a.id > :after
                   AND NOT EXISTS (SELECT 1 FROM settled_pairs s WHERE s.asset_id = a.id
                       AND {SETTLED_EXPIRY})
                 ORDER BY a.id LIMIT :limit",
                ps = prefixed_snapshot_columns("p"),
                pv = prefixed_snapshot_columns("v"),
            ),
            rusqlite::named_params! {
                ":after": after,
                ":limit": limit as i64,
                ":digest": digest,
                ":expiring_after": expiring_after,
            },
            |r| {
                Ok(StoredPair {
                    asset: AssetRow {
                        id: r.get(0)?,
                        photoshelter_id: r.get(1)?,
                        preservica_ref: r.get(2)?,
                        paired_by: r.get(3)?,
                    },
                    photoshelter: snapshot_at(r, 4)?,
                    preservica: snapshot_at(r, 4 + SNAPSHOT_COLUMN_COUNT)?,
                })
            },
        )
    }

    /// How many pairs are settled under `filter`: found equal and agreed by an earlier run,
    /// with nothing they depend on changed since and no licence expiring within the window.
    pub fn settled(&self, filter: &SettledFilter) -> Result<u64, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT COUNT(*) FROM settled_pairs s WHERE {SETTLED_EXPIRY}"),
                rusqlite::named_params! {
                    ":digest": filter.digest,
                    ":expiring_after": filter.expiring_after,
                },
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| self.sql_error(e))
    }

    /// Records pairs a run found settled: (asset, agreed licence expiry).
    pub fn mark_settled(
        &mut self,
        run: RunId,
        digest: &str,
        pairs: &[(AssetId, Option<String>)],
    ) -> Result<(), StoreError> {
        let e = self.sql_errors();
        let tx = self.tx()?;
        {
            let mut put = tx
                .prepare("INSERT OR REPLACE INTO settled_pairs (asset_id, run_id, digest, license_expiry) VALUES (?1, ?2, ?3, ?4)")
                .map_err(&e)?;
            for (asset, expiry) in pairs {
                put.execute(params![asset, run, digest, expiry])
                    .map_err(&e)?;
            }
        }
        tx.commit().map_err(&e)
    }

    /// The baselines of `assets` (in ascending order), in asset order.
    pub fn baselines_for(
        &self,
        assets: &[AssetId],
    ) -> Result<Vec<(AssetId, String, Option<String>)>, StoreError> {
        let (Some(first), Some(last)) = (assets.first(), assets.last()) else {
            return Ok(Vec::new());
        };
        // A dense run of ids is one range scan; scattered ids (a nightly run's few changed
        // pairs) are looked up one by one rather than scanning everything between them.
        if ((last - first) as usize) < assets.len() * 4 {
            let wanted: HashSet<AssetId> = assets.iter().copied().collect();
            let rows: Vec<(AssetId, String, Option<String>)> = self.query_rows(
                "SELECT asset_id, field, value FROM baselines WHERE asset_id BETWEEN ?1 AND ?2 ORDER BY asset_id",
                params![first, last],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            return Ok(rows.into_iter().filter(|r| wanted.contains(&r.0)).collect());
        }
        let mut out = Vec::new();
        for asset in assets {
            let rows: Vec<(AssetId, String, Option<String>)> = self.query_rows(
                "SELECT asset_id, field, value FROM baselines WHERE asset_id = ?1",
                [asset],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// Updates one field of a stored snapshot after ferry wrote it, so the next run compares
    /// against what the system now holds.
    pub fn set_snapshot_field(
        &mut self,
        asset: AssetId,
        system: System,
        field: &str,
        value: Option<&str>,
    ) -> Result<(), StoreError> {
        let current: Option<String> = self
            .conn
            .query_row(
                "SELECT fields_json FROM snapshots WHERE asset_id = ?1 AND system = ?2",
                params![asset, system.name()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql_error(e))?;
        let Some(current) = current else {
            return Ok(());
        };
        let mut fields: BTreeMap<String, String> =
            serde_json::from_str(&current).unwrap_or_default();
        match value {
            Some(v) => fields.insert(field.to_string(), v.to_string()),
            None => fields.remove(field),
        };
        self.conn
            .execute(
                "UPDATE snapshots SET fields_json = ?3 WHERE asset_id = ?1 AND system = ?2",
                params![
                    asset,
                    system.name(),
                    serde_json::to_string(&fields).expect("serialises")
                ],
            )
            .map_err(|e| self.sql_error(e))?;
        Ok(())
    }

    // ---- baselines ----

    /// Every baseline: (asset, field) → agreed value (`None`: agreed on no value).
    pub fn baselines(&self) -> Result<HashMap<(AssetId, String), Option<String>>, StoreError> {
        self.query_rows("SELECT asset_id, field, value FROM baselines", [], |r| {
            Ok(((r.get(0)?, r.get(1)?), r.get(2)?))
        })
    }

    /// Sets baselines for fields found equal in both systems (invariant 3: only agreed or
    /// verified values become a baseline).
    pub fn set_baselines(
        &mut self,
        run: RunId,
        items: &[(AssetId, String, Option<String>)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let e = self.sql_errors();
        let tx = self.tx()?;
        {
            let mut put = tx
                .prepare("INSERT OR REPLACE INTO baselines (asset_id, field, value, run_id, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(&e)?;
            for (asset, field, value) in items {
                put.execute(params![asset, field, value, run, ts(now)])
                    .map_err(&e)?;
            }
        }
        tx.commit().map_err(&e)
    }

    // ---- decisions and review ----

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
                    d.baseline.is_some() as i64,
                    d.baseline.clone().flatten(),
                    d.outcome,
                    d.rule,
                    reason,
                    d.winning_value,
                    ts(now)
                ])
                .map_err(&e)?;
                let id = tx.last_insert_rowid();
                if d.outcome == "queued_for_review" {
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

    /// Conflicts for people: open ones, or all.
    pub fn review_items(&self, open_only: bool) -> Result<Vec<ReviewItem>, StoreError> {
        let sql = format!(
            "SELECT q.id, q.asset_id, a.photoshelter_id, a.preservica_ref, q.field, d.photoshelter_value, d.preservica_value, d.reason, q.status, q.resolution, q.resolution_value
             FROM review_queue q JOIN decisions d ON d.id = q.decision_id JOIN assets a ON a.id = q.asset_id {} ORDER BY q.id",
            if open_only { "WHERE q.status = 'open'" } else { "" }
        );
        self.query_rows(&sql, [], |r| {
            Ok(ReviewItem {
                id: r.get(0)?,
                asset_id: r.get(1)?,
                photoshelter_id: r.get(2)?,
                preservica_ref: r.get(3)?,
                field: r.get(4)?,
                photoshelter_value: r.get(5)?,
                preservica_value: r.get(6)?,
                reason: r.get(7)?,
                status: r.get(8)?,
                resolution: r.get(9)?,
                resolution_value: r.get(10)?,
            })
        })
    }

    /// Records a person's decision on a conflict; the next sync carries it out.
    pub fn resolve_review(
        &mut self,
        id: i64,
        resolution: &str,
        value: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE review_queue SET status = 'resolved', resolution = ?2, resolution_value = ?3, resolved_at = ?4 WHERE id = ?1 AND status = 'open'",
                params![id, resolution, value, ts(now)],
            )
            .map_err(|e| self.sql_error(e))?;
        Ok(n == 1)
    }

    /// Resolved conflicts whose value has not been carried out yet.
    pub fn resolutions(&self) -> Result<HashMap<(AssetId, String), Resolution>, StoreError> {
        // A side taken comes with the value the person saw for it (used when the systems
        // agree by the time the resolution is carried out; otherwise the side's current one).
        self.query_rows("SELECT q.id, q.asset_id, q.field, q.resolution,
                CASE q.resolution WHEN 'photoshelter' THEN d.photoshelter_value WHEN 'preservica' THEN d.preservica_value ELSE q.resolution_value END
             FROM review_queue q JOIN decisions d ON d.id = q.decision_id
             WHERE q.status = 'resolved' AND q.resolution IS NOT NULL AND q.resolved_by IS NULL", [], |r| {
            Ok(((r.get(1)?, r.get(2)?), (r.get(0)?, r.get(3)?, r.get(4)?)))
        })
    }

    /// Marks a resolution as carried out by `run`.
    pub fn resolution_applied(&mut self, id: i64, run: RunId) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE review_queue SET resolved_by = ?2 WHERE id = ?1",
                params![id, format!("run {run}")],
            )
            .map_err(|e| self.sql_error(e))?;
        Ok(())
    }

    // ---- outbox ----

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
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'planned', ?8, ?8)",
                )
                .map_err(&e)?;
            for i in items {
                n += put
                    .execute(params![
                        run,
                        i.asset_id,
                        i.decision_id,
                        i.system.name(),
                        i.field,
                        i.expected_value,
                        i.new_value,
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
        self.query_rows("SELECT id, run_id, asset_id, decision_id, system, field, expected_value, new_value, state, attempts FROM outbox WHERE state IN ('planned', 'written', 'verified') ORDER BY id", [], |r| {
            Ok(OutboxEntry {
                id: r.get(0)?,
                run_id: r.get(1)?,
                asset_id: r.get(2)?,
                decision_id: r.get(3)?,
                system: system_of(&r.get::<_, String>(4)?),
                field: r.get(5)?,
                expected_value: r.get(6)?,
                new_value: r.get(7)?,
                state: r.get(8)?,
                attempts: r.get(9)?,
            })
        })
    }

    /// Moves a write to `state` (`written`, `stale`, `failed`), counting attempts.
    pub fn set_outbox_state(
        &mut self,
        id: i64,
        state: &str,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET state = ?2, last_error = ?3, updated_at = ?4, attempts = attempts + (?2 IN ('written', 'failed')) WHERE id = ?1",
                params![id, state, error, ts(now)],
            )
            .map_err(|e| self.sql_error(e))?;
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
            "UPDATE outbox SET state = 'done', last_error = NULL, updated_at = ?2 WHERE id = ?1",
            params![entry.id, ts(now)],
        )
        .map_err(&e)?;
        tx.execute(
            "INSERT INTO field_history (asset_id, field, system, old_value, new_value, run_id, reason, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![entry.asset_id, entry.field, entry.system.name(), old_value, entry.new_value, run, reason, ts(now)],
        )
        .map_err(&e)?;
        let current: Option<String> = tx
            .query_row(
                "SELECT fields_json FROM snapshots WHERE asset_id = ?1 AND system = ?2",
                params![entry.asset_id, entry.system.name()],
                |r| r.get(0),
            )
            .optional()
            .map_err(&e)?;
        if let Some(current) = current {
            let mut fields: BTreeMap<String, String> =
                serde_json::from_str(&current).unwrap_or_default();
            match &entry.new_value {
                Some(v) => fields.insert(entry.field.clone(), v.clone()),
                None => fields.remove(&entry.field),
            };
            tx.execute(
                "UPDATE snapshots SET fields_json = ?3 WHERE asset_id = ?1 AND system = ?2",
                params![
                    entry.asset_id,
                    entry.system.name(),
                    serde_json::to_string(&fields).expect("serialises")
                ],
            )
            .map_err(&e)?;
        }
        let others: i64 = tx
            .query_row(
                "SELECT count(*) FROM outbox WHERE asset_id = ?1 AND field = ?2 AND id <> ?3 AND state IN ('planned', 'written', 'verified')",
                params![entry.asset_id, entry.field, entry.id],
                |r| r.get(0),
            )
            .map_err(&e)?;
        if others == 0 {
            tx.execute(
                "INSERT OR REPLACE INTO baselines (asset_id, field, value, run_id, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![entry.asset_id, entry.field, entry.new_value, run, ts(now)],
            )
            .map_err(&e)?;
        }
        tx.commit().map_err(&e)
    }

    /// Field history of an asset, oldest first.
    pub fn field_history(&self, asset: AssetId) -> Result<Vec<HistoryEntry>, StoreError> {
        self.query_rows("SELECT field, system, old_value, new_value, reason, recorded_at FROM field_history WHERE asset_id = ?1 ORDER BY id", [asset], |r| {
            Ok(HistoryEntry {
                field: r.get(0)?,
                system: r.get(1)?,
                old_value: r.get(2)?,
                new_value: r.get(3)?,
                reason: r.get(4)?,
                recorded_at: r.get(5)?,
            })
        })
    }

    // ---- cursors ----

    pub fn cursor(&self, system: System) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT value FROM cursors WHERE system = ?1",
                [system.name()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql_error(e))
    }

    pub fn set_cursor(
        &mut self,
        system: System,
        value: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO cursors (system, value, updated_at) VALUES (?1, ?2, ?3)",
                params![system.name(), value, ts(now)],
            )
            .map_err(|e| self.sql_error(e))?;
        Ok(())
    }

    /// A private in-memory copy of the whole database: a dry run works on it, so it runs the
    /// very code of a real run and still leaves no trace in the real store.
    pub fn copy_in_memory(&self) -> Result<Store, StoreError> {
        let mut copy = Store::open_in_memory()?;
        {
            let backup = rusqlite::backup::Backup::new(&self.conn, &mut copy.conn)
                .map_err(|e| self.sql_error(e))?;
            backup
                .run_to_completion(1024, std::time::Duration::ZERO, None)
                .map_err(|e| self.sql_error(e))?;
        }
        copy.conn
            .pragma_update(None, "foreign_keys", true)
            .map_err(|e| self.sql_error(e))?;
        Ok(copy)
    }

    /// Runs `PRAGMA integrity_check`; `Ok(())` when the database is sound.
    pub fn integrity_check(&self) -> Result<Result<(), String>, StoreError> {
        let r: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| self.sql_error(e))?;
        Ok(if r == "ok" { Ok(()) } else { Err(r) })
    }
}
