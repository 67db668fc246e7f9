//! The steps of one republish run: the gallery found or made, then each asset taken through
//! `downloaded` → `uploading` → `uploaded` → `written` → `done`, one function per step.

use super::{
    Candidate, RepublishOptions, RepublishRequest, RepublishStep, choose_rendition, content_type,
    find_upload, metadata_changes,
};
use crate::mapping::FieldChange;
use crate::mapping::photoshelter as ps_map;
use crate::mapping::preservica as pv_map;
use crate::photoshelter::wire::Visibility;
use crate::preservica::opex::sanitize_file_name;
use crate::preservica::wire::{self as pv_wire, EntityKind};
use crate::report::Failure;
use crate::store::RunId;
use crate::store::Store;
use crate::store::transfers::{StepRecord, TransferKind, TransferRecord, TransferState};
use crate::transfer::{
    PlannedTransfer, Step, TransferContext, TransferError, advance, agreed_fields, byte_bar,
    detail_of, detail_str, record_pair, record_step,
};
use serde_json::{Value, json};
use std::path::PathBuf;

/// One republish run: what every step shares.
pub(super) struct Republishing<'a, 'c> {
    pub(super) store: &'a mut Store,
    pub(super) ctx: &'a TransferContext<'c>,
    pub(super) run: RunId,
    pub(super) request: &'a RepublishRequest,
    /// Values the user set over the mapped metadata.
    pub(super) overrides: &'a [FieldChange],
    pub(super) opts: &'a RepublishOptions,
    pub(super) planned: &'a mut Vec<PlannedTransfer>,
    pub(super) staging: PathBuf,
}

impl Republishing<'_, '_> {
    /// Republishes every candidate not refused into the gallery (`existing`, or made now);
    /// returns the assets paired and the failures.
    pub(super) async fn all(
        &mut self,
        candidates: &[Candidate],
        existing: Option<String>,
    ) -> Result<(Vec<i64>, Vec<Failure>), TransferError> {
        let mut touched = Vec::new();
        let mut failures = Vec::new();
        crate::private_fs::create_dir_all_async(&self.staging)
            .await
            .map_err(TransferError::io(&self.staging))?;
        let going: Vec<&Candidate> = candidates.iter().filter(|c| c.refused.is_none()).collect();
        for c in candidates.iter().filter(|c| c.refused.is_some()) {
            self.planned.push(PlannedTransfer {
                source: c.reference.clone(),
                name: String::new(),
                size: None,
                target: self.request.to_gallery.clone(),
                skip: c.refused.clone(),
            });
        }
        if going.is_empty() {
            return Ok((touched, failures));
        }
        let gallery = match existing {
            Some(g) => g,
            None => self.create_gallery().await?,
        };
        for c in going {
            let mut record = self.store.plan_transfer(
                self.run,
                TransferKind::Republish,
                &c.reference,
                &gallery,
                self.ctx.clock.now(),
            )?;
            if let Some(query) = &self.request.query
                && record.detail.get("query").is_none()
            {
                self.store.mark_selected_by(record.id, query)?;
                match record.detail.as_object_mut() {
                    Some(detail) => {
                        detail.insert("query".into(), json!(query));
                    }
                    None => record.detail = json!({"query": query}),
                }
            }
            if record.state == TransferState::Done {
                let skip = format!(
                    "already republished as {} (already in gallery {:?})",
                    record.target_id.clone().unwrap_or_default(),
                    self.request.to_gallery
                );
                self.plan(&c.reference, &record, Some(skip));
                continue;
            }
            let result = self.one(c, &gallery, &mut record).await;
            self.plan(&c.reference, &record, None);
            match result {
                Ok(asset) => touched.extend(asset),
                Err(e @ (TransferError::StoppedAfter(_) | TransferError::Store(_))) => {
                    return Err(e);
                }
                Err(e) => failures.push(self.failed(&c.reference, &record, e)?),
            }
        }
        Ok((touched, failures))
    }

