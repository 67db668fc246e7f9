//! `[photoshelter]` and `[preservica]`: the two tenants, how to reach them and how far to trust
//! their answers.

use toml::Spanned;

use super::raw::{RawLimits, RawPhotoShelter, RawPreservica};
use super::sections::{PhotoShelterConfig, PreservicaConfig, Protocol};
use super::validate::Ctx;
use super::{ConfigError, Env};
use crate::http::Limits;

/// The ceiling of the adaptive limit: the limit itself starts lower and finds the server's pace.
pub const DEFAULT_CONCURRENCY: usize = 32;
/// The highest ceiling `concurrency` accepts.
pub const MAX_CONCURRENCY: usize = 64;
const DEFAULT_TIMEOUT_SECS: u64 = 60;
const MAX_TIMEOUT_SECS: u64 = 3600;
const MAX_ANSWER_MIB: u64 = 1024;
const MAX_LISTING_PAGES: u32 = 10_000_000;

impl Ctx<'_> {
    pub(super) fn photoshelter(
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
            adaptive: raw.adaptive.is_none_or(Spanned::into_inner),
            allow_insecure_http: raw.allow_insecure_http.is_some_and(Spanned::into_inner),
            api_key: self.secret(env, "photoshelter.api_key", raw.api_key_file)?,
            api_key_v3: self.secret(env, "photoshelter.api_key_v3", raw.api_key_v3_file)?,
            password: self.secret(env, "photoshelter.password", raw.password_file)?,
            oauth_token: self.secret(env, "photoshelter.oauth_token", raw.oauth_token_file)?,
            file: self.file.to_path_buf(),
        })
    }

    pub(super) fn preservica(
        &self,
        raw: RawPreservica,
        env: &Env,
    ) -> Result<PreservicaConfig, ConfigError> {
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
            adaptive: raw.adaptive.is_none_or(Spanned::into_inner),
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
