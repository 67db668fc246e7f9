//! The trigger types of Preservica webhooks and the subscriptions ferry keeps (contract
//! §7.3): [`renew`] on start (remove what ferry left pointing at its own URL, then subscribe
//! each trigger) and [`remove_own`] on shutdown.
//!
//! Invariant: only subscriptions pointing at ferry's own URL (or, when the server's listing
//! leaves `url` out, ones this process created) are ever removed; anyone else's stay. A
//! trigger the server refuses is listed and skipped; none accepted at all is an error.

use crate::config::Secret;
use crate::preservica::client::{PreservicaClient, PreservicaError};
use std::fmt;

/// A webhook trigger type, by its wire value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Trigger {
    Moved,
    /// Preservica re-indexes an entity after its metadata changes and after an ingest: the
    /// practical "metadata changed / ingest completed" signal.
    FullTextIndexed,
    ChangedSecurityDescriptor,
    IngestFailed,
    ChangeAssetVisibility,
}

/// The triggers live sync subscribes to: metadata edits and ingests (re-indexing), moves,
/// security changes and visibility changes. `INGEST_FAILED` names nothing to sync.
pub const LIVE_TRIGGERS: &[Trigger] = &[
    Trigger::FullTextIndexed,
    Trigger::Moved,
    Trigger::ChangedSecurityDescriptor,
    Trigger::ChangeAssetVisibility,
];

impl Trigger {
    pub const ALL: [Trigger; 5] = [
        Trigger::Moved,
        Trigger::FullTextIndexed,
        Trigger::ChangedSecurityDescriptor,
        Trigger::IngestFailed,
        Trigger::ChangeAssetVisibility,
    ];

    /// The `triggerType` value on the wire.
    pub fn wire(self) -> &'static str {
        match self {
            Trigger::Moved => "MOVED",
            Trigger::FullTextIndexed => "FULL_TEXT_INDEXED",
            Trigger::ChangedSecurityDescriptor => "CHANGED_SECURITY_DESCRIPTOR",
            Trigger::IngestFailed => "INGEST_FAILED",
            Trigger::ChangeAssetVisibility => "CHANGE_ASSET_VISIBILITY",
        }
    }

    /// The trigger of a wire value (exact, as the server sends it).
    pub fn from_wire(s: &str) -> Option<Trigger> {
        Trigger::ALL.into_iter().find(|t| t.wire() == s)
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire())
    }
}

/// What went wrong managing webhook subscriptions. Never holds the secret.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(
        "{url}: the Preservica user may not manage webhook subscriptions (403); the tenant must give it the ConfigManager or Manager role"
    )]
    RoleMissing { url: String },
    #[error(
        "{url}: this Preservica server has no webhook API (404); webhooks need Preservica 6.8 or later with webhooks available to the tenant"
    )]
    Unavailable { url: String },
    #[error("Preservica refused the {trigger} subscription ({status}): {reason}")]
    Refused {
        trigger: Trigger,
        status: u16,
        reason: String,
    },
    #[error("Preservica accepted none of the webhook triggers asked for: {0}")]
    NothingSubscribed(String),
    #[error("{url}: the webhook answer is malformed: {reason}")]
    Malformed { url: String, reason: String },
    #[error(transparent)]
    Preservica(#[from] PreservicaError),
}

/// What [`renew`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renewed {
    /// Subscriptions of ferry's URL removed first (left by a crash or an earlier run).
    pub removed: usize,
    /// Triggers subscribed, with the id the server gave (when it gave one).
    pub subscribed: Vec<(Trigger, Option<String>)>,
    /// Triggers the server refused, with its reason.
    pub refused: Vec<(Trigger, String)>,
}

