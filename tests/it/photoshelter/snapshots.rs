//! The exact requests the client sends for each operation, kept as reviewed snapshot files
//! in `tests/snapshots/photoshelter/` (method, path and query with credentials redacted, the
//! relevant headers sorted, the body). When a real account is available, the same operations
//! can be recorded against it and compared line by line.
//!
//! `FERRY_UPDATE_SNAPSHOTS=1 cargo test --test it photoshelter::snapshots` rewrites the files.

use super::*;
use bytes::Bytes;
use chrono::{TimeZone, Utc};
use ferry::clock::Clock;
use ferry::config::Secret;
use ferry::mapping::photoshelter::PhotoShelterWrite;
use ferry::photoshelter::client::{ContainerKind, Scope};
use ferry::photoshelter::emulator::{ModifyFilter, Quirks, render_requests};
use ferry::photoshelter::wire::Visibility;
use serde_json::json;
use std::path::PathBuf;

fn snapshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/photoshelter")
}

/// A small, fixed account: 6 media in 3 galleries of 2, one collection, one empty gallery.
async fn small() -> PhotoShelterEmulator {
    let mut o = options(6);
    o.media_per_gallery = 2;
    o.galleries_per_collection = 2;
    o.clock = Clock::fixed(Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap());
    start(o).await
}

/// A client that sends one request at a time (a fixed order) and pages by 2.
fn sequential(emu: &PhotoShelterEmulator) -> PhotoShelterClient {
    let mut cfg = config(emu);
    cfg.concurrency = 1;
    client_for(&cfg).with_options(ClientOptions {
        page_size: 2,
        clock: Clock::fixed(Utc.with_ymd_and_hms(2025, 6, 1, 13, 0, 0).unwrap()),
        ..ClientOptions::default()
    })
}

struct Snapshots {
    update: bool,
    failures: Vec<String>,
}

impl Snapshots {
    fn check(&mut self, emu: &PhotoShelterEmulator, name: &str, what: &str) {
        let secrets = secrets(emu);
        let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let body = render_requests(&emu.captured(), &refs);
        let text = format!("# {what}\n\n{body}");
        assert_no_secrets(emu, &text);
        let path = snapshot_dir().join(format!("{name}.txt"));
        if self.update {
            std::fs::create_dir_all(snapshot_dir()).unwrap();
            std::fs::write(&path, &text).unwrap();
            return;
        }
        match std::fs::read_to_string(&path) {
            Ok(want) if want == text => {}
            Ok(want) => self.failures.push(format!(
                "{} differs from what the client sends now:\n{}",
                path.display(),
                first_difference(&want, &text)
            )),
            Err(e) => self.failures.push(format!(
                "{}: {e}; run with FERRY_UPDATE_SNAPSHOTS=1 to write it",
                path.display()
            )),
        }
    }
}

fn first_difference(want: &str, got: &str) -> String {
    let w: Vec<&str> = want.lines().collect();
    let g: Vec<&str> = got.lines().collect();
    for i in 0..w.len().max(g.len()) {
        let (a, b) = (w.get(i), g.get(i));
        if a != b {
            return format!(
                "  line {}:\n    snapshot: {}\n    now:      {}",
                i + 1,
                a.unwrap_or(&"(end)"),
                b.unwrap_or(&"(end)")
            );
        }
    }
    "  (same lines, different line endings)".into()
}

