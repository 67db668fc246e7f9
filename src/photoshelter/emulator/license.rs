//! The licence record. Each media item keeps one licence expiry, served in every place a
//! real account might keep it (see [`LicensePlace`]) and writable at each, always answered
//! in PhotoShelter's timestamp form (`2030-01-31 00:00:00 GMT`). `Quirks::license_places`
//! turns places off (they answer 404), so that a client's fallbacks can be tested.

use super::Emu;
use super::request::{Api, ApiErr, Req};
use super::store::Media;
use crate::emulate::lock;
use crate::model::DateForm;
use crate::photoshelter::wire::{self, LicensePlace};
use axum::extract::{Path, State};
use axum::response::Response;
use chrono::NaiveDate;
use serde_json::{Value, json};
use std::sync::Arc;

type S = Arc<Emu>;
type R = Result<Response, ApiErr>;

/// The expiry as PhotoShelter writes timestamps, or `null`.
pub(super) fn expiry_value(m: &Media) -> Value {
    m.license_expiration_date.map_or(Value::Null, |d| {
        json!(DateForm::Timestamp { zone: "GMT" }.write(d))
    })
}

/// A written expiry in any date form; empty clears.
pub(super) fn parse_expiry(v: Option<&str>) -> Result<Option<NaiveDate>, String> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => DateForm::read(v)
            .map(|(day, _)| Some(day))
            .ok_or_else(|| format!("\"{v}\" is not a date")),
    }
}

/// v3's `License` record of a media item.
pub(super) fn v3_record(m: &Media) -> Value {
    json!({ wire::V3_LICENSE_EXPIRY: expiry_value(m), "media_id": m.id })
}

/// Whether a v3 request's `extend` asks for the licence, and the server offers it there.
pub(super) fn extends_license(emu: &Emu, req: &Req) -> bool {
    emu.offers(LicensePlace::V3Extend)
        && req.param("extend").is_some_and(|e| {
            serde_json::from_str::<Value>(e)
                .ok()
                .is_some_and(|v| v.get(wire::V3_LICENSE_RECORD).is_some())
        })
}

fn not_offered(api: Api) -> ApiErr {
    ApiErr::not_found(api, "Endpoint")
}

/// The expiry a write carries under any of the names a licence expiry may have.
fn written_expiry(api: Api, req: &Req) -> Result<Option<NaiveDate>, ApiErr> {
    let fields = super::v4::write_fields(req);
    let Some((_, v)) = fields
        .iter()
        .find(|(k, _)| wire::V4_LICENSE_EXPIRY_KEYS.contains(&k.as_str()))
    else {
        return Err(ApiErr::bad_request(
            api,
            format!(
                "no licence expiry to write (one of {})",
                wire::V4_LICENSE_EXPIRY_KEYS.join(", ")
            ),
        ));
    };
    parse_expiry(v.as_deref()).map_err(|e| ApiErr::bad_request(api, e))
}

pub(super) async fn v3_get(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let scope = super::v3::scope(&emu, &req)?;
    if !emu.offers(LicensePlace::V3Record) {
        return Err(not_offered(Api::V3));
    }
    let store = lock(&emu.store);
    let m = super::v3::find_image(&store, &id, &scope)?;
    Ok(super::v3::ok(
        json!({ wire::V3_LICENSE_RECORD: v3_record(m) }),
    ))
}

/// The v3 write, offered wherever v3 serves the record (either v3 place).
pub(super) async fn v3_post(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let scope = super::v3::scope(&emu, &req)?;
    super::v3::body_ok(&req)?;
    if !(emu.offers(LicensePlace::V3Record) || emu.offers(LicensePlace::V3Extend)) {
        return Err(not_offered(Api::V3));
    }
    let expiry = written_expiry(Api::V3, &req)?;
    let now = emu.now();
    let mut store = lock(&emu.store);
    super::v3::find_image(&store, &id, &scope)?;
    let m = store.media.get_mut(&id).expect("find_image just found it");
    m.license_expiration_date = expiry;
    m.modified_at = now;
    Ok(super::v3::ok(
        json!({ wire::V3_LICENSE_RECORD: v3_record(m) }),
    ))
}

fn v4_doc(m: &Media) -> Value {
    json!({
        "data": {
            "id": m.id,
            "type": "license",
            "attributes": { wire::V3_LICENSE_EXPIRY: expiry_value(m) },
        },
        "meta": {},
    })
}

pub(super) async fn v4_get(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let (_, scope, _) = super::v4::authed(&emu, &req)?;
    if !emu.offers(LicensePlace::V4Record) {
        return Err(not_offered(Api::V4));
    }
    let store = lock(&emu.store);
    let m = super::v4::find_media(&store, &id, &scope)?;
    Ok(emu.v4_json(v4_doc(m)))
}

pub(super) async fn v4_patch(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let (_, scope, _) = super::v4::authed(&emu, &req)?;
    super::v4::body_ok(&req)?;
    if !emu.offers(LicensePlace::V4Record) {
        return Err(not_offered(Api::V4));
    }
    let expiry = written_expiry(Api::V4, &req)?;
    let now = emu.now();
    let mut store = lock(&emu.store);
    let m = super::v4::find_media_mut(&mut store, &id, &scope)?;
    m.license_expiration_date = expiry;
    m.modified_at = now;
    let doc = v4_doc(m);
    Ok(emu.v4_json(doc))
}
