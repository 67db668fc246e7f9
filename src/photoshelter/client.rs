//! The PhotoShelter client ferry uses against real accounts, over the shared HTTP layer.
//!
//! psapi v4.0 for reads, search, IPTC and custom metadata; v3 for upload, gallery creation and
//! visibility, which only v3 documents. Authentication is a password login per version (each
//! with its own API key), or an OAuth access token from the configuration sent as a Bearer
//! token to both; the configured organisation is selected after each login, and a session
//! that expires is renewed (401, or a v3 "session" error class), a few times per request at
//! most.
//!
//! Parsing is lenient where PhotoShelter is loose (numbers as strings, `t`/`f`, several
//! timestamp forms, `org` as object or array) and strict where a mistake would spread: an id
//! that is not an id, a list that is not a list, or a listing that ends before its total is
//! an error naming the URL. Credentials never appear in errors or logs: URLs are redacted,
//! credentials travel in headers or bodies only, and any text taken from an answer is scrubbed
//! of every secret the client knows.
//!
//! Every wire detail (paths, names, which variant of an uncertain write is sent) is in
//! [`super::wire`].

use super::wire::{self, Encoding, IdKind, MediaKind, OrgInfo, Visibility, check_id, get};
use crate::config::{PhotoShelterConfig, Secret};
use crate::http::{
    AnswerKind, HttpClient, HttpError, HttpOptions, PageBound, Reply, RequestCounts, redact_url,
};
use crate::mapping::photoshelter::{PhotoShelterRecord, PhotoShelterWrite, RecordParts};
use crate::model::System;
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::{ACCEPT, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;
use tracing::Instrument;

mod files;
mod license;
mod listing;
mod media;
mod session;
mod types;

pub use files::MediaDownload;
pub use types::*;

// ---------------------------------------------------------------------------------------------
// Errors

/// What went wrong talking to PhotoShelter. Messages name the (redacted) URL and the problem;
/// they never hold a credential.
#[derive(Debug, thiserror::Error)]
pub enum PhotoShelterError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(
        "{method} {url}: PhotoShelter refused the API key (HTTP {status}): {detail}; check photoshelter.api_key (v4) and photoshelter.api_key_v3"
    )]
    ApiKey {
        method: String,
        url: String,
        status: u16,
        detail: String,
    },
    #[error("{method} {url}: login failed (HTTP {status}): {detail}")]
    Login {
        method: String,
        url: String,
        status: u16,
        detail: String,
    },
    #[error("{method} {url}: not authorised (HTTP {status}) {why}: {detail}")]
    Unauthorized {
        method: String,
        url: String,
        status: u16,
        why: &'static str,
        detail: String,
    },
    #[error("{method} {url}: not found (HTTP 404): {detail}")]
    NotFound {
        method: String,
        url: String,
        detail: String,
    },
    #[error("{method} {url}: PhotoShelter answered HTTP {status}: {detail}")]
    Status {
        method: String,
        url: String,
        status: u16,
        detail: String,
    },
    #[error("{method} {url}: malformed answer: {reason}")]
    Malformed {
        method: String,
        url: String,
        reason: String,
    },
    #[error("{url}: {what} \"{value}\" is not a PhotoShelter id: {reason}")]
    BadId {
        url: String,
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("{url}: the listing stopped short: {reason}")]
    Listing { url: String, reason: String },
    #[error("{url}: the download of {media_id} has {got} bytes where {expected} were expected")]
    SizeMismatch {
        url: String,
        media_id: String,
        got: u64,
        expected: u64,
    },
    #[error("{url}: the download of {media_id} failed after {got} bytes: {reason}")]
    Download {
        url: String,
        media_id: String,
        got: u64,
        reason: String,
    },
    #[error("{what} {id}: not verified on reading back: {}", mismatches.join("; "))]
    NotVerified {
        what: &'static str,
        id: String,
        mismatches: Vec<String>,
    },
    #[error("{0}")]
    Invalid(String),
}

impl PhotoShelterError {
    /// The HTTP status PhotoShelter answered, when the error is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            PhotoShelterError::ApiKey { status, .. }
            | PhotoShelterError::Login { status, .. }
            | PhotoShelterError::Unauthorized { status, .. }
            | PhotoShelterError::Status { status, .. } => Some(*status),
            PhotoShelterError::NotFound { .. } => Some(404),
            PhotoShelterError::Http(HttpError::Exhausted { status, .. }) => Some(status.as_u16()),
            _ => None,
        }
    }
}

