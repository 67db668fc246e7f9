//! The Entity API of the emulator: entities, children, metadata fragments, identifiers,
//! updated-since, representations down to bitstream bytes, and the async actions. Event
//! actions, links and added representations have their own modules; every change made here
//! is recorded through `Data::changed` (see `events`).

use super::events::{self, Change};
use super::{
    Call, Data, Entity, Shared, StoredFragment, bad_request, bytes_response, links, not_found,
    representations, text, xml,
};
use crate::preservica::wire::{self, EntityDoc, EntityKind, EntityLink, Identifier, Version};
use crate::xml::{self, Element, esc};
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Utc};

/// The answer's version and the base URL of entity paths (keeping a `/vX.Y` prefix when the
/// request used one, so followed URLs stay in that version), and the user events are by.
pub(super) struct Ctx {
    pub(super) version: Version,
    pub(super) base: String,
    pub(super) user: String,
}

impl Ctx {
    pub(super) fn url(&self, kind: EntityKind, reference: &str) -> String {
        format!("{}/{}/{}", self.base, kind.segment(), reference)
    }
}

pub(super) fn route(shared: &Shared, data: &mut Data, call: &Call, rest: &str) -> Response {
    let mut segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let mut ctx = Ctx {
        version: shared.options.version,
        base: format!("{}{}", call.origin, wire::ENTITY_PREFIX),
        user: shared.options.username.clone(),
    };
    if let Some(first) = segs.first()
        && first.starts_with('v')
        && let Some(v) = Version::parse(first)
    {
        ctx.version = Version::new(v.major, v.minor, 0);
        ctx.base = format!("{}{}/{first}", call.origin, wire::ENTITY_PREFIX);
        segs.remove(0);
    }
    let m = &call.method;
    match segs.as_slice() {
        ["versiondetails", "version"] => xml(
            StatusCode::OK,
            wire::version_response(&shared.options.version),
        ),
        ["root", "children"] if *m == Method::GET => children(data, &ctx, call, None),
        ["entities", "by-identifier"] if *m == Method::GET => by_identifier(data, &ctx, call),
        ["entities", "updated-since"] if *m == Method::GET => updated_since(data, &ctx, call),
        ["progress", _token] => xml(StatusCode::OK, wire::progress_response("COMPLETED")),
        ["events"] if *m == Method::GET => events::all_events(data, &ctx, call),
        ["events", event, "event-actions"] if *m == Method::GET => {
            events::actions_of_event(data, &ctx, call, event)
        }
        [seg] if *m == Method::POST => match EntityKind::from_segment(seg) {
            Some(kind) => create(data, &ctx, call, kind),
            None => not_found(&format!("no such entity type: {seg}")),
        },
        [seg, reference, tail @ ..] => {
            let Some(kind) = EntityKind::from_segment(seg) else {
                return not_found(&format!("no such entity type: {seg}"));
            };
            match data.entities.get(*reference) {
                Some(e) if e.kind == kind => {}
                _ => return not_found(&format!("no {} with ref {reference}", kind.element())),
            }
            entity_route(data, &ctx, call, kind, reference, tail)
        }
        _ => not_found(&format!("no such entity API path: {}", call.path)),
    }
}

