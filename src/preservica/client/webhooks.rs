//! Webhook subscription management (contract §7.3): subscribe, list, unsubscribe.
//!
//! The contract is unsure of the shapes ([S]), so answers are read leniently: the subscribe
//! answer may or may not carry an `id`; list items need only an `id` (string or number), with
//! `url` and `triggerType` when present. A 403 names the role the tenant must give, a 404 on
//! the collection says the server has no webhook API, a 404 on one subscription means it is
//! already gone. Invariant: the secret is sent only in the subscribe body and never appears
//! in an error (server messages are scrubbed of it) or a log line.

use super::*;
use crate::webhook::{Trigger, WebhookError};

/// The subscriptions collection.
pub const SUBSCRIPTIONS_PATH: &str = "/api/webhook/subscriptions";

/// A subscription as the server lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub url: Option<String>,
    /// The `triggerType` as sent (the server may know types ferry does not).
    pub trigger: Option<String>,
}

fn id_of(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.trim().to_string()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
    .filter(|s| crate::ids::check(s).is_ok())
}

/// The webhook reading of a failed call: 403 and 404 as the module docs say.
fn webhook_error(e: PreservicaError) -> WebhookError {
    match e {
        PreservicaError::Forbidden { url } => WebhookError::RoleMissing { url },
        PreservicaError::NotFound { url, .. } => WebhookError::Unavailable { url },
        e => WebhookError::Preservica(e),
    }
}

impl PreservicaClient {
    /// Subscribes `url` to `trigger`, signed with `secret`; the server checks that `url`
    /// answers its challenge before it answers. Returns the subscription's id when the
    /// answer names one. A 4xx other than 403/404 is [`WebhookError::Refused`].
    pub async fn subscribe(
        &self,
        url: &str,
        trigger: Trigger,
        secret: &Secret,
    ) -> std::result::Result<Option<String>, WebhookError> {
        let endpoint = self.url(SUBSCRIPTIONS_PATH);
        // includeIdentifiers is a string on the wire, as pyPreservica sends it.
        let body = serde_json::json!({
            "url": url,
            "triggerType": trigger.wire(),
            "secret": secret.expose(),
            "includeIdentifiers": "true",
        });
        let reply = self
            .call(
                Method::POST,
                &endpoint,
                Some(("application/json", body.to_string().into_bytes())),
                &[("Accept", "application/json".to_string())],
            )
            .await;
        let scrub = |s: String| match secret.expose() {
            "" => s,
            x => s.replace(x, "[secret]"),
        };
        let reply = match reply {
            Ok(r) => r,
            Err(PreservicaError::Status { status, body, .. }) if status.is_client_error() => {
                return Err(WebhookError::Refused {
                    trigger,
                    status: status.as_u16(),
                    reason: scrub(body),
                });
            }
            Err(PreservicaError::Status {
                method,
                url,
                status,
                body,
            }) => {
                return Err(WebhookError::Preservica(PreservicaError::Status {
                    method,
                    url,
                    status,
                    body: scrub(body),
                }));
            }
            Err(e) => return Err(webhook_error(e)),
        };
        let answer: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
        let id = id_of(&answer["id"]);
        if let Some(id) = &id {
            self.remember_subscription(id, url);
        }
        tracing::debug!(%trigger, url, id = id.as_deref().unwrap_or("(none)"), "subscribed to a Preservica webhook");
        Ok(id)
    }

    /// Every subscription of the tenant (a JSON array; items without a usable `id` are left
    /// out, with a warning).
    pub async fn subscriptions(&self) -> std::result::Result<Vec<Subscription>, WebhookError> {
        let endpoint = self.url(SUBSCRIPTIONS_PATH);
        let reply = self
            .call(
                Method::GET,
                &endpoint,
                None,
                &[("Accept", "application/json".to_string())],
            )
            .await
            .map_err(webhook_error)?;
        let malformed = |reason: String| WebhookError::Malformed {
            url: reply.url.clone(),
            reason,
        };
        let value: serde_json::Value = serde_json::from_slice(&reply.body)
            .map_err(|e| malformed(format!("not JSON ({e})")))?;
        let items = value
            .as_array()
            .ok_or_else(|| malformed("the subscription list is not a JSON array".into()))?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let Some(id) = id_of(&item["id"]) else {
                tracing::warn!(url = %reply.url, "a listed webhook subscription has no usable id; left out");
                continue;
            };
            let text = |k: &str| item[k].as_str().map(str::to_string);
            out.push(Subscription {
                id,
                url: text("url"),
                trigger: text("triggerType"),
            });
        }
        Ok(out)
    }

    /// Removes a subscription. `false` when it was already gone (404).
    pub async fn unsubscribe(&self, id: &str) -> std::result::Result<bool, WebhookError> {
        let endpoint = self.url(&format!("{SUBSCRIPTIONS_PATH}/{}", crate::ids::segment(id)));
        let gone = match self.call(Method::DELETE, &endpoint, None, &[]).await {
            Ok(_) => true,
            Err(PreservicaError::NotFound { .. }) => false,
            Err(e) => return Err(webhook_error(e)),
        };
        self.forget_subscription(id);
        Ok(gone)
    }

    fn remember_subscription(&self, id: &str, url: &str) {
        let mut own = self.own_webhooks.lock().unwrap_or_else(|e| e.into_inner());
        own.insert(id.to_string(), url.to_string());
    }

    fn forget_subscription(&self, id: &str) {
        let mut own = self.own_webhooks.lock().unwrap_or_else(|e| e.into_inner());
        own.remove(id);
    }

    /// Ids of the subscriptions this client created for `url` and has not removed.
    pub fn own_subscription_ids(&self, url: &str) -> BTreeSet<String> {
        let own = self.own_webhooks.lock().unwrap_or_else(|e| e.into_inner());
        own.iter()
            .filter(|(_, u)| u.as_str() == url)
            .map(|(id, _)| id.clone())
            .collect()
    }
}
