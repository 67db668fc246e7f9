//! Reading received OPEX packages into an ingest plan (for ferry's Preservica emulator).

use super::xml::{
    check_fragment, declarations, escape_attr, lookup, next_event, note_used_prefixes,
    resolve_reference,
};
use super::{OPEX_NAMESPACE, OPEX_NAMESPACES, OpexError};
use crate::xml::Reader;
use quick_xml::events::{BytesStart, Event};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read};
use zip::ZipArchive;

/// Most zip entries a package may have.
pub const MAX_ENTRIES: usize = 100_000;
/// Most bytes a package may unpack to.
pub const MAX_TOTAL_UNCOMPRESSED: u64 = 4 << 30;
/// Largest `.opex` document accepted: they describe, they do not carry content.
pub const MAX_OPEX_BYTES: u64 = 16 << 20;
/// How many bytes of inherited namespace declarations the fragments of one `.opex` may copy
/// beyond the document's own size (each fragment is made standalone with its own copy).
const INHERITED_DECLARATIONS_SLACK: usize = 64 << 10;

/// Bounds that make a zip bomb fail before it is unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    pub max_entries: usize,
    pub max_total_bytes: u64,
    pub max_opex_bytes: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_entries: MAX_ENTRIES,
            max_total_bytes: MAX_TOTAL_UNCOMPRESSED,
            max_opex_bytes: MAX_OPEX_BYTES,
        }
    }
}

/// What ingesting a package should create, parents before children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestPlan {
    /// The container folder (`<c>/` holding `<c>/<c>.opex`), which stands for the target
    /// folder chosen at upload; `None` for a plain zip whose top level is the target.
    pub container: Option<String>,
    pub folders: Vec<PlannedFolder>,
    pub assets: Vec<PlannedAsset>,
}

/// A folder to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFolder {
    /// Path relative to the container, `/`-separated.
    pub path: String,
    /// Path of the folder it goes in; `None` = the target folder.
    pub parent: Option<String>,
    pub source_id: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub security: String,
    /// (type, value).
    pub identifiers: Vec<(String, String)>,
    /// (schema = root element namespace, standalone XML).
    pub fragments: Vec<(String, String)>,
}

/// An asset to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedAsset {
    /// Path of its folder relative to the container; `None` = directly in the target.
    pub folder: Option<String>,
    pub file_name: String,
    /// `Transfer/OriginalFilename`, when given.
    pub original_name: Option<String>,
    pub bytes: Vec<u8>,
    /// (algorithm as written, lower-case hex), all verified against `bytes`.
    pub fixities: Vec<(String, String)>,
    pub source_id: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub security: String,
    /// (type, value).
    pub identifiers: Vec<(String, String)>,
    /// OPEX `Relationships/Relationship` as (Type, Object); ferry itself writes none.
    pub relationships: Vec<(String, String)>,
    /// (schema = root element namespace, standalone XML).
    pub fragments: Vec<(String, String)>,
}

/// Reads a package with the default [`ReadLimits`].
pub fn read_package(zip: &[u8]) -> Result<IngestPlan, OpexError> {
    read_package_with_limits(zip, &ReadLimits::default())
}

/// Reads a package: unpacks it in memory within `limits`, refuses unsafe entry names,
/// parses every `.opex`, checks manifests and fixities, and says what to create.
pub fn read_package_with_limits(zip: &[u8], limits: &ReadLimits) -> Result<IngestPlan, OpexError> {
    let (files, dirs) = unpack(zip, limits)?;
    let package = Package::sort(files, &dirs);
    package.refuse_pax()?;
    let (folder_docs, sidecars) = package.described()?;
    let mut docs: BTreeMap<String, OpexDoc> = BTreeMap::new();
    for (path, bytes) in &package.opex {
        let doc = package.read_doc(path, bytes, &sidecars, limits)?;
        docs.insert(path.clone(), doc);
    }
    let folders = package.plan_folders(&folder_docs, &docs);
    let Package {
        container, content, ..
    } = package;
    let assets = plan_assets(content, &sidecars, docs);
    Ok(IngestPlan {
        container,
        folders,
        assets,
    })
}

