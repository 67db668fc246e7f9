//! Executing the outbox: every planned write is re-checked against the target's current value
//! before it is made, made, read back, and only then marked done (DESIGN invariants 2-4).
//!
//! The re-check is what makes a crash harmless at any step: a write that was sent but not
//! yet marked finds its new value already in place and is completed without a second write; a
//! target that someone changed since the plan is left alone (stale) and looked at next run.

use super::concurrent;
use super::pull::{read_photoshelter, read_preservica};
use crate::http::{RequestKind, counted_as};
use crate::mapping::photoshelter::{self as ps_map, RecordParts};
use crate::mapping::preservica as pv_map;
use crate::mapping::{FieldChange, FieldProblem, Mapping, Translation};
use crate::model::{AccessKey, FieldValue, SnapshotKey};
use crate::photoshelter::client::PhotoShelterClient;
use crate::preservica::client::PreservicaClient;
use crate::store::OutboxEntry;

/// What became of one planned write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteResult {
    /// Written and read back; `old` is what it replaced. `concurrent` says why the write
    /// may have replaced someone else's edit made after the re-read (see `concurrent`).
    Done {
        old: Option<String>,
        concurrent: Option<String>,
    },
    /// The target already held the new value (an earlier run wrote it before stopping).
    AlreadyApplied,
    /// The target changed since the plan; not written.
    Stale {
        found: Option<String>,
    },
    Failed(String),
}

fn current_value(t: &Translation, field: &str) -> Option<String> {
    t.record.get(field).map(FieldValue::to_canonical_string)
}

/// Whether an outbox field is access state (`@…`) rather than a mapped field.
fn is_access(field: &str) -> bool {
    SnapshotKey::is_access(field)
}

/// An entry to write, with the value it replaces and the change to make.
type ToWrite = (OutboxEntry, Option<String>, FieldChange);

/// Sorts entries into already applied, stale and to-write, by the target's current values.
fn triage(
    mapping: &Mapping,
    current: &Translation,
    entries: &[OutboxEntry],
) -> (Vec<(i64, WriteResult)>, Vec<ToWrite>) {
    let mut settled = Vec::new();
    let mut to_write = Vec::new();
    for e in entries {
        if current.problems.iter().any(|p| p.field == e.field) {
            settled.push((
                e.id,
                WriteResult::Failed("the target's current value cannot be read".into()),
            ));
            continue;
        }
        let now = current_value(current, &e.field);
        if now == e.new_value {
            settled.push((e.id, WriteResult::AlreadyApplied));
        } else if now == e.expected_value && is_access(&e.field) {
            to_write.push((
                e.clone(),
                now,
                FieldChange {
                    field: e.field.clone(),
                    value: e.new_value.as_deref().and_then(FieldValue::text),
                },
            ));
        } else if now == e.expected_value {
            let Some(spec) = mapping.field(&e.field) else {
                settled.push((
                    e.id,
                    WriteResult::Failed(format!("the mapping no longer has field {}", e.field)),
                ));
                continue;
            };
            let value = match e
                .new_value
                .as_deref()
                .map(|v| FieldValue::parse(spec.kind, v))
            {
                None => None,
                Some(Ok(v)) => v,
                Some(Err(err)) => {
                    settled.push((e.id, WriteResult::Failed(err.to_string())));
                    continue;
                }
            };
            to_write.push((
                e.clone(),
                now,
                FieldChange {
                    field: e.field.clone(),
                    value,
                },
            ));
        } else {
            settled.push((e.id, WriteResult::Stale { found: now }));
        }
    }
    (settled, to_write)
}