/// Removes the subscriptions pointing at `url`, then subscribes each of `triggers` with
/// `secret` (the server checks `url` answers its challenge). A refused trigger is logged and
/// listed; an error about the API itself (role, availability) or no trigger accepted at all
/// is returned.
pub async fn renew(
    client: &PreservicaClient,
    url: &str,
    secret: &Secret,
    triggers: &[Trigger],
) -> Result<Renewed, WebhookError> {
    let mut renewed = Renewed {
        removed: remove_own(client, url).await?,
        ..Renewed::default()
    };
    for &trigger in triggers {
        match client.subscribe(url, trigger, secret).await {
            Ok(id) => renewed.subscribed.push((trigger, id)),
            Err(WebhookError::Refused { reason, status, .. }) => {
                tracing::warn!(%trigger, status, %reason, "Preservica refused a webhook trigger; skipped");
                renewed.refused.push((trigger, reason));
            }
            Err(e) => return Err(e),
        }
    }
    if renewed.subscribed.is_empty() && !triggers.is_empty() {
        let why: Vec<String> = renewed
            .refused
            .iter()
            .map(|(t, r)| format!("{t}: {r}"))
            .collect();
        return Err(WebhookError::NothingSubscribed(why.join("; ")));
    }
    tracing::info!(
        url,
        removed = renewed.removed,
        subscribed = renewed.subscribed.len(),
        refused = renewed.refused.len(),
        "Preservica webhook subscriptions renewed"
    );
    Ok(renewed)
}

/// Removes every subscription pointing at `url` (and, where the listing gives no `url`, those
/// this client created for it); returns how many went. One already gone counts as removed.
pub async fn remove_own(client: &PreservicaClient, url: &str) -> Result<usize, WebhookError> {
    let mine = client.own_subscription_ids(url);
    let mut removed = 0;
    let mut unknown = 0;
    for s in client.subscriptions().await? {
        let ours = match &s.url {
            Some(u) => same_url(u, url),
            None => {
                let known = mine.contains(&s.id);
                unknown += usize::from(!known);
                known
            }
        };
        if ours {
            client.unsubscribe(&s.id).await?;
            removed += 1;
        }
    }
    if unknown > 0 {
        tracing::warn!(
            unknown,
            "Preservica lists webhook subscriptions without their url; those ferry did not create in this process were left alone"
        );
    }
    Ok(removed)
}

/// Whether two subscriber URLs are the same, a trailing slash and the case of the scheme and
/// host aside.
fn same_url(a: &str, b: &str) -> bool {
    let norm = |s: &str| match url::Url::parse(s.trim()) {
        Ok(u) => u.as_str().trim_end_matches('/').to_string(),
        Err(_) => s.trim().trim_end_matches('/').to_string(),
    };
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_the_contracts_and_read_back() {
        let names: Vec<&str> = Trigger::ALL.iter().map(|t| t.wire()).collect();
        assert_eq!(
            names,
            [
                "MOVED",
                "FULL_TEXT_INDEXED",
                "CHANGED_SECURITY_DESCRIPTOR",
                "INGEST_FAILED",
                "CHANGE_ASSET_VISIBILITY"
            ]
        );
        for t in Trigger::ALL {
            assert_eq!(Trigger::from_wire(t.wire()), Some(t));
        }
        assert_eq!(Trigger::from_wire("INDEXED"), None);
        assert!(!LIVE_TRIGGERS.contains(&Trigger::IngestFailed));
        assert!(LIVE_TRIGGERS.contains(&Trigger::FullTextIndexed));
    }

    #[test]
    fn urls_match_despite_a_trailing_slash_or_the_hosts_case() {
        assert!(same_url(
            "https://Ferry.example/webhooks/preservica/",
            "https://ferry.example/webhooks/preservica"
        ));
        assert!(!same_url(
            "https://ferry.example/webhooks/preservica",
            "https://ferry.example/webhooks/other"
        ));
        assert!(!same_url(
            "https://ferry.example:8443/webhooks/preservica",
            "https://ferry.example/webhooks/preservica"
        ));
    }
}
