//! PhotoShelter's wire: paths, parameter and header names, envelopes, id and value formats.
//!
//! Every wire detail of psapi v3 and v4.0 that ferry relies on lives here, so that when a real
//! account disagrees with `shared/api/photoshelter.md` one file changes. Both the client and
//! the emulator use these names.
//!
//! The uncertain details (section "Uncertain write details" below) carry the contract's
//! confidence word and the sources behind them. For each, the emulator accepts every plausible
//! variant and the client sends the one named by the constant here.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Value};

// ---------------------------------------------------------------------------------------------
// Versions, hosts, headers

/// psapi v4.0, for reads, search, IPTC and custom metadata (Confirmed: 4 independent clients).
pub const V4: &str = "/psapi/v4.0";
/// `/psapi/v4` appears in the 2019 draft only; the emulator serves it too (Draft).
pub const V4_ALT: &str = "/psapi/v4";
/// psapi v3, for what only v3 documents: upload and gallery creation (Confirmed).
pub const V3: &str = "/psapi/v3";
/// `/psapi/v3.0` works as well (one author); the emulator serves both.
pub const V3_ALT: &str = "/psapi/v3.0";

/// The API key header; casing varies in the wild and does not matter (Confirmed).
pub const HEADER_API_KEY: &str = "X-PS-Api-Key";
/// The session token header of password logins, both versions (Confirmed).
pub const HEADER_AUTH_TOKEN: &str = "X-PS-Auth-Token";
/// Query or form parameter alternatives (Confirmed); the client uses the headers only, so
/// credentials never appear in URLs.
pub const PARAM_API_KEY: &str = "api_key";
pub const PARAM_AUTH_TOKEN: &str = "auth_token";
/// A session cookie the emulator sets for v3 cookie-mode logins.
pub const SESSION_COOKIE: &str = "ps_session";

/// Timestamps as PhotoShelter writes them (`2024-05-01 12:00:00 GMT`; Likely).
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S GMT";

// ---------------------------------------------------------------------------------------------
// Paths (relative to `V4` or `V3`; ids are encoded as path segments)

pub use crate::ids::segment as seg;

/// The login paths of both API versions (full paths): the emulator never faults these, so
/// fault tests hit the data calls.
pub fn login_paths() -> Vec<String> {
    vec![
        format!("{V4}{}", v4::AUTHENTICATE),
        format!("{V3}{}", v3::AUTHENTICATE),
    ]
}

pub mod v4 {
    //! psapi v4.0 paths, relative to [`super::V4`].
    use super::seg;

    pub const AUTHENTICATE: &str = "/authenticate";
    pub const LOGOUT: &str = "/authenticate/logout";
    pub const ORG_AUTHENTICATE: &str = "/organization/authenticate";
    pub const ORG_LOGOUT: &str = "/organization/logout";
    pub const USER_SESSION: &str = "/user/session";
    pub const LIBRARY: &str = "/library";
    pub const COLLECTIONS: &str = "/collections";
    pub const GALLERIES: &str = "/galleries";
    /// Media search ("search A"; WP uses it with `terms`, SPEC lists `modify_start`).
    pub const MEDIA_SEARCH: &str = "/media";
    /// Library search ("search B"; NA ran it over ~165k items).
    pub const SEARCH: &str = "/search";
    /// The account's custom metadata fields with their preset tags: **Unverified** (KUK
    /// only; the contract's §10 names `/metadata/fields`). Answer: `data[]` of
    /// `{id, attributes: {name, values: [{id, value}]}}`. Republish reads it to refuse a
    /// value that is not a preset before uploading anything; an account that does not serve
    /// it leaves the presets unchecked.
    pub const METADATA_FIELDS: &str = "/metadata/fields";

