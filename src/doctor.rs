//! `ferry doctor`: what an operator runs before the first real sync. For each tenant it
//! checks, in order, that the credentials may travel to the server at all (plain HTTP to
//! another host fails unless `allow_insecure_http = true`; nothing is sent then), that the
//! server answers, that the credentials log in, the organisation or tenant, the API version
//! and roles, that a page can be read, and — only when the config names a probe asset — that
//! a write lands and is restored. A failed step skips the steps that depend on it, so the
//! first red line is the one to fix.

use crate::config::{PhotoShelterConfig, PreservicaConfig};
use crate::http::Transport;
use crate::mapping::preservica::PreservicaWrite;
use crate::model::System;
use crate::photoshelter::client::{LoginInfo, PhotoShelterClient, PhotoShelterError};
use crate::photoshelter::wire::LicensePlace;
use crate::preservica::client::{PreservicaClient, ServerInfo};
use crate::preservica::emulator::WRITE_ROLES;
use std::time::Duration;

pub mod custom;
pub mod local;
pub mod webhooks;

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Works, but something deserves a look.
    Warn,
    Fail,
    /// Not run: an earlier check failed, or there is nothing to check.
    Skipped,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skipped => "skipped",
        }
    }
}

/// One line of the doctor's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub system: System,
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
}

struct Checks {
    system: System,
    list: Vec<Check>,
}

impl Checks {
    fn add(&mut self, name: &'static str, status: Status, detail: impl Into<String>) {
        self.list.push(Check {
            system: self.system,
            name,
            status,
            detail: detail.into(),
        });
    }

    fn skip_rest(&mut self, names: &[&'static str], why: &str) {
        for n in names {
            self.add(n, Status::Skipped, why);
        }
    }
}

/// How the credentials would travel to `url`, or `None` (a FAIL line added, nothing sent)
/// when ferry refuses to send them there.
fn transport(checks: &mut Checks, url: &str, allow_insecure_http: bool) -> Option<Transport> {
    let system = checks.system;
    let Ok(parsed) = url::Url::parse(url) else {
        checks.add("TLS", Status::Fail, format!("{url} is not a URL"));
        return None;
    };
    match Transport::of(&parsed, allow_insecure_http) {
        Transport::InsecureRefused => {
            checks.add(
                "TLS",
                Status::Fail,
                format!(
                    "{url}: plain HTTP to another host would send the credentials unencrypted, so ferry refuses it; use https, or on a network you trust set allow_insecure_http = true in [{system}]"
                ),
            );
            None
        }
        t => Some(t),
    }
}

/// The TLS line once the server answered.
fn tls_line(transport: Transport) -> (Status, &'static str) {
    match transport {
        Transport::Tls => (Status::Ok, "certificate accepted"),
        Transport::LoopbackHttp => (Status::Ok, "plain HTTP on loopback (a local emulator)"),
        Transport::InsecureAllowed => (
            Status::Warn,
            "plain HTTP to another host, allowed by allow_insecure_http: credentials travel unencrypted",
        ),
        Transport::InsecureRefused => (
            Status::Fail,
            "plain HTTP to another host, refused: credentials would travel unencrypted",
        ),
    }
}

/// Whether the server answers HTTP at all (and, for https, completes a TLS handshake); then
/// how the credentials travel.
async fn reach(checks: &mut Checks, url: &str, transport: Transport) -> bool {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            checks.add("reachable", Status::Fail, e.without_url().to_string());
            return false;
        }
    };
    match client.get(url).send().await {
        Ok(resp) => {
            checks.add(
                "reachable",
                Status::Ok,
                format!("{url} answered {}", resp.status()),
            );
            let (status, detail) = tls_line(transport);
            checks.add("TLS", status, detail);
            true
        }
        Err(e) => {
            let what = if e.is_connect() {
                "cannot connect"
            } else if e.is_timeout() {
                "timed out"
            } else {
                "request failed"
            };
            let mut detail = format!("{url}: {what}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                detail = format!("{detail}: {s}");
                source = s.source();
            }
            checks.add("reachable", Status::Fail, detail);
            false
        }
    }
}

