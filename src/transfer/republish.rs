//! Republish: Preservica → PhotoShelter (`ferry republish`).
//!
//! Archive assets chosen by ref, by folder or by a search over the index are copied into a
//! PhotoShelter gallery (created, with the configured visibility, when missing): the chosen
//! rendition is streamed down with its fixity checked, uploaded, given the mapped metadata
//! (with any values the user overrides, such as a new campaign), and paired with its archive
//! asset so later syncs keep both consistent. Rights travel with it: an expired licence is
//! refused unless allowed, and the usage terms are part of the mapped metadata.
//!
//! Steps, each committed before the next: `downloaded` → `uploading` → `uploaded` →
//! `written` → `done`. A run that finds a transfer at `uploading` looks in the gallery for
//! the upload before sending it again; republishing a done transfer does nothing.

use super::{
    PlannedTransfer, RunEnd, Step, TransferContext, TransferError, TransferOutcome, advance,
    agreed_fields, begin_run, byte_bar, detail_of, detail_str, finish_run, record_pair,
    record_step,
};
use crate::config::Rendition;
use crate::mapping::photoshelter as ps_map;
use crate::mapping::preservica as pv_map;
use crate::mapping::{FieldChange, Mapping};
use crate::model::{CanonicalRecord, FieldValue, System};
use crate::photoshelter::client::Scope;
use crate::photoshelter::wire::Visibility;
use crate::preservica::client::Bitstream;
use crate::preservica::opex::sanitize_file_name;
use crate::preservica::wire::{self as pv_wire, EntityKind};
use crate::report::Failure;
use crate::store::sync::RunId;
use crate::store::transfers::{StepRecord, TransferKind, TransferRecord, TransferState};
use crate::store::{RunKind, Store};
use serde_json::{Value, json};
use std::path::PathBuf;

/// Most search hits a `--query` republishes unless told otherwise.
pub const DEFAULT_QUERY_LIMIT: usize = 100;

/// What to republish and where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepublishRequest {
    pub refs: Vec<String>,
    /// Every asset in this Preservica folder (and below).
    pub folder: Option<String>,
    /// A search over the index (the query language of `ferry search`).
    pub query: Option<String>,
    /// At most this many search hits.
    pub limit: usize,
    /// The gallery's name; created when no gallery has it.
    pub to_gallery: String,
    /// `field=value` overrides of the mapped metadata (canonical field names).
    pub set: Vec<(String, String)>,
    pub allow_expired: bool,
}

/// How to run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepublishOptions {
    pub dry_run: bool,
    /// Stop after this step as if the process had died there (crash tests).
    pub stop_after: Option<RepublishStep>,
}

/// The steps of a republish transfer, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RepublishStep {
    Downloaded,
    Uploading,
    Uploaded,
    Written,
    Done,
}

impl RepublishStep {
    pub const ALL: [RepublishStep; 5] = [
        RepublishStep::Downloaded,
        RepublishStep::Uploading,
        RepublishStep::Uploaded,
        RepublishStep::Written,
        RepublishStep::Done,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RepublishStep::Downloaded => "downloaded",
            RepublishStep::Uploading => "uploading",
            RepublishStep::Uploaded => "uploaded",
            RepublishStep::Written => "written",
            RepublishStep::Done => "done",
        }
    }

    fn of(record: &TransferRecord) -> Option<RepublishStep> {
        let step = record.step.as_deref()?;
        RepublishStep::ALL.into_iter().find(|s| s.name() == step)
    }
}

/// An archive asset chosen for republishing, with what was found about it.
struct Candidate {
    reference: String,
    canonical: CanonicalRecord,
    /// Why it will not go, if it will not.
    refused: Option<String>,
}

/// Checks the overrides against the mapping: each must name a field PhotoShelter holds and
/// a value of its kind.
fn parse_overrides(
    mapping: &Mapping,
    set: &[(String, String)],
) -> Result<Vec<FieldChange>, TransferError> {
    set.iter()
        .map(|(field, raw)| {
            let spec = mapping.field(field).ok_or_else(|| {
                TransferError::Invalid(format!(
                    "--set {field}={raw}: the mapping has no field {field:?}"
                ))
            })?;
            if !spec.is_in(System::PhotoShelter) {
                return Err(TransferError::Invalid(format!(
                    "--set {field}={raw}: {field} is not kept in PhotoShelter"
                )));
            }
            let value = crate::mapping::parse_for(spec, raw)
                .map_err(|e| TransferError::Invalid(format!("--set {field}={raw}: {e}")))?;
            Ok(FieldChange {
                field: field.clone(),
                value,
            })
        })
        .collect()
}

