//! A local PhotoShelter: a real HTTP server (axum) that answers psapi v3 and v4.0 as the
//! wire contract (`shared/api/photoshelter.md`) documents them, backed by an in-memory account
//! seeded deterministically.
//!
//! It serves tests (hermetic, with fault injection), `ferry demo`, and as the reference for
//! what the client sends: every request is captured with its headers and body so tests can
//! keep the exact requests as reviewed snapshots. Where the contract is uncertain (IPTC and
//! attribute writes, upload reply, gallery insert) it accepts every plausible variant.
//!
//! Layout: `store` (account and seed), `request` (parameters and error envelopes), `v4` and
//! `v3` (the two API trees).

mod license;
mod request;
mod store;
mod v3;
mod v4;

use crate::clock::Clock;
use crate::emulate::{
    EditDuring, EditHooks, FaultOptions, Faults, JournalEntry, RequestLog, Running, WriteJournal,
    fault_layer, lock, serve,
};
use crate::mapping::photoshelter::PhotoShelterRecord;
use crate::photoshelter::wire::{self, LicensePlace, Visibility};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use request::{Api, ApiErr, Req};
use serde_json::{Map, Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use store::{Media, Store};

/// Captured requests kept at most, and their body bytes in all (the oldest are dropped
/// first), and body bytes kept per request.
const CAPTURE_LIMIT: usize = 20_000;
const CAPTURE_BYTES: usize = 64 * 1024 * 1024;
const CAPTURE_BODY_LIMIT: usize = 1024 * 1024;

/// How the emulator treats `modify_start`/`modify_end` on media search (the filter exists
/// only in a 2019 draft, so a real tenant may not have it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModifyFilter {
    /// Filters by modification time.
    #[default]
    Honoured,
    /// Ignores the parameters, as a server that does not know them might.
    Ignored,
    /// Answers 400 naming the parameter.
    Rejected,
}

/// Variations of real servers the contract leaves open; changeable on a running emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quirks {
    /// v4 answers carry numbers as strings and booleans as `t`/`f` (as v3 always does).
    pub string_scalars: bool,
    /// Login replies carry `org` as one object instead of an array.
    pub org_as_object: bool,
    pub modify_filter: ModifyFilter,
    /// The largest `per_page` honoured; larger requests get this many.
    pub max_per_page: usize,
    /// Where the account keeps licence records (each of the others answers 404).
    pub license_places: Vec<LicensePlace>,
}

impl Default for Quirks {
    fn default() -> Self {
        Quirks {
            string_scalars: false,
            org_as_object: false,
            modify_filter: ModifyFilter::Honoured,
            max_per_page: 1000,
            license_places: LicensePlace::ALL.to_vec(),
        }
    }
}

/// A fixed-window rate limit: more than `requests` in one `window` are answered 429 with
/// `Retry-After` (the seconds left in the window) in the envelope of the version asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub window: Duration,
}

/// How to build and run the emulator.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// Media to seed (0: an empty account).
    pub seed_media: usize,
    /// Seed of the generator: the same seed gives the same account, ids and bytes.
    pub seed: u64,
    pub api_key_v4: String,
    pub api_key_v3: String,
    pub email: String,
    pub password: String,
    /// The organisation that owns the seeded content ("" for a user without one). The user
    /// also belongs to a second, empty organisation.
    pub org_id: String,
    /// A session unused for this long expires (401 on its next use).
    pub token_idle: Duration,
    pub faults: FaultOptions,
    pub media_per_gallery: usize,
    pub galleries_per_collection: usize,
    /// An OAuth access token the emulator accepts as `Authorization: Bearer` (as if issued
    /// by the OAuth flow, which the emulator does not implement).
    pub oauth_token: Option<String>,
    /// "Now" for modification times.
    pub clock: Clock,
    pub quirks: Quirks,
    /// Keep every request with headers and body (for snapshots); off for long demo runs.
    pub capture: bool,
    /// PhotoShelter's own throttling (numbers unknown; off by default).
    pub rate_limit: Option<RateLimit>,
    /// How large the seeded images (generated JPEGs) are.
    pub picture_size: crate::emulate::pictures::PictureSize,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            seed_media: 1000,
            seed: 1962,
            api_key_v4: "DEMOv4key.1".into(),
            api_key_v3: "DEMOv3key.1".into(),
            email: "demo@ferry.example".into(),
            password: "demo-password".into(),
            org_id: "O0000FerryDemo01".into(),
            token_idle: Duration::from_secs(2 * 3600),
            faults: FaultOptions::default(),
            media_per_gallery: 250,
            galleries_per_collection: 4,
            oauth_token: Some("demo-oauth-access-token".into()),
            clock: Clock::system(),
            quirks: Quirks::default(),
            capture: true,
            rate_limit: None,
            picture_size: Default::default(),
        }
    }
}

