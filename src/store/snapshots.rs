//! Snapshots and baselines: `snapshots` (the latest read of each asset in each system, what
//! reconcile compares), `snapshot_history` (the versions a new read replaced) and `baselines`
//! (the value both systems last agreed on, per field). Values are stored in their canonical
//! string form (`FieldValue::to_canonical_string`); callers parse them back with the field's
//! kind from the mapping.

use super::{AssetId, IDS_PER_STATEMENT, RunId, Store, StoreError, in_list, parse_ts, ts};
use crate::model::System;
use chrono::{DateTime, Utc};
use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use std::collections::{BTreeMap, HashMap, HashSet};

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

/// The current snapshot of an asset in one system, with when and by which run it was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotDetail {
    pub snapshot: Snapshot,
    pub run_id: RunId,
    pub captured_at: String,
}

/// A baseline as stored: (asset, field, agreed value; `None`: agreed on no value).
pub type BaselineRow = (AssetId, String, Option<String>);

/// The snapshot columns [`snapshot_at`] reads, in its order.
const SNAPSHOT_COLUMNS: &str =
    "fields_json, system_modified_at, file_name, file_size, checksum_algorithm, checksum_value";
pub(super) const SNAPSHOT_COLUMN_COUNT: usize = 6;

/// [`SNAPSHOT_COLUMNS`] of the table (or alias) `table`.
pub(super) fn prefixed_snapshot_columns(table: &str) -> String {
    SNAPSHOT_COLUMNS
        .split(", ")
        .map(|c| format!("{table}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A snapshot from the [`SNAPSHOT_COLUMNS`] starting at column `at`.
pub(super) fn snapshot_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Snapshot> {
    let fields: String = r.get(at)?;
    let algorithm: Option<String> = r.get(at + 4)?;
    let value: Option<String> = r.get(at + 5)?;
    Ok(Snapshot {
        // The schema's CHECK holds `fields_json` to a JSON object.
        fields: serde_json::from_str(&fields).unwrap_or_default(),
        modified_at: parse_ts(r.get(at + 1)?),
        file_name: r.get(at + 2)?,
        // The schema's CHECK holds `file_size` to zero or more.
        file_size: r.get::<_, Option<i64>>(at + 3)?.map(|v| v.max(0) as u64),
        checksum: algorithm.zip(value),
    })
}

/// Sets (or, with `None`, removes) one field of the stored snapshot of `asset` in `system`, on
/// `conn` (the store's connection or a transaction of it); nothing when there is none.
pub(super) fn set_field(
    conn: &Connection,
    asset: AssetId,
    system: System,
    field: &str,
    value: Option<&str>,
) -> rusqlite::Result<()> {
    let current: Option<String> = conn
        .query_row(
            "SELECT fields_json FROM snapshots WHERE asset_id = ?1 AND system = ?2",
            params![asset, system],
            |r| r.get(0),
        )
        .optional()?;
    let Some(current) = current else {
        return Ok(());
    };
    let mut fields: BTreeMap<String, String> = serde_json::from_str(&current).unwrap_or_default();
    match value {
        Some(v) => fields.insert(field.to_string(), v.to_string()),
        None => fields.remove(field),
    };
    conn.execute(
        "UPDATE snapshots SET fields_json = ?3 WHERE asset_id = ?1 AND system = ?2",
        params![
            asset,
            system,
            serde_json::to_string(&fields).expect("a map of strings serialises")
        ],
    )?;
    Ok(())
}

/// Sets the baseline of one field: (asset, field, value, run, updated at).
pub(super) const PUT_BASELINE_SQL: &str = "INSERT OR REPLACE INTO baselines (asset_id, field, value, run_id, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)";

/// One snapshot as [`Store::put_snapshots`] binds it, every column in its stored form.
struct SnapshotParams {
    fields: String,
    modified_at: Option<String>,
    file_name: Option<String>,
    file_size: Option<i64>,
    algorithm: Option<String>,
    value: Option<String>,
}

impl SnapshotParams {
    fn of(s: &Snapshot) -> SnapshotParams {
        let checksum = s
            .checksum
            .as_ref()
            .map(|c| (c.0.to_lowercase(), c.1.to_lowercase()));
        let (algorithm, value) = checksum.unzip();
        SnapshotParams {
            fields: serde_json::to_string(&s.fields).expect("a map of strings serialises"),
            modified_at: s.modified_at.map(ts),
            file_name: s.file_name.clone(),
            file_size: s.file_size.map(|v| v as i64),
            algorithm,
            value,
        }
    }
}

/// The statements that store snapshots, prepared once for a whole batch.
struct SnapshotWriter<'t> {
    unchanged: rusqlite::Statement<'t>,
    history: rusqlite::Statement<'t>,
    put: rusqlite::Statement<'t>,
}

impl<'t> SnapshotWriter<'t> {
    fn new(tx: &'t Connection) -> rusqlite::Result<SnapshotWriter<'t>> {
        Ok(SnapshotWriter {
            // A snapshot read again unchanged keeps its row (`captured_at` is when this
            // version was first read): a nightly re-read of a million unchanged assets writes
            // nothing. SQLite compares, so an unchanged row is never copied out.
            unchanged: tx.prepare(
                "SELECT 1 FROM snapshots WHERE asset_id = ?1 AND system = ?2 AND fields_json = ?3
                   AND system_modified_at IS ?4 AND file_name IS ?5 AND file_size IS ?6
                   AND checksum_algorithm IS ?7 AND checksum_value IS ?8",
            )?,
            // The previous version goes to history when its fields differ; a new modification
            // time alone is not a new version.
            history: tx.prepare(
                "INSERT INTO snapshot_history (asset_id, system, run_id, fields_json, system_modified_at, captured_at)
                 SELECT asset_id, system, run_id, fields_json, system_modified_at, captured_at
                   FROM snapshots WHERE asset_id = ?1 AND system = ?2 AND fields_json <> ?3",
            )?,
            put: tx.prepare(
                "INSERT OR REPLACE INTO snapshots (asset_id, system, fields_json, system_modified_at, file_name, file_size, checksum_algorithm, checksum_value, run_id, captured_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?,
        })
    }

    /// Stores one snapshot of `asset` in `system`: nothing when it is unchanged; a changed
    /// snapshot's previous version moves to history.
    fn write(
        &mut self,
        (asset, system): (AssetId, System),
        p: &SnapshotParams,
        (run, captured_at): (RunId, &str),
    ) -> rusqlite::Result<()> {
        // The snapshot's columns in the order both statements bind them; `put` adds two.
        let columns: [&dyn ToSql; 8] = [
            &asset,
            &system,
            &p.fields,
            &p.modified_at,
            &p.file_name,
            &p.file_size,
            &p.algorithm,
            &p.value,
        ];
        if self.unchanged.exists(columns)? {
            return Ok(());
        }
        self.history.execute(params![asset, system, p.fields])?;
        let stamp: [&dyn ToSql; 2] = [&run, &captured_at];
        self.put
            .execute(params_from_iter(columns.into_iter().chain(stamp)))?;
        Ok(())
    }
}

impl Store {
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
        let captured_at = ts(now);
        {
            let mut writer = SnapshotWriter::new(&tx).map_err(&e)?;
            for (asset, s) in items {
                let p = SnapshotParams::of(s);
                writer
                    .write((*asset, system), &p, (run, &captured_at))
                    .map_err(&e)?;
            }
        }
        tx.commit().map_err(&e)
    }

    /// The current snapshots of `system` for the given assets (those it has).
    pub fn snapshots_of(
        &self,
        system: System,
        assets: impl IntoIterator<Item = AssetId>,
    ) -> Result<HashMap<AssetId, Snapshot>, StoreError> {
        let sql =
            format!("SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE asset_id = ?1 AND system = ?2");
        let mut out = HashMap::new();
        for asset in assets {
            if let Some(s) = self.query_opt(&sql, params![asset, system], |r| snapshot_at(r, 0))? {
                out.insert(asset, s);
            }
        }
        Ok(out)
    }

    /// The current snapshots of the given assets in both systems, by (asset, system).
    pub fn snapshots_for(
        &self,
        ids: &[AssetId],
    ) -> Result<HashMap<(AssetId, System), Snapshot>, StoreError> {
        let mut out = HashMap::with_capacity(ids.len() * 2);
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "SELECT asset_id, system, {SNAPSHOT_COLUMNS} FROM snapshots WHERE asset_id IN ({})",
                in_list(chunk.len())
            );
            let rows: Vec<_> = self.query_rows(&sql, params_from_iter(chunk.iter()), |r| {
                Ok(((r.get(0)?, r.get(1)?), snapshot_at(r, 2)?))
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// The current snapshot of one asset in `system`, if ferry has pulled it from there.
    pub fn asset_snapshot(
        &self,
        id: AssetId,
        system: System,
    ) -> Result<Option<SnapshotDetail>, StoreError> {
        self.query_opt(
            &format!(
                "SELECT {SNAPSHOT_COLUMNS}, run_id, captured_at FROM snapshots WHERE asset_id = ?1 AND system = ?2"
            ),
            params![id, system],
            |r| {
                Ok(SnapshotDetail {
                    snapshot: snapshot_at(r, 0)?,
                    run_id: r.get(SNAPSHOT_COLUMN_COUNT)?,
                    captured_at: r.get(SNAPSHOT_COLUMN_COUNT + 1)?,
                })
            },
        )
    }

    /// How many assets `system` has a snapshot of.
    pub fn snapshot_count(&self, system: System) -> Result<u64, StoreError> {
        self.count("SELECT COUNT(*) FROM snapshots WHERE system = ?1", [system])
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
        set_field(&self.conn, asset, system, field, value).map_err(|e| self.sql_error(e))
    }

    // ---- baselines ----

    /// Every baseline: (asset, field) → agreed value (`None`: agreed on no value).
    pub fn baselines(&self) -> Result<HashMap<(AssetId, String), Option<String>>, StoreError> {
        self.query_rows("SELECT asset_id, field, value FROM baselines", [], |r| {
            Ok(((r.get(0)?, r.get(1)?), r.get(2)?))
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

    /// Sets baselines for fields found equal in both systems (invariant 3: only agreed or
    /// verified values become a baseline).
    pub fn set_baselines(
        &mut self,
        run: RunId,
        items: &[BaselineRow],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let e = self.sql_errors();
        let tx = self.tx()?;
        {
            let mut put = tx.prepare(PUT_BASELINE_SQL).map_err(&e)?;
            for (asset, field, value) in items {
                put.execute(params![asset, field, value, run, ts(now)])
                    .map_err(&e)?;
            }
        }
        tx.commit().map_err(&e)
    }

    /// The baselines of `assets` (in ascending order), in asset order.
    pub fn baselines_for(&self, assets: &[AssetId]) -> Result<Vec<BaselineRow>, StoreError> {
        let (Some(first), Some(last)) = (assets.first(), assets.last()) else {
            return Ok(Vec::new());
        };
        let baseline = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?, r.get(2)?));
        // A dense run of ids is one range scan; scattered ids (a nightly run's few changed
        // pairs) are looked up one by one rather than scanning everything between them.
        if ((last - first) as usize) < assets.len() * 4 {
            let wanted: HashSet<AssetId> = assets.iter().copied().collect();
            let rows: Vec<BaselineRow> = self.query_rows(
                "SELECT asset_id, field, value FROM baselines WHERE asset_id BETWEEN ?1 AND ?2 ORDER BY asset_id",
                params![first, last],
                baseline,
            )?;
            return Ok(rows.into_iter().filter(|r| wanted.contains(&r.0)).collect());
        }
        let mut out = Vec::new();
        for asset in assets {
            let rows: Vec<BaselineRow> = self.query_rows(
                "SELECT asset_id, field, value FROM baselines WHERE asset_id = ?1",
                [asset],
                baseline,
            )?;
            out.extend(rows);
        }
        Ok(out)
    }
}
