//! Logins of both versions, OAuth bearer tokens, organisation selection, expiry and the
//! errors of bad credentials.

use super::*;
use ferry::config::Secret;
use ferry::emulate::FaultOptions;
use ferry::photoshelter::client::{AuthMethod, PhotoShelterError, Scope};
use ferry::photoshelter::emulator::Override;
use std::time::Duration;

#[tokio::test]
async fn v4_login_selects_the_organisation_and_says_who_we_are() {
    bounded(async {
        let emu = start(options(10)).await;
        let c = client(&emu);
        let info = c.login().await.unwrap();
        assert_eq!(info.auth, AuthMethod::Password);
        assert_eq!(info.api, "v4.0");
        assert_eq!(info.user_id.as_deref(), Some(emu.user_id().as_str()));
        assert_eq!(info.email.as_deref(), Some("demo@ferry.example"));
        let orgs: Vec<&str> = info.orgs.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(orgs, emu.org_ids());
        assert_eq!(info.org_id.as_deref(), Some("O0000FerryDemo01"));
        let log = emu.log();
        assert_eq!(log.count("POST", "/psapi/v4.0/authenticate"), 1);
        assert_eq!(
            log.count("POST", "/psapi/v4.0/organization/authenticate"),
            1
        );
        // The selected organisation's media are visible.
        let page = c.list_page(1).await.unwrap();
        assert_eq!(page.total, Some(10));
    })
    .await
}

#[tokio::test]
async fn v3_login_uses_the_v3_key_and_selects_the_organisation() {
    bounded(async {
        let mut o = options(3);
        o.api_key_v3 = "v3only.key1".into();
        let emu = start(o).await;
        let c = client(&emu);
        let info = c.login_v3().await.unwrap();
        assert_eq!(info.api, "v3");
        assert_eq!(info.user_id.as_deref(), Some(emu.user_id().as_str()));
        assert_eq!(info.orgs.len(), 2);
        let log = emu.log();
        assert_eq!(log.count("POST", "/psapi/v3/mem/authenticate"), 1);
        assert_eq!(
            log.count(
                "GET",
                "/psapi/v3/mem/organization/O0000FerryDemo01/authenticate"
            ),
            1
        );
        // The v3 key is what v3 calls carry.
        let captured = emu.captured();
        let login = captured
            .iter()
            .find(|r| r.path == "/psapi/v3/mem/authenticate")
            .unwrap();
        assert_eq!(login.header("x-ps-api-key"), Some("v3only.key1"));
    })
    .await
}

#[tokio::test]
async fn without_a_separate_v3_key_the_v4_key_is_used_for_v3() {
    bounded(async {
        let mut o = options(1);
        o.api_key_v3 = o.api_key_v4.clone();
        let emu = start(o).await;
        let mut cfg = config(&emu);
        cfg.api_key_v3 = None;
        let info = client_for(&cfg).login_v3().await.unwrap();
        assert!(info.user_id.is_some());
    })
    .await
}

#[tokio::test]
async fn an_oauth_token_is_sent_as_bearer_to_both_versions() {
    bounded(async {
        let emu = start(options(5)).await;
        let mut cfg = config(&emu);
        cfg.password = None;
        cfg.oauth_token = Some(Secret::new(emu.options().oauth_token.clone().unwrap()));
        let c = client_for(&cfg);
        let info = c.login().await.unwrap();
        assert_eq!(info.auth, AuthMethod::OAuth);
        assert_eq!(c.list_all(&Scope::Account).await.unwrap().media.len(), 5);
        assert_eq!(c.login_v3().await.unwrap().user_id, info.user_id);
        // No password login happened; every call carried the Bearer token.
        assert_eq!(
            emu.log().count("POST", "authenticate") - emu.log().count("POST", "organization"),
            0
        );
        for r in emu.captured() {
            assert!(
                r.header("authorization")
                    .is_some_and(|a| a.starts_with("Bearer ")),
                "{} {} has no Bearer token",
                r.method,
                r.path
            );
            assert!(r.header("x-ps-auth-token").is_none());
        }
        // Expiring password sessions does not touch it.
        emu.expire_tokens();
        c.list_page(1).await.unwrap();
    })
    .await
}

