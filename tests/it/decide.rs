//! Decisions people make are checked before they are accepted, and keep who made them: the
//! real `ferry conflicts resolve` and the web conflict form, over one store.

use crate::helpers::ferry;
use crate::signals::{closed_port, closed_port_config, with_app};
use ferry::store::DecisionRow;
use ferry::store::Store;
use std::path::Path;

/// Opens review items for a date field and an enum field on the fixture's `ships` asset, next
/// to its copyright_notice (text, PhotoShelter keeps 128 bytes); returns their ids by field.
fn open_conflicts(store_path: &Path, ships: i64, run: i64) -> [(String, i64); 3] {
    let mut store = Store::open(store_path).unwrap();
    let queued = |field: &str, ps: &str, pv: &str| DecisionRow {
        asset_id: ships,
        field: field.into(),
        photoshelter_value: Some(ps.into()),
        preservica_value: Some(pv.into()),
        baseline: None,
        outcome: "queued_for_review".parse().unwrap(),
        rule: "manual".into(),
        reason: format!("both changed; {field} is decided by a person"),
        winning_value: None,
    };
    store
        .record_decisions(
            run,
            &[
                queued("date_created", "1975-05-01", "1975-06-01"),
                queued("model_release", "MR-NON", "MR-UMR"),
            ],
            chrono::Utc::now(),
        )
        .unwrap();
    let items = store.review_items(true).unwrap();
    ["copyright_notice", "date_created", "model_release"].map(|f| {
        let id = items.iter().find(|i| i.field == f).unwrap().id;
        (f.to_string(), id)
    })
}

