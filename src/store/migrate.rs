//! Schema migrations: the numbered files in `migrations/`, compiled into the binary so that an
//! installed ferry never depends on files beside it. `PRAGMA user_version` is the schema version:
//! it is the one number SQLite keeps in the file header, so it cannot drift from the schema the
//! way a version table could when someone restores half a backup.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// Every migration, in order: (schema version it leads to, file name, SQL). A unit test checks
/// this list against the `migrations/` directory, so a new file cannot be forgotten here.
pub(super) const MIGRATIONS: [(u32, &str, &str); 5] = [
    (
        1,
        "0001_init.sql",
        include_str!("../../migrations/0001_init.sql"),
    ),
    (
        2,
        "0002_settled_pairs.sql",
        include_str!("../../migrations/0002_settled_pairs.sql"),
    ),
    (
        3,
        "0003_decided_by.sql",
        include_str!("../../migrations/0003_decided_by.sql"),
    ),
    (
        4,
        "0004_asset_aliases.sql",
        include_str!("../../migrations/0004_asset_aliases.sql"),
    ),
    (
        5,
        "0005_live_runs.sql",
        include_str!("../../migrations/0005_live_runs.sql"),
    ),
];

/// The schema version the newest migration leads to.
pub(super) const LATEST: u32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

pub(super) fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Applies every migration newer than the database, each in its own transaction together with
/// the `user_version` bump, so a failure leaves the previous version intact.
pub(super) fn apply_pending(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let sqlite = |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    // Checked without a transaction first: a database that is up to date (the common case) must
    // not wait for the write lock that a running sync may hold for a while.
    if user_version(conn).map_err(sqlite)? >= LATEST {
        return Ok(());
    }
    // Foreign keys are off while migrating: a later migration that rebuilds a table (SQLite's
    // way to change a column) would otherwise trip them halfway. `foreign_key_check` below
    // stands in for them before each commit. The pragma has no effect inside a transaction,
    // hence here.
    conn.pragma_update(None, "foreign_keys", false)
        .map_err(sqlite)?;
    for (version, name, sql) in MIGRATIONS {
        let failed = |source| StoreError::Migration {
            path: path.to_path_buf(),
            version,
            name,
            source,
        };
        // IMMEDIATE takes the write lock up front, and the version is read again under it: two
        // ferry processes opening an old database at once then migrate it once, not twice.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite)?;
        let current = user_version(&tx).map_err(sqlite)?;
        if current > LATEST {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found: current,
                supported: LATEST,
            });
        }
        if current >= version {
            continue;
        }
        tx.execute_batch(sql).map_err(failed)?;
        if has_foreign_key_violations(&tx).map_err(failed)? {
            return Err(failed(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                Some("the migrated data breaks a foreign key".to_owned()),
            )));
        }
        tx.pragma_update(None, "user_version", version)
            .map_err(failed)?;
        tx.commit().map_err(failed)?;
        // An in-memory store (a dry run's scratch copy, tests) is migrated on every open:
        // worth a debug line, not news for the operator.
        if path.as_os_str() == super::IN_MEMORY {
            tracing::debug!(version, name, "applied schema migration in memory");
        } else {
            tracing::info!(path = %path.display(), version, name, "applied schema migration");
        }
    }
    Ok(())
}

fn has_foreign_key_violations(conn: &Connection) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
    let mut rows = stmt.query([])?;
    Ok(rows.next()?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `NNNN_name.sql` with a lower-case snake_case name; returns the number.
    fn parse_file_name(name: &str) -> Option<u32> {
        let stem = name.strip_suffix(".sql")?;
        let (number, rest) = stem.split_once('_')?;
        let well_formed = number.len() == 4
            && number.bytes().all(|b| b.is_ascii_digit())
            && !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if well_formed {
            number.parse().ok()
        } else {
            None
        }
    }

    #[test]
    fn every_migration_file_is_embedded_in_order() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut on_disk: Vec<(String, String)> = std::fs::read_dir(&dir)
            .expect("read migrations/")
            .map(|entry| {
                let entry = entry.expect("read migrations/ entry");
                let name = entry.file_name().into_string().expect("UTF-8 file name");
                let sql = std::fs::read_to_string(entry.path()).expect("read migration");
                (name, sql)
            })
            .collect();
        on_disk.sort();

        for (name, _) in &on_disk {
            assert!(
                parse_file_name(name).is_some(),
                "migrations/{name} is not named NNNN_name.sql"
            );
        }
        let embedded: Vec<&str> = MIGRATIONS.iter().map(|(_, name, _)| *name).collect();
        let files: Vec<&str> = on_disk.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            embedded, files,
            "MIGRATIONS in src/store/migrate.rs must list exactly the files in migrations/"
        );
        for (index, ((version, name, sql), (_, file_sql))) in
            MIGRATIONS.iter().zip(&on_disk).enumerate()
        {
            let expected = u32::try_from(index).unwrap() + 1;
            assert_eq!(*version, expected, "{name}: versions must run 1..n");
            assert_eq!(
                parse_file_name(name),
                Some(expected),
                "{name}: number != version"
            );
            assert_eq!(sql, file_sql, "{name}: embedded SQL differs from the file");
        }
        assert_eq!(LATEST, u32::try_from(MIGRATIONS.len()).unwrap());
    }

    #[test]
    fn file_name_rule() {
        assert_eq!(parse_file_name("0001_init.sql"), Some(1));
        assert_eq!(parse_file_name("0012_add_index_2.sql"), Some(12));
        assert_eq!(parse_file_name("1_init.sql"), None);
        assert_eq!(parse_file_name("0001_.sql"), None);
        assert_eq!(parse_file_name("0001_Init.sql"), None);
        assert_eq!(parse_file_name("0001_init.txt"), None);
        assert_eq!(parse_file_name("README.md"), None);
    }

    #[test]
    fn migrations_apply_to_an_empty_database_and_leave_foreign_keys_intact() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply_pending(&mut conn, Path::new(":memory:")).unwrap();
        assert_eq!(user_version(&conn).unwrap(), LATEST);
        assert!(!has_foreign_key_violations(&conn).unwrap());
        // Applying again is a no-op.
        apply_pending(&mut conn, Path::new(":memory:")).unwrap();
        assert_eq!(user_version(&conn).unwrap(), LATEST);
    }

    #[test]
    fn a_failing_migration_leaves_the_previous_version() {
        // Simulate a half-migrated database: a table the first migration creates already exists,
        // so it fails partway; nothing it did may remain.
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE cursors (x INTEGER)")
            .unwrap();
        let err = apply_pending(&mut conn, Path::new("/x/ferry.db")).unwrap_err();
        assert!(
            matches!(err, StoreError::Migration { version: 1, .. }),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains("0001_init.sql"), "{message}");
        assert!(message.contains("/x/ferry.db"), "{message}");
        assert!(message.contains("still at schema version 0"), "{message}");
        assert_eq!(user_version(&conn).unwrap(), 0);
        let runs_exists: bool = conn
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_schema WHERE name = 'runs'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert!(!runs_exists, "the failed migration's tables were kept");
    }
}
