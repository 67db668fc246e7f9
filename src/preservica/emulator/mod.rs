//! A local Preservica: a real HTTP server that answers like a tenant does, as
//! `shared/api/preservica.md` describes it, closely enough that unmodified pyPreservica works
//! against it. It backs hermetic tests, `ferry demo` and `ferry emulate preservica`, and
//! injects faults on request.
//!
//! Routing is by path segments rather than an axum route table because every entity path
//! may carry a version prefix (`/api/entity/v7.7/...`) that changes the namespaces of the
//! answer, and because the S3-compatible upload endpoint multiplexes operations on query
//! parameters.

mod archivist;
mod content;
mod entities;
mod events;
mod ingest;
mod links;
mod representations;
mod seed;
mod webhooks;

use super::wire::{self, EntityKind, EventAction, Identifier, Version};
use crate::clock::Clock;
use crate::emulate::{
    self, EditDuring, EditHooks, FaultOptions, Faults, JournalEntry, RequestLog, Running,
    WriteJournal, lock,
};
use crate::mapping::preservica::{Fragment, PreservicaRecord};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use archivist::{ARCHIVIST, ArchivistEdit};
pub use seed::seed_folder_title;
pub use webhooks::{Delivered, RefStyle, WEBHOOK_ROLES, WebhookOptions};

/// The role a user needs to change anything.
pub const WRITE_ROLES: &[&str] = &[
    "ROLE_SDB_MANAGER_USER",
    "ROLE_SDB_ADMIN_USER",
    "ROLE_SDB_EDITOR_USER",
];