/// Checks the PhotoShelter tenant.
pub async fn check_photoshelter(cfg: &PhotoShelterConfig) -> Vec<Check> {
    let mut c = Checks {
        system: System::PhotoShelter,
        list: Vec::new(),
    };
    let rest = [
        "API key",
        "login",
        "v3 login",
        "organisation",
        "read access",
        "licence",
        "write probe",
    ];
    let Some(transport) = transport(&mut c, &cfg.base_url, cfg.allow_insecure_http) else {
        c.skip_rest(&["reachable"], "plain HTTP refused; nothing was sent");
        c.skip_rest(&rest, "plain HTTP refused; nothing was sent");
        return c.list;
    };
    if !reach(&mut c, &cfg.base_url, transport).await {
        c.skip_rest(&rest, "the server is not reachable");
        return c.list;
    }
    let client = match PhotoShelterClient::new(cfg) {
        Ok(client) => client,
        Err(e) => {
            c.add("API key", Status::Fail, e.to_string());
            c.skip_rest(&rest[1..], "no usable credentials");
            return c.list;
        }
    };
    let info = match client.login().await {
        Ok(info) => info,
        Err(e @ PhotoShelterError::ApiKey { .. }) => {
            c.add("API key", Status::Fail, e.to_string());
            c.skip_rest(&rest[1..], "the API key was refused");
            return c.list;
        }
        Err(e) => {
            c.add("API key", Status::Ok, "accepted");
            c.add("login", Status::Fail, e.to_string());
            c.skip_rest(&rest[2..], "not logged in");
            return c.list;
        }
    };
    c.add("API key", Status::Ok, "accepted");
    c.add(
        "login",
        Status::Ok,
        format!(
            "{} via psapi {} ({:?})",
            info.email.as_deref().unwrap_or(&cfg.email),
            info.api,
            info.auth
        ),
    );
    check_v3_login(&mut c, &client).await;
    check_organisation(&mut c, cfg.org_id.as_deref(), &info);
    match client.list_page(1).await {
        Ok(page) => c.add(
            "read access",
            Status::Ok,
            format!("the first page lists {} media", page.media.len()),
        ),
        Err(e) => c.add("read access", Status::Fail, e.to_string()),
    }
    check_license_places(&mut c, &client, cfg.probe_media_id.as_deref()).await;
    check_photoshelter_write(&mut c, &client, cfg.probe_media_id.as_deref()).await;
    c.list
}

