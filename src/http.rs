//! The HTTP layer both system clients share, and the one place that decides how ferry talks
//! HTTP: timeouts, bounded retries with exponential backoff and jitter, `Retry-After`, a
//! per-system limit on requests in flight, request counts for reports and benchmarks — and
//! what ferry accepts from a server that is broken or hostile:
//!
//! - **Every answer has a size limit by kind** ([`AnswerKind`]: a login, a listing page, a
//!   record, a metadata fragment; [`Limits`], set per system in `ferry.toml`). A body is read
//!   chunk by chunk and refused as soon as it passes its limit (a `Content-Length` above the
//!   limit is refused before reading); a refused answer is never fetched again. A file is
//!   streamed ([`FileBody`]) under its expected size plus a margin, never held whole.
//! - **Requests go to the configured origin only** (scheme, host and port). A URL taken from
//!   an answer (a `Next` link, a fragment or bitstream URL) or a redirect that names another
//!   origin is an error naming that URL, and no request — so no credential — is sent to it.
//! - **Plain HTTP only to this machine** (127.0.0.0/8, ::1, `localhost`), unless the system's
//!   `allow_insecure_http = true`: by default no credential crosses a network in clear.
//! - **A timeout is reported as a timeout** ("no answer within 60 s", naming the URL) and has
//!   a shorter retry budget than a 503: a server silent for a whole timeout seldom answers on
//!   the seventh try, and each try costs the whole timeout.
//! - **Listings are bounded** ([`PageBound`]): by the total the first page states, plus a
//!   margin, by a ceiling of pages, and against pages or links that repeat.
//!
//! What is retried: 429 and 503 (the server says it did not do the work), and, for idempotent
//! requests only, 502/504, connection failures, timeouts (fewer times) and bodies cut short.
//! An answer over its size limit, a foreign origin and refused plain HTTP are never retried.
//! A POST that may have reached the server is never sent twice by this layer, unless the
//! caller vouches that sending it twice does no harm ([`HttpClient::send_repeatable`]: a
//! login, a PATCH that sets absolute values). Authentication (401) is the client's business:
//! it knows how to log in again.

use crate::model::System;
use bytes::Bytes;
use rand::Rng;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use url::Url;

mod attempt;
mod kinds;
mod limit;
mod paging;

use attempt::{Attempt, ReadFailure, location, reply, retry_after};

pub use kinds::{ConcurrencyRange, KindCounts, RequestCounts, RequestKind, counted_as};
pub use limit::{AdaptiveLimit, Class, Limiter, Outcome};
pub use paging::{ListingError, PageBound};

/// Query parameters whose values are credentials; they are replaced in every URL ferry shows.
const SECRET_PARAMS: &[&str] = &[
    "api_key",
    "auth_token",
    "password",
    "token",
    "refreshToken",
    "access_token",
    "client_secret",
];

const MIB: u64 = 1024 * 1024;
/// Requests with a body up to this size have their latency measured for the adaptive limit.
const MEASURED_BODY: usize = 64 * 1024;

/// What an answer is, for its size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnswerKind {
    /// The answer to a login or to selecting an organisation.
    Login,
    /// One page of a listing.
    Page,
    /// One record, and any other single answer (a write's reply, the version, a progress).
    Record,
    /// One metadata fragment (Preservica).
    Fragment,
}

impl AnswerKind {
    /// The latency class of this kind's requests, for the adaptive limit.
    fn class(self) -> Class {
        match self {
            AnswerKind::Login => Class::Login,
            AnswerKind::Page => Class::Page,
            AnswerKind::Record => Class::Record,
            AnswerKind::Fragment => Class::Fragment,
        }
    }

    /// The `ferry.toml` key (in the system's section) that sets this limit, in MiB.
    pub fn key(self) -> &'static str {
        match self {
            AnswerKind::Login => "max_login_mib",
            AnswerKind::Page => "max_page_mib",
            AnswerKind::Record => "max_record_mib",
            AnswerKind::Fragment => "max_fragment_mib",
        }
    }
}