/// One request as it reached the emulator, before any fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// Headers a snapshot shows (the rest vary by transport or are not the client's choice).
const SNAPSHOT_HEADERS: &[&str] = &[
    "accept",
    "authorization",
    "content-type",
    "cookie",
    "x-ps-api-key",
    "x-ps-auth-token",
];
/// Parameter and JSON key names whose values are credentials.
const SECRET_NAMES: &[&str] = &[
    "api_key",
    "auth_token",
    "password",
    "token",
    "access_token",
    "refresh_token",
    "client_secret",
];

impl CapturedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The request as snapshot text: method and path with query (credential parameters
    /// `[redacted]`), the relevant headers sorted (credentials `[redacted]`, multipart
    /// boundaries normalised), and the body (forms and JSON with credentials redacted,
    /// multipart as its parts, binary as size and SHA-1). Any of `secrets` left anywhere is
    /// replaced too.
    pub fn render(&self, secrets: &[&str]) -> String {
        let mut out = String::new();
        out.push_str(&self.method);
        out.push(' ');
        out.push_str(&self.path);
        if let Some(q) = &self.query {
            out.push('?');
            out.push_str(&redact_form(q));
        }
        out.push('\n');
        let mut headers: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|(k, _)| SNAPSHOT_HEADERS.contains(&k.as_str()))
            .map(|(k, v)| {
                let v = match k.as_str() {
                    "x-ps-api-key" | "x-ps-auth-token" | "cookie" => "[redacted]".to_string(),
                    "authorization" => match v.split_once(' ') {
                        Some((scheme, _)) => format!("{scheme} [redacted]"),
                        None => "[redacted]".to_string(),
                    },
                    "content-type" if v.starts_with("multipart/") => {
                        "multipart/form-data; boundary=[boundary]".to_string()
                    }
                    _ => v.clone(),
                };
                (k.clone(), v)
            })
            .collect();
        headers.sort();
        for (k, v) in headers {
            out.push_str(&format!("{k}: {v}\n"));
        }
        out.push('\n');
        out.push_str(&self.render_body());
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            out = out.replace(s, "[redacted]");
        }
        out
    }

    fn render_body(&self) -> String {
        if self.body.is_empty() {
            return "(no body)\n".into();
        }
        let ctype = self.header("content-type").unwrap_or("").to_string();
        if ctype.starts_with("multipart/") {
            return match request::parse_multipart(&ctype, &self.body) {
                Ok(parts) => {
                    let mut s = String::new();
                    for p in parts {
                        s.push_str(&format!("part name=\"{}\"", p.name));
                        if let Some(f) = &p.filename {
                            s.push_str(&format!(" filename=\"{f}\""));
                        }
                        if let Some(t) = &p.content_type {
                            s.push_str(&format!(" content-type=\"{t}\""));
                        }
                        s.push_str(": ");
                        match std::str::from_utf8(&p.data) {
                            Ok(t) if p.filename.is_none() => {
                                if SECRET_NAMES.contains(&p.name.as_str()) {
                                    s.push_str("[redacted]");
                                } else {
                                    s.push_str(t);
                                }
                            }
                            _ => s.push_str(&describe_bytes(&p.data)),
                        }
                        s.push('\n');
                    }
                    s
                }
                Err(e) => format!("(unreadable multipart body: {e})\n"),
            };
        }
        if ctype.contains("json") {
            return match serde_json::from_slice::<Value>(&self.body) {
                Ok(mut v) => {
                    redact_json(&mut v);
                    format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default())
                }
                Err(_) => format!("(invalid JSON) {}\n", describe_bytes(&self.body)),
            };
        }
        match std::str::from_utf8(&self.body) {
            Ok(t) if ctype.starts_with("application/x-www-form-urlencoded") => {
                format!("{}\n", redact_form(t))
            }
            Ok(t) if !ctype.starts_with("application/octet") => format!("{t}\n"),
            _ => format!("{}\n", describe_bytes(&self.body)),
        }
    }
}

