//! ferry's configuration: `ferry.toml` loaded once into typed structs, then `FERRY_...`
//! environment overrides, then validated as a whole.
//!
//! Every error names where the bad value came from (file and line, or the environment variable)
//! and says what to do, because ferry runs unattended and the morning reader of the log has only
//! the message to go on. Secrets (passwords, API keys, tokens) come from the environment or from
//! owner-only files, never from `ferry.toml` itself, and never appear in `Debug` output or in an
//! error message.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use serde::de::IgnoredAny;
use toml::Spanned;

use crate::http::Limits;

/// The commented `ferry.toml` that `ferry init` writes.
pub const INIT_TEMPLATE: &str = include_str!("config_template.toml");

const DEFAULT_CONCURRENCY: usize = 8;
const MAX_CONCURRENCY: usize = 64;
const DEFAULT_TIMEOUT_SECS: u64 = 60;
const MAX_TIMEOUT_SECS: u64 = 3600;
const MAX_ANSWER_MIB: u64 = 1024;
const MAX_LISTING_PAGES: u32 = 10_000_000;
const DEFAULT_NIGHTLY: &str = "30 2 * * *";
const DEFAULT_TIMEZONE: &str = "UTC";
const DEFAULT_MAX_CHANGE_SHARE: f64 = 0.10;
const DEFAULT_MIN_ASSETS: u64 = 50;

// ---------------------------------------------------------------------------------------------
// Typed configuration

/// The whole configuration, as loaded by [`Config::load`].
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file it came from.
    pub file: PathBuf,
    pub photoshelter: PhotoShelterConfig,
    pub preservica: PreservicaConfig,
    pub paths: PathsConfig,
    pub schedule: ScheduleConfig,
    /// The mapping file (top-level key `mapping`, default `mapping.toml`).
    pub mapping: PathBuf,
    pub guard: GuardConfig,
    pub notify: NotifyConfig,
    pub server: ServerConfig,
    pub rights: RightsConfig,
    pub archive: ArchiveConfig,
    pub republish: RepublishConfig,
}

