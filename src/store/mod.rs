//! ferry's SQLite database. This is the only module that writes SQL; everything else asks
//! [`Store`] for what it needs, so a schema change touches one module and its migrations.
//!
//! One file per table or concern, each holding that table's SQL: `runs.rs`, `assets.rs`
//! (assets, pairing, pair suggestions), `aliases.rs` (asset ids retired by pairing), `snapshots.rs` (snapshots and baselines), `outbox.rs`,
//! `review.rs` (decisions and the review queue), `history.rs`, `transfers.rs`, `settled.rs`,
//! `cursors.rs`, `lock.rs` (run lock and lockout), `totals.rs` (counts across tables). The
//! words the schema stores in TEXT columns are enums in `states.rs`.
//!
//! The schema lives in `migrations/NNNN_name.sql`, embedded in the binary and applied when the
//! store is opened (see `migrate.rs`). `migrations/0001_init.sql` states the conventions every
//! table follows, notably the one fixed timestamp shape.
//!
//! A [`Store`] owns one connection and is not shared between threads: each task that needs the
//! database opens its own (WAL lets readers and one writer work side by side).

/// Builds the struct `$ty` from a row, one column per field in the order the fields are named:
/// the query selects its columns in that same order. Fields that are not a column as it is
/// (parsed JSON, say) follow `with`.
macro_rules! from_columns {
    ($row:expr, $ty:ident { $($field:ident),+ $(,)? } $(with { $($extra:ident: $value:expr),+ $(,)? })?) => {{
        let row: &rusqlite::Row<'_> = $row;
        let mut column = 0usize..;
        $ty {
            $($field: row.get(column.next().expect("an endless range"))?,)+
            $($($extra: $value,)+)?
        }
    }};
}

mod aliases;
mod assets;
mod cursors;
mod error;
mod history;
mod live;
mod lock;
mod migrate;
mod outbox;
mod review;
mod runs;
mod settled;
mod snapshots;
#[macro_use]
mod states;
mod totals;
pub mod transfers;

pub use assets::{AssetDetail, AssetRow};
pub use error::StoreError;
pub use history::HistoryEntry;
pub use live::{LiveEvent, LiveHour};
pub use lock::{LockHolder, Lockout};
pub use outbox::{AssetWrite, OutboxEntry};
pub use review::{DecidedConflict, Decider, DecisionRow, FieldDecision, Resolution, ReviewItem};
pub use runs::{Run, RunEnding};
pub use settled::{SettledFilter, StoredPair};
pub use snapshots::{BaselineRow, Snapshot, SnapshotDetail};
pub use states::{FieldOutcome, OutboxState, RunKind, RunStatus, UnknownName};
pub use totals::{RunTotals, StoreCounts};

pub type AssetId = i64;
pub type RunId = i64;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

/// How long a statement waits for another ferry process's write lock before failing. Long
/// enough to ride out a sync committing a batch, short enough that a stuck lock is reported.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The name used in messages for a database that has no file.
const IN_MEMORY: &str = ":memory:";

