//! Peer comparison: reading every archive asset's metadata with ferry's Preservica pull and
//! with a straightforward pyPreservica script, against the same emulator with the same added
//! latency.
//!
//! ```text
//! pip install 'pyPreservica==4.2.2'
//! cargo bench --bench peer                               # 300 assets, 20 ms (seconds)
//! FERRY_BENCH_ASSETS=5000 cargo bench --bench peer       # by hand
//! FERRY_BENCH_CONCURRENCY=8 cargo bench --bench peer     # ferry's default concurrency
//! ```
//!
//! The script (`benches/peer/pypreservica_pull.py`) is what an archivist would write: list
//! the updated entities, then for each asset read the entity and each of its metadata
//! fragments, one call after another. ferry lists the folders and reads each asset and its
//! fragments `FERRY_BENCH_CONCURRENCY` at a time (default 16; `preservica.concurrency` in
//! ferry.toml, whose default is 8). Prints both times and their
//! ratio, one figure per line. A benchmark, not a test: nothing is asserted.

use ferry::emulate::FaultOptions;
use ferry::mapping::Mapping;
use ferry::preservica::client::{Connection, PreservicaClient};
use ferry::preservica::emulator::{self as pv_emu, EmulatorOptions};
use std::collections::HashSet;
use std::time::{Duration, Instant};

fn main() {
    let n: usize = std::env::var("FERRY_BENCH_ASSETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let latency_ms: u64 = std::env::var("FERRY_BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let concurrency: usize = std::env::var("FERRY_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
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
        let emu = pv_emu::start(
            EmulatorOptions {
                seed_assets: n,
                faults: FaultOptions {
                    latency: Duration::from_millis(latency_ms),
                    exempt_prefixes: vec!["/api/accesstoken".into()],
                    ..FaultOptions::default()
                },
                ..EmulatorOptions::default()
            },
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .expect("the emulator starts");
        println!("peer.assets {n}");
        println!("peer.latency_ms {latency_ms}");
        println!("peer.ferry_concurrency {concurrency}");
        let o = emu.options().clone();
        let conn = Connection {
            base_url: emu.url(),
            username: o.username.clone(),
            password: ferry::config::Secret::new(o.password.clone()),
            tenant: Some(o.tenant.clone()),
            http: ferry::http::HttpOptions {
                concurrency,
                ..ferry::http::HttpOptions::default()
            },
            single_put_limit: ferry::preservica::wire::SINGLE_PUT_LIMIT,
            part_size: ferry::preservica::wire::MULTIPART_PART_SIZE,
        };
        let client = PreservicaClient::new(conn).unwrap();
        // Already paired: ferry reads what the script reads (entity and fragments), not the
        // identifiers and fixities it reads to pair a new asset.
        let paired: HashSet<String> = emu.asset_refs().into_iter().collect();
        let started = Instant::now();
        let pulled = ferry::sync::pull::pull_preservica(
            &client,
            &mapping,
            None,
            &paired,
            concurrency,
            chrono::Utc::now(),
            None,
        )
        .await
        .expect("ferry pulls");
        let ferry_s = started.elapsed().as_secs_f64();
        println!("peer.ferry_assets {}", pulled.records.len());
        println!("peer.ferry_s {ferry_s:.2}");
        println!("peer.ferry_requests {}", client.request_counts().requests);

        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/benches/peer/pypreservica_pull.py"
        );
        let server = emu.server();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("python3")
                .arg(script)
                .env("PEER_SERVER", server)
                .env("PEER_USERNAME", &o.username)
                .env("PEER_PASSWORD", &o.password)
                .env("PEER_TENANT", &o.tenant)
                .output()
        })
        .await
        .unwrap();
        match out {
            Ok(out) if out.status.success() => {
                let text = String::from_utf8_lossy(&out.stdout);
                print!("{text}");
                let peer_s = text
                    .lines()
                    .find_map(|l| l.strip_prefix("peer.pypreservica_s "))
                    .and_then(|v| v.trim().parse::<f64>().ok());
                if let Some(p) = peer_s {
                    println!("peer.ratio_pypreservica_over_ferry {:.1}", p / ferry_s);
                }
            }
            Ok(out) => println!(
                "peer.pypreservica unavailable: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("the script failed")
            ),
            Err(e) => println!("peer.pypreservica unavailable: python3: {e}"),
        }
        emu.stop().await;
    });
}