impl fmt::Display for AnswerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AnswerKind::Login => "a login answer",
            AnswerKind::Page => "a listing page",
            AnswerKind::Record => "a record",
            AnswerKind::Fragment => "a metadata fragment",
        })
    }
}

/// How much ferry reads from one system: the largest body of each kind of answer, in bytes,
/// and the most pages of one listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub login: u64,
    pub page: u64,
    pub record: u64,
    pub fragment: u64,
    pub max_pages: u32,
}

impl Limits {
    pub const DEFAULT_LOGIN_MIB: u64 = 1;
    pub const DEFAULT_PAGE_MIB: u64 = 16;
    pub const DEFAULT_RECORD_MIB: u64 = 4;
    pub const DEFAULT_FRAGMENT_MIB: u64 = 4;
    pub const DEFAULT_MAX_PAGES: u32 = 10_000;

    /// The largest body accepted for `kind`, in bytes.
    pub fn body(&self, kind: AnswerKind) -> u64 {
        match kind {
            AnswerKind::Login => self.login,
            AnswerKind::Page => self.page,
            AnswerKind::Record => self.record,
            AnswerKind::Fragment => self.fragment,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            login: Self::DEFAULT_LOGIN_MIB * MIB,
            page: Self::DEFAULT_PAGE_MIB * MIB,
            record: Self::DEFAULT_RECORD_MIB * MIB,
            fragment: Self::DEFAULT_FRAGMENT_MIB * MIB,
            max_pages: Self::DEFAULT_MAX_PAGES,
        }
    }
}

fn attempts_words(n: u32) -> String {
    match n {
        1 => "1 attempt".to_string(),
        n => format!("{n} attempts"),
    }
}

/// A size for messages: `16 MiB`, `512 KiB`, `100 bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if n >= MIB && n.is_multiple_of(MIB) {
            write!(f, "{} MiB", n / MIB)
        } else if n >= MIB {
            write!(f, "{:.1} MiB", n as f64 / MIB as f64)
        } else if n >= 1024 && n.is_multiple_of(1024) {
            write!(f, "{} KiB", n / 1024)
        } else {
            write!(f, "{n} bytes")
        }
    }
}

/// A duration for messages: `60 s`, `1.5 s`, `300 ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait(pub Duration);

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() == 0 {
            write!(f, "{} s", d.as_secs())
        } else if d < Duration::from_secs(1) {
            write!(f, "{} ms", d.as_millis())
        } else {
            write!(f, "{:.1} s", d.as_secs_f64())
        }
    }
}

/// The part of an exchange that took too long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// Opening the connection (`connect_timeout`).
    Connect,
    /// Waiting for the answer to begin.
    Answer,
    /// Reading the rest of an answer that had begun.
    Body,
}

impl fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutPhase::Connect => "no connection",
            TimeoutPhase::Answer => "no answer",
            TimeoutPhase::Body => "no complete answer",
        })
    }
}

/// How a system's configured URL is reached, as far as its credentials are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// https: credentials travel encrypted.
    Tls,
    /// Plain HTTP to this machine (127.0.0.0/8, ::1, `localhost`): an emulator or test server.
    LoopbackHttp,
    /// Plain HTTP to another host, allowed by `allow_insecure_http = true`.
    InsecureAllowed,
    /// Plain HTTP to another host without that setting: refused.
    InsecureRefused,
}

impl Transport {
    /// How `url` would be reached, given the system's `allow_insecure_http`.
    pub fn of(url: &Url, allow_insecure_http: bool) -> Transport {
        if url.scheme() == "https" {
            Transport::Tls
        } else if is_loopback(url) {
            Transport::LoopbackHttp
        } else if allow_insecure_http {
            Transport::InsecureAllowed
        } else {
            Transport::InsecureRefused
        }
    }
}

/// Whether `url` names this machine: 127.0.0.0/8, ::1 (or ::ffff:127.x.y.z), or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.');
            d.eq_ignore_ascii_case("localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        None => false,
    }
}