#[tokio::test]
async fn a_bad_oauth_token_fails_clearly_without_retrying_forever() {
    bounded(async {
        let emu = start(options(1)).await;
        let mut cfg = config(&emu);
        cfg.password = None;
        cfg.oauth_token = Some(Secret::new("not-a-valid-oauth-token"));
        let e = client_for(&cfg).list_page(1).await.unwrap_err();
        let text = error_text(&emu, &e);
        assert!(!text.contains("not-a-valid-oauth-token"), "{text}");
        assert!(
            matches!(e, PhotoShelterError::Unauthorized { status: 401, .. }),
            "{text}"
        );
        assert!(text.contains("OAuth token"), "{text}");
    })
    .await
}

#[tokio::test]
async fn another_organisation_or_none_sees_other_content() {
    bounded(async {
        let emu = start(options(20)).await;
        let mut cfg = config(&emu);
        cfg.org_id = Some("O0000OtherOrg001".into());
        let other = client_for(&cfg).list_all(&Scope::Account).await.unwrap();
        assert!(other.media.is_empty() && other.galleries.is_empty());

        cfg.org_id = None;
        let none = client_for(&cfg);
        assert!(
            none.list_all(&Scope::Account)
                .await
                .unwrap()
                .media
                .is_empty()
        );
        // Without an organisation, search is scoped by the user.
        assert_eq!(none.list_page(1).await.unwrap().total, Some(0));
        assert!(emu.captured().iter().any(|r| {
            r.query
                .as_deref()
                .is_some_and(|q| q.contains(&format!("user_id={}", emu.user_id())))
        }));

        cfg.org_id = Some("O0000FerryDemo01".into());
        assert_eq!(
            client_for(&cfg)
                .list_all(&Scope::Account)
                .await
                .unwrap()
                .media
                .len(),
            20
        );
    })
    .await
}

#[tokio::test]
async fn an_organisation_the_user_is_not_in_is_refused_by_name() {
    bounded(async {
        let emu = start(options(1)).await;
        let mut cfg = config(&emu);
        cfg.org_id = Some("O0000NotMine0001".into());
        let e = client_for(&cfg).login().await.unwrap_err();
        let text = error_text(&emu, &e);
        assert!(text.contains("O0000NotMine0001"), "{text}");
        assert!(text.contains("O0000FerryDemo01"), "{text}");
    })
    .await
}

#[tokio::test]
async fn a_wrong_api_key_is_a_403_api_key_error_without_the_key() {
    bounded(async {
        let emu = start(options(1)).await;
        let mut cfg = config(&emu);
        cfg.api_key = Some(Secret::new("WrongKey.99"));
        let e = client_for(&cfg).login().await.unwrap_err();
        let text = error_text(&emu, &e);
        assert!(
            matches!(e, PhotoShelterError::ApiKey { status: 403, .. }),
            "{text}"
        );
        assert!(!text.contains("WrongKey.99"), "{text}");
        assert!(text.contains("/psapi/v4.0/authenticate"), "{text}");
        assert!(text.contains("ApiKeyInvalidException"), "{text}");
    })
    .await
}

#[tokio::test]
async fn a_wrong_password_is_a_login_error_naming_the_url_not_the_password() {
    bounded(async {
        let emu = start(options(1)).await;
        let mut cfg = config(&emu);
        cfg.password = Some(Secret::new("hunter2-wrong"));
        for v3 in [false, true] {
            let c = client_for(&cfg);
            let e = if v3 {
                c.login_v3().await.unwrap_err()
            } else {
                c.login().await.unwrap_err()
            };
            let text = error_text(&emu, &e);
            assert!(!text.contains("hunter2-wrong"), "{text}");
            assert!(
                matches!(e, PhotoShelterError::Login { status: 401, .. }),
                "{text}"
            );
            assert!(text.contains("/mem/authenticate") == v3, "{text}");
        }
    })
    .await
}

#[tokio::test]
async fn missing_credentials_are_config_errors() {
    let emu = start(options(0)).await;
    let mut cfg = config(&emu);
    cfg.api_key = None;
    let e = PhotoShelterClient::new(&cfg).unwrap_err();
    assert!(e.to_string().contains("FERRY_PHOTOSHELTER_API_KEY"), "{e}");
    let mut cfg = config(&emu);
    cfg.password = None;
    let e = PhotoShelterClient::new(&cfg).unwrap_err();
    assert!(e.to_string().contains("FERRY_PHOTOSHELTER_PASSWORD"), "{e}");
}

