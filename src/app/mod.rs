//! The composition root: the one place that turns a [`Config`] into working parts. [`Ferry`]
//! holds the mapping, both clients and the run settings, and hands out the sync and transfer
//! contexts; [`after_run`] is what every run does once it has finished (refresh the search
//! index for what it touched), whoever started it: the CLI, `ferry serve`'s nightly job
//! ([`nightly`]) or the web app's republish.
//!
//! Tests, benchmarks and the demo, which build their clients against emulators, go through
//! [`Parts`] and [`Settings`] too, so a new context field is wired here and nowhere else.

pub mod nightly;
pub mod review;

use crate::clock::Clock;
use crate::config::{ArchiveConfig, Config, PhotoShelterConfig, RepublishConfig, RightsConfig};
use crate::mapping::{Mapping, MappingError};
use crate::notify::{Notice, Notifier, notices_for};
use crate::photoshelter::client::{PhotoShelterClient, PhotoShelterError};
use crate::preservica::client::{Connection, PreservicaClient, PreservicaError};
use crate::store::{Store, StoreError};
use crate::sync::{SyncContext, SyncError, SyncOptions, SyncOutcome, run_sync};
use crate::transfer::archive::{ArchiveOptions, ArchiveRequest, run_archive};
use crate::transfer::republish::{RepublishOptions, RepublishRequest, run_republish};
use crate::transfer::{TransferContext, TransferError, TransferOutcome};
use std::path::{Path, PathBuf};

/// Why the parts could not be built. Each variant keeps its cause as the source, so the exit
/// code (which looks for mapping mistakes in the chain) stays what the cause says.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Mapping(#[source] MappingError),
    #[error("{0}")]
    Store(#[source] StoreError),
    #[error("{0}")]
    PhotoShelter(#[source] PhotoShelterError),
    #[error("{0}")]
    Preservica(#[source] PreservicaError),
    #[error("{0}")]
    Index(#[source] crate::index::IndexError),
}

/// What a run is allowed and where it writes: everything in the contexts that is not a
/// client or the mapping.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The mass-change guard: the share of assets a run may change without `--allow-mass-change`.
    pub max_change_share: f64,
    /// The guard only applies from this many assets.
    pub min_assets: u64,
    pub concurrency_photoshelter: usize,
    pub concurrency_preservica: usize,
    /// Licences expiring within this many days are listed in the report.
    pub expiring_days: u32,
    pub rights: RightsConfig,
    pub archive: ArchiveConfig,
    pub republish: RepublishConfig,
    pub reports_dir: PathBuf,
    /// How report CSVs are written (`[output] excel`).
    pub csv: crate::csv_out::CsvStyle,
    pub index_dir: PathBuf,
    pub clock: Clock,
    /// The thumbnail cache's bound, and whether a sync fills it (`ferry sync` and the nightly job).
    pub thumbnails: crate::config::ThumbnailsConfig,
}

/// Thumbnails made at once after a sync.
pub const THUMBNAILS_AT_ONCE: usize = 2;
/// The longest a sync waits for its thumbnails.
pub const THUMBNAIL_BUDGET: std::time::Duration = std::time::Duration::from_secs(120);

impl Default for Settings {
    /// `ferry.toml`'s defaults, with reports and index in the working directory.
    fn default() -> Self {
        Settings {
            max_change_share: 0.10,
            min_assets: 50,
            concurrency_photoshelter: crate::config::DEFAULT_CONCURRENCY,
            concurrency_preservica: crate::config::DEFAULT_CONCURRENCY,
            expiring_days: 30,
            rights: RightsConfig::default(),
            archive: ArchiveConfig::default(),
            republish: RepublishConfig::default(),
            reports_dir: PathBuf::from("reports"),
            csv: crate::csv_out::CsvStyle::default(),
            index_dir: PathBuf::from("index"),
            clock: Clock::system(),
            thumbnails: crate::config::ThumbnailsConfig::default(),
        }
    }
}

impl Settings {
    pub fn from_config(config: &Config) -> Settings {
        Settings {
            max_change_share: config.guard.max_change_share,
            min_assets: config.guard.min_assets,
            concurrency_photoshelter: config.photoshelter.concurrency,
            concurrency_preservica: config.preservica.concurrency,
            expiring_days: config.notify.expiring_days,
            rights: config.rights.clone(),
            archive: config.archive.clone(),
            republish: config.republish.clone(),
            reports_dir: config.paths.reports.clone(),
            csv: crate::csv_out::CsvStyle {
                excel: config.output.excel,
            },
            index_dir: config.paths.index.clone(),
            clock: Clock::system(),
            thumbnails: config.thumbnails.clone(),
        }
    }
}

/// Borrowed parts a context is made of, for callers that own their clients themselves.
#[derive(Clone, Copy)]
pub struct Parts<'a> {
    pub mapping: &'a Mapping,
    pub photoshelter: &'a PhotoShelterClient,
    pub preservica: &'a PreservicaClient,
}

impl<'a> Parts<'a> {
    /// The one place a [`SyncContext`] is assembled.
    pub fn sync_context(
        self,
        settings: &Settings,
        progress: Option<indicatif::MultiProgress>,
    ) -> SyncContext<'a> {
        SyncContext {
            mapping: self.mapping,
            photoshelter: self.photoshelter,
            preservica: self.preservica,
            max_change_share: settings.max_change_share,
            min_assets: settings.min_assets,
            concurrency_photoshelter: settings.concurrency_photoshelter,
            concurrency_preservica: settings.concurrency_preservica,
            reports_dir: settings.reports_dir.clone(),
            csv: settings.csv,
            clock: settings.clock.clone(),
            progress,
            expiring_days: settings.expiring_days,
            rights: settings.rights.clone(),
        }
    }

    /// The one place a [`TransferContext`] is assembled.
    pub fn transfer_context(
        self,
        settings: &'a Settings,
        progress: Option<indicatif::MultiProgress>,
    ) -> TransferContext<'a> {
        TransferContext {
            mapping: self.mapping,
            photoshelter: self.photoshelter,
            preservica: self.preservica,
            archive: &settings.archive,
            republish: &settings.republish,
            reports_dir: settings.reports_dir.clone(),
            csv: settings.csv,
            index_dir: settings.index_dir.clone(),
            clock: settings.clock.clone(),
            progress,
        }
    }
}