/// Results for the written entries, from the record read back after the write.
fn verify_written(
    after: &Translation,
    written: Vec<ToWrite>,
    problems: &[FieldProblem],
) -> Vec<(i64, WriteResult)> {
    written
        .into_iter()
        .map(|(e, old, _)| {
            if let Some(p) = problems.iter().find(|p| p.field == e.field) {
                return (e.id, WriteResult::Failed(p.to_string()));
            }
            let now = current_value(after, &e.field);
            if now == e.new_value {
                (
                    e.id,
                    WriteResult::Done {
                        old,
                        concurrent: None,
                    },
                )
            } else {
                (
                    e.id,
                    WriteResult::Failed(format!(
                        "read back {:?} after writing {:?}",
                        now, e.new_value
                    )),
                )
            }
        })
        .collect()
}

/// Every entry failed for the same reason.
fn failed<'a>(
    entries: impl Iterator<Item = &'a OutboxEntry>,
    why: &str,
) -> Vec<(i64, WriteResult)> {
    entries
        .map(|e| (e.id, WriteResult::Failed(why.to_string())))
        .collect()
}

/// The results of a write: checked against the record read back, or all failed.
fn settle(
    after: Result<Translation, String>,
    written: Vec<ToWrite>,
    problems: &[FieldProblem],
) -> Vec<(i64, WriteResult)> {
    match after {
        Ok(after) => verify_written(&after, written, problems),
        Err(why) => failed(written.iter().map(|(e, _, _)| e), &why),
    }
}

/// Marks the writes that were done as maybe having replaced a concurrent edit.
fn mark_concurrent(results: &mut [(i64, WriteResult)], evidence: Option<String>) {
    let Some(evidence) = evidence else {
        return;
    };
    for (_, r) in results.iter_mut() {
        if let WriteResult::Done { concurrent, .. } = r {
            *concurrent = Some(evidence.clone());
        }
    }
}

/// Carries out the writes planned for one Preservica asset: access state (security tag)
/// first, as a restriction is worth more than a metadata correction, then the fields.
pub async fn push_preservica_asset(
    client: &PreservicaClient,
    mapping: &Mapping,
    reference: &str,
    entries: &[OutboxEntry],
) -> Vec<(i64, WriteResult)> {
    let (access, fields): (Vec<OutboxEntry>, Vec<OutboxEntry>) =
        entries.iter().cloned().partition(|e| is_access(&e.field));
    let mut results = Vec::new();
    if !access.is_empty() {
        results.extend(push_preservica_access(client, mapping, reference, &access).await);
    }
    if !fields.is_empty() {
        results.extend(push_preservica_fields(client, mapping, reference, &fields).await);
    }
    results
}

/// Sets the security tag an access entry asks for, after re-reading the entity.
async fn push_preservica_access(
    client: &PreservicaClient,
    mapping: &Mapping,
    reference: &str,
    entries: &[OutboxEntry],
) -> Vec<(i64, WriteResult)> {
    let (record, _) = match counted_as(
        RequestKind::ReReadBeforeWrite,
        client.read_asset_for_write(reference, Some(&Default::default())),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return failed(entries.iter(), &e.to_string()),
    };
    let (mut results, to_write) = triage(mapping, &read_preservica(mapping, &record), entries);
    for (entry, old, _) in to_write {
        let tag = entry.new_value.clone().unwrap_or_default();
        let result = match client
            .set_security_tag(crate::preservica::wire::EntityKind::Asset, reference, &tag)
            .await
        {
            Ok(()) => WriteResult::Done {
                old,
                concurrent: None,
            },
            Err(e) => WriteResult::Failed(e.to_string()),
        };
        results.push((entry.id, result));
    }
    results
}