/// An unpacked package, paths relative to its container.
struct Package {
    container: Option<String>,
    content: BTreeMap<String, Vec<u8>>,
    opex: BTreeMap<String, Vec<u8>>,
    /// Every folder, from directory entries and the paths of files.
    folders: BTreeSet<String>,
}

impl Package {
    /// Splits the files into content and `.opex` documents under the container, if any.
    fn sort(files: BTreeMap<String, Vec<u8>>, dirs: &BTreeSet<String>) -> Package {
        let container = find_container(&files, dirs);
        let prefix = container.as_ref().map(|c| format!("{c}/"));
        let strip = |p: &str| -> String {
            match &prefix {
                Some(pre) => p.strip_prefix(pre.as_str()).unwrap_or("").to_string(),
                None => p.to_string(),
            }
        };
        let mut content: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut opex: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for (path, bytes) in files {
            let rel = strip(&path);
            if rel.ends_with(".opex") {
                opex.insert(rel, bytes);
            } else {
                content.insert(rel, bytes);
            }
        }
        let mut folders: BTreeSet<String> = dirs.iter().map(|d| strip(d)).collect();
        for path in content.keys().chain(opex.keys()) {
            let mut p = path.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                folders.insert(parent.to_string());
                p = parent;
            }
        }
        folders.remove("");
        Package {
            container,
            content,
            opex,
            folders,
        }
    }

    /// A path as the sender wrote it, container included, for messages.
    fn shown(&self, rel: &str) -> String {
        match (&self.container, rel.is_empty()) {
            (Some(c), true) => c.clone(),
            (Some(c), false) => format!("{c}/{rel}"),
            (None, _) => rel.to_string(),
        }
    }

    fn refuse_pax(&self) -> Result<(), OpexError> {
        for f in &self.folders {
            if f.rsplit('/')
                .next()
                .is_some_and(|n| n.to_lowercase().ends_with(".pax"))
            {
                return Err(OpexError::Invalid {
                    file: self.shown(f),
                    problem: "PAX assets are not supported".to_string(),
                });
            }
        }
        for c in self.content.keys() {
            if c.to_lowercase().ends_with(".pax.zip") {
                return Err(OpexError::Invalid {
                    file: self.shown(c),
                    problem: "zipped PAX assets are not supported".to_string(),
                });
            }
        }
        Ok(())
    }

    /// Which folder or file each `.opex` describes: (folder → document, file → sidecar).
    fn described(&self) -> Result<Described, OpexError> {
        let mut folder_docs: BTreeMap<String, String> = BTreeMap::new();
        let mut sidecars: BTreeMap<String, String> = BTreeMap::new();
        for path in self.opex.keys() {
            let (dir, file) = split_parent(path);
            let stem = &file[..file.len() - ".opex".len()];
            if dir.is_empty() && self.container.as_deref() == Some(stem) {
                continue;
            }
            let described = join(dir, stem);
            let names_folder = !dir.is_empty() && dir.rsplit('/').next() == Some(stem);
            let problem = match (names_folder, self.content.contains_key(&described)) {
                (true, true) => format!(
                    "could describe both folder {} and file {}",
                    self.shown(dir),
                    self.shown(&described)
                ),
                (true, false) => {
                    folder_docs.insert(dir.to_string(), path.clone());
                    continue;
                }
                (false, true) => {
                    sidecars.insert(described, path.clone());
                    continue;
                }
                (false, false) => format!(
                    "describes {}, which is not in the package",
                    self.shown(&described)
                ),
            };
            return Err(OpexError::Invalid {
                file: self.shown(path),
                problem,
            });
        }
        Ok((folder_docs, sidecars))
    }

    /// Parses one `.opex` and checks what it claims about the package.
    fn read_doc(
        &self,
        path: &str,
        bytes: &[u8],
        sidecars: &BTreeMap<String, String>,
        limits: &ReadLimits,
    ) -> Result<OpexDoc, OpexError> {
        let file = self.shown(path);
        if bytes.len() as u64 > limits.max_opex_bytes {
            return Err(OpexError::LimitExceeded(format!(
                "{file} is {} bytes; .opex documents may be at most {}",
                bytes.len(),
                limits.max_opex_bytes
            )));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| OpexError::Xml {
            file: file.clone(),
            message: "is not UTF-8".to_string(),
        })?;
        let doc = parse_opex(text).map_err(|message| OpexError::Xml {
            file: file.clone(),
            message,
        })?;
        let (dir, _) = split_parent(path);
        self.check_manifest(&doc, dir, &file)?;
        let own_content = sidecars
            .iter()
            .find(|(_, sidecar)| *sidecar == path)
            .map(|(c, _)| c.as_str());
        for fixity in &doc.fixities {
            self.check_fixity(fixity, dir, &file, own_content)?;
        }
        Ok(doc)
    }

    /// Every file and folder a manifest lists is in the package, at the size it gives.
    fn check_manifest(&self, doc: &OpexDoc, dir: &str, file: &str) -> Result<(), OpexError> {
        let invalid = |problem: String| OpexError::Invalid {
            file: file.to_string(),
            problem,
        };
        for (name, _, size) in &doc.files {
            let target = relative_target(dir, name, file)?;
            let actual = match (self.content.get(&target), self.opex.get(&target)) {
                (Some(b), _) | (None, Some(b)) => b.len() as u64,
                (None, None) => {
                    return Err(invalid(format!(
                        "manifest lists {}, which is not in the package",
                        self.shown(&target)
                    )));
                }
            };
            if let Some(size) = size
                && *size != actual
            {
                return Err(invalid(format!(
                    "manifest gives {} a size of {size} bytes, but it has {actual}",
                    self.shown(&target)
                )));
            }
        }
        for name in &doc.folders {
            let target = relative_target(dir, name, file)?;
            if !self.folders.contains(&target) {
                return Err(invalid(format!(
                    "manifest lists folder {}, which is not in the package",
                    self.shown(&target)
                )));
            }
        }
        Ok(())
    }

    /// A fixity names a file of the package (by path, or the one the document describes)
    /// and matches its bytes.
    fn check_fixity(
        &self,
        fixity: &Fixity,
        dir: &str,
        file: &str,
        own_content: Option<&str>,
    ) -> Result<(), OpexError> {
        let target = match (&fixity.path, own_content) {
            (Some(p), _) => relative_target(dir, p, file)?,
            (None, Some(c)) => c.to_string(),
            (None, None) => {
                return Err(OpexError::Invalid {
                    file: file.to_string(),
                    problem: format!(
                        "{} fixity has no path and the document describes no file",
                        fixity.algorithm
                    ),
                });
            }
        };
        let Some(bytes) = self.content.get(&target).or_else(|| self.opex.get(&target)) else {
            return Err(OpexError::Invalid {
                file: file.to_string(),
                problem: format!(
                    "fixity names {}, which is not in the package",
                    self.shown(&target)
                ),
            });
        };
        verify_fixity(
            &self.shown(&target),
            &fixity.algorithm,
            &fixity.value,
            bytes,
        )
    }

    fn plan_folders(
        &self,
        folder_docs: &BTreeMap<String, String>,
        docs: &BTreeMap<String, OpexDoc>,
    ) -> Vec<PlannedFolder> {
        self.folders
            .iter()
            .map(|path| {
                let (parent, name) = split_parent(path);
                let doc = folder_docs.get(path).and_then(|d| docs.get(d));
                PlannedFolder {
                    path: path.clone(),
                    parent: (!parent.is_empty()).then(|| parent.to_string()),
                    source_id: doc.and_then(|d| d.source_id.clone()),
                    title: doc
                        .and_then(|d| d.title.clone())
                        .unwrap_or_else(|| name.to_string()),
                    description: doc.and_then(|d| d.description.clone()),
                    security: security_of(doc),
                    identifiers: doc.map(|d| d.identifiers.clone()).unwrap_or_default(),
                    fragments: doc.map(|d| d.fragments.clone()).unwrap_or_default(),
                }
            })
            .collect()
    }
}

