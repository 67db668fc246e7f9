//! One sync cycle, start to finish: lock, finish what a crashed run left in the outbox, pull
//! both systems, store snapshots, pair, reconcile, guard, push, report, unlock.
//!
//! A dry run executes the same code on an in-memory copy of the store and skips only the
//! pushes, so what it reports is exactly what a real run would do, and the real store gains
//! nothing but the run record (DESIGN invariant 5).

mod pulled;
mod rows;
mod scoped;

pub use scoped::{Scope, run_scoped};

use super::engine::{EnginePlan, EngineRun, plan_all_pairs};
use super::execute::execute;
use super::plan::check_mass_change;
use super::pull::{PullError, PullResult, pull_photoshelter, pull_preservica};
use super::reconcile::Outcome as DecisionOutcome;
use crate::clock::Clock;
use crate::exit::Outcome;
use crate::mapping::Mapping;
use crate::model::{FieldValue, System};
use crate::photoshelter::client::PhotoShelterClient;
use crate::preservica::client::PreservicaClient;
use crate::report::render::{ReportPaths, ReportWriteError, write_all_with};
use crate::report::{Failure, FieldRow, REPORT_SCHEMA_VERSION, RunReport};
use crate::store::{AssetId, AssetRow, LockHolder, Lockout, OutboxEntry, RunId, ts};
use crate::store::{FieldOutcome, OutboxState, RunEnding, RunKind, RunStatus, Store, StoreError};
use chrono::{DateTime, Utc};
use pulled::{pair_new, pair_stored, store_pull};
use rows::fill_report;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

/// A full listing this much smaller than what ferry knows of a system stops the run: a
/// filter, a permission change or an outage looks exactly like mass deletion.
const SHRINK_LIMIT: f64 = 0.5;

/// How long a run lock lasts before another run may take it over.
const LOCK_TTL_HOURS: i64 = 6;

/// What a run needs besides the store.
pub struct SyncContext<'a> {
    pub mapping: &'a Mapping,
    pub photoshelter: &'a PhotoShelterClient,
    pub preservica: &'a PreservicaClient,
    pub max_change_share: f64,
    pub min_assets: u64,
    pub concurrency_photoshelter: usize,
    pub concurrency_preservica: usize,
    pub reports_dir: PathBuf,
    /// How the report's CSV is written (`[output] excel`).
    pub csv: crate::csv_out::CsvStyle,
    pub clock: Clock,
    /// Where progress bars are drawn, when there is a terminal to draw them on.
    pub progress: Option<indicatif::MultiProgress>,
    /// Licences expiring within this many days are listed in the report.
    pub expiring_days: u32,
    /// What to do about expired licences and missing model releases.
    pub rights: crate::config::RightsConfig,
}

/// How a run was asked to behave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncOptions {
    pub dry_run: bool,
    /// List everything rather than what changed since the cursors.
    pub full: bool,
    pub allow_mass_change: bool,
    /// Clear a lockout left by a critical error, then run.
    pub recover: bool,
}

/// Why a run could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("another ferry run holds the lock (pid {} on {}, since {}, until {}); wait for it to finish", .0.owner_pid, .0.host, .0.acquired_at, .0.expires_at)]
    Locked(LockHolder),
    #[error("ferry is locked out since {} after a critical error: {}; check the last report, then run `ferry sync --recover`", .0.since, .0.reason)]
    LockedOut(Lockout),
    #[error(transparent)]
    Report(#[from] ReportWriteError),
}

/// What a run did.
#[derive(Debug)]
pub struct SyncOutcome {
    pub run_id: RunId,
    pub outcome: Outcome,
    pub report: RunReport,
    pub paths: ReportPaths,
    /// Assets this run read or wrote (empty for a dry run): what the search index must
    /// refresh.
    pub touched: Vec<AssetId>,
    /// A scoped (live) run's ids that named no pair, left for the nightly pairing (also
    /// recorded in the store's `live_events`); empty for other runs.
    pub left_for_nightly: Vec<(System, String)>,
}

