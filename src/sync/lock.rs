//! Who may take the run lock over. The lock (DESIGN invariant 7) names its owner's pid and
//! host and expires after hours, so that a run on another machine that hung is eventually
//! replaced. A run that was killed (SIGKILL, OOM, power cut, a scheduler's timeout) on *this*
//! host cannot release its lock, and waiting hours for the expiry would block every nightly
//! run in between: when the owner is on this host and its process is gone, the lock is taken
//! over at once.
//!
//! Assumption: one host name names one process namespace (a container sharing the store with
//! its host under the same host name would see the other's pids as gone). The expiry still
//! covers a lock held on another host, and a dead owner whose pid another program has taken
//! since (the lock then waits for its expiry, as before).

//!
//! Decisions a person makes for the next run (resolving a conflict) take the same lock for the
//! moment they are recorded ([`while_no_run`]): a run reads the decisions it carries out once,
//! when it plans, so one recorded while it pushes would be raced (left half-applied or queued
//! again). With a run in progress the decision is refused, naming the run; it is never
//! recorded behind the run's back.

use crate::store::LockHolder;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};

/// How long a decision holds the run lock at most (recording one takes milliseconds; the
/// expiry only matters if the process dies while holding it on another host).
const DECISION_TTL_SECONDS: i64 = 60;

/// Why a decision for the next run was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error(
        "a ferry run is in progress (pid {} on {}, since {}) and may be pushing this very field, \
         so nothing was recorded; decide again when it has finished (`ferry status` shows the \
         lock; a run killed on this host is taken over at once)",
        .0.owner_pid, .0.host, .0.acquired_at
    )]
    RunInProgress(LockHolder),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records a decision for the next run with `record`, holding the run lock meanwhile, so no
/// run is planning or pushing while it is written; with a run in progress nothing is recorded
/// and [`DecisionError::RunInProgress`] names it.
pub fn while_no_run<T>(
    store: &mut Store,
    now: DateTime<Utc>,
    record: impl FnOnce(&mut Store) -> Result<T, StoreError>,
) -> Result<T, DecisionError> {
    if let Err(holder) = acquire(store, now, chrono::Duration::seconds(DECISION_TTL_SECONDS))? {
        return Err(DecisionError::RunInProgress(holder));
    }
    let recorded = record(store);
    store.release_lock(std::process::id() as i64)?;
    Ok(recorded?)
}

/// Takes the run lock for this process (sync runs and transfers alike), taking over the lock
/// of a run on this host whose process is gone; otherwise says who holds it.
pub fn acquire(
    store: &mut Store,
    now: DateTime<Utc>,
    ttl: chrono::Duration,
) -> Result<Result<(), LockHolder>, StoreError> {
    let pid = std::process::id() as i64;
    let host = this_host();
    if let Err(holder) = store.acquire_lock(pid, &host, now, ttl)? {
        if !holder_is_gone(&holder, &host, pid)
            || !store.take_over_lock(&holder, pid, &host, now, ttl)?
        {
            return Ok(Err(holder));
        }
        tracing::warn!(
            pid = holder.owner_pid,
            since = %holder.acquired_at,
            "took over the run lock of a ferry run that is gone (killed or crashed)"
        );
    }
    Ok(Ok(()))
}

/// This machine's name as the run lock records it.
pub fn this_host() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "localhost".into())
}

/// Whether the holder of the run lock is certainly gone: it ran on `host` (this machine) and
/// its process no longer exists. Never for another host (only the expiry tells there), and
/// never for this very process (two runs in one process are the caller's business, and a
/// lock is not taken from a live run).
pub fn holder_is_gone(holder: &LockHolder, host: &str, own_pid: i64) -> bool {
    holder.host == host && holder.owner_pid != own_pid && process_is_gone(holder.owner_pid)
}

/// Whether no process `pid` runs here (a zombie, killed but not yet reaped, counts as gone).
/// Where that cannot be told, the answer is no: the lock then waits for its expiry.
#[cfg(target_os = "linux")]
pub fn process_is_gone(pid: i64) -> bool {
    if pid <= 0 || !std::path::Path::new("/proc/self/stat").exists() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        // `pid (comm) state …`: the state follows the last `)` (comm may hold any byte).
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

#[cfg(not(target_os = "linux"))]
pub fn process_is_gone(_pid: i64) -> bool {
    false
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn holder(pid: i64, host: &str) -> LockHolder {
        LockHolder {
            owner_pid: pid,
            host: host.into(),
            acquired_at: "2024-01-01T00:00:00.000Z".into(),
            expires_at: "2024-01-01T06:00:00.000Z".into(),
        }
    }

    #[test]
    fn a_dead_owner_on_this_host_is_gone_a_live_one_or_another_host_is_not() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = i64::from(child.id());
        let own = i64::from(std::process::id());
        let host = this_host();
        assert!(!holder_is_gone(&holder(pid, &host), &host, own), "alive");
        child.kill().unwrap();
        // Killed but not reaped yet: a zombie is gone too.
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(holder_is_gone(&holder(pid, &host), &host, own), "zombie");
        child.wait().unwrap();
        assert!(holder_is_gone(&holder(pid, &host), &host, own), "reaped");
        assert!(
            !holder_is_gone(&holder(pid, "another-host"), &host, own),
            "another host: only the expiry tells"
        );
        assert!(
            !holder_is_gone(&holder(own, &host), &host, own),
            "never taken from this process"
        );
    }
}
