//! The nightly service: runs the sync cycle on the configured schedule (ordinary 5-field
//! cron, UTC), never two at once, and refuses loudly while locked out.
//!
//! A scheduled run is not lost to another run's lock: when a manual run (`ferry sync` by hand
//! or from cron) holds the run lock at the scheduled minute, the scheduled run waits and
//! starts again every [`Nightly::lock_retry`] until the lock frees, so it runs at most that
//! long after the other run ends. It gives up only after [`Nightly::lock_max_wait`] or when
//! the next scheduled run is due, whichever comes first, with a notice. Its messages (when it
//! finally runs, or gives up) name the lock that held it up as it was at the scheduled minute.
//!
//! The decision of what to do at a moment (`Nightly::tick`) is separate from the loop that
//! waits and runs jobs, so tests drive it with an injected clock: runs when due, skips while
//! the previous run is still going, waits out another run's lock, refuses while locked out.
//!
//! When runs are due comes from tokio-cron-scheduler's parser (`cron.rs`). Its job runner is
//! not used: it reads the system clock, and the held-up-run logic and the tests need the
//! injected [`Clock`], so the loop here asks the parsed schedule for the next time itself.

use crate::clock::Clock;
use crate::notify::{Notice, Notifier};
use chrono::{DateTime, Utc};

mod cron;

pub use cron::{Schedule, six_field_cron};

/// How often a scheduled run held up by another run's lock tries again, by default.
pub const LOCK_RETRY: Duration = Duration::from_secs(30);
/// How long a scheduled run waits for another run's lock at most, by default (a run lock's
/// own expiry is 6 hours).
pub const LOCK_MAX_WAIT: Duration = Duration::from_secs(6 * 3600);
use std::future::Future;
use std::time::Duration;

/// What the service should do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tick {
    /// Nothing until this time.
    NotDue(DateTime<Utc>),
    /// Start a run now.
    Run,
    /// Start again the scheduled run that another run's lock held up.
    Retry(HeldUp),
    /// The scheduled run held up by another run's lock waited as long as it may: not run.
    GiveUp(HeldUp),
    /// A run was due while the previous one still ran: skipped.
    SkipBusy,
    /// The schedule never fires again.
    Never,
}

/// A scheduled run that found the run lock held at its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldUp {
    /// When the run was scheduled.
    pub due: DateTime<Utc>,
    /// The lock that held it up, as it was then (the job's message naming its holder).
    pub blocked_by: String,
}

impl HeldUp {
    /// The message of a held-up run that has now run.
    pub fn ran_message(&self, now: DateTime<Utc>) -> String {
        format!(
            "the scheduled sync due at {} ran at {} ({} min late): at its time {}",
            self.due.to_rfc3339(),
            now.to_rfc3339(),
            (now - self.due).num_minutes(),
            self.blocked_by
        )
    }

    /// The message of a held-up run that gave up waiting.
    pub fn gave_up_message(&self, now: DateTime<Utc>) -> String {
        format!(
            "the scheduled sync due at {} did not run: at its time {}, and at {} the lock was \
             still held; the next scheduled run will try again",
            self.due.to_rfc3339(),
            self.blocked_by,
            now.to_rfc3339()
        )
    }
}

/// A held-up run waiting for the lock.
#[derive(Debug, Clone)]
struct Waiting {
    held_up: HeldUp,
    retry_at: DateTime<Utc>,
    give_up_at: DateTime<Utc>,
}

/// The service's state: when the next run is due, whether one is running, and a scheduled run
/// waiting for another run's lock.
#[derive(Debug, Clone)]
pub struct Nightly {
    schedule: Schedule,
    next: Option<DateTime<Utc>>,
    busy: bool,
    /// When the running run was scheduled, and what held it up if it is a retry.
    running: Option<(DateTime<Utc>, Option<HeldUp>)>,
    waiting: Option<Waiting>,
    lock_retry: Duration,
    lock_max_wait: Duration,
}

impl Nightly {
    pub fn new(schedule: Schedule, now: DateTime<Utc>) -> Nightly {
        let next = schedule.next_after(now);
        Nightly {
            schedule,
            next,
            busy: false,
            running: None,
            waiting: None,
            lock_retry: LOCK_RETRY,
            lock_max_wait: LOCK_MAX_WAIT,
        }
    }

