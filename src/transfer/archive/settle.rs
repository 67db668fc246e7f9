//! The steps after the upload: `ingested` (the package's assets found by `SourceID`),
//! `verified` (Preservica's fixity checked against the original's), `written_back` (the
//! archive status and reference written to PhotoShelter) and `done` (the pair recorded).

use super::describe::computed_fixities;
use super::{ArchiveStep, BatchRun, TransferContext, TransferError, source_id};
use crate::mapping::photoshelter as ps_map;
use crate::mapping::preservica as pv_map;
use crate::mapping::{FieldChange, Mapping};
use crate::model::{FieldValue, System};
use crate::store::transfers::{TransferRecord, TransferState};
use crate::transfer::{
    Step, agreed_fields, check_fixity, detail_of, detail_str, record_pair, record_step,
};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

impl BatchRun<'_, '_> {
    /// Follows each uploaded package's ingest until its assets are found.
    pub(super) async fn ingested(&mut self) -> Result<(), TransferError> {
        let mut packages: Vec<String> = self
            .at_step(ArchiveStep::Uploaded)
            .filter_map(|n| detail_str(&self.items[n].record, "package"))
            .collect();
        packages.dedup();
        for key in packages {
            let members: Vec<usize> = self
                .at_step(ArchiveStep::Uploaded)
                .filter(|&n| {
                    detail_str(&self.items[n].record, "package").as_deref() == Some(key.as_str())
                })
                .collect();
            let ids: Vec<String> = members
                .iter()
                .map(|&n| source_id(&self.items[n].record))
                .collect();
            let timeout = Duration::from_secs(self.ctx.archive.ingest_timeout_secs);
            match self
                .ctx
                .preservica
                .wait_for_package(Some(&key), &ids, timeout)
                .await
            {
                Ok(found) => {
                    for &n in &members {
                        let reference = found[&source_id(&self.items[n].record)].clone();
                        self.advance(n, ArchiveStep::Ingested, Some(&reference))?;
                    }
                    self.stop_after(ArchiveStep::Ingested)?;
                }
                Err(e) => {
                    // A failed ingest will not recover by waiting: the next run sends a new
                    // package. One still running keeps its place and is waited for again.
                    let status = self.ctx.preservica.package_status(&key).await?;
                    let at = if status.as_deref() == Some("Failed") {
                        ArchiveStep::Downloaded
                    } else {
                        ArchiveStep::Uploaded
                    };
                    for &n in &members {
                        self.fail(n, Some(at), &e.to_string())?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks an ingested item's fixity in Preservica.
    pub(super) async fn verified(&mut self, n: usize) -> Result<(), TransferError> {
        let record = &self.items[n].record;
        if ArchiveStep::of(record) != Some(ArchiveStep::Ingested) {
            return Ok(());
        }
        let reference = record.target_id.clone().unwrap_or_default();
        match verify(self.ctx, &reference, record).await? {
            Ok(algorithms) => {
                let mut detail = detail_of(&self.items[n].record);
                detail.insert("verified".into(), json!(algorithms));
                self.record(n, ArchiveStep::Verified, detail)?;
                self.stop_after(ArchiveStep::Verified)
            }
            Err(reason) => self.fail(
                n,
                Some(ArchiveStep::Ingested),
                &format!("{reason}; nothing was written back to PhotoShelter"),
            ),
        }
    }

    /// Writes a verified item's archive status back to PhotoShelter.
    pub(super) async fn written_back(&mut self, n: usize) -> Result<(), TransferError> {
        let item = &self.items[n];
        if ArchiveStep::of(&item.record) != Some(ArchiveStep::Verified) {
            return Ok(());
        }
        let reference = item.record.target_id.clone().unwrap_or_default();
        let title = detail_str(&item.record, "archive_title");
        let ctx = self.ctx;
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
                self.advance(n, ArchiveStep::WrittenBack, None)?;
                self.stop_after(ArchiveStep::WrittenBack)
            }
            Err(e) => self.fail(n, Some(ArchiveStep::Verified), &e.to_string()),
        }
    }

    /// Records a written-back item's pair with the fields both sides agree on, and lets its
    /// staged copy go.
    pub(super) async fn done(&mut self, n: usize) -> Result<(), TransferError> {
        let ctx = self.ctx;
        let item = &self.items[n];
        if ArchiveStep::of(&item.record) != Some(ArchiveStep::WrittenBack) {
            return Ok(());
        }
        let reference = item.record.target_id.clone().unwrap_or_default();
        let ps_record = ctx.photoshelter.read_record(&item.media.id).await?;
        let pv_record = ctx.preservica.read_asset(&reference).await?;
        let agreed = agreed_fields(
            ctx.mapping,
            &ps_map::read_record(ctx.mapping, &ps_record).record,
            &pv_map::read_record(ctx.mapping, &pv_record).record,
        );
        let asset = record_pair(
            self.store,
            self.run,
            &item.media.id,
            &reference,
            "transfer",
            &agreed,
            ctx.clock.now(),
        )?;
        self.tally.touched.extend(asset);
        let item = &mut self.items[n];
        let mut detail = detail_of(&item.record);
        if let Some(path) = detail
            .remove("staged")
            .and_then(|v| v.as_str().map(PathBuf::from))
        {
            let _ = tokio::fs::remove_file(path).await;
        }
        record_step(
            self.store,
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
        Ok(())
    }
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