/// Progress bars when stderr is a terminal, none otherwise (logs, pipes, services).
pub fn terminal_progress() -> Option<indicatif::MultiProgress> {
    std::io::IsTerminal::is_terminal(&std::io::stderr()).then(indicatif::MultiProgress::new)
}

/// Everything a run needs, built from the config: mapping, both clients, settings, store path.
pub struct Ferry {
    pub mapping: Mapping,
    pub photoshelter: PhotoShelterClient,
    pub preservica: PreservicaClient,
    pub settings: Settings,
    store_path: PathBuf,
}

impl Ferry {
    /// Loads the mapping the config names and builds both clients.
    pub fn open(config: &Config) -> Result<Ferry, AppError> {
        let mapping = Mapping::load(&config.mapping).map_err(AppError::Mapping)?;
        Ferry::with_mapping(config, mapping)
    }

    /// As [`Ferry::open`], with a mapping already loaded (`ferry serve` loads it once).
    pub fn with_mapping(config: &Config, mapping: Mapping) -> Result<Ferry, AppError> {
        let photoshelter =
            PhotoShelterClient::new(&config.photoshelter).map_err(AppError::PhotoShelter)?;
        let preservica =
            PreservicaClient::from_config(&config.preservica).map_err(AppError::Preservica)?;
        Ok(Ferry {
            mapping,
            photoshelter,
            preservica,
            settings: Settings::from_config(config),
            store_path: config.paths.store.clone(),
        })
    }

    pub fn parts(&self) -> Parts<'_> {
        Parts {
            mapping: &self.mapping,
            photoshelter: &self.photoshelter,
            preservica: &self.preservica,
        }
    }

    pub fn open_store(&self) -> Result<Store, AppError> {
        Store::open(&self.store_path).map_err(AppError::Store)
    }

    pub fn sync_context(&self, progress: Option<indicatif::MultiProgress>) -> SyncContext<'_> {
        self.parts().sync_context(&self.settings, progress)
    }

    pub fn transfer_context(
        &self,
        progress: Option<indicatif::MultiProgress>,
    ) -> TransferContext<'_> {
        self.parts().transfer_context(&self.settings, progress)
    }

    /// One sync run, its notices sent, then [`after_run`]: what `ferry sync` does.
    pub async fn sync(
        &self,
        store: &mut Store,
        opts: &SyncOptions,
        notifier: &Notifier,
        progress: Option<indicatif::MultiProgress>,
    ) -> Result<SyncOutcome, SyncError> {
        let ctx = self.sync_context(progress);
        let out = run_sync(store, &ctx, opts).await;
        let notices = match &out {
            Ok(o) => notices_for(&o.report, &o.paths.html.display().to_string()),
            Err(e @ SyncError::LockedOut(_)) => vec![Notice {
                kind: "lockout",
                text: e.to_string(),
            }],
            Err(_) => Vec::new(),
        };
        notifier.send_all(&notices).await;
        if let Ok(o) = &out {
            self.after_run(store, &o.touched);
            if self.settings.thumbnails.on_sync && !opts.dry_run {
                self.fill_thumbnails(store, &o.touched).await;
            }
        }
        out
    }

    /// Makes the thumbnails of the assets a run touched whose file has none yet (a changed
    /// file has a new identity, so it has none), [`THUMBNAILS_AT_ONCE`] at a time, after the
    /// run's metadata work is done and its report written. The run waits at most
    /// [`THUMBNAIL_BUDGET`]; what is left is made on first view. Failures are logged per
    /// asset and never fail the run.
    pub async fn fill_thumbnails(
        &self,
        store: &Store,
        touched: &[i64],
    ) -> crate::media::fill::Filled {
        use crate::media::{ThumbCache, fill};
        let max = self.settings.thumbnails.max_mib.saturating_mul(1024 * 1024);
        let cache = match ThumbCache::beside_store(&self.store_path, max) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "no thumbnails: the cache beside the store cannot be made");
                return fill::Filled::default();
            }
        };
        let wanted = match fill::wanted(store, &cache, touched) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "no thumbnails: the store could not be read");
                return fill::Filled::default();
            }
        };
        let sources = fill::Sources::new(&self.photoshelter, &self.preservica);
        let filled = fill::fill_many(
            &sources,
            &cache,
            wanted,
            THUMBNAILS_AT_ONCE,
            THUMBNAIL_BUDGET,
        )
        .await;
        tracing::info!(
            made = filled.made,
            failed = filled.failed,
            left = filled.left,
            "thumbnails"
        );
        filled
    }

    /// One archive run, then [`after_run`].
    pub async fn archive(
        &self,
        store: &mut Store,
        request: &ArchiveRequest,
        opts: &ArchiveOptions,
        progress: Option<indicatif::MultiProgress>,
    ) -> Result<TransferOutcome, TransferError> {
        let out = run_archive(store, &self.transfer_context(progress), request, opts).await?;
        self.after_run(store, &out.touched);
        Ok(out)
    }

    /// One republish run, then [`after_run`]: for `ferry republish` and the web app alike.
    pub async fn republish(
        &self,
        store: &mut Store,
        request: &RepublishRequest,
        opts: &RepublishOptions,
        progress: Option<indicatif::MultiProgress>,
    ) -> Result<TransferOutcome, TransferError> {
        let out = run_republish(store, &self.transfer_context(progress), request, opts).await?;
        self.after_run(store, &out.touched);
        Ok(out)
    }

    /// [`after_run`] for this ferry's index and mapping.
    pub fn after_run(&self, store: &Store, touched: &[i64]) {
        after_run(&self.settings.index_dir, &self.mapping, store, touched);
    }
}