/// The one owner of ferry's SQLite connection.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    /// `None` for an in-memory store.
    path: Option<PathBuf>,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    ///
    /// A database written by a newer ferry is refused with [`StoreError::TooNew`] before
    /// anything is written to it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            crate::private_fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        // The store holds both systems' metadata: created 0600 before SQLite opens it, so its
        // WAL and SHM files (which SQLite gives the database's mode) are private too.
        if path.as_os_str() != IN_MEMORY {
            crate::private_fs::create_file_if_missing(path).map_err(|source| StoreError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let open_failed = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        // Without SQLITE_OPEN_URI (which rusqlite sets by default), so that a configured path
        // starting with "file:" names a file rather than being parsed as options.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(open_failed)?;
        Store::set_up(conn, Some(path.to_path_buf()))
    }

    /// An empty database in memory with the full schema, for tests.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: PathBuf::from(IN_MEMORY),
            source,
        })?;
        Store::set_up(conn, None)
    }

    /// The order matters: only settings private to this connection come before the version
    /// check, so that a database from a newer ferry (or a file that is not a database at all)
    /// is refused with nothing written to it. Switching to WAL already writes the file header.
    fn set_up(mut conn: Connection, path: Option<PathBuf>) -> Result<Store, StoreError> {
        let label = path.clone().unwrap_or_else(|| PathBuf::from(IN_MEMORY));
        let open_failed = |source| StoreError::Open {
            path: label.clone(),
            source,
        };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_failed)?;
        // The first read of the file: this is where SQLite notices it is not a database.
        let found = migrate::user_version(&conn).map_err(|source| {
            if source.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) {
                StoreError::NotADatabase {
                    path: label.clone(),
                    source,
                }
            } else {
                open_failed(source)
            }
        })?;
        if found > migrate::LATEST {
            return Err(StoreError::TooNew {
                path: label,
                found,
                supported: migrate::LATEST,
            });
        }

        // WAL: the web UI and `ferry status` can read while a sync writes. An in-memory database
        // reports "memory" and stays so; a file system without shared memory (some network
        // mounts) keeps the rollback journal, which is slower but still correct.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))
            .map_err(open_failed)?;
        if path.is_some() && !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(
                path = %label.display(),
                journal_mode = %mode,
                "SQLite could not switch this database to WAL; readers will wait for writers"
            );
        }
        // NORMAL is durable in WAL mode except for the last commits before a power cut, which
        // the outbox redoes; FULL would fsync every commit of a million-row pull.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_failed)?;

        migrate::apply_pending(&mut conn, &label)?;
        // SQLite leaves foreign keys off unless each connection asks; the schema relies on them.
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(open_failed)?;

        Ok(Store { conn, path })
    }

    /// The schema version of the open database (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        migrate::user_version(&self.conn).map_err(|e| self.sql_error(e))
    }

    /// The schema version this build of ferry creates and understands.
    pub fn latest_schema_version() -> u32 {
        migrate::LATEST
    }

    /// The database file, or `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The one row `sql` returns for `params`, made by `row`.
    fn query_one<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        row: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut st| st.query_row(params, row))
            .map_err(|e| self.sql_error(e))
    }

    /// The row `sql` returns for `params`, made by `row`, or `None` when there is none.
    fn query_opt<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        row: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, StoreError> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut st| st.query_row(params, row).optional())
            .map_err(|e| self.sql_error(e))
    }

    /// The number a `SELECT count(*) ...` returns.
    fn count<P: rusqlite::Params>(&self, sql: &str, params: P) -> Result<u64, StoreError> {
        self.query_one(sql, params, |r| r.get::<_, i64>(0).map(totals::nonneg))
    }

    /// Runs one statement; how many rows it changed.
    fn execute<P: rusqlite::Params>(&self, sql: &str, params: P) -> Result<usize, StoreError> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut st| st.execute(params))
            .map_err(|e| self.sql_error(e))
    }

    /// A write transaction that takes SQLite's write lock at once, so two writers never both
    /// read and then fail to upgrade.
    fn tx(&mut self) -> Result<rusqlite::Transaction<'_>, StoreError> {
        let e = self.sql_errors();
        self.conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)
    }

    /// A private in-memory copy of the whole database: a dry run works on it, so it runs the
    /// very code of a real run and still leaves no trace in the real store.
    pub fn copy_in_memory(&self) -> Result<Store, StoreError> {
        let mut copy = Store::open_in_memory()?;
        {
            let backup = rusqlite::backup::Backup::new(&self.conn, &mut copy.conn)
                .map_err(|e| self.sql_error(e))?;
            backup
                .run_to_completion(1024, std::time::Duration::ZERO, None)
                .map_err(|e| self.sql_error(e))?;
        }
        copy.conn
            .pragma_update(None, "foreign_keys", true)
            .map_err(|e| self.sql_error(e))?;
        Ok(copy)
    }

    /// Runs `PRAGMA integrity_check`; `Ok(())` when the database is sound.
    pub fn integrity_check(&self) -> Result<Result<(), String>, StoreError> {
        let r: String = self.query_one("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok(if r == "ok" { Ok(()) } else { Err(r) })
    }

    /// Every row `sql` returns for `params`, each made by `row`, collected (into a `Vec`, a
    /// map, …): the one shape of a many-row read, its errors naming this database.
    fn query_rows<T, C: FromIterator<T>, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<C, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| self.sql_error(e))?;
        st.query_map(params, row)
            .and_then(|rows| rows.collect())
            .map_err(|e| self.sql_error(e))
    }

    /// Wraps a SQLite error with this database's path, so the message names the file.
    fn sql_error(&self, source: rusqlite::Error) -> StoreError {
        self.sql_errors()(source)
    }

    /// [`Self::sql_error`] as a function that does not borrow the store: for the errors of a
    /// transaction, which holds the connection.
    fn sql_errors(&self) -> impl Fn(rusqlite::Error) -> StoreError + use<> {
        let path = self
            .path
            .clone()
            .unwrap_or_else(|| PathBuf::from(IN_MEMORY));
        move |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        }
    }
}

