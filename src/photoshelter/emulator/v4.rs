//! psapi v4.0: JSON:API-like `data`/`meta` envelopes, `errors[]` on failure.

use super::request::{Api, ApiErr, Req};
use super::store::{Collection, Gallery, Media, Store};
use super::{Ctx, Emu, ModifyFilter};
use crate::emulate::lock;
use crate::photoshelter::wire::{self, LicensePlace, MediaKind, Visibility};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::sync::Arc;

mod search;

use search::search;

type S = Arc<Emu>;
type R = Result<Response, ApiErr>;
const API: Api = Api::V4;
/// `per_page` when a request does not say (SPEC's collections default).
const DEFAULT_PER_PAGE: usize = 50;

pub(super) fn router() -> Router<S> {
    Router::new()
        .route("/authenticate", get(login).post(login))
        .route("/authenticate/logout", get(logout).post(logout))
        .route(
            "/organization/authenticate",
            get(org_select).post(org_select),
        )
        .route("/organization/logout", get(org_logout).post(org_logout))
        .route("/user/session", get(user_session))
        .route("/library", get(library))
        .route("/collections", get(collections))
        .route("/collections/{id}", get(collection))
        .route("/collections/{id}/children", get(collection_children))
        .route("/collections/{id}/child-count", get(collection_child_count))
        .route("/collections/{id}/count", get(collection_child_count))
        .route("/collections/{id}/permissions", get(permissions))
        .route("/collections/{id}/permission", get(permissions))
        .route("/galleries", get(galleries))
        .route("/galleries/{id}", get(gallery))
        .route("/galleries/{id}/children", get(gallery_children))
        .route("/galleries/{id}/child-count", get(gallery_child_count))
        .route("/galleries/{id}/children/count", get(gallery_child_count))
        .route("/galleries/{id}/permissions", get(permissions))
        .route("/galleries/{id}/permission", get(permissions))
        .route("/media", get(media_search))
        .route("/search", get(library_search))
        .route(
            "/media/{id}",
            get(media).patch(media_patch).put(media_patch),
        )
        .route(
            "/media/{id}/iptc",
            get(iptc).patch(iptc_patch).put(iptc_patch).post(iptc_patch),
        )
        .route(
            "/media/{id}/custom-metadata",
            get(custom)
                .patch(custom_patch)
                .put(custom_patch)
                .post(custom_patch),
        )
        .route(
            "/media/{id}/custom_metadata",
            get(custom)
                .patch(custom_patch)
                .put(custom_patch)
                .post(custom_patch),
        )
        .route(
            "/media/{id}/license",
            get(super::license::v4_get)
                .patch(super::license::v4_patch)
                .put(super::license::v4_patch)
                .post(super::license::v4_patch),
        )
        .route(wire::v4::METADATA_FIELDS, get(metadata_fields))
        .route("/media/{id}/galleries", get(media_galleries))
        .route("/media/{id}/download", get(download))
        .fallback(fallback)
}

async fn fallback() -> Response {
    ApiErr::new(
        API,
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        "No such endpoint",
    )
    .into_response()
}

