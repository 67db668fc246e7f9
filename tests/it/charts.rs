//! The charts over HTTP: the runs page, the rights page and the search page's decade and year
//! histograms, on the web app's fixture (`server.rs`) grown by what the charts are about: two
//! more runs (one dry), a licence that expires in two months, and an asset with no title.
//! `browser.rs` has the Chromium test that follows a bar's link.

use crate::server::{App, fixture, start_with};
use chrono::{Datelike, Duration as Days, Months, NaiveDate, Utc};
use ferry::index::SearchIndex;
use ferry::model::System;
use ferry::report::Summary;
use ferry::store::{RunEnding, RunKind, RunStatus, Snapshot, Store};
use std::collections::BTreeMap;

/// The file name of the asset with no title.
pub const UNTITLED_FILE: &str = "IMG_0042.jpg";

/// Days from today to the grown fixture's future licence expiry.
const EXPIRES_IN_DAYS: i64 = 60;

fn snapshot(fields: &[(&str, &str)], file: &str) -> Snapshot {
    Snapshot {
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        modified_at: Some(Utc::now() - Days::days(1)),
        file_name: Some(file.into()),
        file_size: Some(99),
        checksum: None,
    }
}

fn finish(store: &mut Store, dry: bool, drifted: u64, pushed: u64) -> i64 {
    let now = Utc::now();
    let run = store.begin_run(RunKind::Sync, dry, now).unwrap();
    let summary = Summary {
        drifted,
        pushed_to_photoshelter: pushed,
        conflicts_queued: 1,
        ..Summary::default()
    };
    store
        .finish_run(
            run,
            RunStatus::Done,
            RunEnding {
                exit_code: 0,
                summary_json: Some(&serde_json::to_string(&summary).unwrap()),
                report_path: None,
                error: None,
            },
            now,
        )
        .unwrap();
    run
}

/// The server fixture, plus: a dry run and a real run after the fixture's one; the Preservica-
/// only asset's licence expiring in [`EXPIRES_IN_DAYS`]; a PhotoShelter-only asset with no
/// title, a file name and a model release of MR-NAP. Returns the app and the new real run.
pub async fn start_grown() -> (App, i64) {
    let fx = fixture();
    let mut store = Store::open(&fx.store_path).unwrap();
    let now = Utc::now();
    finish(&mut store, true, 50, 0);
    let real = finish(&mut store, false, 7, 4);
    let expiry = (now + Days::days(EXPIRES_IN_DAYS)).date_naive().to_string();
    let dockyard = snapshot(
        &[
            ("title", "Dockyard workers"),
            ("creator", "Mary Ellis"),
            ("date_created", "1958-03-03"),
            ("license_expiry", &expiry),
        ],
        "dockyard.tif",
    );
    store
        .put_snapshots(fx.run, System::Preservica, &[(fx.dockyard, dockyard)], now)
        .unwrap();
    let ids = store
        .ensure_assets(System::PhotoShelter, &["I0005".to_string()], now)
        .unwrap();
    let untitled = snapshot(
        &[
            ("caption", "A crane over the quay"),
            ("date_created", "1991-06-01"),
            ("model_release", "MR-NAP"),
        ],
        UNTITLED_FILE,
    );
    store
        .put_snapshots(
            fx.run,
            System::PhotoShelter,
            &[(ids["I0005"], untitled)],
            now,
        )
        .unwrap();
    SearchIndex::update_dir(&fx.index_dir, &fx.mapping, &store, None, now.date_naive()).unwrap();
    drop(store);
    (start_with(fx, "127.0.0.1:0", None).await, real)
}

/// The `<section>` of `class` in `html`.
fn section<'h>(html: &'h str, class: &str) -> &'h str {
    let start = html
        .find(&format!("<section class=\"charts {class}\""))
        .unwrap_or_else(|| panic!("no {class} section in {html}"));
    let end = start + html[start..].find("</section>").unwrap();
    &html[start..end]
}

/// Each bar of `svg`: (its link, its value), in order.
pub fn bars(html: &str) -> Vec<(Option<String>, u64)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<rect class=\"bar\"") {
        let before = &rest[..i];
        let link = before
            .rfind("<a href=\"")
            .filter(|a| !before[*a..].contains("</a>"))
            .map(|a| {
                let s = &before[a + 9..];
                s[..s.find('"').unwrap()].replace("&amp;", "&")
            });
        let tag = &rest[i..i + rest[i..].find('>').unwrap()];
        let v = &tag[tag.find("data-value=\"").unwrap() + 12..];
        out.push((link, v[..v.find('"').unwrap()].parse().unwrap()));
        rest = &rest[i + 1..];
    }
    out
}

