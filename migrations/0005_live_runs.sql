-- ferry schema, version 5: live runs and the events they leave for the nightly run.
--
-- `ferry serve` with `[live] enabled` runs small cycles between nightly runs (a Preservica
-- webhook or the PhotoShelter change poll names what changed). They are runs like any other
-- (same lock, same outbox, same decisions), recorded under their own kind so the web app can
-- count them per hour rather than list each. SQLite cannot change a CHECK constraint in place:
-- the table is rebuilt with the same columns and rows (the runner has foreign keys off and
-- checks them before committing).

CREATE TABLE runs_v5 (
    id           INTEGER PRIMARY KEY,
    kind         TEXT    NOT NULL CHECK (kind IN ('sync', 'archive', 'republish', 'live')),
    started_at   TEXT    NOT NULL CHECK (started_at IS strftime('%Y-%m-%dT%H:%M:%fZ', started_at)),
    finished_at  TEXT             CHECK (finished_at IS strftime('%Y-%m-%dT%H:%M:%fZ', finished_at)),
    dry_run      INTEGER NOT NULL CHECK (dry_run IN (0, 1)),
    status       TEXT    NOT NULL CHECK (status IN ('running', 'done', 'failed', 'locked_out', 'interrupted')),
    exit_code    INTEGER          CHECK (exit_code BETWEEN 0 AND 3),
    summary_json TEXT             CHECK (summary_json IS NULL OR json_valid(summary_json)),
    report_path  TEXT,
    error        TEXT,
    CHECK ((status = 'running') = (finished_at IS NULL))
) STRICT;

INSERT INTO runs_v5 (id, kind, started_at, finished_at, dry_run, status, exit_code, summary_json, report_path, error)
    SELECT id, kind, started_at, finished_at, dry_run, status, exit_code, summary_json, report_path, error FROM runs;

DROP TABLE runs;
ALTER TABLE runs_v5 RENAME TO runs;
CREATE INDEX runs_by_kind_started ON runs (kind, started_at);

-- An event a live run could not act on: a Preservica ref or PhotoShelter media id that is not
-- (yet) one side of a pair. The nightly run pairs what can be paired; this says what the live
-- mode saw and left to it.
CREATE TABLE live_events (
    id        INTEGER PRIMARY KEY,
    run_id    INTEGER NOT NULL REFERENCES runs (id),
    system    TEXT    NOT NULL CHECK (system IN ('photoshelter', 'preservica')),
    system_id TEXT    NOT NULL CHECK (system_id <> ''),
    reason    TEXT    NOT NULL,
    at        TEXT    NOT NULL CHECK (at IS strftime('%Y-%m-%dT%H:%M:%fZ', at))
) STRICT;

CREATE INDEX live_events_by_run ON live_events (run_id);
