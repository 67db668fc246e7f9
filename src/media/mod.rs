//! The thumbnail cache: small (200 px) and medium (800 px) JPEG renditions of each asset's
//! picture, kept as files in one directory beside the store (`<store dir>/thumbs/`).
//!
//! Invariants:
//! - A file is named `<asset id>-<identity>-<size>.jpg`: an asset id (a number), 16 hex
//!   digits of the file's identity (see [`FileIdentity`]) and the size's name. Nothing a
//!   system sends reaches a path, so a hostile file name cannot leave the directory; and a
//!   changed file has a new identity, so its old thumbnails are never served for it.
//! - Every file in place is complete: written to a `.tmp` name and renamed.
//! - After every write the directory's `.jpg` files total at most `max_bytes`: the least
//!   recently used go first (a read touches the file's modification time).
//! - `<asset>-<identity>.none` (empty) records that neither system offers a picture of that
//!   file: the placeholder is served without asking again until the file changes.
//!
//! Making renditions is [`render`]'s; finding the picture in either system is [`fill`]'s.

pub mod fill;
pub mod render;

use crate::store::AssetId;
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// Default bound of the cache, in MiB (`[thumbnails] max_mib`).
pub const DEFAULT_MAX_MIB: u64 = 512;

/// The renditions kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThumbSize {
    /// About 200 px: beside search hits.
    Small,
    /// About 800 px: on the asset page.
    Medium,
}

impl ThumbSize {
    pub const ALL: [ThumbSize; 2] = [ThumbSize::Small, ThumbSize::Medium];

    /// Longest side in pixels.
    pub fn longest(self) -> u32 {
        match self {
            ThumbSize::Small => 200,
            ThumbSize::Medium => 800,
        }
    }

    /// The name in URLs and file names.
    pub fn name(self) -> &'static str {
        match self {
            ThumbSize::Small => "small",
            ThumbSize::Medium => "medium",
        }
    }

    pub fn parse(s: &str) -> Option<ThumbSize> {
        ThumbSize::ALL.into_iter().find(|t| t.name() == s)
    }
}

/// Which file of an asset a thumbnail shows: a digest of what ferry last read about the
/// asset's file in each system (checksum, else name, size and modification time).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileIdentity(String);

impl FileIdentity {
    /// From the parts that identify the file, in a fixed order.
    pub fn of(parts: &[&str]) -> FileIdentity {
        let mut h = sha2::Sha256::new();
        for p in parts {
            h.update(p.as_bytes());
            h.update([0u8]);
        }
        FileIdentity(hex::encode(h.finalize())[..16].to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The cache directory and its bound.
#[derive(Debug)]
pub struct ThumbCache {
    dir: PathBuf,
    max_bytes: u64,
    /// Serialises eviction (two writers must not both count and delete).
    evicting: Mutex<()>,
}

impl ThumbCache {
    /// Opens (creating) the cache in `dir`; temporary files a crash left are removed.
    pub fn open(dir: &Path, max_bytes: u64) -> std::io::Result<ThumbCache> {
        std::fs::create_dir_all(dir)?;
        for entry in std::fs::read_dir(dir)?.flatten() {
            if entry.path().extension().is_some_and(|e| e == "tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(ThumbCache {
            dir: dir.to_path_buf(),
            max_bytes,
            evicting: Mutex::new(()),
        })
    }

    /// The cache of a store: `thumbs/` beside the store file.
    pub fn beside_store(store_file: &Path, max_bytes: u64) -> std::io::Result<ThumbCache> {
        let parent = store_file.parent().unwrap_or(Path::new("."));
        ThumbCache::open(&parent.join("thumbs"), max_bytes)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, asset: AssetId, file: &FileIdentity, size: ThumbSize) -> PathBuf {
        self.dir
            .join(format!("{asset}-{}-{}.jpg", file.as_str(), size.name()))
    }

    fn none_path(&self, asset: AssetId, file: &FileIdentity) -> PathBuf {
        self.dir.join(format!("{asset}-{}.none", file.as_str()))
    }

    /// The cached rendition, touched as just used.
    pub fn get(&self, asset: AssetId, file: &FileIdentity, size: ThumbSize) -> Option<Vec<u8>> {
        let path = self.path(asset, file, size);
        let bytes = std::fs::read(&path).ok()?;
        if let Ok(f) = std::fs::File::options().append(true).open(&path) {
            let _ = f.set_modified(SystemTime::now());
        }
        Some(bytes)
    }

    /// Whether both renditions of this file are cached (or it is known to have no picture).
    pub fn has(&self, asset: AssetId, file: &FileIdentity) -> bool {
        self.knows_no_picture(asset, file)
            || ThumbSize::ALL
                .iter()
                .all(|s| self.path(asset, file, *s).exists())
    }

    /// Stores a rendition atomically, then evicts down to the bound.
    pub fn put(
        &self,
        asset: AssetId,
        file: &FileIdentity,
        size: ThumbSize,
        bytes: &[u8],
    ) -> std::io::Result<()> {
        let path = self.path(asset, file, size);
        write_atomically(&path, bytes)?;
        self.evict()
    }

    /// Records that neither system offers a picture of this file.
    pub fn put_no_picture(&self, asset: AssetId, file: &FileIdentity) -> std::io::Result<()> {
        write_atomically(&self.none_path(asset, file), b"")
    }

    pub fn knows_no_picture(&self, asset: AssetId, file: &FileIdentity) -> bool {
        self.none_path(asset, file).exists()
    }

    /// Total size of the cached renditions.
    pub fn total_bytes(&self) -> u64 {
        self.renditions().iter().map(|(_, len, _)| len).sum()
    }

    fn renditions(&self) -> Vec<(PathBuf, u64, SystemTime)> {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        dir.flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "jpg"))
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                Some((e.path(), m.len(), m.modified().ok()?))
            })
            .collect()
    }

    /// Removes the least recently used renditions until the total fits the bound.
    fn evict(&self) -> std::io::Result<()> {
        let _one = self.evicting.lock().unwrap_or_else(|e| e.into_inner());
        let mut files = self.renditions();
        let mut total: u64 = files.iter().map(|(_, len, _)| len).sum();
        if total <= self.max_bytes {
            return Ok(());
        }
        files.sort_by_key(|(_, _, used)| *used);
        for (path, len, _) in files {
            if total <= self.max_bytes {
                break;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => total -= len,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => total -= len,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Writes `bytes` to a unique temporary name beside `path` and renames it into place, so a
/// reader sees the old file, no file, or the whole new one.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests;