/// `[photoshelter]`: the PhotoShelter tenant and how to reach it.
#[derive(Debug, Clone)]
pub struct PhotoShelterConfig {
    /// With scheme and without a trailing slash, e.g. `https://www.photoshelter.com`.
    pub base_url: String,
    /// The login.
    pub email: String,
    pub org_id: Option<String>,
    /// Requests in flight at once, 1..=64.
    pub concurrency: usize,
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
    /// Requests in flight at once, 1..=64.
    pub concurrency: usize,
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
        let fields: Vec<&str> = self.nightly.split_whitespace().collect();
        format!("0 {}", fields.join(" "))
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

/// `[guard]`: the mass-change guard (DESIGN.md, safety invariant 6).
#[derive(Debug, Clone)]
pub struct GuardConfig {
    /// A run that would change more than this share of assets (or of one field) applies
    /// nothing; in (0, 1].
    pub max_change_share: f64,
    /// The guard only applies once at least this many assets would change.
    pub min_assets: u64,
}

// ---------------------------------------------------------------------------------------------
// Secrets

/// A credential. Its `Debug` output is redacted and it has no `Display` or `Serialize`, so the
/// only way to the value is the deliberate [`Secret::expose`].
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl PhotoShelterConfig {
    pub fn require_password(&self) -> Result<&Secret, ConfigError> {
        require(
            &self.password,
            "PhotoShelter password",
            "photoshelter.password",
            &self.file,
        )
    }

    pub fn require_api_key(&self) -> Result<&Secret, ConfigError> {
        require(
            &self.api_key,
            "PhotoShelter API key",
            "photoshelter.api_key",
            &self.file,
        )
    }
}

impl PreservicaConfig {
    pub fn require_password(&self) -> Result<&Secret, ConfigError> {
        require(
            &self.password,
            "Preservica password",
            "preservica.password",
            &self.file,
        )
    }
}

fn require<'a>(
    secret: &'a Option<Secret>,
    what: &'static str,
    key: &str,
    file: &Path,
) -> Result<&'a Secret, ConfigError> {
    secret.as_ref().ok_or_else(|| {
        let spec = secret_spec(key);
        ConfigError::MissingSecret {
            what,
            var: spec.var,
            key: spec.key,
            file: file.to_path_buf(),
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Environment

/// A snapshot of environment variables. Loading takes one explicitly so that tests never touch
/// the process environment.
#[derive(Clone, Default)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    /// The process environment now. Names or values that are not valid Unicode are converted
    /// lossily rather than dropped, so a `FERRY_` variable is never silently ignored.
    pub fn from_process() -> Self {
        Env(std::env::vars_os()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect())
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Env(pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect())
    }

    pub fn empty() -> Self {
        Env(BTreeMap::new())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// An empty variable counts as unset: `FOO= ferry ...` is how shells clear a value.
    fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }
}

// The environment holds credentials (ours and other programs'), so only names are shown.
impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Env")
            .field(&self.0.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// An environment variable that overrides a non-secret key of `ferry.toml`.
pub struct EnvOverride {
    pub var: &'static str,
    /// The dotted key it overrides, e.g. `photoshelter.email`.
    pub key: &'static str,
    apply: fn(&mut RawFile, &str) -> Result<(), String>,
}

impl fmt::Debug for EnvOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvOverride")
            .field("var", &self.var)
            .field("key", &self.key)
            .finish()
    }
}

/// An environment variable that carries a secret; `<key>_file` in `ferry.toml` is the
/// alternative.
#[derive(Debug, Clone, Copy)]
pub struct EnvSecret {
    pub var: &'static str,
    /// The dotted key of the secret, e.g. `photoshelter.password`.
    pub key: &'static str,
}

/// Every override variable. This one table drives both parsing and the unknown-variable check,
/// and the template test checks that `ferry.toml`'s comments name each of them.
pub static ENV_OVERRIDES: &[EnvOverride] = &[
    EnvOverride {
        var: "FERRY_PHOTOSHELTER_BASE_URL",
        key: "photoshelter.base_url",
        apply: |raw, v| {
            raw.photoshelter.base_url = Some(from_env(v.to_owned()));
            Ok(())
        },
    },
    EnvOverride {
        var: "FERRY_PHOTOSHELTER_EMAIL",
        key: "photoshelter.email",
        apply: |raw, v| {
            raw.photoshelter.email = Some(from_env(v.to_owned()));
            Ok(())
        },
    },
    EnvOverride {
        var: "FERRY_PHOTOSHELTER_ORG_ID",
        key: "photoshelter.org_id",
        apply: |raw, v| {
            raw.photoshelter.org_id = Some(from_env(v.to_owned()));
            Ok(())
        },
    },
    EnvOverride {
        var: "FERRY_PHOTOSHELTER_CONCURRENCY",
        key: "photoshelter.concurrency",
        apply: |raw, v| {
            raw.photoshelter.concurrency = Some(from_env(whole_number(v)?));
            Ok(())
        },
    },
    EnvOverride {
        var: "FERRY_PRESERVICA_SERVER",
        key: "preservica.server",
        apply: |raw, v| {
            raw.preservica.server = Some(from_env(v.to_owned()));
            Ok(())
        },
    },
    EnvOverride {
        var: "FERRY_PRESERVICA_PROTOCOL",
        key: "preservica.protocol",
        apply: |raw, v| {
            raw.preservica.protocol = Some(from_env(v.to_owned()));
            Ok(())
        },
    },
    EnvOverride {
        var: "FERRY_PRESERVICA_TENANT",
        key: "preservica.tenant",
        apply: |raw, v| {
            raw.preservica.tenant = Some(from_env(v.to_owned()));
            Ok(())
        },
    },
    EnvOverride {
        var: "FERRY_PRESERVICA_USERNAME",
        key: "preservica.username",
        apply: |raw, v| {
            raw.preservica.username = Some(from_env(v.to_owned()));
            Ok(())
        },
    },
    EnvOverride {
        var: "FERRY_PRESERVICA_CONCURRENCY",
        key: "preservica.concurrency",
        apply: |raw, v| {
            raw.preservica.concurrency = Some(from_env(whole_number(v)?));
            Ok(())
        },
    },
    EnvOverride {
        var: "FERRY_PATHS_STORE",
        key: "paths.store",
        apply: |raw, v| {
            raw.paths.store = Some(from_env(PathBuf::from(v)));
            Ok(())
        },
    },
    EnvOverride {
        var: "FERRY_PATHS_INDEX",
        key: "paths.index",
        apply: |raw, v| {
            raw.paths.index = Some(from_env(PathBuf::from(v)));
            Ok(())
        },
    },
    EnvOverride {
        var: "FERRY_PATHS_REPORTS",
        key: "paths.reports",
        apply: |raw, v| {
            raw.paths.reports = Some(from_env(PathBuf::from(v)));
            Ok(())
        },
    },
    EnvOverride {
        var: "FERRY_MAPPING",
        key: "mapping",
        apply: |raw, v| {
            raw.mapping = Some(from_env(PathBuf::from(v)));
            Ok(())
        },
    },
    EnvOverride {
        var: "FERRY_SCHEDULE_NIGHTLY",
        key: "schedule.nightly",
        apply: |raw, v| {
            raw.schedule.nightly = Some(from_env(v.to_owned()));
            Ok(())
        },
    },
    EnvOverride {
        var: "FERRY_SCHEDULE_TIMEZONE",
        key: "schedule.timezone",
        apply: |raw, v| {
            raw.schedule.timezone = Some(from_env(v.to_owned()));
            Ok(())
        },
    },
    EnvOverride {
        var: "FERRY_GUARD_MAX_CHANGE_SHARE",
        key: "guard.max_change_share",
        apply: |raw, v| {
            let share = v
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("expected a number such as 0.10, got '{v}'"))?;
            raw.guard.max_change_share = Some(from_env(share));
            Ok(())
        },
    },
    EnvOverride {
        var: "FERRY_GUARD_MIN_ASSETS",
        key: "guard.min_assets",
        apply: |raw, v| {
            raw.guard.min_assets = Some(from_env(whole_number(v)?));
            Ok(())
        },
    },
];

/// Every secret variable.
pub static ENV_SECRETS: &[EnvSecret] = &[
    EnvSecret {
        var: "FERRY_PHOTOSHELTER_API_KEY",
        key: "photoshelter.api_key",
    },
    EnvSecret {
        var: "FERRY_PHOTOSHELTER_API_KEY_V3",
        key: "photoshelter.api_key_v3",
    },
    EnvSecret {
        var: "FERRY_PHOTOSHELTER_PASSWORD",
        key: "photoshelter.password",
    },
    EnvSecret {
        var: "FERRY_PHOTOSHELTER_OAUTH_TOKEN",
        key: "photoshelter.oauth_token",
    },
    EnvSecret {
        var: "FERRY_PRESERVICA_PASSWORD",
        key: "preservica.password",
    },
    EnvSecret {
        var: "FERRY_NOTIFY_WEBHOOK_URL",
        key: "notify.webhook_url",
    },
    EnvSecret {
        var: "FERRY_SERVER_ACCESS_TOKEN",
        key: "server.access_token",
    },
];

/// The other `FERRY_` variables ferry reads (outside this module).
pub static ENV_OTHER: &[&str] = &["FERRY_CONFIG", "FERRY_LOG"];

// An override has no place in the file, so its span is empty; `Ctx::origin` looks the key up in
// the list of overridden keys instead of using the span.
fn from_env<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}

fn whole_number<T: FromStr>(v: &str) -> Result<T, String> {
    v.trim()
        .parse::<T>()
        .map_err(|_| format!("expected a whole number, got '{v}'"))
}

fn known_env_vars() -> impl Iterator<Item = &'static str> {
    ENV_OVERRIDES
        .iter()
        .map(|o| o.var)
        .chain(ENV_SECRETS.iter().map(|s| s.var))
        .chain(ENV_OTHER.iter().copied())
}

