//! Signals an operator trusts (issue 16), over the real binary: exit codes for input mistakes,
//! dry runs kept out of health and metrics, `ferry status` and the JSON forms for scripts,
//! logs without colour off a terminal or repeated start-up lines, a server that cannot be
//! reached, and an empty index.

use crate::helpers::{Output, ferry};
use ferry::store::Store;
use std::fs;
use std::path::Path;

/// The lines of stderr that report an error.
fn error_lines(out: &Output) -> Vec<&str> {
    out.stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect()
}

/// Secrets for a config whose servers are never reached.
const SECRETS: [(&str, &str); 3] = [
    ("FERRY_PHOTOSHELTER_API_KEY", "test.key_1"),
    ("FERRY_PHOTOSHELTER_PASSWORD", "test-password"),
    ("FERRY_PRESERVICA_PASSWORD", "test-password"),
];

/// A config in `dir` whose two systems are on `port` of 127.0.0.1, where nothing listens.
pub(crate) fn closed_port_config(dir: &Path, port: u16) {
    fs::write(
        dir.join("ferry.toml"),
        format!(
            "[photoshelter]\nbase_url = \"http://127.0.0.1:{port}\"\nemail = \"a@b.example\"\norg_id = \"O1\"\n\n[preservica]\nserver = \"127.0.0.1:{port}\"\nprotocol = \"http\"\ntenant = \"T\"\nusername = \"u@b.example\"\n"
        ),
    )
    .unwrap();
    fs::write(
        dir.join("mapping.toml"),
        ferry::mapping::Mapping::default_text(),
    )
    .unwrap();
}

/// A port on 127.0.0.1 where nothing listens (bound, then let go).
pub(crate) fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Runs each case in `dir` and checks its exit code and its one error message.
fn check_cases(dir: &Path, cases: &[(&[&str], i32, Option<&str>)]) {
    for (args, code, message) in cases {
        let out = ferry(dir, args, &SECRETS);
        assert_eq!(out.code, *code, "{args:?}\n{}\n{}", out.stdout, out.stderr);
        let errors = error_lines(&out);
        match message {
            Some(m) => {
                assert_eq!(errors.len(), 1, "{args:?}: one error line\n{}", out.stderr);
                assert!(errors[0].contains(m), "{args:?}: {}", out.stderr);
                // Printed once: no "X: X" where a cause repeats its wrapper.
                let last = errors[0].rsplit(": ").next().unwrap();
                assert_eq!(
                    out.stderr.matches(last).count(),
                    1,
                    "{args:?}: {}",
                    out.stderr
                );
            }
            None => assert!(errors.is_empty(), "{args:?}: {}", out.stderr),
        }
    }
}

#[test]
fn input_mistakes_exit_2_with_one_message_and_fatal_states_exit_3() {
    // A store with a run and conflicts, and an index with four assets.
    let fx = crate::server::fixture();
    let dir = fx.dir.path();
    closed_port_config(dir, closed_port());
    // (arguments, exit code, a part of the one error message; None: no error at all)
    let cases: &[(&[&str], i32, Option<&str>)] = &[
        (&["search", "year:abc"], 2, Some("'abc' is not a date")),
        (&["search", "foo:bar"], 2, Some("'foo:' is not a field")),
        (
            &["search", "keyword:\""],
            2,
            Some("'keyword:' needs a value"),
        ),
        // The query language closes an unclosed quote at the end: a search, not a mistake.
        (&["search", "\"harbour"], 0, None),
        (
            &["search", "--filter", "year:abc", "x"],
            2,
            Some("'abc' is not a date"),
        ),
        (
            &["search", "x", "--sort", "bogus"],
            2,
            Some("invalid value 'bogus' for '--sort"),
        ),
        (
            &["search", "x", "--format", "bogus"],
            2,
            Some("invalid value 'bogus' for '--format"),
        ),
        (
            &["status", "--format", "yaml"],
            2,
            Some("invalid value 'yaml' for '--format"),
        ),
        (&["report", "99"], 2, Some("there is no run 99")),
        (
            &["conflicts", "resolve", "99", "--take", "photoshelter"],
            2,
            Some("conflict #99 is not open"),
        ),
        (
            &["init", "."],
            2,
            Some("ferry.toml already exists; ferry init never overwrites"),
        ),
        (&["archive"], 0, None),
    ];
    check_cases(dir, cases);
    // Nothing to archive is a success that says so.
    let out = ferry(dir, &["archive"], &SECRETS);
    assert!(
        out.stdout.starts_with("nothing to archive"),
        "{}",
        out.stdout
    );

    // A held lock and a lockout stay fatal (3).
    let store_path = fx.store_path.clone();
    let now = chrono::Utc::now();
    {
        let mut store = Store::open(&store_path).unwrap();
        store
            .acquire_lock(4242, "elsewhere.example", now, chrono::Duration::hours(1))
            .unwrap()
            .unwrap();
    }
    let out = ferry(dir, &["sync"], &SECRETS);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        error_lines(&out)[0].contains("holds the lock (pid 4242 on elsewhere.example"),
        "{}",
        out.stderr
    );
    {
        let mut store = Store::open(&store_path).unwrap();
        store.release_lock(4242).unwrap();
        store.set_lockout("a listing was empty", None, now).unwrap();
    }
    let out = ferry(dir, &["sync"], &SECRETS);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        error_lines(&out)[0].contains("locked out") && out.stderr.contains("--recover"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_search_of_an_empty_index_says_how_to_build_it() {
    let dir = tempfile::tempdir().unwrap();
    closed_port_config(dir.path(), closed_port());
    check_cases(
        dir.path(),
        &[
            (&["search", "harbour"], 2, Some("is empty; build it with")),
            (&["search", "year:abc"], 2, Some("'abc' is not a date")),
        ],
    );
    let out = ferry(dir.path(), &["search", "harbour"], &SECRETS);
    assert!(out.stderr.contains("index rebuild"), "{}", out.stderr);
    assert!(!out.stdout.contains("matching"), "{}", out.stdout);
}

/// Runs `f` against the web app serving the store in `dir`.
pub(crate) fn with_app<T>(dir: &Path, f: impl AsyncFnOnce(String, reqwest::Client) -> T) -> T {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let running = ferry::server::start(
            ferry::server::ServerOptions {
                listen: "127.0.0.1:0".parse().unwrap(),
                access_token: None,
                store_path: dir.join("ferry.db"),
                index_dir: dir.join("index"),
                reports_dir: dir.join("reports"),
                mapping: ferry::mapping::Mapping::load(&dir.join("mapping.toml")).unwrap(),
                index: None,
                republisher: None,
                thumbnails: Default::default(),
                live: None,
            },
            async {
                let _ = rx.await;
            },
        )
        .await
        .unwrap();
        let base = format!("http://127.0.0.1:{}", running.addr().port());
        let out = f(base, crate::server::client()).await;
        let _ = tx.send(());
        out
    })
}

