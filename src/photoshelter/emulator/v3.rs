//! psapi v3 member endpoints: `{"status":"ok","data":{RecordType: …}}`, numbers as strings,
//! booleans as `t`/`f`.

use super::Emu;
use super::request::{Api, ApiErr, Req};
use super::store::{Collection, Gallery, Media, Store};
use super::v4::{file_response, open_session, page_of};
use crate::emulate::lock;
use crate::photoshelter::wire::{self, MediaKind, Visibility};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::Arc;

type S = Arc<Emu>;
type R = Result<Response, ApiErr>;
const API: Api = Api::V3;

pub(super) fn router() -> Router<S> {
    Router::new()
        .route("/mem/authenticate", get(login).post(login))
        .route("/mem/authenticate/logout", get(logout).post(logout))
        .route(
            "/mem/organization/{org}/authenticate",
            get(org_select).post(org_select),
        )
        .route("/mem/organization/logout", get(org_logout).post(org_logout))
        .route("/mem/user/session", get(user_session))
        .route("/mem/collection/{id}", get(collection))
        .route("/mem/collection/{id}/children", get(collection_children))
        .route(
            "/mem/collection/{id}/visibility",
            get(collection_visibility),
        )
        .route(
            "/mem/collection/{id}/visibility/update",
            get(collection_visibility_update).post(collection_visibility_update),
        )
        .route(
            "/mem/gallery/insert",
            get(gallery_insert).post(gallery_insert),
        )
        .route("/mem/gallery/{id}", get(gallery))
        .route("/mem/gallery/{id}/images", get(gallery_images))
        .route("/mem/gallery/{id}/visibility", get(gallery_visibility))
        .route(
            "/mem/gallery/{id}/visibility/update",
            get(gallery_visibility_update).post(gallery_visibility_update),
        )
        .route("/mem/image/upload", post(upload))
        .route("/mem/image/{id}", get(image))
        .route("/mem/image/{id}/iptc", get(image_iptc))
        .route(
            "/mem/image/{id}/license",
            get(super::license::v3_get).post(super::license::v3_post),
        )
        .route("/mem/image/{id}/download", get(image_download))
        .fallback(fallback)
}

async fn fallback() -> Response {
    ApiErr::not_found(API, "Endpoint").into_response()
}

pub(super) fn ok(data: Value) -> Response {
    axum::Json(json!({"status": "ok", "data": data})).into_response()
}

fn tf(b: bool) -> &'static str {
    if b { "t" } else { "f" }
}

pub(super) fn body_ok(req: &Req) -> Result<(), ApiErr> {
    match &req.body_error {
        Some(e) => Err(ApiErr::bad_request(API, e.clone())),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Sessions

async fn login(State(emu): State<S>, req: Req) -> R {
    emu.check_key(&req, API)?;
    body_ok(&req)?;
    let token_mode = match req.param_nonblank(wire::LOGIN_MODE) {
        None | Some("cookie") => false,
        Some("token") => true,
        Some(other) => {
            return Err(ApiErr::bad_request(
                API,
                format!("mode \"{other}\" is not token or cookie"),
            ));
        }
    };
    let (token, _) = open_session(&emu, &req, API)?;
    let orgs: Vec<Value> = lock(&emu.store)
        .orgs
        .iter()
        .map(|(id, name)| json!({"id": id, "name": name, "member": "t"}))
        .collect();
    let org = if emu.quirks().org_as_object {
        orgs.into_iter().next().unwrap_or(Value::Null)
    } else {
        Value::Array(orgs)
    };
    let mut data = json!({});
    if !org.is_null() && org != json!([]) {
        data["org"] = org;
    }
    if token_mode {
        data["token"] = json!(token);
        Ok(ok(data))
    } else {
        let mut resp = ok(data);
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{}={token}; Path=/; HttpOnly",
            wire::SESSION_COOKIE
        )) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
        Ok(resp)
    }
}

async fn logout(State(emu): State<S>, req: Req) -> R {
    let ctx = emu.session(&req, API)?;
    lock(&emu.store).sessions.remove(&ctx.token);
    Ok(ok(json!({})))
}

async fn org_select(State(emu): State<S>, Path(org): Path<String>, req: Req) -> R {
    let ctx = emu.session(&req, API)?;
    let mut store = lock(&emu.store);
    if !store.orgs.iter().any(|(id, _)| *id == org) {
        return Err(ApiErr::not_found(API, &format!("Organization {org}")));
    }
    if let Some(s) = store.sessions.get_mut(&ctx.token) {
        s.org = Some(org);
    }
    Ok(ok(json!({})))
}

