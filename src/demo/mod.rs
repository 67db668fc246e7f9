//! `ferry demo`: ferry with no accounts. A world of both emulators ([`crate::world`]), a shoot
//! ready to archive, yesterday's sync, a day of edits, tonight's sync and a second one, then
//! an archive and a republish, each told in a few lines. The steps, in order:
//! `start` (world, clients, config), `edits` (a day of work in both systems), `syncs`,
//! `transfers`; `serve` keeps everything up afterwards for `ferry demo --serve`.

mod edits;
mod serve;
mod shoot;

use crate::app::{Parts, Settings};
use crate::mapping::Mapping;
use crate::photoshelter::client::PhotoShelterClient;
use crate::preservica::client::PreservicaClient;
use crate::report::describe_sync;
use crate::store::Store;
use crate::sync::{SyncOptions, SyncOutcome, run_sync};
use crate::transfer::TransferOutcome;
use crate::world::{World, WorldOptions, start_world, write_config};
use std::path::{Path, PathBuf};

pub use serve::serve_demo;

/// What the demo ran, for the caller to print and for tests to check.
#[derive(Debug)]
pub struct DemoResult {
    pub dir: std::path::PathBuf,
    pub config: std::path::PathBuf,
    pub first: crate::sync::SyncOutcome,
    pub second: crate::sync::SyncOutcome,
    pub pairs: usize,
    pub media: usize,
    /// Archiving the gallery a team marked ready.
    pub archived: crate::transfer::TransferOutcome,
    /// Republishing an archive-only asset for a campaign.
    pub republished: crate::transfer::TransferOutcome,
}

/// Errors of the demo itself (not of the runs it shows).
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot start the emulators: {0}")]
    Emulators(std::io::Error),
    #[error("cannot write the demo files in {path}: {source}")]
    Files {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Sync(#[from] crate::sync::SyncError),
    #[error(transparent)]
    Transfer(#[from] crate::transfer::TransferError),
    #[error("setting up the demo: {0}")]
    Setup(String),
    #[error(
        "cannot read the demo's own config {path}: {reason}; run `ferry demo` into a new directory"
    )]
    Config {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error(transparent)]
    Server(#[from] crate::server::ServerError),
}

/// What the first step set up: the world, ferry's clients, the demo's config and settings.
struct Stage {
    mapping: Mapping,
    world: World,
    photoshelter: PhotoShelterClient,
    preservica: PreservicaClient,
    settings: Settings,
    config: PathBuf,
}

impl Stage {
    fn parts(&self) -> Parts<'_> {
        Parts {
            mapping: &self.mapping,
            photoshelter: &self.photoshelter,
            preservica: &self.preservica,
        }
    }
}

/// Runs the demo in `dir`: a library in both emulators, yesterday's sync (the baselines), a
/// day of edits covering every case of the three-way table, tonight's sync, and a second sync
/// that finds everything in sync but what waits for a person. `say` receives progress lines.
/// The emulators are stopped before it returns.
pub async fn run_demo(
    dir: &Path,
    media: usize,
    say: &mut dyn FnMut(String),
) -> Result<DemoResult, DemoError> {
    let (result, world) = run_demo_kept(dir, media, say).await?;
    world.stop().await;
    Ok(result)
}

/// [`run_demo`], but the emulators keep running, on the ports the demo's `ferry.toml` names,
/// until the caller stops the returned world (see [`serve_demo`]).
pub async fn run_demo_kept(
    dir: &Path,
    media: usize,
    say: &mut dyn FnMut(String),
) -> Result<(DemoResult, World), DemoError> {
    let stage = start(dir, media, say).await?;
    let mut store = Store::open(&dir.join("ferry.db"))?;
    let (first, second) = syncs(&stage, &mut store, say).await?;
    let (archived, republished) = transfers(&stage, &mut store, say).await?;
    let result = DemoResult {
        dir: dir.to_path_buf(),
        config: stage.config,
        first,
        second,
        pairs: stage.world.pairs.len(),
        media: stage.world.photoshelter.media_ids().len(),
        archived,
        republished,
    };
    Ok((result, stage.world))
}

