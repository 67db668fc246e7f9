//! Asset URLs stay stable when pairing merges two asset rows (issue 16), over the real binary:
//! a Preservica-only asset that `ferry republish` pairs with its new PhotoShelter copy keeps
//! its old URL, which redirects to the pair's; an id ferry never knew stays 404.

use crate::cli::emulator_config;
use crate::helpers::ferry;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `ferry serve` killed (and reaped) when dropped, so a failing test leaves none behind.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `ferry serve --no-schedule` in `dir`; waits (at most 30 s) for the URL it prints.
fn serve(dir: &Path, env: &[(&str, &str)]) -> (Serve, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["serve", "--no-schedule"])
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ferry serve starts");
    let stdout = child.stdout.take().unwrap();
    let child = Serve(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("ferry web app: ") {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("ferry serve prints its URL within 30 s");
    (child, url)
}

/// The store's asset row for Preservica ref `reference`.
fn row_of(dir: &Path, reference: &str) -> ferry::store::AssetRow {
    let store = ferry::store::Store::open(&dir.join("ferry.db")).unwrap();
    store
        .assets()
        .unwrap()
        .into_iter()
        .find(|a| a.preservica_ref.as_deref() == Some(reference))
        .unwrap_or_else(|| panic!("the store knows {reference}"))
}

/// What a GET answered: status, `Location` (when any) and body.
struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

fn get(rt: &tokio::runtime::Runtime, url: &str, follow: bool) -> Answer {
    let policy = if follow {
        reqwest::redirect::Policy::limited(5)
    } else {
        reqwest::redirect::Policy::none()
    };
    let client = reqwest::Client::builder()
        .redirect(policy)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    rt.block_on(async {
        let response = client.get(url).send().await.unwrap();
        Answer {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_string()),
            body: response.text().await.unwrap(),
        }
    })
}

#[test]
fn a_republished_archive_asset_keeps_its_url() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ps, pv) = crate::helpers::emulators(&rt, 6, 3);
    let env = emulator_config(dir, &ps, &pv, false);
    let config = dir.join("ferry.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[server]\nlisten = \"127.0.0.1:0\"\n");
    std::fs::write(&config, text).unwrap();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let synced = ferry(dir, &["sync"], &env);
    assert_eq!(synced.code, 0, "{}\n{}", synced.stdout, synced.stderr);
    let reference = pv.asset_refs()[0].clone();
    let before = row_of(dir, &reference);
    assert_eq!(
        before.photoshelter_id, None,
        "the archive asset is Preservica-only"
    );
    let old = before.id;

    let republished = ferry(
        dir,
        // The seeded licences lie in the past; this test is about URLs, not rights.
        &[
            "republish",
            "--ref",
            &reference,
            "--to-gallery",
            "Copies",
            "--allow-expired",
        ],
        &env,
    );
    assert_eq!(
        republished.code, 0,
        "{}\n{}",
        republished.stdout, republished.stderr
    );
    let after = row_of(dir, &reference);
    assert!(after.photoshelter_id.is_some(), "republish paired it");
    let new = after.id;
    assert_ne!(new, old, "the merge keeps the PhotoShelter side's row");

    let (_serve, url) = serve(dir, &env);
    // The page: a permanent redirect to the pair's page, which shows the asset.
    let moved = get(&rt, &format!("{url}/assets/{old}"), false);
    assert_eq!(moved.status, 308, "{}", moved.body);
    assert_eq!(
        moved.location.as_deref(),
        Some(format!("/assets/{new}").as_str())
    );
    let shown = get(&rt, &format!("{url}/assets/{old}"), true);
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert!(shown.body.contains(&reference), "{}", shown.body);
    // The JSON API redirects too, and its body names the new id for clients that do not follow.
    let moved = get(&rt, &format!("{url}/api/assets/{old}"), false);
    assert_eq!(moved.status, 308, "{}", moved.body);
    assert_eq!(
        moved.location.as_deref(),
        Some(format!("/api/assets/{new}").as_str())
    );
    let body: serde_json::Value = serde_json::from_str(&moved.body).unwrap();
    assert_eq!(body["moved_to"], new);
    let shown = get(&rt, &format!("{url}/api/assets/{old}"), true);
    assert_eq!(shown.status, 200, "{}", shown.body);
    let body: serde_json::Value = serde_json::from_str(&shown.body).unwrap();
    assert_eq!(body["id"], new);
    assert_eq!(body["preservica_ref"], reference.as_str());
    // The live id answers as it always did; an id ferry never knew is still not found.
    assert_eq!(get(&rt, &format!("{url}/assets/{new}"), false).status, 200);
    for path in [
        "/assets/999999",
        "/api/assets/999999",
        "/assets/999999/preview",
    ] {
        let answer = get(&rt, &format!("{url}{path}"), false);
        assert_eq!(answer.status, 404, "{path}: {}", answer.body);
        assert_eq!(answer.location, None, "{path}");
    }
    // The index refresh after the republish replaced the old document: search finds the
    // asset once, under its new id.
    let search = get(&rt, &format!("{url}/api/search?limit=100"), false);
    assert_eq!(search.status, 200, "{}", search.body);
    let search: serde_json::Value = serde_json::from_str(&search.body).unwrap();
    let ids: Vec<i64> = search["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["asset_id"].as_i64().unwrap())
        .collect();
    assert!(ids.contains(&new), "{ids:?}");
    assert!(
        !ids.contains(&old),
        "the index still holds retired id {old}: {ids:?}"
    );

    rt.block_on(ps.stop());
    rt.block_on(pv.stop());
}
