//! Writing OPEX packages.

use super::xml::{check_fragment, escape_attr, escape_text, unwritable};
use super::{
    COVERS_IDENTIFIER_TYPE, MAX_NAME_BYTES, OPEX_NAMESPACE, OpexError, sanitize_file_name,
    unique_name,
};
use md5::Md5;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// Content is copied through a buffer of this size, so memory does not grow with files.
const COPY_BUFFER_BYTES: usize = 256 * 1024;

/// Below this, an entry fits the classic zip format; a file of unknown size might not, so
/// it gets ZIP64 fields from the start.
const ZIP64_THRESHOLD: u64 = 0xFFFF_0000;

/// Extensions of formats that are already compressed: deflating them again costs CPU and
/// saves nothing.
const COMPRESSED_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "jpe", "jfif", "png", "gif", "webp", "heic", "heif", "avif", "jp2", "jpx",
    "jxl", "mp4", "m4v", "mov", "avi", "mkv", "webm", "mp3", "m4a", "aac", "ogg", "oga", "opus",
    "flac", "zip", "gz", "tgz", "bz2", "xz", "zst", "7z", "rar", "pdf", "docx", "xlsx", "pptx",
    "odt", "ods", "odp", "epub",
];

/// A folder of the package being built; [`PackageBuilder::container_folder`] is the
/// container itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FolderId(usize);

/// A folder to create in Preservica (one per PhotoShelter gallery).
#[derive(Debug, Clone, Default)]
pub struct FolderSpec {
    /// The folder it goes in; `None` = directly in the container.
    pub parent: Option<FolderId>,
    /// Wanted folder name; sanitised and made unique among its siblings.
    pub name: String,
    pub source_id: Option<String>,
    /// Empty = the folder name.
    pub title: String,
    pub description: Option<String>,
    /// Preservica security tag; empty = `open`.
    pub security: String,
    /// (type, value) pairs.
    pub identifiers: Vec<(String, String)>,
    /// Standalone metadata fragment documents (oai_dc, ferry rights, …).
    pub fragments: Vec<String>,
}

/// An asset to create in Preservica: one content file and its description.
#[derive(Debug, Clone, Default)]
pub struct AssetSpec {
    /// The file name in the source system; sanitised and made unique within the folder.
    pub original_name: String,
    pub source_id: Option<String>,
    /// Empty = the original name.
    pub title: String,
    pub description: Option<String>,
    /// Preservica security tag; empty = `open`.
    pub security: String,
    /// (type, value) pairs, e.g. `("photoshelter", media id)`.
    pub identifiers: Vec<(String, String)>,
    /// Media ids of the assets this one (a contract, a release) covers; written as
    /// identifiers of type [`COVERS_IDENTIFIER_TYPE`].
    pub covers: Vec<String>,
    /// Standalone metadata fragment documents.
    pub fragments: Vec<String>,
    /// The size the content should have; a different size is an error (a truncated
    /// download must not be archived). Also lets small files skip ZIP64 fields.
    pub expected_size: Option<u64>,
}

/// Where one content file went, so the caller can store `original → packaged`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagedFile {
    pub original_name: String,
    /// Path of the zip entry, starting with the container name.
    pub packaged_path: String,
    /// The file's name inside its folder (the last part of `packaged_path`).
    pub packaged_name: String,
    pub folder: FolderId,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
    /// Lower-case hex.
    pub md5: String,
    pub source_id: Option<String>,
}

/// Where one folder went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagedFolder {
    pub id: FolderId,
    /// The name asked for in [`FolderSpec::name`].
    pub requested_name: String,
    /// Path of the folder in the zip (no trailing slash), starting with the container.
    pub packaged_path: String,
    pub source_id: Option<String>,
}

/// What a finished package holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSummary {
    pub container: String,
    pub folders: Vec<PackagedFolder>,
    pub files: Vec<PackagedFile>,
    /// Sum of the content files' sizes.
    pub total_bytes: u64,
    /// Size of the zip written.
    pub package_bytes: u64,
}

