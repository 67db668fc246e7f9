//! `ferry serve` and the command line side by side, over the real binary (issue 16): a CLI
//! sync's changes reach the running web app's search, `ferry index rebuild` works while serve
//! runs, an update waits for a busy index writer, a conflict decision is refused while a run
//! holds the lock, and `ferry report` from another directory prints paths that exist.

use crate::cli::emulator_config;
use crate::helpers::ferry;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed (and reaped) when dropped, so a failing test leaves none behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Both emulators on loopback with a small library, a ferry.toml for them in `dir`, and the
/// environment with their secrets. The runtime must outlive every use of the emulators.
struct World {
    rt: tokio::runtime::Runtime,
    ps: ferry::photoshelter::emulator::PhotoShelterEmulator,
    pv: ferry::preservica::emulator::PreservicaEmulator,
    env: Vec<(String, String)>,
}

impl World {
    fn start(dir: &Path) -> World {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (ps, pv) = crate::helpers::emulators(&rt, 12, 4);
        std::fs::create_dir_all(dir).unwrap();
        let env = emulator_config(dir, &ps, &pv, false);
        // The web app on a free loopback port (serve prints the URL it got).
        let config = dir.join("ferry.toml");
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str("\n[server]\nlisten = \"127.0.0.1:0\"\n");
        std::fs::write(&config, text).unwrap();
        World { rt, ps, pv, env }
    }

    fn env(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    fn stop(self) {
        self.rt.block_on(self.ps.stop());
        self.rt.block_on(self.pv.stop());
    }
}

/// Starts `ferry serve --no-schedule` in `dir` and waits (at most 30 s) for the URL it prints.
fn serve(dir: &Path, env: &[(&str, &str)]) -> (KillOnDrop, String) {
    let (child, url, _) = serve_with(dir, env, &["serve", "--no-schedule"]);
    (child, url)
}

/// Starts `ferry ARGS` (a serve) in `dir`; waits (at most 30 s) for the URL it prints. Its log
/// (stderr) collects in the returned buffer.
fn serve_with(
    dir: &Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> (KillOnDrop, String, std::sync::Arc<std::sync::Mutex<String>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferry serve starts");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let child = KillOnDrop(child);
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
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
    (child, url, log)
}

/// Waits until `log` holds `text`, for at most `within`.
fn logged_within(log: &std::sync::Mutex<String>, text: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if log.lock().unwrap().contains(text) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// `/api/search?q=` on the running web app: the total.
fn api_total(url: &str, query: &str) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let v: serde_json::Value = reqwest::Client::new()
            .get(format!("{url}/api/search"))
            .query(&[("q", query)])
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        v["total"].as_u64().unwrap()
    })
}

/// Asks until the web app finds `query` `want` times, for at most `within`.
fn found_within(url: &str, query: &str, want: u64, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if api_total(url, query) == want {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_cli_sync_reaches_the_running_web_app_and_rebuild_works_beside_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let world = World::start(dir);
    let env = world.env();
    let first = ferry(dir, &["sync"], &env);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);

    let (_serve, url) = serve(dir, &env);
    const WORD: &str = "zeppelinfjord";
    // The web app has loaded its index (and its reader) before the CLI changes anything.
    assert_eq!(api_total(&url, WORD), 0);
    let all = api_total(&url, "");
    assert!(all > 0, "the first sync indexed the library");

    let media = world.ps.media_ids()[3].clone();
    assert!(
        world
            .ps
            .set_iptc(&media, "caption", Some("A zeppelinfjord over the harbour"))
    );
    let sync = ferry(dir, &["sync"], &env);
    assert_eq!(sync.code, 0, "{}\n{}", sync.stdout, sync.stderr);
    assert!(
        !sync.stderr.contains("not updated"),
        "with serve running the sync updates the index:\n{}",
        sync.stderr
    );
    assert!(
        found_within(&url, WORD, 1, Duration::from_secs(5)),
        "the web app finds the CLI sync's change within seconds"
    );

    // A rebuild while serve runs succeeds, and the web app searches the rebuilt index.
    let rebuild = ferry(dir, &["index", "rebuild"], &env);
    assert_eq!(rebuild.code, 0, "{}\n{}", rebuild.stdout, rebuild.stderr);
    assert!(rebuild.stdout.contains(&format!("indexed {all} assets")));
    assert!(found_within(&url, WORD, 1, Duration::from_secs(5)));
    assert!(found_within(&url, "", all, Duration::from_secs(5)));
    drop(_serve);
    world.stop();
}