/// How a client talks HTTP to one system.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Whole-request timeout (connect, send, and reading a buffered body).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// The most requests in flight at once for this system: the ceiling of the adaptive
    /// limit, or the fixed limit when `adaptive` is off.
    pub concurrency: usize,
    /// Whether the limit adapts to the server's pace ([`limit`]) or stays at `concurrency`.
    pub adaptive: bool,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Retries after a timeout (counted on their own, within `max_retries`): fewer, because a
    /// server silent for a whole timeout seldom answers the next time, and each try costs the
    /// whole timeout.
    pub timeout_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured; a server asking for more is treated as failing.
    pub max_retry_after: Duration,
    pub user_agent: String,
    /// Size limits of answers and the most pages of one listing.
    pub limits: Limits,
    /// Plain HTTP to a host other than this machine; refused unless set.
    pub allow_insecure_http: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            concurrency: 32,
            adaptive: true,
            max_retries: 6,
            timeout_retries: 1,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(120),
            user_agent: format!("ferry/{}", env!("CARGO_PKG_VERSION")),
            limits: Limits::default(),
            allow_insecure_http: false,
        }
    }
}

/// A request failed for good (after any retries). URLs are redacted; no variant holds a
/// credential.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{method} {url}: {reason}")]
    Transport {
        method: Method,
        url: String,
        reason: String,
    },
    #[error("{method} {url}: the server was still answering {status} after {attempts} attempts")]
    Exhausted {
        method: Method,
        url: String,
        status: StatusCode,
        attempts: u32,
    },
    #[error(
        "{method} {url}: {phase} within {after} ({}); the server is down or overloaded: try again later, or raise {system}.timeout_secs in ferry.toml if it is only slow",
        attempts_words(*attempts)
    )]
    Timeout {
        method: Method,
        url: String,
        phase: TimeoutPhase,
        after: Wait,
        attempts: u32,
        system: System,
    },
    #[error(
        "{method} {url}: {kind} larger than {limit}, the most ferry reads; it stopped reading and will not ask again. If the server is right, raise {system}.{} in ferry.toml",
        kind.key()
    )]
    TooLarge {
        method: Method,
        url: String,
        kind: AnswerKind,
        limit: ByteSize,
        system: System,
    },
    #[error(
        "{url}: the file is larger than {limit} ({expected} expected plus a margin); ferry stopped reading it"
    )]
    FileTooLarge {
        url: String,
        expected: ByteSize,
        limit: ByteSize,
    },
    #[error(
        "{url}: not on {origin}, the {system} server ferry is configured for; ferry sends no request (and no credential) to another server. The server linked there: tell its operator"
    )]
    ForeignOrigin {
        url: String,
        origin: String,
        system: System,
    },
    #[error(
        "{url}: plain HTTP to a host other than this machine would send the {system} credentials unencrypted; use https, or on a network you trust set allow_insecure_http = true in [{system}] of ferry.toml"
    )]
    InsecureHttp { url: String, system: System },
    #[error(transparent)]
    Listing(#[from] ListingError),
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    server_errors: AtomicU64,
    by_kind: kinds::KindCounters,
    /// Whether this client has said that its server cannot be reached: said once, at the
    /// first retry of a connection that failed, so a run is not silent while it retries.
    unreachable_reported: AtomicBool,
}

/// A buffered response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The final URL, redacted, for messages.
    pub url: String,
}

impl Reply {
    /// The body as text, lossily: for messages and for parsers that check UTF-8 themselves.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The start of the body, for error messages.
    pub fn snippet(&self) -> String {
        let t = self.text();
        let t = t.trim();
        let mut s: String = t.chars().take(200).collect();
        if t.chars().count() > 200 {
            s.push('…');
        }
        s
    }
}

/// A file being streamed from a system, read chunk by chunk (never whole) and refused once
/// it passes its expected size plus a margin ([`HttpClient::file_body`]).
pub struct FileBody {
    resp: reqwest::Response,
    url: String,
    expected: u64,
    limit: u64,
    received: u64,
    system: System,
    timeout: Duration,
}

