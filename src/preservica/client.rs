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

mod events;

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
}

impl PreservicaClient {
    pub fn new(conn: Connection) -> Result<PreservicaClient> {
        Ok(PreservicaClient {
            http: HttpClient::new(System::Preservica, &conn.base_url, conn.http.clone())?,
            conn,
            session: RwLock::new(Session::default()),
            login_lock: Mutex::new(()),
            odd_refs: Default::default(),
        })
    }

    pub fn from_config(cfg: &PreservicaConfig) -> Result<PreservicaClient> {
        PreservicaClient::new(Connection::from_config(cfg)?)
    }

    pub fn request_counts(&self) -> RequestCounts {
        self.http.counts()
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
        let reply = self
            .call(Method::GET, &self.url(wire::VERSION_PATH), None, &[])
            .await?;
        let v = wire::read_version(&reply.text()).map_err(|e| PreservicaError::Malformed {
            url: reply.url.clone(),
            reason: e.0,
        })?;
        self.session.write().await.version = Some(v);
        Ok(v)
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
        Ok(self.read_asset_located(reference).await?.0)
    }

    /// [`Self::read_asset`], with the ref of the folder the asset is in (from the same
    /// answer, so no extra request).
    pub async fn read_asset_located(
        &self,
        reference: &str,
    ) -> Result<(PreservicaRecord, Option<String>)> {
        let (record, entity) = self.read_asset_for_write(reference, None).await?;
        Ok((record, entity.parent))
    }

    /// Sets an entity's security tag (an asynchronous action in Preservica), waits for it to
    /// finish, and reads the entity back to verify.
    pub async fn set_security_tag(
        &self,
        kind: EntityKind,
        reference: &str,
        tag: &str,
    ) -> Result<()> {
        let url = format!(
            "{}/security-descriptor?includeDescendants=false",
            self.entity_url(kind, reference)
        );
        let reply = self
            .call(
                Method::PUT,
                &url,
                Some(("text/plain", tag.as_bytes().to_vec())),
                &[],
            )
            .await?;
        let token = reply.text().trim().to_string();
        if !token.is_empty() {
            self.wait_for_progress(&token).await?;
        }
        let after = self.entity(kind, reference).await?;
        if after.security_tag != tag {
            return Err(PreservicaError::Verify {
                reference: reference.to_string(),
                detail: format!(
                    "the security tag reads {:?} after setting {tag:?}",
                    after.security_tag
                ),
            });
        }
        Ok(())
    }