pub(super) fn body_ok(req: &Req) -> Result<(), ApiErr> {
    match &req.body_error {
        Some(e) => Err(ApiErr::new(
            API,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaTypeException",
            e.clone(),
        )),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Paging

pub(super) struct Page {
    pub page: usize,
    pub per_page: usize,
}

pub(super) fn page_of(req: &Req, api: Api, max: usize) -> Result<Page, ApiErr> {
    let num = |name: &str, default: usize| -> Result<usize, ApiErr> {
        match req.param_nonblank(name) {
            None => Ok(default),
            Some(v) => v.parse::<usize>().map_err(|_| {
                ApiErr::bad_request(api, format!("{name} must be a number, got \"{v}\""))
            }),
        }
    };
    let page = num(wire::PAGE, 1)?.max(1);
    let per_page = num(wire::PER_PAGE, DEFAULT_PER_PAGE)?.clamp(1, max.max(1));
    Ok(Page { page, per_page })
}

impl Page {
    pub fn slice<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        let start = (self.page - 1)
            .saturating_mul(self.per_page)
            .min(items.len());
        let end = (start + self.per_page).min(items.len());
        &items[start..end]
    }
}

fn list(emu: &Emu, path: &str, items: Vec<Value>, p: &Page) -> Response {
    let total = items.len();
    let last = total.div_ceil(p.per_page).max(1);
    let link = |n: usize| format!("{}{path}?page={n}&per_page={}", wire::V4, p.per_page);
    let mut paging = json!({
        "total": total,
        "page": p.page,
        "per_page": p.per_page,
        "first": link(1),
        "last": link(last),
    });
    if p.page < last {
        paging["next"] = json!(link(p.page + 1));
    }
    if p.page > 1 {
        paging["prev"] = json!(link(p.page - 1));
    }
    emu.v4_json(json!({"data": p.slice(&items), "meta": {"paging": paging}}))
}

// ---------------------------------------------------------------------------------------------
// Authentication and organisations

fn orgs_json(store: &Store, as_object: bool) -> Value {
    let orgs: Vec<Value> = store
        .orgs
        .iter()
        .map(|(id, name)| json!({"id": id, "name": name, "member": true}))
        .collect();
    if as_object {
        orgs.into_iter().next().unwrap_or(Value::Null)
    } else {
        Value::Array(orgs)
    }
}

/// Checks credentials and opens a session (both versions).
pub(super) fn open_session(
    emu: &Emu,
    req: &Req,
    api: Api,
) -> Result<(String, Option<String>), ApiErr> {
    let email = req.param(wire::LOGIN_EMAIL).unwrap_or("").trim();
    let password = req.param(wire::LOGIN_PASSWORD).unwrap_or("");
    if !email.eq_ignore_ascii_case(&emu.options.email) || password != emu.options.password {
        return Err(ApiErr::new(
            api,
            StatusCode::UNAUTHORIZED,
            if api == Api::V4 {
                "AuthenticationFailedException"
            } else {
                "AuthenticationErr"
            },
            "The email address or password is not correct",
        ));
    }
    let mut store = lock(&emu.store);
    let org = match req.param_nonblank(wire::ORG_ID) {
        Some(o) if store.orgs.iter().any(|(id, _)| id == o) => Some(o.to_string()),
        Some(o) => {
            return Err(ApiErr::not_found(api, &format!("Organization {o}")));
        }
        None => None,
    };
    // Sessions idle past their lifetime are gone anyway; forget them.
    let idle = emu.options.token_idle;
    store
        .sessions
        .retain(|_, s| s.oauth || s.last_used.elapsed() <= idle);
    let token = store.new_token();
    store.sessions.insert(
        token.clone(),
        super::store::Session {
            org: org.clone(),
            last_used: std::time::Instant::now(),
            oauth: false,
        },
    );
    Ok((token, org))
}

async fn login(State(emu): State<S>, req: Req) -> R {
    emu.check_key(&req, API)?;
    body_ok(&req)?;
    if let Some(mode) = req.param_nonblank(wire::LOGIN_MODE)
        && mode != wire::LOGIN_MODE_TOKEN
    {
        return Err(ApiErr::bad_request(
            API,
            format!("mode \"{mode}\" is not supported; use mode=token"),
        ));
    }
    let (token, _) = open_session(&emu, &req, API)?;
    let orgs = orgs_json(&lock(&emu.store), emu.quirks().org_as_object);
    Ok(emu.v4_json(json!({"token": token, "org": orgs})))
}

async fn logout(State(emu): State<S>, req: Req) -> R {
    let ctx = emu.session(&req, API)?;
    lock(&emu.store).sessions.remove(&ctx.token);
    Ok(emu.v4_json(json!({"meta": {"status": "OK"}})))
}

async fn org_select(State(emu): State<S>, req: Req) -> R {
    let ctx = emu.session(&req, API)?;
    body_ok(&req)?;
    let Some(org) = req.param_nonblank(wire::ORG_ID) else {
        return Err(ApiErr::bad_request(API, "org_id is required"));
    };
    let mut store = lock(&emu.store);
    if !store.orgs.iter().any(|(id, _)| id == org) {
        return Err(ApiErr::not_found(API, &format!("Organization {org}")));
    }
    if let Some(s) = store.sessions.get_mut(&ctx.token) {
        s.org = Some(org.to_string());
    }
    Ok(emu.v4_json(json!({"meta": {"status": "OK"}})))
}

async fn org_logout(State(emu): State<S>, req: Req) -> R {
    let ctx = emu.session(&req, API)?;
    if let Some(s) = lock(&emu.store).sessions.get_mut(&ctx.token) {
        s.org = None;
    }
    Ok(emu.v4_json(json!({"meta": {"status": "OK"}})))
}

fn includes(req: &Req, name: &str) -> bool {
    req.param("include")
        .is_some_and(|v| v.split(',').any(|i| i.trim() == name))
}

async fn user_session(State(emu): State<S>, req: Req) -> R {
    let ctx = emu.session(&req, API)?;
    let store = lock(&emu.store);
    let mut data = json!({
        "id": ctx.user_id,
        "type": "user",
        "attributes": {
            "user_id": ctx.user_id,
            "email": emu.options.email,
            "first_name": "Demo",
            "last_name": "User",
            "org_id": ctx.org,
        },
    });
    if includes(&req, "organizations") {
        let orgs: Vec<Value> = store
            .orgs
            .iter()
            .map(|(id, name)| json!({"id": id, "type": "organization", "attributes": {"name": name, "member": true}}))
            .collect();
        data["includes"] = json!({"organizations": {"data": orgs}});
    }
    Ok(emu.v4_json(json!({"data": data, "meta": {}})))
}

// ---------------------------------------------------------------------------------------------
// Containers

fn collection_json(c: &Collection) -> Value {
    json!({
        "id": c.id,
        "type": "collection",
        "attributes": {
            "name": c.name,
            "description": c.description,
            "display_order": c.display_order,
            "is_listed": c.listed,
            "mode": c.mode.name(),
            "effective_mode": c.mode.name(),
            "parent_id": c.parent,
            "created_at": wire::format_timestamp(c.created_at),
            "modified_at": wire::format_timestamp(c.modified_at),
        },
        "links": {"self": format!("{}/collections/{}", wire::V4, c.id)},
    })
}

fn gallery_json(g: &Gallery) -> Value {
    json!({
        "id": g.id,
        "type": "gallery",
        "attributes": {
            "name": g.name,
            "description": g.description,
            "display_order": g.display_order,
            "is_listed": g.listed,
            "mode": g.mode.name(),
            "effective_mode": g.mode.name(),
            "key_image_id": g.media.first().map(|(m, _)| m.clone()),
            "created_at": wire::format_timestamp(g.created_at),
            "modified_at": wire::format_timestamp(g.modified_at),
        },
        "links": {"self": format!("{}/galleries/{}", wire::V4, g.id)},
    })
}

fn container_json(store: &Store, is_collection: bool, id: &str) -> Option<Value> {
    if is_collection {
        store.collections.get(id).map(collection_json)
    } else {
        store.galleries.get(id).map(gallery_json)
    }
}

pub(super) fn authed(emu: &Emu, req: &Req) -> Result<(Ctx, Option<String>, Page), ApiErr> {
    let ctx = emu.session(req, API)?;
    let scope = emu.scope(&ctx, req, API)?;
    let page = page_of(req, API, emu.quirks().max_per_page)?;
    Ok((ctx, scope, page))
}

async fn library(State(emu): State<S>, req: Req) -> R {
    let (_, scope, p) = authed(&emu, &req)?;
    let items: Vec<Value> = {
        let store = lock(&emu.store);
        store
            .children(None, &scope)
            .into_iter()
            .filter_map(|(c, id)| container_json(&store, c, &id))
            .collect()
    };
    Ok(list(&emu, wire::v4::LIBRARY, items, &p))
}

async fn collections(State(emu): State<S>, req: Req) -> R {
    let (_, scope, p) = authed(&emu, &req)?;
    let items: Vec<Value> = {
        let store = lock(&emu.store);
        let mut cols: Vec<&Collection> = match req.param(wire::GALLERY_PARENT) {
            None => store
                .collections
                .values()
                .filter(|c| c.org == scope)
                .collect(),
            Some(p) => {
                let p = p.trim();
                if !p.is_empty() {
                    store.collection_in(p, &scope, API)?;
                }
                store
                    .collections
                    .values()
                    .filter(|c| c.org == scope && c.parent.as_deref().unwrap_or("") == p)
                    .collect()
            }
        };
        cols.sort_by_key(|c| (c.display_order, c.id.clone()));
        cols.into_iter().map(collection_json).collect()
    };
    Ok(list(&emu, wire::v4::COLLECTIONS, items, &p))
}

async fn galleries(State(emu): State<S>, req: Req) -> R {
    let (_, scope, p) = authed(&emu, &req)?;
    let items: Vec<Value> = {
        let store = lock(&emu.store);
        let mut gals: Vec<&Gallery> = match req.param(wire::GALLERY_PARENT) {
            None => store
                .galleries
                .values()
                .filter(|g| g.org == scope)
                .collect(),
            Some(p) => {
                let p = p.trim();
                if !p.is_empty() {
                    store.collection_in(p, &scope, API)?;
                }
                store
                    .galleries
                    .values()
                    .filter(|g| {
                        g.org == scope
                            && if p.is_empty() {
                                g.parents.is_empty()
                            } else {
                                g.parents.iter().any(|x| x == p)
                            }
                    })
                    .collect()
            }
        };
        gals.sort_by_key(|g| (g.display_order, g.id.clone()));
        gals.into_iter().map(gallery_json).collect()
    };
    Ok(list(&emu, wire::v4::GALLERIES, items, &p))
}

async fn collection(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let (_, scope, _) = authed(&emu, &req)?;
    let store = lock(&emu.store);
    let c = store.collection_in(&id, &scope, API)?;
    Ok(emu.v4_json(json!({"data": collection_json(c), "meta": {}})))
}

async fn gallery(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let (_, scope, _) = authed(&emu, &req)?;
    let store = lock(&emu.store);
    let g = store.gallery_in(&id, &scope, API)?;
    Ok(emu.v4_json(json!({"data": gallery_json(g), "meta": {}})))
}

async fn collection_children(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let (_, scope, p) = authed(&emu, &req)?;
    let items: Vec<Value> = {
        let store = lock(&emu.store);
        store.collection_in(&id, &scope, API)?;
        store
            .children(Some(&id), &scope)
            .into_iter()
            .filter_map(|(c, cid)| container_json(&store, c, &cid))
            .collect()
    };
    Ok(list(&emu, &wire::v4::collection_children(&id), items, &p))
}

async fn collection_child_count(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let (_, scope, _) = authed(&emu, &req)?;
    let store = lock(&emu.store);
    store.collection_in(&id, &scope, API)?;
    let children = store.children(Some(&id), &scope);
    let cols = children.iter().filter(|(c, _)| *c).count();
    let gals = children.len() - cols;
    Ok(emu.v4_json(json!({
        "data": {"id": id, "type": "childCount"},
        "meta": {"children_count": {"collections": cols, "galleries": gals, "total": cols + gals}},
    })))
}

fn media_in_gallery<'a>(
    store: &'a Store,
    g: &'a Gallery,
) -> Vec<(usize, &'a Media, DateTime<Utc>)> {
    g.media
        .iter()
        .enumerate()
        .filter_map(|(i, (m, added))| store.media.get(m).map(|m| (i + 1, m, *added)))
        .collect()
}