/// Republishes what `request` names into its gallery.
pub async fn run_republish(
    store: &mut Store,
    ctx: &TransferContext<'_>,
    request: &RepublishRequest,
    opts: &RepublishOptions,
) -> Result<TransferOutcome, TransferError> {
    if request.to_gallery.trim().is_empty() {
        return Err(TransferError::Invalid(
            "--to-gallery needs a gallery name".into(),
        ));
    }
    let overrides = parse_overrides(ctx.mapping, &request.set)?;
    let refs = select(ctx, request).await?;
    if refs.is_empty() {
        return Err(TransferError::Invalid(
            "nothing to republish: the refs, folder or query given select no archive asset".into(),
        ));
    }
    let today = ctx.clock.now().date_naive();
    let mut candidates = Vec::new();
    for reference in refs {
        let record = ctx.preservica.read_asset(&reference).await?;
        let canonical = pv_map::read_record(ctx.mapping, &record).record;
        let refused = match canonical.get("license_expiry") {
            Some(FieldValue::Date(d)) if d.day() < today && !request.allow_expired => {
                Some(format!(
                    "licence expired on {}; republish it only with --allow-expired",
                    d.day()
                ))
            }
            _ => None,
        };
        candidates.push(Candidate {
            reference,
            canonical,
            refused,
        });
    }
    let existing = ctx
        .photoshelter
        .galleries_named(&request.to_gallery)
        .await?;
    let target_label = match existing.first() {
        Some(id) => format!("gallery {:?} ({id})", request.to_gallery),
        None => format!(
            "gallery {:?} (new, {})",
            request.to_gallery, ctx.republish.visibility
        ),
    };

    let mut planned = Vec::new();
    if opts.dry_run {
        for c in &candidates {
            let (name, size) = match choose_rendition(ctx, &c.reference).await? {
                Some(bs) => (bs.doc.filename.clone(), Some(bs.doc.size)),
                None => (String::new(), None),
            };
            let done = match existing.first() {
                Some(g) => store
                    .transfer_for(TransferKind::Republish, &c.reference, g)?
                    .filter(|t| t.state == TransferState::Done)
                    .map(|t| format!("already republished as {}", t.target_id.unwrap_or_default())),
                None => None,
            };
            planned.push(PlannedTransfer {
                source: c.reference.clone(),
                name,
                size,
                target: target_label.clone(),
                skip: c.refused.clone().or(done),
            });
        }
        return Ok(TransferOutcome::dry_run(planned));
    }

    let started = ctx.clock.now();
    let run = begin_run(store, &ctx.clock, RunKind::Republish)?;
    let span = tracing::info_span!("republish", run, gallery = %request.to_gallery);
    let result = tracing::Instrument::instrument(
        republish_all(
            store,
            ctx,
            run,
            request,
            &overrides,
            &candidates,
            existing.first().cloned(),
            opts,
            &mut planned,
        ),
        span,
    )
    .await;
    let (touched, failures, stopped) = match result {
        Ok((touched, failures)) => (touched, failures, None),
        Err(e @ TransferError::StoppedAfter(_)) => {
            store.release_lock(std::process::id() as i64)?;
            return Err(e);
        }
        Err(e) => (Vec::new(), Vec::new(), Some(e.to_string())),
    };
    finish_run(
        store,
        ctx,
        run,
        RunEnd {
            started,
            stopped,
            failures,
            notes: Vec::new(),
            refused: candidates.iter().filter(|c| c.refused.is_some()).count(),
            planned,
            touched,
        },
    )
}

/// The refs `request` names, each once, in the order given.
async fn select(
    ctx: &TransferContext<'_>,
    request: &RepublishRequest,
) -> Result<Vec<String>, TransferError> {
    let mut refs: Vec<String> = Vec::new();
    let add = |r: String, refs: &mut Vec<String>| {
        if !refs.contains(&r) {
            refs.push(r);
        }
    };
    for r in &request.refs {
        add(r.clone(), &mut refs);
    }
    if let Some(folder) = &request.folder {
        for link in ctx.preservica.walk_assets(Some(folder)).await? {
            add(link.reference, &mut refs);
        }
    }
    if let Some(query) = &request.query {
        let index = crate::index::SearchIndex::open_read_only(&ctx.index_dir).map_err(|e| {
            TransferError::Invalid(format!(
                "cannot search for {query:?}: {e}; run `ferry index rebuild` first"
            ))
        })?;
        let mut search = crate::index::SearchRequest::new(query, ctx.clock.now().date_naive());
        search.limit = if request.limit == 0 {
            DEFAULT_QUERY_LIMIT
        } else {
            request.limit
        };
        let results = index
            .search(&search)
            .map_err(|e| TransferError::Invalid(format!("search {query:?}: {e}")))?;
        for hit in results.hits {
            if let Some(r) = hit.preservica_ref {
                add(r, &mut refs);
            }
        }
    }
    Ok(refs)
}

