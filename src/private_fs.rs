//! Files and directories that are ferry's own — the store with its WAL and SHM files, the
//! search index, transfer staging, the demo's secrets — are created private to the user ferry
//! runs as: directories 0700, files 0600. They hold every caption, rights record and pending
//! write of both systems, and the secrets. Reports are the exception: people share them, so
//! they are written with the umask like any other file.
//!
//! Only what ferry creates is given these modes; a directory or file that already exists is
//! left as its owner set it (`ferry doctor` warns about a store others can read).

use std::io;
use std::path::Path;

/// Mode of a directory ferry creates for its own files.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// Mode of a file ferry creates for itself.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// Creates `dir` and any missing parents, each new one 0700.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(PRIVATE_DIR_MODE);
    }
    builder.create(dir)
}

/// [`create_dir_all`] for async code (the transfers' staging).
pub async fn create_dir_all_async(dir: &Path) -> io::Result<()> {
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(PRIVATE_DIR_MODE);
    builder.create(dir).await
}

/// Creates `path` empty with mode 0600 unless it exists; an existing file is not touched.
/// SQLite gives the WAL and SHM files of a database the database file's mode, so creating
/// the store's file this way before SQLite opens it keeps all three private.
pub fn create_file_if_missing(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(PRIVATE_FILE_MODE);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes `text` to a new or existing file that only its owner can read or write.
pub fn write_private(path: &Path, text: &str) -> io::Result<()> {
    create_file_if_missing(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(PRIVATE_FILE_MODE))?;
    }
    std::fs::write(path, text)
}

/// Who besides the owner can read `path` (`None`: only its owner, or not a unix system).
pub fn readable_by_others(path: &Path) -> io::Result<Option<&'static str>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        Ok(if mode & 0o004 != 0 {
            Some("every user of this machine")
        } else if mode & 0o040 != 0 {
            Some("its group")
        } else {
            None
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(None)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_directories_and_files_are_private_and_existing_ones_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let nested = tmp.path().join("a/b");
        create_dir_all(&nested).unwrap();
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        assert_eq!(mode(&nested), 0o700);
        let file = nested.join("f");
        create_file_if_missing(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(readable_by_others(&file).unwrap(), None);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(&file, "kept").unwrap();
        create_file_if_missing(&file).unwrap();
        assert_eq!(mode(&file), 0o644, "an existing file keeps its mode");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "kept");
        assert_eq!(
            readable_by_others(&file).unwrap(),
            Some("every user of this machine")
        );
        write_private(&file, "secret").unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "secret");
    }
}
