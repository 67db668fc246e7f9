//! Live sync's lag: from a title edited in Preservica to the corrected title in PhotoShelter,
//! through the whole path a tenant would take. Both emulators on loopback at 20 ms per answer
//! (logins exempt); ferry's web app on loopback with `[live]` on; ferry subscribes at its
//! endpoint (answering the emulator's challenge); the emulator signs and sends a delivery
//! 100 ms after each change; the live loop runs with the defaults of `ferry serve` (a run
//! waits 2 s after the first event for others, so a burst becomes one run).
//!
//! ```text
//! cargo bench --bench live                           # 20 edits, one after another
//! FERRY_BENCH_EDITS=50 cargo bench --bench live
//! ```
//!
//! Prints the lag's median, 95th percentile and maximum. A benchmark, not a test.

mod common;

use common::{Server, env_usize};
use std::time::{Duration, Instant};

const SECRET: &str = "bench-live-secret-0123456789";

fn main() {
    let edits = env_usize("FERRY_BENCH_EDITS", 20);
    let server = Server {
        latency: Duration::from_millis(env_usize("FERRY_BENCH_LATENCY_MS", 20) as u64),
        max_in_flight: None,
    };
    let mapping = common::default_mapping();
    common::runtime().block_on(async {
        let world = common::world(edits.max(1), server, &mapping).await;
        let dir = tempfile::tempdir().unwrap();
        let extra = "[live]\nenabled = true\npublic_url = \"https://ferry.example.org\"\n\
                     webhook_secret_file = \"secrets/live-webhook-secret\"\n";
        let path = ferry::world::write_config(dir.path(), &world, extra).unwrap();
        ferry::private_fs::write_private(&dir.path().join("secrets/live-webhook-secret"), SECRET)
            .unwrap();
        let config = ferry::config::Config::load(&path, &ferry::config::Env::empty()).unwrap();
        let ferry = ferry::app::Ferry::open(&config).unwrap();
        let mut store = ferry.open_store().unwrap();
        ferry::sync::run_sync(
            &mut store,
            &ferry.sync_context(None),
            &ferry::sync::SyncOptions::default(),
        )
        .await
        .expect("the first sync pairs the library");
        let secret = config.live.webhook_secret.clone().unwrap();
        let handle = ferry::live::LiveHandle::new(secret.clone());
        let app = ferry::server::start(
            ferry::server::ServerOptions {
                listen: "127.0.0.1:0".parse().unwrap(),
                access_token: None,
                store_path: config.paths.store.clone(),
                index_dir: config.paths.index.clone(),
                reports_dir: config.paths.reports.clone(),
                mapping: mapping.clone(),
                index: None,
                republisher: None,
                thumbnails: Default::default(),
                live: Some(handle.clone()),
            },
            std::future::pending(),
        )
        .await
        .unwrap();
        let url = format!("{}/webhooks/preservica", app.url());
        let triggers = ferry::webhook::subscriptions::LIVE_TRIGGERS;
        ferry::webhook::subscriptions::renew(&ferry.preservica, &url, &secret, triggers)
            .await
            .expect("ferry subscribes at its endpoint");

        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let rt = tokio::runtime::Handle::current();
        let (looped, opts) = (
            handle.clone(),
            ferry::live::LiveOptions::from_config(&config.live),
        );
        let live_ferry = ferry::app::Ferry::open(&config).unwrap();
        let task = tokio::task::spawn_blocking(move || {
            rt.block_on(ferry::live::run_live(&live_ferry, &looped, opts, async {
                let _ = stopped.await;
            }))
        });
        let mut lags = Vec::new();
        for (i, (media, reference)) in world.pairs.iter().take(edits).enumerate() {
            let title = format!("Edited in the archive ({i})");
            world.preservica.set_title(reference, &title);
            let edited = Instant::now();
            let deadline = edited + Duration::from_secs(60);
            let arrived = loop {
                let now = world.photoshelter.record(media).and_then(|r| {
                    r.iptc
                        .get("title")
                        .and_then(|v| v.as_str().map(str::to_owned))
                });
                if now.as_deref() == Some(title.as_str()) {
                    break true;
                }
                if Instant::now() > deadline {
                    break false;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            };
            if arrived {
                lags.push(edited.elapsed().as_secs_f64());
            } else {
                println!("live.edit_{i} did not arrive within 60 s");
            }
        }
        let _ = stop.send(());
        task.await.unwrap();
        ferry::webhook::subscriptions::remove_own(&ferry.preservica, &url)
            .await
            .ok();
        lags.sort_by(f64::total_cmp);
        let at = |q: f64| lags[((lags.len() as f64 - 1.0) * q).round() as usize];
        println!("live.latency_ms {}", server.latency.as_millis());
        println!("live.edits {edits}");
        println!("live.corrected {}", lags.len());
        if !lags.is_empty() {
            println!("live.lag_p50_s {:.2}", at(0.5));
            println!("live.lag_p95_s {:.2}", at(0.95));
            println!("live.lag_max_s {:.2}", at(1.0));
        }
        world.stop().await;
    });
}