/// Both emulators with a paired library, a shoot ready to archive, a photograph only the
/// archive holds, ferry's clients and the demo's `ferry.toml`; says what is where.
async fn start(dir: &Path, media: usize, say: &mut dyn FnMut(String)) -> Result<Stage, DemoError> {
    let setup = |e: String| DemoError::Setup(e);
    let mapping = Mapping::parse(Mapping::default_text(), Path::new("mapping.toml"))
        .map_err(|e| setup(e.to_string()))?;
    let options = WorldOptions {
        media,
        mirror_documents: false,
        ..WorldOptions::default()
    };
    let world = start_world(&options, &mapping)
        .await
        .map_err(DemoError::Emulators)?;
    let photoshelter =
        PhotoShelterClient::new(&world.photoshelter_config()).map_err(|e| setup(e.to_string()))?;
    let preservica =
        PreservicaClient::new(world.preservica_connection()).map_err(|e| setup(e.to_string()))?;
    let (ready_gallery, ready_collection) = shoot::ready_shoot(&world, &photoshelter).await?;
    let old = shoot::archive_only_asset(&world);
    let extra = format!(
        "[archive]\nfolder = \"{}\"\nready_collection = \"{ready_collection}\"\n",
        world.folder
    );
    let config = write_config(dir, &world, &extra).map_err(|source| DemoError::Files {
        path: dir.to_path_buf(),
        source,
    })?;
    say(format!(
        "Both systems run locally: PhotoShelter at {}, Preservica at {}.",
        world.photoshelter.url(),
        world.preservica.url()
    ));
    say(format!(
        "The library: {} media in PhotoShelter; {} of them archived in Preservica and paired.",
        world.photoshelter.media_ids().len(),
        world.pairs.len()
    ));
    say(format!(
        "A shoot just finished: gallery {ready_gallery} (4 images, a contract and a model \
         release) sits in the \"Ready to archive\" collection; the archive also holds a 1962 \
         regatta photograph ({old}) that PhotoShelter has never had."
    ));
    say(format!("Config, store and reports: {}", dir.display()));
    let settings = Settings {
        reports_dir: dir.join("reports"),
        index_dir: dir.join("index"),
        archive: crate::config::ArchiveConfig {
            folder: Some(world.folder.clone()),
            ready_collection: Some(ready_collection),
            staging: dir.join("transfers"),
            ingest_timeout_secs: 60,
            ..crate::config::ArchiveConfig::default()
        },
        ..Settings::default()
    };
    Ok(Stage {
        mapping,
        world,
        photoshelter,
        preservica,
        settings,
        config,
    })
}

/// Yesterday's sync (the baselines), the day's edits, tonight's sync and a second one
/// straight after; then the search index, so `ferry search` and `ferry serve` have the
/// library to show.
async fn syncs(
    stage: &Stage,
    store: &mut Store,
    say: &mut dyn FnMut(String),
) -> Result<(SyncOutcome, SyncOutcome), DemoError> {
    let ctx = stage.parts().sync_context(&stage.settings, None);
    let opts = SyncOptions {
        full: true,
        ..Default::default()
    };
    let yesterday = run_sync(store, &ctx, &opts).await?;
    say(format!(
        "\nYesterday's sync set the baselines: {} pairs, {} fields in sync.",
        yesterday.report.summary.pairs, yesterday.report.summary.in_sync
    ));
    let edits = edits::a_day_of_edits(&stage.world, &stage.mapping).await?;
    say("\nToday, people edited both systems:".into());
    for e in &edits {
        say(format!("  - {e}"));
    }
    let first = run_sync(store, &ctx, &opts).await?;
    say("\nTonight's sync:".into());
    describe_sync(&first.report, &first.paths.html, say);
    let second = run_sync(store, &ctx, &opts).await?;
    say("\nA second sync, straight after:".into());
    describe_sync(&second.report, &second.paths.html, say);
    match reindex(stage, store) {
        Ok(n) => say(format!("\nThe search index holds {n} assets.")),
        Err(e) => say(format!("\nThe search index could not be built: {e}")),
    }
    Ok((first, second))
}

/// The whole library into the search index.
fn reindex(stage: &Stage, store: &Store) -> Result<usize, crate::index::IndexError> {
    crate::index::SearchIndex::update_dir(
        &stage.settings.index_dir,
        &stage.mapping,
        store,
        None,
        chrono::Utc::now().date_naive(),
    )
}

/// The ready gallery goes into the archive; the 1962 photograph comes out for a campaign.
async fn transfers(
    stage: &Stage,
    store: &mut Store,
    say: &mut dyn FnMut(String),
) -> Result<(TransferOutcome, TransferOutcome), DemoError> {
    use crate::transfer::archive::{ArchiveRequest, run_archive};
    use crate::transfer::republish::{RepublishRequest, run_republish};
    let ctx = stage.parts().transfer_context(&stage.settings, None);
    say(
        "\nferry archive (what the [archive] rules select: the \"Ready to archive\" collection):"
            .into(),
    );
    let by_rules = ArchiveRequest {
        by_rules: true,
        ..Default::default()
    };
    let archived = run_archive(store, &ctx, &by_rules, &Default::default()).await?;
    crate::transfer::describe(&archived, say);
    let query = "regatta 1962 in:preservica";
    say(format!(
        "\nferry republish --query \"{query}\" --to-gallery \"Anniversary 2027\" --set campaign=\"Anniversary 2027\":"
    ));
    let request = RepublishRequest {
        query: Some(query.into()),
        limit: 1,
        to_gallery: "Anniversary 2027".into(),
        set: vec![("campaign".into(), "Anniversary 2027".into())],
        ..Default::default()
    };
    let republished = run_republish(store, &ctx, &request, &Default::default()).await?;
    crate::transfer::describe(&republished, say);
    if let Err(e) = reindex(stage, store) {
        say(format!("The search index could not be updated: {e}"));
    }
    Ok((archived, republished))
}
