//! The typed configuration, section by section: what the rest of ferry reads once `ferry.toml`
//! and the environment have been checked.

use std::path::PathBuf;

use crate::http::Limits;

use super::Secret;

/// `[photoshelter]`: the PhotoShelter tenant and how to reach it.
#[derive(Debug, Clone)]
pub struct PhotoShelterConfig {
    /// With scheme and without a trailing slash, e.g. `https://www.photoshelter.com`.
    pub base_url: String,
    /// The login.
    pub email: String,
    pub org_id: Option<String>,
    /// The most requests in flight at once, 1..=64: the ceiling of the adaptive limit.
    pub concurrency: usize,
    /// Whether the limit adapts to the server's pace (default) or stays at `concurrency`.
    pub adaptive: bool,
    pub timeout_secs: u64,
    /// The psapi v4 key.
    pub api_key: Option<Secret>,
    /// A separate v3 key; when `None` the client uses `api_key`.
    pub api_key_v3: Option<Secret>,
    pub password: Option<Secret>,
    pub oauth_token: Option<Secret>,
    /// A media item `ferry doctor` may write to (and restore) to prove write access.
    pub probe_media_id: Option<String>,
    /// The largest answers of each kind, and the most pages of one listing.
    pub limits: Limits,
    /// Plain HTTP to a host other than this machine; refused unless set.
    pub allow_insecure_http: bool,
    /// The config file, so that "secret missing" messages can say where to set it.
    pub file: PathBuf,
}

/// `[preservica]`: the Preservica tenant and how to reach it.
#[derive(Debug, Clone)]
pub struct PreservicaConfig {
    /// `host[:port]`, no scheme, e.g. `eu.preservica.com`.
    pub server: String,
    pub protocol: Protocol,
    pub tenant: Option<String>,
    pub username: String,
    /// The most requests in flight at once, 1..=64: the ceiling of the adaptive limit.
    pub concurrency: usize,
    /// Whether the limit adapts to the server's pace (default) or stays at `concurrency`.
    pub adaptive: bool,
    pub timeout_secs: u64,
    pub password: Option<Secret>,
    /// An asset `ferry doctor` may write to (and restore) to prove write access.
    pub probe_asset: Option<String>,
    /// The largest answers of each kind, and the most pages of one listing.
    pub limits: Limits,
    /// Plain HTTP to a host other than this machine; refused unless set.
    pub allow_insecure_http: bool,
    /// The config file, so that "secret missing" messages can say where to set it.
    pub file: PathBuf,
}

/// How to speak to the Preservica server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Https,
    /// Only for local emulators and test servers.
    Http,
}

impl Protocol {
    /// The URL scheme, `https` or `http`.
    pub fn scheme(self) -> &'static str {
        match self {
            Protocol::Https => "https",
            Protocol::Http => "http",
        }
    }
}

/// `[paths]`: where ferry keeps its own state.
#[derive(Debug, Clone)]
pub struct PathsConfig {
    /// The SQLite database.
    pub store: PathBuf,
    /// The search index directory.
    pub index: PathBuf,
    /// Where drift reports are written.
    pub reports: PathBuf,
}

/// `[schedule]`: when `ferry serve` runs the nightly cycle.
#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    /// Ordinary 5-field cron (`min hour dom month dow`), fields separated by single spaces.
    pub nightly: String,
    /// Only `UTC` for now.
    pub timezone: String,
}

impl ScheduleConfig {
    /// The nightly schedule in the 6-field form (seconds first) that tokio-cron-scheduler takes.
    pub fn six_field_cron(&self) -> String {
        crate::schedule::six_field_cron(&self.nightly)
    }
}

/// `[notify]`: where ferry tells people about lockouts, failures, conflicts waiting and
/// licences about to expire.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// A Slack-compatible webhook (`{"text": …}` is POSTed); a secret, since the URL is the
    /// credential.
    pub webhook_url: Option<Secret>,
    /// A file that notifications are appended to, one JSON object per line.
    pub file: Option<PathBuf>,
    /// Licences expiring within this many days are reported and notified.
    pub expiring_days: u32,
}

/// What to do about an expired licence or a missing model release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RightsAction {
    /// Do nothing about it.
    Ignore,
    /// List it in the report (and notify).
    Report,
    /// Also make it non-public: not searchable in PhotoShelter, a restricted security tag in
    /// Preservica. Never deletes anything.
    Restrict,
}

/// `[rights]`: the rights enforcement policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RightsConfig {
    pub expired: RightsAction,
    pub missing_model_release: RightsAction,
    /// The Preservica security tag that restricts an asset.
    pub restricted_tag: String,
}

