-- ferry schema, version 1.
--
-- Conventions, so that later migrations and queries can rely on them:
--
-- * Every table is STRICT: a value of the wrong type is an error, not a silent conversion.
-- * Timestamps (`*_at`, `since`) are UTC text in one fixed shape, `YYYY-MM-DDTHH:MM:SS.sssZ`
--   (chrono: `to_rfc3339_opts(SecondsFormat::Millis, true)`). The CHECKs hold them to it because
--   queries compare them as text (`expires_at < ?`), which is only time order if every value has
--   the same shape. (`IS`, not `=`: strftime gives NULL for text that is not a time, and a CHECK
--   that yields NULL passes.) ferry takes "now" from its clock, never from SQLite, so no column
--   defaults to the current time.
-- * A field value is the canonical serialised value from the model; NULL means "absent" (the
--   system holds no value), never "unknown".
-- * `system` is 'photoshelter' or 'preservica' wherever it appears.
-- * Rows are not deleted to tidy up: history is how ferry shows that no value was lost. Foreign
--   keys therefore have no ON DELETE CASCADE; deleting a referenced row is an error.
--
-- The migration runner wraps this file in a transaction with the user_version bump; do not add
-- BEGIN/COMMIT or PRAGMA statements here.

-- One row per command run (nightly sync, archive, republish), including runs refused by the lock
-- or the lockout, so the report and /healthz can say why nothing happened.
CREATE TABLE runs (
    id           INTEGER PRIMARY KEY,
    kind         TEXT    NOT NULL CHECK (kind IN ('sync', 'archive', 'republish')),
    started_at   TEXT    NOT NULL CHECK (started_at IS strftime('%Y-%m-%dT%H:%M:%fZ', started_at)),
    finished_at  TEXT             CHECK (finished_at IS strftime('%Y-%m-%dT%H:%M:%fZ', finished_at)),
    dry_run      INTEGER NOT NULL CHECK (dry_run IN (0, 1)),
    -- 'interrupted': found still 'running' by a later run whose owner had died.
    status       TEXT    NOT NULL CHECK (status IN ('running', 'done', 'failed', 'locked_out', 'interrupted')),
    -- The process exit code the run ended with (0 done, 1 skipped, 2 failures, 3 fatal/locked).
    exit_code    INTEGER          CHECK (exit_code BETWEEN 0 AND 3),
    summary_json TEXT             CHECK (summary_json IS NULL OR json_valid(summary_json)),
    report_path  TEXT,
    error        TEXT,
    -- A run is finished exactly when it is no longer running.
    CHECK ((status = 'running') = (finished_at IS NULL))
) STRICT;

CREATE INDEX runs_by_kind_started ON runs (kind, started_at);

-- One row per asset known to ferry, in either system or both. Both ids set = a pair.
CREATE TABLE assets (
    id              INTEGER PRIMARY KEY,
    photoshelter_id TEXT UNIQUE CHECK (photoshelter_id <> ''),
    preservica_ref  TEXT UNIQUE CHECK (preservica_ref <> ''),
    -- How the pair was made; DESIGN "Pairing" ranks these. File name + date only ever makes a
    -- pair_suggestions row, and a person accepting it makes a 'manual' pair.
    paired_by       TEXT CHECK (paired_by IN ('identifier', 'checksum', 'transfer', 'manual')),
    paired_at       TEXT CHECK (paired_at IS strftime('%Y-%m-%dT%H:%M:%fZ', paired_at)),
    created_at      TEXT NOT NULL CHECK (created_at IS strftime('%Y-%m-%dT%H:%M:%fZ', created_at)),
    CHECK (photoshelter_id IS NOT NULL OR preservica_ref IS NOT NULL),
    -- Pairing data exists exactly when the asset is known to both systems.
    CHECK ((photoshelter_id IS NOT NULL AND preservica_ref IS NOT NULL) = (paired_by IS NOT NULL)),
    CHECK ((paired_by IS NULL) = (paired_at IS NULL))
) STRICT;

