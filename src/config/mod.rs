//! ferry's configuration: `ferry.toml` loaded once into typed structs, then `FERRY_...`
//! environment overrides, then validated as a whole.
//!
//! Every error names where the bad value came from (file and line, or the environment variable)
//! and says what to do, because ferry runs unattended and the morning reader of the log has only
//! the message to go on. Secrets (passwords, API keys, tokens) come from the environment or from
//! owner-only files, never from `ferry.toml` itself, and never appear in `Debug` output or in an
//! error message.
//!
//! | file | owns |
//! |---|---|
//! | `sections.rs` | the typed sections the rest of ferry reads |
//! | `raw.rs` | the file as written (`Raw*`), toml's errors turned into ferry's |
//! | `keys.rs` | the list of keys and their kinds, read off the `Raw*` structs |
//! | `env.rs` | the environment: overrides derived from the keys, unknown names refused |
//! | `secrets.rs` | secrets from their variable or an owner-only file, never shown |
//! | `validate.rs`, `tenants.rs`, `live.rs` | defaults, ranges and paths, section by section |
//! | `error.rs` | the errors and where a value came from |
//! | `init.rs` | `ferry init`'s template and files |

use std::fs;
use std::path::{Path, PathBuf};

mod env;
mod error;
mod init;
mod keys;
mod live;
mod raw;
mod secrets;
mod sections;
mod tenants;
mod validate;

pub use env::{ENV_OTHER, ENV_OVERRIDES, Env, EnvOverride, env_overrides};
pub use error::{ConfigError, Location};
pub use init::{INIT_TEMPLATE, write_init};
pub use secrets::{ENV_SECRETS, EnvSecret, Secret};
pub use sections::LiveConfig;
pub use sections::OutputConfig;
pub use sections::{
    AfterArchive, ArchiveConfig, GuardConfig, NotifyConfig, PathsConfig, PhotoShelterConfig,
    PreservicaConfig, Protocol, Rendition, RepublishConfig, RightsAction, RightsConfig,
    ScheduleConfig, ServerConfig, ThumbnailsConfig,
};
pub use tenants::{DEFAULT_CONCURRENCY, MAX_CONCURRENCY};

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
    pub thumbnails: ThumbnailsConfig,
    pub output: OutputConfig,
    pub live: LiveConfig,
}

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
        let doc = raw::syntax(path, &text)?;
        // The file alone first: its own errors are reported before anything about the
        // environment, and an override never hides a mistake in the file.
        raw::typed(path, &text, doc.clone())?;
        env::check_env_names(env)?;
        let values = env::values(env);
        let (doc, from_env) = env::overlay(doc, &values)?;
        let raw = raw::typed(path, &text, doc)?;
        validate::Ctx::new(path, &text, from_env).config(raw, env)
    }
}