    pub fn media(id: &str) -> String {
        format!("/media/{}", seg(id))
    }
    pub fn media_iptc(id: &str) -> String {
        format!("/media/{}/iptc", seg(id))
    }
    /// The licence record as a v4 sub-resource: **Unknown / inferred**, by analogy with
    /// `/iptc`. Tried after v3's documented record (see [`super::LicensePlace`]).
    pub fn media_license(id: &str) -> String {
        format!("/media/{}/license", seg(id))
    }
    /// Hyphenated spelling: NA used it on a real account. KUK spells it `custom_metadata`;
    /// the emulator serves both.
    pub fn media_custom_metadata(id: &str) -> String {
        format!("/media/{}/custom-metadata", seg(id))
    }
    pub fn media_galleries(id: &str) -> String {
        format!("/media/{}/galleries", seg(id))
    }
    pub fn media_download(id: &str) -> String {
        format!("/media/{}/download", seg(id))
    }
    pub fn collection(id: &str) -> String {
        format!("/collections/{}", seg(id))
    }
    pub fn collection_children(id: &str) -> String {
        format!("/collections/{}/children", seg(id))
    }
    /// WP's spelling; the 2019 draft says `/count`.
    pub fn collection_child_count(id: &str) -> String {
        format!("/collections/{}/child-count", seg(id))
    }
    pub fn gallery(id: &str) -> String {
        format!("/galleries/{}", seg(id))
    }
    pub fn gallery_children(id: &str) -> String {
        format!("/galleries/{}/children", seg(id))
    }
    pub fn gallery_child_count(id: &str) -> String {
        format!("/galleries/{}/child-count", seg(id))
    }
    /// KUK's plural; the 2019 draft used `/permission`. The emulator serves both.
    pub fn gallery_permissions(id: &str) -> String {
        format!("/galleries/{}/permissions", seg(id))
    }
    pub fn collection_permissions(id: &str) -> String {
        format!("/collections/{}/permissions", seg(id))
    }
}

pub mod v3 {
    //! psapi v3 member paths, relative to [`super::V3`].
    use super::seg;

    pub const AUTHENTICATE: &str = "/mem/authenticate";
    pub const LOGOUT: &str = "/mem/authenticate/logout";
    pub const ORG_LOGOUT: &str = "/mem/organization/logout";
    pub const USER_SESSION: &str = "/mem/user/session";
    pub const ROOT_CHILDREN: &str = "/mem/collection/root/children";
    pub const IMAGE_UPLOAD: &str = "/mem/image/upload";
    pub const GALLERY_INSERT: &str = "/mem/gallery/insert";

    pub fn org_authenticate(org_id: &str) -> String {
        format!("/mem/organization/{}/authenticate", seg(org_id))
    }
    pub fn image(id: &str) -> String {
        format!("/mem/image/{}", seg(id))
    }
    pub fn image_download(id: &str) -> String {
        format!("/mem/image/{}/download", seg(id))
    }
    /// The image's `License` record (NIN names a `license` sibling of `iptc`; Unverified).
    /// Also the licence write: **Unknown**, no source writes a licence.
    pub fn image_license(id: &str) -> String {
        format!("/mem/image/{}/license", seg(id))
    }
    pub fn gallery_images(id: &str) -> String {
        format!("/mem/gallery/{}/images", seg(id))
    }
    /// `kind` is `gallery` or `collection`.
    pub fn visibility_update(kind: &str, id: &str) -> String {
        format!("/mem/{kind}/{}/visibility/update", seg(id))
    }
}

// ---------------------------------------------------------------------------------------------
// Request parameters

/// Login form fields, both versions (Confirmed).
pub const LOGIN_EMAIL: &str = "email";
pub const LOGIN_PASSWORD: &str = "password";
pub const LOGIN_MODE: &str = "mode";
/// `token`; v3 defaults to `cookie` when the mode is absent.
pub const LOGIN_MODE_TOKEN: &str = "token";
pub const ORG_ID: &str = "org_id";

/// Paging (v3 and v4): 1-based `page`, `per_page`.
pub const PAGE: &str = "page";
pub const PER_PAGE: &str = "per_page";
/// Page size the client asks for. SPEC's draft allows 50–500 on collections; NA used 1000 on
/// gallery children. The client never relies on getting this many: it pages by totals.
pub const DEFAULT_PER_PAGE: usize = 500;

/// Media search parameters (SPEC draft).
pub const TERMS: &str = "terms";
pub const GALLERIES: &str = "galleries";
pub const COLLECTIONS: &str = "collections";
pub const MODIFY_START: &str = "modify_start";
pub const MODIFY_END: &str = "modify_end";
pub const SORT_BY: &str = "sort_by";
/// `/media` spells the direction `sort_dir` (`asc|desc`); containers and `/search` use
/// `sort_direction` (`ascending|descending`).
pub const SORT_DIR: &str = "sort_dir";
pub const SORT_DIRECTION: &str = "sort_direction";
/// `/media` sort keys (SPEC): `relevance|date|file_name|upload_time`.
pub const SORT_UPLOAD_TIME: &str = "upload_time";
/// Gallery children sort keys (SPEC): `creation_time|modification_time|added_at|file_name|…`.
pub const SORT_MODIFICATION_TIME: &str = "modification_time";