    async fn create_gallery(&self) -> Result<String, TransferError> {
        let visibility = self.ctx.republish.visibility;
        let name = &self.request.to_gallery;
        let id = self
            .ctx
            .photoshelter
            .create_gallery(
                name,
                self.ctx.republish.collection.as_deref(),
                visibility,
                visibility == Visibility::Everyone,
            )
            .await?;
        tracing::info!(gallery = %id, name = %name, %visibility, "gallery created");
        Ok(id)
    }

    fn plan(&mut self, reference: &str, record: &TransferRecord, skip: Option<String>) {
        self.planned.push(PlannedTransfer {
            source: reference.to_string(),
            name: detail_str(record, "upload_name").unwrap_or_default(),
            size: record.detail.get("size").and_then(Value::as_u64),
            target: self.request.to_gallery.clone(),
            skip,
        });
    }

    /// Marks a transfer failed at the step it reached, so a later run resumes from there.
    fn failed(
        &mut self,
        reference: &str,
        record: &TransferRecord,
        e: TransferError,
    ) -> Result<Failure, TransferError> {
        let error = e.to_string();
        tracing::warn!(reference = %reference, error, "republish failed");
        let step = record.step.clone().unwrap_or_else(|| "planned".into());
        let failed = StepRecord {
            state: TransferState::Failed,
            step: &step,
            target_id: None,
            detail: &record.detail,
            error: Some(&error),
        };
        self.store
            .record_transfer_step(record.id, &failed, self.ctx.clock.now())?;
        Ok(Failure {
            asset_id: None,
            system: "photoshelter".into(),
            item: reference.to_string(),
            error,
        })
    }

    /// Takes one asset as far as it goes; the asset paired, if it was.
    async fn one(
        &mut self,
        candidate: &Candidate,
        gallery: &str,
        record: &mut TransferRecord,
    ) -> Result<Option<i64>, TransferError> {
        let reference = &candidate.reference;
        self.resume_uploading(gallery, record).await?;
        self.downloaded(reference, record).await?;
        self.uploading_and_uploaded(reference, gallery, record)
            .await?;
        self.written(candidate, record).await?;
        self.done(reference, record).await
    }

    fn stop_after(&self, step: RepublishStep) -> Result<(), TransferError> {
        if self.opts.stop_after == Some(step) {
            return Err(TransferError::StoppedAfter(step.name()));
        }
        Ok(())
    }

    fn advance(
        &mut self,
        record: &mut TransferRecord,
        step: RepublishStep,
        target: Option<&str>,
    ) -> Result<(), TransferError> {
        advance(self.store, &self.ctx.clock, record, step.name(), target)
    }

    /// A transfer stopped while uploading: the upload may have landed.
    async fn resume_uploading(
        &mut self,
        gallery: &str,
        record: &mut TransferRecord,
    ) -> Result<(), TransferError> {
        if RepublishStep::of(record) != Some(RepublishStep::Uploading) {
            return Ok(());
        }
        let name = detail_str(record, "upload_name").unwrap_or_default();
        let size = record.detail.get("size").and_then(Value::as_u64);
        match find_upload(self.store, self.ctx, gallery, &name, size).await? {
            Some(media) => self.advance(record, RepublishStep::Uploaded, Some(&media)),
            None => self.advance(record, RepublishStep::Downloaded, None),
        }
    }

    /// Downloads the chosen rendition, fixity checked, unless its staged copy is intact.
    async fn downloaded(
        &mut self,
        reference: &str,
        record: &mut TransferRecord,
    ) -> Result<(), TransferError> {
        let staged_ok = |record: &TransferRecord| {
            let size = record.detail.get("size").and_then(Value::as_u64);
            detail_str(record, "staged")
                .and_then(|p| std::fs::metadata(p).ok())
                .is_some_and(|m| Some(m.len()) == size)
        };
        let step = RepublishStep::of(record);
        if step.is_some() && (step > Some(RepublishStep::Downloaded) || staged_ok(record)) {
            return Ok(());
        }
        let ctx = self.ctx;
        let bs = choose_rendition(ctx, reference).await?.ok_or_else(|| {
            TransferError::Invalid(format!(
                "archive asset {reference} has no file to republish"
            ))
        })?;
        let staged = self.staging.join(format!("republish-{}.file", record.id));
        let bar = byte_bar(&ctx.progress, Some(bs.doc.size), bs.doc.filename.clone());
        bar.set_position(0);
        let got = ctx.preservica.download(&bs, &staged).await;
        bar.set_position(bs.doc.size);
        bar.finish_and_clear();
        let got = got?;
        // What is known already (the query that chose it) stays.
        let mut detail = detail_of(record);
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
            self.store,
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
        self.stop_after(RepublishStep::Downloaded)
    }

