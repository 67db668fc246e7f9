//! Archive: PhotoShelter → Preservica (`ferry archive`).
//!
//! Each gallery becomes one OPEX package holding a folder for the gallery (its name,
//! description and caption) and one asset per media item: the original file, its fixity, a
//! `SourceID`, the `photoshelter` identifier, and the oai_dc and ferry rights fragments the
//! mapping makes of its metadata, with the distribution history ferry knows. Documents in the
//! gallery (contracts, release forms) go in as assets of their own that name the images they
//! cover. After ingest ferry finds each asset by its `SourceID`, checks Preservica's fixity
//! against the original's, and only then writes the archive status and preservation
//! reference back to PhotoShelter and records the pair with its baselines.
//!
//! Steps, each committed before the next: `downloaded` → `uploading` → `uploaded` →
//! `ingested` → `verified` → `written_back` → `done`. A run that finds a transfer at
//! `uploading` asks the process monitor whether its package arrived before sending it again.

use super::{
    Digests, PlannedTransfer, RunEnd, Step, TransferContext, TransferError, TransferOutcome,
    advance, agreed_fields, begin_run, byte_bar, check_fixity, detail_of, detail_str, finish_run,
    record_pair, record_step,
};
use crate::config::AfterArchive;
use crate::mapping::photoshelter as ps_map;
use crate::mapping::preservica::{self as pv_map, PreservicaRecord};
use crate::mapping::{FieldChange, Mapping};
use crate::model::{FieldValue, System};
use crate::photoshelter::client::{ContainerKind, MediaSummary, Scope};
use crate::photoshelter::wire::{MediaKind, Visibility};
use crate::preservica::opex::{AssetSpec, FolderSpec, PackageBuilder};
use crate::preservica::wire::{self as pv_wire, EntityKind};
use crate::report::{Failure, TransferRow};
use crate::store::sync::RunId;
use crate::store::transfers::{StepRecord, TransferKind, TransferRecord, TransferState};
use crate::store::{RunKind, Store};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The identifier type of the PhotoShelter gallery id on the folder made for it.
pub const GALLERY_ID_TYPE: &str = "photoshelter_gallery";

/// What to archive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveRequest {
    pub galleries: Vec<String>,
    pub media: Vec<String>,
    /// Also what the config's rules select (a "ready" collection, a status field).
    pub by_rules: bool,
}

/// How to run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArchiveOptions {
    /// List what would move, with sizes; touch nothing.
    pub dry_run: bool,
    /// Stop after this step as if the process had died there (crash tests).
    pub stop_after: Option<ArchiveStep>,
}

/// The steps of an archive transfer, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ArchiveStep {
    Downloaded,
    Uploading,
    Uploaded,
    Ingested,
    Verified,
    WrittenBack,
    Done,
}

impl ArchiveStep {
    pub const ALL: [ArchiveStep; 7] = [
        ArchiveStep::Downloaded,
        ArchiveStep::Uploading,
        ArchiveStep::Uploaded,
        ArchiveStep::Ingested,
        ArchiveStep::Verified,
        ArchiveStep::WrittenBack,
        ArchiveStep::Done,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ArchiveStep::Downloaded => "downloaded",
            ArchiveStep::Uploading => "uploading",
            ArchiveStep::Uploaded => "uploaded",
            ArchiveStep::Ingested => "ingested",
            ArchiveStep::Verified => "verified",
            ArchiveStep::WrittenBack => "written_back",
            ArchiveStep::Done => "done",
        }
    }

    fn of(record: &TransferRecord) -> Option<ArchiveStep> {
        let step = record.step.as_deref()?;
        ArchiveStep::ALL.into_iter().find(|s| s.name() == step)
    }
}

/// A gallery as the package describes it.
#[derive(Debug, Clone)]
struct Gallery {
    id: String,
    name: String,
    description: Option<String>,
    mode: Option<Visibility>,
    listed: Option<bool>,
}

/// What goes into one package: a gallery's media, or loose media.
#[derive(Debug, Clone)]
struct Batch {
    gallery: Option<Gallery>,
    media: Vec<MediaSummary>,
}

/// One media item on its way.
struct Item {
    media: MediaSummary,
    record: TransferRecord,
}

/// The `SourceID` of a transfer's asset: fixed by the transfer row, so every retry of the
/// same transfer looks for (and never re-creates) the same asset.
fn source_id(record: &TransferRecord) -> String {
    format!("ferry-transfer-{}", record.id)
}

fn gallery_source_id(gallery: &str, parent: &str) -> String {
    format!("ferry-gallery-{gallery}-{parent}")
}

