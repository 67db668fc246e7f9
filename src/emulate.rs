//! What both local emulators share: serving an axum router on loopback, the request log that
//! tests and benchmarks read, and fault injection (latency, throttling, server errors, bodies
//! cut short) so that ferry's retry paths run against real HTTP.
//!
//! Faults are drawn from a seeded generator, so a failing fault test replays the same way.

pub mod pictures;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Faults to inject; all off by default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultOptions {
    /// Added to every response.
    pub latency: Duration,
    /// Share of requests answered 429 with `Retry-After`.
    pub throttle_share: f64,
    /// The `Retry-After` sent with a 429, in seconds.
    pub retry_after_secs: u64,
    /// Share of requests answered 502 or 503.
    pub unavailable_share: f64,
    /// Share of successful responses whose body is cut in half.
    pub truncate_share: f64,
    /// A server-side limit: beyond this many requests in flight at once (logins included),
    /// answer 429 with `Retry-After`, as a tenant's gateway does. `None`: no limit.
    pub max_in_flight: Option<usize>,
    /// Seed of the fault generator.
    pub seed: u64,
    /// Path prefixes never faulted (e.g. login), so a test can aim faults at data calls.
    pub exempt_prefixes: Vec<String>,
}

/// How a scripted fault answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptedAnswer {
    /// This status, without the emulator doing anything (as a 503 or a 429 says).
    Status(u16),
    /// The emulator carries the request out, then the answer is replaced by this status (a
    /// gateway that lost the answer: a 502 after the work was done).
    StatusAfterHandling(u16),
    /// The emulator carries the request out; its answer's body is cut in half.
    CutShort,
}

/// A fault for the next `times` requests with this method whose path contains
/// `path_contains`: deterministic, for tests of one retry path (the shares of
/// [`FaultOptions`] are for soaks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptedFault {
    pub method: String,
    pub path_contains: String,
    pub answer: ScriptedAnswer,
    pub times: usize,
}

impl FaultOptions {
    pub fn any(&self) -> bool {
        self.latency > Duration::ZERO
            || self.throttle_share > 0.0
            || self.unavailable_share > 0.0
            || self.truncate_share > 0.0
            || self.max_in_flight.is_some()
    }
}

/// An edit someone else makes at the worst moment: just before the emulator handles the next
/// request with `method` whose path contains `path_contains` (say, the write ferry sends
/// right after its re-read). Each fires once. For tests of what ferry sees of concurrent
/// edits: neither system offers a conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditDuring<E> {
    pub method: String,
    pub path_contains: String,
    pub edit: E,
}

/// The edits waiting for their request.
#[derive(Debug)]
pub struct EditHooks<E> {
    pending: Mutex<Vec<EditDuring<E>>>,
}

impl<E> Default for EditHooks<E> {
    fn default() -> Self {
        EditHooks {
            pending: Mutex::new(Vec::new()),
        }
    }
}

impl<E> EditHooks<E> {
    pub fn push(&self, hook: EditDuring<E>) {
        lock(&self.pending).push(hook);
    }

    /// The edit waiting for this request, if any; it fires only once.
    pub fn take(&self, method: &str, path: &str) -> Option<E> {
        let mut pending = lock(&self.pending);
        let i = pending.iter().position(|h| {
            h.method.eq_ignore_ascii_case(method) && path.contains(&h.path_contains)
        })?;
        Some(pending.remove(i).edit)
    }
}

/// One request as the emulator answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub status: u16,
    /// Set when the answer was an injected fault rather than the emulator's own.
    pub injected: bool,
}

/// Every request an emulator answered, in order.
#[derive(Debug, Default)]
pub struct RequestLog {
    entries: Mutex<Vec<LoggedRequest>>,
}

impl RequestLog {
    pub fn push(&self, r: LoggedRequest) {
        lock(&self.entries).push(r);
    }

    pub fn entries(&self) -> Vec<LoggedRequest> {
        lock(&self.entries).clone()
    }

    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&self) {
        lock(&self.entries).clear();
    }

    /// Requests whose method is `method` and whose path contains `fragment`.
    pub fn count(&self, method: &str, fragment: &str) -> usize {
        lock(&self.entries)
            .iter()
            .filter(|r| r.method == method && r.path.contains(fragment))
            .count()
    }
}

/// A write an emulator carried out, with the record it touched as it was just before and just
/// after: lets a test tell exactly which fields each request changed (e.g. that no value was
/// written twice by two runs). Kept only while a test has turned the journal on.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry<R> {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// The media id or entity ref the request named.
    pub id: String,
    pub before: Option<R>,
    pub after: Option<R>,
}

/// Every write an emulator carried out while the journal was on, in order.
#[derive(Debug)]
pub struct WriteJournal<R> {
    on: std::sync::atomic::AtomicBool,
    entries: Mutex<Vec<JournalEntry<R>>>,
}

impl<R> Default for WriteJournal<R> {
    fn default() -> Self {
        WriteJournal {
            on: std::sync::atomic::AtomicBool::new(false),
            entries: Mutex::new(Vec::new()),
        }
    }
}

