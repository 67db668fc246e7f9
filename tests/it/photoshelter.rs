//! The PhotoShelter client against the PhotoShelter emulator, over real HTTP on loopback.
//!
//! Helpers for the submodules live here (not in `helpers.rs`, which other modules share).

mod auth;
mod emulator_raw;
mod files;
mod listing;
mod parsing;
mod snapshots;
mod writes;

use ferry::config::{PhotoShelterConfig, Secret};
use ferry::http::HttpOptions;
use ferry::photoshelter::client::{ClientOptions, PhotoShelterClient};
use ferry::photoshelter::emulator::{self, EmulatorOptions, PhotoShelterEmulator};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every test body runs under this bound, so a hang fails instead of stalling the suite.
pub async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(180), f)
        .await
        .expect("the test finished within its time bound")
}

pub fn options(seed_media: usize) -> EmulatorOptions {
    EmulatorOptions {
        seed_media,
        ..EmulatorOptions::default()
    }
}

pub async fn start(options: EmulatorOptions) -> PhotoShelterEmulator {
    emulator::start(options, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the emulator starts")
}

/// A config for the emulator's demo account: password login, both keys, the organisation.
pub fn config(emu: &PhotoShelterEmulator) -> PhotoShelterConfig {
    let o = emu.options();
    PhotoShelterConfig {
        base_url: emu.url(),
        email: o.email.clone(),
        org_id: (!o.org_id.is_empty()).then(|| o.org_id.clone()),
        concurrency: 4,
        adaptive: true,
        timeout_secs: 30,
        api_key: Some(Secret::new(o.api_key_v4.clone())),
        api_key_v3: Some(Secret::new(o.api_key_v3.clone())),
        password: Some(Secret::new(o.password.clone())),
        oauth_token: None,
        probe_media_id: None,
        limits: Default::default(),
        allow_insecure_http: false,
        file: "ferry.toml".into(),
    }
}

/// Retries without long sleeps: tests inject faults with `Retry-After: 0`.
pub fn fast_http(concurrency: usize) -> HttpOptions {
    HttpOptions {
        timeout: Duration::from_secs(30),
        concurrency,
        max_retries: 8,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(10),
        ..HttpOptions::default()
    }
}

pub fn client_for(config: &PhotoShelterConfig) -> PhotoShelterClient {
    PhotoShelterClient::with_http_options(config, fast_http(config.concurrency)).unwrap()
}

pub fn client(emu: &PhotoShelterEmulator) -> PhotoShelterClient {
    client_for(&config(emu))
}

pub fn client_with(emu: &PhotoShelterEmulator, options: ClientOptions) -> PhotoShelterClient {
    client(emu).with_options(options)
}

/// Every credential of the emulator's account, including the session tokens issued so far.
pub fn secrets(emu: &PhotoShelterEmulator) -> Vec<String> {
    let o = emu.options();
    let mut v = vec![
        o.api_key_v4.clone(),
        o.api_key_v3.clone(),
        o.password.clone(),
    ];
    v.extend(o.oauth_token.clone());
    v.extend(emu.issued_tokens());
    v
}

/// Fails if any credential appears in `text`.
pub fn assert_no_secrets(emu: &PhotoShelterEmulator, text: &str) {
    for s in secrets(emu) {
        assert!(!text.contains(&s), "a credential leaked into: {text}");
    }
}

/// Display and Debug of an error, checked for credentials, returned for further asserts.
pub fn error_text(emu: &PhotoShelterEmulator, e: &dyn std::error::Error) -> String {
    let text = format!("{e} || {e:?}");
    assert_no_secrets(emu, &text);
    text
}

/// Installs a process-wide tracing subscriber that writes everything (TRACE) into a buffer.
/// Only for a child process running one test.
pub fn capture_logs_globally() -> Arc<Mutex<Vec<u8>>> {
    #[derive(Clone)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Arc::new(Mutex::new(Vec::new()));
    let writer = Buf(buf.clone());
    let sub = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(sub).expect("no other subscriber in the child");
    buf
}
