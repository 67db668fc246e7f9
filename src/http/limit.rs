//! The limit on requests in flight to one system, found at run time: each system's pace is
//! its own, and a fixed number is either too low (the night is wasted) or too high (the tenant
//! throttles). The configured `concurrency` is the ceiling the limit never passes.
//!
//! The rule is additive increase, multiplicative decrease, as TCP does it:
//! - **Slow start**: until the first sign of overload, each clean answer adds one (the limit
//!   doubles every round trip), so a fast server reaches the ceiling in a few round trips.
//! - **Congestion avoidance**: after that, each clean answer adds `1 / limit` (one per round
//!   trip's worth of answers).
//! - **Overload** (503, a timeout) halves the limit; **throttling** (429) takes 30% off: a
//!   server that counts requests says precisely that there were too many, and halving would
//!   leave a deep sawtooth below its limit; **a clear rise in latency** takes a tenth off.
//!   Latency is judged against the lowest seen for the same kind of request ([`Class`]: a
//!   listing page costs a server more than a record), as a smoothed ratio: a rise is the
//!   smoothed ratio above two, with this answer more than [`LATENCY_SLACK`] over its minimum.
//! - **Memory of a throttle**: within one request of the level where the server last said
//!   429, the limit grows ten times slower. A server that counts requests in flight throttles
//!   at the same level again, and every 429 costs its request the whole `Retry-After` (at the
//!   end of a run, the run waits for it); so another 429 at that level puts the limit just
//!   under it rather than 30% lower, and it probes the level half as often each time. Passing
//!   it cleanly by a whole request forgets it (the server takes more now).
//! - **One decrease per round trip**: every permit carries the epoch it was taken in, and only
//!   a signal from the current epoch decreases (then opens a new one). A burst of 429s from
//!   requests sent together therefore halves the limit once, not once per request.
//!
//! With `adaptive = false` the limit stays at the ceiling: a plain semaphore.
//!
//! [`Limiter`] is the policy alone, pure and clock-free (tests feed it outcomes);
//! [`AdaptiveLimit`] wraps it with the waiting.

use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Where the limit starts: below most ceilings so a throttling server is not hit with the
/// ceiling at once, and slow start reaches a fast server's ceiling within a few round trips.
const INITIAL: usize = 4;
/// An answer must be this much slower than its minimum (besides the smoothed ratio passing
/// two) to count as a rise: on loopback or a LAN, and on a client machine busy with other
/// work, tens of milliseconds of jitter are doubling, not congestion; a server a WAN away
/// that doubles its latency passes this anyway.
pub const LATENCY_SLACK: Duration = Duration::from_millis(50);
/// Every this many samples the minimum latencies are let up by a quarter, so a server that
/// became slower for good is not read as congested forever.
const MIN_RTT_WINDOW: u64 = 1_000;
/// How much slower the limit grows within a request of where the server last throttled, at
/// first; each further 429 at that level doubles it, up to the maximum (at 20 ms a round trip,
/// a probe every few seconds).
const PROBE_SLOWDOWN: f64 = 10.0;
const MAX_PROBE_SLOWDOWN: f64 = 160.0;
/// The most a minimum latency is let up to: beyond any timeout ferry uses.
const MAX_MIN_LATENCY: Duration = Duration::from_secs(3600);
/// Below this, latencies are too small to take a ratio of.
const LATENCY_FLOOR: Duration = Duration::from_micros(100);

/// The kind of request a latency belongs to: each has its own minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Login,
    Page,
    Record,
    Fragment,
    /// A streamed file's answer head.
    File,
}

impl Class {
    const ALL: usize = 5;

    fn index(self) -> usize {
        match self {
            Class::Login => 0,
            Class::Page => 1,
            Class::Record => 2,
            Class::Fragment => 3,
            Class::File => 4,
        }
    }
}

/// How one request ended, as the limit sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// A usable answer (any status the server chose to give) after `latency`.
    Answered(Duration, Class),
    /// An answer whose latency says nothing of the server's load (a large upload).
    Unmeasured,
    /// 429: the server counts requests and there were too many.
    Throttled,
    /// 503: the server said it is overloaded.
    Overloaded,
    /// No answer within the timeout.
    TimedOut,
    /// The request never reached a verdict (connection refused, the caller gave up).
    Dropped,
}

