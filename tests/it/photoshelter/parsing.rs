//! Lenient parsing where PhotoShelter is loose, clear errors where an answer is wrong, and no
//! credential in any error or log line.

use super::*;
use ferry::photoshelter::client::{ContainerKind, PhotoShelterError, Scope};
use ferry::photoshelter::emulator::{Override, Quirks};
use serde_json::json;

#[tokio::test]
async fn numbers_as_strings_and_t_f_booleans_are_read() {
    bounded(async {
        let mut o = options(260);
        o.quirks = Quirks {
            string_scalars: true,
            org_as_object: true,
            ..Quirks::default()
        };
        let emu = start(o).await;
        let c = client_with(
            &emu,
            ClientOptions {
                page_size: 50,
                ..ClientOptions::default()
            },
        );
        let info = c.login().await.unwrap();
        assert_eq!(info.orgs.len(), 2);
        assert_eq!(info.orgs[0].member, Some(true));
        let info3 = c.login_v3().await.unwrap();
        assert_eq!(info3.orgs.len(), 1, "one org as an object");
        // Totals arrive as strings and still end the paging.
        let listing = c.list_all(&Scope::Account).await.unwrap();
        assert_eq!(listing.media.len(), 260);
        let id = &listing.media[0].id;
        let rec = c.read_record(id).await.unwrap();
        assert_eq!(
            rec.attributes["model_released"].as_str().map(|s| s.len()),
            Some(1)
        );
        assert_eq!(
            rec.file_size,
            Some(emu.media_bytes(id).unwrap().len() as u64)
        );
        assert_eq!(Some(&rec), emu.record(id).as_ref());
        let g = c
            .container(ContainerKind::Gallery, &emu.gallery_ids()[0])
            .await
            .unwrap();
        assert!(g.listed.is_some());
        c.set_releases(id, Some(true), Some(true)).await.unwrap();
        assert_eq!(
            emu.record(id).unwrap().attributes["model_released"],
            json!("t")
        );
        let page = c.list_page(2).await.unwrap();
        assert_eq!(page.total, Some(260));
        assert_eq!(page.media.len(), 50);
    })
    .await
}

fn json_override(path: String, status: u16, body: &str) -> Override {
    Override {
        method: Some("GET".into()),
        path,
        status,
        content_type: "application/json".into(),
        body: body.into(),
        times: 1,
    }
}