/// Runs one sync cycle.
pub async fn run_sync(
    store: &mut Store,
    ctx: &SyncContext<'_>,
    opts: &SyncOptions,
) -> Result<SyncOutcome, SyncError> {
    run_with_lock(store, ctx, opts, None).await
}

/// A run (of everything, or of a live run's `scope`) under the run lock.
async fn run_with_lock(
    store: &mut Store,
    ctx: &SyncContext<'_>,
    opts: &SyncOptions,
    scope: Option<&Scope>,
) -> Result<SyncOutcome, SyncError> {
    let pid = std::process::id() as i64;
    let ttl = chrono::Duration::hours(LOCK_TTL_HOURS);
    if let Err(holder) = super::lock::acquire(store, ctx.clock.now(), ttl)? {
        return Err(SyncError::Locked(holder));
    }
    let result = run_locked(store, ctx, opts, scope).await;
    store.release_lock(pid)?;
    result
}

async fn run_locked(
    store: &mut Store,
    ctx: &SyncContext<'_>,
    opts: &SyncOptions,
    scope: Option<&Scope>,
) -> Result<SyncOutcome, SyncError> {
    let started = ctx.clock.now();
    if let Some(lockout) = store.lockout()? {
        if opts.dry_run {
            // A dry run writes nothing, so it may look at what a recovery would do; it does
            // not clear the lockout.
            tracing::warn!(reason = %lockout.reason, "locked out; this dry run only shows what a run would do");
        } else if opts.recover {
            tracing::warn!(reason = %lockout.reason, "recovering from a lockout at the operator's request");
            store.clear_lockout()?;
        } else {
            return Err(SyncError::LockedOut(lockout));
        }
    }
    store.close_interrupted_runs(started)?;
    let kind = if scope.is_some() {
        RunKind::Live
    } else {
        RunKind::Sync
    };
    let run = store.begin_run(kind, opts.dry_run, started)?;
    let mut report = RunReport {
        schema_version: REPORT_SCHEMA_VERSION,
        run_id: run,
        started_at: ts(started),
        dry_run: opts.dry_run,
        ..RunReport::default()
    };
    let result = run_begun(store, ctx, (opts, scope), (run, started), &mut report).await;
    if let Err(e) = &result {
        // Whatever failed after the run began (the report, the store, the lockout record),
        // the run is closed as failed with what it got to, not left `running` until the
        // next run calls it interrupted.
        let summary = serde_json::to_string(&report.summary).ok();
        let why = e.to_string();
        let end = RunEnding {
            exit_code: Outcome::Fatal.code(),
            summary_json: summary.as_deref(),
            report_path: None,
            error: Some(&why),
        };
        if let Err(closing) = store.finish_run(run, RunStatus::Failed, end, ctx.clock.now()) {
            tracing::error!(run, error = %closing, "the failed run could not be recorded as failed");
        }
        tracing::error!(run, error = %why, "sync failed");
    }
    result
}

