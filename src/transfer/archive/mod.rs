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
use crate::store::Store;
use crate::store::sync::RunId;
use crate::store::transfers::{TransferKind, TransferRecord, TransferState};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

mod describe;
mod download;
mod package;
mod select;
mod verify;

use describe::*;
use download::*;
use package::*;
use select::*;
use verify::*;

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
pub(super) struct Gallery {
    id: String,
    name: String,
    description: Option<String>,
    mode: Option<Visibility>,
    listed: Option<bool>,
}

/// What goes into one package: a gallery's media, or loose media.
#[derive(Debug, Clone)]
pub(super) struct Batch {
    gallery: Option<Gallery>,
    media: Vec<MediaSummary>,
}

/// One media item on its way.
pub(super) struct Item {
    media: MediaSummary,
    record: TransferRecord,
}

/// The `SourceID` of a transfer's asset: fixed by the transfer row, so every retry of the
/// same transfer looks for (and never re-creates) the same asset.
pub(super) fn source_id(record: &TransferRecord) -> String {
    format!("ferry-transfer-{}", record.id)
}

pub(super) fn gallery_source_id(gallery: &str, parent: &str) -> String {
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
    let run = begin_run(store, &ctx.clock, "archive")?;
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

pub(super) fn check_stop(opts: &ArchiveOptions, step: ArchiveStep) -> Result<(), TransferError> {
    if opts.stop_after == Some(step) {
        return Err(TransferError::StoppedAfter(step.name()));
    }
    Ok(())
}

/// Marks a transfer failed at the step it reached, keeping that step so a later run resumes
/// from it.
pub(super) fn fail(
    store: &mut Store,
    ctx: &TransferContext<'_>,
    item: &mut Item,
    at: Option<ArchiveStep>,
    error: &str,
) -> Result<(), TransferError> {
    tracing::warn!(media = %item.media.id, error, "archive transfer failed");
    let step = at.map(ArchiveStep::name).unwrap_or("planned");
    let detail = item.record.detail.clone();
    store.record_transfer_step(
        item.record.id,
        TransferState::Failed,
        step,
        None,
        &detail,
        Some(error),
        ctx.clock.now(),
    )?;
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