/// Whether the organisation the config names is the one the login selected.
fn check_organisation(c: &mut Checks, want: Option<&str>, info: &LoginInfo) {
    match (want, info.org_id.as_deref()) {
        (Some(want), Some(got)) if want == got => {
            c.add("organisation", Status::Ok, format!("{got} selected"))
        }
        (Some(want), _) => c.add(
            "organisation",
            Status::Fail,
            format!("{want} could not be selected; the login belongs to {} organisations", info.orgs.len()),
        ),
        (None, _) if info.orgs.is_empty() => c.add("organisation", Status::Ok, "none (a personal account)"),
        (None, _) => c.add(
            "organisation",
            Status::Warn,
            format!(
                "none selected, though the login belongs to {}: set photoshelter.org_id to one of {}",
                info.orgs.len(),
                info.orgs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ),
    }
}

/// Writes a field of the probe media and restores it.
async fn check_photoshelter_write(
    c: &mut Checks,
    client: &PhotoShelterClient,
    probe: Option<&str>,
) {
    match probe {
        None => c.add(
            "write probe",
            Status::Skipped,
            "set photoshelter.probe_media_id to test writes",
        ),
        Some(id) => match client.write_probe(id).await {
            Ok(p) if p.restored => c.add(
                "write probe",
                Status::Ok,
                format!("wrote and restored {} on {id}", p.field),
            ),
            Ok(p) => c.add(
                "write probe",
                Status::Fail,
                format!(
                    "wrote {} on {id} but could not restore it; its original value was {:?}",
                    p.field, p.original
                ),
            ),
            Err(e) => c.add("write probe", Status::Fail, e.to_string()),
        },
    }
}

/// v3 carries uploads (republish), gallery creation and visibility, and the documented
/// licence record, with a key of its own: a v4 login says nothing about it.
async fn check_v3_login(c: &mut Checks, client: &PhotoShelterClient) {
    match client.login_v3().await {
        Ok(_) => c.add(
            "v3 login",
            Status::Ok,
            format!(
                "psapi v3 accepts the {} key and the login",
                if client.has_own_v3_key() { "v3" } else { "v4 (no api_key_v3 set)" }
            ),
        ),
        Err(e) if e.status() == Some(404) => c.add(
            "v3 login",
            Status::Warn,
            format!("this server does not answer psapi v3 ({e}): republish, gallery visibility and v3 licence records will fail"),
        ),
        Err(e) => c.add(
            "v3 login",
            Status::Fail,
            format!("{e}; republish, gallery creation and visibility, and licence records need v3: check photoshelter.api_key_v3"),
        ),
    }
}

/// Reads a probe media's licence in each place an account may keep it, and says which
/// answered and the mapping line that reads it.
async fn check_license_places(c: &mut Checks, client: &PhotoShelterClient, probe: Option<&str>) {
    let Some(id) = probe else {
        c.add(
            "licence",
            Status::Skipped,
            "set photoshelter.probe_media_id to find where this account keeps licences",
        );
        return;
    };
    let mut answered = Vec::new();
    let mut lines = Vec::new();
    for place in LicensePlace::ALL {
        let outcome = match client.license_at(place, id).await {
            Ok(Some(v)) if v.is_null() => "answers, no expiry set".to_string(),
            Ok(Some(v)) => format!("answers {v}"),
            Ok(None) => "no licence record".to_string(),
            Err(e) => format!(
                "no ({})",
                e.status().map_or("failed".into(), |s| format!("HTTP {s}"))
            ),
        };
        if outcome.starts_with("answers") {
            answered.push(place);
        }
        lines.push(format!("{}: {outcome}", place.describe()));
    }
    match answered.first() {
        Some(place) => c.add(
            "licence",
            Status::Ok,
            format!(
                "{}; ferry reads {}: in the mapping, {}",
                lines.join("; "),
                place.describe(),
                place.mapping_line()
            ),
        ),
        None => c.add(
            "licence",
            Status::Fail,
            format!("no place answered for {id}: {}", lines.join("; ")),
        ),
    }
}

/// Checks the Preservica tenant.
pub async fn check_preservica(cfg: &PreservicaConfig) -> Vec<Check> {
    check_preservica_with(cfg, false).await
}

/// Checks the Preservica tenant, and with `webhooks` (live sync enabled) its webhook API.
pub async fn check_preservica_with(cfg: &PreservicaConfig, webhooks: bool) -> Vec<Check> {
    let mut c = Checks {
        system: System::Preservica,
        list: Vec::new(),
    };
    let mut rest = vec![
        "login",
        "API version",
        "roles",
        "read access",
        "write probe",
    ];
    if webhooks {
        rest.push(webhooks::NAME);
    }
    let base = format!("{}://{}", cfg.protocol.scheme(), cfg.server);
    let Some(transport) = transport(&mut c, &base, cfg.allow_insecure_http) else {
        c.skip_rest(&["reachable"], "plain HTTP refused; nothing was sent");
        c.skip_rest(&rest, "plain HTTP refused; nothing was sent");
        return c.list;
    };
    if !reach(&mut c, &base, transport).await {
        c.skip_rest(&rest, "the server is not reachable");
        return c.list;
    }
    let client = match PreservicaClient::from_config(cfg) {
        Ok(client) => client,
        Err(e) => {
            c.add("login", Status::Fail, e.to_string());
            c.skip_rest(&rest[1..], "no usable credentials");
            return c.list;
        }
    };
    let info = match client.connect().await {
        Ok(info) => info,
        Err(e) => {
            c.add("login", Status::Fail, e.to_string());
            c.skip_rest(&rest[1..], "not logged in");
            return c.list;
        }
    };
    c.add(
        "login",
        Status::Ok,
        format!(
            "{} on tenant {}",
            info.user,
            info.tenant.as_deref().unwrap_or("(default)")
        ),
    );
    check_version_and_roles(&mut c, &info);
    match client.children(None, 100).await {
        Ok(children) => c.add(
            "read access",
            Status::Ok,
            format!("the root holds {} folders", children.len()),
        ),
        Err(e) => c.add("read access", Status::Fail, e.to_string()),
    }
    check_preservica_write(&mut c, &client, cfg.probe_asset.as_deref()).await;
    if webhooks {
        c.list.push(webhooks::check_webhooks(&client).await);
    }
    c.list
}

/// Whether `ferry doctor` checks the webhook API: when live sync is enabled.
fn live_enabled(config: &crate::config::Config) -> bool {
    config.live.enabled
}

/// Whether ferry supports the API version, and whether the user's roles may write.
fn check_version_and_roles(c: &mut Checks, info: &ServerInfo) {
    let supported = info.version.major > 6 || (info.version.major == 6 && info.version.minor >= 2);
    c.add(
        "API version",
        if supported { Status::Ok } else { Status::Warn },
        format!(
            "{}{}",
            info.version,
            if supported {
                ""
            } else {
                " (older than 6.2: ferry is tested against 6.2 and later)"
            }
        ),
    );
    let can_write = info.roles.iter().any(|r| WRITE_ROLES.contains(&r.as_str()));
    c.add(
        "roles",
        if can_write { Status::Ok } else { Status::Warn },
        if can_write {
            info.roles.join(", ")
        } else {
            format!(
                "{} — none of these may change entities; syncs will only read",
                info.roles.join(", ")
            )
        },
    );
}

/// Marks the probe asset's title and restores it.
async fn check_preservica_write(c: &mut Checks, client: &PreservicaClient, probe: Option<&str>) {
    match probe {
        None => c.add(
            "write probe",
            Status::Skipped,
            "set preservica.probe_asset to test writes",
        ),
        Some(asset) => {
            let probe = async {
                let before = client.read_asset(asset).await?;
                let original = before.title.clone();
                let marked = format!("{} [ferry doctor probe]", original.as_deref().unwrap_or(""));
                client
                    .apply_write(
                        asset,
                        &PreservicaWrite {
                            title: Some(Some(marked)),
                            ..Default::default()
                        },
                    )
                    .await?;
                client
                    .apply_write(
                        asset,
                        &PreservicaWrite {
                            title: Some(original),
                            ..Default::default()
                        },
                    )
                    .await?;
                Ok::<_, crate::preservica::client::PreservicaError>(())
            };
            match probe.await {
                Ok(()) => c.add(
                    "write probe",
                    Status::Ok,
                    format!("wrote and restored the title of {asset}"),
                ),
                Err(e) => c.add("write probe", Status::Fail, e.to_string()),
            }
        }
    }
}

/// The checks as `ferry doctor --format json` prints them: `{"ready": bool, "not_ready":
/// ["system check", …], "checks": [{"system", "check", "result", "detail"}, …]}`; `result` is
/// `ok`, `warn`, `fail` or `skipped`. The tenants' checks decide `ready`; the `local` ones
/// (this machine: the store's mode) are listed with system `ferry`.
pub fn to_json(checks: &[Check], local: &[local::LocalCheck]) -> serde_json::Value {
    let not_ready: Vec<String> = checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| format!("{} {}", c.system, c.name))
        .collect();
    let row = |system: &str, name: &str, status: Status, detail: &str| {
        serde_json::json!({
            "system": system,
            "check": name,
            "result": status.label().to_ascii_lowercase(),
            "detail": detail,
        })
    };
    let rows: Vec<serde_json::Value> = checks
        .iter()
        .map(|c| row(c.system.name(), c.name, c.status, &c.detail))
        .chain(
            local
                .iter()
                .map(|c| row("ferry", c.name, c.status, &c.detail)),
        )
        .collect();
    serde_json::json!({
        "ready": not_ready.is_empty(),
        "not_ready": not_ready,
        "checks": rows,
    })
}