/// (folder → its `.opex`, content file → its sidecar `.opex`).
type Described = (BTreeMap<String, String>, BTreeMap<String, String>);

fn plan_assets(
    content: BTreeMap<String, Vec<u8>>,
    sidecars: &BTreeMap<String, String>,
    mut docs: BTreeMap<String, OpexDoc>,
) -> Vec<PlannedAsset> {
    let mut assets = Vec::with_capacity(content.len());
    for (path, bytes) in content {
        let (folder, name) = split_parent(&path);
        let doc = sidecars.get(&path).and_then(|d| docs.remove(d));
        let doc = doc.unwrap_or_default();
        let title = doc
            .title
            .clone()
            .or_else(|| doc.original_filename.clone())
            .unwrap_or_else(|| name.to_string());
        assets.push(PlannedAsset {
            folder: (!folder.is_empty()).then(|| folder.to_string()),
            file_name: name.to_string(),
            security: security_of(Some(&doc)),
            original_name: doc.original_filename,
            fixities: doc
                .fixities
                .into_iter()
                .filter(|f| f.path.is_none())
                .map(|f| (f.algorithm, f.value.to_ascii_lowercase()))
                .collect(),
            source_id: doc.source_id,
            title,
            description: doc.description,
            identifiers: doc.identifiers,
            relationships: doc.relationships,
            fragments: doc.fragments,
            bytes,
        });
    }
    assets
}