/// A run from its record in the store to its report: the cycle, then the report and the
/// run's end. An error here leaves `report` holding what the run got to.
async fn run_begun(
    store: &mut Store,
    ctx: &SyncContext<'_>,
    (opts, scope): (&SyncOptions, Option<&Scope>),
    (run, started): (RunId, DateTime<Utc>),
    report: &mut RunReport,
) -> Result<SyncOutcome, SyncError> {
    let calls_before = (
        ctx.photoshelter.start_counting(),
        ctx.preservica.start_counting(),
    );
    let span = tracing::info_span!("sync", run, dry_run = opts.dry_run, live = scope.is_some());
    let mut scratch = if opts.dry_run {
        Some(store.copy_in_memory()?)
    } else {
        None
    };
    let work: &mut Store = scratch.as_mut().unwrap_or(store);
    let clock = std::time::Instant::now();
    let mut touched = Vec::new();
    let mut left_for_nightly = Vec::new();
    let cycle = Cycle {
        store: work,
        ctx,
        opts,
        run,
        started,
        report,
        touched: &mut touched,
        scope: scope.map(|s| (s, &mut left_for_nightly)),
        only: None,
    };
    let result = tracing::Instrument::instrument(cycle.run(), span).await;
    drop(scratch);
    let (status, outcome, error) = match result {
        Ok(outcome) => {
            let status = if report.stopped.is_some() {
                RunStatus::Stopped
            } else {
                RunStatus::Done
            };
            (status, outcome, None)
        }
        Err(CycleStop::Critical(reason)) => {
            if !opts.dry_run {
                store.set_lockout(&reason, Some(run), ctx.clock.now())?;
            }
            count_stop_as_failure(report, &reason);
            (RunStatus::LockedOut, Outcome::Fatal, Some(reason))
        }
        Err(CycleStop::Fatal(reason)) => {
            count_stop_as_failure(report, &reason);
            (RunStatus::Failed, Outcome::Fatal, Some(reason))
        }
        Err(CycleStop::Store(e)) => {
            report.stopped = Some(e.to_string());
            return Err(SyncError::Store(e));
        }
    };
    let finished = ctx.clock.now();
    report.finished_at = ts(finished);
    report.status = status;
    report.exit_code = outcome.code();
    report.summary.seconds_total = clock.elapsed().as_secs_f64();
    report.summary.api_calls_photoshelter =
        ctx.photoshelter.request_counts().since(&calls_before.0);
    report.summary.api_calls_preservica = ctx.preservica.request_counts().since(&calls_before.1);
    let paths = write_all_with(report, &ctx.reports_dir, ctx.csv)?;
    let summary = serde_json::to_string(&report.summary).ok();
    let report_path = paths.html.display().to_string();
    let end = RunEnding {
        exit_code: outcome.code(),
        summary_json: summary.as_deref(),
        report_path: Some(&report_path),
        error: error.as_deref(),
    };
    store.finish_run(run, status, end, finished)?;
    tracing::info!(run, %status, exit = outcome.code(), report = %paths.html.display(), "sync finished");
    if opts.dry_run {
        touched.clear();
    }
    touched.sort_unstable();
    touched.dedup();
    Ok(SyncOutcome {
        run_id: run,
        outcome,
        report: std::mem::take(report),
        paths,
        touched,
        left_for_nightly,
    })
}

/// A run that stopped early failed: its report says why and its failure count is never 0, so
/// `ferry_failures_total`, `ferry report` and `ferry status` show it.
fn count_stop_as_failure(report: &mut RunReport, reason: &str) {
    report.stopped = Some(reason.to_string());
    if report.failures.is_empty() {
        report.failures.push(Failure {
            asset_id: None,
            system: String::new(),
            item: "run".into(),
            error: reason.to_string(),
        });
    }
    report.summary.failures = report.failures.len() as u64;
}

/// Why a cycle stopped early.
enum CycleStop {
    /// Critical: the next run refuses until an operator recovers.
    Critical(String),
    /// The run could not go on (e.g. a listing failed); the next run may try again.
    Fatal(String),
    Store(StoreError),
}

impl From<StoreError> for CycleStop {
    fn from(e: StoreError) -> Self {
        CycleStop::Store(e)
    }
}

impl From<PullError> for CycleStop {
    fn from(e: PullError) -> Self {
        CycleStop::Fatal(e.to_string())
    }
}

/// One cycle's shared state: what every step reads or adds to.
struct Cycle<'a, 'c> {
    store: &'a mut Store,
    ctx: &'a SyncContext<'c>,
    opts: &'a SyncOptions,
    run: RunId,
    started: DateTime<Utc>,
    report: &'a mut RunReport,
    touched: &'a mut Vec<AssetId>,
    /// A live run's scope, and where it puts the ids that name no pair.
    scope: Option<(&'a Scope, &'a mut Vec<(System, String)>)>,
    /// The assets a scoped run reconciles (set by its pull).
    only: Option<HashSet<AssetId>>,
}

