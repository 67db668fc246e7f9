//! What the pages and the JSON API show, gathered from the store once per request: the asset
//! view, the run list and the conflict list. The HTML pages and `/api/*` render the same
//! structs, so the two never disagree.

use super::WebError;
use crate::mapping::{Mapping, Rule};
use crate::model::{FieldKind, System};
use crate::store::Store;
use crate::store::{AssetWrite, FieldDecision, HistoryEntry, ReviewItem, Run, SnapshotDetail};
use serde::Serialize;
use std::collections::BTreeSet;

/// One asset with everything ferry knows about it.
#[derive(Debug, Clone, Serialize)]
pub struct AssetView {
    pub id: i64,
    /// A label for people: the title in either system, else the file name, else the ids.
    pub label: String,
    pub photoshelter_id: Option<String>,
    /// The preservation reference: the asset's ref in Preservica.
    pub preservica_ref: Option<String>,
    pub paired_by: Option<String>,
    pub paired_at: Option<String>,
    /// `both`, `photoshelter` or `preservica`.
    pub lives_in: &'static str,
    /// Where the authoritative (preserved) copy of the file is, in words.
    pub authoritative_copy: String,
    pub snapshots: Snapshots,
    pub fields: Vec<FieldView>,
    pub open_conflicts: Vec<ConflictView>,
    pub writes: Vec<WriteView>,
    pub history: Vec<HistoryView>,
    /// The conflicts on this asset people decided: what, who, their note, and when it was done.
    pub decided: Vec<crate::store::DecidedConflict>,
    /// Where the page's preview picture comes from (`/assets/{id}/preview`), when the app
    /// can fetch one; set by the page handler, which knows the tenants.
    pub preview_url: Option<String>,
    /// The medium thumbnail (`/assets/{id}/thumb/medium`), when the app can show one.
    pub picture_url: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Snapshots {
    pub photoshelter: Option<SnapshotView>,
    pub preservica: Option<SnapshotView>,
}

/// When ferry last read the asset from one system, and the file it holds there.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotView {
    pub captured_at: String,
    pub run_id: i64,
    pub system_modified_at: Option<String>,
    pub file_name: Option<String>,
    pub file_size: Option<u64>,
    pub checksum: Option<String>,
}

/// One field of the asset in both systems.
#[derive(Debug, Clone, Serialize)]
pub struct FieldView {
    pub field: String,
    /// `None` for a field the mapping no longer names.
    pub kind: Option<FieldKind>,
    /// The mapping's rule for a true conflict.
    pub rule: Option<String>,
    /// Who wins, in words (from the rule).
    pub authority: String,
    pub photoshelter_location: Option<String>,
    pub preservica_location: Option<String>,
    pub photoshelter: Option<String>,
    pub preservica: Option<String>,
    /// What an enum code means (`MR-NAP` → "model release: not applicable"), per system.
    pub photoshelter_meaning: Option<String>,
    pub preservica_meaning: Option<String>,
    /// Whether the two systems hold different values now.
    pub differs: bool,
    /// `None`: never agreed yet; `Some(None)`: agreed on no value.
    pub baseline: Option<Option<String>>,
    pub decision: Option<DecisionView>,
}

/// The latest decision on a field.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionView {
    pub run_id: i64,
    pub outcome: String,
    pub rule: Option<String>,
    pub reason: String,
    pub winning_value: Option<String>,
    pub decided_at: String,
}

