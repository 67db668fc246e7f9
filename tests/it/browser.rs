//! The web app in a real browser: Debian's Chromium, headless, driven from its command line
//! (`--dump-dom` prints the DOM after the page loaded, `--screenshot` saves what it drew), so
//! no driver crate or DevTools connection is needed. Screenshots go to `target/screenshots/`.
//!
//! Without `/usr/bin/chromium` the tests are skipped with a message, unless `CI` is set: in CI
//! a missing browser is a failure (`.ci/run` installs it).
//!
//! The one thing not done by the browser itself is the click on "Take Preservica's": the test
//! reads the form (action and form token) from the DOM Chromium rendered and sends exactly
//! what the browser would send for it (the form fields, with the page's `Origin`) with
//! reqwest, then has Chromium render the page the redirect leads to.

use crate::server::{App, HOSTILE_CAPTION, attr_after, start};
use std::path::{Path, PathBuf};
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";

/// The browser, or `None` (after saying why) when the tests are to be skipped.
fn chromium() -> Option<&'static Path> {
    let path = Path::new(CHROMIUM);
    if path.exists() {
        return Some(path);
    }
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!(
            "CI is set but {CHROMIUM} is missing: .ci/run must install Debian's chromium package"
        );
    }
    eprintln!(
        "SKIPPED browser test: {CHROMIUM} is not installed (apt-get install chromium); \
         CI installs it and runs these"
    );
    None
}

/// Runs Chromium headless on `url` with `extra` arguments; returns its standard output.
async fn chromium_run(browser: &Path, url: &str, extra: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--no-first-run",
        "--no-default-browser-check",
        "--hide-scrollbars",
        "--window-size=1280,900",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(url)
    .stdin(std::process::Stdio::null())
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("chromium finishes within two minutes")
        .expect("chromium starts");
    assert!(
        out.status.success(),
        "chromium failed ({}) on {url}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The DOM of `url` after Chromium loaded it.
async fn dump_dom(browser: &Path, url: &str) -> String {
    chromium_run(browser, url, &["--dump-dom".to_string()]).await
}

/// A screenshot of `url`, saved as `target/screenshots/<name>.png`.
async fn screenshot(browser: &Path, url: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&file);
    chromium_run(browser, url, &[format!("--screenshot={}", file.display())]).await;
    let bytes = std::fs::read(&file).expect("chromium wrote the screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is a PNG",
        file.display()
    );
    assert!(bytes.len() > 10_000, "{} is not blank", file.display());
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_and_asset_pages_render_in_chromium() {
    let Some(browser) = chromium() else {
        return;
    };
    let app: App = start().await;

    let all = app.url("/?q=");
    let dom = dump_dom(browser, &all).await;
    for title in [
        "Harbour regatta 1962",
        "Tall ships leaving port",
        "Dockyard workers",
        "Studio portrait",
    ] {
        assert!(
            dom.contains(title),
            "{title} not in the rendered search page"
        );
    }
    assert!(dom.contains("data-facet=\"creator\""), "facets rendered");
    // The facet link is a plain link carrying the query: Chromium follows it as a user would.
    let link = crate::server::href_before(&dom, "data-term=\"creator:&quot;Mary Ellis&quot;\"")
        .expect("a Mary Ellis facet link")
        .replace("&amp;", "&");
    let refined = dump_dom(browser, &app.url(&link)).await;
    assert!(refined.contains("Dockyard workers") && !refined.contains("Tall ships"));
    let shot = screenshot(browser, &all, "search").await;
    eprintln!("screenshot: {}", shot.display());

    let asset = app.url(&format!("/assets/{}", app.fx.harbour));
    let dom = dump_dom(browser, &asset).await;
    assert!(dom.contains("Harbour regatta 1962") && dom.contains("Harbour Regatta (1962)"));
    assert!(dom.contains("only PhotoShelter changed since they last agreed"));
    assert!(dom.contains("Boats in harbor"), "field history");
    // The hostile caption is text in the DOM, never an element: the browser parsed no script
    // or image from it (the pages carry no script of their own).
    assert!(HOSTILE_CAPTION.contains("<script>"));
    assert!(
        dom.contains("&lt;script&gt;alert(\"owned\")&lt;/script&gt;"),
        "{dom}"
    );
    assert!(!dom.contains("<script"), "a script element in the DOM");
    assert!(!dom.contains("<img"), "an img element in the DOM");
    let shot = screenshot(browser, &asset, "asset").await;
    eprintln!("screenshot: {}", shot.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_is_resolved_from_the_page_chromium_renders() {
    let Some(browser) = chromium() else {
        return;
    };
    let app: App = start().await;
    let conflicts = app.url("/conflicts");
    let dom = dump_dom(browser, &conflicts).await;
    assert!(dom.contains("2 conflicts wait for a person"), "{dom}");
    let shot = screenshot(browser, &conflicts, "conflicts").await;
    eprintln!("screenshot: {}", shot.display());

    // The first conflict's "take a side" form, as Chromium rendered it.
    let id = app.fx.conflicts[0];
    let form_marker = format!("action=\"/conflicts/{id}\" class=\"take\"");
    let at = dom.find(&form_marker).expect("the conflict's form");
    let form = &dom[at..];
    let csrf = attr_after(form, "name=\"csrf\"", "value").expect("the form token");
    assert!(form.contains("value=\"preservica\""));

    // What Chromium sends when "Take Preservica's" is clicked: the form's fields as
    // application/x-www-form-urlencoded, with the page's origin.
    let resp = app
        .http
        .post(app.url(&format!("/conflicts/{id}")))
        .header("Origin", &app.base)
        .header("Referer", &conflicts)
        .form(&[("csrf", csrf.as_str()), ("take", "preservica")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let next = resp.headers()["location"].to_str().unwrap().to_string();

    let after = app.url(&next);
    let dom = dump_dom(browser, &after).await;
    assert!(
        dom.contains(&format!("Conflict #{id} (usage_terms) decided")),
        "{dom}"
    );
    assert!(dom.contains("1 conflict waits for a person"));
    assert!(dom.contains("waiting for the next sync"));
    let shot = screenshot(browser, &after, "conflict-resolved").await;
    eprintln!("screenshot: {}", shot.display());

    let item = app
        .store()
        .review_items(false)
        .unwrap()
        .into_iter()
        .find(|i| i.id == id)
        .unwrap();
    assert_eq!(item.resolution.as_deref(), Some("preservica"));
}
