//! Assets and their pairing: the `assets` table (one row per asset known to either system or
//! both; both ids set = a pair) and `pair_suggestions` (file name and date matches waiting for
//! a person). Pairing moves the Preservica-only asset's rows to its partner, so this file also
//! re-points the tables that hang off an asset.

use super::aliases::{self, NEXT_ASSET_ID};
use super::{AssetId, IDS_PER_STATEMENT, RunId, Store, StoreError, in_list, ts};
use crate::model::System;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params, params_from_iter};
use std::collections::HashMap;

/// An asset row: its ids in each system and how it was paired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetRow {
    pub id: AssetId,
    pub photoshelter_id: Option<String>,
    pub preservica_ref: Option<String>,
    pub paired_by: Option<String>,
}

/// An asset row with the times the store keeps for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetDetail {
    pub asset: AssetRow,
    pub paired_at: Option<String>,
    pub created_at: String,
}

/// The [`AssetRow`] columns, in [`asset_at`]'s order.
pub(super) const ASSET_COLUMNS: &str = "id, photoshelter_id, preservica_ref, paired_by";

/// An asset row from the [`ASSET_COLUMNS`] starting at column `at` (of `a` when prefixed).
pub(super) fn asset_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<AssetRow> {
    Ok(AssetRow {
        id: r.get(at)?,
        photoshelter_id: r.get(at + 1)?,
        preservica_ref: r.get(at + 2)?,
        paired_by: r.get(at + 3)?,
    })
}

fn asset_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AssetRow> {
    asset_at(r, 0)
}

/// The tables whose rows belong to one asset and follow it when two assets become a pair.
const FOLLOW_THE_ASSET: [&str; 4] = [
    "snapshots",
    "snapshot_history",
    "decisions",
    "field_history",
];

impl Store {
    pub fn assets(&self) -> Result<Vec<AssetRow>, StoreError> {
        self.query_rows(
            &format!("SELECT {ASSET_COLUMNS} FROM assets ORDER BY id"),
            [],
            asset_row,
        )
    }

    /// One asset, or `None` when the store does not know the id.
    pub fn asset(&self, id: AssetId) -> Result<Option<AssetDetail>, StoreError> {
        self.query_opt(
            &format!("SELECT {ASSET_COLUMNS}, paired_at, created_at FROM assets WHERE id = ?1"),
            [id],
            |r| {
                Ok(AssetDetail {
                    asset: asset_at(r, 0)?,
                    paired_at: r.get(4)?,
                    created_at: r.get(5)?,
                })
            },
        )
    }

