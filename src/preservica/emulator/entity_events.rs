//! Per-entity event actions, as far as ferry reads them (contract §7.2): every change made
//! through the Entity API, and every edit a test makes "as a person", is recorded with the
//! user who made it and when; `GET …/{seg}/{ref}/event-actions?start=&max=` lists them oldest
//! first, with `Paging` (`TotalResults` the overall count). That is what lets ferry see that
//! someone else changed an asset between its re-read and its write.
//!
//! Minimal on purpose: no repository-wide events, no event refs to look up; changes made
//! through the API are recorded by `dispatch` after the handler succeeded, so no handler
//! needs to know about events.

use super::{Call, Data, StoredFragment, xml};
use crate::preservica::wire::{self, EntityKind, EventAction, Version};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use chrono::Utc;

/// The user an edit made by a test "in Preservica" is recorded under: a person, not ferry.
pub const ARCHIVIST: &str = "archivist@ferry.local";

/// An edit an archivist makes on an asset (a test hook: see [`crate::emulate::EditDuring`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchivistEdit {
    /// A new Title.
    Title { reference: String, title: String },
    /// The fragment of `schema` replaced (or added) whole.
    Fragment {
        reference: String,
        schema: String,
        xml: String,
    },
}

impl Data {
    /// Records a change to `reference` made by `user` now.
    pub(crate) fn record_event(&mut self, reference: &str, user: &str, command: &str) {
        let event_type = if command == "MoveEntity" {
            "Moved"
        } else {
            "Modified"
        };
        self.entity_events
            .entry(reference.to_string())
            .or_default()
            .push(EventAction {
                command_type: command.to_string(),
                event_type: event_type.to_string(),
                date: Some(Utc::now()),
                user: Some(user.to_string()),
            });
    }

    /// Makes an archivist's edit and records it.
    pub(crate) fn apply_archivist_edit(&mut self, edit: &ArchivistEdit) {
        let (reference, command) = match edit {
            ArchivistEdit::Title { reference, title } => {
                let Some(e) = self.entities.get_mut(reference) else {
                    return;
                };
                e.title = title.clone();
                e.modified = Utc::now();
                (reference, "UpdateEntity")
            }
            ArchivistEdit::Fragment {
                reference,
                schema,
                xml,
            } => {
                let id = self.next_id("frag-");
                let Some(e) = self.entities.get_mut(reference) else {
                    return;
                };
                match e.fragments.iter_mut().find(|f| f.schema == *schema) {
                    Some(f) => f.xml = xml.clone(),
                    None => e.fragments.push(StoredFragment {
                        id,
                        schema: schema.clone(),
                        xml: xml.clone(),
                    }),
                }
                e.modified = Utc::now();
                (reference, "UpdateMetadata")
            }
        };
        self.record_event(reference, ARCHIVIST, command);
    }
}

/// The command a successful Entity API write carried out, by method and path, with the
/// entity it changed; `None` for reads and for paths that name no stored entity.
pub(super) fn change_of(data: &Data, call: &Call) -> Option<(String, &'static str)> {
    if matches!(call.method, Method::GET | Method::HEAD) {
        return None;
    }
    let rest = call.path.strip_prefix(wire::ENTITY_PREFIX)?;
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let at = segs
        .iter()
        .position(|s| EntityKind::from_segment(s).is_some())?;
    let reference = segs
        .get(at + 1)
        .filter(|r| data.entities.contains_key(**r))?;
    let tail = &segs[at + 2..];
    let post = call.method == Method::POST;
    let command = match (tail.first().copied(), &call.method) {
        (None, _) => "UpdateEntity",
        (Some("metadata"), _) if post => "AddMetadata",
        (Some("metadata"), &Method::DELETE) => "DeleteMetadata",
        (Some("metadata"), _) => "UpdateMetadata",
        (Some("identifiers"), _) if post => "AddIdentifier",
        (Some("identifiers"), &Method::DELETE) => "DeleteIdentifier",
        (Some("identifiers"), _) => "UpdateIdentifier",
        (Some("security-descriptor"), _) => "UpdateSecurityDescriptor",
        (Some("parent-ref"), _) => "MoveEntity",
        (Some(_), _) => "UpdateEntity",
    };
    Some((reference.to_string(), command))
}

/// `GET …/{seg}/{ref}/event-actions`: one page of the entity's events, oldest first.
pub(super) fn entity_events(
    data: &Data,
    version: &Version,
    call: &Call,
    reference: &str,
) -> Response {
    let number = |name: &str, default: usize| {
        call.param(name)
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(default)
    };
    let (start, max) = (number("start", 0), number("max", 25).clamp(1, 1000));
    let all = data
        .entity_events
        .get(reference)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut s = wire::response_open("EventActionsResponse", version);
    s.push_str("<EventActions>");
    for (i, a) in all.iter().enumerate().skip(start).take(max) {
        s.push_str(&wire::event_action_xml(a, &format!("event-{i}"), reference));
    }
    s.push_str("</EventActions>");
    let next = (start + max < all.len()).then(|| {
        format!(
            "{}{}?start={}&max={max}",
            call.origin,
            call.path,
            start + max
        )
    });
    s.push_str(&wire::paging(next.as_deref(), all.len() as u64));
    s.push_str("</EventActionsResponse>");
    xml(StatusCode::OK, s)
}
