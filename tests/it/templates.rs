//! The web app's pages and the drift report as the templates render them: hostile values
//! escaped on every page, the report inside the app (navigation, links to assets and
//! conflicts) beside the standalone file (self-contained, the same inlined stylesheet),
//! identifiers shortened with the whole value kept, the asset page's "where it is filed" and
//! "access", the report's rights grouped by kind and dated, transfer reports opening with
//! their transfers.

use crate::server::{App, HOSTILE_CAPTION, csrf_of, start};
use chrono::Utc;
use ferry::model::System;
use ferry::report::render::{to_html, write_all};
use ferry::report::{FieldRow, RightsProblem, RunReport, TransferRow};
use ferry::store::{DecisionRow, RunEnding, RunKind, RunStatus, Snapshot};
use std::collections::BTreeMap;

/// Markup an attacker could put in any value: an element, an attribute break-out, a quote.
const HOSTILE: &str = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>'";
const HOSTILE_ESCAPED: &str =
    "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;&#39;";

fn assert_escaped(page: &str, what: &str) {
    assert!(!page.contains("<script"), "{what}: a script element");
    assert!(!page.contains("<img src=x"), "{what}: an injected img");
    assert!(page.contains(HOSTILE_ESCAPED), "{what}: the value, escaped");
}

fn snapshot(file_name: &str, fields: &[(&str, &str)]) -> Snapshot {
    Snapshot {
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        modified_at: Some(Utc::now()),
        file_name: Some(file_name.into()),
        file_size: Some(99),
        checksum: Some(("sha1".into(), "0123456789abcdef".into())),
    }
}