async fn org_logout(State(emu): State<S>, req: Req) -> R {
    let ctx = emu.session(&req, API)?;
    if let Some(s) = lock(&emu.store).sessions.get_mut(&ctx.token) {
        s.org = None;
    }
    Ok(ok(json!({})))
}

async fn user_session(State(emu): State<S>, req: Req) -> R {
    let ctx = emu.session(&req, API)?;
    Ok(ok(json!({"Session": {
        "user_id": ctx.user_id,
        "email": emu.options.email,
        "first_name": "Demo",
        "last_name": "User",
        "tz": "GMT",
        "org_id": ctx.org.unwrap_or_default(),
    }})))
}

// ---------------------------------------------------------------------------------------------
// Containers

fn collection_record(c: &Collection) -> Value {
    json!({
        "collection_id": c.id,
        "name": c.name,
        "description": c.description,
        "f_list": tf(c.listed),
        "display_order": c.display_order.to_string(),
        "mode": c.mode.name(),
        "effective_mode": c.mode.name(),
        "created_at": wire::format_timestamp(c.created_at),
        "modified_at": wire::format_timestamp(c.modified_at),
    })
}

fn gallery_record(g: &Gallery) -> Value {
    json!({
        "gallery_id": g.id,
        "name": g.name,
        "description": g.description,
        "f_list": tf(g.listed),
        "display_order": g.display_order.to_string(),
        "mode": g.mode.name(),
        "effective_mode": g.mode.name(),
        "created_at": wire::format_timestamp(g.created_at),
        "modified_at": wire::format_timestamp(g.modified_at),
    })
}

pub(super) fn scope(emu: &Emu, req: &Req) -> Result<Option<String>, ApiErr> {
    let ctx = emu.session(req, API)?;
    emu.scope(&ctx, req, API)
}

async fn collection(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let scope = scope(&emu, &req)?;
    let store = lock(&emu.store);
    Ok(ok(
        json!({"Collection": collection_record(store.collection_in(&id, &scope, API)?)}),
    ))
}

async fn collection_children(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let scope = scope(&emu, &req)?;
    let store = lock(&emu.store);
    let parent = if id == "root" {
        None
    } else {
        store.collection_in(&id, &scope, API)?;
        Some(id.as_str())
    };
    let mut cols = Vec::new();
    let mut gals = Vec::new();
    for (is_col, cid) in store.children(parent, &scope) {
        if is_col {
            cols.extend(store.collections.get(&cid).map(collection_record));
        } else {
            gals.extend(store.galleries.get(&cid).map(gallery_record));
        }
    }
    Ok(ok(
        json!({"Children": {"Collection": cols, "Gallery": gals}}),
    ))
}

async fn gallery(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let scope = scope(&emu, &req)?;
    let store = lock(&emu.store);
    Ok(ok(
        json!({"Gallery": gallery_record(store.gallery_in(&id, &scope, API)?)}),
    ))
}

fn image_record(m: &Media) -> Value {
    json!({
        "image_id": m.id,
        "file_name": m.file_name,
        "file_size": m.bytes.len().to_string(),
        "width": m.width.to_string(),
        "height": m.height.to_string(),
        "rating": m.rating.to_string(),
        "f_searchable": tf(m.searchable),
        "model_released": tf(m.model_released),
        "property_released": tf(m.property_released),
        "owner_id": m.owner,
        "organization_id": m.org.clone().unwrap_or_default(),
        "uploaded_at": wire::format_timestamp(m.created_at),
        "updated_at": wire::format_timestamp(m.modified_at),
    })
}

async fn gallery_images(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let scope = scope(&emu, &req)?;
    let p = page_of(&req, API, emu.quirks().max_per_page)?;
    let with_image = req.param("extend").is_some_and(|e| {
        serde_json::from_str::<Value>(e)
            .ok()
            .and_then(|v| v.get("Image").cloned())
            .is_some()
    });
    let store = lock(&emu.store);
    let g = store.gallery_in(&id, &scope, API)?;
    let images: Vec<Value> = g
        .media
        .iter()
        .enumerate()
        .filter_map(|(i, (mid, _))| store.media.get(mid).map(|m| (i, m)))
        .filter(|(_, m)| m.kind == MediaKind::Image)
        .map(|(i, m)| {
            let mut r =
                json!({"image_id": m.id, "f_visible": "t", "display_order": (i + 1).to_string()});
            if with_image {
                r["Image"] = image_record(m);
            }
            r
        })
        .collect();
    let total = images.len();
    let pages = total.div_ceil(p.per_page).max(1);
    let mut paging = json!({
        "total": total.to_string(),
        "page": p.page.to_string(),
        "per_page": p.per_page.to_string(),
        "pages": pages.to_string(),
    });
    if p.page < pages {
        paging["next"] = json!((p.page + 1).to_string());
    }
    if p.page > 1 {
        paging["prev"] = json!((p.page - 1).to_string());
    }
    Ok(ok(
        json!({"GalleryImage": p.slice(&images), "Paging": paging}),
    ))
}