fn entity_route(
    data: &mut Data,
    ctx: &Ctx,
    call: &Call,
    kind: EntityKind,
    reference: &str,
    tail: &[&str],
) -> Response {
    let m = &call.method;
    match tail {
        [] if *m == Method::GET => entity_response(data, ctx, reference),
        [] if *m == Method::PUT => update(data, ctx, call, kind, reference),
        [] if *m == Method::DELETE => text(
            StatusCode::UNPROCESSABLE_ENTITY,
            "deletion needs an active deletion workflow, which this emulator does not run".into(),
        ),
        ["children"] if *m == Method::GET && kind == EntityKind::Folder => {
            children(data, ctx, call, Some(reference))
        }
        ["metadata"] if *m == Method::POST => add_metadata(data, ctx, call, reference),
        ["metadata", id] => metadata(data, ctx, call, reference, id),
        ["identifiers"] if *m == Method::GET => {
            let ids = data.entities[reference].identifiers.clone();
            xml(
                StatusCode::OK,
                wire::identifiers_response(&ctx.version, &ids),
            )
        }
        ["identifiers"] if *m == Method::POST => add_identifier(data, ctx, call, reference),
        ["identifiers", api_id] => identifier(data, ctx, call, reference, api_id),
        ["representations"] if *m == Method::GET => representations(data, ctx, reference),
        ["representations", rtype, n] if *m == Method::GET => {
            representation(data, ctx, reference, rtype, n)
        }
        ["generations"] if *m == Method::GET => generations(data, ctx, reference),
        ["generations", n] if *m == Method::GET => generation(data, ctx, reference, n),
        ["generations", n, "bitstreams", b] if *m == Method::GET => {
            bitstream(data, ctx, reference, n, b)
        }
        ["generations", n, "bitstreams", b, "content"] if *m == Method::GET => {
            content(data, call, reference, n, b)
        }
        ["security-descriptor"] if *m == Method::PUT => {
            let tag = String::from_utf8_lossy(&call.body).trim().to_string();
            if tag.is_empty() {
                return bad_request("the body must name a security tag");
            }
            let e = data.entities.get_mut(reference).expect("checked above");
            e.security_tag = tag;
            data.changed(reference, Change::SecurityChanged);
            progress(data)
        }
        ["parent-ref"] if *m == Method::PUT => move_entity(data, call, kind, reference),
        ["event-actions"] if *m == Method::GET => events::entity_events(data, ctx, call, reference),
        ["links"] if *m == Method::GET => links::list(data, ctx, call, reference),
        ["links"] if *m == Method::POST => links::add(data, ctx, call, kind, reference),
        ["links", api_id] => links::one(data, ctx, call, reference, api_id),
        ["representations"] if *m == Method::POST => {
            representations::add_access(data, call, kind, reference)
        }
        ["representations", spec, "name"] if *m == Method::PUT => {
            representations::rename(data, call, reference, spec)
        }
        _ => not_found(&format!("no such entity API path: {}", call.path)),
    }
}

/// 202 with a plain-text progress token: the answer of every async action, done at once.
pub(super) fn progress(data: &mut Data) -> Response {
    let token = data.next_id("progress-");
    text(StatusCode::ACCEPTED, token)
}

fn entity_doc(e: &Entity, ctx: &Ctx) -> EntityDoc {
    EntityDoc {
        kind: Some(e.kind),
        reference: e.reference.clone(),
        title: Some(e.title.clone()),
        description: e.description.clone(),
        security_tag: e.security_tag.clone(),
        parent: e.parent.clone(),
        custom_type: e.custom_type.clone(),
        fragments: e
            .fragments
            .iter()
            .map(|f| {
                (
                    f.schema.clone(),
                    format!("{}/metadata/{}", ctx.url(e.kind, &e.reference), f.id),
                )
            })
            .collect(),
    }
}

fn entity_response(data: &Data, ctx: &Ctx, reference: &str) -> Response {
    let e = &data.entities[reference];
    let own = ctx.url(e.kind, reference);
    let mut extra = String::new();
    if let Some(p) = &e.parent {
        // A content object's parent is its asset, not a folder.
        let parent_kind = data
            .entities
            .get(p)
            .map_or(EntityKind::Folder, |parent| parent.kind);
        extra.push_str(&format!(
            "<Parent>{}</Parent>",
            esc(&ctx.url(parent_kind, p))
        ));
    }
    match e.kind {
        EntityKind::Folder => extra.push_str(&format!("<Children>{own}/children</Children>")),
        EntityKind::Asset => extra.push_str(&format!(
            "<Representations>{own}/representations</Representations>"
        )),
        EntityKind::ContentObject => {
            extra.push_str(&format!("<Generations>{own}/generations</Generations>"))
        }
    }
    extra.push_str(&format!(
        "<Identifiers>{own}/identifiers</Identifiers><Links>{own}/links</Links>"
    ));
    xml(
        StatusCode::OK,
        wire::entity_response(&ctx.version, e.kind, &entity_doc(e, ctx), &own, &extra),
    )
}

