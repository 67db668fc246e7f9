//! Adding an access copy to an asset, and renaming representations (contract §3.7, §9.8).
//!
//! Invariant: a representation added here is like every other one. It is listed by
//! `…/representations` as `{Type}/{n}` (n counted within its type from 1, in the order they
//! were added) and holds one new content object, whose single generation is original and
//! active and whose one bitstream is exactly the uploaded bytes with their SHA1 and SHA256
//! fixities, so the §9.8 chain (representation → content object → generation → bitstream →
//! content) reads them back byte for byte. The content object takes the asset's security tag.
//! Adding or renaming is an event on the asset; the content object's creation is its own.
//!
//! * `POST /api/entity/information-objects/{io}/representations?type=Access&name=&filename=`,
//!   body = the file's bytes → 202 with a progress token (the work is already done).
//! * `PUT …/representations/{Type}[_{n}]/name?name=` → 200.

use super::entities::progress;
use super::events::Change;
use super::{
    Call, Data, Entity, Generation, Representation, StoredBitstream, bad_request, not_found, text,
};
use crate::preservica::wire::EntityKind;
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sha2::Digest;

/// Longest representation name or file name accepted.
const MAX_NAME_BYTES: usize = 255;

/// A new content object under `asset` holding `bytes` as `file_name` in one original, active
/// generation, with SHA1 and SHA256 fixities.
pub(crate) fn content_object(
    asset: &str,
    security_tag: &str,
    file_name: &str,
    bytes: Bytes,
    modified: DateTime<Utc>,
) -> Entity {
    let mut c = Entity::new(
        EntityKind::ContentObject,
        uuid::Uuid::new_v4().to_string(),
        file_name.to_string(),
        Some(asset.to_string()),
        modified,
    );
    c.security_tag = security_tag.to_string();
    let fixities = vec![
        ("SHA1".into(), hex::encode(sha1::Sha1::digest(&bytes))),
        ("SHA256".into(), hex::encode(sha2::Sha256::digest(&bytes))),
    ];
    c.generations = vec![Generation {
        original: true,
        active: true,
        bitstreams: vec![StoredBitstream {
            filename: file_name.to_string(),
            bytes,
            fixities,
        }],
    }];
    c
}

/// A representation or file name: present, short, and free of control characters.
#[allow(clippy::result_large_err)] // the error is the answer itself, returned once per request
fn checked_name<'a>(what: &str, value: Option<&'a str>) -> Result<&'a str, Response> {
    let v = value.ok_or_else(|| bad_request(&format!("{what} is required")))?;
    if v.trim().is_empty() || v.len() > MAX_NAME_BYTES {
        return Err(bad_request(&format!(
            "{what} must be 1 to {MAX_NAME_BYTES} bytes"
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(bad_request(&format!("{what} holds a control character")));
    }
    Ok(v)
}

/// `POST …/representations`: a new Access representation holding the body as one file.
pub(super) fn add_access(
    data: &mut Data,
    call: &Call,
    kind: EntityKind,
    reference: &str,
) -> Response {
    if kind != EntityKind::Asset {
        return bad_request("only assets have representations");
    }
    match call.param("type") {
        Some("Access") => {}
        Some(other) => {
            return bad_request(&format!(
                "only Access representations can be added, not '{other}'"
            ));
        }
        None => return bad_request("type is required (type=Access)"),
    }
    let filename = match checked_name("filename", call.param("filename")) {
        Ok(f) => f,
        Err(r) => return r,
    };
    if filename.contains(['/', '\\']) || filename == "." || filename == ".." {
        return bad_request("filename must be a plain file name, not a path");
    }
    let name = match checked_name("name", call.param("name").or(Some("Access"))) {
        Ok(n) => n,
        Err(r) => return r,
    };
    if call.body.is_empty() {
        return bad_request("the body holds no file content");
    }
    let tag = data.entities[reference].security_tag.clone();
    let co = content_object(
        reference,
        &tag,
        filename,
        call.body.clone(),
        data.clock.now(),
    );
    let co_ref = co.reference.clone();
    data.insert(co);
    let e = data
        .entities
        .get_mut(reference)
        .expect("checked by the caller");
    e.representations.push(Representation {
        rtype: "Access".into(),
        name: name.to_string(),
        content_objects: vec![co_ref],
    });
    data.changed(reference, Change::RepresentationAdded);
    progress(data)
}

/// `PUT …/representations/{Type}[_{n}]/name?name=`: renames one representation.
pub(super) fn rename(data: &mut Data, call: &Call, reference: &str, spec: &str) -> Response {
    let (rtype, n) = match spec.split_once('_') {
        Some((t, n)) => (t, n.parse::<usize>().ok().filter(|n| *n >= 1)),
        None => (spec, Some(1)),
    };
    let Some(n) = n else {
        return bad_request(&format!(
            "'{spec}' is not a representation (Type or Type_n)"
        ));
    };
    let name = match checked_name("name", call.param("name")) {
        Ok(v) => v.to_string(),
        Err(r) => return r,
    };
    let e = data
        .entities
        .get_mut(reference)
        .expect("checked by the caller");
    let Some(rep) = e
        .representations
        .iter_mut()
        .filter(|r| r.rtype == rtype)
        .nth(n - 1)
    else {
        return not_found(&format!("no representation {spec} on {reference}"));
    };
    rep.name = name.clone();
    data.changed(reference, Change::RepresentationRenamed);
    text(StatusCode::OK, name)
}