/// The bitstream to republish: the access copy when configured and present, else the
/// preservation master.
async fn choose_rendition(
    ctx: &TransferContext<'_>,
    reference: &str,
) -> Result<Option<Bitstream>, TransferError> {
    let bitstreams = ctx.preservica.bitstreams(reference).await?;
    let of = |kind: &str| {
        bitstreams
            .iter()
            .find(|b| b.representation.eq_ignore_ascii_case(kind))
            .cloned()
    };
    Ok(match ctx.republish.rendition {
        Rendition::Access => of("Access").or_else(|| of("Preservation")),
        Rendition::Preservation => of("Preservation"),
    }
    .or_else(|| bitstreams.first().cloned()))
}

fn content_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" | "jpe" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "tif" | "tiff" => "image/tiff",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "pdf" => "application/pdf",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        _ => "application/octet-stream",
    }
}

fn check_stop(opts: &RepublishOptions, step: RepublishStep) -> Result<(), TransferError> {
    if opts.stop_after == Some(step) {
        return Err(TransferError::StoppedAfter(step.name()));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn republish_all(
    store: &mut Store,
    ctx: &TransferContext<'_>,
    run: RunId,
    request: &RepublishRequest,
    overrides: &[FieldChange],
    candidates: &[Candidate],
    existing: Option<String>,
    opts: &RepublishOptions,
    planned: &mut Vec<PlannedTransfer>,
) -> Result<(Vec<i64>, Vec<Failure>), TransferError> {
    let mut touched = Vec::new();
    let mut failures = Vec::new();
    let staging = ctx.archive.staging.clone();
    crate::private_fs::create_dir_all_async(&staging)
        .await
        .map_err(TransferError::io(&staging))?;
    let going: Vec<&Candidate> = candidates.iter().filter(|c| c.refused.is_none()).collect();
    for c in candidates.iter().filter(|c| c.refused.is_some()) {
        planned.push(PlannedTransfer {
            source: c.reference.clone(),
            name: String::new(),
            size: None,
            target: request.to_gallery.clone(),
            skip: c.refused.clone(),
        });
    }
    if going.is_empty() {
        return Ok((touched, failures));
    }
    let gallery = match existing {
        Some(g) => g,
        None => {
            let visibility = ctx.republish.visibility;
            let id = ctx
                .photoshelter
                .create_gallery(
                    &request.to_gallery,
                    ctx.republish.collection.as_deref(),
                    visibility,
                    visibility == Visibility::Everyone,
                )
                .await?;
            tracing::info!(gallery = %id, name = %request.to_gallery, %visibility, "gallery created");
            id
        }
    };
    for c in going {
        let mut record = store.plan_transfer(
            run,
            TransferKind::Republish,
            &c.reference,
            &gallery,
            ctx.clock.now(),
        )?;
        if record.state == TransferState::Done {
            planned.push(PlannedTransfer {
                source: c.reference.clone(),
                name: detail_str(&record, "upload_name").unwrap_or_default(),
                size: record.detail.get("size").and_then(Value::as_u64),
                target: request.to_gallery.clone(),
                skip: Some(format!(
                    "already republished as {}",
                    record.target_id.clone().unwrap_or_default()
                )),
            });
            continue;
        }
        let result = republish_one(
            store,
            ctx,
            run,
            c,
            overrides,
            &gallery,
            &staging,
            &mut record,
            opts,
        )
        .await;
        planned.push(PlannedTransfer {
            source: c.reference.clone(),
            name: detail_str(&record, "upload_name").unwrap_or_default(),
            size: record.detail.get("size").and_then(Value::as_u64),
            target: request.to_gallery.clone(),
            skip: None,
        });
        match result {
            Ok(asset) => touched.extend(asset),
            Err(e @ (TransferError::StoppedAfter(_) | TransferError::Store(_))) => return Err(e),
            Err(e) => {
                let error = e.to_string();
                tracing::warn!(reference = %c.reference, error, "republish failed");
                let step = record.step.clone().unwrap_or_else(|| "planned".into());
                let failed = StepRecord {
                    state: TransferState::Failed,
                    step: &step,
                    target_id: None,
                    detail: &record.detail,
                    error: Some(&error),
                };
                store.record_transfer_step(record.id, &failed, ctx.clock.now())?;
                failures.push(Failure {
                    asset_id: None,
                    system: "photoshelter".into(),
                    item: c.reference.clone(),
                    error,
                });
            }
        }
    }
    Ok((touched, failures))
}

#[allow(clippy::too_many_arguments)]
async fn republish_one(
    store: &mut Store,
    ctx: &TransferContext<'_>,
    run: RunId,
    candidate: &Candidate,
    overrides: &[FieldChange],
    gallery: &str,
    staging: &std::path::Path,
    record: &mut TransferRecord,
    opts: &RepublishOptions,
) -> Result<Option<i64>, TransferError> {
    let reference = &candidate.reference;
    let staged_ok = |record: &TransferRecord| {
        let size = record.detail.get("size").and_then(Value::as_u64);
        detail_str(record, "staged")
            .and_then(|p| std::fs::metadata(p).ok())
            .is_some_and(|m| Some(m.len()) == size)
    };

    // A transfer stopped while uploading: the upload may have landed.
    if RepublishStep::of(record) == Some(RepublishStep::Uploading) {
        let name = detail_str(record, "upload_name").unwrap_or_default();
        let size = record.detail.get("size").and_then(Value::as_u64);
        match find_upload(store, ctx, gallery, &name, size).await? {
            Some(media) => {
                advance(
                    store,
                    &ctx.clock,
                    record,
                    RepublishStep::Uploaded.name(),
                    Some(&media),
                )?;
            }
            None => {
                advance(
                    store,
                    &ctx.clock,
                    record,
                    RepublishStep::Downloaded.name(),
                    None,
                )?;
            }
        }
    }

    let step = RepublishStep::of(record);
    if step.is_none() || (step <= Some(RepublishStep::Downloaded) && !staged_ok(record)) {
        let bs = choose_rendition(ctx, reference).await?.ok_or_else(|| {
            TransferError::Invalid(format!(
                "archive asset {reference} has no file to republish"
            ))
        })?;
        let staged = staging.join(format!("republish-{}.file", record.id));
        let bar = byte_bar(&ctx.progress, Some(bs.doc.size), bs.doc.filename.clone());
        bar.set_position(0);
        let got = ctx.preservica.download(&bs, &staged).await;
        bar.set_position(bs.doc.size);
        bar.finish_and_clear();
        let got = got?;
        let mut detail = serde_json::Map::new();
        detail.insert("original_name".into(), json!(bs.doc.filename));
        detail.insert(
            "upload_name".into(),
            json!(sanitize_file_name(&bs.doc.filename)),
        );
        detail.insert("rendition".into(), json!(bs.representation));
        detail.insert("size".into(), json!(got.size));
        detail.insert("sha256".into(), json!(got.sha256));
        detail.insert(
            "verified".into(),
            json!(format!("{} {}", got.verified.0, got.verified.1)),
        );
        detail.insert("staged".into(), json!(staged.display().to_string()));
        record_step(
            store,
            &ctx.clock,
            record,
            Step {
                state: TransferState::InProgress,
                name: RepublishStep::Downloaded.name(),
                target: None,
                detail,
                error: None,
            },
        )?;
        check_stop(opts, RepublishStep::Downloaded)?;
    }

    if RepublishStep::of(record) == Some(RepublishStep::Downloaded) {
        advance(
            store,
            &ctx.clock,
            record,
            RepublishStep::Uploading.name(),
            None,
        )?;
        check_stop(opts, RepublishStep::Uploading)?;
        let name = detail_str(record, "upload_name").unwrap_or_else(|| reference.clone());
        let staged = PathBuf::from(detail_str(record, "staged").unwrap_or_default());
        let uploaded = ctx
            .photoshelter
            .upload_file(gallery, &name, content_type(&name), &staged)
            .await?;
        advance(
            store,
            &ctx.clock,
            record,
            RepublishStep::Uploaded.name(),
            Some(&uploaded.media_id),
        )?;
        check_stop(opts, RepublishStep::Uploaded)?;
    }

    let media = record.target_id.clone().unwrap_or_default();
    if RepublishStep::of(record) == Some(RepublishStep::Uploaded) {
        let changes = metadata_changes(ctx.mapping, &candidate.canonical, overrides, reference);
        let write = ps_map::plan_write(ctx.mapping, &Default::default(), &changes);
        ctx.photoshelter.apply_write(&media, &write).await?;
        advance(
            store,
            &ctx.clock,
            record,
            RepublishStep::Written.name(),
            None,
        )?;
        check_stop(opts, RepublishStep::Written)?;
    }

    let mut asset = None;
    if RepublishStep::of(record) == Some(RepublishStep::Written) {
        let mut detail = detail_of(record);
        match store.photoshelter_id_of(reference)? {
            Some(other) if other != media => {
                detail.insert(
                    "note".into(),
                    json!(format!(
                        "the archive asset is paired with {other} already; this copy is not kept in sync"
                    )),
                );
            }
            _ => {
                let identifiers = ctx
                    .preservica
                    .identifiers(EntityKind::Asset, reference)
                    .await?;
                let has = identifiers
                    .iter()
                    .any(|i| i.kind == pv_wire::PHOTOSHELTER_ID_TYPE && i.value == media);
                if !has {
                    ctx.preservica
                        .add_identifier(
                            EntityKind::Asset,
                            reference,
                            pv_wire::PHOTOSHELTER_ID_TYPE,
                            &media,
                        )
                        .await?;
                }
                let ps_record = ctx.photoshelter.read_record(&media).await?;
                let pv_record = ctx.preservica.read_asset(reference).await?;
                let agreed = agreed_fields(
                    ctx.mapping,
                    &ps_map::read_record(ctx.mapping, &ps_record).record,
                    &pv_map::read_record(ctx.mapping, &pv_record).record,
                );
                asset = record_pair(
                    store,
                    run,
                    &media,
                    reference,
                    "transfer",
                    &agreed,
                    ctx.clock.now(),
                )?;
            }
        }
        if let Some(path) = detail
            .remove("staged")
            .and_then(|v| v.as_str().map(PathBuf::from))
        {
            let _ = tokio::fs::remove_file(path).await;
        }
        record_step(
            store,
            &ctx.clock,
            record,
            Step {
                state: TransferState::Done,
                name: RepublishStep::Done.name(),
                target: None,
                detail,
                error: None,
            },
        )?;
        tracing::info!(reference, media, "republished");
    }
    Ok(asset)
}

/// The media a stopped upload left in the gallery: same name and size, and not the result
/// of another transfer.
async fn find_upload(
    store: &Store,
    ctx: &TransferContext<'_>,
    gallery: &str,
    name: &str,
    size: Option<u64>,
) -> Result<Option<String>, TransferError> {
    let listing = ctx
        .photoshelter
        .list_all(&Scope::Galleries(vec![gallery.to_string()]))
        .await?;
    for m in listing.media {
        if m.file_name.as_deref() != Some(name) {
            continue;
        }
        if store.photoshelter_id_of_any_transfer(&m.id)? {
            continue;
        }
        let record = ctx.photoshelter.read_record(&m.id).await?;
        if record.file_size == size {
            return Ok(Some(m.id));
        }
    }
    Ok(None)
}

/// The metadata the new PhotoShelter media gets: every mapped field from the archive record,
/// the overrides on top, the preservation reference, and the archive status.
fn metadata_changes(
    mapping: &Mapping,
    canonical: &CanonicalRecord,
    overrides: &[FieldChange],
    reference: &str,
) -> Vec<FieldChange> {
    let mut changes: Vec<FieldChange> = mapping
        .paired_fields()
        .filter(|f| f.name != "preservation_reference")
        .filter(|f| canonical.get(&f.name).is_some())
        .map(|f| FieldChange {
            field: f.name.clone(),
            value: canonical.get(&f.name).cloned(),
        })
        .collect();
    for o in overrides {
        changes.retain(|c| c.field != o.field);
        changes.push(o.clone());
    }
    if mapping
        .field("preservation_reference")
        .is_some_and(|f| f.is_in(System::PhotoShelter))
    {
        changes.push(FieldChange {
            field: "preservation_reference".into(),
            value: FieldValue::text(reference),
        });
    }
    if let Some(spec) = mapping.field("archive_status")
        && spec.is_in(System::PhotoShelter)
        && !overrides.iter().any(|o| o.field == spec.name)
        && let Ok(value) = crate::mapping::parse_for(spec, "archived")
    {
        changes.push(FieldChange {
            field: spec.name.clone(),
            value,
        });
    }
    changes
}