-- The latest snapshot of each asset in each system: what reconcile compares.
CREATE TABLE snapshots (
    asset_id           INTEGER NOT NULL REFERENCES assets (id),
    system             TEXT    NOT NULL CHECK (system IN ('photoshelter', 'preservica')),
    -- Canonical field name -> canonical value; a field missing from the object is absent.
    fields_json        TEXT    NOT NULL CHECK (json_valid(fields_json) AND json_type(fields_json) = 'object'),
    -- The system's own modified time; the `newest` rule compares these.
    system_modified_at TEXT    CHECK (system_modified_at IS strftime('%Y-%m-%dT%H:%M:%fZ', system_modified_at)),
    file_name          TEXT,
    file_size          INTEGER CHECK (file_size >= 0),
    -- Lower case ('sha1', 'md5', ...; hex digits) so that pairing by checksum is plain equality.
    checksum_algorithm TEXT    CHECK (checksum_algorithm = lower(checksum_algorithm)),
    checksum_value     TEXT    CHECK (checksum_value = lower(checksum_value)),
    run_id             INTEGER NOT NULL REFERENCES runs (id),
    captured_at        TEXT    NOT NULL CHECK (captured_at IS strftime('%Y-%m-%dT%H:%M:%fZ', captured_at)),
    PRIMARY KEY (asset_id, system),
    CHECK ((checksum_algorithm IS NULL) = (checksum_value IS NULL))
) STRICT;

-- Pairing lookups: the same file in the other system (by checksum, or by name as a suggestion).
CREATE INDEX snapshots_by_checksum ON snapshots (checksum_algorithm, checksum_value, system)
    WHERE checksum_value IS NOT NULL;
CREATE INDEX snapshots_by_file_name ON snapshots (file_name, system) WHERE file_name IS NOT NULL;
CREATE INDEX snapshots_by_run ON snapshots (run_id);

-- Snapshots replaced by a newer pull, kept so that an asset page can show what a system held
-- before; only the fields needed for that are kept.
CREATE TABLE snapshot_history (
    id                 INTEGER PRIMARY KEY,
    asset_id           INTEGER NOT NULL REFERENCES assets (id),
    system             TEXT    NOT NULL CHECK (system IN ('photoshelter', 'preservica')),
    run_id             INTEGER NOT NULL REFERENCES runs (id),
    fields_json        TEXT    NOT NULL CHECK (json_valid(fields_json) AND json_type(fields_json) = 'object'),
    system_modified_at TEXT    CHECK (system_modified_at IS strftime('%Y-%m-%dT%H:%M:%fZ', system_modified_at)),
    captured_at        TEXT    NOT NULL CHECK (captured_at IS strftime('%Y-%m-%dT%H:%M:%fZ', captured_at))
) STRICT;

CREATE INDEX snapshot_history_by_asset ON snapshot_history (asset_id, system, captured_at);

-- The value both systems last agreed on, per asset and field: the third side of the diff.
-- No row = no baseline yet (first meeting); a row with NULL value = both agreed it is absent.
CREATE TABLE baselines (
    asset_id   INTEGER NOT NULL REFERENCES assets (id),
    field      TEXT    NOT NULL CHECK (field <> ''),
    value      TEXT,
    run_id     INTEGER NOT NULL REFERENCES runs (id),
    updated_at TEXT    NOT NULL CHECK (updated_at IS strftime('%Y-%m-%dT%H:%M:%fZ', updated_at)),
    PRIMARY KEY (asset_id, field)
) STRICT;

-- Every reconcile decision with its inputs, so that the report and the UI can say why a value won.
CREATE TABLE decisions (
    id                 INTEGER PRIMARY KEY,
    run_id             INTEGER NOT NULL REFERENCES runs (id),
    asset_id           INTEGER NOT NULL REFERENCES assets (id),
    field              TEXT    NOT NULL CHECK (field <> ''),
    photoshelter_value TEXT,
    preservica_value   TEXT,
    -- A NULL baseline_value alone cannot tell "no baseline yet" from "agreed absent"; the
    -- three-way diff treats these differently, so the decision records which it was.
    has_baseline       INTEGER NOT NULL CHECK (has_baseline IN (0, 1)),
    baseline_value     TEXT,
    outcome            TEXT    NOT NULL CHECK (outcome IN ('in_sync', 'push_to_preservica',
                                                           'push_to_photoshelter', 'conflict_resolved',
                                                           'queued_for_review', 'skipped')),
    -- The mapping rule applied (e.g. 'union'); NULL when none was needed (in sync, one side changed).
    rule               TEXT,
    -- One line: it is shown in report tables and CSV cells.
    reason             TEXT    NOT NULL CHECK (reason <> '' AND instr(reason, char(10)) = 0
                                               AND instr(reason, char(13)) = 0),
    winning_value      TEXT,
    created_at         TEXT    NOT NULL CHECK (created_at IS strftime('%Y-%m-%dT%H:%M:%fZ', created_at)),
    CHECK (has_baseline = 1 OR baseline_value IS NULL)
) STRICT;

CREATE INDEX decisions_by_run ON decisions (run_id, outcome);
CREATE INDEX decisions_by_asset_field ON decisions (asset_id, field);

