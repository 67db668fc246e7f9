//! ferry's SQLite database: runs, assets and their pairings, snapshots, baselines, decisions, the
//! outbox, field history, transfers, cursors and the run lock. This is the only module that
//! writes SQL; everything else asks [`Store`] for what it needs, so a schema change touches one
//! module and its migrations.
//!
//! The schema lives in `migrations/NNNN_name.sql`, embedded in the binary and applied when the
//! store is opened (see `migrate.rs`). `migrations/0001_init.sql` states the conventions every
//! table follows, notably the one fixed timestamp shape.
//!
//! A [`Store`] owns one connection and is not shared between threads: each task that needs the
//! database opens its own (WAL lets readers and one writer work side by side).

mod error;
mod migrate;
mod operator;
mod run_lock;
pub mod sync;
pub mod transfers;
mod views;
pub mod web;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use error::StoreError;

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

    /// How many rows of each kind the database holds, for `ferry status`.
    pub fn counts(&self) -> Result<StoreCounts, StoreError> {
        // One statement, so every number comes from the same moment even while a sync writes.
        const SQL: &str = "SELECT
            (SELECT count(*) FROM runs),
            (SELECT count(*) FROM assets),
            (SELECT count(*) FROM assets WHERE paired_by IS NOT NULL),
            (SELECT count(*) FROM snapshots),
            (SELECT count(*) FROM baselines),
            (SELECT count(*) FROM decisions),
            (SELECT count(*) FROM outbox WHERE state IN ('planned', 'written', 'verified')),
            (SELECT count(*) FROM field_history),
            (SELECT count(*) FROM transfers),
            (SELECT count(*) FROM review_queue WHERE status = 'open'),
            (SELECT count(*) FROM pair_suggestions WHERE status = 'open')";
        self.conn
            .query_row(SQL, [], |row| {
                // count(*) is never negative; rusqlite reads SQLite integers as i64.
                let n = |i| {
                    row.get::<_, i64>(i)
                        .map(|v| u64::try_from(v).unwrap_or_default())
                };
                Ok(StoreCounts {
                    runs: n(0)?,
                    assets: n(1)?,
                    paired_assets: n(2)?,
                    snapshots: n(3)?,
                    baselines: n(4)?,
                    decisions: n(5)?,
                    outbox_pending: n(6)?,
                    field_history: n(7)?,
                    transfers: n(8)?,
                    open_conflicts: n(9)?,
                    pair_suggestions: n(10)?,
                })
            })
            .map_err(|e| self.sql_error(e))
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

/// Row counts of the main tables, as `ferry status` shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreCounts {
    pub runs: u64,
    pub assets: u64,
    /// Assets known to both systems.
    pub paired_assets: u64,
    pub snapshots: u64,
    pub baselines: u64,
    pub decisions: u64,
    /// Writes planned but not yet finished (planned, written or verified).
    pub outbox_pending: u64,
    pub field_history: u64,
    pub transfers: u64,
    /// Review-queue items waiting for a person.
    pub open_conflicts: u64,
    /// Pair suggestions waiting for a person (accepted and rejected ones are not counted).
    pub pair_suggestions: u64,
}

impl StoreCounts {
    /// Each count with a label for people, in a fixed order.
    pub fn rows(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("runs", self.runs),
            ("assets", self.assets),
            ("paired assets", self.paired_assets),
            ("snapshots", self.snapshots),
            ("baselines", self.baselines),
            ("decisions", self.decisions),
            ("pending writes", self.outbox_pending),
            ("field history entries", self.field_history),
            ("transfers", self.transfers),
            ("open conflicts", self.open_conflicts),
            ("open pair suggestions", self.pair_suggestions),
        ]
    }
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