impl fmt::Debug for FileBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileBody")
            .field("url", &self.url)
            .field("limit", &self.limit)
            .field("received", &self.received)
            .finish()
    }
}

impl FileBody {
    /// The next chunk, `None` at the end. Past the limit: [`HttpError::FileTooLarge`]; a read
    /// that times out: [`HttpError::Timeout`]; a body that breaks off: [`HttpError::Transport`].
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, HttpError> {
        match self.resp.chunk().await {
            Ok(Some(b)) => {
                self.received += b.len() as u64;
                if self.received > self.limit {
                    return Err(HttpError::FileTooLarge {
                        url: self.url.clone(),
                        expected: ByteSize(self.expected),
                        limit: ByteSize(self.limit),
                    });
                }
                Ok(Some(b))
            }
            Ok(None) => Ok(None),
            Err(e) if e.is_timeout() => Err(HttpError::Timeout {
                method: Method::GET,
                url: self.url.clone(),
                phase: TimeoutPhase::Body,
                after: Wait(self.timeout),
                attempts: 1,
                system: self.system,
            }),
            Err(e) => Err(HttpError::Transport {
                method: Method::GET,
                url: self.url.clone(),
                reason: format!(
                    "the answer broke off after {} bytes: {}",
                    self.received,
                    e.without_url()
                ),
            }),
        }
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }
}

/// The most a file may exceed its expected size before ferry stops reading it.
pub fn file_margin(expected: u64) -> u64 {
    (expected / 100).max(64 * 1024)
}

/// One system's HTTP client. Cheap to clone; clones share the limit and the counts.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    system: System,
    origin: url::Origin,
    limit: Arc<AdaptiveLimit>,
    options: HttpOptions,
    counters: Arc<Counters>,
}

impl HttpClient {
    /// How many times a GET whose answer cannot be read (a body cut short on the way: not
    /// UTF-8, not XML, not JSON) is fetched in all: the same budget as a failing answer, so
    /// that faults a run rides out in one form it rides out in the other.
    pub fn fetches_for_unreadable(&self) -> u32 {
        self.options.max_retries.max(2) + 1
    }

