//! The report's field rows and counts from a run's plan: what every run, nightly or live,
//! reports of the decisions it made and the writes it did.

use super::RunReport;
use super::{AssetId, AssetRow, DecisionOutcome, FieldOutcome, FieldRow, FieldValue, Mapping};
use crate::sync::engine::EnginePlan;
use std::collections::HashMap;

/// The report's rows: one per kept decision (fields that were equal and already agreed are
/// counted, not listed).
pub(super) fn fill_report(
    report: &mut RunReport,
    mapping: &Mapping,
    plan: &EnginePlan,
    assets: &HashMap<AssetId, &AssetRow>,
    write_state: &HashMap<(AssetId, String), String>,
) {
    let s = &mut report.summary;
    s.fields_compared += plan.settled_fields;
    s.in_sync += plan.settled_fields;
    for d in &plan.decisions {
        let row = assets.get(&d.asset);
        let state = write_state
            .get(&(d.asset, d.decision.field.clone()))
            .cloned()
            .unwrap_or_default();
        let outcome = d.outcome_name();
        s.fields_compared += 1;
        match outcome {
            FieldOutcome::InSync => s.in_sync += 1,
            FieldOutcome::Skipped => {
                s.skipped += 1;
            }
            _ => s.drifted += 1,
        }
        if outcome == FieldOutcome::QueuedForReview {
            s.conflicts_queued += 1;
        }
        if d.resolution.is_some() || (outcome == FieldOutcome::ConflictResolved) {
            s.conflicts_resolved += 1;
        }
        if state == "stale" {
            s.skipped += 1;
        }
        if state == "done" {
            if d.photoshelter.as_ref() != d.decision.value.as_ref() {
                s.pushed_to_photoshelter += 1;
            }
            if d.preservica.as_ref() != d.decision.value.as_ref() {
                s.pushed_to_preservica += 1;
            }
        }
        // The stored form: a set stays one JSON array, which each report form renders.
        let v = |x: &Option<FieldValue>| x.as_ref().map(FieldValue::to_canonical_string);
        let label = plan
            .labels
            .get(&d.asset)
            .cloned()
            .unwrap_or_else(|| format!("asset {}", d.asset));
        report.fields.push(FieldRow {
            asset_id: d.asset,
            photoshelter_id: row.and_then(|r| r.photoshelter_id.clone()),
            preservica_ref: row.and_then(|r| r.preservica_ref.clone()),
            label,
            field: d.decision.field.clone(),
            kind: mapping
                .field(&d.decision.field)
                .map(|f| f.kind.to_string())
                .unwrap_or_default(),
            photoshelter_value: v(&d.photoshelter),
            preservica_value: v(&d.preservica),
            has_baseline: d.baseline.is_some(),
            baseline_value: d.baseline.as_ref().and_then(v),
            outcome,
            rule: d.decision.rule.to_string(),
            reason: d.decision.reason.clone(),
            decided_value: match d.decision.outcome {
                DecisionOutcome::Review => None,
                _ => v(&d.decision.value),
            },
            write_state: state,
        });
    }
    s.failures = report.failures.len() as u64;
}