/// Archives what `request` names (and, with `by_rules`, what the config's rules select).
pub async fn run_archive(
    store: &mut Store,
    ctx: &TransferContext<'_>,
    request: &ArchiveRequest,
    opts: &ArchiveOptions,
) -> Result<TransferOutcome, TransferError> {
    let folder = ctx.archive.folder.clone().ok_or_else(|| {
        TransferError::Invalid(
            "archive.folder is not set in ferry.toml: name the Preservica folder (its ref) \
             archived work goes into"
                .into(),
        )
    })?;
    let batches = select(store, ctx, request).await?;
    let mut planned = Vec::new();
    if opts.dry_run {
        for batch in &batches {
            plan_batch(store, ctx, &folder, batch, &mut planned).await?;
        }
        return Ok(TransferOutcome::dry_run(planned));
    }
    let started = ctx.clock.now();
    let run = begin_run(store, &ctx.clock, RunKind::Archive)?;
    let span = tracing::info_span!("archive", run);
    let mut touched = Vec::new();
    let mut failures = Vec::new();
    let mut notes = Vec::new();
    let mut stopped = None;
    for batch in &batches {
        let label = batch
            .gallery
            .as_ref()
            .map(|g| format!("gallery {}", g.id))
            .unwrap_or_else(|| "media".into());
        let result = tracing::Instrument::instrument(
            archive_batch(
                store,
                ctx,
                run,
                &folder,
                batch,
                opts,
                &mut planned,
                &mut touched,
                &mut notes,
            ),
            tracing::info_span!(parent: &span, "batch", what = %label),
        )
        .await;
        match result {
            Ok(()) => {}
            Err(e @ TransferError::StoppedAfter(_)) => {
                // As if the process died: the run stays open (the next run marks it
                // interrupted); only the lock is let go, as a takeover would.
                store.release_lock(std::process::id() as i64)?;
                return Err(e);
            }
            Err(TransferError::Store(e)) => {
                stopped = Some(e.to_string());
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, what = %label, "archive failed");
                failures.push(Failure {
                    asset_id: None,
                    system: "preservica".into(),
                    item: label,
                    error: e.to_string(),
                });
            }
        }
    }
    finish_run(
        store,
        ctx,
        run,
        RunEnd {
            started,
            stopped,
            failures,
            notes,
            refused: 0,
            planned,
            touched,
        },
    )
}

/// The batches `request` names, galleries first; media named on their own form one batch.
async fn select(
    store: &Store,
    ctx: &TransferContext<'_>,
    request: &ArchiveRequest,
) -> Result<Vec<Batch>, TransferError> {
    let ps = ctx.photoshelter;
    let mut gallery_ids = request.galleries.clone();
    let mut loose = request.media.clone();
    if request.by_rules {
        if let Some(collection) = &ctx.archive.ready_collection {
            let listing = ps
                .list_all(&Scope::Collections(vec![collection.clone()]))
                .await?;
            for g in listing.galleries {
                if !gallery_ids.contains(&g) {
                    gallery_ids.push(g);
                }
            }
        }
        if let Some(field) = &ctx.archive.ready_field {
            for id in ready_by_field(store, field, &ctx.archive.ready_values)? {
                if !loose.contains(&id) {
                    loose.push(id);
                }
            }
        }
    }
    let mut batches = Vec::new();
    for id in &gallery_ids {
        let c = ps.container(ContainerKind::Gallery, id).await?;
        let listing = ps.list_all(&Scope::Galleries(vec![id.clone()])).await?;
        batches.push(Batch {
            gallery: Some(Gallery {
                id: id.clone(),
                name: c.name.clone().unwrap_or_else(|| id.clone()),
                description: c.description.clone(),
                mode: c.mode,
                listed: c.listed,
            }),
            media: listing.media,
        });
    }
    // A media item already in a named gallery goes with its gallery.
    loose.retain(|m| !batches.iter().any(|b| b.media.iter().any(|x| &x.id == m)));
    if !loose.is_empty() {
        let mut media = Vec::new();
        for id in loose {
            let record = ps.read_record(&id).await?;
            media.push(MediaSummary {
                kind: kind_of_id(&id),
                file_name: record.file_name.clone(),
                modified_at: record.modified_at,
                galleries: Vec::new(),
                id,
            });
        }
        batches.push(Batch {
            gallery: None,
            media,
        });
    }
    Ok(batches)
}

/// PhotoShelter ids start with a letter for their kind (contract §4).
fn kind_of_id(id: &str) -> MediaKind {
    match id.chars().next() {
        Some('D') => MediaKind::Document,
        Some('V') => MediaKind::Video,
        Some('A') => MediaKind::Audio,
        _ => MediaKind::Image,
    }
}

