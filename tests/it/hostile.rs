//! ferry against deliberately hostile servers: answers that never end, listings that never end
//! or go round in circles, links and redirects to another server, plain HTTP to another host,
//! and a server that never answers. Each bad answer must be refused with an error naming the
//! URL (and the limit), without being asked for again, with nothing sent to another origin,
//! and — where the answer is huge — with the process's peak memory far below its size.
//!
//! The servers are small axum routers on 127.0.0.1 port 0 that generate large bodies lazily,
//! a chunk at a time. The scenarios whose memory is measured run in a child process of this
//! test binary (only that test), so that no other test's memory counts; the child resets the
//! kernel's high-water mark (`/proc/self/clear_refs`), runs the scenario and compares `VmHWM`
//! with the resident size before it.

use crate::helpers::ferry;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ferry::config::{PhotoShelterConfig, Secret};
use ferry::http::{AnswerKind, HttpError, HttpOptions, Limits, ListingError, TimeoutPhase};
use ferry::photoshelter::client::{PhotoShelterClient, PhotoShelterError};
use ferry::preservica::client::{Bitstream, Connection, PreservicaClient, PreservicaError};
use ferry::preservica::wire::{self, BitstreamDoc, EntityDoc, EntityKind, EntityLink, Version};
use futures_util::StreamExt;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;
/// What a hostile server streams at most: far more than any limit.
const HUGE: u64 = 1024 * MIB;
/// The most the process's resident memory may grow while a huge answer is refused.
const MEMORY_BOUND: u64 = 64 * MIB;
/// Headers that carry a credential of either system.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "preservica-access-token",
    "x-ps-api-key",
    "x-ps-auth-token",
];
const TOKEN: &str = "hostile-token-3f9a7c";
const PASSWORD: &str = "hostile-password-8e21";
const API_KEY: &str = "hostile-api-key-51d0";
const XML: &str = "application/xml";
const JSON: &str = "application/json";
const ASSET: &str = "5f0c2a9e-0000-4000-8000-000000000001";
/// Set in the child process a memory-measured test runs in.
const CHILD: &str = "FERRY_HOSTILE_CHILD";

// ---------------------------------------------------------------------------------------------
// The hostile server

/// What the server does with one request.
enum Answer {
    Body(&'static str, String),
    /// `prefix`, then spaces, generated a chunk at a time, up to [`HUGE`] bytes in all; with
    /// a `Content-Length` of [`HUGE`] when `declared`.
    Endless {
        content_type: &'static str,
        prefix: String,
        declared: bool,
    },
    Status(StatusCode),
    Redirect(String),
    /// The answer never begins.
    Silent,
    /// The answer begins with `prefix`, and the rest never comes.
    Stall(String),
}

/// One request the server received.
#[derive(Debug, Clone)]
struct Hit {
    method: Method,
    path: String,
    query: String,
    /// The credential headers it carried (by name).
    credentials: Vec<&'static str>,
}

type Route = dyn Fn(&Method, &str, &str) -> Answer + Send + Sync;

struct Shared {
    route: Box<Route>,
    hits: Mutex<Vec<Hit>>,
    /// Body bytes handed to the connection so far.
    served: Arc<AtomicU64>,
}

struct Hostile {
    url: String,
    shared: Arc<Shared>,
}

impl Hostile {
    /// Serves `route(method, path, query)` on 127.0.0.1, port 0, until the runtime ends.
    async fn start(route: impl Fn(&Method, &str, &str) -> Answer + Send + Sync + 'static) -> Self {
        let shared = Arc::new(Shared {
            route: Box::new(route),
            hits: Mutex::new(Vec::new()),
            served: Arc::new(AtomicU64::new(0)),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Hostile {
            url: format!("http://{addr}"),
            shared,
        }
    }

    fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().unwrap().clone()
    }

    /// Requests received for `path`.
    fn count(&self, path: &str) -> usize {
        self.hits().iter().filter(|h| h.path == path).count()
    }

    fn served(&self) -> u64 {
        self.shared.served.load(Ordering::Relaxed)
    }
}

async fn handle(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let credentials = CREDENTIAL_HEADERS
        .iter()
        .copied()
        .filter(|h| req.headers().contains_key(*h))
        .collect();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    s.hits.lock().unwrap().push(Hit {
        method: req.method().clone(),
        path: path.clone(),
        query: query.clone(),
        credentials,
    });
    match (s.route)(req.method(), &path, &query) {
        Answer::Body(content_type, text) => {
            s.served.fetch_add(text.len() as u64, Ordering::Relaxed);
            ([(header::CONTENT_TYPE, content_type)], text).into_response()
        }
        Answer::Endless {
            content_type,
            prefix,
            declared,
        } => {
            let mut resp = Response::new(endless(prefix, s.served.clone()));
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
            if declared {
                h.insert(header::CONTENT_LENGTH, HUGE.into());
            }
            resp
        }
        Answer::Status(code) => code.into_response(),
        Answer::Redirect(to) => {
            (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)]).into_response()
        }
        Answer::Silent => std::future::pending().await,
        Answer::Stall(prefix) => {
            let first =
                futures_util::stream::once(async move { Ok::<_, Infallible>(Bytes::from(prefix)) });
            Body::from_stream(first.chain(futures_util::stream::pending())).into_response()
        }
    }
}

