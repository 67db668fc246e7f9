//! `ferry demo --serve` over the real binary (issue 16): after the demo, the web app and both
//! emulators answer on the URLs it prints, the command line works against them, and SIGINT
//! stops all three with exit 0.

use crate::helpers::ferry;
use std::io::{BufRead, BufReader};
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

/// The URL on the first line of `seen` that starts (after indentation) with `label`.
fn printed_url(seen: &[String], label: &str) -> String {
    seen.iter()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {label:?} line in {seen:#?}"))
        .to_string()
}

/// GET `url`: its status, or what went wrong.
fn get(url: &str) -> Result<(u16, String), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let response = reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        Ok((status, response.text().await.map_err(|e| e.to_string())?))
    })
}

/// Whether something accepts TCP connections at `url`'s host and port.
fn answers(url: &str) -> bool {
    let authority = url.trim_start_matches("http://").split('/').next().unwrap();
    let addr: std::net::SocketAddr = authority.parse().unwrap();
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
}

#[cfg(unix)]
#[test]
fn demo_serve_answers_on_its_printed_urls_and_stops_cleanly_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["demo", "site", "--media", "30", "--serve"])
        .current_dir(dir.path())
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the ferry binary starts");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut child = KillOnDrop(child);
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
        text
    });
    let mut seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    // The commands to try come last, after every URL.
    while !seen
        .iter()
        .any(|l| l.contains("ferry --config") && l.ends_with(" report"))
    {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("ferry demo --serve printed no URLs within 120 s: {seen:#?}"),
        }
    }
    let web = printed_url(&seen, "web app:");
    let photoshelter = printed_url(&seen, "PhotoShelter:");
    let preservica = printed_url(&seen, "Preservica:");

    let (status, body) = get(&format!("{web}/healthz")).unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(&format!("{web}/api/search?q=regatta")).unwrap();
    assert_eq!(status, 200, "{body}");
    let found: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(found["total"].as_u64().unwrap() > 0, "{body}");
    let (status, body) = get(&format!("{photoshelter}/psapi/v3/mem/user/session")).unwrap();
    assert!(status < 500, "the PhotoShelter emulator: {status} {body}");

    // Printed absolute, to be run from any directory.
    let config = std::fs::canonicalize(dir.path().join("site/ferry.toml")).unwrap();
    let config = config.to_str().unwrap();
    assert!(
        seen.iter()
            .any(|l| l.trim() == format!("ferry --config {config} status")),
        "{seen:#?}"
    );
    let out = ferry(dir.path(), &["--config", config, "status"], &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);

    // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(child.0.id() as i32, libc::SIGINT) }, 0);
    let asked = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(20),
            "ferry demo --serve was still running 20 s after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
        seen.push(line);
    }
    let log = log.join().unwrap();
    assert_eq!(status.code(), Some(0), "{seen:#?}\n{log}");
    assert!(
        seen.iter().any(|l| l.starts_with("Stopped (SIGINT)")),
        "{seen:#?}\n{log}"
    );
    for url in [&web, &photoshelter, &preservica] {
        assert!(!answers(url), "{url} still answers after ferry stopped");
    }
}
