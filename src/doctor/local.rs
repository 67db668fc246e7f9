//! Checks of ferry's own files on this machine, which need no tenant: whether the store can
//! be read by other users. The store holds every caption, rights record and pending write of
//! both systems; ferry creates it 0600, but a store made by an older ferry, copied, or
//! restored from a backup may not be.

use super::Status;
use std::path::{Path, PathBuf};

/// One line of the doctor's table about this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCheck {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
}

/// The store file and the WAL and SHM files SQLite keeps beside it.
fn store_files(store: &Path) -> Vec<PathBuf> {
    let mut files = vec![store.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut name = store.as_os_str().to_owned();
        name.push(suffix);
        files.push(PathBuf::from(name));
    }
    files
}

/// Whether the store at `store` (and its WAL and SHM files) is private to its owner.
pub fn check_store(store: &Path) -> LocalCheck {
    let name = "store mode";
    if !store.exists() {
        return LocalCheck {
            name,
            status: Status::Skipped,
            detail: format!(
                "{} does not exist yet; ferry creates it readable by its owner only",
                store.display()
            ),
        };
    }
    let mut open = Vec::new();
    for file in store_files(store).iter().filter(|f| f.exists()) {
        match crate::private_fs::readable_by_others(file) {
            Ok(Some(who)) => open.push(format!("{} ({who})", file.display())),
            Ok(None) => {}
            Err(e) => {
                return LocalCheck {
                    name,
                    status: Status::Warn,
                    detail: format!("cannot read the mode of {}: {e}", file.display()),
                };
            }
        }
    }
    if open.is_empty() {
        LocalCheck {
            name,
            status: Status::Ok,
            detail: format!("{} is readable by its owner only", store.display()),
        }
    } else {
        LocalCheck {
            name,
            status: Status::Warn,
            detail: format!(
                "others can read {}: the store holds both systems' metadata and pending writes; run chmod 600 on it",
                open.join(", ")
            ),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_store_others_can_read_is_a_warning_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("ferry.db");
        assert_eq!(check_store(&store).status, Status::Skipped);
        crate::private_fs::create_file_if_missing(&store).unwrap();
        assert_eq!(check_store(&store).status, Status::Ok);
        let wal = tmp.path().join("ferry.db-wal");
        std::fs::write(&wal, "").unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o640)).unwrap();
        let c = check_store(&store);
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.detail.contains("ferry.db-wal (its group)"),
            "{}",
            c.detail
        );
        assert!(!c.detail.contains("ferry.db ("), "{}", c.detail);
    }
}
