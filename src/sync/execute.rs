//! Carrying out a run's outbox: each asset's writes through `push`, with bounded concurrency,
//! and each result recorded in the store and the report.
//!
//! A write that may have replaced a concurrent edit (see `concurrent`) was verified, so it
//! is completed like any other; it is also listed in the report and its field goes to the
//! review queue with both values ferry knows — the one it read just before writing and the
//! one it wrote — so that a person can find out what the other edit was.

use super::concurrent::MAY_HAVE_REPLACED;
use super::cycle::SyncContext;
use super::push::{WriteResult, push_photoshelter_media, push_preservica_asset};
use crate::model::System;
use crate::report::{ConcurrentEdit, Failure, RunReport};
use crate::store::{AssetId, AssetRow, DecisionRow, OutboxEntry, RunId};
use crate::store::{FieldOutcome, OutboxState, Store, StoreError};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap};

/// (asset, field, system) → the write's final state (`done`, `stale`, `failed`).
pub(super) type WriteStates = Vec<((AssetId, String, System), String)>;

/// Executes outbox entries, asset by asset, with bounded concurrency per system; records each
/// result.
pub(super) async fn execute(
    store: &mut Store,
    ctx: &SyncContext<'_>,
    run: RunId,
    entries: Vec<OutboxEntry>,
    assets: &HashMap<AssetId, &AssetRow>,
    report: &mut RunReport,
) -> Result<WriteStates, StoreError> {
    let mut groups: BTreeMap<(System, AssetId), Vec<OutboxEntry>> = BTreeMap::new();
    for e in entries {
        groups.entry((e.system, e.asset_id)).or_default().push(e);
    }
    let jobs: Vec<(System, String, Vec<OutboxEntry>)> = groups
        .into_iter()
        .filter_map(|((system, asset), entries)| {
            let row = assets.get(&asset)?;
            let id = match system {
                System::PhotoShelter => row.photoshelter_id.clone()?,
                System::Preservica => row.preservica_ref.clone()?,
            };
            Some((system, id, entries))
        })
        .collect();
    let concurrency = ctx
        .concurrency_photoshelter
        .min(ctx.concurrency_preservica)
        .max(1);
    let mut stream = futures_util::stream::iter(jobs)
        .map(|(system, id, entries)| async move {
            let results = match system {
                System::Preservica => {
                    push_preservica_asset(ctx.preservica, ctx.mapping, &id, &entries).await
                }
                System::PhotoShelter => {
                    push_photoshelter_media(ctx.photoshelter, ctx.mapping, &id, &entries).await
                }
            };
            (system, id, entries, results)
        })
        .buffer_unordered(concurrency);
    let mut states = Vec::new();
    while let Some((system, id, entries, results)) = stream.next().await {
        let now = ctx.clock.now();
        for (entry_id, result) in results {
            let Some(entry) = entries.iter().find(|e| e.id == entry_id) else {
                continue;
            };
            let written = Written {
                run,
                item: &id,
                entry,
                now,
            };
            let state = record(store, &written, result, report)?;
            states.push((
                (entry.asset_id, entry.field.clone(), system),
                state.to_string(),
            ));
        }
    }
    Ok(states)
}

/// One outbox entry whose result is being recorded.
struct Written<'a> {
    run: RunId,
    /// The media id or asset ref written to.
    item: &'a str,
    entry: &'a OutboxEntry,
    now: DateTime<Utc>,
}

/// Records one write's result in the store and the report; returns its final state.
fn record(
    store: &mut Store,
    w: &Written<'_>,
    result: WriteResult,
    report: &mut RunReport,
) -> Result<&'static str, StoreError> {
    let (entry, run, now) = (w.entry, w.run, w.now);
    Ok(match result {
        // Access state (`@…`) is not a mapped field a person could decide in the queue.
        WriteResult::Done {
            old,
            concurrent: Some(evidence),
        } if !crate::model::SnapshotKey::is_access(&entry.field) => {
            let why = format!("written by ferry run {run}; {MAY_HAVE_REPLACED}: {evidence}");
            store.complete_write(entry, old.as_deref(), &why, run, now)?;
            queue_for_review(store, w, old, evidence, report)?;
            "done"
        }
        WriteResult::Done { old, .. } => {
            // The history line carries the decision's reason, so it says which rule (or whom)
            // the value came from.
            let reason = entry
                .decision_id
                .map(|d| store.decision_reason(d))
                .transpose()?
                .flatten();
            let why = match reason {
                Some(reason) => format!("written by ferry run {run}: {reason}"),
                None => format!("written by ferry run {run}"),
            };
            store.complete_write(entry, old.as_deref(), &why, run, now)?;
            "done"
        }
        WriteResult::AlreadyApplied => {
            let why = format!("found already written by ferry run {}", entry.run_id);
            store.complete_write(entry, entry.expected_value.as_deref(), &why, run, now)?;
            "done"
        }
        WriteResult::Stale { found } => {
            let why = format!("the target now holds {found:?}; left for the next run");
            store.set_outbox_state(entry.id, OutboxState::Stale, Some(&why), now)?;
            "stale"
        }
        WriteResult::Failed(error) => {
            store.set_outbox_state(entry.id, OutboxState::Failed, Some(&error), now)?;
            report.failures.push(Failure {
                asset_id: Some(entry.asset_id),
                system: entry.system.name().into(),
                item: format!("{} {}", w.item, entry.field),
                error,
            });
            "failed"
        }
    })
}

/// Lists a write that may have replaced a concurrent edit in the report and puts its field in
/// the review queue: the written system's value is the one ferry read before writing, the
/// other system's the one it wrote (which both now hold).
fn queue_for_review(
    store: &mut Store,
    w: &Written<'_>,
    read: Option<String>,
    evidence: String,
    report: &mut RunReport,
) -> Result<(), StoreError> {
    let entry = w.entry;
    let written = entry.new_value.clone();
    let (photoshelter_value, preservica_value) = match entry.system {
        System::PhotoShelter => (read.clone(), written.clone()),
        System::Preservica => (written.clone(), read.clone()),
    };
    let show = |v: &Option<String>| {
        v.as_deref()
            .map_or("no value".to_string(), |v| format!("{v:?}"))
    };
    let reason = format!(
        "{MAY_HAVE_REPLACED}: {evidence}; ferry read {} in {} just before writing {}",
        show(&read),
        entry.system,
        show(&written)
    );
    tracing::warn!(asset = entry.asset_id, field = %entry.field, system = %entry.system, %evidence, "{MAY_HAVE_REPLACED}");
    store.record_decisions(
        w.run,
        &[DecisionRow {
            asset_id: entry.asset_id,
            field: entry.field.clone(),
            photoshelter_value,
            preservica_value,
            baseline: Some(written.clone()),
            outcome: FieldOutcome::QueuedForReview,
            rule: "manual".into(),
            reason,
            winning_value: None,
        }],
        w.now,
    )?;
    report.summary.concurrent_edits += 1;
    report.concurrent_edits.push(ConcurrentEdit {
        asset_id: entry.asset_id,
        system: entry.system.name().into(),
        item: w.item.to_string(),
        field: entry.field.clone(),
        value_read: read,
        value_written: written,
        note: MAY_HAVE_REPLACED.into(),
        evidence,
    });
    Ok(())
}