#[test]
fn an_index_update_waits_for_another_writer_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let world = World::start(dir);
    let env = world.env();
    let first = ferry(dir, &["sync"], &env);
    assert_eq!(first.code, 0, "{}", first.stderr);
    // Another process's writer, as a long update would hold it: released after 1.5 s.
    let raw = tantivy::Index::open_in_dir(dir.join("index")).unwrap();
    let writer: tantivy::IndexWriter = raw.writer(15_000_000).unwrap();
    let holder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        drop(writer);
    });
    let started = Instant::now();
    let rebuild = ferry(dir, &["index", "rebuild"], &env);
    holder.join().unwrap();
    assert_eq!(rebuild.code, 0, "{}\n{}", rebuild.stdout, rebuild.stderr);
    assert!(started.elapsed() >= Duration::from_millis(1400));
    assert!(
        rebuild
            .stderr
            .contains("another ferry process is updating the search index; waiting for it"),
        "{}",
        rebuild.stderr
    );
    world.stop();
}

/// A live process of this host holding the run lock, as a running `ferry sync` would.
fn hold_run_lock(store_path: &Path) -> (KillOnDrop, i64) {
    let child = Command::new("sleep").arg("120").spawn().unwrap();
    let pid = i64::from(child.id());
    let mut store = ferry::store::Store::open(store_path).unwrap();
    store
        .acquire_lock(
            pid,
            &ferry::sync::lock::this_host(),
            chrono::Utc::now(),
            chrono::Duration::hours(6),
        )
        .unwrap()
        .expect("the lock is free");
    (KillOnDrop(child), pid)
}

#[test]
fn a_conflict_decision_is_refused_while_a_run_holds_the_lock() {
    let fx = crate::server::fixture();
    let dir = fx.dir.path();
    std::fs::write(
        dir.join("ferry.toml"),
        "[photoshelter]\nbase_url = \"http://127.0.0.1:9\"\nemail = \"a@example.org\"\n\n\
         [preservica]\nserver = \"127.0.0.1:9\"\nprotocol = \"http\"\nusername = \"a@example.org\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("mapping.toml"),
        ferry::mapping::Mapping::default_text(),
    )
    .unwrap();
    let id = fx.conflicts[0].to_string();
    let resolve = || {
        ferry(
            dir,
            &["conflicts", "resolve", &id, "--take", "photoshelter"],
            &[],
        )
    };
    let still_open = || {
        ferry::store::Store::open(&fx.store_path)
            .unwrap()
            .review_items(true)
            .unwrap()
            .iter()
            .any(|i| i.id == fx.conflicts[0])
    };

    let (running, pid) = hold_run_lock(&fx.store_path);
    let out = resolve();
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains(&format!("a ferry run is in progress (pid {pid} on "))
            && out.stderr.contains("nothing was recorded")
            && out.stderr.contains("decide again when it has finished"),
        "{}",
        out.stderr
    );
    assert!(still_open(), "nothing recorded behind the run's back");

    // The run ends (releases its lock): the same decision is recorded, and leaves no lock.
    ferry::store::Store::open(&fx.store_path)
        .unwrap()
        .release_lock(pid)
        .unwrap();
    drop(running);
    let out = resolve();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("resolved: take photoshelter"));
    assert!(!still_open());
    let (_again, _) = hold_run_lock(&fx.store_path);
}

/// The report path a `ferry report` prints.
fn printed_report(stdout: &str) -> PathBuf {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("report: "))
        .unwrap_or_else(|| panic!("no report line in:\n{stdout}"));
    PathBuf::from(line.trim())
}