/// How the emulator behaves.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// The server version; every namespace follows it.
    pub version: Version,
    pub username: String,
    pub password: String,
    pub tenant: String,
    pub roles: Vec<String>,
    pub token_lifetime: Duration,
    /// How long an uploaded package takes to ingest.
    pub ingest_delay: Duration,
    /// Assets to seed (0: an empty tenant with one root folder).
    pub seed_assets: usize,
    /// Assets per seeded folder.
    pub seed_folder_size: usize,
    pub seed: u64,
    /// How large the seeded assets' pictures (generated JPEGs) are.
    pub picture_size: crate::emulate::pictures::PictureSize,
    /// Largest `max` honoured on a page.
    pub max_page: usize,
    pub faults: FaultOptions,
    /// Webhook deliveries: delay, duplicates, retries and the contract's variants.
    pub webhooks: WebhookOptions,
    /// Where "now" comes from for every date the emulator records or answers with:
    /// modification times, event dates, ingest start and end.
    pub clock: Clock,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            version: Version::new(7, 7, 0),
            username: "emulator@ferry.local".into(),
            password: "emulator-password".into(),
            tenant: "FERRY".into(),
            roles: vec![
                "ROLE_SDB_MANAGER_USER".into(),
                "ROLE_SDB_ACCESS_USER".into(),
            ],
            token_lifetime: Duration::from_secs(15 * 60),
            ingest_delay: Duration::from_millis(200),
            seed_assets: 0,
            seed_folder_size: 250,
            seed: 1,
            picture_size: Default::default(),
            max_page: 1000,
            faults: FaultOptions::default(),
            webhooks: WebhookOptions::default(),
            clock: Clock::system(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct StoredFragment {
    pub id: String,
    pub schema: String,
    pub xml: String,
}

#[derive(Debug, Clone)]
pub(crate) struct StoredBitstream {
    pub filename: String,
    pub bytes: Bytes,
    pub fixities: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Generation {
    pub original: bool,
    pub active: bool,
    pub bitstreams: Vec<StoredBitstream>,
}

#[derive(Debug, Clone)]
pub(crate) struct Representation {
    pub rtype: String,
    pub name: String,
    pub content_objects: Vec<String>,
}

/// One entity of any kind, as the emulator stores it.
#[derive(Debug, Clone)]
pub(crate) struct Entity {
    pub kind: EntityKind,
    pub reference: String,
    pub title: String,
    pub description: Option<String>,
    pub security_tag: String,
    pub parent: Option<String>,
    pub custom_type: Option<String>,
    pub fragments: Vec<StoredFragment>,
    pub identifiers: Vec<Identifier>,
    pub modified: DateTime<Utc>,
    pub representations: Vec<Representation>,
    pub generations: Vec<Generation>,
    /// Everything done to the entity, oldest first (see `events`).
    pub events: Vec<events::EventAction>,
    /// False once the thumbnail was removed: the thumbnail endpoint answers 404.
    pub has_thumbnail: bool,
}

impl Entity {
    pub fn new(
        kind: EntityKind,
        reference: String,
        title: String,
        parent: Option<String>,
        modified: DateTime<Utc>,
    ) -> Self {
        Entity {
            kind,
            reference,
            title,
            description: None,
            security_tag: "open".into(),
            parent,
            custom_type: None,
            fragments: Vec::new(),
            identifiers: Vec::new(),
            modified,
            representations: Vec::new(),
            generations: Vec::new(),
            events: Vec::new(),
            has_thumbnail: true,
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    /// A timer the client waits out in real time, so monotonic rather than the `Clock`
    /// (a pinned clock would otherwise keep every token alive or dead for good).
    expires: Instant,
}

/// An ingest in progress: a package waiting for its time.
#[derive(Debug, Clone)]
pub(crate) struct PendingIngest {
    pub monitor: String,
    /// Monotonic like token expiry: a client polls for the ingest in real time.
    pub due: Instant,
    pub package: Bytes,
    pub folder: Option<String>,
}

/// A process monitor and its messages, as the Process Monitor API shows them.
#[derive(Debug, Clone)]
pub(crate) struct Monitor {
    pub id: String,
    pub name: String,
    pub status: String,
    pub started: DateTime<Utc>,
    pub completed: Option<DateTime<Utc>>,
    pub messages: Vec<MonitorMessage>,
}

#[derive(Debug, Clone)]
pub(crate) struct MonitorMessage {
    pub status: String,
    pub text: String,
    pub entity_ref: Option<String>,
    pub source_id: Option<String>,
    pub title: Option<String>,
}

/// Everything the emulator holds.
#[derive(Debug, Default)]
pub(crate) struct Data {
    pub entities: HashMap<String, Entity>,
    /// Children of each folder (`""` for the root) in creation order.
    pub children: HashMap<String, Vec<String>>,
    tokens: HashMap<String, Token>,
    refresh_tokens: HashMap<String, String>,
    pub counter: u64,
    pub multipart: HashMap<String, ingest::Multipart>,
    pub pending: Vec<PendingIngest>,
    pub monitors: Vec<Monitor>,
    /// Every object stored through the S3 endpoint, by key.
    pub objects: HashMap<String, usize>,
    /// Every package received, in order (key, bytes): what tests check a package against.
    pub packages: Vec<(String, Bytes)>,
    /// When set, ingest stores each file with its first byte flipped and fixities computed
    /// from the damaged bytes: a copy that went wrong on the way in.
    pub corrupt_ingest: bool,
    /// The last event number given out (see `events`).
    pub event_seq: u64,
    /// Relationship links between entities, in creation order.
    pub links: Vec<links::Link>,
    /// The emulator's one source of "now" (see [`EmulatorOptions::clock`]).
    pub clock: Clock,
    /// Where changes are announced for webhook deliveries (set once seeding is done).
    pub webhooks: Option<Arc<webhooks::Hub>>,
}

impl Data {
    /// A fresh unique id with a prefix, for fragments, identifiers and tokens.
    pub fn next_id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{:08x}", self.counter)
    }

    /// Stores a new entity and records its creation, dated by its `modified` time.
    pub fn insert(&mut self, mut e: Entity) {
        self.record_creation(&mut e);
        let parent = e.parent.clone().unwrap_or_default();
        if e.kind != EntityKind::ContentObject {
            self.children
                .entry(parent)
                .or_default()
                .push(e.reference.clone());
        }
        self.entities.insert(e.reference.clone(), e);
    }
}

pub(crate) struct Shared {
    pub options: EmulatorOptions,
    pub data: Mutex<Data>,
    /// Every write to an asset with the asset before and after (when a test asks).
    pub journal: WriteJournal<PreservicaRecord>,
    /// Edits a test makes "as a person" just before a request of ferry's is handled.
    pub edits: EditHooks<ArchivistEdit>,
    pub webhooks: Arc<webhooks::Hub>,
}

/// An asset as a client reads it (title, description, fragments, security tag, modified).
fn record_of(data: &Data, reference: &str) -> Option<PreservicaRecord> {
    let e = data.entities.get(reference)?;
    (e.kind == EntityKind::Asset).then(|| PreservicaRecord {
        reference: e.reference.clone(),
        title: Some(e.title.clone()),
        description: e.description.clone(),
        fragments: e
            .fragments
            .iter()
            .map(|f| Fragment {
                schema: f.schema.clone(),
                xml: f.xml.clone(),
            })
            .collect(),
        modified_at: Some(e.modified),
        security_tag: Some(e.security_tag.clone()),
        ..PreservicaRecord::default()
    })
}

/// A running emulator.
pub struct PreservicaEmulator {
    running: Running,
    shared: Arc<Shared>,
    faults: Arc<Faults>,
}

impl std::fmt::Debug for PreservicaEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreservicaEmulator")
            .field("addr", &self.running.addr)
            .finish()
    }
}

/// Starts an emulator on `addr` (port 0 for any free port).
pub async fn start(
    options: EmulatorOptions,
    addr: SocketAddr,
) -> std::io::Result<PreservicaEmulator> {
    let mut data = Data {
        clock: options.clock.clone(),
        ..Data::default()
    };
    seed::seed(&mut data, &options);
    // After seeding: the seeded library is there before anyone could subscribe.
    let hub = webhooks::Hub::start(
        options.webhooks.clone(),
        &options.tenant,
        options.clock.clone(),
    );
    data.webhooks = Some(hub.clone());
    let faults = Faults::new(options.faults.clone());
    let shared = Arc::new(Shared {
        options,
        data: Mutex::new(data),
        journal: WriteJournal::default(),
        edits: EditHooks::default(),
        webhooks: hub.clone(),
    });
    let router = Router::new()
        .fallback(dispatch)
        .with_state(shared.clone())
        .layer(axum::middleware::from_fn_with_state(
            faults.clone(),
            emulate::fault_layer,
        ));
    let running = emulate::serve(router, addr).await?;
    hub.set_origin(running.url());
    Ok(PreservicaEmulator {
        running,
        shared,
        faults,
    })
}

impl PreservicaEmulator {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.running.url()
    }

    /// `127.0.0.1:PORT`: what Preservica clients call the server.
    pub fn server(&self) -> String {
        self.running.addr.to_string()
    }

    pub fn options(&self) -> &EmulatorOptions {
        &self.shared.options
    }

    pub fn log(&self) -> Arc<RequestLog> {
        self.faults.log.clone()
    }

    pub fn faults(&self) -> &Arc<Faults> {
        &self.faults
    }

    pub async fn stop(self) {
        self.running.stop().await
    }

    /// Makes every token issued so far invalid, as if they had all timed out.
    pub fn expire_tokens(&self) {
        lock(&self.shared.data).tokens.clear();
    }

    /// An asset as a client would read it, straight from the emulator's store.
    pub fn record(&self, reference: &str) -> Option<PreservicaRecord> {
        record_of(&lock(&self.shared.data), reference)
    }

    /// Turns the write journal on or off (off by default).
    pub fn set_journal(&self, on: bool) {
        self.shared.journal.set_on(on);
    }

    /// Every write to an asset since the journal was turned on, with the asset before and
    /// after it.
    pub fn journal(&self) -> Vec<JournalEntry<PreservicaRecord>> {
        self.shared.journal.entries()
    }

    /// How many writes the journal holds.
    pub fn journal_len(&self) -> usize {
        self.shared.journal.len()
    }

    /// Refs of every asset, in creation order.
    pub fn asset_refs(&self) -> Vec<String> {
        let d = lock(&self.shared.data);
        let mut out = Vec::new();
        let mut stack = vec![String::new()];
        while let Some(parent) = stack.pop() {
            for r in d.children.get(&parent).into_iter().flatten() {
                match d.entities.get(r).map(|e| e.kind) {
                    Some(EntityKind::Asset) => out.push(r.clone()),
                    Some(EntityKind::Folder) => stack.push(r.clone()),
                    _ => {}
                }
            }
        }
        out
    }

    /// Folder refs under `parent` (`None`: root folders).
    pub fn folder_refs(&self, parent: Option<&str>) -> Vec<String> {
        let d = lock(&self.shared.data);
        d.children
            .get(parent.unwrap_or(""))
            .into_iter()
            .flatten()
            .filter(|r| d.entities.get(*r).map(|e| e.kind) == Some(EntityKind::Folder))
            .cloned()
            .collect()
    }

    /// The title of an entity.
    pub fn title(&self, reference: &str) -> Option<String> {
        lock(&self.shared.data)
            .entities
            .get(reference)
            .map(|e| e.title.clone())
    }

    /// The stored fragment XML of an entity under `schema`.
    pub fn fragment(&self, reference: &str, schema: &str) -> Option<String> {
        lock(&self.shared.data)
            .entities
            .get(reference)
            .and_then(|e| e.fragments.iter().find(|f| f.schema == schema))
            .map(|f| f.xml.clone())
    }

    /// Replaces (or adds) a fragment directly, as an archivist editing in Preservica would
    /// (recorded as the archivist's change).
    pub fn set_fragment(&self, reference: &str, schema: &str, xml: &str) {
        lock(&self.shared.data).apply_archivist_edit(&ArchivistEdit::Fragment {
            reference: reference.to_string(),
            schema: schema.to_string(),
            xml: xml.to_string(),
        });
    }

    /// Sets an entity's title directly and marks it modified now (the archivist's change).
    pub fn set_title(&self, reference: &str, title: &str) {
        lock(&self.shared.data).apply_archivist_edit(&ArchivistEdit::Title {
            reference: reference.to_string(),
            title: title.to_string(),
        });
    }

    /// Makes `hook.edit` as the archivist just before the next request matching `hook` is
    /// handled: a concurrent edit landing between ferry's re-read and its write.
    pub fn edit_during(&self, hook: EditDuring<ArchivistEdit>) {
        self.shared.edits.push(hook);
    }

    /// The changes recorded on an entity, oldest first, as a client reads them.
    pub fn events(&self, reference: &str) -> Vec<EventAction> {
        let d = lock(&self.shared.data);
        d.entities
            .get(reference)
            .map(|e| {
                e.events
                    .iter()
                    .map(|a| a.as_read(&self.shared.options.username))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Sets an entity's modification time (to place it before or after a cursor).
    pub fn set_modified(&self, reference: &str, at: DateTime<Utc>) {
        if let Some(e) = lock(&self.shared.data).entities.get_mut(reference) {
            e.modified = at;
        }
    }

    /// Replaces the bytes of an asset's first bitstream without changing its recorded
    /// fixity: a corrupted copy, for fixity-mismatch tests.
    pub fn corrupt_first_bitstream(&self, asset: &str) -> bool {
        let mut d = lock(&self.shared.data);
        let co = d
            .entities
            .get(asset)
            .and_then(|e| e.representations.first())
            .and_then(|r| r.content_objects.first())
            .cloned();
        let Some(bs) = co
            .and_then(|co| d.entities.get_mut(&co))
            .and_then(|c| c.generations.first_mut())
            .and_then(|g| g.bitstreams.first_mut())
        else {
            return false;
        };
        let mut bytes = bs.bytes.to_vec();
        if let Some(b) = bytes.first_mut() {
            *b ^= 0xff;
        }
        bs.bytes = Bytes::from(bytes);
        true
    }

    /// The packages uploaded so far, in order, as (object key, zip bytes).
    pub fn packages(&self) -> Vec<(String, Bytes)> {
        lock(&self.shared.data).packages.clone()
    }

    /// Makes every later ingest damage the files it stores (see [`Data::corrupt_ingest`]).
    pub fn corrupt_ingest(&self, on: bool) {
        lock(&self.shared.data).corrupt_ingest = on;
    }

    /// Identifiers of an entity.
    pub fn identifiers(&self, reference: &str) -> Vec<Identifier> {
        lock(&self.shared.data)
            .entities
            .get(reference)
            .map(|e| e.identifiers.clone())
            .unwrap_or_default()
    }

    /// The parent folder of an entity.
    pub fn parent(&self, reference: &str) -> Option<String> {
        lock(&self.shared.data)
            .entities
            .get(reference)
            .and_then(|e| e.parent.clone())
    }

    /// Refs of the assets whose identifier `kind` has `value`.
    pub fn find_by_identifier(&self, kind: &str, value: &str) -> Vec<String> {
        lock(&self.shared.data)
            .entities
            .values()
            .filter(|e| {
                e.identifiers
                    .iter()
                    .any(|i| i.kind == kind && i.value == value)
            })
            .map(|e| e.reference.clone())
            .collect()
    }

    /// Adds a folder under `parent` (`None`: the root); returns its ref.
    pub fn add_folder(&self, parent: Option<&str>, title: &str) -> String {
        let mut d = lock(&self.shared.data);
        let reference = uuid::Uuid::new_v4().to_string();
        let now = d.clock.now();
        d.insert(Entity::new(
            EntityKind::Folder,
            reference.clone(),
            title.to_string(),
            parent.map(str::to_string),
            now,
        ));
        reference
    }

    /// Adds an asset with the given fields, fragments and identifiers under `folder`, as if
    /// it had been ingested earlier; returns its ref.
    pub fn add_asset(
        &self,
        folder: &str,
        record: &crate::mapping::preservica::PreservicaRecord,
        identifiers: &[(String, String)],
    ) -> String {
        let mut d = lock(&self.shared.data);
        let reference = if record.reference.is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else {
            record.reference.clone()
        };
        let mut e = Entity::new(
            EntityKind::Asset,
            reference.clone(),
            record.title.clone().unwrap_or_default(),
            Some(folder.to_string()),
            d.clock.now(),
        );
        e.description = record.description.clone();
        for f in &record.fragments {
            let id = d.next_id("frag-");
            e.fragments.push(StoredFragment {
                id,
                schema: f.schema.clone(),
                xml: f.xml.clone(),
            });
        }
        for (kind, value) in identifiers {
            let api_id = d.next_id("");
            e.identifiers.push(Identifier {
                api_id,
                kind: kind.clone(),
                value: value.clone(),
                entity: Some(reference.clone()),
            });
        }
        d.insert(e);
        reference
    }

    /// Gives an asset a preservation representation holding `bytes` as `file_name`, with
    /// SHA1 and SHA256 fixities.
    pub fn add_content(&self, asset: &str, file_name: &str, bytes: &[u8]) -> bool {
        let mut d = lock(&self.shared.data);
        let Some(tag) = d
            .entities
            .get(asset)
            .filter(|e| e.kind == EntityKind::Asset)
            .map(|e| e.security_tag.clone())
        else {
            return false;
        };
        let c = representations::content_object(
            asset,
            &tag,
            file_name,
            Bytes::copy_from_slice(bytes),
            d.clock.now(),
        );
        let co = c.reference.clone();
        d.insert(c);
        if let Some(e) = d.entities.get_mut(asset) {
            e.representations.push(Representation {
                rtype: "Preservation".into(),
                name: "Preservation".into(),
                content_objects: vec![co],
            });
        }
        true
    }

    /// Removes an entity, as if someone deleted it in Preservica (for tests of what ferry
    /// does when an asset disappears; ferry itself never deletes).
    pub fn remove_entity(&self, reference: &str) -> bool {
        let mut d = lock(&self.shared.data);
        let Some(e) = d.entities.remove(reference) else {
            return false;
        };
        if let Some(list) = d.children.get_mut(&e.parent.clone().unwrap_or_default()) {
            list.retain(|r| r != reference);
        }
        true
    }

    /// How many packages were stored through the S3 endpoint.
    pub fn uploaded_packages(&self) -> usize {
        lock(&self.shared.data).objects.len()
    }
}

// ---------------------------------------------------------------------------------------
// Request handling.

/// What a handler sees of a request.
pub(crate) struct Call {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// `http://host:port`, from the Host header, so URLs in answers lead back here.
    pub origin: String,
}

impl Call {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as UTF-8 text, or a 400 naming the problem.
    #[allow(clippy::result_large_err)] // the error is the answer itself, returned once per request
    pub fn text(&self) -> Result<&str, Response> {
        std::str::from_utf8(&self.body).map_err(|_| bad_request("the body is not UTF-8"))
    }

    /// Form fields of a urlencoded body.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }
}

const MAX_BODY: usize = 1024 * 1024 * 1024;

async fn dispatch(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return bad_request("the body could not be read"),
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let call = Call {
        method: parts.method.clone(),
        path: parts.uri.path().to_string(),
        query: parts
            .uri
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default(),
        headers: parts.headers,
        body,
        origin: format!("http://{host}"),
    };
    if webhooks::is_webhook_path(&call.path) {
        // Subscribing waits on the subscriber's answer to the challenge, so these are async.
        return webhooks::route(&shared, call).await;
    }
    let span =
        tracing::debug_span!("preservica_emulator", method = %call.method, path = %call.path);
    let _enter = span.enter();
    if !shared.journal.is_on() || matches!(call.method, Method::GET | Method::HEAD) {
        return handle(&shared, call);
    }
    // The journal: the asset a write names, before and after. ferry writes one asset at a
    // time, so nothing else changes it in between.
    let id = {
        let data = lock(&shared.data);
        call.path
            .split('/')
            .find(|s| data.entities.get(*s).map(|e| e.kind) == Some(EntityKind::Asset))
            .map(str::to_string)
    };
    let Some(id) = id else {
        return handle(&shared, call);
    };
    let before = record_of(&lock(&shared.data), &id);
    let (method, path) = (call.method.to_string(), call.path.clone());
    let resp = handle(&shared, call);
    shared.journal.push(JournalEntry {
        method,
        path,
        status: resp.status().as_u16(),
        before,
        after: record_of(&lock(&shared.data), &id),
        id,
    });
    resp
}

/// Routes a request, after the edit a test placed just before it (handlers record the
/// events of the changes they make).
fn handle(shared: &Shared, call: Call) -> Response {
    if let Some(edit) = shared.edits.take(call.method.as_str(), &call.path) {
        lock(&shared.data).apply_archivist_edit(&edit);
    }
    route(shared, call)
}

fn route(shared: &Shared, call: Call) -> Response {
    let path = call.path.clone();
    match (call.method.clone(), path.as_str()) {
        (Method::POST, wire::LOGIN_PATH) => login(shared, &call),
        (Method::POST, wire::REFRESH_PATH) => refresh(shared, &call),
        _ => {
            if let Err(resp) = authorise(shared, &call) {
                return resp;
            }
            let mut data = lock(&shared.data);
            ingest::run_due(&mut data, &shared.options);
            if path == wire::USER_DETAILS_PATH {
                return user_details(shared);
            }
            if path == "/api/security/tags" {
                return security_tags(&shared.options.version);
            }
            if path == wire::THUMBNAIL_PATH {
                return content::thumbnail(&data, call.param("id"), call.param("size"));
            }
            if path.starts_with("/api/content/") {
                return not_found(&format!("no such content API: {path}"));
            }
            if let Some(rest) = path.strip_prefix(wire::S3_PREFIX) {
                return ingest::s3(shared, &mut data, &call, rest);
            }
            if path.starts_with("/api/processmonitor/") {
                return ingest::process_monitor(&data, &call);
            }
            if let Some(rest) = path.strip_prefix(wire::ENTITY_PREFIX) {
                return entities::route(shared, &mut data, &call, rest);
            }
            not_found(&format!("no such API: {path}"))
        }
    }
}

fn login(shared: &Shared, call: &Call) -> Response {
    let form = call.form();
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let o = &shared.options;
    if field("username") != Some(o.username.as_str())
        || field("password") != Some(o.password.as_str())
    {
        return json(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"success": false, "message": "Invalid credentials"}),
        );
    }
    if let Some(t) = field("tenant")
        && !t.eq_ignore_ascii_case(&o.tenant)
    {
        return json(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"success": false, "message": format!("Unknown tenant {t}")}),
        );
    }
    let mut data = lock(&shared.data);
    let (token, refresh) = issue_token(&mut data, o);
    let mut body = serde_json::json!({
        "success": true,
        "token": token,
        "refresh-token": refresh,
        "validFor": (o.token_lifetime.as_secs() / 60).max(1),
        "user": o.username,
    });
    if field("includeUserDetails") == Some("true") {
        body["tenant"] = o.tenant.clone().into();
        body["roles"] = o.roles.clone().into();
        body["fullName"] = "ferry emulator".into();
        body["email"] = o.username.clone().into();
    }
    json(StatusCode::OK, body)
}