    /// Sets how often a run held up by the lock tries again and how long it waits at most.
    pub fn with_lock_wait(mut self, retry: Duration, max_wait: Duration) -> Nightly {
        self.lock_retry = retry;
        self.lock_max_wait = max_wait;
        self
    }

    /// How often a run held up by another run's lock tries again.
    pub fn lock_retry(&self) -> Duration {
        self.lock_retry
    }

    /// How long a run held up by another run's lock waits at most.
    pub fn lock_max_wait(&self) -> Duration {
        self.lock_max_wait
    }

    pub fn next(&self) -> Option<DateTime<Utc>> {
        self.next
    }

    /// Decides what to do at `now`. A due run moves `next` on, whether it runs or is skipped,
    /// so a long run is never followed by a burst of catch-up runs. A run held up by the lock
    /// is tried again when its retry is due, and given up before the next scheduled run.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Tick {
        if !self.busy
            && let Some(w) = &self.waiting
        {
            if now >= w.give_up_at {
                let w = self.waiting.take().expect("checked above");
                return Tick::GiveUp(w.held_up);
            }
            if now >= w.retry_at {
                let w = self.waiting.take().expect("checked above");
                self.busy = true;
                self.running = Some((w.held_up.due, Some(w.held_up.clone())));
                return Tick::Retry(w.held_up);
            }
        }
        let Some(due) = self.next else {
            return match &self.waiting {
                Some(w) => Tick::NotDue(w.retry_at.min(w.give_up_at)),
                None => Tick::Never,
            };
        };
        if now < due {
            let soonest = match &self.waiting {
                Some(w) => due.min(w.retry_at).min(w.give_up_at),
                None => due,
            };
            return Tick::NotDue(soonest);
        }
        self.next = self.schedule.next_after(now);
        if self.busy {
            Tick::SkipBusy
        } else {
            self.busy = true;
            self.running = Some((due, None));
            Tick::Run
        }
    }

    /// The run that `tick` started has ended; returns what had held it up when it was a
    /// retry.
    pub fn finished(&mut self) -> Option<HeldUp> {
        self.busy = false;
        self.running.take().and_then(|(_, held_up)| held_up)
    }

    /// The run that `tick` started found the run lock held (`blocked_by` names the holder):
    /// it waits and is tried again. A retry keeps the lock it was first held up by. Returns
    /// the held-up run, and whether it was held up just now (its first attempt).
    pub fn blocked(&mut self, now: DateTime<Utc>, blocked_by: String) -> (HeldUp, bool) {
        self.busy = false;
        let (due, earlier) = self.running.take().unwrap_or((now, None));
        let first = earlier.is_none();
        let held_up = earlier.unwrap_or(HeldUp { due, blocked_by });
        let chrono_wait =
            |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        let mut give_up_at = held_up.due + chrono_wait(self.lock_max_wait);
        if let Some(next) = self.next {
            give_up_at = give_up_at.min(next);
        }
        self.waiting = Some(Waiting {
            held_up: held_up.clone(),
            retry_at: now + chrono_wait(self.lock_retry),
            give_up_at,
        });
        (held_up, first)
    }
}

/// How a scheduled run ended, as the service reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobResult {
    /// The run finished with this exit code; notices to send.
    Finished { exit_code: u8, notices: Vec<Notice> },
    /// Locked out after a critical error: refused until `ferry sync --recover`.
    LockedOut(String),
    /// Another process holds the run lock.
    Locked(String),
    /// The run could not start (config, store, network).
    Failed(String),
}

/// When the service stops: once `signal` resolves, a running job gets `grace` to finish.
pub struct Stop<S> {
    pub signal: S,
    pub grace: Duration,
}