struct FolderState {
    requested_name: String,
    /// Path in the zip, no trailing slash.
    path: String,
    /// The folder's own name (last part of `path`).
    name: String,
    /// Lower-cased names used in this folder: two names differing only in case would
    /// collide on case-insensitive file systems.
    taken: HashSet<String>,
    /// Manifest entries: (name, "content" | "metadata", size).
    files: Vec<(String, &'static str, u64)>,
    subfolders: Vec<String>,
    source_id: Option<String>,
    /// Rendered `Properties` and `DescriptiveMetadata` elements.
    described: String,
}

/// Writes one OPEX package into `W` (a file in practice; `&mut File` works too).
pub struct PackageBuilder<W: Write + Seek> {
    zip: ZipWriter<W>,
    container: String,
    folders: Vec<FolderState>,
    files: Vec<PackagedFile>,
    total_bytes: u64,
    modified: zip::DateTime,
    poisoned: bool,
}

impl<W: Write + Seek> PackageBuilder<W> {
    /// Starts a package whose container folder is `container` (a uuid or another plain
    /// name: it becomes the zip's top folder and names the ingest's process monitor).
    pub fn new(out: W, container: &str) -> Result<Self, OpexError> {
        if container.is_empty()
            || sanitize_file_name(container) != container
            || container.to_ascii_lowercase().ends_with(".opex")
        {
            return Err(OpexError::InvalidRequest(format!(
                "container name {container:?} is not a plain file name"
            )));
        }
        let now = chrono::Utc::now().naive_utc();
        use chrono::{Datelike, Timelike};
        let modified = zip::DateTime::from_date_and_time(
            u16::try_from(now.year()).unwrap_or(1980),
            now.month() as u8,
            now.day() as u8,
            now.hour() as u8,
            now.minute() as u8,
            now.second() as u8,
        )
        .unwrap_or_default();
        let mut builder = PackageBuilder {
            zip: ZipWriter::new(out),
            container: container.to_string(),
            folders: Vec::new(),
            files: Vec::new(),
            total_bytes: 0,
            modified,
            poisoned: false,
        };
        builder.folders.push(FolderState {
            requested_name: container.to_string(),
            path: container.to_string(),
            name: container.to_string(),
            taken: [format!("{container}.opex").to_lowercase()].into(),
            files: Vec::new(),
            subfolders: Vec::new(),
            source_id: None,
            described: String::new(),
        });
        builder.add_directory(container)?;
        Ok(builder)
    }

    /// The container: assets added here land directly in the folder chosen at upload.
    pub fn container_folder(&self) -> FolderId {
        FolderId(0)
    }

    /// The container name.
    pub fn container(&self) -> &str {
        &self.container
    }

    /// Path of a folder in the zip (no trailing slash).
    pub fn folder_path(&self, id: FolderId) -> Option<&str> {
        self.folders.get(id.0).map(|f| f.path.as_str())
    }

