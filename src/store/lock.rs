//! The run lock and the lockout: the `run_lock` and `lockout` tables, and all their SQL. One
//! run at a time holds the lock (DESIGN invariant 7); who may take a lock over from a run that
//! is gone is `sync::lock`'s policy, which only calls the methods here.

use super::{RunId, Store, StoreError, parse_ts, ts};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

/// The holder of the run lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub owner_pid: i64,
    pub host: String,
    pub acquired_at: String,
    pub expires_at: String,
}

/// Why runs are refused until an operator recovers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockout {
    pub reason: String,
    pub run_id: Option<RunId>,
    pub since: String,
}

/// The run lock's row, whoever holds it.
const LOCK_HOLDER_SQL: &str =
    "SELECT owner_pid, host, acquired_at, expires_at FROM run_lock WHERE id = 1";

fn lock_holder_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<LockHolder> {
    Ok(from_columns!(
        r,
        LockHolder {
            owner_pid,
            host,
            acquired_at,
            expires_at
        }
    ))
}

impl Store {
    /// Takes the run lock, or says who holds it. An expired lock is taken over: its holder
    /// died or hung past its expiry.
    pub fn acquire_lock(
        &mut self,
        pid: i64,
        host: &str,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Result<Result<(), LockHolder>, StoreError> {
        let e = self.sql_errors();
        let tx = self.tx()?;
        let held: Option<LockHolder> = tx
            .query_row(LOCK_HOLDER_SQL, [], lock_holder_of)
            .optional()
            .map_err(&e)?;
        if let Some(h) = held
            && parse_ts(Some(h.expires_at.clone())).is_some_and(|e| e > now)
        {
            return Ok(Err(h));
        }
        tx.execute(
            "INSERT OR REPLACE INTO run_lock (id, owner_pid, host, acquired_at, expires_at) VALUES (1, ?1, ?2, ?3, ?4)",
            params![pid, host, ts(now), ts(now + ttl)],
        )
        .and_then(|_| tx.commit())
        .map_err(&e)?;
        Ok(Ok(()))
    }

    /// Replaces the run lock `stale` (same owner pid, host and start) with one held by `pid`
    /// on `host` until `now + ttl`. False, and nothing changed, if the lock is no longer
    /// `stale` (another run took it over or it was released meanwhile). Kept apart from
    /// [`Store::acquire_lock`] because it replaces a lock that has not expired, and must do
    /// so only if it is still the very lock the caller judged dead.
    pub fn take_over_lock(
        &mut self,
        stale: &LockHolder,
        pid: i64,
        host: &str,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Result<bool, StoreError> {
        let changed = self.execute(
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
        )?;
        Ok(changed == 1)
    }

    pub fn release_lock(&mut self, pid: i64) -> Result<(), StoreError> {
        self.execute("DELETE FROM run_lock WHERE owner_pid = ?1", [pid])?;
        Ok(())
    }

    /// The run lock as it is stored, whoever holds it (even if it has expired).
    pub fn lock_holder(&self) -> Result<Option<LockHolder>, StoreError> {
        self.query_opt(LOCK_HOLDER_SQL, [], lock_holder_of)
    }

    pub fn lockout(&self) -> Result<Option<Lockout>, StoreError> {
        self.query_opt(
            "SELECT reason, run_id, since FROM lockout WHERE id = 1",
            [],
            |r| {
                Ok(from_columns!(
                    r,
                    Lockout {
                        reason,
                        run_id,
                        since
                    }
                ))
            },
        )
    }

    pub fn set_lockout(
        &mut self,
        reason: &str,
        run: Option<RunId>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT OR REPLACE INTO lockout (id, reason, run_id, since) VALUES (1, ?1, ?2, ?3)",
            params![reason, run, ts(now)],
        )?;
        Ok(())
    }

    pub fn clear_lockout(&mut self) -> Result<(), StoreError> {
        self.execute("DELETE FROM lockout", [])?;
        Ok(())
    }
}
