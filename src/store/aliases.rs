//! The `asset_aliases` table: asset ids retired by a merge and the id each lives under now, so
//! that links to `/assets/{old}` keep working after pairing (see `migrations/0003`).

use super::{AssetId, Store, StoreError};
use rusqlite::{OptionalExtension, Transaction, params};

/// The id a new asset row gets: past every live id and every retired one. Without the second
/// part SQLite hands out a deleted highest id again (a merge deletes the newest row whenever
/// the Preservica-only side was created last), and the retired id's links would show another
/// asset.
pub(super) const NEXT_ASSET_ID: &str = "(SELECT max(coalesce((SELECT max(id) FROM assets), 0), \
     coalesce((SELECT max(old_id) FROM asset_aliases), 0)) + 1)";

/// How many aliases a lookup follows at most. Merges re-point older aliases (see [`retire`]),
/// so one is all a lookup meets; the bound only keeps a hand-edited cycle from hanging it.
const MAX_HOPS: usize = 16;

/// Records, inside the merge's transaction `tx`, that `old` now lives as `new`; ids that
/// already led to `old` lead to `new` too, so every alias names a live asset. Call it before
/// deleting `old`'s row: the aliases pointing at it hold a foreign key to it.
pub(super) fn retire(
    tx: &Transaction<'_>,
    old: AssetId,
    new: AssetId,
    at: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE asset_aliases SET new_id = ?2 WHERE new_id = ?1",
        [old, new],
    )?;
    tx.execute(
        "INSERT INTO asset_aliases (old_id, new_id, at) VALUES (?1, ?2, ?3)",
        params![old, new, at],
    )?;
    Ok(())
}

impl Store {
    /// Where the asset once known as `id` lives now, when a merge retired that id; `None` for
    /// an id that was never retired (a live asset, or one ferry never knew).
    pub fn asset_moved_to(&self, id: AssetId) -> Result<Option<AssetId>, StoreError> {
        let e = self.sql_errors();
        let mut st = self
            .conn
            .prepare_cached("SELECT new_id FROM asset_aliases WHERE old_id = ?1")
            .map_err(&e)?;
        let mut found = None;
        let mut at = id;
        for _ in 0..MAX_HOPS {
            match st.query_row([at], |r| r.get(0)).optional().map_err(&e)? {
                Some(next) => {
                    found = Some(next);
                    at = next;
                }
                None => break,
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::System;
    use chrono::{TimeZone, Utc};

    fn now() -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
    }

    fn asset(store: &mut Store, system: System, id: &str) -> AssetId {
        store
            .ensure_assets(system, &[id.to_string()], now())
            .unwrap()[id]
    }

    #[test]
    fn a_paired_preservica_only_asset_leads_to_its_pair() {
        let mut store = Store::open_in_memory().unwrap();
        let pv = asset(&mut store, System::Preservica, "ref-1");
        let ps = asset(&mut store, System::PhotoShelter, "M1");
        assert_eq!(store.pair(ps, pv, "transfer", now()).unwrap(), ps);
        assert!(store.asset(pv).unwrap().is_none());
        assert_eq!(store.asset_moved_to(pv).unwrap(), Some(ps));
        // A live id and an id ferry never knew have moved nowhere.
        assert_eq!(store.asset_moved_to(ps).unwrap(), None);
        assert_eq!(store.asset_moved_to(9_999).unwrap(), None);
    }

    #[test]
    fn a_chain_of_merges_resolves_to_the_last_survivor() {
        let mut store = Store::open_in_memory().unwrap();
        // 1 merges into 2, then 2 (retired as a row of its own) into 3: both old ids lead to 3.
        let first = asset(&mut store, System::Preservica, "ref-1");
        let second = asset(&mut store, System::Preservica, "ref-2");
        let third = asset(&mut store, System::Preservica, "ref-3");
        let at = crate::store::ts(now());
        for (old, new) in [(first, second), (second, third)] {
            let tx = store.tx().unwrap();
            retire(&tx, old, new, &at).unwrap();
            tx.execute("DELETE FROM assets WHERE id = ?1", [old])
                .unwrap();
            tx.commit().unwrap();
        }
        assert_eq!(store.asset_moved_to(first).unwrap(), Some(third));
        assert_eq!(store.asset_moved_to(second).unwrap(), Some(third));
        let stored: AssetId = store
            .conn
            .query_row(
                "SELECT new_id FROM asset_aliases WHERE old_id = ?1",
                [first],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored, third, "the merge re-points older aliases");
    }

    #[test]
    fn a_retired_id_is_never_handed_out_again() {
        let mut store = Store::open_in_memory().unwrap();
        let ps = asset(&mut store, System::PhotoShelter, "M1");
        // The Preservica side is the newest row, so SQLite alone would reuse its id.
        let pv = asset(&mut store, System::Preservica, "ref-1");
        store.pair(ps, pv, "identifier", now()).unwrap();
        let next = asset(&mut store, System::PhotoShelter, "M2");
        assert!(next > pv, "new asset {next} took retired id {pv}");
        let imported = store
            .insert_pairs(&[("M3".into(), "ref-3".into())], "identifier", now())
            .unwrap();
        assert!(imported[0] > next);
        assert_eq!(store.asset_moved_to(pv).unwrap(), Some(ps));
        assert_eq!(store.asset_moved_to(next).unwrap(), None);
    }
}
