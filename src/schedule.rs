//! The nightly service: runs the sync cycle on the configured schedule (ordinary 5-field
//! cron, UTC), never two at once, and refuses loudly while locked out.
//!
//! The decision of what to do at a moment (`Nightly::tick`) is separate from the loop that
//! waits and runs jobs, so tests drive it with an injected clock: runs when due, skips while
//! the previous run is still going, refuses while locked out.

use crate::clock::Clock;
use crate::notify::{Notice, Notifier};
use chrono::{DateTime, Utc};
use std::future::Future;
use std::time::Duration;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: croner::Cron,
    text: String,
}

impl Schedule {
    /// Reads ordinary 5-field cron (`minute hour day-of-month month day-of-week`).
    pub fn parse(five_field: &str) -> Result<Schedule, String> {
        let fields = five_field.split_whitespace().count();
        if fields != 5 {
            return Err(format!(
                "'{five_field}' has {fields} fields; ferry takes ordinary 5-field cron (minute hour day-of-month month day-of-week)"
            ));
        }
        let cron: croner::Cron = five_field
            .parse()
            .map_err(|e| format!("'{five_field}' is not valid cron: {e}"))?;
        Ok(Schedule {
            cron,
            text: five_field.to_string(),
        })
    }

    /// The first time the schedule fires strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&t, false).ok()
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// What the service should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    /// Nothing until this time.
    NotDue(DateTime<Utc>),
    /// Start a run now.
    Run,
    /// A run was due while the previous one still ran: skipped.
    SkipBusy,
    /// The schedule never fires again.
    Never,
}

/// The service's state: when the next run is due, and whether one is running.
#[derive(Debug, Clone)]
pub struct Nightly {
    schedule: Schedule,
    next: Option<DateTime<Utc>>,
    busy: bool,
}

impl Nightly {
    pub fn new(schedule: Schedule, now: DateTime<Utc>) -> Nightly {
        let next = schedule.next_after(now);
        Nightly {
            schedule,
            next,
            busy: false,
        }
    }

    pub fn next(&self) -> Option<DateTime<Utc>> {
        self.next
    }

    /// Decides what to do at `now`. A due run moves `next` on, whether it runs or is skipped,
    /// so a long run is never followed by a burst of catch-up runs.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Tick {
        let Some(due) = self.next else {
            return Tick::Never;
        };
        if now < due {
            return Tick::NotDue(due);
        }
        self.next = self.schedule.next_after(now);
        if self.busy {
            Tick::SkipBusy
        } else {
            self.busy = true;
            Tick::Run
        }
    }

    /// The run that `tick` started has ended.
    pub fn finished(&mut self) {
        self.busy = false;
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
        if let Some(handle) = &running
            && handle.is_finished()
        {
            let handle = running.take().expect("checked above");
            nightly.finished();
            report(
                &notifier,
                handle
                    .await
                    .unwrap_or_else(|e| JobResult::Failed(e.to_string())),
            )
            .await;
        }
        let wait = match nightly.tick(clock.now()) {
            Tick::Run => {
                tracing::info!("starting the scheduled sync");
                // The job runs on a thread of its own (driven by this runtime), so a sync
                // future that is not Send can run while this loop keeps watching the clock.
                let job = job.clone();
                let handle = tokio::runtime::Handle::current();
                running = Some(tokio::task::spawn_blocking(move || handle.block_on(job())));
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
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(wait) => {}
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

    #[tokio::test]
    async fn the_service_runs_jobs_when_due_and_reports_a_lockout() {
        let dir = tempfile::tempdir().unwrap();
        let notes = dir.path().join("notes.jsonl");
        let notifier = Notifier::new(&crate::config::NotifyConfig {
            webhook_url: None,
            file: Some(notes.clone()),
            expiring_days: 30,
        });
        let clock = Clock::fixed(at(1, 59));
        let nightly = Nightly::new(Schedule::parse("0 2 * * *").unwrap(), clock.now());
        let runs = Arc::new(AtomicUsize::new(0));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let job_runs = runs.clone();
        let service = tokio::spawn(run_service(
            nightly,
            clock.clone(),
            Duration::from_millis(5),
            notifier,
            move || {
                let runs = job_runs.clone();
                async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    JobResult::LockedOut("preservica listed no assets".into())
                }
            },
            Stop {
                signal: async {
                    let _ = stop_rx.await;
                },
                grace: Duration::from_secs(5),
            },
        ));
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
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let (s, d) = (started.clone(), done.clone());
            let service = tokio::spawn(run_service(
                nightly,
                clock.clone(),
                Duration::from_millis(5),
                Notifier::new(&crate::config::NotifyConfig {
                    webhook_url: None,
                    file: None,
                    expiring_days: 30,
                }),
                move || {
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
                },
                Stop {
                    signal: async {
                        let _ = stop_rx.await;
                    },
                    grace: Duration::from_millis(grace_ms),
                },
            ));
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