/// Download parameters (SPEC, WP, NA).
pub const DOWNLOAD_FILETYPE: &str = "download_filetype";
pub const DOWNLOAD_ORIGINAL: &str = "original";

/// v3 upload parts (Confirmed: D-upload, RMIG, PM).
pub const UPLOAD_FILE: &str = "file";
pub const UPLOAD_GALLERY_ID: &str = "gallery_id";
pub const UPLOAD_SEARCHABLE: &str = "f_searchable";
/// The v4 media attribute that makes a media item findable by the public (SPEC draft).
pub const SEARCHABLE: &str = "searchable";

/// v3 gallery insert fields (RMIG, PM): `name`, `parent` (collection id), `f_list`, `mode`.
pub const GALLERY_NAME: &str = "name";
pub const GALLERY_PARENT: &str = "parent";
pub const GALLERY_LISTED: &str = "f_list";
pub const VISIBILITY_MODE: &str = "mode";

// ---------------------------------------------------------------------------------------------
// Uncertain write details: the emulator accepts every variant; the client sends the constant.

/// How a request carries its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// In the query string, no body.
    Query,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `multipart/form-data`.
    Multipart,
    /// A flat JSON object, `{"caption": "…"}`.
    Json,
    /// JSON:API style, `{"data": {"attributes": {…}}}`.
    JsonApi,
}

/// v4 login (`POST /authenticate`): a form body with email, password, `mode=token` (SPEC,
/// KUK, WS). NA sends query parameters on a POST; SPEC also has a GET form. Likely.
pub const V4_LOGIN_ENCODING: Encoding = Encoding::Form;

/// v3 login (`POST /mem/authenticate`): urlencoded form (D-connect, D-auth, RMIG, KUK).
/// Multipart, query strings and GET are accepted by the emulator too. Confirmed.
pub const V3_LOGIN_ENCODING: Encoding = Encoding::Form;

/// v4 organisation selection (`POST /organization/authenticate` with `org_id`): JSON as WP
/// (PhotoShelter's own plugin) and NA send it; SPEC and WS send a form. Confirmed path, body
/// format split 2:2; PhotoShelter's own client decides.
pub const V4_ORG_SELECT_ENCODING: Encoding = Encoding::Json;

/// v3 organisation selection: `GET /mem/organization/{id}/authenticate` (DRU, NIN, PM; TSAPI
/// posts). Confirmed.
pub const V3_ORG_SELECT_WITH_GET: bool = true;

/// IPTC write: `PATCH /psapi/v4.0/media/{id}/iptc`. **Unverified** (KUK only), needs live
/// verification. The only client seen writing it puts the fields in the query string of the
/// PATCH (no body), so the client does the same; the emulator also takes flat JSON, JSON:API,
/// urlencoded and multipart bodies. Field names are the v4 IPTC names ([`IPTC_FIELDS`]);
/// keywords travel as one comma-separated string; an empty value clears a field.
pub const IPTC_WRITE_ENCODING: Encoding = Encoding::Query;
/// Longest query string one write sends: a 2000-byte caption percent-encodes to up to 6000
/// characters, and common servers refuse request lines over 8 KiB, so a write with long
/// values is split into several requests (fields are independent).
pub const MAX_WRITE_QUERY_BYTES: usize = 6000;
pub const IPTC_WRITE_METHOD: &str = "PATCH";

/// Media attribute write (licence expiry, release flags): `PATCH /psapi/v4.0/media/{id}`.
/// **Unknown / inferred**: no source writes media attributes; KUK lists `PATCH /media/batch`
/// and `PATCH /media/{id}/metadata` only. Sent like the IPTC write (query string); an empty
/// value clears. Needs live verification.
pub const ATTRIBUTE_WRITE_ENCODING: Encoding = Encoding::Query;

/// The licence expiration date of License Alerts as a v4 media attribute. **Unknown**: the
/// v4 name is not documented; the last place ferry looks for a licence
/// ([`LicensePlace::V4Attribute`]), and a mapping can name it with `attribute = "…"`.
pub const LICENSE_EXPIRATION_DATE: &str = "license_expiration_date";

