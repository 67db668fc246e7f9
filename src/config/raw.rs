//! `ferry.toml` as written: the `Raw*` structs mirror the file (every key optional, each value
//! with its place in the file), and reading them turns toml's errors into ferry's messages.
//!
//! These structs are also the one statement of which keys exist: the environment overrides are
//! derived from them (see `keys.rs`).

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IgnoredAny;
use toml::Spanned;
use toml::de::DeTable;

use super::{ConfigError, Location};

// `Spanned` keeps each value's place in the file so that validation errors can give the line.
// Inline secret keys are accepted by the parser only so that they get their own message instead
// of "unknown key".

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(super) struct RawFile {
    pub(super) photoshelter: RawPhotoShelter,
    pub(super) preservica: RawPreservica,
    pub(super) paths: RawPaths,
    pub(super) schedule: RawSchedule,
    pub(super) mapping: Option<Spanned<PathBuf>>,
    pub(super) guard: RawGuard,
    pub(super) notify: RawNotify,
    pub(super) server: RawServer,
    pub(super) rights: RawRights,
    pub(super) archive: RawArchive,
    pub(super) republish: RawRepublish,
    pub(super) thumbnails: RawThumbnails,
    pub(super) output: RawOutput,
    pub(super) live: RawLive,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(super) struct RawLive {
    pub(super) enabled: Option<Spanned<bool>>,
    pub(super) public_url: Option<Spanned<String>>,
    pub(super) photoshelter_poll_secs: Option<Spanned<u64>>,
    pub(super) webhook_secret_file: Option<Spanned<PathBuf>>,
    pub(super) webhook_secret: Option<Spanned<IgnoredAny>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(super) struct RawThumbnails {
    pub(super) max_mib: Option<Spanned<u64>>,
    pub(super) on_sync: Option<Spanned<bool>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(super) struct RawOutput {
    pub(super) excel: Option<Spanned<bool>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(super) struct RawArchive {
    pub(super) folder: Option<Spanned<String>>,
    pub(super) ready_collection: Option<Spanned<String>>,
    pub(super) ready_field: Option<Spanned<String>>,
    pub(super) ready_values: Option<Spanned<Vec<String>>>,
    pub(super) after: Option<Spanned<String>>,
    pub(super) staging: Option<Spanned<PathBuf>>,
    pub(super) ingest_timeout_secs: Option<Spanned<u64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(super) struct RawRepublish {
    pub(super) rendition: Option<Spanned<String>>,
    pub(super) visibility: Option<Spanned<String>>,
    pub(super) collection: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(super) struct RawRights {
    pub(super) expired: Option<Spanned<String>>,
    pub(super) missing_model_release: Option<Spanned<String>>,
    pub(super) restricted_tag: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(super) struct RawNotify {
    pub(super) webhook_url_file: Option<Spanned<PathBuf>>,
    pub(super) webhook_url: Option<Spanned<IgnoredAny>>,
    pub(super) file: Option<Spanned<PathBuf>>,
    pub(super) expiring_days: Option<Spanned<u32>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(super) struct RawServer {
    pub(super) listen: Option<Spanned<String>>,
    pub(super) access_token_file: Option<Spanned<PathBuf>>,
    pub(super) access_token: Option<Spanned<IgnoredAny>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(super) struct RawPhotoShelter {
    pub(super) base_url: Option<Spanned<String>>,
    pub(super) email: Option<Spanned<String>>,
    pub(super) org_id: Option<Spanned<String>>,
    pub(super) probe_media_id: Option<Spanned<String>>,
    pub(super) concurrency: Option<Spanned<usize>>,
    pub(super) adaptive: Option<Spanned<bool>>,
    pub(super) timeout_secs: Option<Spanned<u64>>,
    pub(super) allow_insecure_http: Option<Spanned<bool>>,
    pub(super) max_login_mib: Option<Spanned<u64>>,
    pub(super) max_page_mib: Option<Spanned<u64>>,
    pub(super) max_record_mib: Option<Spanned<u64>>,
    pub(super) max_pages: Option<Spanned<u32>>,
    pub(super) api_key_file: Option<Spanned<PathBuf>>,
    pub(super) api_key_v3_file: Option<Spanned<PathBuf>>,
    pub(super) password_file: Option<Spanned<PathBuf>>,
    pub(super) oauth_token_file: Option<Spanned<PathBuf>>,
    pub(super) api_key: Option<Spanned<IgnoredAny>>,
    pub(super) api_key_v3: Option<Spanned<IgnoredAny>>,
    pub(super) password: Option<Spanned<IgnoredAny>>,
    pub(super) oauth_token: Option<Spanned<IgnoredAny>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(super) struct RawPreservica {
    pub(super) server: Option<Spanned<String>>,
    pub(super) protocol: Option<Spanned<String>>,
    pub(super) tenant: Option<Spanned<String>>,
    pub(super) probe_asset: Option<Spanned<String>>,
    pub(super) username: Option<Spanned<String>>,
    pub(super) concurrency: Option<Spanned<usize>>,
    pub(super) adaptive: Option<Spanned<bool>>,
    pub(super) timeout_secs: Option<Spanned<u64>>,
    pub(super) allow_insecure_http: Option<Spanned<bool>>,
    pub(super) max_login_mib: Option<Spanned<u64>>,
    pub(super) max_page_mib: Option<Spanned<u64>>,
    pub(super) max_record_mib: Option<Spanned<u64>>,
    pub(super) max_fragment_mib: Option<Spanned<u64>>,
    pub(super) max_pages: Option<Spanned<u32>>,
    pub(super) password_file: Option<Spanned<PathBuf>>,
    pub(super) password: Option<Spanned<IgnoredAny>>,
}

/// The answer limits of one system's section, as written.
pub(super) struct RawLimits {
    pub(super) login_mib: Option<Spanned<u64>>,
    pub(super) page_mib: Option<Spanned<u64>>,
    pub(super) record_mib: Option<Spanned<u64>>,
    pub(super) fragment_mib: Option<Spanned<u64>>,
    pub(super) pages: Option<Spanned<u32>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(super) struct RawPaths {
    pub(super) store: Option<Spanned<PathBuf>>,
    pub(super) index: Option<Spanned<PathBuf>>,
    pub(super) reports: Option<Spanned<PathBuf>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(super) struct RawSchedule {
    pub(super) nightly: Option<Spanned<String>>,
    pub(super) timezone: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(super) struct RawGuard {
    pub(super) max_change_share: Option<Spanned<f64>>,
    pub(super) min_assets: Option<Spanned<u64>>,
}

/// The inline secret keys, left out of the valid keys an unknown-key error lists.
const INLINE_SECRET_KEYS: &[&str] = &[
    "api_key",
    "api_key_v3",
    "password",
    "oauth_token",
    "webhook_secret",
];

/// The line `offset` falls on, counted from 1.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

// Syntax is checked first, on its own, so that a syntax error is never reported as a type error.
// toml's own `Display` is avoided throughout because it quotes the offending source line, which
// could hold a secret; `message()` never does.
pub(super) fn syntax<'t>(file: &Path, text: &'t str) -> Result<Spanned<DeTable<'t>>, ConfigError> {
    DeTable::parse(text).map_err(|e| ConfigError::Syntax {
        file: file.to_path_buf(),
        line: e.span().map_or(1, |s| line_of(text, s.start)),
        message: e.message().to_owned(),
    })
}

/// Reads the typed file from `doc` (the file, perhaps with overrides laid over it).
pub(super) fn typed(
    file: &Path,
    text: &str,
    doc: Spanned<DeTable<'_>>,
) -> Result<RawFile, ConfigError> {
    let table = doc.get_ref().clone();
    RawFile::deserialize(toml::de::Deserializer::from(doc)).map_err(|e| {
        let span = e.span();
        let line = span.as_ref().map(|s| line_of(text, s.start));
        let found = span.and_then(|s| key_at(&table, &s));
        let message = e.message();
        if let (Some(rest), Some((path, true))) =
            (message.strip_prefix("unknown field `"), found.as_ref())
        {
            return unknown_key(file, line.unwrap_or(1), rest, path);
        }
        let at = Location::File {
            file: file.to_path_buf(),
            line,
        };
        match found {
            Some((path, _)) => ConfigError::Value {
                at,
                key: path.join("."),
                reason: message.to_owned(),
            },
            None => ConfigError::Other {
                at,
                message: message.to_owned(),
            },
        }
    })
}

/// `rest` is serde's message after "unknown field `".
fn unknown_key(file: &Path, line: usize, rest: &str, path: &[String]) -> ConfigError {
    let key = rest.split('`').next().unwrap_or_default().to_owned();
    let section = path[..path.len() - 1].join(".");
    let valid = rest
        .split_once("expected ")
        .map(|(_, list)| {
            // serde writes "`a`", "`a` or `b`" or "one of `a`, `b`, `c`": the names are
            // the backquoted parts.
            list.split('`')
                .skip(1)
                .step_by(2)
                .filter(|k| !INLINE_SECRET_KEYS.contains(k))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    ConfigError::UnknownKey {
        file: file.to_path_buf(),
        line,
        key,
        section,
        valid,
    }
}

/// The dotted key whose name (`true`) or value (`false`) sits exactly at `span`.
fn key_at(table: &toml::de::DeTable<'_>, span: &Range<usize>) -> Option<(Vec<String>, bool)> {
    fn walk(
        table: &toml::de::DeTable<'_>,
        prefix: &mut Vec<String>,
        span: &Range<usize>,
        found: &mut Option<(Vec<String>, bool)>,
    ) {
        for (k, v) in table.iter() {
            prefix.push(k.get_ref().to_string());
            if k.span() == *span {
                *found = Some((prefix.clone(), true));
            } else if v.span() == *span {
                *found = Some((prefix.clone(), false));
            }
            if let Some(inner) = v.get_ref().as_table() {
                walk(inner, prefix, span, found);
            }
            prefix.pop();
        }
    }
    let mut found = None;
    walk(table, &mut Vec::new(), span, &mut found);
    found
}
