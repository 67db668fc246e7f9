//! A scoped run: the cycle of a live run (`ferry serve`'s live mode). Instead of listing what
//! changed since the cursors it reads exactly the records a webhook or a poll named, then goes
//! through the very steps of every run: finish left writes, store snapshots, pair, reconcile
//! (only the pairs it read), guard, push through the outbox, report.
//!
//! Invariant: a scoped run touches nothing it was not asked about. Ids that are not one side
//! of a pair are not read; they are recorded (`live_events`) and left to the nightly run,
//! which pairs what can be paired. The cursors stay where the nightly run left them.

use super::{Cycle, CycleStop, SyncContext, SyncError, SyncOptions, SyncOutcome};
use crate::model::System;
use crate::store::{AssetId, AssetRow, Store};
use crate::sync::pull::{PullResult, pull_photoshelter_ids, pull_preservica_refs};
use std::collections::{BTreeSet, HashMap, HashSet};

/// What a live run reads: ids in each system.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Preservica asset refs (a webhook named them, or the updated-since poll listed them).
    pub preservica: BTreeSet<String>,
    /// PhotoShelter media ids (the change poll found them modified).
    pub photoshelter: BTreeSet<String>,
}

impl Scope {
    pub fn is_empty(&self) -> bool {
        self.preservica.is_empty() && self.photoshelter.is_empty()
    }
}

/// Why an id in a scope was not read.
const NOT_PAIRED: &str = "not one side of a pair ferry knows; left for the nightly pairing";

/// Runs one live run over `scope`, holding the run lock like any run (a nightly run in
/// progress makes it [`SyncError::Locked`]: the caller keeps the scope and tries again).
pub async fn run_scoped(
    store: &mut Store,
    ctx: &SyncContext<'_>,
    scope: &Scope,
) -> Result<SyncOutcome, SyncError> {
    super::run_with_lock(store, ctx, &SyncOptions::default(), Some(scope)).await
}

impl Cycle<'_, '_> {
    /// Step 2 of a scoped run: reads the scope's ids that are one side of a pair, both
    /// systems at once; records the others as left for the nightly run.
    pub(super) async fn pull_scope(
        &mut self,
        assets: &[AssetRow],
    ) -> Result<(PullResult, PullResult), CycleStop> {
        let Some((scope, left)) = self.scope.as_mut() else {
            return Err(CycleStop::Fatal("a scoped pull without a scope".into()));
        };
        let split = partition(scope, assets);
        left.extend(split.left.iter().cloned());
        let events: Vec<(System, String, String)> = split
            .left
            .iter()
            .map(|(system, id)| (*system, id.clone(), NOT_PAIRED.to_string()))
            .collect();
        if !events.is_empty() {
            tracing::info!(
                count = events.len(),
                "live: ids that name no pair are left for the nightly run"
            );
            self.store
                .record_live_events(self.run, &events, self.ctx.clock.now())?;
        }
        self.only = Some(split.only);
        let (ps_ids, pv_refs, paired_refs) =
            (split.photoshelter, split.preservica, split.paired_refs);
        let ctx = self.ctx;
        let (ps, pv) = tokio::join!(
            pull_photoshelter_ids(
                ctx.photoshelter,
                ctx.mapping,
                ps_ids,
                ctx.concurrency_photoshelter,
                self.started,
            ),
            pull_preservica_refs(
                ctx.preservica,
                ctx.mapping,
                pv_refs,
                &paired_refs,
                ctx.concurrency_preservica,
                self.started,
            ),
        );
        self.report.summary.seconds_pull_photoshelter = ps.seconds;
        self.report.summary.seconds_pull_preservica = pv.seconds;
        for pull in [&ps, &pv] {
            for (id, error) in &pull.failures {
                self.report.failures.push(crate::report::Failure {
                    asset_id: None,
                    system: pull.system.name().into(),
                    item: id.clone(),
                    error: format!("could not be read: {error}"),
                });
            }
        }
        Ok((ps, pv))
    }
}

/// A scope split by what the store knows: the ids to read, the assets they belong to, and
/// the ids that are not one side of a pair.
struct Partition {
    photoshelter: Vec<String>,
    preservica: Vec<String>,
    only: HashSet<AssetId>,
    left: Vec<(System, String)>,
    /// Every paired Preservica ref (their identifiers need not be read).
    paired_refs: HashSet<String>,
}

fn partition(scope: &Scope, assets: &[AssetRow]) -> Partition {
    let mut ps_pairs: HashMap<&str, AssetId> = HashMap::new();
    let mut pv_pairs: HashMap<&str, AssetId> = HashMap::new();
    for a in assets.iter().filter(|a| a.paired_by.is_some()) {
        if let Some(id) = a.photoshelter_id.as_deref() {
            ps_pairs.insert(id, a.id);
        }
        if let Some(r) = a.preservica_ref.as_deref() {
            pv_pairs.insert(r, a.id);
        }
    }
    let mut out = Partition {
        photoshelter: Vec::new(),
        preservica: Vec::new(),
        only: HashSet::new(),
        left: Vec::new(),
        paired_refs: pv_pairs.keys().map(|r| r.to_string()).collect(),
    };
    for (system, ids, pairs) in [
        (System::PhotoShelter, &scope.photoshelter, &ps_pairs),
        (System::Preservica, &scope.preservica, &pv_pairs),
    ] {
        for id in ids {
            match pairs.get(id.as_str()) {
                Some(asset) => {
                    out.only.insert(*asset);
                    match system {
                        System::PhotoShelter => out.photoshelter.push(id.clone()),
                        System::Preservica => out.preservica.push(id.clone()),
                    }
                }
                None => out.left.push((system, id.clone())),
            }
        }
    }
    out
}