fn issue_token(data: &mut Data, o: &EmulatorOptions) -> (String, String) {
    // Many tokens stay valid at once: pyPreservica logs in again before many calls.
    let token = uuid::Uuid::new_v4().to_string();
    let refresh = uuid::Uuid::new_v4().to_string();
    data.tokens.insert(
        token.clone(),
        Token {
            expires: Instant::now() + o.token_lifetime,
        },
    );
    data.refresh_tokens.insert(refresh.clone(), token.clone());
    (token, refresh)
}

fn refresh(shared: &Shared, call: &Call) -> Response {
    let form = call.form();
    let Some(rt) = form
        .iter()
        .find(|(k, _)| k == "refreshToken")
        .map(|(_, v)| v.clone())
    else {
        return json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"success": false, "message": "refreshToken is required"}),
        );
    };
    let mut data = lock(&shared.data);
    // Single use, as the contract says.
    if data.refresh_tokens.remove(&rt).is_none() {
        return json(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"success": false, "message": "Invalid refresh token"}),
        );
    }
    let (token, refresh) = issue_token(&mut data, &shared.options);
    json(
        StatusCode::OK,
        serde_json::json!({"success": true, "token": token, "refresh-token": refresh,
            "validFor": (shared.options.token_lifetime.as_secs() / 60).max(1), "user": shared.options.username}),
    )
}

