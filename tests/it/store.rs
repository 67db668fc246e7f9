//! The SQLite store: opening, migrating, refusing databases it must not touch, and the schema's
//! own guards (CHECK constraints and foreign keys).

use std::path::Path;

use ferry::store::{Store, StoreCounts, StoreError};
use rusqlite::{Connection, ErrorCode};

const TABLES: [&str; 15] = [
    "runs",
    "assets",
    "snapshots",
    "snapshot_history",
    "baselines",
    "decisions",
    "review_queue",
    "outbox",
    "field_history",
    "transfers",
    "cursors",
    "run_lock",
    "lockout",
    "pair_suggestions",
    "settled_pairs",
];

/// A second connection to a store's file, as another process would see it. Foreign keys are a
/// per-connection setting, so it turns them on as the store does.
fn raw(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "foreign_keys", true).unwrap();
    conn
}

fn user_version(conn: &Connection) -> u32 {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap()
}

fn table_names(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap();
    stmt.query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_new_database_gets_the_latest_schema_and_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    // The parent directory does not exist yet: open creates it.
    let path = dir.path().join("state").join("ferry.db");
    let store = Store::open(&path).unwrap();

    assert_eq!(store.path(), Some(path.as_path()));
    assert!(Store::latest_schema_version() >= 1);
    assert_eq!(
        store.schema_version().unwrap(),
        Store::latest_schema_version()
    );
    assert_eq!(store.counts().unwrap(), StoreCounts::default());

    let names = table_names(&raw(&path));
    for table in TABLES {
        assert!(
            names.iter().any(|n| n == table),
            "table {table} missing: {names:?}"
        );
    }
}

#[test]
fn an_in_memory_store_has_the_same_schema() {
    let store = Store::open_in_memory().unwrap();
    assert_eq!(store.path(), None);
    assert_eq!(
        store.schema_version().unwrap(),
        Store::latest_schema_version()
    );
    assert_eq!(store.counts().unwrap(), StoreCounts::default());
}

#[test]
fn reopening_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    drop(Store::open(&path).unwrap());

    // A row written between the two opens must survive: the migration is not run again.
    raw(&path)
        .execute(
            "INSERT INTO cursors (system, value, updated_at)
             VALUES ('preservica', '2024-05-01T00:00:00Z', '2024-05-01T10:00:00.000Z')",
            [],
        )
        .unwrap();

    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        Store::latest_schema_version()
    );
    let cursors: i64 = raw(&path)
        .query_row("SELECT count(*) FROM cursors", [], |row| row.get(0))
        .unwrap();
    assert_eq!(cursors, 1);
}

#[test]
fn the_database_file_is_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    let _store = Store::open(&path).unwrap();
    // WAL is recorded in the file, so another connection sees it too. (The store's own
    // foreign_keys, busy_timeout and synchronous settings are per connection: the unit tests in
    // src/store check those.)
    let mode: String = raw(&path)
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[cfg(unix)]
#[test]
fn the_store_its_wal_and_shm_files_and_its_directory_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/ferry.db");
    let mut store = Store::open(&path).unwrap();
    // A write, with the store still open, so the WAL and the shared memory exist.
    store
        .begin_run(ferry::store::RunKind::Sync, false, chrono::Utc::now())
        .unwrap();
    assert_eq!(mode(&dir.path().join("state")), 0o700);
    for file in ["ferry.db", "ferry.db-wal", "ferry.db-shm"] {
        let p = dir.path().join("state").join(file);
        assert!(p.exists(), "{file} exists while the store is open");
        assert_eq!(mode(&p), 0o600, "{file}");
    }
    drop(store);
    // A store someone made readable stays as they set it: ferry only warns (`ferry doctor`).
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    Store::open(&path).unwrap();
    assert_eq!(mode(&path), 0o640);
}

