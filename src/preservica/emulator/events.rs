//! Event actions: what was done to each entity, served as Preservica serves them (contract
//! §7.2).
//!
//! Invariant: every change to an entity is recorded here, once, when it happens. Creation is
//! recorded by `Data::insert` (dated by the entity's `modified` time, so seeded entities carry
//! their seeded dates); every later change — a title or description save, a metadata fragment
//! added, updated or deleted, an identifier added, updated or deleted, a move, a security tag
//! change, a link added or deleted, a representation added or renamed — goes through
//! [`Data::changed`], which both stamps `modified` and appends the event action. So
//! `updated-since` and `event-actions` always tell the same story (only the test hook
//! `set_modified` moves `modified` alone).
//!
//! Each change is one event with one action, numbered in the order it happened:
//!
//! * `GET /api/entity/{seg}/{ref}/event-actions?start=&max=` → `EventActionsResponse` /
//!   `EventActions` / `xip:EventAction commandType=` holding `xip:Event type=` (`Ref`, `Date`,
//!   `User`), then `xip:Date` and `xip:Entity`, oldest first, with `Paging`.
//! * `GET /api/entity/events?start=&max=&types=&from=&to=&username=` → `EventsResponse` /
//!   `Events` / `xip:Event`, oldest first; `types` is a comma list of event types.
//! * `GET /api/entity/events/{eventRef}/event-actions` → the actions of one event.
//!
//! Event types `Ingest`, `Modified` and `Moved` and command types `command_create` and
//! `AddIdentifier` are the values the contract shows; the other command types are this
//! emulator's own names for its changes (no source shows the real ones).

use super::entities::{Ctx, next_url, page_params, parse_instant};
use super::{Call, Data, Entity, bad_request, not_found, xml};
use crate::preservica::wire;
use crate::xml::esc;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};

/// What happened to an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Created,
    Updated,
    MetadataAdded,
    MetadataUpdated,
    MetadataDeleted,
    IdentifierAdded,
    IdentifierUpdated,
    IdentifierDeleted,
    Moved,
    SecurityChanged,
    LinkAdded,
    LinkDeleted,
    RepresentationAdded,
    RepresentationRenamed,
}

impl Change {
    /// The `commandType` of the event action.
    pub fn command_type(self) -> &'static str {
        match self {
            Change::Created => "command_create",
            Change::Updated => "UpdateEntity",
            Change::MetadataAdded => "AddMetadata",
            Change::MetadataUpdated => "UpdateMetadata",
            Change::MetadataDeleted => "DeleteMetadata",
            Change::IdentifierAdded => "AddIdentifier",
            Change::IdentifierUpdated => "UpdateIdentifier",
            Change::IdentifierDeleted => "DeleteIdentifier",
            Change::Moved => "MoveEntity",
            Change::SecurityChanged => "UpdateSecurityDescriptor",
            Change::LinkAdded => "AddLink",
            Change::LinkDeleted => "DeleteLink",
            Change::RepresentationAdded => "AddRepresentation",
            Change::RepresentationRenamed => "RenameRepresentation",
        }
    }

    /// The `type` of the event.
    pub fn event_type(self) -> &'static str {
        match self {
            Change::Created => "Ingest",
            Change::Moved => "Moved",
            _ => "Modified",
        }
    }
}

/// One recorded change: its event number, what it was, when, and by whom (`None`: the API
/// user, the account every API request logs in as).
#[derive(Debug, Clone)]
pub(crate) struct EventAction {
    pub seq: u64,
    pub change: Change,
    pub date: DateTime<Utc>,
    pub user: Option<String>,
}

impl EventAction {
    /// The action as a client reads it, with `api_user` for changes made through the API.
    pub fn as_read(&self, api_user: &str) -> wire::EventAction {
        wire::EventAction {
            command_type: self.change.command_type().to_string(),
            event_type: self.change.event_type().to_string(),
            date: Some(self.date),
            user: Some(self.user.clone().unwrap_or_else(|| api_user.to_string())),
        }
    }
}

/// Event refs are UUID-shaped and carry the event number, so no table is needed to find one.
const EVENT_REF_PREFIX: &str = "e0000000-0000-4000-8000-";

fn event_ref(seq: u64) -> String {
    format!("{EVENT_REF_PREFIX}{seq:012x}")
}

