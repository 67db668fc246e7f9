//! The Preservica client against the Preservica emulator, over real HTTP on loopback.

use crate::helpers::repo_file;
use ferry::config::Secret;
use ferry::emulate::FaultOptions;
use ferry::http::HttpOptions;
use ferry::mapping::preservica as pv;
use ferry::mapping::{FieldChange, Mapping};
use ferry::model::FieldValue;
use ferry::preservica::client::{Connection, PreservicaClient, PreservicaError};
use ferry::preservica::emulator::{self, EmulatorOptions, PreservicaEmulator};
use ferry::preservica::opex::{AssetSpec, FolderSpec, PackageBuilder};
use ferry::preservica::wire::{EntityKind, Version};
use std::time::Duration;

const DC: &str = "http://www.openarchives.org/OAI/2.0/oai_dc/";

async fn emulator(options: EmulatorOptions) -> PreservicaEmulator {
    emulator::start(options, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the emulator starts")
}

fn connection(emu: &PreservicaEmulator) -> Connection {
    let o = emu.options();
    Connection {
        base_url: emu.url(),
        username: o.username.clone(),
        password: Secret::new(o.password.clone()),
        tenant: Some(o.tenant.clone()),
        http: HttpOptions {
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
            max_retries: 8,
            ..HttpOptions::default()
        },
        single_put_limit: 32 * 1024 * 1024,
        part_size: 8 * 1024 * 1024,
    }
}

fn client(emu: &PreservicaEmulator) -> PreservicaClient {
    PreservicaClient::new(connection(emu)).unwrap()
}

fn seeded(n: usize) -> EmulatorOptions {
    EmulatorOptions {
        seed_assets: n,
        ..EmulatorOptions::default()
    }
}

#[tokio::test]
async fn connect_reads_version_user_and_roles() {
    let emu = emulator(seeded(3)).await;
    let c = client(&emu);
    let info = c.connect().await.unwrap();
    assert_eq!(info.version, Version::new(7, 7, 0));
    assert_eq!(info.user, "emulator@ferry.local");
    assert_eq!(info.tenant.as_deref(), Some("FERRY"));
    assert!(info.roles.iter().any(|r| r == "ROLE_SDB_MANAGER_USER"));
}

#[tokio::test]
async fn bad_credentials_are_a_clear_login_error_without_the_password() {
    let emu = emulator(seeded(0)).await;
    let mut conn = connection(&emu);
    conn.password = Secret::new("wrong-secret-Xq9");
    let e = PreservicaClient::new(conn)
        .unwrap()
        .connect()
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, PreservicaError::Login { .. }), "{msg}");
    assert!(msg.contains("Invalid credentials"), "{msg}");
    assert!(!msg.contains("wrong-secret-Xq9"));
}

