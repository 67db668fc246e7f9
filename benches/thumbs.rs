//! Thumbnails: how fast renditions are made, how much memory a large master takes, and how
//! fast a search page with 20 thumbnails is served once they are cached.
//!
//! ```text
//! cargo bench --bench thumbs                                  # 100 pictures, a 100 MB TIFF
//! FERRY_BENCH_THUMBS=500 FERRY_BENCH_TIFF_MB=200 cargo bench --bench thumbs
//! ```
//!
//! 1. `thumbs.images_per_s`: small and medium renditions (decode, scale, encode JPEG) of
//!    `FERRY_BENCH_THUMBS` generated 2400 x 1600 JPEGs, one after another on one core.
//! 2. `thumbs.tiff_peak_mib`: a child process decodes an uncompressed RGB TIFF of about
//!    `FERRY_BENCH_TIFF_MB` MB and makes both renditions; it reports its peak resident memory
//!    (`VmHWM`) before and after, so the figure is what the picture cost.
//! 3. `thumbs.search_page_ms`: the web app over a synced 30-asset library with every thumbnail
//!    cached: one search page (20 hits) and its 20 small thumbnails, fetched 4 at a time as a
//!    browser would; the median of 20 loads.
//!
//! Under `cargo test --benches` (no `--bench` argument) it runs at a smoke size in seconds.
//! One figure per line. A benchmark, not a test: nothing is asserted.