    /// Adds a folder. Its `.opex` is written by [`finish`](Self::finish), once its contents
    /// are known.
    pub fn add_folder(&mut self, spec: FolderSpec) -> Result<FolderId, OpexError> {
        self.check_usable()?;
        let parent = spec.parent.unwrap_or(FolderId(0));
        if parent.0 >= self.folders.len() {
            return Err(OpexError::InvalidRequest(format!(
                "folder {:?}: parent folder {parent:?} is not part of this package",
                spec.name
            )));
        }
        let entity = format!("folder {:?}", spec.name);
        let default_title = replace_unwritable(&spec.name);
        let described = describe(
            &entity,
            if spec.title.is_empty() {
                &default_title
            } else {
                &spec.title
            },
            spec.description.as_deref(),
            &spec.security,
            &spec.identifiers,
            &spec.fragments,
        )?;
        check_optional(&entity, "SourceID", spec.source_id.as_deref())?;

        let sanitized = sanitize_file_name(&spec.name);
        let sanitized = avoid_special_suffix(&sanitized, ".pax", "_pax");
        let sanitized = avoid_special_suffix(&sanitized, ".opex", "_opex");
        let siblings = &self.folders[parent.0].taken;
        // `<name>.opex` is reserved beside the folder too: a reader would take such a file
        // for the folder's description.
        let name = unique_name(&sanitized, |n| {
            let lower = n.to_lowercase();
            siblings.contains(&lower) || siblings.contains(&format!("{lower}.opex"))
        });
        let lower = name.to_lowercase();
        let parent_state = &mut self.folders[parent.0];
        parent_state.taken.insert(lower.clone());
        parent_state.taken.insert(format!("{lower}.opex"));
        parent_state.subfolders.push(name.clone());
        let path = format!("{}/{name}", parent_state.path);

        self.add_directory(&path)?;
        self.folders.push(FolderState {
            requested_name: spec.name,
            path,
            name: name.clone(),
            taken: [format!("{lower}.opex")].into(),
            files: Vec::new(),
            subfolders: Vec::new(),
            source_id: spec.source_id,
            described,
        });
        Ok(FolderId(self.folders.len() - 1))
    }

    /// Streams `content` into the package as a new asset in `folder`, followed by its
    /// `.opex` (SourceID, SHA-256 fixity, original name, properties, fragments).
    ///
    /// A failure reading `content` removes the partial entry; the package can go on.
    pub fn add_asset(
        &mut self,
        folder: FolderId,
        spec: AssetSpec,
        content: &mut dyn Read,
    ) -> Result<PackagedFile, OpexError> {
        self.check_usable()?;
        if folder.0 >= self.folders.len() {
            return Err(OpexError::InvalidRequest(format!(
                "asset {:?}: folder {folder:?} is not part of this package",
                spec.original_name
            )));
        }
        let entity = match &spec.source_id {
            Some(id) => format!("asset {:?} (source id {id:?})", spec.original_name),
            None => format!("asset {:?}", spec.original_name),
        };
        // Validate everything before any byte is written, so a bad title never leaves a
        // half-described asset behind.
        check_optional(&entity, "SourceID", spec.source_id.as_deref())?;
        let original_for_xml = replace_unwritable(&spec.original_name);
        let title = if spec.title.is_empty() {
            original_for_xml.as_str()
        } else {
            spec.title.as_str()
        };
        let mut identifiers = spec.identifiers.clone();
        identifiers.extend(
            spec.covers
                .iter()
                .map(|c| (COVERS_IDENTIFIER_TYPE.to_string(), c.clone())),
        );
        let described = describe(
            &entity,
            title,
            spec.description.as_deref(),
            &spec.security,
            &identifiers,
            &spec.fragments,
        )?;

        let name = {
            let sanitized = sanitize_file_name(&spec.original_name);
            // Names Preservica would take for metadata or a zipped PAX are renamed.
            let sanitized = avoid_special_suffix(&sanitized, ".opex", "_opex");
            let sanitized = avoid_special_suffix(&sanitized, ".pax.zip", "_pax.zip");
            let taken = &self.folders[folder.0].taken;
            unique_name(&sanitized, |n| {
                let lower = n.to_lowercase();
                taken.contains(&lower) || taken.contains(&format!("{lower}.opex"))
            })
        };
        debug_assert!(name.len() <= MAX_NAME_BYTES);
        let path = format!("{}/{name}", self.folders[folder.0].path);

        let (size, sha256, md5) = self.stream_content(&path, &name, &spec, content)?;

        let mut xml = opex_header();
        xml.push_str("  <opex:Transfer>\n");
        if let Some(id) = &spec.source_id {
            leaf(&mut xml, 4, "SourceID", id);
        }
        xml.push_str(&format!(
            "    <opex:Fixities>\n      <opex:Fixity type=\"SHA-256\" value=\"{sha256}\"/>\n    </opex:Fixities>\n"
        ));
        leaf(&mut xml, 4, "OriginalFilename", &original_for_xml);
        xml.push_str("  </opex:Transfer>\n");
        xml.push_str(&described);
        xml.push_str("</opex:OPEXMetadata>\n");
        let sidecar = format!("{path}.opex");
        self.write_small(&sidecar, xml.as_bytes())?;

        let lower = name.to_lowercase();
        let state = &mut self.folders[folder.0];
        state.taken.insert(lower.clone());
        state.taken.insert(format!("{lower}.opex"));
        state.files.push((name.clone(), "content", size));
        state
            .files
            .push((format!("{name}.opex"), "metadata", xml.len() as u64));
        self.total_bytes += size;
        let packaged = PackagedFile {
            original_name: spec.original_name,
            packaged_path: path,
            packaged_name: name,
            folder,
            size,
            sha256,
            md5,
            source_id: spec.source_id,
        };
        self.files.push(packaged.clone());
        Ok(packaged)
    }

