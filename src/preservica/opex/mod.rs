//! OPEX packages: how ferry hands images and galleries to Preservica, and how ferry's
//! Preservica emulator takes them apart again.
//!
//! An OPEX package (contract §9.3) is a zip holding one container folder. The container
//! stands for the Preservica folder chosen at upload; below it, each sub-folder becomes a
//! new Preservica folder (one per PhotoShelter gallery) and each content file a new asset.
//! Folders and files are described by `.opex` XML documents beside them: a folder's by
//! `<folder>/<folder>.opex`, a file's by `<file>.opex`. Those documents carry the SourceID
//! and identifiers ferry later uses to find the refs Preservica gave them (§9.5), the
//! titles, security tags, fixities and the descriptive metadata fragments.
//!
//! [`PackageBuilder`] writes packages with memory bounded whatever the file sizes: content
//! bytes are streamed into the zip while their digests are computed; only the small `.opex`
//! documents of folders are held back until [`PackageBuilder::finish`], because a folder's
//! manifest has to list files that are added after it.
//!
//! [`read_package`] turns a received zip into an [`IngestPlan`]. Its input comes off the
//! network, so it refuses what could hurt the emulator or lie to it: paths escaping the
//! package, zip bombs, DTDs, fixities that do not match and manifests naming absent files.
//!
//! Links from a document (a contract, a model release) to the images it covers are written
//! as identifiers of type [`COVERS_IDENTIFIER_TYPE`], not as OPEX `Relationships`: no
//! studied source says how Preservica resolves a relationship's object during ingest,
//! whereas identifiers are stored as-is and can be queried with `by-identifier`.

mod build;
mod doc;
mod read;
mod xml;

pub use build::{
    AssetSpec, FolderId, FolderSpec, PackageBuilder, PackageSummary, PackagedFile, PackagedFolder,
};
pub use read::{
    IngestPlan, PlannedAsset, PlannedFolder, ReadLimits, read_package, read_package_with_limits,
};

/// The OPEX namespace ferry writes.
pub const OPEX_NAMESPACE: &str = "http://www.openpreservationexchange.org/opex/v1.2";

/// OPEX namespaces ferry reads (packages made by older tools use v1.0).
pub const OPEX_NAMESPACES: [&str; 3] = [
    "http://www.openpreservationexchange.org/opex/v1.0",
    "http://www.openpreservationexchange.org/opex/v1.1",
    OPEX_NAMESPACE,
];

/// Identifier type linking a document asset to each asset it covers (value: the covered
/// asset's PhotoShelter media id).
pub const COVERS_IDENTIFIER_TYPE: &str = "ferry-covers";

/// Identifier type carrying the PhotoShelter media id of an asset.
pub const PHOTOSHELTER_IDENTIFIER_TYPE: &str = "photoshelter";

/// Longest file or folder name ferry puts in a package, in bytes. Leaves room under the
/// usual 255-byte file-system limit for the `.opex` sidecar suffix and de-duplication.
pub const MAX_NAME_BYTES: usize = 200;

/// Name used when nothing usable is left of an original name.
const FALLBACK_NAME: &str = "file";

/// Extensions longer than this are not treated as extensions when shortening a name.
const MAX_EXTENSION_BYTES: usize = 16;

/// Why a package could not be built or read. Every message names the file inside the
/// package (or the asset or folder being added) and what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum OpexError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: zip error: {source}")]
    Zip {
        file: String,
        #[source]
        source: zip::result::ZipError,
    },
    /// A value given to the builder that cannot be written (e.g. a control character).
    #[error("{entity}: {field} {problem}")]
    InvalidValue {
        entity: String,
        field: String,
        problem: String,
    },
    /// A metadata fragment given to the builder that is not a usable standalone document.
    #[error("{entity}: descriptive metadata fragment #{index} {problem}")]
    InvalidFragment {
        entity: String,
        index: usize,
        problem: String,
    },
    /// The builder was called with something it cannot act on (an unknown folder id, a
    /// container name that is not a plain name).
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{file}: content is {actual} bytes, but {expected} bytes were expected")]
    SizeMismatch {
        file: String,
        expected: u64,
        actual: u64,
    },
    /// A write failed in a way that left the zip in an unknown state.
    #[error("the package cannot be continued after an earlier write failure")]
    Poisoned,
    /// A zip entry whose name could escape the package when extracted.
    #[error("zip entry {entry:?} refused: {reason}")]
    UnsafePath { entry: String, reason: String },
    /// The package is larger than the reader accepts (zip bomb protection).
    #[error("package refused: {0}")]
    LimitExceeded(String),
    /// An `.opex` document (or a fragment in it) that is malformed or not allowed.
    #[error("{file}: {message}")]
    Xml { file: String, message: String },
    #[error("{file}: {algorithm} fixity mismatch: expected {expected}, actual {actual}")]
    FixityMismatch {
        file: String,
        algorithm: String,
        expected: String,
        actual: String,
    },
    /// Anything else wrong with a received package: a manifest naming an absent file, an
    /// unsupported fixity algorithm, a PAX asset.
    #[error("{file}: {problem}")]
    Invalid { file: String, problem: String },
}