/// The policy: the current limit and what moves it.
#[derive(Debug, Clone)]
pub struct Limiter {
    ceiling: usize,
    adaptive: bool,
    limit: f64,
    slow_start: bool,
    /// The limit at which the server last answered 429, until passed cleanly.
    throttled_at: Option<f64>,
    /// How much slower the limit grows within a request of `throttled_at`.
    probe_slowdown: f64,
    epoch: u64,
    min_latency: [Option<Duration>; Class::ALL],
    /// Latency over its class's minimum, smoothed over about ten answers.
    smoothed_ratio: f64,
    samples: u64,
    lowest: usize,
    highest: usize,
}

impl Limiter {
    pub fn new(ceiling: usize, adaptive: bool) -> Limiter {
        let ceiling = ceiling.max(1);
        let start = if adaptive {
            INITIAL.min(ceiling)
        } else {
            ceiling
        };
        Limiter {
            ceiling,
            adaptive,
            limit: start as f64,
            slow_start: true,
            throttled_at: None,
            probe_slowdown: PROBE_SLOWDOWN,
            epoch: 0,
            min_latency: [None; Class::ALL],
            smoothed_ratio: 1.0,
            samples: 0,
            lowest: start,
            highest: start,
        }
    }

    /// Requests allowed in flight now.
    pub fn current(&self) -> usize {
        (self.limit.floor() as usize).clamp(1, self.ceiling)
    }

    /// The epoch a request taken now belongs to.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The lowest and highest limit since the range was last reset.
    pub fn range(&self) -> (usize, usize) {
        (self.lowest, self.highest)
    }

    /// Starts a new range at the current limit (a run reports the range it moved in).
    pub fn reset_range(&mut self) {
        self.lowest = self.current();
        self.highest = self.current();
    }

    pub fn ceiling(&self) -> usize {
        self.ceiling
    }

    /// Moves the limit for a request taken in `epoch` that ended with `outcome` while
    /// `in_flight` requests (itself included) were out; returns the new limit when it changed
    /// by a whole request.
    ///
    /// A clean answer raises the limit only while the limit is in use (at least half of it in
    /// flight): a caller that sends a few requests at a time says nothing of whether the server
    /// takes more, and a limit grown on such answers would be spent at once in a burst.
    pub fn record(&mut self, epoch: u64, outcome: Outcome, in_flight: usize) -> Option<usize> {
        if !self.adaptive {
            return None;
        }
        let before = self.current();
        match outcome {
            Outcome::Answered(latency, class) => {
                if self.observe(latency, class) {
                    self.decrease(epoch, 0.9);
                } else if in_flight * 2 >= self.current() {
                    self.increase();
                }
            }
            Outcome::Throttled => self.throttled(epoch),
            Outcome::Overloaded | Outcome::TimedOut => self.decrease(epoch, 0.5),
            Outcome::Unmeasured | Outcome::Dropped => {}
        }
        let after = self.current();
        self.lowest = self.lowest.min(after);
        self.highest = self.highest.max(after);
        (after != before).then_some(after)
    }

    /// Takes a latency sample; `true` when latency has clearly risen over the minimum.
    fn observe(&mut self, latency: Duration, class: Class) -> bool {
        self.samples += 1;
        if self.samples.is_multiple_of(MIN_RTT_WINDOW) {
            // Capped: a kind of request seldom sent (a login) is let up every window while
            // no answer of its kind brings it down, and would overflow in a long run.
            for min in self.min_latency.iter_mut().flatten() {
                *min = min.saturating_add(*min / 4).min(MAX_MIN_LATENCY);
            }
        }
        let min = self.min_latency[class.index()].get_or_insert(latency);
        if latency < *min {
            *min = latency;
        }
        let min = *min;
        let ratio = latency.max(LATENCY_FLOOR).as_secs_f64() / min.max(LATENCY_FLOOR).as_secs_f64();
        // An exponential average over about ten answers: one slow answer is not a trend.
        self.smoothed_ratio = 0.9 * self.smoothed_ratio + 0.1 * ratio;
        self.smoothed_ratio > 2.0 && latency > min + LATENCY_SLACK
    }