/// `start`/`max` of a paged request, bounded.
#[allow(clippy::result_large_err)] // the error is the answer itself, returned once per request
pub(super) fn page_params(
    call: &Call,
    default_max: usize,
    limit: usize,
) -> Result<(usize, usize), Response> {
    let num = |name: &str, default: usize| match call.param(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| bad_request(&format!("{name} must be a whole number, got '{v}'"))),
    };
    let start = num("start", 0)?;
    let max = num("max", default_max)?.clamp(1, limit);
    Ok((start, max))
}

/// The URL of the next page: the request's own URL with `start` moved on.
pub(super) fn next_url(
    ctx: &Ctx,
    call: &Call,
    start: usize,
    max: usize,
    total: usize,
) -> Option<String> {
    // Saturating: `start` comes from the caller and may be anything up to usize::MAX.
    if start.saturating_add(max) >= total {
        return None;
    }
    let path = call.path.trim_start_matches(wire::ENTITY_PREFIX);
    let path = path
        .strip_prefix(&format!("/v{}", ctx.version.api()))
        .unwrap_or(path);
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &call.query {
        if k != "start" && k != "max" {
            q.append_pair(k, v);
        }
    }
    q.append_pair("start", &(start + max).to_string());
    q.append_pair("max", &max.to_string());
    Some(format!("{}{}?{}", ctx.base, path, q.finish()))
}

fn link(e: &Entity, ctx: &Ctx) -> EntityLink {
    EntityLink {
        reference: e.reference.clone(),
        kind: Some(e.kind),
        title: Some(e.title.clone()),
        url: ctx.url(e.kind, &e.reference),
        deleted: false,
    }
}

fn children(data: &Data, ctx: &Ctx, call: &Call, parent: Option<&str>) -> Response {
    let (start, max) = match page_params(call, 100, 1000) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let all = data
        .children
        .get(parent.unwrap_or(""))
        .cloned()
        .unwrap_or_default();
    let links: Vec<EntityLink> = all
        .iter()
        .skip(start)
        .take(max)
        .filter_map(|r| data.entities.get(r))
        .map(|e| link(e, ctx))
        .collect();
    let next = next_url(ctx, call, start, max, all.len());
    xml(
        StatusCode::OK,
        wire::links_response(
            &ctx.version,
            "ChildrenResponse",
            "Children",
            "Child",
            &links,
            next.as_deref(),
            all.len() as u64,
        ),
    )
}

fn by_identifier(data: &Data, ctx: &Ctx, call: &Call) -> Response {
    let (Some(kind), Some(value)) = (call.param("type"), call.param("value")) else {
        return bad_request("by-identifier needs type and value");
    };
    let mut found: Vec<&Entity> = data
        .entities
        .values()
        .filter(|e| {
            e.identifiers
                .iter()
                .any(|i| i.kind == kind && i.value == value)
        })
        .collect();
    found.sort_by(|a, b| a.reference.cmp(&b.reference));
    let links: Vec<EntityLink> = found.iter().map(|e| link(e, ctx)).collect();
    xml(
        StatusCode::OK,
        wire::links_response(
            &ctx.version,
            "EntitiesResponse",
            "Entities",
            "Entity",
            &links,
            None,
            links.len() as u64,
        ),
    )
}