    /// Uploads the staged file into the gallery.
    async fn uploading_and_uploaded(
        &mut self,
        reference: &str,
        gallery: &str,
        record: &mut TransferRecord,
    ) -> Result<(), TransferError> {
        if RepublishStep::of(record) != Some(RepublishStep::Downloaded) {
            return Ok(());
        }
        self.advance(record, RepublishStep::Uploading, None)?;
        self.stop_after(RepublishStep::Uploading)?;
        let name = detail_str(record, "upload_name").unwrap_or_else(|| reference.to_string());
        let staged = PathBuf::from(detail_str(record, "staged").unwrap_or_default());
        let uploaded = self
            .ctx
            .photoshelter
            .upload_file(gallery, &name, content_type(&name), &staged)
            .await?;
        self.advance(record, RepublishStep::Uploaded, Some(&uploaded.media_id))?;
        self.stop_after(RepublishStep::Uploaded)
    }

    /// Gives the uploaded media the mapped metadata, with the overrides on top.
    async fn written(
        &mut self,
        candidate: &Candidate,
        record: &mut TransferRecord,
    ) -> Result<(), TransferError> {
        if RepublishStep::of(record) != Some(RepublishStep::Uploaded) {
            return Ok(());
        }
        let ctx = self.ctx;
        let media = record.target_id.clone().unwrap_or_default();
        let changes = metadata_changes(
            ctx.mapping,
            &candidate.canonical,
            self.overrides,
            &candidate.reference,
        );
        let write = ps_map::plan_write(ctx.mapping, &Default::default(), &changes);
        ctx.photoshelter.apply_write(&media, &write).await?;
        self.advance(record, RepublishStep::Written, None)?;
        self.stop_after(RepublishStep::Written)
    }

    /// Pairs the new media with its archive asset (unless that asset is paired already) and
    /// lets the staged copy go.
    async fn done(
        &mut self,
        reference: &str,
        record: &mut TransferRecord,
    ) -> Result<Option<i64>, TransferError> {
        if RepublishStep::of(record) != Some(RepublishStep::Written) {
            return Ok(None);
        }
        let media = record.target_id.clone().unwrap_or_default();
        let mut asset = None;
        let mut detail = detail_of(record);
        match self.store.photoshelter_id_of(reference)? {
            Some(other) if other != media => {
                detail.insert(
                    "note".into(),
                    json!(format!(
                        "the archive asset is paired with {other} already; this copy is not kept in sync"
                    )),
                );
            }
            _ => asset = self.pair(reference, &media).await?,
        }
        if let Some(path) = detail
            .remove("staged")
            .and_then(|v| v.as_str().map(PathBuf::from))
        {
            let _ = tokio::fs::remove_file(path).await;
        }
        record_step(
            self.store,
            &self.ctx.clock,
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
        Ok(asset)
    }

    /// Names the media on the archive asset and records the pair with the fields both sides
    /// agree on.
    async fn pair(&mut self, reference: &str, media: &str) -> Result<Option<i64>, TransferError> {
        let ctx = self.ctx;
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
                    media,
                )
                .await?;
        }
        let ps_record = ctx.photoshelter.read_record(media).await?;
        let pv_record = ctx.preservica.read_asset(reference).await?;
        let agreed = agreed_fields(
            ctx.mapping,
            &ps_map::read_record(ctx.mapping, &ps_record).record,
            &pv_map::read_record(ctx.mapping, &pv_record).record,
        );
        record_pair(
            self.store,
            self.run,
            media,
            reference,
            "transfer",
            &agreed,
            ctx.clock.now(),
        )
    }
}