/// PhotoShelter-only media whose last pulled `field` has one of `values`.
fn ready_by_field(
    store: &Store,
    field: &str,
    values: &[String],
) -> Result<Vec<String>, TransferError> {
    let unarchived: Vec<_> = store
        .assets()?
        .into_iter()
        .filter(|a| a.photoshelter_id.is_some() && a.preservica_ref.is_none())
        .collect();
    // Only these assets' snapshots: most of a library is paired already.
    let snapshots = store.snapshots_of(System::PhotoShelter, unarchived.iter().map(|a| a.id))?;
    let mut out = Vec::new();
    for a in unarchived {
        let Some(ps) = &a.photoshelter_id else {
            continue;
        };
        let ready = snapshots
            .get(&a.id)
            .and_then(|s| s.fields.get(field))
            .is_some_and(|v| values.iter().any(|w| w.eq_ignore_ascii_case(v.trim())));
        if ready {
            out.push(ps.clone());
        }
    }
    out.sort();
    Ok(out)
}

/// Why a media item will not be archived, if it will not.
async fn already_archived(
    store: &Store,
    ctx: &TransferContext<'_>,
    folder: &str,
    media: &str,
    // The media's record when the caller has read it; else it is read only if needed.
    known: Option<&crate::mapping::photoshelter::PhotoShelterRecord>,
) -> Result<Option<String>, TransferError> {
    let transfer = store.transfer_for(TransferKind::Archive, media, folder)?;
    if let Some(t) = &transfer
        && t.state == TransferState::Done
    {
        return Ok(Some(format!(
            "already archived as {}",
            t.target_id.clone().unwrap_or_default()
        )));
    }
    if let Some(reference) = store.preservica_ref_of(media)? {
        return Ok(Some(format!("already in the archive as {reference}")));
    }
    // Never synced, but PhotoShelter names a preservation reference: archived before.
    if transfer.is_none() {
        let read;
        let record = match known {
            Some(r) => r,
            None => {
                read = ctx.photoshelter.read_record(media).await?;
                &read
            }
        };
        let canonical = ps_map::read_record(ctx.mapping, record).record;
        if let Some(r) = canonical.get("preservation_reference") {
            return Ok(Some(format!(
                "PhotoShelter names preservation reference {}",
                r.to_canonical_string()
            )));
        }
    }
    Ok(None)
}

async fn plan_batch(
    store: &Store,
    ctx: &TransferContext<'_>,
    folder: &str,
    batch: &Batch,
    planned: &mut Vec<PlannedTransfer>,
) -> Result<(), TransferError> {
    let target = batch
        .gallery
        .as_ref()
        .map(|g| format!("folder {:?}", g.name))
        .unwrap_or_else(|| format!("folder {folder}"));
    for m in &batch.media {
        let record = ctx.photoshelter.read_record(&m.id).await?;
        planned.push(PlannedTransfer {
            source: m.id.clone(),
            name: record
                .file_name
                .clone()
                .or_else(|| m.file_name.clone())
                .unwrap_or_default(),
            size: record.file_size,
            target: target.clone(),
            skip: already_archived(store, ctx, folder, &m.id, Some(&record)).await?,
        });
    }
    Ok(())
}

fn check_stop(opts: &ArchiveOptions, step: ArchiveStep) -> Result<(), TransferError> {
    if opts.stop_after == Some(step) {
        return Err(TransferError::StoppedAfter(step.name()));
    }
    Ok(())
}