/// v3's licence record (`extend` key `License`, TAMUS; Likely) and its expiry field.
pub const V3_LICENSE_RECORD: &str = "License";
pub const V3_LICENSE_EXPIRY: &str = "license_etime";
/// The `extend` that asks v3 for an image's licence with the image.
pub const V3_LICENSE_EXTEND: &str = r#"{"License":{"fields":"license_etime"}}"#;
/// Names an expiry may have in a v4 licence record (**Unknown**): v3's first.
pub const V4_LICENSE_EXPIRY_KEYS: &[&str] = &[
    V3_LICENSE_EXPIRY,
    "expiration_date",
    LICENSE_EXPIRATION_DATE,
    "expires_at",
];

/// Where an account keeps a media item's licence record (contract §10, §3.2). Only v3's is
/// documented; the others are plausible v4 places. ferry reads them in this order until one
/// answers, and remembers that one for the rest of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LicensePlace {
    /// `GET /mem/image/{id}?extend={"License":…}` → `Image.License.license_etime`.
    V3Extend,
    /// `GET /mem/image/{id}/license` → `License.license_etime`.
    V3Record,
    /// `GET /media/{id}/license` → `attributes.license_etime` (or another expiry name).
    V4Record,
    /// The media attribute `license_expiration_date` on `GET /media/{id}`.
    V4Attribute,
}

impl LicensePlace {
    pub const ALL: [LicensePlace; 4] = [
        LicensePlace::V3Extend,
        LicensePlace::V3Record,
        LicensePlace::V4Record,
        LicensePlace::V4Attribute,
    ];

    /// Where it is, for logs and `ferry doctor`.
    pub fn describe(self) -> &'static str {
        match self {
            LicensePlace::V3Extend => "v3 /mem/image/{id} extend License.license_etime",
            LicensePlace::V3Record => "v3 /mem/image/{id}/license",
            LicensePlace::V4Record => "v4 /media/{id}/license",
            LicensePlace::V4Attribute => "v4 /media/{id} attribute license_expiration_date",
        }
    }

    /// The mapping line that reads the licence expiry from here.
    pub fn mapping_line(self) -> &'static str {
        match self {
            LicensePlace::V4Attribute => {
                r#"photoshelter = { attribute = "license_expiration_date" }"#
            }
            _ => r#"photoshelter = { license = "expiration_date" }"#,
        }
    }
}

/// The fields of a licence record a mapping can name (`license = "…"`), and what each is
/// called in v3's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LicenseField {
    ExpirationDate,
}

impl LicenseField {
    pub const ALL: [LicenseField; 1] = [LicenseField::ExpirationDate];

