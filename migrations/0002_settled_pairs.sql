-- ferry schema, version 2: pairs the engine need not reconcile again.
--
-- A nightly run of a large library finds nearly every pair as it was: equal in both systems and
-- to the baselines. The engine records such a pair here and skips it until something it depends
-- on changes. The triggers below are what makes skipping safe: any change to a pair's snapshots,
-- baselines, asset row, planned writes or review items removes its row, whichever code path
-- made the change, so a pair is only ever skipped while every input of its last reconcile is
-- exactly as it was. (A re-read that finds a snapshot unchanged does not touch its row.)

CREATE TABLE settled_pairs (
    asset_id       INTEGER PRIMARY KEY REFERENCES assets (id),
    -- The run that found the pair settled.
    run_id         INTEGER NOT NULL REFERENCES runs (id),
    -- What the decision depended on besides the stored rows: the mapping, the rights policy and
    -- the engine's version. A row with another digest does not count.
    digest         TEXT    NOT NULL CHECK (digest <> ''),
    -- The agreed licence expiry, canonical (NULL = none): a pair whose licence expires soon or has
    -- expired is reconciled every run, so the report and the rights policy see it.
    license_expiry TEXT
) STRICT;

CREATE INDEX settled_pairs_by_expiry ON settled_pairs (license_expiry) WHERE license_expiry IS NOT NULL;

CREATE TRIGGER settled_pairs_snapshot_insert AFTER INSERT ON snapshots
BEGIN
    DELETE FROM settled_pairs WHERE asset_id = NEW.asset_id;
END;

CREATE TRIGGER settled_pairs_snapshot_update AFTER UPDATE ON snapshots
BEGIN
    DELETE FROM settled_pairs WHERE asset_id IN (OLD.asset_id, NEW.asset_id);
END;

CREATE TRIGGER settled_pairs_snapshot_delete AFTER DELETE ON snapshots
BEGIN
    DELETE FROM settled_pairs WHERE asset_id = OLD.asset_id;
END;

CREATE TRIGGER settled_pairs_baseline_insert AFTER INSERT ON baselines
BEGIN
    DELETE FROM settled_pairs WHERE asset_id = NEW.asset_id;
END;

CREATE TRIGGER settled_pairs_baseline_update AFTER UPDATE ON baselines
BEGIN
    DELETE FROM settled_pairs WHERE asset_id IN (OLD.asset_id, NEW.asset_id);
END;

CREATE TRIGGER settled_pairs_baseline_delete AFTER DELETE ON baselines
BEGIN
    DELETE FROM settled_pairs WHERE asset_id = OLD.asset_id;
END;

CREATE TRIGGER settled_pairs_asset_update AFTER UPDATE ON assets
BEGIN
    DELETE FROM settled_pairs WHERE asset_id IN (OLD.id, NEW.id);
END;

CREATE TRIGGER settled_pairs_asset_delete BEFORE DELETE ON assets
BEGIN
    DELETE FROM settled_pairs WHERE asset_id = OLD.id;
END;

CREATE TRIGGER settled_pairs_outbox_insert AFTER INSERT ON outbox
BEGIN
    DELETE FROM settled_pairs WHERE asset_id = NEW.asset_id;
END;

CREATE TRIGGER settled_pairs_outbox_update AFTER UPDATE ON outbox
BEGIN
    DELETE FROM settled_pairs WHERE asset_id = NEW.asset_id;
END;

CREATE TRIGGER settled_pairs_review_insert AFTER INSERT ON review_queue
BEGIN
    DELETE FROM settled_pairs WHERE asset_id = NEW.asset_id;
END;

CREATE TRIGGER settled_pairs_review_update AFTER UPDATE ON review_queue
BEGIN
    DELETE FROM settled_pairs WHERE asset_id = NEW.asset_id;
END;
