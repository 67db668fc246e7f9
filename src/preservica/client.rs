//! The Preservica client ferry uses against real tenants (and the emulator): login with
//! re-login on expiry, version detection, listings that follow `Paging/Next`, incremental
//! listing, reading an asset and its fragments into a `PreservicaRecord`, field writes that
//! are read back, identifiers, bitstream downloads with fixity checks, and OPEX upload.
//!
//! Every request goes through `crate::http` (retries, backoff, concurrency, counts). This
//! module adds what is Preservica's own: the token, the 401 → log in again → replay rule, and
//! answers that must be understood or reported as malformed (never a panic).

use super::wire::{self, BitstreamDoc, EntityDoc, EntityKind, EntityLink, Identifier, Version};
use crate::config::{PreservicaConfig, Secret};
use crate::http::{AnswerKind, HttpClient, HttpError, HttpOptions, Reply, RequestCounts, redact};
use crate::mapping::preservica::{Fragment, PreservicaRecord, PreservicaWrite};
use crate::model::System;
use crate::xml::{self, Element};
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{Method, StatusCode};
use sha2::Digest;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Mutex, RwLock};

/// What went wrong talking to Preservica. Messages name the URL (credentials redacted) and
/// what to do where there is something to do.
#[derive(Debug, thiserror::Error)]
pub enum PreservicaError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("Preservica refused the login for {user} at {url}: {message}")]
    Login {
        user: String,
        url: String,
        message: String,
    },
    #[error(
        "{url}: Preservica rejected the access token even after logging in again; check the user's account"
    )]
    TokenRejected { url: String },
    #[error("{url}: the user may not do this (403); it needs a role that can change entities")]
    Forbidden { url: String },
    #[error("{url}: not found (404): {what}")]
    NotFound { url: String, what: String },
    #[error("{method} {url} answered {status}: {body}")]
    Status {
        method: Method,
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("{url}: the answer is malformed: {reason}")]
    Malformed { url: String, reason: String },
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("verification failed for {reference}: {detail}")]
    Verify { reference: String, detail: String },
    #[error(
        "fixity mismatch for {file}: Preservica records {algorithm} {expected}, the downloaded bytes give {actual}"
    )]
    Fixity {
        file: String,
        algorithm: String,
        expected: String,
        actual: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("ingest of {what} did not finish: {reason}")]
    Ingest { what: String, reason: String },
}

type Result<T> = std::result::Result<T, PreservicaError>;

mod content;
mod events;
mod files;
mod ingest;
mod webhooks;
mod writes;

pub use webhooks::{SUBSCRIPTIONS_PATH, Subscription};

/// How many times one request logs in again when its token is refused. More than once: a
/// token can expire (or all sessions be ended) again while a request waits out throttling
/// or retries, so a second refusal is not yet the account's fault; bounded, so an account
/// whose tokens are always refused fails soon.
const MAX_LOGINS_PER_REQUEST: u32 = 3;

/// Whether a failed POST may nevertheless have been carried out: a gateway error (502/504)
/// or a lost answer, rather than the server saying it did nothing.
fn may_have_happened(e: &PreservicaError) -> bool {
    match e {
        PreservicaError::Status { status, .. } => {
            matches!(
                *status,
                StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT
            )
        }
        PreservicaError::Http(HttpError::Transport { .. } | HttpError::Timeout { .. }) => true,
        PreservicaError::Http(HttpError::Exhausted { status, .. }) => {
            matches!(
                *status,
                StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT
            )
        }
        _ => false,
    }
}

/// How to reach a tenant; built from `ferry.toml` or directly in tests.
#[derive(Debug, Clone)]
pub struct Connection {
    /// `https://eu.preservica.com` (scheme and host, no path).
    pub base_url: String,
    pub username: String,
    pub password: Secret,
    pub tenant: Option<String>,
    pub http: HttpOptions,
    /// Packages up to this size go up in one PUT.
    pub single_put_limit: u64,
    pub part_size: usize,
}

impl Connection {
    pub fn from_config(cfg: &PreservicaConfig) -> Result<Connection> {
        Ok(Connection {
            base_url: format!("{}://{}", cfg.protocol.scheme(), cfg.server),
            username: cfg.username.clone(),
            password: cfg.require_password()?.clone(),
            tenant: cfg.tenant.clone(),
            http: HttpOptions {
                timeout: Duration::from_secs(cfg.timeout_secs),
                concurrency: cfg.concurrency,
                adaptive: cfg.adaptive,
                limits: cfg.limits,
                allow_insecure_http: cfg.allow_insecure_http,
                ..HttpOptions::default()
            },
            single_put_limit: wire::SINGLE_PUT_LIMIT,
            part_size: wire::MULTIPART_PART_SIZE,
        })
    }
}

