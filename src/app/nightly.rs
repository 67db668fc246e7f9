//! The scheduled job of `ferry serve`: the same sync as `ferry sync`, then the `[archive]`
//! rules, then the index refresh for what both touched, and the notices of both runs with
//! their exit codes merged (the worse one wins).

use super::Ferry;
use crate::config::Config;
use crate::exit::Outcome;
use crate::mapping::Mapping;
use crate::notify::{Notice, notices_for};
use crate::schedule::JobResult;
use crate::store::Store;
use crate::sync::{SyncError, SyncOptions, SyncOutcome, run_sync};
use crate::transfer::archive::{ArchiveRequest, run_archive};
use crate::transfer::{TransferError, TransferOutcome};
use std::sync::Arc;

/// One scheduled run: sync, then (when the sync finished) the nightly archive, the thumbnails
/// of changed files, then the index refresh; the web app's reader follows at its next search.
pub async fn scheduled_sync(config: Arc<Config>, mapping: Mapping) -> JobResult {
    let setup =
        Ferry::with_mapping(&config, mapping).and_then(|ferry| Ok((ferry.open_store()?, ferry)));
    let (mut store, ferry) = match setup {
        Ok(s) => s,
        Err(e) => return JobResult::Failed(format!("{e:#}")),
    };
    let ctx = ferry.sync_context(None);
    let synced = run_sync(&mut store, &ctx, &SyncOptions::default()).await;
    // The archive rules run after a sync that finished: what it pulled decides which media a
    // status field marks ready.
    let archived = match &synced {
        Ok(out) if out.outcome != Outcome::Fatal => nightly_archive(&ferry, &mut store).await,
        _ => None,
    };
    if let Some(Err(e)) = &archived {
        tracing::warn!(error = %e, "the nightly archive did not run");
    }
    // Thumbnails of what the run read whose file changed, as `ferry sync` makes them.
    if let Ok(out) = &synced
        && ferry.settings.thumbnails.on_sync
    {
        ferry.fill_thumbnails(&store, &out.touched).await;
    }
    match synced {
        Ok(out) => finished(&ferry, &store, out, archived),
        Err(e @ SyncError::LockedOut(_)) => JobResult::LockedOut(e.to_string()),
        Err(e @ SyncError::Locked(_)) => JobResult::Locked(e.to_string()),
        Err(e) => JobResult::Failed(e.to_string()),
    }
}

/// The archive of what the `[archive]` rules select, when a rule and the target folder are
/// configured.
async fn nightly_archive(
    ferry: &Ferry,
    store: &mut Store,
) -> Option<Result<TransferOutcome, TransferError>> {
    let rules = &ferry.settings.archive;
    if (rules.ready_collection.is_none() && rules.ready_field.is_none()) || rules.folder.is_none() {
        return None;
    }
    let ctx = ferry.transfer_context(None);
    let request = ArchiveRequest {
        by_rules: true,
        ..Default::default()
    };
    Some(run_archive(store, &ctx, &request, &Default::default()).await)
}

/// After a sync that ran: the index refresh for both runs, their notices, the worse exit code.
fn finished(
    ferry: &Ferry,
    store: &Store,
    mut out: SyncOutcome,
    archived: Option<Result<TransferOutcome, TransferError>>,
) -> JobResult {
    if let Some(Ok(a)) = &archived {
        out.touched.extend_from_slice(&a.touched);
    }
    ferry.after_run(store, &out.touched);
    let mut notices = notices_for(&out.report, &out.paths.html.display().to_string());
    let mut exit_code = out.outcome.code();
    match &archived {
        Some(Ok(a)) => {
            if let (Some(report), Some(paths)) = (&a.report, &a.paths) {
                notices.extend(notices_for(report, &paths.html.display().to_string()));
            }
            exit_code = exit_code.max(a.outcome.code());
        }
        Some(Err(e)) => {
            notices.push(Notice {
                kind: "failures",
                text: format!("the nightly archive did not run: {e}"),
            });
            exit_code = exit_code.max(Outcome::Failures.code());
        }
        None => {}
    }
    JobResult::Finished { exit_code, notices }
}