    pub fn name(self) -> &'static str {
        match self {
            LicenseField::ExpirationDate => "expiration_date",
        }
    }

    pub fn from_name(name: &str) -> Option<LicenseField> {
        LicenseField::ALL.into_iter().find(|f| f.name() == name)
    }
}
/// Release flags, booleans on the media (SPEC, TSAPI). Likely.
pub const MODEL_RELEASED: &str = "model_released";
pub const PROPERTY_RELEASED: &str = "property_released";
/// Booleans in a query string: `true`/`false` (v4 is JSON-typed); the emulator also takes
/// `t`/`f`, `1`/`0`.
pub fn bool_param(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// Custom metadata write: `PATCH /psapi/v4.0/media/{id}/custom-metadata`. **Unknown**: no
/// source writes custom metadata through the API. The client sends the read shape back as
/// JSON: `{"custom_metadata": [{"field_name": "…", "value": "…" | null}]}` (null clears);
/// the emulator also takes a flat `{"Field": "tag"}` object in JSON, form or query form.
/// The tag must be one of the field's presets (H-cmd: one preset tag per field per file).
pub const CUSTOM_METADATA_KEY: &str = "custom_metadata";
pub const CUSTOM_FIELD_NAME: &str = "field_name";
/// Read side: the keys that may name the field of a custom metadata item (only `value` is
/// known, from NA; the rest are guesses tried in order).
pub const CUSTOM_FIELD_NAME_KEYS: &[&str] = &["field_name", "name", "field", "label"];
pub const CUSTOM_VALUE_KEYS: &[&str] = &["value", "value_name", "tag"];

/// v3 upload reply: D-upload says it returns the new image id; the key is **Unknown**. The
/// client looks for these, in order.
pub const UPLOAD_ID_POINTERS: &[&str] = &["/Image/image_id", "/image_id", "/Image/id", "/id"];

/// v3 gallery insert: RMIG (v3) sends GET with query parameters, PM (v2) POSTs multipart. The
/// client POSTs multipart: a GET that creates would be retried by the HTTP layer and could
/// create twice. The emulator accepts both. Reply `data.Gallery.gallery_id` (RMIG) or
/// `data.id` (PM).
pub const GALLERY_INSERT_ENCODING: Encoding = Encoding::Multipart;
pub const GALLERY_INSERT_ID_POINTERS: &[&str] = &["/Gallery/gallery_id", "/gallery_id", "/id"];

/// Visibility write: `POST /psapi/v3/mem/{gallery|collection}/{id}/visibility/update` with
/// `mode`, multipart (PM, v2 only: **Likely** for v3). Read back through v4
/// `/galleries/{id}/permissions` → `data.attributes.mode` (SPEC draft).
pub const VISIBILITY_WRITE_ENCODING: Encoding = Encoding::Multipart;

/// The IPTC field the write probe of `ferry doctor` changes and restores: Special
/// Instructions, where ferry keeps the preservation reference (Preservica owns it, so a
/// probe value left behind by a crash is corrected by the next sync).
pub const PROBE_IPTC_FIELD: &str = "instructions";

/// Incremental listing: `modify_start` exists only in SPEC's 2019 draft and its format is
/// **Unknown**. The client sends a day (`YYYY-MM-DD`, the form of SPEC's other date filters),
/// taken after subtracting the overlap, and filters the hits by their `modified_at` itself.
pub const MODIFY_PARAM_FORMAT: &str = "%Y-%m-%d";

/// The v4 IPTC attribute names (SPEC's `is_empty` enum, plus `date_created`, whose real name
/// is **Unknown**; see `mappings/default.toml`).
pub const IPTC_FIELDS: &[&str] = &[
    "title",
    "edit_status",
    "urgency",
    "category",
    "keywords",
    "instructions",
    "author",
    "position",
    "location",
    "city",
    "state",
    "country",
    "country_iso",
    "headline",
    "trans_ref",
    "credit",
    "source",
    "copyright",
    "caption",
    "caption_writer",
    "ci_city",
    "ci_country",
    "ci_address",
    "ci_postal_code",
    "ci_region",
    "ci_email",
    "ci_phone",
    "ci_url",
    "genre",
    "rights",
    "scene",
    "subject_code",
    "web_statement",
    "date_created",
];

// ---------------------------------------------------------------------------------------------
// Ids

/// What an id names; each kind has its own prefixes (contract §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    Media,
    Gallery,
    Collection,
    Organization,
    User,
}

impl IdKind {
    pub fn name(self) -> &'static str {
        match self {
            IdKind::Media => "media id",
            IdKind::Gallery => "gallery id",
            IdKind::Collection => "collection id",
            IdKind::Organization => "organisation id",
            IdKind::User => "user id",
        }
    }

    /// Letter prefixes (before the zero padding) ids of this kind start with.
    pub fn prefixes(self) -> &'static [&'static str] {
        match self {
            IdKind::Media => &["I", "VD", "AD", "DO"],
            IdKind::Gallery => &["G"],
            IdKind::Collection => &["C"],
            IdKind::Organization => &["O"],
            IdKind::User => &["U"],
        }
    }
}

pub use crate::ids::check as check_id;

/// Why `id` does not have the shape every documented id of `kind` has (16 characters: a
/// letter prefix padded with zeros to 5, then 11 from `[A-Za-z0-9._]`), or `None` if it has.
pub fn odd_shape(kind: IdKind, id: &str) -> Option<String> {
    if id.len() != 16 || !id.is_ascii() {
        return Some(format!(
            "expected 16 ASCII characters, got {}",
            id.chars().count()
        ));
    }
    let (head, tail) = id.split_at(5);
    let letters = head.trim_end_matches('0');
    if letters.is_empty() || !letters.bytes().all(|b| b.is_ascii_uppercase()) {
        return Some("expected a letter prefix padded with zeros to 5 characters".into());
    }
    if !kind.prefixes().contains(&letters) {
        return Some(format!(
            "prefix '{letters}' is not one of {}",
            kind.prefixes().join(", ")
        ));
    }
    tail.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '.' || *c == '_'))
        .map(|bad| format!("character '{bad}' is not one of [A-Za-z0-9._]"))
}

