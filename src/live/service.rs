//! The live loop: wait for the queue or the poll timer, poll what changed, and run a live run
//! over what is queued; on start and stop, the Preservica webhook subscriptions.
//!
//! Invariant: an id taken from the queue is either read by a live run that started, or put
//! back (another run held the lock, the store could not be opened): a busy lock delays a
//! correction, it never drops one.

use super::{LiveHandle, LiveMetrics, Taken};
use crate::app::Ferry;
use crate::config::Secret;
use crate::model::System;
use crate::preservica::wire::EntityKind;
use crate::sync::{SyncError, SyncOutcome, run_scoped};
use chrono::{DateTime, Utc};
use std::future::Future;
use std::time::Duration;

/// How far back a live poll of Preservica reaches before its cursor: a change made while the
/// last listing ran is not missed (a longer overlap would read the same records every poll).
const POLL_OVERLAP: Duration = Duration::from_secs(2);

/// How the loop paces itself.
#[derive(Debug, Clone, Copy)]
pub struct LiveOptions {
    /// How often PhotoShelter is asked what changed (`photoshelter_poll_secs`).
    pub poll: Duration,
    /// Whether Preservica is polled too (its webhooks are unavailable).
    pub poll_preservica: bool,
    /// How long a run waits after the first queued id for others: a burst of events becomes
    /// one run.
    pub settle: Duration,
    /// How long to wait before trying again while another run holds the lock.
    pub retry: Duration,
}

impl LiveOptions {
    pub fn from_config(live: &crate::config::LiveConfig) -> LiveOptions {
        LiveOptions {
            poll: Duration::from_secs(live.photoshelter_poll_secs),
            poll_preservica: false,
            settle: Duration::from_secs(2),
            retry: Duration::from_secs(5),
        }
    }
}

/// What one step of the loop did.
#[derive(Debug)]
pub enum LiveStep {
    /// Nothing was queued.
    Idle,
    /// A live run ran.
    Ran(Box<SyncOutcome>),
    /// The queue waits: why (another run holds the lock, a lockout, a store error).
    Waiting(String),
}

/// Runs one live run over what is queued, then feeds the counters and the lag histogram.
pub async fn live_once(ferry: &Ferry, handle: &LiveHandle) -> LiveStep {
    let taken = handle.take();
    if taken.scope.is_empty() {
        return LiveStep::Idle;
    }
    let mut store = match ferry.open_store() {
        Ok(s) => s,
        Err(e) => {
            handle.put_back(taken);
            return LiveStep::Waiting(format!("{e:#}"));
        }
    };
    let ctx = ferry.sync_context(None);
    match run_scoped(&mut store, &ctx, &taken.scope).await {
        Ok(out) => {
            account(handle.metrics(), &taken, &out, ferry.settings.clock.now());
            ferry.after_run(&store, &out.touched);
            LiveStep::Ran(Box::new(out))
        }
        Err(e) => {
            // The run did not start (lock, lockout) or could not record itself: nothing was
            // read, so the ids wait for the next try.
            let why = match &e {
                // Said the same way at each try, so the loop logs it once.
                SyncError::Locked(h) => format!(
                    "another ferry run holds the lock (pid {} on {})",
                    h.owner_pid, h.host
                ),
                other => other.to_string(),
            };
            if !matches!(e, SyncError::Locked(_) | SyncError::LockedOut(_)) {
                tracing::error!(error = %why, "live run failed; its changes wait for the next try");
            }
            handle.put_back(taken);
            LiveStep::Waiting(why)
        }
    }
}

/// The counters of one live run: ids applied or left, corrections and their lag (edit time
/// to now, when the correction has been read back).
fn account(m: &LiveMetrics, taken: &Taken, out: &SyncOutcome, now: DateTime<Utc>) {
    let failed = out.report.failures.len() as u64;
    let left = out.left_for_nightly.len() as u64;
    let applied = (taken.edited.len() as u64).saturating_sub(left + failed);
    LiveMetrics::add(&m.events_applied, applied);
    LiveMetrics::add(&m.events_unpaired, left);
    for row in out.report.fields.iter().filter(|r| r.write_state == "done") {
        LiveMetrics::add(&m.corrections, 1);
        let edited = [
            row.preservica_ref.clone().map(|r| (System::Preservica, r)),
            row.photoshelter_id
                .clone()
                .map(|i| (System::PhotoShelter, i)),
        ]
        .into_iter()
        .flatten()
        .filter_map(|key| taken.edited.get(&key))
        .min();
        if let Some(at) = edited {
            m.observe_lag((now - *at).num_milliseconds() as f64 / 1000.0);
        }
    }
}

/// Where the live polls have got to.
#[derive(Debug, Clone, Copy)]
pub struct Cursors {
    pub photoshelter: DateTime<Utc>,
    pub preservica: DateTime<Utc>,
}

impl Cursors {
    /// Where the last nightly run's pulls got to (so nothing changed since is missed), or now.
    pub fn start(ferry: &Ferry) -> Cursors {
        let now = ferry.settings.clock.now();
        let stored = |system| {
            ferry
                .open_store()
                .ok()
                .and_then(|s| s.cursor(system).ok().flatten())
                .and_then(|c| DateTime::parse_from_rfc3339(&c).ok())
                .map(|c| c.with_timezone(&Utc).min(now))
                .unwrap_or(now)
        };
        Cursors {
            photoshelter: stored(System::PhotoShelter),
            preservica: stored(System::Preservica),
        }
    }
}

