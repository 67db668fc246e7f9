//! The local half of a run: reconcile every pair the store holds and plan what to write, a
//! page of pairs at a time.
//!
//! A run holds one page of the library in memory (its snapshots and baselines) plus what is
//! worth keeping: decisions that change something or that a person should see, the planned
//! writes, rights restrictions and rights problems. Fields found equal to each other and to
//! their baseline (nearly all of them, most nights) are counted and dropped, so memory is set
//! by the page size and the night's drift rather than by the size of the library. The page's
//! agreed baselines and kept decisions are written before the next page is read.

use super::plan::{FieldDecision, PairState, Plan, PlannedWrite, plan_pair};
use super::pull::{SEARCHABLE_KEY, SECURITY_TAG_KEY};
use super::reconcile::Outcome as DecisionOutcome;
use crate::config::{RightsAction, RightsConfig};
use crate::mapping::Mapping;
use crate::model::{CanonicalRecord, FieldValue, SnapshotKey, System};
use crate::report::RightsProblem;
use crate::store::{AssetId, DecisionRow, OutboxEntry, RunId, SettledFilter, Snapshot, StoredPair};
use crate::store::{OutboxState, Store, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Pairs read, reconciled and written back per page: large enough that SQLite's per-statement
/// cost is spread thin, small enough that a page is a few megabytes.
pub const PAGE_PAIRS: usize = 2_000;

/// What the engine needs to know about this run.
pub struct EngineRun<'a> {
    pub mapping: &'a Mapping,
    pub run: RunId,
    pub now: DateTime<Utc>,
    /// The day licence expiry is judged against.
    pub today: NaiveDate,
    /// System ids not to reconcile this run: their read failed, or a complete listing no
    /// longer shows them. Their old snapshots are not acted on.
    pub skip: &'a HashSet<String>,
    pub rights: &'a RightsConfig,
    /// Licences expiring within this many days are listed.
    pub expiring_days: u32,
    /// Compare every pair, settled or not (`ferry sync --full`).
    pub compare_settled: bool,
    /// Reconcile only these assets (a live run: the pairs whose records it pulled); `None`:
    /// every pair not left alone as settled. Pairs outside are neither reconciled nor counted.
    pub only: Option<&'a HashSet<AssetId>>,
}

/// What reconciling every pair found.
#[derive(Debug, Default)]
pub struct EnginePlan {
    /// Pairs reconciled.
    pub pairs: usize,
    /// Pairs left alone as settled: an earlier run found them equal and agreed, and nothing
    /// they depend on has changed since.
    pub pairs_unchanged: u64,
    /// Fields equal in both systems and to their baseline: counted, not kept or recorded.
    pub settled_fields: u64,
    /// Every other decision (drift, conflicts, skipped fields, baselines set or moved), in
    /// the order made; each is recorded in the store under `decision_ids[i]`.
    pub decisions: Vec<FieldDecision>,
    pub decision_ids: Vec<i64>,
    /// Writes; `decision` indexes `decisions`.
    pub writes: Vec<PlannedWrite>,
    /// Rights restrictions the policy asks for, with why (`run_id` is left 0).
    pub enforcement: Vec<(OutboxEntry, String)>,
    /// Licence problems worth a line in the report.
    pub rights: Vec<RightsProblem>,
    /// What to call each asset named above (its PhotoShelter title, else its id).
    pub labels: HashMap<AssetId, String>,
}

impl EnginePlan {
    /// Every pair, compared this run or left alone as settled: what the mass-change guard
    /// measures a run's changes against.
    pub fn all_pairs(&self) -> usize {
        self.pairs + self.pairs_unchanged as usize
    }
}