/// What the server said about itself and the user at login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub version: Version,
    pub user: String,
    pub tenant: Option<String>,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Default)]
struct Session {
    token: Option<String>,
    tenant: Option<String>,
    version: Option<Version>,
    /// Bumped on each login, so concurrent requests that all saw a 401 log in only once.
    generation: u64,
}

/// A located bitstream of an asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitstream {
    pub content_object: String,
    pub representation: String,
    pub url: String,
    pub doc: BitstreamDoc,
}

/// A bitstream saved to disk, with what was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    pub size: u64,
    pub sha256: String,
    /// The server fixity that matched, e.g. `("SHA1", "…")`.
    pub verified: (String, String),
}

/// An uploaded package and what Preservica said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub key: String,
    pub progress_token: String,
    pub multipart: bool,
}

/// A Preservica client for one tenant. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct PreservicaClient {
    http: HttpClient,
    conn: Connection,
    session: RwLock<Session>,
    login_lock: Mutex<()>,
    /// Refs of an unexpected shape already logged.
    odd_refs: crate::ids::OddIds,
    /// Webhook subscriptions this client created (id → subscriber URL), so it can remove its
    /// own even from a listing that leaves `url` out.
    own_webhooks: std::sync::Mutex<HashMap<String, String>>,
}

impl PreservicaClient {
    pub fn new(conn: Connection) -> Result<PreservicaClient> {
        Ok(PreservicaClient {
            http: HttpClient::new(System::Preservica, &conn.base_url, conn.http.clone())?,
            conn,
            session: RwLock::new(Session::default()),
            login_lock: Mutex::new(()),
            odd_refs: Default::default(),
            own_webhooks: Default::default(),
        })
    }