/// Reads the instants both known clients send: pyPreservica's microseconds with `+00:00`,
/// TNA's milliseconds with `Z`, and plain dates.
pub(super) fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Some(t.with_timezone(&Utc));
    }
    // A `+` in a query string that was not encoded arrives as a space.
    if let Ok(t) = DateTime::parse_from_rfc3339(&s.trim().replace(' ', "+")) {
        return Some(t.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
}

fn updated_since(data: &Data, ctx: &Ctx, call: &Call) -> Response {
    let Some(raw) = call.param("date").or(call.param("since")) else {
        return bad_request("updated-since needs date");
    };
    let Some(since) = parse_instant(raw) else {
        return bad_request(&format!("'{raw}' is not an ISO-8601 date"));
    };
    let until = call.param("endDate").and_then(parse_instant);
    let (start, max) = match page_params(call, 25, 1000) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut changed: Vec<&Entity> = data
        .entities
        .values()
        .filter(|e| e.kind != EntityKind::ContentObject)
        .filter(|e| e.modified >= since && until.is_none_or(|u| e.modified < u))
        .collect();
    // Oldest first, so a client that stops part way can resume from the last one it saw.
    changed.sort_by(|a, b| (a.modified, &a.reference).cmp(&(b.modified, &b.reference)));
    let links: Vec<EntityLink> = changed
        .iter()
        .skip(start)
        .take(max)
        .map(|e| link(e, ctx))
        .collect();
    let next = next_url(ctx, call, start, max, changed.len());
    xml(
        StatusCode::OK,
        wire::links_response(
            &ctx.version,
            "EntitiesResponse",
            "Entities",
            "Entity",
            &links,
            next.as_deref(),
            changed.len() as u64,
        ),
    )
}

/// Parses a request body, refusing DOCTYPEs and entities, and finds the XIP element `name`
/// (the root itself, or a child of an `XIP` wrapper).
#[allow(clippy::result_large_err)] // the error is the answer itself, returned once per request
pub(super) fn xip_body(call: &Call) -> Result<xml::Document, Response> {
    let body = call.text()?;
    xml::parse(body).map_err(|e| bad_request(&format!("malformed XML body: {e}")))
}

fn find_entity_element(root: &Element, kind: EntityKind) -> Option<&Element> {
    if root.local == kind.element() {
        return Some(root);
    }
    root.child(kind.element())
}

fn create(data: &mut Data, ctx: &Ctx, call: &Call, kind: EntityKind) -> Response {
    if kind == EntityKind::ContentObject {
        return bad_request("content objects cannot be created through the Entity API");
    }
    let doc = match xip_body(call) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let Some(el) = find_entity_element(&doc.root, kind) else {
        return bad_request(&format!("the body holds no {}", kind.element()));
    };
    if !wire::is_xip_ns(el.namespace.as_deref()) {
        return bad_request("the entity must be in a Preservica XIP namespace");
    }
    let parent = el.child_text("Parent").filter(|p| !p.is_empty());
    match &parent {
        Some(p) if data.entities.get(p).map(|e| e.kind) != Some(EntityKind::Folder) => {
            return bad_request(&format!("parent {p} is not a folder"));
        }
        None if kind == EntityKind::Asset => {
            return bad_request("an asset needs a parent folder");
        }
        _ => {}
    }
    let reference = el
        .child_text("Ref")
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if data.entities.contains_key(&reference) {
        return bad_request(&format!("an entity with ref {reference} already exists"));
    }
    let mut e = Entity::new(
        kind,
        reference.clone(),
        el.child("Title")
            .map(|t| t.text.clone())
            .unwrap_or_default(),
        parent,
        data.clock.now(),
    );
    e.description = el.child("Description").map(|d| d.text.clone());
    e.security_tag = el
        .child_text("SecurityTag")
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "open".into());
    e.custom_type = el.child_text("CustomType");
    data.insert(e);
    entity_response(data, ctx, &reference)
}