/// Runs `job` on `nightly`'s schedule until `stop.signal` resolves; then lets a running job
/// end within `stop.grace` and returns. A job still running then is left to the process's
/// end: its planned writes stay in the outbox and the next run finishes them, so nothing is
/// written twice. `poll` bounds how long the loop sleeps between looks at the clock.
pub async fn run_service<F, Fut, S>(
    mut nightly: Nightly,
    clock: Clock,
    poll: Duration,
    notifier: Notifier,
    job: F,
    stop: Stop<S>,
) where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = JobResult> + 'static,
    S: Future<Output = ()>,
{
    let shutdown = stop.signal;
    tokio::pin!(shutdown);
    let mut running: Option<tokio::task::JoinHandle<JobResult>> = None;
    tracing::info!(schedule = nightly.schedule.text(), next = ?nightly.next(), "nightly service started");
    loop {
        let wait = match nightly.tick(clock.now()) {
            Tick::Run | Tick::Retry(_) => {
                tracing::info!("starting the scheduled sync");
                // The job runs on a thread of its own (driven by this runtime), so a sync
                // future that is not Send can run while this loop keeps watching the clock.
                let job = job.clone();
                let handle = tokio::runtime::Handle::current();
                running = Some(tokio::task::spawn_blocking(move || handle.block_on(job())));
                poll
            }
            Tick::GiveUp(held_up) => {
                let text = held_up.gave_up_message(clock.now());
                tracing::warn!("{text}");
                notifier
                    .send_all(&[Notice {
                        kind: "skipped_run",
                        text,
                    }])
                    .await;
                poll
            }
            Tick::SkipBusy => {
                tracing::warn!(
                    "a scheduled sync was due while the previous one still runs; skipped"
                );
                notifier
                    .send_all(&[Notice {
                        kind: "skipped_run",
                        text: "a scheduled sync was skipped: the previous one was still running"
                            .into(),
                    }])
                    .await;
                poll
            }
            Tick::NotDue(due) => (due - clock.now()).to_std().unwrap_or(poll).min(poll),
            Tick::Never => poll,
        };
        // A job's end is taken in as it happens (a run held up by the lock starts waiting at
        // once), not at the next look at the clock.
        let ended = tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(wait) => None,
            result = async { running.as_mut().expect("guarded").await }, if running.is_some() => {
                Some(result.unwrap_or_else(|e| JobResult::Failed(e.to_string())))
            }
        };
        if let Some(result) = ended {
            running = None;
            settle(&mut nightly, &notifier, clock.now(), result).await;
        }
    }
    if let Some(handle) = running {
        tracing::info!(
            grace_seconds = stop.grace.as_secs(),
            "shutting down: letting the running sync finish"
        );
        match tokio::time::timeout(stop.grace, handle).await {
            Ok(result) => {
                report(
                    &notifier,
                    result.unwrap_or_else(|e| JobResult::Failed(e.to_string())),
                )
                .await
            }
            Err(_) => tracing::warn!(
                grace_seconds = stop.grace.as_secs(),
                "the running sync did not finish in time; stopping without it (the next run finishes its planned writes)"
            ),
        }
    }
    tracing::info!("nightly service stopped");
}

/// Takes in how a scheduled run ended: a run held up by another run's lock waits and is tried
/// again; any other end is reported, naming what held the run up if it had to wait.
async fn settle(nightly: &mut Nightly, notifier: &Notifier, now: DateTime<Utc>, result: JobResult) {
    if let JobResult::Locked(why) = result {
        let (held_up, first) = nightly.blocked(now, why);
        if first {
            tracing::warn!(
                due = %held_up.due.to_rfc3339(),
                "the scheduled sync waits for another run's lock: {}; it starts when the lock \
                 frees (tried every {} s, for at most {} min)",
                held_up.blocked_by,
                nightly.lock_retry().as_secs(),
                nightly.lock_max_wait().as_secs() / 60
            );
        }
        return;
    }
    if let Some(held_up) = nightly.finished() {
        tracing::info!("{}", held_up.ran_message(now));
    }
    report(notifier, result).await;
}