async fn gallery_children(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let (_, scope, p) = authed(&emu, &req)?;
    let items: Vec<Value> = {
        let store = lock(&emu.store);
        let g = store.gallery_in(&id, &scope, API)?;
        let mut media = media_in_gallery(&store, g);
        let sort = req.param_nonblank(wire::SORT_BY).unwrap_or("display_order");
        match sort {
            "display_order" => {}
            "modification_time" => media.sort_by_key(|(_, m, _)| (m.modified_at, m.id.clone())),
            "creation_time" => media.sort_by_key(|(_, m, _)| (m.created_at, m.id.clone())),
            "added_at" => media.sort_by_key(|(_, m, a)| (*a, m.id.clone())),
            "file_name" => media.sort_by_key(|(_, m, _)| (m.file_name.clone(), m.id.clone())),
            "date_taken" => media.sort_by_key(|(_, m, _)| {
                (
                    m.iptc.get("date_created").cloned().unwrap_or_default(),
                    m.id.clone(),
                )
            }),
            other => {
                return Err(ApiErr::bad_request(
                    API,
                    format!("sort_by \"{other}\" is not supported"),
                ));
            }
        }
        if descending(&req)? {
            media.reverse();
        }
        media
            .into_iter()
            .map(|(order, m, _)| {
                json!({"id": m.id, "type": m.kind.type_name(), "attributes": {"display_order": order}})
            })
            .collect()
    };
    Ok(list(&emu, &wire::v4::gallery_children(&id), items, &p))
}