#[tokio::test]
async fn requests_match_the_reviewed_snapshots() {
    bounded(async {
        let mut s = Snapshots {
            update: std::env::var("FERRY_UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1"),
            failures: Vec::new(),
        };

        // Logins.
        let emu = small().await;
        sequential(&emu).login().await.unwrap();
        s.check(&emu, "login_v4", "PhotoShelterClient::login(): v4 password login, organisation selection, who am I");

        let emu = small().await;
        sequential(&emu).login_v3().await.unwrap();
        s.check(&emu, "login_v3", "PhotoShelterClient::login_v3(): v3 password login, organisation selection, who am I");

        let emu = small().await;
        let mut cfg = config(&emu);
        cfg.concurrency = 1;
        cfg.password = None;
        cfg.oauth_token = Some(Secret::new(emu.options().oauth_token.clone().unwrap()));
        client_for(&cfg).list_page(1).await.unwrap();
        s.check(&emu, "oauth_list_page", "PhotoShelterClient::list_page(1) with an OAuth token from the configuration");

        // Reads.
        let emu = small().await;
        let c = sequential(&emu);
        c.login().await.unwrap();
        emu.clear_captured();
        c.list_page(1).await.unwrap();
        s.check(&emu, "list_page", "PhotoShelterClient::list_page(1): one page of media search");

        emu.clear_captured();
        assert_eq!(c.list_all(&Scope::Account).await.unwrap().media.len(), 6);
        s.check(&emu, "list_all", "PhotoShelterClient::list_all(Account), 2 per page: library, collections, gallery children");

        let id = emu.media_ids()[2].clone();
        emu.clear_captured();
        c.read_record(&id).await.unwrap();
        s.check(&emu, "read_record", "PhotoShelterClient::read_record(id): media, IPTC, custom metadata");

        emu.set_iptc(&id, "caption", Some("changed"));
        let cursor = Utc.with_ymd_and_hms(2025, 5, 1, 0, 0, 0).unwrap();
        emu.clear_captured();
        assert_eq!(c.list_changed(cursor, &Scope::Account).await.unwrap().media.len(), 1);
        s.check(&emu, "list_changed", "PhotoShelterClient::list_changed(2025-05-01T00:00:00Z, Account) on a tenant with modify_start");

        emu.set_quirks(Quirks {
            modify_filter: ModifyFilter::Rejected,
            ..Quirks::default()
        });
        emu.clear_captured();
        assert_eq!(c.list_changed(cursor, &Scope::Account).await.unwrap().media.len(), 1);
        s.check(&emu, "list_changed_fallback", "PhotoShelterClient::list_changed(2025-05-01T00:00:00Z, Account) on a tenant that rejects modify_start");

        // Writes.
        let emu = small().await;
        let c = sequential(&emu);
        c.login().await.unwrap();
        c.login_v3().await.unwrap();
        let id = emu.media_ids()[1].clone();
        let mut w = PhotoShelterWrite::default();
        w.iptc.insert("title".into(), json!("Regatta, 1962"));
        w.iptc.insert("keywords".into(), json!("harbour, regatta"));
        w.iptc.insert("author".into(), json!(""));
        w.custom.insert("Campaign".into(), Some("Heritage Week".into()));
        w.custom.insert("Archive Status".into(), None);
        w.license.insert("expiration_date".into(), json!("2031-03-04"));
        w.attributes.insert("model_released".into(), json!(true));
        emu.clear_captured();
        c.apply_write(&id, &w).await.unwrap();
        s.check(&emu, "apply_write", "PhotoShelterClient::apply_write(id, IPTC + custom metadata + attributes + licence), then read-back");

        emu.clear_captured();
        c.set_license_expiry(&id, chrono::NaiveDate::from_ymd_opt(2030, 1, 31))
            .await
            .unwrap();
        s.check(&emu, "set_license_expiry", "PhotoShelterClient::set_license_expiry(id, 2030-01-31), then read-back");

        emu.clear_captured();
        c.set_releases(&id, Some(true), Some(false)).await.unwrap();
        s.check(&emu, "set_releases", "PhotoShelterClient::set_releases(id, model true, property false), then read-back");

        emu.clear_captured();
        c.write_probe(&id).await.unwrap();
        s.check(&emu, "write_probe", "PhotoShelterClient::write_probe(id): write, read back, restore, read back");

        let g = emu.gallery_ids()[0].clone();
        emu.clear_captured();
        c.set_visibility(ContainerKind::Gallery, &g, Visibility::Private)
            .await
            .unwrap();
        s.check(&emu, "set_visibility", "PhotoShelterClient::set_visibility(Gallery, id, private), then read-back");

        let parent = emu.collection_ids()[0].clone();
        emu.clear_captured();
        let new = c
            .create_gallery("Republished 2025", Some(&parent), Visibility::Permission, true)
            .await
            .unwrap();
        s.check(&emu, "create_gallery", "PhotoShelterClient::create_gallery(\"Republished 2025\", collection, permission, listed), then read-back");

        emu.clear_captured();
        let up = c
            .upload(&new, "harbour.jpg", "image/jpeg", Bytes::from_static(b"\xFF\xD8\xFF\xE0 ferry snapshot \xFF\xD9"))
            .await
            .unwrap();
        s.check(&emu, "upload", "PhotoShelterClient::upload(gallery, \"harbour.jpg\", image/jpeg, 22 bytes), then size check");

        emu.clear_captured();
        c.download(&up.media_id, Some(up.file_size))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        s.check(&emu, "download", "PhotoShelterClient::download(id, expected size)");

        assert!(s.failures.is_empty(), "{}", s.failures.join("\n\n"));
    })
    .await
}