fn check_env_names(env: &Env) -> Result<(), ConfigError> {
    let known: BTreeSet<&str> = known_env_vars().collect();
    for name in env.0.keys() {
        if name.starts_with("FERRY_") && !known.contains(name.as_str()) {
            let suggestion = known
                .iter()
                .map(|k| (edit_distance(name, k), *k))
                .filter(|(d, _)| *d <= 3)
                .min()
                .map(|(_, k)| k);
            return Err(ConfigError::UnknownEnvVar {
                var: name.clone(),
                suggestion,
            });
        }
    }
    Ok(())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File { file: PathBuf, line: Option<usize> },
    Env { var: String },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File {
                file,
                line: Some(line),
            } => write!(f, "{}:{line}", file.display()),
            Location::File { file, line: None } => write!(f, "{}", file.display()),
            Location::Env { var } => write!(f, "environment variable {var}"),
        }
    }
}

/// Everything that can go wrong loading the configuration or writing the `ferry init` files.
/// No variant ever holds a secret value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // The OS error is part of the message (not a `source`), so that chained printers do not
    // repeat it.
    #[error("{}", read_message(file, io))]
    Read { file: PathBuf, io: io::Error },

    #[error("{}:{line}: invalid TOML: {message}", file.display())]
    Syntax {
        file: PathBuf,
        line: usize,
        message: String,
    },

    #[error("{}:{line}: unknown key '{key}' {}{}", file.display(), section_words(section), valid_keys_words(valid))]
    UnknownKey {
        file: PathBuf,
        line: usize,
        key: String,
        /// Dotted section name; empty for the top level.
        section: String,
        valid: Vec<String>,
    },

    #[error("{at}: {key}: {reason}")]
    Value {
        at: Location,
        key: String,
        reason: String,
    },

    #[error("{}: missing required key '{name}' in [{section}]; add it, or set {var}", file.display())]
    Missing {
        file: PathBuf,
        section: &'static str,
        name: &'static str,
        var: &'static str,
    },

    #[error(
        "{}:{line}: {key}: secrets are not allowed in ferry.toml; set {var} or {key}_file (a file only its owner can read: chmod 600)",
        file.display()
    )]
    InlineSecret {
        file: PathBuf,
        line: usize,
        key: &'static str,
        var: &'static str,
    },

    #[error("{at}: {key}_file: cannot read secret file {}: {io}", path.display())]
    SecretFileRead {
        at: Location,
        key: &'static str,
        path: PathBuf,
        io: io::Error,
    },

    #[error("{at}: {key}_file: secret file {} is empty", path.display())]
    SecretFileEmpty {
        at: Location,
        key: &'static str,
        path: PathBuf,
    },

    #[error(
        "{}: secret file is readable by others (mode {mode:04o}); run: chmod 600 {}",
        path.display(),
        path.display()
    )]
    SecretFileMode { path: PathBuf, mode: u32 },

    #[error("no {what}: set {var} or {key}_file in {}", file.display())]
    MissingSecret {
        what: &'static str,
        var: &'static str,
        key: &'static str,
        file: PathBuf,
    },

    #[error("unknown environment variable {var}{}", suggestion.map(|s| format!(" (did you mean {s}?)")).unwrap_or_default())]
    UnknownEnvVar {
        var: String,
        suggestion: Option<&'static str>,
    },

    #[error("{}: {message}", at)]
    Other { at: Location, message: String },

    #[error("{} already exists; ferry init never overwrites files", path.display())]
    InitExists { path: PathBuf },

    #[error("cannot write {}: {io}", path.display())]
    InitWrite { path: PathBuf, io: io::Error },
}

fn read_message(file: &Path, io: &io::Error) -> String {
    let hint = if io.kind() == io::ErrorKind::NotFound
        && file.file_name().is_some_and(|n| n == "ferry.toml")
    {
        let dir = file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        format!("; run 'ferry init {}' to create one", dir.display())
    } else {
        String::new()
    };
    format!("cannot read {}: {io}{hint}", file.display())
}

fn section_words(section: &str) -> String {
    if section.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("in [{section}]")
    }
}

fn valid_keys_words(valid: &[String]) -> String {
    if valid.is_empty() {
        String::new()
    } else {
        format!("; valid keys: {}", valid.join(", "))
    }
}

// ---------------------------------------------------------------------------------------------
// The file as written