    /// Writes every folder's `.opex`, then the container's (last: Preservica is believed to
    /// start the ingest when it appears), and closes the zip.
    pub fn finish(mut self) -> Result<PackageSummary, OpexError> {
        self.check_usable()?;
        for i in 1..self.folders.len() {
            let f = &self.folders[i];
            let mut xml = opex_header();
            xml.push_str("  <opex:Transfer>\n");
            if let Some(id) = &f.source_id {
                leaf(&mut xml, 4, "SourceID", id);
            }
            manifest(&mut xml, f);
            xml.push_str("  </opex:Transfer>\n");
            xml.push_str(&f.described);
            xml.push_str("</opex:OPEXMetadata>\n");
            let entry = format!("{}/{}.opex", f.path, f.name);
            self.write_small(&entry, xml.as_bytes())?;
        }
        let root = &self.folders[0];
        let mut xml = opex_header();
        xml.push_str("  <opex:Transfer>\n");
        manifest(&mut xml, root);
        xml.push_str("  </opex:Transfer>\n</opex:OPEXMetadata>\n");
        let entry = format!("{}/{}.opex", self.container, self.container);
        self.write_small(&entry, xml.as_bytes())?;

        let folders = self
            .folders
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, f)| PackagedFolder {
                id: FolderId(i),
                requested_name: f.requested_name.clone(),
                packaged_path: f.path.clone(),
                source_id: f.source_id.clone(),
            })
            .collect();
        let zip_err = |source| OpexError::Zip {
            file: "(central directory)".to_string(),
            source,
        };
        let mut out = self.zip.finish().map_err(zip_err)?;
        let package_bytes = out.seek(SeekFrom::End(0)).map_err(|source| OpexError::Io {
            file: "(package)".to_string(),
            source,
        })?;
        Ok(PackageSummary {
            container: self.container,
            folders,
            files: self.files,
            total_bytes: self.total_bytes,
            package_bytes,
        })
    }

    fn check_usable(&self) -> Result<(), OpexError> {
        if self.poisoned {
            Err(OpexError::Poisoned)
        } else {
            Ok(())
        }
    }

    fn options(&self) -> SimpleFileOptions {
        SimpleFileOptions::default().last_modified_time(self.modified)
    }

    fn add_directory(&mut self, path: &str) -> Result<(), OpexError> {
        let options = self.options();
        let result = self.zip.add_directory(format!("{path}/"), options);
        self.zip_result(path, result)
    }

    /// Writes a small, deflated metadata entry.
    fn write_small(&mut self, path: &str, bytes: &[u8]) -> Result<(), OpexError> {
        let options = self
            .options()
            .compression_method(CompressionMethod::Deflated);
        let started = self.zip.start_file(path, options);
        self.zip_result(path, started)?;
        if let Err(source) = self.zip.write_all(bytes) {
            self.poisoned = true;
            return Err(OpexError::Io {
                file: path.to_string(),
                source,
            });
        }
        Ok(())
    }

    /// A failed zip operation leaves the archive in an unknown state: nothing more may be
    /// written to it.
    fn zip_result(
        &mut self,
        path: &str,
        result: zip::result::ZipResult<()>,
    ) -> Result<(), OpexError> {
        result.map_err(|source| {
            self.poisoned = true;
            OpexError::Zip {
                file: path.to_string(),
                source,
            }
        })
    }

    /// Copies `content` into a new entry at `path`, returning (size, sha256, md5).
    fn stream_content(
        &mut self,
        path: &str,
        name: &str,
        spec: &AssetSpec,
        content: &mut dyn Read,
    ) -> Result<(u64, String, String), OpexError> {
        let method = if is_compressed_format(name) {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        };
        let large = spec.expected_size.is_none_or(|s| s >= ZIP64_THRESHOLD);
        let options = self.options().compression_method(method).large_file(large);
        let started = self.zip.start_file(path, options);
        self.zip_result(path, started)?;

        let mut sha256 = Sha256::new();
        let mut md5 = Md5::new();
        let mut size: u64 = 0;
        let mut buf = vec![0u8; COPY_BUFFER_BYTES];
        let failure = loop {
            let n = match content.read(&mut buf) {
                Ok(0) => break None,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(source) => {
                    break Some(OpexError::Io {
                        file: format!("{path} (reading the content of {:?})", spec.original_name),
                        source,
                    });
                }
            };
            let chunk = &buf[..n];
            sha256.update(chunk);
            md5.update(chunk);
            size += n as u64;
            if let Some(expected) = spec.expected_size
                && size > expected
            {
                break Some(OpexError::SizeMismatch {
                    file: path.to_string(),
                    expected,
                    actual: size,
                });
            }
            if let Err(source) = self.zip.write_all(chunk) {
                // The sink failed, not the source: the zip cannot be trusted any more.
                self.poisoned = true;
                return Err(OpexError::Io {
                    file: path.to_string(),
                    source,
                });
            }
        };
        let failure = failure.or_else(|| match spec.expected_size {
            Some(expected) if expected != size => Some(OpexError::SizeMismatch {
                file: path.to_string(),
                expected,
                actual: size,
            }),
            _ => None,
        });
        if let Some(err) = failure {
            let aborted = self.zip.abort_file();
            self.zip_result(path, aborted)?;
            return Err(err);
        }
        Ok((
            size,
            hex::encode(sha256.finalize()),
            hex::encode(md5.finalize()),
        ))
    }
}