type Unpacked = (BTreeMap<String, Vec<u8>>, BTreeSet<String>);

/// Every file entry's bytes by path, and every directory entry (without trailing slash).
fn unpack(zip: &[u8], limits: &ReadLimits) -> Result<Unpacked, OpexError> {
    let mut archive = ZipArchive::new(Cursor::new(zip)).map_err(|source| OpexError::Zip {
        file: "(package)".to_string(),
        source,
    })?;
    if archive.len() > limits.max_entries {
        return Err(OpexError::LimitExceeded(format!(
            "{} zip entries; at most {} are accepted",
            archive.len(),
            limits.max_entries
        )));
    }
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|source| OpexError::Zip {
            file: format!("(zip entry #{i})"),
            source,
        })?;
        let name = entry
            .name()
            .map_err(|source| OpexError::Zip {
                file: format!("(zip entry #{i})"),
                source,
            })?
            .into_owned();
        check_entry_name(&name)?;
        if entry.is_symlink() {
            return Err(OpexError::UnsafePath {
                entry: name,
                reason: "symbolic links are not allowed".to_string(),
            });
        }
        if entry.is_dir() {
            dirs.insert(name.trim_end_matches('/').to_string());
            continue;
        }
        let declared = entry.size();
        total = total.saturating_add(declared);
        if total > limits.max_total_bytes {
            return Err(OpexError::LimitExceeded(format!(
                "unpacks to more than {} bytes (at {name})",
                limits.max_total_bytes
            )));
        }
        // The declared size may lie; reading one byte past it tells.
        let mut bytes = Vec::with_capacity(declared.min(64 << 20) as usize);
        (&mut entry)
            .take(declared + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| OpexError::Io {
                file: name.clone(),
                source,
            })?;
        if bytes.len() as u64 != declared {
            let held = if bytes.len() as u64 > declared {
                format!("more than {declared}")
            } else {
                bytes.len().to_string()
            };
            return Err(OpexError::Invalid {
                file: name,
                problem: format!("zip entry declares {declared} bytes but holds {held}"),
            });
        }
        if files.insert(name.clone(), bytes).is_some() {
            return Err(OpexError::Invalid {
                file: name,
                problem: "appears twice in the zip".to_string(),
            });
        }
    }
    if let Some(clash) = dirs.iter().find(|d| files.contains_key(*d)) {
        return Err(OpexError::Invalid {
            file: clash.clone(),
            problem: "is both a file and a folder".to_string(),
        });
    }
    Ok((files, dirs))
}