/// `name`, `parent`, `f_list`, `mode` from any encoding, by GET or POST (RMIG, PM).
async fn gallery_insert(State(emu): State<S>, req: Req) -> R {
    let ctx = emu.session(&req, API)?;
    body_ok(&req)?;
    let scope = emu.scope(&ctx, &req, API)?;
    let Some(name) = req.param_nonblank(wire::GALLERY_NAME) else {
        return Err(ApiErr::bad_request(API, "name is required"));
    };
    let listed = match req.param_nonblank(wire::GALLERY_LISTED) {
        None => true,
        Some(v) => wire::parse_bool_text(v)
            .map_err(|e| ApiErr::bad_request(API, format!("f_list: {e}")))?
            .unwrap_or(true),
    };
    let mode = match req.param_nonblank(wire::VISIBILITY_MODE) {
        None => Visibility::Permission,
        Some(v) => Visibility::parse(v).ok_or_else(|| {
            ApiErr::bad_request(
                API,
                format!("mode \"{v}\" is not everyone, permission or private"),
            )
        })?,
    };
    let now = emu.now();
    let mut store = lock(&emu.store);
    let parents = match req.param_nonblank(wire::GALLERY_PARENT) {
        None => Vec::new(),
        Some(p) => {
            store.collection_in(p, &scope, API)?;
            vec![p.to_string()]
        }
    };
    let id = store.new_id("G");
    let order = store.next_order();
    store.galleries.insert(
        id.clone(),
        Gallery {
            id: id.clone(),
            name: name.to_string(),
            description: String::new(),
            parents,
            org: scope,
            mode,
            listed,
            display_order: order,
            created_at: now,
            modified_at: now,
            media: Vec::new(),
        },
    );
    Ok(ok(json!({"Gallery": {"gallery_id": id, "name": name}})))
}

fn visibility_get(emu: &Emu, req: &Req, id: &str, collection: bool) -> R {
    let scope = scope(emu, req)?;
    let store = lock(&emu.store);
    let mode = if collection {
        store.collection_in(id, &scope, API)?.mode
    } else {
        store.gallery_in(id, &scope, API)?.mode
    };
    Ok(ok(
        json!({"Visibility": {"mode": mode.name(), "effective_mode": mode.name()}}),
    ))
}

fn visibility_update(emu: &Emu, req: &Req, id: &str, collection: bool) -> R {
    let scope = scope(emu, req)?;
    body_ok(req)?;
    let Some(v) = req.param_nonblank(wire::VISIBILITY_MODE) else {
        return Err(ApiErr::bad_request(API, "mode is required"));
    };
    let mode = Visibility::parse(v).ok_or_else(|| {
        ApiErr::bad_request(
            API,
            format!("mode \"{v}\" is not everyone, permission or private"),
        )
    })?;
    let now = emu.now();
    let mut store = lock(&emu.store);
    if collection {
        store.collection_in(id, &scope, API)?;
        if let Some(c) = store.collections.get_mut(id) {
            c.mode = mode;
            c.modified_at = now;
        }
    } else {
        store.gallery_in(id, &scope, API)?;
        if let Some(g) = store.galleries.get_mut(id) {
            g.mode = mode;
            g.modified_at = now;
        }
    }
    Ok(ok(json!({"Visibility": {"mode": mode.name()}})))
}

async fn gallery_visibility(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    visibility_get(&emu, &req, &id, false)
}
async fn collection_visibility(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    visibility_get(&emu, &req, &id, true)
}
async fn gallery_visibility_update(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    visibility_update(&emu, &req, &id, false)
}
async fn collection_visibility_update(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    visibility_update(&emu, &req, &id, true)
}

// ---------------------------------------------------------------------------------------------
// Images

