//! From snapshots to a plan: reconcile every mapped field of every pair, apply the
//! resolutions people made in the review queue, and list the writes each system needs. Pure:
//! the cycle feeds it what the store holds and executes what it returns.

use super::reconcile::{Baseline, Case, Decision, FieldState, Outcome, reconcile_field};
use crate::mapping::Mapping;
use crate::model::{CanonicalRecord, FieldValue, System};
use crate::store::{AssetId, FieldOutcome, Resolution};
use std::collections::{BTreeMap, HashMap};

/// How a snapshot key marking an unreadable field starts (owned by [`crate::model::SnapshotKey`]).
pub const UNREADABLE_PREFIX: &str = crate::model::SnapshotKey::UNREADABLE_PREFIX;

/// One paired asset as the planner sees it.
#[derive(Debug, Clone)]
pub struct PairState<'a> {
    pub asset: AssetId,
    pub photoshelter: &'a CanonicalRecord,
    pub preservica: &'a CanonicalRecord,
    /// Fields whose value could not be read in one system: never compared, never written.
    pub unreadable: &'a BTreeMap<String, String>,
    pub baselines: &'a HashMap<String, Option<FieldValue>>,
    /// Review-queue resolutions waiting to be carried out, by field.
    pub resolutions: &'a HashMap<String, Resolution<FieldValue>>,
}

/// A decision with the inputs it was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDecision {
    pub asset: AssetId,
    pub decision: Decision,
    pub photoshelter: Option<FieldValue>,
    pub preservica: Option<FieldValue>,
    pub baseline: Option<Option<FieldValue>>,
    /// The review-queue item this decision carries out, if any.
    pub resolution: Option<i64>,
    /// Set when the field was not compared at all (unreadable).
    pub skipped: Option<String>,
}

impl FieldDecision {
    /// The `decisions.outcome` word the store records.
    pub fn outcome_name(&self) -> FieldOutcome {
        if self.skipped.is_some() {
            return FieldOutcome::Skipped;
        }
        match (self.decision.outcome, self.decision.case) {
            (Outcome::InSync, _) => FieldOutcome::InSync,
            (Outcome::Review, _) => FieldOutcome::QueuedForReview,
            (Outcome::Write, Case::PhotoShelterChanged) => FieldOutcome::PushToPreservica,
            (Outcome::Write, Case::PreservicaChanged) => FieldOutcome::PushToPhotoShelter,
            (Outcome::Write, _) => {
                match (
                    self.photoshelter.as_ref() == self.decision.value.as_ref(),
                    self.preservica.as_ref() == self.decision.value.as_ref(),
                ) {
                    (true, false) => FieldOutcome::PushToPreservica,
                    (false, true) => FieldOutcome::PushToPhotoShelter,
                    _ => FieldOutcome::ConflictResolved,
                }
            }
        }
    }
}

/// A write to one field of one asset in one system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedWrite {
    pub asset: AssetId,
    pub system: System,
    pub field: String,
    /// What the system held when the plan was made; the write is stale if it moved.
    pub expected: Option<FieldValue>,
    pub value: Option<FieldValue>,
    /// Index into `Plan::decisions`.
    pub decision: usize,
}

/// Everything a run will do.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub decisions: Vec<FieldDecision>,
    pub writes: Vec<PlannedWrite>,
}

/// Why a field was written the way a person decided, naming them when the decision says who.
fn resolved_reason(person: &Resolution<FieldValue>) -> String {
    match &person.decided_by {
        Some(who) => format!("resolved by a person ({who}): take {}", person.take),
        None => format!("resolved by a person: take {}", person.take),
    }
}