fn conflicts_json(dir: &Path) -> serde_json::Value {
    let out = ferry(
        dir,
        &["conflicts", "list", "--all", "--format", "json"],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

fn conflict(json: &serde_json::Value, id: i64) -> &serde_json::Value {
    json["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()
}

#[test]
fn the_command_line_refuses_values_the_systems_cannot_hold_and_records_who_decided() {
    let fx = crate::server::fixture();
    let dir = fx.dir.path();
    closed_port_config(dir, closed_port());
    let [(_, copyright), (_, date), (_, release)] =
        open_conflicts(&fx.store_path, fx.ships, fx.run);
    let too_long = "©".repeat(70); // 140 bytes: PhotoShelter's IPTC copyright keeps 128.
    let cases: [(i64, &str, &[&str]); 4] = [
        (
            copyright,
            too_long.as_str(),
            &["copyright_notice", "PhotoShelter", "128", "max_bytes"],
        ),
        (date, "last spring", &["date_created", "last spring"]),
        (date, "1975-13-45", &["date_created"]),
        (
            release,
            "MR-MAYBE",
            &[
                "model_release",
                "MR-MAYBE",
                "MR-NON, MR-LMR, MR-NAP, MR-UMR",
            ],
        ),
    ];
    for (id, value, words) in cases {
        let out = ferry(
            dir,
            &["conflicts", "resolve", &id.to_string(), "--take", value],
            &[("USER", "ada")],
        );
        assert_eq!(out.code, 2, "{value}: {}", out.stderr);
        let lines: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(lines.len(), 1, "one message: {}", out.stderr);
        for w in words {
            assert!(lines[0].contains(w), "{value}: {w} missing in {}", lines[0]);
        }
        // Nothing queued: the conflict is still open, no resolution waits for a sync.
        let json = conflicts_json(dir);
        assert_eq!(conflict(&json, id)["status"], "open", "{value}");
        assert_eq!(conflict(&json, id)["resolution"], serde_json::Value::Null);
    }
    assert!(
        Store::open(&fx.store_path)
            .unwrap()
            .resolutions()
            .unwrap()
            .is_empty()
    );

    // A value that fits: recorded with the OS user and the note.
    let out = ferry(
        dir,
        &[
            "conflicts",
            "resolve",
            &date.to_string(),
            "--take",
            "1975-05-02",
            "--note",
            "per the negative sleeve",
        ],
        &[("USER", "ada")],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = ferry(
        dir,
        &[
            "conflicts",
            "resolve",
            &release.to_string(),
            "--take",
            "MR-LMR",
        ],
        &[("LOGNAME", "grace")],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json = conflicts_json(dir);
    let decided = conflict(&json, date);
    assert_eq!(decided["status"], "resolved");
    assert_eq!(decided["resolution_value"], "1975-05-02");
    assert_eq!(decided["decided_by"], "ada");
    assert_eq!(decided["decision_note"], "per the negative sleeve");
    assert_eq!(conflict(&json, release)["decided_by"], "grace");
    assert_eq!(
        conflict(&json, release)["decision_note"],
        serde_json::Value::Null
    );
    let text = ferry(dir, &["conflicts", "list", "--all"], &[]).stdout;
    assert!(
        text.contains("resolved: take value by ada (per the negative sleeve)"),
        "{text}"
    );

    // The asset page shows who decided, and why.
    let ships = fx.ships;
    let page = with_app(dir, async |base, http| {
        http.get(format!("{base}/assets/{ships}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    let row = page
        .split(&format!("<tr id=\"decided-{date}\">"))
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .unwrap_or_else(|| panic!("no decided row in {page}"));
    assert!(
        row.contains("date_created") && row.contains("1975-05-02"),
        "{row}"
    );
    assert!(
        row.contains("ada") && row.contains("per the negative sleeve"),
        "{row}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_form_refuses_a_value_in_the_page_and_records_the_name_given() {
    let app = crate::server::start().await;
    let (_, page) = app.text("/conflicts").await;
    let csrf = crate::server::csrf_of(&page);
    let copyright = app.fx.conflicts[1];
    let post = |value: String, name: &'static str| {
        app.http
            .post(app.url(&format!("/conflicts/{copyright}")))
            .header("Origin", app.base.clone())
            .form(&[
                ("take", "value".to_string()),
                ("value", value),
                ("name", name.to_string()),
                ("note", "from the deed of gift".to_string()),
                ("csrf", csrf.clone()),
            ])
            .send()
    };
    let r = post("©".repeat(70), "Ada Lovelace").await.unwrap();
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("<h1>Conflicts</h1>"),
        "the form page again: {body}"
    );
    assert!(body.contains("id=\"refused\""), "{body}");
    assert!(
        body.contains("copyright_notice is too long for PhotoShelter: 140 bytes where PhotoShelter keeps at most 128"),
        "{body}"
    );
    // What the person gave is kept in the form they see again.
    assert!(body.contains("value=\"Ada Lovelace\""), "{body}");
    let open = app.store().review_items(true).unwrap();
    assert!(open.iter().any(|i| i.id == copyright), "still open");
    assert!(
        app.store().resolutions().unwrap().is_empty(),
        "nothing queued"
    );

    let r = post("© 1975 Port Authority".into(), "Ada Lovelace")
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let item = app
        .store()
        .review_items(false)
        .unwrap()
        .into_iter()
        .find(|i| i.id == copyright)
        .unwrap();
    assert_eq!(item.decided_by.as_deref(), Some("Ada Lovelace"));
    assert_eq!(item.decision_note.as_deref(), Some("from the deed of gift"));
    let (_, after) = app.text(&format!("/conflicts?resolved={copyright}")).await;
    assert!(after.contains("Ada Lovelace"), "{after}");
    let (_, asset) = app.text(&format!("/assets/{}", app.fx.ships)).await;
    assert!(
        asset.contains("Ada Lovelace") && asset.contains("from the deed of gift"),
        "{asset}"
    );
    // The JSON API carries the same decision, with who made it and why.
    let (status, api) = app.json(&format!("/api/assets/{}", app.fx.ships)).await;
    assert_eq!(status, 200, "{api}");
    let decided = api["decided"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == copyright)
        .unwrap_or_else(|| panic!("decision {copyright} in {api}"));
    assert_eq!(decided["decided_by"], "Ada Lovelace");
    assert_eq!(decided["decision_note"], "from the deed of gift");
    assert_eq!(decided["resolution_value"], "© 1975 Port Authority");

    // A side taken without a name says so rather than inventing one.
    let usage = app.fx.conflicts[0];
    let r = app
        .http
        .post(app.url(&format!("/conflicts/{usage}")))
        .header("Origin", app.base.clone())
        .form(&[("take", "preservica"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let item = app
        .store()
        .review_items(false)
        .unwrap()
        .into_iter()
        .find(|i| i.id == usage)
        .unwrap();
    assert_eq!(item.decided_by.as_deref(), Some("web app (no name given)"));
    assert_eq!(item.decision_note, None);
}