async fn total(app: &App, query: &str) -> u64 {
    let url = format!("/api/search?q={}", urlencode(query));
    let (status, json) = app.json(&url).await;
    assert!(status.is_success(), "{url}: {json}");
    json["total"].as_u64().unwrap()
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The query of a search-page link (`/?q=...`).
fn query_of(href: &str) -> String {
    let q = href.strip_prefix("/?q=").expect("a search link");
    url::form_urlencoded::parse(format!("q={q}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runs_page_draws_real_runs_only_four_charts_of_two_bars() {
    let (app, real) = start_grown().await;
    let (status, html) = app.text("/runs").await;
    assert!(status.is_success());
    let charts = section(&html, "runs-charts");
    assert_eq!(
        charts.matches("<svg ").count(),
        4,
        "drift, pushed, conflicts, failures"
    );
    let all = bars(charts);
    assert_eq!(
        all.len(),
        8,
        "two real sync runs (the dry run is left out), four charts"
    );
    let first = format!("/runs/{}", app.fx.run);
    let second = format!("/runs/{real}");
    // Drift found: the fixture's run (3), then the new one (7); each bar opens its run.
    assert_eq!(all[0], (Some(first.clone()), 3));
    assert_eq!(all[1], (Some(second.clone()), 7));
    // Corrections pushed: both systems summed (fixture: 1 to Preservica; new: 4).
    assert_eq!(all[2], (Some(first), 1));
    assert_eq!(all[3], (Some(second), 4));
    // Failures: the fixture's run had one.
    assert_eq!(all[6].1, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rights_page_counts_statuses_and_months_and_bars_link_to_their_search() {
    let (app, _) = start_grown().await;
    let (status, html) = app.text("/rights").await;
    assert!(status.is_success(), "{html}");
    assert!(html.contains("<a href=\"/rights\" class=\"active\">Rights</a>"));
    let charts = section(&html, "rights-charts");
    let all = bars(charts);
    assert_eq!(all.len(), 5 + 24, "five statuses, 24 months");
    let (statuses, months) = all.split_at(5);
    assert_eq!(
        statuses.iter().map(|(_, n)| n).sum::<u64>(),
        5,
        "every asset once"
    );
    for (href, n) in all.iter() {
        let href = href.as_deref().expect("every bar links");
        assert_eq!(total(&app, &query_of(href)).await, *n, "{href}");
    }
    let expired = &statuses[2];
    assert_eq!(query_of(expired.0.as_deref().unwrap()), "rights:expired");
    assert_eq!(expired.1, 1, "the studio portrait's licence expired");
    // The one licence ahead expires in the month 60 days from now.
    let today = Utc::now().date_naive();
    let expiry = today + Days::days(EXPIRES_IN_DAYS);
    let this_month = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap();
    let index = (0..24)
        .position(|i| {
            let m = this_month + Months::new(i);
            (m.year(), m.month()) == (expiry.year(), expiry.month())
        })
        .unwrap();
    assert_eq!(months[index].1, 1);
    assert_eq!(months.iter().map(|(_, n)| n).sum::<u64>(), 1);
    assert!(charts.contains(&format!(">{}</text>", this_month.format("%Y-%m"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decades_are_a_timeline_with_a_histogram_and_untitled_hits_show_their_file() {
    let (app, _) = start_grown().await;
    let (_, html) = app.text("/?q=").await;
    let list = &html[html.find("<ul data-facet=\"decade\">").unwrap()..];
    let list = &list[..list.find("</ul>").unwrap()];
    let decades: Vec<&str> = list
        .split("<bdi>")
        .skip(1)
        .map(|s| &s[..s.find("</bdi>").unwrap()])
        .collect();
    assert_eq!(decades, ["1950s", "1960s", "1970s", "1980s", "1990s"]);
    let hist = &html[html
        .find("<div class=\"histogram\" data-facet=\"decade\">")
        .unwrap()..];
    let hist = &hist[..hist.find("</div>").unwrap()];
    let bars = bars(hist);
    assert_eq!(bars.len(), 5);
    assert!(bars.iter().all(|(_, n)| *n == 1));
    assert_eq!(query_of(bars[0].0.as_deref().unwrap()), "year:1950..1959");
    assert!(html.contains("<div class=\"histogram\" data-facet=\"year\">"));

    // No title: the hit is called by its file name; the release code says what it means.
    assert!(
        html.contains(&format!("<bdi>{UNTITLED_FILE}</bdi></a>")),
        "{html}"
    );
    assert!(html.contains("title=\"MR-NAP\">model release: not applicable</span>"));
    let (_, json) = app.json("/api/search?q=crane").await;
    assert_eq!(json["hits"][0]["title"], UNTITLED_FILE);
    assert_eq!(json["hits"][0]["model_release"], "MR-NAP");
    assert_eq!(
        json["hits"][0]["model_release_meaning"],
        "model release: not applicable"
    );
}
