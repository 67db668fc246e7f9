//! Checking the file as written (with overrides laid over it) and building the typed
//! configuration: defaults, ranges, paths resolved against the config's directory, and errors
//! that say where each bad value came from.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::env::{FromEnv, override_var};
use super::raw::{
    RawArchive, RawFile, RawGuard, RawNotify, RawRepublish, RawRights, RawSchedule, RawServer,
    line_of,
};
use super::sections::{
    AfterArchive, ArchiveConfig, GuardConfig, NotifyConfig, PathsConfig, Rendition,
    RepublishConfig, RightsAction, RightsConfig, ScheduleConfig, ServerConfig, ThumbnailsConfig,
};
use super::{Config, ConfigError, Env, Location};
use crate::photoshelter::wire::Visibility;
use crate::schedule::Schedule;

const DEFAULT_NIGHTLY: &str = "30 2 * * *";
const DEFAULT_TIMEZONE: &str = "UTC";
const DEFAULT_MAX_CHANGE_SHARE: f64 = 0.10;
const DEFAULT_MIN_ASSETS: u64 = 50;

/// What checking needs to know to resolve paths and say where a value came from.
pub(super) struct Ctx<'a> {
    pub(super) file: &'a Path,
    pub(super) dir: PathBuf,
    pub(super) text: &'a str,
    /// Keys set by an override, with the variable that set them.
    pub(super) from_env: FromEnv,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(file: &'a Path, text: &'a str, from_env: FromEnv) -> Self {
        // Paths in the config resolve against its directory, made absolute, so what ferry
        // records (report paths in the store) means the same from any working directory.
        let dir = std::path::absolute(file)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| file.parent().unwrap_or(Path::new("")).to_path_buf());
        Ctx {
            file,
            dir,
            text,
            from_env,
        }
    }

    /// The whole configuration from the file as read, secrets from `env` or their files. The
    /// sections are checked in the order of the file's first version, so that of two errors the
    /// same one is reported.
    pub(super) fn config(&self, raw: RawFile, env: &Env) -> Result<Config, ConfigError> {
        let mapping = self.path("mapping", raw.mapping, "mapping.toml")?;
        let photoshelter = self.photoshelter(raw.photoshelter, env)?;
        let preservica = self.preservica(raw.preservica, env)?;
        let paths = PathsConfig {
            store: self.path("paths.store", raw.paths.store, "ferry.db")?,
            index: self.path("paths.index", raw.paths.index, "index")?,
            reports: self.path("paths.reports", raw.paths.reports, "reports")?,
        };
        let schedule = self.schedule(raw.schedule)?;
        let guard = self.guard(raw.guard)?;
        self.refuse_inline("notify.webhook_url", &raw.notify.webhook_url)?;
        self.refuse_inline("server.access_token", &raw.server.access_token)?;
        Ok(Config {
            file: self.file.to_path_buf(),
            photoshelter,
            preservica,
            paths,
            schedule,
            mapping,
            guard,
            notify: self.notify(raw.notify, env)?,
            server: self.server(raw.server, env)?,
            rights: self.rights(raw.rights)?,
            archive: self.archive(raw.archive)?,
            republish: self.republish(raw.republish)?,
            thumbnails: self.thumbnails(raw.thumbnails)?,
            output: crate::config::OutputConfig {
                excel: raw.output.excel.is_some_and(Spanned::into_inner),
            },
            live: self.live(raw.live, env)?,
        })
    }

    pub(super) fn file_at(&self, span: Option<Range<usize>>) -> Location {
        Location::File {
            file: self.file.to_path_buf(),
            line: span.map(|s| line_of(self.text, s.start)),
        }
    }

    pub(super) fn origin<T>(&self, key: &str, value: &Spanned<T>) -> Location {
        match self.from_env.get(key) {
            Some(var) => Location::Env {
                var: (*var).to_owned(),
            },
            None => self.file_at(Some(value.span())),
        }
    }

    pub(super) fn invalid<T>(&self, key: &str, value: &Spanned<T>, reason: String) -> ConfigError {
        ConfigError::Value {
            at: self.origin(key, value),
            key: key.to_owned(),
            reason,
        }
    }
    pub(super) fn required(
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
            var: override_var(&key).unwrap_or_default(),
        })?;
        if value.get_ref().trim().is_empty() {
            return Err(self.invalid(&key, &value, "must not be empty".to_owned()));
        }
        Ok(value)
    }

    /// An empty value means "none", so that an override can clear a value set in the file.
    pub(super) fn optional(value: Option<Spanned<String>>) -> Option<String> {
        value
            .map(|v| v.get_ref().trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub(super) fn in_range<T>(
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
    pub(super) fn path(
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

    fn notify(&self, raw: RawNotify, env: &Env) -> Result<NotifyConfig, ConfigError> {
        Ok(NotifyConfig {
            webhook_url: self.secret(env, "notify.webhook_url", raw.webhook_url_file)?,
            file: match raw.file {
                Some(f) => Some(self.path("notify.file", Some(f), "")?),
                None => None,
            },
            expiring_days: raw.expiring_days.map_or(30, Spanned::into_inner),
        })
    }

    fn server(&self, raw: RawServer, env: &Env) -> Result<ServerConfig, ConfigError> {
        let listen = match raw.listen {
            None => std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(v) => v.get_ref().trim().parse().map_err(|_| {
                self.invalid(
                    "server.listen",
                    &v,
                    format!(
                        "must be an address and port like 127.0.0.1:8080, got '{}'",
                        v.get_ref()
                    ),
                )
            })?,
        };
        Ok(ServerConfig {
            listen,
            access_token: self.secret(env, "server.access_token", raw.access_token_file)?,
        })
    }

    fn rights(&self, raw: RawRights) -> Result<RightsConfig, ConfigError> {
        let action = |key: &'static str, v: Option<Spanned<String>>, default| match v {
            None => Ok(default),
            Some(v) => match v.get_ref().trim() {
                "ignore" => Ok(RightsAction::Ignore),
                "report" => Ok(RightsAction::Report),
                "restrict" => Ok(RightsAction::Restrict),
                other => Err(self.invalid(
                    key,
                    &v,
                    format!("must be \"ignore\", \"report\" or \"restrict\", got '{other}'"),
                )),
            },
        };
        Ok(RightsConfig {
            expired: action("rights.expired", raw.expired, RightsAction::Report)?,
            missing_model_release: action(
                "rights.missing_model_release",
                raw.missing_model_release,
                RightsAction::Ignore,
            )?,
            restricted_tag: raw
                .restricted_tag
                .map(|t| t.into_inner().trim().to_string())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "closed".into()),
        })
    }

    /// The nightly schedule is checked by the code that runs it.
    fn schedule(&self, raw: RawSchedule) -> Result<ScheduleConfig, ConfigError> {
        let nightly = match raw.nightly {
            None => DEFAULT_NIGHTLY.to_owned(),
            Some(v) => Schedule::parse(v.get_ref())
                .map(|s| s.text().to_owned())
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
            None => Visibility::Private,
            Some(v) => Visibility::parse(v.get_ref()).ok_or_else(|| {
                self.invalid(
                    "republish.visibility",
                    &v,
                    format!(
                        "must be \"private\", \"permission\" or \"everyone\", got '{}'",
                        v.get_ref()
                    ),
                )
            })?,
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

    fn thumbnails(&self, raw: super::raw::RawThumbnails) -> Result<ThumbnailsConfig, ConfigError> {
        let max_mib = match raw.max_mib {
            None => crate::media::DEFAULT_MAX_MIB,
            Some(v) if *v.get_ref() >= 1 => v.into_inner(),
            Some(v) => {
                return Err(self.invalid(
                    "thumbnails.max_mib",
                    &v,
                    "must be at least 1 (MiB)".to_string(),
                ));
            }
        };
        Ok(ThumbnailsConfig {
            max_mib,
            on_sync: raw.on_sync.is_none_or(Spanned::into_inner),
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
