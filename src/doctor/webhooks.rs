//! The webhook check of `ferry doctor` (run when live sync is enabled): whether the
//! configured Preservica user can reach the webhook API, by listing the subscriptions
//! (contract §7.3). It changes nothing on the tenant.
//!
//! Invariant: the line names what to fix — the missing role on a 403, the server's lack of
//! webhooks on a 404 — and never holds the webhook secret (this check does not use it).

use super::{Check, Status};
use crate::model::System;
use crate::preservica::client::PreservicaClient;
use crate::webhook::WebhookError;

/// The check's name in the doctor's table.
pub const NAME: &str = "webhooks";

/// Lists the webhook subscriptions: ok with their count, FAIL naming the role or the
/// missing API otherwise.
pub async fn check_webhooks(client: &PreservicaClient) -> Check {
    let (status, detail) = match client.subscriptions().await {
        Ok(subs) => (
            Status::Ok,
            format!(
                "the webhook API answers; the tenant has {} subscription{}",
                subs.len(),
                if subs.len() == 1 { "" } else { "s" }
            ),
        ),
        Err(e @ WebhookError::RoleMissing { .. }) => (
            Status::Fail,
            format!("{e}; live sync cannot subscribe to changes without it"),
        ),
        Err(e @ WebhookError::Unavailable { .. }) => (
            Status::Fail,
            format!("{e}; live sync cannot work against this server (nightly runs still do)"),
        ),
        Err(e) => (Status::Fail, format!("the webhook API cannot be read: {e}")),
    };
    Check {
        system: System::Preservica,
        name: NAME,
        status,
        detail,
    }
}