fn is_compressed_format(name: &str) -> bool {
    name.rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .is_some_and(|ext| COMPRESSED_EXTENSIONS.contains(&ext.as_str()))
}

/// Renames a name ending in `suffix` (any case), which Preservica would treat specially.
fn avoid_special_suffix(name: &str, suffix: &str, replacement: &str) -> String {
    let lower = name.to_lowercase();
    if lower.len() == name.len() && lower.ends_with(suffix) {
        format!("{}{replacement}", &name[..name.len() - suffix.len()])
    } else if lower.ends_with(suffix) {
        // Lower-casing changed byte lengths; fall back to appending.
        format!("{name}{replacement}")
    } else {
        name.to_string()
    }
}

/// A name for the `OriginalFilename` element: names come from another system and may
/// hold characters XML cannot; the exact original stays in [`PackagedFile`].
fn replace_unwritable(name: &str) -> String {
    name.chars()
        .map(|c| {
            if super::xml::is_xml_char(c) {
                c
            } else {
                '\u{FFFD}'
            }
        })
        .collect()
}

fn check_value(entity: &str, field: &str, value: &str) -> Result<(), OpexError> {
    match unwritable(value) {
        Some(problem) => Err(OpexError::InvalidValue {
            entity: entity.to_string(),
            field: field.to_string(),
            problem,
        }),
        None => Ok(()),
    }
}