/// Reconciles and plans every pair with a snapshot in both systems, page by page: records
/// agreed values as baselines and kept decisions in the store as it goes.
///
/// Pairs settled by an earlier run are skipped unless `compare_settled`, or their licence
/// expires within the reporting window (so the rights report and policy see it every night).
pub fn plan_all_pairs(store: &mut Store, run: &EngineRun<'_>) -> Result<EnginePlan, StoreError> {
    let resolutions = store.resolutions()?;
    let filter = SettledFilter {
        digest: settled_digest(run.mapping, run.rights),
        expiring_after: (run.today + chrono::Days::new(u64::from(run.expiring_days))).to_string(),
    };
    let skip_settled = (!run.compare_settled).then_some(&filter);
    let mut out = EnginePlan {
        pairs_unchanged: match skip_settled {
            Some(filter) => store.settled(filter)?,
            None => 0,
        },
        ..EnginePlan::default()
    };
    let mut after: AssetId = 0;
    loop {
        let page = store.pairs_after(after, PAGE_PAIRS, skip_settled)?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.asset.id;
        let ids: Vec<AssetId> = page.iter().map(|p| p.asset.id).collect();
        let baselines = store.baselines_for(&ids)?;
        plan_page(
            store,
            run,
            &filter.digest,
            &page,
            &baselines,
            &resolutions,
            &mut out,
        )?;
    }
    Ok(out)
}

/// What a settled pair's standing depends on besides the stored rows: the mapping, the rights
/// policy and this version of ferry. Any change to them makes every pair be compared again.
fn settled_digest(mapping: &Mapping, rights: &RightsConfig) -> String {
    use sha2::Digest;
    let inputs = format!(
        "{}\n{:?}\n{:?}",
        env!("CARGO_PKG_VERSION"),
        mapping.fields,
        rights
    );
    hex::encode(sha2::Sha256::digest(inputs.as_bytes()))
}

fn plan_page(
    store: &mut Store,
    run: &EngineRun<'_>,
    digest: &str,
    page: &[StoredPair],
    baselines: &[(AssetId, String, Option<String>)],
    resolutions: &HashMap<(AssetId, String), crate::store::Resolution>,
    out: &mut EnginePlan,
) -> Result<(), StoreError> {
    let (plan, reconciled) = reconcile_page(run, page, baselines, resolutions, out);
    // Agreed values become baselines (invariant 3: equal in both systems).
    store.set_baselines(run.run, &agreed_baselines(&plan), run.now)?;

    let by_asset: HashMap<AssetId, &StoredPair> = page.iter().map(|p| (p.asset.id, p)).collect();
    let enforcement = plan_enforcement(run.rights, &plan, &by_asset, run.today);
    let rights = rights_problems(&plan, &by_asset, run.today, run.expiring_days);

    let (kept, new_index) = keep_news(plan.decisions, out);
    let rows: Vec<DecisionRow> = kept.iter().map(decision_row).collect();
    let ids = store.record_decisions(run.run, &rows, run.now)?;
    out.writes.extend(plan.writes.into_iter().map(|mut w| {
        w.decision = new_index[w.decision];
        w
    }));
    let named = kept
        .iter()
        .map(|d| d.asset)
        .chain(enforcement.iter().map(|(e, _)| e.asset_id))
        .collect::<HashSet<_>>();
    for asset in &named {
        if let Some(pair) = by_asset.get(asset) {
            out.labels.insert(*asset, label(pair));
        }
    }
    let settled = settled_pairs(&kept, &enforcement, reconciled, &by_asset);
    store.mark_settled(run.run, digest, &settled)?;
    out.decisions.extend(kept);
    out.decision_ids.extend(ids);
    out.enforcement.extend(enforcement);
    out.rights.extend(rights);
    Ok(())
}

