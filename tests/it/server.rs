//! The web app over HTTP: a store and an index built by hand in a temp directory, the server
//! on 127.0.0.1 port 0, and reqwest as the client. `browser.rs` drives the same app in
//! headless Chromium.

use crate::helpers::repo_file;
use chrono::{Duration as Days, Utc};
use ferry::http::RequestCounts;
use ferry::index::SearchIndex;
use ferry::mapping::Mapping;
use ferry::model::System;
use ferry::report::{RunReport, Summary};
use ferry::server::{ServerError, ServerOptions};
use ferry::store::Store;
use ferry::store::{DecisionRow, OutboxEntry, Snapshot};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A caption an attacker with an editor's login could write.
pub const HOSTILE_CAPTION: &str =
    "Boats <script>alert(\"owned\")</script> & <img src=x onerror=alert(1)> in the harbour";

/// A store, reports and an index in a temp directory, with four assets: two pairs, one in
/// Preservica only and one in PhotoShelter only.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store_path: PathBuf,
    pub index_dir: PathBuf,
    pub reports_dir: PathBuf,
    pub mapping: Mapping,
    /// Paired; hostile caption; a pending title write and a caption in field history.
    pub harbour: i64,
    /// Paired; two conflicts waiting for a person.
    pub ships: i64,
    /// In Preservica only.
    pub dockyard: i64,
    /// In PhotoShelter only; licence expired.
    pub studio: i64,
    pub run: i64,
    /// Review items of `ships`: usage_terms, copyright_notice.
    pub conflicts: Vec<i64>,
}

fn snap(fields: &[(&str, &str)]) -> Snapshot {
    Snapshot {
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        modified_at: Some(Utc::now() - Days::days(1)),
        file_name: Some("scan.tif".into()),
        file_size: Some(1234),
        checksum: Some(("sha1".into(), "ab12".into())),
    }
}

fn decision(
    asset: i64,
    field: &str,
    ps: Option<&str>,
    pv: Option<&str>,
    outcome: &'static str,
    rule: &str,
    reason: &str,
) -> DecisionRow {
    DecisionRow {
        asset_id: asset,
        field: field.into(),
        photoshelter_value: ps.map(str::to_string),
        preservica_value: pv.map(str::to_string),
        baseline: Some(ps.map(str::to_string)),
        outcome: outcome.parse().unwrap(),
        rule: rule.into(),
        reason: reason.into(),
        winning_value: None,
    }
}

pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("ferry.db");
    let index_dir = dir.path().join("index");
    let reports_dir = dir.path().join("reports");
    let mapping = Mapping::load(&repo_file("mappings/default.toml")).unwrap();
    let mut store = Store::open(&store_path).unwrap();
    let now = Utc::now();
    let run = store
        .begin_run(ferry::store::RunKind::Sync, false, now)
        .unwrap();

    let ps_ids: Vec<String> = ["I0001", "I0002", "I0004"].map(String::from).to_vec();
    let pv_refs: Vec<String> = ["ref-0001", "ref-0002", "ref-0003"]
        .map(String::from)
        .to_vec();
    let ps = store
        .ensure_assets(System::PhotoShelter, &ps_ids, now)
        .unwrap();
    let pv = store
        .ensure_assets(System::Preservica, &pv_refs, now)
        .unwrap();
    let harbour = store
        .pair(ps["I0001"], pv["ref-0001"], "identifier", now)
        .unwrap();
    let ships = store
        .pair(ps["I0002"], pv["ref-0002"], "checksum", now)
        .unwrap();
    let dockyard = pv["ref-0003"];
    let studio = ps["I0004"];

    let expired = (now - Days::days(30)).date_naive().to_string();
    store
        .put_snapshots(
            run,
            System::PhotoShelter,
            &[
                (
                    harbour,
                    snap(&[
                        ("title", "Harbour regatta 1962"),
                        ("caption", HOSTILE_CAPTION),
                        ("creator", "Mary Ellis"),
                        ("date_created", "1962-07-14"),
                        ("keywords", r#"["harbour","regatta"]"#),
                        ("city", "Halifax"),
                        ("country", "Canada"),
                    ]),
                ),
                (
                    ships,
                    snap(&[
                        ("title", "Tall ships leaving port"),
                        ("creator", "John Smith"),
                        ("date_created", "1975-05-01"),
                        ("usage_terms", "Editorial use only"),
                        ("copyright_notice", "© 1975 John Smith"),
                        ("keywords", r#"["ships"]"#),
                    ]),
                ),
                (
                    studio,
                    snap(&[
                        ("title", "Studio portrait"),
                        ("creator", "John Smith"),
                        ("date_created", "1980-02-02"),
                        ("license_expiry", &expired),
                    ]),
                ),
            ],
            now,
        )
        .unwrap();
    store
        .put_snapshots(
            run,
            System::Preservica,
            &[
                (
                    harbour,
                    snap(&[
                        ("title", "Harbour Regatta (1962)"),
                        ("caption", "Boats in harbor"),
                        ("creator", "Mary Ellis"),
                        ("date_created", "1962-07-14"),
                        ("keywords", r#"["harbour","regatta"]"#),
                    ]),
                ),
                (
                    ships,
                    snap(&[
                        ("title", "Tall ships leaving port"),
                        ("creator", "John Smith"),
                        ("date_created", "1975-05-01"),
                        ("usage_terms", "Any use"),
                        ("copyright_notice", "© Port Authority"),
                    ]),
                ),
                (
                    dockyard,
                    snap(&[
                        ("title", "Dockyard workers"),
                        ("creator", "Mary Ellis"),
                        ("date_created", "1958-03-03"),
                    ]),
                ),
            ],
            now,
        )
        .unwrap();

    let ids = store
        .record_decisions(
            run,
            &[
                decision(
                    harbour,
                    "title",
                    Some("Harbour regatta 1962"),
                    Some("Harbour Regatta (1962)"),
                    "push_to_preservica",
                    "newest",
                    "only PhotoShelter changed since they last agreed",
                ),
                decision(
                    harbour,
                    "caption",
                    Some(HOSTILE_CAPTION),
                    Some("Boats in harbor"),
                    "push_to_preservica",
                    "photoshelter",
                    "photoshelter owns caption",
                ),
                decision(
                    ships,
                    "usage_terms",
                    Some("Editorial use only"),
                    Some("Any use"),
                    "queued_for_review",
                    "manual",
                    "both changed; usage_terms is decided by a person",
                ),
                decision(
                    ships,
                    "copyright_notice",
                    Some("© 1975 John Smith"),
                    Some("© Port Authority"),
                    "queued_for_review",
                    "manual",
                    "both changed; copyright_notice is decided by a person",
                ),
            ],
            now,
        )
        .unwrap();
    let write = |field: &str, value: &str, decision: i64| OutboxEntry {
        id: 0,
        run_id: run,
        asset_id: harbour,
        decision_id: Some(decision),
        system: System::Preservica,
        field: field.into(),
        expected_value: None,
        new_value: Some(value.into()),
        state: ferry::store::OutboxState::Planned,
        attempts: 0,
    };
    store
        .enqueue(
            run,
            &[
                write("title", "Harbour regatta 1962", ids[0]),
                write("caption", HOSTILE_CAPTION, ids[1]),
            ],
            now,
        )
        .unwrap();
    let caption = store
        .pending_outbox()
        .unwrap()
        .into_iter()
        .find(|e| e.field == "caption")
        .unwrap();
    store
        .complete_write(
            &caption,
            Some("Boats in harbor"),
            "photoshelter owns caption",
            run,
            now,
        )
        .unwrap();

    let summary = Summary {
        pairs: 2,
        drifted: 3,
        pushed_to_preservica: 1,
        conflicts_queued: 2,
        failures: 1,
        api_calls_photoshelter: RequestCounts {
            requests: 12,
            ..RequestCounts::default()
        },
        api_calls_preservica: RequestCounts {
            requests: 30,
            ..RequestCounts::default()
        },
        seconds_total: 4.5,
        ..Summary::default()
    };
    let report = RunReport {
        schema_version: ferry::report::REPORT_SCHEMA_VERSION,
        run_id: run,
        started_at: ferry::store::ts(now),
        finished_at: ferry::store::ts(now),
        status: ferry::store::RunStatus::Done,
        summary: summary.clone(),
        ..RunReport::default()
    };
    let paths = ferry::report::render::write_all(&report, &reports_dir).unwrap();
    store
        .finish_run(
            run,
            ferry::store::RunStatus::Done,
            ferry::store::RunEnding {
                exit_code: 0,
                summary_json: Some(&serde_json::to_string(&summary).unwrap()),
                report_path: Some(&paths.html.display().to_string()),
                error: None,
            },
            now,
        )
        .unwrap();
    let conflicts = store
        .review_items(true)
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();

    // Built, then closed: the app opens the directory itself (one writer per index).
    let mut index = SearchIndex::open(&index_dir).unwrap();
    index.set_mapping(mapping.clone());
    assert_eq!(
        index
            .update_from_store(&store, None, now.date_naive())
            .unwrap(),
        4
    );
    drop(index);

    Fixture {
        dir,
        store_path,
        index_dir,
        reports_dir,
        mapping,
        harbour,
        ships,
        dockyard,
        studio,
        run,
        conflicts,
    }
}

/// A running app over a fixture; stops when dropped.
pub struct App {
    pub fx: Fixture,
    pub base: String,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl App {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    pub async fn text(&self, path: &str) -> (StatusCode, String) {
        let resp = self.get(path).await;
        let status = resp.status();
        (status, resp.text().await.unwrap())
    }

    pub async fn json(&self, path: &str) -> (StatusCode, serde_json::Value) {
        let resp = self.get(path).await;
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }

    pub fn store(&self) -> Store {
        Store::open(&self.fx.store_path).unwrap()
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn options(fx: &Fixture, listen: &str, token: Option<&str>) -> ServerOptions {
    ServerOptions {
        listen: listen.parse().unwrap(),
        access_token: token.map(ferry::config::Secret::new),
        store_path: fx.store_path.clone(),
        index_dir: fx.index_dir.clone(),
        reports_dir: fx.reports_dir.clone(),
        mapping: fx.mapping.clone(),
        index: None,
        republisher: None,
        thumbnails: Default::default(),
        live: None,
    }
}

/// The app over `fx`, listening on `listen`, with `token` as its access token.
pub async fn start_with(fx: Fixture, listen: &str, token: Option<&str>) -> App {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let running = ferry::server::start(options(&fx, listen, token), async {
        let _ = rx.await;
    })
    .await
    .unwrap();
    let addr = running.addr();
    // Connect over loopback whatever the listening address.
    let base = format!("http://127.0.0.1:{}", addr.port());
    App {
        fx,
        base,
        addr,
        http: client(),
        _stop: tx,
    }
}

/// The app on 127.0.0.1, port 0, no token.
pub async fn start() -> App {
    start_with(fixture(), "127.0.0.1:0", None).await
}

/// The value of `name="..." value="..."` style attribute `attr` in the first element that
/// has `marker` in it.
pub fn attr_after(html: &str, marker: &str, attr: &str) -> Option<String> {
    let at = html.find(marker)?;
    let rest = &html[at..];
    let key = format!("{attr}=\"");
    let start = rest.find(&key)? + key.len();
    let end = rest[start..].find('"')? + start;
    Some(rest[start..end].to_string())
}

/// The `href` of the element whose attributes include `marker` (the `href` comes first).
pub fn href_before(html: &str, marker: &str) -> Option<String> {
    let at = html.find(marker)?;
    let start = html[..at].rfind("href=\"")? + "href=\"".len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

/// The form token of the conflicts page.
pub fn csrf_of(html: &str) -> String {
    attr_after(html, "name=\"csrf\"", "value").expect("the page has a form token")
}

fn assert_security_headers(h: &HeaderMap) {
    assert_eq!(
        h["content-security-policy"],
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
}

/// Undoes the escaping of an attribute value as the pages write it.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_page_lists_hits_and_facet_links_refine_the_query_in_the_url() {
    let app = start().await;
    let resp = app.get("/?q=").await;
    assert_eq!(resp.status(), 200);
    assert_security_headers(resp.headers());
    let page = resp.text().await.unwrap();
    for title in [
        "Harbour regatta 1962",
        "Tall ships leaving port",
        "Dockyard workers",
        "Studio portrait",
    ] {
        assert!(page.contains(title), "{title} missing");
    }
    assert!(page.contains("4 assets"), "{page}");
    assert!(
        page.contains("licence expired"),
        "the studio's rights badge"
    );
    assert!(page.contains("Preservica only") && page.contains("PhotoShelter only"));

    // The creator facet lists Mary Ellis twice; its link keeps the whole query in ?q=.
    let link = href_before(&page, "data-term=\"creator:&quot;Mary Ellis&quot;\"")
        .expect("a facet link for Mary Ellis");
    let link = unescape(&link);
    assert!(link.starts_with("/?q="), "{link}");
    assert!(link.contains("creator%3A%22Mary+Ellis%22"), "{link}");
    let (status, refined) = app.text(&link).await;
    assert_eq!(status, 200);
    assert!(refined.contains("2 assets"), "{refined}");
    assert!(refined.contains("Harbour regatta 1962") && refined.contains("Dockyard workers"));
    assert!(!refined.contains("Tall ships leaving port"));
    // The search box holds the refined query, and the facet is now a link that removes it.
    assert!(refined.contains("value=\"creator:&quot;Mary Ellis&quot;\""));
    assert!(refined.contains("remove creator:&quot;Mary Ellis&quot;"));

    // Words, typos and field filters in the query string.
    let (_, harbour) = app.text("/?q=harbor+regata").await;
    assert!(harbour.contains("Harbour regatta 1962"), "typo tolerance");
    assert!(harbour.contains("1 asset "), "{harbour}");
    let (_, sixties) = app.text("/?q=year%3A1960..1969").await;
    assert!(sixties.contains("Harbour regatta 1962") && !sixties.contains("Dockyard workers"));

    // A query the language refuses is explained, not a server error.
    let (status, bad) = app.text("/?q=nosuchfield%3Ax").await;
    assert_eq!(status, 200);
    assert!(bad.contains("not a field ferry can search"), "{bad}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_search_returns_hits_facets_and_pages() {
    let app = start().await;
    let (status, body) = app.json("/api/search?q=harbour").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1);
    assert_eq!(body["hits"][0]["asset_id"], app.fx.harbour);
    assert_eq!(
        body["hits"][0]["url"],
        format!("/assets/{}", app.fx.harbour)
    );
    assert_eq!(body["hits"][0]["lives_in"], "both");
    assert_eq!(body["hits"][0]["preservica_ref"], "ref-0001");

    let (_, all) = app
        .json("/api/search?q=&limit=1&offset=1&sort=date_asc")
        .await;
    assert_eq!(all["total"], 4);
    assert_eq!(all["hits"].as_array().unwrap().len(), 1);
    // Oldest first: dockyard (1958), then harbour (1962).
    assert_eq!(all["hits"][0]["asset_id"], app.fx.harbour);
    let creators = all["facets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f[0] == "creator")
        .expect("a creator facet");
    assert!(
        creators[1]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v[0] == "Mary Ellis" && v[1] == 2),
        "{creators}"
    );
    let refine = all["refine"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f[0] == "lives_in")
        .unwrap();
    assert!(
        refine[1]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["term"] == "in:preservica" && v["count"] == 1),
        "{refine}"
    );

    let (status, err) = app.json("/api/search?q=nosuchfield%3Ax").await;
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("nosuchfield"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asset_page_shows_both_systems_decisions_history_and_escapes_everything() {
    let app = start().await;
    let resp = app.get(&format!("/assets/{}", app.fx.harbour)).await;
    assert_eq!(resp.status(), 200);
    assert_security_headers(resp.headers());
    let page = resp.text().await.unwrap();
    // Both systems' values side by side.
    assert!(page.contains("Harbour regatta 1962"));
    assert!(page.contains("Harbour Regatta (1962)"));
    // The decision and its reason, who wins per field, where each field lives.
    assert!(page.contains("only PhotoShelter changed since they last agreed"));
    assert!(page.contains("push to preservica"));
    assert!(page.contains("the newest edit wins"));
    assert!(page.contains("PhotoShelter owns it"));
    assert!(page.contains("iptc.title"));
    // Preservation reference and where the authoritative copy is.
    assert!(page.contains("ref-0001"));
    assert!(page.contains("Preservica holds the preserved original"));
    // Field history keeps the superseded caption; the pending title write is listed.
    assert!(page.contains("Field history"));
    assert!(page.contains("Boats in harbor"));
    assert!(page.contains("planned"));
    // A placeholder where no preview is offered.
    assert!(page.contains("No preview available"));
    // The hostile caption is shown, escaped: no script or image element from it.
    assert!(page.contains("&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;"));
    assert!(!page.contains("<script"), "raw script tag in the page");
    assert!(!page.contains("<img"), "raw img tag in the page");

    let (status, json) = app.json(&format!("/api/assets/{}", app.fx.harbour)).await;
    assert_eq!(status, 200);
    assert_eq!(json["preservica_ref"], "ref-0001");
    assert_eq!(json["lives_in"], "both");
    let title = json["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == "title")
        .unwrap();
    assert_eq!(title["photoshelter"], "Harbour regatta 1962");
    assert_eq!(title["preservica"], "Harbour Regatta (1962)");
    assert_eq!(title["differs"], true);
    assert_eq!(title["rule"], "newest");
    assert_eq!(title["decision"]["outcome"], "push_to_preservica");
    // A set's values are arrays, as in every JSON ferry writes.
    let keywords = json["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == "keywords")
        .unwrap();
    assert_eq!(
        keywords["photoshelter"],
        serde_json::json!(["harbour", "regatta"])
    );
    assert_eq!(
        keywords["preservica"],
        serde_json::json!(["harbour", "regatta"])
    );
    assert_eq!(json["history"][0]["old_value"], "Boats in harbor");
    assert_eq!(json["history"][0]["new_value"], HOSTILE_CAPTION);

    // An asset in one system: the other side is absent, not an error.
    let (status, dock) = app.text(&format!("/assets/{}", app.fx.dockyard)).await;
    assert_eq!(status, 200);
    assert!(dock.contains("Preservica only (ref-0003)"));

    let (_, studio) = app.text(&format!("/assets/{}", app.fx.studio)).await;
    assert!(studio.contains("PhotoShelter only (I0004): not archived in Preservica yet"));

    for missing in [
        "/assets/99999",
        "/assets/abc",
        "/assets/-1",
        "/api/assets/99999",
    ] {
        assert_eq!(app.get(missing).await.status(), 404, "{missing}");
    }
    let resp = app.get("/no/such/page").await;
    assert_eq!(resp.status(), 404);
    assert_security_headers(resp.headers());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_are_decided_with_the_form_token_and_only_from_this_origin() {
    let app = start().await;
    let (status, page) = app.text("/conflicts").await;
    assert_eq!(status, 200);
    assert!(page.contains("2 conflicts wait for a person"));
    assert!(page.contains("Editorial use only") && page.contains("Any use"));
    assert!(page.contains(&format!("href=\"/assets/{}\"", app.fx.ships)));
    let csrf = csrf_of(&page);
    assert_eq!(csrf.len(), 64);
    let [usage, copyright] = app.fx.conflicts[..] else {
        panic!("two conflicts")
    };
    let post = |id: i64, form: Vec<(&'static str, String)>, origin: Option<&str>| {
        let mut req = app
            .http
            .post(app.url(&format!("/conflicts/{id}")))
            .form(&form);
        if let Some(o) = origin {
            req = req.header("Origin", o);
        }
        req.send()
    };
    let origin = app.base.clone();

    // Without the token, with a wrong one, or from another site: refused, nothing recorded.
    let r = post(usage, vec![("take", "preservica".into())], Some(&origin))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = post(
        usage,
        vec![("take", "preservica".into()), ("csrf", "0".repeat(64))],
        Some(&origin),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    let r = post(
        usage,
        vec![("take", "preservica".into()), ("csrf", csrf.clone())],
        Some("http://evil.example"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .http
        .post(app.url(&format!("/conflicts/{usage}")))
        .header("Referer", "http://evil.example/page")
        .form(&[("take", "preservica"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(app.store().review_items(true).unwrap().len(), 2);

    // With both: recorded for the next sync, and the page says so.
    let r = post(
        usage,
        vec![("take", "preservica".into()), ("csrf", csrf.clone())],
        Some(&origin),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, format!("/conflicts?resolved={usage}"));
    let (_, after) = app.text(&location).await;
    assert!(after.contains(&format!("Conflict #{usage} (usage_terms) decided")));
    assert!(after.contains("take Preservica&#39;s value"));
    assert!(after.contains("waiting for the next sync"));
    assert!(after.contains("1 conflict waits for a person"));

    // Deciding it again is refused: it is no longer open.
    let r = post(
        usage,
        vec![("take", "photoshelter".into()), ("csrf", csrf.clone())],
        Some(&origin),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 409);

    // A typed value is parsed with the field's kind; an empty one is refused.
    let r = post(
        copyright,
        vec![
            ("take", "value".into()),
            ("value", "   ".into()),
            ("csrf", csrf.clone()),
        ],
        Some(&origin),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let r = post(
        copyright,
        vec![
            ("take", "value".into()),
            ("value", "  © 1975 Port Authority ".into()),
            ("csrf", csrf.clone()),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 303);

    let items = app.store().review_items(false).unwrap();
    let usage_item = items.iter().find(|i| i.id == usage).unwrap();
    assert_eq!(usage_item.status, "resolved");
    assert_eq!(usage_item.resolution.as_deref(), Some("preservica"));
    let copyright_item = items.iter().find(|i| i.id == copyright).unwrap();
    assert_eq!(copyright_item.resolution.as_deref(), Some("value"));
    assert_eq!(
        copyright_item.resolution_value.as_deref(),
        Some("© 1975 Port Authority")
    );
    // What the next sync will carry out.
    assert_eq!(app.store().resolutions().unwrap().len(), 2);
    let (_, none) = app.text("/conflicts").await;
    assert!(none.contains("No conflicts wait for a person"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_list_and_reports_are_served_and_paths_cannot_escape() {
    let app = start().await;
    let (status, page) = app.text("/runs").await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("href=\"/runs/{}\"", app.fx.run)));

    let resp = app.get(&format!("/runs/{}", app.fx.run)).await;
    assert_eq!(resp.status(), 200);
    assert_security_headers(resp.headers());
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let report = resp.text().await.unwrap();
    assert!(report.contains(&format!("ferry run {}", app.fx.run)));
    let (status, json) = app.json(&format!("/runs/{}/json", app.fx.run)).await;
    assert_eq!(status, 200);
    assert_eq!(json["run_id"], app.fx.run);
    assert_eq!(
        app.get(&format!("/runs/{}/csv", app.fx.run)).await.status(),
        200
    );

    // A run ferry knows whose report file is a link to a file outside the reports directory.
    let secret = app.fx.dir.path().join("secret.html");
    std::fs::write(&secret, "SECRET CONTENT").unwrap();
    let other = {
        let mut store = app.store();
        let id = store
            .begin_run(ferry::store::RunKind::Sync, false, Utc::now())
            .unwrap();
        store
            .finish_run(
                id,
                ferry::store::RunStatus::Done,
                ferry::store::RunEnding::default(),
                Utc::now(),
            )
            .unwrap();
        id
    };
    std::os::unix::fs::symlink(
        &secret,
        app.fx.reports_dir.join(format!("run-{other}.html")),
    )
    .unwrap();
    // A file that looks like a report of a run the store does not know.
    std::fs::write(app.fx.reports_dir.join("run-999.html"), "SECRET CONTENT").unwrap();

    for path in [
        format!("/runs/{other}"),
        "/runs/999".to_string(),
        "/runs/..%2Fsecret.html".to_string(),
        "/runs/..%2F..%2F..%2Fetc%2Fpasswd".to_string(),
        format!("/runs/{}%2F..%2F..%2Fsecret.html", app.fx.run),
        format!("/runs/{}/..%2F..%2Fsecret", app.fx.run),
        format!("/runs/{}/html", app.fx.run),
        "/runs/0".to_string(),
    ] {
        let resp = app.get(&path).await;
        assert_eq!(resp.status(), 404, "{path}");
        assert!(!resp.text().await.unwrap().contains("SECRET"), "{path}");
    }

    let (status, runs) = app.json("/api/runs").await;
    assert_eq!(status, 200);
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1]["id"], app.fx.run);
    assert_eq!(runs[1]["summary"]["drifted"], 3);
    assert_eq!(runs[1]["has_report"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_ok_until_runs_are_locked_out() {
    let app = start().await;
    let (status, body) = app.json("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["locked_out"], false);
    assert_eq!(body["last_run"]["id"], app.fx.run);
    assert_eq!(body["last_run"]["status"], "done");
    assert!(body["last_run"]["finished_at"].is_string());

    app.store()
        .set_lockout(
            "the Preservica listing came back empty",
            Some(app.fx.run),
            Utc::now(),
        )
        .unwrap();
    let (status, body) = app.json("/healthz").await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "locked_out");
    assert_eq!(
        body["lockout"]["reason"],
        "the Preservica listing came back empty"
    );
    assert_eq!(body["lockout"]["run_id"], app.fx.run);
    // Every page says so too.
    let (_, page) = app.text("/runs").await;
    assert!(page.contains("locked out") && page.contains("ferry sync --recover"));
    let (_, metrics) = app.text("/metrics").await;
    assert!(metrics.contains("\nferry_lockout 1\n"));
}

/// Checks the Prometheus text format line by line; returns sample name (with labels) → value.
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    let mut typed = std::collections::BTreeSet::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap();
            let name = parts.next().expect("a metric name");
            assert!(matches!(kind, "HELP" | "TYPE"), "{line}");
            if kind == "TYPE" {
                let t = parts.next().unwrap();
                assert!(matches!(t, "counter" | "gauge"), "{line}");
                assert!(typed.insert(name.to_string()), "TYPE twice: {line}");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("name and value");
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        assert!(typed.contains(name), "sample before its TYPE: {line}");
        if let Some(labels) = series.strip_prefix(name)
            && !labels.is_empty()
        {
            assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
            for pair in labels[1..labels.len() - 1].split(',') {
                let (k, v) = pair.split_once('=').expect("label=value");
                assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
                assert!(v.starts_with('"') && v.ends_with('"'), "{line}");
            }
        }
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        samples.insert(series.to_string(), v);
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text_with_the_expected_series() {
    let app = start().await;
    let resp = app.get("/metrics").await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let samples = parse_prometheus(&resp.text().await.unwrap());
    let expect = [
        ("ferry_runs_total{status=\"done\"}", 1.0),
        ("ferry_runs_total{status=\"failed\"}", 0.0),
        ("ferry_last_run_exit_code", 0.0),
        ("ferry_fields_drifted", 3.0),
        ("ferry_pushes_total{system=\"preservica\"}", 1.0),
        ("ferry_pushes_total{system=\"photoshelter\"}", 0.0),
        ("ferry_failures_total", 1.0),
        ("ferry_api_requests_total{system=\"photoshelter\"}", 12.0),
        ("ferry_api_requests_total{system=\"preservica\"}", 30.0),
        ("ferry_last_run_api_requests{system=\"preservica\"}", 30.0),
        ("ferry_last_run_duration_seconds", 4.5),
        ("ferry_open_conflicts", 2.0),
        ("ferry_lockout", 0.0),
    ];
    for (series, value) in expect {
        assert_eq!(samples.get(series), Some(&value), "{series}: {samples:?}");
    }
    assert!(samples.contains_key("ferry_last_run_timestamp_seconds"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listening_beyond_loopback_needs_a_long_enough_token() {
    let fx = fixture();
    let err = ferry::server::start(options(&fx, "0.0.0.0:0", None), async {})
        .await
        .unwrap_err();
    assert!(matches!(err, ServerError::TokenRequired { .. }), "{err}");
    assert!(err.to_string().contains("access token"), "{err}");
    let err = ferry::server::start(options(&fx, "[::]:0", None), async {})
        .await
        .unwrap_err();
    assert!(matches!(err, ServerError::TokenRequired { .. }), "{err}");
    let err = ferry::server::start(options(&fx, "0.0.0.0:0", Some("tiny-1234")), async {})
        .await
        .unwrap_err();
    assert!(matches!(err, ServerError::WeakToken), "{err}");
    assert!(
        !err.to_string().contains("tiny-1234"),
        "the token is never printed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_every_request_needs_it() {
    const TOKEN: &str = "correct-horse-battery-staple-42";
    // On loopback too: a configured token is always required (tests bind nothing wider).
    let app = start_with(fixture(), "127.0.0.1:0", Some(TOKEN)).await;
    for path in [
        "/",
        "/healthz",
        "/metrics",
        "/api/search?q=",
        "/runs/1",
        "/nope",
    ] {
        let resp = app.get(path).await;
        assert_eq!(resp.status(), 401, "{path}");
        assert_security_headers(resp.headers());
        assert!(resp.headers().contains_key("www-authenticate"));
        assert!(!resp.text().await.unwrap().contains("Harbour"), "{path}");
    }
    let wrong = app
        .http
        .get(app.url("/"))
        .bearer_auth("correct-horse-battery-staple-43")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = app
        .http
        .get(app.url("/?q=harbour"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    assert!(right.text().await.unwrap().contains("Harbour regatta 1962"));

    // Browsers log in once: the cookie is HttpOnly, SameSite=Strict, and not the token.
    assert_eq!(app.get("/login?token=wrong").await.status(), 401);
    let (status, form) = app.text("/login").await;
    assert_eq!(status, 200);
    assert!(form.contains("name=\"token\""));
    let login = app.get(&format!("/login?token={TOKEN}")).await;
    assert_eq!(login.status(), 303);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert!(!cookie.contains(TOKEN));
    let pair = cookie.split(';').next().unwrap().to_string();
    let mut headers = HeaderMap::new();
    headers.insert("cookie", HeaderValue::from_str(&pair).unwrap());
    let page = app
        .http
        .get(app.url(&format!("/assets/{}", app.fx.harbour)))
        .headers(headers.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);

    // A form still needs its form token with the session.
    let conflicts = app
        .http
        .get(app.url("/conflicts"))
        .headers(headers.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&conflicts);
    let id = app.fx.conflicts[0];
    let refused = app
        .http
        .post(app.url(&format!("/conflicts/{id}")))
        .form(&[("take", "photoshelter"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401, "no session, no token");
    let ok = app
        .http
        .post(app.url(&format!("/conflicts/{id}")))
        .headers(headers)
        .form(&[("take", "photoshelter"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_only_loopback_host_names_are_answered() {
    let app = start().await;
    let rebound = app
        .http
        .get(app.url("/"))
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 421);
    let local = app
        .http
        .get(app.url("/healthz"))
        .header("Host", format!("localhost:{}", app.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(local.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_already_open_in_the_process_is_shared() {
    let fx = fixture();
    let index = SearchIndex::open(&fx.index_dir).unwrap();
    let shared = std::sync::Arc::new(std::sync::Mutex::new(index));
    let mut opts = options(&fx, "127.0.0.1:0", None);
    opts.index = Some(shared.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let running = ferry::server::start(opts, async {
        let _ = rx.await;
    })
    .await
    .unwrap();
    let url = format!("{}/api/search?q=dockyard", running.url());
    let body: serde_json::Value = client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["total"], 1);

    // The owner updates the index; the app sees it on the next search.
    {
        let mut store = Store::open(&fx.store_path).unwrap();
        let run = store
            .begin_run(ferry::store::RunKind::Sync, false, Utc::now())
            .unwrap();
        store
            .put_snapshots(
                run,
                System::Preservica,
                &[(
                    fx.dockyard,
                    snap(&[("title", "Dockyard workers at the slipway")]),
                )],
                Utc::now(),
            )
            .unwrap();
        shared
            .lock()
            .unwrap()
            .update_from_store(&store, Some(&[fx.dockyard]), Utc::now().date_naive())
            .unwrap();
    }
    let url = format!("{}/api/search?q=slipway", running.url());
    let body: serde_json::Value = client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["total"], 1);
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running.wait())
        .await
        .expect("the server stops when told to")
        .unwrap();
}

/// `ferry serve` as systemd runs it: the real binary against both emulators, stopped with
/// SIGTERM (systemd's default), must end on its own, cleanly and soon.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stops_cleanly_on_sigterm() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mapping = Mapping::load(&repo_file("mappings/default.toml")).unwrap();
    let world = crate::helpers::world(4, &mapping).await;
    let dir = tempfile::tempdir().unwrap();
    ferry::world::write_config(
        dir.path(),
        &world,
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[schedule]\nnightly = \"0 2 * * *\"\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["--config", "ferry.toml", "serve"])
        .current_dir(dir.path())
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the ferry binary starts");
    // Lines of stdout as they come, read on a thread of their own.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !seen.iter().any(|l: &String| l.starts_with("nightly sync:")) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("ferry serve did not start: {seen:?}");
            }
        }
    }
    let url = seen
        .iter()
        .find_map(|l| l.strip_prefix("ferry web app: "))
        .expect("the web app's address")
        .trim()
        .to_string();
    let health = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert!(health.status().is_success(), "{}", health.status());
    // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let asked = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if asked.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            panic!("ferry serve was still running 15 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
        seen.push(line);
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{seen:?}\n{stderr}");
    assert!(
        seen.iter().any(|l| l == "ferry stopped (SIGTERM)"),
        "{seen:?}\n{stderr}"
    );
    world.stop().await;
}
