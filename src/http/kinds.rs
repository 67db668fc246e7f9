//! What a client sent, for reports, `/metrics` and benchmarks: every request, by what it was
//! for, and the range its limit on requests in flight moved in. The kinds let benchmarks state
//! the cost per asset of a pull and of a correction.
//!
//! Most kinds follow from the request itself (a login, a listing page, a write, a streamed
//! file). The two that do not — reading a record again just before writing it, and reading it
//! back after — are named by the caller: it runs those calls inside [`counted_as`], and every
//! GET in that scope counts as that kind. A write is a write (or an upload) in any scope.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a request was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    Login,
    ListingPage,
    RecordRead,
    ReReadBeforeWrite,
    Write,
    ReadBack,
    Download,
    Upload,
}

impl RequestKind {
    pub const ALL: [RequestKind; 8] = [
        RequestKind::Login,
        RequestKind::ListingPage,
        RequestKind::RecordRead,
        RequestKind::ReReadBeforeWrite,
        RequestKind::Write,
        RequestKind::ReadBack,
        RequestKind::Download,
        RequestKind::Upload,
    ];

    /// The name in reports and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            RequestKind::Login => "login",
            RequestKind::ListingPage => "listing_page",
            RequestKind::RecordRead => "record_read",
            RequestKind::ReReadBeforeWrite => "reread_before_write",
            RequestKind::Write => "write",
            RequestKind::ReadBack => "read_back",
            RequestKind::Download => "download",
            RequestKind::Upload => "upload",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

tokio::task_local! {
    static READ_PURPOSE: RequestKind;
}

/// Runs `f` with its GETs counted as `kind` (a re-read before a write, a read-back).
pub async fn counted_as<F: Future>(kind: RequestKind, f: F) -> F::Output {
    READ_PURPOSE.scope(kind, f).await
}

/// The kind of a request: a write by its method (an upload when its body is large), a read by
/// the caller's scope, else by what its answer is.
pub(super) fn classify(read: bool, large_body: bool, class: super::Class) -> RequestKind {
    use super::Class;
    if class == Class::Login {
        return RequestKind::Login;
    }
    if !read {
        return if large_body {
            RequestKind::Upload
        } else {
            RequestKind::Write
        };
    }
    if let Ok(kind) = READ_PURPOSE.try_with(|k| *k) {
        return kind;
    }
    match class {
        Class::Page => RequestKind::ListingPage,
        Class::File => RequestKind::Download,
        _ => RequestKind::RecordRead,
    }
}

/// Requests by kind, as a report stores them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KindCounts {
    pub login: u64,
    pub listing_page: u64,
    pub record_read: u64,
    pub reread_before_write: u64,
    pub write: u64,
    pub read_back: u64,
    pub download: u64,
    pub upload: u64,
}

impl KindCounts {
    pub fn get(&self, kind: RequestKind) -> u64 {
        match kind {
            RequestKind::Login => self.login,
            RequestKind::ListingPage => self.listing_page,
            RequestKind::RecordRead => self.record_read,
            RequestKind::ReReadBeforeWrite => self.reread_before_write,
            RequestKind::Write => self.write,
            RequestKind::ReadBack => self.read_back,
            RequestKind::Download => self.download,
            RequestKind::Upload => self.upload,
        }
    }

    fn from_fn(mut n: impl FnMut(RequestKind) -> u64) -> KindCounts {
        KindCounts {
            login: n(RequestKind::Login),
            listing_page: n(RequestKind::ListingPage),
            record_read: n(RequestKind::RecordRead),
            reread_before_write: n(RequestKind::ReReadBeforeWrite),
            write: n(RequestKind::Write),
            read_back: n(RequestKind::ReadBack),
            download: n(RequestKind::Download),
            upload: n(RequestKind::Upload),
        }
    }

