//! The index writer's lifecycle: **no process holds the writer longer than one update.**
//!
//! tantivy allows one `IndexWriter` per index directory, across every process on the machine
//! (an OS file lock on `.tantivy-writer.lock`, released when the writer is dropped or its
//! process ends). Any number of ferry processes share one index (`ferry serve` with its
//! nightly job and web republish, `ferry sync` / `archive` / `republish` from cron or by hand,
//! `ferry index rebuild`), so each of them takes the writer only to apply one update: open,
//! write, commit, let merges finish, release ([`with_writer`]).
//!
//! An update that finds the writer held waits rather than giving up: it says so once in the
//! log, polls with a growing pause (at most [`MAX_PAUSE`]), and takes the writer as soon as
//! it is free. Only after [`WRITER_WAIT`] (or the wait the caller set) is it refused with
//! [`IndexError::Busy`].
//!
//! Every update opens a fresh `Index` on the directory: tantivy reads its list of managed
//! files when an index is opened, and a handle opened before another process's commits would
//! not know their files (its clean-up and `.managed.json` would be stale). Readers never take
//! the writer; they follow commits by reloading (see `SearchIndex::search`).

use super::IndexError;
use std::path::Path;
use std::time::{Duration, Instant};
use tantivy::{Index, IndexWriter, TantivyError};

/// How long an update waits for another process's update to finish before it is refused. A
/// full rebuild of a large index takes minutes; an incremental update takes seconds.
pub const WRITER_WAIT: Duration = Duration::from_secs(600);
/// The longest pause between two attempts to take the writer.
pub const MAX_PAUSE: Duration = Duration::from_millis(500);
/// Writer memory per indexing thread.
const WRITER_BYTES_PER_THREAD: usize = 64 << 20;

/// Runs `update` with the writer of `index`, waiting at most `wait` for another process to
/// release it. On success the commit is made by `update` and merges are let finish before
/// the writer is released; on error the uncommitted work is rolled back. Either way the
/// writer is released when this returns.
pub fn with_writer<T>(
    index: &Index,
    label: &Path,
    wait: Duration,
    update: impl FnOnce(&mut IndexWriter) -> Result<T, IndexError>,
) -> Result<T, IndexError> {
    let mut writer = acquire(index, label, wait)?;
    match update(&mut writer) {
        Ok(value) => {
            // Merges run in the writer's threads: waiting for them keeps the index compact
            // and releases the lock only when nothing of this update is still running.
            if let Err(e) = writer.wait_merging_threads() {
                tracing::warn!(error = %e, index = %label.display(), "merging index segments failed; the index is correct, only slower");
            }
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) = writer.rollback() {
                tracing::warn!(error = %rollback, "rolling back the search index update failed");
            }
            Err(e)
        }
    }
}

/// Takes the writer, waiting (bounded, with one log line) while another process holds it.
fn acquire(index: &Index, label: &Path, wait: Duration) -> Result<IndexWriter, IndexError> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    wait_while_busy(label, wait, || {
        match index.writer_with_num_threads(threads, threads * WRITER_BYTES_PER_THREAD) {
            Ok(writer) => Ok(Some(writer)),
            Err(TantivyError::LockFailure(..)) => Ok(None),
            Err(source) => Err(IndexError::Tantivy {
                path: label.to_path_buf(),
                context: "cannot start the index writer",
                source,
            }),
        }
    })
}

/// Calls `attempt` until it gives a value (`Ok(None)`: the writer is busy), pausing between
/// attempts, for at most `wait`; then [`IndexError::Busy`].
pub fn wait_while_busy<T>(
    label: &Path,
    wait: Duration,
    mut attempt: impl FnMut() -> Result<Option<T>, IndexError>,
) -> Result<T, IndexError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(20);
    let mut told = false;
    loop {
        if let Some(value) = attempt()? {
            if told {
                tracing::info!(
                    index = %label.display(),
                    waited_ms = started.elapsed().as_millis() as u64,
                    "the search index is free again; updating it"
                );
            }
            return Ok(value);
        }
        let waited = started.elapsed();
        if waited >= wait {
            return Err(IndexError::Busy {
                path: label.to_path_buf(),
                waited_secs: waited.as_secs_f64(),
            });
        }
        if !told {
            tracing::warn!(
                index = %label.display(),
                "another ferry process is updating the search index; waiting for it (at most {} s)",
                wait.as_secs()
            );
            told = true;
        }
        std::thread::sleep(pause.min(wait - waited));
        pause = (pause * 2).min(MAX_PAUSE);
    }
}
