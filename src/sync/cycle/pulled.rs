//! What a cycle does with what it pulled: stores each pull's snapshots, and pairs assets
//! that are not paired yet (from the pulls, and from stored snapshots).

use crate::mapping::Mapping;
use crate::model::{FieldValue, SnapshotKey, System};
use crate::store::{AssetId, AssetRow, RunId, Snapshot};
use crate::store::{Store, StoreError};
use crate::sync::pair::{Candidate, PairAction, find_pairs, stored_candidates};
use crate::sync::pull::PullResult;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Stores a pull's snapshots; returns system id → asset id.
pub(super) fn store_pull(
    store: &mut Store,
    run: RunId,
    pull: &PullResult,
    now: DateTime<Utc>,
) -> Result<HashMap<String, AssetId>, StoreError> {
    let ids: Vec<String> = pull.records.iter().map(|p| p.id.clone()).collect();
    let map = store.ensure_assets(pull.system, &ids, now)?;
    let items: Vec<(AssetId, Snapshot)> = pull
        .records
        .iter()
        .map(|p| {
            let r = &p.translation.record;
            let mut fields: BTreeMap<String, String> = r
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), v.to_canonical_string()))
                .collect();
            for problem in &p.translation.problems {
                fields.insert(
                    SnapshotKey::Unreadable(&problem.field).to_string(),
                    problem.detail.clone(),
                );
            }
            let checksum = r.checksum.as_ref().and_then(|c| {
                c.split_once(':')
                    .map(|(a, v)| (a.to_lowercase(), v.to_lowercase()))
            });
            (
                map[&p.id],
                Snapshot {
                    fields,
                    modified_at: r.modified_at,
                    file_name: r.file_name.clone(),
                    file_size: r.file_size,
                    checksum,
                },
            )
        })
        .collect();
    let mut items = items;
    // An incremental PhotoShelter listing does not say which galleries hold an item: keep
    // what the last full pull found rather than forget it.
    if !pull.full && pull.system == System::PhotoShelter {
        for (asset, snapshot) in items.iter_mut() {
            if snapshot
                .fields
                .contains_key(crate::sync::pull::GALLERIES_KEY)
            {
                continue;
            }
            if let Some(old) = store
                .asset_snapshot(*asset, System::PhotoShelter)?
                .and_then(|d| {
                    d.snapshot
                        .fields
                        .get(crate::sync::pull::GALLERIES_KEY)
                        .cloned()
                })
            {
                snapshot
                    .fields
                    .insert(crate::sync::pull::GALLERIES_KEY.to_string(), old);
            }
        }
    }
    store.put_snapshots(run, pull.system, &items, now)?;
    Ok(map)
}

/// Pairs the pulled assets not paired yet, or suggests pairs; each pull comes with its
/// system id → asset id.
pub(super) fn pair_new(
    store: &mut Store,
    assets: &[AssetRow],
    (ps, ps_ids): (&PullResult, &HashMap<String, AssetId>),
    (pv, pv_ids): (&PullResult, &HashMap<String, AssetId>),
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let unpaired: HashSet<AssetId> = assets
        .iter()
        .filter(|a| a.paired_by.is_none())
        .map(|a| a.id)
        .collect();
    let candidates = |pull: &PullResult, ids: &HashMap<String, AssetId>| -> Vec<Candidate> {
        pull.records
            .iter()
            .filter(|p| unpaired.contains(&ids[&p.id]))
            .map(|p| Candidate {
                asset: ids[&p.id],
                id: p.id.clone(),
                link: p.link.clone(),
                checksum: p.translation.record.checksum.as_ref().and_then(|c| {
                    c.split_once(':')
                        .map(|(a, v)| (a.to_lowercase(), v.to_lowercase()))
                }),
                file_name: p.translation.record.file_name.clone(),
                date: p
                    .translation
                    .record
                    .get("date_created")
                    .and_then(|v| match v {
                        FieldValue::Date(d) => Some(d.day()),
                        _ => None,
                    }),
            })
            .collect()
    };
    let mut pairs = Vec::new();
    for action in find_pairs(&candidates(ps, ps_ids), &candidates(pv, pv_ids)) {
        match action {
            PairAction::Pair {
                photoshelter,
                preservica,
                by,
            } => pairs.push((photoshelter, preservica, by)),
            PairAction::Suggest {
                photoshelter_id,
                preservica_ref,
                reason,
            } => {
                store.suggest_pair(&photoshelter_id, &preservica_ref, &reason, now)?;
            }
        }
    }
    store.pair_all(&pairs, now)
}

/// Pairs unpaired assets by their stored snapshots (identifier or checksum only: suggestions
/// come from pulls, so they are not made again every run). Whether anything was paired.
pub(super) fn pair_stored(
    store: &mut Store,
    assets: &[AssetRow],
    mapping: &Mapping,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let unpaired = || assets.iter().filter(|a| a.paired_by.is_none());
    // Only unpaired assets' snapshots are read: a library is mostly pairs.
    let ps_snaps = &store.snapshots_of(
        System::PhotoShelter,
        unpaired()
            .filter(|a| a.photoshelter_id.is_some())
            .map(|a| a.id),
    )?;
    let pv_snaps = &store.snapshots_of(
        System::Preservica,
        unpaired()
            .filter(|a| a.preservica_ref.is_some())
            .map(|a| a.id),
    )?;
    let ps = stored_candidates(
        unpaired().filter_map(|a| Some((a.id, a.photoshelter_id.as_deref()?))),
        ps_snaps,
        mapping
            .field("preservation_reference")
            .map(|f| f.name.as_str()),
    );
    let pv = stored_candidates(
        unpaired().filter_map(|a| Some((a.id, a.preservica_ref.as_deref()?))),
        pv_snaps,
        None,
    );
    if ps.is_empty() || pv.is_empty() {
        return Ok(false);
    }
    let pairs: Vec<_> = find_pairs(&ps, &pv)
        .into_iter()
        .filter_map(|action| match action {
            PairAction::Pair {
                photoshelter,
                preservica,
                by,
            } => Some((photoshelter, preservica, by)),
            PairAction::Suggest { .. } => None,
        })
        .collect();
    store.pair_all(&pairs, now)?;
    Ok(!pairs.is_empty())
}