/// The one timestamp shape the schema accepts.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A stored timestamp (or `None` for none, or one that does not parse).
fn parse_ts(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// How many ids go into one `IN (...)` list: well under SQLite's limit on bound parameters.
const IDS_PER_STATEMENT: usize = 500;

/// `n` placeholders for an `IN (...)` list: `?,?,?`.
fn in_list(n: usize) -> String {
    vec!["?"; n].join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pragma_i64(store: &Store, name: &str) -> i64 {
        store
            .conn
            .pragma_query_value(None, name, |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn the_connection_is_set_up_as_ferry_needs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("ferry.db")).unwrap();
        assert_eq!(pragma_i64(&store, "foreign_keys"), 1);
        assert_eq!(pragma_i64(&store, "busy_timeout"), 5000);
        // 1 = NORMAL
        assert_eq!(pragma_i64(&store, "synchronous"), 1);
        let mode: String = store
            .conn
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn the_store_connection_enforces_foreign_keys() {
        let store = Store::open_in_memory().unwrap();
        assert_eq!(pragma_i64(&store, "foreign_keys"), 1);
        let err = store
            .conn
            .execute(
                "INSERT INTO baselines (asset_id, field, value, run_id, updated_at)
                 VALUES (42, 'title', NULL, 7, '2024-05-01T10:00:00.000Z')",
                [],
            )
            .unwrap_err();
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ConstraintViolation),
            "{err}"
        );
    }

    #[test]
    fn timestamps_must_have_the_one_fixed_shape() {
        let store = Store::open_in_memory().unwrap();
        let insert = |at: &str| {
            store.conn.execute(
                "INSERT INTO runs (kind, started_at, dry_run, status) VALUES ('sync', ?1, 0, 'running')",
                [at],
            )
        };
        insert("2024-05-01T10:00:00.000Z").unwrap();
        for bad in [
            "2024-05-01T10:00:00Z",
            "2024-05-01 10:00:00.000",
            "2024-05-01T10:00:00.000+02:00",
            "2024-02-30T10:00:00.000Z",
            "yesterday",
        ] {
            assert!(insert(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn counts_count_only_what_their_label_says() {
        let store = Store::open_in_memory().unwrap();
        store
            .conn
            .execute_batch(
                "INSERT INTO runs (id, kind, started_at, dry_run, status)
                     VALUES (1, 'sync', '2024-05-01T10:00:00.000Z', 0, 'running');
                 INSERT INTO assets (id, photoshelter_id, created_at)
                     VALUES (1, 'I0001', '2024-05-01T10:00:00.000Z');
                 INSERT INTO assets (id, photoshelter_id, preservica_ref, paired_by, paired_at, created_at)
                     VALUES (2, 'I0002', 'ref-2', 'identifier', '2024-05-01T10:00:00.000Z',
                             '2024-05-01T10:00:00.000Z');
                 INSERT INTO outbox (run_id, asset_id, system, field, new_value, state, created_at, updated_at)
                     VALUES (1, 2, 'preservica', 'title', '\"A\"', 'planned',
                             '2024-05-01T10:00:00.000Z', '2024-05-01T10:00:00.000Z'),
                            (1, 2, 'preservica', 'caption', '\"B\"', 'done',
                             '2024-05-01T10:00:00.000Z', '2024-05-01T10:00:00.000Z');
                 INSERT INTO pair_suggestions (photoshelter_id, preservica_ref, reason, status, created_at, decided_at)
                     VALUES ('I0001', 'ref-9', 'same file name and date', 'rejected',
                             '2024-05-01T10:00:00.000Z', '2024-05-02T10:00:00.000Z');",
            )
            .unwrap();
        let counts = store.counts().unwrap();
        assert_eq!(
            counts,
            StoreCounts {
                runs: 1,
                assets: 2,
                paired_assets: 1,
                outbox_pending: 1,
                ..StoreCounts::default()
            }
        );
        assert_eq!(counts.rows().len(), 11);
        assert_eq!(counts.rows()[2], ("paired assets", 1));
    }
}
