-- ferry schema, version 3: asset ids stay valid after a merge.
--
-- Pairing keeps the PhotoShelter-side asset row and deletes the Preservica-only one (its rows
-- move to the pair). Its id was already out there: in bookmarks and links to `/assets/{id}`, in
-- API clients, in a search index not yet refreshed. Each retired id is recorded here, in the
-- same transaction as the merge, with the id it now lives under, so those URLs redirect rather
-- than answer 404. A merge that retires an asset others already point to re-points them too, so
-- `new_id` is always a live asset and one lookup resolves any chain.
--
-- New asset rows never take an id listed here (see `store/assets.rs`): SQLite would otherwise
-- hand out a deleted highest id again, and an old link would show another asset.

CREATE TABLE asset_aliases (
    old_id INTEGER PRIMARY KEY,
    new_id INTEGER NOT NULL REFERENCES assets (id),
    at     TEXT    NOT NULL CHECK (at IS strftime('%Y-%m-%dT%H:%M:%fZ', at)),
    CHECK (old_id <> new_id)
) STRICT;

CREATE INDEX asset_aliases_by_new ON asset_aliases (new_id);