/// `prefix` then spaces, [`HUGE`] bytes in all, made a 64 KiB chunk at a time as the
/// connection takes them (never held whole).
fn endless(prefix: String, served: Arc<AtomicU64>) -> Body {
    let filler = Bytes::from(vec![b' '; 64 * 1024]);
    let stream =
        futures_util::stream::unfold((0u64, Some(Bytes::from(prefix))), move |(sent, first)| {
            let filler = filler.clone();
            let served = served.clone();
            async move {
                if sent >= HUGE {
                    return None;
                }
                let chunk = first.unwrap_or(filler);
                let chunk = chunk.slice(..chunk.len().min((HUGE - sent) as usize));
                served.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                let next = sent + chunk.len() as u64;
                Some((Ok::<_, Infallible>(chunk), (next, None)))
            }
        });
    Body::from_stream(stream)
}

// ---------------------------------------------------------------------------------------------
// Clients and answers

fn fast_http() -> HttpOptions {
    HttpOptions {
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        ..HttpOptions::default()
    }
}

fn preservica(url: &str, http: HttpOptions) -> PreservicaClient {
    PreservicaClient::new(Connection {
        base_url: url.to_string(),
        username: "hostile@ferry.test".into(),
        password: Secret::new(PASSWORD),
        tenant: Some("HOSTILE".into()),
        http,
        single_put_limit: MIB,
        part_size: MIB as usize,
    })
    .unwrap()
}

fn photoshelter(url: &str, http: HttpOptions) -> PhotoShelterClient {
    let config = PhotoShelterConfig {
        base_url: url.to_string(),
        email: "hostile@ferry.test".into(),
        org_id: None,
        concurrency: 4,
        adaptive: true,
        timeout_secs: 30,
        api_key: Some(Secret::new(API_KEY)),
        api_key_v3: None,
        password: Some(Secret::new(PASSWORD)),
        oauth_token: None,
        probe_media_id: None,
        limits: Limits::default(),
        allow_insecure_http: false,
        file: "ferry.toml".into(),
    };
    PhotoShelterClient::with_http_options(&config, http).unwrap()
}

