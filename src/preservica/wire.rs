//! Every wire detail of Preservica's APIs in one place: paths, header names, namespaces per
//! server version, and the XML/JSON shapes both the client and the emulator speak. When a
//! real tenant disagrees with `shared/api/preservica.md`, this is the file that changes.
//!
//! Reading is by local name (namespaces move with every release); writing uses the server's
//! own namespaces, which follow its version.

use crate::xml::{Element, esc};
use std::fmt;

pub const TOKEN_HEADER: &str = "Preservica-Access-Token";
pub const PROGRESS_TOKEN_HEADER: &str = "preservica-progress-token";
/// The S3 user-metadata header naming the folder an uploaded package goes into.
pub const TARGET_FOLDER_HEADER: &str = "x-amz-meta-structuralobjectreference";

/// Where every token request goes (login and refresh): the emulator never faults these, so
/// fault tests hit the data calls.
pub const ACCESS_TOKEN_PREFIX: &str = "/api/accesstoken";
pub const LOGIN_PATH: &str = "/api/accesstoken/login";
pub const REFRESH_PATH: &str = "/api/accesstoken/refresh";
pub const VERSION_PATH: &str = "/api/entity/versiondetails/version";
pub const USER_DETAILS_PATH: &str = "/api/user/details";
pub const ENTITY_PREFIX: &str = "/api/entity";
/// Content API thumbnail: `?id=sdb:IO|{ref}&size=small|medium|large`; 404 when the entity has
/// none (contract §8.2).
pub const THUMBNAIL_PATH: &str = "/api/content/thumbnail";

/// The sizes the Content API's thumbnail endpoint offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThumbnailSize {
    Small,
    Medium,
    Large,
}

impl ThumbnailSize {
    pub fn as_str(self) -> &'static str {
        match self {
            ThumbnailSize::Small => "small",
            ThumbnailSize::Medium => "medium",
            ThumbnailSize::Large => "large",
        }
    }

    pub fn parse(s: &str) -> Option<ThumbnailSize> {
        [
            ThumbnailSize::Small,
            ThumbnailSize::Medium,
            ThumbnailSize::Large,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

/// The `id` parameter of a Content API call about an asset.
pub fn content_id(reference: &str) -> String {
    format!("sdb:IO|{reference}")
}
pub const S3_PREFIX: &str = "/api/s3/buckets";
pub const MONITORS_PATH: &str = "/api/processmonitor/monitors";
pub const MESSAGES_PATH: &str = "/api/processmonitor/messages";

/// The identifier type Preservica gives an OPEX `SourceID`.
pub const SOURCE_ID_TYPE: &str = "SourceID";
/// The identifier type ferry writes on an asset: the PhotoShelter media id.
pub const PHOTOSHELTER_ID_TYPE: &str = "photoshelter";

/// The process monitor's name for the OPEX ingest of the package uploaded as `key`
/// (`opex/` and the key without `.zip`). **Likely**: seen in monitor listings, not documented.
pub fn monitor_name(key: &str) -> String {
    format!("opex/{}", key.trim_end_matches(".zip"))
}

/// Packages up to this size go up in one PUT; larger ones as an S3 multipart upload (the
/// threshold pyPreservica uses).
pub const SINGLE_PUT_LIMIT: u64 = 32 * 1024 * 1024;
pub const MULTIPART_PART_SIZE: usize = 8 * 1024 * 1024;

/// `/api/entity/...` path segments of the three entity kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    Folder,
    Asset,
    ContentObject,
}

impl EntityKind {
    pub fn segment(self) -> &'static str {
        match self {
            EntityKind::Folder => "structural-objects",
            EntityKind::Asset => "information-objects",
            EntityKind::ContentObject => "content-objects",
        }
    }

    /// The short code in `type=` attributes and `sdb:` ids.
    pub fn code(self) -> &'static str {
        match self {
            EntityKind::Folder => "SO",
            EntityKind::Asset => "IO",
            EntityKind::ContentObject => "CO",
        }
    }

    /// The XIP element name.
    pub fn element(self) -> &'static str {
        match self {
            EntityKind::Folder => "StructuralObject",
            EntityKind::Asset => "InformationObject",
            EntityKind::ContentObject => "ContentObject",
        }
    }

    pub fn from_segment(s: &str) -> Option<EntityKind> {
        [
            EntityKind::Folder,
            EntityKind::Asset,
            EntityKind::ContentObject,
        ]
        .into_iter()
        .find(|k| k.segment() == s)
    }

    pub fn from_code(s: &str) -> Option<EntityKind> {
        [
            EntityKind::Folder,
            EntityKind::Asset,
            EntityKind::ContentObject,
        ]
        .into_iter()
        .find(|k| k.code() == s)
    }

    pub fn from_element(s: &str) -> Option<EntityKind> {
        [
            EntityKind::Folder,
            EntityKind::Asset,
            EntityKind::ContentObject,
        ]
        .into_iter()
        .find(|k| k.element() == s)
    }
}