/// Marks a transfer failed at the step it reached, keeping that step so a later run resumes
/// from it.
fn fail(
    store: &mut Store,
    ctx: &TransferContext<'_>,
    item: &mut Item,
    at: Option<ArchiveStep>,
    error: &str,
) -> Result<(), TransferError> {
    tracing::warn!(media = %item.media.id, error, "archive transfer failed");
    let step = at.map(ArchiveStep::name).unwrap_or("planned");
    let detail = item.record.detail.clone();
    let failed = StepRecord {
        state: TransferState::Failed,
        step,
        target_id: None,
        detail: &detail,
        error: Some(error),
    };
    store.record_transfer_step(item.record.id, &failed, ctx.clock.now())?;
    item.record.state = TransferState::Failed;
    item.record.error = Some(error.to_string());
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn archive_batch(
    store: &mut Store,
    ctx: &TransferContext<'_>,
    run: RunId,
    folder: &str,
    batch: &Batch,
    opts: &ArchiveOptions,
    planned: &mut Vec<PlannedTransfer>,
    touched: &mut Vec<i64>,
    notes: &mut Vec<TransferRow>,
) -> Result<(), TransferError> {
    let staging = ctx.archive.staging.clone();
    crate::private_fs::create_dir_all_async(&staging)
        .await
        .map_err(TransferError::io(&staging))?;
    let target_name = batch
        .gallery
        .as_ref()
        .map(|g| format!("folder {:?}", g.name))
        .unwrap_or_else(|| format!("folder {folder}"));
    let mut items = Vec::new();
    for m in &batch.media {
        let skip = already_archived(store, ctx, folder, &m.id, None).await?;
        planned.push(PlannedTransfer {
            source: m.id.clone(),
            name: m.file_name.clone().unwrap_or_default(),
            size: None,
            target: target_name.clone(),
            skip: skip.clone(),
        });
        if skip.is_some() {
            continue;
        }
        let record =
            store.plan_transfer(run, TransferKind::Archive, &m.id, folder, ctx.clock.now())?;
        items.push(Item {
            media: m.clone(),
            record,
        });
    }

    // Download what has not been downloaded (or whose staged copy is gone).
    for item in items.iter_mut() {
        let step = ArchiveStep::of(&item.record);
        let staged_ok = match (step, detail_str(&item.record, "staged")) {
            (Some(s), _) if s > ArchiveStep::Uploaded => true,
            (Some(_), Some(path)) => staged_intact(&path, &item.record).await,
            _ => false,
        };
        if staged_ok {
            continue;
        }
        match download(ctx, &staging, &item.media, &item.record).await {
            Ok(detail) => {
                record_step(
                    store,
                    &ctx.clock,
                    &mut item.record,
                    Step {
                        state: TransferState::InProgress,
                        name: ArchiveStep::Downloaded.name(),
                        target: None,
                        detail,
                        error: None,
                    },
                )?;
                check_stop(opts, ArchiveStep::Downloaded)?;
            }
            Err(e) => fail(store, ctx, item, None, &e.to_string())?,
        }
    }

    // A package that was being uploaded when a run stopped: if Preservica has it, it is not
    // sent again.
    for item in items.iter_mut() {
        if ArchiveStep::of(&item.record) != Some(ArchiveStep::Uploading) {
            continue;
        }
        let Some(key) = detail_str(&item.record, "package") else {
            continue;
        };
        let step = match ctx.preservica.package_status(&key).await? {
            Some(_) => ArchiveStep::Uploaded,
            None => ArchiveStep::Downloaded,
        };
        advance(store, &ctx.clock, &mut item.record, step.name(), None)?;
    }

    // Package and upload everything downloaded.
    let ready: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, i)| {
            ArchiveStep::of(&i.record) == Some(ArchiveStep::Downloaded)
                && detail_str(&i.record, "staged").is_some()
        })
        .map(|(n, _)| n)
        .collect();
    if !ready.is_empty() {
        package_and_upload(store, ctx, run, folder, batch, &mut items, &ready, opts).await?;
    }

    // Follow each package's ingest.
    let mut packages: Vec<String> = items
        .iter()
        .filter(|i| ArchiveStep::of(&i.record) == Some(ArchiveStep::Uploaded))
        .filter_map(|i| detail_str(&i.record, "package"))
        .collect();
    packages.dedup();
    for key in packages {
        let members: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, i)| {
                ArchiveStep::of(&i.record) == Some(ArchiveStep::Uploaded)
                    && detail_str(&i.record, "package").as_deref() == Some(key.as_str())
            })
            .map(|(n, _)| n)
            .collect();
        let ids: Vec<String> = members
            .iter()
            .map(|&n| source_id(&items[n].record))
            .collect();
        let timeout = Duration::from_secs(ctx.archive.ingest_timeout_secs);
        match ctx
            .preservica
            .wait_for_package(Some(&key), &ids, timeout)
            .await
        {
            Ok(found) => {
                for &n in &members {
                    let item = &mut items[n];
                    let reference = found[&source_id(&item.record)].clone();
                    advance(
                        store,
                        &ctx.clock,
                        &mut item.record,
                        ArchiveStep::Ingested.name(),
                        Some(&reference),
                    )?;
                }
                check_stop(opts, ArchiveStep::Ingested)?;
            }
            Err(e) => {
                // A failed ingest will not recover by waiting: the next run sends a new
                // package. One still running keeps its place and is waited for again.
                let failed =
                    ctx.preservica.package_status(&key).await?.as_deref() == Some("Failed");
                for &n in &members {
                    let at = if failed {
                        ArchiveStep::Downloaded
                    } else {
                        ArchiveStep::Uploaded
                    };
                    fail(store, ctx, &mut items[n], Some(at), &e.to_string())?;
                }
            }
        }
    }

    // Verify fixity, then write back, then pair.
    for item in items.iter_mut() {
        if ArchiveStep::of(&item.record) == Some(ArchiveStep::Ingested) {
            let reference = item.record.target_id.clone().unwrap_or_default();
            match verify(ctx, &reference, &item.record).await? {
                Ok(algorithms) => {
                    let mut detail = detail_of(&item.record);
                    detail.insert("verified".into(), json!(algorithms));
                    record_step(
                        store,
                        &ctx.clock,
                        &mut item.record,
                        Step {
                            state: TransferState::InProgress,
                            name: ArchiveStep::Verified.name(),
                            target: None,
                            detail,
                            error: None,
                        },
                    )?;
                    check_stop(opts, ArchiveStep::Verified)?;
                }
                Err(reason) => {
                    fail(
                        store,
                        ctx,
                        item,
                        Some(ArchiveStep::Ingested),
                        &format!("{reason}; nothing was written back to PhotoShelter"),
                    )?;
                    continue;
                }
            }
        }
        if ArchiveStep::of(&item.record) == Some(ArchiveStep::Verified) {
            let reference = item.record.target_id.clone().unwrap_or_default();
            let title = detail_str(&item.record, "archive_title");
            match write_back(
                ctx.mapping,
                ctx,
                &item.media.id,
                &reference,
                title.as_deref(),
            )
            .await
            {
                Ok(()) => {
                    advance(
                        store,
                        &ctx.clock,
                        &mut item.record,
                        ArchiveStep::WrittenBack.name(),
                        None,
                    )?;
                    check_stop(opts, ArchiveStep::WrittenBack)?;
                }
                Err(e) => {
                    fail(
                        store,
                        ctx,
                        item,
                        Some(ArchiveStep::Verified),
                        &e.to_string(),
                    )?;
                    continue;
                }
            }
        }
        if ArchiveStep::of(&item.record) == Some(ArchiveStep::WrittenBack) {
            let reference = item.record.target_id.clone().unwrap_or_default();
            let ps_record = ctx.photoshelter.read_record(&item.media.id).await?;
            let pv_record = ctx.preservica.read_asset(&reference).await?;
            let agreed = agreed_fields(
                ctx.mapping,
                &ps_map::read_record(ctx.mapping, &ps_record).record,
                &pv_map::read_record(ctx.mapping, &pv_record).record,
            );
            let asset = record_pair(
                store,
                run,
                &item.media.id,
                &reference,
                "transfer",
                &agreed,
                ctx.clock.now(),
            )?;
            touched.extend(asset);
            let mut detail = detail_of(&item.record);
            if let Some(path) = detail
                .remove("staged")
                .and_then(|v| v.as_str().map(PathBuf::from))
            {
                let _ = tokio::fs::remove_file(path).await;
            }
            record_step(
                store,
                &ctx.clock,
                &mut item.record,
                Step {
                    state: TransferState::Done,
                    name: ArchiveStep::Done.name(),
                    target: None,
                    detail,
                    error: None,
                },
            )?;
            tracing::info!(media = %item.media.id, reference, "archived");
        }
    }

    // Slimming the working set comes last, and only when every item of the gallery is safe.
    if let Some(g) = &batch.gallery
        && ctx.archive.after == AfterArchive::Private
        && g.mode != Some(Visibility::Private)
    {
        let all_safe = batch.media.iter().all(|m| {
            store
                .transfer_for(TransferKind::Archive, &m.id, folder)
                .ok()
                .flatten()
                .is_some_and(|t| t.state == TransferState::Done)
                || store.preservica_ref_of(&m.id).ok().flatten().is_some()
        });
        if all_safe {
            ctx.photoshelter
                .set_visibility(ContainerKind::Gallery, &g.id, Visibility::Private)
                .await?;
            notes.push(TransferRow {
                kind: "archive".into(),
                source: g.id.clone(),
                target: None,
                state: "done".into(),
                detail: format!(
                    "gallery {:?} made private after every item's archive copy was verified",
                    g.name
                ),
            });
        }
    }
    Ok(())
}