#[test]
fn a_database_from_a_newer_ferry_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    let newer = Store::latest_schema_version() + 6;
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE from_the_future (x INTEGER)")
            .unwrap();
        conn.pragma_update(None, "user_version", newer).unwrap();
    }
    let before = std::fs::read(&path).unwrap();

    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::TooNew { found, supported, .. }
            if found == newer && supported == Store::latest_schema_version()),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{} was written by a newer ferry (schema version {newer}; this ferry knows up to {}). \
             Upgrade ferry, or point paths.store at another file.",
            path.display(),
            Store::latest_schema_version()
        )
    );

    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file was modified"
    );
    let wal = dir.path().join("ferry.db-wal");
    assert!(!wal.exists(), "a WAL file was created");
    assert_eq!(user_version(&Connection::open(&path).unwrap()), newer);
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();

    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::NotADatabase { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "the message does not name the file: {message}"
    );
    assert!(message.contains("not a SQLite database"), "{message}");
    assert!(message.contains("paths.store"), "{message}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        garbage,
        "the file was modified"
    );
}

#[test]
fn an_unusable_directory_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the database's directory should be.
    let blocker = dir.path().join("state");
    std::fs::write(&blocker, b"").unwrap();
    let err = Store::open(&blocker.join("ferry.db")).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&blocker.display().to_string()),
        "{err}"
    );
}

#[test]
fn an_asset_needs_at_least_one_system_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    let _store = Store::open(&path).unwrap();
    let conn = raw(&path);

    let err = conn
        .execute(
            "INSERT INTO assets (photoshelter_id, preservica_ref, created_at)
             VALUES (NULL, NULL, '2024-05-01T10:00:00.000Z')",
            [],
        )
        .unwrap_err();
    assert_eq!(
        err.sqlite_error_code(),
        Some(ErrorCode::ConstraintViolation),
        "{err}"
    );

    conn.execute(
        "INSERT INTO assets (photoshelter_id, created_at)
         VALUES ('I0000abc', '2024-05-01T10:00:00.000Z')",
        [],
    )
    .unwrap();
    // The same PhotoShelter id cannot belong to two assets.
    let err = conn
        .execute(
            "INSERT INTO assets (photoshelter_id, created_at)
             VALUES ('I0000abc', '2024-05-01T10:00:00.000Z')",
            [],
        )
        .unwrap_err();
    assert_eq!(
        err.sqlite_error_code(),
        Some(ErrorCode::ConstraintViolation),
        "{err}"
    );
}

#[test]
fn a_snapshot_needs_a_known_asset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    let _store = Store::open(&path).unwrap();
    let conn = raw(&path);
    conn.execute(
        "INSERT INTO runs (id, kind, started_at, dry_run, status)
         VALUES (1, 'sync', '2024-05-01T10:00:00.000Z', 0, 'running')",
        [],
    )
    .unwrap();

    let insert_snapshot = |asset_id: i64| {
        conn.execute(
            "INSERT INTO snapshots (asset_id, system, fields_json, run_id, captured_at)
             VALUES (?1, 'photoshelter', '{\"title\":\"Regatta\"}', 1, '2024-05-01T10:00:01.000Z')",
            [asset_id],
        )
    };
    let err = insert_snapshot(99).unwrap_err();
    assert_eq!(
        err.sqlite_error_code(),
        Some(ErrorCode::ConstraintViolation),
        "{err}"
    );

    conn.execute(
        "INSERT INTO assets (id, photoshelter_id, created_at)
         VALUES (99, 'I0000abc', '2024-05-01T10:00:00.000Z')",
        [],
    )
    .unwrap();
    insert_snapshot(99).unwrap();
    let store = Store::open(&path).unwrap();
    let counts = store.counts().unwrap();
    assert_eq!((counts.runs, counts.assets, counts.snapshots), (1, 1, 1));
}

