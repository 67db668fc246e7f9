//! Uncertain write details: the emulator accepts every variant; the client sends the constant.

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