    /// A client for the system at `base` (scheme, host, optional port and path). Every request
    /// must stay on `base`'s origin; plain HTTP to a host other than this machine is refused
    /// unless `options.allow_insecure_http`.
    pub fn new(system: System, base: &str, options: HttpOptions) -> Result<HttpClient, HttpError> {
        let base_url = Url::parse(base)
            .map_err(|e| HttpError::Setup(format!("{system} server \"{base}\": {e}")))?;
        if !matches!(base_url.scheme(), "http" | "https") {
            return Err(HttpError::Setup(format!(
                "{system} server \"{base}\": only http and https are spoken"
            )));
        }
        if Transport::of(&base_url, options.allow_insecure_http) == Transport::InsecureRefused {
            return Err(HttpError::InsecureHttp {
                url: redact_url(&base_url),
                system,
            });
        }
        let origin = base_url.origin();
        // Credentials travel in custom headers (X-PS-Api-Key, Preservica-Access-Token) that
        // reqwest would carry along to any host a redirect names; only redirects on the same
        // origin are followed, and a redirect elsewhere is stopped (and reported below).
        let same_origin = {
            let origin = origin.clone();
            reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > 5 {
                    attempt.error("too many redirects")
                } else if attempt.url().origin() == origin {
                    attempt.follow()
                } else {
                    attempt.stop()
                }
            })
        };
        let inner = reqwest::Client::builder()
            .redirect(same_origin)
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .user_agent(options.user_agent.clone())
            .build()
            .map_err(|e| HttpError::Setup(e.without_url().to_string()))?;
        Ok(HttpClient {
            inner,
            system,
            origin,
            limit: Arc::new(AdaptiveLimit::new(options.concurrency, options.adaptive)),
            options,
            counters: Arc::new(Counters::default()),
        })
    }

    pub fn system(&self) -> System {
        self.system
    }

    pub fn limits(&self) -> &Limits {
        &self.options.limits
    }

    /// A fresh bound for one paged listing, with this system's ceiling of pages.
    pub fn page_bound(&self) -> PageBound {
        PageBound::new(self.system, self.options.limits.max_pages)
    }

    /// Requests allowed in flight now.
    pub fn concurrency_limit(&self) -> usize {
        self.limit.current()
    }

    /// The lowest and highest the limit has been since the last reset, and its ceiling.
    pub fn concurrency_range(&self) -> ConcurrencyRange {
        let (low, high, ceiling) = self.limit.range();
        ConcurrencyRange { low, high, ceiling }
    }

    /// Starts a new range at the current limit, and returns the counts so far: what a run
    /// takes when it starts, to report what it sent and the range the limit moved in.
    pub fn start_counting(&self) -> RequestCounts {
        self.limit.reset_range();
        self.counts()
    }

    pub fn counts(&self) -> RequestCounts {
        RequestCounts {
            requests: self.counters.requests.load(Ordering::Relaxed),
            retries: self.counters.retries.load(Ordering::Relaxed),
            throttled: self.counters.throttled.load(Ordering::Relaxed),
            server_errors: self.counters.server_errors.load(Ordering::Relaxed),
            concurrency: Some(self.concurrency_range()),
            by_kind: self.counters.by_kind.snapshot(),
        }
    }

    /// Sends the request `build` makes and reads the body under the limit for `kind`,
    /// retrying as the module docs say. `build` is called once per attempt. Any status that
    /// is not retried is returned as a `Reply` for the caller to judge.
    pub async fn send<F>(&self, kind: AnswerKind, build: F) -> Result<Reply, HttpError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        self.send_buffered(kind, build, false).await
    }

    /// Like [`send`](Self::send), for a request whose method is not idempotent but which the
    /// caller knows does no harm when sent twice (a login only opens another session; a PATCH
    /// that sets fields to absolute values leaves them so): it is retried like a GET, on
    /// 502/504, failed connections, timeouts and answers cut short.
    pub async fn send_repeatable<F>(&self, kind: AnswerKind, build: F) -> Result<Reply, HttpError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        self.send_buffered(kind, build, true).await
    }

    async fn send_buffered<F>(
        &self,
        kind: AnswerKind,
        build: F,
        repeatable: bool,
    ) -> Result<Reply, HttpError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        let limit = self.options.limits.body(kind);
        self.send_with(
            build,
            |resp| reply(resp, kind, limit),
            repeatable,
            kind.class(),
        )
        .await
    }

    /// Reads a response already received (from [`send_streaming`](Self::send_streaming)) as a
    /// buffered answer of `kind`, under its limit: for an error answer to a download.
    pub async fn into_reply(
        &self,
        resp: reqwest::Response,
        kind: AnswerKind,
    ) -> Result<Reply, HttpError> {
        let url = redact_url(resp.url());
        reply(resp, kind, self.options.limits.body(kind))
            .await
            .map_err(|f| self.read_error(f, Method::GET, url, 1))
    }

    /// Sends a request and returns the response without reading the body, for streaming a
    /// file ([`file_body`](Self::file_body)). Retries apply up to the response head only.
    pub async fn send_streaming<F>(&self, build: F) -> Result<reqwest::Response, HttpError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        self.send_with(build, |resp| async move { Ok(resp) }, false, Class::File)
            .await
    }

    /// The body of a streamed file expected to hold `expected` bytes: read in chunks and
    /// refused once it passes `expected` plus [`file_margin`].
    pub fn file_body(&self, resp: reqwest::Response, expected: u64) -> FileBody {
        FileBody {
            url: redact_url(resp.url()),
            resp,
            expected,
            limit: expected.saturating_add(file_margin(expected)),
            received: 0,
            system: self.system,
            timeout: self.options.timeout,
        }
    }

    async fn send_with<F, R, Fut, T>(
        &self,
        build: F,
        read: R,
        repeatable: bool,
        class: Class,
    ) -> Result<T, HttpError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        R: Fn(reqwest::Response) -> Fut,
        Fut: Future<Output = Result<T, ReadFailure>>,
    {
        let mut attempt: u32 = 0;
        let mut timeouts: u32 = 0;
        loop {
            let request = build(&self.inner)
                .build()
                .map_err(|e| HttpError::Setup(e.without_url().to_string()))?;
            let method = request.method().clone();
            let url = redact_url(request.url());
            if request.url().origin() != self.origin {
                return Err(self.foreign(request.url()));
            }
            let idempotent = repeatable
                || matches!(
                    method,
                    Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
                );
            let (cause, retry_after) = match self.attempt(request, &read, idempotent, class).await {
                Attempt::Done(t) => return Ok(t),
                Attempt::Foreign(to) => return Err(self.foreign(&to)),
                Attempt::Fail(failure) => {
                    return Err(self.read_error(failure, method, url, attempt + 1));
                }
                Attempt::Retry { cause, retry_after } => (cause, retry_after),
            };
            if matches!(cause, ReadFailure::Timeout(_)) {
                timeouts += 1;
            }
            let too_long = retry_after.is_some_and(|d| d > self.options.max_retry_after);
            if attempt >= self.options.max_retries
                || timeouts > self.options.timeout_retries
                || too_long
            {
                return Err(self.read_error(cause, method, url, attempt + 1));
            }
            let wait = retry_after.unwrap_or_else(|| self.backoff(attempt));
            if cause.is_unreachable()
                && !self
                    .counters
                    .unreachable_reported
                    .swap(true, Ordering::Relaxed)
            {
                tracing::warn!(
                    system = %self.system,
                    server = %self.origin.ascii_serialization(),
                    reason = %cause,
                    "{} cannot be reached; retrying (up to {} more times) before the run gives up",
                    self.system,
                    self.options.max_retries - attempt
                );
            }
            tracing::debug!(system = %self.system, %method, %url, reason = %cause, wait_ms = wait.as_millis() as u64, "retrying");
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            attempt += 1;
            tokio::time::sleep(wait).await;
        }
    }

    /// One attempt: sends the request (within the limit of requests in flight), judges the
    /// status and reads the answer.
    async fn attempt<R, Fut, T>(
        &self,
        request: reqwest::Request,
        read: &R,
        idempotent: bool,
        class: Class,
    ) -> Attempt<T>
    where
        R: Fn(reqwest::Response) -> Fut,
        Fut: Future<Output = Result<T, ReadFailure>>,
    {
        // A large body's upload time says nothing of the server's load.
        let measured = request
            .body()
            .is_none_or(|b| b.as_bytes().is_some_and(|b| b.len() <= MEASURED_BODY));
        let is_read = matches!(*request.method(), Method::GET | Method::HEAD);
        let permit = self.limit.acquire().await;
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        self.counters
            .by_kind
            .add(kinds::classify(is_read, !measured, class));
        let resp = match self.inner.execute(request).await {
            Ok(resp) => resp,
            Err(e) => {
                let transient = e.is_connect() || e.is_timeout() || e.is_request();
                let outcome = if e.is_timeout() {
                    Outcome::TimedOut
                } else {
                    Outcome::Dropped
                };
                self.finish(permit, outcome);
                let failure = ReadFailure::from_send(e);
                return if idempotent && transient {
                    Attempt::Retry {
                        cause: failure,
                        retry_after: None,
                    }
                } else {
                    Attempt::Fail(failure)
                };
            }
        };
        let status = resp.status();
        let outcome = match status {
            StatusCode::TOO_MANY_REQUESTS => Outcome::Throttled,
            StatusCode::SERVICE_UNAVAILABLE => Outcome::Overloaded,
            _ if measured => Outcome::Answered(permit.elapsed(), class),
            _ => Outcome::Unmeasured,
        };
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.counters.throttled.fetch_add(1, Ordering::Relaxed);
        }
        if status.is_server_error() {
            self.counters.server_errors.fetch_add(1, Ordering::Relaxed);
        }
        if status.is_redirection()
            && let Some(to) = location(&resp)
            && to.origin() != self.origin
        {
            self.finish(permit, outcome);
            return Attempt::Foreign(to);
        }
        let retryable = status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::SERVICE_UNAVAILABLE
            || (idempotent
                && matches!(
                    status,
                    StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT
                ));
        if retryable {
            self.finish(permit, outcome);
            return Attempt::Retry {
                cause: ReadFailure::Status(status),
                retry_after: retry_after(resp.headers()),
            };
        }
        let read = read(resp).await;
        let outcome = match &read {
            Err(ReadFailure::Timeout(_)) => Outcome::TimedOut,
            _ => outcome,
        };
        self.finish(permit, outcome);
        match read {
            Ok(t) => Attempt::Done(t),
            Err(f @ ReadFailure::TooLarge { .. }) => Attempt::Fail(f),
            Err(f) if idempotent => Attempt::Retry {
                cause: f,
                retry_after: None,
            },
            Err(f) => Attempt::Fail(f),
        }
    }

    /// Gives a place back to the limiter with the request's outcome, saying when the limit
    /// moved (`-v` shows it).
    fn finish(&self, permit: limit::Permit<'_>, outcome: Outcome) {
        if let Some(now) = permit.finish(outcome) {
            tracing::debug!(system = %self.system, limit = now, "requests in flight now limited to {now}");
        }
    }

    fn foreign(&self, to: &Url) -> HttpError {
        HttpError::ForeignOrigin {
            url: redact_url(to),
            origin: self.origin.ascii_serialization(),
            system: self.system,
        }
    }

    /// The error for an exchange that ended with `failure` after `attempts` attempts.
    fn read_error(
        &self,
        failure: ReadFailure,
        method: Method,
        url: String,
        attempts: u32,
    ) -> HttpError {
        match failure {
            ReadFailure::Status(status) => HttpError::Exhausted {
                method,
                url,
                status,
                attempts,
            },
            ReadFailure::Timeout(phase) => HttpError::Timeout {
                method,
                url,
                phase,
                after: Wait(match phase {
                    TimeoutPhase::Connect => self.options.connect_timeout,
                    _ => self.options.timeout,
                }),
                attempts,
                system: self.system,
            },
            ReadFailure::TooLarge { kind, limit } => HttpError::TooLarge {
                method,
                url,
                kind,
                limit: ByteSize(limit),
                system: self.system,
            },
            ReadFailure::Broken(reason) if attempts > 1 => HttpError::Transport {
                method,
                url,
                reason: format!("{reason} (after {attempts} attempts)"),
            },
            ReadFailure::Broken(reason) => HttpError::Transport {
                method,
                url,
                reason,
            },
        }
    }

    /// Exponential backoff with full jitter, so many clients that failed together do not
    /// come back together.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.options.initial_backoff.as_millis() as u64;
        let cap = self.options.max_backoff.as_millis() as u64;
        let ceiling = base.saturating_mul(1u64 << attempt.min(20)).min(cap).max(1);
        Duration::from_millis(rand::rng().random_range(ceiling / 2..=ceiling))
    }
}

/// The URL with credential query parameters replaced, safe for logs, errors and reports.
pub fn redact_url(url: &url::Url) -> String {
    if url.query().is_none() {
        return url.to_string();
    }
    let mut out = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let secret = SECRET_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(&k));
            let v = if secret {
                "[redacted]".to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    out.query_pairs_mut().clear().extend_pairs(pairs);
    out.to_string()
}

/// [`redact_url`] for a URL held as text (one taken from an answer).
pub fn redact(url: &str) -> String {
    Url::parse(url)
        .map(|u| redact_url(&u))
        .unwrap_or_else(|_| url.to_string())
}

#[cfg(test)]
mod tests;