#[test]
fn one_asset_and_field_has_at_most_one_open_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    let store = Store::open(&path).unwrap();
    let conn = raw(&path);
    conn.execute_batch(
        "INSERT INTO runs (id, kind, started_at, dry_run, status)
             VALUES (1, 'sync', '2024-05-01T10:00:00.000Z', 0, 'running');
         INSERT INTO assets (id, photoshelter_id, preservica_ref, paired_by, paired_at, created_at)
             VALUES (1, 'I0001', 'ref-1', 'transfer', '2024-05-01T10:00:00.000Z',
                     '2024-05-01T10:00:00.000Z');
         INSERT INTO decisions (id, run_id, asset_id, field, photoshelter_value, preservica_value,
                                has_baseline, baseline_value, outcome, rule, reason, created_at)
             VALUES (1, 1, 1, 'title', '\"A\"', '\"B\"', 1, '\"C\"', 'queued_for_review', 'manual',
                     'both changed; title is decided by a person', '2024-05-01T10:00:00.000Z');
         INSERT INTO review_queue (decision_id, asset_id, field, status, created_at)
             VALUES (1, 1, 'title', 'open', '2024-05-01T10:00:00.000Z');",
    )
    .unwrap();
    let second = conn.execute(
        "INSERT INTO review_queue (decision_id, asset_id, field, status, created_at)
         VALUES (1, 1, 'title', 'open', '2024-05-02T10:00:00.000Z')",
        [],
    );
    assert!(second.is_err(), "a second open conflict was accepted");

    let counts = store.counts().unwrap();
    assert_eq!(counts.open_conflicts, 1);
    assert_eq!(counts.paired_assets, 1);
    assert_eq!(counts.decisions, 1);
}

#[test]
fn counts_have_stable_labels() {
    let labels: Vec<&str> = StoreCounts::default()
        .rows()
        .into_iter()
        .map(|(label, _)| label)
        .collect();
    assert_eq!(
        labels,
        [
            "runs",
            "assets",
            "paired assets",
            "snapshots",
            "baselines",
            "decisions",
            "pending writes",
            "field history entries",
            "transfers",
            "open conflicts",
            "open pair suggestions",
        ]
    );
}

#[test]
fn a_snapshot_read_again_unchanged_keeps_its_row_and_a_change_keeps_the_old_one_in_history() {
    use chrono::{TimeZone, Utc};
    use ferry::model::System;
    use ferry::store::Snapshot;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    let mut store = Store::open(&path).unwrap();
    let t = |h| Utc.with_ymd_and_hms(2026, 5, 1, h, 0, 0).unwrap();
    let ids = store
        .ensure_assets(System::PhotoShelter, &["I0000abc".to_string()], t(9))
        .unwrap();
    let asset = ids["I0000abc"];
    let snapshot = |caption: &str| Snapshot {
        fields: [("caption".to_string(), caption.to_string())].into(),
        modified_at: Some(t(8)),
        ..Snapshot::default()
    };
    let row = |conn: &Connection| -> (i64, String, String) {
        conn.query_row(
            "SELECT run_id, captured_at, fields_json FROM snapshots WHERE asset_id = ?1",
            [asset],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    };
    let history = |conn: &Connection| -> Vec<String> {
        let mut st = conn
            .prepare("SELECT fields_json FROM snapshot_history WHERE asset_id = ?1 ORDER BY id")
            .unwrap();
        st.query_map([asset], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let first = store
        .begin_run(ferry::store::RunKind::Sync, false, t(10))
        .unwrap();
    store
        .put_snapshots(
            first,
            System::PhotoShelter,
            &[(asset, snapshot("Regatta"))],
            t(10),
        )
        .unwrap();
    let second = store
        .begin_run(ferry::store::RunKind::Sync, false, t(11))
        .unwrap();
    store
        .put_snapshots(
            second,
            System::PhotoShelter,
            &[(asset, snapshot("Regatta"))],
            t(11),
        )
        .unwrap();
    let conn = raw(&path);
    assert_eq!(
        row(&conn),
        (
            first,
            "2026-05-01T10:00:00.000Z".into(),
            r#"{"caption":"Regatta"}"#.into()
        )
    );
    assert!(history(&conn).is_empty());

    let third = store
        .begin_run(ferry::store::RunKind::Sync, false, t(12))
        .unwrap();
    store
        .put_snapshots(
            third,
            System::PhotoShelter,
            &[(asset, snapshot("Regatta, 1962"))],
            t(12),
        )
        .unwrap();
    assert_eq!(
        row(&conn),
        (
            third,
            "2026-05-01T12:00:00.000Z".into(),
            r#"{"caption":"Regatta, 1962"}"#.into()
        )
    );
    assert_eq!(history(&conn), [r#"{"caption":"Regatta"}"#]);
}