    /// Up to `limit` assets with an id greater than `after`, in id order: one page of a walk
    /// over every asset (start with `after = 0`, continue from the last id returned).
    pub fn asset_page(&self, after: AssetId, limit: usize) -> Result<Vec<AssetRow>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_rows(
            &format!("SELECT {ASSET_COLUMNS} FROM assets WHERE id > ?1 ORDER BY id LIMIT ?2"),
            params![after, limit],
            asset_row,
        )
    }

    /// The asset rows of `ids` that exist, in id order; ids of assets that are gone (a
    /// Preservica-only asset merged into its pair) are left out.
    pub fn assets_by_id(&self, ids: &[AssetId]) -> Result<Vec<AssetRow>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "SELECT {ASSET_COLUMNS} FROM assets WHERE id IN ({}) ORDER BY id",
                in_list(chunk.len())
            );
            let rows: Vec<AssetRow> =
                self.query_rows(&sql, params_from_iter(chunk.iter()), asset_row)?;
            out.extend(rows);
        }
        out.sort_by_key(|a| a.id);
        out.dedup_by_key(|a| a.id);
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

    /// The asset for a system id, created (unpaired) when ferry has not seen it before.
    pub fn ensure_assets(
        &mut self,
        system: System,
        ids: &[String],
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, AssetId>, StoreError> {
        let column = id_column(system);
        let e = self.sql_errors();
        let tx = self.tx()?;
        let mut out = HashMap::with_capacity(ids.len());
        {
            let mut find = tx
                .prepare(&format!("SELECT id FROM assets WHERE {column} = ?1"))
                .map_err(&e)?;
            let mut insert = tx
                .prepare(&format!(
                    "INSERT INTO assets (id, {column}, created_at) VALUES ({NEXT_ASSET_ID}, ?1, ?2)"
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
    /// keeping `ps`'s row and moving `pv`'s snapshots to it. `pv`'s id is retired: it stays
    /// an alias of `ps` (see [`Store::asset_moved_to`]), so links to it keep working.
    pub fn pair(
        &mut self,
        ps: AssetId,
        pv: AssetId,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<AssetId, StoreError> {
        self.pair_all(&[(ps, pv, by)], now)?;
        Ok(ps)
    }

    /// [`Store::pair`] for many pairs in one transaction: a first sync pairs a whole library,
    /// and a commit per pair would cost more than reading it.
    pub fn pair_all(
        &mut self,
        pairs: &[(AssetId, AssetId, &str)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let e = self.sql_errors();
        let tx = self.tx()?;
        let at = ts(now);
        for &(ps, pv, by) in pairs {
            let pv_ref: String = tx
                .query_row(
                    "SELECT preservica_ref FROM assets WHERE id = ?1 AND photoshelter_id IS NULL",
                    [pv],
                    |r| r.get(0),
                )
                .map_err(&e)?;
            for table in FOLLOW_THE_ASSET {
                tx.prepare_cached(&format!(
                    "UPDATE {table} SET asset_id = ?1 WHERE asset_id = ?2"
                ))
                .and_then(|mut update| update.execute([ps, pv]))
                .map_err(&e)?;
            }
            aliases::retire(&tx, pv, ps, &at).map_err(&e)?;
            tx.execute("DELETE FROM assets WHERE id = ?1", [pv])
                .map_err(&e)?;
            tx.execute(
                "UPDATE assets SET preservica_ref = ?2, paired_by = ?3, paired_at = ?4 WHERE id = ?1",
                params![ps, pv_ref, by, at],
            )
            .map_err(&e)?;
        }
        tx.commit().map_err(&e)
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
                .prepare(&format!(
                    "INSERT INTO assets (id, photoshelter_id, preservica_ref, paired_by, paired_at, created_at)
                     VALUES ({NEXT_ASSET_ID}, ?1, ?2, ?3, ?4, ?4)"
                ))
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

    /// The Preservica ref a PhotoShelter media item is paired with, if it is.
    pub fn preservica_ref_of(&self, photoshelter_id: &str) -> Result<Option<String>, StoreError> {
        self.pair_partner(System::PhotoShelter, photoshelter_id)
    }

    /// The PhotoShelter media id a Preservica asset is paired with, if it is.
    pub fn photoshelter_id_of(&self, preservica_ref: &str) -> Result<Option<String>, StoreError> {
        self.pair_partner(System::Preservica, preservica_ref)
    }

    /// ferry's id of the asset `system` knows as `value`.
    pub fn asset_id_of(&self, system: System, value: &str) -> Result<Option<AssetId>, StoreError> {
        let sql = format!("SELECT id FROM assets WHERE {} = ?1", id_column(system));
        self.query_opt(&sql, [value], |r| r.get(0))
    }

    /// The other system's id of the asset whose `known` system's id is `value`.
    fn pair_partner(&self, known: System, value: &str) -> Result<Option<String>, StoreError> {
        let sql = format!(
            "SELECT {} FROM assets WHERE {} = ?1",
            id_column(known.other()),
            id_column(known)
        );
        self.query_opt(&sql, [value], |r| r.get::<_, Option<String>>(0))
            .map(Option::flatten)
    }

    // ---- pair suggestions ----

    /// Records a pair suggestion (file name and date match) for a person to confirm.
    pub fn suggest_pair(
        &mut self,
        ps_id: &str,
        pv_ref: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT OR IGNORE INTO pair_suggestions (photoshelter_id, preservica_ref, reason, status, created_at) VALUES (?1, ?2, ?3, 'open', ?4)",
            params![ps_id, pv_ref, reason, ts(now)],
        )?;
        Ok(())
    }

    /// Pair suggestions: (id, PhotoShelter id, Preservica ref, reason, status), open first.
    #[allow(clippy::type_complexity)]
    pub fn pair_suggestions(
        &self,
    ) -> Result<Vec<(i64, String, String, String, String)>, StoreError> {
        self.query_rows(
            "SELECT id, photoshelter_id, preservica_ref, reason, status FROM pair_suggestions ORDER BY status <> 'open', id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
    }

    /// A person confirms a suggested pair: the two assets become one pair. `Ok(false)` when
    /// the suggestion is not open or either side is already paired.
    pub fn accept_suggestion(&mut self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let row: Option<(String, String)> = self.query_opt(
            "SELECT photoshelter_id, preservica_ref FROM pair_suggestions WHERE id = ?1 AND status = 'open'",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let Some((ps_id, pv_ref)) = row else {
            return Ok(false);
        };
        let unpaired = |system: System, v: &str| -> Result<Option<i64>, StoreError> {
            let sql = format!(
                "SELECT id FROM assets WHERE {} = ?1 AND paired_by IS NULL",
                id_column(system)
            );
            self.query_opt(&sql, [v], |r| r.get(0))
        };
        let (Some(ps), Some(pv)) = (
            unpaired(System::PhotoShelter, &ps_id)?,
            unpaired(System::Preservica, &pv_ref)?,
        ) else {
            return Ok(false);
        };
        self.pair(ps, pv, "manual", now)?;
        self.execute(
            "UPDATE pair_suggestions SET status = 'accepted', decided_at = ?2 WHERE id = ?1",
            params![id, ts(now)],
        )?;
        Ok(true)
    }
}

/// The `assets` column holding `system`'s id.
fn id_column(system: System) -> &'static str {
    match system {
        System::PhotoShelter => "photoshelter_id",
        System::Preservica => "preservica_ref",
    }
}
