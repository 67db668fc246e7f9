//! The remote cycle: both emulators on loopback, every answer delayed by a fixed latency (20 ms
//! by default, as from a SaaS tenant across a continent), a library mirrored in both systems.
//!
//! ```text
//! cargo bench --bench cycle                                   # 1,000 pairs (seconds)
//! FERRY_BENCH_ASSETS=100000 cargo bench --bench cycle         # 100k pairs (by hand)
//! FERRY_BENCH_SCALING=1 cargo bench --bench cycle             # also concurrency 1..16
//! ```
//!
//! Runs a full first cycle, changes 1% of the assets (half in each system, as people would,
//! straight in the emulators), runs the nightly incremental cycle, and prints wall time,
//! requests per system and requests per changed asset. With `FERRY_BENCH_SCALING=1` it also
//! runs the full cycle on `FERRY_BENCH_SCALING_ASSETS` pairs (default 300) at concurrency 1, 2,
//! 4, 8 and 16. One figure per line. A benchmark, not a test: nothing is asserted.

use ferry::app::{Parts, Settings};
use ferry::emulate::FaultOptions;
use ferry::mapping::Mapping;
use ferry::photoshelter::client::PhotoShelterClient;
use ferry::preservica::client::PreservicaClient;
use ferry::store::Store;
use ferry::sync::{SyncOptions, run_sync};
use ferry::world::{World, WorldOptions, start_world};
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn world(pairs: usize, latency: Duration, mapping: &Mapping) -> World {
    let w = start_world(
        &WorldOptions {
            media: pairs,
            seed: 7,
            faults: FaultOptions {
                latency,
                // Logins stay fast, so the figures are about the data calls.
                exempt_prefixes: vec![
                    "/api/accesstoken".into(),
                    "/psapi/v4.0/authenticate".into(),
                    "/psapi/v3/mem/authenticate".into(),
                ],
                ..FaultOptions::default()
            },
            mirror_documents: true,
            ..WorldOptions::default()
        },
        mapping,
    )
    .await
    .expect("the emulators start");
    // Everything was last touched two days ago, as in a library synced every night: the
    // incremental listing's overlap window then holds only tonight's changes.
    let before = chrono::Utc::now() - chrono::Duration::days(2);
    for (media, reference) in &w.pairs {
        w.photoshelter.set_modified_at(media, before);
        w.preservica.set_modified(reference, before);
    }
    w
}

struct Cycle {
    seconds: f64,
    photoshelter: u64,
    preservica: u64,
    pairs: u64,
    /// Pairs compared (the rest were settled and left alone).
    compared: u64,
    pushed: u64,
}

async fn cycle(
    world: &World,
    mapping: &Mapping,
    store: &mut Store,
    reports: &std::path::Path,
    concurrency: usize,
    full: bool,
) -> Cycle {
    let mut ps_config = world.photoshelter_config();
    ps_config.concurrency = concurrency;
    let mut pv_conn = world.preservica_connection();
    pv_conn.http.concurrency = concurrency;
    let ps = PhotoShelterClient::new(&ps_config).unwrap();
    let pv = PreservicaClient::new(pv_conn).unwrap();
    let settings = Settings {
        max_change_share: 1.0,
        min_assets: u64::MAX,
        concurrency_photoshelter: concurrency,
        concurrency_preservica: concurrency,
        reports_dir: reports.to_path_buf(),
        ..Settings::default()
    };
    let parts = Parts {
        mapping,
        photoshelter: &ps,
        preservica: &pv,
    };
    let ctx = parts.sync_context(&settings, None);
    let started = Instant::now();
    let out = run_sync(
        store,
        &ctx,
        &SyncOptions {
            full,
            ..SyncOptions::default()
        },
    )
    .await
    .expect("the cycle runs");
    let s = &out.report.summary;
    Cycle {
        seconds: started.elapsed().as_secs_f64(),
        photoshelter: s.api_calls_photoshelter.requests,
        preservica: s.api_calls_preservica.requests,
        pairs: s.pairs,
        compared: s.pairs - s.pairs_unchanged,
        pushed: s.pushed_to_photoshelter + s.pushed_to_preservica,
    }
}

