//! Finding an asset's picture and making both renditions of it, from what each system
//! offers, in this order:
//! 1. Preservica's thumbnail (`large`), when it is at least as large as the medium rendition;
//! 2. PhotoShelter's original, when its file name says it is a picture ferry decodes;
//! 3. Preservica's first picture bitstream (access representation first);
//! 4. Preservica's thumbnail however small.
//!
//! Originals are streamed to a temporary file in the cache directory (never held in memory)
//! and only up to [`Sources::max_file_bytes`]; decoding is bounded by [`render::Bounds`].
//! A file that is not a picture ferry can read is "no picture" (a fact about that file); a
//! system that could not be reached is an error, so the next view tries again.

use super::render::{self, Bounds, RenderError};
use super::{FileIdentity, ThumbCache, ThumbSize};
use crate::model::System;
use crate::photoshelter::client::PhotoShelterClient;
use crate::preservica::client::PreservicaClient;
use crate::preservica::wire::ThumbnailSize;
use crate::store::{AssetId, Store, StoreError};
use image::DynamicImage;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// Originals larger than this are not downloaded for a thumbnail (1 GiB).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024 * 1024;

/// The clients to ask and the bounds to keep.
#[derive(Clone, Copy)]
pub struct Sources<'a> {
    pub photoshelter: Option<&'a PhotoShelterClient>,
    pub preservica: Option<&'a PreservicaClient>,
    pub bounds: Bounds,
    pub max_file_bytes: u64,
}

impl<'a> Sources<'a> {
    /// Both clients, default bounds.
    pub fn new(photoshelter: &'a PhotoShelterClient, preservica: &'a PreservicaClient) -> Self {
        Sources {
            photoshelter: Some(photoshelter),
            preservica: Some(preservica),
            bounds: Bounds::default(),
            max_file_bytes: MAX_FILE_BYTES,
        }
    }
}

/// What a look for the picture found.
#[derive(Debug)]
pub enum Made {
    /// Both renditions, JPEG.
    Renditions(Vec<(ThumbSize, Vec<u8>)>),
    /// Neither system offers a picture of this file.
    NoPicture,
}

/// The file identity of an asset's thumbnails: from what ferry last read about its file in
/// each system (checksum, else name, size and modification time).
pub fn identity(store: &Store, asset: AssetId) -> Result<FileIdentity, StoreError> {
    let snapshots = store.snapshots_for(&[asset])?;
    let mut parts = Vec::new();
    for system in [System::PhotoShelter, System::Preservica] {
        let Some(s) = snapshots.get(&(asset, system)) else {
            continue;
        };
        parts.push(format!("{system:?}"));
        match &s.checksum {
            Some((algorithm, value)) => parts.push(format!("{algorithm}:{value}")),
            None => parts.push(format!(
                "{:?}|{:?}|{:?}",
                s.file_name, s.file_size, s.modified_at
            )),
        }
    }
    Ok(FileIdentity::of(
        &parts.iter().map(String::as_str).collect::<Vec<_>>(),
    ))
}

/// Whether a file name says the file is a picture ferry decodes.
pub fn decodable(file_name: &str) -> bool {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase());
    matches!(
        ext.as_deref(),
        Some("jpg" | "jpeg" | "jpe" | "png" | "tif" | "tiff")
    )
}

/// Both renditions of a decoded picture.
pub fn renditions(img: &DynamicImage) -> Vec<(ThumbSize, Vec<u8>)> {
    ThumbSize::ALL
        .iter()
        .map(|s| (*s, render::rendition(img, s.longest())))
        .collect()
}