fn check_optional(entity: &str, field: &str, value: Option<&str>) -> Result<(), OpexError> {
    value.map_or(Ok(()), |v| check_value(entity, field, v))
}

fn opex_header() -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opex:OPEXMetadata xmlns:opex=\"{OPEX_NAMESPACE}\">\n"
    )
}

fn leaf(out: &mut String, indent: usize, name: &str, text: &str) {
    out.push_str(&format!(
        "{:indent$}<opex:{name}>{}</opex:{name}>\n",
        "",
        escape_text(text)
    ));
}

fn manifest(out: &mut String, folder: &FolderState) {
    if folder.files.is_empty() && folder.subfolders.is_empty() {
        return;
    }
    out.push_str("    <opex:Manifest>\n");
    if !folder.files.is_empty() {
        out.push_str("      <opex:Files>\n");
        for (name, kind, size) in &folder.files {
            out.push_str(&format!(
                "        <opex:File type=\"{kind}\" size=\"{size}\">{}</opex:File>\n",
                escape_text(name)
            ));
        }
        out.push_str("      </opex:Files>\n");
    }
    if !folder.subfolders.is_empty() {
        out.push_str("      <opex:Folders>\n");
        for name in &folder.subfolders {
            leaf(out, 8, "Folder", name);
        }
        out.push_str("      </opex:Folders>\n");
    }
    out.push_str("    </opex:Manifest>\n");
}

/// Renders `Properties` and `DescriptiveMetadata`, checking every value on the way.
fn describe(
    entity: &str,
    title: &str,
    description: Option<&str>,
    security: &str,
    identifiers: &[(String, String)],
    fragments: &[String],
) -> Result<String, OpexError> {
    check_value(entity, "Title", title)?;
    check_optional(entity, "Description", description)?;
    check_value(entity, "SecurityDescriptor", security)?;
    let security = if security.trim().is_empty() {
        "open"
    } else {
        security.trim()
    };
    let mut out = String::from("  <opex:Properties>\n");
    leaf(&mut out, 4, "Title", title);
    if let Some(d) = description {
        leaf(&mut out, 4, "Description", d);
    }
    leaf(&mut out, 4, "SecurityDescriptor", security);
    if !identifiers.is_empty() {
        out.push_str("    <opex:Identifiers>\n");
        for (kind, value) in identifiers {
            let field = format!("Identifier type {kind:?}");
            check_value(entity, &field, kind)?;
            check_value(entity, &field, value)?;
            if kind.trim().is_empty() || value.trim().is_empty() {
                return Err(OpexError::InvalidValue {
                    entity: entity.to_string(),
                    field,
                    problem: "has an empty type or value".to_string(),
                });
            }
            out.push_str(&format!(
                "      <opex:Identifier type=\"{}\">{}</opex:Identifier>\n",
                escape_attr(kind),
                escape_text(value)
            ));
        }
        out.push_str("    </opex:Identifiers>\n");
    }
    out.push_str("  </opex:Properties>\n");
    if !fragments.is_empty() {
        out.push_str("  <opex:DescriptiveMetadata>\n");
        for (i, fragment) in fragments.iter().enumerate() {
            let checked =
                check_fragment(fragment).map_err(|problem| OpexError::InvalidFragment {
                    entity: entity.to_string(),
                    index: i + 1,
                    problem,
                })?;
            if checked.schema == OPEX_NAMESPACE {
                return Err(OpexError::InvalidFragment {
                    entity: entity.to_string(),
                    index: i + 1,
                    problem: "is in the OPEX namespace itself".to_string(),
                });
            }
            out.push_str("    ");
            out.push_str(checked.element);
            out.push('\n');
        }
        out.push_str("  </opex:DescriptiveMetadata>\n");
    }
    Ok(out)
}