    pub fn from_config(cfg: &PreservicaConfig) -> Result<PreservicaClient> {
        PreservicaClient::new(Connection::from_config(cfg)?)
    }

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

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.conn.base_url.trim_end_matches('/'), path)
    }

    fn entity_url(&self, kind: EntityKind, reference: &str) -> String {
        self.url(&format!(
            "{}/{}/{}",
            wire::ENTITY_PREFIX,
            kind.segment(),
            crate::ids::segment(reference)
        ))
    }

    /// Logs in (again), replacing the session token.
    async fn login(&self, seen_generation: Option<u64>) -> Result<()> {
        let _guard = self.login_lock.lock().await;
        if let Some(seen) = seen_generation
            && self.session.read().await.generation != seen
        {
            // Another request logged in while this one waited.
            return Ok(());
        }
        let url = self.url(wire::LOGIN_PATH);
        let mut form = vec![
            ("username", self.conn.username.clone()),
            ("password", self.conn.password.expose().to_string()),
        ];
        match &self.conn.tenant {
            Some(t) => form.push(("tenant", t.clone())),
            None => form.push(("includeUserDetails", "true".into())),
        }
        // Logging in twice only opens two sessions: a 502 or a lost answer is retried, and an
        // answer cut short is asked for again (twice at most).
        let mut tries = 0;
        let (reply, body) = loop {
            tries += 1;
            let reply = self
                .http
                .send_repeatable(AnswerKind::Login, |c| c.post(&url).form(&form))
                .await?;
            match serde_json::from_slice::<serde_json::Value>(&reply.body) {
                Ok(body) => break (reply, body),
                Err(_) if tries < 3 && reply.status.is_success() => {}
                Err(e) => {
                    return Err(PreservicaError::Malformed {
                        url: reply.url.clone(),
                        reason: format!("the login answer is not JSON ({e}): {}", reply.snippet()),
                    });
                }
            }
        };
        if !reply.status.is_success() {
            return Err(PreservicaError::Login {
                user: self.conn.username.clone(),
                url: reply.url,
                message: body["message"]
                    .as_str()
                    .unwrap_or("no reason given")
                    .to_string(),
            });
        }
        let token = body["token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| PreservicaError::Malformed {
                url: reply.url.clone(),
                reason: "the login answer has no token".into(),
            })?;
        let mut s = self.session.write().await;
        s.token = Some(token.to_string());
        s.generation += 1;
        if s.tenant.is_none() {
            s.tenant = body["tenant"]
                .as_str()
                .map(str::to_string)
                .or_else(|| self.conn.tenant.clone());
        }
        tracing::debug!(user = %self.conn.username, "logged in to Preservica");
        Ok(())
    }

    /// Sends an authenticated request whose answer is a record (or a write's reply); on 401
    /// logs in again and replays it, up to `MAX_LOGINS_PER_REQUEST` times.
    async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<(&'static str, Vec<u8>)>,
        extra: &[(&'static str, String)],
    ) -> Result<Reply> {
        self.call_as(AnswerKind::Record, method, url, body, extra)
            .await
    }

    /// [`Self::call`] for an answer of `kind` (its size limit).
    async fn call_as(
        &self,
        kind: AnswerKind,
        method: Method,
        url: &str,
        body: Option<(&'static str, Vec<u8>)>,
        extra: &[(&'static str, String)],
    ) -> Result<Reply> {
        for attempt in 0..=MAX_LOGINS_PER_REQUEST {
            let (token, generation) = {
                let s = self.session.read().await;
                (s.token.clone(), s.generation)
            };
            let token = match token {
                Some(t) => t,
                None => {
                    self.login(None).await?;
                    continue;
                }
            };
            let reply = self
                .http
                .send(kind, |c| {
                    let mut r = c
                        .request(method.clone(), url)
                        .header(wire::TOKEN_HEADER, &token);
                    for (k, v) in extra {
                        r = r.header(*k, v);
                    }
                    if let Some((ctype, bytes)) = &body {
                        r = r
                            .header(reqwest::header::CONTENT_TYPE, *ctype)
                            .body(bytes.clone());
                    }
                    r
                })
                .await?;
            if reply.status == StatusCode::UNAUTHORIZED {
                if attempt < MAX_LOGINS_PER_REQUEST {
                    tracing::debug!(url = %reply.url, "token rejected; logging in again");
                    self.login(Some(generation)).await?;
                    continue;
                }
                return Err(PreservicaError::TokenRejected { url: reply.url });
            }
            return check(&method, reply);
        }
        Err(PreservicaError::TokenRejected {
            url: url.to_string(),
        })
    }

    /// GETs an XML document of `kind` (its size limit). A body that does not parse (a
    /// cut-short answer) is fetched again, within the retry budget, before it is reported as
    /// malformed.
    async fn get_xml(&self, url: &str, kind: AnswerKind) -> Result<xml::Document> {
        let mut last = String::new();
        for _ in 0..self.http.fetches_for_unreadable() {
            let reply = self.call_as(kind, Method::GET, url, None, &[]).await?;
            let text = match std::str::from_utf8(&reply.body) {
                Ok(t) => t,
                Err(_) => {
                    last = "the answer is not UTF-8".into();
                    continue;
                }
            };
            match xml::parse(text) {
                Ok(doc) => return Ok(doc),
                Err(e) => last = e.to_string(),
            }
        }
        Err(PreservicaError::Malformed {
            url: redact(url),
            reason: last,
        })
    }

    /// Logs in and reads the server version and the user's roles.
    pub async fn connect(&self) -> Result<ServerInfo> {
        self.login(None).await?;
        let version = self.version().await?;
        let reply = self
            .call(Method::GET, &self.url(wire::USER_DETAILS_PATH), None, &[])
            .await?;
        let details: serde_json::Value =
            serde_json::from_slice(&reply.body).map_err(|e| PreservicaError::Malformed {
                url: reply.url.clone(),
                reason: format!("user details are not JSON: {e}"),
            })?;
        let roles = details["roles"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let tenant = self.session.read().await.tenant.clone();
        Ok(ServerInfo {
            version,
            user: details["user"]
                .as_str()
                .unwrap_or(&self.conn.username)
                .to_string(),
            tenant: tenant.or_else(|| details["tenant"].as_str().map(str::to_string)),
            roles,
        })
    }

    /// The server's version (asked once, then remembered): request bodies use its namespaces.
    pub async fn version(&self) -> Result<Version> {
        if let Some(v) = self.session.read().await.version {
            return Ok(v);
        }
        // An answer cut short on the way is asked for again, as every unreadable GET is.
        let url = self.url(wire::VERSION_PATH);
        let mut last = String::new();
        for _ in 0..self.http.fetches_for_unreadable() {
            let reply = self.call(Method::GET, &url, None, &[]).await?;
            match wire::read_version(&reply.text()) {
                Ok(v) => {
                    self.session.write().await.version = Some(v);
                    return Ok(v);
                }
                Err(e) => last = e.0,
            }
        }
        Err(PreservicaError::Malformed {
            url: redact(&url),
            reason: last,
        })
    }

    /// Follows a paged listing from `first` through every `Next`, within the listing's
    /// bound (`crate::http::PageBound`): no further than its `TotalResults` implies plus a
    /// margin, nor past `max_pages`, nor through a page or link twice. A `Next` on another
    /// origin is refused by the HTTP layer before anything is sent there.
    async fn pages(
        &self,
        first: String,
        read: fn(&Element) -> wire::Page,
    ) -> Result<Vec<EntityLink>> {
        let mut out = Vec::new();
        let mut bound = self.http.page_bound();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            bound.admit(&url).map_err(HttpError::from)?;
            let doc = self.get_xml(&url, AnswerKind::Page).await?;
            let page = read(&doc.root);
            bound
                .read(&url, page.total, page.items.iter().map(|i| &i.reference))
                .map_err(HttpError::from)?;
            out.extend(page.items.into_iter().filter(|e| self.usable_ref(&url, e)));
            next = page.next;
        }
        Ok(out)
    }

    /// Whether a listed entity's ref can be used: refs are opaque, so one of an unexpected
    /// shape is logged once and used; one that is unsafe (empty, huge, control characters)
    /// is logged and left out of the listing rather than stop it.
    fn usable_ref(&self, url: &str, entity: &EntityLink) -> bool {
        let reference = &entity.reference;
        if let Err(why) = crate::ids::check(reference) {
            tracing::warn!(url = %redact(url), "a listed entity's ref is unusable ({why}); left out");
            return false;
        }
        if !crate::ids::is_uuid_shaped(reference) && self.odd_refs.first_time(reference) {
            tracing::warn!(%reference, "Preservica ref of an unexpected shape; refs are opaque, going on");
        }
        true
    }

    /// Every child of a folder (`None`: the root), all pages.
    pub async fn children(
        &self,
        folder: Option<&str>,
        page_size: usize,
    ) -> Result<Vec<EntityLink>> {
        let path = match folder {
            Some(f) => format!(
                "{}/structural-objects/{}/children",
                wire::ENTITY_PREFIX,
                crate::ids::segment(f)
            ),
            None => format!("{}/root/children", wire::ENTITY_PREFIX),
        };
        let first = format!("{}?start=0&max={page_size}", self.url(&path));
        self.pages(first, wire::read_children).await
    }

    /// Every asset below a folder (`None`: the whole repository), walking sub-folders.
    pub async fn walk_assets(&self, folder: Option<&str>) -> Result<Vec<EntityLink>> {
        let mut assets = Vec::new();
        let mut folders = vec![folder.map(str::to_string)];
        while let Some(f) = folders.pop() {
            for child in self.children(f.as_deref(), 1000).await? {
                match child.kind {
                    Some(EntityKind::Folder) => folders.push(Some(child.reference)),
                    Some(EntityKind::Asset) => assets.push(child),
                    _ => {}
                }
            }
        }
        Ok(assets)
    }

    /// Entities changed since `cursor - overlap`: the overlap catches changes made at the
    /// cursor's boundary that the last listing may have missed.
    pub async fn updated_since(
        &self,
        cursor: DateTime<Utc>,
        overlap: Duration,
    ) -> Result<Vec<EntityLink>> {
        let since = cursor - chrono::Duration::from_std(overlap).unwrap_or_default();
        let date = since.to_rfc3339_opts(SecondsFormat::Millis, true);
        let first = format!(
            "{}?date={}&start=0&max=1000",
            self.url(&format!("{}/entities/updated-since", wire::ENTITY_PREFIX)),
            urlencode(&date)
        );
        let mut items = self.pages(first, wire::read_entities).await?;
        // An entity edited twice during the listing can appear on two pages.
        let mut seen = std::collections::HashSet::new();
        items.retain(|i| seen.insert(i.reference.clone()));
        Ok(items)
    }

    /// Reads an entity's own fields and fragment list.
    pub async fn entity(&self, kind: EntityKind, reference: &str) -> Result<EntityDoc> {
        let url = self.entity_url(kind, reference);
        let doc = self.get_xml(&url, AnswerKind::Record).await?;
        wire::read_entity(&doc.root).map_err(|e| PreservicaError::Malformed {
            url: redact(&url),
            reason: e.0,
        })
    }

    /// Reads one fragment: its schema and document.
    pub async fn fragment(&self, url: &str) -> Result<Fragment> {
        let doc = self.get_xml(url, AnswerKind::Fragment).await?;
        let container =
            doc.root
                .child("MetadataContainer")
                .ok_or_else(|| PreservicaError::Malformed {
                    url: redact(url),
                    reason: "MetadataResponse has no MetadataContainer".into(),
                })?;
        let content = container
            .child("Content")
            .and_then(Element::first_child)
            .ok_or_else(|| PreservicaError::Malformed {
                url: redact(url),
                reason: "the fragment has no Content document".into(),
            })?;
        Ok(Fragment {
            schema: container.attr("schemaUri").unwrap_or_default().to_string(),
            xml: doc.extract(content),
        })
    }

    /// Reads an asset with every fragment, ready for `mapping::preservica::read_record`.
    pub async fn read_asset(&self, reference: &str) -> Result<PreservicaRecord> {
        Ok(self.read_asset_located(reference, None).await?.0)
    }

    /// [`Self::read_asset`], with the ref of the folder the asset is in (from the same
    /// answer, so no extra request); only the fragments of `schemas` when given.
    pub async fn read_asset_located(
        &self,
        reference: &str,
        schemas: Option<&BTreeSet<String>>,
    ) -> Result<(PreservicaRecord, Option<String>)> {
        let (record, entity) = self.read_asset_for_write(reference, schemas).await?;
        Ok((record, entity.parent))
    }

    /// External identifiers of an entity.
    pub async fn identifiers(&self, kind: EntityKind, reference: &str) -> Result<Vec<Identifier>> {
        let url = format!("{}/identifiers", self.entity_url(kind, reference));
        let doc = self.get_xml(&url, AnswerKind::Record).await?;
        Ok(wire::read_identifiers(&doc.root))
    }

    /// Adds an identifier; returns it with its `ApiId`.
    pub async fn add_identifier(
        &self,
        kind: EntityKind,
        reference: &str,
        id_type: &str,
        value: &str,
    ) -> Result<Identifier> {
        let version = self.version().await?;
        let url = format!("{}/identifiers", self.entity_url(kind, reference));
        let body = wire::identifier_body(&version, id_type, value, reference);
        let reply = self
            .call(
                Method::POST,
                &url,
                Some(("application/xml;charset=UTF-8", body.into_bytes())),
                &[],
            )
            .await?;
        let doc = parse_reply(&reply)?;
        wire::read_identifiers(&doc.root)
            .into_iter()
            .next()
            .ok_or_else(|| PreservicaError::Malformed {
                url: reply.url,
                reason: "the answer holds no Identifier".into(),
            })
    }

    /// Entities that carry identifier `id_type` = `value`.
    pub async fn find_by_identifier(&self, id_type: &str, value: &str) -> Result<Vec<EntityLink>> {
        let first = format!(
            "{}?type={}&value={}",
            self.url(&format!("{}/entities/by-identifier", wire::ENTITY_PREFIX)),
            urlencode(id_type),
            urlencode(value)
        );
        self.pages(first, wire::read_entities).await
    }
}

/// Turns a non-success answer into an error naming it.
fn check(method: &Method, reply: Reply) -> Result<Reply> {
    match reply.status {
        s if s.is_success() => Ok(reply),
        StatusCode::FORBIDDEN => Err(PreservicaError::Forbidden { url: reply.url }),
        StatusCode::NOT_FOUND => Err(PreservicaError::NotFound {
            what: reply.snippet(),
            url: reply.url,
        }),
        status => Err(PreservicaError::Status {
            method: method.clone(),
            body: reply.snippet(),
            url: reply.url,
            status,
        }),
    }
}

fn parse_reply(reply: &Reply) -> Result<xml::Document> {
    let text = std::str::from_utf8(&reply.body).map_err(|_| PreservicaError::Malformed {
        url: reply.url.clone(),
        reason: "the answer is not UTF-8".into(),
    })?;
    xml::parse(text).map_err(|e| PreservicaError::Malformed {
        url: reply.url.clone(),
        reason: e.to_string(),
    })
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
