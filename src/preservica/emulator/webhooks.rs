//! Webhooks (contract §7.3): `POST/GET /api/webhook/subscriptions` and
//! `DELETE /api/webhook/subscriptions/{id}`, the challenge handshake on subscribe, and signed
//! deliveries when entities change.
//!
//! Invariant: every change [`Data::changed_by`] and `Data::insert` record (API writes,
//! archivist edits, ingests, test hooks) is announced here while the change is made, and
//! turns into one delivery per subscription whose trigger it matches (metadata, title,
//! identifiers, links, representations and creation → `FULL_TEXT_INDEXED`; a move → `MOVED`;
//! a security tag → `CHANGED_SECURITY_DESCRIPTOR`). Deliveries run on background tasks after
//! [`WebhookOptions::delay`], never inside the request that made the change; the pending
//! count rises when a delivery is announced and falls when it has been sent (or given up), so
//! [`PreservicaEmulator::webhooks_drained`] is exact. Duplicates are drawn from a seeded
//! generator in announcement order, so a test's run repeats.

use super::events::Change;
use super::{Call, Data, Entity, PreservicaEmulator, Shared, authorise, bad_request, json, text};
use crate::clock::Clock;
use crate::emulate::lock;
use crate::preservica::client::SUBSCRIPTIONS_PATH;
use crate::preservica::wire::{EntityKind, Version};
use crate::webhook::{SIGNATURE_HEADER, Trigger, challenge_response, sign_delivery};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Roles that may manage subscriptions (the contract: ConfigManager or Manager).
pub const WEBHOOK_ROLES: &[&str] = &[
    "ROLE_SDB_MANAGER_USER",
    "ROLE_SDB_CONFIG_MANAGER_USER",
    "ROLE_SDB_ADMIN_USER",
];
/// The first version with webhooks; older servers answer 404.
const FIRST_VERSION: Version = Version::new(6, 8, 0);
/// How long the subscriber may take to answer a challenge or a delivery.
const SUBSCRIBER_TIMEOUT: Duration = Duration::from_secs(10);

/// How `entityRef` is written in a delivery (the contract does not know which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefStyle {
    /// The bare ref, as pyPreservica expects.
    #[default]
    Bare,
    /// The entity's URL on this server (`…/api/entity/information-objects/{ref}`).
    Url,
}

/// How the emulator's webhooks behave.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookOptions {
    /// How long after a change its deliveries start.
    pub delay: Duration,
    /// Share of deliveries sent twice, byte for byte (0 to 1).
    pub duplicate_share: f64,
    /// Seed of the duplicate draw.
    pub seed: u64,
    pub ref_style: RefStyle,
    /// Whether listed subscriptions carry their `url`.
    pub list_urls: bool,
    /// Attempts per delivery while the subscriber fails (at least 1).
    pub attempts: u32,
    /// The wait after a failed attempt, times the attempt number.
    pub retry_backoff: Duration,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        WebhookOptions {
            delay: Duration::from_millis(100),
            duplicate_share: 0.0,
            seed: 1,
            ref_style: RefStyle::Bare,
            list_urls: true,
            attempts: 3,
            retry_backoff: Duration::from_millis(200),
        }
    }
}

/// One delivery the emulator made, for tests to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub subscription_id: String,
    pub url: String,
    pub trigger: Trigger,
    /// The bare ref of the entity the delivery names.
    pub entity_ref: String,
    pub body: Bytes,
    /// The `Preservica-Signature` sent.
    pub signature: String,
    /// The subscriber's last answer (`None`: it never answered).
    pub status: Option<u16>,
    pub attempts: u32,
    /// Whether this is the repeat of the delivery before it.
    pub duplicate: bool,
}

#[derive(Clone)]
struct Subscription {
    id: String,
    url: String,
    trigger: Trigger,
    secret: String,
    identifiers: bool,
}

/// One announced delivery, waiting for its time.
struct Job {
    sub: Subscription,
    kind: EntityKind,
    reference: String,
    identifiers: Vec<(String, String)>,
    copies: u32,
}