#[tokio::test]
async fn malformed_answers_are_clear_errors_naming_the_url() {
    bounded(async {
        let emu = start(options(30)).await;
        let c = client(&emu);
        let id = emu.media_ids()[0].clone();
        let media_path = format!("/psapi/v4.0/media/{id}");

        // Not JSON every time: a GET whose answer is cut short is fetched again (within the
        // retry budget: the retries and the first fetch) before it is an error.
        let fetches = crate::photoshelter::fast_http(1).max_retries.max(2) + 1;
        emu.override_response(Override {
            times: fetches as usize,
            ..json_override(media_path.clone(), 200, r#"{"data": {"id": "#)
        });
        let e = c.read_record(&id).await.unwrap_err();
        let text = error_text(&emu, &e);
        assert!(matches!(e, PhotoShelterError::Malformed { .. }), "{text}");
        assert!(text.contains(&media_path) && text.contains("not JSON"), "{text}");

        emu.override_response(json_override(media_path.clone(), 200, r#"{"data": "I0000AbCdEfGhIjK"}"#));
        let text = error_text(&emu, &c.read_record(&id).await.unwrap_err());
        assert!(text.contains("`data` is not an object"), "{text}");

        emu.override_response(json_override(media_path.clone(), 200, r#"{"meta": {}}"#));
        let text = error_text(&emu, &c.read_record(&id).await.unwrap_err());
        assert!(text.contains("no `data`"), "{text}");

        emu.override_response(json_override(
            media_path.clone(),
            200,
            &json!({"data": {"id": id, "type": "image", "attributes": {"file_size": "12kB"}}}).to_string(),
        ));
        let text = error_text(&emu, &c.read_record(&id).await.unwrap_err());
        assert!(text.contains("file_size") && text.contains("12kB"), "{text}");

        emu.override_response(json_override(
            media_path.clone(),
            200,
            &json!({"data": {"id": id, "type": "image", "attributes": {"modified_at": "last Tuesday"}}}).to_string(),
        ));
        let text = error_text(&emu, &c.read_record(&id).await.unwrap_err());
        assert!(text.contains("modified_at") && text.contains("last Tuesday"), "{text}");

        emu.override_response(Override {
            content_type: "text/html".into(),
            ..json_override(media_path.clone(), 404, "<html><body>Not Found</body></html>")
        });
        let e = c.read_record(&id).await.unwrap_err();
        let text = error_text(&emu, &e);
        assert!(matches!(e, PhotoShelterError::NotFound { .. }), "{text}");
        assert!(text.contains("Not Found"), "{text}");

        emu.override_response(json_override(
            media_path.clone(),
            500,
            r#"{"errors":[{"id":"InternalException","status":"500","title":"Boom"}]}"#,
        ));
        let e = c.read_record(&id).await.unwrap_err();
        let text = error_text(&emu, &e);
        assert_eq!(e.status(), Some(500), "{text}");
        assert!(text.contains("InternalException: Boom"), "{text}");

        // The next read is fine again.
        assert_eq!(c.read_record(&id).await.unwrap(), emu.record(&id).unwrap());
    })
    .await
}

#[tokio::test]
async fn ids_in_a_listing_are_opaque_but_an_unusable_one_is_an_error() {
    bounded(async {
        let emu = start(options(30)).await;
        let c = client(&emu);
        let g = emu.gallery_ids()[0].clone();
        let path = format!("/psapi/v4.0/galleries/{g}/children");
        // An odd shape (even one that looks like a path) is an id like any other ...
        emu.override_response(json_override(
            path.clone(),
            200,
            r#"{"data":[{"id":"I0000AbCdEfGhIjK","type":"image"},{"id":"../../admin","type":"image"}],"meta":{"paging":{"total":2}}}"#,
        ));
        let listing = c.list_all(&Scope::Galleries(vec![g.clone()])).await.unwrap();
        let ids: Vec<&str> = listing.media.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["I0000AbCdEfGhIjK", "../../admin"]);
        // ... and travels as one encoded path segment, never as path steps.
        let e = c.read_record("../../admin").await.unwrap_err();
        assert!(matches!(e, PhotoShelterError::NotFound { .. }), "{e}");
        assert!(
            emu.log().entries().iter().any(|r| r.path == "/psapi/v4.0/media/..%2F..%2Fadmin"),
            "{:?}",
            emu.log().entries().iter().map(|r| r.path.clone()).collect::<Vec<_>>()
        );
        // An id that cannot be carried (a control character) stops the listing, named.
        emu.override_response(json_override(
            path.clone(),
            200,
            r#"{"data":[{"id":"I0000Ab\u0000dEfGhIjK","type":"image"}],"meta":{"paging":{"total":1}}}"#,
        ));
        let e = c.list_all(&Scope::Galleries(vec![g.clone()])).await.unwrap_err();
        let text = error_text(&emu, &e);
        assert!(matches!(e, PhotoShelterError::BadId { .. }), "{text}");
        assert!(text.contains("U+0000") && text.contains(&path), "{text}");

        emu.override_response(json_override(
            path.clone(),
            200,
            r#"{"data":{"id":"I0000AbCdEfGhIjK"}}"#,
        ));
        let text = error_text(&emu, &c.list_all(&Scope::Galleries(vec![g.clone()])).await.unwrap_err());
        assert!(text.contains("`data` is not a list"), "{text}");

        // A listing that ends before its total stops the run rather than looking complete.
        emu.override_response(json_override(
            path.clone(),
            200,
            r#"{"data":[],"meta":{"paging":{"total":"30"}}}"#,
        ));
        let e = c.list_all(&Scope::Galleries(vec![g.clone()])).await.unwrap_err();
        let text = error_text(&emu, &e);
        assert!(matches!(e, PhotoShelterError::Listing { .. }), "{text}");

        // A container of an unknown type cannot be walked.
        emu.override_response(json_override(
            "/psapi/v4.0/library".into(),
            200,
            r#"{"data":[{"id":"W0000AbCdEfGhIjK","type":"workspace"}],"meta":{"paging":{"total":1}}}"#,
        ));
        let text = error_text(&emu, &c.list_all(&Scope::Account).await.unwrap_err());
        assert!(text.contains("workspace"), "{text}");
    })
    .await
}

#[tokio::test]
async fn a_server_repeating_a_page_is_caught() {
    bounded(async {
        let emu = start(options(30)).await;
        let c = client_with(
            &emu,
            ClientOptions {
                page_size: 2,
                ..ClientOptions::default()
            },
        );
        let g = emu.gallery_ids()[0].clone();
        let body = r#"{"data":[{"id":"I0000AbCdEfGhIjK","type":"image"},{"id":"I0000AbCdEfGhIjL","type":"image"}],"meta":{}}"#;
        emu.override_response(Override {
            times: 5,
            ..json_override(format!("/psapi/v4.0/galleries/{g}/children"), 200, body)
        });
        let e = c.list_all(&Scope::Galleries(vec![g])).await.unwrap_err();
        let text = error_text(&emu, &e);
        assert!(text.contains("repeats the page before it"), "{text}");
    })
    .await
}

/// Runs in a child process of this test binary (a process-wide subscriber; thread-local ones
/// race with the other tests' threads over tracing's callsite cache).
#[test]
fn no_credential_reaches_the_logs() {
    const CHILD: &str = "FERRY_PS_LOG_CHILD";
    const NAME: &str = "photoshelter::parsing::no_credential_reaches_the_logs";
    if std::env::var_os(CHILD).is_some() {
        return logs_child();
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("log check done"),
        "the child failed:\n{stdout}\n{stderr}"
    );
}

fn logs_child() {
    let buf = capture_logs_globally();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bounded(async {
        let emu = start(options(40)).await;
        let c = client(&emu);
        c.login().await.unwrap();
        c.login_v3().await.unwrap();
        let listing = c.list_all(&Scope::Account).await.unwrap();
        let id = listing.media[0].id.clone();
        c.read_record(&id).await.unwrap();
        c.write_probe(&id).await.unwrap();
        emu.expire_tokens();
        c.download(&id, None).await.unwrap().bytes().await.unwrap();
        let _ = c.read_record("I0000NoSuchOne01").await.unwrap_err();
        let mut bad = config(&emu);
        bad.password = Some(ferry::config::Secret::new("wrong-password-xyz"));
        let _ = client_for(&bad).login().await.unwrap_err();
        let logs = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        assert!(
            logs.contains("photoshelter.request"),
            "spans are logged: {logs}"
        );
        assert!(logs.contains("logging in again"), "{logs}");
        assert!(logs.contains("PhotoShelter emulator listening"), "{logs}");
        assert_no_secrets(&emu, &logs);
        assert!(!logs.contains("wrong-password-xyz"));
        // And the client's own Debug shows none either.
        assert_no_secrets(&emu, &format!("{c:?}"));
    }));
    println!("log check done");
}