/// The token a request carries: the Preservica header, a Bearer token, or the access key of
/// an S3 SigV4 signature (where Preservica puts its token).
fn token_of(call: &Call) -> Option<String> {
    if let Some(t) = call.header(wire::TOKEN_HEADER) {
        return Some(t.trim().to_string());
    }
    let auth = call.header("authorization")?;
    if let Some(t) = auth.strip_prefix("Bearer ") {
        return Some(t.trim().to_string());
    }
    let cred = auth.split("Credential=").nth(1)?;
    Some(cred.split('/').next()?.trim().to_string())
}

#[allow(clippy::result_large_err)] // the error is the answer itself, returned once per request
fn authorise(shared: &Shared, call: &Call) -> Result<(), Response> {
    let token = token_of(call).ok_or_else(|| unauthorized("no access token"))?;
    let mut data = lock(&shared.data);
    match data.tokens.get(&token) {
        Some(t) if t.expires > Instant::now() => {}
        Some(_) => {
            data.tokens.remove(&token);
            return Err(unauthorized("the access token has expired"));
        }
        None => return Err(unauthorized("the access token is not valid")),
    }
    let writes = !matches!(call.method, Method::GET | Method::HEAD);
    let can_write = shared
        .options
        .roles
        .iter()
        .any(|r| WRITE_ROLES.contains(&r.as_str()));
    if writes && !can_write && !call.path.starts_with("/api/content/") {
        return Err((
            StatusCode::FORBIDDEN,
            "the user has no role that may change entities",
        )
            .into_response());
    }
    Ok(())
}

