//! Previews on asset pages: the picture itself, fetched through ferry's clients from the
//! system that holds it (Preservica's access rendition when there is one, else PhotoShelter's
//! original), when the app was started with the tenants' settings. Only formats a browser
//! shows (JPEG, PNG, GIF, WebP) and only up to [`MAX_PREVIEW_BYTES`]: a preview must not
//! stream a 200 MB master.

use super::republish::Republisher;
use super::{PageError, Shared, WebError, parse_id, with_store};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// Larger files get no preview.
pub const MAX_PREVIEW_BYTES: u64 = 20 * 1024 * 1024;

/// The content type of a file a browser can show, by its name.
pub fn web_image_type(file_name: &str) -> Option<&'static str> {
    let ext = file_name.rsplit_once('.')?.1.to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" | "jpe" => Some("image/jpeg"),
        "png" => Some("image/png"),
        "gif" => Some("image/gif"),
        "webp" => Some("image/webp"),
        _ => None,
    }
}

/// `GET /assets/{id}/preview`.
pub async fn preview(
    State(state): State<Shared>,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&raw, "asset")?;
    let Some(settings) = state.republisher.clone() else {
        return Err(WebError::NotFound(
            "previews need the tenants' settings (`ferry serve` with both configured)".into(),
        )
        .into());
    };
    let row = with_store(&state, move |store, _| {
        store
            .asset(id)?
            .map(|d| d.asset)
            .ok_or_else(|| WebError::NotFound(format!("ferry knows no asset {id}")))
    })
    .await?;
    // The clients' futures are not all `Send`: fetch on a blocking thread of its own.
    let fetched = tokio::task::spawn_blocking(move || {
        tokio::runtime::Handle::current().block_on(fetch(
            &settings,
            row.photoshelter_id,
            row.preservica_ref,
        ))
    })
    .await
    .map_err(|e| WebError::Internal(format!("the preview stopped: {e}")))??;
    let (content_type, bytes) = fetched;
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    Ok(resp)
}

async fn fetch(
    settings: &Republisher,
    photoshelter_id: Option<String>,
    preservica_ref: Option<String>,
) -> Result<(&'static str, Vec<u8>), WebError> {
    let internal = |e: String| WebError::Internal(e);
    if let Some(reference) = preservica_ref {
        let client = crate::preservica::client::PreservicaClient::new(settings.preservica.clone())
            .map_err(|e| internal(e.to_string()))?;
        let bitstreams = client
            .bitstreams(&reference)
            .await
            .map_err(|e| internal(e.to_string()))?;
        let shown = |b: &&crate::preservica::client::Bitstream| {
            web_image_type(&b.doc.filename).is_some() && b.doc.size <= MAX_PREVIEW_BYTES
        };
        let pick = bitstreams
            .iter()
            .filter(shown)
            .find(|b| b.representation.eq_ignore_ascii_case("Access"))
            .or_else(|| bitstreams.iter().find(shown));
        if let Some(bs) = pick {
            let file = tempfile_path();
            let got = client.download(bs, &file).await;
            let bytes = std::fs::read(&file);
            let _ = std::fs::remove_file(&file);
            got.map_err(|e| internal(e.to_string()))?;
            let bytes = bytes.map_err(|e| internal(e.to_string()))?;
            let kind = web_image_type(&bs.doc.filename).unwrap_or("application/octet-stream");
            return Ok((kind, bytes));
        }
    }
    if let Some(media) = photoshelter_id {
        let client = crate::photoshelter::client::PhotoShelterClient::new(&settings.photoshelter)
            .map_err(|e| internal(e.to_string()))?;
        let record = client
            .read_record(&media)
            .await
            .map_err(|e| internal(e.to_string()))?;
        let name = record.file_name.clone().unwrap_or_default();
        if let Some(kind) = web_image_type(&name)
            && record.file_size.is_some_and(|s| s <= MAX_PREVIEW_BYTES)
        {
            let download = client
                .download(&media, record.file_size)
                .await
                .map_err(|e| internal(e.to_string()))?;
            let bytes = download
                .bytes()
                .await
                .map_err(|e| internal(e.to_string()))?;
            return Ok((kind, bytes.to_vec()));
        }
    }
    Err(WebError::NotFound(
        "neither system holds a picture of this asset that a browser can show".into(),
    ))
}

fn tempfile_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("ferry-preview-{}", uuid::Uuid::new_v4()))
}
