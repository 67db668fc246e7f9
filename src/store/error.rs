//! What can go wrong with ferry's database. Every message names the file, because an operator
//! reading a log at 3 a.m. needs to know which database, and says what to do where there is
//! something to do.

use std::path::PathBuf;

use rusqlite::ErrorCode;

/// An error from the store. `path` is the database file (`:memory:` for an in-memory store).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory that should hold the database could not be created.
    #[error(
        "cannot create {}, the directory for the ferry database: {source}. Create it by hand, or \
         point paths.store at a writable place.",
        .path.display()
    )]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// SQLite could not open the file, or could not set the connection up.
    #[error("cannot open the ferry database {}: {source}.{}", .path.display(), hint(.source, OPEN_HINT))]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },

    /// The file exists but is not a SQLite database.
    #[error(
        "{} is not a SQLite database ({source}). Point paths.store at a ferry database, or at a \
         path where ferry may create a new one.",
        .path.display()
    )]
    NotADatabase {
        path: PathBuf,
        source: rusqlite::Error,
    },

    /// The database has a schema from a newer ferry. It is left untouched: an older ferry that
    /// wrote to it could lose what the newer one stores.
    #[error(
        "{} was written by a newer ferry (schema version {found}; this ferry knows up to \
         {supported}). Upgrade ferry, or point paths.store at another file.",
        .path.display()
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    /// A migration failed. It ran in one transaction, so the database is still at the previous
    /// schema version.
    #[error(
        "schema migration {name} (version {version}) failed on {}: {source}. The migration was \
         rolled back and the database is still at schema version {}.{}",
        .path.display(),
        .version - 1,
        hint(.source, " This is a ferry bug: please report it with this message.")
    )]
    Migration {
        path: PathBuf,
        version: u32,
        name: &'static str,
        source: rusqlite::Error,
    },

    /// Any other SQLite failure while reading or writing the database.
    #[error("ferry database {}: {source}.{}", .path.display(), hint(.source, ""))]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

const OPEN_HINT: &str =
    " Check that paths.store names a ferry database file that ferry may read and write.";

/// What an operator can do about a SQLite failure, when its code says; `otherwise` when not.
fn hint(e: &rusqlite::Error, otherwise: &'static str) -> &'static str {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            " Another process (probably another ferry) is holding the database; try again when \
             it has finished."
        }
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied | ErrorCode::CannotOpen) => {
            " ferry needs to read and write the file and its directory; check the path and the \
             permissions."
        }
        Some(ErrorCode::DiskFull) => " The disk is full; free some space and try again.",
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            " The file is damaged: restore it from a backup, or point paths.store at another \
             file."
        }
        _ => otherwise,
    }
}