async fn gallery_child_count(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let (_, scope, _) = authed(&emu, &req)?;
    let store = lock(&emu.store);
    let g = store.gallery_in(&id, &scope, API)?;
    let media = media_in_gallery(&store, g);
    let count = |k: MediaKind| media.iter().filter(|(_, m, _)| m.kind == k).count();
    Ok(emu.v4_json(json!({
        "data": {"id": id, "type": "childCount"},
        "meta": {"children_count": {
            "audio": count(MediaKind::Audio),
            "documents": count(MediaKind::Document),
            "images": count(MediaKind::Image),
            "videos": count(MediaKind::Video),
            "total": media.len(),
        }},
    })))
}

async fn permissions(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let (_, scope, _) = authed(&emu, &req)?;
    let store = lock(&emu.store);
    let mode: Visibility = match store.galleries.get(&id).filter(|g| g.org == scope) {
        Some(g) => g.mode,
        None => store.collection_in(&id, &scope, API)?.mode,
    };
    Ok(emu.v4_json(json!({
        "data": {"id": id, "type": "permissions", "attributes": {
            "mode": mode.name(), "native_mode": mode.name(), "native": [], "inherited": [],
        }},
        "meta": {},
    })))
}

// ---------------------------------------------------------------------------------------------
// Search

fn descending(req: &Req) -> Result<bool, ApiErr> {
    match req
        .param_nonblank(wire::SORT_DIR)
        .or_else(|| req.param_nonblank(wire::SORT_DIRECTION))
    {
        None | Some("asc") | Some("ascending") => Ok(false),
        Some("desc") | Some("descending") => Ok(true),
        Some(other) => Err(ApiErr::bad_request(
            API,
            format!("sort direction \"{other}\" is not supported"),
        )),
    }
}