/// Refuses entry names that could land outside the extraction directory (zip-slip) or mean
/// different things on different systems.
fn check_entry_name(name: &str) -> Result<(), OpexError> {
    let refuse = |reason: &str| {
        Err(OpexError::UnsafePath {
            entry: name.to_string(),
            reason: reason.to_string(),
        })
    };
    if name.is_empty() {
        return refuse("empty name");
    }
    if name.contains('\\') {
        return refuse("backslashes are not allowed");
    }
    if name.starts_with('/') {
        return refuse("absolute paths are not allowed");
    }
    let b = name.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return refuse("drive letters are not allowed");
    }
    if name.chars().any(char::is_control) {
        return refuse("control characters are not allowed");
    }
    for part in name.strip_suffix('/').unwrap_or(name).split('/') {
        match part {
            "" => return refuse("empty path components are not allowed"),
            ".." => return refuse("`..` components are not allowed"),
            "." => return refuse("`.` components are not allowed"),
            _ => {}
        }
    }
    Ok(())
}

/// The container is the single top-level folder, when it holds its own `<c>.opex`.
fn find_container(files: &BTreeMap<String, Vec<u8>>, dirs: &BTreeSet<String>) -> Option<String> {
    let (top, _) = files.keys().next()?.split_once('/')?;
    let prefix = format!("{top}/");
    let all_inside = files.keys().all(|p| p.starts_with(&prefix))
        && dirs.iter().all(|d| d == top || d.starts_with(&prefix));
    (all_inside && files.contains_key(&format!("{top}/{top}.opex"))).then(|| top.to_string())
}

fn split_parent(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// A path named inside an `.opex` (manifest entry, fixity path), resolved against the
/// document's folder; it must stay inside that folder.
fn relative_target(dir: &str, name: &str, file: &str) -> Result<String, OpexError> {
    let name = name.trim();
    let bad = name.is_empty()
        || name.contains('\\')
        || name.starts_with('/')
        || name.chars().any(char::is_control)
        || name
            .trim_end_matches('/')
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..");
    if bad {
        return Err(OpexError::Invalid {
            file: file.to_string(),
            problem: format!("names {name:?}, which is not a plain relative path"),
        });
    }
    Ok(join(dir, name.trim_end_matches('/')))
}

fn security_of(doc: Option<&OpexDoc>) -> String {
    doc.and_then(|d| d.security.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "open".to_string())
}

fn verify_fixity(
    file: &str,
    algorithm: &str,
    expected: &str,
    bytes: &[u8],
) -> Result<(), OpexError> {
    use sha2::Digest;
    let normalized: String = algorithm
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_uppercase();
    let actual = match normalized.as_str() {
        "MD5" => hex::encode(md5::Md5::digest(bytes)),
        "SHA1" => hex::encode(sha1::Sha1::digest(bytes)),
        "SHA256" => hex::encode(sha2::Sha256::digest(bytes)),
        "SHA512" => hex::encode(sha2::Sha512::digest(bytes)),
        _ => {
            return Err(OpexError::Invalid {
                file: file.to_string(),
                problem: format!(
                    "fixity algorithm {algorithm:?} is not supported (MD5, SHA-1, SHA-256, SHA-512 are)"
                ),
            });
        }
    };
    if actual.eq_ignore_ascii_case(expected.trim()) {
        Ok(())
    } else {
        Err(OpexError::FixityMismatch {
            file: file.to_string(),
            algorithm: algorithm.to_string(),
            expected: expected.trim().to_string(),
            actual,
        })
    }
}

struct Fixity {
    algorithm: String,
    value: String,
    path: Option<String>,
}

/// What one `.opex` says.
#[derive(Default)]
struct OpexDoc {
    source_id: Option<String>,
    original_filename: Option<String>,
    /// Manifest files: (name, type, size).
    files: Vec<(String, Option<String>, Option<u64>)>,
    folders: Vec<String>,
    fixities: Vec<Fixity>,
    title: Option<String>,
    description: Option<String>,
    security: Option<String>,
    identifiers: Vec<(String, String)>,
    relationships: Vec<(String, String)>,
    fragments: Vec<(String, String)>,
}

/// A descriptive metadata element being read.
struct FragmentCapture {
    start: usize,
    depth: usize,
    /// Prefixes the element's subtree uses.
    used: BTreeSet<String>,
    /// Prefixes the element declares itself.
    own: BTreeSet<String>,
}

/// Parses one `.opex` document. OPEX elements are matched by local name in an OPEX
/// namespace or in none (some tools write unprefixed children under a prefixed root).
fn parse_opex(text: &str) -> Result<OpexDoc, String> {
    let mut r = Reader::new(text).map_err(|e| e.to_string())?;
    let mut walk = OpexWalk {
        text: r.source(),
        doc: OpexDoc::default(),
        path: Vec::new(),
        scopes: Vec::new(),
        text_buf: String::new(),
        attrs: Vec::new(),
        relationship: (None, None),
        fragment: None,
        // A few fragments relying on the root's declarations stay far below this.
        inherit_budget: r.source().len() + INHERITED_DECLARATIONS_SLACK,
        seen_root: false,
    };
    loop {
        let before = r.position();
        let (ns, ev) = next_event(&mut r)?;
        if walk.fragment.is_some() {
            walk.in_fragment(&ev, r.position())?;
            continue;
        }
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(ev, Event::Empty(_));
                walk.open(ns.as_deref(), e, empty, (before, r.position()))?;
            }
            Event::End(_) => walk.close()?,
            Event::Text(t) => {
                if walk.path.is_empty() {
                    if !t.trim().is_empty() {
                        return Err("text outside the root element".to_string());
                    }
                } else {
                    walk.text_buf.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if walk.path.is_empty() {
                    return Err("text outside the root element".to_string());
                }
                walk.text_buf.push_str(&t.xml10_content());
            }
            Event::GeneralRef(g) => {
                let c = resolve_reference(&g)?;
                if walk.path.is_empty() {
                    return Err("text outside the root element".to_string());
                }
                walk.text_buf.push(c);
            }
            Event::Eof => break,
            // Comments, declarations, processing instructions.
            _ => {}
        }
    }
    if !walk.path.is_empty() {
        return Err("document ends inside an element".to_string());
    }
    if !walk.seen_root {
        return Err("no root element".to_string());
    }
    Ok(walk.doc)
}

