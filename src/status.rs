//! `ferry status`: what an operator asks first, from the store and the config alone (nothing
//! is sent to either system) — a lockout and the command that clears it, who holds the run
//! lock, the last real run, the next scheduled run, open conflicts, and what the store holds.
//!
//! Invariant: [`StatusReport`] is the one source of both forms, the text for people and the
//! JSON for scripts, so they never disagree; "the last run" is never a dry run.

use crate::config::Config;
use crate::schedule::Schedule;
use crate::store::{RunKind, RunStatus, Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt::Write as _;

/// The command that clears a lockout, printed wherever a lockout is.
pub const RECOVER_COMMAND: &str = "ferry sync --recover";

/// Summary numbers of the last run worth showing, in this order, when its summary has them.
const RUN_COUNTS: [&str; 8] = [
    "pairs",
    "drifted",
    "pushed_to_photoshelter",
    "pushed_to_preservica",
    "conflicts_queued",
    "skipped",
    "failures",
    "transfers",
];

/// Everything `ferry status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub config: String,
    pub store: String,
    pub schema_version: u32,
    pub latest_schema_version: u32,
    pub lockout: Option<LockoutStatus>,
    pub lock: Option<LockStatus>,
    pub last_run: Option<LastRun>,
    pub next_scheduled_run: Option<String>,
    /// `schedule.nightly` as configured.
    pub schedule: String,
    pub open_conflicts: u64,
    /// What the store holds: label → count.
    pub counts: Vec<(String, u64)>,
}

/// Runs are refused until an operator recovers.
#[derive(Debug, Clone, Serialize)]
pub struct LockoutStatus {
    pub since: String,
    pub reason: String,
    pub run_id: Option<i64>,
    /// The command that clears it.
    pub clear_with: String,
}

/// The run lock as stored.
#[derive(Debug, Clone, Serialize)]
pub struct LockStatus {
    pub pid: i64,
    pub host: String,
    pub since: String,
    pub until: String,
    /// Past its expiry: the next run takes it over.
    pub expired: bool,
}

/// The last finished run that was not a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    pub id: i64,
    pub kind: RunKind,
    pub status: RunStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub exit_code: Option<i64>,
    /// Numbers from its summary (pairs, drifted, pushed, conflicts, failures, …).
    pub counts: Vec<(String, u64)>,
    pub error: Option<String>,
}

/// Reads what `ferry status` shows from `store`, as of `now`.
pub fn gather(
    config: &Config,
    store: &Store,
    now: DateTime<Utc>,
) -> Result<StatusReport, StoreError> {
    let counts = store.counts()?;
    let lockout = store.lockout()?.map(|l| LockoutStatus {
        since: l.since,
        reason: l.reason,
        run_id: l.run_id,
        clear_with: RECOVER_COMMAND.to_string(),
    });
    let lock = store.lock_holder()?.map(|h| LockStatus {
        expired: DateTime::parse_from_rfc3339(&h.expires_at).is_ok_and(|t| t < now),
        pid: h.owner_pid,
        host: h.host,
        since: h.acquired_at,
        until: h.expires_at,
    });
    let last_run = store.last_real_run()?.map(|d| {
        let summary = d.summary;
        let counts = RUN_COUNTS
            .iter()
            .filter_map(|k| {
                let n = summary.as_ref()?.get(*k)?.as_u64()?;
                Some((k.to_string(), n))
            })
            .collect();
        LastRun {
            id: d.id,
            kind: d.kind,
            status: d.status,
            started_at: d.started_at,
            finished_at: d.finished_at,
            exit_code: d.exit_code,
            counts,
            error: d.error,
        }
    });
    let next_scheduled_run = Schedule::parse(&config.schedule.nightly)
        .ok()
        .and_then(|s| s.next_after(now))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    Ok(StatusReport {
        config: config.file.display().to_string(),
        store: config.paths.store.display().to_string(),
        schema_version: store.schema_version()?,
        latest_schema_version: Store::latest_schema_version(),
        lockout,
        lock,
        last_run,
        next_scheduled_run,
        schedule: config.schedule.nightly.clone(),
        open_conflicts: counts.open_conflicts,
        counts: counts
            .rows()
            .into_iter()
            .map(|(k, n)| (k.to_string(), n))
            .collect(),
    })
}

impl StatusReport {
    /// The form for people: what needs attention first, then what the store holds.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut line = |label: &str, value: String| {
            let _ = writeln!(out, "{label:<15} {value}");
        };
        line(
            "lockout",
            match &self.lockout {
                Some(l) => format!(
                    "LOCKED OUT since {}: {}; check the report, then run `{}`",
                    l.since, l.reason, l.clear_with
                ),
                None => "none".into(),
            },
        );
        line(
            "lock",
            match &self.lock {
                Some(l) if l.expired => format!(
                    "expired (pid {} on {}, since {}, until {}); the next run takes it over",
                    l.pid, l.host, l.since, l.until
                ),
                Some(l) => format!(
                    "held by pid {} on {} since {} (until {})",
                    l.pid, l.host, l.since, l.until
                ),
                None => "free".into(),
            },
        );
        line("last run", self.last_run_text());
        line(
            "next run",
            match &self.next_scheduled_run {
                Some(t) => format!(
                    "{t} (schedule.nightly \"{}\", UTC, under `ferry serve`)",
                    self.schedule
                ),
                None => format!("never (schedule.nightly \"{}\")", self.schedule),
            },
        );
        line("conflicts", format!("{} open", self.open_conflicts));
        line("config", self.config.clone());
        line("store", self.store.clone());
        line(
            "schema version",
            format!(
                "{} (this ferry: {})",
                self.schema_version, self.latest_schema_version
            ),
        );
        for (label, n) in &self.counts {
            line(label, n.to_string());
        }
        out
    }

    fn last_run_text(&self) -> String {
        let Some(r) = &self.last_run else {
            return "none yet".into();
        };
        let mut text = format!(
            "#{} {} {}, exit {}, finished {}",
            r.id,
            r.kind,
            r.status,
            r.exit_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into()),
            r.finished_at.as_deref().unwrap_or("-")
        );
        if !r.counts.is_empty() {
            let counts: Vec<String> = r.counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
            let _ = write!(text, "; {}", counts.join(", "));
        }
        if let Some(e) = &r.error {
            let _ = write!(text, "; {e}");
        }
        text
    }
}

/// One conflict as `ferry conflicts list --format json` prints it.
/// With a mapping, `photoshelter_meaning` and `preservica_meaning` say what an enum code means
/// (null otherwise).
pub fn conflict_json(
    item: &crate::store::ReviewItem,
    mapping: Option<&crate::mapping::Mapping>,
) -> serde_json::Value {
    let meaning = |v: &Option<String>| {
        v.as_deref()
            .and_then(|v| mapping.and_then(|m| m.label_of(&item.field, v)))
    };
    serde_json::json!({
        "id": item.id,
        "asset_id": item.asset_id,
        "field": item.field,
        "photoshelter_id": item.photoshelter_id,
        "preservica_ref": item.preservica_ref,
        "photoshelter_value": item.photoshelter_value,
        "preservica_value": item.preservica_value,
        "photoshelter_meaning": meaning(&item.photoshelter_value),
        "preservica_meaning": meaning(&item.preservica_value),
        "reason": item.reason,
        "status": item.status,
        "resolution": item.resolution,
        "resolution_value": item.resolution_value,
        "decided_by": item.decided_by,
        "decision_note": item.decision_note,
    })
}
