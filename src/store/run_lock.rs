//! Taking over a run lock whose owner is gone (see `sync::lock`): kept apart from
//! `acquire_lock` because it replaces a lock that has not expired, and must do so only if it
//! is still the very lock the caller judged dead.

use super::sync::{LockHolder, ts};
use super::{Store, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::params;

impl Store {
    /// Replaces the run lock `stale` (same owner pid, host and start) with one held by `pid`
    /// on `host` until `now + ttl`. False, and nothing changed, if the lock is no longer
    /// `stale` (another run took it over or it was released meanwhile).
    pub fn take_over_lock(
        &mut self,
        stale: &LockHolder,
        pid: i64,
        host: &str,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Result<bool, StoreError> {
        let changed = self
            .conn
            .execute(
                "UPDATE run_lock SET owner_pid = ?1, host = ?2, acquired_at = ?3, expires_at = ?4
                 WHERE id = 1 AND owner_pid = ?5 AND host = ?6 AND acquired_at = ?7",
                params![
                    pid,
                    host,
                    ts(now),
                    ts(now + ttl),
                    stale.owner_pid,
                    stale.host,
                    stale.acquired_at
                ],
            )
            .map_err(|e| self.sql_error(e))?;
        Ok(changed == 1)
    }
}
