//! Which galleries and media an archive run takes, and which of them are archived already.

use super::{ArchiveRequest, Batch, Gallery, TransferContext, TransferError};
use crate::mapping::photoshelter::{self as ps_map, PhotoShelterRecord};
use crate::model::System;
use crate::photoshelter::client::{ContainerKind, MediaSummary, Scope};
use crate::photoshelter::wire::MediaKind;
use crate::store::Store;
use crate::store::transfers::{TransferKind, TransferState};
use crate::transfer::PlannedTransfer;

/// The batches `request` names, galleries first; media named on their own form one batch.
pub(super) async fn select(
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
pub(super) fn kind_of_id(id: &str) -> MediaKind {
    match id.chars().next() {
        Some('D') => MediaKind::Document,
        Some('V') => MediaKind::Video,
        Some('A') => MediaKind::Audio,
        _ => MediaKind::Image,
    }
}

/// PhotoShelter-only media whose last pulled `field` has one of `values`.
pub(super) fn ready_by_field(
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
pub(super) async fn already_archived(
    store: &Store,
    ctx: &TransferContext<'_>,
    folder: &str,
    media: &str,
    // The media's record when the caller has read it; else it is read only if needed.
    known: Option<&PhotoShelterRecord>,
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

pub(super) async fn plan_batch(
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