/// A conflict waiting for a person, with what the page needs to decide it.
#[derive(Debug, Clone, Serialize)]
pub struct ConflictView {
    pub id: i64,
    pub asset_id: i64,
    pub label: String,
    pub photoshelter_id: Option<String>,
    pub preservica_ref: Option<String>,
    pub field: String,
    pub kind: Option<FieldKind>,
    pub rule: Option<String>,
    /// The values an `enum` field may take, most restrictive first.
    pub values: Vec<String>,
    /// What those values mean, where known (code → meaning).
    pub meanings: std::collections::BTreeMap<String, String>,
    pub photoshelter_value: Option<String>,
    pub preservica_value: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct WriteView {
    pub run_id: i64,
    pub system: String,
    pub field: String,
    pub new_value: Option<String>,
    pub state: String,
    pub last_error: Option<String>,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryView {
    pub recorded_at: String,
    pub field: String,
    pub system: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub reason: String,
}

/// A run as the list and `/api/runs` show it: the store's one run shape, with
/// `has_report` filled in by [`run_view`].
pub type RunView = Run;

/// Who wins a true conflict on a field, in words.
pub fn authority(rule: Rule) -> &'static str {
    match rule {
        Rule::PhotoShelter => "PhotoShelter owns it",
        Rule::Preservica => "Preservica owns it",
        Rule::Newest => "the newest edit wins",
        Rule::Union => "both merged (union)",
        Rule::MostRestrictive => "the most restrictive wins",
        Rule::Manual => "a person decides",
    }
}

/// A label for an asset: its title in either system, else its file name, else its ids.
pub fn label_of(
    id: i64,
    ps: Option<&SnapshotDetail>,
    pv: Option<&SnapshotDetail>,
    ps_id: Option<&str>,
    pv_ref: Option<&str>,
) -> String {
    let title = |s: Option<&SnapshotDetail>| {
        s.and_then(|s| s.snapshot.fields.get("title"))
            .filter(|t| !t.trim().is_empty())
            .cloned()
    };
    let file = |s: Option<&SnapshotDetail>| {
        s.and_then(|s| s.snapshot.file_name.clone())
            .filter(|n| !n.trim().is_empty())
    };
    title(ps)
        .or_else(|| title(pv))
        .or_else(|| file(ps))
        .or_else(|| file(pv))
        .or_else(|| ps_id.map(str::to_string))
        .or_else(|| pv_ref.map(str::to_string))
        .unwrap_or_else(|| format!("asset {id}"))
}

fn snapshot_view(s: &SnapshotDetail) -> SnapshotView {
    SnapshotView {
        captured_at: s.captured_at.clone(),
        run_id: s.run_id,
        system_modified_at: s.snapshot.modified_at.map(crate::store::ts),
        file_name: s.snapshot.file_name.clone(),
        file_size: s.snapshot.file_size,
        checksum: s
            .snapshot
            .checksum
            .as_ref()
            .map(|(alg, value)| format!("{alg}:{value}")),
    }
}

fn decision_view(d: &FieldDecision) -> DecisionView {
    DecisionView {
        run_id: d.run_id,
        outcome: d.outcome.to_string(),
        rule: d.rule.clone(),
        reason: d.reason.clone(),
        winning_value: d.winning_value.clone(),
        decided_at: d.created_at.clone(),
    }
}

/// Everything about asset `id`, or `None` when the store does not know it.
pub fn asset_view(
    store: &Store,
    mapping: &Mapping,
    id: i64,
) -> Result<Option<AssetView>, WebError> {
    let Some(detail) = store.asset(id)? else {
        return Ok(None);
    };
    let ps = store.asset_snapshot(id, System::PhotoShelter)?;
    let pv = store.asset_snapshot(id, System::Preservica)?;
    let decisions = store.latest_decisions(id)?;
    let baselines = store.asset_baselines(id)?;
    let a = &detail.asset;

    // Mapped fields in the mapping's order, then any other field either side or a decision
    // names (a field since removed from the mapping is still shown, not hidden).
    let mut names: Vec<String> = mapping.fields.iter().map(|f| f.name.clone()).collect();
    let known: BTreeSet<String> = names.iter().cloned().collect();
    let extra: BTreeSet<String> = ps
        .iter()
        .chain(pv.iter())
        .flat_map(|s| s.snapshot.fields.keys().cloned())
        .chain(decisions.iter().map(|d| d.field.clone()))
        .filter(|f| !known.contains(f))
        .collect();
    names.extend(extra);

    let fields = names
        .into_iter()
        .filter_map(|name| {
            let spec = mapping.field(&name);
            let ps_value = ps
                .as_ref()
                .and_then(|s| s.snapshot.fields.get(&name))
                .cloned();
            let pv_value = pv
                .as_ref()
                .and_then(|s| s.snapshot.fields.get(&name))
                .cloned();
            let decision = decisions.iter().find(|d| d.field == name);
            let baseline = baselines.get(&name).cloned();
            // A mapped field with nothing anywhere is still listed: an empty row says "neither
            // system holds a value", which is worth seeing.
            if spec.is_none() && ps_value.is_none() && pv_value.is_none() && decision.is_none() {
                return None;
            }
            let in_ps = spec.is_none_or(|s| s.is_in(System::PhotoShelter));
            let in_pv = spec.is_none_or(|s| s.is_in(System::Preservica));
            Some(FieldView {
                kind: spec.map(|s| s.kind),
                rule: spec.map(|s| s.rule.name().to_string()),
                authority: spec
                    .map(|s| authority(s.rule).to_string())
                    .unwrap_or_else(|| "not in the mapping".to_string()),
                photoshelter_location: spec
                    .filter(|_| in_ps)
                    .map(|s| s.describe_location(System::PhotoShelter, mapping)),
                preservica_location: spec
                    .filter(|_| in_pv)
                    .map(|s| s.describe_location(System::Preservica, mapping)),
                differs: in_ps && in_pv && ps.is_some() && pv.is_some() && ps_value != pv_value,
                photoshelter_meaning: ps_value.as_deref().and_then(|v| mapping.label_of(&name, v)),
                preservica_meaning: pv_value.as_deref().and_then(|v| mapping.label_of(&name, v)),
                photoshelter: ps_value,
                preservica: pv_value,
                baseline,
                decision: decision.map(decision_view),
                field: name,
            })
        })
        .collect();

    let label = label_of(
        id,
        ps.as_ref(),
        pv.as_ref(),
        a.photoshelter_id.as_deref(),
        a.preservica_ref.as_deref(),
    );
    let ids = (a.photoshelter_id.as_deref(), a.preservica_ref.as_deref());
    let lives_in = match ids {
        (Some(_), Some(_)) => "both",
        (Some(_), None) => "photoshelter",
        _ => "preservica",
    };
    let open_conflicts = store
        .review_items(true)?
        .into_iter()
        .filter(|i| i.asset_id == id)
        .map(|i| conflict_view(&i, mapping, label.clone()))
        .collect();
    let writes = writes_of(store, id)?;
    let history = history_of(store, id)?;
    Ok(Some(AssetView {
        id,
        label,
        photoshelter_id: a.photoshelter_id.clone(),
        preservica_ref: a.preservica_ref.clone(),
        paired_by: a.paired_by.clone(),
        paired_at: detail.paired_at.clone(),
        lives_in,
        authoritative_copy: authoritative_copy(ids),
        snapshots: Snapshots {
            photoshelter: ps.as_ref().map(snapshot_view),
            preservica: pv.as_ref().map(snapshot_view),
        },
        fields,
        open_conflicts,
        writes,
        history,
        decided: store.decided_conflicts_of(id)?,
        preview_url: None,
        picture_url: None,
    }))
}

/// Which copy is the authoritative one, in words, from the asset's ids in each system.
fn authoritative_copy(ids: (Option<&str>, Option<&str>)) -> String {
    match ids {
        (Some(ps), Some(r)) => format!(
            "Preservica holds the preserved original ({r}); PhotoShelter holds the working copy ({ps})"
        ),
        (None, Some(r)) => format!("Preservica only ({r}): not published in PhotoShelter"),
        (Some(ps), None) => format!("PhotoShelter only ({ps}): not archived in Preservica yet"),
        (None, None) => "unknown".to_string(),
    }
}

/// The latest writes ferry made to asset `id`.
fn writes_of(store: &Store, id: i64) -> Result<Vec<WriteView>, WebError> {
    Ok(store
        .asset_writes(id, 50)?
        .into_iter()
        .map(|w: AssetWrite| WriteView {
            run_id: w.run_id,
            system: w.system,
            field: w.field,
            new_value: w.new_value,
            state: w.state.to_string(),
            last_error: w.last_error,
            updated_at: w.updated_at,
        })
        .collect())
}

/// Asset `id`'s superseded values, newest first.
fn history_of(store: &Store, id: i64) -> Result<Vec<HistoryView>, WebError> {
    Ok(store
        .field_history(id)?
        .into_iter()
        .rev()
        .map(|h: HistoryEntry| HistoryView {
            recorded_at: h.recorded_at,
            field: h.field,
            system: h.system,
            old_value: h.old_value,
            new_value: h.new_value,
            reason: h.reason,
        })
        .collect())
}

/// A review item with the mapping's view of its field.
pub fn conflict_view(item: &ReviewItem, mapping: &Mapping, label: String) -> ConflictView {
    let spec = mapping.field(&item.field);
    ConflictView {
        id: item.id,
        asset_id: item.asset_id,
        label,
        photoshelter_id: item.photoshelter_id.clone(),
        preservica_ref: item.preservica_ref.clone(),
        field: item.field.clone(),
        kind: spec.map(|s| s.kind),
        rule: spec.map(|s| s.rule.name().to_string()),
        values: spec.map(|s| s.values.clone()).unwrap_or_default(),
        meanings: spec
            .map(|s| {
                s.values
                    .iter()
                    .filter_map(|v| Some((v.clone(), mapping.label_of(&s.name, v)?)))
                    .collect()
            })
            .unwrap_or_default(),
        photoshelter_value: item.photoshelter_value.clone(),
        preservica_value: item.preservica_value.clone(),
        reason: item.reason.clone(),
    }
}

/// Every open conflict, with a label per asset.
pub fn open_conflicts(store: &Store, mapping: &Mapping) -> Result<Vec<ConflictView>, WebError> {
    let items = store.review_items(true)?;
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        let ps = store.asset_snapshot(item.asset_id, System::PhotoShelter)?;
        let pv = store.asset_snapshot(item.asset_id, System::Preservica)?;
        let label = label_of(
            item.asset_id,
            ps.as_ref(),
            pv.as_ref(),
            item.photoshelter_id.as_deref(),
            item.preservica_ref.as_deref(),
        );
        out.push(conflict_view(item, mapping, label));
    }
    Ok(out)
}

/// A run for the list, checking whether its report file is there.
pub fn run_view(run: Run, reports_dir: &std::path::Path) -> RunView {
    let has_report = reports_dir.join(format!("run-{}.html", run.id)).is_file();
    Run { has_report, ..run }
}