/// Several requests as one snapshot document.
pub fn render_requests(requests: &[CapturedRequest], secrets: &[&str]) -> String {
    requests
        .iter()
        .map(|r| r.render(secrets))
        .collect::<Vec<_>>()
        .join("\n---\n\n")
}

fn describe_bytes(b: &[u8]) -> String {
    use sha1::Digest;
    format!(
        "<{} bytes, sha1 {}>",
        b.len(),
        hex::encode(sha1::Sha1::digest(b))
    )
}

fn redact_form(q: &str) -> String {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect();
    if !pairs
        .iter()
        .any(|(k, _)| SECRET_NAMES.contains(&k.as_str()))
    {
        return q.to_string();
    }
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if SECRET_NAMES.contains(&k.as_str()) {
            s.append_pair(&k, "[redacted]");
        } else {
            s.append_pair(&k, &v);
        }
    }
    // Keep the marker readable.
    s.finish().replace("%5Bredacted%5D", "[redacted]")
}

fn redact_json(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, item) in o.iter_mut() {
                if SECRET_NAMES.contains(&k.as_str()) {
                    *item = Value::String("[redacted]".into());
                } else {
                    redact_json(item);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact_json),
        _ => {}
    }
}

/// IPTC fields a person edits in PhotoShelter's web UI (`None` clears): a test hook placed
/// with [`PhotoShelterEmulator::edit_during`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IptcEdit {
    pub media_id: String,
    pub fields: Vec<(String, Option<String>)>,
}

/// A response the emulator gives instead of its own, for tests of malformed answers.
#[derive(Debug, Clone)]
pub struct Override {
    /// `None`: any method.
    pub method: Option<String>,
    /// The full path, e.g. `/psapi/v4.0/media/I0000…`.
    pub path: String,
    pub status: u16,
    pub content_type: String,
    pub body: String,
    /// How many times to answer so.
    pub times: usize,
}

/// The state every handler shares.
#[derive(Debug)]
pub(crate) struct Emu {
    pub options: EmulatorOptions,
    pub store: Mutex<Store>,
    pub quirks: Mutex<Quirks>,
    captured: Mutex<VecDeque<CapturedRequest>>,
    overrides: Mutex<Vec<Override>>,
    expire_countdown: Mutex<Option<usize>>,
    /// Every write to a media item with the record before and after (when a test asks).
    journal: WriteJournal<PhotoShelterRecord>,
    /// Start of the rate-limit window and requests in it.
    window: Mutex<(Instant, u32)>,
    /// Edits a test makes "as a person" just before a request of ferry's is handled.
    edits: EditHooks<IptcEdit>,
}

/// Who is calling, once authenticated.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub token: String,
    pub org: Option<String>,
    pub user_id: String,
}

impl Emu {
    pub fn now(&self) -> DateTime<Utc> {
        let t = self.options.clock.now();
        DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
    }

    /// Whether this account keeps licence records at `place`.
    pub fn offers(&self, place: LicensePlace) -> bool {
        lock(&self.quirks).license_places.contains(&place)
    }

    pub fn quirks(&self) -> Quirks {
        lock(&self.quirks).clone()
    }