/// The kind of media, from `type` or, failing that, from the id's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    Document,
}

impl MediaKind {
    /// The v4 `type` value.
    pub fn type_name(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
        }
    }

    pub fn from_type(t: &str) -> Option<MediaKind> {
        match t.to_ascii_lowercase().as_str() {
            "image" => Some(MediaKind::Image),
            "video" => Some(MediaKind::Video),
            "audio" => Some(MediaKind::Audio),
            "document" | "doc" => Some(MediaKind::Document),
            _ => None,
        }
    }

    pub fn id_prefix(self) -> &'static str {
        match self {
            MediaKind::Image => "I",
            MediaKind::Video => "VD",
            MediaKind::Audio => "AD",
            MediaKind::Document => "DO",
        }
    }

    pub fn from_id(id: &str) -> Option<MediaKind> {
        let letters = id.get(..5)?.trim_end_matches('0');
        [
            MediaKind::Image,
            MediaKind::Video,
            MediaKind::Audio,
            MediaKind::Document,
        ]
        .into_iter()
        .find(|k| k.id_prefix() == letters)
    }
}

/// Visibility of a gallery or collection (Confirmed enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Everyone,
    Permission,
    Private,
}

impl Visibility {
    pub fn name(self) -> &'static str {
        match self {
            Visibility::Everyone => "everyone",
            Visibility::Permission => "permission",
            Visibility::Private => "private",
        }
    }

    pub fn parse(s: &str) -> Option<Visibility> {
        match s.trim().to_ascii_lowercase().as_str() {
            "everyone" => Some(Visibility::Everyone),
            "permission" => Some(Visibility::Permission),
            "private" => Some(Visibility::Private),
            _ => None,
        }
    }
}

impl std::fmt::Display for Visibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

// ---------------------------------------------------------------------------------------------
// Lenient values (contract §3.1, §4): numbers as strings, `t`/`f`, several timestamp forms

/// A count or size sent as a number or as a numeric string. `Ok(None)` for null or "".
pub fn lenient_u64(v: &Value) -> Result<Option<u64>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("{n} is not a whole non-negative number")),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => s
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| format!("\"{s}\" is not a whole non-negative number")),
        other => Err(format!("{} is not a number", kind_of(other))),
    }
}

/// A boolean sent as `true`/`false`, `t`/`f`, `1`/`0` (number or string).
pub fn lenient_bool(v: &Value) -> Result<Option<bool>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(Some(true)),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(Some(false)),
        Value::String(s) => parse_bool_text(s),
        other => Err(format!("{} is not a boolean", kind_of(other))),
    }
}

/// `true`/`false`, `t`/`f`, `1`/`0`, `yes`/`no`; empty is no value.
pub fn parse_bool_text(s: &str) -> Result<Option<bool>, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "t" | "true" | "1" | "yes" | "y" => Ok(Some(true)),
        "f" | "false" | "0" | "no" | "n" => Ok(Some(false)),
        _ => Err(format!("\"{s}\" is not a boolean (t/f, true/false, 1/0)")),
    }
}

/// Text of a scalar (string, number or boolean); `None` for null.
pub fn lenient_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A timestamp in any of the forms PhotoShelter uses: `2019-10-02 14:39:23 GMT` (or `UTC`),
/// `2019-04-25 14:54:12.136828` (no zone: UTC), RFC 3339, `… +0000`, or a bare date (midnight
/// UTC). Named zones other than GMT/UTC are refused rather than guessed.
pub fn parse_timestamp(raw: &str) -> Result<DateTime<Utc>, String> {
    let v = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f %z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(v, f) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    let bare = v
        .strip_suffix(" GMT")
        .or_else(|| v.strip_suffix(" UTC"))
        .or_else(|| v.strip_suffix('Z'))
        .unwrap_or(v)
        .trim_end();
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(bare, f) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(bare, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    Err(format!(
        "\"{raw}\" is not a timestamp PhotoShelter sends (e.g. 2024-05-01 12:00:00 GMT)"
    ))
}

/// A timestamp that may be absent (null or "").
pub fn lenient_timestamp(v: &Value) -> Result<Option<DateTime<Utc>>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => parse_timestamp(s).map(Some),
        // Unix seconds, just in case.
        Value::Number(n) => n
            .as_i64()
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .map(Some)
            .ok_or_else(|| format!("{n} is not a timestamp")),
        other => Err(format!("{} is not a timestamp", kind_of(other))),
    }
}