-- True conflicts waiting for a person (rule `manual`, or a rule that could not decide).
CREATE TABLE review_queue (
    id               INTEGER PRIMARY KEY,
    decision_id      INTEGER NOT NULL REFERENCES decisions (id),
    asset_id         INTEGER NOT NULL REFERENCES assets (id),
    field            TEXT    NOT NULL CHECK (field <> ''),
    status           TEXT    NOT NULL CHECK (status IN ('open', 'resolved')),
    -- Which side the person chose, or 'value' for a value they typed.
    resolution       TEXT    CHECK (resolution IN ('photoshelter', 'preservica', 'value')),
    -- The value chosen (NULL = absent); kept for every resolution so history need not re-derive it.
    resolution_value TEXT,
    resolved_by      TEXT,
    resolved_at      TEXT    CHECK (resolved_at IS strftime('%Y-%m-%dT%H:%M:%fZ', resolved_at)),
    created_at       TEXT    NOT NULL CHECK (created_at IS strftime('%Y-%m-%dT%H:%M:%fZ', created_at)),
    CHECK ((status = 'resolved') = (resolution IS NOT NULL)),
    CHECK ((status = 'resolved') = (resolved_at IS NOT NULL))
) STRICT;

-- A conflict seen again on the next run must update the open item, not queue a second one.
CREATE UNIQUE INDEX review_queue_one_open ON review_queue (asset_id, field) WHERE status = 'open';
CREATE INDEX review_queue_by_decision ON review_queue (decision_id);

-- Writes to either system, planned here before they are made (safety invariant 2):
-- planned -> written -> verified (read back) -> done; or stale (the target changed since the
-- snapshot, invariant 4) or failed.
CREATE TABLE outbox (
    id             INTEGER PRIMARY KEY,
    run_id         INTEGER NOT NULL REFERENCES runs (id),
    asset_id       INTEGER NOT NULL REFERENCES assets (id),
    -- The decision that asked for this write; NULL for writes no field decision makes (e.g. the
    -- preservation reference written back after an archive transfer).
    decision_id    INTEGER REFERENCES decisions (id),
    -- The system written to.
    system         TEXT    NOT NULL CHECK (system IN ('photoshelter', 'preservica')),
    field          TEXT    NOT NULL CHECK (field <> ''),
    -- What the snapshot said the target holds. Re-read before writing; if it differs the write is
    -- skipped as stale.
    expected_value TEXT,
    new_value      TEXT,
    state          TEXT    NOT NULL CHECK (state IN ('planned', 'written', 'verified', 'done',
                                                     'stale', 'failed')),
    attempts       INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error     TEXT,
    created_at     TEXT    NOT NULL CHECK (created_at IS strftime('%Y-%m-%dT%H:%M:%fZ', created_at)),
    updated_at     TEXT    NOT NULL CHECK (updated_at IS strftime('%Y-%m-%dT%H:%M:%fZ', updated_at))
) STRICT;

-- At most one unfinished write per target field: a crashed run's write is completed by the next
-- run, not planned a second time beside it. Also serves the "what is pending" scan.
CREATE UNIQUE INDEX outbox_one_pending ON outbox (asset_id, system, field)
    WHERE state IN ('planned', 'written', 'verified');
CREATE INDEX outbox_by_run ON outbox (run_id, state);

-- Every value ferry saw replaced in a system, by ferry or by someone else: no value is ever lost,
-- only superseded.
CREATE TABLE field_history (
    id          INTEGER PRIMARY KEY,
    asset_id    INTEGER NOT NULL REFERENCES assets (id),
    field       TEXT    NOT NULL CHECK (field <> ''),
    system      TEXT    NOT NULL CHECK (system IN ('photoshelter', 'preservica')),
    old_value   TEXT,
    new_value   TEXT,
    -- NULL when recorded outside a run (a person resolving a conflict in the web UI).
    run_id      INTEGER REFERENCES runs (id),
    reason      TEXT    NOT NULL CHECK (reason <> ''),
    recorded_at TEXT    NOT NULL CHECK (recorded_at IS strftime('%Y-%m-%dT%H:%M:%fZ', recorded_at))
) STRICT;

CREATE INDEX field_history_by_asset_field ON field_history (asset_id, field, recorded_at);

