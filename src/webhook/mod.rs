//! Preservica webhooks on the wire (contract `shared/api/preservica.md` §7.3): the HMAC
//! challenge answer and delivery signature ([`signature`]), the lenient reading of a delivery
//! body ([`delivery`]), and the trigger types and the subscription lifecycle ferry keeps
//! ([`subscriptions`]).
//!
//! Invariant: nothing here logs or returns a webhook secret or a delivery body; errors name
//! what was wrong (and where), never the values that were.

pub mod delivery;
pub mod signature;
pub mod subscriptions;

pub use delivery::{Delivery, DeliveryError, EntityEvent, delivery_id, parse_delivery};
pub use signature::{
    SIGNATURE_HEADER, SignatureError, challenge_response, sign_delivery, verify_delivery,
};
pub use subscriptions::{LIVE_TRIGGERS, Renewed, Trigger, WebhookError, remove_own, renew};