fn time_param(req: &Req, name: &str) -> Result<Option<DateTime<Utc>>, ApiErr> {
    req.param_nonblank(name)
        .map(|v| {
            wire::parse_timestamp(v).map_err(|e| ApiErr::bad_request(API, format!("{name}: {e}")))
        })
        .transpose()
}

fn csv(req: &Req, name: &str) -> Option<Vec<String>> {
    req.param_nonblank(name).map(|v| {
        v.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    })
}

/// Parameters of which SPEC's `/media` needs at least one.
const SEARCH_REQUIRED: &[&str] = &[
    "terms",
    "custom_metadata",
    "date_start",
    "date_end",
    "user_id",
    "org_id",
    "photographer_id",
    "virtual_agency_id",
    "orientation",
    "state",
    "country",
    "country_iso",
];

async fn media_search(State(emu): State<S>, req: Req) -> R {
    search(emu, req, true).await
}

async fn library_search(State(emu): State<S>, req: Req) -> R {
    search(emu, req, false).await
}

// ---------------------------------------------------------------------------------------------
// Media

pub(super) fn find_media<'a>(
    store: &'a Store,
    id: &str,
    scope: &Option<String>,
) -> Result<&'a Media, ApiErr> {
    store
        .media
        .get(id)
        .filter(|m| &m.org == scope)
        .ok_or_else(|| ApiErr::not_found(API, &format!("Media {id}")))
}