struct Inner {
    options: WebhookOptions,
    tenant: String,
    clock: Clock,
    subs: Mutex<Vec<Subscription>>,
    delivered: Mutex<Vec<Delivered>>,
    pending: AtomicUsize,
    rng: Mutex<StdRng>,
    http: reqwest::Client,
    /// This server's `http://host:port`, for refs written as URLs.
    origin: OnceLock<String>,
}

/// The subscriptions and the delivery queue. Dropping it ends the dispatcher.
pub(crate) struct Hub {
    inner: Arc<Inner>,
    tx: mpsc::UnboundedSender<Job>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("pending", &self.inner.pending.load(Ordering::SeqCst))
            .finish()
    }
}

impl Hub {
    /// A hub with its dispatcher running (needs a Tokio runtime).
    pub(crate) fn start(options: WebhookOptions, tenant: &str, clock: Clock) -> Arc<Hub> {
        let inner = Arc::new(Inner {
            rng: Mutex::new(StdRng::seed_from_u64(options.seed)),
            options,
            tenant: tenant.to_string(),
            clock,
            subs: Mutex::default(),
            delivered: Mutex::default(),
            pending: AtomicUsize::new(0),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(SUBSCRIBER_TIMEOUT)
                .build()
                .unwrap_or_default(),
            origin: OnceLock::new(),
        });
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let dispatcher = inner.clone();
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                let inner = dispatcher.clone();
                tokio::spawn(async move {
                    deliver(&inner, job).await;
                    inner.pending.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Arc::new(Hub { inner, tx })
    }

    pub(crate) fn set_origin(&self, origin: String) {
        let _ = self.inner.origin.set(origin);
    }

    /// Queues a delivery of `e`'s change to every subscription its trigger matches.
    fn announce(&self, e: &Entity, change: Change) {
        let trigger = trigger_of(change);
        let subs: Vec<Subscription> = lock(&self.inner.subs)
            .iter()
            .filter(|s| s.trigger == trigger)
            .cloned()
            .collect();
        for sub in subs {
            let share = self.inner.options.duplicate_share.clamp(0.0, 1.0);
            let twice = lock(&self.inner.rng).random_bool(share);
            self.inner.pending.fetch_add(1, Ordering::SeqCst);
            let job = Job {
                sub,
                kind: e.kind,
                reference: e.reference.clone(),
                identifiers: e
                    .identifiers
                    .iter()
                    .map(|i| (i.kind.clone(), i.value.clone()))
                    .collect(),
                copies: if twice { 2 } else { 1 },
            };
            if self.tx.send(job).is_err() {
                self.inner.pending.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

/// The trigger a change fires.
fn trigger_of(change: Change) -> Trigger {
    match change {
        Change::Moved => Trigger::Moved,
        Change::SecurityChanged => Trigger::ChangedSecurityDescriptor,
        _ => Trigger::FullTextIndexed,
    }
}

impl Data {
    /// Announces a change of the stored entity `reference` to the webhooks.
    pub(crate) fn announce(&self, reference: &str, change: Change) {
        if let (Some(hub), Some(e)) = (&self.webhooks, self.entities.get(reference)) {
            hub.announce(e, change);
        }
    }

    /// Announces the creation of `e` (about to be stored).
    pub(crate) fn announce_entity(&self, e: &Entity, change: Change) {
        if let Some(hub) = &self.webhooks {
            hub.announce(e, change);
        }
    }
}

/// The body of one delivery, as §7.3 shows it.
fn body_of(inner: &Inner, job: &Job) -> Bytes {
    let entity_ref = match inner.options.ref_style {
        RefStyle::Bare => job.reference.clone(),
        RefStyle::Url => format!(
            "{}/api/entity/{}/{}",
            inner.origin.get().map(String::as_str).unwrap_or_default(),
            job.kind.segment(),
            crate::ids::segment(&job.reference)
        ),
    };
    let mut event = serde_json::json!({"entityType": job.kind.code(), "entityRef": entity_ref});
    if job.sub.identifiers {
        let ids: Vec<serde_json::Value> = job
            .identifiers
            .iter()
            .map(|(k, v)| {
                let mut one = serde_json::Map::new();
                one.insert(k.clone(), v.clone().into());
                serde_json::Value::Object(one)
            })
            .collect();
        event["identifiers"] = ids.into();
    }
    let timestamp = inner
        .clock
        .now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let body = serde_json::json!({
        "subscriptionId": job.sub.id,
        "trigger": job.sub.trigger.wire(),
        "tenant": inner.tenant,
        "timestamp": timestamp,
        "events": [event],
    });
    Bytes::from(body.to_string())
}

/// Waits out the delay, then sends the job (twice when drawn so), recording each.
async fn deliver(inner: &Inner, job: Job) {
    tokio::time::sleep(inner.options.delay).await;
    let body = body_of(inner, &job);
    let signature = sign_delivery(job.sub.secret.as_bytes(), &body);
    for copy in 0..job.copies {
        let (status, attempts) = post(inner, &job.sub.url, &body, &signature).await;
        lock(&inner.delivered).push(Delivered {
            subscription_id: job.sub.id.clone(),
            url: job.sub.url.clone(),
            trigger: job.sub.trigger,
            entity_ref: job.reference.clone(),
            body: body.clone(),
            signature: signature.clone(),
            status,
            attempts,
            duplicate: copy > 0,
        });
    }
}

/// POSTs a delivery until the subscriber answers 2xx or the attempts run out; returns the
/// last status and the attempts made.
async fn post(inner: &Inner, url: &str, body: &Bytes, signature: &str) -> (Option<u16>, u32) {
    let attempts = inner.options.attempts.max(1);
    let mut status = None;
    for attempt in 1..=attempts {
        let sent = inner
            .http
            .post(url)
            .header("Content-Type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body.clone())
            .send()
            .await;
        status = sent.ok().map(|r| r.status().as_u16());
        if status.is_some_and(|s| (200..300).contains(&s)) {
            return (status, attempt);
        }
        if attempt < attempts {
            tokio::time::sleep(inner.options.retry_backoff * attempt).await;
        }
    }
    tracing::debug!(url, ?status, "webhook delivery given up");
    (status, attempts)
}

// ---------------------------------------------------------------------------------------
// The subscription endpoints.

/// Whether a path is one of the webhook endpoints.
pub(crate) fn is_webhook_path(path: &str) -> bool {
    path == SUBSCRIPTIONS_PATH || path.starts_with(&format!("{SUBSCRIPTIONS_PATH}/"))
}

/// Answers a webhook request: authorised, version and role checked, then routed.
pub(crate) async fn route(shared: &Arc<Shared>, call: Call) -> Response {
    if let Err(resp) = authorise(shared, &call) {
        return resp;
    }
    if shared.options.version < FIRST_VERSION {
        return text(
            StatusCode::NOT_FOUND,
            format!("no webhook API on {}", shared.options.version),
        );
    }
    let allowed = shared
        .options
        .roles
        .iter()
        .any(|r| WEBHOOK_ROLES.contains(&r.as_str()));
    if !allowed {
        return text(
            StatusCode::FORBIDDEN,
            "managing webhooks needs the ConfigManager or Manager role".into(),
        );
    }
    let hub = shared.webhooks.clone();
    let id = call
        .path
        .strip_prefix(SUBSCRIPTIONS_PATH)
        .and_then(|r| r.strip_prefix('/'))
        .map(str::to_string);
    match (call.method.clone(), id) {
        (Method::GET, None) => list(&hub),
        (Method::POST, None) => subscribe(&hub, &call).await,
        (Method::DELETE, Some(id)) => unsubscribe(&hub, &id),
        _ => text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} {} is not supported", call.method, call.path),
        ),
    }
}

fn list(hub: &Hub) -> Response {
    let items: Vec<serde_json::Value> = lock(&hub.inner.subs)
        .iter()
        .map(|s| {
            let mut item = serde_json::json!({"id": s.id, "triggerType": s.trigger.wire(),
                "includeIdentifiers": s.identifiers});
            if hub.inner.options.list_urls {
                item["url"] = s.url.clone().into();
            }
            item
        })
        .collect();
    json(StatusCode::OK, items.into())
}

fn unsubscribe(hub: &Hub, id: &str) -> Response {
    let mut subs = lock(&hub.inner.subs);
    let before = subs.len();
    subs.retain(|s| s.id != id);
    if subs.len() == before {
        return text(StatusCode::NOT_FOUND, format!("no subscription {id}"));
    }
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(axum::body::Body::empty())
        .unwrap_or_default()
}

/// Reads the subscribe body, performs the challenge and stores the subscription.
async fn subscribe(hub: &Hub, call: &Call) -> Response {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&call.body) else {
        return bad_request("the body is not JSON");
    };
    let Some(url) = body["url"]
        .as_str()
        .and_then(|u| url::Url::parse(u).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
    else {
        return bad_request("url must be an http or https URL");
    };
    let Some(trigger) = body["triggerType"].as_str().and_then(Trigger::from_wire) else {
        return bad_request("triggerType is missing or not a known trigger type");
    };
    let Some(secret) = body["secret"].as_str().filter(|s| !s.is_empty()) else {
        return bad_request("secret is required");
    };
    let identifiers = matches!(&body["includeIdentifiers"], serde_json::Value::Bool(true))
        || body["includeIdentifiers"].as_str() == Some("true");
    if let Err(why) = challenge(&hub.inner.http, &url, secret).await {
        return text(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the subscriber at {url} failed the challenge: {why}"),
        );
    }
    let sub = Subscription {
        id: uuid::Uuid::new_v4().to_string(),
        url: body["url"].as_str().unwrap_or_default().to_string(),
        trigger,
        secret: secret.to_string(),
        identifiers,
    };
    let answer = serde_json::json!({"id": sub.id, "url": sub.url, "triggerType": trigger.wire(),
        "includeIdentifiers": identifiers});
    lock(&hub.inner.subs).push(sub);
    json(StatusCode::OK, answer)
}

/// The handshake: POST `url?challengeCode=…` and check the answer's `challengeResponse`.
async fn challenge(http: &reqwest::Client, url: &url::Url, secret: &str) -> Result<(), String> {
    let code = uuid::Uuid::new_v4().to_string();
    let mut target = url.clone();
    target.query_pairs_mut().append_pair("challengeCode", &code);
    let resp = http
        .post(target)
        .send()
        .await
        .map_err(|e| format!("it could not be reached ({e})"))?;
    if !resp.status().is_success() {
        return Err(format!("it answered {}", resp.status().as_u16()));
    }
    let answer: serde_json::Value = resp
        .json()
        .await
        .map_err(|_| "its answer is not JSON".to_string())?;
    let expected = challenge_response(secret.as_bytes(), &code);
    match answer["challengeResponse"].as_str() {
        Some(r) if r.eq_ignore_ascii_case(&expected) => Ok(()),
        Some(_) => Err("its challengeResponse is not HMAC-SHA256(secret, challengeCode)".into()),
        None => Err("its answer has no challengeResponse".into()),
    }
}

impl PreservicaEmulator {
    /// Every webhook delivery made so far, in the order they finished.
    pub fn webhook_deliveries(&self) -> Vec<Delivered> {
        lock(&self.shared.webhooks.inner.delivered).clone()
    }

    /// Deliveries announced and not yet sent (or given up).
    pub fn webhooks_pending(&self) -> usize {
        self.shared.webhooks.inner.pending.load(Ordering::SeqCst)
    }

    /// Waits until no delivery is pending, at most `timeout`; whether it got there.
    pub async fn webhooks_drained(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.webhooks_pending() > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// The subscriptions held, as (id, url, trigger).
    pub fn webhook_subscriptions(&self) -> Vec<(String, String, Trigger)> {
        lock(&self.shared.webhooks.inner.subs)
            .iter()
            .map(|s| (s.id.clone(), s.url.clone(), s.trigger))
            .collect()
    }
}
