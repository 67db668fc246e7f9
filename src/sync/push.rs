//! Executing the outbox: every planned write is re-checked against the target's current value
//! before it is made, made, read back, and only then marked done (DESIGN invariants 2-4).
//!
//! The re-check is what makes a crash harmless at any step: a write that was sent but not
//! yet marked finds its new value already in place and is completed without a second write; a
//! target that someone changed since the plan is left alone (stale) and looked at next run.

use super::pull::{read_photoshelter, read_preservica};
use crate::mapping::photoshelter::{self as ps_map, RecordParts};
use crate::mapping::preservica as pv_map;
use crate::mapping::{FieldChange, FieldProblem, Mapping, Translation};
use crate::model::FieldValue;
use crate::photoshelter::client::PhotoShelterClient;
use crate::preservica::client::PreservicaClient;
use crate::store::sync::OutboxEntry;

/// What became of one planned write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteResult {
    /// Written and read back; `old` is what it replaced.
    Done {
        old: Option<String>,
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
    field.starts_with('@')
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
                (e.id, WriteResult::Done { old })
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

/// Carries out the writes planned for one Preservica asset.
pub async fn push_preservica_asset(
    client: &PreservicaClient,
    mapping: &Mapping,
    reference: &str,
    entries: &[OutboxEntry],
) -> Vec<(i64, WriteResult)> {
    // The entity and only the fragments holding the fields to write are re-read; the entity
    // read here is the one the write goes on.
    let schemas = pv_map::schemas_holding(mapping, entries.iter().map(|e| e.field.as_str()));
    let (record, entity) = match client
        .read_asset_for_write(reference, schemas.as_ref())
        .await
    {
        Ok(r) => r,
        Err(e) => return failed(entries.iter(), &e.to_string()),
    };
    let current = read_preservica(mapping, &record);
    let (mut results, mut to_write) = triage(mapping, &current, entries);
    // Access state first: a restriction is worth more than a metadata correction.
    let (access, fields): (Vec<ToWrite>, Vec<ToWrite>) = to_write
        .drain(..)
        .partition(|(e, _, _)| is_access(&e.field));
    to_write = fields;
    let tag_set = !access.is_empty();
    for (entry, old, _) in access {
        let tag = entry.new_value.clone().unwrap_or_default();
        let result = match client
            .set_security_tag(crate::preservica::wire::EntityKind::Asset, reference, &tag)
            .await
        {
            Ok(()) => WriteResult::Done { old },
            Err(e) => WriteResult::Failed(e.to_string()),
        };
        results.push((entry.id, result));
    }
    if to_write.is_empty() {
        return results;
    }
    let changes: Vec<FieldChange> = to_write.iter().map(|(_, _, c)| c.clone()).collect();
    let write = pv_map::plan_write(mapping, &record, &changes);
    if write.is_empty() {
        results.extend(verify_written(&current, to_write, &write.problems));
        return results;
    }
    // A security tag just set changed the entity: the write then starts from a fresh read of
    // it rather than send the old one back.
    let after = if tag_set {
        client.apply_write(reference, &write).await
    } else {
        client
            .apply_write_over(reference, &write, &entity, record)
            .await
    }
    .map(|after| read_preservica(mapping, &after))
    .map_err(|e| e.to_string());
    results.extend(settle(after, to_write, &write.problems));
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
    let record = match client.read_parts(media_id, parts).await {
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
        .filter(|(e, _, _)| e.field == super::pull::SEARCHABLE_KEY)
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
    let after = client
        .apply_write_over(media_id, &write, record)
        .await
        .map(|after| read_photoshelter(mapping, &after))
        .map_err(|e| e.to_string());
    results.extend(settle(after, to_write, &write.problems));
    results
}