    /// What was counted after `earlier`.
    pub fn since(&self, earlier: &KindCounts) -> KindCounts {
        KindCounts::from_fn(|k| self.get(k).saturating_sub(earlier.get(k)))
    }
}

/// The live counters of one client.
#[derive(Debug, Default)]
pub(super) struct KindCounters([AtomicU64; 8]);

impl KindCounters {
    pub(super) fn add(&self, kind: RequestKind) {
        self.0[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self) -> KindCounts {
        KindCounts::from_fn(|k| self.0[k.index()].load(Ordering::Relaxed))
    }
}

/// Counts of what this client sent, for reports and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestCounts {
    /// Every attempt that went on the wire, retries included.
    pub requests: u64,
    pub retries: u64,
    /// Answers of 429.
    pub throttled: u64,
    /// Answers of 5xx.
    pub server_errors: u64,
    /// The range the limit on requests in flight moved in (absent in reports of older runs).
    pub concurrency: Option<ConcurrencyRange>,
    /// Every attempt again, by what it was for.
    pub by_kind: KindCounts,
}

/// The lowest and highest the limit on requests in flight was, below its ceiling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcurrencyRange {
    pub low: usize,
    pub high: usize,
    pub ceiling: usize,
}

impl fmt::Display for ConcurrencyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.low == self.high {
            write!(f, "{} (ceiling {})", self.low, self.ceiling)
        } else {
            write!(f, "{}–{} (ceiling {})", self.low, self.high, self.ceiling)
        }
    }
}

impl RequestCounts {
    /// What was sent after `earlier` was taken: the counts of one run on a shared client.
    /// The concurrency range is this one's (the client's range is reset when a run starts).
    pub fn since(&self, earlier: &RequestCounts) -> RequestCounts {
        RequestCounts {
            requests: self.requests.saturating_sub(earlier.requests),
            retries: self.retries.saturating_sub(earlier.retries),
            throttled: self.throttled.saturating_sub(earlier.throttled),
            server_errors: self.server_errors.saturating_sub(earlier.server_errors),
            concurrency: self.concurrency,
            by_kind: self.by_kind.since(&earlier.by_kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Class;
    use super::*;

    #[test]
    fn requests_are_classified_by_method_answer_and_the_callers_scope() {
        assert_eq!(classify(true, false, Class::Login), RequestKind::Login);
        assert_eq!(classify(false, false, Class::Login), RequestKind::Login);
        assert_eq!(classify(true, false, Class::Page), RequestKind::ListingPage);
        assert_eq!(
            classify(true, false, Class::Record),
            RequestKind::RecordRead
        );
        assert_eq!(
            classify(true, false, Class::Fragment),
            RequestKind::RecordRead
        );
        assert_eq!(classify(true, false, Class::File), RequestKind::Download);
        assert_eq!(classify(false, false, Class::Record), RequestKind::Write);
        assert_eq!(classify(false, true, Class::Record), RequestKind::Upload);
    }

    #[tokio::test]
    async fn inside_a_scope_reads_count_as_its_kind_and_writes_stay_writes() {
        let (read, write) = counted_as(RequestKind::ReadBack, async {
            (
                classify(true, false, Class::Record),
                classify(false, false, Class::Record),
            )
        })
        .await;
        assert_eq!(read, RequestKind::ReadBack);
        assert_eq!(write, RequestKind::Write);
        assert_eq!(
            classify(true, false, Class::Record),
            RequestKind::RecordRead,
            "outside the scope again"
        );
    }

    #[test]
    fn counts_since_an_earlier_snapshot() {
        let live = KindCounters::default();
        live.add(RequestKind::Write);
        let before = live.snapshot();
        live.add(RequestKind::Write);
        live.add(RequestKind::ReadBack);
        let run = live.snapshot().since(&before);
        assert_eq!((run.write, run.read_back, run.login), (1, 1, 0));
        let names: Vec<&str> = RequestKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), 8);
        assert!(RequestKind::ALL.iter().all(|k| k.index() < 8));
    }
}
