//! `ferry serve`: the web app over the config's store, index and reports, (unless asked not
//! to) the nightly job on its schedule, and with `[live] enabled` the live mode beside it
//! (they share the run lock, so their runs never overlap), until SIGINT or SIGTERM.

use super::{Republisher, ServerOptions, SharedIndex};
use crate::config::Config;
use crate::mapping::Mapping;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long `ferry serve` lets a running sync finish once asked to stop: under the 30
/// minutes `contrib/ferry.service` gives before systemd kills the process, so ferry ends on
/// its own terms.
const STOP_GRACE: Duration = Duration::from_secs(25 * 60);

/// Why `ferry serve` could not start or stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Mapping(#[source] crate::mapping::MappingError),
    #[error("{0}")]
    Index(#[source] crate::index::IndexError),
    #[error("schedule.nightly: {0}")]
    Schedule(String),
    #[error("{0}")]
    Server(#[source] super::ServerError),
    #[error("live mode: {0}")]
    Live(String),
}

/// Runs the web app (and the nightly job unless `no_schedule`) until a stop signal; `say`
/// receives the lines for the operator. Returns the signal that stopped it.
pub async fn serve(
    config: Config,
    no_schedule: bool,
    say: &mut dyn FnMut(String),
) -> Result<&'static str, ServeError> {
    let mapping = Mapping::load(&config.mapping).map_err(ServeError::Mapping)?;
    let mut index =
        crate::index::SearchIndex::open(&config.paths.index).map_err(ServeError::Index)?;
    index.set_mapping(mapping.clone());
    let index: SharedIndex = Arc::new(Mutex::new(index));
    let schedule = crate::schedule::Schedule::parse(&config.schedule.nightly)
        .map_err(|e| ServeError::Schedule(e.to_string()))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (signal_tx, signal_rx) = tokio::sync::oneshot::channel();
    // Listening starts here, before the server says it is up, so an early SIGTERM is not lost
    // to the default action.
    let stop = super::stop_signal();
    tokio::spawn(async move {
        let signal = stop.await;
        tracing::info!(
            signal,
            "stopping: no new sync starts; a running one may finish"
        );
        let _ = signal_tx.send(signal);
        let _ = stop_tx.send(true);
    });
    let live = live_mode(&config, &mapping)?;
    let options = ServerOptions {
        listen: config.server.listen,
        access_token: config.server.access_token.clone(),
        store_path: config.paths.store.clone(),
        index_dir: config.paths.index.clone(),
        reports_dir: config.paths.reports.clone(),
        mapping: mapping.clone(),
        index: Some(index),
        republisher: Republisher::from_config(&config),
        thumbnails: config.thumbnails.clone(),
        live: live.as_ref().map(|(_, handle)| handle.clone()),
    };
    let running = super::start(options, stopped(stop_rx.clone()))
        .await
        .map_err(ServeError::Server)?;
    say(format!("ferry web app: {}", running.url()));
    let live = live.map(|(ferry, handle)| {
        say(format!(
            "live mode: webhooks at {}, PhotoShelter polled every {} s",
            config.live.webhook_url().unwrap_or_default(),
            config.live.photoshelter_poll_secs
        ));
        // As the nightly job: a sync future is not Send, so the loop runs on a thread of its
        // own, driven by this runtime.
        let (rt, live, stop) = (
            tokio::runtime::Handle::current(),
            config.live.clone(),
            stop_rx.clone(),
        );
        tokio::task::spawn_blocking(move || {
            rt.block_on(crate::live::service::serve_live(
                ferry,
                handle,
                live,
                stopped(stop),
            ))
        })
    });
    let service = (!no_schedule).then(|| nightly_service(config, mapping, schedule, stop_rx, say));
    running.wait().await.map_err(ServeError::Server)?;
    if let Some(service) = service {
        let _ = service.await;
    }
    if let Some(live) = live {
        let _ = live.await;
    }
    Ok(signal_rx.await.unwrap_or("a stop request"))
}

/// With `[live] enabled`: the clients the live loop uses and the handle it shares with the
/// web app.
fn live_mode(
    config: &Config,
    mapping: &Mapping,
) -> Result<Option<(crate::app::Ferry, crate::live::LiveHandle)>, ServeError> {
    if !config.live.enabled {
        return Ok(None);
    }
    let secret = config.live.webhook_secret.clone().ok_or_else(|| {
        ServeError::Live(
            "no webhook secret (FERRY_LIVE_WEBHOOK_SECRET or live.webhook_secret_file)".into(),
        )
    })?;
    let ferry = crate::app::Ferry::with_mapping(config, mapping.clone())
        .map_err(|e| ServeError::Live(format!("{e:#}")))?;
    Ok(Some((ferry, crate::live::LiveHandle::new(secret))))
}

async fn stopped(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// Starts the nightly job's service ([`crate::app::nightly::scheduled_sync`] on the schedule).
fn nightly_service(
    config: Config,
    mapping: Mapping,
    schedule: crate::schedule::Schedule,
    stop_rx: tokio::sync::watch::Receiver<bool>,
    say: &mut dyn FnMut(String),
) -> tokio::task::JoinHandle<()> {
    let clock = crate::clock::Clock::system();
    let nightly = crate::schedule::Nightly::new(schedule, clock.now());
    say(format!(
        "nightly sync: \"{}\" (UTC), next at {}",
        config.schedule.nightly,
        nightly
            .next()
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| "never".into())
    ));
    let notifier = crate::notify::Notifier::new(&config.notify);
    let config = Arc::new(config);
    let job = move || crate::app::nightly::scheduled_sync(config.clone(), mapping.clone());
    tokio::spawn(crate::schedule::run_service(
        nightly,
        clock,
        Duration::from_secs(30),
        notifier,
        job,
        crate::schedule::Stop {
            signal: stopped(stop_rx),
            grace: STOP_GRACE,
        },
    ))
}