#[test]
fn report_paths_exist_from_any_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let world = World::start(&tmp.path().join("site"));
    let env = world.env();
    // A sync run with a relative config path, from the config's parent directory.
    let sync = ferry(tmp.path(), &["--config", "site/ferry.toml", "sync"], &env);
    assert_eq!(sync.code, 0, "{}\n{}", sync.stdout, sync.stderr);
    let elsewhere = tempfile::tempdir().unwrap();
    let config = tmp.path().join("site/ferry.toml");
    let out = ferry(
        elsewhere.path(),
        &["--config", config.to_str().unwrap(), "report"],
        &env,
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let html = printed_report(&out.stdout);
    assert!(html.is_absolute(), "{}", html.display());
    assert!(html.is_file(), "{} exists", html.display());
    assert!(html.with_extension("json").is_file());
    assert!(html.with_extension("csv").is_file());
    assert!(
        out.stdout
            .contains(&html.with_extension("json").display().to_string())
    );
    // A run recorded with a relative path by an older ferry is found in paths.reports.
    let store = ferry::store::Store::open(&tmp.path().join("site/ferry.db")).unwrap();
    let runs = store.runs(1).unwrap();
    let relative = format!("reports/run-{}.html", runs[0].id);
    drop(store);
    let db = rusqlite::Connection::open(tmp.path().join("site/ferry.db")).unwrap();
    db.execute(
        "UPDATE runs SET report_path = ?1 WHERE id = ?2",
        rusqlite::params![relative, runs[0].id],
    )
    .unwrap();
    drop(db);
    let out = ferry(
        elsewhere.path(),
        &["--config", config.to_str().unwrap(), "report"],
        &env,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(printed_report(&out.stdout).is_file(), "{}", out.stdout);
    world.stop();
}

/// serve's scheduled run meets a manual run's lock at its minute: it waits, says whose lock,
/// and runs within one retry (30 s) of the lock freeing, naming the lock as it was then.
#[test]
fn a_scheduled_run_held_up_by_a_manual_run_runs_when_the_lock_frees() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let world = World::start(dir);
    let env = world.env();
    let config = dir.join("ferry.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[schedule]\nnightly = \"* * * * *\"\n");
    std::fs::write(&config, text).unwrap();
    let first = ferry(dir, &["sync"], &env);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let (manual, pid) = hold_run_lock(&dir.join("ferry.db"));
    let (_serve, _url, log) = serve_with(dir, &env, &["serve"]);
    let holder = format!("another ferry run holds the lock (pid {pid} on ");
    // The scheduled minute comes within 60 s; the run finds the lock and waits.
    assert!(
        logged_within(
            &log,
            "the scheduled sync waits for another run's lock",
            Duration::from_secs(75)
        ),
        "{}",
        log.lock().unwrap()
    );
    assert!(
        log.lock().unwrap().contains(&holder),
        "{}",
        log.lock().unwrap()
    );
    let runs_before = ferry::store::Store::open(&dir.join("ferry.db"))
        .unwrap()
        .runs(100)
        .unwrap()
        .len();
    // The manual run ends.
    ferry::store::Store::open(&dir.join("ferry.db"))
        .unwrap()
        .release_lock(pid)
        .unwrap();
    drop(manual);
    assert!(
        logged_within(&log, "scheduled sync finished", Duration::from_secs(45)),
        "{}",
        log.lock().unwrap()
    );
    let log = log.lock().unwrap().clone();
    let ran = log
        .lines()
        .find(|l| l.contains("min late): at its time"))
        .unwrap_or_else(|| panic!("no line for the late run:\n{log}"));
    assert!(ran.contains(&holder), "{ran}");
    let runs = ferry::store::Store::open(&dir.join("ferry.db"))
        .unwrap()
        .runs(100)
        .unwrap();
    assert_eq!(runs.len(), runs_before + 1, "the held-up run ran once");
    assert!(!log.contains("skipped"), "{log}");
    world.stop();
}

/// The web app's conflict form is refused the same way while a run holds the lock.
#[tokio::test]
async fn the_web_conflict_form_is_refused_while_a_run_holds_the_lock() {
    let app = crate::server::start().await;
    let (_, page) = app.text("/conflicts").await;
    let csrf = crate::server::csrf_of(&page);
    let id = app.fx.conflicts[0];
    let (running, pid) = hold_run_lock(&app.fx.store_path);
    let post = || {
        app.http
            .post(app.url(&format!("/conflicts/{id}")))
            .header("Origin", app.base.clone())
            .form(&[("take", "preservica"), ("csrf", csrf.as_str())])
            .send()
    };
    let r = post().await.unwrap();
    assert_eq!(r.status(), 409);
    let body = r.text().await.unwrap();
    assert!(
        body.contains(&format!("a ferry run is in progress (pid {pid} on ")),
        "{body}"
    );
    assert_eq!(app.store().review_items(true).unwrap().len(), 2);
    app.store().release_lock(pid).unwrap();
    drop(running);
    let r = post().await.unwrap();
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "{}",
        r.status()
    );
    assert_eq!(app.store().review_items(true).unwrap().len(), 1);
}