/// A poisoned lock only means another task panicked while holding it; the list it guards
/// (tokens, organisations) is still valid.
fn plock<T>(m: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How many times one request renews an expired session. More than once: a session can
/// expire (or all sessions be ended) again while a request waits out throttling or retries,
/// so a second refusal is not yet the account's fault; bounded, so a session that is always
/// refused fails soon.
const MAX_RENEWALS: u32 = 3;

/// Why a Bearer token that is refused is not retried.
const OAUTH_REFUSED: &str =
    "with the configured OAuth token (ferry cannot renew it; issue a new one)";

type Result<T, E = PhotoShelterError> = std::result::Result<T, E>;

// ---------------------------------------------------------------------------------------------
// Requests

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    V3,
    V4,
}

impl Api {
    fn prefix(self) -> &'static str {
        match self {
            Api::V3 => wire::V3,
            Api::V4 => wire::V4,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Api::V3 => "v3",
            Api::V4 => "v4.0",
        }
    }
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Form(Vec<(String, String)>),
    Json(Value),
    Multipart(Vec<(String, PartValue)>),
}

#[derive(Debug, Clone)]
enum PartValue {
    Text(String),
    File {
        file_name: String,
        content_type: String,
        data: Bytes,
    },
    /// A file streamed from disk (opened anew for each attempt), so memory stays flat
    /// whatever its size.
    Path {
        file_name: String,
        content_type: String,
        path: std::path::PathBuf,
        len: u64,
    },
}

/// A request body that reads `path` in chunks as it is sent.
fn file_body(path: &std::path::Path) -> reqwest::Body {
    const CHUNK: usize = 64 * 1024;
    match std::fs::File::open(path) {
        Ok(f) => {
            let file = tokio::fs::File::from_std(f);
            let stream = futures_util::stream::unfold(file, |mut file| async move {
                let mut buf = vec![0u8; CHUNK];
                match tokio::io::AsyncReadExt::read(&mut file, &mut buf).await {
                    Ok(0) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        Some((Ok::<_, std::io::Error>(Bytes::from(buf)), file))
                    }
                    Err(e) => Some((Err(e), file)),
                }
            });
            reqwest::Body::wrap_stream(stream)
        }
        // An empty body under the file's declared length fails the request, which the caller
        // reports; the file was checked just before, so this is a race with its removal.
        Err(_) => reqwest::Body::from(Vec::new()),
    }
}

#[derive(Debug, Clone)]
struct Call {
    api: Api,
    method: Method,
    /// Relative to the version prefix, segments encoded.
    path: String,
    query: Vec<(String, String)>,
    body: Body,
    authed: bool,
    accept_json: bool,
    /// Sending it twice does no harm although the method is not idempotent (a login, a
    /// PATCH of absolute values): the HTTP layer retries it on 502/504 and lost answers.
    repeatable: bool,
    /// What the answer is, for its size limit.
    answer: AnswerKind,
}