/// Preservica's login, answered as a real server would.
fn preservica_login(path: &str) -> Option<Answer> {
    (path == wire::LOGIN_PATH).then(|| {
        Answer::Body(
            JSON,
            format!(r#"{{"success":true,"token":"{TOKEN}","validFor":15,"user":"hostile"}}"#),
        )
    })
}

/// PhotoShelter's v4 login, answered as a real server would.
fn photoshelter_login(path: &str) -> Option<Answer> {
    (path == "/psapi/v4.0/authenticate")
        .then(|| Answer::Body(JSON, format!(r#"{{"token":"{TOKEN}"}}"#)))
}

fn v77() -> Version {
    Version::new(7, 7, 0)
}

/// A page of a folder's children holding assets `first..first + n`.
fn children_page(
    base: &str,
    first: u64,
    n: u64,
    next: Option<String>,
    total: Option<u64>,
) -> String {
    let links: Vec<EntityLink> = (first..first + n)
        .map(|i| EntityLink {
            reference: format!("5f0c2a9e-0000-4000-8000-{i:012}"),
            kind: Some(EntityKind::Asset),
            title: Some(format!("asset {i}")),
            url: format!("{base}/api/entity/information-objects/{i}"),
            deleted: false,
        })
        .collect();
    let xml = wire::links_response(
        &v77(),
        "ChildrenResponse",
        "Children",
        "Child",
        &links,
        next.as_deref(),
        total.unwrap_or(0),
    );
    match total {
        Some(_) => xml,
        None => xml.replace("<TotalResults>0</TotalResults>", ""),
    }
}

/// `start` from a children query (`start=N&max=M`).
fn start_of(query: &str) -> u64 {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("start="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn children_url(base: &str, start: u64) -> String {
    format!("{base}/api/entity/root/children?start={start}&max=100")
}

fn asset_path() -> String {
    format!("/api/entity/information-objects/{ASSET}")
}

/// An asset whose one fragment is at `fragment_url`.
fn asset_answer(base: &str, fragment_url: &str) -> Answer {
    let doc = EntityDoc {
        kind: Some(EntityKind::Asset),
        reference: ASSET.into(),
        title: Some("Harbour, 1962".into()),
        security_tag: "open".into(),
        fragments: vec![(
            "http://www.openarchives.org/OAI/2.0/oai_dc/".into(),
            fragment_url.into(),
        )],
        ..EntityDoc::default()
    };
    let self_url = format!("{base}{}", asset_path());
    Answer::Body(
        XML,
        wire::entity_response(&v77(), EntityKind::Asset, &doc, &self_url, ""),
    )
}

/// A page of `/galleries` holding galleries `first..first + n`, with `meta`.
fn galleries_page(first: u64, n: u64, meta: &str) -> String {
    let data: Vec<String> = (first..first + n)
        .map(|i| {
            format!(r#"{{"id":"G0000{i:011}","type":"gallery","attributes":{{"name":"g{i}"}}}}"#)
        })
        .collect();
    format!(r#"{{"data":[{}],"meta":{meta}}}"#, data.join(","))
}

/// `page` from a PhotoShelter query.
fn page_of(query: &str) -> u64 {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("page="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

// ---------------------------------------------------------------------------------------------
// Measuring memory

/// A field of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
        * 1024
}

/// Runs `scenario` in a child process of this test binary that runs only the test `name`, and
/// there checks that the peak resident memory grew less than [`MEMORY_BOUND`] while it ran.
/// The parent prints the child's figure.
fn measured<F, Fut>(name: &str, scenario: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    if std::env::var_os(CHILD).is_none() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                &format!("hostile::{name}"),
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let figure = stdout
            .lines()
            .find_map(|l| l.find("peak memory grew").map(|at| &l[at..]));
        match figure {
            Some(figure) if out.status.success() => println!("{name}: {figure}"),
            _ => panic!("the child failed:\n{stdout}\n{stderr}"),
        }
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Resets VmHWM to the current resident size (Linux ≥ 4.0); without it the peak also
    // holds the child's start, which only makes the check stricter.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = status_bytes("VmRSS:");
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), scenario())
            .await
            .expect("the scenario ends within a minute")
    });
    let growth = status_bytes("VmHWM:").saturating_sub(before);
    println!(
        "peak memory grew {:.1} MiB (bound {} MiB)",
        growth as f64 / MIB as f64,
        MEMORY_BOUND / MIB
    );
    assert!(
        growth < MEMORY_BOUND,
        "peak resident memory grew by {growth} bytes"
    );
}

/// Bounds an in-process scenario in time.
async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("the scenario ends within a minute")
}

// ---------------------------------------------------------------------------------------------
// 1. No answer is read past its limit

#[test]
fn a_gigabyte_listing_page_is_refused_early_and_not_asked_for_again() {
    measured(
        "a_gigabyte_listing_page_is_refused_early_and_not_asked_for_again",
        || async {
            let server = Hostile::start(|_, path, _| {
                preservica_login(path).unwrap_or_else(|| Answer::Endless {
                    content_type: XML,
                    prefix: wire::response_open("ChildrenResponse", &v77()) + "<Children>",
                    declared: false,
                })
            })
            .await;
            let c = preservica(&server.url, fast_http());
            let e = c.children(None, 100).await.unwrap_err();
            let text = e.to_string();
            assert!(
                matches!(
                    e,
                    PreservicaError::Http(HttpError::TooLarge {
                        kind: AnswerKind::Page,
                        ..
                    })
                ),
                "{text}"
            );
            assert!(
                text.contains(&children_url(&server.url, 0))
                    && text.contains("larger than 16 MiB")
                    && text.contains("preservica.max_page_mib"),
                "{text}"
            );
            assert!(!text.contains(TOKEN) && !text.contains(PASSWORD));
            assert_eq!(
                server.count("/api/entity/root/children"),
                1,
                "a refused answer is not asked for again"
            );
            assert!(
                server.served() < MEMORY_BOUND,
                "ferry kept reading: {} bytes served",
                server.served()
            );
        },
    );
}

#[test]
fn a_gigabyte_login_answer_is_refused_without_logging_in_again() {
    measured(
        "a_gigabyte_login_answer_is_refused_without_logging_in_again",
        || async {
            let server = Hostile::start(|_, _, _| Answer::Endless {
                content_type: JSON,
                prefix: r#"{"token":"#.into(),
                declared: false,
            })
            .await;
            let c = photoshelter(&server.url, fast_http());
            let e = c.galleries_named("anything").await.unwrap_err();
            let text = format!("{e} {e:?}");
            assert!(
                matches!(
                    e,
                    PhotoShelterError::Http(HttpError::TooLarge {
                        kind: AnswerKind::Login,
                        ..
                    })
                ),
                "{text}"
            );
            assert!(
                text.contains(&format!("{}/psapi/v4.0/authenticate", server.url))
                    && text.contains("larger than 1 MiB")
                    && text.contains("photoshelter.max_login_mib"),
                "{text}"
            );
            assert!(!text.contains(PASSWORD) && !text.contains(API_KEY));
            assert_eq!(server.count("/psapi/v4.0/authenticate"), 1);
            assert_eq!(server.hits().len(), 1, "nothing else was asked");
            assert!(server.served() < MEMORY_BOUND, "{}", server.served());
        },
    );
}

#[test]
fn a_fragment_declared_a_gigabyte_long_is_refused_before_it_is_read() {
    measured(
        "a_fragment_declared_a_gigabyte_long_is_refused_before_it_is_read",
        || async {
            let fragment = format!("{}/metadata/f1", asset_path());
            let server = Arc::new(Mutex::new(String::new()));
            let base = server.clone();
            let frag = fragment.clone();
            let hostile = Hostile::start(move |_, path, _| {
                let base = base.lock().unwrap().clone();
                if let Some(a) = preservica_login(path) {
                    a
                } else if path == frag {
                    Answer::Endless {
                        content_type: XML,
                        prefix: wire::response_open("MetadataResponse", &v77()),
                        declared: true,
                    }
                } else {
                    asset_answer(&base, &format!("{base}{frag}"))
                }
            })
            .await;
            *server.lock().unwrap() = hostile.url.clone();
            let c = preservica(&hostile.url, fast_http());
            let e = c.read_asset(ASSET).await.unwrap_err();
            let text = e.to_string();
            assert!(
                matches!(
                    e,
                    PreservicaError::Http(HttpError::TooLarge {
                        kind: AnswerKind::Fragment,
                        ..
                    })
                ),
                "{text}"
            );
            assert!(
                text.contains(&format!("{}{fragment}", hostile.url))
                    && text.contains("metadata fragment larger than 4 MiB")
                    && text.contains("preservica.max_fragment_mib"),
                "{text}"
            );
            assert_eq!(hostile.count(&fragment), 1);
            assert!(hostile.served() < MEMORY_BOUND, "{}", hostile.served());
        },
    );
}

#[test]
fn an_endless_bitstream_stops_just_past_its_size_and_leaves_no_file() {
    measured(
        "an_endless_bitstream_stops_just_past_its_size_and_leaves_no_file",
        || async {
            let server = Hostile::start(|_, path, _| {
                preservica_login(path).unwrap_or_else(|| Answer::Endless {
                    content_type: "image/tiff",
                    prefix: String::new(),
                    declared: false,
                })
            })
            .await;
            let c = preservica(&server.url, fast_http());
            let dir = tempfile::tempdir().unwrap();
            let dest = dir.path().join("scan.tif");
            let bitstream = Bitstream {
                content_object: "co-1".into(),
                representation: "Preservation".into(),
                url: format!(
                    "{}/api/entity/content-objects/co-1/generations/1/bitstreams/1",
                    server.url
                ),
                doc: BitstreamDoc {
                    filename: "scan.tif".into(),
                    size: 10 * MIB,
                    fixities: vec![("SHA1".into(), "0".repeat(40))],
                    content_url: Some(format!("{}/content/scan", server.url)),
                },
            };
            let e = c.download(&bitstream, &dest).await.unwrap_err();
            let text = e.to_string();
            assert!(
                matches!(e, PreservicaError::Http(HttpError::FileTooLarge { .. })),
                "{text}"
            );
            assert!(
                text.contains(&format!("{}/content/scan", server.url))
                    && text.contains("larger than 10.1 MiB (10 MiB expected plus a margin)"),
                "{text}"
            );
            assert!(!dest.exists(), "the partial file is removed");
            assert_eq!(server.count("/content/scan"), 1);
            assert!(server.served() < MEMORY_BOUND, "{}", server.served());
        },
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Listings end

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_that_pages_past_its_own_total_is_stopped() {
    bounded(async {
        let base = Arc::new(Mutex::new(String::new()));
        let b = base.clone();
        // Two assets a page, "6 results", and a Next that never stops moving forward.
        let server = Hostile::start(move |_, path, query| {
            let base = b.lock().unwrap().clone();
            preservica_login(path).unwrap_or_else(|| {
                let start = start_of(query);
                let next = children_url(&base, start + 2);
                Answer::Body(XML, children_page(&base, start, 2, Some(next), Some(6)))
            })
        })
        .await;
        *base.lock().unwrap() = server.url.clone();
        let c = preservica(&server.url, fast_http());
        let e = c.children(None, 100).await.unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(
                e,
                PreservicaError::Http(HttpError::Listing(ListingError::PastTotal {
                    page: 6,
                    total: 6,
                    implied: 3,
                    margin: 2,
                    ..
                }))
            ),
            "{text}"
        );
        assert!(text.contains(&children_url(&server.url, 10)), "{text}");
        // Pages 1 to 5 were read; page 6 was never asked for.
        assert_eq!(server.count("/api/entity/root/children"), 5);
    })
    .await
}

#[test]
fn a_listing_without_a_total_stops_at_max_pages_in_flat_memory() {
    measured(
        "a_listing_without_a_total_stops_at_max_pages_in_flat_memory",
        || async {
            const PAGES: u32 = 500;
            const PADDING: usize = 320 * 1024;
            let base = Arc::new(Mutex::new(String::new()));
            let b = base.clone();
            // One asset a page, padded to 320 KiB, no TotalResults, and a Next that never
            // stops: 156 MiB in all, more than twice the memory bound.
            let server = Hostile::start(move |_, path, query| {
                let base = b.lock().unwrap().clone();
                preservica_login(path).unwrap_or_else(|| {
                    let start = start_of(query);
                    let next = children_url(&base, start + 1);
                    let page = children_page(&base, start, 1, Some(next), None);
                    let padded = page.replacen(
                        "<Children>",
                        &format!("<Children>{}", " ".repeat(PADDING)),
                        1,
                    );
                    Answer::Body(XML, padded)
                })
            })
            .await;
            *base.lock().unwrap() = server.url.clone();
            let http = HttpOptions {
                limits: Limits {
                    max_pages: PAGES,
                    ..Limits::default()
                },
                ..fast_http()
            };
            let c = preservica(&server.url, http);
            let e = c.children(None, 100).await.unwrap_err();
            let text = e.to_string();
            assert!(
                matches!(
                    e,
                    PreservicaError::Http(HttpError::Listing(ListingError::Ceiling {
                        pages: PAGES,
                        ..
                    }))
                ),
                "{text}"
            );
            assert!(
                text.contains(&children_url(&server.url, u64::from(PAGES)))
                    && text.contains("after 500 pages")
                    && text.contains("preservica.max_pages"),
                "{text}"
            );
            assert_eq!(server.count("/api/entity/root/children"), PAGES as usize);
            assert!(server.served() > 2 * MEMORY_BOUND, "{}", server.served());
        },
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_or_a_next_link_served_again_is_refused() {
    bounded(async {
        let base = Arc::new(Mutex::new(String::new()));
        let b = base.clone();
        // The same two assets on every page, under a Next that moves forward.
        let server = Hostile::start(move |_, path, query| {
            let base = b.lock().unwrap().clone();
            preservica_login(path).unwrap_or_else(|| {
                let next = children_url(&base, start_of(query) + 2);
                Answer::Body(XML, children_page(&base, 0, 2, Some(next), None))
            })
        })
        .await;
        *base.lock().unwrap() = server.url.clone();
        let c = preservica(&server.url, fast_http());
        let e = c.children(None, 100).await.unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("page 2 repeats the page before it")
                && text.contains(&children_url(&server.url, 2)),
            "{text}"
        );
        assert_eq!(server.count("/api/entity/root/children"), 2);

        // A Next that leads back to the first page.
        let base = Arc::new(Mutex::new(String::new()));
        let b = base.clone();
        let server = Hostile::start(move |_, path, query| {
            let base = b.lock().unwrap().clone();
            preservica_login(path).unwrap_or_else(|| {
                let start = start_of(query);
                let next = children_url(&base, (start + 2) % 4);
                Answer::Body(XML, children_page(&base, start, 2, Some(next), None))
            })
        })
        .await;
        *base.lock().unwrap() = server.url.clone();
        let c = preservica(&server.url, fast_http());
        let e = c.children(None, 100).await.unwrap_err();
        assert!(
            matches!(
                e,
                PreservicaError::Http(HttpError::Listing(ListingError::RepeatedLink { .. }))
            ),
            "{e}"
        );
        assert_eq!(server.count("/api/entity/root/children"), 2);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photoshelter_listings_end_though_the_total_moves_away_or_is_never_given() {
    bounded(async {
        // Two galleries a page, and a total that is always one page ahead.
        let server = Hostile::start(|_, path, query| {
            photoshelter_login(path).unwrap_or_else(|| {
                let page = page_of(query);
                let total = 2 * page + 2;
                let meta = format!(r#"{{"paging":{{"total":{total}}}}}"#);
                Answer::Body(JSON, galleries_page(2 * page, 2, &meta))
            })
        })
        .await;
        let c = photoshelter(&server.url, fast_http());
        let e = c.galleries_named("nowhere").await.unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(
                e,
                PhotoShelterError::Http(HttpError::Listing(ListingError::PastTotal {
                    page: 5,
                    total: 4,
                    ..
                }))
            ),
            "{text}"
        );
        assert!(text.contains("/psapi/v4.0/galleries?page=5"), "{text}");
        assert_eq!(server.count("/psapi/v4.0/galleries"), 4);

        // No total, and a next page always promised: the ceiling ends it.
        let server = Hostile::start(|_, path, query| {
            photoshelter_login(path).unwrap_or_else(|| {
                let page = page_of(query);
                Answer::Body(
                    JSON,
                    galleries_page(page, 1, r#"{"paging":{"next":"more"}}"#),
                )
            })
        })
        .await;
        let http = HttpOptions {
            limits: Limits {
                max_pages: 40,
                ..Limits::default()
            },
            ..fast_http()
        };
        let c = photoshelter(&server.url, http);
        let e = c.galleries_named("nowhere").await.unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("after 40 pages") && text.contains("photoshelter.max_pages"),
            "{text}"
        );
        assert_eq!(server.count("/psapi/v4.0/galleries"), 40);
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// 3. Nothing goes to another origin

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_and_redirects_to_another_origin_get_no_request_and_no_credential() {
    bounded(async {
        // Another port on 127.0.0.1 is another origin: it records anything it is sent.
        let other = Hostile::start(|_, _, _| Answer::Body(JSON, "{}".into())).await;
        let elsewhere = other.url.clone();
        let base = Arc::new(Mutex::new(String::new()));
        let b = base.clone();
        let server = Hostile::start(move |_, path, _| {
            let base = b.lock().unwrap().clone();
            if let Some(a) = preservica_login(path) {
                return a;
            }
            match path {
                // A Next to the other server.
                "/api/entity/root/children" => Answer::Body(
                    XML,
                    children_page(&base, 0, 2, Some(children_url(&elsewhere, 2)), Some(4)),
                ),
                // A fragment on the other server.
                p if p == asset_path() => {
                    asset_answer(&base, &format!("{elsewhere}{}/metadata/f1", asset_path()))
                }
                // A redirect to the other server.
                _ => Answer::Redirect(format!("{elsewhere}/api/entity/stolen")),
            }
        })
        .await;
        *base.lock().unwrap() = server.url.clone();
        let c = preservica(&server.url, fast_http());
        let foreign = |e: PreservicaError, url: &str| {
            let text = e.to_string();
            assert!(
                matches!(e, PreservicaError::Http(HttpError::ForeignOrigin { .. })),
                "{text}"
            );
            assert!(
                text.contains(url) && text.contains(&format!("not on {}", server.url)),
                "{text}"
            );
            assert!(!text.contains(TOKEN), "{text}");
        };
        foreign(
            c.children(None, 100).await.unwrap_err(),
            &children_url(&other.url, 2),
        );
        foreign(
            c.read_asset(ASSET).await.unwrap_err(),
            &format!("{}{}/metadata/f1", other.url, asset_path()),
        );
        foreign(
            c.entity(EntityKind::Folder, "f0").await.unwrap_err(),
            &format!("{}/api/entity/stolen", other.url),
        );
        // The first server did get the token: it is the configured one.
        assert!(
            server
                .hits()
                .iter()
                .any(|h| h.credentials.contains(&"preservica-access-token"))
        );

        // PhotoShelter's login redirected elsewhere: a 307 would carry the password along.
        let to = other.url.clone();
        let ps = Hostile::start(move |_, _, _| {
            Answer::Redirect(format!("{to}/psapi/v4.0/authenticate"))
        })
        .await;
        let e = photoshelter(&ps.url, fast_http())
            .galleries_named("x")
            .await
            .unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(
            matches!(e, PhotoShelterError::Http(HttpError::ForeignOrigin { .. }))
                && text.contains(&format!("{}/psapi/v4.0/authenticate", other.url)),
            "{text}"
        );
        assert!(
            !text.contains(PASSWORD) && !text.contains(API_KEY),
            "{text}"
        );

        let got = other.hits();
        assert!(
            got.is_empty(),
            "the other origin was sent {} requests, with credentials {:?}",
            got.len(),
            got.iter()
                .map(|h| (&h.method, &h.path, &h.query, &h.credentials))
                .collect::<Vec<_>>()
        );
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// 4. Plain HTTP only to this machine

#[test]
fn plain_http_to_another_host_is_refused_before_anything_is_sent_and_doctor_fails() {
    // TEST-NET addresses: nothing answers there, so a request would hang until its timeout
    // rather than pass; the checks must refuse before sending anything.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ferry.toml"),
        "[photoshelter]\nbase_url = \"http://192.0.2.10\"\nemail = \"a@example.org\"\n\n\
         [preservica]\nserver = \"192.0.2.11:8080\"\nprotocol = \"http\"\nusername = \"a@example.org\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("mapping.toml"),
        ferry::mapping::Mapping::default_text(),
    )
    .unwrap();
    let env = [
        ("FERRY_PHOTOSHELTER_API_KEY", API_KEY),
        ("FERRY_PHOTOSHELTER_PASSWORD", PASSWORD),
        ("FERRY_PRESERVICA_PASSWORD", PASSWORD),
    ];
    let config = ferry::config::Config::load(
        &dir.path().join("ferry.toml"),
        &ferry::config::Env::from_pairs(env),
    )
    .unwrap();
    let e = PreservicaClient::from_config(&config.preservica).unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(e, PreservicaError::Http(HttpError::InsecureHttp { .. }))
            && text.contains("http://192.0.2.11:8080/")
            && text.contains("allow_insecure_http = true in [preservica]"),
        "{text}"
    );
    let e = PhotoShelterClient::new(&config.photoshelter).unwrap_err();
    assert!(
        matches!(e, PhotoShelterError::Http(HttpError::InsecureHttp { .. })),
        "{e}"
    );

    let started = Instant::now();
    let out = ferry(dir.path(), &["doctor"], &env);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("not ready: photoshelter TLS, preservica TLS"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("plain HTTP refused; nothing was sent"),
        "{}",
        out.stdout
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "doctor tried to reach the hosts"
    );

    // Allowed explicitly, the clients are made (and still send nothing until asked).
    let mut allowed = config.clone();
    allowed.photoshelter.allow_insecure_http = true;
    allowed.preservica.allow_insecure_http = true;
    PreservicaClient::from_config(&allowed.preservica).unwrap();
    PhotoShelterClient::new(&allowed.photoshelter).unwrap();
}

// ---------------------------------------------------------------------------------------------
// 5. Timeouts

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_is_a_timeout_with_a_shorter_retry_budget_than_a_503() {
    bounded(async {
        let server = Hostile::start(|_, path, _| {
            if let Some(a) = preservica_login(path) {
                return a;
            }
            match path {
                "/api/entity/root/children" => Answer::Silent,
                "/api/entity/versiondetails/version" => {
                    Answer::Status(StatusCode::SERVICE_UNAVAILABLE)
                }
                _ => Answer::Stall(wire::response_open("EntityResponse", &v77())),
            }
        })
        .await;
        let http = HttpOptions {
            timeout: Duration::from_millis(500),
            ..fast_http()
        };
        let c = preservica(&server.url, http);
        let started = Instant::now();

        let e = c.children(None, 100).await.unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(
                e,
                PreservicaError::Http(HttpError::Timeout {
                    phase: TimeoutPhase::Answer,
                    attempts: 2,
                    ..
                })
            ),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "GET {}: no answer within 500 ms (2 attempts)",
                children_url(&server.url, 0)
            )) && text.contains("preservica.timeout_secs"),
            "{text}"
        );
        assert!(!text.contains("decoding"), "{text}");
        assert_eq!(server.count("/api/entity/root/children"), 2);

        // An answer that begins and then stops is a timeout too, not a decoding error.
        let e = c.read_asset(ASSET).await.unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("no complete answer within 500 ms (2 attempts)")
                && !text.contains("decoding"),
            "{text}"
        );
        assert_eq!(server.count(&asset_path()), 2);

        // A 503 is asked again more often: it says the server is there but busy.
        let e = c.version().await.unwrap_err();
        assert!(
            matches!(
                e,
                PreservicaError::Http(HttpError::Exhausted { attempts: 7, .. })
            ),
            "{e}"
        );
        assert_eq!(server.count("/api/entity/versiondetails/version"), 7);
        assert!(started.elapsed() < Duration::from_secs(10));
    })
    .await
}
