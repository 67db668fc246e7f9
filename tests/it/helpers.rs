//! Helpers shared by the integration test modules.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Path of a file shipped in the repository (e.g. `mappings/default.toml`).
pub fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// What a run of the `ferry` binary printed and how it exited.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the built `ferry` binary in `dir` with only the given environment (no inherited
/// `FERRY_*` variables, so a developer's own settings cannot leak into a test).
pub fn ferry(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("the ferry binary runs");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A sync context with the settings the scenario tests share (mass-change guard at 10% of at
/// least 50 assets, 4 requests in flight per system, reports in `reports`); a test changes
/// the fields its scenario is about.
pub fn sync_context<'a>(
    mapping: &'a ferry::mapping::Mapping,
    photoshelter: &'a ferry::photoshelter::client::PhotoShelterClient,
    preservica: &'a ferry::preservica::client::PreservicaClient,
    reports: PathBuf,
) -> ferry::sync::SyncContext<'a> {
    let settings = ferry::app::Settings {
        concurrency_photoshelter: 4,
        concurrency_preservica: 4,
        reports_dir: reports,
        ..ferry::app::Settings::default()
    };
    let parts = ferry::app::Parts {
        mapping,
        photoshelter,
        preservica,
    };
    parts.sync_context(&settings, None)
}

/// The store's row for the asset PhotoShelter knows as `media_id`.
pub fn asset_row(store: &ferry::store::Store, media_id: &str) -> ferry::store::AssetRow {
    store
        .assets()
        .unwrap()
        .into_iter()
        .find(|a| a.photoshelter_id.as_deref() == Some(media_id))
        .unwrap_or_else(|| panic!("the store knows {media_id}"))
}

/// Both emulators seeded with `media` items and the other options at their defaults.
pub async fn world(media: usize, mapping: &ferry::mapping::Mapping) -> ferry::world::World {
    ferry::world::start_world(
        &ferry::world::WorldOptions {
            media,
            ..ferry::world::WorldOptions::default()
        },
        mapping,
    )
    .await
    .unwrap()
}

/// Both emulators on loopback ports, started on `rt`, with `media` PhotoShelter media and
/// `assets` Preservica assets seeded: for tests that run the `ferry` binary against them.
pub fn emulators(
    rt: &tokio::runtime::Runtime,
    media: usize,
    assets: usize,
) -> (
    ferry::photoshelter::emulator::PhotoShelterEmulator,
    ferry::preservica::emulator::PreservicaEmulator,
) {
    let loopback: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let ps = rt
        .block_on(ferry::photoshelter::emulator::start(
            ferry::photoshelter::emulator::EmulatorOptions {
                seed_media: media,
                ..Default::default()
            },
            loopback,
        ))
        .unwrap();
    let pv = rt
        .block_on(ferry::preservica::emulator::start(
            ferry::preservica::emulator::EmulatorOptions {
                seed_assets: assets,
                ..Default::default()
            },
            loopback,
        ))
        .unwrap();
    (ps, pv)
}