/// Reconciles every pair of the page not to be skipped; the plan, and the assets reconciled.
fn reconcile_page(
    run: &EngineRun<'_>,
    page: &[StoredPair],
    baselines: &[(AssetId, String, Option<String>)],
    resolutions: &HashMap<(AssetId, String), crate::store::Resolution>,
    out: &mut EnginePlan,
) -> (Plan, Vec<AssetId>) {
    let mapping = run.mapping;
    let mut plan = Plan::default();
    let mut stored_base = baselines.iter().peekable();
    let mut reconciled = Vec::with_capacity(page.len());
    for pair in page {
        let a = &pair.asset;
        let mine: Vec<&(AssetId, String, Option<String>)> =
            std::iter::from_fn(|| stored_base.next_if(|b| b.0 <= a.id))
                .filter(|b| b.0 == a.id)
                .collect();
        let skipped = [&a.photoshelter_id, &a.preservica_ref]
            .into_iter()
            .flatten()
            .any(|id| run.skip.contains(id));
        if skipped || run.only.is_some_and(|only| !only.contains(&a.id)) {
            continue;
        }
        out.pairs += 1;
        reconciled.push(a.id);
        let (ps_rec, mut unreadable) = canonical(mapping, &pair.photoshelter);
        let (pv_rec, pv_unreadable) = canonical(mapping, &pair.preservica);
        unreadable.extend(pv_unreadable);
        let base: HashMap<String, Option<FieldValue>> = mine
            .into_iter()
            .filter_map(|(_, field, value)| {
                let spec = mapping.field(field)?;
                Some((
                    field.clone(),
                    value
                        .as_deref()
                        .and_then(|v| FieldValue::parse(spec.kind, v).ok().flatten()),
                ))
            })
            .collect();
        let res = resolutions_of(mapping, resolutions, a.id);
        plan_pair(
            mapping,
            &PairState {
                asset: a.id,
                photoshelter: &ps_rec,
                preservica: &pv_rec,
                unreadable: &unreadable,
                baselines: &base,
                resolutions: &res,
            },
            &mut plan,
        );
    }
    (plan, reconciled)
}

/// The values both systems agree on that differ from their stored baseline.
fn agreed_baselines(plan: &Plan) -> Vec<(AssetId, String, Option<String>)> {
    plan.decisions
        .iter()
        .filter(|d| d.decision.outcome == DecisionOutcome::InSync && d.skipped.is_none())
        .filter(|d| d.baseline.as_ref() != Some(&d.decision.value))
        .map(|d| {
            (
                d.asset,
                d.decision.field.clone(),
                d.decision
                    .value
                    .as_ref()
                    .map(FieldValue::to_canonical_string),
            )
        })
        .collect()
}

/// Keeps what changes something or is news and counts the rest; the kept decisions, and
/// each page decision's index among all kept ones (`usize::MAX` if dropped).
fn keep_news(
    decisions: Vec<FieldDecision>,
    out: &mut EnginePlan,
) -> (Vec<FieldDecision>, Vec<usize>) {
    let mut new_index = vec![usize::MAX; decisions.len()];
    let mut kept = Vec::new();
    for (i, d) in decisions.into_iter().enumerate() {
        // Agreeing with the baseline is no news; nor is agreeing the first time a field is
        // compared (no baseline yet): a first sync of a mirrored library would otherwise keep
        // a decision, and list a report row, for every field of every pair. Agreement reached
        // after a difference (a baseline that both systems have moved away from) is news.
        let settled = d.skipped.is_none()
            && d.resolution.is_none()
            && d.decision.outcome == DecisionOutcome::InSync
            && d.baseline.as_ref().is_none_or(|b| *b == d.decision.value);
        if settled {
            out.settled_fields += 1;
        } else {
            new_index[i] = out.decisions.len() + kept.len();
            kept.push(d);
        }
    }
    (kept, new_index)
}

/// A pair whose every field is in sync (agreed before or just now: the page's baselines are
/// written before this is asked) and that needs no restriction is settled until an input
/// changes; each with its licence expiry.
fn settled_pairs(
    kept: &[FieldDecision],
    enforcement: &[(OutboxEntry, String)],
    reconciled: Vec<AssetId>,
    by_asset: &HashMap<AssetId, &StoredPair>,
) -> Vec<(AssetId, Option<String>)> {
    let unsettled: HashSet<AssetId> = kept
        .iter()
        .filter(|d| {
            d.skipped.is_some()
                || d.resolution.is_some()
                || d.decision.outcome != DecisionOutcome::InSync
        })
        .map(|d| d.asset)
        .chain(enforcement.iter().map(|(e, _)| e.asset_id))
        .collect();
    reconciled
        .into_iter()
        .filter(|a| !unsettled.contains(a))
        .map(|a| {
            let expiry = by_asset
                .get(&a)
                .and_then(|p| p.photoshelter.fields.get("license_expiry").cloned());
            (a, expiry)
        })
        .collect()
}

