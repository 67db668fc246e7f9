//! Read-only views of assets and snapshots for the search index: the index reads the store in
//! pages (a rebuild of a million assets must not hold every snapshot in memory at once) and,
//! after a pull, only the assets a run touched.

use super::{Store, StoreError};
use crate::model::System;
use crate::store::sync::{AssetId, AssetRow, RunId, Snapshot};
use chrono::{DateTime, Utc};
use rusqlite::params_from_iter;
use std::collections::HashMap;

/// How many ids go into one `IN (...)` list: well under SQLite's limit on bound parameters.
const IDS_PER_STATEMENT: usize = 500;

fn parse_time(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 2);
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push('?');
    }
    s
}

fn asset_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AssetRow> {
    Ok(AssetRow {
        id: r.get(0)?,
        photoshelter_id: r.get(1)?,
        preservica_ref: r.get(2)?,
        paired_by: r.get(3)?,
    })
}

impl Store {
    /// Up to `limit` assets with an id greater than `after`, in id order: one page of a walk
    /// over every asset (start with `after = 0`, continue from the last id returned).
    pub fn asset_page(&self, after: AssetId, limit: usize) -> Result<Vec<AssetRow>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_rows(
            "SELECT id, photoshelter_id, preservica_ref, paired_by FROM assets
             WHERE id > ?1 ORDER BY id LIMIT ?2",
            rusqlite::params![after, limit],
            asset_row,
        )
    }

    /// The asset rows of `ids` that exist, in id order; ids of assets that are gone (a
    /// Preservica-only asset merged into its pair) are left out.
    pub fn assets_by_id(&self, ids: &[AssetId]) -> Result<Vec<AssetRow>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "SELECT id, photoshelter_id, preservica_ref, paired_by FROM assets
                 WHERE id IN ({}) ORDER BY id",
                placeholders(chunk.len())
            );
            let rows: Vec<AssetRow> =
                self.query_rows(&sql, params_from_iter(chunk.iter()), asset_row)?;
            out.extend(rows);
        }
        out.sort_by_key(|a| a.id);
        out.dedup_by_key(|a| a.id);
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
                "SELECT asset_id, system, fields_json, system_modified_at, file_name, file_size,
                        checksum_algorithm, checksum_value
                 FROM snapshots WHERE asset_id IN ({})",
                placeholders(chunk.len())
            );
            let mut st = self.conn.prepare(&sql).map_err(|e| self.sql_error(e))?;
            let rows = st
                .query_map(params_from_iter(chunk.iter()), |r| {
                    let system: String = r.get(1)?;
                    let fields: String = r.get(2)?;
                    let alg: Option<String> = r.get(6)?;
                    let val: Option<String> = r.get(7)?;
                    Ok((
                        (
                            r.get::<_, i64>(0)?,
                            if system == "preservica" {
                                System::Preservica
                            } else {
                                System::PhotoShelter
                            },
                        ),
                        Snapshot {
                            fields: serde_json::from_str(&fields).unwrap_or_default(),
                            modified_at: parse_time(r.get(3)?),
                            file_name: r.get(4)?,
                            file_size: r.get::<_, Option<i64>>(5)?.map(|v| v.max(0) as u64),
                            checksum: alg.zip(val),
                        },
                    ))
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(|e| self.sql_error(e))?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// Assets whose stored state `run` changed: a snapshot it stored, a value it wrote (field
    /// history) or a pair it made. These are the assets to reindex after that run.
    pub fn assets_changed_in_run(&self, run: RunId) -> Result<Vec<AssetId>, StoreError> {
        self.query_rows(
            "SELECT asset_id FROM snapshots WHERE run_id = ?1
                 UNION SELECT asset_id FROM field_history WHERE run_id = ?1
                 UNION SELECT a.id FROM assets a JOIN runs r ON r.id = ?1
                       WHERE a.paired_at >= r.started_at
                         AND (r.finished_at IS NULL OR a.paired_at <= r.finished_at)
                 ORDER BY 1",
            [run],
            |r| r.get(0),
        )
    }
}