pub(super) fn find_image<'a>(
    store: &'a Store,
    id: &str,
    scope: &Option<String>,
) -> Result<&'a Media, ApiErr> {
    store
        .media
        .get(id)
        .filter(|m| &m.org == scope && m.kind == MediaKind::Image)
        .ok_or_else(|| ApiErr::not_found(API, &format!("Image {id}")))
}

async fn image(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let scope = scope(&emu, &req)?;
    let store = lock(&emu.store);
    let m = find_image(&store, &id, &scope)?;
    let mut record = image_record(m);
    if super::license::extends_license(&emu, &req) {
        record[wire::V3_LICENSE_RECORD] = super::license::v3_record(m);
    }
    Ok(ok(json!({ "Image": record })))
}

async fn image_iptc(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let scope = scope(&emu, &req)?;
    let store = lock(&emu.store);
    let m = find_image(&store, &id, &scope)?;
    let mut rec = serde_json::Map::new();
    for (k, v) in &m.iptc {
        // v3 calls the keyword list `keyword`.
        let k = if k == "keywords" {
            "keyword"
        } else {
            k.as_str()
        };
        rec.insert(k.to_string(), json!(v));
    }
    Ok(ok(json!({"Iptc": rec})))
}

async fn image_download(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let scope = scope(&emu, &req)?;
    let store = lock(&emu.store);
    Ok(file_response(find_image(&store, &id, &scope)?))
}

fn kind_of(content_type: Option<&str>, file_name: &str) -> (MediaKind, String) {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let kind = if ct.starts_with("video/") || matches!(ext.as_str(), "mp4" | "mov") {
        MediaKind::Video
    } else if ct.starts_with("audio/") || matches!(ext.as_str(), "mp3" | "wav") {
        MediaKind::Audio
    } else if ct == "application/pdf" || ext == "pdf" {
        MediaKind::Document
    } else {
        MediaKind::Image
    };
    let ct = if ct.is_empty() || ct == "application/octet-stream" {
        match kind {
            MediaKind::Image => "image/jpeg",
            MediaKind::Video => "video/mp4",
            MediaKind::Audio => "audio/mpeg",
            MediaKind::Document => "application/pdf",
        }
        .to_string()
    } else {
        ct
    };
    (kind, ct)
}

/// Multipart: `file` (one or more), `gallery_id`, optional `f_searchable`.
async fn upload(State(emu): State<S>, req: Req) -> R {
    let ctx = emu.session(&req, API)?;
    body_ok(&req)?;
    let scope = emu.scope(&ctx, &req, API)?;
    let Some(gallery_id) = req.param_nonblank(wire::UPLOAD_GALLERY_ID) else {
        return Err(ApiErr::bad_request(API, "gallery_id is required"));
    };
    let files: Vec<_> = req
        .files
        .iter()
        .filter(|p| p.name == wire::UPLOAD_FILE || p.name == "file[]")
        .collect();
    if files.is_empty() {
        return Err(ApiErr::bad_request(API, "no file part"));
    }
    let searchable = match req.param_nonblank(wire::UPLOAD_SEARCHABLE) {
        None => true,
        Some(v) => wire::parse_bool_text(v)
            .map_err(|e| ApiErr::bad_request(API, format!("f_searchable: {e}")))?
            .unwrap_or(true),
    };
    let now = emu.now();
    let mut store = lock(&emu.store);
    store.gallery_in(gallery_id, &scope, API)?;
    let mut created = Vec::new();
    for f in files {
        let file_name = f.filename.clone().unwrap_or_else(|| "upload".into());
        let (kind, content_type) = kind_of(f.content_type.as_deref(), &file_name);
        let id = store.new_id(kind.id_prefix());
        let media = Media {
            id: id.clone(),
            kind,
            org: scope.clone(),
            owner: ctx.user_id.clone(),
            file_name: file_name.clone(),
            content_type,
            bytes: f.data.clone(),
            width: 0,
            height: 0,
            rating: 0,
            searchable,
            model_released: false,
            property_released: false,
            license_expiration_date: None,
            created_at: now,
            modified_at: now,
            iptc: Default::default(),
            custom: Default::default(),
        };
        store.media.insert(id.clone(), media);
        if let Some(g) = store.galleries.get_mut(gallery_id) {
            g.media.push((id.clone(), now));
            g.modified_at = now;
        }
        created.push(json!({
            "image_id": id,
            "file_name": file_name,
            "file_size": f.data.len().to_string(),
            "gallery_id": gallery_id,
        }));
    }
    let image = if created.len() == 1 {
        created.remove(0)
    } else {
        Value::Array(created)
    };
    Ok(ok(json!({"Image": image})))
}