fn update(data: &mut Data, ctx: &Ctx, call: &Call, kind: EntityKind, reference: &str) -> Response {
    let doc = match xip_body(call) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let Some(el) = find_entity_element(&doc.root, kind) else {
        return bad_request(&format!("the body holds no {}", kind.element()));
    };
    if el.child_text("Ref").as_deref() != Some(reference) {
        return bad_request("the Ref in the body does not match the URL");
    }
    let e = data
        .entities
        .get_mut(reference)
        .expect("checked by the caller");
    // Title and Description are stored byte for byte; security tag and parent only change
    // through their own endpoints.
    if let Some(t) = el.child("Title") {
        e.title = t.text.clone();
    }
    e.description = el
        .child("Description")
        .map(|d| d.text.clone())
        .filter(|d| !d.is_empty());
    data.changed(reference, Change::Updated);
    entity_response(data, ctx, reference)
}

fn move_entity(data: &mut Data, call: &Call, kind: EntityKind, reference: &str) -> Response {
    let dest = String::from_utf8_lossy(&call.body).trim().to_string();
    let new_parent = if dest == "@root@" {
        if kind == EntityKind::Asset {
            return bad_request("assets cannot be moved to the root");
        }
        None
    } else {
        if data.entities.get(&dest).map(|e| e.kind) != Some(EntityKind::Folder) {
            return bad_request(&format!("{dest} is not a folder"));
        }
        Some(dest)
    };
    let old = data.entities[reference].parent.clone().unwrap_or_default();
    if let Some(list) = data.children.get_mut(&old) {
        list.retain(|r| r != reference);
    }
    data.children
        .entry(new_parent.clone().unwrap_or_default())
        .or_default()
        .push(reference.to_string());
    let e = data
        .entities
        .get_mut(reference)
        .expect("checked by the caller");
    e.parent = new_parent;
    data.changed(reference, Change::Moved);
    progress(data)
}

/// Reads a `MetadataContainer` body: schema, optional fragment ref, and the document.
#[allow(clippy::result_large_err)] // the error is the answer itself, returned once per request
fn container(call: &Call, reference: &str) -> Result<(String, Option<String>, String), Response> {
    let doc = xip_body(call)?;
    let root = &doc.root;
    if root.local != "MetadataContainer" {
        return Err(bad_request("the body must be a MetadataContainer"));
    }
    let schema = root
        .attr("schemaUri")
        .ok_or_else(|| bad_request("the MetadataContainer has no schemaUri"))?
        .to_string();
    if let Some(entity) = root.child_text("Entity")
        && entity != reference
    {
        return Err(bad_request("the Entity in the body does not match the URL"));
    }
    let content = root
        .child("Content")
        .and_then(Element::first_child)
        .ok_or_else(|| bad_request("the MetadataContainer has no Content document"))?;
    Ok((schema, root.child_text("Ref"), doc.extract(content)))
}

fn add_metadata(data: &mut Data, ctx: &Ctx, call: &Call, reference: &str) -> Response {
    let (schema, _, content) = match container(call, reference) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = uuid::Uuid::new_v4().to_string();
    let e = data
        .entities
        .get_mut(reference)
        .expect("checked by the caller");
    e.fragments.push(StoredFragment {
        id: id.clone(),
        schema: schema.clone(),
        xml: content.clone(),
    });
    let kind = e.kind;
    data.changed(reference, Change::MetadataAdded);
    let self_url = format!("{}/metadata/{id}", ctx.url(kind, reference));
    xml(
        StatusCode::OK,
        wire::metadata_response(&ctx.version, &schema, &id, reference, &content, &self_url),
    )
}