/// A Preservica server version (`7.7.0`); its `major.minor` names every XIP and EntityAPI
/// namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// Reads `7.7`, `7.7.0` or `v7.7` (patch optional, as pyPreservica accepts).
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim().trim_start_matches('v');
        let mut parts = s.split('.').map(|p| p.trim().parse::<u32>());
        let major = parts.next()?.ok()?;
        let minor = parts.next()?.ok()?;
        let patch = match parts.next() {
            Some(p) => p.ok()?,
            None => 0,
        };
        Some(Version::new(major, minor, patch))
    }

    /// `major.minor`, as it appears in namespaces and versioned paths; 6.0 and 6.1 both use
    /// `v6.0`.
    pub fn api(&self) -> String {
        if self.major == 6 && self.minor < 2 {
            "6.0".to_string()
        } else {
            format!("{}.{}", self.major, self.minor)
        }
    }

    pub fn xip_ns(&self) -> String {
        format!("http://preservica.com/XIP/v{}", self.api())
    }

    pub fn entity_ns(&self) -> String {
        format!("http://preservica.com/EntityAPI/v{}", self.api())
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The namespace of the async progress answer.
pub const STATUS_NS: &str = "http://status.preservica.com";

/// Whether `ns` is a Preservica XIP namespace of any version: request bodies may use any.
pub fn is_xip_ns(ns: Option<&str>) -> bool {
    ns.is_some_and(|n| n.starts_with("http://preservica.com/XIP/v"))
}

// ---------------------------------------------------------------------------------------
// Shapes both sides use.

/// An entity as an `EntityResponse` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntityDoc {
    pub kind: Option<EntityKind>,
    pub reference: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub security_tag: String,
    pub parent: Option<String>,
    pub custom_type: Option<String>,
    /// (schema URI, fragment URL) of each descriptive-metadata fragment.
    pub fragments: Vec<(String, String)>,
}

/// A child in a children listing, or an entity in `by-identifier` / `updated-since`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityLink {
    pub reference: String,
    pub kind: Option<EntityKind>,
    pub title: Option<String>,
    pub url: String,
    pub deleted: bool,
}

/// One page of a paged listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    pub items: Vec<EntityLink>,
    pub next: Option<String>,
    pub total: Option<u64>,
}

/// An external identifier on an entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identifier {
    pub api_id: String,
    pub kind: String,
    pub value: String,
    pub entity: Option<String>,
}

/// A bitstream's description (`BitstreamResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitstreamDoc {
    pub filename: String,
    pub size: u64,
    /// (algorithm as Preservica names it, e.g. `SHA1`, hex value).
    pub fixities: Vec<(String, String)>,
    pub content_url: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Reading responses (client side).

/// Why a response could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShapeError(pub String);

fn need<'a>(e: &'a Element, local: &str, what: &str) -> Result<&'a Element, ShapeError> {
    e.child(local)
        .ok_or_else(|| ShapeError(format!("{what} has no <{local}>")))
}

/// Reads the `<CurrentVersion>` of a versiondetails answer.
pub fn read_version(body: &str) -> Result<Version, ShapeError> {
    // pyPreservica finds it by plain text search, so real servers write it unprefixed; a
    // text search also survives whatever wraps it.
    let start = body
        .find("<CurrentVersion>")
        .ok_or_else(|| ShapeError("no <CurrentVersion> in the version answer".into()))?;
    let rest = &body[start + "<CurrentVersion>".len()..];
    let end = rest
        .find("</CurrentVersion>")
        .ok_or_else(|| ShapeError("unterminated <CurrentVersion>".into()))?;
    Version::parse(&rest[..end])
        .ok_or_else(|| ShapeError(format!("'{}' is not a version", &rest[..end])))
}