    fn increase(&mut self) {
        let mut step = if self.slow_start {
            1.0
        } else {
            1.0 / self.limit.max(1.0)
        };
        if let Some(at) = self.throttled_at {
            if self.limit >= at + 1.0 {
                self.throttled_at = None;
            } else if self.limit + 1.0 >= at {
                step /= self.probe_slowdown;
            }
        }
        self.limit = (self.limit + step).min(self.ceiling as f64);
    }

    /// A 429. The first at a level takes 30% off and remembers the level; another at the
    /// same level says the server's limit is just below it: the limit settles there, and
    /// probes the level half as often as before.
    fn throttled(&mut self, epoch: u64) {
        if epoch != self.epoch {
            return;
        }
        let level = self.limit.floor();
        if self.throttled_at == Some(level) {
            self.probe_slowdown = (self.probe_slowdown * 2.0).min(MAX_PROBE_SLOWDOWN);
            self.slow_start = false;
            self.limit = (level - 1.0).max(1.0);
            self.epoch += 1;
        } else {
            self.throttled_at = Some(level);
            self.probe_slowdown = PROBE_SLOWDOWN;
            self.decrease(epoch, 0.7);
        }
    }

    fn decrease(&mut self, epoch: u64, factor: f64) {
        if epoch != self.epoch {
            return;
        }
        self.slow_start = false;
        self.limit = (self.limit * factor).max(1.0);
        self.epoch += 1;
    }
}

/// The limiter shared by every request to one system, with waiting for a free place.
#[derive(Debug)]
pub struct AdaptiveLimit {
    state: Mutex<State>,
    freed: Notify,
}

#[derive(Debug)]
struct State {
    limiter: Limiter,
    in_flight: usize,
}

/// A place among the requests in flight; give it back with [`Permit::finish`]. Dropped
/// without a verdict (the caller was cancelled), it frees its place and moves nothing.
#[derive(Debug)]
pub struct Permit<'a> {
    owner: &'a AdaptiveLimit,
    epoch: u64,
    taken: Instant,
    finished: bool,
}

impl AdaptiveLimit {
    pub fn new(ceiling: usize, adaptive: bool) -> AdaptiveLimit {
        AdaptiveLimit {
            state: Mutex::new(State {
                limiter: Limiter::new(ceiling, adaptive),
                in_flight: 0,
            }),
            freed: Notify::new(),
        }
    }

    /// Waits for a place among the requests in flight.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            // Registered before looking, so a place freed in between still wakes us.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut state = self.lock();
                if state.in_flight < state.limiter.current() {
                    state.in_flight += 1;
                    return Permit {
                        owner: self,
                        epoch: state.limiter.epoch(),
                        taken: Instant::now(),
                        finished: false,
                    };
                }
            }
            freed.await;
        }
    }

    /// Requests allowed in flight now.
    pub fn current(&self) -> usize {
        self.lock().limiter.current()
    }

    /// The lowest and highest limit since the last reset, and the ceiling.
    pub fn range(&self) -> (usize, usize, usize) {
        let state = self.lock();
        let (low, high) = state.limiter.range();
        (low, high, state.limiter.ceiling())
    }

    /// Starts a new range at the current limit.
    pub fn reset_range(&self) {
        self.lock().limiter.reset_range();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is two numbers and a policy with no invariant a panic could break
        // half-way, so a poisoned lock is still good to use.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn release(&self, epoch: u64, outcome: Outcome) -> Option<usize> {
        let changed = {
            let mut state = self.lock();
            let in_flight = state.in_flight;
            state.in_flight = in_flight.saturating_sub(1);
            state.limiter.record(epoch, outcome, in_flight)
        };
        self.freed.notify_waiters();
        changed
    }
}

