//! The web app of `ferry serve`: curator search with facets, asset pages with both systems'
//! values side by side, runs and their drift reports, conflict review, a JSON API for the
//! same, `/healthz` and `/metrics`.
//!
//! | path | what |
//! |---|---|
//! | `/` `?q=&page=&sort=` | search; facet links refine the query, which stays in the URL |
//! | `/assets/{id}` | both systems' values per field, who wins, last decision and reason, writes, field history; an id a pairing retired redirects (308) to the pair's |
//! | `/assets/{id}/thumb/small`, `/assets/{id}/thumb/medium` | the asset's thumbnail (JPEG, from the cache, made on first view; a "no picture" card when there is none) |
//! | `/runs`, `/runs/{id}` | runs; a run's stored HTML drift report (`/runs/{id}/json`, `/runs/{id}/csv`) |
//! | `/rights` | charts: assets by rights status, licences expiring per month; bars open the matching search |
//! | `/conflicts`, `POST /conflicts/{id}` | open conflicts and deciding one (the next sync writes it) |
//! | `/login?token=` | sets the session cookie when an access token is configured |
//! | `/api/search`, `/api/assets/{id}`, `/api/runs` | JSON |
//! | `/healthz` | JSON; 503 while runs are locked out |
//! | `/metrics` | Prometheus text format |
//! | `POST /webhooks/preservica` | Preservica's webhook challenge and deliveries for the live mode (signed; outside the login; 404 unless live mode is on) |
//!
//! Security (see `auth.rs`): loopback by default; any other address needs an access token,
//! and then every request must carry it. Forms carry a per-process token and state-changing
//! requests from another origin are refused. Every value is escaped; pages carry no script.
//!
//! The store is opened per request on a blocking thread ([`Store`] is not `Sync`; WAL lets the
//! app read while a sync writes). The search index is opened once, on first use, and shared;
//! each search follows the commits of every process that updates it.

mod api;
mod auth;
mod charts;
mod figures;
mod html;
mod metrics;
mod moved;
mod pages;
mod preview;
mod republish;
mod search;
pub mod service;
mod thumbs;
mod view;
mod webhooks;

use crate::config::Secret;
use crate::mapping::Mapping;
use crate::store::{Store, StoreError};
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use auth::{CONTENT_SECURITY_POLICY, MIN_TOKEN_CHARS, SESSION_COOKIE};
pub use republish::Republisher;
pub use search::SharedIndex;

/// What the web app serves and how.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Where to listen; port 0 picks a free port (see [`Running::addr`]).
    pub listen: SocketAddr,
    /// Required for any address but loopback; when set, every request must carry it.
    pub access_token: Option<Secret>,
    pub store_path: PathBuf,
    /// The tantivy index directory (`ferry sync` keeps it up to date).
    pub index_dir: PathBuf,
    /// Where the runs' drift reports are (`run-<id>.html|json|csv`).
    pub reports_dir: PathBuf,
    pub mapping: Mapping,
    /// The search index when this process already has it open; `None`: the app opens
    /// `index_dir` on first search. Either way the app only reads it: updates (the nightly job,
    /// republish, other ferry processes) take the writer for one update each, and every search
    /// first loads what they committed (see `crate::index`).
    pub index: Option<SharedIndex>,
    /// Both tenants and the transfer settings, for the "republish to PhotoShelter" action on
    /// search results; `None` hides it.
    pub republisher: Option<Republisher>,
    /// The thumbnail cache's bound (`[thumbnails]`).
    pub thumbnails: crate::config::ThumbnailsConfig,
    /// The live mode's queue and counters (`[live] enabled`): the webhook route feeds it and
    /// `/metrics` reads it; `None`: the webhook route does not exist.
    pub live: Option<crate::live::LiveHandle>,
}

/// Why the web app could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(
        "refusing to listen on {addr} without an access token: anyone who can reach that address \
         could read and decide conflicts. Set server.access_token_file in ferry.toml or \
         FERRY_SERVER_ACCESS_TOKEN, or listen on 127.0.0.1"
    )]
    TokenRequired { addr: SocketAddr },
    #[error(
        "the access token is too short: use at least {MIN_TOKEN_CHARS} characters (e.g. `openssl rand -hex 32`)"
    )]
    WeakToken,
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the web server stopped: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A running web app.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    task: JoinHandle<Result<(), ServerError>>,
}

impl Running {
    /// The address it listens on (the real port when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until the server has stopped (after the shutdown future completed and open
    /// requests finished).
    pub async fn wait(self) -> Result<(), ServerError> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(ServerError::Serve(std::io::Error::other(e))),
        }
    }
}

