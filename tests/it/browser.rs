//! The web app in a real browser: Debian's Chromium, headless, driven from its command line
//! (`--dump-dom` prints the DOM after the page loaded, `--screenshot` saves what it drew), and
//! for the one click, over DevTools on a pipe; no driver crate. Screenshots go to
//! `target/screenshots/`.
//!
//! Without `/usr/bin/chromium` the tests are skipped with a message, unless `CI` is set: in CI
//! a missing browser is a failure (`.ci/run` installs it).
//!
//! The click on "Take Preservica's" is a real click: the test drives Chromium over the
//! DevTools protocol on a pipe (`--remote-debugging-pipe`), so the browser itself sends the
//! form, with its token and the page's origin, and follows the redirect.

use crate::server::{App, HOSTILE_CAPTION, start};
use std::path::{Path, PathBuf};
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Chromium headless, quiet and reproducible: no sandbox (CI runs as root), no GPU, no
/// background traffic, a fixed window.
const HEADLESS: [&str; 11] = [
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
    "--window-size=1280,900",
];

/// The browser, or `None` (after saying why) when the tests are to be skipped.
pub(crate) fn chromium() -> Option<&'static Path> {
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
    cmd.args(HEADLESS)
        .arg("--hide-scrollbars")
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

    // The first conflict's "Take Preservica's" button, clicked in Chromium: the browser
    // sends the form (its token, this page's origin) and follows the redirect.
    let id = app.fx.conflicts[0];
    let page_url = conflicts.clone();
    let (next, html) = tokio::task::spawn_blocking(move || {
        let mut chrome = Devtools::launch(browser);
        let page = chrome.open(&page_url);
        let clicked = chrome.eval(
            &page,
            &format!(
                "(() => {{ const b = document.querySelector('form[action=\"/conflicts/{id}\"] \
                 button[value=\"preservica\"]'); if (!b) return false; b.click(); return true; }})()"
            ),
        );
        assert_eq!(clicked, serde_json::Value::Bool(true), "the button is on the page");
        chrome.wait_for(&page, "Page.loadEventFired");
        let href = chrome.eval(&page, "location.href");
        let html = chrome.eval(&page, "document.documentElement.outerHTML");
        (
            href.as_str().unwrap_or_default().to_string(),
            html.as_str().unwrap_or_default().to_string(),
        )
    })
    .await
    .unwrap();
    assert!(next.starts_with(&app.base), "{next}");
    assert!(
        html.contains(&format!("Conflict #{id} (usage_terms) decided")),
        "{html}"
    );
    let next = next[app.base.len()..].to_string();

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifiers_show_shortened_and_keep_their_whole_value() {
    let Some(browser) = chromium() else {
        return;
    };
    let app: App = start().await;
    let long = "0b1c2d3e-0000-4000-8000-000000000001";
    let report = ferry::report::RunReport {
        run_id: app.fx.run,
        fields: vec![ferry::report::FieldRow {
            asset_id: app.fx.harbour,
            preservica_ref: Some(long.into()),
            label: "Harbour".into(),
            field: "caption".into(),
            outcome: "push_to_preservica".parse().unwrap(),
            ..Default::default()
        }],
        ..Default::default()
    };
    ferry::report::render::write_all(&report, &app.fx.reports_dir).unwrap();
    let url = app.url(&format!("/runs/{}", app.fx.run));
    let shown = tokio::task::spawn_blocking(move || {
        let mut chrome = Devtools::launch(browser);
        let page = chrome.open(&url);
        chrome.eval(
            &page,
            &format!(
                "(() => {{ const c = document.querySelector('code.id[title=\"{long}\"]'); \
                 if (!c) return null; return [c.textContent, getComputedStyle(c).textOverflow, \
                 c.scrollWidth, c.clientWidth]; }})()"
            ),
        )
    })
    .await
    .unwrap();
    let shown = shown.as_array().expect("the id is on the page");
    assert_eq!(
        shown[0], long,
        "the whole id is the text (copying takes all of it)"
    );
    assert_eq!(shown[1], "ellipsis");
    let (whole, visible) = (shown[2].as_f64().unwrap(), shown[3].as_f64().unwrap());
    assert!(
        visible > 0.0 && visible * 3.0 < whole,
        "shown shortened: {visible} of {whole}"
    );
}