pub fn format_timestamp(t: DateTime<Utc>) -> String {
    t.format(TIMESTAMP_FORMAT).to_string()
}

// ---------------------------------------------------------------------------------------------
// Envelopes

/// A JSON object member, or `None`.
pub fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object().and_then(|o| o.get(key))
}

/// v4 error body (`errors[]` with `id`, string `status`, `title`, `detail`); SPEC's sloppy
/// examples also show a single object and `error`, read too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiError {
    pub id: Option<String>,
    pub title: Option<String>,
    pub detail: Option<String>,
}

impl ApiError {
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(id) = &self.id {
            parts.push(id.clone());
        }
        if let Some(t) = &self.title {
            parts.push(t.clone());
        }
        if let Some(d) = &self.detail
            && Some(d) != self.title.as_ref()
        {
            parts.push(d.clone());
        }
        parts.join(": ")
    }
}

/// Reads a v4 `errors` body or a v3 `{"status":"error","error":{class,message}}` body.
pub fn parse_error(body: &Value) -> Option<ApiError> {
    let text = |v: Option<&Value>| v.and_then(lenient_text).filter(|s| !s.is_empty());
    let one = |e: &Value| ApiError {
        id: text(get(e, "id")).or_else(|| text(get(e, "class"))),
        title: text(get(e, "title")).or_else(|| text(get(e, "message"))),
        detail: text(get(e, "detail")),
    };
    match get(body, "errors").or_else(|| get(body, "error")) {
        Some(Value::Array(items)) => items.first().map(one),
        Some(e @ Value::Object(_)) => Some(one(e)),
        Some(Value::String(s)) => Some(ApiError {
            title: Some(s.clone()),
            ..ApiError::default()
        }),
        _ => None,
    }
}

/// v3 `status`: `ok` or not.
pub fn v3_ok(body: &Value) -> bool {
    get(body, "status")
        .and_then(Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("ok"))
}

/// A v3 error class that means the session is gone (PM treats any class containing
/// "session" so).
pub fn v3_session_error(body: &Value) -> bool {
    parse_error(body)
        .and_then(|e| e.id)
        .is_some_and(|c| c.to_ascii_lowercase().contains("session"))
}

/// One organisation a user belongs to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OrgInfo {
    pub id: String,
    pub name: Option<String>,
    pub member: Option<bool>,
}

/// The `org` member of a login reply: an array of orgs, or (older servers) one object.
pub fn parse_orgs(v: Option<&Value>) -> Result<Vec<OrgInfo>, String> {
    let items: Vec<&Value> = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        Some(other) => return Err(format!("`org` is {}", kind_of(other))),
    };
    items
        .into_iter()
        .map(|o| {
            let id = get(o, "id")
                .or_else(|| get(o, "org_id"))
                .and_then(lenient_text)
                .ok_or("an organisation without an id")?;
            check_id(&id).map_err(|e| format!("organisation id \"{id}\": {e}"))?;
            if let Some(why) = odd_shape(IdKind::Organization, &id) {
                tracing::warn!(%id, "PhotoShelter organisation id of an unexpected shape ({why}); ids are opaque, going on");
            }
            let attrs = get(o, "attributes").unwrap_or(o);
            Ok(OrgInfo {
                id,
                name: get(attrs, "name").and_then(lenient_text),
                member: match get(attrs, "member") {
                    Some(m) => lenient_bool(m)?,
                    None => None,
                },
            })
        })
        .collect()
}

/// A v4 list page's total, from `meta.paging.total` or `meta.total`.
pub fn page_total(body: &Value) -> Result<Option<u64>, String> {
    let meta = get(body, "meta");
    let total = meta
        .and_then(|m| get(m, "paging"))
        .and_then(|p| get(p, "total"))
        .or_else(|| meta.and_then(|m| get(m, "total")));
    match total {
        Some(t) => lenient_u64(t),
        None => Ok(None),
    }
}

/// Whether a v4 list page says there is a next page (`meta.paging.next`); `None` when the
/// server does not say.
pub fn page_has_next(body: &Value) -> Option<bool> {
    let paging = get(body, "meta").and_then(|m| get(m, "paging"))?;
    Some(get(paging, "next").is_some_and(|n| !n.is_null()))
}