/// Whether a staged original is still there with the size recorded.
async fn staged_intact(path: &str, record: &TransferRecord) -> bool {
    let size = record.detail.get("size").and_then(Value::as_u64);
    match tokio::fs::metadata(path).await {
        Ok(m) => Some(m.len()) == size,
        Err(_) => false,
    }
}

/// Streams the original into the staging directory, computing its checksums on the way.
async fn download(
    ctx: &TransferContext<'_>,
    staging: &Path,
    media: &MediaSummary,
    record: &TransferRecord,
) -> Result<serde_json::Map<String, Value>, TransferError> {
    let ps_record = ctx.photoshelter.read_record(&media.id).await?;
    let original_name = ps_record
        .file_name
        .clone()
        .or_else(|| media.file_name.clone())
        .unwrap_or_else(|| media.id.clone());
    let staged = staging.join(format!("archive-{}.original", record.id));
    let mut download = ctx
        .photoshelter
        .download(&media.id, ps_record.file_size)
        .await?;
    let bar = byte_bar(
        &ctx.progress,
        ps_record.file_size.or(download.content_length),
        original_name.clone(),
    );
    let result = async {
        let mut file = tokio::fs::File::create(&staged)
            .await
            .map_err(TransferError::io(&staged))?;
        let mut digests = Digests::default();
        while let Some(chunk) = download.chunk().await? {
            digests.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(TransferError::io(&staged))?;
            bar.inc(chunk.len() as u64);
        }
        file.sync_all().await.map_err(TransferError::io(&staged))?;
        Ok::<_, TransferError>(digests)
    }
    .await;
    bar.finish_and_clear();
    let digests = match result {
        Ok(d) => d,
        Err(e) => {
            let _ = tokio::fs::remove_file(&staged).await;
            return Err(e);
        }
    };
    let size = digests.size;
    let mut detail = serde_json::Map::new();
    detail.insert("original_name".into(), json!(original_name));
    detail.insert("kind".into(), json!(media.kind.type_name()));
    detail.insert("size".into(), json!(size));
    for (alg, value) in digests.finish() {
        detail.insert(alg.to_ascii_lowercase(), json!(value));
    }
    detail.insert("staged".into(), json!(staged.display().to_string()));
    Ok(detail)
}

