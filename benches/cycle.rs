//! The remote cycle: both emulators on loopback, every answer delayed by a fixed latency (20 ms
//! by default, as from a SaaS tenant across a continent), a library mirrored in both systems,
//! ferry at `ferry.toml`'s default pace (the adaptive limit under a ceiling of 32).
//!
//! ```text
//! cargo bench --bench cycle                                   # 1,000 pairs (seconds)
//! FERRY_BENCH_ASSETS=100000 FERRY_BENCH_CONCURRENCY=64 cargo bench --bench cycle
//! FERRY_BENCH_SCALING=1 cargo bench --bench cycle             # also the pace table
//! ```
//!
//! Runs a full first cycle, changes 1% of the assets (half in each system, as people would,
//! straight in the emulators), runs the nightly incremental cycle, and prints wall time and
//! ferry's own request counts by kind, per asset for the full pull and per changed asset for
//! the incremental. `FERRY_BENCH_CONCURRENCY` sets the ceiling, `FERRY_BENCH_FIXED=1` keeps
//! the limit fixed at it, `FERRY_BENCH_MAX_IN_FLIGHT=N` gives both servers a limit.
//!
//! With `FERRY_BENCH_SCALING=1` it then runs full first cycles of `FERRY_BENCH_SCALING_ASSETS`
//! pairs (default 300), each on a fresh world: with both servers limited to
//! `FERRY_BENCH_SCALING_LIMIT` requests in flight (default 8), at fixed concurrencies around
//! the limit and adaptive; and without a limit, fixed and adaptive at ceilings 32 and 64. One
//! figure per line. A benchmark, not a test: nothing is asserted.

mod common;

use common::{Pace, Server, about_assets, env_usize, print_counts, sync_once};
use ferry::store::Store;
use ferry::world::World;
use std::time::{Duration, Instant};

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

fn print_run(prefix: &str, run: &common::Run, per: u64) {
    let s = &run.summary;
    println!("{prefix}.seconds {:.2}", run.seconds);
    println!(
        "{prefix}.seconds_pull photoshelter {:.2}, preservica {:.2}; push {:.2}; cycle {:.2} (the rest: report and run record)",
        s.seconds_pull_photoshelter, s.seconds_pull_preservica, s.seconds_push, s.seconds_total
    );
    println!("{prefix}.pairs {}", s.pairs);
    println!("{prefix}.pairs_compared {}", s.pairs - s.pairs_unchanged);
    println!(
        "{prefix}.pushed {}",
        s.pushed_to_photoshelter + s.pushed_to_preservica
    );
    println!("{prefix}.failures {}", s.failures);
    print_counts(prefix, "photoshelter", &s.api_calls_photoshelter, Some(per));
    print_counts(prefix, "preservica", &s.api_calls_preservica, Some(per));
    let about = about_assets(&s.api_calls_photoshelter) + about_assets(&s.api_calls_preservica);
    println!(
        "{prefix}.requests_per_asset_beyond_listing_and_login {:.2}",
        about as f64 / per.max(1) as f64
    );
}

fn main() {
    let pairs = env_usize("FERRY_BENCH_ASSETS", 1_000);
    let server = Server {
        latency: Duration::from_millis(env_usize("FERRY_BENCH_LATENCY_MS", 20) as u64),
        max_in_flight: std::env::var("FERRY_BENCH_MAX_IN_FLIGHT")
            .ok()
            .and_then(|v| v.parse().ok()),
    };
    let pace = Pace {
        concurrency: env_usize(
            "FERRY_BENCH_CONCURRENCY",
            ferry::config::DEFAULT_CONCURRENCY,
        ),
        adaptive: std::env::var("FERRY_BENCH_FIXED").is_err(),
    };
    let mapping = common::default_mapping();
    common::runtime().block_on(async {
        let seeding = Instant::now();
        let world = common::world(pairs, server, &mapping).await;
        println!("cycle.pairs {}", world.pairs.len());
        println!("cycle.latency_ms {}", server.latency.as_millis());
        println!("cycle.max_in_flight {:?}", server.max_in_flight);
        println!("cycle.pace {}", pace.label());
        println!("cycle.seed_s {:.1}", seeding.elapsed().as_secs_f64());
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("ferry.db")).unwrap();
        let reports = dir.path().join("reports");

        let full = sync_once(&world, &mapping, &mut store, &reports, pace, true).await;
        print_run("cycle.full", &full, world.pairs.len() as u64);

        let changed = change(&world, (world.pairs.len() / 100).max(1));
        println!("cycle.incremental.changed_assets {changed}");
        world.photoshelter.log().clear();
        world.preservica.log().clear();
        let nightly = sync_once(&world, &mapping, &mut store, &reports, pace, false).await;
        print_run("cycle.incremental", &nightly, changed as u64);
        // Every request of the incremental cycle, to read what a correction costs.
        if std::env::var("FERRY_BENCH_LOG").is_ok() {
            for (system, log) in [
                ("photoshelter", world.photoshelter.log()),
                ("preservica", world.preservica.log()),
            ] {
                for r in log.entries() {
                    println!(
                        "cycle.incremental.log.{system} {} {} {}",
                        r.method, r.path, r.status
                    );
                }
            }
        }
        world.stop().await;

        if std::env::var("FERRY_BENCH_SCALING").is_ok() {
            scaling(&mapping, server.latency).await;
        }
    });
}

/// Full first cycles at several paces, against a limited server and an unlimited one.
async fn scaling(mapping: &ferry::mapping::Mapping, latency: Duration) {
    let n = env_usize("FERRY_BENCH_SCALING_ASSETS", 300);
    let limit = env_usize("FERRY_BENCH_SCALING_LIMIT", 8);
    let fixed = |concurrency| Pace {
        concurrency,
        adaptive: false,
    };
    let limited = Server {
        latency,
        max_in_flight: Some(limit),
    };
    let unlimited = Server {
        latency,
        max_in_flight: None,
    };
    let mut runs: Vec<(Server, Pace)> = [2, 4, 6, 8, 12, 16]
        .into_iter()
        .map(|c| (limited, fixed(c)))
        .collect();
    runs.push((limited, Pace::default_config()));
    runs.extend([8, 16, 32, 64].into_iter().map(|c| (unlimited, fixed(c))));
    runs.push((unlimited, Pace::default_config()));
    runs.push((
        unlimited,
        Pace {
            concurrency: ferry::config::MAX_CONCURRENCY,
            adaptive: true,
        },
    ));
    for (server, pace) in runs {
        let run = common::first_sync(n, server, mapping, pace).await;
        let s = &run.summary;
        let prefix = match server.max_in_flight {
            Some(l) => format!("cycle.scaling.pairs_{n}.limit_{l}.{}", pace.label()),
            None => format!("cycle.scaling.pairs_{n}.unlimited.{}", pace.label()),
        };
        println!("{prefix}.seconds {:.2}", run.seconds);
        println!(
            "{prefix}.seconds_pull photoshelter {:.2}, preservica {:.2}",
            s.seconds_pull_photoshelter, s.seconds_pull_preservica
        );
        println!(
            "{prefix}.throttled {}",
            s.api_calls_photoshelter.throttled + s.api_calls_preservica.throttled
        );
        println!("{prefix}.failures {}", s.failures);
        for (system, c) in [
            ("photoshelter", &s.api_calls_photoshelter),
            ("preservica", &s.api_calls_preservica),
        ] {
            if let Some(range) = &c.concurrency {
                println!("{prefix}.{system}.in_flight {range}");
            }
        }
    }
}