fn user_details(shared: &Shared) -> Response {
    let o = &shared.options;
    json(
        StatusCode::OK,
        serde_json::json!({
            "user": o.username, "email": o.username, "fullName": "ferry emulator",
            "tenant": o.tenant, "roles": o.roles,
        }),
    )
}

fn security_tags(version: &Version) -> Response {
    let ns = format!("http://preservica.com/SecurityAPI/v{}", version.api());
    xml(
        StatusCode::OK,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><TagsResponse xmlns=\"{ns}\"><Tags><Tag name=\"open\"/><Tag name=\"closed\"/></Tags></TagsResponse>"
        ),
    )
}

// ---------------------------------------------------------------------------------------
// Responses.

pub(crate) fn xml(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml;charset=UTF-8")],
        body,
    )
        .into_response()
}

pub(crate) fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub(crate) fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain;charset=UTF-8")],
        body,
    )
        .into_response()
}

pub(crate) fn bad_request(reason: &str) -> Response {
    text(StatusCode::BAD_REQUEST, reason.to_string())
}

pub(crate) fn not_found(what: &str) -> Response {
    text(StatusCode::NOT_FOUND, what.to_string())
}

fn unauthorized(reason: &str) -> Response {
    json(
        StatusCode::UNAUTHORIZED,
        serde_json::json!({"success": false, "message": reason}),
    )
}

pub(crate) fn bytes_response(
    status: StatusCode,
    headers: Vec<(header::HeaderName, String)>,
    body: Bytes,
) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    for (k, v) in headers {
        if let Ok(v) = v.parse() {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}
