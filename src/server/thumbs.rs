//! `GET /assets/{id}/thumb/{small|medium}`: an asset's rendition from the thumbnail cache,
//! made on first view when the app has the tenants' settings (at most [`MAKING`] at once, so
//! a page of cold thumbnails cannot decode twenty originals together). Where there is no
//! picture, or it cannot be made now, the "no picture" placeholder is served instead: a page
//! never shows a broken image. An unknown asset is 404.

use super::{PageError, Shared, WebError, parse_id, with_store};
use crate::media::fill::{self, Sources};
use crate::media::{FileIdentity, ThumbCache, ThumbSize, render};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, OnceLock};

/// Thumbnails made at once by the web app.
pub const MAKING: usize = 2;

/// The thumbnail parts of the app's state.
pub(super) struct ThumbState {
    /// `None` when the cache directory cannot be created (logged; placeholders are served).
    pub cache: Option<Arc<ThumbCache>>,
    /// The clients, made on first need (one login per system, not one per thumbnail).
    pub clients: OnceLock<Option<Arc<Clients>>>,
    pub making: tokio::sync::Semaphore,
}

impl ThumbState {
    pub fn open(store_path: &std::path::Path, max_mib: u64) -> ThumbState {
        let max = max_mib.saturating_mul(1024 * 1024);
        let cache = match ThumbCache::beside_store(store_path, max) {
            Ok(c) => Some(Arc::new(c)),
            Err(e) => {
                tracing::warn!(error = %e, "no thumbnail cache beside the store; pages show placeholders");
                None
            }
        };
        ThumbState {
            cache,
            clients: OnceLock::new(),
            making: tokio::sync::Semaphore::new(MAKING),
        }
    }
}

/// Both systems' clients, for making thumbnails.
pub(super) struct Clients {
    photoshelter: Option<crate::photoshelter::client::PhotoShelterClient>,
    preservica: Option<crate::preservica::client::PreservicaClient>,
}

impl Clients {
    fn sources(&self) -> Sources<'_> {
        Sources {
            photoshelter: self.photoshelter.as_ref(),
            preservica: self.preservica.as_ref(),
            bounds: render::Bounds::default(),
            max_file_bytes: fill::MAX_FILE_BYTES,
        }
    }
}

/// The placeholder of a size, made once.
fn placeholder(size: ThumbSize) -> Vec<u8> {
    static CARDS: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
    let cards = CARDS.get_or_init(|| ThumbSize::ALL.map(|s| render::placeholder(s.longest())));
    cards[ThumbSize::ALL.iter().position(|s| *s == size).unwrap_or(0)].clone()
}

fn jpeg(bytes: Vec<u8>, cache_control: &'static str) -> Response {
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    resp
}

/// A rendition is named by the file it shows, so a browser may keep it a day.
const KEEP: &str = "private, max-age=86400";
/// A placeholder may turn into a picture once the systems answer.
const RECHECK: &str = "no-cache";

/// `GET /assets/{id}/thumb/{size}`.
pub async fn thumb(
    State(state): State<Shared>,
    Path((raw, size)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let id = parse_id(&raw, "asset")?;
    let size = ThumbSize::parse(&size)
        .ok_or_else(|| WebError::NotFound(format!("there is no thumbnail size '{size}'")))?;
    let (row, file) = with_store(&state, move |store, _| {
        let row = store
            .asset(id)?
            .map(|d| d.asset)
            .ok_or_else(|| WebError::NotFound(format!("ferry knows no asset {id}")))?;
        Ok((row, fill::identity(store, id)?))
    })
    .await?;
    let Some(cache) = state.thumbs.cache.clone() else {
        return Ok(jpeg(placeholder(size), RECHECK));
    };
    if let Some(bytes) = cache.get(id, &file, size) {
        return Ok(jpeg(bytes, KEEP));
    }
    if cache.knows_no_picture(id, &file) {
        return Ok(jpeg(placeholder(size), RECHECK));
    }
    let Some(clients) = clients(&state) else {
        return Ok(jpeg(placeholder(size), RECHECK));
    };
    let _turn = state.thumbs.making.acquire().await;
    let made = make(clients, cache.clone(), id, file.clone(), row).await;
    if let Err(e) = made {
        tracing::warn!(asset = id, error = %e, "no thumbnail made; the placeholder is shown");
    }
    Ok(match cache.get(id, &file, size) {
        Some(bytes) => jpeg(bytes, KEEP),
        None => jpeg(placeholder(size), RECHECK),
    })
}

fn clients(state: &Shared) -> Option<Arc<Clients>> {
    state
        .thumbs
        .clients
        .get_or_init(|| {
            let settings = state.republisher.as_ref()?;
            Some(Arc::new(Clients {
                photoshelter: crate::photoshelter::client::PhotoShelterClient::new(
                    &settings.photoshelter,
                )
                .ok(),
                preservica: crate::preservica::client::PreservicaClient::new(
                    settings.preservica.clone(),
                )
                .ok(),
            }))
        })
        .clone()
}

/// Fills the cache for one asset on a blocking thread of its own (the clients' futures are
/// not all `Send`, and decoding is CPU work).
async fn make(
    clients: Arc<Clients>,
    cache: Arc<ThumbCache>,
    id: i64,
    file: FileIdentity,
    row: crate::store::AssetRow,
) -> Result<bool, String> {
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Handle::current().block_on(fill::fill(
            &clients.sources(),
            &cache,
            id,
            &file,
            row.photoshelter_id.as_deref(),
            row.preservica_ref.as_deref(),
        ))
    })
    .await
    .map_err(|e| format!("the thumbnail worker stopped: {e}"))?
}