/// Looks for the picture of an asset (see the module's order) and makes both renditions.
/// A system that cannot be asked is passed over for the next source; `Err` (why) only when no
/// source gave a picture and one of them could not be asked (try again later).
pub async fn make(
    sources: &Sources<'_>,
    cache: &ThumbCache,
    photoshelter_id: Option<&str>,
    preservica_ref: Option<&str>,
) -> Result<Made, String> {
    let mut trouble = None;
    let mut small_thumbnail = None;
    if let (Some(client), Some(reference)) = (sources.preservica, preservica_ref) {
        match client.thumbnail(reference, ThumbnailSize::Large).await {
            Ok(got) => {
                let decoded = got
                    .and_then(|b| readable(render::decode_bytes(&b, "thumbnail", sources.bounds)));
                if let Some(img) = decoded {
                    if img.width().max(img.height()) >= ThumbSize::Medium.longest() {
                        return Ok(Made::Renditions(renditions(&img)));
                    }
                    small_thumbnail = Some(img);
                }
            }
            Err(e) => trouble = Some(format!("Preservica's thumbnail of {reference}: {e}")),
        }
    }
    if let (Some(client), Some(media)) = (sources.photoshelter, photoshelter_id) {
        match from_photoshelter(sources, client, cache.dir(), media).await {
            Ok(Some(img)) => return Ok(Made::Renditions(renditions(&img))),
            Ok(None) => {}
            Err(e) => trouble = Some(e),
        }
    }
    if let (Some(client), Some(reference)) = (sources.preservica, preservica_ref) {
        match from_preservica(sources, client, cache.dir(), reference).await {
            Ok(Some(img)) => return Ok(Made::Renditions(renditions(&img))),
            Ok(None) => {}
            Err(e) => trouble = Some(e),
        }
    }
    match (small_thumbnail, trouble) {
        (Some(img), _) => Ok(Made::Renditions(renditions(&img))),
        (None, Some(why)) => Err(why),
        (None, None) => Ok(Made::NoPicture),
    }
}

/// A decoded picture, or `None` (logged) when the file is not one ferry can read.
fn readable(decoded: Result<DynamicImage, RenderError>) -> Option<DynamicImage> {
    match decoded {
        Ok(img) => Some(img),
        Err(e) => {
            tracing::info!(error = %e, "no thumbnail from this file");
            None
        }
    }
}

fn staging_file(dir: &Path) -> PathBuf {
    dir.join(format!("download-{}.tmp", uuid::Uuid::new_v4().simple()))
}

/// Decodes a downloaded file and removes it, whatever happened.
fn decode_and_remove(file: &Path, bounds: Bounds) -> Option<DynamicImage> {
    let img = readable(render::decode_file(file, bounds));
    let _ = std::fs::remove_file(file);
    img
}

async fn from_photoshelter(
    sources: &Sources<'_>,
    client: &PhotoShelterClient,
    dir: &Path,
    media: &str,
) -> Result<Option<DynamicImage>, String> {
    let failed = |e: &dyn std::fmt::Display| format!("PhotoShelter media {media}: {e}");
    let record = client.read_record(media).await.map_err(|e| failed(&e))?;
    let name = record.file_name.clone().unwrap_or_default();
    let size = record.file_size.unwrap_or(u64::MAX);
    if !decodable(&name) || size > sources.max_file_bytes {
        return Ok(None);
    }
    let file = staging_file(dir);
    let streamed = async {
        let mut download = client
            .download(media, record.file_size)
            .await
            .map_err(|e| failed(&e))?;
        let mut out = tokio::fs::File::create(&file)
            .await
            .map_err(|e| failed(&e))?;
        while let Some(chunk) = download.chunk().await.map_err(|e| failed(&e))? {
            out.write_all(&chunk).await.map_err(|e| failed(&e))?;
        }
        out.flush().await.map_err(|e| failed(&e))
    }
    .await;
    if let Err(e) = streamed {
        let _ = std::fs::remove_file(&file);
        return Err(e);
    }
    Ok(decode_and_remove(&file, sources.bounds))
}

