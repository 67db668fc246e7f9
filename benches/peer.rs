//! Peer comparison: a full first sync of both systems by ferry against a straightforward
//! pyPreservica script reading Preservica alone, side by side in one run, each against a fresh
//! copy of the same mirrored library with the same added latency.
//!
//! ```text
//! pip install 'pyPreservica==4.2.2'
//! cargo bench --bench peer                               # 300 pairs, 20 ms (about 30 s)
//! FERRY_BENCH_ASSETS=1000 cargo bench --bench peer       # by hand
//! ```
//!
//! The script (`benches/peer/pypreservica_pull.py`) is what an archivist would write: list
//! the updated entities, then for each asset read the entity and each of its metadata
//! fragments, one call after another. ferry runs `ferry sync`'s whole first cycle (both
//! listings, every record of both systems, pairing, reconcile, plan, push) at `ferry.toml`'s
//! default pace (the adaptive limit under a ceiling of 32), then again with the ceiling at 64.
//! Prints the times and the ratios, one figure per line. A benchmark, not a test: nothing is
//! asserted.

mod common;

use common::{Pace, Server, env_usize};
use std::time::Duration;

fn main() {
    let n = env_usize("FERRY_BENCH_ASSETS", 300);
    let server = Server {
        latency: Duration::from_millis(env_usize("FERRY_BENCH_LATENCY_MS", 20) as u64),
        max_in_flight: None,
    };
    let mapping = common::default_mapping();
    common::runtime().block_on(async {
        println!("peer.pairs {n}");
        println!("peer.latency_ms {}", server.latency.as_millis());
        // FERRY_BENCH_NO_PEER=1 times ferry alone (while tuning it).
        let peer_s = match std::env::var("FERRY_BENCH_NO_PEER") {
            Ok(_) => None,
            Err(_) => pypreservica(n, server, &mapping).await,
        };
        let paces = [
            Pace::default_config(),
            Pace {
                concurrency: ferry::config::MAX_CONCURRENCY,
                adaptive: true,
            },
        ];
        for pace in paces {
            let run = common::first_sync(n, server, &mapping, pace).await;
            let s = &run.summary;
            let label = pace.label();
            println!("peer.ferry_{label}.seconds {:.2}", run.seconds);
            println!("peer.ferry_{label}.pairs {}", s.pairs);
            println!(
                "peer.ferry_{label}.seconds_pull photoshelter {:.2}, preservica {:.2}; push {:.2}; run {:.2}",
                s.seconds_pull_photoshelter, s.seconds_pull_preservica, s.seconds_push, s.seconds_total
            );
            println!("peer.ferry_{label}.failures {}", s.failures);
            println!(
                "peer.ferry_{label}.requests {}",
                s.api_calls_photoshelter.requests + s.api_calls_preservica.requests
            );
            for (system, c) in [
                ("photoshelter", &s.api_calls_photoshelter),
                ("preservica", &s.api_calls_preservica),
            ] {
                if let Some(range) = &c.concurrency {
                    println!("peer.ferry_{label}.{system}.in_flight {range}");
                }
            }
            if let Some(p) = peer_s {
                println!(
                    "peer.ferry_{label}.ratio_pypreservica_over_ferry {:.1}",
                    p / run.seconds
                );
            }
        }
    });
}

/// The script's time on a fresh world, or `None` (said why) when it cannot run.
async fn pypreservica(n: usize, server: Server, mapping: &ferry::mapping::Mapping) -> Option<f64> {
    let world = common::world(n, server, mapping).await;
    let o = world.preservica.options().clone();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/peer/pypreservica_pull.py"
    );
    let host = world.preservica.server();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(script)
            .env("PEER_SERVER", host)
            .env("PEER_USERNAME", &o.username)
            .env("PEER_PASSWORD", &o.password)
            .env("PEER_TENANT", &o.tenant)
            .output()
    })
    .await
    .unwrap();
    world.stop().await;
    match out {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            print!("{text}");
            text.lines()
                .find_map(|l| l.strip_prefix("peer.pypreservica_s "))
                .and_then(|v| v.trim().parse::<f64>().ok())
        }
        Ok(out) => {
            println!(
                "peer.pypreservica unavailable: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("the script failed")
            );
            None
        }
        Err(e) => {
            println!("peer.pypreservica unavailable: python3: {e}");
            None
        }
    }
}