async fn report(notifier: &Notifier, result: JobResult) {
    match result {
        JobResult::Finished { exit_code, notices } => {
            tracing::info!(exit_code, "scheduled sync finished");
            notifier.send_all(&notices).await;
        }
        JobResult::LockedOut(why) => {
            tracing::error!(reason = %why, "LOCKED OUT: the scheduled sync refused to start; run `ferry sync --recover` after checking the last report");
            notifier
                .send_all(&[Notice {
                    kind: "lockout",
                    text: format!("the scheduled sync refused to start: {why}"),
                }])
                .await;
        }
        JobResult::Locked(why) => {
            tracing::warn!(reason = %why, "the scheduled sync was skipped: another run holds the lock")
        }
        JobResult::Failed(why) => {
            tracing::error!(reason = %why, "the scheduled sync failed");
            notifier
                .send_all(&[Notice {
                    kind: "failures",
                    text: format!("the scheduled sync failed: {why}"),
                }])
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, h, m, 0).unwrap()
    }

    /// A notifier that appends to `file` (or nowhere).
    fn notifier(file: Option<std::path::PathBuf>) -> Notifier {
        Notifier::new(&crate::config::NotifyConfig {
            webhook_url: None,
            file,
            expiring_days: 30,
        })
    }

    /// The service running `job` on `nightly`, looking at `clock` every 5 ms, until the
    /// returned sender is used (or dropped).
    fn start<F, Fut>(
        nightly: Nightly,
        clock: &Clock,
        notifier: Notifier,
        job: F,
        grace: Duration,
    ) -> (
        tokio::task::JoinHandle<()>,
        tokio::sync::oneshot::Sender<()>,
    )
    where
        F: Fn() -> Fut + Clone + Send + 'static,
        Fut: Future<Output = JobResult> + 'static,
    {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let service = tokio::spawn(run_service(
            nightly,
            clock.clone(),
            Duration::from_millis(5),
            notifier,
            job,
            Stop {
                signal: async {
                    let _ = stop_rx.await;
                },
                grace,
            },
        ));
        (service, stop_tx)
    }

    /// Time passes a second per 5 ms until `done`.
    async fn until(clock: &Clock, what: &str, done: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting: {what}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
            clock.advance(chrono::Duration::seconds(1));
        }
    }

    /// A scheduled sync that takes the store's run lock as a real one does: `attempts` counts
    /// its starts, `ran` the ones that got the lock.
    fn lock_taking_job(
        db: std::path::PathBuf,
        clock: Clock,
        attempts: Arc<AtomicUsize>,
        ran: Arc<AtomicUsize>,
    ) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = JobResult>>> + Clone + Send + 'static
    {
        move || {
            let (attempts, ran, db, clock) =
                (attempts.clone(), ran.clone(), db.clone(), clock.clone());
            Box::pin(async move {
                attempts.fetch_add(1, Ordering::SeqCst);
                let mut store = crate::store::Store::open(&db).unwrap();
                let ttl = chrono::Duration::hours(6);
                match crate::sync::lock::acquire(&mut store, clock.now(), ttl).unwrap() {
                    Err(holder) => {
                        JobResult::Locked(format!("pid {} holds the lock", holder.owner_pid))
                    }
                    Ok(()) => {
                        store.release_lock(i64::from(std::process::id())).unwrap();
                        ran.fetch_add(1, Ordering::SeqCst);
                        JobResult::Finished {
                            exit_code: 0,
                            notices: Vec::new(),
                        }
                    }
                }
            })
        }
    }

    #[test]
    fn five_field_cron_is_read_and_others_refused() {
        let s = Schedule::parse("30 2 * * *").unwrap();
        assert_eq!(s.next_after(at(1, 0)), Some(at(2, 30)));
        assert_eq!(
            s.next_after(at(2, 30)).unwrap().date_naive().to_string(),
            "2026-11-28"
        );
        assert!(
            Schedule::parse("0 30 2 * * *")
                .unwrap_err()
                .contains("has 6 fields")
        );
        assert!(Schedule::parse("61 2 * * *").is_err());
    }

    #[test]
    fn runs_when_due_and_skips_while_busy() {
        let mut n = Nightly::new(Schedule::parse("*/10 * * * *").unwrap(), at(1, 1));
        assert_eq!(n.tick(at(1, 5)), Tick::NotDue(at(1, 10)));
        assert_eq!(n.tick(at(1, 10)), Tick::Run);
        // Still running at the next due time: skipped, and the schedule moves on.
        assert_eq!(n.tick(at(1, 20)), Tick::SkipBusy);
        assert_eq!(n.next(), Some(at(1, 30)));
        n.finished();
        assert_eq!(n.tick(at(1, 30)), Tick::Run);
        // A run that ends long after its slot does not cause catch-up runs.
        n.finished();
        assert_eq!(n.tick(at(3, 2)), Tick::Run);
        assert_eq!(n.next(), Some(at(3, 10)));
    }

    #[test]
    fn a_run_held_up_by_the_lock_is_retried_and_keeps_the_first_holder() {
        let min = |m: u64| Duration::from_secs(60 * m);
        let mut n = Nightly::new(Schedule::parse("0 2 * * *").unwrap(), at(1, 0))
            .with_lock_wait(min(1), min(180));
        assert_eq!(n.tick(at(2, 0)), Tick::Run);
        let (held, first) = n.blocked(at(2, 0), "held by pid 1".into());
        assert!(first);
        assert_eq!(held.due, at(2, 0));
        // Waiting: the retry is the next thing due, not tomorrow's run.
        assert_eq!(n.tick(at(2, 0)), Tick::NotDue(at(2, 1)));
        let retry = n.tick(at(2, 1));
        assert_eq!(retry, Tick::Retry(held.clone()));
        // Held up again, by another holder: the first one is what it reports.
        let (again, first) = n.blocked(at(2, 1), "held by pid 2".into());
        assert!(!first);
        assert_eq!(again.blocked_by, "held by pid 1");
        assert_eq!(n.tick(at(2, 2)), Tick::Retry(held.clone()));
        let ran = n.finished().expect("a retry says what held it up");
        let text = ran.ran_message(at(2, 2));
        assert!(
            text.contains("due at 2026-11-27T02:00:00+00:00")
                && text.contains("2 min late")
                && text.contains("held by pid 1"),
            "{text}"
        );
        assert_eq!(
            n.next(),
            Some(Utc.with_ymd_and_hms(2026, 11, 28, 2, 0, 0).unwrap())
        );

        // Held up past the longest wait: given up, naming the lock as it was at 02:00.
        let mut n = Nightly::new(Schedule::parse("0 2 * * *").unwrap(), at(1, 0))
            .with_lock_wait(min(1), min(10));
        assert_eq!(n.tick(at(2, 0)), Tick::Run);
        n.blocked(at(2, 0), "held by pid 7".into());
        for m in 1..10 {
            assert!(matches!(n.tick(at(2, m)), Tick::Retry(_)));
            n.blocked(at(2, m), "held by pid 8".into());
        }
        match n.tick(at(2, 10)) {
            Tick::GiveUp(h) => {
                let text = h.gave_up_message(at(2, 10));
                assert!(
                    text.contains("held by pid 7") && !text.contains("pid 8"),
                    "{text}"
                );
            }
            other => panic!("expected GiveUp, got {other:?}"),
        }
        assert!(matches!(n.tick(at(2, 11)), Tick::NotDue(_)));

        // Never past the next scheduled run: it gives up first, then the next one runs.
        let mut n = Nightly::new(Schedule::parse("*/10 * * * *").unwrap(), at(1, 1))
            .with_lock_wait(min(1), min(180));
        assert_eq!(n.tick(at(1, 10)), Tick::Run);
        n.blocked(at(1, 10), "held".into());
        for m in 11..20 {
            assert!(matches!(n.tick(at(1, m)), Tick::Retry(_)));
            n.blocked(at(1, m), "held".into());
        }
        assert!(matches!(n.tick(at(1, 20)), Tick::GiveUp(_)));
        assert_eq!(n.tick(at(1, 20)), Tick::Run);
        assert_eq!(n.finished(), None, "a run on time was not held up");
    }

    /// The service against a real store's run lock: a manual run holds it at the scheduled
    /// minute, the scheduled run waits, and runs once the lock frees.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_service_runs_a_held_up_run_when_the_lock_frees() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ferry.db");
        let notes = dir.path().join("notes.jsonl");
        // A live process of this host holds the lock: it is not taken over.
        let mut manual = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let manual_pid = i64::from(manual.id());
        let host = crate::sync::lock::this_host();
        let mut store = crate::store::Store::open(&db).unwrap();
        store
            .acquire_lock(manual_pid, &host, at(1, 55), chrono::Duration::hours(6))
            .unwrap()
            .unwrap();
        let clock = Clock::fixed(at(1, 59));
        let nightly = Nightly::new(Schedule::parse("0 2 * * *").unwrap(), clock.now())
            .with_lock_wait(Duration::from_secs(60), Duration::from_secs(3600));
        let attempts = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let job = lock_taking_job(db.clone(), clock.clone(), attempts.clone(), ran.clone());
        let (service, stop_tx) = start(
            nightly,
            &clock,
            notifier(Some(notes.clone())),
            job,
            Duration::from_secs(5),
        );
        clock.set(at(2, 0));
        until(&clock, "the first attempt", || {
            attempts.load(Ordering::SeqCst) >= 1
        })
        .await;
        // Still held: tried again a minute later, still waiting.
        until(&clock, "the second attempt", || {
            attempts.load(Ordering::SeqCst) >= 2
        })
        .await;
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        // The manual run ends; within one retry the scheduled run starts.
        store.release_lock(manual_pid).unwrap();
        let freed = clock.now();
        until(&clock, "the held-up run", || {
            ran.load(Ordering::SeqCst) == 1
        })
        .await;
        let late = clock.now() - freed;
        assert!(
            late <= chrono::Duration::seconds(70),
            "ran {late} after the lock freed"
        );
        let _ = stop_tx.send(());
        service.await.unwrap();
        manual.kill().unwrap();
        manual.wait().unwrap();
        let text = std::fs::read_to_string(&notes).unwrap_or_default();
        assert!(!text.contains("skipped_run"), "{text}");
    }

    #[tokio::test]
    async fn the_service_runs_jobs_when_due_and_reports_a_lockout() {
        let dir = tempfile::tempdir().unwrap();
        let notes = dir.path().join("notes.jsonl");
        let clock = Clock::fixed(at(1, 59));
        let nightly = Nightly::new(Schedule::parse("0 2 * * *").unwrap(), clock.now());
        let runs = Arc::new(AtomicUsize::new(0));
        let job_runs = runs.clone();
        let job = move || {
            let runs = job_runs.clone();
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                JobResult::LockedOut("preservica listed no assets".into())
            }
        };
        let (service, stop_tx) = start(
            nightly,
            &clock,
            notifier(Some(notes.clone())),
            job,
            Duration::from_secs(5),
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 0, "not due yet");
        clock.set(at(2, 0));
        for _ in 0..100 {
            if runs.load(Ordering::SeqCst) == 1 && notes.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let _ = stop_tx.send(());
        service.await.unwrap();
        let text = std::fs::read_to_string(&notes).unwrap();
        assert!(
            text.contains("\"lockout\"") && text.contains("refused to start"),
            "{text}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stop_lets_a_running_sync_finish_within_the_grace_and_no_longer() {
        use std::sync::atomic::AtomicBool;
        // (how long the sync takes, the grace, whether the service waits for it)
        for (job_ms, grace_ms, waited) in [(100, 3000, true), (1500, 200, false)] {
            let clock = Clock::fixed(at(1, 59));
            let nightly = Nightly::new(Schedule::parse("0 2 * * *").unwrap(), clock.now());
            let (started, done) = (
                Arc::new(AtomicBool::new(false)),
                Arc::new(AtomicBool::new(false)),
            );
            let (s, d) = (started.clone(), done.clone());
            let job = move || {
                let (s, d) = (s.clone(), d.clone());
                async move {
                    s.store(true, Ordering::SeqCst);
                    // The job runs on a thread of its own: a blocking sleep stands for a
                    // sync at work.
                    std::thread::sleep(Duration::from_millis(job_ms));
                    d.store(true, Ordering::SeqCst);
                    JobResult::Finished {
                        exit_code: 0,
                        notices: Vec::new(),
                    }
                }
            };
            let grace = Duration::from_millis(grace_ms);
            let (service, stop_tx) = start(nightly, &clock, notifier(None), job, grace);
            clock.set(at(2, 0));
            for _ in 0..500 {
                if started.load(Ordering::SeqCst) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert!(started.load(Ordering::SeqCst), "the sync started");
            let asked = std::time::Instant::now();
            let _ = stop_tx.send(());
            tokio::time::timeout(Duration::from_secs(10), service)
                .await
                .expect("the service stops within its bound")
                .unwrap();
            let took = asked.elapsed();
            assert_eq!(
                done.load(Ordering::SeqCst),
                waited,
                "job {job_ms} ms, grace {grace_ms} ms"
            );
            assert!(
                took < Duration::from_millis(grace_ms + 1000),
                "took {took:?}"
            );
        }
    }
}
