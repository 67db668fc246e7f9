//! The `downloaded` step: the original streamed into staging with its checksums.

use super::{ArchiveStep, BatchRun, TransferContext, TransferError};
use crate::photoshelter::client::MediaSummary;
use crate::store::transfers::TransferRecord;
use crate::transfer::{Digests, byte_bar, detail_str};
use serde_json::{Value, json};
use std::path::Path;
use tokio::io::AsyncWriteExt;

impl BatchRun<'_, '_> {
    /// Downloads what has not been downloaded (or whose staged copy is gone).
    pub(super) async fn downloaded(&mut self, staging: &Path) -> Result<(), TransferError> {
        for n in 0..self.items.len() {
            let record = &self.items[n].record;
            let staged_ok = match (ArchiveStep::of(record), detail_str(record, "staged")) {
                (Some(s), _) if s > ArchiveStep::Uploaded => true,
                (Some(_), Some(path)) => staged_intact(&path, record).await,
                _ => false,
            };
            if staged_ok {
                continue;
            }
            let item = &self.items[n];
            match download(self.ctx, staging, &item.media, &item.record).await {
                Ok(detail) => {
                    self.record(n, ArchiveStep::Downloaded, detail)?;
                    self.stop_after(ArchiveStep::Downloaded)?;
                }
                Err(e) => self.fail(n, None, &e.to_string())?,
            }
        }
        Ok(())
    }
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