// `Spanned` keeps each value's place in the file so that validation errors can give the line.
// Inline secret keys are accepted by the parser only so that they get their own message instead
// of "unknown key".

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
struct RawFile {
    photoshelter: RawPhotoShelter,
    preservica: RawPreservica,
    paths: RawPaths,
    schedule: RawSchedule,
    mapping: Option<Spanned<PathBuf>>,
    guard: RawGuard,
    notify: RawNotify,
    server: RawServer,
    rights: RawRights,
    archive: RawArchive,
    republish: RawRepublish,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
struct RawArchive {
    folder: Option<Spanned<String>>,
    ready_collection: Option<Spanned<String>>,
    ready_field: Option<Spanned<String>>,
    ready_values: Option<Spanned<Vec<String>>>,
    after: Option<Spanned<String>>,
    staging: Option<Spanned<PathBuf>>,
    ingest_timeout_secs: Option<Spanned<u64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
struct RawRepublish {
    rendition: Option<Spanned<String>>,
    visibility: Option<Spanned<String>>,
    collection: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
struct RawRights {
    expired: Option<Spanned<String>>,
    missing_model_release: Option<Spanned<String>>,
    restricted_tag: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
struct RawNotify {
    webhook_url_file: Option<Spanned<PathBuf>>,
    webhook_url: Option<Spanned<IgnoredAny>>,
    file: Option<Spanned<PathBuf>>,
    expiring_days: Option<Spanned<u32>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
struct RawServer {
    listen: Option<Spanned<String>>,
    access_token_file: Option<Spanned<PathBuf>>,
    access_token: Option<Spanned<IgnoredAny>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
struct RawPhotoShelter {
    base_url: Option<Spanned<String>>,
    email: Option<Spanned<String>>,
    org_id: Option<Spanned<String>>,
    probe_media_id: Option<Spanned<String>>,
    concurrency: Option<Spanned<usize>>,
    timeout_secs: Option<Spanned<u64>>,
    allow_insecure_http: Option<Spanned<bool>>,
    max_login_mib: Option<Spanned<u64>>,
    max_page_mib: Option<Spanned<u64>>,
    max_record_mib: Option<Spanned<u64>>,
    max_pages: Option<Spanned<u32>>,
    api_key_file: Option<Spanned<PathBuf>>,
    api_key_v3_file: Option<Spanned<PathBuf>>,
    password_file: Option<Spanned<PathBuf>>,
    oauth_token_file: Option<Spanned<PathBuf>>,
    api_key: Option<Spanned<IgnoredAny>>,
    api_key_v3: Option<Spanned<IgnoredAny>>,
    password: Option<Spanned<IgnoredAny>>,
    oauth_token: Option<Spanned<IgnoredAny>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
struct RawPreservica {
    server: Option<Spanned<String>>,
    protocol: Option<Spanned<String>>,
    tenant: Option<Spanned<String>>,
    probe_asset: Option<Spanned<String>>,
    username: Option<Spanned<String>>,
    concurrency: Option<Spanned<usize>>,
    timeout_secs: Option<Spanned<u64>>,
    allow_insecure_http: Option<Spanned<bool>>,
    max_login_mib: Option<Spanned<u64>>,
    max_page_mib: Option<Spanned<u64>>,
    max_record_mib: Option<Spanned<u64>>,
    max_fragment_mib: Option<Spanned<u64>>,
    max_pages: Option<Spanned<u32>>,
    password_file: Option<Spanned<PathBuf>>,
    password: Option<Spanned<IgnoredAny>>,
}

/// The answer limits of one system's section, as written.
struct RawLimits {
    login_mib: Option<Spanned<u64>>,
    page_mib: Option<Spanned<u64>>,
    record_mib: Option<Spanned<u64>>,
    fragment_mib: Option<Spanned<u64>>,
    pages: Option<Spanned<u32>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
struct RawPaths {
    store: Option<Spanned<PathBuf>>,
    index: Option<Spanned<PathBuf>>,
    reports: Option<Spanned<PathBuf>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
struct RawSchedule {
    nightly: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
struct RawGuard {
    max_change_share: Option<Spanned<f64>>,
    min_assets: Option<Spanned<u64>>,
}

const INLINE_SECRET_KEYS: &[&str] = &["api_key", "api_key_v3", "password", "oauth_token"];

// ---------------------------------------------------------------------------------------------
// Loading

impl Config {
    /// `FERRY_CONFIG` if set, else `./ferry.toml`.
    pub fn default_path(env: &Env) -> PathBuf {
        env.non_empty("FERRY_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("./ferry.toml"))
    }

    /// Reads `path`, applies the overrides and secrets from `env`, and validates the result.
    /// Missing secrets are not an error here (commands that do not connect must work); the
    /// clients ask with `require_password` and friends.
    pub fn load(path: &Path, env: &Env) -> Result<Config, ConfigError> {
        let text = fs::read_to_string(path).map_err(|io| ConfigError::Read {
            file: path.to_path_buf(),
            io,
        })?;
        let mut raw = parse(path, &text)?;
        check_env_names(env)?;

        // Paths in the config resolve against its directory, made absolute, so what ferry
        // records (report paths in the store) means the same from any working directory.
        let dir = std::path::absolute(path)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| path.parent().unwrap_or(Path::new("")).to_path_buf());
        let mut ctx = Ctx {
            file: path,
            dir,
            text: &text,
            from_env: BTreeMap::new(),
        };
        for o in ENV_OVERRIDES {
            if let Some(value) = env.get(o.var) {
                (o.apply)(&mut raw, value).map_err(|reason| ConfigError::Value {
                    at: Location::Env {
                        var: o.var.to_owned(),
                    },
                    key: o.key.to_owned(),
                    reason,
                })?;
                ctx.from_env.insert(o.key, o.var);
            }
        }

        let mapping = ctx.path("mapping", raw.mapping, "mapping.toml")?;
        let photoshelter = ctx.photoshelter(raw.photoshelter, env)?;
        let preservica = ctx.preservica(raw.preservica, env)?;
        let paths = PathsConfig {
            store: ctx.path("paths.store", raw.paths.store, "ferry.db")?,
            index: ctx.path("paths.index", raw.paths.index, "index")?,
            reports: ctx.path("paths.reports", raw.paths.reports, "reports")?,
        };
        let schedule = ctx.schedule(raw.schedule)?;
        let guard = ctx.guard(raw.guard)?;
        ctx.refuse_inline("notify.webhook_url", &raw.notify.webhook_url)?;
        ctx.refuse_inline("server.access_token", &raw.server.access_token)?;
        let notify = NotifyConfig {
            webhook_url: ctx.secret(env, "notify.webhook_url", raw.notify.webhook_url_file)?,
            file: match raw.notify.file {
                Some(f) => Some(ctx.path("notify.file", Some(f), "")?),
                None => None,
            },
            expiring_days: raw.notify.expiring_days.map_or(30, Spanned::into_inner),
        };
        let listen = match raw.server.listen {
            None => std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(v) => v.get_ref().trim().parse().map_err(|_| {
                ctx.invalid(
                    "server.listen",
                    &v,
                    format!(
                        "must be an address and port like 127.0.0.1:8080, got '{}'",
                        v.get_ref()
                    ),
                )
            })?,
        };
        let server = ServerConfig {
            listen,
            access_token: ctx.secret(env, "server.access_token", raw.server.access_token_file)?,
        };

        let action = |key: &'static str, v: Option<Spanned<String>>, default| match v {
            None => Ok(default),
            Some(v) => match v.get_ref().trim() {
                "ignore" => Ok(RightsAction::Ignore),
                "report" => Ok(RightsAction::Report),
                "restrict" => Ok(RightsAction::Restrict),
                other => Err(ctx.invalid(
                    key,
                    &v,
                    format!("must be \"ignore\", \"report\" or \"restrict\", got '{other}'"),
                )),
            },
        };
        let rights = RightsConfig {
            expired: action("rights.expired", raw.rights.expired, RightsAction::Report)?,
            missing_model_release: action(
                "rights.missing_model_release",
                raw.rights.missing_model_release,
                RightsAction::Ignore,
            )?,
            restricted_tag: raw
                .rights
                .restricted_tag
                .map(|t| t.into_inner().trim().to_string())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "closed".into()),
        };

