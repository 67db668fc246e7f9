//! PhotoShelter's wire: paths, parameter and header names, envelopes, id and value formats.
//!
//! Every wire detail of psapi v3 and v4.0 that ferry relies on lives here, so that when a real
//! account disagrees with `shared/api/photoshelter.md` one file changes. Both the client and
//! the emulator use these names.
//!
//! The uncertain details (section "Uncertain write details" below) carry the contract's
//! confidence word and the sources behind them. For each, the emulator accepts every plausible
//! variant and the client sends the one named by the constant here.

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

// Uncertain write details, ids, lenient values and envelopes live in submodules by concern;
// they are re-exported so that `wire::NAME` keeps working for client and emulator alike.
mod envelope;
mod ids;
mod values;
mod writes;
pub use envelope::*;
pub use ids::*;
pub use values::*;
pub use writes::*;

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