/// Reads an `EntityResponse`.
pub fn read_entity(root: &Element) -> Result<EntityDoc, ShapeError> {
    let entity = root
        .children
        .iter()
        .find(|c| EntityKind::from_element(&c.local).is_some())
        .ok_or_else(|| ShapeError("EntityResponse holds no entity".into()))?;
    let reference = need(entity, "Ref", "the entity")?.text.trim().to_string();
    if reference.is_empty() {
        return Err(ShapeError("the entity has an empty <Ref>".into()));
    }
    let fragments = root
        .path(&["AdditionalInformation", "Metadata"])
        .map(|m| {
            m.children_named("Fragment")
                .map(|f| {
                    (
                        f.attr("schema").unwrap_or_default().to_string(),
                        f.text.trim().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(EntityDoc {
        kind: EntityKind::from_element(&entity.local),
        reference,
        title: entity.child("Title").map(|t| t.text.clone()),
        description: entity.child("Description").map(|t| t.text.clone()),
        security_tag: entity.child_text("SecurityTag").unwrap_or_default(),
        parent: entity.child_text("Parent").filter(|p| !p.is_empty()),
        custom_type: entity.child_text("CustomType"),
        fragments,
    })
}

fn read_links(list: Option<&Element>, item: &str) -> Vec<EntityLink> {
    list.map(|l| {
        l.children_named(item)
            .map(|c| EntityLink {
                reference: c.attr("ref").unwrap_or_default().to_string(),
                kind: c.attr("type").and_then(EntityKind::from_code),
                title: c.attr("title").map(str::to_string),
                url: c.text.trim().to_string(),
                deleted: c.attr("deleted") == Some("true"),
            })
            .collect()
    })
    .unwrap_or_default()
}

fn read_paging(root: &Element) -> (Option<String>, Option<u64>) {
    let paging = root.child("Paging");
    (
        paging
            .and_then(|p| p.child_text("Next"))
            .filter(|n| !n.is_empty()),
        paging
            .and_then(|p| p.child_text("TotalResults"))
            .and_then(|t| t.parse().ok()),
    )
}

/// Reads a `ChildrenResponse` page.
pub fn read_children(root: &Element) -> Page {
    let (next, total) = read_paging(root);
    Page {
        items: read_links(root.child("Children"), "Child"),
        next,
        total,
    }
}

/// Reads an `EntitiesResponse` page (by-identifier, updated-since).
pub fn read_entities(root: &Element) -> Page {
    let (next, total) = read_paging(root);
    Page {
        items: read_links(root.child("Entities"), "Entity"),
        next,
        total,
    }
}

/// Reads an `IdentifiersResponse`.
pub fn read_identifiers(root: &Element) -> Vec<Identifier> {
    let holder = root.child("Identifiers").unwrap_or(root);
    holder
        .children_named("Identifier")
        .map(|i| Identifier {
            api_id: i.child_text("ApiId").unwrap_or_default(),
            kind: i.child_text("Type").unwrap_or_default(),
            value: i.child_text("Value").unwrap_or_default(),
            entity: i.child_text("Entity"),
        })
        .collect()
}

/// Reads a `RepresentationsResponse`: (type, URL) of each representation.
pub fn read_representations(root: &Element) -> Vec<(String, String)> {
    root.child("Representations")
        .map(|r| {
            r.children_named("Representation")
                .map(|x| {
                    (
                        x.attr("type").unwrap_or_default().to_string(),
                        x.text.trim().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a `RepresentationResponse`: the content object refs it holds.
pub fn read_representation(root: &Element) -> Vec<String> {
    root.path(&["Representation", "ContentObjects"])
        .map(|c| {
            c.children_named("ContentObject")
                .map(|x| x.text.trim().to_string())
                .filter(|r| !r.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a `GenerationsResponse`: (active, URL) of each generation.
pub fn read_generations(root: &Element) -> Vec<(bool, String)> {
    root.child("Generations")
        .map(|g| {
            g.children_named("Generation")
                .map(|x| (x.attr("active") != Some("false"), x.text.trim().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a `GenerationResponse`: the bitstream URLs.
pub fn read_generation(root: &Element) -> Vec<String> {
    root.child("Bitstreams")
        .map(|b| {
            b.children_named("Bitstream")
                .map(|x| x.text.trim().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a `BitstreamResponse`.
pub fn read_bitstream(root: &Element) -> Result<BitstreamDoc, ShapeError> {
    let b = need(root, "Bitstream", "BitstreamResponse")?;
    let size = b
        .child_text("FileSize")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ShapeError("the bitstream has no numeric <FileSize>".into()))?;
    let fixities = b
        .child("Fixities")
        .map(|f| {
            f.children_named("Fixity")
                .map(|x| {
                    (
                        x.child_text("FixityAlgorithmRef").unwrap_or_default(),
                        x.child_text("FixityValue")
                            .unwrap_or_default()
                            .to_lowercase(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(BitstreamDoc {
        filename: b.child_text("Filename").unwrap_or_default(),
        size,
        fixities,
        content_url: root
            .path(&["AdditionalInformation", "Content"])
            .map(|c| c.text.trim().to_string()),
    })
}

// ---------------------------------------------------------------------------------------
// Writing request bodies (client side) and responses (emulator side).

/// The body that creates or updates an entity's own fields (title, description).
pub fn entity_body(version: &Version, kind: EntityKind, doc: &EntityDoc) -> String {
    let mut s = format!("<{} xmlns=\"{}\">", kind.element(), version.xip_ns());
    s.push_str(&format!("<Ref>{}</Ref>", esc(&doc.reference)));
    if let Some(t) = &doc.title {
        s.push_str(&format!("<Title>{}</Title>", esc(t)));
    }
    match &doc.description {
        Some(d) => s.push_str(&format!("<Description>{}</Description>", esc(d))),
        None => s.push_str("<Description/>"),
    }
    s.push_str(&format!(
        "<SecurityTag>{}</SecurityTag>",
        esc(&doc.security_tag)
    ));
    if let Some(c) = &doc.custom_type {
        s.push_str(&format!("<CustomType>{}</CustomType>", esc(c)));
    }
    if let Some(p) = &doc.parent {
        s.push_str(&format!("<Parent>{}</Parent>", esc(p)));
    }
    s.push_str(&format!("</{}>", kind.element()));
    s
}

/// The `MetadataContainer` that adds (no `fragment_ref`) or replaces a fragment. XIP takes a
/// prefix, not the default namespace: the fragment is pasted in as it is, and an element it
/// leaves unqualified must stay in no namespace rather than fall into XIP's.
pub fn metadata_container(
    version: &Version,
    schema: &str,
    entity_ref: &str,
    fragment_ref: Option<&str>,
    content: &str,
) -> String {
    let mut s = format!(
        "<xip:MetadataContainer xmlns:xip=\"{}\" schemaUri=\"{}\">",
        version.xip_ns(),
        esc(schema)
    );
    if let Some(r) = fragment_ref {
        s.push_str(&format!("<xip:Ref>{}</xip:Ref>", esc(r)));
    }
    s.push_str(&format!(
        "<xip:Entity>{}</xip:Entity><xip:Content>",
        esc(entity_ref)
    ));
    s.push_str(content);
    s.push_str("</xip:Content></xip:MetadataContainer>");
    s
}

/// The body that adds an external identifier.
pub fn identifier_body(version: &Version, kind: &str, value: &str, entity_ref: &str) -> String {
    format!(
        "<Identifier xmlns=\"{}\"><Type>{}</Type><Value>{}</Value><Entity>{}</Entity></Identifier>",
        version.xip_ns(),
        esc(kind),
        esc(value),
        esc(entity_ref)
    )
}

/// The opening of an EntityAPI response root with both namespaces declared.
pub fn response_open(name: &str, version: &Version) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><{name} xmlns=\"{}\" xmlns:xip=\"{}\">",
        version.entity_ns(),
        version.xip_ns()
    )
}

/// The versiondetails answer; `CurrentVersion` unprefixed as pyPreservica needs.
pub fn version_response(version: &Version) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><VersionDetails xmlns=\"{}\"><CurrentVersion>{version}</CurrentVersion></VersionDetails>",
        version.entity_ns()
    )
}

/// An `EntityResponse` (emulator side).
pub fn entity_response(
    version: &Version,
    kind: EntityKind,
    doc: &EntityDoc,
    self_url: &str,
    extra: &str,
) -> String {
    let mut s = response_open("EntityResponse", version);
    s.push_str(&format!("<xip:{}>", kind.element()));
    s.push_str(&format!("<xip:Ref>{}</xip:Ref>", esc(&doc.reference)));
    s.push_str(&format!(
        "<xip:Title>{}</xip:Title>",
        esc(doc.title.as_deref().unwrap_or(""))
    ));
    match &doc.description {
        Some(d) => s.push_str(&format!("<xip:Description>{}</xip:Description>", esc(d))),
        None => s.push_str("<xip:Description/>"),
    }
    s.push_str(&format!(
        "<xip:SecurityTag>{}</xip:SecurityTag>",
        esc(&doc.security_tag)
    ));
    if let Some(c) = &doc.custom_type {
        s.push_str(&format!("<xip:CustomType>{}</xip:CustomType>", esc(c)));
    }
    if let Some(p) = &doc.parent {
        s.push_str(&format!("<xip:Parent>{}</xip:Parent>", esc(p)));
    }
    s.push_str(&format!("</xip:{}>", kind.element()));
    s.push_str("<AdditionalInformation>");
    s.push_str(&format!("<Self>{}</Self>", esc(self_url)));
    s.push_str(extra);
    if !doc.fragments.is_empty() {
        s.push_str("<Metadata>");
        for (schema, url) in &doc.fragments {
            s.push_str(&format!(
                "<Fragment schema=\"{}\">{}</Fragment>",
                esc(schema),
                esc(url)
            ));
        }
        s.push_str("</Metadata>");
    }
    s.push_str("</AdditionalInformation></EntityResponse>");
    s
}

// ---------------------------------------------------------------------------------------
// Event actions (contract §7.2): what was done to an entity, by whom and when.

/// An entity's event actions, under its entity URL: `{entity}/event-actions?start=&max=`,
/// oldest first. ferry reads `TotalResults` as the overall count (as pyPreservica does).
pub const EVENT_ACTIONS: &str = "event-actions";

/// One `xip:EventAction`: its `commandType` and the `xip:Event` it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventAction {
    /// e.g. `command_create`, `AddIdentifier` (other values are not documented).
    pub command_type: String,
    /// The event's `type`: `Ingest`, `Modified`, `Moved`, ….
    pub event_type: String,
    pub date: Option<chrono::DateTime<chrono::Utc>>,
    /// The user the event names (`xip:User`).
    pub user: Option<String>,
}

/// One page of an `EventActionsResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventPage {
    pub actions: Vec<EventAction>,
    pub next: Option<String>,
    pub total: Option<u64>,
}

/// Reads an `EventActionsResponse` page.
pub fn read_event_actions(root: &Element) -> EventPage {
    let (next, total) = read_paging(root);
    let holder = root.child("EventActions").unwrap_or(root);
    let actions = holder
        .children_named("EventAction")
        .map(|a| {
            let event = a.child("Event");
            let date = event
                .and_then(|e| e.child_text("Date"))
                .or_else(|| a.child_text("Date"))
                .and_then(|d| chrono::DateTime::parse_from_rfc3339(&d).ok())
                .map(|d| d.with_timezone(&chrono::Utc));
            EventAction {
                command_type: a.attr("commandType").unwrap_or_default().to_string(),
                event_type: event
                    .and_then(|e| e.attr("type"))
                    .unwrap_or_default()
                    .to_string(),
                date,
                user: event
                    .and_then(|e| e.child_text("User"))
                    .filter(|u| !u.is_empty()),
            }
        })
        .collect();
    EventPage {
        actions,
        next,
        total,
    }
}

/// An `xip:EventAction` element (emulator side), for the entity `entity` in event `event_ref`.
pub fn event_action_xml(a: &EventAction, event_ref: &str, entity: &str) -> String {
    let date = a
        .date
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default();
    format!(
        "<xip:EventAction commandType=\"{}\"><xip:Event type=\"{}\"><xip:Ref>{}</xip:Ref><xip:Date>{date}</xip:Date><xip:User>{}</xip:User></xip:Event><xip:Date>{date}</xip:Date><xip:Entity>{}</xip:Entity></xip:EventAction>",
        esc(&a.command_type),
        esc(&a.event_type),
        esc(event_ref),
        esc(a.user.as_deref().unwrap_or_default()),
        esc(entity)
    )
}

/// A `Paging` block: `Next` only when there is a next page.
pub fn paging(next: Option<&str>, total: u64) -> String {
    match next {
        Some(n) => format!(
            "<Paging><Next>{}</Next><TotalResults>{total}</TotalResults></Paging>",
            esc(n)
        ),
        None => format!("<Paging><TotalResults>{total}</TotalResults></Paging>"),
    }
}

/// A `ChildrenResponse` or `EntitiesResponse` (emulator side).
pub fn links_response(
    version: &Version,
    root: &str,
    list: &str,
    item: &str,
    links: &[EntityLink],
    next: Option<&str>,
    total: u64,
) -> String {
    let mut s = response_open(root, version);
    s.push_str(&format!("<{list}>"));
    for l in links {
        if l.deleted {
            s.push_str(&format!(
                "<{item} ref=\"{}\" deleted=\"true\">{}</{item}>",
                esc(&l.reference),
                esc(&l.url)
            ));
            continue;
        }
        s.push_str(&format!(
            "<{item} ref=\"{}\" type=\"{}\" title=\"{}\">{}</{item}>",
            esc(&l.reference),
            l.kind.map(EntityKind::code).unwrap_or("IO"),
            esc(l.title.as_deref().unwrap_or("")),
            esc(&l.url)
        ));
    }
    s.push_str(&format!("</{list}>"));
    s.push_str(&paging(next, total));
    s.push_str(&format!("</{root}>"));
    s
}

/// A `MetadataResponse` (emulator side).
pub fn metadata_response(
    version: &Version,
    schema: &str,
    fragment_ref: &str,
    entity_ref: &str,
    content: &str,
    self_url: &str,
) -> String {
    let mut s = response_open("MetadataResponse", version);
    // The response's default namespace is undeclared around the fragment, which is pasted in
    // as stored: an element it leaves unqualified stays in no namespace.
    s.push_str(&format!(
        "<xip:MetadataContainer schemaUri=\"{}\"><xip:Ref>{}</xip:Ref><xip:Entity>{}</xip:Entity><xip:Content xmlns=\"\">{content}</xip:Content></xip:MetadataContainer>",
        esc(schema),
        esc(fragment_ref),
        esc(entity_ref)
    ));
    s.push_str(&format!(
        "<AdditionalInformation><Self>{}</Self></AdditionalInformation></MetadataResponse>",
        esc(self_url)
    ));
    s
}

/// One `xip:Identifier` element (emulator side).
pub fn identifier_element(id: &Identifier) -> String {
    format!(
        "<xip:Identifier><xip:ApiId>{}</xip:ApiId><xip:Type>{}</xip:Type><xip:Value>{}</xip:Value><xip:Entity>{}</xip:Entity></xip:Identifier>",
        esc(&id.api_id),
        esc(&id.kind),
        esc(&id.value),
        esc(id.entity.as_deref().unwrap_or(""))
    )
}

/// An `IdentifiersResponse` (emulator side).
pub fn identifiers_response(version: &Version, ids: &[Identifier]) -> String {
    let mut s = response_open("IdentifiersResponse", version);
    s.push_str("<Identifiers>");
    for id in ids {
        s.push_str(&identifier_element(id));
    }
    s.push_str("</Identifiers>");
    s.push_str(&paging(None, ids.len() as u64));
    s.push_str("</IdentifiersResponse>");
    s
}

/// The async progress answer (emulator side).
pub fn progress_response(status: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ProgressResponse xmlns=\"{STATUS_NS}\"><Status>{}</Status></ProgressResponse>",
        esc(status)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_follow_the_version() {
        let v = Version::parse("7.7.0").unwrap();
        assert_eq!(v.xip_ns(), "http://preservica.com/XIP/v7.7");
        assert_eq!(v.entity_ns(), "http://preservica.com/EntityAPI/v7.7");
        assert_eq!(
            Version::parse("6.1").unwrap().xip_ns(),
            "http://preservica.com/XIP/v6.0"
        );
        assert_eq!(Version::parse("8.1.2").unwrap().api(), "8.1");
        assert_eq!(Version::parse("seven"), None);
    }

    #[test]
    fn version_answers_are_read_like_pypreservica_reads_them() {
        let v = Version::new(6, 2, 0);
        assert_eq!(read_version(&version_response(&v)).unwrap(), v);
        assert!(read_version("<x/>").is_err());
    }
}
