//! Settled pairs: the `settled_pairs` table (schema version 2), pairs an earlier run found
//! equal and agreed, which the engine need not reconcile again until something they depend on
//! changes (the schema's triggers remove a row whenever one of its inputs changes). Also the
//! engine's page of pairs to reconcile, which leaves the settled ones out.

use super::assets::{ASSET_COLUMNS, AssetRow, asset_at};
use super::snapshots::{SNAPSHOT_COLUMN_COUNT, Snapshot, prefixed_snapshot_columns, snapshot_at};
use super::{AssetId, RunId, Store, StoreError};
use rusqlite::params;

/// Which settled pairs a run may skip: those recorded under `digest` whose licence expiry
/// (if any) is after `expiring_after` (`YYYY-MM-DD`).
#[derive(Debug, Clone)]
pub struct SettledFilter {
    pub digest: String,
    pub expiring_after: String,
}

/// A paired asset with both systems' snapshots.
#[derive(Debug, Clone)]
pub struct StoredPair {
    pub asset: AssetRow,
    pub photoshelter: Snapshot,
    pub preservica: Snapshot,
}

/// The SQL condition on `settled_pairs s` for a skippable row.
const SETTLED_EXPIRY: &str = "s.digest = :digest AND (s.license_expiry IS NULL OR substr(s.license_expiry, 1, 10) > :expiring_after)";

impl Store {
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
        let asset_columns = ASSET_COLUMNS
            .split(", ")
            .map(|c| format!("a.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        self.query_rows(
            &format!(
                "SELECT {asset_columns}, {ps}, {pv}
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
                    asset: asset_at(r, 0)?,
                    photoshelter: snapshot_at(r, 4)?,
                    preservica: snapshot_at(r, 4 + SNAPSHOT_COLUMN_COUNT)?,
                })
            },
        )
    }

    /// How many pairs are settled under `filter`: found equal and agreed by an earlier run,
    /// with nothing they depend on changed since and no licence expiring within the window.
    pub fn settled(&self, filter: &SettledFilter) -> Result<u64, StoreError> {
        self.count(
            &format!("SELECT COUNT(*) FROM settled_pairs s WHERE {SETTLED_EXPIRY}"),
            rusqlite::named_params! {
                ":digest": filter.digest,
                ":expiring_after": filter.expiring_after,
            },
        )
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
}
