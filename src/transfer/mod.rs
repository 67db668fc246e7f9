//! Moving assets between the systems, beyond metadata: `archive` copies finished PhotoShelter
//! work into Preservica as OPEX packages and writes the preservation reference back;
//! `republish` copies archive assets into a PhotoShelter gallery for reuse.
//!
//! Both keep one [`TransferRecord`](crate::store::transfers::TransferRecord) per asset and
//! commit each step before starting the next, so a crash or a fault resumes at the step that
//! did not finish and never sends an asset twice. Files pass through a staging directory in
//! fixed-size chunks: memory does not grow with file size. Both take the run lock that sync
//! runs take, so a transfer and a sync never write at the same time.

pub mod archive;
pub mod republish;

use crate::clock::Clock;
use crate::config::{ArchiveConfig, RepublishConfig};
use crate::exit::Outcome;
use crate::mapping::Mapping;
use crate::model::{CanonicalRecord, FieldValue, System};
use crate::photoshelter::client::{PhotoShelterClient, PhotoShelterError};
use crate::preservica::client::{PreservicaClient, PreservicaError};
use crate::preservica::opex::OpexError;
use crate::report::render::{ReportPaths, ReportWriteError, write_all_with};
use crate::report::{Failure, REPORT_SCHEMA_VERSION, RunReport, TransferRow};
use crate::store::transfers::{StepRecord, TransferRecord, TransferState};
use crate::store::{AssetId, LockHolder, Lockout, RunId, ts};
use crate::store::{RunEnding, RunKind, RunStatus, Store, StoreError};
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

/// How long a transfer run holds the run lock before another run may take it over.
const LOCK_TTL_HOURS: i64 = 12;

/// What a transfer run needs besides the store.
pub struct TransferContext<'a> {
    pub mapping: &'a Mapping,
    pub photoshelter: &'a PhotoShelterClient,
    pub preservica: &'a PreservicaClient,
    pub archive: &'a ArchiveConfig,
    pub republish: &'a RepublishConfig,
    pub reports_dir: PathBuf,
    /// How the report's CSV is written (`[output] excel`).
    pub csv: crate::csv_out::CsvStyle,
    /// The search index, for `republish --query`.
    pub index_dir: PathBuf,
    pub clock: Clock,
    /// Where byte progress bars are drawn, when there is a terminal.
    pub progress: Option<indicatif::MultiProgress>,
}