impl Default for RightsConfig {
    fn default() -> Self {
        RightsConfig {
            expired: RightsAction::Report,
            missing_model_release: RightsAction::Ignore,
            restricted_tag: "closed".into(),
        }
    }
}

/// What to do with a PhotoShelter gallery once its archive copy is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AfterArchive {
    /// Leave it as it is.
    #[default]
    Keep,
    /// Make it private (never deleted: PhotoShelter's trash cannot restore a gallery).
    Private,
}

/// `[archive]`: what goes into Preservica and where (`ferry archive`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveConfig {
    /// The Preservica folder (ref) archived galleries and media go into.
    pub folder: Option<String>,
    /// A PhotoShelter collection whose galleries are ready to archive.
    pub ready_collection: Option<String>,
    /// A mapped field (canonical name) whose value marks a media item ready to archive.
    pub ready_field: Option<String>,
    /// The values of `ready_field` that mean ready (compared without case).
    pub ready_values: Vec<String>,
    pub after: AfterArchive,
    /// Where originals and packages wait while they move.
    pub staging: PathBuf,
    /// How long to wait for Preservica to ingest a package.
    pub ingest_timeout_secs: u64,
}

/// Which Preservica representation a republish takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rendition {
    /// The access copy when there is one, else the preservation master.
    #[default]
    Access,
    /// Always the preservation master.
    Preservation,
}

/// `[republish]`: how archive assets go back into PhotoShelter (`ferry republish`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepublishConfig {
    pub rendition: Rendition,
    /// Visibility of the galleries ferry creates.
    pub visibility: crate::photoshelter::wire::Visibility,
    /// The collection new galleries go into; `None`: the top level.
    pub collection: Option<String>,
}

impl Default for RepublishConfig {
    fn default() -> Self {
        RepublishConfig {
            rendition: Rendition::Access,
            visibility: crate::photoshelter::wire::Visibility::Private,
            collection: None,
        }
    }
}

/// `[server]`: the web app and nightly service of `ferry serve`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen; loopback by default. Any other address needs an access token.
    pub listen: std::net::SocketAddr,
    pub access_token: Option<Secret>,
}

/// `[live]`: the live mode of `ferry serve` (off by default): Preservica webhooks and the
/// PhotoShelter change poll keep paired assets within minutes of each other between nightly
/// runs. Checked as a whole: enabled needs `public_url` and the webhook secret.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub enabled: bool,
    /// Where Preservica reaches ferry (scheme and host, perhaps a path prefix; no trailing
    /// slash): the webhook endpoint is `<public_url>/webhooks/preservica`.
    pub public_url: Option<String>,
    /// How often PhotoShelter is asked what changed (and Preservica too while its webhooks are
    /// unavailable).
    pub photoshelter_poll_secs: u64,
    /// The shared secret Preservica signs its deliveries with.
    pub webhook_secret: Option<Secret>,
}

impl LiveConfig {
    /// The path of the webhook endpoint under `public_url`.
    pub const WEBHOOK_PATH: &'static str = "/webhooks/preservica";

    /// `<public_url>/webhooks/preservica`, when a public URL is configured.
    pub fn webhook_url(&self) -> Option<String> {
        self.public_url
            .as_ref()
            .map(|u| format!("{u}{}", Self::WEBHOOK_PATH))
    }
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            enabled: false,
            public_url: None,
            photoshelter_poll_secs: 120,
            webhook_secret: None,
        }
    }
}

/// `[guard]`: the mass-change guard (DESIGN.md, safety invariant 6).
#[derive(Debug, Clone)]
pub struct GuardConfig {
    /// A run that would change more than this share of assets (or of one field) applies
    /// nothing; in (0, 1].
    pub max_change_share: f64,
    /// The guard only applies once at least this many assets would change.
    pub min_assets: u64,
}

/// `[thumbnails]`: the thumbnail cache beside the store (see `crate::media`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThumbnailsConfig {
    /// Bound of the cache in MiB; the least recently used thumbnails go first.
    pub max_mib: u64,
    /// Whether a sync makes thumbnails of the assets whose file changed (`--no-thumbnails`
    /// turns it off for one run).
    pub on_sync: bool,
}

impl Default for ThumbnailsConfig {
    fn default() -> Self {
        ThumbnailsConfig {
            max_mib: crate::media::DEFAULT_MAX_MIB,
            on_sync: true,
        }
    }
}

/// `[output]`: how ferry writes files for people.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutputConfig {
    /// CSV files (reports, `ferry search --format csv`) start with a UTF-8 byte-order mark,
    /// for spreadsheet programs.
    pub excel: bool,
}