fn metadata(data: &mut Data, ctx: &Ctx, call: &Call, reference: &str, id: &str) -> Response {
    let e = data
        .entities
        .get_mut(reference)
        .expect("checked by the caller");
    let kind = e.kind;
    let Some(pos) = e.fragments.iter().position(|f| f.id == id) else {
        return not_found(&format!("no metadata fragment {id} on {reference}"));
    };
    let self_url = format!("{}/metadata/{id}", ctx.url(kind, reference));
    match call.method {
        Method::GET => {
            let f = &e.fragments[pos];
            xml(
                StatusCode::OK,
                wire::metadata_response(&ctx.version, &f.schema, id, reference, &f.xml, &self_url),
            )
        }
        Method::PUT => {
            let (schema, _, content) = match container(call, reference) {
                Ok(c) => c,
                Err(r) => return r,
            };
            let e = data
                .entities
                .get_mut(reference)
                .expect("checked by the caller");
            e.fragments[pos].schema = schema.clone();
            e.fragments[pos].xml = content.clone();
            data.changed(reference, Change::MetadataUpdated);
            xml(
                StatusCode::OK,
                wire::metadata_response(&ctx.version, &schema, id, reference, &content, &self_url),
            )
        }
        Method::DELETE => {
            e.fragments.remove(pos);
            data.changed(reference, Change::MetadataDeleted);
            text(StatusCode::NO_CONTENT, String::new())
        }
        _ => not_found("unsupported method on a metadata fragment"),
    }
}

fn add_identifier(data: &mut Data, ctx: &Ctx, call: &Call, reference: &str) -> Response {
    let doc = match xip_body(call) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let root = &doc.root;
    if root.local != "Identifier" {
        return bad_request("the body must be an Identifier");
    }
    let (Some(kind), Some(value)) = (root.child_text("Type"), root.child_text("Value")) else {
        return bad_request("an Identifier needs Type and Value");
    };
    if kind.is_empty() {
        return bad_request("the identifier Type is empty");
    }
    let api_id = data.next_id("");
    let id = Identifier {
        api_id,
        kind,
        value,
        entity: Some(reference.to_string()),
    };
    let e = data
        .entities
        .get_mut(reference)
        .expect("checked by the caller");
    e.identifiers.push(id.clone());
    data.changed(reference, Change::IdentifierAdded);
    xml(
        StatusCode::OK,
        wire::identifiers_response(&ctx.version, &[id]),
    )
}

fn identifier(data: &mut Data, ctx: &Ctx, call: &Call, reference: &str, api_id: &str) -> Response {
    let e = data
        .entities
        .get_mut(reference)
        .expect("checked by the caller");
    let Some(pos) = e.identifiers.iter().position(|i| i.api_id == api_id) else {
        return not_found(&format!("no identifier {api_id} on {reference}"));
    };
    match call.method {
        Method::DELETE => {
            e.identifiers.remove(pos);
            data.changed(reference, Change::IdentifierDeleted);
            text(StatusCode::NO_CONTENT, String::new())
        }
        Method::PUT => {
            let doc = match xip_body(call) {
                Ok(d) => d,
                Err(r) => return r,
            };
            let e = data
                .entities
                .get_mut(reference)
                .expect("checked by the caller");
            if let Some(t) = doc.root.child_text("Type") {
                e.identifiers[pos].kind = t;
            }
            if let Some(v) = doc.root.child_text("Value") {
                e.identifiers[pos].value = v;
            }
            let id = e.identifiers[pos].clone();
            data.changed(reference, Change::IdentifierUpdated);
            xml(
                StatusCode::OK,
                wire::identifiers_response(&ctx.version, &[id]),
            )
        }
        _ => not_found("unsupported method on an identifier"),
    }
}

fn representations(data: &Data, ctx: &Ctx, reference: &str) -> Response {
    let e = &data.entities[reference];
    let own = ctx.url(e.kind, reference);
    let mut s = wire::response_open("RepresentationsResponse", &ctx.version);
    s.push_str("<Representations>");
    let mut counts: std::collections::HashMap<&str, usize> = Default::default();
    for r in &e.representations {
        let n = counts.entry(r.rtype.as_str()).or_default();
        *n += 1;
        s.push_str(&format!(
            "<Representation type=\"{}\" name=\"{}\">{own}/representations/{}/{n}</Representation>",
            esc(&r.rtype),
            esc(&r.name),
            esc(&r.rtype)
        ));
    }
    s.push_str("</Representations></RepresentationsResponse>");
    xml(StatusCode::OK, s)
}