pub(super) fn find_media_mut<'a>(
    store: &'a mut Store,
    id: &str,
    scope: &Option<String>,
) -> Result<&'a mut Media, ApiErr> {
    store
        .media
        .get_mut(id)
        .filter(|m| &m.org == scope)
        .ok_or_else(|| ApiErr::not_found(API, &format!("Media {id}")))
}

fn media_doc(emu: &Emu, m: &Media) -> Value {
    json!({
        "data": {
            "id": m.id,
            "type": m.kind.type_name(),
            "attributes": emu.media_attributes(m),
            "links": {"self": format!("{}/media/{}", wire::V4, m.id)},
        },
        "meta": {},
    })
}

async fn media(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let (_, scope, _) = authed(&emu, &req)?;
    let store = lock(&emu.store);
    let m = find_media(&store, &id, &scope)?;
    Ok(emu.v4_json(media_doc(&emu, m)))
}

/// The fields a write carries, whichever way they came (flat or JSON:API JSON, form,
/// multipart, query string): name to new value, `None` to clear.
pub(super) fn write_fields(req: &Req) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    if let Some(Value::Object(o)) = &req.json {
        for (k, v) in o {
            let v = match v {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                Value::Array(items) => Some(
                    items
                        .iter()
                        .filter_map(wire::lenient_text)
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                Value::Object(_) => continue,
            };
            out.push((k.clone(), v));
        }
        for (k, v) in &req.query {
            if !matches!(k.as_str(), "api_key" | "auth_token") {
                out.push((k.clone(), Some(v.clone())));
            }
        }
    } else {
        out = req
            .fields()
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect();
    }
    out.into_iter()
        .map(|(k, v)| (k, v.filter(|s| !s.trim().is_empty())))
        .collect()
}

async fn media_patch(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let (_, scope, _) = authed(&emu, &req)?;
    body_ok(&req)?;
    let fields = write_fields(&req);
    if fields.is_empty() {
        return Err(ApiErr::bad_request(API, "nothing to change"));
    }
    let now = emu.now();
    let mut store = lock(&emu.store);
    let m = find_media_mut(&mut store, &id, &scope)?;
    let mut next = m.clone();
    for (k, v) in fields {
        let bad = |e: String| ApiErr::bad_request(API, format!("{k}: {e}"));
        let flag = |v: &Option<String>| -> Result<bool, ApiErr> {
            match v {
                None => Ok(false),
                Some(s) => wire::parse_bool_text(s)
                    .map(|b| b.unwrap_or(false))
                    .map_err(&bad),
            }
        };
        match k.as_str() {
            wire::LICENSE_EXPIRATION_DATE if emu.offers(LicensePlace::V4Attribute) => {
                next.license_expiration_date =
                    super::license::parse_expiry(v.as_deref()).map_err(|e| bad(e.to_string()))?;
            }
            wire::MODEL_RELEASED => next.model_released = flag(&v)?,
            wire::PROPERTY_RELEASED => next.property_released = flag(&v)?,
            "searchable" => next.searchable = flag(&v)?,
            "rating" => {
                next.rating = match v {
                    None => 0,
                    Some(s) => s
                        .trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|r| *r <= 5)
                        .ok_or_else(|| bad(format!("\"{s}\" is not a rating from 0 to 5")))?,
                }
            }
            other => {
                return Err(ApiErr::bad_request(
                    API,
                    format!("unknown or read-only attribute \"{other}\""),
                ));
            }
        }
    }
    next.modified_at = now;
    *m = next;
    let m = &*m;
    Ok(emu.v4_json(media_doc(&emu, m)))
}