/// Makes `original` safe to use as one file or folder name inside a package, on any file
/// system the package may be unpacked onto.
///
/// The result has no path separators and no `..` anywhere (a run of dots becomes `_`, so
/// nothing downstream can mistake part of it for a parent reference), no control characters and
/// none of `<>:"/\|?*`; it does not start with a dot (it would be hidden) or end with a
/// dot or space (Windows drops those), is not a Windows device name (`CON`, `LPT1`, …), is
/// never empty and is at most [`MAX_NAME_BYTES`] bytes, keeping the extension when it has
/// to be shortened. Offending characters become `_` so the name stays recognisable.
pub fn sanitize_file_name(original: &str) -> String {
    let replaced: String = original
        .chars()
        .map(|c| if is_forbidden_in_name(c) { '_' } else { c })
        .collect();
    let trimmed = trim_name(&replaced);
    if trimmed.is_empty() {
        return FALLBACK_NAME.to_string();
    }
    let mut name = collapse_dot_runs(trimmed);
    if is_windows_device_name(&name) {
        name.insert(0, '_');
    }
    let name = shorten_name(&name, MAX_NAME_BYTES);
    if name.is_empty() {
        FALLBACK_NAME.to_string()
    } else {
        name
    }
}

/// `a..b` and `a...b` → `a_b`; single dots stay.
fn collapse_dot_runs(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '.' && chars.peek() == Some(&'.') {
            while chars.peek() == Some(&'.') {
                chars.next();
            }
            out.push('_');
        } else {
            out.push(c);
        }
    }
    out
}

fn is_forbidden_in_name(c: char) -> bool {
    c.is_control()
        || matches!(c, '<' | '>' | ':' | '"' | '/' | '\\' | '|' | '?' | '*')
        || !xml::is_xml_char(c)
        // Bidirectional overrides let `gpj.exe` display as `exe.jpg`.
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Leading dots would hide the file (and `..` is a parent reference); trailing dots and
/// spaces are silently dropped by Windows, which could merge two distinct names.
fn trim_name(name: &str) -> &str {
    name.trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
}

fn is_windows_device_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or("").trim_end();
    let upper = stem.to_ascii_uppercase();
    match upper.as_str() {
        "CON" | "PRN" | "AUX" | "NUL" => true,
        _ => {
            let b = upper.as_bytes();
            b.len() == 4
                && (upper.starts_with("COM") || upper.starts_with("LPT"))
                && b[3].is_ascii_digit()
        }
    }
}

/// Splits `name` into stem and extension (without the dot) when it has a plausible one.
fn split_extension(name: &str) -> (&str, Option<&str>) {
    match name.rfind('.') {
        Some(i) if i > 0 && name.len() - i - 1 <= MAX_EXTENSION_BYTES && i + 1 < name.len() => {
            (&name[..i], Some(&name[i + 1..]))
        }
        _ => (name, None),
    }
}

/// Cuts `name` to at most `max` bytes on a character boundary, cutting the stem and
/// keeping the extension.
fn shorten_name(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let (stem, ext) = split_extension(name);
    let room = match ext {
        Some(e) => max.saturating_sub(e.len() + 1),
        None => max,
    };
    let stem = trim_name(truncate_at_char(stem, room));
    match ext {
        Some(e) if !stem.is_empty() => format!("{stem}.{e}"),
        _ => trim_name(truncate_at_char(name, max)).to_string(),
    }
}

fn truncate_at_char(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `name`, or `name-2`, `name-3`, … (before the extension) — the first one `taken` does not
/// hold, still within [`MAX_NAME_BYTES`].
fn unique_name(name: &str, taken: impl Fn(&str) -> bool) -> String {
    if !taken(name) {
        return name.to_string();
    }
    let (stem, ext) = split_extension(name);
    (2u64..)
        .map(|n| {
            let suffix = match ext {
                Some(e) => format!("-{n}.{e}"),
                None => format!("-{n}"),
            };
            let stem = truncate_at_char(stem, MAX_NAME_BYTES.saturating_sub(suffix.len()));
            format!("{stem}{suffix}")
        })
        .find(|candidate| !taken(candidate))
        .expect("an unbounded sequence of distinct names has a free one")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_hostile_names() {
        assert_eq!(sanitize_file_name("../../etc/passwd"), "___etc_passwd");
        assert_eq!(sanitize_file_name("a..b...c.jpg"), "a_b_c.jpg");
        assert_eq!(sanitize_file_name("/abs/x.jpg"), "_abs_x.jpg");
        assert_eq!(sanitize_file_name("a\u{0}b.jpg"), "a_b.jpg");
        assert_eq!(sanitize_file_name("CON:.jpg"), "CON_.jpg");
        assert_eq!(sanitize_file_name("con.jpg"), "_con.jpg");
        assert_eq!(sanitize_file_name("LPT1"), "_LPT1");
        assert_eq!(sanitize_file_name(".."), "file");
        assert_eq!(sanitize_file_name("  "), "file");
        assert_eq!(sanitize_file_name(".hidden"), "hidden");
        assert_eq!(sanitize_file_name("<script>.jpg"), "_script_.jpg");
        assert_eq!(sanitize_file_name("x.jpg. "), "x.jpg");
        let long = format!("{}.jpeg", "é".repeat(150));
        let short = sanitize_file_name(&long);
        assert!(short.len() <= MAX_NAME_BYTES, "{}", short.len());
        assert!(short.ends_with("é.jpeg"));
    }

    #[test]
    fn unique_names_keep_extension_and_length() {
        let taken = ["a.jpg", "a-2.jpg"];
        assert_eq!(unique_name("a.jpg", |n| taken.contains(&n)), "a-3.jpg");
        assert_eq!(unique_name("b", |n| n == "b"), "b-2");
        let long = format!("{}.jpg", "x".repeat(196));
        let u = unique_name(&long, |n| n == long);
        assert!(u.len() <= MAX_NAME_BYTES && u.ends_with("-2.jpg"));
    }
}