async fn from_preservica(
    sources: &Sources<'_>,
    client: &PreservicaClient,
    dir: &Path,
    reference: &str,
) -> Result<Option<DynamicImage>, String> {
    let failed = |e: &dyn std::fmt::Display| format!("Preservica asset {reference}: {e}");
    let bitstreams = client.bitstreams(reference).await.map_err(|e| failed(&e))?;
    let usable = |b: &&crate::preservica::client::Bitstream| {
        decodable(&b.doc.filename) && b.doc.size <= sources.max_file_bytes
    };
    let pick = bitstreams
        .iter()
        .filter(usable)
        .find(|b| b.representation.eq_ignore_ascii_case("Access"))
        .or_else(|| bitstreams.iter().find(usable));
    let Some(bitstream) = pick else {
        return Ok(None);
    };
    let file = staging_file(dir);
    client
        .download(bitstream, &file)
        .await
        .map_err(|e| failed(&e))?;
    Ok(decode_and_remove(&file, sources.bounds))
}

/// Makes and stores both renditions of an asset's file unless the cache has them; returns
/// whether it made any. Failures are `Err` with the reason, for the caller to log.
pub async fn fill(
    sources: &Sources<'_>,
    cache: &ThumbCache,
    asset: AssetId,
    file: &FileIdentity,
    photoshelter_id: Option<&str>,
    preservica_ref: Option<&str>,
) -> Result<bool, String> {
    if cache.has(asset, file) {
        return Ok(false);
    }
    let stored = |e: std::io::Error| format!("thumbnail cache {}: {e}", cache.dir().display());
    match make(sources, cache, photoshelter_id, preservica_ref).await? {
        Made::Renditions(list) => {
            for (size, bytes) in list {
                cache.put(asset, file, size, &bytes).map_err(stored)?;
            }
        }
        Made::NoPicture => cache.put_no_picture(asset, file).map_err(stored)?,
    }
    Ok(true)
}

/// What filling after a sync did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Filled {
    /// Assets whose thumbnails (or "no picture") were made.
    pub made: usize,
    /// Assets whose thumbnails could not be made (each logged).
    pub failed: usize,
    /// Assets left for their first view because the time was up.
    pub left: usize,
}

/// One asset to fill: (id, file identity, PhotoShelter media id, Preservica ref).
pub type Wanted = (AssetId, FileIdentity, Option<String>, Option<String>);

/// Fills the cache for `wanted` (those it lacks), `at_once` at a time, until `budget` is
/// spent; what is left is made on first view. A failure is logged per asset and counted,
/// never returned: thumbnails must not fail a run.
pub async fn fill_many(
    sources: &Sources<'_>,
    cache: &ThumbCache,
    wanted: Vec<Wanted>,
    at_once: usize,
    budget: std::time::Duration,
) -> Filled {
    use futures_util::StreamExt;
    let deadline = tokio::time::Instant::now() + budget;
    let total = wanted.len();
    let mut filled = Filled::default();
    let mut results = futures_util::stream::iter(wanted)
        .map(|(id, file, ps, pv)| async move {
            let got = fill(sources, cache, id, &file, ps.as_deref(), pv.as_deref()).await;
            (id, got)
        })
        .buffer_unordered(at_once.max(1));
    loop {
        match tokio::time::timeout_at(deadline, results.next()).await {
            Ok(Some((_, Ok(true)))) => filled.made += 1,
            Ok(Some((_, Ok(false)))) => {}
            Ok(Some((id, Err(e)))) => {
                tracing::warn!(asset = id, error = %e, "no thumbnail made");
                filled.failed += 1;
            }
            Ok(None) => break,
            Err(_) => {
                filled.left = total - filled.made - filled.failed;
                tracing::info!(
                    left = filled.left,
                    "thumbnails left for their first view: time was up"
                );
                break;
            }
        }
    }
    filled
}

/// The assets of `touched` whose current file has no thumbnails in the cache.
pub fn wanted(
    store: &Store,
    cache: &ThumbCache,
    touched: &[AssetId],
) -> Result<Vec<Wanted>, StoreError> {
    let mut out = Vec::new();
    for id in touched {
        let Some(detail) = store.asset(*id)? else {
            continue;
        };
        let file = identity(store, *id)?;
        if !cache.has(*id, &file) {
            out.push((
                *id,
                file,
                detail.asset.photoshelter_id,
                detail.asset.preservica_ref,
            ));
        }
    }
    Ok(out)
}