        let archive = ctx.archive(raw.archive)?;
        let republish = ctx.republish(raw.republish)?;

        Ok(Config {
            file: path.to_path_buf(),
            photoshelter,
            preservica,
            paths,
            schedule,
            mapping,
            guard,
            notify,
            server,
            rights,
            archive,
            republish,
        })
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

// Syntax is checked first, on its own, so that a syntax error is never reported as a type error.
// toml's own `Display` is avoided throughout because it quotes the offending source line, which
// could hold a secret; `message()` never does.
fn parse(file: &Path, text: &str) -> Result<RawFile, ConfigError> {
    let doc = toml::de::DeTable::parse(text).map_err(|e| ConfigError::Syntax {
        file: file.to_path_buf(),
        line: e.span().map_or(1, |s| line_of(text, s.start)),
        message: e.message().to_owned(),
    })?;
    toml::from_str::<RawFile>(text).map_err(|e| {
        let span = e.span();
        let line = span.as_ref().map(|s| line_of(text, s.start));
        let found = span.and_then(|s| key_at(doc.get_ref(), &s));
        let message = e.message();
        if let (Some(rest), Some((path, true))) =
            (message.strip_prefix("unknown field `"), found.as_ref())
        {
            let key = rest.split('`').next().unwrap_or_default().to_owned();
            let section = path[..path.len() - 1].join(".");
            let valid = rest
                .split_once("expected ")
                .map(|(_, list)| {
                    // serde writes "`a`", "`a` or `b`" or "one of `a`, `b`, `c`": the names are
                    // the backquoted parts.
                    list.split('`')
                        .skip(1)
                        .step_by(2)
                        .filter(|k| !INLINE_SECRET_KEYS.contains(k))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            return ConfigError::UnknownKey {
                file: file.to_path_buf(),
                line: line.unwrap_or(1),
                key,
                section,
                valid,
            };
        }
        let at = Location::File {
            file: file.to_path_buf(),
            line,
        };
        match found {
            Some((path, _)) => ConfigError::Value {
                at,
                key: path.join("."),
                reason: message.to_owned(),
            },
            None => ConfigError::Other {
                at,
                message: message.to_owned(),
            },
        }
    })
}

/// The dotted key whose name (`true`) or value (`false`) sits exactly at `span`.
fn key_at(table: &toml::de::DeTable<'_>, span: &Range<usize>) -> Option<(Vec<String>, bool)> {
    fn walk(
        table: &toml::de::DeTable<'_>,
        prefix: &mut Vec<String>,
        span: &Range<usize>,
        found: &mut Option<(Vec<String>, bool)>,
    ) {
        for (k, v) in table.iter() {
            prefix.push(k.get_ref().to_string());
            if k.span() == *span {
                *found = Some((prefix.clone(), true));
            } else if v.span() == *span {
                *found = Some((prefix.clone(), false));
            }
            if let Some(inner) = v.get_ref().as_table() {
                walk(inner, prefix, span, found);
            }
            prefix.pop();
        }
    }
    let mut found = None;
    walk(table, &mut Vec::new(), span, &mut found);
    found
}

struct Ctx<'a> {
    file: &'a Path,
    dir: PathBuf,
    text: &'a str,
    /// Keys set by an override, with the variable that set them.
    from_env: BTreeMap<&'static str, &'static str>,
}

impl Ctx<'_> {
    fn file_at(&self, span: Option<Range<usize>>) -> Location {
        Location::File {
            file: self.file.to_path_buf(),
            line: span.map(|s| line_of(self.text, s.start)),
        }
    }

    fn origin<T>(&self, key: &str, value: &Spanned<T>) -> Location {
        match self.from_env.get(key) {
            Some(var) => Location::Env {
                var: (*var).to_owned(),
            },
            None => self.file_at(Some(value.span())),
        }
    }

    fn invalid<T>(&self, key: &str, value: &Spanned<T>, reason: String) -> ConfigError {
        ConfigError::Value {
            at: self.origin(key, value),
            key: key.to_owned(),
            reason,
        }
    }

    fn required(
        &self,
        section: &'static str,
        name: &'static str,
        value: Option<Spanned<String>>,
    ) -> Result<Spanned<String>, ConfigError> {
        let key = format!("{section}.{name}");
        let value = value.ok_or_else(|| ConfigError::Missing {
            file: self.file.to_path_buf(),
            section,
            name,
            var: ENV_OVERRIDES
                .iter()
                .find(|o| o.key == key)
                .map_or("", |o| o.var),
        })?;
        if value.get_ref().trim().is_empty() {
            return Err(self.invalid(&key, &value, "must not be empty".to_owned()));
        }
        Ok(value)
    }

    /// An empty value means "none", so that an override can clear a value set in the file.
    fn optional(value: Option<Spanned<String>>) -> Option<String> {
        value
            .map(|v| v.get_ref().trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn in_range<T>(
        &self,
        key: &str,
        value: Option<Spanned<T>>,
        default: T,
        min: T,
        max: T,
    ) -> Result<T, ConfigError>
    where
        T: PartialOrd + Copy + fmt::Display,
    {
        match value {
            None => Ok(default),
            Some(v) if *v.get_ref() >= min && *v.get_ref() <= max => Ok(v.into_inner()),
            Some(v) => Err(self.invalid(
                key,
                &v,
                format!("must be between {min} and {max}, got {}", v.get_ref()),
            )),
        }
    }

    /// File paths resolve against the config file's directory; override paths resolve
    /// against the current directory like any command-line path. Both are made absolute.
    fn path(
        &self,
        key: &str,
        value: Option<Spanned<PathBuf>>,
        default: &str,
    ) -> Result<PathBuf, ConfigError> {
        let Some(value) = value else {
            return Ok(self.dir.join(default));
        };
        if value.get_ref().as_os_str().is_empty() {
            return Err(self.invalid(key, &value, "must not be empty".to_owned()));
        }
        if self.from_env.contains_key(key) {
            let given = value.into_inner();
            Ok(std::path::absolute(&given).unwrap_or(given))
        } else {
            Ok(self.dir.join(value.get_ref()))
        }
    }

    fn refuse_inline(
        &self,
        key: &'static str,
        value: &Option<Spanned<IgnoredAny>>,
    ) -> Result<(), ConfigError> {
        match value {
            None => Ok(()),
            Some(v) => Err(ConfigError::InlineSecret {
                file: self.file.to_path_buf(),
                line: line_of(self.text, v.span().start),
                key,
                var: secret_spec(key).var,
            }),
        }
    }

    /// The environment wins over the file; a secret file is checked for its mode before it is
    /// read, so an exposed secret is never even loaded.
    fn secret(
        &self,
        env: &Env,
        key: &'static str,
        file: Option<Spanned<PathBuf>>,
    ) -> Result<Option<Secret>, ConfigError> {
        if let Some(value) = env.non_empty(secret_spec(key).var) {
            return Ok(Some(Secret::new(value)));
        }
        let Some(file) = file else {
            return Ok(None);
        };
        let at = self.file_at(Some(file.span()));
        // An empty path would name the config's own directory.
        if file.get_ref().as_os_str().is_empty() {
            return Err(ConfigError::Value {
                at,
                key: format!("{key}_file"),
                reason: "must not be empty".to_owned(),
            });
        }
        let path = self.dir.join(file.get_ref());
        let read_error = |io| ConfigError::SecretFileRead {
            at: at.clone(),
            key,
            path: path.clone(),
            io,
        };
        let meta = fs::metadata(&path).map_err(read_error)?;
        // A directory holds no secret to expose; reading it fails below with the OS's reason
        // instead of a request to chmod it.
        if !meta.is_dir() {
            check_secret_mode(&path, &meta)?;
        }
        let mut content = fs::read_to_string(&path).map_err(read_error)?;
        if content.ends_with('\n') {
            content.pop();
            if content.ends_with('\r') {
                content.pop();
            }
        }
        if content.is_empty() {
            return Err(ConfigError::SecretFileEmpty { at, key, path });
        }
        Ok(Some(Secret::new(content)))
    }

    fn photoshelter(
        &self,
        raw: RawPhotoShelter,
        env: &Env,
    ) -> Result<PhotoShelterConfig, ConfigError> {
        self.refuse_inline("photoshelter.api_key", &raw.api_key)?;
        self.refuse_inline("photoshelter.api_key_v3", &raw.api_key_v3)?;
        self.refuse_inline("photoshelter.password", &raw.password)?;
        self.refuse_inline("photoshelter.oauth_token", &raw.oauth_token)?;

        let base_url = self.required("photoshelter", "base_url", raw.base_url)?;
        let url = base_url.get_ref().trim();
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        if host
            .is_none_or(|h| h.trim_end_matches('/').is_empty() || h.contains(char::is_whitespace))
        {
            return Err(self.invalid(
                "photoshelter.base_url",
                &base_url,
                format!(
                    "must be a URL starting with http:// or https://, e.g. \"https://www.photoshelter.com\"; got \"{url}\""
                ),
            ));
        }
        // Clients append paths that start with '/'.
        let base_url = url.trim_end_matches('/').to_owned();

        Ok(PhotoShelterConfig {
            base_url,
            email: self
                .required("photoshelter", "email", raw.email)?
                .get_ref()
                .trim()
                .to_owned(),
            org_id: Self::optional(raw.org_id),
            probe_media_id: Self::optional(raw.probe_media_id),
            concurrency: self.in_range(
                "photoshelter.concurrency",
                raw.concurrency,
                DEFAULT_CONCURRENCY,
                1,
                MAX_CONCURRENCY,
            )?,
            timeout_secs: self.in_range(
                "photoshelter.timeout_secs",
                raw.timeout_secs,
                DEFAULT_TIMEOUT_SECS,
                1,
                MAX_TIMEOUT_SECS,
            )?,
            limits: self.limits(
                "photoshelter",
                RawLimits {
                    login_mib: raw.max_login_mib,
                    page_mib: raw.max_page_mib,
                    record_mib: raw.max_record_mib,
                    // PhotoShelter has no metadata fragments.
                    fragment_mib: None,
                    pages: raw.max_pages,
                },
            )?,
            allow_insecure_http: raw.allow_insecure_http.is_some_and(Spanned::into_inner),
            api_key: self.secret(env, "photoshelter.api_key", raw.api_key_file)?,
            api_key_v3: self.secret(env, "photoshelter.api_key_v3", raw.api_key_v3_file)?,
            password: self.secret(env, "photoshelter.password", raw.password_file)?,
            oauth_token: self.secret(env, "photoshelter.oauth_token", raw.oauth_token_file)?,
            file: self.file.to_path_buf(),
        })
    }

    fn preservica(&self, raw: RawPreservica, env: &Env) -> Result<PreservicaConfig, ConfigError> {
        self.refuse_inline("preservica.password", &raw.password)?;

        let server = self.required("preservica", "server", raw.server)?;
        if let Err(why) = check_server(server.get_ref().trim()) {
            return Err(self.invalid(
                "preservica.server",
                &server,
                format!(
                    "{why}; expected host[:port] without a scheme, e.g. \"eu.preservica.com\" (preservica.protocol sets http or https); got \"{}\"",
                    server.get_ref()
                ),
            ));
        }

        let protocol = match raw.protocol {
            None => Protocol::default(),
            Some(p) => match p.get_ref().trim().to_ascii_lowercase().as_str() {
                "https" => Protocol::Https,
                "http" => Protocol::Http,
                _ => {
                    return Err(self.invalid(
                        "preservica.protocol",
                        &p,
                        format!("must be \"https\" or \"http\", got \"{}\"", p.get_ref()),
                    ));
                }
            },
        };

        Ok(PreservicaConfig {
            server: server.get_ref().trim().to_owned(),
            protocol,
            tenant: Self::optional(raw.tenant),
            probe_asset: Self::optional(raw.probe_asset),
            username: self
                .required("preservica", "username", raw.username)?
                .get_ref()
                .trim()
                .to_owned(),
            concurrency: self.in_range(
                "preservica.concurrency",
                raw.concurrency,
                DEFAULT_CONCURRENCY,
                1,
                MAX_CONCURRENCY,
            )?,
            timeout_secs: self.in_range(
                "preservica.timeout_secs",
                raw.timeout_secs,
                DEFAULT_TIMEOUT_SECS,
                1,
                MAX_TIMEOUT_SECS,
            )?,
            limits: self.limits(
                "preservica",
                RawLimits {
                    login_mib: raw.max_login_mib,
                    page_mib: raw.max_page_mib,
                    record_mib: raw.max_record_mib,
                    fragment_mib: raw.max_fragment_mib,
                    pages: raw.max_pages,
                },
            )?,
            allow_insecure_http: raw.allow_insecure_http.is_some_and(Spanned::into_inner),
            password: self.secret(env, "preservica.password", raw.password_file)?,
            file: self.file.to_path_buf(),
        })
    }

    /// A system's answer limits: each in MiB (1 to 1024), pages 1 to 10,000,000.
    fn limits(&self, section: &str, raw: RawLimits) -> Result<Limits, ConfigError> {
        let d = Limits::default();
        let mib = |name: &str, v: Option<Spanned<u64>>, default: u64| {
            self.in_range(&format!("{section}.{name}"), v, default, 1, MAX_ANSWER_MIB)
                .map(|m| m * 1024 * 1024)
        };
        Ok(Limits {
            login: mib("max_login_mib", raw.login_mib, Limits::DEFAULT_LOGIN_MIB)?,
            page: mib("max_page_mib", raw.page_mib, Limits::DEFAULT_PAGE_MIB)?,
            record: mib("max_record_mib", raw.record_mib, Limits::DEFAULT_RECORD_MIB)?,
            fragment: mib(
                "max_fragment_mib",
                raw.fragment_mib,
                Limits::DEFAULT_FRAGMENT_MIB,
            )?,
            max_pages: self.in_range(
                &format!("{section}.max_pages"),
                raw.pages,
                d.max_pages,
                1,
                MAX_LISTING_PAGES,
            )?,
        })
    }

    fn schedule(&self, raw: RawSchedule) -> Result<ScheduleConfig, ConfigError> {
        let nightly = match raw.nightly {
            None => DEFAULT_NIGHTLY.to_owned(),
            Some(v) => check_cron(v.get_ref())
                .map_err(|reason| self.invalid("schedule.nightly", &v, reason))?,
        };
        let timezone = match raw.timezone {
            None => DEFAULT_TIMEZONE.to_owned(),
            Some(v) if v.get_ref().trim().eq_ignore_ascii_case("UTC") => "UTC".to_owned(),
            Some(v) => {
                return Err(self.invalid(
                    "schedule.timezone",
                    &v,
                    format!(
                        "\"{}\": other time zones are not supported yet; use \"UTC\"",
                        v.get_ref()
                    ),
                ));
            }
        };
        Ok(ScheduleConfig { nightly, timezone })
    }

    fn archive(&self, raw: RawArchive) -> Result<ArchiveConfig, ConfigError> {
        let text = |v: Option<Spanned<String>>| {
            v.map(|v| v.into_inner().trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let after = match raw.after {
            None => AfterArchive::Keep,
            Some(v) => match v.get_ref().trim() {
                "keep" => AfterArchive::Keep,
                "private" => AfterArchive::Private,
                other => {
                    return Err(self.invalid(
                        "archive.after",
                        &v,
                        format!("must be \"keep\" or \"private\", got '{other}'"),
                    ));
                }
            },
        };
        let ingest_timeout_secs = match raw.ingest_timeout_secs {
            None => 900,
            Some(v) if *v.get_ref() > 0 => v.into_inner(),
            Some(v) => {
                return Err(self.invalid(
                    "archive.ingest_timeout_secs",
                    &v,
                    "must be at least 1 second".to_string(),
                ));
            }
        };
        let ready_field = text(raw.ready_field);
        let ready_values = raw
            .ready_values
            .map(|v| v.into_inner())
            .unwrap_or_else(|| vec!["final".into(), "approved".into()])
            .into_iter()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        Ok(ArchiveConfig {
            folder: text(raw.folder),
            ready_collection: text(raw.ready_collection),
            ready_field,
            ready_values,
            after,
            staging: self.path("archive.staging", raw.staging, "transfers")?,
            ingest_timeout_secs,
        })
    }

    fn republish(&self, raw: RawRepublish) -> Result<RepublishConfig, ConfigError> {
        let rendition = match raw.rendition {
            None => Rendition::Access,
            Some(v) => match v.get_ref().trim() {
                "access" => Rendition::Access,
                "preservation" => Rendition::Preservation,
                other => {
                    return Err(self.invalid(
                        "republish.rendition",
                        &v,
                        format!("must be \"access\" or \"preservation\", got '{other}'"),
                    ));
                }
            },
        };
        let visibility = match raw.visibility {
            None => crate::photoshelter::wire::Visibility::Private,
            Some(v) => {
                crate::photoshelter::wire::Visibility::parse(v.get_ref()).ok_or_else(|| {
                    self.invalid(
                        "republish.visibility",
                        &v,
                        format!(
                            "must be \"private\", \"permission\" or \"everyone\", got '{}'",
                            v.get_ref()
                        ),
                    )
                })?
            }
        };
        Ok(RepublishConfig {
            rendition,
            visibility,
            collection: raw
                .collection
                .map(|v| v.into_inner().trim().to_string())
                .filter(|v| !v.is_empty()),
        })
    }

    fn guard(&self, raw: RawGuard) -> Result<GuardConfig, ConfigError> {
        let max_change_share = match raw.max_change_share {
            None => DEFAULT_MAX_CHANGE_SHARE,
            // Written so that NaN fails too.
            Some(v) if *v.get_ref() > 0.0 && *v.get_ref() <= 1.0 => v.into_inner(),
            Some(v) => {
                return Err(self.invalid(
                    "guard.max_change_share",
                    &v,
                    format!(
                        "must be a share greater than 0 and at most 1 (0.10 means 10%), got {}",
                        v.get_ref()
                    ),
                ));
            }
        };
        Ok(GuardConfig {
            max_change_share,
            min_assets: raw
                .min_assets
                .map_or(DEFAULT_MIN_ASSETS, Spanned::into_inner),
        })
    }
}

fn secret_spec(key: &str) -> &'static EnvSecret {
    ENV_SECRETS
        .iter()
        .find(|s| s.key == key)
        .expect("every secret key is in ENV_SECRETS")
}

#[cfg(unix)]
fn check_secret_mode(path: &Path, meta: &fs::Metadata) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(ConfigError::SecretFileMode {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_secret_mode(_path: &Path, _meta: &fs::Metadata) -> Result<(), ConfigError> {
    Ok(())
}

fn check_server(server: &str) -> Result<(), &'static str> {
    if server.contains("://") {
        return Err("has a scheme");
    }
    if server.is_empty()
        || server.contains(['/', '?', '#', '@'])
        || server.contains(char::is_whitespace)
    {
        return Err("is not a host name");
    }
    if let Some((host, port)) = server.rsplit_once(':') {
        if host.is_empty() {
            return Err("has no host");
        }
        if !port.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err("has a port that is not a number from 1 to 65535");
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Cron

struct CronField {
    name: &'static str,
    min: u32,
    max: u32,
    /// Three-letter names, the first meaning `min`.
    names: &'static [&'static str],
}

const CRON_FIELDS: [CronField; 5] = [
    CronField {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    CronField {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    CronField {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
    },
    CronField {
        name: "month",
        min: 1,
        max: 12,
        names: &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
    },
    // 0 and 7 are both Sunday, as in Unix cron and in croner (tokio-cron-scheduler's parser).
    CronField {
        name: "day-of-week",
        min: 0,
        max: 7,
        names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    },
];

const CRON_FORM: &str = "minute hour day-of-month month day-of-week";

/// Checks a 5-field cron expression and returns it with single spaces between fields.
fn check_cron(expr: &str) -> Result<String, String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    match fields.len() {
        5 => {}
        n @ (6 | 7) => {
            return Err(format!(
                "\"{expr}\" has {n} fields; ferry takes the ordinary 5-field cron form \"{CRON_FORM}\", e.g. \"30 2 * * *\" (leave out seconds and year)"
            ));
        }
        n => {
            return Err(format!(
                "\"{expr}\" has {n} fields; expected the 5-field cron form \"{CRON_FORM}\", e.g. \"30 2 * * *\""
            ));
        }
    }
    for (text, field) in fields.iter().zip(&CRON_FIELDS) {
        check_cron_field(text, field).map_err(|why| {
            format!(
                "invalid {} field '{text}' in \"{expr}\": {why}; each field takes a number, *, */n, a range a-b (optionally /n) or a list a,b",
                field.name
            )
        })?;
    }
    Ok(fields.join(" "))
}

fn check_cron_field(text: &str, field: &CronField) -> Result<(), String> {
    for item in text.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => (base, Some(step)),
            None => (item, None),
        };
        if let Some(step) = step {
            let ok = step.parse::<u32>().is_ok_and(|s| s >= 1 && s <= field.max);
            if !ok {
                return Err(format!(
                    "step '{step}' must be a number from 1 to {}",
                    field.max
                ));
            }
        }
        if base == "*" {
            continue;
        }
        match base.split_once('-') {
            Some((a, b)) => {
                let start = cron_value(a, field, false)?;
                let end = cron_value(b, field, true)?;
                if start > end {
                    return Err(format!("range '{base}' runs backwards"));
                }
            }
            None => {
                if step.is_some() {
                    return Err(format!(
                        "a step needs * or a range before it, e.g. */15 or 0-30/15, not '{item}'"
                    ));
                }
                cron_value(base, field, false)?;
            }
        }
    }
    Ok(())
}

fn cron_value(text: &str, field: &CronField, range_end: bool) -> Result<u32, String> {
    if text.is_empty() {
        return Err("a value is missing".to_owned());
    }
    if let Ok(n) = text.parse::<u32>() {
        if n < field.min || n > field.max {
            return Err(format!("{n} is outside {}-{}", field.min, field.max));
        }
        return Ok(n);
    }
    let lower = text.to_ascii_lowercase();
    match field.names.iter().position(|n| *n == lower) {
        // "mon-sun" must read as 1-7, not 1-0.
        Some(0) if range_end && field.name == "day-of-week" => Ok(7),
        Some(i) => Ok(field.min + i as u32),
        None if field.names.is_empty() => Err(format!(
            "'{text}' is not a number from {} to {}",
            field.min, field.max
        )),
        None => Err(format!(
            "'{text}' is not a number from {} to {} or a name like '{}'",
            field.min, field.max, field.names[0]
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// ferry init

/// Writes `dir/ferry.toml` (the template) and `dir/mapping.toml` (`default_mapping`), creating
/// `dir` if needed. Refuses before writing anything if either file exists.
pub fn write_init(dir: &Path, default_mapping: &str) -> Result<Vec<PathBuf>, ConfigError> {
    let files = [
        (dir.join("ferry.toml"), INIT_TEMPLATE),
        (dir.join("mapping.toml"), default_mapping),
    ];
    for (path, _) in &files {
        match fs::symlink_metadata(path) {
            Ok(_) => return Err(ConfigError::InitExists { path: path.clone() }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(io) => {
                return Err(ConfigError::InitWrite {
                    path: path.clone(),
                    io,
                });
            }
        }
    }
    fs::create_dir_all(dir).map_err(|io| ConfigError::InitWrite {
        path: dir.to_path_buf(),
        io,
    })?;
    let mut written = Vec::new();
    for (path, content) in files {
        // `create_new` so that a file appearing since the check above is still not overwritten.
        let result = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| f.write_all(content.as_bytes()));
        match result {
            Ok(()) => written.push(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(ConfigError::InitExists { path });
            }
            Err(io) => return Err(ConfigError::InitWrite { path, io }),
        }
    }
    Ok(written)
}