#[tokio::test]
async fn an_expired_session_is_renewed_once_and_the_org_selected_again() {
    bounded(async {
        let emu = start(options(5)).await;
        let c = client(&emu);
        let id = emu.media_ids()[0].clone();
        c.read_record(&id).await.unwrap();
        emu.expire_tokens();
        assert_eq!(emu.session_count(), 0);
        let rec = c.read_record(&id).await.unwrap();
        assert_eq!(Some(rec), emu.record(&id));
        let log = emu.log();
        assert_eq!(log.count("POST", "/psapi/v4.0/authenticate"), 2);
        assert_eq!(
            log.count("POST", "/psapi/v4.0/organization/authenticate"),
            2
        );
        // One refusal per session: v4's, and v3's (which the licence record is read through).
        assert_eq!(log.entries().iter().filter(|e| e.status == 401).count(), 2);
    })
    .await
}

#[tokio::test]
async fn idle_sessions_expire_after_the_configured_lifetime() {
    bounded(async {
        let mut o = options(2);
        o.token_idle = Duration::from_millis(50);
        let emu = start(o).await;
        let c = client(&emu);
        c.list_page(1).await.unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
        c.list_page(1).await.unwrap();
        assert_eq!(emu.log().count("POST", "/psapi/v4.0/authenticate"), 2);
    })
    .await
}

#[tokio::test]
async fn a_session_refused_every_time_fails_after_a_few_renewals() {
    bounded(async {
        let emu = start(options(2)).await;
        let c = client(&emu);
        let id = emu.media_ids()[0].clone();
        emu.override_response(Override {
            method: Some("GET".into()),
            path: format!("/psapi/v4.0/media/{id}"),
            status: 401,
            content_type: "application/json".into(),
            body: r#"{"errors":[{"id":"AcsPermissionException","status":"401","title":"Session expired"}]}"#.into(),
            // Refused on the first try and after each of the three renewals.
            times: 4,
        });
        let e = c.read_record(&id).await.unwrap_err();
        let text = error_text(&emu, &e);
        assert!(matches!(e, PhotoShelterError::Unauthorized { .. }), "{text}");
        assert!(text.contains("even after logging in again"), "{text}");
        assert!(text.contains(&format!("/psapi/v4.0/media/{id}")), "{text}");
        assert_eq!(emu.log().count("POST", "/psapi/v4.0/authenticate"), 4);
    })
    .await
}

#[tokio::test]
async fn a_v3_session_error_class_also_triggers_a_renewal() {
    bounded(async {
        let emu = start(options(3)).await;
        let c = client(&emu);
        let g = emu.gallery_ids()[0].clone();
        c.login_v3().await.unwrap();
        emu.override_response(Override {
            method: Some("POST".into()),
            path: format!("/psapi/v3/mem/gallery/{g}/visibility/update"),
            status: 200,
            content_type: "application/json".into(),
            body: r#"{"status":"error","error":{"class":"SessionRequiredErr","message":"log in"}}"#
                .into(),
            times: 1,
        });
        c.set_visibility(
            ferry::photoshelter::client::ContainerKind::Gallery,
            &g,
            ferry::photoshelter::wire::Visibility::Private,
        )
        .await
        .unwrap();
        assert_eq!(emu.log().count("POST", "/psapi/v3/mem/authenticate"), 2);
    })
    .await
}

#[tokio::test]
async fn login_paths_are_exempt_from_faults_when_asked() {
    bounded(async {
        let mut o = options(1);
        o.faults = FaultOptions {
            unavailable_share: 1.0,
            exempt_prefixes: vec![
                "/psapi/v4.0/authenticate".into(),
                "/psapi/v4.0/organization".into(),
            ],
            seed: 3,
            ..FaultOptions::default()
        };
        let emu = start(o).await;
        let mut cfg = config(&emu);
        cfg.concurrency = 1;
        let c = PhotoShelterClient::with_http_options(
            &cfg,
            ferry::http::HttpOptions {
                max_retries: 1,
                ..fast_http(1)
            },
        )
        .unwrap();
        let e = c.list_page(1).await.unwrap_err();
        let text = error_text(&emu, &e);
        assert!(text.contains("/psapi/v4.0/media"), "{text}");
        assert_eq!(emu.log().count("POST", "/psapi/v4.0/authenticate"), 1);
    })
    .await
}
