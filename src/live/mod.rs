//! The live mode of `ferry serve`: between nightly runs, keep paired assets within minutes of
//! each other. Preservica says what changed through webhooks (`POST /webhooks/preservica`,
//! signed deliveries); PhotoShelter, which has no push, is asked what changed every
//! `photoshelter_poll_secs` (and Preservica too, while its webhooks are unavailable). The ids
//! go into one queue; a live run takes it and goes through the nightly run's own steps on just
//! those records ([`crate::sync::run_scoped`]: same lock, engine, guard and outbox).
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | [`LiveHandle`]: the secret, the queue and the counters the web app shares |
//! | `queue.rs` | de-duplicated ids with their edit times; replayed deliveries |
//! | `service.rs` | the loop: polls, live runs, lag; subscriptions on start and stop |
//! | `metrics.rs` | counters and the lag histogram for `/metrics` |
//!
//! Invariant: nothing reaches the queue from a delivery whose signature over its raw body did
//! not verify, and a delivery is acted on once however often it is delivered.

pub mod metrics;
pub mod queue;
pub mod service;

use crate::config::Secret;
use crate::model::System;
use crate::webhook::{delivery, signature};
use chrono::{DateTime, Utc};
use metrics::LiveMetrics;
use queue::{Queue, Taken};
use std::sync::{Arc, Mutex};

pub use service::{LiveOptions, LiveStep, live_once, run_live};

/// What the web app and the live loop share: cheap to clone.
#[derive(Clone)]
pub struct LiveHandle(Arc<Inner>);

struct Inner {
    secret: Secret,
    queue: Mutex<Queue>,
    wake: tokio::sync::Notify,
    metrics: LiveMetrics,
}

impl std::fmt::Debug for LiveHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveHandle")
            .field("secret", &self.0.secret)
            .field("queued", &self.queued())
            .finish()
    }
}

/// How a delivery was taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Verified and new: this many entity events were queued (after de-duplication of ids,
    /// the queue may have grown by fewer).
    Queued(usize),
    /// Verified, but seen before: dropped.
    Replayed,
}

/// Why a delivery was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Signature(#[from] signature::SignatureError),
    #[error("{0}")]
    Body(#[from] delivery::DeliveryError),
}

impl LiveHandle {
    pub fn new(secret: Secret) -> LiveHandle {
        LiveHandle(Arc::new(Inner {
            secret,
            queue: Mutex::new(Queue::default()),
            wake: tokio::sync::Notify::new(),
            metrics: LiveMetrics::default(),
        }))
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.0.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The answer to a subscription's challenge code.
    pub fn challenge_response(&self, code: &str) -> String {
        signature::challenge_response(self.0.secret.expose().as_bytes(), code)
    }

    /// Takes in one delivery: checks its signature over the raw body, drops it if seen
    /// before, and queues the assets it names (or whose kind it does not say).
    pub fn receive(
        &self,
        body: &[u8],
        signature: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Received, Refused> {
        let m = &self.0.metrics;
        if let Err(e) =
            signature::verify_delivery(self.0.secret.expose().as_bytes(), body, signature)
        {
            LiveMetrics::add(&m.deliveries_refused, 1);
            return Err(e.into());
        }
        let delivery = delivery::parse_delivery(body)?;
        let id = delivery::delivery_id(body);
        let mut queue = self.queue();
        if queue.seen_before(&id, std::time::Instant::now()) {
            LiveMetrics::add(&m.deliveries_replayed, 1);
            return Ok(Received::Replayed);
        }
        // The event's own time when it gives one that is not in the future; else now.
        let edited = delivery
            .timestamp
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc).min(now))
            .unwrap_or(now);
        let assets: Vec<&delivery::EntityEvent> = delivery
            .events
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    None | Some(crate::preservica::wire::EntityKind::Asset)
                )
            })
            .collect();
        for e in &assets {
            queue.push(System::Preservica, &e.entity_ref, edited);
        }
        drop(queue);
        LiveMetrics::add(&m.events_received, delivery.events.len() as u64);
        if !assets.is_empty() {
            self.0.wake.notify_one();
        }
        Ok(Received::Queued(assets.len()))
    }

    /// Queues ids a poll found changed, each with when it was edited.
    pub fn enqueue(&self, system: System, ids: impl IntoIterator<Item = (String, DateTime<Utc>)>) {
        let mut queue = self.queue();
        let before = queue.len();
        for (id, at) in ids {
            queue.push(system, &id, at);
        }
        let grew = queue.len() > before;
        drop(queue);
        if grew {
            self.0.wake.notify_one();
        }
    }

    /// Ids waiting for a live run.
    pub fn queued(&self) -> usize {
        self.queue().len()
    }

    pub fn metrics(&self) -> &LiveMetrics {
        &self.0.metrics
    }

    fn take(&self) -> Taken {
        self.queue().take()
    }

    fn put_back(&self, taken: Taken) {
        self.queue().put_back(taken);
    }

    /// Resolves when something was queued since the last call.
    async fn woken(&self) {
        self.0.wake.notified().await;
    }
}