/// Both systems' pulls with, for each, system id → asset id once stored.
struct Pulls {
    ps: PullResult,
    pv: PullResult,
    ps_ids: HashMap<String, AssetId>,
    pv_ids: HashMap<String, AssetId>,
}

impl Cycle<'_, '_> {
    async fn run(mut self) -> Result<Outcome, CycleStop> {
        let assets = self.store.assets()?;
        self.finish_left_writes(&assets).await?;
        let (ps, pv) = if self.scope.is_some() {
            self.pull_scope(&assets).await?
        } else {
            self.pull(&assets).await?
        };
        let now = self.ctx.clock.now();
        let pulls = self.store_pulls(ps, pv, now)?;
        let assets = self.pair(&pulls, now)?;
        let failed = self.not_to_reconcile(&pulls, &assets);
        // The pulled records are in the store now; a full pull of a large library is too big
        // to keep beside the engine's pages.
        drop(pulls);
        let plan = self.plan(&failed, now)?;
        let by_id: HashMap<AssetId, &AssetRow> = assets.iter().map(|a| (a.id, a)).collect();
        let entries = self.outbox_entries(&plan);
        let (write_state, outcome) = self.guard_and_push(&plan, &entries, &by_id, now).await?;
        self.report_rights(&plan, &by_id, &write_state);
        Ok(self.fill_report(plan, &by_id, &write_state, outcome))
    }

    /// Step 1: Writes a crashed run planned but did not finish go first, so the pull sees their
    /// effect.
    async fn finish_left_writes(&mut self, assets: &[AssetRow]) -> Result<(), CycleStop> {
        if self.opts.dry_run {
            return Ok(());
        }
        let pending = self.store.pending_outbox()?;
        if !pending.is_empty() {
            tracing::info!(
                count = pending.len(),
                "finishing writes left by an earlier run"
            );
            let by_id: HashMap<AssetId, &AssetRow> = assets.iter().map(|a| (a.id, a)).collect();
            execute(self.store, self.ctx, self.run, pending, &by_id, self.report).await?;
        }
        Ok(())
    }

    /// Step 2: Pulls both systems at once; a listing that fails or shrinks stops the cycle.
    async fn pull(&mut self, assets: &[AssetRow]) -> Result<(PullResult, PullResult), CycleStop> {
        let (ctx, store, started) = (self.ctx, &*self.store, self.started);
        let (ps_cursor, pv_cursor) = if self.opts.full {
            (None, None)
        } else {
            (
                stored_cursor(store, System::PhotoShelter)?,
                stored_cursor(store, System::Preservica)?,
            )
        };
        let paired_refs: HashSet<String> = assets
            .iter()
            .filter(|a| a.paired_by.is_some())
            .filter_map(|a| a.preservica_ref.clone())
            .collect();
        let (ps, pv) = tokio::join!(
            pull_photoshelter(
                ctx.photoshelter,
                ctx.mapping,
                ps_cursor,
                ctx.concurrency_photoshelter,
                started,
                ctx.progress.as_ref()
            ),
            pull_preservica(
                ctx.preservica,
                ctx.mapping,
                pv_cursor,
                &paired_refs,
                ctx.concurrency_preservica,
                started,
                ctx.progress.as_ref()
            ),
        );
        let report = &mut *self.report;
        let (ps, pv) = match (ps, pv) {
            (Ok(ps), Ok(pv)) => (ps, pv),
            (ps, pv) => {
                // Each system that could not be listed is a failure of its own.
                let errors: Vec<PullError> = [ps.err(), pv.err()].into_iter().flatten().collect();
                for e in &errors {
                    report.failures.push(Failure {
                        asset_id: None,
                        system: e.system.name().into(),
                        item: "listing".into(),
                        error: e.reason.clone(),
                    });
                }
                let reasons: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                return Err(CycleStop::Fatal(reasons.join("; ")));
            }
        };
        report.summary.seconds_pull_photoshelter = ps.seconds;
        report.summary.seconds_pull_preservica = pv.seconds;
        for pull in [&ps, &pv] {
            check_listing(pull, assets)?;
            for (id, error) in &pull.failures {
                report.failures.push(Failure {
                    asset_id: None,
                    system: pull.system.name().into(),
                    item: id.clone(),
                    error: format!("could not be read: {error}"),
                });
            }
        }
        Ok((ps, pv))
    }

