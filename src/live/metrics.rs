//! The live mode's counters for `/metrics`: webhook events received, deliveries refused and
//! replayed, events applied, and the lag from an edit to its correction in the other system.
//!
//! Invariant: these live in the serving process (they count what this process received), unlike
//! the run metrics, which come from the store; they start at zero when `ferry serve` starts.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the lag histogram's buckets, in seconds.
pub const LAG_BUCKETS: [f64; 11] = [
    1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// The counters.
#[derive(Debug, Default)]
pub struct LiveMetrics {
    /// Entity events in deliveries whose signature was good (replays not counted).
    pub events_received: AtomicU64,
    /// Deliveries refused for a missing or wrong signature.
    pub deliveries_refused: AtomicU64,
    /// Deliveries dropped as seen before.
    pub deliveries_replayed: AtomicU64,
    /// Ids a live run read and reconciled.
    pub events_applied: AtomicU64,
    /// Ids a live run left for the nightly run (not one side of a pair).
    pub events_unpaired: AtomicU64,
    /// Corrections (writes verified) live runs made.
    pub corrections: AtomicU64,
    lag: Mutex<Histogram>,
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; LAG_BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// A snapshot of the lag histogram: cumulative counts per bucket, count, sum.
#[derive(Debug, Clone, PartialEq)]
pub struct LagSnapshot {
    pub cumulative: Vec<(f64, u64)>,
    pub count: u64,
    pub sum: f64,
}

impl LiveMetrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Records one correction's lag, in seconds (negative clock skew counts as 0).
    pub fn observe_lag(&self, seconds: f64) {
        let s = seconds.max(0.0);
        let mut h = self.lag.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = LAG_BUCKETS.iter().position(|b| s <= *b) {
            h.counts[i] += 1;
        }
        h.count += 1;
        h.sum += s;
    }

    pub fn lag(&self) -> LagSnapshot {
        let h = self.lag.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut running = 0;
        let cumulative = LAG_BUCKETS
            .iter()
            .zip(h.counts)
            .map(|(b, c)| {
                running += c;
                (*b, running)
            })
            .collect();
        LagSnapshot {
            cumulative,
            count: h.count,
            sum: h.sum,
        }
    }

    /// The Prometheus text of these metrics.
    pub fn render(&self, out: &mut String) {
        let counters = [
            (
                "ferry_live_events_received_total",
                "entity events in webhook deliveries with a good signature",
                &self.events_received,
            ),
            (
                "ferry_live_deliveries_refused_total",
                "webhook deliveries refused for a missing or wrong signature",
                &self.deliveries_refused,
            ),
            (
                "ferry_live_deliveries_replayed_total",
                "webhook deliveries dropped as seen before",
                &self.deliveries_replayed,
            ),
            (
                "ferry_live_events_applied_total",
                "changed records live runs read and reconciled",
                &self.events_applied,
            ),
            (
                "ferry_live_events_unpaired_total",
                "changed records live runs left for the nightly pairing",
                &self.events_unpaired,
            ),
            (
                "ferry_live_corrections_total",
                "corrections live runs wrote and verified",
                &self.corrections,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        }
        let name = "ferry_live_lag_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} time from an edit in one system to its correction read back in the other"
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        let lag = self.lag();
        for (bound, n) in &lag.cumulative {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", lag.count);
        let _ = writeln!(out, "{name}_sum {}", lag.sum);
        let _ = writeln!(out, "{name}_count {}", lag.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lags_fall_in_cumulative_buckets() {
        let m = LiveMetrics::default();
        for s in [0.5, 1.5, 4000.0, -3.0] {
            m.observe_lag(s);
        }
        let lag = m.lag();
        assert_eq!(lag.count, 4);
        assert_eq!(lag.cumulative[0], (1.0, 2));
        assert_eq!(lag.cumulative[1], (2.0, 3));
        assert_eq!(
            lag.cumulative.last().unwrap().1,
            3,
            "4000 s is above every bucket"
        );
        let mut text = String::new();
        m.render(&mut text);
        assert!(text.contains("ferry_live_lag_seconds_bucket{le=\"+Inf\"} 4"));
        assert!(text.contains("ferry_live_deliveries_refused_total 0"));
    }
}