/// A run that reads the harbour pair again with hostile values everywhere (file name, folder,
/// a conflict on the headline) and ends with a hostile error. Returns the run.
fn hostile_run(app: &App) -> i64 {
    let mut store = app.store();
    let now = Utc::now();
    let run = store.begin_run(RunKind::Sync, false, now).unwrap();
    let harbour = app.fx.harbour;
    let ps = snapshot(
        HOSTILE,
        &[
            ("title", "Harbour regatta 1962"),
            ("headline", HOSTILE),
            ("@galleries", r#"["Regattas","Front page"]"#),
            ("@searchable", "true"),
        ],
    );
    let pv = snapshot(
        "scan.tif",
        &[
            ("title", "Harbour Regatta (1962)"),
            ("headline", "Plain"),
            ("@folder", HOSTILE),
            ("@security_tag", "open"),
        ],
    );
    store
        .put_snapshots(run, System::PhotoShelter, &[(harbour, ps)], now)
        .unwrap();
    store
        .put_snapshots(run, System::Preservica, &[(harbour, pv)], now)
        .unwrap();
    store
        .record_decisions(
            run,
            &[DecisionRow {
                asset_id: harbour,
                field: "headline".into(),
                photoshelter_value: Some(HOSTILE.into()),
                preservica_value: Some("Plain".into()),
                baseline: None,
                outcome: "queued_for_review".parse().unwrap(),
                rule: "manual".into(),
                reason: "both changed".into(),
                winning_value: None,
            }],
            now,
        )
        .unwrap();
    store
        .finish_run(
            run,
            RunStatus::Failed,
            RunEnding {
                exit_code: 3,
                error: Some(HOSTILE),
                ..RunEnding::default()
            },
            now,
        )
        .unwrap();
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_escapes_hostile_values() {
    let app = start().await;
    hostile_run(&app);
    let harbour = app.fx.harbour;

    // Search: the fixture's caption is hostile.
    let (_, search) = app.text("/?q=harbour").await;
    assert!(!search.contains("<script") && !search.contains("<img src=x"));
    assert!(search.contains("&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;"));
    assert!(HOSTILE_CAPTION.contains("<script>"));

    // Asset: the file name, the folder, the conflict's value.
    let (status, asset) = app.text(&format!("/assets/{harbour}")).await;
    assert_eq!(status, 200);
    assert_escaped(&asset, "asset page");
    assert!(asset.contains(&format!("file <bdi>{HOSTILE_ESCAPED}</bdi>")));
    let filed = section(&asset, "<h2 id=\"filed\">");
    assert!(filed.contains(HOSTILE_ESCAPED), "the folder: {filed}");

    // Conflicts: the value, then a decision whose name and note are hostile.
    let (_, conflicts) = app.text("/conflicts").await;
    assert_escaped(&conflicts, "conflicts page");
    let headline = app
        .store()
        .review_items(true)
        .unwrap()
        .into_iter()
        .find(|i| i.field == "headline")
        .unwrap()
        .id;
    let decided = app
        .http
        .post(app.url(&format!("/conflicts/{headline}")))
        .header("Origin", app.base.clone())
        .form(&[
            ("take", "preservica".to_string()),
            ("name", HOSTILE.to_string()),
            ("note", HOSTILE.to_string()),
            ("csrf", csrf_of(&conflicts)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(decided.status(), 303);
    let (_, conflicts) = app.text(&format!("/conflicts?resolved={headline}")).await;
    assert_escaped(&conflicts, "conflicts page after the decision");
    let row = section(&conflicts, &format!("<tr id=\"decided-{headline}\">"));
    assert_eq!(
        row.matches(HOSTILE_ESCAPED).count(),
        2,
        "name and note: {row}"
    );
    let (_, asset) = app.text(&format!("/assets/{harbour}")).await;
    let row = section(&asset, &format!("<tr id=\"decided-{headline}\">"));
    assert_eq!(
        row.matches(HOSTILE_ESCAPED).count(),
        2,
        "name and note: {row}"
    );

    // Runs: the hostile error of the run.
    let (_, runs) = app.text("/runs").await;
    assert_escaped(&runs, "runs page");

    // An error page repeats what it was asked for, escaped.
    let (status, missing) = app.text("/runs/%3Cscript%3E").await;
    assert_eq!(status, 404);
    assert!(!missing.contains("<script"));
    assert!(missing.contains("&lt;script&gt;"), "{missing}");
}

/// From `marker` to the end of its element's line (a row, a section's first lines).
fn section<'a>(page: &'a str, marker: &str) -> &'a str {
    let at = page
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {page}"));
    let rest = &page[at..];
    let end = rest.find("</tr>").or_else(|| rest.find("</dl>")).unwrap();
    &rest[..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_asset_page_shows_where_it_is_filed_and_access_not_differing_rows() {
    let app = start().await;
    hostile_run(&app);
    let (_, page) = app.text(&format!("/assets/{}", app.fx.harbour)).await;
    let filed = section(&page, "<h2 id=\"filed\">Where it is filed</h2>");
    assert!(filed.contains("Preservica folder"), "{filed}");
    assert!(filed.contains("PhotoShelter galleries"), "{filed}");
    assert!(
        filed.contains("<bdi>Front page, Regattas</bdi>"),
        "a set, in words: {filed}"
    );
    let access = section(&page, "<h2 id=\"access\">Access</h2>");
    assert!(access.contains("Searchable in PhotoShelter"), "{access}");
    assert!(access.contains("<bdi>true</bdi>"), "{access}");
    assert!(access.contains("Preservica security tag"), "{access}");
    assert!(access.contains("<bdi>open</bdi>"), "{access}");
    // No `@` key is a row of the fields table (where it would show as differing).
    let fields = &page[page.find("<table class=\"fields\">").unwrap()..];
    let fields = &fields[..fields.find("</table>").unwrap()];
    assert!(!fields.contains("data-field=\"@"), "{fields}");
    assert!(fields.contains("data-field=\"headline\""));
    // The API still lists every key, `@` keys included.
    let (_, json) = app.json(&format!("/api/assets/{}", app.fx.harbour)).await;
    let keys: Vec<&str> = json["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&"@folder") && keys.contains(&"@searchable"),
        "{keys:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifiers_are_shortened_with_the_whole_value_kept() {
    let app = start().await;
    let (_, page) = app.text(&format!("/assets/{}", app.fx.harbour)).await;
    for id in ["I0001", "ref-0001", "sha1:ab12"] {
        assert!(
            page.contains(&format!("<code class=\"id\" title=\"{id}\">{id}</code>")),
            "{id} whole in the title and the text: {page}"
        );
    }
    // The stylesheet shows 8 characters and an ellipsis.
    let rule = ferry::html::CSS
        .lines()
        .find(|l| l.starts_with("code.id "))
        .expect("a rule for identifiers");
    assert!(rule.contains("max-width:9ch") && rule.contains("text-overflow:ellipsis"));
    assert!(rule.contains("overflow:hidden") && rule.contains("white-space:nowrap"));
}

fn field(asset_id: i64, label: &str, outcome: &str) -> FieldRow {
    FieldRow {
        asset_id,
        photoshelter_id: Some("I0000ABCDEFGHIJK".into()),
        preservica_ref: Some("0b1c2d3e-0000-4000-8000-000000000001".into()),
        label: label.into(),
        field: "caption".into(),
        kind: "text".into(),
        photoshelter_value: Some("a".into()),
        preservica_value: Some("b".into()),
        outcome: outcome.parse().unwrap(),
        ..FieldRow::default()
    }
}

fn rights(kind: &str, detail: &str) -> RightsProblem {
    RightsProblem {
        asset_id: 7,
        label: "Studio".into(),
        kind: kind.into(),
        detail: detail.into(),
        ..RightsProblem::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_in_the_app_links_assets_and_the_file_stands_alone() {
    let app = start().await;
    let harbour = app.fx.harbour;
    let run = {
        let mut store = app.store();
        let run = store.begin_run(RunKind::Sync, true, Utc::now()).unwrap();
        store
            .finish_run(run, RunStatus::Done, RunEnding::default(), Utc::now())
            .unwrap();
        run
    };
    let report = RunReport {
        run_id: run,
        fields: vec![
            field(harbour, HOSTILE, "queued_for_review"),
            field(harbour, HOSTILE, "push_to_preservica"),
        ],
        rights: vec![rights("expiring_soon", "the licence expires on 2031-01-01")],
        ..RunReport::default()
    };
    let paths = write_all(&report, &app.fx.reports_dir).unwrap();

    let (status, page) = app.text(&format!("/runs/{run}")).await;
    assert_eq!(status, 200);
    assert_escaped(&page, "the report in the app");
    assert!(
        page.contains("<header class=\"top\">"),
        "the app's navigation"
    );
    assert!(page.contains("href=\"/runs\" class=\"active\""));
    assert!(page.contains(&format!("<a href=\"/assets/{harbour}\"><span class=\"v\"")));
    assert!(page.contains("<a href=\"/conflicts\"><span class=\"badge bad\""));
    assert!(
        page.contains(ferry::html::CSS),
        "the one stylesheet, inlined"
    );

    let file = std::fs::read_to_string(&paths.html).unwrap();
    assert_eq!(file, to_html(&report));
    assert_escaped(&file, "the report file");
    assert!(
        file.contains(ferry::html::CSS),
        "the same stylesheet, inlined"
    );
    assert!(!file.contains("<header class=\"top\">"));
    for needle in ["href=\"/", "src=\"", "<link", "url("] {
        assert!(!file.contains(needle), "the file depends on {needle}");
    }
    assert!(file.contains("Content-Security-Policy"));
    // The same ids are shortened in both, whole in their title.
    let id = "title=\"0b1c2d3e-0000-4000-8000-000000000001\"";
    assert!(page.contains(id) && file.contains(id));
}

#[test]
fn report_rights_are_grouped_by_kind_with_counts_and_dates_in_order() {
    let report = RunReport {
        rights: vec![
            rights("expiring_soon", "the licence expires on 2031-05-01"),
            rights("expired_licence", "the licence expired on 2024-01-01"),
            rights("expiring_soon", "the licence expires on 2031-01-01"),
        ],
        ..RunReport::default()
    };
    let html = to_html(&report);
    let rights = &html[html.find("<section id=\"rights\">").unwrap()..];
    let rights = &rights[..rights.find("</section>").unwrap()];
    let expired = rights.find("id=\"rights-expired_licence\"").unwrap();
    let soon = rights.find("id=\"rights-expiring_soon\"").unwrap();
    assert!(expired < soon, "the more urgent kind first");
    assert!(rights.contains("licence expiring soon</span> <span class=\"count\">2</span>"));
    assert!(rights.contains("licence expired</span> <span class=\"count\">1</span>"));
    assert!(rights.contains("<th scope=\"col\" data-sort=\"date\""));
    let (jan, may) = (
        rights
            .find("data-sort=\"2031-01-01\"><time datetime=\"2031-01-01\">")
            .unwrap(),
        rights.find("data-sort=\"2031-05-01\"").unwrap(),
    );
    assert!(soon < jan && jan < may, "each kind's problems by date");
}

#[test]
fn a_transfer_report_opens_with_its_transfers() {
    let transfer = RunReport {
        transfers: vec![TransferRow {
            kind: "archive".into(),
            source: "I0000ABCDEFGHIJK".into(),
            target: Some("Archive folder".into()),
            state: "done".into(),
            detail: "fixity checked".into(),
        }],
        ..RunReport::default()
    };
    let html = to_html(&transfer);
    let pos = |s: &str| html.find(s).unwrap_or_else(|| panic!("missing {s}"));
    assert!(pos("id=\"transfers\"") < pos("id=\"summary\""));
    assert!(pos("id=\"failures\"") < pos("id=\"summary\""));
    assert!(!html.contains("Assets in PhotoShelter"), "no sync counters");
    assert!(!html.contains("id=\"drift\""), "no empty sync sections");
    assert!(html.contains("Requests (retries included)"));

    // A sync's report keeps its order: the counters first.
    let sync = RunReport {
        fields: vec![field(1, "Harbour", "push_to_preservica")],
        ..transfer
    };
    let html = to_html(&sync);
    assert!(html.find("id=\"summary\"").unwrap() < html.find("id=\"transfers\"").unwrap());
    assert!(html.contains("Assets in PhotoShelter"));
}
