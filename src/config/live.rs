//! `[live]`: the live mode of `ferry serve`. Off by default; enabled, it needs a public URL
//! Preservica can reach and the webhook secret, and each is checked here so that `ferry serve`
//! never starts a live mode that cannot work.

use super::raw::RawLive;
use super::sections::LiveConfig;
use super::validate::Ctx;
use super::{ConfigError, Env};

/// The shortest and longest PhotoShelter poll interval accepted (a second is for tests and
/// demos; a day is what the nightly run already does).
const MIN_POLL_SECS: u64 = 1;
const MAX_POLL_SECS: u64 = 86_400;

impl Ctx<'_> {
    pub(super) fn live(&self, raw: RawLive, env: &Env) -> Result<LiveConfig, ConfigError> {
        self.refuse_inline("live.webhook_secret", &raw.webhook_secret)?;
        let defaults = LiveConfig::default();
        let public_url = match &raw.public_url {
            None => None,
            Some(v) => Some(
                public_url(v.get_ref()).map_err(|why| self.invalid("live.public_url", v, why))?,
            ),
        };
        let config = LiveConfig {
            enabled: raw.enabled.as_ref().is_some_and(|e| *e.get_ref()),
            public_url,
            photoshelter_poll_secs: self.in_range(
                "live.photoshelter_poll_secs",
                raw.photoshelter_poll_secs,
                defaults.photoshelter_poll_secs,
                MIN_POLL_SECS,
                MAX_POLL_SECS,
            )?,
            webhook_secret: self.secret(env, "live.webhook_secret", raw.webhook_secret_file)?,
        };
        if let Some(enabled) = raw.enabled.filter(|e| *e.get_ref()) {
            let missing = if config.public_url.is_none() {
                Some(
                    "needs live.public_url: the address Preservica can reach ferry at, e.g. \
                     \"https://ferry.example.org\" (its webhooks go to <public_url>/webhooks/preservica)",
                )
            } else if config.webhook_secret.is_none() {
                Some(
                    "needs the webhook secret Preservica signs its deliveries with: set \
                     FERRY_LIVE_WEBHOOK_SECRET or live.webhook_secret_file (a file only its owner \
                     can read: chmod 600)",
                )
            } else {
                None
            };
            if let Some(why) = missing {
                return Err(self.invalid("live.enabled", &enabled, why.to_owned()));
            }
        }
        Ok(config)
    }
}

/// An http(s) URL with a host and nothing after its path, without the trailing slash; or why
/// not.
fn public_url(raw: &str) -> Result<String, String> {
    let text = raw.trim();
    let bad = |why: &str| {
        format!(
            "{why}; expected the address Preservica reaches ferry at, like \"https://ferry.example.org\"; got \"{text}\""
        )
    };
    let url = url::Url::parse(text).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must start with https:// (or http://)"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry a user name or password"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::public_url;

    #[test]
    fn a_public_url_is_an_http_address_without_query_or_credentials() {
        assert_eq!(
            public_url(" https://ferry.example.org/ ").unwrap(),
            "https://ferry.example.org"
        );
        assert_eq!(
            public_url("https://example.org/ferry/").unwrap(),
            "https://example.org/ferry"
        );
        for bad in [
            "ferry.example.org",
            "ftp://example.org",
            "https://example.org/?a=1",
            "https://user:pw@example.org",
            "",
        ] {
            assert!(public_url(bad).is_err(), "{bad}");
        }
    }
}
