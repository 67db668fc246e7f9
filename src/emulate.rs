//! What both local emulators share: serving an axum router on loopback, the request log that
//! tests and benchmarks read, and fault injection (latency, throttling, server errors, bodies
//! cut short) so that ferry's retry paths run against real HTTP.
//!
//! Faults are drawn from a seeded generator, so a failing fault test replays the same way.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::net::SocketAddr;
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
    /// Seed of the fault generator.
    pub seed: u64,
    /// Path prefixes never faulted (e.g. login), so a test can aim faults at data calls.
    pub exempt_prefixes: Vec<String>,
}

impl FaultOptions {
    pub fn any(&self) -> bool {
        self.latency > Duration::ZERO
            || self.throttle_share > 0.0
            || self.unavailable_share > 0.0
            || self.truncate_share > 0.0
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

/// A poisoned emulator lock only means a handler panicked mid-request; the data is still
/// what the emulator last stored, which is what a test wants to inspect.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The shared state of the fault and logging layer.
#[derive(Debug)]
pub struct Faults {
    options: Mutex<FaultOptions>,
    rng: Mutex<StdRng>,
    pub log: Arc<RequestLog>,
}

impl Faults {
    pub fn new(options: FaultOptions) -> Arc<Faults> {
        Arc::new(Faults {
            rng: Mutex::new(StdRng::seed_from_u64(options.seed)),
            options: Mutex::new(options),
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
    if opts.latency > Duration::ZERO {
        tokio::time::sleep(opts.latency).await;
    }
    let log = |status: u16, injected: bool| {
        faults.log.push(LoggedRequest {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            status,
            injected,
        })
    };
    if !exempt && faults.roll(opts.throttle_share) {
        log(429, true);
        let mut resp = (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_str(&opts.retry_after_secs.to_string())
                .unwrap_or(HeaderValue::from_static("1")),
        );
        return resp;
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
        let (mut parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        let cut = bytes.slice(..bytes.len() / 2);
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::from(cut));
    }
    log(status.as_u16(), false);
    resp
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
