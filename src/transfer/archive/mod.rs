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
    PlannedTransfer, RunEnd, Step, TransferContext, TransferError, TransferOutcome, advance,
    begin_run, finish_run, record_step,
};
use crate::config::AfterArchive;
use crate::photoshelter::client::{ContainerKind, MediaSummary};
use crate::photoshelter::wire::Visibility;
use crate::report::{Failure, TransferRow};
use crate::store::RunId;
use crate::store::transfers::{StepRecord, TransferKind, TransferRecord, TransferState};
use crate::store::{RunKind, Store};
use serde_json::Value;

mod describe;
mod download;
mod package;
mod select;
mod settle;

use select::{already_archived, plan_batch, select};

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
    let mut tally = Tally::default();
    if opts.dry_run {
        for batch in &batches {
            plan_batch(store, ctx, &folder, batch, &mut tally.planned).await?;
        }
        return Ok(TransferOutcome::dry_run(tally.planned));
    }
    let started = ctx.clock.now();
    let run = begin_run(store, &ctx.clock, RunKind::Archive)?;
    let span = tracing::info_span!("archive", run);
    let mut failures = Vec::new();
    let mut stopped = None;
    for batch in &batches {
        let label = batch
            .gallery
            .as_ref()
            .map(|g| format!("gallery {}", g.id))
            .unwrap_or_else(|| "media".into());
        let mut batch_run = BatchRun {
            store: &mut *store,
            ctx,
            run,
            folder: &folder,
            batch,
            opts,
            tally: &mut tally,
            items: Vec::new(),
        };
        let result = tracing::Instrument::instrument(
            batch_run.archive(),
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
    let Tally {
        planned,
        touched,
        notes,
    } = tally;
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

/// What a run gathers from its batches for its report.
#[derive(Default)]
struct Tally {
    planned: Vec<PlannedTransfer>,
    touched: Vec<i64>,
    notes: Vec<TransferRow>,
}

/// One batch on its way through the steps: what every step of it shares.
struct BatchRun<'a, 'c> {
    store: &'a mut Store,
    ctx: &'a TransferContext<'c>,
    run: RunId,
    /// The Preservica folder archived work goes into.
    folder: &'a str,
    batch: &'a Batch,
    opts: &'a ArchiveOptions,
    tally: &'a mut Tally,
    /// The batch's media that are not archived yet, each with its transfer row.
    items: Vec<Item>,
}

impl BatchRun<'_, '_> {
    /// Takes every item of the batch as far as it goes, one step at a time in
    /// `ArchiveStep`'s order; each step commits before the next starts.
    async fn archive(&mut self) -> Result<(), TransferError> {
        let staging = self.ctx.archive.staging.clone();
        crate::private_fs::create_dir_all_async(&staging)
            .await
            .map_err(TransferError::io(&staging))?;
        self.plan_items().await?;
        self.downloaded(&staging).await?;
        self.resume_uploading().await?;
        self.uploading_and_uploaded().await?;
        self.ingested().await?;
        // Per item, so one item is written back and paired before the next is verified.
        for n in 0..self.items.len() {
            self.verified(n).await?;
            self.written_back(n).await?;
            self.done(n).await?;
        }
        self.make_gallery_private().await
    }

    /// Plans a transfer for each media item not archived yet; the rest are listed as skipped.
    async fn plan_items(&mut self) -> Result<(), TransferError> {
        let (store, ctx, folder) = (&mut *self.store, self.ctx, self.folder);
        let target_name = self
            .batch
            .gallery
            .as_ref()
            .map(|g| format!("folder {:?}", g.name))
            .unwrap_or_else(|| format!("folder {folder}"));
        for m in &self.batch.media {
            let skip = already_archived(store, ctx, folder, &m.id, None).await?;
            self.tally.planned.push(PlannedTransfer {
                source: m.id.clone(),
                name: m.file_name.clone().unwrap_or_default(),
                size: None,
                target: target_name.clone(),
                skip: skip.clone(),
            });
            if skip.is_some() {
                continue;
            }
            let record = store.plan_transfer(
                self.run,
                TransferKind::Archive,
                &m.id,
                folder,
                ctx.clock.now(),
            )?;
            self.items.push(Item {
                media: m.clone(),
                record,
            });
        }
        Ok(())
    }

    /// Moves an item to `step`, keeping its target and detail.
    fn advance(
        &mut self,
        n: usize,
        step: ArchiveStep,
        target: Option<&str>,
    ) -> Result<(), TransferError> {
        let item = &mut self.items[n];
        advance(
            self.store,
            &self.ctx.clock,
            &mut item.record,
            step.name(),
            target,
        )
    }

    /// Moves an item to `step` (still in progress) with a new detail.
    fn record(
        &mut self,
        n: usize,
        step: ArchiveStep,
        detail: serde_json::Map<String, Value>,
    ) -> Result<(), TransferError> {
        let item = &mut self.items[n];
        record_step(
            self.store,
            &self.ctx.clock,
            &mut item.record,
            Step {
                state: TransferState::InProgress,
                name: step.name(),
                target: None,
                detail,
                error: None,
            },
        )
    }

    fn fail(
        &mut self,
        n: usize,
        at: Option<ArchiveStep>,
        error: &str,
    ) -> Result<(), TransferError> {
        fail(self.store, self.ctx, &mut self.items[n], at, error)
    }

    fn stop_after(&self, step: ArchiveStep) -> Result<(), TransferError> {
        check_stop(self.opts, step)
    }

    /// The items at `step`, by index.
    fn at_step(&self, step: ArchiveStep) -> impl Iterator<Item = usize> + '_ {
        self.items
            .iter()
            .enumerate()
            .filter(move |(_, i)| ArchiveStep::of(&i.record) == Some(step))
            .map(|(n, _)| n)
    }

    /// Slimming the working set comes last, and only when every item of the gallery is safe.
    async fn make_gallery_private(&mut self) -> Result<(), TransferError> {
        let (store, ctx, folder) = (&*self.store, self.ctx, self.folder);
        let Some(g) = &self.batch.gallery else {
            return Ok(());
        };
        if ctx.archive.after != AfterArchive::Private || g.mode == Some(Visibility::Private) {
            return Ok(());
        }
        let all_safe = self.batch.media.iter().all(|m| {
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
            self.tally.notes.push(TransferRow {
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
        Ok(())
    }
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
