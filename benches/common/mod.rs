//! What the remote benchmarks share: a library mirrored in both emulators, every answer delayed
//! by a fixed latency and, if asked, a server-side limit on requests in flight; clients built
//! as `ferry.toml` builds them (the default retry backoff, the adaptive limit or a fixed one);
//! one sync run and its figures, printed one per line from ferry's own request counts.

#![allow(dead_code)] // each benchmark uses its own part

use ferry::app::{Parts, Settings};
use ferry::emulate::FaultOptions;
use ferry::http::{HttpOptions, RequestCounts, RequestKind};
use ferry::mapping::Mapping;
use ferry::photoshelter::client::PhotoShelterClient;
use ferry::preservica::client::PreservicaClient;
use ferry::report::Summary;
use ferry::store::Store;
use ferry::sync::{SyncOptions, run_sync};
use ferry::world::{World, WorldOptions, start_world};
use std::time::{Duration, Instant};

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn default_mapping() -> Mapping {
    Mapping::parse(
        Mapping::default_text(),
        std::path::Path::new("mapping.toml"),
    )
    .expect("the default mapping loads")
}

pub fn runtime() -> tokio::runtime::Runtime {
    // RUST_LOG=ferry=debug shows, among others, each change of a system's limit.
    if std::env::var("RUST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// How the servers answer.
#[derive(Debug, Clone, Copy)]
pub struct Server {
    pub latency: Duration,
    /// Beyond this many requests in flight (logins included) a server answers 429 with
    /// `Retry-After: 1`, as a tenant's gateway does.
    pub max_in_flight: Option<usize>,
}

/// Both emulators with `pairs` mirrored assets, last touched two days ago (as in a library
/// synced every night: the incremental listing's overlap window then holds only tonight's
/// changes).
pub async fn world(pairs: usize, server: Server, mapping: &Mapping) -> World {
    let w = start_world(
        &WorldOptions {
            media: pairs,
            seed: 7,
            faults: FaultOptions {
                latency: server.latency,
                max_in_flight: server.max_in_flight,
                retry_after_secs: 1,
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
    let before = chrono::Utc::now() - chrono::Duration::days(2);
    for (media, reference) in &w.pairs {
        w.photoshelter.set_modified_at(media, before);
        w.preservica.set_modified(reference, before);
    }
    w
}

/// ferry's pace per system: the ceiling, and whether the limit adapts below it.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub concurrency: usize,
    pub adaptive: bool,
}

impl Pace {
    /// `ferry.toml`'s defaults.
    pub fn default_config() -> Pace {
        Pace {
            concurrency: ferry::config::DEFAULT_CONCURRENCY,
            adaptive: true,
        }
    }

    pub fn label(&self) -> String {
        if self.adaptive {
            format!("adaptive_{}", self.concurrency)
        } else {
            format!("fixed_{}", self.concurrency)
        }
    }
}

/// Both clients as `ferry.toml` with this pace builds them.
pub fn clients(world: &World, pace: Pace) -> (PhotoShelterClient, PreservicaClient) {
    let mut ps_config = world.photoshelter_config();
    ps_config.concurrency = pace.concurrency;
    ps_config.adaptive = pace.adaptive;
    let mut pv_conn = world.preservica_connection();
    pv_conn.http = HttpOptions {
        concurrency: pace.concurrency,
        adaptive: pace.adaptive,
        ..HttpOptions::default()
    };
    (
        PhotoShelterClient::new(&ps_config).expect("a PhotoShelter client"),
        PreservicaClient::new(pv_conn).expect("a Preservica client"),
    )
}

/// One sync run's wall time and summary.
pub struct Run {
    pub seconds: f64,
    pub summary: Summary,
}

pub async fn sync_once(
    world: &World,
    mapping: &Mapping,
    store: &mut Store,
    reports: &std::path::Path,
    pace: Pace,
    full: bool,
) -> Run {
    let (ps, pv) = clients(world, pace);
    let settings = Settings {
        max_change_share: 1.0,
        min_assets: u64::MAX,
        concurrency_photoshelter: pace.concurrency,
        concurrency_preservica: pace.concurrency,
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
    Run {
        seconds: started.elapsed().as_secs_f64(),
        summary: out.report.summary,
    }
}

/// A first sync of a fresh world into a fresh store.
pub async fn first_sync(pairs: usize, server: Server, mapping: &Mapping, pace: Pace) -> Run {
    let world = world(pairs, server, mapping).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut store = Store::open(&dir.path().join("ferry.db")).expect("a store");
    let run = sync_once(
        &world,
        mapping,
        &mut store,
        &dir.path().join("reports"),
        pace,
        true,
    )
    .await;
    world.stop().await;
    run
}

/// Requests that are about one asset: everything but listing pages and logins.
pub fn about_assets(c: &RequestCounts) -> u64 {
    c.requests - c.by_kind.get(RequestKind::ListingPage) - c.by_kind.get(RequestKind::Login)
}

/// `<prefix>.<system>.<kind> N` for every kind, then the totals, the retries, the 429s and
/// the range the limit moved in; `per` divides each kind into a `_per_asset` figure too.
pub fn print_counts(prefix: &str, system: &str, c: &RequestCounts, per: Option<u64>) {
    println!("{prefix}.{system}.requests {}", c.requests);
    for kind in RequestKind::ALL {
        let n = c.by_kind.get(kind);
        if n == 0 {
            continue;
        }
        match per {
            Some(d) if d > 0 => println!(
                "{prefix}.{system}.{} {n} ({:.2} per asset)",
                kind.name(),
                n as f64 / d as f64
            ),
            _ => println!("{prefix}.{system}.{} {n}", kind.name()),
        }
    }
    println!("{prefix}.{system}.retries {}", c.retries);
    println!("{prefix}.{system}.throttled {}", c.throttled);
    if let Some(range) = &c.concurrency {
        println!("{prefix}.{system}.in_flight {range}");
    }
}