/// A `.opex` document being read.
struct OpexWalk<'t> {
    text: &'t str,
    doc: OpexDoc,
    /// Local names of the open OPEX elements; `None` for foreign ones (ignored).
    path: Vec<Option<String>>,
    /// Namespace declarations of the open elements, for fragments that rely on them.
    scopes: Vec<Vec<(String, String)>>,
    text_buf: String,
    attrs: Vec<(String, String)>,
    relationship: (Option<String>, Option<String>),
    fragment: Option<FragmentCapture>,
    /// Bytes of ancestors' namespace declarations the fragments may still copy (see
    /// `finish_fragment`).
    inherit_budget: usize,
    seen_root: bool,
}

impl OpexWalk<'_> {
    /// An event inside a descriptive metadata element: only the prefixes it uses and where
    /// it ends matter; `end` is the position after the event.
    fn in_fragment(&mut self, ev: &Event<'_>, end: usize) -> Result<(), String> {
        let cap = self.fragment.as_mut().expect("capturing");
        match ev {
            Event::Start(e) => {
                note_used_prefixes(e, &mut cap.used)?;
                cap.depth += 1;
            }
            Event::Empty(e) => note_used_prefixes(e, &mut cap.used)?,
            Event::End(_) => {
                cap.depth -= 1;
                if cap.depth == 0 {
                    let cap = self.fragment.take().expect("capturing");
                    self.push_fragment(&cap, end)?;
                }
            }
            Event::Eof => return Err("document ends inside an element".to_string()),
            _ => {}
        }
        Ok(())
    }

    fn push_fragment(&mut self, cap: &FragmentCapture, end: usize) -> Result<(), String> {
        let fragment =
            finish_fragment(self.text, cap, end, &self.scopes, &mut self.inherit_budget)?;
        self.doc.fragments.push(fragment);
        Ok(())
    }

    /// A start (or empty) tag spanning `span`.
    fn open(
        &mut self,
        ns: Option<&str>,
        e: &BytesStart<'_>,
        empty: bool,
        span: (usize, usize),
    ) -> Result<(), String> {
        let local = e.local_name().as_ref().to_string();
        if self.path.is_empty() {
            self.check_root(ns, &local)?;
        }
        if names(&self.path) == ["OPEXMetadata", "DescriptiveMetadata"] {
            let mut cap = FragmentCapture {
                start: span.0,
                depth: 1,
                used: BTreeSet::new(),
                own: declarations(e)?.into_iter().map(|(p, _)| p).collect(),
            };
            note_used_prefixes(e, &mut cap.used)?;
            if empty {
                self.push_fragment(&cap, span.1)?;
            } else {
                self.fragment = Some(cap);
            }
            return Ok(());
        }
        let is_opex = ns.is_none_or(|n| OPEX_NAMESPACES.contains(&n));
        self.scopes.push(declarations(e)?);
        self.path.push(is_opex.then_some(local));
        self.text_buf.clear();
        self.attrs = super::xml::attributes(e)?;
        on_start(
            &mut self.doc,
            &names(&self.path),
            &self.attrs,
            &mut self.relationship,
        )?;
        if empty {
            on_end(
                &mut self.doc,
                &names(&self.path),
                "",
                &self.attrs,
                &mut self.relationship,
            )?;
            self.path.pop();
            self.scopes.pop();
        }
        Ok(())
    }

    fn check_root(&mut self, ns: Option<&str>, local: &str) -> Result<(), String> {
        if self.seen_root {
            return Err("more than one root element".to_string());
        }
        self.seen_root = true;
        if local != "OPEXMetadata" || !ns.is_some_and(|n| OPEX_NAMESPACES.contains(&n)) {
            return Err(format!(
                "root element is {local} in namespace {}, not OPEXMetadata in {OPEX_NAMESPACE} (or v1.0/v1.1)",
                ns.unwrap_or("(none)")
            ));
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), String> {
        let value = std::mem::take(&mut self.text_buf);
        on_end(
            &mut self.doc,
            &names(&self.path),
            &value,
            &self.attrs,
            &mut self.relationship,
        )?;
        self.path.pop();
        self.scopes.pop();
        Ok(())
    }
}