    /// Counts a request against the rate limit; `Some(seconds to wait)` when over it.
    fn throttled(&self, limit: RateLimit) -> Option<u64> {
        let mut w = lock(&self.window);
        let now = Instant::now();
        if now.duration_since(w.0) >= limit.window {
            *w = (now, 0);
        }
        w.1 += 1;
        if w.1 <= limit.requests {
            return None;
        }
        let left = limit.window.saturating_sub(now.duration_since(w.0));
        Some(left.as_secs() + u64::from(left.subsec_nanos() > 0))
    }

    pub fn check_key(&self, req: &Req, api: Api) -> Result<(), ApiErr> {
        let want = match api {
            Api::V3 => &self.options.api_key_v3,
            Api::V4 => &self.options.api_key_v4,
        };
        match req.api_key() {
            Some(k) if k == want => Ok(()),
            _ => Err(ApiErr::new(
                api,
                StatusCode::FORBIDDEN,
                "ApiKeyInvalidException",
                "The API key is missing or invalid",
            )),
        }
    }

    /// Checks the API key and the session token; touches the session.
    pub fn session(&self, req: &Req, api: Api) -> Result<Ctx, ApiErr> {
        self.check_key(req, api)?;
        let unauthorised = |title: &str| {
            ApiErr::new(
                api,
                StatusCode::UNAUTHORIZED,
                if api == Api::V4 {
                    "AcsPermissionException"
                } else {
                    "SessionRequiredErr"
                },
                title,
            )
        };
        let tokens = req.tokens();
        if tokens.is_empty() {
            return Err(unauthorised("Authentication required"));
        }
        let mut store = lock(&self.store);
        let now = Instant::now();
        for t in tokens {
            if self.options.oauth_token.as_deref() == Some(t.as_str())
                && !store.sessions.contains_key(&t)
            {
                store.sessions.insert(
                    t.clone(),
                    store::Session {
                        org: None,
                        last_used: now,
                        oauth: true,
                    },
                );
            }
            let Some(s) = store.sessions.get_mut(&t) else {
                continue;
            };
            if !s.oauth && now.duration_since(s.last_used) > self.options.token_idle {
                store.sessions.remove(&t);
                return Err(unauthorised("The session has expired; log in again"));
            }
            s.last_used = now;
            let org = s.org.clone();
            let user_id = store.user_id.clone();
            let mut countdown = lock(&self.expire_countdown);
            if let Some(n) = countdown.as_mut() {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    *countdown = None;
                    store.sessions.retain(|_, s| s.oauth);
                }
            }
            return Ok(Ctx {
                token: t,
                org,
                user_id,
            });
        }
        Err(unauthorised("The session token is not valid; log in again"))
    }

    /// The organisation a read is scoped to: an `org_id` parameter naming one of the user's
    /// organisations, else the session's.
    pub fn scope(&self, ctx: &Ctx, req: &Req, api: Api) -> Result<Option<String>, ApiErr> {
        match req.param_nonblank(wire::ORG_ID) {
            Some(o) => {
                let store = lock(&self.store);
                if store.orgs.iter().any(|(id, _)| id == o) {
                    Ok(Some(o.to_string()))
                } else {
                    Err(ApiErr::new(
                        api,
                        StatusCode::FORBIDDEN,
                        "AcsPermissionException",
                        format!("not a member of organisation {o}"),
                    ))
                }
            }
            None => Ok(ctx.org.clone()),
        }
    }

    /// v4 JSON with the server's quirks applied.
    pub fn v4_json(&self, mut v: Value) -> Response {
        if self.quirks().string_scalars {
            stringify(&mut v);
        }
        let mut resp = axum::Json(v).into_response();
        resp.headers_mut()
            .insert("x-ps-api-version", HeaderValue::from_static("2019_05_01"));
        resp
    }

    /// The v4 attributes of a media item (`/media/{id}`), nulls left out.
    pub fn media_attributes(&self, m: &Media) -> Map<String, Value> {
        let mut a = Map::new();
        let mut put = |k: &str, v: Value| {
            if !v.is_null() {
                a.insert(k.to_string(), v);
            }
        };
        put("owner_id", json!(m.owner));
        put("organization_id", json!(m.org));
        put("creator_id", json!(m.owner));
        put("photographer_id", json!(m.owner));
        put("file_name", json!(m.file_name));
        put("file_size", json!(m.bytes.len()));
        if matches!(m.kind, wire::MediaKind::Image | wire::MediaKind::Video) {
            put("width", json!(m.width));
            put("height", json!(m.height));
        }
        put("rating", json!(m.rating));
        put("searchable", json!(m.searchable));
        put(wire::MODEL_RELEASED, json!(m.model_released));
        put(wire::PROPERTY_RELEASED, json!(m.property_released));
        put("flagged", json!(false));
        if self.offers(LicensePlace::V4Attribute) {
            put(wire::LICENSE_EXPIRATION_DATE, license::expiry_value(m));
        }
        if m.kind != wire::MediaKind::Image {
            put("format", json!(m.content_type));
            put("hash", json!(m.sha1()));
        }
        put("created_at", json!(wire::format_timestamp(m.created_at)));
        put("modified_at", json!(wire::format_timestamp(m.modified_at)));
        if self.quirks().string_scalars {
            for v in a.values_mut() {
                stringify(v);
            }
        }
        a
    }

    fn record(&self, m: &Media) -> PhotoShelterRecord {
        PhotoShelterRecord {
            media_id: m.id.clone(),
            attributes: self.media_attributes(m),
            iptc: m
                .iptc
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
            custom: m.custom.clone(),
            license: match license::expiry_value(m) {
                Value::Null => Map::new(),
                v => Map::from_iter([(wire::LicenseField::ExpirationDate.name().to_string(), v)]),
            },
            modified_at: Some(m.modified_at),
            file_name: Some(m.file_name.clone()),
            file_size: Some(m.bytes.len() as u64),
            checksum: (m.kind != wire::MediaKind::Image).then(|| format!("sha1:{}", m.sha1())),
        }
    }
}