fn iptc_doc(m: &Media) -> Value {
    let attrs: serde_json::Map<String, Value> = wire::IPTC_FIELDS
        .iter()
        .map(|f| {
            (
                f.to_string(),
                m.iptc.get(*f).map_or(Value::Null, |v| json!(v)),
            )
        })
        .collect();
    json!({"data": {"id": m.id, "type": "iptc", "attributes": attrs}, "meta": {}})
}

async fn iptc(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let (_, scope, _) = authed(&emu, &req)?;
    let store = lock(&emu.store);
    Ok(emu.v4_json(iptc_doc(find_media(&store, &id, &scope)?)))
}

async fn iptc_patch(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let (_, scope, _) = authed(&emu, &req)?;
    body_ok(&req)?;
    let fields = write_fields(&req);
    if fields.is_empty() {
        return Err(ApiErr::bad_request(API, "no IPTC fields to change"));
    }
    if let Some((bad, _)) = fields
        .iter()
        .find(|(k, _)| !wire::IPTC_FIELDS.contains(&k.as_str()))
    {
        return Err(ApiErr::bad_request(
            API,
            format!("unknown IPTC field \"{bad}\""),
        ));
    }
    let now = emu.now();
    let mut store = lock(&emu.store);
    let m = find_media_mut(&mut store, &id, &scope)?;
    for (k, v) in fields {
        match v {
            Some(v) => m.iptc.insert(k, v),
            None => m.iptc.remove(&k),
        };
    }
    m.modified_at = now;
    let doc = iptc_doc(m);
    Ok(emu.v4_json(doc))
}

fn custom_doc(store: &Store, m: &Media) -> Value {
    let items: Vec<Value> = store
        .custom_fields
        .iter()
        .filter_map(|f| {
            let tag = m.custom.get(&f.name)?;
            let tag_id = f
                .tags
                .iter()
                .find(|(_, t)| t == tag)
                .map(|(id, _)| id.clone());
            Some(json!({"field_id": f.id, "field_name": f.name, "value_id": tag_id, "value": tag}))
        })
        .collect();
    json!({"data": {"id": m.id, "type": "customMetadata", "attributes": {"custom_metadata": items}}, "meta": {}})
}

/// The custom metadata fields with their preset tags.
async fn metadata_fields(State(emu): State<S>, req: Req) -> R {
    authed(&emu, &req)?;
    let store = lock(&emu.store);
    let items: Vec<Value> = store
        .custom_fields
        .iter()
        .map(|f| {
            let values: Vec<Value> = f
                .tags
                .iter()
                .map(|(id, t)| json!({"id": id, "value": t}))
                .collect();
            json!({"id": f.id, "type": "customMetadataField", "attributes": {"name": f.name, "values": values}})
        })
        .collect();
    Ok(emu.v4_json(json!({"data": items, "meta": {}})))
}

async fn custom(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let (_, scope, _) = authed(&emu, &req)?;
    let store = lock(&emu.store);
    let m = find_media(&store, &id, &scope)?;
    Ok(emu.v4_json(custom_doc(&store, m)))
}