/// A Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: commands
/// on the browser's fd 3, answers and events on its fd 4, each a JSON message ended by NUL),
/// so the test clicks like a person, with no driver crate and no port.
pub(crate) struct Devtools {
    child: std::process::Child,
    commands: std::io::PipeWriter,
    answers: std::io::BufReader<std::io::PipeReader>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Devtools {
    pub(crate) fn launch(browser: &Path) -> Devtools {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let profile = tempfile::tempdir().unwrap();
        let (cmd_r, cmd_w) = std::io::pipe().unwrap();
        let (ans_r, ans_w) = std::io::pipe().unwrap();
        let (cr, aw) = (cmd_r.as_raw_fd(), ans_w.as_raw_fd());
        let mut cmd = std::process::Command::new(browser);
        cmd.args(HEADLESS)
            .arg("--remote-debugging-pipe")
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        // SAFETY: between fork and exec only async-signal-safe calls (dup2, fcntl) are made,
        // on descriptors this process owns.
        unsafe {
            cmd.pre_exec(move || {
                for (from, to) in [(cr, 3), (aw, 4)] {
                    if from == to {
                        let flags = libc::fcntl(to, libc::F_GETFD);
                        libc::fcntl(to, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
                    } else if libc::dup2(from, to) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("chromium starts");
        drop((cmd_r, ans_w));
        Devtools {
            child,
            commands: cmd_w,
            answers: std::io::BufReader::new(ans_r),
            next_id: 0,
            _profile: profile,
        }
    }

    fn read_message(&mut self) -> serde_json::Value {
        use std::io::BufRead;
        let mut buf = Vec::new();
        let n = self
            .answers
            .read_until(0, &mut buf)
            .expect("chromium answers");
        assert!(n > 0, "chromium closed its DevTools pipe");
        buf.pop();
        serde_json::from_slice(&buf).expect("a DevTools message is JSON")
    }

    /// Sends a command (to a page session, or the browser) and returns its result; events
    /// that arrive meanwhile are dropped.
    pub(crate) fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: serde_json::Value,
    ) -> serde_json::Value {
        use std::io::Write;
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = serde_json::json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = s.into();
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.commands.write_all(&bytes).unwrap();
        loop {
            let m = self.read_message();
            if m["id"].as_u64() == Some(id) {
                assert!(m.get("error").is_none(), "{method} failed: {m}");
                return m["result"].clone();
            }
        }
    }

    /// Waits (at most a minute) for an event of a session.
    fn wait_for(&mut self, session: &str, event: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "no {event} within a minute"
            );
            let m = self.read_message();
            if m["method"] == event && m["sessionId"] == session {
                return;
            }
        }
    }

    /// Opens a page; returns its session.
    pub(crate) fn open(&mut self, url: &str) -> String {
        let target = self.call(
            None,
            "Target.createTarget",
            serde_json::json!({"url": "about:blank"}),
        )["targetId"]
            .as_str()
            .unwrap()
            .to_string();
        let session = self.call(
            None,
            "Target.attachToTarget",
            serde_json::json!({"targetId": target, "flatten": true}),
        )["sessionId"]
            .as_str()
            .unwrap()
            .to_string();
        self.call(Some(&session), "Page.enable", serde_json::json!({}));
        self.call(
            Some(&session),
            "Page.navigate",
            serde_json::json!({"url": url}),
        );
        self.wait_for(&session, "Page.loadEventFired");
        session
    }

    /// Evaluates `expression` in the page; returns its value.
    fn eval(&mut self, session: &str, expression: &str) -> serde_json::Value {
        self.call(
            Some(session),
            "Runtime.evaluate",
            serde_json::json!({"expression": expression, "returnByValue": true}),
        )["result"]["value"]
            .clone()
    }
}

impl Drop for Devtools {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The rights page's charts in Chromium: every bar is drawn (`rect.bar`), and clicking the
/// "expired" bar, as a person would, opens the search listing exactly that many assets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_bars_render_and_a_click_runs_their_search() {
    let Some(browser) = chromium() else {
        return;
    };
    let (app, _) = crate::charts::start_grown().await;
    let rights = app.url("/rights");
    let dom = dump_dom(browser, &rights).await;
    let drawn = crate::charts::bars(&dom);
    assert_eq!(drawn.len(), 5 + 24, "every bar is in the rendered DOM");
    let runs = dump_dom(browser, &app.url("/runs")).await;
    assert_eq!(crate::charts::bars(&runs).len(), 8);
    let shot = screenshot(browser, &rights, "rights").await;
    eprintln!("screenshot: {}", shot.display());

    let page_url = rights.clone();
    let (counted, href, count_text) = tokio::task::spawn_blocking(move || {
        let mut chrome = Devtools::launch(browser);
        let page = chrome.open(&page_url);
        let counted = chrome.eval(&page, "document.querySelectorAll('svg rect.bar').length");
        let bar = "document.querySelector('svg a[href=\"/?q=rights%3Aexpired\"] rect.bar')";
        let at = chrome.eval(
            &page,
            &format!(
                "(() => {{ const r = {bar}.getBoundingClientRect(); \
                 return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
            ),
        );
        let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
        for kind in ["mousePressed", "mouseReleased"] {
            chrome.call(
                Some(&page),
                "Input.dispatchMouseEvent",
                serde_json::json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
        chrome.wait_for(&page, "Page.loadEventFired");
        let href = chrome.eval(&page, "location.href");
        let count = chrome.eval(&page, "document.getElementById('count').textContent");
        (counted, href, count)
    })
    .await
    .unwrap();
    assert_eq!(counted, serde_json::json!(29), "rect.bar elements drawn");
    let href = href.as_str().unwrap().to_string();
    assert!(href.ends_with("/?q=rights%3Aexpired"), "{href}");
    let expired = drawn
        .iter()
        .find(|(link, _)| link.as_deref() == Some("/?q=rights%3Aexpired"))
        .unwrap()
        .1;
    let count_text = count_text.as_str().unwrap().to_string();
    assert!(
        count_text.starts_with(&format!("{expired} asset")),
        "the search lists the bar's {expired}: {count_text}"
    );
    let listed = dump_dom(browser, &href).await;
    assert!(
        listed.contains("Studio portrait"),
        "the expired asset is listed"
    );
}