/// The checksums ferry computed for a transfer's original, as (algorithm, hex).
fn computed_fixities(record: &TransferRecord) -> Vec<(String, String)> {
    ["SHA256", "SHA1", "MD5"]
        .iter()
        .filter_map(|alg| {
            detail_str(record, &alg.to_ascii_lowercase()).map(|v| (alg.to_string(), v))
        })
        .collect()
}

/// The distribution history ferry knows of a media item: where PhotoShelter showed it.
fn distribution_line(gallery: Option<&Gallery>, today: chrono::NaiveDate) -> String {
    match gallery {
        Some(g) => format!(
            "PhotoShelter gallery \"{}\" ({}{}) until archived {today}",
            g.name,
            g.mode.map(|m| m.name()).unwrap_or("visibility unknown"),
            match g.listed {
                Some(false) => ", unlisted",
                _ => "",
            }
        ),
        None => format!("PhotoShelter library until archived {today}"),
    }
}

/// The Preservica description of one media item: every paired field from its PhotoShelter
/// record, and the distribution history.
fn asset_record(
    mapping: &Mapping,
    ps_record: &crate::mapping::photoshelter::PhotoShelterRecord,
    distribution: &str,
) -> PreservicaRecord {
    let canonical = ps_map::read_record(mapping, ps_record).record;
    let mut changes: Vec<FieldChange> = mapping
        .paired_fields()
        .filter(|f| f.name != "preservation_reference")
        .map(|f| FieldChange {
            field: f.name.clone(),
            value: canonical.get(&f.name).cloned(),
        })
        .collect();
    if mapping
        .field("distribution_history")
        .is_some_and(|f| f.is_in(System::Preservica))
    {
        changes.push(FieldChange {
            field: "distribution_history".into(),
            value: FieldValue::set([distribution]),
        });
    }
    let mut record = PreservicaRecord::default();
    let write = pv_map::plan_write(mapping, &record, &changes);
    record.apply(&write);
    record
}

/// The gallery folder's description: its name as title, its description as caption, and
/// both again in an oai_dc fragment with the gallery id, so the folder is described by
/// metadata as well as by its properties.
fn folder_record(mapping: &Mapping, gallery: &Gallery) -> PreservicaRecord {
    let mut record = folder_properties(mapping, gallery);
    if !record.fragments.iter().any(|f| f.schema == OAI_DC_NS) {
        let mut xml = format!(
            "<oai_dc:dc xmlns:oai_dc=\"{OAI_DC_NS}\" xmlns:dc=\"{DC_ELEMENTS_NS}\">             <dc:title>{}</dc:title>",
            crate::xml::esc(&gallery.name)
        );
        if let Some(d) = &gallery.description {
            xml.push_str(&format!(
                "<dc:description>{}</dc:description>",
                crate::xml::esc(d)
            ));
        }
        xml.push_str(&format!(
            "<dc:identifier>photoshelter gallery {}</dc:identifier></oai_dc:dc>",
            crate::xml::esc(&gallery.id)
        ));
        record.fragments.push(crate::mapping::preservica::Fragment {
            schema: OAI_DC_NS.into(),
            xml,
        });
    }
    record
}

const OAI_DC_NS: &str = "http://www.openarchives.org/OAI/2.0/oai_dc/";
const DC_ELEMENTS_NS: &str = "http://purl.org/dc/elements/1.1/";

fn folder_properties(mapping: &Mapping, gallery: &Gallery) -> PreservicaRecord {
    let mut changes = vec![FieldChange {
        field: "title".into(),
        value: FieldValue::text(&gallery.name),
    }];
    if let Some(d) = &gallery.description {
        changes.push(FieldChange {
            field: "caption".into(),
            value: FieldValue::text(d),
        });
    }
    let mut record = PreservicaRecord::default();
    let write = pv_map::plan_write(mapping, &record, &changes);
    record.apply(&write);
    record
}