/// What the report calls an asset: its PhotoShelter title, else its PhotoShelter id.
fn label(pair: &StoredPair) -> String {
    pair.photoshelter
        .fields
        .get("title")
        .cloned()
        .or_else(|| pair.asset.photoshelter_id.clone())
        .unwrap_or_else(|| format!("asset {}", pair.asset.id))
}

/// The review-queue resolutions waiting for one asset, read as the mapping's kinds.
fn resolutions_of(
    mapping: &Mapping,
    resolutions: &HashMap<(AssetId, String), crate::store::Resolution>,
    asset: AssetId,
) -> HashMap<String, crate::store::Resolution<FieldValue>> {
    if resolutions.is_empty() {
        return HashMap::new();
    }
    mapping
        .fields
        .iter()
        .filter_map(|f| {
            let r = resolutions.get(&(asset, f.name.clone()))?;
            Some((
                f.name.clone(),
                crate::store::Resolution {
                    id: r.id,
                    take: r.take.clone(),
                    value: r
                        .value
                        .as_deref()
                        .and_then(|v| FieldValue::parse(f.kind, v).ok().flatten()),
                    decided_by: r.decided_by.clone(),
                },
            ))
        })
        .collect()
}

/// A stored snapshot as a canonical record, and the fields that could not be read (never
/// compared).
pub fn canonical(
    mapping: &Mapping,
    snap: &Snapshot,
) -> (CanonicalRecord, BTreeMap<String, String>) {
    let mut record = CanonicalRecord {
        modified_at: snap.modified_at,
        file_name: snap.file_name.clone(),
        file_size: snap.file_size,
        ..CanonicalRecord::default()
    };
    let mut unreadable = BTreeMap::new();
    for (k, v) in &snap.fields {
        if let SnapshotKey::Unreadable(field) = SnapshotKey::parse(k) {
            unreadable.insert(field.to_string(), v.clone());
            continue;
        }
        if let Some(spec) = mapping.field(k) {
            match FieldValue::parse(spec.kind, v) {
                Ok(value) => record.set(k, value),
                Err(e) => {
                    unreadable.insert(k.clone(), e.to_string());
                }
            }
        }
    }
    (record, unreadable)
}

fn decision_row(d: &FieldDecision) -> DecisionRow {
    let s = |v: &Option<FieldValue>| v.as_ref().map(FieldValue::to_canonical_string);
    DecisionRow {
        asset_id: d.asset,
        field: d.decision.field.clone(),
        photoshelter_value: s(&d.photoshelter),
        preservica_value: s(&d.preservica),
        baseline: d.baseline.as_ref().map(s),
        outcome: d.outcome_name(),
        rule: d.decision.rule.to_string(),
        reason: d.decision.reason.clone(),
        winning_value: s(&d.decision.value),
    }
}

/// The value a field has after this run: the decided one, or while a person decides, the
/// one either system holds.
fn effective(d: &FieldDecision) -> Option<FieldValue> {
    match d.decision.outcome {
        DecisionOutcome::Review => d.photoshelter.clone().or(d.preservica.clone()),
        _ => d.decision.value.clone(),
    }
}