impl<R: Clone> WriteJournal<R> {
    pub fn set_on(&self, on: bool) {
        self.on.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn is_on(&self) -> bool {
        self.on.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn push(&self, e: JournalEntry<R>) {
        lock(&self.entries).push(e);
    }

    pub fn entries(&self) -> Vec<JournalEntry<R>> {
        lock(&self.entries).clone()
    }

    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A poisoned emulator lock only means a handler panicked mid-request; the data is still
/// what the emulator last stored, which is what a test wants to inspect.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The shared state of the fault and logging layer.
#[derive(Debug)]
pub struct Faults {
    options: Mutex<FaultOptions>,
    scripted: Mutex<Vec<ScriptedFault>>,
    rng: Mutex<StdRng>,
    /// Requests being handled now, for `max_in_flight`.
    in_flight: Arc<AtomicUsize>,
    pub log: Arc<RequestLog>,
}

/// One request counted in flight until dropped.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Faults {
    pub fn new(options: FaultOptions) -> Arc<Faults> {
        Arc::new(Faults {
            rng: Mutex::new(StdRng::seed_from_u64(options.seed)),
            options: Mutex::new(options),
            scripted: Mutex::new(Vec::new()),
            in_flight: Arc::new(AtomicUsize::new(0)),
            log: Arc::new(RequestLog::default()),
        })
    }

    /// Changes the faults of a running emulator (e.g. to start failing mid-test).
    pub fn set(&self, options: FaultOptions) {
        *lock(&self.rng) = StdRng::seed_from_u64(options.seed);
        *lock(&self.options) = options;
    }

    pub fn options(&self) -> FaultOptions {
        lock(&self.options).clone()
    }

    /// Adds a scripted fault (after those already waiting).
    pub fn script(&self, fault: ScriptedFault) {
        lock(&self.scripted).push(fault);
    }

    /// The scripted answer for this request, if one is due; counts it.
    fn scripted_for(&self, method: &str, path: &str) -> Option<ScriptedAnswer> {
        let mut scripted = lock(&self.scripted);
        let i = scripted.iter().position(|f| {
            f.times > 0 && f.method.eq_ignore_ascii_case(method) && path.contains(&f.path_contains)
        })?;
        scripted[i].times -= 1;
        let answer = scripted[i].answer;
        if scripted[i].times == 0 {
            scripted.remove(i);
        }
        Some(answer)
    }

    /// Counts a request in; `None` when that passes the limit (and it was not counted).
    fn enter(&self, limit: Option<usize>) -> Option<InFlight> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let guard = InFlight(self.in_flight.clone());
        match limit {
            Some(max) if now > max => None,
            _ => Some(guard),
        }
    }

    fn roll(&self, share: f64) -> bool {
        share > 0.0 && lock(&self.rng).random_bool(share.min(1.0))
    }
}

/// axum middleware: applies faults and logs every request with its final status.
pub async fn fault_layer(State(faults): State<Arc<Faults>>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let opts = faults.options();
    let exempt = opts.exempt_prefixes.iter().any(|p| path.starts_with(p));
    let log = |status: u16, injected: bool| {
        faults.log.push(LoggedRequest {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            status,
            injected,
        })
    };
    let Some(_in_flight) = faults.enter(opts.max_in_flight) else {
        log(429, true);
        return too_many(opts.retry_after_secs);
    };
    if opts.latency > Duration::ZERO {
        tokio::time::sleep(opts.latency).await;
    }
    match faults.scripted_for(&method, &path) {
        Some(ScriptedAnswer::Status(status)) => {
            log(status, true);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            return (status, "scripted fault").into_response();
        }
        Some(ScriptedAnswer::StatusAfterHandling(status)) => {
            let _ = next.run(req).await;
            log(status, true);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            return (status, "scripted fault after handling").into_response();
        }
        Some(ScriptedAnswer::CutShort) => {
            let resp = next.run(req).await;
            log(resp.status().as_u16(), true);
            return cut_short(resp).await;
        }
        None => {}
    }
    if !exempt && faults.roll(opts.throttle_share) {
        log(429, true);
        return too_many(opts.retry_after_secs);
    }
    if !exempt && faults.roll(opts.unavailable_share) {
        let status = if faults.roll(0.5) {
            StatusCode::BAD_GATEWAY
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        log(status.as_u16(), true);
        return (status, "upstream unavailable").into_response();
    }
    let resp = next.run(req).await;
    let status = resp.status();
    if !exempt && status.is_success() && faults.roll(opts.truncate_share) {
        log(status.as_u16(), true);
        return cut_short(resp).await;
    }
    log(status.as_u16(), false);
    resp
}

/// 429 with `Retry-After`.
fn too_many(retry_after_secs: u64) -> Response {
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_str(&retry_after_secs.to_string())
            .unwrap_or(HeaderValue::from_static("1")),
    );
    resp
}

/// The answer with the first half of its body only.
async fn cut_short(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let cut = bytes.slice(..bytes.len() / 2);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(cut))
}

/// A running emulator: its address, and a handle that stops it when dropped or told to.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections and waits for the server task to end.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Serves `router` on `addr` (port 0 picks a free port) until stopped.
pub async fn serve(router: Router, addr: SocketAddr) -> std::io::Result<Running> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = rx.await;
        };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "emulator server stopped");
        }
    });
    Ok(Running {
        addr,
        stop: Some(tx),
        task: Some(task),
    })
}