/// The open elements' local names, with foreign elements as "" so they match nothing.
fn names(path: &[Option<String>]) -> Vec<&str> {
    path.iter().map(|p| p.as_deref().unwrap_or("")).collect()
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn on_start(
    doc: &mut OpexDoc,
    path: &[&str],
    attrs: &[(String, String)],
    relationship: &mut (Option<String>, Option<String>),
) -> Result<(), String> {
    match path {
        // Older examples put Fixities inside Manifest; both are read.
        ["OPEXMetadata", "Transfer", "Fixities", "Fixity"]
        | ["OPEXMetadata", "Transfer", "Manifest", "Fixities", "Fixity"] => {
            let (Some(algorithm), Some(value)) = (attr(attrs, "type"), attr(attrs, "value")) else {
                return Err("Fixity without type and value attributes".to_string());
            };
            doc.fixities.push(Fixity {
                algorithm: algorithm.trim().to_string(),
                value: value.trim().to_string(),
                path: attr(attrs, "path").map(|p| p.trim().to_string()),
            });
        }
        ["OPEXMetadata", "Relationships", "Relationship"] => *relationship = (None, None),
        _ => {}
    }
    Ok(())
}

fn on_end(
    doc: &mut OpexDoc,
    path: &[&str],
    value: &str,
    attrs: &[(String, String)],
    relationship: &mut (Option<String>, Option<String>),
) -> Result<(), String> {
    let trimmed = || value.trim().to_string();
    match path {
        ["OPEXMetadata", "Transfer", "SourceID"] => doc.source_id = Some(trimmed()),
        ["OPEXMetadata", "Transfer", "OriginalFilename"] => {
            doc.original_filename = Some(value.to_string())
        }
        ["OPEXMetadata", "Transfer", "Manifest", "Files", "File"] => {
            let size = match attr(attrs, "size") {
                Some(s) => Some(
                    s.trim()
                        .parse::<u64>()
                        .map_err(|_| format!("File {value:?} has size {s:?}, not a number"))?,
                ),
                None => None,
            };
            doc.files
                .push((trimmed(), attr(attrs, "type").map(str::to_string), size));
        }
        ["OPEXMetadata", "Transfer", "Manifest", "Folders", "Folder"] => {
            doc.folders.push(trimmed())
        }
        ["OPEXMetadata", "Properties", "Title"] => doc.title = Some(value.to_string()),
        ["OPEXMetadata", "Properties", "Description"] => doc.description = Some(value.to_string()),
        ["OPEXMetadata", "Properties", "SecurityDescriptor"] => doc.security = Some(trimmed()),
        ["OPEXMetadata", "Properties", "Identifiers", "Identifier"] => {
            let kind = attr(attrs, "type")
                .ok_or_else(|| format!("Identifier {value:?} has no type attribute"))?;
            doc.identifiers.push((kind.trim().to_string(), trimmed()));
        }
        ["OPEXMetadata", "Relationships", "Relationship", "Type"] => {
            relationship.0 = Some(trimmed())
        }
        ["OPEXMetadata", "Relationships", "Relationship", "Object"] => {
            relationship.1 = Some(trimmed())
        }
        ["OPEXMetadata", "Relationships", "Relationship"] => {
            let (kind, object) = std::mem::take(relationship);
            doc.relationships
                .push((kind.unwrap_or_default(), object.unwrap_or_default()));
        }
        _ => {}
    }
    Ok(())
}

/// Cuts a metadata element out of its `.opex` as a standalone document: its exact source
/// text, plus declarations of the namespaces it uses from its ancestors.
fn finish_fragment(
    text: &str,
    cap: &FragmentCapture,
    end: usize,
    scopes: &[Vec<(String, String)>],
    inherit_budget: &mut usize,
) -> Result<(String, String), String> {
    let span = text
        .get(cap.start..end)
        .ok_or_else(|| "metadata fragment position is not on a character boundary".to_string())?;
    let mut inherited = String::new();
    for prefix in &cap.used {
        if cap.own.contains(prefix) || prefix == "xml" || prefix == "xmlns" {
            continue;
        }
        if let Some(uri) = lookup(scopes, prefix) {
            if prefix.is_empty() {
                inherited.push_str(&format!(" xmlns=\"{}\"", escape_attr(uri)));
            } else {
                inherited.push_str(&format!(" xmlns:{prefix}=\"{}\"", escape_attr(uri)));
            }
        }
    }
    // Every fragment gets its own copy of what it inherits, so many small fragments relying
    // on long declarations made once could otherwise outgrow the document many times over.
    *inherit_budget = inherit_budget.checked_sub(inherited.len()).ok_or_else(|| {
        format!(
            "descriptive metadata fragments inherit more namespace declarations than allowed \
             (the document's size plus {INHERITED_DECLARATIONS_SLACK} bytes); declare the \
             namespaces on the fragments themselves"
        )
    })?;
    let name_end = span
        .char_indices()
        .skip(1)
        .find(|(_, c)| c.is_whitespace() || *c == '/' || *c == '>')
        .map_or(span.len(), |(i, _)| i);
    let standalone = format!("{}{inherited}{}", &span[..name_end], &span[name_end..]);
    let checked = check_fragment(&standalone)
        .map_err(|problem| format!("descriptive metadata fragment {problem}"))?;
    if OPEX_NAMESPACES.contains(&checked.schema.as_str()) {
        return Err("descriptive metadata fragment is in the OPEX namespace".to_string());
    }
    let schema = checked.schema;
    Ok((schema, standalone))
}