/// What the web app needs to build a [`Ferry`] per republish or preview: both tenants and the
/// transfer settings (the clients are made anew for each use).
#[derive(Debug, Clone)]
pub struct Republisher {
    pub photoshelter: PhotoShelterConfig,
    pub preservica: Connection,
    pub archive: ArchiveConfig,
    pub republish: RepublishConfig,
}

impl Republisher {
    /// Both tenants from `config`; `None` (said in the log) when Preservica is not configured,
    /// which hides the web app's republish action.
    pub fn from_config(config: &Config) -> Option<Republisher> {
        match Connection::from_config(&config.preservica) {
            Ok(preservica) => Some(Republisher {
                photoshelter: config.photoshelter.clone(),
                preservica,
                archive: config.archive.clone(),
                republish: config.republish.clone(),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "the web app cannot republish: Preservica is not configured");
                None
            }
        }
    }

    /// A [`Ferry`] over both tenants, with reports and index where the web app has them.
    pub fn open(
        &self,
        mapping: Mapping,
        reports_dir: &Path,
        index_dir: &Path,
        store_path: &Path,
    ) -> Result<Ferry, AppError> {
        let photoshelter =
            PhotoShelterClient::new(&self.photoshelter).map_err(AppError::PhotoShelter)?;
        let preservica =
            PreservicaClient::new(self.preservica.clone()).map_err(AppError::Preservica)?;
        Ok(Ferry {
            mapping,
            photoshelter,
            preservica,
            settings: Settings {
                archive: self.archive.clone(),
                republish: self.republish.clone(),
                reports_dir: reports_dir.to_path_buf(),
                index_dir: index_dir.to_path_buf(),
                ..Settings::default()
            },
            store_path: store_path.to_path_buf(),
        })
    }
}

/// `ferry index rebuild`: a new index of every asset the store knows; returns how many.
pub fn rebuild_index(config: &Config) -> Result<usize, AppError> {
    let store = Store::open(&config.paths.store).map_err(AppError::Store)?;
    let mut index =
        crate::index::SearchIndex::recreate(&config.paths.index).map_err(AppError::Index)?;
    index.set_mapping(Mapping::load(&config.mapping).map_err(AppError::Mapping)?);
    index
        .update_from_store(&store, None, chrono::Utc::now().date_naive())
        .map_err(AppError::Index)
}

/// After any run (sync, archive, republish; CLI, nightly job or web app): refreshes the search
/// index for the assets it touched. Another process updating the index is waited for, within
/// `crate::index::WRITER_WAIT`; a failure is logged, never fatal, as the run itself is done.
pub fn after_run(index_dir: &Path, mapping: &Mapping, store: &Store, touched: &[i64]) {
    if touched.is_empty() {
        return;
    }
    let result = crate::index::SearchIndex::update_dir(
        index_dir,
        mapping,
        store,
        Some(touched),
        chrono::Utc::now().date_naive(),
    );
    match result {
        Ok(n) => tracing::info!(documents = n, "search index updated"),
        Err(e) => {
            tracing::warn!(error = %e, "the search index was not updated; run `ferry index rebuild`")
        }
    }
}