/// Licence expiry problems: dates that differ between the systems, licences that have
/// expired (the asset may still be published) and licences expiring soon.
fn rights_problems(
    plan: &Plan,
    pairs: &HashMap<AssetId, &StoredPair>,
    today: NaiveDate,
    expiring_days: u32,
) -> Vec<RightsProblem> {
    let mut out = Vec::new();
    for d in plan
        .decisions
        .iter()
        .filter(|d| d.decision.field == "license_expiry")
    {
        let Some(pair) = pairs.get(&d.asset) else {
            continue;
        };
        let day = |v: &Option<FieldValue>| match v {
            Some(FieldValue::Date(d)) => Some(d.day().to_string()),
            _ => None,
        };
        let expires_on = day(&effective(d));
        let (ps_day, pv_day) = (day(&d.photoshelter), day(&d.preservica));
        let mut push = |kind: &str, detail: String| {
            out.push(RightsProblem {
                asset_id: d.asset,
                photoshelter_id: pair.asset.photoshelter_id.clone(),
                preservica_ref: pair.asset.preservica_ref.clone(),
                label: label(pair),
                kind: kind.into(),
                detail,
                expires_on: expires_on.clone(),
                photoshelter_expiry: ps_day.clone(),
                preservica_expiry: pv_day.clone(),
            })
        };
        let show =
            |v: &Option<FieldValue>| v.as_ref().map_or("none".to_string(), |v| v.to_string());
        if d.photoshelter != d.preservica {
            push(
                "expiry_differs",
                format!(
                    "PhotoShelter says {}, Preservica says {}; {}",
                    show(&d.photoshelter),
                    show(&d.preservica),
                    d.decision.reason
                ),
            );
        }
        if let Some(FieldValue::Date(date)) = effective(d) {
            let day = date.day();
            if day < today {
                push(
                    "expired_licence",
                    format!(
                        "the licence expired on {day}; it is still published in PhotoShelter unless restricted"
                    ),
                );
            } else if (day - today).num_days() <= i64::from(expiring_days) {
                push("expiring_soon", format!("the licence expires on {day}"));
            }
        }
    }
    out
}

/// Restrictions the rights policy asks for: for each paired asset whose licence has expired
/// (or whose model release is none), make it not searchable in PhotoShelter and give it the
/// restricted security tag in Preservica — where it is not so already. Never deletes.
fn plan_enforcement(
    policy: &RightsConfig,
    plan: &Plan,
    pairs: &HashMap<AssetId, &StoredPair>,
    today: NaiveDate,
) -> Vec<(OutboxEntry, String)> {
    let mut reasons: BTreeMap<AssetId, String> = BTreeMap::new();
    for d in &plan.decisions {
        match d.decision.field.as_str() {
            "license_expiry" if policy.expired == RightsAction::Restrict => {
                if let Some(FieldValue::Date(date)) = effective(d)
                    && date.day() < today
                {
                    reasons.insert(d.asset, format!("the licence expired on {}", date.day()));
                }
            }
            "model_release"
                if policy.missing_model_release == RightsAction::Restrict
                    && effective(d).is_none_or(|v| v.to_canonical_string() == "MR-NON") =>
            {
                reasons
                    .entry(d.asset)
                    .or_insert_with(|| "there is no model release".into());
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (asset, why) in reasons {
        let Some(pair) = pairs.get(&asset) else {
            continue;
        };
        let entry = |system, field: &str, expected: Option<String>, new: &str| OutboxEntry {
            id: 0,
            run_id: 0,
            asset_id: asset,
            decision_id: None,
            system,
            field: field.into(),
            expected_value: expected,
            new_value: Some(new.into()),
            state: OutboxState::Planned,
            attempts: 0,
        };
        let searchable = pair.photoshelter.fields.get(SEARCHABLE_KEY).cloned();
        if searchable.as_deref() != Some("false") {
            out.push((
                entry(System::PhotoShelter, SEARCHABLE_KEY, searchable, "false"),
                why.clone(),
            ));
        }
        let tag = pair.preservica.fields.get(SECURITY_TAG_KEY).cloned();
        if tag.as_deref() != Some(policy.restricted_tag.as_str()) {
            out.push((
                entry(
                    System::Preservica,
                    SECURITY_TAG_KEY,
                    tag,
                    &policy.restricted_tag,
                ),
                why,
            ));
        }
    }
    out
}
