//! Secrets: passwords, API keys and tokens. They come from their own environment variable or
//! from an owner-only file named by `<key>_file`, never from `ferry.toml` itself, and never
//! appear in `Debug` output or in an error message.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;
use toml::Spanned;

use super::raw::line_of;
use super::sections::{PhotoShelterConfig, PreservicaConfig};
use super::validate::Ctx;
use super::{ConfigError, Env};

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

/// An environment variable that carries a secret; `<key>_file` in `ferry.toml` is the
/// alternative.
#[derive(Debug, Clone, Copy)]
pub struct EnvSecret {
    pub var: &'static str,
    /// The dotted key of the secret, e.g. `photoshelter.password`.
    pub key: &'static str,
}

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
    EnvSecret {
        var: "FERRY_LIVE_WEBHOOK_SECRET",
        key: "live.webhook_secret",
    },
];

/// The other `FERRY_` variables ferry reads (outside this module).
pub(super) fn secret_spec(key: &str) -> &'static EnvSecret {
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

impl Ctx<'_> {
    pub(super) fn refuse_inline(
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
    pub(super) fn secret(
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
}