impl Permit<'_> {
    /// How long since the place was taken.
    pub fn elapsed(&self) -> Duration {
        self.taken.elapsed()
    }

    /// Frees the place with the request's outcome; returns the new limit when it changed.
    pub fn finish(mut self, outcome: Outcome) -> Option<usize> {
        self.finished = true;
        self.owner.release(self.epoch, outcome)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.owner.release(self.epoch, Outcome::Dropped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Duration = Duration::from_millis(20);

    /// Feeds `n` clean answers at `latency`, each from the epoch current when it was sent.
    fn answer(l: &mut Limiter, n: usize, latency: Duration) {
        for _ in 0..n {
            let e = l.epoch();
            l.record(e, Outcome::Answered(latency, Class::Record), l.current());
        }
    }

    #[test]
    fn a_fast_clean_server_takes_the_limit_to_the_ceiling_and_no_further() {
        let mut l = Limiter::new(32, true);
        assert_eq!(l.current(), INITIAL);
        answer(&mut l, 28, FAST);
        assert_eq!(l.current(), 32, "slow start adds one per clean answer");
        answer(&mut l, 1_000, FAST);
        assert_eq!(l.current(), 32);
        assert_eq!(l.range(), (INITIAL, 32));
    }

    #[test]
    fn a_burst_of_overload_answers_from_one_round_trip_halves_the_limit_once() {
        let mut l = Limiter::new(32, true);
        answer(&mut l, 28, FAST);
        let sent_together = l.epoch();
        for _ in 0..10 {
            l.record(sent_together, Outcome::Overloaded, 32);
        }
        assert_eq!(l.current(), 16);
        // The next round trip's timeout halves it again; throttling takes 30% off.
        l.record(l.epoch(), Outcome::TimedOut, 16);
        assert_eq!(l.current(), 8);
        l.record(l.epoch(), Outcome::Throttled, 8);
        assert_eq!(l.current(), 5);
    }

    #[test]
    fn after_overload_the_limit_grows_by_about_one_per_round_trip() {
        let mut l = Limiter::new(32, true);
        answer(&mut l, 12, FAST); // 16
        l.record(l.epoch(), Outcome::Overloaded, 16); // 8
        assert_eq!(l.current(), 8);
        answer(&mut l, 9, FAST);
        assert_eq!(l.current(), 9, "a round trip's worth of answers adds one");
        answer(&mut l, 500, FAST);
        assert_eq!(l.current(), 32, "and it recovers to the ceiling");
    }

    #[test]
    fn a_server_that_throttles_beyond_six_keeps_the_limit_near_six() {
        // A model of `--max-in-flight 6`: each round trip sends `limit` requests; those
        // beyond six are answered 429.
        let mut l = Limiter::new(32, true);
        let mut seen = Vec::new();
        for _ in 0..200 {
            let epoch = l.epoch();
            let sent = l.current();
            for i in 0..sent {
                let outcome = if i < 6 {
                    Outcome::Answered(FAST, Class::Record)
                } else {
                    Outcome::Throttled
                };
                l.record(epoch, outcome, sent);
            }
            seen.push(l.current());
        }
        let settled = &seen[100..];
        assert!(settled.iter().all(|n| (4..=7).contains(n)), "{settled:?}");
        let mean = settled.iter().sum::<usize>() as f64 / settled.len() as f64;
        assert!((5.0..=7.0).contains(&mean), "mean {mean}");
    }

    /// Round trips of `limit` requests against a server taking `server` at once; the limits
    /// after each and the 429s of the last half.
    fn against_a_counting_server(
        l: &mut Limiter,
        server: usize,
        trips: usize,
    ) -> (Vec<usize>, usize) {
        let mut seen = Vec::new();
        let mut late_429s = 0;
        for trip in 0..trips {
            let epoch = l.epoch();
            let sent = l.current();
            for i in 0..sent {
                let outcome = if i < server {
                    Outcome::Answered(FAST, Class::Record)
                } else {
                    if trip >= trips / 2 {
                        late_429s += 1;
                    }
                    Outcome::Throttled
                };
                l.record(epoch, outcome, sent);
            }
            seen.push(l.current());
        }
        (seen, late_429s)
    }

    #[test]
    fn after_a_429_the_limit_probes_the_level_that_was_throttled_only_now_and_then() {
        // Without the memory, the limit would climb back over eight every third round trip
        // and pay a Retry-After each time; with it, it stays at eight and probes nine rarely.
        let mut l = Limiter::new(32, true);
        let (seen, late_429s) = against_a_counting_server(&mut l, 8, 400);
        assert!(late_429s <= 20, "{late_429s} 429s in 200 round trips");
        let settled = &seen[200..];
        let at_eight = settled.iter().filter(|n| **n == 8).count();
        assert!(at_eight * 2 > settled.len(), "{settled:?}");
    }

    #[test]
    fn a_throttle_level_passed_cleanly_is_forgotten_and_the_limit_grows_on() {
        let mut l = Limiter::new(32, true);
        against_a_counting_server(&mut l, 8, 50);
        // The server now takes everything: the limit passes nine and reaches the ceiling.
        answer(&mut l, 5_000, FAST);
        assert_eq!(l.current(), 32);
    }

    #[test]
    fn a_long_run_with_a_kind_of_request_seldom_sent_keeps_its_minimum_in_bounds() {
        // One login, then a million record reads: the login's minimum is let up every
        // window with no login to bring it down, and must neither overflow nor stop a
        // later login from being judged.
        let mut l = Limiter::new(32, true);
        l.record(l.epoch(), Outcome::Answered(FAST, Class::Login), 1);
        answer(&mut l, 1_000_000, FAST);
        assert_eq!(l.current(), 32);
        l.record(l.epoch(), Outcome::Answered(FAST, Class::Login), 32);
        assert_eq!(l.current(), 32);
    }

    #[test]
    fn a_clear_rise_in_latency_takes_a_tenth_off_but_jitter_does_not() {
        let mut l = Limiter::new(32, true);
        answer(&mut l, 16, Duration::from_millis(2));
        let high = l.current();
        // Doubling of a 2 ms latency is within the slack: still growing.
        answer(&mut l, 4, Duration::from_millis(5));
        assert!(l.current() > high);
        let before = l.current();
        answer(&mut l, 40, Duration::from_millis(80));
        assert!(l.current() < before, "{} !< {before}", l.current());
    }

    #[test]
    fn answers_to_a_caller_that_leaves_the_limit_unused_do_not_raise_it() {
        let mut l = Limiter::new(32, true);
        for _ in 0..100 {
            l.record(l.epoch(), Outcome::Answered(FAST, Class::Record), 1);
        }
        assert_eq!(l.current(), INITIAL);
        l.record(l.epoch(), Outcome::Answered(FAST, Class::Record), 2);
        assert_eq!(l.current(), INITIAL + 1, "half the limit in use counts");
    }

    #[test]
    fn the_range_is_the_one_moved_in_since_the_last_reset() {
        let mut l = Limiter::new(32, true);
        answer(&mut l, 28, FAST);
        l.reset_range();
        assert_eq!(l.range(), (32, 32));
        l.record(l.epoch(), Outcome::Overloaded, 32);
        answer(&mut l, 40, FAST);
        assert_eq!(l.range().0, 16);
    }

    #[test]
    fn slower_kinds_of_request_are_judged_against_their_own_minimum() {
        let mut l = Limiter::new(32, true);
        for _ in 0..20 {
            let e = l.epoch();
            l.record(e, Outcome::Answered(FAST, Class::Record), l.current());
            l.record(e, Outcome::Answered(FAST * 5, Class::Page), l.current());
        }
        assert_eq!(
            l.current(),
            32,
            "pages five times slower than records are no rise"
        );
    }

    #[test]
    fn large_uploads_and_cancelled_requests_move_nothing() {
        let mut l = Limiter::new(32, true);
        for outcome in [Outcome::Unmeasured, Outcome::Dropped] {
            assert_eq!(l.record(l.epoch(), outcome, 4), None);
        }
        assert_eq!(l.current(), INITIAL);
    }

    #[test]
    fn a_fixed_limit_stays_at_the_ceiling_whatever_happens() {
        let mut l = Limiter::new(12, false);
        assert_eq!(l.current(), 12);
        for _ in 0..5 {
            assert_eq!(l.record(l.epoch(), Outcome::Overloaded, 12), None);
        }
        assert_eq!(l.current(), 12);
    }

    #[tokio::test]
    async fn no_more_requests_than_the_limit_are_in_flight_and_a_freed_place_wakes_a_waiter() {
        let limit = std::sync::Arc::new(AdaptiveLimit::new(2, false));
        let a = limit.acquire().await;
        let _b = limit.acquire().await;
        let waiter = {
            let limit = limit.clone();
            tokio::spawn(async move {
                let p = limit.acquire().await;
                p.finish(Outcome::Answered(FAST, Class::Record));
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "a third request waits");
        drop(a);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiter gets the freed place")
            .unwrap();
    }
}