#[tokio::test]
async fn every_namespace_follows_the_server_version() {
    for (v, ns) in [
        (Version::new(6, 2, 0), "v6.2"),
        (Version::new(7, 7, 0), "v7.7"),
        (Version::new(8, 1, 0), "v8.1"),
    ] {
        let emu = emulator(EmulatorOptions {
            version: v,
            ..seeded(2)
        })
        .await;
        let c = client(&emu);
        assert_eq!(c.connect().await.unwrap().version, v);
        let asset = &emu.asset_refs()[0];
        // The client reads the asset whatever the namespaces.
        let record = c.read_asset(asset).await.unwrap();
        assert!(record.title.is_some());
        // And the raw answer uses this version's namespaces and no other.
        let token = login_token(&emu).await;
        let body = reqwest::Client::new()
            .get(format!(
                "{}/api/entity/information-objects/{asset}",
                emu.url()
            ))
            .header("Preservica-Access-Token", &token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            body.contains(&format!("http://preservica.com/XIP/{ns}")),
            "{body}"
        );
        assert!(body.contains(&format!("http://preservica.com/EntityAPI/{ns}")));
        for other in ["v6.2", "v7.7", "v8.1"].iter().filter(|o| **o != ns) {
            assert!(!body.contains(&format!("XIP/{other}")));
        }
        // A versioned path answers in its own version and its URLs keep the prefix.
        let body = reqwest::Client::new()
            .get(format!(
                "{}/api/entity/v6.2/information-objects/{asset}",
                emu.url()
            ))
            .header("Preservica-Access-Token", &token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(body.contains("http://preservica.com/XIP/v6.2"), "{body}");
        assert!(body.contains("/api/entity/v6.2/information-objects/"));
        emu.stop().await;
    }
}

async fn login_token(emu: &PreservicaEmulator) -> String {
    let o = emu.options();
    let v: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/accesstoken/login", emu.url()))
        .form(&[
            ("username", o.username.as_str()),
            ("password", o.password.as_str()),
            ("tenant", o.tenant.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn children_page_through_more_than_a_thousand_entries() {
    let emu = emulator(EmulatorOptions {
        seed_folder_size: 1200,
        ..seeded(1200)
    })
    .await;
    let c = client(&emu);
    let folder = emu.folder_refs(None)[0].clone();
    let series = emu.folder_refs(Some(&folder))[0].clone();
    emu.log().clear();
    let children = c.children(Some(&series), 100).await.unwrap();
    assert_eq!(children.len(), 1200);
    let mut refs: Vec<&str> = children.iter().map(|c| c.reference.as_str()).collect();
    refs.sort();
    refs.dedup();
    assert_eq!(refs.len(), 1200, "no child listed twice");
    assert_eq!(emu.log().count("GET", "/children"), 12);
    // The whole walk finds every asset.
    assert_eq!(c.walk_assets(None).await.unwrap().len(), 1200);
}

#[tokio::test]
async fn updated_since_finds_exactly_what_changed_after_the_cursor() {
    let emu = emulator(seeded(60)).await;
    let c = client(&emu);
    let assets = emu.asset_refs();
    let cursor = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    emu.set_title(&assets[3], "Changed once");
    emu.set_title(&assets[40], "Changed twice");
    let changed = c.updated_since(cursor, Duration::ZERO).await.unwrap();
    let mut got: Vec<&str> = changed.iter().map(|e| e.reference.as_str()).collect();
    got.sort();
    let mut want = vec![assets[3].as_str(), assets[40].as_str()];
    want.sort();
    assert_eq!(got, want);
    // With an overlap, something modified just before the cursor is seen too.
    emu.set_modified(&assets[7], cursor - chrono::Duration::seconds(30));
    let changed = c
        .updated_since(cursor, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(changed.iter().any(|e| e.reference == assets[7]));
    assert!(!changed.iter().any(|e| e.reference == assets[8]));
}

#[tokio::test]
async fn updating_one_dc_element_leaves_the_rest_of_the_fragment_unchanged() {
    let emu = emulator(seeded(5)).await;
    let c = client(&emu);
    let mapping = Mapping::load(&repo_file("mappings/default.toml")).unwrap();
    let asset = emu.asset_refs()[2].clone();
    let before_xml = emu.fragment(&asset, DC).unwrap();
    let record = c.read_asset(&asset).await.unwrap();
    let write = pv::plan_write(
        &mapping,
        &record,
        &[FieldChange {
            field: "creator".into(),
            value: FieldValue::text("Royal <Harbour> & Board"),
        }],
    );
    assert!(write.problems.is_empty());
    let after = c.apply_write(&asset, &write).await.unwrap();
    let t = pv::read_record(&mapping, &after);
    assert_eq!(
        t.record.fields["creator"],
        FieldValue::text("Royal <Harbour> & Board").unwrap()
    );
    let after_xml = emu.fragment(&asset, DC).unwrap();
    let creator_line = |xml: &str| {
        xml.lines()
            .find(|l| l.contains("<dc:creator>"))
            .unwrap()
            .to_string()
    };
    assert_eq!(
        after_xml,
        before_xml.replace(
            &creator_line(&before_xml),
            "  <dc:creator>Royal &lt;Harbour&gt; &amp; Board</dc:creator>"
        )
    );
    // A title change goes to the entity, not a fragment.
    let write = pv::plan_write(
        &mapping,
        &after,
        &[FieldChange {
            field: "title".into(),
            value: FieldValue::text("Regatta <b>1962</b>"),
        }],
    );
    c.apply_write(&asset, &write).await.unwrap();
    assert_eq!(emu.title(&asset).unwrap(), "Regatta <b>1962</b>");
    assert_eq!(emu.fragment(&asset, DC).unwrap(), after_xml);
}

#[tokio::test]
async fn a_new_fragment_is_added_when_the_asset_has_none() {
    let emu = emulator(seeded(3)).await;
    let c = client(&emu);
    let mapping = Mapping::load(&repo_file("mappings/default.toml")).unwrap();
    let asset = emu.asset_refs()[1].clone(); // seeded without the ferry fragment
    assert!(emu.fragment(&asset, "urn:ferry:schema:rights:1").is_none());
    let record = c.read_asset(&asset).await.unwrap();
    let write = pv::plan_write(
        &mapping,
        &record,
        &[FieldChange {
            field: "usage_terms".into(),
            value: FieldValue::text("Editorial use only"),
        }],
    );
    c.apply_write(&asset, &write).await.unwrap();
    assert!(
        emu.fragment(&asset, "urn:ferry:schema:rights:1")
            .unwrap()
            .contains("<UsageTerms>Editorial use only</UsageTerms>")
    );
}

#[tokio::test]
async fn identifiers_are_added_listed_and_looked_up() {
    let emu = emulator(seeded(4)).await;
    let c = client(&emu);
    let asset = emu.asset_refs()[0].clone();
    let added = c
        .add_identifier(
            EntityKind::Asset,
            &asset,
            "photoshelter",
            "I0000AbCdEfGhIjK",
        )
        .await
        .unwrap();
    assert!(!added.api_id.is_empty());
    let ids = c.identifiers(EntityKind::Asset, &asset).await.unwrap();
    assert!(
        ids.iter()
            .any(|i| i.kind == "code" && i.value == "FERRY-00000")
    );
    assert!(
        ids.iter()
            .any(|i| i.kind == "photoshelter" && i.value == "I0000AbCdEfGhIjK")
    );
    let found = c
        .find_by_identifier("photoshelter", "I0000AbCdEfGhIjK")
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].reference, asset);
    assert_eq!(found[0].kind, Some(EntityKind::Asset));
    assert!(
        c.find_by_identifier("photoshelter", "nope")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn unknown_refs_are_not_found_and_missing_roles_forbidden() {
    let emu = emulator(EmulatorOptions {
        roles: vec!["ROLE_SDB_ACCESS_USER".into()],
        ..seeded(2)
    })
    .await;
    let c = client(&emu);
    let e = c
        .read_asset("00000000-0000-0000-0000-000000000000")
        .await
        .unwrap_err();
    assert!(matches!(e, PreservicaError::NotFound { .. }), "{e}");
    let asset = emu.asset_refs()[0].clone();
    let e = c
        .add_identifier(EntityKind::Asset, &asset, "photoshelter", "I1")
        .await
        .unwrap_err();
    assert!(matches!(e, PreservicaError::Forbidden { .. }), "{e}");
    assert!(e.to_string().contains("403"));
}

#[tokio::test]
async fn a_token_that_expires_during_a_long_listing_is_renewed() {
    let emu = emulator(EmulatorOptions {
        seed_folder_size: 300,
        token_lifetime: Duration::from_millis(300),
        faults: FaultOptions {
            latency: Duration::from_millis(40),
            ..FaultOptions::default()
        },
        ..seeded(300)
    })
    .await;
    let c = client(&emu);
    let root = emu.folder_refs(None)[0].clone();
    let series = emu.folder_refs(Some(&root))[0].clone();
    // 30 pages of 10 at 40 ms each outlive the 300 ms token.
    let assets = c.children(Some(&series), 10).await.unwrap();
    assert_eq!(assets.len(), 300);
    assert!(
        emu.log().count("POST", "/api/accesstoken/login") >= 2,
        "the client logged in again"
    );
    let unauthorised = emu
        .log()
        .entries()
        .iter()
        .filter(|r| r.status == 401)
        .count();
    assert!(unauthorised >= 1, "a request met an expired token");
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_to_the_same_result() {
    let emu = emulator(seeded(250)).await;
    let expected = client(&emu).walk_assets(None).await.unwrap();
    emu.faults().set(FaultOptions {
        throttle_share: 0.15,
        retry_after_secs: 0,
        unavailable_share: 0.15,
        seed: 7,
        exempt_prefixes: vec!["/api/accesstoken".into()],
        ..FaultOptions::default()
    });
    let c = client(&emu);
    let got = c.walk_assets(None).await.unwrap();
    assert_eq!(got, expected);
    let counts = c.request_counts();
    assert!(counts.retries > 0, "{counts:?}");
    assert!(
        counts.throttled > 0 && counts.server_errors > 0,
        "{counts:?}"
    );
    let injected = emu.log().entries().iter().filter(|r| r.injected).count() as u64;
    assert_eq!(injected, counts.throttled + counts.server_errors);
}

#[tokio::test]
async fn a_malformed_answer_is_a_clear_error_naming_the_url() {
    let emu = emulator(seeded(2)).await;
    let c = client(&emu);
    c.connect().await.unwrap();
    emu.faults().set(FaultOptions {
        truncate_share: 1.0,
        exempt_prefixes: vec![
            "/api/accesstoken".into(),
            "/api/entity/versiondetails".into(),
        ],
        ..FaultOptions::default()
    });
    let asset = emu.asset_refs()[0].clone();
    let e = c.read_asset(&asset).await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, PreservicaError::Malformed { .. }), "{msg}");
    assert!(
        msg.contains(&format!("/api/entity/information-objects/{asset}")),
        "{msg}"
    );
    // Fetched again within the retry budget (the first fetch and `max_retries` more).
    assert_eq!(
        emu.log()
            .count("GET", &format!("information-objects/{asset}")),
        9
    );
}

#[tokio::test]
async fn cut_short_answers_are_fetched_again() {
    let emu = emulator(seeded(40)).await;
    let expected = client(&emu).walk_assets(None).await.unwrap();
    emu.faults().set(FaultOptions {
        truncate_share: 0.2,
        seed: 3,
        exempt_prefixes: vec!["/api/accesstoken".into()],
        ..FaultOptions::default()
    });
    assert_eq!(client(&emu).walk_assets(None).await.unwrap(), expected);
}

#[tokio::test]
async fn entity_expansion_and_malformed_bodies_are_refused() {
    let emu = emulator(seeded(1)).await;
    let token = login_token(&emu).await;
    let asset = emu.asset_refs()[0].clone();
    let url = format!(
        "{}/api/entity/information-objects/{asset}/metadata",
        emu.url()
    );
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><MetadataContainer xmlns="http://preservica.com/XIP/v7.7" schemaUri="urn:x"><Entity>e</Entity><Content><x>&lol1;</x></Content></MetadataContainer>"#;
    let http = reqwest::Client::new();
    for (body, reason) in [
        (bomb.to_string(), "DOCTYPE is not allowed"),
        ("<MetadataContainer".to_string(), "malformed XML body"),
        (
            format!(
                r#"<MetadataContainer xmlns="http://preservica.com/XIP/v7.7"><Entity>{asset}</Entity><Content><x/></Content></MetadataContainer>"#
            ),
            "no schemaUri",
        ),
    ] {
        let resp = http
            .post(&url)
            .header("Preservica-Access-Token", &token)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let text = resp.text().await.unwrap();
        assert!(text.contains(reason), "{text}");
    }
    assert_eq!(emu.fragment(&asset, "urn:x"), None);
}

#[tokio::test]
async fn bitstreams_download_with_fixity_checked_and_resumed_when_cut() {
    let emu = emulator(seeded(6)).await;
    let c = client(&emu);
    let dir = tempfile::tempdir().unwrap();
    let asset = emu.asset_refs()[4].clone();
    let streams = c.bitstreams(&asset).await.unwrap();
    assert_eq!(streams.len(), 1);
    let bs = &streams[0];
    assert_eq!(bs.representation, "Preservation");
    assert_eq!(bs.doc.filename, "IMG_00004.jpg");
    let dest = dir.path().join("a.jpg");
    let got = c.download(bs, &dest).await.unwrap();
    assert_eq!(got.size, bs.doc.size);
    assert_eq!(std::fs::read(&dest).unwrap().len() as u64, bs.doc.size);
    assert_eq!(got.verified.0, "SHA1");

    // Bodies cut short mid-stream: the client resumes with Range and still verifies.
    emu.faults().set(FaultOptions {
        truncate_share: 0.5,
        seed: 11,
        exempt_prefixes: vec!["/api/accesstoken".into()],
        ..FaultOptions::default()
    });
    let dest2 = dir.path().join("b.jpg");
    let got2 = c.download(bs, &dest2).await.unwrap();
    assert_eq!(
        std::fs::read(&dest2).unwrap(),
        std::fs::read(&dest).unwrap()
    );
    assert_eq!(got2.sha256, got.sha256);
    emu.faults().set(FaultOptions::default());

    // A copy whose bytes no longer match the recorded fixity is refused and not kept.
    assert!(emu.corrupt_first_bitstream(&asset));
    let dest3 = dir.path().join("c.jpg");
    let e = c.download(bs, &dest3).await.unwrap_err();
    assert!(matches!(e, PreservicaError::Fixity { .. }), "{e}");
    assert!(e.to_string().contains("IMG_00004.jpg"));
    assert!(!dest3.exists());
}

fn package(dir: &std::path::Path, image: &[u8]) -> std::path::PathBuf {
    let path = dir.join("package.zip");
    let file = std::fs::File::create(&path).unwrap();
    let mut b = PackageBuilder::new(file, "ferry-test").unwrap();
    let folder = b
        .add_folder(FolderSpec {
            name: "Gallery <One>".into(),
            source_id: Some("G0000Gallery0001".into()),
            title: "Gallery <One> & friends".into(),
            ..FolderSpec::default()
        })
        .unwrap();
    b.add_asset(
        folder,
        AssetSpec {
            original_name: "regatta.jpg".into(),
            source_id: Some("I0000Image000001".into()),
            title: "Regatta".into(),
            identifiers: vec![("photoshelter".into(), "I0000Image000001".into())],
            fragments: vec![format!(
                "<oai_dc:dc xmlns:oai_dc=\"{DC}\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:creator>Mary Ellis</dc:creator></oai_dc:dc>"
            )],
            ..AssetSpec::default()
        },
        &mut std::io::Cursor::new(image.to_vec()),
    )
    .unwrap();
    b.finish().unwrap();
    path
}

async fn upload_and_find(
    emu: &PreservicaEmulator,
    c: &PreservicaClient,
    image: &[u8],
    multipart: bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let zip = package(dir.path(), image);
    let target = emu.folder_refs(None)[0].clone();
    let upload = c.upload_package(&zip, &target).await.unwrap();
    assert_eq!(upload.multipart, multipart);
    assert!(!upload.progress_token.is_empty());
    let found = c
        .wait_for_ingest(&["I0000Image000001".to_string()], Duration::from_secs(10))
        .await
        .unwrap();
    let asset = &found["I0000Image000001"];
    let record = c.read_asset(asset).await.unwrap();
    assert_eq!(record.title.as_deref(), Some("Regatta"));
    assert!(record.fragment(DC).unwrap().xml.contains("Mary Ellis"));
    let ids = c.identifiers(EntityKind::Asset, asset).await.unwrap();
    assert!(
        ids.iter()
            .any(|i| i.kind == "photoshelter" && i.value == "I0000Image000001")
    );
    let folder = emu.parent(asset).unwrap();
    assert_eq!(emu.title(&folder).unwrap(), "Gallery <One> & friends");
    assert_eq!(emu.parent(&folder).unwrap(), target);
    let bs = c.bitstreams(asset).await.unwrap();
    let out = dir.path().join("back.jpg");
    c.download(&bs[0], &out).await.unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), image);
}

#[tokio::test]
async fn an_opex_package_is_uploaded_in_one_put_and_ingested() {
    let emu = emulator(seeded(1)).await;
    let c = client(&emu);
    upload_and_find(&emu, &c, b"\xFF\xD8 small image \xFF\xD9", false).await;
    assert_eq!(emu.uploaded_packages(), 1);
    assert_eq!(
        emu.log()
            .count("PUT", "/api/s3/buckets/ferry.package.upload/"),
        1
    );
}

#[tokio::test]
async fn a_large_package_is_uploaded_in_parts() {
    let emu = emulator(seeded(1)).await;
    let mut conn = connection(&emu);
    conn.single_put_limit = 64 * 1024;
    conn.part_size = 64 * 1024;
    let c = PreservicaClient::new(conn).unwrap();
    let image: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    upload_and_find(&emu, &c, &image, true).await;
    assert!(
        emu.log().count("PUT", "/api/s3/buckets/") >= 4,
        "several parts"
    );
    assert_eq!(
        emu.log().count("POST", "/api/s3/buckets/"),
        2,
        "initiate and complete"
    );
}

#[tokio::test]
async fn a_failed_ingest_is_reported_with_the_monitor_reason() {
    let emu = emulator(seeded(1)).await;
    let c = client(&emu);
    let dir = tempfile::tempdir().unwrap();
    let not_a_zip = dir.path().join("bad.zip");
    std::fs::write(&not_a_zip, b"this is not a zip").unwrap();
    let target = emu.folder_refs(None)[0].clone();
    c.upload_package(&not_a_zip, &target).await.unwrap();
    let e = c
        .wait_for_ingest(&["never".to_string()], Duration::from_secs(10))
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("failed: the package is not valid OPEX"),
        "{msg}"
    );
}
