//! Relationship links between entities (contract §3.7, "relationships").
//!
//! Invariant: a link is stored once, from its `FromEntity` to its `ToEntity`, and both ends
//! see it: the source lists it with `linkDirection="From"`, the target with `"To"`, each
//! naming the other end (its ref, title and type). Both ends are existing folders or assets
//! when the link is made; a link whose other end has since gone is no longer listed. Adding
//! the same (type, from, to) again answers the existing link rather than making a second.
//! Adding or deleting a link is an event on its source.
//!
//! * `GET …/{seg}/{ref}/links?start=&max=` → `LinksResponse` / `Links` / `Link` (attributes
//!   `linkType`, `linkDirection`, `title`, `ref`, `type`, `apiId`; text = the other end's URL).
//! * `POST …/{seg}/{ref}/links` with `<Link xmlns=XIP><Type/><FromEntity/><ToEntity/></Link>`
//!   → 200 `LinkResponse` holding `xip:Link` and its `Self` URL.
//! * `GET` / `DELETE …/links/{apiId}` through either end → the link / 204.

use super::entities::{Ctx, next_url, page_params, xip_body};
use super::events::Change;
use super::{Call, Data, bad_request, not_found, text, xml};
use crate::preservica::wire::{self, EntityKind};
use crate::xml::esc;
use axum::http::{Method, StatusCode};
use axum::response::Response;

/// Longest relationship type accepted (real ones are URIs such as DCMI terms).
const MAX_TYPE_BYTES: usize = 1024;

/// One link, as stored.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub api_id: String,
    pub link_type: String,
    pub from: String,
    pub to: String,
}

/// `GET …/links`: the links of an entity in both directions, oldest first.
pub(super) fn list(data: &Data, ctx: &Ctx, call: &Call, reference: &str) -> Response {
    let (start, max) = match page_params(call, 25, 1000) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let seen: Vec<(&Link, &str, &super::Entity)> = data
        .links
        .iter()
        .filter_map(|l| {
            let (direction, other) = if l.from == reference {
                ("From", &l.to)
            } else if l.to == reference {
                ("To", &l.from)
            } else {
                return None;
            };
            data.entities.get(other).map(|o| (l, direction, o))
        })
        .collect();
    let mut s = wire::response_open("LinksResponse", &ctx.version);
    s.push_str("<Links>");
    for (l, direction, other) in seen.iter().skip(start).take(max) {
        s.push_str(&format!(
            "<Link linkType=\"{}\" linkDirection=\"{direction}\" title=\"{}\" ref=\"{}\" type=\"{}\" apiId=\"{}\">{}</Link>",
            esc(&l.link_type),
            esc(&other.title),
            esc(&other.reference),
            other.kind.code(),
            esc(&l.api_id),
            esc(&ctx.url(other.kind, &other.reference))
        ));
    }
    s.push_str("</Links>");
    let next = next_url(ctx, call, start, max, seen.len());
    s.push_str(&wire::paging(next.as_deref(), seen.len() as u64));
    s.push_str("</LinksResponse>");
    xml(StatusCode::OK, s)
}

fn link_response(data: &Data, ctx: &Ctx, l: &Link) -> Response {
    let from_kind = data
        .entities
        .get(&l.from)
        .map_or(EntityKind::Asset, |e| e.kind);
    let mut s = wire::response_open("LinkResponse", &ctx.version);
    s.push_str(&format!(
        "<xip:Link><xip:Type>{}</xip:Type><xip:FromEntity>{}</xip:FromEntity><xip:ToEntity>{}</xip:ToEntity></xip:Link>",
        esc(&l.link_type),
        esc(&l.from),
        esc(&l.to)
    ));
    s.push_str(&format!(
        "<AdditionalInformation><Self>{}/links/{}</Self></AdditionalInformation></LinkResponse>",
        esc(&ctx.url(from_kind, &l.from)),
        esc(&l.api_id)
    ));
    xml(StatusCode::OK, s)
}

/// Reads and checks a `Link` body posted to `reference`: (type, to).
#[allow(clippy::result_large_err)] // the error is the answer itself, returned once per request
fn read_link(data: &Data, call: &Call, reference: &str) -> Result<(String, String), Response> {
    let doc = xip_body(call)?;
    let root = &doc.root;
    if root.local != "Link" {
        return Err(bad_request("the body must be a Link"));
    }
    if !wire::is_xip_ns(root.namespace.as_deref()) {
        return Err(bad_request(
            "the Link must be in a Preservica XIP namespace",
        ));
    }
    let (Some(link_type), Some(from), Some(to)) = (
        root.child_text("Type"),
        root.child_text("FromEntity"),
        root.child_text("ToEntity"),
    ) else {
        return Err(bad_request("a Link needs Type, FromEntity and ToEntity"));
    };
    if link_type.is_empty() || link_type.len() > MAX_TYPE_BYTES {
        return Err(bad_request(&format!(
            "the link Type must be 1 to {MAX_TYPE_BYTES} bytes"
        )));
    }
    if link_type.chars().any(char::is_control) {
        return Err(bad_request("the link Type holds a control character"));
    }
    if from != reference {
        return Err(bad_request(&format!(
            "FromEntity '{from}' is not the entity in the URL"
        )));
    }
    if to == reference {
        return Err(bad_request("an entity cannot be linked to itself"));
    }
    match data.entities.get(&to).map(|e| e.kind) {
        None => Err(bad_request(&format!("ToEntity '{to}' does not exist"))),
        Some(EntityKind::ContentObject) => Err(bad_request("content objects cannot be linked")),
        Some(_) => Ok((link_type, to)),
    }
}

/// `POST …/links`: links `reference` to the body's `ToEntity`.
pub(super) fn add(
    data: &mut Data,
    ctx: &Ctx,
    call: &Call,
    kind: EntityKind,
    reference: &str,
) -> Response {
    if kind == EntityKind::ContentObject {
        return bad_request("content objects cannot be linked");
    }
    let (link_type, to) = match read_link(data, call, reference) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if let Some(l) = data
        .links
        .iter()
        .find(|l| l.link_type == link_type && l.from == reference && l.to == to)
    {
        return link_response(data, ctx, l);
    }
    let link = Link {
        api_id: uuid::Uuid::new_v4().simple().to_string(),
        link_type,
        from: reference.to_string(),
        to,
    };
    data.links.push(link.clone());
    data.changed(reference, Change::LinkAdded);
    link_response(data, ctx, &link)
}

/// `GET` / `DELETE …/links/{apiId}`, through either end of the link.
pub(super) fn one(
    data: &mut Data,
    ctx: &Ctx,
    call: &Call,
    reference: &str,
    api_id: &str,
) -> Response {
    let Some(pos) = data
        .links
        .iter()
        .position(|l| l.api_id == api_id && (l.from == reference || l.to == reference))
    else {
        return not_found(&format!("no link {api_id} on {reference}"));
    };
    match call.method {
        Method::GET => link_response(data, ctx, &data.links[pos]),
        Method::DELETE => {
            let link = data.links.remove(pos);
            data.changed(&link.from, Change::LinkDeleted);
            text(StatusCode::NO_CONTENT, String::new())
        }
        _ => not_found("unsupported method on a link"),
    }
}