impl Call {
    fn new(api: Api, method: Method, path: impl Into<String>) -> Call {
        Call {
            api,
            method,
            path: path.into(),
            query: Vec::new(),
            body: Body::None,
            authed: true,
            accept_json: true,
            repeatable: false,
            answer: AnswerKind::Record,
        }
    }
    fn repeatable(mut self) -> Call {
        self.repeatable = true;
        self
    }
    fn answer(mut self, kind: AnswerKind) -> Call {
        self.answer = kind;
        self
    }
    fn get(api: Api, path: impl Into<String>) -> Call {
        Call::new(api, Method::GET, path)
    }
    fn query(mut self, k: &str, v: impl Into<String>) -> Call {
        self.query.push((k.to_string(), v.into()));
        self
    }
    fn body(mut self, body: Body) -> Call {
        self.body = body;
        self
    }
    /// Fields carried as `encoding` says.
    fn fields(self, encoding: Encoding, fields: Vec<(String, String)>) -> Call {
        match encoding {
            Encoding::Query => {
                let mut c = self;
                c.query.extend(fields);
                c
            }
            Encoding::Form => self.body(Body::Form(fields)),
            Encoding::Multipart => self.body(Body::Multipart(
                fields
                    .into_iter()
                    .map(|(k, v)| (k, PartValue::Text(v)))
                    .collect(),
            )),
            Encoding::Json => self.body(Body::Json(Value::Object(
                fields
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            ))),
            Encoding::JsonApi => {
                self.body(Body::Json(json!({"data": {"attributes": Value::Object(
                    fields.into_iter().map(|(k, v)| (k, Value::String(v))).collect(),
                )}})))
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Session {
    token: Secret,
    bearer: bool,
    generation: u64,
}

#[derive(Debug, Default)]
struct Sessions {
    v4: Option<Session>,
    v3: Option<Session>,
}

impl Sessions {
    fn slot(&mut self, api: Api) -> &mut Option<Session> {
        match api {
            Api::V3 => &mut self.v3,
            Api::V4 => &mut self.v4,
        }
    }
}

#[derive(Debug, Clone)]
enum Auth {
    Password(Secret),
    Bearer(Secret),
}

/// The client. Cheap to share by reference across tasks; requests run concurrently up to the
/// configured limit.
#[derive(Debug)]
pub struct PhotoShelterClient {
    http: HttpClient,
    base: String,
    email: String,
    org_id: Option<String>,
    key_v4: Secret,
    key_v3: Secret,
    /// Whether `api_key_v3` was configured (otherwise v3 gets the v4 key).
    own_v3_key: bool,
    auth: Auth,
    concurrency: usize,
    options: ClientOptions,
    sessions: Mutex<Sessions>,
    /// Tokens ever issued to this client, to scrub from messages.
    tokens_seen: StdMutex<Vec<Secret>>,
    /// Organisations from the last login reply.
    login_orgs: StdMutex<Vec<OrgInfo>>,
    user: Mutex<Option<(String, Option<String>)>>,
    generation: AtomicU64,
    call_id: AtomicU64,
    /// Ids of an unexpected shape already logged.
    odd_ids: crate::ids::OddIds,
    /// Where this account keeps licence records, once found.
    license_places: StdMutex<license::LicensePlaces>,
}

impl PhotoShelterClient {
    /// A client for the configured account. Needs the v4 API key, and the password unless an
    /// OAuth token is configured (a password wins when both are, as it can be renewed).
    pub fn new(config: &PhotoShelterConfig) -> Result<Self> {
        let http = HttpOptions {
            timeout: std::time::Duration::from_secs(config.timeout_secs.max(1)),
            concurrency: config.concurrency.max(1),
            adaptive: config.adaptive,
            limits: config.limits,
            allow_insecure_http: config.allow_insecure_http,
            ..HttpOptions::default()
        };
        Self::with_http_options(config, http)
    }

    /// As [`new`](Self::new), with explicit HTTP settings (timeouts, retries, backoff, size
    /// limits, plain HTTP): those of `config` are not used.
    pub fn with_http_options(config: &PhotoShelterConfig, http: HttpOptions) -> Result<Self> {
        let key_v4 = config.require_api_key()?.clone();
        let key_v3 = config.api_key_v3.clone().unwrap_or_else(|| key_v4.clone());
        let auth = match (&config.password, &config.oauth_token) {
            (Some(p), _) => Auth::Password(p.clone()),
            (None, Some(t)) => Auth::Bearer(t.clone()),
            (None, None) => Auth::Password(config.require_password()?.clone()),
        };
        let concurrency = http.concurrency.max(1);
        let base = config.base_url.trim_end_matches('/').to_string();
        url::Url::parse(&base).map_err(|e| {
            PhotoShelterError::Invalid(format!(
                "photoshelter.base_url \"{base}\" is not a URL: {e}"
            ))
        })?;
        Ok(PhotoShelterClient {
            http: HttpClient::new(System::PhotoShelter, &base, http)?,
            base,
            email: config.email.clone(),
            org_id: config.org_id.clone().filter(|o| !o.trim().is_empty()),
            key_v4,
            key_v3,
            own_v3_key: config.api_key_v3.is_some(),
            auth,
            concurrency,
            options: ClientOptions::default(),
            sessions: Mutex::new(Sessions::default()),
            tokens_seen: StdMutex::new(Vec::new()),
            login_orgs: StdMutex::new(Vec::new()),
            user: Mutex::new(None),
            generation: AtomicU64::new(0),
            call_id: AtomicU64::new(0),
            odd_ids: Default::default(),
            license_places: StdMutex::new(Default::default()),
        })
    }

    /// Whether v3 calls use a key of their own (`photoshelter.api_key_v3`).
    pub fn has_own_v3_key(&self) -> bool {
        self.own_v3_key
    }

    pub fn with_options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// What this client has sent so far (retries included).
    pub fn request_counts(&self) -> RequestCounts {
        self.http.counts()
    }

    /// The counts so far, starting a new range of the limit on requests in flight: taken when
    /// a run starts.
    pub fn start_counting(&self) -> RequestCounts {
        self.http.start_counting()
    }

    /// Requests allowed in flight now (the adaptive limit).
    pub fn concurrency_limit(&self) -> usize {
        self.http.concurrency_limit()
    }

    // -----------------------------------------------------------------------------------------
    // Plumbing

    /// Replaces every secret the client knows with `[redacted]`.
    fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        let mut secrets: Vec<String> = vec![
            self.key_v4.expose().to_string(),
            self.key_v3.expose().to_string(),
        ];
        match &self.auth {
            Auth::Password(p) | Auth::Bearer(p) => secrets.push(p.expose().to_string()),
        }
        secrets.extend(
            plock(&self.tokens_seen)
                .iter()
                .map(|t| t.expose().to_string()),
        );
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for s in secrets {
            if s.len() >= 3 {
                out = out.replace(&s, "[redacted]");
            }
        }
        out
    }

    fn build(
        &self,
        c: &reqwest::Client,
        call: &Call,
        session: Option<&Session>,
    ) -> reqwest::RequestBuilder {
        let url = format!("{}{}{}", self.base, call.api.prefix(), call.path);
        let key = match call.api {
            Api::V3 => &self.key_v3,
            Api::V4 => &self.key_v4,
        };
        let mut rb = c.request(call.method.clone(), url);
        if let Ok(mut v) = HeaderValue::from_str(key.expose()) {
            v.set_sensitive(true);
            rb = rb.header(wire::HEADER_API_KEY, v);
        }
        if call.accept_json {
            rb = rb.header(ACCEPT, "application/json");
        }
        if let Some(s) = session {
            let value = if s.bearer {
                format!("Bearer {}", s.token.expose())
            } else {
                s.token.expose().to_string()
            };
            if let Ok(mut v) = HeaderValue::from_str(&value) {
                v.set_sensitive(true);
                let name = if s.bearer {
                    reqwest::header::AUTHORIZATION.as_str()
                } else {
                    wire::HEADER_AUTH_TOKEN
                };
                rb = rb.header(name, v);
            }
        }
        if !call.query.is_empty() {
            rb = rb.query(&call.query);
        }
        match &call.body {
            Body::None => rb,
            Body::Form(f) => rb.form(f),
            Body::Json(v) => rb.json(v),
            Body::Multipart(parts) => {
                let mut form = reqwest::multipart::Form::new();
                for (name, value) in parts {
                    form = match value {
                        PartValue::Text(t) => form.text(name.clone(), t.clone()),
                        PartValue::File {
                            file_name,
                            content_type,
                            data,
                        } => {
                            let part = || {
                                reqwest::multipart::Part::stream_with_length(
                                    reqwest::Body::from(data.clone()),
                                    data.len() as u64,
                                )
                                .file_name(file_name.clone())
                            };
                            let p = part().mime_str(content_type).unwrap_or_else(|_| part());
                            form.part(name.clone(), p)
                        }
                        PartValue::Path {
                            file_name,
                            content_type,
                            path,
                            len,
                        } => {
                            let part = || {
                                reqwest::multipart::Part::stream_with_length(file_body(path), *len)
                                    .file_name(file_name.clone())
                            };
                            let p = part().mime_str(content_type).unwrap_or_else(|_| part());
                            form.part(name.clone(), p)
                        }
                    };
                }
                rb.multipart(form)
            }
        }
    }

    /// Sends a call, logging in first if needed and once more if the session expired.
    async fn execute(&self, call: &Call) -> Result<Reply> {
        let id = self.call_id.fetch_add(1, Ordering::Relaxed) + 1;
        let span = tracing::debug_span!(
            "photoshelter.request",
            id,
            api = call.api.name(),
            method = %call.method,
            path = %call.path
        );
        async {
            let mut renewals = 0;
            loop {
                let session = if call.authed {
                    Some(self.session(call.api).await?)
                } else {
                    None
                };
                let build = |c: &reqwest::Client| self.build(c, call, session.as_ref());
                let reply = if call.repeatable {
                    self.http.send_repeatable(call.answer, build).await?
                } else {
                    self.http.send(call.answer, build).await?
                };
                tracing::debug!(status = reply.status.as_u16(), "answered");
                if let Some(s) = &session
                    && Self::session_gone(call.api, &reply)
                {
                    if renewals < MAX_RENEWALS && !s.bearer {
                        tracing::info!("PhotoShelter session expired; logging in again");
                        self.drop_session(call.api, s.generation).await;
                        renewals += 1;
                        continue;
                    }
                    return Err(PhotoShelterError::Unauthorized {
                        method: call.method.to_string(),
                        url: reply.url.clone(),
                        status: reply.status.as_u16(),
                        why: if s.bearer {
                            OAUTH_REFUSED
                        } else {
                            "even after logging in again"
                        },
                        detail: self.detail(&reply),
                    });
                }
                return Ok(reply);
            }
        }
        .instrument(span)
        .await
    }

    /// What an error answer says, scrubbed.
    fn detail(&self, reply: &Reply) -> String {
        let text = match serde_json::from_slice::<Value>(&reply.body)
            .ok()
            .as_ref()
            .and_then(wire::parse_error)
        {
            Some(e) => e.describe(),
            None => {
                let s = reply.snippet();
                if s.is_empty() {
                    "(empty body)".to_string()
                } else {
                    s
                }
            }
        };
        self.scrub(&text)
    }

    fn status_error(&self, call: &Call, reply: &Reply) -> PhotoShelterError {
        let method = call.method.to_string();
        let url = reply.url.clone();
        let detail = self.detail(reply);
        let id = serde_json::from_slice::<Value>(&reply.body)
            .ok()
            .as_ref()
            .and_then(wire::parse_error)
            .and_then(|e| e.id);
        let status = reply.status.as_u16();
        match status {
            403 if id.as_deref() == Some("ApiKeyInvalidException") => PhotoShelterError::ApiKey {
                method,
                url,
                status,
                detail,
            },
            404 => PhotoShelterError::NotFound {
                method,
                url,
                detail,
            },
            _ => PhotoShelterError::Status {
                method,
                url,
                status,
                detail,
            },
        }
    }

    fn json(&self, call: &Call, reply: &Reply) -> Result<Value> {
        serde_json::from_slice::<Value>(&reply.body).map_err(|e| PhotoShelterError::Malformed {
            method: call.method.to_string(),
            url: reply.url.clone(),
            reason: self.scrub(&format!(
                "not JSON ({e}); the body starts: {}",
                reply.snippet()
            )),
        })
    }

    /// Sends a call and returns its JSON; for v3 the `data` member of an `ok` answer. A GET
    /// whose answer is not JSON (cut short on the way) is fetched again, within the retry
    /// budget.
    async fn call_json(&self, call: &Call) -> Result<(Value, String)> {
        let mut fetches: u32 = 0;
        let (reply, body) = loop {
            let reply = self.execute(call).await?;
            if !reply.status.is_success() {
                return Err(self.status_error(call, &reply));
            }
            fetches += 1;
            match self.json(call, &reply) {
                Ok(body) => break (reply, body),
                Err(e)
                    if call.method == Method::GET
                        && fetches < self.http.fetches_for_unreadable() =>
                {
                    tracing::debug!(error = %e, "the answer is not JSON; fetching it again");
                }
                Err(e) => return Err(e),
            }
        };
        if call.api == Api::V3 {
            if !wire::v3_ok(&body) {
                return Err(PhotoShelterError::Status {
                    method: call.method.to_string(),
                    url: reply.url.clone(),
                    status: reply.status.as_u16(),
                    detail: self.detail(&reply),
                });
            }
            return Ok((
                get(&body, "data").cloned().unwrap_or(Value::Null),
                reply.url,
            ));
        }
        Ok((body, reply.url))
    }

    fn malformed(&self, call: &Call, url: &str, reason: impl Into<String>) -> PhotoShelterError {
        PhotoShelterError::Malformed {
            method: call.method.to_string(),
            url: url.to_string(),
            reason: self.scrub(&reason.into()),
        }
    }

    /// A v4 single resource: `data` must be an object.
    async fn v4_resource(&self, call: &Call) -> Result<(Map<String, Value>, String)> {
        let (body, url) = self.call_json(call).await?;
        match get(&body, "data") {
            Some(Value::Object(o)) => Ok((o.clone(), url)),
            Some(_) => Err(self.malformed(call, &url, "`data` is not an object")),
            None => Err(self.malformed(call, &url, "no `data` in the answer")),
        }
    }

    /// Checks an id from an answer.
    fn id_from(&self, url: &str, kind: IdKind, v: Option<&Value>) -> Result<String> {
        let text = v.and_then(wire::lenient_text).unwrap_or_default();
        check_id(&text).map_err(|reason| PhotoShelterError::BadId {
            url: url.to_string(),
            what: kind.name(),
            value: self.scrub(&text),
            reason,
        })?;
        if let Some(why) = wire::odd_shape(kind, &text) {
            self.warn_odd_id(kind, &text, &why);
        }
        Ok(text)
    }

    /// Logs an id of an unexpected shape, once per id for this client's life (one run).
    fn warn_odd_id(&self, kind: IdKind, id: &str, why: &str) {
        if self.odd_ids.first_time(id) {
            tracing::warn!(
                id = %self.scrub(id),
                "PhotoShelter {} of an unexpected shape ({why}); ids are opaque, going on",
                kind.name()
            );
        }
    }

    fn check_arg(kind: IdKind, id: &str) -> Result<()> {
        check_id(id).map_err(|e| {
            PhotoShelterError::Invalid(format!(
                "\"{id}\" is not a PhotoShelter {}: {e}",
                kind.name()
            ))
        })
    }

    // -----------------------------------------------------------------------------------------
    // Paging

    async fn next_page(&self, pager: &mut Pager) -> Result<Option<(Vec<Value>, String)>> {
        if pager.done {
            return Ok(None);
        }
        let mut call = pager.call.clone().answer(AnswerKind::Page);
        call = call
            .query(wire::PAGE, pager.page.to_string())
            .query(wire::PER_PAGE, self.options.page_size.to_string());
        // The bound is the HTTP layer's: no further than the first page's total implies plus
        // a margin, nor past max_pages, nor the same page twice.
        let bound = pager.bound.get_or_insert_with(|| self.http.page_bound());
        bound
            .admit(&format!(
                "{}{}{}?{}={}",
                self.base,
                call.api.prefix(),
                call.path,
                wire::PAGE,
                pager.page
            ))
            .map_err(HttpError::from)?;
        let (body, url) = self.call_json(&call).await?;
        let items = match get(&body, "data") {
            Some(Value::Array(a)) => a.clone(),
            Some(Value::Null) | None => Vec::new(),
            Some(_) => return Err(self.malformed(&call, &url, "`data` is not a list")),
        };
        let total = wire::page_total(&body).map_err(|e| self.malformed(&call, &url, e))?;
        let has_next = wire::page_has_next(&body);
        if items.is_empty() {
            pager.done = true;
            if let Some(t) = total
                && pager.received < t
            {
                return Err(PhotoShelterError::Listing {
                    url,
                    reason: format!(
                        "page {} is empty after {} of {t} items",
                        pager.page, pager.received
                    ),
                });
            }
            return Ok(None);
        }
        bound
            .read(
                &url,
                total,
                items.iter().map(|i| {
                    get(i, "id")
                        .and_then(wire::lenient_text)
                        .unwrap_or_default()
                }),
            )
            .map_err(HttpError::from)?;
        pager.received += items.len() as u64;
        pager.done = match (total, has_next) {
            (Some(t), _) => pager.received >= t,
            (None, Some(next)) => !next,
            (None, None) => items.len() < self.options.page_size,
        };
        pager.page += 1;
        Ok(Some((items, url)))
    }
}

/// Paging state of one listing.
#[derive(Debug)]
struct Pager {
    call: Call,
    page: u32,
    received: u64,
    done: bool,
    /// Made on the first page, from the client's limits.
    bound: Option<PageBound>,
}

impl Pager {
    fn new(call: Call) -> Pager {
        Pager {
            call,
            page: 1,
            received: 0,
            done: false,
            bound: None,
        }
    }
}