/// Numbers to strings, booleans to `t`/`f`, recursively (how v3 answers, and some v4).
fn stringify(v: &mut Value) {
    match v {
        Value::Number(n) => *v = Value::String(n.to_string()),
        Value::Bool(b) => *v = Value::String(if *b { "t" } else { "f" }.into()),
        Value::Array(a) => a.iter_mut().for_each(stringify),
        Value::Object(o) => o.values_mut().for_each(stringify),
        _ => {}
    }
}

/// A running emulator.
#[derive(Debug)]
pub struct PhotoShelterEmulator {
    running: Running,
    emu: Arc<Emu>,
    faults: Arc<Faults>,
}

/// Builds the account and serves it on `addr` (port 0 picks a free port).
pub async fn start(
    options: EmulatorOptions,
    addr: SocketAddr,
) -> std::io::Result<PhotoShelterEmulator> {
    let faults = Faults::new(options.faults.clone());
    let emu = Arc::new(Emu {
        store: Mutex::new(Store::new(&options)),
        quirks: Mutex::new(options.quirks.clone()),
        options,
        captured: Mutex::new(VecDeque::new()),
        overrides: Mutex::new(Vec::new()),
        expire_countdown: Mutex::new(None),
        journal: WriteJournal::default(),
        window: Mutex::new((Instant::now(), 0)),
        edits: EditHooks::default(),
    });
    let v4 = v4::router();
    let v3 = v3::router();
    let router = Router::new()
        .nest(wire::V4, v4.clone())
        .nest(wire::V4_ALT, v4)
        .nest(wire::V3, v3.clone())
        .nest(wire::V3_ALT, v3)
        .fallback(|| async { (StatusCode::NOT_FOUND, "Not Found") })
        .with_state(emu.clone())
        .layer(from_fn_with_state(emu.clone(), journal_layer))
        .layer(from_fn_with_state(emu.clone(), override_layer))
        .layer(from_fn_with_state(faults.clone(), fault_layer))
        .layer(from_fn_with_state(emu.clone(), capture_layer));
    let running = serve(router, addr).await?;
    tracing::info!(url = %running.url(), "PhotoShelter emulator listening");
    Ok(PhotoShelterEmulator {
        running,
        emu,
        faults,
    })
}