fn parse_event_ref(s: &str) -> Option<u64> {
    let hex = s.strip_prefix(EVENT_REF_PREFIX)?;
    if hex.len() != 12 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

impl Data {
    /// Records the creation of an entity about to be stored.
    pub fn record_creation(&mut self, e: &mut Entity) {
        self.event_seq += 1;
        e.events.push(EventAction {
            seq: self.event_seq,
            change: Change::Created,
            date: e.modified,
            user: None,
        });
        self.announce_entity(e, Change::Created);
    }

    /// Records a change made through the API now: stamps `modified` and appends the event
    /// action.
    pub fn changed(&mut self, reference: &str, change: Change) {
        self.changed_by(reference, change, None);
    }

    /// Records a change made now by `user` (`None`: the API user).
    pub fn changed_by(&mut self, reference: &str, change: Change, user: Option<&str>) {
        let now = self.clock.now();
        self.event_seq += 1;
        let seq = self.event_seq;
        if let Some(e) = self.entities.get_mut(reference) {
            e.modified = now;
            e.events.push(EventAction {
                seq,
                change,
                date: now,
                user: user.map(str::to_string),
            });
        }
        self.announce(reference, change);
    }
}

fn date(d: &DateTime<Utc>) -> String {
    d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn push_event(s: &mut String, a: &EventAction, api_user: &str) {
    let user = a.user.as_deref().unwrap_or(api_user);
    s.push_str(&format!(
        "<xip:Event type=\"{}\"><xip:Ref>{}</xip:Ref><xip:Date>{}</xip:Date><xip:User>{}</xip:User></xip:Event>",
        a.change.event_type(),
        event_ref(a.seq),
        date(&a.date),
        esc(user)
    ));
}

fn push_action(s: &mut String, a: &EventAction, entity: &str, user: &str) {
    s.push_str(&format!(
        "<xip:EventAction commandType=\"{}\">",
        a.change.command_type()
    ));
    push_event(s, a, user);
    s.push_str(&format!(
        "<xip:Date>{}</xip:Date><xip:Entity>{}</xip:Entity></xip:EventAction>",
        date(&a.date),
        esc(entity)
    ));
}

/// An `EventActionsResponse` holding one page of `(entity ref, action)` pairs.
fn actions_response(
    ctx: &Ctx,
    call: &Call,
    actions: &[(&str, &EventAction)],
    start: usize,
    max: usize,
) -> Response {
    let mut s = wire::response_open("EventActionsResponse", &ctx.version);
    s.push_str("<EventActions>");
    for (entity, a) in actions.iter().skip(start).take(max) {
        push_action(&mut s, a, entity, &ctx.user);
    }
    s.push_str("</EventActions>");
    let next = next_url(ctx, call, start, max, actions.len());
    s.push_str(&wire::paging(next.as_deref(), actions.len() as u64));
    s.push_str("</EventActionsResponse>");
    xml(StatusCode::OK, s)
}

/// `GET …/{seg}/{ref}/event-actions`: the entity's history, oldest first.
pub(super) fn entity_events(data: &Data, ctx: &Ctx, call: &Call, reference: &str) -> Response {
    let (start, max) = match page_params(call, 25, 1000) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let e = &data.entities[reference];
    let actions: Vec<(&str, &EventAction)> =
        e.events.iter().map(|a| (e.reference.as_str(), a)).collect();
    actions_response(ctx, call, &actions, start, max)
}

/// `GET /api/entity/events/{eventRef}/event-actions`: the actions of one event.
pub(super) fn actions_of_event(data: &Data, ctx: &Ctx, call: &Call, event: &str) -> Response {
    let (start, max) = match page_params(call, 25, 1000) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let found = parse_event_ref(event).and_then(|seq| {
        data.entities.values().find_map(|e| {
            e.events
                .iter()
                .find(|a| a.seq == seq)
                .map(|a| (e.reference.as_str(), a))
        })
    });
    match found {
        Some(pair) => actions_response(ctx, call, &[pair], start, max),
        None => not_found(&format!("no event {event}")),
    }
}

/// An optional instant parameter, or a 400 naming it.
#[allow(clippy::result_large_err)] // the error is the answer itself, returned once per request
fn instant_param(call: &Call, name: &str) -> Result<Option<DateTime<Utc>>, Response> {
    match call.param(name) {
        None | Some("") => Ok(None),
        Some(v) => parse_instant(v)
            .map(Some)
            .ok_or_else(|| bad_request(&format!("{name} must be an ISO-8601 date, got '{v}'"))),
    }
}

/// `GET /api/entity/events`: every event in the repository, oldest first, filtered by
/// `types`, `from`, `to` (both inclusive) and `username`.
pub(super) fn all_events(data: &Data, ctx: &Ctx, call: &Call) -> Response {
    let (start, max) = match page_params(call, 25, 1000) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (from, to) = match (instant_param(call, "from"), instant_param(call, "to")) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let types: Vec<&str> = call
        .param("types")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    let username = call.param("username");
    let mut events: Vec<&EventAction> = data
        .entities
        .values()
        .flat_map(|e| e.events.iter())
        .filter(|a| username.is_none_or(|u| u == a.user.as_deref().unwrap_or(&ctx.user)))
        .filter(|a| {
            types.is_empty()
                || types
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(a.change.event_type()))
        })
        .filter(|a| from.is_none_or(|f| a.date >= f) && to.is_none_or(|t| a.date <= t))
        .collect();
    events.sort_by_key(|a| a.seq);
    let mut s = wire::response_open("EventsResponse", &ctx.version);
    s.push_str("<Events>");
    for a in events.iter().skip(start).take(max) {
        push_event(&mut s, a, &ctx.user);
    }
    s.push_str("</Events>");
    let next = next_url(ctx, call, start, max, events.len());
    s.push_str(&wire::paging(next.as_deref(), events.len() as u64));
    s.push_str("</EventsResponse>");
    xml(StatusCode::OK, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_refs_round_trip_and_refuse_anything_else() {
        for seq in [1u64, 255, 0xffff_ffff_ffff] {
            assert_eq!(parse_event_ref(&event_ref(seq)), Some(seq));
        }
        for bad in [
            "",
            "e0000000-0000-4000-8000-",
            "e0000000-0000-4000-8000-00000000000g",
            "e0000000-0000-4000-8000-0000000000001",
            "2e0d5f55-8a1c-4c0e-9d0e-6f4d7c1b2a11",
        ] {
            assert_eq!(parse_event_ref(bad), None, "{bad}");
        }
    }
}