fn representation(data: &Data, ctx: &Ctx, reference: &str, rtype: &str, n: &str) -> Response {
    let e = &data.entities[reference];
    let Some(rep) = n.parse::<usize>().ok().and_then(|n| {
        e.representations
            .iter()
            .filter(|r| r.rtype == rtype)
            .nth(n.wrapping_sub(1))
    }) else {
        return not_found(&format!("no representation {rtype}/{n} on {reference}"));
    };
    let mut s = wire::response_open("RepresentationResponse", &ctx.version);
    s.push_str(&format!(
        "<xip:Representation><xip:InformationObject>{}</xip:InformationObject><xip:Name>{}</xip:Name><xip:Type>{}</xip:Type><xip:ContentObjects>",
        esc(reference),
        esc(&rep.name),
        esc(&rep.rtype)
    ));
    for co in &rep.content_objects {
        s.push_str(&format!(
            "<xip:ContentObject>{}</xip:ContentObject>",
            esc(co)
        ));
    }
    s.push_str("</xip:ContentObjects></xip:Representation><ContentObjects>");
    for co in &rep.content_objects {
        let title = data
            .entities
            .get(co)
            .map(|c| c.title.as_str())
            .unwrap_or("");
        s.push_str(&format!(
            "<ContentObject ref=\"{}\" title=\"{}\">{}</ContentObject>",
            esc(co),
            esc(title),
            esc(&ctx.url(EntityKind::ContentObject, co))
        ));
    }
    s.push_str("</ContentObjects></RepresentationResponse>");
    xml(StatusCode::OK, s)
}

fn generations(data: &Data, ctx: &Ctx, reference: &str) -> Response {
    let e = &data.entities[reference];
    let own = ctx.url(e.kind, reference);
    let mut s = wire::response_open("GenerationsResponse", &ctx.version);
    s.push_str("<Generations>");
    for (i, g) in e.generations.iter().enumerate() {
        s.push_str(&format!(
            "<Generation active=\"{}\" original=\"{}\">{own}/generations/{}</Generation>",
            g.active,
            g.original,
            i + 1
        ));
    }
    s.push_str("</Generations>");
    s.push_str(&wire::paging(None, e.generations.len() as u64));
    s.push_str("</GenerationsResponse>");
    xml(StatusCode::OK, s)
}

fn nth<'a, T>(items: &'a [T], n: &str) -> Option<(usize, &'a T)> {
    let i = n.parse::<usize>().ok()?.checked_sub(1)?;
    items.get(i).map(|t| (i + 1, t))
}

fn generation(data: &Data, ctx: &Ctx, reference: &str, n: &str) -> Response {
    let e = &data.entities[reference];
    let Some((n, g)) = nth(&e.generations, n) else {
        return not_found(&format!("no generation {n} on {reference}"));
    };
    let own = format!("{}/generations/{n}", ctx.url(e.kind, reference));
    let mut s = wire::response_open("GenerationResponse", &ctx.version);
    s.push_str(&format!(
        "<xip:Generation original=\"{}\" active=\"{}\"><xip:ContentObject>{}</xip:ContentObject><xip:Label>Generation {n}</xip:Label><xip:EffectiveDate>{}</xip:EffectiveDate><xip:Bitstreams>",
        g.original,
        g.active,
        esc(reference),
        e.modified.format("%Y-%m-%dT%H:%M:%S.000Z")
    ));
    for b in &g.bitstreams {
        s.push_str(&format!(
            "<xip:Bitstream>{}</xip:Bitstream>",
            esc(&b.filename)
        ));
    }
    s.push_str("</xip:Bitstreams><xip:Formats/><xip:Properties/></xip:Generation><Bitstreams>");
    for (i, b) in g.bitstreams.iter().enumerate() {
        s.push_str(&format!(
            "<Bitstream filename=\"{}\">{own}/bitstreams/{}</Bitstream>",
            esc(&b.filename),
            i + 1
        ));
    }
    s.push_str("</Bitstreams>");
    s.push_str(&format!(
        "<AdditionalInformation><Self>{own}</Self></AdditionalInformation></GenerationResponse>"
    ));
    xml(StatusCode::OK, s)
}

