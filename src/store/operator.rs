//! What an operator asks first (`ferry status`, `/healthz`, `/metrics`): who holds the run
//! lock, and the last *real* run.
//!
//! Invariant: a dry run is recorded and listed like any run, but it never answers "the last
//! run": every question here skips rows with `dry_run = 1`, so health, metrics and status
//! reflect only runs that could have changed something.

use super::sync::LockHolder;
use super::web::RunDetail;
use super::{Store, StoreError};
use rusqlite::OptionalExtension;

impl Store {
    /// The run lock as it is stored, whoever holds it (even if it has expired).
    pub fn lock_holder(&self) -> Result<Option<LockHolder>, StoreError> {
        self.conn
            .query_row(
                super::sync::LOCK_HOLDER_SQL,
                [],
                super::sync::lock_holder_of,
            )
            .optional()
            .map_err(|e| self.sql_error(e))
    }

    /// The latest finished run that was not a dry run.
    pub fn last_real_run(&self) -> Result<Option<RunDetail>, StoreError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {} FROM runs WHERE finished_at IS NOT NULL AND dry_run = 0 ORDER BY id DESC LIMIT 1",
                    super::web::RUN_COLUMNS
                ),
                [],
                super::web::run_detail,
            )
            .optional()
            .map_err(|e| self.sql_error(e))
    }

    /// How many dry runs the store has recorded.
    pub fn dry_run_count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT count(*) FROM runs WHERE dry_run = 1", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| u64::try_from(n).unwrap_or_default())
            .map_err(|e| self.sql_error(e))
    }
}
