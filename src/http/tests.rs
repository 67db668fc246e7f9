//! Unit tests of the HTTP layer.

use super::*;
use reqwest::header::RETRY_AFTER;

#[test]
fn credentials_in_query_strings_are_redacted() {
    let u = url::Url::parse(
        "https://x.example/psapi/v3/mem/authenticate?api_key=K123&email=a%40b&password=pw&auth_token=t",
    )
    .unwrap();
    let r = redact_url(&u);
    assert!(!r.contains("K123") && !r.contains("=pw") && !r.contains("=t&") && !r.ends_with("=t"));
    assert!(r.contains("email=a%40b"));
}

#[test]
fn retry_after_reads_seconds_and_dates() {
    let mut h = HeaderMap::new();
    h.insert(RETRY_AFTER, "3".parse().unwrap());
    assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
    h.insert(
        RETRY_AFTER,
        "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
    );
    assert_eq!(retry_after(&h), Some(Duration::ZERO));
}

#[test]
fn backoff_grows_and_is_capped() {
    let c = HttpClient::new(
        System::Preservica,
        "https://eu.preservica.com",
        HttpOptions::default(),
    )
    .unwrap();
    for attempt in 0..30 {
        let d = c.backoff(attempt);
        assert!(d <= Duration::from_secs(10));
    }
    assert!(c.backoff(0) <= Duration::from_millis(200));
}

#[test]
fn plain_http_is_for_this_machine_unless_allowed() {
    let t = |u: &str, allow| Transport::of(&Url::parse(u).unwrap(), allow);
    assert_eq!(t("https://eu.preservica.com", false), Transport::Tls);
    for local in [
        "http://127.0.0.1:8080",
        "http://127.3.2.1",
        "http://[::1]:9000",
        "http://localhost:80",
        "http://LOCALHOST.",
    ] {
        assert_eq!(t(local, false), Transport::LoopbackHttp, "{local}");
    }
    for remote in [
        "http://eu.preservica.com",
        "http://10.0.0.1",
        "http://128.0.0.1",
        "http://localhost.example.org",
        "http://[::2]",
    ] {
        assert_eq!(t(remote, false), Transport::InsecureRefused, "{remote}");
        assert_eq!(t(remote, true), Transport::InsecureAllowed, "{remote}");
    }
}

#[test]
fn a_client_for_plain_http_to_another_host_is_refused_without_sending() {
    let e = HttpClient::new(
        System::PhotoShelter,
        "http://www.photoshelter.example",
        HttpOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, HttpError::InsecureHttp { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("http://www.photoshelter.example/")
            && text.contains("allow_insecure_http = true in [photoshelter]"),
        "{text}"
    );
    let allowed = HttpOptions {
        allow_insecure_http: true,
        ..HttpOptions::default()
    };
    HttpClient::new(
        System::PhotoShelter,
        "http://www.photoshelter.example",
        allowed,
    )
    .unwrap();
}

#[test]
fn sizes_and_waits_read_as_people_write_them() {
    assert_eq!(ByteSize(16 * MIB).to_string(), "16 MiB");
    assert_eq!(ByteSize(512 * 1024).to_string(), "512 KiB");
    assert_eq!(ByteSize(1000).to_string(), "1000 bytes");
    assert_eq!(ByteSize(10 * MIB + MIB / 10).to_string(), "10.1 MiB");
    assert_eq!(Wait(Duration::from_secs(60)).to_string(), "60 s");
    assert_eq!(Wait(Duration::from_millis(300)).to_string(), "300 ms");
    assert_eq!(Wait(Duration::from_millis(1500)).to_string(), "1.5 s");
}

#[test]
fn a_file_may_pass_its_size_by_a_margin_only() {
    assert_eq!(file_margin(0), 64 * 1024);
    assert_eq!(file_margin(1000 * MIB), 10 * MIB);
}