/// Every check `ferry doctor` makes: both tenants, then (when PhotoShelter answered) the
/// custom fields the mapping names, and the local store.
pub async fn check_all(config: &crate::config::Config) -> (Vec<Check>, Vec<local::LocalCheck>) {
    let (ps, pv) = tokio::join!(
        check_photoshelter(&config.photoshelter),
        check_preservica_with(&config.preservica, live_enabled(config))
    );
    let mut checks: Vec<_> = ps.into_iter().chain(pv).collect();
    let photoshelter_ready = checks
        .iter()
        .all(|c| c.system != crate::model::System::PhotoShelter || c.status != Status::Fail);
    if photoshelter_ready {
        match crate::mapping::Mapping::load(&config.mapping) {
            Ok(mapping) => {
                checks.extend(custom::check_custom_fields(&config.photoshelter, &mapping).await)
            }
            Err(e) => checks.push(Check {
                system: crate::model::System::PhotoShelter,
                name: "custom field",
                status: Status::Fail,
                detail: format!("the mapping cannot be read: {e}"),
            }),
        }
    }
    let local = vec![local::check_store(&config.paths.store)];
    (checks, local)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks() -> Checks {
        Checks {
            system: System::Preservica,
            list: Vec::new(),
        }
    }

    #[test]
    fn plain_http_to_another_host_fails_before_anything_is_sent_unless_allowed() {
        let mut c = checks();
        assert_eq!(transport(&mut c, "http://archive.example", false), None);
        assert_eq!(c.list[0].status, Status::Fail);
        assert!(
            c.list[0]
                .detail
                .contains("allow_insecure_http = true in [preservica]"),
            "{}",
            c.list[0].detail
        );
        let mut c = checks();
        let allowed = transport(&mut c, "http://archive.example", true);
        assert_eq!(allowed, Some(Transport::InsecureAllowed));
        assert!(c.list.is_empty());
        assert_eq!(tls_line(Transport::InsecureAllowed).0, Status::Warn);
        let local = transport(&mut c, "http://127.0.0.1:8080", false);
        assert_eq!(local, Some(Transport::LoopbackHttp));
        assert_eq!(tls_line(Transport::LoopbackHttp).0, Status::Ok);
        assert_eq!(tls_line(Transport::Tls).0, Status::Ok);
    }
}