/// Reconciles every field both systems hold for one pair, adding to `plan`.
pub fn plan_pair(mapping: &Mapping, pair: &PairState<'_>, plan: &mut Plan) {
    for spec in mapping.paired_fields() {
        let a = pair.photoshelter.get(&spec.name);
        let b = pair.preservica.get(&spec.name);
        let baseline = match pair.baselines.get(&spec.name) {
            Some(v) => Baseline::Agreed(v.clone()),
            None => Baseline::None,
        };
        let base_for_record = match &baseline {
            Baseline::Agreed(v) => Some(v.clone()),
            Baseline::None => None,
        };
        if let Some(reason) = pair.unreadable.get(&spec.name) {
            plan.decisions.push(FieldDecision {
                asset: pair.asset,
                decision: Decision {
                    field: spec.name.clone(),
                    case: Case::Equal,
                    outcome: Outcome::InSync,
                    rule: spec.rule,
                    value: None,
                    reason: format!("not compared: {reason}"),
                },
                photoshelter: a.cloned(),
                preservica: b.cloned(),
                baseline: base_for_record,
                resolution: None,
                skipped: Some(reason.clone()),
            });
            continue;
        }
        let state = FieldState {
            photoshelter: a,
            preservica: b,
            baseline: &baseline,
            photoshelter_modified: pair.photoshelter.modified_at,
            preservica_modified: pair.preservica.modified_at,
        };
        let mut decision = reconcile_field(spec, &state);
        let mut resolution = None;
        if let Some(person) = pair.resolutions.get(&spec.name) {
            let value = &person.value;
            if decision.outcome == Outcome::Review {
                let chosen = match person.take.as_str() {
                    "photoshelter" => a.cloned(),
                    "preservica" => b.cloned(),
                    _ => value.clone(),
                };
                decision.outcome = Outcome::Write;
                decision.value = chosen;
                decision.reason = resolved_reason(person);
                resolution = Some(person.id);
            } else if a == b {
                // Both systems agree, yet a person decided: a write that may have replaced
                // a concurrent edit, queued with the value ferry read and the one it wrote.
                // `value` is the one the person saw for the side they took (or typed).
                if value.as_ref() != a {
                    decision.outcome = Outcome::Write;
                    decision.value = value.clone();
                }
                decision.reason = resolved_reason(person);
                resolution = Some(person.id);
            }
        }
        // A value one system would cut is never written there; a person shortens it.
        if decision.outcome == Outcome::Write
            && let Some(value) = decision.value.as_ref()
            && let Some(problem) = [System::PhotoShelter, System::Preservica]
                .into_iter()
                .filter(|s| decision.writes_to(*s, &state))
                .find_map(|s| crate::mapping::check_limit(spec, s, value).err())
        {
            decision.outcome = Outcome::Review;
            decision.reason = format!(
                "{}, but it is too long for {}: {}; shorten it (ferry never cuts a value)",
                decision.reason, problem.system, problem.detail
            );
        }
        let index = plan.decisions.len();
        for system in [System::PhotoShelter, System::Preservica] {
            if decision.writes_to(system, &state) {
                plan.writes.push(PlannedWrite {
                    asset: pair.asset,
                    system,
                    field: spec.name.clone(),
                    expected: match system {
                        System::PhotoShelter => a.cloned(),
                        System::Preservica => b.cloned(),
                    },
                    value: decision.value.clone(),
                    decision: index,
                });
            }
        }
        plan.decisions.push(FieldDecision {
            asset: pair.asset,
            decision,
            photoshelter: a.cloned(),
            preservica: b.cloned(),
            baseline: base_for_record,
            resolution,
            skipped: None,
        });
    }
}

/// What the mass-change guard found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GuardVerdict {
    pub tripped: bool,
    pub assets_changed: usize,
    pub pairs: usize,
    /// The most assets a run may change without `--allow-mass-change`.
    pub threshold: usize,
    /// Fields changed on more assets than the threshold, with counts.
    pub fields_over: Vec<(String, usize)>,
    pub reason: Option<String>,
}

/// DESIGN invariant 6: a run that would change more than `share` of the assets (or of one
/// field), and more than `min_assets` of them, applies nothing until it is rerun with
/// `--allow-mass-change`. A format shift in one system looks exactly like this.
pub fn check_mass_change<'a>(
    writes: impl IntoIterator<Item = (AssetId, &'a str)>,
    pairs: usize,
    share: f64,
    min_assets: u64,
) -> GuardVerdict {
    let threshold = ((pairs as f64 * share).ceil() as usize).max(min_assets as usize);
    let writes: Vec<(AssetId, &str)> = writes.into_iter().collect();
    let mut assets: Vec<AssetId> = writes.iter().map(|w| w.0).collect();
    assets.sort_unstable();
    assets.dedup();
    let mut per_field: BTreeMap<&str, Vec<AssetId>> = BTreeMap::new();
    for (asset, field) in &writes {
        per_field.entry(field).or_default().push(*asset);
    }
    let fields_over: Vec<(String, usize)> = per_field
        .into_iter()
        .filter_map(|(f, mut a)| {
            a.sort_unstable();
            a.dedup();
            (a.len() > threshold).then(|| (f.to_string(), a.len()))
        })
        .collect();
    let tripped = assets.len() > threshold || !fields_over.is_empty();
    let reason = tripped.then(|| {
        format!(
            "this run would change {} of {} paired assets (the limit is {threshold}: {:.0}% or at least {min_assets}){}; nothing was written. If this is intended, run again with --allow-mass-change",
            assets.len(),
            pairs,
            share * 100.0,
            if fields_over.is_empty() {
                String::new()
            } else {
                format!(
                    "; fields: {}",
                    fields_over
                        .iter()
                        .map(|(f, n)| format!("{f} on {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        )
    });
    GuardVerdict {
        tripped,
        assets_changed: assets.len(),
        pairs,
        threshold,
        fields_over,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_with_writes(assets: usize, field: &str) -> Vec<(AssetId, &str)> {
        (0..assets).map(|a| (a as AssetId, field)).collect()
    }

    #[test]
    fn the_guard_allows_small_runs_and_stops_mass_change() {
        // 1,000 pairs at 10%: up to 100 assets may change.
        let v = check_mass_change(plan_with_writes(100, "title"), 1000, 0.10, 50);
        assert!(!v.tripped);
        let v = check_mass_change(plan_with_writes(101, "title"), 1000, 0.10, 50);
        assert!(v.tripped);
        assert_eq!(v.fields_over, vec![("title".to_string(), 101)]);
        assert!(
            v.reason
                .unwrap()
                .contains("would change 101 of 1000 paired assets (the limit is 100")
        );
        // A small library may always change up to min_assets.
        let v = check_mass_change(plan_with_writes(50, "title"), 60, 0.10, 50);
        assert!(!v.tripped);
        let v = check_mass_change(plan_with_writes(51, "title"), 60, 0.10, 50);
        assert!(v.tripped);
    }
}
