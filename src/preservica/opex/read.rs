//! Reading received OPEX packages into an ingest plan (for ferry's Preservica emulator).

use super::OpexError;
use super::doc::{Fixity, OpexDoc, parse_opex};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read};
use zip::ZipArchive;

/// Most zip entries a package may have.
pub const MAX_ENTRIES: usize = 100_000;
/// Most bytes a package may unpack to.
pub const MAX_TOTAL_UNCOMPRESSED: u64 = 4 << 30;
/// Largest `.opex` document accepted: they describe, they do not carry content.
pub const MAX_OPEX_BYTES: u64 = 16 << 20;

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