fn find_bitstream<'a>(
    data: &'a Data,
    reference: &str,
    n: &str,
    b: &str,
) -> Option<(usize, usize, &'a super::StoredBitstream)> {
    let e = &data.entities[reference];
    let (gn, g) = nth(&e.generations, n)?;
    let (bn, bs) = nth(&g.bitstreams, b)?;
    Some((gn, bn, bs))
}

fn bitstream(data: &Data, ctx: &Ctx, reference: &str, n: &str, b: &str) -> Response {
    let Some((gn, bn, bs)) = find_bitstream(data, reference, n, b) else {
        return not_found(&format!("no bitstream {n}/{b} on {reference}"));
    };
    let own = format!(
        "{}/generations/{gn}/bitstreams/{bn}",
        ctx.url(EntityKind::ContentObject, reference)
    );
    let mut s = wire::response_open("BitstreamResponse", &ctx.version);
    s.push_str(&format!(
        "<xip:Bitstream><xip:Filename>{}</xip:Filename><xip:FileSize>{}</xip:FileSize><xip:Fixities>",
        esc(&bs.filename),
        bs.bytes.len()
    ));
    for (alg, value) in &bs.fixities {
        // Algorithm first, value second: pyPreservica reads them by position.
        s.push_str(&format!(
            "<xip:Fixity><xip:FixityAlgorithmRef>{}</xip:FixityAlgorithmRef><xip:FixityValue>{}</xip:FixityValue></xip:Fixity>",
            esc(alg),
            esc(value)
        ));
    }
    s.push_str("</xip:Fixities></xip:Bitstream>");
    s.push_str(&format!(
        "<AdditionalInformation><Self>{own}</Self><Content>{own}/content</Content></AdditionalInformation></BitstreamResponse>"
    ));
    xml(StatusCode::OK, s)
}

fn content(data: &Data, call: &Call, reference: &str, n: &str, b: &str) -> Response {
    let Some((_, _, bs)) = find_bitstream(data, reference, n, b) else {
        return not_found(&format!("no bitstream {n}/{b} on {reference}"));
    };
    let len = bs.bytes.len();
    let disposition = (
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{}\"", bs.filename.replace('"', "")),
    );
    let ctype = (header::CONTENT_TYPE, "application/octet-stream".to_string());
    match call.header("range").and_then(|r| parse_range(r, len)) {
        Some((from, to)) => bytes_response(
            StatusCode::PARTIAL_CONTENT,
            vec![
                ctype,
                disposition,
                (header::CONTENT_RANGE, format!("bytes {from}-{to}/{len}")),
            ],
            bs.bytes.slice(from..=to),
        ),
        None => bytes_response(StatusCode::OK, vec![ctype, disposition], bs.bytes.clone()),
    }
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` within `len`.
fn parse_range(h: &str, len: usize) -> Option<(usize, usize)> {
    let spec = h.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    if len == 0 {
        return None;
    }
    let (from, to) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: usize = n.parse().ok()?;
            (len.saturating_sub(n), len - 1)
        }
        (a, "") => (a.parse().ok()?, len - 1),
        (a, b) => (a.parse().ok()?, b.parse::<usize>().ok()?.min(len - 1)),
    };
    (from <= to && from < len).then_some((from, to))
}
