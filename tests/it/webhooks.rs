//! Preservica webhooks end to end over loopback: ferry's client subscribes against the
//! emulator, which performs the challenge with a small receiver standing in for ferry's
//! endpoint, then delivers signed events when entities change by API or by an archivist.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use ferry::config::Secret;
use ferry::http::HttpOptions;
use ferry::mapping::preservica::PreservicaWrite;
use ferry::preservica::client::{Connection, PreservicaClient};
use ferry::preservica::emulator::{
    self, EmulatorOptions, PreservicaEmulator, RefStyle, WebhookOptions,
};
use ferry::preservica::wire::{EntityKind, Version};
use ferry::webhook::{self, LIVE_TRIGGERS, Trigger, WebhookError};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "webhook-secret-Zx81";
const DRAIN: Duration = Duration::from_secs(10);

/// What the receiver got: (path, signature header, body).
type Got = Arc<Mutex<Vec<(String, Option<String>, Bytes)>>>;

#[derive(Clone)]
struct Receiver {
    got: Got,
    /// Answer challenges with a wrong response.
    wrong: bool,
    /// Answer deliveries 500 (challenges still right).
    failing: bool,
}

async fn hook(
    State(r): State<Receiver>,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(code) = q.get("challengeCode") {
        let secret = if r.wrong { "not-the-secret" } else { SECRET };
        let answer = webhook::challenge_response(secret.as_bytes(), code);
        return axum::Json(serde_json::json!({"challengeCode": code, "challengeResponse": answer}))
            .into_response();
    }
    let sig = headers
        .get(webhook::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    r.got
        .lock()
        .unwrap()
        .push((uri.path().to_string(), sig, body));
    if r.failing {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    StatusCode::OK.into_response()
}

/// A receiver on a free loopback port: its base URL and what it got.
async fn receiver(wrong: bool) -> (String, Got) {
    receiver_with(wrong, false).await
}

async fn receiver_with(wrong: bool, failing: bool) -> (String, Got) {
    let got = Got::default();
    let app = Router::new().fallback(hook).with_state(Receiver {
        got: got.clone(),
        wrong,
        failing,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), got)
}

async fn emulator(webhooks: WebhookOptions) -> PreservicaEmulator {
    emulator_with(EmulatorOptions {
        seed_assets: 3,
        webhooks,
        ..EmulatorOptions::default()
    })
    .await
}

async fn emulator_with(options: EmulatorOptions) -> PreservicaEmulator {
    emulator::start(options, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the emulator starts")
}

fn quick() -> WebhookOptions {
    WebhookOptions {
        delay: Duration::from_millis(20),
        retry_backoff: Duration::from_millis(20),
        ..WebhookOptions::default()
    }
}

fn client(emu: &PreservicaEmulator) -> PreservicaClient {
    let o = emu.options();
    PreservicaClient::new(Connection {
        base_url: emu.url(),
        username: o.username.clone(),
        password: Secret::new(o.password.clone()),
        tenant: Some(o.tenant.clone()),
        http: HttpOptions {
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
            ..HttpOptions::default()
        },
        single_put_limit: 32 * 1024 * 1024,
        part_size: 8 * 1024 * 1024,
    })
    .unwrap()
}

/// The deliveries the receiver got, each checked against the secret and read.
fn verified(got: &Got) -> Vec<(String, webhook::Delivery, Bytes)> {
    got.lock()
        .unwrap()
        .iter()
        .map(|(path, sig, body)| {
            webhook::verify_delivery(SECRET.as_bytes(), body, sig.as_deref())
                .expect("every delivery is signed with the subscription's secret");
            (
                path.clone(),
                webhook::parse_delivery(body).unwrap(),
                body.clone(),
            )
        })
        .collect()
}

fn names(d: &webhook::Delivery, reference: &str) -> bool {
    d.events
        .iter()
        .any(|e| e.entity_ref == reference && e.kind == Some(EntityKind::Asset))
}

#[tokio::test]
async fn edits_by_api_and_by_an_archivist_are_delivered_signed_and_after_the_answer() {
    let emu = emulator(WebhookOptions {
        delay: Duration::from_millis(1000),
        ..quick()
    })
    .await;
    let (base, got) = receiver(false).await;
    let url = format!("{base}/webhooks/preservica");
    let c = client(&emu);
    let secret = Secret::new(SECRET);
    let indexed = c
        .subscribe(&url, Trigger::FullTextIndexed, &secret)
        .await
        .unwrap();
    let security = c
        .subscribe(&url, Trigger::ChangedSecurityDescriptor, &secret)
        .await
        .unwrap();
    assert!(indexed.is_some() && security.is_some() && indexed != security);
    assert_eq!(emu.webhook_subscriptions().len(), 2);
    assert!(
        got.lock().unwrap().is_empty(),
        "the challenge is no delivery"
    );

    let refs = emu.asset_refs();
    let write = PreservicaWrite {
        title: Some(Some("Edited through the API".into())),
        ..Default::default()
    };
    c.apply_write(&refs[0], &write).await.unwrap();
    // The API answered before the delivery's delay was up: deliveries never hold it.
    assert!(emu.webhooks_pending() > 0);
    assert!(got.lock().unwrap().is_empty());
    assert!(emu.webhooks_drained(DRAIN).await);
    let api = verified(&got);
    assert!(!api.is_empty());
    for (path, d, _) in &api {
        assert_eq!(path, "/webhooks/preservica");
        assert_eq!(d.trigger.as_deref(), Some("FULL_TEXT_INDEXED"));
        assert_eq!(d.subscription_id, indexed);
        assert!(names(d, &refs[0]), "{d:?}");
    }

    got.lock().unwrap().clear();
    emu.set_title(&refs[1], "Edited by an archivist");
    emu.set_fragment(
        &refs[2],
        "http://example.org/ns",
        "<x xmlns=\"http://example.org/ns\"/>",
    );
    c.set_security_tag(EntityKind::Asset, &refs[0], "closed")
        .await
        .unwrap();
    assert!(emu.webhooks_drained(DRAIN).await);
    let admin = verified(&got);
    let by = |trigger: &str, r: &str| {
        admin
            .iter()
            .filter(|(_, d, _)| d.trigger.as_deref() == Some(trigger) && names(d, r))
            .count()
    };
    assert_eq!(by("FULL_TEXT_INDEXED", &refs[1]), 1);
    assert_eq!(by("FULL_TEXT_INDEXED", &refs[2]), 1);
    assert_eq!(by("CHANGED_SECURITY_DESCRIPTOR", &refs[0]), 1);
    assert_eq!(
        by("FULL_TEXT_INDEXED", &refs[0]),
        0,
        "a tag change is no re-index"
    );
    let sec = admin
        .iter()
        .find(|(_, d, _)| d.trigger.as_deref() == Some("CHANGED_SECURITY_DESCRIPTOR"))
        .unwrap();
    assert_eq!(sec.1.subscription_id, security);
    let body: serde_json::Value = serde_json::from_slice(&sec.2).unwrap();
    assert_eq!(body["tenant"], "FERRY");
    assert!(body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(body["events"][0]["identifiers"].is_array());
    // The emulator's own record agrees with what arrived.
    let record = emu.webhook_deliveries();
    assert!(record.iter().all(|d| d.status == Some(200) && !d.duplicate));
    assert!(!String::from_utf8_lossy(&sec.2).contains(SECRET));
}

#[tokio::test]
async fn a_subscriber_failing_the_challenge_is_not_subscribed() {
    let emu = emulator(quick()).await;
    let (base, _got) = receiver(true).await;
    let c = client(&emu);
    let e = c
        .subscribe(
            &format!("{base}/hook"),
            Trigger::Moved,
            &Secret::new(SECRET),
        )
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(
            e,
            WebhookError::Refused {
                trigger: Trigger::Moved,
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("challenge"), "{msg}");
    assert!(!msg.contains(SECRET), "{msg}");
    assert!(emu.webhook_subscriptions().is_empty());
    // Nobody listening at all fails the same way.
    let e = c
        .subscribe(
            "http://127.0.0.1:9/hook",
            Trigger::Moved,
            &Secret::new(SECRET),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, WebhookError::Refused { .. }), "{e}");
    // renew with every trigger refused is an error, naming why.
    let e = webhook::renew(
        &c,
        &format!("{base}/hook"),
        &Secret::new(SECRET),
        LIVE_TRIGGERS,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, WebhookError::NothingSubscribed(_)), "{e}");
    assert!(e.to_string().contains("FULL_TEXT_INDEXED"), "{e}");
}

#[tokio::test]
async fn renew_and_remove_touch_only_subscriptions_of_our_url() {
    for list_urls in [true, false] {
        let emu = emulator(WebhookOptions {
            list_urls,
            ..quick()
        })
        .await;
        let (base, _got) = receiver(false).await;
        let (ours, theirs) = (format!("{base}/ours"), format!("{base}/theirs"));
        let secret = Secret::new(SECRET);
        // Someone else's subscription, made by another client.
        client(&emu)
            .subscribe(&theirs, Trigger::Moved, &secret)
            .await
            .unwrap();
        let c = client(&emu);
        // Left over from an earlier run of this process (a crash before shutdown).
        c.subscribe(&ours, Trigger::Moved, &secret).await.unwrap();
        c.subscribe(&ours, Trigger::FullTextIndexed, &secret)
            .await
            .unwrap();
        let renewed = webhook::renew(&c, &ours, &secret, LIVE_TRIGGERS)
            .await
            .unwrap();
        assert_eq!(renewed.removed, 2, "list_urls {list_urls}");
        assert_eq!(renewed.subscribed.len(), LIVE_TRIGGERS.len());
        assert!(renewed.refused.is_empty());
        let subs = emu.webhook_subscriptions();
        let count = |u: &str| subs.iter().filter(|(_, url, _)| url == u).count();
        assert_eq!((count(&ours), count(&theirs)), (LIVE_TRIGGERS.len(), 1));
        let mut triggers: Vec<Trigger> = subs.iter().filter(|s| s.1 == ours).map(|s| s.2).collect();
        triggers.sort();
        let mut want = LIVE_TRIGGERS.to_vec();
        want.sort();
        assert_eq!(triggers, want);

        // A client that did not create them can tell them only by url.
        let stranger = webhook::remove_own(&client(&emu), &ours).await.unwrap();
        assert_eq!(stranger, if list_urls { LIVE_TRIGGERS.len() } else { 0 });
        let removed = webhook::remove_own(&c, &ours).await.unwrap();
        assert_eq!(removed, if list_urls { 0 } else { LIVE_TRIGGERS.len() });
        let left = emu.webhook_subscriptions();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].1, theirs);
        assert!(
            !c.unsubscribe("no-such-subscription").await.unwrap(),
            "404 is already gone"
        );
    }
}

/// Edits `n` assets (each once, as an archivist) and returns how often each was delivered.
async fn delivered_per_asset(options: WebhookOptions, n: usize) -> BTreeMap<String, usize> {
    let emu = emulator_with(EmulatorOptions {
        seed_assets: n,
        webhooks: options,
        ..EmulatorOptions::default()
    })
    .await;
    let (base, got) = receiver(false).await;
    subscribe_full_text(&emu, &base).await;
    let refs = emu.asset_refs();
    for r in &refs {
        emu.set_title(r, "again");
    }
    assert!(emu.webhooks_drained(DRAIN).await);
    let mut per: BTreeMap<String, Vec<Bytes>> = BTreeMap::new();
    for (_, d, body) in verified(&got) {
        assert_eq!(d.events.len(), 1);
        per.entry(d.events[0].entity_ref.clone())
            .or_default()
            .push(body);
    }
    assert_eq!(per.len(), refs.len(), "every edited asset was delivered");
    for bodies in per.values() {
        // A repeat is the same delivery byte for byte, so the same delivery id.
        let ids: Vec<String> = bodies.iter().map(|b| webhook::delivery_id(b)).collect();
        assert!(ids.windows(2).all(|w| w[0] == w[1]));
    }
    per.into_iter().map(|(r, b)| (r, b.len())).collect()
}

#[tokio::test]
async fn the_duplicate_option_repeats_identical_deliveries_deterministically() {
    let always = delivered_per_asset(
        WebhookOptions {
            duplicate_share: 1.0,
            ..quick()
        },
        4,
    )
    .await;
    assert!(always.values().all(|&n| n == 2), "{always:?}");
    let never = delivered_per_asset(quick(), 4).await;
    assert!(never.values().all(|&n| n == 1), "{never:?}");
    let half = || WebhookOptions {
        duplicate_share: 0.5,
        seed: 7,
        ..quick()
    };
    let first: Vec<usize> = delivered_per_asset(half(), 12)
        .await
        .into_values()
        .collect();
    let second: Vec<usize> = delivered_per_asset(half(), 12)
        .await
        .into_values()
        .collect();
    let mut first_sorted = first.clone();
    first_sorted.sort();
    let mut second_sorted = second;
    second_sorted.sort();
    assert_eq!(
        first_sorted, second_sorted,
        "the same seed gives the same duplicates"
    );
    assert!(first.contains(&1) && first.contains(&2), "{first:?}");
}

#[tokio::test]
async fn refs_written_as_urls_read_back_as_the_bare_ref() {
    let emu = emulator(WebhookOptions {
        ref_style: RefStyle::Url,
        ..quick()
    })
    .await;
    let (base, got) = receiver(false).await;
    subscribe_full_text(&emu, &base).await;
    let r = emu.asset_refs()[0].clone();
    emu.set_title(&r, "x");
    assert!(emu.webhooks_drained(DRAIN).await);
    let delivered = verified(&got);
    assert_eq!(delivered.len(), 1);
    let raw: serde_json::Value = serde_json::from_slice(&delivered[0].2).unwrap();
    let sent = raw["events"][0]["entityRef"].as_str().unwrap();
    assert!(sent.starts_with("http://") && sent.ends_with(&r), "{sent}");
    assert!(names(&delivered[0].1, &r));
}

#[tokio::test]
async fn doctor_says_which_role_is_missing_or_that_the_server_has_no_webhooks() {
    use ferry::doctor::{Status, webhooks::check_webhooks};
    let ok = emulator(quick()).await;
    let line = check_webhooks(&client(&ok)).await;
    assert_eq!(line.status, Status::Ok, "{}", line.detail);

    let reader = emulator_with(EmulatorOptions {
        roles: vec!["ROLE_SDB_ACCESS_USER".into()],
        ..EmulatorOptions::default()
    })
    .await;
    let line = check_webhooks(&client(&reader)).await;
    assert_eq!(line.status, Status::Fail);
    assert!(
        line.detail.contains("ConfigManager or Manager role"),
        "{}",
        line.detail
    );
    let e = webhook::renew(
        &client(&reader),
        "http://127.0.0.1:9/x",
        &Secret::new(SECRET),
        LIVE_TRIGGERS,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, WebhookError::RoleMissing { .. }), "{e}");

    let old = emulator_with(EmulatorOptions {
        version: Version::new(6, 2, 0),
        ..EmulatorOptions::default()
    })
    .await;
    let line = check_webhooks(&client(&old)).await;
    assert_eq!(line.status, Status::Fail);
    assert!(line.detail.contains("no webhook API"), "{}", line.detail);
}

#[tokio::test]
async fn a_failing_subscriber_gets_a_bounded_number_of_attempts() {
    let emu = emulator(WebhookOptions {
        attempts: 3,
        ..quick()
    })
    .await;
    let (base, got) = receiver_with(false, true).await;
    subscribe_full_text(&emu, &base).await;
    let r = emu.asset_refs()[0].clone();
    emu.set_title(&r, "x");
    assert!(emu.webhooks_drained(DRAIN).await);
    let record = emu.webhook_deliveries();
    assert_eq!(record.len(), 1);
    assert_eq!((record[0].status, record[0].attempts), (Some(500), 3));
    let bodies: Vec<Bytes> = got.lock().unwrap().iter().map(|g| g.2.clone()).collect();
    assert_eq!(bodies.len(), 3, "one POST per attempt");
    assert!(bodies.iter().all(|b| *b == record[0].body));
}

/// Subscribes `{base}/hook` to the full-text trigger (what a title change sends).
async fn subscribe_full_text(emu: &PreservicaEmulator, base: &str) {
    client(emu)
        .subscribe(
            &format!("{base}/hook"),
            Trigger::FullTextIndexed,
            &Secret::new(SECRET),
        )
        .await
        .unwrap();
}