-- Assets moved between the systems: archive (PhotoShelter -> Preservica) and republish
-- (Preservica -> PhotoShelter). `step` names the last step completed, so an interrupted transfer
-- resumes after it instead of starting over.
CREATE TABLE transfers (
    id               INTEGER PRIMARY KEY,
    run_id           INTEGER NOT NULL REFERENCES runs (id),
    kind             TEXT    NOT NULL CHECK (kind IN ('archive', 'republish')),
    source_system    TEXT    NOT NULL CHECK (source_system IN ('photoshelter', 'preservica')),
    source_id        TEXT    NOT NULL CHECK (source_id <> ''),
    target_system    TEXT    NOT NULL CHECK (target_system IN ('photoshelter', 'preservica')),
    -- Where the asset goes: the Preservica folder (SO ref) or the PhotoShelter gallery id.
    target_container TEXT    NOT NULL CHECK (target_container <> ''),
    -- The id the target system gave the new asset; NULL until it has one.
    target_id        TEXT,
    state            TEXT    NOT NULL CHECK (state IN ('planned', 'in_progress', 'done', 'failed')),
    step             TEXT,
    detail_json      TEXT    CHECK (detail_json IS NULL OR json_valid(detail_json)),
    error            TEXT,
    created_at       TEXT    NOT NULL CHECK (created_at IS strftime('%Y-%m-%dT%H:%M:%fZ', created_at)),
    updated_at       TEXT    NOT NULL CHECK (updated_at IS strftime('%Y-%m-%dT%H:%M:%fZ', updated_at)),
    CHECK ((kind = 'archive' AND source_system = 'photoshelter' AND target_system = 'preservica')
        OR (kind = 'republish' AND source_system = 'preservica' AND target_system = 'photoshelter')),
    CHECK (state <> 'done' OR target_id IS NOT NULL)
) STRICT;

-- The same source is never sent twice into the same container, even after a failure: a retry
-- resumes the existing row, so a crash between "ingested" and "recorded" cannot make a duplicate.
CREATE UNIQUE INDEX transfers_once ON transfers (kind, source_id, target_container);
CREATE INDEX transfers_by_state ON transfers (state) WHERE state IN ('planned', 'in_progress', 'failed');

-- Where the next incremental pull starts in each system (a modified-since time or a token).
CREATE TABLE cursors (
    system     TEXT NOT NULL PRIMARY KEY CHECK (system IN ('photoshelter', 'preservica')),
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL CHECK (updated_at IS strftime('%Y-%m-%dT%H:%M:%fZ', updated_at))
) STRICT, WITHOUT ROWID;

-- One run at a time (safety invariant 7). The row exists only while the lock is held; a lock past
-- expires_at belongs to a run that died and may be taken over.
CREATE TABLE run_lock (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    owner_pid   INTEGER NOT NULL,
    host        TEXT    NOT NULL,
    run_id      INTEGER REFERENCES runs (id),
    acquired_at TEXT    NOT NULL CHECK (acquired_at IS strftime('%Y-%m-%dT%H:%M:%fZ', acquired_at)),
    expires_at  TEXT    NOT NULL CHECK (expires_at IS strftime('%Y-%m-%dT%H:%M:%fZ', expires_at)),
    CHECK (expires_at > acquired_at)
) STRICT;

-- Set after a critical error; while the row exists scheduled runs refuse to start.
-- Only `ferry sync --recover` removes it.
CREATE TABLE lockout (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    reason  TEXT    NOT NULL CHECK (reason <> ''),
    run_id  INTEGER REFERENCES runs (id),
    since   TEXT    NOT NULL CHECK (since IS strftime('%Y-%m-%dT%H:%M:%fZ', since))
) STRICT;

-- Possible pairs too weak to make on their own (file name plus date), for a person to confirm.
-- They name system ids rather than asset rows because accepting one merges the two rows.
CREATE TABLE pair_suggestions (
    id              INTEGER PRIMARY KEY,
    photoshelter_id TEXT NOT NULL CHECK (photoshelter_id <> ''),
    preservica_ref  TEXT NOT NULL CHECK (preservica_ref <> ''),
    reason          TEXT NOT NULL CHECK (reason <> ''),
    status          TEXT NOT NULL CHECK (status IN ('open', 'accepted', 'rejected')),
    created_at      TEXT NOT NULL CHECK (created_at IS strftime('%Y-%m-%dT%H:%M:%fZ', created_at)),
    decided_at      TEXT CHECK (decided_at IS strftime('%Y-%m-%dT%H:%M:%fZ', decided_at)),
    CHECK ((status = 'open') = (decided_at IS NULL))
) STRICT;

-- Unique over every status: a suggestion a person rejected is not made again next night.
CREATE UNIQUE INDEX pair_suggestions_once ON pair_suggestions (photoshelter_id, preservica_ref);
CREATE INDEX pair_suggestions_open ON pair_suggestions (status) WHERE status = 'open';