    /// Step 3: Snapshots, then cursors (a cursor never passes what is stored).
    fn store_pulls(
        &mut self,
        ps: PullResult,
        pv: PullResult,
        now: DateTime<Utc>,
    ) -> Result<Pulls, CycleStop> {
        let ps_ids = store_pull(self.store, self.run, &ps, now)?;
        let pv_ids = store_pull(self.store, self.run, &pv, now)?;
        self.touched.extend(ps_ids.values().chain(pv_ids.values()));
        // A live run read a few records, not what changed since the cursors: they stay where
        // the last full or incremental pull left them.
        if self.scope.is_some() {
            return Ok(Pulls {
                ps,
                pv,
                ps_ids,
                pv_ids,
            });
        }
        self.store
            .set_cursor(System::PhotoShelter, &ts(ps.next_cursor), now)?;
        self.store
            .set_cursor(System::Preservica, &ts(pv.next_cursor), now)?;
        Ok(Pulls {
            ps,
            pv,
            ps_ids,
            pv_ids,
        })
    }

    /// Step 4: Pairing; the assets as they stand after it.
    fn pair(&mut self, pulls: &Pulls, now: DateTime<Utc>) -> Result<Vec<AssetRow>, CycleStop> {
        let store = &mut *self.store;
        let mut assets = store.assets()?;
        pair_new(
            store,
            &assets,
            (&pulls.ps, &pulls.ps_ids),
            (&pulls.pv, &pulls.pv_ids),
            now,
        )?;
        // An incremental pull lists only what changed: what the store knows of unpaired
        // assets pairs too (an archive copy ingested by hand of a PhotoShelter item that did
        // not change).
        assets = store.assets()?;
        if !(pulls.ps.full && pulls.pv.full) && pair_stored(store, &assets, self.ctx.mapping, now)?
        {
            assets = store.assets()?;
        }
        self.report.summary.assets_photoshelter = store.snapshot_count(System::PhotoShelter)?;
        self.report.summary.assets_preservica = store.snapshot_count(System::Preservica)?;
        Ok(assets)
    }

    /// Step 5: The system ids not to reconcile. Assets whose read failed this run keep old
    /// snapshots; they are not reconciled on stale data. Nor are assets a complete listing
    /// no longer shows: absence is reported, never acted on (ferry deletes nothing).
    fn not_to_reconcile(&mut self, pulls: &Pulls, assets: &[AssetRow]) -> HashSet<String> {
        let mut failed: HashSet<String> = pulls
            .ps
            .failures
            .iter()
            .chain(&pulls.pv.failures)
            .map(|(id, _)| id.clone())
            .collect();
        for pull in [&pulls.ps, &pulls.pv] {
            if !pull.full {
                continue;
            }
            let listed: HashSet<&str> = pull
                .records
                .iter()
                .map(|p| p.id.as_str())
                .chain(pull.failures.iter().map(|(id, _)| id.as_str()))
                .collect();
            for a in assets.iter().filter(|a| a.paired_by.is_some()) {
                let id = match pull.system {
                    System::PhotoShelter => a.photoshelter_id.as_deref(),
                    System::Preservica => a.preservica_ref.as_deref(),
                };
                if let Some(id) = id.filter(|id| !listed.contains(id)) {
                    failed.insert(id.to_string());
                    self.report.failures.push(Failure {
                        asset_id: Some(a.id),
                        system: pull.system.name().into(),
                        item: id.to_string(),
                        error: format!(
                            "missing from {}'s complete listing (deleted, or moved out of ferry's reach); ferry deleted nothing and left this pair alone",
                            pull.system
                        ),
                    });
                }
            }
        }
        failed
    }

