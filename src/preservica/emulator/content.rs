//! The Content API's thumbnail endpoint (contract §8.2): an asset's thumbnail is made from
//! the first of its bitstreams that is a picture (access representation first), scaled to
//! the size asked for; 404 when the asset has no picture or its thumbnail was removed, as
//! Preservica answers (pyPreservica's `has_thumbnail` relies on it).
//!
//! Sizes (the emulator's choice; Preservica documents none): small 150 px, medium 400 px,
//! large 800 px on the longest side, never enlarged.

use super::{Data, Entity, PreservicaEmulator, bytes_response, lock, not_found};
use crate::media::render;
use crate::preservica::wire::{EntityKind, ThumbnailSize};
use axum::http::{StatusCode, header};
use axum::response::Response;

/// Longest side of each thumbnail size.
pub fn thumbnail_side(size: ThumbnailSize) -> u32 {
    match size {
        ThumbnailSize::Small => 150,
        ThumbnailSize::Medium => 400,
        ThumbnailSize::Large => 800,
    }
}

/// `GET /api/content/thumbnail?id=sdb:IO|{ref}&size=…`.
pub(super) fn thumbnail(data: &Data, id: Option<&str>, size: Option<&str>) -> Response {
    let Some(reference) = id.and_then(|i| i.split_once('|')).map(|(_, r)| r) else {
        return bad_request("id must be sdb:IO|{ref} or sdb:SO|{ref}");
    };
    let Some(size) = ThumbnailSize::parse(size.unwrap_or("large")) else {
        return bad_request("size must be small, medium or large");
    };
    let Some(entity) = data.entities.get(reference) else {
        return not_found(&format!("no entity {reference}"));
    };
    if !entity.has_thumbnail {
        return not_found("no thumbnail for this entity");
    }
    for bytes in pictures_of(data, entity) {
        if let Ok(img) = render::decode_bytes(&bytes, "bitstream", render::Bounds::default()) {
            return bytes_response(
                StatusCode::OK,
                vec![(header::CONTENT_TYPE, "image/jpeg".into())],
                render::rendition(&img, thumbnail_side(size)).into(),
            );
        }
    }
    not_found("no thumbnail for this entity")
}

/// The bytes of an asset's active bitstreams, access representations first.
fn pictures_of(data: &Data, asset: &Entity) -> Vec<bytes::Bytes> {
    let mut reps: Vec<_> = asset.representations.iter().collect();
    reps.sort_by_key(|r| !r.rtype.eq_ignore_ascii_case("Access"));
    reps.iter()
        .flat_map(|r| r.content_objects.iter())
        .filter_map(|co| data.entities.get(co))
        .flat_map(|co| co.generations.iter().filter(|g| g.active))
        .flat_map(|g| g.bitstreams.iter().map(|b| b.bytes.clone()))
        .collect()
}

fn bad_request(why: &str) -> Response {
    bytes_response(
        StatusCode::BAD_REQUEST,
        vec![(header::CONTENT_TYPE, "text/plain".into())],
        why.to_string().into(),
    )
}

impl PreservicaEmulator {
    /// Removes an asset's thumbnail, as `DELETE /api/entity/…/preview` does: the thumbnail
    /// endpoint answers 404 for it from now on. False when there is no such asset.
    pub fn remove_thumbnail(&self, reference: &str) -> bool {
        let mut d = lock(&self.shared.data);
        match d.entities.get_mut(reference) {
            Some(e) if e.kind == EntityKind::Asset => {
                e.has_thumbnail = false;
                true
            }
            _ => false,
        }
    }
}