/// Why a transfer run could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("another ferry run holds the lock (pid {} on {}, since {}, until {}); wait for it to finish", .0.owner_pid, .0.host, .0.acquired_at, .0.expires_at)]
    Locked(LockHolder),
    #[error("ferry is locked out since {} after a critical error: {}; check the last report, then run `ferry sync --recover`", .0.since, .0.reason)]
    LockedOut(Lockout),
    #[error("{0}")]
    Invalid(String),
    /// Metadata the republish would write that PhotoShelter would refuse or cut.
    #[error(transparent)]
    Refused(#[from] republish::check::MetadataRefused),
    #[error(transparent)]
    PhotoShelter(#[from] PhotoShelterError),
    #[error(transparent)]
    Preservica(#[from] PreservicaError),
    #[error(transparent)]
    Opex(#[from] OpexError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Report(#[from] ReportWriteError),
    /// A test asked the run to stop after a step, as if the process had died there.
    #[error("stopped after step {0}, as asked")]
    StoppedAfter(&'static str),
}

impl TransferError {
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TransferError + '_ {
        move |source| TransferError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// One asset a dry run would move, or a real run moved or refused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlannedTransfer {
    pub source: String,
    /// The file name in the source system.
    pub name: String,
    pub size: Option<u64>,
    /// Where it goes: the gallery or folder name.
    pub target: String,
    /// Why it will not move, when it will not (already moved, expired licence, …).
    pub skip: Option<String>,
}

/// What a transfer run did.
#[derive(Debug)]
pub struct TransferOutcome {
    /// `None` for a dry run, which records nothing.
    pub run_id: Option<RunId>,
    pub outcome: Outcome,
    pub planned: Vec<PlannedTransfer>,
    pub report: Option<RunReport>,
    pub paths: Option<ReportPaths>,
    /// Assets paired or changed: what the search index must refresh.
    pub touched: Vec<AssetId>,
}

impl TransferOutcome {
    /// What a dry run would move: nothing recorded, nothing written.
    pub fn dry_run(planned: Vec<PlannedTransfer>) -> TransferOutcome {
        TransferOutcome {
            run_id: None,
            outcome: Outcome::Done,
            planned,
            report: None,
            paths: None,
            touched: Vec::new(),
        }
    }
}

/// How a transfer run ended, for [`finish_run`] to report.
pub(crate) struct RunEnd {
    pub started: DateTime<Utc>,
    /// Why the run stopped early, if it did.
    pub stopped: Option<String>,
    pub failures: Vec<Failure>,
    /// Report rows that are not transfer records (a gallery made private).
    pub notes: Vec<TransferRow>,
    /// Assets refused (an expired licence): the run ends as "some skipped".
    pub refused: usize,
    pub planned: Vec<PlannedTransfer>,
    pub touched: Vec<AssetId>,
}

/// Prints what a transfer run did (or, dry, would do), one line at a time.
pub fn describe(out: &TransferOutcome, print: &mut dyn FnMut(String)) {
    let size = |s: Option<u64>| s.map(human_bytes).unwrap_or_else(|| "size unknown".into());
    match out.run_id {
        None => {
            let moving: Vec<&PlannedTransfer> =
                out.planned.iter().filter(|p| p.skip.is_none()).collect();
            let total: u64 = moving.iter().filter_map(|p| p.size).sum();
            print(format!(
                "dry run: {} to move ({}), {} to leave; nothing was written",
                moving.len(),
                human_bytes(total),
                out.planned.len() - moving.len()
            ));
            for p in &out.planned {
                match &p.skip {
                    None => print(format!(
                        "  move  {} {:?} ({}) -> {}",
                        p.source,
                        p.name,
                        size(p.size),
                        p.target
                    )),
                    Some(why) => print(format!("  leave {} {:?}: {why}", p.source, p.name)),
                }
            }
        }
        Some(run) => {
            let Some(report) = &out.report else {
                return;
            };
            let count = |state: &str| report.transfers.iter().filter(|t| t.state == state).count();
            print(format!(
                "run {run}: {} done, {} failed, {} unfinished, {} left as they were",
                count("done"),
                count("failed"),
                count("planned") + count("in_progress"),
                out.planned.iter().filter(|p| p.skip.is_some()).count()
            ));
            for t in &report.transfers {
                print(format!(
                    "  {:<9} {} -> {}: {}",
                    t.state,
                    t.source,
                    t.target.as_deref().unwrap_or("-"),
                    t.detail
                ));
            }
            for p in out.planned.iter().filter(|p| p.skip.is_some()) {
                print(format!(
                    "  left      {}: {}",
                    p.source,
                    p.skip.as_deref().unwrap_or_default()
                ));
            }
            if let Some(stopped) = &report.stopped {
                print(format!("  stopped: {stopped}"));
            }
            if let Some(paths) = &out.paths {
                print(format!("  report: {}", paths.html.display()));
            }
        }
    }
}

/// `1536` → `1.5 KiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Takes the run lock, refuses while locked out, and opens a run of `kind`.
pub(crate) fn begin_run(
    store: &mut Store,
    clock: &Clock,
    kind: RunKind,
) -> Result<RunId, TransferError> {
    let now = clock.now();
    let pid = std::process::id() as i64;
    if let Err(holder) =
        crate::sync::lock::acquire(store, now, chrono::Duration::hours(LOCK_TTL_HOURS))?
    {
        return Err(TransferError::Locked(holder));
    }
    let begun = (|| {
        if let Some(lockout) = store.lockout()? {
            return Err(TransferError::LockedOut(lockout));
        }
        store.close_interrupted_runs(now)?;
        Ok(store.begin_run(kind, false, now)?)
    })();
    if begun.is_err() {
        store.release_lock(pid)?;
    }
    begun
}

/// Writes the run's report from its transfer records, closes the run and releases the lock.
pub(crate) fn finish_run(
    store: &mut Store,
    ctx: &TransferContext<'_>,
    run: RunId,
    end: RunEnd,
) -> Result<TransferOutcome, TransferError> {
    let pid = std::process::id() as i64;
    // What the run got to, for the run's record should writing its report fail.
    let mut summary_so_far: Option<String> = None;
    let result = report_and_close(store, ctx, run, end, &mut summary_so_far);
    if let Err(e) = &result {
        // The run is closed as failed with what it got to rather than left `running`.
        let why = e.to_string();
        let end = RunEnding {
            exit_code: Outcome::Fatal.code(),
            summary_json: summary_so_far.as_deref(),
            report_path: None,
            error: Some(&why),
        };
        if let Err(closing) = store.finish_run(run, RunStatus::Failed, end, ctx.clock.now()) {
            tracing::error!(run, error = %closing, "the failed run could not be recorded as failed");
        }
        tracing::error!(run, error = %why, "transfer run failed");
    }
    store.release_lock(pid)?;
    result
}

/// Writes the run's report and closes the run with its outcome; `summary_so_far` holds the
/// summary as soon as there is one.
fn report_and_close(
    store: &mut Store,
    ctx: &TransferContext<'_>,
    run: RunId,
    end: RunEnd,
    summary_so_far: &mut Option<String>,
) -> Result<TransferOutcome, TransferError> {
    let RunEnd {
        started,
        stopped,
        mut failures,
        notes,
        refused,
        planned,
        touched,
    } = end;
    let records = store.transfers_of_run(run)?;
    let mut transfers: Vec<TransferRow> = records.iter().map(transfer_row).collect();
    transfers.extend(notes);
    failures.extend(records.iter().filter_map(failure_of));
    let unfinished = records
        .iter()
        .any(|r| matches!(r.state, TransferState::Planned | TransferState::InProgress));
    let outcome = if stopped.is_some() {
        Outcome::Fatal
    } else if !failures.is_empty() {
        Outcome::Failures
    } else if unfinished || refused > 0 {
        Outcome::SomeSkipped
    } else {
        Outcome::Done
    };
    let finished = ctx.clock.now();
    let status = match outcome {
        Outcome::Fatal => RunStatus::Failed,
        _ => RunStatus::Done,
    };
    let report = RunReport {
        schema_version: REPORT_SCHEMA_VERSION,
        run_id: run,
        started_at: ts(started),
        finished_at: ts(finished),
        dry_run: false,
        status,
        exit_code: outcome.code(),
        stopped: stopped.clone(),
        summary: crate::report::Summary {
            failures: failures.len() as u64,
            api_calls_photoshelter: ctx.photoshelter.request_counts(),
            api_calls_preservica: ctx.preservica.request_counts(),
            seconds_total: (finished - started).num_milliseconds() as f64 / 1000.0,
            ..Default::default()
        },
        failures,
        transfers,
        ..RunReport::default()
    };
    let summary = serde_json::json!({
        "transfers": report.transfers.len(),
        "done": records.iter().filter(|r| r.state == TransferState::Done).count(),
        "failed": records.iter().filter(|r| r.state == TransferState::Failed).count(),
    })
    .to_string();
    *summary_so_far = Some(summary.clone());
    let paths = write_all_with(&report, &ctx.reports_dir, ctx.csv)?;
    let report_path = paths.html.display().to_string();
    let ending = RunEnding {
        exit_code: outcome.code(),
        summary_json: Some(&summary),
        report_path: Some(&report_path),
        error: stopped.as_deref(),
    };
    store.finish_run(run, status, ending, finished)?;
    Ok(TransferOutcome {
        run_id: Some(run),
        outcome,
        planned,
        report: Some(report),
        paths: Some(paths),
        touched,
    })
}

/// A failed transfer as the report lists it.
fn failure_of(r: &TransferRecord) -> Option<Failure> {
    (r.state == TransferState::Failed).then(|| Failure {
        asset_id: None,
        system: match r.kind {
            crate::store::transfers::TransferKind::Archive => "preservica".into(),
            crate::store::transfers::TransferKind::Republish => "photoshelter".into(),
        },
        item: r.source_id.clone(),
        error: r.error.clone().unwrap_or_default(),
    })
}

/// A transfer as the report shows it.
pub fn transfer_row(r: &TransferRecord) -> TransferRow {
    let name = |key: &str| {
        r.detail
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let mut detail = Vec::new();
    if let (Some(orig), Some(packaged)) = (name("original_name"), name("packaged_name"))
        && orig != packaged
    {
        detail.push(format!("file {orig:?} packaged as {packaged:?}"));
    } else if let Some(orig) = name("original_name") {
        detail.push(format!("file {orig:?}"));
    }
    if let Some(size) = r.detail.get("size").and_then(|v| v.as_u64()) {
        detail.push(format!("{size} bytes"));
    }
    if let Some(step) = r.step.as_ref().filter(|_| r.state != TransferState::Done) {
        detail.push(format!("last step: {step}"));
    }
    if let Some(e) = &r.error {
        detail.push(e.clone());
    }
    TransferRow {
        kind: r.kind.as_str().into(),
        source: r.source_id.clone(),
        target: r.target_id.clone(),
        state: r.state.as_str().into(),
        detail: detail.join("; "),
    }
}

/// A byte progress bar with ETA, drawn only when there is a terminal.
pub(crate) fn byte_bar(
    progress: &Option<indicatif::MultiProgress>,
    len: Option<u64>,
    label: String,
) -> indicatif::ProgressBar {
    let Some(mp) = progress else {
        return indicatif::ProgressBar::hidden();
    };
    let bar = mp.add(indicatif::ProgressBar::new(len.unwrap_or(0)));
    let style = indicatif::ProgressStyle::with_template(
        "{msg:30!} {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12} eta {eta}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(label);
    bar
}

/// SHA-256, SHA-1 and MD5 of a stream, computed as it passes.
#[derive(Default)]
pub(crate) struct Digests {
    sha256: sha2::Sha256,
    sha1: sha1::Sha1,
    md5: md5::Md5,
    pub size: u64,
}

impl Digests {
    pub fn update(&mut self, chunk: &[u8]) {
        use sha2::Digest;
        self.sha256.update(chunk);
        self.sha1.update(chunk);
        self.md5.update(chunk);
        self.size += chunk.len() as u64;
    }

    /// (algorithm as Preservica names it, lowercase hex).
    pub fn finish(self) -> Vec<(String, String)> {
        use sha2::Digest;
        vec![
            ("SHA256".into(), hex::encode(self.sha256.finalize())),
            ("SHA1".into(), hex::encode(self.sha1.finalize())),
            ("MD5".into(), hex::encode(self.md5.finalize())),
        ]
    }
}

/// `SHA-256`, `sha256`, `SHA256` → `SHA256`.
pub(crate) fn algorithm_key(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_uppercase()
}

/// Compares the fixities a system reports with the ones ferry computed: every algorithm both
/// have must agree, and there must be at least one.
pub(crate) fn check_fixity(
    reported: &[(String, String)],
    computed: &[(String, String)],
) -> Result<String, String> {
    let mut matched = Vec::new();
    for (alg, value) in reported {
        let key = algorithm_key(alg);
        if let Some((_, mine)) = computed.iter().find(|(a, _)| algorithm_key(a) == key) {
            if !mine.eq_ignore_ascii_case(value) {
                return Err(format!(
                    "fixity mismatch: Preservica holds {alg} {value}, the original has {mine}"
                ));
            }
            matched.push(key);
        }
    }
    if matched.is_empty() {
        return Err(format!(
            "no fixity to compare: Preservica reports {:?}",
            reported.iter().map(|(a, _)| a).collect::<Vec<_>>()
        ));
    }
    Ok(matched.join("+"))
}

/// The baselines a new pair starts with: the fields both records hold equally. A field that
/// differs gets none, so the next sync meets it for the first time and applies its rule.
pub(crate) fn agreed_fields(
    mapping: &Mapping,
    photoshelter: &CanonicalRecord,
    preservica: &CanonicalRecord,
) -> Vec<(String, Option<String>)> {
    mapping
        .paired_fields()
        .filter(|f| photoshelter.get(&f.name) == preservica.get(&f.name))
        .map(|f| {
            (
                f.name.clone(),
                photoshelter
                    .get(&f.name)
                    .map(FieldValue::to_canonical_string),
            )
        })
        .collect()
}

/// Records `ps` ↔ `pv` as a pair (creating either asset row as needed) with the agreed
/// baselines; returns the asset, or `None` when either side is already paired elsewhere.
pub(crate) fn record_pair(
    store: &mut Store,
    run: RunId,
    ps: &str,
    pv: &str,
    by: &str,
    agreed: &[(String, Option<String>)],
    now: DateTime<Utc>,
) -> Result<Option<AssetId>, TransferError> {
    let ps_asset = store.ensure_assets(System::PhotoShelter, &[ps.to_string()], now)?[ps];
    let pv_asset = store.ensure_assets(System::Preservica, &[pv.to_string()], now)?[pv];
    let asset = if ps_asset == pv_asset {
        ps_asset
    } else {
        let rows = store.assets_by_id(&[ps_asset, pv_asset])?;
        let unpaired = rows.len() == 2
            && rows.iter().all(|r| {
                (r.id == ps_asset && r.preservica_ref.is_none())
                    || (r.id == pv_asset && r.photoshelter_id.is_none())
            });
        if !unpaired {
            return Ok(None);
        }
        store.pair(ps_asset, pv_asset, by, now)?
    };
    let items: Vec<(AssetId, String, Option<String>)> = agreed
        .iter()
        .map(|(f, v)| (asset, f.clone(), v.clone()))
        .collect();
    store.set_baselines(run, &items, now)?;
    Ok(Some(asset))
}

/// A step of a transfer to record.
pub(crate) struct Step<'a> {
    pub state: TransferState,
    pub name: &'static str,
    /// The target system's id for the new asset, once known.
    pub target: Option<&'a str>,
    pub detail: serde_json::Map<String, serde_json::Value>,
    pub error: Option<&'a str>,
}

/// Records `step` in the store (committed before the caller goes on), then in `record`.
pub(crate) fn record_step(
    store: &mut Store,
    clock: &Clock,
    record: &mut TransferRecord,
    step: Step<'_>,
) -> Result<(), TransferError> {
    let detail = serde_json::Value::Object(step.detail);
    let recorded = StepRecord {
        state: step.state,
        step: step.name,
        target_id: step.target,
        detail: &detail,
        error: step.error,
    };
    store.record_transfer_step(record.id, &recorded, clock.now())?;
    record.state = step.state;
    record.step = Some(step.name.into());
    if let Some(t) = step.target {
        record.target_id = Some(t.to_string());
    }
    record.detail = detail;
    record.error = step.error.map(str::to_string);
    Ok(())
}

/// Moves `record` on to step `name` (in progress), keeping its detail.
pub(crate) fn advance(
    store: &mut Store,
    clock: &Clock,
    record: &mut TransferRecord,
    name: &'static str,
    target: Option<&str>,
) -> Result<(), TransferError> {
    let detail = detail_of(record);
    record_step(
        store,
        clock,
        record,
        Step {
            state: TransferState::InProgress,
            name,
            target,
            detail,
            error: None,
        },
    )
}

/// The detail of a transfer as a JSON object to add keys to.
pub(crate) fn detail_of(r: &TransferRecord) -> serde_json::Map<String, serde_json::Value> {
    r.detail.as_object().cloned().unwrap_or_default()
}

/// A string value from a transfer's detail.
pub(crate) fn detail_str(r: &TransferRecord, key: &str) -> Option<String> {
    r.detail
        .get(key)
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixity_needs_one_shared_algorithm_and_no_disagreement() {
        let computed = vec![
            ("SHA256".to_string(), "aa".to_string()),
            ("MD5".to_string(), "bb".to_string()),
        ];
        assert_eq!(
            check_fixity(&[("SHA-256".into(), "AA".into())], &computed),
            Ok("SHA256".into())
        );
        assert!(
            check_fixity(&[("SHA256".into(), "ab".into())], &computed)
                .unwrap_err()
                .contains("mismatch")
        );
        assert!(check_fixity(&[("SHA512".into(), "ab".into())], &computed).is_err());
        assert!(
            check_fixity(
                &[("SHA256".into(), "aa".into()), ("MD5".into(), "00".into())],
                &computed
            )
            .is_err()
        );
    }
}
