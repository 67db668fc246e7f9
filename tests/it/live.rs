//! The live mode (issue 19): Preservica webhooks and the PhotoShelter change poll feed live
//! runs that go through the nightly run's own steps on just the records named. Both emulators,
//! real HTTP, the web app's webhook endpoint on loopback; deliveries are signed here as
//! Preservica signs them (the emulator's own deliveries are HW's part of the round).

use crate::helpers::repo_file;
use ferry::app::Ferry;
use ferry::config::{Config, Env};
use ferry::emulate::FaultOptions;
use ferry::live::{LiveHandle, LiveOptions, LiveStep, live_once, run_live};
use ferry::mapping::Mapping;
use ferry::store::{RunKind, Store};
use ferry::sync::{SyncOptions, run_sync};
use ferry::world::{World, WorldOptions};
use std::time::{Duration, Instant};

const SECRET: &str = "live-test-secret-0123456789";

struct Live {
    world: World,
    config: Config,
    ferry: Ferry,
    handle: LiveHandle,
    url: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn live(media: usize, faults: FaultOptions) -> Live {
    live_with(media, faults, Default::default()).await
}

async fn live_with(
    media: usize,
    faults: FaultOptions,
    preservica_webhooks: ferry::preservica::emulator::WebhookOptions,
) -> Live {
    let mapping = Mapping::load(&repo_file("mappings/default.toml")).unwrap();
    let world = ferry::world::start_world(
        &WorldOptions {
            media,
            faults,
            preservica_webhooks,
            ..WorldOptions::default()
        },
        &mapping,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let extra = "[live]\nenabled = true\npublic_url = \"https://ferry.example.org\"\n\
                 photoshelter_poll_secs = 1\nwebhook_secret_file = \"secrets/live-webhook-secret\"\n";
    let path = ferry::world::write_config(dir.path(), &world, extra).unwrap();
    ferry::private_fs::write_private(&dir.path().join("secrets/live-webhook-secret"), SECRET)
        .unwrap();
    let config = Config::load(&path, &Env::empty()).unwrap();
    assert!(config.live.enabled);
    let ferry = Ferry::open(&config).unwrap();
    // The nightly run pairs the libraries first; live runs work on pairs.
    let mut store = ferry.open_store().unwrap();
    run_sync(
        &mut store,
        &ferry.sync_context(None),
        &SyncOptions::default(),
    )
    .await
    .unwrap();
    let handle = LiveHandle::new(config.live.webhook_secret.clone().unwrap());
    let server = ferry::server::start(
        ferry::server::ServerOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            access_token: None,
            store_path: config.paths.store.clone(),
            index_dir: config.paths.index.clone(),
            reports_dir: config.paths.reports.clone(),
            mapping,
            index: None,
            republisher: None,
            thumbnails: Default::default(),
            live: Some(handle.clone()),
        },
        std::future::pending(),
    )
    .await
    .unwrap();
    Live {
        world,
        url: format!("{}/webhooks/preservica", server.url()),
        config,
        ferry,
        handle,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

/// A delivery naming `refs`, as Preservica sends it; `nonce` keeps deliveries apart.
fn delivery(refs: &[&str], nonce: usize) -> Vec<u8> {
    let events: Vec<serde_json::Value> = refs
        .iter()
        .map(|r| serde_json::json!({"entityType": "IO", "entityRef": r}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "subscriptionId": "sub-1",
        "trigger": "MOVED",
        "tenant": "TEST",
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "nonce": nonce,
        "events": events,
    }))
    .unwrap()
}

impl Live {
    async fn post(&self, body: Vec<u8>, signature: Option<String>) -> reqwest::StatusCode {
        let mut req = self.http.post(&self.url).body(body);
        if let Some(s) = signature {
            req = req.header("Preservica-Signature", s);
        }
        req.send().await.unwrap().status()
    }

    async fn deliver(&self, body: Vec<u8>) -> reqwest::StatusCode {
        let sig = ferry::webhook::signature::sign_delivery(SECRET.as_bytes(), &body);
        self.post(body, Some(sig)).await
    }

    fn store(&self) -> Store {
        Store::open(&self.config.paths.store).unwrap()
    }

    /// Writes to PhotoShelter naming `media` (logins aside).
    fn ps_writes(&self, media: &str) -> usize {
        writes_naming(&self.world.photoshelter.log().entries(), media)
    }

    fn pv_writes(&self, reference: &str) -> usize {
        writes_naming(&self.world.preservica.log().entries(), reference)
    }

    fn ps_title(&self, media: &str) -> Option<String> {
        self.world.photoshelter.record(media).and_then(|r| {
            r.iptc
                .get("title")
                .and_then(|v| v.as_str().map(str::to_owned))
        })
    }

    /// Starts the live loop on a thread of its own (a sync future is not `Send`, as in
    /// `ferry serve`); the sender stops it.
    fn start_loop(
        &self,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let ferry = Ferry::open(&self.config).unwrap();
        let handle = self.handle.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let rt = tokio::runtime::Handle::current();
        let opts = LiveOptions {
            poll: Duration::from_secs(1),
            poll_preservica: false,
            settle: Duration::from_millis(100),
            retry: Duration::from_millis(100),
        };
        let task = tokio::task::spawn_blocking(move || {
            rt.block_on(run_live(&ferry, &handle, opts, async {
                let _ = rx.await;
            }))
        });
        (tx, task)
    }
}

fn writes_naming(log: &[ferry::emulate::LoggedRequest], id: &str) -> usize {
    log.iter()
        .filter(|r| r.method != "GET" && r.method != "HEAD" && r.path.contains(id))
        .count()
}

/// Polls `done` until it holds or `limit` passes; whether it held.
async fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_title_edited_in_preservica_reaches_photoshelter_within_seconds_with_one_write() {
    let l = live(6, FaultOptions::default()).await;
    let (media, reference) = l.world.pairs[0].clone();
    let (stop, task) = l.start_loop();
    let pv_writes = l.pv_writes(&reference);
    l.world
        .preservica
        .set_title(&reference, "Regatta at dawn, 1962");
    let edited = Instant::now();
    assert_eq!(
        l.deliver(delivery(&[&reference], 1)).await,
        reqwest::StatusCode::ACCEPTED
    );
    let arrived = eventually(Duration::from_secs(10), || {
        l.ps_title(&media).as_deref() == Some("Regatta at dawn, 1962")
    })
    .await;
    assert!(arrived, "the title did not reach PhotoShelter within 10 s");
    assert!(edited.elapsed() < Duration::from_secs(10));
    // Two more polls: the echo of ferry's own write is read, found in sync, not written again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let _ = stop.send(());
    task.await.unwrap();
    assert_eq!(l.ps_writes(&media), 1, "exactly one write to PhotoShelter");
    assert_eq!(
        l.pv_writes(&reference),
        pv_writes,
        "nothing written back to Preservica"
    );
    let store = l.store();
    let live_runs: Vec<_> = store
        .runs(50)
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == RunKind::Live)
        .collect();
    assert!(!live_runs.is_empty());
    let m = l.handle.metrics();
    assert_eq!(
        m.events_received.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(m.corrections.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(m.lag().count, 1, "the correction's lag is measured");
    // The web app counts them per hour and shows the counters.
    let metrics = l
        .http
        .get(l.url.replace("/webhooks/preservica", "/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ferry_live_events_received_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ferry_live_lag_seconds_count 1"),
        "{metrics}"
    );
    let runs_page = l
        .http
        .get(l.url.replace("/webhooks/preservica", "/runs"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(runs_page.contains("Live runs per hour"), "{runs_page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caption_edited_in_photoshelter_reaches_preservica_after_the_next_poll() {
    let l = live(6, FaultOptions::default()).await;
    let (media, reference) = l.world.pairs[1].clone();
    let (stop, task) = l.start_loop();
    let caption = "Boats leaving the harbour at dawn";
    assert!(
        l.world
            .photoshelter
            .set_iptc(&media, "caption", Some(caption))
    );
    let arrived = eventually(Duration::from_secs(10), || {
        l.world
            .preservica
            .record(&reference)
            .and_then(|r| r.description)
            .as_deref()
            == Some(caption)
    })
    .await;
    let _ = stop.send(());
    task.await.unwrap();
    assert!(
        arrived,
        "the caption did not reach Preservica after the poll"
    );
    assert_eq!(
        l.ps_writes(&media),
        0,
        "nothing written back to PhotoShelter"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_replayed_delivery_changes_nothing() {
    let l = live(6, FaultOptions::default()).await;
    let (media, reference) = l.world.pairs[2].clone();
    let before = l.ps_title(&media);
    l.world.preservica.set_title(&reference, "Forged title");
    let body = delivery(&[&reference], 1);
    let forged = ferry::webhook::signature::sign_delivery(b"not the secret", &body);
    assert_eq!(
        l.post(body.clone(), Some(forged)).await,
        reqwest::StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        l.post(body.clone(), None).await,
        reqwest::StatusCode::UNAUTHORIZED
    );
    // Signed over another body: the signature covers the raw bytes.
    let other = ferry::webhook::signature::sign_delivery(SECRET.as_bytes(), b"{}");
    assert_eq!(
        l.post(body.clone(), Some(other)).await,
        reqwest::StatusCode::UNAUTHORIZED
    );
    // Hostile bodies: too large, or not JSON (signed), queue nothing.
    let huge = vec![b'a'; 2 * 1024 * 1024];
    assert_eq!(
        l.deliver(huge).await,
        reqwest::StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        l.deliver(b"\xff\xfe<script>../".to_vec()).await,
        reqwest::StatusCode::BAD_REQUEST
    );
    // A challenge code that would make the answer a delivery signature is refused.
    let oracle = l
        .http
        .post(format!(
            "{}?challengeCode=preservica-webhook-auth%7B%7D",
            l.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(oracle.status(), reqwest::StatusCode::BAD_REQUEST);
    assert_eq!(l.handle.queued(), 0);
    assert!(matches!(
        live_once(&l.ferry, &l.handle).await,
        LiveStep::Idle
    ));
    assert_eq!(
        l.ps_title(&media),
        before,
        "a forged delivery changed nothing"
    );
    let m = l.handle.metrics();
    assert_eq!(
        m.deliveries_refused
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );

    // The genuine delivery is applied once; delivered again, it is dropped.
    assert_eq!(l.deliver(body.clone()).await, reqwest::StatusCode::ACCEPTED);
    assert!(matches!(
        live_once(&l.ferry, &l.handle).await,
        LiveStep::Ran(_)
    ));
    assert_eq!(l.ps_title(&media).as_deref(), Some("Forged title"));
    let writes = l.ps_writes(&media);
    let runs = l.store().runs(100).unwrap().len();
    assert_eq!(l.deliver(body).await, reqwest::StatusCode::OK);
    assert_eq!(l.handle.queued(), 0, "a replayed delivery queues nothing");
    assert!(matches!(
        live_once(&l.ferry, &l.handle).await,
        LiveStep::Idle
    ));
    assert_eq!(l.ps_writes(&media), writes);
    assert_eq!(
        l.store().runs(100).unwrap().len(),
        runs,
        "no run for a replay"
    );
    assert_eq!(
        m.deliveries_replayed
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );

    // The challenge handshake answers with the HMAC of the code.
    let answer: serde_json::Value = l
        .http
        .post(format!("{}?challengeCode=abc123", l.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["challengeCode"], "abc123");
    assert_eq!(
        answer["challengeResponse"],
        ferry::webhook::signature::challenge_response(SECRET.as_bytes(), "abc123")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_500_events_for_200_assets_reads_each_asset_once() {
    let l = live(200, FaultOptions::default()).await;
    let refs: Vec<String> = l
        .world
        .pairs
        .iter()
        .map(|p| p.1.clone())
        .take(200)
        .collect();
    assert_eq!(refs.len(), 200);
    let log_from = l.world.preservica.log().entries().len();
    for i in 0..500 {
        let r = &refs[i % refs.len()];
        assert_eq!(
            l.deliver(delivery(&[r], i)).await,
            reqwest::StatusCode::ACCEPTED
        );
    }
    assert_eq!(l.handle.queued(), 200);
    let LiveStep::Ran(out) = live_once(&l.ferry, &l.handle).await else {
        panic!("no live run");
    };
    assert_eq!(out.report.summary.pairs, 200, "each pair reconciled once");
    let log = l.world.preservica.log().entries();
    for r in &refs {
        let reads = log[log_from..]
            .iter()
            .filter(|q| q.method == "GET" && q.path.ends_with(&format!("/information-objects/{r}")))
            .count();
        assert_eq!(reads, 1, "{r} read {reads} times");
    }
    let by_kind = out.report.summary.api_calls_preservica.by_kind;
    assert_eq!(
        by_kind.get(ferry::http::RequestKind::ListingPage),
        0,
        "a live run lists nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_and_nightly_runs_never_overlap() {
    let faults = FaultOptions {
        latency: Duration::from_millis(5),
        ..FaultOptions::default()
    };
    let l = live(20, faults).await;
    let (stop, task) = l.start_loop();
    let mut store = l.store();
    for round in 0..3 {
        for (i, (_, r)) in l.world.pairs.iter().enumerate().take(5) {
            l.world
                .preservica
                .set_title(r, &format!("Title {round}-{i}"));
            l.deliver(delivery(&[r], round * 10 + i)).await;
        }
        // A nightly run while live runs have work: one waits for the other.
        let full = SyncOptions {
            full: true,
            ..SyncOptions::default()
        };
        loop {
            match run_sync(&mut store, &l.ferry.sync_context(None), &full).await {
                Ok(_) => break,
                Err(ferry::sync::SyncError::Locked(_)) => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
    let (m, _) = l.world.pairs[0].clone();
    assert!(
        eventually(Duration::from_secs(10), || l.ps_title(&m).as_deref()
            == Some("Title 2-0"))
        .await
    );
    // The live loop, held up by the last nightly run, takes its queue once the lock frees.
    let caught_up = eventually(Duration::from_secs(10), || {
        l.handle.queued() == 0
            && l.store()
                .runs(500)
                .unwrap()
                .iter()
                .any(|r| r.kind == RunKind::Live && r.finished_at.is_some())
    })
    .await;
    assert!(caught_up, "the live loop did not run after the nightly run");
    let _ = stop.send(());
    task.await.unwrap();
    let runs = store.runs(500).unwrap();
    let span = |r: &ferry::store::Run| {
        let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap();
        (
            t(&r.started_at),
            t(r.finished_at.as_deref().expect("every run finished")),
        )
    };
    let lives: Vec<_> = runs
        .iter()
        .filter(|r| r.kind == RunKind::Live)
        .map(span)
        .collect();
    let nightlies: Vec<_> = runs
        .iter()
        .filter(|r| r.kind == RunKind::Sync)
        .map(span)
        .collect();
    assert!(
        !lives.is_empty() && nightlies.len() >= 4,
        "{} live runs, {} nightly runs",
        lives.len(),
        nightlies.len()
    );
    for (ls, le) in &lives {
        for (ns, ne) in &nightlies {
            assert!(
                le <= ns || ne <= ls,
                "live {ls}..{le} overlaps nightly {ns}..{ne}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_run_killed_midway_loses_nothing() {
    let faults = FaultOptions {
        latency: Duration::from_millis(150),
        ..FaultOptions::default()
    };
    let l = live(6, faults).await;
    let (media, reference) = l.world.pairs[3].clone();
    l.world.preservica.set_title(&reference, "Harbour lights");
    assert_eq!(
        l.deliver(delivery(&[&reference], 1)).await,
        reqwest::StatusCode::ACCEPTED
    );
    let watcher = Store::open(&l.config.paths.store).unwrap();
    {
        let run = live_once(&l.ferry, &l.handle);
        tokio::pin!(run);
        let planned = async {
            while watcher.pending_outbox().unwrap().is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::select! {
            _ = &mut run => panic!("the live run finished before it could be killed"),
            _ = planned => {}
        }
        // Dropping the run here is the process dying: nothing after this point runs.
    }
    assert!(!watcher.pending_outbox().unwrap().is_empty());
    // The dead process's lock is taken over at once on this host (sync::lock); this process
    // lives on, so it lets go of its own.
    let mut store = l.store();
    store.release_lock(i64::from(std::process::id())).unwrap();
    // The next live run (here for another pair) finishes what the killed one planned.
    let (_, other) = l.world.pairs[4].clone();
    assert_eq!(
        l.deliver(delivery(&[&other], 2)).await,
        reqwest::StatusCode::ACCEPTED
    );
    assert!(matches!(
        live_once(&l.ferry, &l.handle).await,
        LiveStep::Ran(_)
    ));
    assert_eq!(l.ps_title(&media).as_deref(), Some("Harbour lights"));
    assert!(store.pending_outbox().unwrap().is_empty());
    assert_eq!(
        l.ps_writes(&media),
        1,
        "the correction is written exactly once"
    );
    let runs = store.runs(10).unwrap();
    assert!(
        runs.iter()
            .any(|r| r.kind == RunKind::Live && r.status == ferry::store::RunStatus::Interrupted),
        "the killed run is recorded as interrupted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulators_own_signed_deliveries_reach_the_endpoint_and_carry_a_title_across() {
    // End to end, as on a tenant: ferry subscribes at its endpoint (answering Preservica's
    // challenge), Preservica signs a delivery when the title changes, twice for some, with
    // the ref as a URL, and the live loop carries the title to PhotoShelter with one write.
    let l = live_with(
        6,
        FaultOptions::default(),
        ferry::preservica::emulator::WebhookOptions {
            duplicate_share: 1.0,
            ref_style: ferry::preservica::emulator::RefStyle::Url,
            ..Default::default()
        },
    )
    .await;
    let secret = l.config.live.webhook_secret.clone().unwrap();
    let triggers = ferry::webhook::subscriptions::LIVE_TRIGGERS;
    let renewed =
        ferry::webhook::subscriptions::renew(&l.ferry.preservica, &l.url, &secret, triggers)
            .await
            .expect("the emulator's challenge is answered and the triggers subscribed");
    assert!(!renewed.subscribed.is_empty(), "{renewed:?}");
    let (media, reference) = l.world.pairs[1].clone();
    let (stop, task) = l.start_loop();
    l.world
        .preservica
        .set_title(&reference, "Harbour lights, 1971");
    let arrived = eventually(Duration::from_secs(15), || {
        l.ps_title(&media).as_deref() == Some("Harbour lights, 1971")
    })
    .await;
    assert!(arrived, "the title did not reach PhotoShelter within 15 s");
    assert!(
        l.world
            .preservica
            .webhooks_drained(Duration::from_secs(10))
            .await
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _ = stop.send(());
    task.await.unwrap();
    let m = l.handle.metrics();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    assert!(load(&m.events_received) >= 1, "a delivery was taken in");
    assert!(
        load(&m.deliveries_replayed) >= 1,
        "the duplicate delivery was dropped"
    );
    assert_eq!(
        load(&m.deliveries_refused),
        0,
        "every delivery was correctly signed"
    );
    assert_eq!(l.ps_writes(&media), 1, "exactly one write to PhotoShelter");
    // Ferry's own subscriptions go on shutdown; none are left behind.
    let removed = ferry::webhook::subscriptions::remove_own(&l.ferry.preservica, &l.url)
        .await
        .unwrap();
    assert_eq!(removed, renewed.subscribed.len());
    assert!(l.world.preservica.webhook_subscriptions().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_ferry_serve_in_the_middle_of_a_live_run_loses_nothing() {
    // `ferry serve` as its own process, in live mode: its subscription cannot be made (the
    // public URL leads nowhere), so it polls Preservica. Titles edited in Preservica start a
    // live run; serve is killed with SIGKILL once that run has planned its writes. The next
    // run finishes them: every title arrives, each written once.
    let mapping = Mapping::load(&repo_file("mappings/default.toml")).unwrap();
    let world = ferry::world::start_world(
        &WorldOptions {
            media: 6,
            faults: FaultOptions {
                latency: Duration::from_millis(150),
                exempt_prefixes: vec!["/api/accesstoken".into(), "/psapi/v4.0/authenticate".into()],
                ..FaultOptions::default()
            },
            ..WorldOptions::default()
        },
        &mapping,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let extra = "[server]\nlisten = \"127.0.0.1:0\"\n\n[live]\nenabled = true\n\
                 public_url = \"http://127.0.0.1:9\"\nphotoshelter_poll_secs = 1\n\
                 webhook_secret_file = \"secrets/live-webhook-secret\"\n";
    let path = ferry::world::write_config(dir.path(), &world, extra).unwrap();
    ferry::private_fs::write_private(&dir.path().join("secrets/live-webhook-secret"), SECRET)
        .unwrap();
    let config = Config::load(&path, &Env::empty()).unwrap();
    let ferry = Ferry::open(&config).unwrap();
    let mut store = ferry.open_store().unwrap();
    let first = SyncOptions::default();
    run_sync(&mut store, &ferry.sync_context(None), &first)
        .await
        .unwrap();

    let mut serve = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["--config"])
        .arg(&path)
        .args(["serve", "--no-schedule"])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("ferry serve starts");
    // Edited once serve is up, so its Preservica poll is what finds them.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let edited: Vec<(String, String, String)> = world.pairs[..4]
        .iter()
        .enumerate()
        .map(|(i, (m, r))| (m.clone(), r.clone(), format!("Night ferry, {}", 1950 + i)))
        .collect();
    for (_, reference, title) in &edited {
        world.preservica.set_title(reference, title);
    }
    let planned = eventually(Duration::from_secs(30), || {
        !store.pending_outbox().unwrap().is_empty()
    })
    .await;
    serve.kill().unwrap(); // SIGKILL, in the middle of the live run
    serve.wait().unwrap();
    assert!(planned, "serve's live run planned no writes within 30 s");

    // The next run (the nightly one here) takes the dead process's lock over and finishes.
    let out = run_sync(&mut store, &ferry.sync_context(None), &first)
        .await
        .unwrap();
    assert_eq!(out.report.summary.failures, 0);
    assert!(store.pending_outbox().unwrap().is_empty());
    let log = world.photoshelter.log().entries();
    for (media, _, title) in &edited {
        let now = world.photoshelter.record(media).and_then(|r| {
            r.iptc
                .get("title")
                .and_then(|v| v.as_str().map(str::to_owned))
        });
        assert_eq!(now.as_deref(), Some(title.as_str()), "{media}");
        assert_eq!(
            writes_naming(&log, media),
            1,
            "{media} is written exactly once"
        );
    }
    world.stop().await;
}