#[test]
fn a_dry_run_that_cannot_reach_a_server_fails_loudly_and_health_keeps_the_real_run() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ps, pv) = crate::helpers::emulators(&rt, 6, 4);
    let dir = tempfile::tempdir().unwrap();
    let env = crate::cli::emulator_config(dir.path(), &ps, &pv, false);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let real = ferry(dir.path(), &["sync"], &env);
    assert_eq!(real.code, 0, "{}\n{}", real.stdout, real.stderr);
    // Logs off a terminal carry no colour, and PhotoShelter's login (v4, then v3 for the
    // licence records) is one line.
    assert!(!real.stderr.contains('\u{1b}'), "{}", real.stderr);
    assert_eq!(
        real.stderr.matches("logged in to PhotoShelter").count(),
        1,
        "{}",
        real.stderr
    );

    // PhotoShelter goes away; a dry run says so while it retries, and fails.
    rt.block_on(ps.stop());
    let dry = ferry(dir.path(), &["sync", "--dry-run"], &env);
    assert_eq!(dry.code, 3, "{}\n{}", dry.stdout, dry.stderr);
    assert_eq!(
        dry.stderr.matches("photoshelter cannot be reached").count(),
        1,
        "{}",
        dry.stderr
    );
    assert!(
        dry.stdout.contains("(dry run: nothing written): failed"),
        "{}",
        dry.stdout
    );
    assert!(!dry.stdout.contains(" 0 failures"), "{}", dry.stdout);
    // The dry run's scratch copy of the store is not news: no migration lines.
    assert!(!dry.stderr.contains("schema migration"), "{}", dry.stderr);
    assert!(!dry.stderr.contains('\u{1b}'), "{}", dry.stderr);
    {
        let store = Store::open(&dir.path().join("ferry.db")).unwrap();
        let runs = store.run_details(10).unwrap();
        assert_eq!(runs.len(), 2);
        let d = &runs[0];
        assert!(d.dry_run && d.status == "failed", "{d:?}");
        let summary: serde_json::Value = d.summary.clone().unwrap();
        assert!(summary["failures"].as_u64().unwrap() >= 1, "{summary}");
    }

    // Listed as a dry run, but health, metrics and status still show the real run.
    let report = ferry(dir.path(), &["report"], &env);
    assert!(
        report.stdout.starts_with("run 2 (sync, dry run)"),
        "{}",
        report.stdout
    );
    let (health, metrics, runs_page) = with_app(dir.path(), async |base, http| {
        let health: serde_json::Value = http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let metrics = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let runs = http
            .get(format!("{base}/runs"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        (health, metrics, runs)
    });
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["last_run"]["id"], 1, "{health}");
    assert_eq!(health["last_run"]["exit_code"], 0, "{health}");
    assert_eq!(health["last_run"]["dry_run"], false, "{health}");
    for line in [
        "ferry_last_run_exit_code 0\n",
        "ferry_failures_total 0\n",
        "ferry_dry_runs_total 1\n",
        "ferry_runs_total{status=\"failed\"} 0\n",
        "ferry_runs_total{status=\"done\"} 1\n",
    ] {
        assert!(metrics.contains(line), "{line}\n{metrics}");
    }
    // The real run's pace and its requests by kind, per system.
    let gauge = |prefix: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("{prefix} missing:\n{metrics}"))
            .trim()
            .parse()
            .unwrap()
    };
    for system in ["photoshelter", "preservica"] {
        let high = gauge(&format!(
            "ferry_last_run_concurrency{{system=\"{system}\",bound=\"high\"}}"
        ));
        let ceiling = gauge(&format!(
            "ferry_last_run_concurrency{{system=\"{system}\",bound=\"ceiling\"}}"
        ));
        assert!(high >= 1 && high <= ceiling, "{high} of {ceiling}");
        let pages = gauge(&format!(
            "ferry_last_run_api_requests_by_kind{{system=\"{system}\",kind=\"listing_page\"}}"
        ));
        assert!(pages >= 1, "{metrics}");
    }
    assert!(runs_page.contains("dry run"), "{runs_page}");
    let status = ferry(dir.path(), &["status"], &env);
    assert!(
        status
            .stdout
            .contains("last run        #1 sync done, exit 0"),
        "{}",
        status.stdout
    );
    rt.block_on(pv.stop());
}

