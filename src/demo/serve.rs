//! `ferry demo --serve`: after the demo, the web app joins the still running emulators
//! until a stop signal.

use super::{DemoError, DemoResult};
use crate::mapping::Mapping;
use crate::world::{World, loopback};

/// `ferry demo --serve` after the demo: the web app (no nightly schedule) joins the still
/// running emulators, on `server.listen` from the demo's config when that is free, else on a
/// free loopback port. Prints every URL and commands to try, then waits for `stop` (listen
/// for signals before calling, so none is lost); then stops the web app and both emulators,
/// in that order, and returns what `stop` named.
pub async fn serve_demo(
    world: World,
    result: &DemoResult,
    stop: impl std::future::Future<Output = &'static str> + Send + 'static,
    say: &mut dyn FnMut(String),
) -> Result<&'static str, DemoError> {
    let config_error = |reason: String| DemoError::Config {
        path: result.config.clone(),
        reason,
    };
    let config = crate::config::Config::load(&result.config, &crate::config::Env::from_process())
        .map_err(|e| config_error(e.to_string()))?;
    let mapping = Mapping::load(&config.mapping).map_err(|e| config_error(e.to_string()))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(None);
    tokio::spawn(async move {
        let _ = stop_tx.send(Some(stop.await));
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<Option<&'static str>>| async move {
        let _ = rx.wait_for(Option::is_some).await;
    };
    let options = |listen| crate::server::ServerOptions {
        listen,
        access_token: config.server.access_token.clone(),
        store_path: config.paths.store.clone(),
        index_dir: config.paths.index.clone(),
        reports_dir: config.paths.reports.clone(),
        mapping: mapping.clone(),
        index: None,
        republisher: crate::app::Republisher::from_config(&config),
        thumbnails: config.thumbnails.clone(),
        live: None,
    };
    let running =
        match crate::server::start(options(config.server.listen), stopped(stop_rx.clone())).await {
            Err(crate::server::ServerError::Bind { .. }) => {
                crate::server::start(options(loopback()), stopped(stop_rx.clone())).await?
            }
            other => other?,
        };
    // Absolute, so the commands work from another terminal in any directory.
    let cfg = std::fs::canonicalize(&result.config).unwrap_or_else(|_| result.config.clone());
    let cfg = cfg.display();
    say(format!(
        "\nEverything stays up until Ctrl-C:\n  web app:      {}\n  PhotoShelter: {} (emulator)\n  Preservica:   {} (emulator)",
        running.url(),
        world.photoshelter.url(),
        world.preservica.url()
    ));
    say("\nIn another terminal, try:".into());
    for command in [
        "status",
        "conflicts list",
        "search harbour regatta --facets",
        "sync",
        "archive",
        "republish --query \"harbour regatta\" --to-gallery \"Regatta picks\" --dry-run",
        "report",
    ] {
        say(format!("  ferry --config {cfg} {command}"));
    }
    running.wait().await?;
    world.stop().await;
    let signal = stop_rx.borrow().unwrap_or("a stop request");
    say(format!(
        "\nStopped ({signal}): the web app and both emulators. The store, index and reports stay in {}.",
        result.dir.display()
    ));
    Ok(signal)
}