    /// Step 6: The engine records decisions and agreed baselines page by page as it goes; the
    /// guard then looks at the writes.
    fn plan(
        &mut self,
        failed: &HashSet<String>,
        now: DateTime<Utc>,
    ) -> Result<EnginePlan, CycleStop> {
        let ctx = self.ctx;
        let plan = plan_all_pairs(
            self.store,
            &EngineRun {
                mapping: ctx.mapping,
                run: self.run,
                now,
                today: self.started.date_naive(),
                skip: failed,
                rights: &ctx.rights,
                expiring_days: ctx.expiring_days,
                compare_settled: self.opts.full,
                only: self.only.as_ref(),
            },
        )?;
        self.report.summary.pairs = plan.all_pairs() as u64;
        self.report.summary.pairs_unchanged = plan.pairs_unchanged;
        Ok(plan)
    }

    /// The plan's writes as outbox entries. Rights enforcement is planned like any write, so
    /// it is guarded, shown in dry runs and carried out through the outbox.
    fn outbox_entries(&self, plan: &EnginePlan) -> Vec<OutboxEntry> {
        let run = self.run;
        let mut entries: Vec<OutboxEntry> = plan
            .writes
            .iter()
            .map(|w| OutboxEntry {
                id: 0,
                run_id: run,
                asset_id: w.asset,
                decision_id: plan.decision_ids.get(w.decision).copied(),
                system: w.system,
                field: w.field.clone(),
                expected_value: w.expected.as_ref().map(FieldValue::to_canonical_string),
                new_value: w.value.as_ref().map(FieldValue::to_canonical_string),
                state: OutboxState::Planned,
                attempts: 0,
            })
            .collect();
        entries.extend(plan.enforcement.iter().map(|(e, _)| OutboxEntry {
            run_id: run,
            ..e.clone()
        }));
        entries
    }

    /// The mass-change guard, then step 7, the push through the outbox (unless the guard tripped
    /// or this is a dry run). Each written field's state, and the outcome so far.
    async fn guard_and_push(
        &mut self,
        plan: &EnginePlan,
        entries: &[OutboxEntry],
        by_id: &HashMap<AssetId, &AssetRow>,
        now: DateTime<Utc>,
    ) -> Result<(HashMap<(AssetId, String), String>, Outcome), CycleStop> {
        let (ctx, opts, run) = (self.ctx, self.opts, self.run);
        let guard = check_mass_change(
            entries.iter().map(|e| (e.asset_id, e.field.as_str())),
            plan.all_pairs(),
            ctx.max_change_share,
            ctx.min_assets,
        );
        let mut write_state: HashMap<(AssetId, String), String> = HashMap::new();
        let mut outcome = Outcome::Done;
        if (guard.tripped && !opts.allow_mass_change) || opts.dry_run {
            if guard.tripped && !opts.allow_mass_change {
                self.report.stopped = guard.reason.clone();
                outcome = Outcome::Failures;
            }
            for e in entries {
                write_state.insert((e.asset_id, e.field.clone()), "planned".into());
            }
            return Ok((write_state, outcome));
        }
        self.store.enqueue(run, entries, now)?;
        for d in plan.decisions.iter().filter(|d| d.resolution.is_some()) {
            self.store
                .resolution_applied(d.resolution.expect("filtered"), run)?;
        }
        let pending: Vec<OutboxEntry> = self
            .store
            .pending_outbox()?
            .into_iter()
            .filter(|e| e.run_id == run)
            .collect();
        let clock = std::time::Instant::now();
        let states = execute(self.store, ctx, run, pending, by_id, self.report).await?;
        self.report.summary.seconds_push = clock.elapsed().as_secs_f64();
        for ((asset, field, _system), state) in states {
            let slot = write_state.entry((asset, field)).or_default();
            // One field written to both systems shows its worst state.
            if slot.is_empty() || state != "done" {
                *slot = state;
            }
        }
        Ok((write_state, outcome))
    }