    /// Polls an asynchronous action until it is no longer running.
    async fn wait_for_progress(&self, token: &str) -> Result<()> {
        let url = self.url(&format!(
            "{}/progress/{}",
            wire::ENTITY_PREFIX,
            urlencode(token)
        ));
        let mut pause = Duration::from_millis(50);
        for _ in 0..60 {
            let doc = self.get_xml(&url, AnswerKind::Record).await?;
            let status = doc.root.child_text("Status").unwrap_or_default();
            match status.as_str() {
                "ACTIVE" | "PENDING" => {}
                "COMPLETED" | "FINISHED_MIXED_OUTCOME" => return Ok(()),
                other => {
                    return Err(PreservicaError::Verify {
                        reference: token.to_string(),
                        detail: format!("the action ended {other}"),
                    });
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
        Err(PreservicaError::Verify {
            reference: token.to_string(),
            detail: "the action did not finish".into(),
        })
    }

    /// Applies a planned write to an asset, then reads the asset back and checks that every
    /// written value is there. Only the fragments and entity fields the write names change.
    pub async fn apply_write(
        &self,
        reference: &str,
        write: &PreservicaWrite,
    ) -> Result<PreservicaRecord> {
        let entity = self.entity(EntityKind::Asset, reference).await?;
        self.send_write(reference, write, &entity).await?;
        let after = self.read_asset(reference).await?;
        verify(reference, write, &after)?;
        Ok(after)
    }

    /// The asset's entity and the fragments of `schemas` only (one request each; `None`:
    /// every fragment), with the entity as read: a write that follows at once goes on it.
    pub async fn read_asset_for_write(
        &self,
        reference: &str,
        schemas: Option<&BTreeSet<String>>,
    ) -> Result<(PreservicaRecord, EntityDoc)> {
        let e = self.entity(EntityKind::Asset, reference).await?;
        let mut fragments = Vec::new();
        for (schema, url) in &e.fragments {
            if schemas.is_some_and(|wanted| !wanted.contains(schema)) {
                continue;
            }
            let mut f = self.fragment(url).await?;
            if f.schema.is_empty() {
                f.schema = schema.clone();
            }
            fragments.push(f);
        }
        let record = PreservicaRecord {
            reference: e.reference.clone(),
            title: e.title.clone(),
            description: e.description.clone(),
            fragments,
            security_tag: (!e.security_tag.is_empty()).then(|| e.security_tag.clone()),
            ..PreservicaRecord::default()
        };
        Ok((record, e))
    }

    /// [`Self::apply_write`] on an asset just read with [`Self::read_asset_for_write`]: the
    /// entity is not read again before writing, and only what was written is read back (the
    /// entity if its Title or Description was, or a fragment was added; each fragment
    /// written) and checked; the rest is taken from `before`.
    pub async fn apply_write_over(
        &self,
        reference: &str,
        write: &PreservicaWrite,
        entity: &EntityDoc,
        before: PreservicaRecord,
    ) -> Result<PreservicaRecord> {
        self.send_write(reference, write, entity).await?;
        let adds_fragment = write
            .fragments
            .iter()
            .any(|f| !entity.fragments.iter().any(|(s, _)| *s == f.schema));
        let mut after = before;
        let urls = if write.title.is_some() || write.description.is_some() || adds_fragment {
            let now = self.entity(EntityKind::Asset, reference).await?;
            after.title = now.title.clone();
            after.description = now.description.clone();
            now.fragments
        } else {
            entity.fragments.clone()
        };
        for f in &write.fragments {
            let Some((_, url)) = urls.iter().find(|(s, _)| *s == f.schema) else {
                continue;
            };
            let mut stored = self.fragment(url).await?;
            if stored.schema.is_empty() {
                stored.schema = f.schema.clone();
            }
            after.fragments.retain(|x| x.schema != f.schema);
            after.fragments.push(stored);
        }
        verify(reference, write, &after)?;
        Ok(after)
    }

    /// Sends a write's Title/Description and fragments for an asset whose entity is `entity`.
    async fn send_write(
        &self,
        reference: &str,
        write: &PreservicaWrite,
        entity: &EntityDoc,
    ) -> Result<()> {
        let version = self.version().await?;
        if write.title.is_some() || write.description.is_some() {
            let mut doc = entity.clone();
            if let Some(t) = &write.title {
                doc.title = Some(t.clone().unwrap_or_default());
            }
            if let Some(d) = &write.description {
                doc.description = d.clone();
            }
            let body = wire::entity_body(&version, EntityKind::Asset, &doc);
            self.call(
                Method::PUT,
                &self.entity_url(EntityKind::Asset, reference),
                Some(("application/xml;charset=UTF-8", body.into_bytes())),
                &[],
            )
            .await?;
        }
        for f in &write.fragments {
            let existing = entity.fragments.iter().find(|(s, _)| *s == f.schema);
            match existing {
                Some((_, url)) => {
                    let id = url.rsplit('/').next().unwrap_or_default().to_string();
                    let body =
                        wire::metadata_container(&version, &f.schema, reference, Some(&id), &f.xml);
                    self.call(
                        Method::PUT,
                        url,
                        Some(("application/xml;charset=UTF-8", body.into_bytes())),
                        &[],
                    )
                    .await?;
                }
                None => {
                    let body =
                        wire::metadata_container(&version, &f.schema, reference, None, &f.xml);
                    let url = format!("{}/metadata", self.entity_url(EntityKind::Asset, reference));
                    // A new fragment is a POST, never sent twice blindly (two fragments of one
                    // schema): after an answer that leaves it open whether Preservica made the
                    // fragment, look, and send it again only if it is not there. The
                    // read-back below verifies either way.
                    for attempt in 1..=3 {
                        let sent = self
                            .call(
                                Method::POST,
                                &url,
                                Some(("application/xml;charset=UTF-8", body.clone().into_bytes())),
                                &[],
                            )
                            .await;
                        match sent {
                            Ok(_) => break,
                            Err(e) if attempt < 3 && may_have_happened(&e) => {
                                tracing::debug!(error = %e, "adding a fragment may have failed; looking before sending again");
                                let now = self.entity(EntityKind::Asset, reference).await?;
                                if now.fragments.iter().any(|(s, _)| *s == f.schema) {
                                    break;
                                }
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
        }
        Ok(())
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

    /// The bitstreams of an asset's representations (`Preservation` first, then `Access`),
    /// latest active generation of each content object.
    pub async fn bitstreams(&self, asset: &str) -> Result<Vec<Bitstream>> {
        let reps_url = format!(
            "{}/representations",
            self.entity_url(EntityKind::Asset, asset)
        );
        let reps =
            wire::read_representations(&self.get_xml(&reps_url, AnswerKind::Record).await?.root);
        let mut out = Vec::new();
        for (rtype, rep_url) in reps {
            let cos =
                wire::read_representation(&self.get_xml(&rep_url, AnswerKind::Record).await?.root);
            for co in cos {
                let gens_url = format!(
                    "{}/generations",
                    self.entity_url(EntityKind::ContentObject, &co)
                );
                let gens = wire::read_generations(
                    &self.get_xml(&gens_url, AnswerKind::Record).await?.root,
                );
                let Some((_, gen_url)) = gens.iter().rev().find(|(active, _)| *active) else {
                    continue;
                };
                for bs_url in
                    wire::read_generation(&self.get_xml(gen_url, AnswerKind::Record).await?.root)
                {
                    let doc = self.get_xml(&bs_url, AnswerKind::Record).await?;
                    let bs = wire::read_bitstream(&doc.root).map_err(|e| {
                        PreservicaError::Malformed {
                            url: redact(&bs_url),
                            reason: e.0,
                        }
                    })?;
                    out.push(Bitstream {
                        content_object: co.clone(),
                        representation: rtype.clone(),
                        url: bs_url,
                        doc: bs,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Streams a bitstream to `dest`, resuming with `Range` after a broken connection, and
    /// checks size and the server's fixity. On any failure the partial file is removed.
    pub async fn download(&self, bitstream: &Bitstream, dest: &Path) -> Result<Downloaded> {
        let result = self.download_inner(bitstream, dest).await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(dest).await;
        }
        result
    }

    async fn download_inner(&self, bitstream: &Bitstream, dest: &Path) -> Result<Downloaded> {
        let io_err = |e: std::io::Error| PreservicaError::Io {
            path: dest.display().to_string(),
            source: e,
        };
        let url = bitstream
            .doc
            .content_url
            .clone()
            .unwrap_or_else(|| format!("{}/content", bitstream.url));
        let mut file = tokio::fs::File::create(dest).await.map_err(io_err)?;
        let mut hashers = Hashers::default();
        let mut written: u64 = 0;
        let mut resumes = 0;
        while written < bitstream.doc.size || (written == 0 && bitstream.doc.size == 0) {
            let range = (written > 0).then(|| format!("bytes={written}-"));
            let resp = self.stream(&url, range.as_deref()).await?;
            if written > 0 && resp.status() != StatusCode::PARTIAL_CONTENT {
                // The server ignored the range: start over rather than append a second copy.
                file.set_len(0).await.map_err(io_err)?;
                file = tokio::fs::File::create(dest).await.map_err(io_err)?;
                hashers = Hashers::default();
                written = 0;
            }
            // Never more than the bitstream's size (plus the HTTP layer's margin): an endless
            // body is cut off, not written until the disk is full.
            let mut body = self
                .http
                .file_body(resp, bitstream.doc.size.saturating_sub(written));
            let mut broken = false;
            loop {
                match body.chunk().await {
                    Ok(Some(chunk)) => {
                        hashers.update(&chunk);
                        file.write_all(&chunk).await.map_err(io_err)?;
                        written += chunk.len() as u64;
                    }
                    Ok(None) => break,
                    Err(e @ HttpError::FileTooLarge { .. }) => return Err(e.into()),
                    Err(_) => {
                        broken = true;
                        break;
                    }
                }
            }
            if bitstream.doc.size == 0 && !broken {
                break;
            }
            if broken || written < bitstream.doc.size {
                resumes += 1;
                if resumes > 5 {
                    return Err(PreservicaError::Malformed {
                        url: redact(&url),
                        reason: format!(
                            "the download broke off {resumes} times at {written} of {} bytes",
                            bitstream.doc.size
                        ),
                    });
                }
                continue;
            }
        }
        file.flush().await.map_err(io_err)?;
        if written != bitstream.doc.size {
            return Err(PreservicaError::Malformed {
                url: redact(&url),
                reason: format!(
                    "received {written} bytes where the bitstream has {}",
                    bitstream.doc.size
                ),
            });
        }
        let digests = hashers.finish();
        let verified = bitstream
            .doc
            .fixities
            .iter()
            .find_map(|(alg, expected)| {
                digests
                    .get(&normalise_alg(alg))
                    .map(|actual| (alg.clone(), expected.clone(), actual.clone()))
            })
            .ok_or_else(|| PreservicaError::Verify {
                reference: bitstream.content_object.clone(),
                detail: "the bitstream has no fixity ferry can check (MD5, SHA1, SHA256, SHA512)"
                    .into(),
            })?;
        let (alg, expected, actual) = verified;
        if !expected.eq_ignore_ascii_case(&actual) {
            return Err(PreservicaError::Fixity {
                file: bitstream.doc.filename.clone(),
                algorithm: alg,
                expected,
                actual,
            });
        }
        Ok(Downloaded {
            size: written,
            sha256: digests.get("SHA256").cloned().unwrap_or_default(),
            verified: (alg, expected),
        })
    }

    async fn stream(&self, url: &str, range: Option<&str>) -> Result<reqwest::Response> {
        for attempt in 0..2 {
            let (token, generation) = {
                let s = self.session.read().await;
                (s.token.clone(), s.generation)
            };
            let Some(token) = token else {
                self.login(None).await?;
                continue;
            };
            let resp = self
                .http
                .send_streaming(|c| {
                    let r = c.get(url).header(wire::TOKEN_HEADER, &token);
                    match range {
                        Some(range) => r.header(reqwest::header::RANGE, range),
                        None => r,
                    }
                })
                .await?;
            if resp.status() == StatusCode::UNAUTHORIZED && attempt == 0 {
                self.login(Some(generation)).await?;
                continue;
            }
            if !resp.status().is_success() {
                let status = resp.status();
                return Err(PreservicaError::Status {
                    method: Method::GET,
                    url: redact(url),
                    status,
                    body: String::new(),
                });
            }
            return Ok(resp);
        }
        Err(PreservicaError::TokenRejected { url: redact(url) })
    }

    async fn bucket(&self) -> Result<String> {
        if self.session.read().await.tenant.is_none() {
            self.login(None).await?;
        }
        let tenant =
            self.session
                .read()
                .await
                .tenant
                .clone()
                .ok_or_else(|| PreservicaError::Ingest {
                    what: "the upload".into(),
                    reason: "the tenant is unknown; set preservica.tenant in ferry.toml".into(),
                })?;
        Ok(format!("{}.package.upload", tenant.to_lowercase()))
    }

    /// Uploads an OPEX package into `folder` through the S3-compatible endpoint: one PUT for
    /// small packages, a multipart upload (one part in memory at a time) for large ones.
    pub async fn upload_package(&self, package: &Path, folder: &str) -> Result<Upload> {
        let key = format!("{}.zip", uuid::Uuid::new_v4());
        self.upload_package_as(package, folder, &key).await
    }

    /// [`Self::upload_package`] under a chosen object key (`name.zip`), so that a caller that
    /// crashed mid-upload can later ask the process monitor whether the package arrived.
    pub async fn upload_package_as(
        &self,
        package: &Path,
        folder: &str,
        key: &str,
    ) -> Result<Upload> {
        let key = key.to_string();
        let io_err = |e: std::io::Error| PreservicaError::Io {
            path: package.display().to_string(),
            source: e,
        };
        let size = tokio::fs::metadata(package).await.map_err(io_err)?.len();
        let object = self.url(&format!(
            "{}/{}/{}",
            wire::S3_PREFIX,
            self.bucket().await?,
            key
        ));
        let target = [(wire::TARGET_FOLDER_HEADER, folder.to_string())];
        if size <= self.conn.single_put_limit {
            let bytes = tokio::fs::read(package).await.map_err(io_err)?;
            let reply = self
                .call(
                    Method::PUT,
                    &object,
                    Some(("application/zip", bytes)),
                    &target,
                )
                .await?;
            return Ok(Upload {
                key,
                progress_token: progress_token(&reply)?,
                multipart: false,
            });
        }
        let reply = self
            .call(Method::POST, &format!("{object}?uploads"), None, &target)
            .await?;
        let doc = parse_reply(&reply)?;
        let upload_id =
            doc.root
                .child_text("UploadId")
                .ok_or_else(|| PreservicaError::Malformed {
                    url: reply.url.clone(),
                    reason: "no UploadId in the multipart answer".into(),
                })?;
        let mut file = tokio::fs::File::open(package).await.map_err(io_err)?;
        let mut parts = Vec::new();
        let mut n = 1u32;
        loop {
            let mut buf = vec![0u8; self.conn.part_size];
            let mut filled = 0;
            while filled < buf.len() {
                let read = tokio::io::AsyncReadExt::read(&mut file, &mut buf[filled..])
                    .await
                    .map_err(io_err)?;
                if read == 0 {
                    break;
                }
                filled += read;
            }
            if filled == 0 {
                break;
            }
            buf.truncate(filled);
            let part_url = format!("{object}?partNumber={n}&uploadId={}", urlencode(&upload_id));
            let reply = self
                .call(
                    Method::PUT,
                    &part_url,
                    Some(("application/octet-stream", buf)),
                    &[],
                )
                .await?;
            let etag = reply
                .headers
                .get(reqwest::header::ETAG)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| PreservicaError::Malformed {
                    url: reply.url.clone(),
                    reason: format!("part {n} was stored without an ETag"),
                })?
                .to_string();
            parts.push((n, etag));
            n += 1;
        }
        let mut body = String::from("<CompleteMultipartUpload>");
        for (n, etag) in &parts {
            body.push_str(&format!(
                "<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag></Part>",
                xml::esc(etag)
            ));
        }
        body.push_str("</CompleteMultipartUpload>");
        let reply = self
            .call(
                Method::POST,
                &format!("{object}?uploadId={}", urlencode(&upload_id)),
                Some(("application/xml", body.into_bytes())),
                &[],
            )
            .await?;
        Ok(Upload {
            key,
            progress_token: progress_token(&reply)?,
            multipart: true,
        })
    }

    /// Waits until every `SourceID` has an asset (or folder) in Preservica, polling
    /// `by-identifier`, and returns SourceID → ref. Gives up after `timeout`, naming what is
    /// still missing and any failure the process monitor reports.
    pub async fn wait_for_ingest(
        &self,
        source_ids: &[String],
        timeout: Duration,
    ) -> Result<HashMap<String, String>> {
        self.wait_for_package(None, source_ids, timeout).await
    }

    /// [`Self::wait_for_ingest`] for the package uploaded under `key`: only that package's
    /// failure ends the wait early (another package's failure says nothing about this one).
    pub async fn wait_for_package(
        &self,
        key: Option<&str>,
        source_ids: &[String],
        timeout: Duration,
    ) -> Result<HashMap<String, String>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut found = HashMap::new();
        let mut pause = Duration::from_millis(100);
        loop {
            for id in source_ids {
                if found.contains_key(id) {
                    continue;
                }
                if let Some(e) = self
                    .find_by_identifier(wire::SOURCE_ID_TYPE, id)
                    .await?
                    .into_iter()
                    .next()
                {
                    found.insert(id.clone(), e.reference);
                }
            }
            if found.len() == source_ids.len() {
                return Ok(found);
            }
            if let Some(reason) = self.failed_ingest(key).await? {
                return Err(PreservicaError::Ingest {
                    what: format!(
                        "{} of {} items",
                        source_ids.len() - found.len(),
                        source_ids.len()
                    ),
                    reason,
                });
            }
            if tokio::time::Instant::now() >= deadline {
                let missing: Vec<&String> = source_ids
                    .iter()
                    .filter(|s| !found.contains_key(*s))
                    .collect();
                return Err(PreservicaError::Ingest {
                    what: format!("{} of {} items", missing.len(), source_ids.len()),
                    reason: format!(
                        "not found after {:?}; still missing: {:?}",
                        timeout, missing
                    ),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// The status of the ingest of the package uploaded under `key` (`Running`,
    /// `Succeeded`, `Failed`, …), or `None` when Preservica has no monitor for it: the
    /// package never arrived.
    pub async fn package_status(&self, key: &str) -> Result<Option<String>> {
        let url = format!(
            "{}?category=Ingest&name={}",
            self.url(wire::MONITORS_PATH),
            urlencode(&wire::monitor_name(key))
        );
        let reply = self.call(Method::GET, &url, None, &[]).await?;
        let v: serde_json::Value =
            serde_json::from_slice(&reply.body).map_err(|e| PreservicaError::Malformed {
                url: reply.url.clone(),
                reason: format!("the monitor list is not JSON: {e}"),
            })?;
        let wanted = wire::monitor_name(key);
        Ok(v["value"]["monitors"].as_array().and_then(|ms| {
            ms.iter()
                .filter(|m| m["name"].as_str() == Some(wanted.as_str()))
                .filter_map(|m| m["status"].as_str().map(str::to_string))
                .next_back()
        }))
    }

    /// The message of the latest failed ingest monitor (of the package `key`, when given).
    async fn failed_ingest(&self, key: Option<&str>) -> Result<Option<String>> {
        let mut url = format!(
            "{}?status=Failed&category=Ingest",
            self.url(wire::MONITORS_PATH)
        );
        if let Some(key) = key {
            url.push_str(&format!("&name={}", urlencode(&wire::monitor_name(key))));
        }
        let reply = self.call(Method::GET, &url, None, &[]).await?;
        let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
        let Some(m) = v["value"]["monitors"].as_array().and_then(|m| m.last()) else {
            return Ok(None);
        };
        let id = m["mappedId"].as_str().unwrap_or_default();
        let url = format!(
            "{}?monitor={}",
            self.url(wire::MESSAGES_PATH),
            urlencode(id)
        );
        let reply = self.call(Method::GET, &url, None, &[]).await?;
        let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
        let text = v["value"]["messages"]
            .as_array()
            .and_then(|m| m.first())
            .and_then(|m| m["displayMessage"].as_str())
            .unwrap_or("no reason given");
        Ok(Some(format!(
            "{} failed: {text}",
            m["name"].as_str().unwrap_or(id)
        )))
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

fn progress_token(reply: &Reply) -> Result<String> {
    reply
        .headers
        .get(wire::PROGRESS_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| PreservicaError::Malformed {
            url: reply.url.clone(),
            reason: format!(
                "the upload answer has no {} header",
                wire::PROGRESS_TOKEN_HEADER
            ),
        })
}

/// Checks that what was written reads back as written.
fn verify(reference: &str, write: &PreservicaWrite, after: &PreservicaRecord) -> Result<()> {
    let fail = |detail: String| PreservicaError::Verify {
        reference: reference.to_string(),
        detail,
    };
    if let Some(t) = &write.title
        && after.title.as_deref().unwrap_or("") != t.as_deref().unwrap_or("")
    {
        return Err(fail(format!(
            "Title reads {:?}, {t:?} was written",
            after.title
        )));
    }
    if let Some(d) = &write.description
        && after.description.as_deref().unwrap_or("") != d.as_deref().unwrap_or("")
    {
        return Err(fail(format!(
            "Description reads {:?}, {d:?} was written",
            after.description
        )));
    }
    for f in &write.fragments {
        let stored = after
            .fragment(&f.schema)
            .ok_or_else(|| fail(format!("fragment {} is missing after the write", f.schema)))?;
        let same = match (xml::parse(&stored.xml), xml::parse(&f.xml)) {
            (Ok(a), Ok(b)) => strip_spans(&a.root) == strip_spans(&b.root),
            _ => stored.xml == f.xml,
        };
        if !same {
            return Err(fail(format!(
                "fragment {} reads back different from what was written",
                f.schema
            )));
        }
    }
    Ok(())
}

/// An element without source positions, for comparing documents by content.
fn strip_spans(e: &Element) -> Element {
    Element {
        span: (0, 0),
        children: e.children.iter().map(strip_spans).collect(),
        attrs: {
            let mut a = e.attrs.clone();
            a.sort();
            a
        },
        ..e.clone()
    }
}

#[derive(Default)]
struct Hashers {
    md5: md5::Md5,
    sha1: sha1::Sha1,
    sha256: sha2::Sha256,
    sha512: sha2::Sha512,
}

impl Hashers {
    fn update(&mut self, b: &[u8]) {
        self.md5.update(b);
        self.sha1.update(b);
        self.sha256.update(b);
        self.sha512.update(b);
    }

    fn finish(self) -> HashMap<String, String> {
        HashMap::from([
            ("MD5".to_string(), hex::encode(self.md5.finalize())),
            ("SHA1".to_string(), hex::encode(self.sha1.finalize())),
            ("SHA256".to_string(), hex::encode(self.sha256.finalize())),
            ("SHA512".to_string(), hex::encode(self.sha512.finalize())),
        ])
    }
}

/// `SHA-256`, `sha256`, `SHA256` → `SHA256`.
fn normalise_alg(alg: &str) -> String {
    alg.replace('-', "").to_uppercase()
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