/// Asks PhotoShelter (and Preservica when `preservica`) what changed since the cursors and
/// queues it; a cursor moves only when its listing succeeded.
pub async fn poll_once(
    ferry: &Ferry,
    handle: &LiveHandle,
    cursors: &mut Cursors,
    preservica: bool,
) {
    let scope = crate::photoshelter::client::Scope::Account;
    match ferry
        .photoshelter
        .list_changed(cursors.photoshelter, &scope)
        .await
    {
        Ok(listing) => {
            let now = ferry.settings.clock.now();
            handle.enqueue(
                System::PhotoShelter,
                listing
                    .media
                    .into_iter()
                    .map(|m| (m.id, m.modified_at.map_or(now, |t| t.min(now)))),
            );
            cursors.photoshelter = listing.next_cursor;
        }
        Err(e) => {
            tracing::warn!(error = %e, "live: the PhotoShelter change poll failed; trying again at the next poll")
        }
    }
    if !preservica {
        return;
    }
    let started = ferry.settings.clock.now();
    match ferry
        .preservica
        .updated_since(cursors.preservica, POLL_OVERLAP)
        .await
    {
        Ok(entities) => {
            handle.enqueue(
                System::Preservica,
                entities
                    .into_iter()
                    .filter(|e| e.kind == Some(EntityKind::Asset) && !e.deleted)
                    .map(|e| (e.reference, started)),
            );
            cursors.preservica = started;
        }
        Err(e) => {
            tracing::warn!(error = %e, "live: the Preservica updated-since poll failed; trying again at the next poll")
        }
    }
}

/// The loop: polls every `opts.poll`, and runs a live run once something is queued (after
/// `opts.settle`, so a burst is one run), until `stop` resolves. A run in progress finishes
/// first.
pub async fn run_live(
    ferry: &Ferry,
    handle: &LiveHandle,
    opts: LiveOptions,
    stop: impl Future<Output = ()>,
) {
    let mut cursors = Cursors::start(ferry);
    let mut stop = std::pin::pin!(stop);
    let mut next_poll = tokio::time::Instant::now();
    let mut waiting: Option<String> = None;
    loop {
        let wake_at = if waiting.is_some() {
            (tokio::time::Instant::now() + opts.retry).min(next_poll)
        } else {
            next_poll
        };
        tokio::select! {
            _ = &mut stop => return,
            _ = handle.woken() => tokio::time::sleep(opts.settle).await,
            _ = tokio::time::sleep_until(wake_at) => {}
        }
        if tokio::time::Instant::now() >= next_poll {
            poll_once(ferry, handle, &mut cursors, opts.poll_preservica).await;
            next_poll = tokio::time::Instant::now() + opts.poll;
        }
        match live_once(ferry, handle).await {
            LiveStep::Waiting(why) => {
                if waiting.as_deref() != Some(why.as_str()) {
                    tracing::warn!(reason = %why, queued = handle.queued(), "live: changes wait");
                }
                waiting = Some(why);
            }
            LiveStep::Ran(out) => {
                waiting = None;
                tracing::info!(
                    run = out.run_id,
                    exit = out.outcome.code(),
                    "live run finished"
                );
            }
            LiveStep::Idle => waiting = None,
        }
    }
}

/// `ferry serve`'s live mode: subscribes to Preservica's webhooks (or, if that fails, polls
/// Preservica too), runs the loop until `stop`, then removes its subscriptions.
pub async fn serve_live(
    ferry: Ferry,
    handle: LiveHandle,
    live: crate::config::LiveConfig,
    stop: impl Future<Output = ()>,
) {
    let mut opts = LiveOptions::from_config(&live);
    let url = live.webhook_url().unwrap_or_default();
    let secret = live
        .webhook_secret
        .clone()
        .unwrap_or_else(|| Secret::new(String::new()));
    let triggers = crate::webhook::subscriptions::LIVE_TRIGGERS;
    match crate::webhook::subscriptions::renew(&ferry.preservica, &url, &secret, triggers).await {
        Ok(renewed) => {
            tracing::info!(url = %url, subscribed = ?renewed.subscribed, refused = ?renewed.refused, "live: subscribed to Preservica's webhooks");
        }
        Err(e) => {
            opts.poll_preservica = true;
            tracing::warn!(
                url = %url,
                error = %e,
                every_secs = opts.poll.as_secs(),
                "live: could not subscribe to Preservica's webhooks; polling Preservica for changes instead (`ferry doctor` checks the webhook API)"
            );
        }
    }
    run_live(&ferry, &handle, opts, stop).await;
    match crate::webhook::subscriptions::remove_own(&ferry.preservica, &url).await {
        Ok(n) => tracing::info!(removed = n, "live: removed ferry's webhook subscriptions"),
        Err(e) => {
            tracing::warn!(error = %e, "live: could not remove ferry's webhook subscriptions; the next start removes them")
        }
    }
}