    /// The rights the run enforced, each with what was done and how far it got.
    fn report_rights(
        &mut self,
        plan: &EnginePlan,
        by_id: &HashMap<AssetId, &AssetRow>,
        write_state: &HashMap<(AssetId, String), String>,
    ) {
        for (e, why) in &plan.enforcement {
            let row = by_id.get(&e.asset_id);
            let state = write_state
                .get(&(e.asset_id, e.field.clone()))
                .cloned()
                .unwrap_or_default();
            let what = match e.system {
                System::PhotoShelter => "made not searchable in PhotoShelter".to_string(),
                System::Preservica => format!(
                    "security tag set to {} in Preservica",
                    e.new_value.as_deref().unwrap_or("")
                ),
            };
            self.report.rights.push(crate::report::RightsProblem {
                asset_id: e.asset_id,
                photoshelter_id: row.and_then(|r| r.photoshelter_id.clone()),
                preservica_ref: row.and_then(|r| r.preservica_ref.clone()),
                label: plan
                    .labels
                    .get(&e.asset_id)
                    .cloned()
                    .unwrap_or_else(|| format!("asset {}", e.asset_id)),
                kind: "restricted".into(),
                detail: format!(
                    "{why}: {what} ({})",
                    if state.is_empty() { "planned" } else { &state }
                ),
                ..Default::default()
            });
        }
    }

    /// Step 8: The report's field rows and counts; the run's outcome from them.
    fn fill_report(
        &mut self,
        plan: EnginePlan,
        by_id: &HashMap<AssetId, &AssetRow>,
        write_state: &HashMap<(AssetId, String), String>,
        outcome: Outcome,
    ) -> Outcome {
        fill_report(self.report, self.ctx.mapping, &plan, by_id, write_state);
        self.report.rights.extend(plan.rights);
        let s = &self.report.summary;
        if outcome != Outcome::Done {
            return outcome;
        }
        if s.failures > 0 {
            Outcome::Failures
        } else if s.skipped > 0 {
            Outcome::SomeSkipped
        } else {
            Outcome::Done
        }
    }
}

/// Where the last pull of `system` got to.
fn stored_cursor(store: &Store, system: System) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(store
        .cursor(system)?
        .and_then(|c| DateTime::parse_from_rfc3339(&c).ok())
        .map(|c| c.with_timezone(&Utc)))
}

/// Refuses to act on a full listing that is empty or far smaller than what ferry knows.
fn check_listing(pull: &PullResult, assets: &[AssetRow]) -> Result<(), CycleStop> {
    if !pull.full {
        return Ok(());
    }
    let known = assets
        .iter()
        .filter(|a| match pull.system {
            System::PhotoShelter => a.photoshelter_id.is_some(),
            System::Preservica => a.preservica_ref.is_some(),
        })
        .count();
    if known == 0 {
        return Ok(());
    }
    if pull.listed == 0 {
        return Err(CycleStop::Critical(format!(
            "{} listed no assets where ferry knows {known}; nothing was changed. If the library really is empty now, run `ferry sync --recover`",
            pull.system
        )));
    }
    if (pull.listed as f64) < known as f64 * SHRINK_LIMIT {
        return Err(CycleStop::Critical(format!(
            "{} listed {} assets where ferry knows {known} (less than {:.0}%); nothing was changed. Check the account's permissions and filters, then run `ferry sync --recover`",
            pull.system,
            pull.listed,
            SHRINK_LIMIT * 100.0
        )));
    }
    Ok(())
}