/// Changes `n` assets, half a caption in PhotoShelter, half a title in Preservica.
fn change(world: &World, n: usize) -> usize {
    let step = (world.pairs.len() / n.max(1)).max(1);
    let mut changed = 0;
    for (i, (media, reference)) in world.pairs.iter().step_by(step).take(n).enumerate() {
        if i % 2 == 0 {
            world.photoshelter.set_iptc(
                media,
                "caption",
                Some(&format!("Recaptioned tonight ({i})")),
            );
        } else {
            world
                .preservica
                .set_title(reference, &format!("Catalogued tonight ({i})"));
        }
        changed += 1;
    }
    changed
}

fn main() {
    let pairs = env_usize("FERRY_BENCH_ASSETS", 1_000);
    let latency = Duration::from_millis(env_usize("FERRY_BENCH_LATENCY_MS", 20) as u64);
    let concurrency = env_usize("FERRY_BENCH_CONCURRENCY", 16);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mapping = Mapping::parse(
        Mapping::default_text(),
        std::path::Path::new("mapping.toml"),
    )
    .expect("the default mapping loads");
    rt.block_on(async {
        let seeding = Instant::now();
        let world = world(pairs, latency, &mapping).await;
        println!("cycle.pairs {}", world.pairs.len());
        println!("cycle.latency_ms {}", latency.as_millis());
        println!("cycle.concurrency {concurrency}");
        println!("cycle.seed_s {:.1}", seeding.elapsed().as_secs_f64());
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("ferry.db")).unwrap();
        let reports = dir.path().join("reports");

        let full = cycle(&world, &mapping, &mut store, &reports, concurrency, true).await;
        println!("cycle.full_s {:.2}", full.seconds);
        println!("cycle.full_requests_photoshelter {}", full.photoshelter);
        println!("cycle.full_requests_preservica {}", full.preservica);
        println!("cycle.full_pairs {}", full.pairs);

        let changed = change(&world, (world.pairs.len() / 100).max(1));
        world.photoshelter.log().clear();
        world.preservica.log().clear();
        let nightly = cycle(&world, &mapping, &mut store, &reports, concurrency, false).await;
        // Requests about one asset (its path names a media item or an information object)
        // against the rest: listing pages, logins, the version check.
        let about_an_asset = |r: &ferry::emulate::LoggedRequest| {
            r.path.contains("/media/")
                || r.path.contains("/mem/image/")
                || r.path.contains("/information-objects/")
        };
        let entries: Vec<_> = world
            .photoshelter
            .log()
            .entries()
            .into_iter()
            .chain(world.preservica.log().entries())
            .collect();
        let per_asset = entries.iter().filter(|r| about_an_asset(r)).count();
        let requests = nightly.photoshelter + nightly.preservica;
        println!("cycle.incremental_changed_assets {changed}");
        println!("cycle.incremental_s {:.2}", nightly.seconds);
        println!(
            "cycle.incremental_requests_photoshelter {}",
            nightly.photoshelter
        );
        println!(
            "cycle.incremental_requests_preservica {}",
            nightly.preservica
        );
        println!(
            "cycle.incremental_requests_per_changed_asset {:.2}",
            requests as f64 / changed as f64
        );
        println!(
            "cycle.incremental_requests_listing_and_login {}",
            entries.len() - per_asset
        );
        println!(
            "cycle.incremental_requests_per_changed_asset_beyond_listing {:.2}",
            per_asset as f64 / changed as f64
        );
        println!("cycle.incremental_pairs_compared {}", nightly.compared);
        println!("cycle.incremental_pushed {}", nightly.pushed);
        world.stop().await;

        if std::env::var("FERRY_BENCH_SCALING").is_ok() {
            let n = env_usize("FERRY_BENCH_SCALING_ASSETS", 300);
            for c in [1, 2, 4, 8, 16] {
                let world = world_for_scaling(n, latency, &mapping).await;
                let dir = tempfile::tempdir().unwrap();
                let mut store = Store::open(&dir.path().join("ferry.db")).unwrap();
                let r = cycle(&world, &mapping, &mut store, &dir.path().join("r"), c, true).await;
                println!(
                    "cycle.scaling_pairs_{n}_concurrency_{c}_full_s {:.2}",
                    r.seconds
                );
                world.stop().await;
            }
        }
    });
}

async fn world_for_scaling(n: usize, latency: Duration, mapping: &Mapping) -> World {
    world(n, latency, mapping).await
}