async fn custom_patch(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let (_, scope, _) = authed(&emu, &req)?;
    body_ok(&req)?;
    let mut changes: Vec<(String, Option<String>)> = Vec::new();
    match req
        .json
        .as_ref()
        .and_then(|j| j.get(wire::CUSTOM_METADATA_KEY))
    {
        Some(Value::Array(items)) => {
            for it in items {
                let pick = |keys: &[&str]| {
                    keys.iter()
                        .find_map(|k| it.get(*k).and_then(wire::lenient_text))
                };
                let field = pick(wire::CUSTOM_FIELD_NAME_KEYS).or_else(|| pick(&["field_id"]));
                let Some(field) = field else {
                    return Err(ApiErr::bad_request(
                        API,
                        "a custom_metadata item without a field name",
                    ));
                };
                let value = pick(wire::CUSTOM_VALUE_KEYS).or_else(|| pick(&["value_id"]));
                changes.push((field, value.filter(|v| !v.trim().is_empty())));
            }
        }
        Some(_) => return Err(ApiErr::bad_request(API, "custom_metadata must be a list")),
        None => changes = write_fields(&req),
    }
    if changes.is_empty() {
        return Err(ApiErr::bad_request(API, "no custom metadata to change"));
    }
    let now = emu.now();
    let mut store = lock(&emu.store);
    find_media(&store, &id, &scope)?;
    let mut resolved = Vec::new();
    for (field, value) in changes {
        let Some(f) = store.custom_field(&field) else {
            return Err(ApiErr::bad_request(
                API,
                format!("unknown custom metadata field \"{field}\""),
            ));
        };
        let tag = match value {
            None => None,
            Some(v) => match f.tags.iter().find(|(tid, t)| *t == v || *tid == v) {
                Some((_, t)) => Some(t.clone()),
                None => {
                    return Err(ApiErr::bad_request(
                        API,
                        format!(
                            "\"{v}\" is not a tag of custom metadata field \"{}\"",
                            f.name
                        ),
                    ));
                }
            },
        };
        resolved.push((f.name.clone(), tag));
    }
    let m = find_media_mut(&mut store, &id, &scope)?;
    for (f, t) in resolved {
        match t {
            Some(t) => m.custom.insert(f, t),
            None => m.custom.remove(&f),
        };
    }
    m.modified_at = now;
    let m = m.clone();
    Ok(emu.v4_json(custom_doc(&store, &m)))
}

async fn media_galleries(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let (_, scope, p) = authed(&emu, &req)?;
    let with_gallery = includes(&req, "gallery");
    let items: Vec<Value> = {
        let store = lock(&emu.store);
        find_media(&store, &id, &scope)?;
        store
            .galleries_of(&id)
            .into_iter()
            .filter_map(|g| store.galleries.get(&g))
            .filter(|g| g.org == scope)
            .map(|g| {
                let mut item = gallery_json(g);
                if with_gallery {
                    item["includes"] = json!({"gallery": {"data": gallery_json(g)}});
                }
                item
            })
            .collect()
    };
    Ok(list(&emu, &wire::v4::media_galleries(&id), items, &p))
}

/// The original bytes, with type, length and file name (both versions).
pub(super) fn file_response(m: &Media) -> Response {
    let mut resp = (StatusCode::OK, m.bytes.clone()).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&m.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    let name: String = m
        .file_name
        .chars()
        .map(|c| if c == '"' || c.is_control() { '_' } else { c })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

async fn download(State(emu): State<S>, Path(id): Path<String>, req: Req) -> R {
    let (_, scope, _) = authed(&emu, &req)?;
    let store = lock(&emu.store);
    let m = find_media(&store, &id, &scope)?;
    match req.param_nonblank(wire::DOWNLOAD_FILETYPE) {
        None | Some("original") => {}
        Some("jpeg") if m.kind == MediaKind::Image => {}
        Some(other) => {
            return Err(ApiErr::bad_request(
                API,
                format!("download_filetype \"{other}\" is not available for this media"),
            ));
        }
    }
    Ok(file_response(m))
}