/// The `attributes` object of a v4 resource (empty when absent).
pub fn attributes(item: &Value) -> Map<String, Value> {
    get(item, "attributes")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_opaque_but_must_be_safe_and_odd_shapes_are_told_apart() {
        for odd in [
            "G0000AbCdEfGhIjK",
            "I0000AbCdEfGhIj",
            "I0000AbCdEf/hIjK",
            "1234567890123456",
            "i0000AbCdEfGhIjK",
            "img-2024/05/01 ü",
            "..",
        ] {
            assert!(check_id(odd).is_ok(), "{odd}");
            assert!(odd_shape(IdKind::Media, odd).is_some(), "{odd}");
        }
        for usual in ["I0000AbCdEfGhIjK", "VD000a.b_c123456"] {
            assert!(check_id(usual).is_ok());
            assert_eq!(odd_shape(IdKind::Media, usual), None);
        }
        assert_eq!(odd_shape(IdKind::Gallery, "G0000AbCdEfGhIjK"), None);
        for unsafe_id in ["", "  ", "a\nb", "a\u{7f}b", &"x".repeat(257)] {
            assert!(check_id(unsafe_id).is_err(), "{unsafe_id:?}");
        }
    }

    #[test]
    fn scalars_are_read_leniently() {
        assert_eq!(lenient_u64(&json!("1800")), Ok(Some(1800)));
        assert_eq!(lenient_u64(&json!(1800)), Ok(Some(1800)));
        assert_eq!(lenient_u64(&json!("")), Ok(None));
        assert!(lenient_u64(&json!("18x")).is_err());
        assert!(lenient_u64(&json!(-3)).is_err());
        assert_eq!(lenient_bool(&json!("t")), Ok(Some(true)));
        assert_eq!(lenient_bool(&json!("f")), Ok(Some(false)));
        assert_eq!(lenient_bool(&json!(true)), Ok(Some(true)));
        assert_eq!(lenient_bool(&json!(0)), Ok(Some(false)));
        assert!(lenient_bool(&json!("maybe")).is_err());
    }

    #[test]
    fn timestamps_in_every_form() {
        let want = "2019-10-02T14:39:23Z";
        for raw in [
            "2019-10-02 14:39:23 GMT",
            "2019-10-02 14:39:23 UTC",
            "2019-10-02 14:39:23",
            "2019-10-02T14:39:23Z",
            "2019-10-02T16:39:23+02:00",
            "2019-10-02 14:39:23 +0000",
        ] {
            assert_eq!(
                parse_timestamp(raw)
                    .unwrap()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                want,
                "{raw}"
            );
        }
        assert!(parse_timestamp("2019-04-25 14:54:12.136828").is_ok());
        assert!(parse_timestamp("2019-04-25").is_ok());
        assert!(parse_timestamp("2019-10-02 14:39:23 America/New_York").is_err());
        assert!(parse_timestamp("yesterday").is_err());
    }

    #[test]
    fn orgs_as_array_or_object() {
        let a = parse_orgs(Some(
            &json!([{"id": "O0000AbCdEfGhIjK", "name": "A", "member": "t"}]),
        ))
        .unwrap();
        let o = parse_orgs(Some(
            &json!({"id": "O0000AbCdEfGhIjK", "name": "A", "member": "t"}),
        ))
        .unwrap();
        assert_eq!(a, o);
        assert_eq!(a[0].member, Some(true));
        // Ids are opaque: an odd shape is read; an unusable id is refused.
        assert_eq!(
            parse_orgs(Some(&json!([{"id": "org-7"}]))).unwrap()[0].id,
            "org-7"
        );
        assert!(parse_orgs(Some(&json!([{"id": "a\nb"}]))).is_err());
    }

    #[test]
    fn errors_of_both_versions() {
        let v4 = json!({"errors": [{"id": "ApiKeyInvalidException", "status": "403", "title": "Invalid API key"}]});
        assert_eq!(
            parse_error(&v4).unwrap().id.as_deref(),
            Some("ApiKeyInvalidException")
        );
        let v3 = json!({"status": "error", "error": {"class": "SessionRequiredErr", "message": "log in"}});
        assert!(v3_session_error(&v3));
        assert!(!v3_ok(&v3));
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(seg("I0000a.b_c"), "I0000a.b_c");
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
    }
}