/// Checks the options, opens the store once (creating or migrating it, so that a bad path is
/// reported now rather than on the first request), binds and starts serving until `shutdown`
/// completes.
pub async fn start(
    options: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, ServerError> {
    let addr = options.listen;
    match &options.access_token {
        Some(t) if t.expose().trim().chars().count() < MIN_TOKEN_CHARS => {
            return Err(ServerError::WeakToken);
        }
        None if !addr.ip().to_canonical().is_loopback() => {
            return Err(ServerError::TokenRequired { addr });
        }
        _ => {}
    }
    let path = options.store_path.clone();
    tokio::task::spawn_blocking(move || Store::open(&path).map(drop))
        .await
        .map_err(|e| ServerError::Serve(std::io::Error::other(e)))??;

    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServerError::Bind { addr, source })?;
    let state: Shared = Arc::new(AppState {
        auth: auth::Auth::new(options.access_token),
        index_dir: options.index_dir,
        reports_dir: options.reports_dir,
        mapping: options.mapping,
        index: Mutex::new(options.index),
        thumbs: thumbs::ThumbState::open(&options.store_path, options.thumbnails.max_mib),
        store_path: options.store_path,
        republisher: options.republisher,
        live: options.live,
    });
    let app = router(state);
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ServerError::Serve)
    });
    tracing::info!(url = %format!("http://{addr}"), "web app listening");
    Ok(Running { addr, task })
}

/// [`start`], then serve until `shutdown` completes.
pub async fn serve(
    options: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    start(options, shutdown).await?.wait().await
}

/// Starts listening for SIGTERM (what systemd, Docker and `kill` send) and SIGINT (Ctrl-C);
/// the future resolves to the name of the first that comes.
pub fn stop_signal() -> impl std::future::Future<Output = &'static str> {
    #[cfg(unix)]
    let listening = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        )
    };
    async move {
        #[cfg(unix)]
        match listening {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops ferry cleanly");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

/// What every handler shares.
struct AppState {
    auth: auth::Auth,
    store_path: PathBuf,
    index_dir: PathBuf,
    reports_dir: PathBuf,
    mapping: Mapping,
    /// Given, or opened on first search; `None` until then (and while opening fails).
    index: Mutex<Option<SharedIndex>>,
    republisher: Option<Republisher>,
    /// The thumbnail cache beside the store, and what fills it on first view.
    thumbs: thumbs::ThumbState,
    live: Option<crate::live::LiveHandle>,
}

type Shared = Arc<AppState>;

fn router(state: Shared) -> Router {
    // The routes naming an asset by id; a merge can retire that id (see `moved.rs`).
    let assets = Router::new()
        .route("/assets/{id}", get(pages::asset))
        .route("/assets/{id}/preview", get(preview::preview))
        .route("/assets/{id}/thumb/{size}", get(thumbs::thumb))
        .route("/api/assets/{id}", get(api::asset))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            moved::follow_retired_ids,
        ));
    Router::new()
        .route("/", get(pages::search))
        .merge(assets)
        .route("/runs", get(pages::runs))
        .route("/rights", get(pages::rights))
        .route("/runs/{id}", get(pages::run_report))
        .route("/runs/{id}/{format}", get(pages::run_report_data))
        .route("/conflicts", get(pages::conflicts))
        .route("/conflicts/{id}", post(pages::resolve_conflict))
        .route("/republish", post(republish::republish))
        .route("/login", get(pages::login))
        .route("/api/search", get(api::search))
        .route("/api/runs", get(api::runs))
        .route("/api/conflicts", get(api::conflicts))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(metrics::metrics))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        // After the guard: Preservica cannot log in; the signature authenticates it.
        .merge(webhooks::routes())
        .layer(axum::middleware::from_fn(auth::security_headers))
        .with_state(state)
}

/// Why a request failed, before it is rendered as a page or as JSON.
#[derive(Debug)]
enum WebError {
    NotFound(String),
    BadRequest(String),
    Forbidden(String),
    Conflict(String),
    Internal(String),
}

impl WebError {
    fn status(&self) -> StatusCode {
        match self {
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> &str {
        match self {
            WebError::NotFound(m)
            | WebError::BadRequest(m)
            | WebError::Forbidden(m)
            | WebError::Conflict(m)
            | WebError::Internal(m) => m,
        }
    }

    fn title(&self) -> &'static str {
        match self {
            WebError::NotFound(_) => "Not found",
            WebError::BadRequest(_) => "Bad request",
            WebError::Forbidden(_) => "Refused",
            WebError::Conflict(_) => "Already decided",
            WebError::Internal(_) => "Something went wrong",
        }
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "web app: store error");
        WebError::Internal(format!("the store could not answer: {e}"))
    }
}

/// A page-rendered error.
struct PageError(WebError);

impl From<WebError> for PageError {
    fn from(e: WebError) -> Self {
        PageError(e)
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = html::error_page(self.0.title(), self.0.message());
        (self.0.status(), page).into_response()
    }
}

/// A JSON-rendered error: `{"error": "..."}`.
struct ApiError(WebError);

impl From<WebError> for ApiError {
    fn from(e: WebError) -> Self {
        ApiError(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.0.status(),
            axum::Json(serde_json::json!({ "error": self.0.message() })),
        )
            .into_response()
    }
}

/// Runs `f` with a freshly opened store on a blocking thread.
async fn with_store<T, F>(state: &Shared, f: F) -> Result<T, WebError>
where
    T: Send + 'static,
    F: FnOnce(&mut Store, &AppState) -> Result<T, WebError> + Send + 'static,
{
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        let mut store = Store::open(&state.store_path)?;
        f(&mut store, &state)
    })
    .await
    .map_err(|e| WebError::Internal(format!("the request's worker failed: {e}")))?
}

/// Parses an id from a path segment; anything else is simply not found.
fn parse_id(raw: &str, what: &str) -> Result<i64, WebError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| WebError::NotFound(format!("there is no {what} '{raw}'")))
}