#[allow(clippy::too_many_arguments)]
async fn package_and_upload(
    store: &mut Store,
    ctx: &TransferContext<'_>,
    run: RunId,
    folder: &str,
    batch: &Batch,
    items: &mut [Item],
    ready: &[usize],
    opts: &ArchiveOptions,
) -> Result<(), TransferError> {
    let key = format!("ferry-archive-{run}-{}", items[ready[0]].record.id);
    let staging = ctx.archive.staging.clone();
    let zip_path = staging.join(format!("{key}.zip"));
    let today = ctx.clock.now().date_naive();

    // A gallery folder made by an earlier package (some of its media went before) is reused.
    let (target, gallery_folder) = match &batch.gallery {
        Some(g) => {
            let sid = gallery_source_id(&g.id, folder);
            let existing = ctx
                .preservica
                .find_by_identifier(pv_wire::SOURCE_ID_TYPE, &sid)
                .await?
                .into_iter()
                .find(|e| e.kind.is_none_or(|k| k == EntityKind::Folder) && !e.deleted);
            match existing {
                Some(e) => (e.reference, None),
                None => {
                    let record = folder_record(ctx.mapping, g);
                    let spec = FolderSpec {
                        parent: None,
                        name: g.name.clone(),
                        source_id: Some(sid),
                        title: record.title.clone().unwrap_or_else(|| g.name.clone()),
                        description: record.description.clone(),
                        security: String::new(),
                        identifiers: vec![(GALLERY_ID_TYPE.into(), g.id.clone())],
                        fragments: record.fragments.iter().map(|f| f.xml.clone()).collect(),
                    };
                    (folder.to_string(), Some(spec))
                }
            }
        }
        None => (folder.to_string(), None),
    };

    // Images a document in the gallery covers: all of them (a contract or a release form
    // is filed with the shoot it belongs to).
    let images: Vec<String> = batch
        .media
        .iter()
        .filter(|m| m.kind == MediaKind::Image)
        .map(|m| m.id.clone())
        .collect();
    let distribution = distribution_line(batch.gallery.as_ref(), today);
    let mut assets = Vec::new();
    for &n in ready {
        let item = &items[n];
        let ps_record = ctx.photoshelter.read_record(&item.media.id).await?;
        let record = asset_record(ctx.mapping, &ps_record, &distribution);
        let original_name =
            detail_str(&item.record, "original_name").unwrap_or_else(|| item.media.id.clone());
        // The title Preservica will show when PhotoShelter has none (the file name).
        let untitled = record.title.is_none()
            && ctx
                .mapping
                .field("title")
                .is_some_and(|f| f.is_in(System::PhotoShelter));
        let spec = AssetSpec {
            original_name: original_name.clone(),
            source_id: Some(source_id(&item.record)),
            title: record.title.clone().unwrap_or_default(),
            description: record.description.clone(),
            security: String::new(),
            identifiers: vec![(pv_wire::PHOTOSHELTER_ID_TYPE.into(), item.media.id.clone())],
            covers: if item.media.kind == MediaKind::Document {
                images.clone()
            } else {
                Vec::new()
            },
            fragments: record.fragments.iter().map(|f| f.xml.clone()).collect(),
            expected_size: item.record.detail.get("size").and_then(Value::as_u64),
        };
        let staged = PathBuf::from(detail_str(&item.record, "staged").unwrap_or_default());
        assets.push((n, spec, staged, untitled.then(|| original_name.clone())));
    }

    // Building the zip reads and writes files: off the async threads.
    let build = {
        let zip_path = zip_path.clone();
        let key = key.clone();
        let assets: Vec<(usize, AssetSpec, PathBuf)> = assets
            .iter()
            .map(|(n, spec, staged, _)| (*n, spec.clone(), staged.clone()))
            .collect();
        tokio::task::spawn_blocking(move || -> Result<Vec<(usize, crate::preservica::opex::PackagedFile)>, TransferError> {
            let file = std::fs::File::create(&zip_path).map_err(TransferError::io(&zip_path))?;
            let mut builder = PackageBuilder::new(std::io::BufWriter::new(file), &key)?;
            let parent = match gallery_folder {
                Some(spec) => builder.add_folder(spec)?,
                None => builder.container_folder(),
            };
            let mut packaged = Vec::new();
            for (n, spec, staged) in assets {
                let mut content =
                    std::fs::File::open(&staged).map_err(TransferError::io(&staged))?;
                packaged.push((n, builder.add_asset(parent, spec, &mut content)?));
            }
            builder.finish()?;
            Ok(packaged)
        })
    };
    let packaged = match build.await {
        Ok(result) => result,
        Err(e) => Err(TransferError::Invalid(format!(
            "building package {key} stopped: {e}"
        ))),
    };
    let packaged = match packaged {
        Ok(p) => p,
        Err(e) => {
            let _ = tokio::fs::remove_file(&zip_path).await;
            for &n in ready {
                fail(
                    store,
                    ctx,
                    &mut items[n],
                    Some(ArchiveStep::Downloaded),
                    &e.to_string(),
                )?;
            }
            return Ok(());
        }
    };
    for (n, file) in &packaged {
        let item = &mut items[*n];
        let mut detail = detail_of(&item.record);
        detail.insert("package".into(), json!(key));
        detail.insert("packaged_name".into(), json!(file.packaged_name));
        detail.insert("packaged_path".into(), json!(file.packaged_path));
        detail.insert("source_id".into(), json!(source_id(&item.record)));
        if let Some((.., Some(title))) = assets.iter().find(|(m, ..)| m == n) {
            detail.insert("archive_title".into(), json!(title));
        }
        if file.sha256 != detail_str(&item.record, "sha256").unwrap_or_default() {
            // The staged file changed under us: never archive something other than what
            // was downloaded and checked.
            let _ = tokio::fs::remove_file(&zip_path).await;
            return Err(TransferError::Invalid(format!(
                "{}: the staged copy no longer matches the download; run again to fetch it anew",
                item.media.id
            )));
        }
        record_step(
            store,
            &ctx.clock,
            &mut item.record,
            Step {
                state: TransferState::InProgress,
                name: ArchiveStep::Uploading.name(),
                target: None,
                detail,
                error: None,
            },
        )?;
    }
    check_stop(opts, ArchiveStep::Uploading)?;
    let uploaded = ctx
        .preservica
        .upload_package_as(&zip_path, &target, &format!("{key}.zip"))
        .await;
    let _ = tokio::fs::remove_file(&zip_path).await;
    match uploaded {
        Ok(upload) => {
            tracing::info!(package = %key, multipart = upload.multipart, "package uploaded");
            for (n, _) in &packaged {
                let item = &mut items[*n];
                advance(
                    store,
                    &ctx.clock,
                    &mut item.record,
                    ArchiveStep::Uploaded.name(),
                    None,
                )?;
            }
            check_stop(opts, ArchiveStep::Uploaded)?;
        }
        Err(e) => {
            // Whether any of it arrived is asked again next run (the step stays `uploading`).
            for (n, _) in &packaged {
                fail(
                    store,
                    ctx,
                    &mut items[*n],
                    Some(ArchiveStep::Uploading),
                    &e.to_string(),
                )?;
            }
        }
    }
    Ok(())
}