use ferry::app::{Parts, Settings};
use ferry::emulate::pictures::{Picture, PictureFormat, PictureSize};
use ferry::mapping::Mapping;
use ferry::media::{ThumbCache, fill, render};
use ferry::photoshelter::client::PhotoShelterClient;
use ferry::preservica::client::PreservicaClient;
use ferry::store::Store;
use ferry::sync::{SyncOptions, run_sync};
use ferry::world::{WorldOptions, start_world};
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Peak resident memory of this process, in KiB.
fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn images_per_second(n: usize, size: PictureSize) {
    let (w, h) = size.dimensions(true);
    let drawing = Instant::now();
    let pictures: Vec<Vec<u8>> = (0..n as u64)
        .map(|seed| {
            Picture {
                seed,
                title: format!("Harbour {seed}"),
                width: w,
                height: h,
                format: PictureFormat::Jpeg,
            }
            .bytes()
            .to_vec()
        })
        .collect();
    println!(
        "thumbs.generated_per_s {:.1}",
        n as f64 / drawing.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    for bytes in &pictures {
        let img = render::decode_bytes(bytes, "bench.jpg", render::Bounds::default()).unwrap();
        let made = fill::renditions(&img);
        assert_eq!(made.len(), 2);
    }
    let s = started.elapsed().as_secs_f64();
    println!("thumbs.source {w}x{h}");
    println!("thumbs.images {n}");
    println!("thumbs.images_per_s {:.1}", n as f64 / s);
}

/// The child's part: decode the TIFF at `path`, make both renditions, print memory figures.
fn tiff_child(path: &str) {
    let before = vm_hwm_kib();
    let started = Instant::now();
    let img = render::decode_file(std::path::Path::new(path), render::Bounds::default()).unwrap();
    let made = fill::renditions(&img);
    drop(img);
    println!("thumbs.tiff_s {:.2}", started.elapsed().as_secs_f64());
    println!("thumbs.tiff_renditions {}", made.len());
    println!(
        "thumbs.tiff_peak_mib {:.0}",
        (vm_hwm_kib() - before) as f64 / 1024.0
    );
}

fn tiff_peak(mb: usize) {
    let side = ((mb * 1_000_000 / 3) as f64).sqrt() as u32;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.tif");
    let bytes = Picture {
        seed: 1962,
        title: "Regatta 1962 negative".into(),
        width: side,
        height: side,
        format: PictureFormat::Tiff,
    }
    .bytes();
    std::fs::write(&path, &bytes).unwrap();
    println!("thumbs.tiff_px {side}x{side}");
    println!("thumbs.tiff_mb {:.1}", bytes.len() as f64 / 1e6);
    drop(bytes);
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env("FERRY_BENCH_TIFF_CHILD", &path)
        .output()
        .unwrap();
    print!("{}", String::from_utf8_lossy(&out.stdout));
}

async fn search_page(loads: usize) {
    let mapping = Mapping::parse(
        Mapping::default_text(),
        std::path::Path::new("mapping.toml"),
    )
    .unwrap();
    let world = start_world(
        &WorldOptions {
            media: 30,
            ..WorldOptions::default()
        },
        &mapping,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("ferry.db")).unwrap();
    let ps = PhotoShelterClient::new(&world.photoshelter_config()).unwrap();
    let pv = PreservicaClient::new(world.preservica_connection()).unwrap();
    let settings = Settings {
        max_change_share: 1.0,
        reports_dir: dir.path().join("reports"),
        ..Settings::default()
    };
    let parts = Parts {
        mapping: &mapping,
        photoshelter: &ps,
        preservica: &pv,
    };
    let out = run_sync(
        &mut store,
        &parts.sync_context(&settings, None),
        &SyncOptions::default(),
    )
    .await
    .unwrap();
    let index = dir.path().join("index");
    ferry::index::SearchIndex::update_dir(
        &index,
        &mapping,
        &store,
        None,
        chrono::Utc::now().date_naive(),
    )
    .unwrap();
    let cache = ThumbCache::beside_store(&dir.path().join("ferry.db"), 64 << 20).unwrap();
    let wanted = fill::wanted(&store, &cache, &out.touched).unwrap();
    fill::fill_many(
        &fill::Sources::new(&ps, &pv),
        &cache,
        wanted,
        2,
        Duration::from_secs(600),
    )
    .await;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = ferry::server::start(
        ferry::server::ServerOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            access_token: None,
            store_path: dir.path().join("ferry.db"),
            index_dir: index,
            reports_dir: dir.path().join("reports"),
            mapping: mapping.clone(),
            index: None,
            republisher: None,
            thumbnails: Default::default(),
            live: None,
        },
        async {
            let _ = rx.await;
        },
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let mut times = Vec::new();
    let mut thumbs = 0;
    for _ in 0..loads {
        let started = Instant::now();
        let page = http
            .get(format!("{}/?q=", app.url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let urls: Vec<String> = page
            .split("src=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .filter(|s| s.contains("/thumb/"))
            .map(|s| format!("{}{s}", app.url()))
            .collect();
        thumbs = urls.len();
        use futures_util::StreamExt;
        futures_util::stream::iter(urls)
            .map(|u| {
                let http = http.clone();
                async move {
                    http.get(u)
                        .send()
                        .await
                        .unwrap()
                        .bytes()
                        .await
                        .unwrap()
                        .len()
                }
            })
            .buffer_unordered(4)
            .collect::<Vec<_>>()
            .await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!("thumbs.search_page_thumbnails {thumbs}");
    println!("thumbs.search_page_ms {:.1}", times[times.len() / 2]);
    let _ = tx.send(());
    app.wait().await.unwrap();
    world.stop().await;
}

fn main() {
    if let Ok(path) = std::env::var("FERRY_BENCH_TIFF_CHILD") {
        return tiff_child(&path);
    }
    let full = std::env::args().any(|a| a == "--bench");
    let (n, mb, loads) = if full {
        (
            env_usize("FERRY_BENCH_THUMBS", 100),
            env_usize("FERRY_BENCH_TIFF_MB", 100),
            20,
        )
    } else {
        (4, 4, 2)
    };
    images_per_second(
        n,
        if full {
            PictureSize::Realistic
        } else {
            PictureSize::Test
        },
    );
    tiff_peak(mb);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(search_page(loads));
}