async fn capture_layer(State(emu): State<Arc<Emu>>, req: Request, next: Next) -> Response {
    if !emu.options.capture {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let captured = CapturedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: bytes.slice(..bytes.len().min(CAPTURE_BODY_LIMIT)),
    };
    {
        let mut c = lock(&emu.captured);
        c.push_back(captured);
        let mut bytes: usize = c.iter().map(|r| r.body.len()).sum();
        while c.len() > CAPTURE_LIMIT || (bytes > CAPTURE_BYTES && c.len() > 1) {
            if let Some(old) = c.pop_front() {
                bytes -= old.body.len();
            }
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Journals a write that names a media item (when the journal is on): the record before and
/// after the handler ran. ferry writes one media item at a time, so nothing else changes the
/// record in between.
async fn journal_layer(State(emu): State<Arc<Emu>>, req: Request, next: Next) -> Response {
    if !emu.journal.is_on() || req.method() == axum::http::Method::GET {
        return next.run(req).await;
    }
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let snapshot = |id: &str| {
        let store = lock(&emu.store);
        store.media.get(id).map(|m| emu.record(m))
    };
    let id = {
        let store = lock(&emu.store);
        path.split('/')
            .find(|s| store.media.contains_key(*s))
            .map(str::to_string)
    };
    let Some(id) = id else {
        return next.run(req).await;
    };
    let before = snapshot(&id);
    let resp = next.run(req).await;
    emu.journal.push(JournalEntry {
        method,
        path,
        status: resp.status().as_u16(),
        before,
        after: snapshot(&id),
        id,
    });
    resp
}

async fn override_layer(State(emu): State<Arc<Emu>>, req: Request, next: Next) -> Response {
    if let Some(edit) = emu.edits.take(req.method().as_str(), req.uri().path()) {
        let now = emu.now();
        let mut store = lock(&emu.store);
        if let Some(m) = store.media.get_mut(&edit.media_id) {
            for (field, value) in edit.fields {
                match value {
                    Some(v) => m.iptc.insert(field, v),
                    None => m.iptc.remove(&field),
                };
            }
            m.modified_at = now;
        }
    }
    let hit = {
        let mut ov = lock(&emu.overrides);
        let method = req.method().as_str().to_string();
        let path = req.uri().path().to_string();
        let found = ov.iter().position(|o| {
            o.times > 0
                && o.path == path
                && o.method
                    .as_ref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(&method))
        });
        found.map(|i| {
            ov[i].times -= 1;
            let o = ov[i].clone();
            if ov[i].times == 0 {
                ov.remove(i);
            }
            o
        })
    };
    if let Some(limit) = emu.options.rate_limit
        && let Some(wait) = emu.throttled(limit)
    {
        let api = if req.uri().path().starts_with(wire::V3) {
            Api::V3
        } else {
            Api::V4
        };
        let id = if api == Api::V4 {
            "TooManyRequestsException"
        } else {
            "TooManyRequestsErr"
        };
        let mut resp = ApiErr::new(
            api,
            StatusCode::TOO_MANY_REQUESTS,
            id,
            "Too many requests; retry later",
        )
        .into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return resp;
    }
    match hit {
        Some(o) => {
            let mut resp = Response::new(Body::from(o.body));
            *resp.status_mut() = StatusCode::from_u16(o.status).unwrap_or(StatusCode::OK);
            if let Ok(v) = HeaderValue::from_str(&o.content_type) {
                resp.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            resp
        }
        None => next.run(req).await,
    }
}

impl PhotoShelterEmulator {
    /// `http://127.0.0.1:PORT`: the `base_url` of a client.
    pub fn url(&self) -> String {
        self.running.url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    pub fn running(&self) -> &Running {
        &self.running
    }

    pub async fn stop(self) {
        self.running.stop().await
    }

    /// Every request answered, with status and whether a fault was injected.
    pub fn log(&self) -> Arc<RequestLog> {
        self.faults.log.clone()
    }

    /// The fault settings, changeable mid-test with `faults().set(...)`.
    pub fn faults(&self) -> Arc<Faults> {
        self.faults.clone()
    }

    pub fn options(&self) -> &EmulatorOptions {
        &self.emu.options
    }

    pub fn quirks(&self) -> Quirks {
        self.emu.quirks()
    }

    pub fn set_quirks(&self, quirks: Quirks) {
        *lock(&self.emu.quirks) = quirks;
    }

    pub fn user_id(&self) -> String {
        lock(&self.emu.store).user_id.clone()
    }

    /// The user's organisations; the first owns the seeded content.
    pub fn org_ids(&self) -> Vec<String> {
        lock(&self.emu.store)
            .orgs
            .iter()
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Every media id, sorted.
    pub fn media_ids(&self) -> Vec<String> {
        lock(&self.emu.store).media.keys().cloned().collect()
    }

    pub fn gallery_ids(&self) -> Vec<String> {
        lock(&self.emu.store).galleries.keys().cloned().collect()
    }

    pub fn collection_ids(&self) -> Vec<String> {
        lock(&self.emu.store).collections.keys().cloned().collect()
    }

    /// Creates a collection at the top level holding `galleries` (as an admin would in the
    /// web UI; ferry itself never creates collections); returns its id.
    pub fn create_collection(&self, name: &str, galleries: &[String]) -> String {
        let now = self.emu.now();
        let mut store = lock(&self.emu.store);
        let id = store.new_id("C");
        let order = store.next_order();
        let org = store.home_org();
        store.collections.insert(
            id.clone(),
            store::Collection {
                id: id.clone(),
                name: name.to_string(),
                description: String::new(),
                parent: None,
                org,
                mode: Visibility::Permission,
                listed: true,
                display_order: order,
                created_at: now,
                modified_at: now,
            },
        );
        for g in galleries {
            if let Some(gal) = store.galleries.get_mut(g) {
                gal.parents.push(id.clone());
            }
        }
        id
    }

    /// Sets a gallery's description.
    pub fn set_gallery_description(&self, gallery_id: &str, description: &str) -> bool {
        let mut store = lock(&self.emu.store);
        match store.galleries.get_mut(gallery_id) {
            Some(g) => {
                g.description = description.to_string();
                true
            }
            None => false,
        }
    }

    /// The media of a gallery, in display order.
    pub fn gallery_media(&self, gallery_id: &str) -> Option<Vec<String>> {
        lock(&self.emu.store)
            .galleries
            .get(gallery_id)
            .map(|g| g.media.iter().map(|(m, _)| m.clone()).collect())
    }

    /// Galleries and collections directly under a collection (`None`: the top level of the
    /// home organisation), as (is_collection, id).
    pub fn children(&self, collection: Option<&str>) -> Vec<(bool, String)> {
        let store = lock(&self.emu.store);
        let org = store.home_org();
        store.children(collection, &org)
    }

    /// A media item as the client should read it.
    pub fn record(&self, media_id: &str) -> Option<PhotoShelterRecord> {
        let store = lock(&self.emu.store);
        store.media.get(media_id).map(|m| self.emu.record(m))
    }

    /// The stored bytes of a media item.
    pub fn media_bytes(&self, media_id: &str) -> Option<Bytes> {
        lock(&self.emu.store)
            .media
            .get(media_id)
            .map(|m| m.bytes.clone())
    }

    /// The visibility mode of a gallery or collection.
    pub fn visibility(&self, container_id: &str) -> Option<Visibility> {
        let store = lock(&self.emu.store);
        store
            .galleries
            .get(container_id)
            .map(|g| g.mode)
            .or_else(|| store.collections.get(container_id).map(|c| c.mode))
    }

    /// Gives a media item another id, as a server with ids of another shape would have it
    /// (galleries keep it in its place). False if there is no such media or the id is taken.
    pub fn rename_media(&self, media_id: &str, new_id: &str) -> bool {
        let mut store = lock(&self.emu.store);
        if store.media.contains_key(new_id) {
            return false;
        }
        let Some(mut m) = store.media.remove(media_id) else {
            return false;
        };
        m.id = new_id.to_string();
        store.media.insert(new_id.to_string(), m);
        for g in store.galleries.values_mut() {
            for (id, _) in g.media.iter_mut().filter(|(id, _)| id == media_id) {
                *id = new_id.to_string();
            }
        }
        true
    }

    /// Edits an IPTC field as a user of the web UI would (`None` clears); the media's
    /// modification time becomes now. False if there is no such media.
    pub fn set_iptc(&self, media_id: &str, field: &str, value: Option<&str>) -> bool {
        let now = self.emu.now();
        let mut store = lock(&self.emu.store);
        let Some(m) = store.media.get_mut(media_id) else {
            return false;
        };
        match value {
            Some(v) => m.iptc.insert(field.to_string(), v.to_string()),
            None => m.iptc.remove(field),
        };
        m.modified_at = now;
        true
    }

    /// Sets a custom metadata tag directly (no preset check; `None` clears); the media's
    /// modification time becomes now.
    pub fn set_custom(&self, media_id: &str, field: &str, tag: Option<&str>) -> bool {
        let now = self.emu.now();
        let mut store = lock(&self.emu.store);
        let Some(m) = store.media.get_mut(media_id) else {
            return false;
        };
        match tag {
            Some(v) => m.custom.insert(field.to_string(), v.to_string()),
            None => m.custom.remove(field),
        };
        m.modified_at = now;
        true
    }

    /// Sets a media's modification time.
    pub fn set_modified_at(&self, media_id: &str, at: DateTime<Utc>) -> bool {
        let mut store = lock(&self.emu.store);
        match store.media.get_mut(media_id) {
            Some(m) => {
                m.modified_at = at;
                true
            }
            None => false,
        }
    }

    /// Ends every password session now (OAuth bearer tokens stay valid).
    pub fn expire_tokens(&self) {
        lock(&self.emu.store).sessions.retain(|_, s| s.oauth);
    }

    /// Ends every password session after `requests` more authenticated requests have been
    /// answered (deterministic "expiry mid-listing").
    pub fn expire_tokens_after(&self, requests: usize) {
        if requests == 0 {
            self.expire_tokens();
        } else {
            *lock(&self.emu.expire_countdown) = Some(requests);
        }
    }

    /// Every session token issued so far (for tests that check none leaks).
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.emu.store).issued.clone()
    }

    /// Live sessions (password and OAuth).
    pub fn session_count(&self) -> usize {
        lock(&self.emu.store).sessions.len()
    }

    /// Every request received (before faults), with headers and body.
    pub fn captured(&self) -> Vec<CapturedRequest> {
        lock(&self.emu.captured).iter().cloned().collect()
    }

    pub fn clear_captured(&self) {
        lock(&self.emu.captured).clear();
    }

    /// Turns the write journal on or off (off by default).
    pub fn set_journal(&self, on: bool) {
        self.emu.journal.set_on(on);
    }

    /// Every write to a media item since the journal was turned on, with the record before
    /// and after it.
    pub fn journal(&self) -> Vec<JournalEntry<PhotoShelterRecord>> {
        self.emu.journal.entries()
    }

    /// How many writes the journal holds.
    pub fn journal_len(&self) -> usize {
        self.emu.journal.len()
    }

    /// Answers matching requests with a canned response instead.
    pub fn override_response(&self, o: Override) {
        lock(&self.emu.overrides).push(o);
    }

    /// Makes `hook.edit` as a person would, just before the next request matching `hook` is
    /// handled: a concurrent edit landing between ferry's re-read and its write.
    pub fn edit_during(&self, hook: EditDuring<IptcEdit>) {
        self.emu.edits.push(hook);
    }
}