#[test]
fn status_conflicts_and_doctor_answer_in_text_and_json() {
    let fx = crate::server::fixture();
    let dir = fx.dir.path();
    closed_port_config(dir, closed_port());
    let now = chrono::Utc::now();
    {
        let mut store = Store::open(&fx.store_path).unwrap();
        // A dry run after the real one: status still reports the real one.
        let dry = store
            .begin_run(ferry::store::RunKind::Sync, true, now)
            .unwrap();
        store
            .finish_run(
                dry,
                ferry::store::RunStatus::Failed,
                ferry::store::RunEnding {
                    exit_code: 3,
                    error: Some("cannot connect"),
                    ..Default::default()
                },
                now,
            )
            .unwrap();
        store
            .set_lockout("PhotoShelter listed no media", Some(fx.run), now)
            .unwrap();
        store
            .acquire_lock(4242, "elsewhere.example", now, chrono::Duration::hours(1))
            .unwrap()
            .unwrap();
    }

    let text = ferry(dir, &["status"], &[]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    for part in [
        "lockout         LOCKED OUT since ",
        "PhotoShelter listed no media",
        "`ferry sync --recover`",
        "lock            held by pid 4242 on elsewhere.example since ",
        &format!("last run        #{} sync done, exit 0", fx.run),
        "next run        ",
        "conflicts       2 open",
        "schema version  5",
    ] {
        assert!(text.stdout.contains(part), "{part}\n{}", text.stdout);
    }

    let json = ferry(dir, &["status", "--format", "json"], &[]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["lockout"]["reason"], "PhotoShelter listed no media");
    assert_eq!(v["lockout"]["clear_with"], "ferry sync --recover");
    assert!(v["lockout"]["since"].is_string());
    assert_eq!(v["lock"]["pid"], 4242);
    assert_eq!(v["lock"]["host"], "elsewhere.example");
    assert_eq!(v["lock"]["expired"], false);
    assert_eq!(v["last_run"]["id"], fx.run);
    assert_eq!(v["last_run"]["exit_code"], 0);
    assert_eq!(v["open_conflicts"], 2);
    assert!(
        chrono::DateTime::parse_from_rfc3339(v["next_scheduled_run"].as_str().unwrap()).is_ok(),
        "{v}"
    );

    let list = ferry(dir, &["conflicts", "list", "--format", "json"], &[]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let v: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let mut fields: Vec<&str> = v["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(fields, ["copyright_notice", "usage_terms"], "{v}");
    let ids: Vec<i64> = v["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), fx.conflicts.len());
    assert!(ids.iter().all(|id| fx.conflicts.contains(id)));

    // Doctor against a port where nothing listens: not ready, said in JSON too.
    let text = ferry(dir, &["doctor"], &SECRETS);
    assert_eq!(text.code, 2, "{}", text.stdout);
    assert!(
        text.stdout.contains("not ready: photoshelter reachable"),
        "{}",
        text.stdout
    );
    let json = ferry(dir, &["doctor", "--format", "json"], &SECRETS);
    assert_eq!(json.code, 2, "{}", json.stdout);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["ready"], false, "{v}");
    assert!(
        v["not_ready"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("photoshelter reachable")),
        "{v}"
    );
    assert!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["system"] == "photoshelter"
                && c["check"] == "reachable"
                && c["result"] == "fail"),
        "{v}"
    );
}

#[test]
fn the_web_app_refuses_an_unknown_sort_like_the_cli() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let app = crate::server::start().await;
        let (status, body) = app.text("/api/search?q=harbour&sort=bogus").await;
        assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("is not an order"), "{body}");
        // The page keeps its form and says why, as for a malformed query, with no hits.
        let (_, page) = app.text("/?q=harbour&sort=bogus").await;
        assert!(page.contains("is not an order"), "{page}");
        assert!(!page.contains("href=\"/assets/"), "{page}");
        let (_, page) = app.text("/?q=harbour").await;
        assert!(page.contains("href=\"/assets/"), "{page}");
        let (status, _) = app.json("/api/search?q=harbour&sort=date_asc").await;
        assert_eq!(status, reqwest::StatusCode::OK);
    });
}