/// Checks Preservica's fixity of the ingested asset against the original's.
/// `Ok(Err(reason))`: the copy does not match.
async fn verify(
    ctx: &TransferContext<'_>,
    reference: &str,
    record: &TransferRecord,
) -> Result<Result<String, String>, TransferError> {
    let bitstreams = ctx.preservica.bitstreams(reference).await?;
    let Some(bs) = bitstreams
        .iter()
        .find(|b| b.representation.eq_ignore_ascii_case("Preservation"))
        .or(bitstreams.first())
    else {
        return Ok(Err(format!("asset {reference} has no bitstream")));
    };
    let size = record.detail.get("size").and_then(Value::as_u64);
    if Some(bs.doc.size) != size {
        return Ok(Err(format!(
            "size mismatch: Preservica holds {} bytes, the original has {}",
            bs.doc.size,
            size.map(|s| s.to_string()).unwrap_or_else(|| "?".into())
        )));
    }
    Ok(check_fixity(&bs.doc.fixities, &computed_fixities(record)))
}

/// Writes the archive status and the preservation reference into PhotoShelter (read back
/// by the client to verify).
async fn write_back(
    mapping: &Mapping,
    ctx: &TransferContext<'_>,
    media: &str,
    reference: &str,
    title: Option<&str>,
) -> Result<(), TransferError> {
    let mut changes = Vec::new();
    // Preservica gives an untitled asset its file name as title; PhotoShelter gets the same,
    // so the pair starts in sync rather than with a difference ferry made itself.
    if let Some(t) = title {
        changes.push(FieldChange {
            field: "title".into(),
            value: FieldValue::text(t),
        });
    }
    if let Some(spec) = mapping.field("archive_status")
        && spec.is_in(System::PhotoShelter)
    {
        let value = crate::mapping::parse_for(spec, "archived").map_err(|e| {
            TransferError::Invalid(format!(
                "the mapping's archive_status field cannot hold \"archived\": {e}"
            ))
        })?;
        changes.push(FieldChange {
            field: spec.name.clone(),
            value,
        });
    }
    if let Some(spec) = mapping.field("preservation_reference")
        && spec.is_in(System::PhotoShelter)
    {
        changes.push(FieldChange {
            field: spec.name.clone(),
            value: FieldValue::text(reference),
        });
    }
    if changes.is_empty() {
        return Ok(());
    }
    let write = ps_map::plan_write(mapping, &Default::default(), &changes);
    ctx.photoshelter.apply_write(media, &write).await?;
    Ok(())
}