/// Writes mapped fields of one asset: its events counted, the entity and the fragments
/// holding the fields re-read, the write sent on what was read with nothing awaited in
/// between, read back, and the events since the count looked at for someone else's change.
async fn push_preservica_fields(
    client: &PreservicaClient,
    mapping: &Mapping,
    reference: &str,
    entries: &[OutboxEntry],
) -> Vec<(i64, WriteResult)> {
    // The server version shapes the write's body; asked now (once per client) so that it
    // is not asked between the re-read and the write.
    if let Err(e) = client.version().await {
        return failed(entries.iter(), &e.to_string());
    }
    // Counted before the re-read, so every change after the re-read is listed after it.
    // The events are part of the stale check and of the read-back: counted as such, not
    // as the listing pages their paged answers look like.
    let events_before = match counted_as(
        RequestKind::ReReadBeforeWrite,
        client.event_count(reference),
    )
    .await
    {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(%reference, error = %e, "cannot count the asset's events; a concurrent edit would go unseen");
            None
        }
    };
    let schemas = pv_map::schemas_holding(mapping, entries.iter().map(|e| e.field.as_str()));
    let (record, entity) = match counted_as(
        RequestKind::ReReadBeforeWrite,
        client.read_asset_for_write(reference, schemas.as_ref()),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return failed(entries.iter(), &e.to_string()),
    };
    let current = read_preservica(mapping, &record);
    let (mut results, to_write) = triage(mapping, &current, entries);
    if to_write.is_empty() {
        return results;
    }
    let changes: Vec<FieldChange> = to_write.iter().map(|(_, _, c)| c.clone()).collect();
    let write = pv_map::plan_write(mapping, &record, &changes);
    if write.is_empty() {
        results.extend(verify_written(&current, to_write, &write.problems));
        return results;
    }
    let after = counted_as(
        RequestKind::ReadBack,
        client.apply_write_over(reference, &write, &entity, record),
    )
    .await
    .map(|after| read_preservica(mapping, &after))
    .map_err(|e| e.to_string());
    let mut written = settle(after, to_write, &write.problems);
    if let Some(start) = events_before {
        match counted_as(RequestKind::ReadBack, client.events_since(reference, start)).await {
            Ok(events) => mark_concurrent(
                &mut written,
                concurrent::preservica_evidence(&events, client.username()),
            ),
            Err(e) => {
                tracing::warn!(%reference, error = %e, "cannot read the asset's events after writing; a concurrent edit would go unseen")
            }
        }
    }
    results.extend(written);
    results
}

/// Carries out the writes planned for one PhotoShelter media item.
pub async fn push_photoshelter_media(
    client: &PhotoShelterClient,
    mapping: &Mapping,
    media_id: &str,
    entries: &[OutboxEntry],
) -> Vec<(i64, WriteResult)> {
    // Only the parts holding the fields to write are re-read (and later read back).
    let parts = RecordParts::holding(mapping, entries.iter().map(|e| e.field.as_str()));
    let record = match counted_as(
        RequestKind::ReReadBeforeWrite,
        client.read_parts(media_id, parts),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return failed(entries.iter(), &e.to_string()),
    };
    let current = read_photoshelter(mapping, &record);
    let (mut results, to_write) = triage(mapping, &current, entries);
    if to_write.is_empty() {
        return results;
    }
    let changes: Vec<FieldChange> = to_write
        .iter()
        .filter(|(e, _, _)| !is_access(&e.field))
        .map(|(_, _, c)| c.clone())
        .collect();
    let mut write = ps_map::plan_write(mapping, &record, &changes);
    for (e, _, _) in to_write
        .iter()
        .filter(|(e, _, _)| e.field == AccessKey::Searchable.key())
    {
        write.attributes.insert(
            crate::photoshelter::wire::SEARCHABLE.into(),
            serde_json::Value::Bool(e.new_value.as_deref() == Some("true")),
        );
    }
    if write.is_empty() {
        results.extend(verify_written(&current, to_write, &write.problems));
        return results;
    }
    // Kept to compare with the read-back: the write itself starts from `record` at once.
    let reread = record.clone();
    let mut evidence = None;
    let after = counted_as(
        RequestKind::ReadBack,
        client.apply_write_over(media_id, &write, record),
    )
    .await
    .map(|after| {
        evidence = concurrent::photoshelter_evidence(&reread, &after, &write);
        read_photoshelter(mapping, &after)
    })
    .map_err(|e| e.to_string());
    let mut written = settle(after, to_write, &write.problems);
    mark_concurrent(&mut written, evidence);
    results.extend(written);
    results
}
