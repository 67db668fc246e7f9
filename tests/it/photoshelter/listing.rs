//! Full listings with paging, scoped listings, incremental listings, and listings under
//! token expiry and injected 429/5xx.

use super::*;
use chrono::{DateTime, TimeZone, Utc};
use ferry::clock::Clock;
use ferry::emulate::FaultOptions;
use ferry::photoshelter::client::{ChangeMethod, Scope};
use ferry::photoshelter::emulator::{ModifyFilter, Quirks, RateLimit};
use std::collections::BTreeSet;

fn paged(page_size: usize) -> ClientOptions {
    ClientOptions {
        page_size,
        ..ClientOptions::default()
    }
}

#[tokio::test]
async fn all_media_of_2100_in_several_galleries_are_listed_across_pages() {
    bounded(async {
        let emu = start(options(2100)).await;
        let c = client_with(&emu, paged(100));
        let listing = c.list_all(&Scope::Account).await.unwrap();
        let listed: BTreeSet<String> = listing.media.iter().map(|m| m.id.clone()).collect();
        let all: BTreeSet<String> = emu.media_ids().into_iter().collect();
        assert_eq!(listing.media.len(), 2100, "each media once");
        assert_eq!(listed, all);
        // 9 seeded galleries of up to 250, plus the empty one.
        assert_eq!(listing.galleries.len(), 10);
        let mut expect_galleries = emu.gallery_ids();
        expect_galleries.sort();
        let mut got = listing.galleries.clone();
        got.sort();
        assert_eq!(got, expect_galleries);
        assert_eq!(listing.collections.len(), emu.collection_ids().len());
        // The media shared by two galleries name both.
        assert_eq!(
            listing
                .media
                .iter()
                .filter(|m| m.galleries.len() == 2)
                .count(),
            3
        );
        // Paging really happened: 250 media at 100 a page is 3 pages per full gallery.
        let pages = emu
            .log()
            .entries()
            .iter()
            .filter(|e| e.path.ends_with("/children") && e.path.contains("/galleries/"))
            .count();
        assert!(pages >= 9 * 3, "{pages} gallery pages");
        // Kinds come through.
        assert!(
            listing
                .media
                .iter()
                .any(|m| m.kind == ferry::photoshelter::wire::MediaKind::Video)
        );
    })
    .await
}

#[tokio::test]
async fn a_server_that_gives_fewer_per_page_than_asked_is_paged_by_its_totals() {
    bounded(async {
        let mut o = options(600);
        o.quirks = Quirks {
            max_per_page: 40,
            ..Quirks::default()
        };
        let emu = start(o).await;
        let listing = client_with(&emu, paged(500))
            .list_all(&Scope::Account)
            .await
            .unwrap();
        assert_eq!(listing.media.len(), 600);
    })
    .await
}

#[tokio::test]
async fn chosen_galleries_and_collections_are_listed_with_what_is_under_them() {
    bounded(async {
        let mut o = options(1200);
        o.galleries_per_collection = 2;
        let emu = start(o).await;
        let c = client_with(&emu, paged(70));
        let g = emu.gallery_ids()[2].clone();
        let listing = c
            .list_all(&Scope::Galleries(vec![g.clone()]))
            .await
            .unwrap();
        let ids: Vec<String> = listing.media.iter().map(|m| m.id.clone()).collect();
        assert_eq!(ids, emu.gallery_media(&g).unwrap(), "in display order");

        // A top-level collection with a nested one: everything under both.
        let top: Vec<String> = emu
            .children(None)
            .into_iter()
            .filter(|(is_col, _)| *is_col)
            .map(|(_, id)| id)
            .collect();
        let col = top[0].clone();
        let mut expect = BTreeSet::new();
        let mut stack = vec![col.clone()];
        while let Some(c) = stack.pop() {
            for (is_col, id) in emu.children(Some(&c)) {
                if is_col {
                    stack.push(id);
                } else {
                    expect.extend(emu.gallery_media(&id).unwrap());
                }
            }
        }
        let listing = c.list_all(&Scope::Collections(vec![col])).await.unwrap();
        assert!(
            listing.collections.len() >= 2,
            "the nested collection was walked"
        );
        let got: BTreeSet<String> = listing.media.iter().map(|m| m.id.clone()).collect();
        assert_eq!(got, expect);
    })
    .await
}

#[tokio::test]
async fn an_empty_account_lists_nothing_without_error() {
    bounded(async {
        let emu = start(options(0)).await;
        let c = client(&emu);
        let l = c.list_all(&Scope::Account).await.unwrap();
        assert!(l.media.is_empty());
        assert_eq!(c.list_page(1).await.unwrap().total, Some(0));
    })
    .await
}

#[tokio::test]
async fn a_token_expiring_mid_listing_is_renewed_and_the_listing_completes() {
    bounded(async {
        let emu = start(options(1500)).await;
        let c = client_with(&emu, paged(100));
        c.login().await.unwrap();
        // After 12 more calls the session dies, in the middle of the gallery pages.
        emu.expire_tokens_after(12);
        let listing = c.list_all(&Scope::Account).await.unwrap();
        assert_eq!(listing.media.len(), 1500);
        let log = emu.log();
        assert_eq!(log.count("POST", "/psapi/v4.0/authenticate"), 2);
        assert!(log.entries().iter().any(|e| e.status == 401));
    })
    .await
}

#[tokio::test]
async fn injected_429_and_5xx_are_retried_and_the_results_are_complete() {
    bounded(async {
        let mut o = options(800);
        o.faults = FaultOptions {
            throttle_share: 0.15,
            retry_after_secs: 0,
            unavailable_share: 0.1,
            seed: 42,
            exempt_prefixes: vec![
                "/psapi/v4.0/authenticate".into(),
                "/psapi/v4.0/organization".into(),
            ],
            ..FaultOptions::default()
        };
        let emu = start(o).await;
        let c = client_with(&emu, paged(100));
        let listing = c.list_all(&Scope::Account).await.unwrap();
        assert_eq!(listing.media.len(), 800);
        let ids: Vec<String> = listing
            .media
            .iter()
            .take(30)
            .map(|m| m.id.clone())
            .collect();
        for (id, r) in c.read_records(&ids).await {
            assert_eq!(r.unwrap(), emu.record(&id).unwrap());
        }
        let counts = c.request_counts();
        assert!(
            counts.throttled > 0 && counts.server_errors > 0,
            "{counts:?}"
        );
        assert!(counts.retries >= counts.throttled, "{counts:?}");
        assert!(
            emu.log()
                .entries()
                .iter()
                .any(|e| e.injected && e.status == 429)
        );
        // Faults can change mid-test: none now.
        emu.faults().set(FaultOptions::default());
        let before = c.request_counts().retries;
        c.list_page(1).await.unwrap();
        assert_eq!(c.request_counts().retries, before);
    })
    .await
}

#[tokio::test]
async fn the_servers_own_rate_limit_is_waited_out() {
    bounded(async {
        let mut o = options(300);
        o.rate_limit = Some(RateLimit {
            requests: 12,
            window: std::time::Duration::from_millis(800),
        });
        let emu = start(o).await;
        let c = client_with(&emu, paged(50));
        let listing = c.list_all(&Scope::Account).await.unwrap();
        assert_eq!(listing.media.len(), 300);
        let ids: Vec<String> = listing.media.iter().take(6).map(|m| m.id.clone()).collect();
        for (id, r) in c.read_records(&ids).await {
            assert_eq!(r.unwrap(), emu.record(&id).unwrap());
        }
        assert!(c.request_counts().throttled > 0, "{:?}", c.request_counts());
        // The throttling answer is PhotoShelter's, not a proxy's.
        let throttled = emu
            .log()
            .entries()
            .into_iter()
            .find(|e| e.status == 429)
            .unwrap();
        assert!(!throttled.injected);
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Incremental

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).single().unwrap()
}

/// An emulator whose clock stands at 2025-06-01 12:00, with 37 media edited then, and one
/// edited just before the cursor (inside the query's overlap but not after the cursor).
async fn edited(filter: ModifyFilter) -> (PhotoShelterEmulator, BTreeSet<String>) {
    let mut o = options(1100);
    o.clock = Clock::fixed(at(2025, 6, 1, 12));
    o.quirks = Quirks {
        modify_filter: filter,
        ..Quirks::default()
    };
    let emu = start(o).await;
    let ids = emu.media_ids();
    let mut changed = BTreeSet::new();
    for id in ids.iter().step_by(29).take(37) {
        assert!(emu.set_iptc(id, "caption", Some("edited after the cursor")));
        changed.insert(id.clone());
    }
    emu.set_modified_at(&ids[1], at(2025, 4, 30, 23));
    (emu, changed)
}

fn incremental_client(emu: &PhotoShelterEmulator) -> PhotoShelterClient {
    client_with(
        emu,
        ClientOptions {
            page_size: 100,
            clock: Clock::fixed(at(2025, 6, 1, 13)),
            ..ClientOptions::default()
        },
    )
}

#[tokio::test]
async fn incremental_listing_finds_exactly_the_media_changed_after_the_cursor() {
    bounded(async {
        let (emu, changed) = edited(ModifyFilter::Honoured).await;
        let c = incremental_client(&emu);
        let cursor = at(2025, 5, 1, 0);
        let got = c.list_changed(cursor, &Scope::Account).await.unwrap();
        assert_eq!(got.method, ChangeMethod::ModifyFilter);
        let ids: BTreeSet<String> = got.media.iter().map(|m| m.id.clone()).collect();
        assert_eq!(ids, changed);
        assert_eq!(got.next_cursor, at(2025, 6, 1, 12));
        // The query started a day early, by day, sorted by upload time.
        let q = emu
            .captured()
            .into_iter()
            .find(|r| r.path == "/psapi/v4.0/media")
            .and_then(|r| r.query)
            .unwrap();
        assert!(q.contains("modify_start=2025-04-30"), "{q}");
        assert!(q.contains("org_id=O0000FerryDemo01"), "{q}");

        // From the next cursor, only what changes later.
        let next = c
            .list_changed(got.next_cursor, &Scope::Account)
            .await
            .unwrap();
        let again: BTreeSet<String> = next.media.iter().map(|m| m.id.clone()).collect();
        assert_eq!(
            again, changed,
            "changes at the cursor itself are listed again, never lost"
        );
        emu.set_modified_at(
            &emu.media_ids()[5],
            at(2025, 6, 1, 12) + chrono::Duration::seconds(30),
        );
        let later = c
            .list_changed(
                at(2025, 6, 1, 12) + chrono::Duration::seconds(1),
                &Scope::Account,
            )
            .await
            .unwrap();
        assert_eq!(
            later.media.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
            vec![emu.media_ids()[5].clone()]
        );
    })
    .await
}

#[tokio::test]
async fn a_tenant_that_ignores_modify_start_gets_the_sorted_fallback() {
    bounded(async {
        let (emu, changed) = edited(ModifyFilter::Ignored).await;
        let c = incremental_client(&emu);
        let got = c
            .list_changed(at(2025, 5, 1, 0), &Scope::Account)
            .await
            .unwrap();
        assert_eq!(got.method, ChangeMethod::SortedFallback);
        let ids: BTreeSet<String> = got.media.iter().map(|m| m.id.clone()).collect();
        assert_eq!(ids, changed);
        assert_eq!(got.next_cursor, at(2025, 6, 1, 12));
        // It stopped at the cursor instead of reading every media item.
        let media_reads = emu
            .log()
            .entries()
            .iter()
            .filter(|e| e.path.starts_with("/psapi/v4.0/media/"))
            .count();
        assert!(media_reads < 37 + 2 * 12, "{media_reads} media reads");
    })
    .await
}

#[tokio::test]
async fn a_tenant_that_rejects_modify_start_gets_the_sorted_fallback() {
    bounded(async {
        let (emu, changed) = edited(ModifyFilter::Rejected).await;
        let c = incremental_client(&emu);
        let got = c
            .list_changed(at(2025, 5, 1, 0), &Scope::Account)
            .await
            .unwrap();
        assert_eq!(got.method, ChangeMethod::SortedFallback);
        let ids: BTreeSet<String> = got.media.iter().map(|m| m.id.clone()).collect();
        assert_eq!(ids, changed);
    })
    .await
}

#[tokio::test]
async fn incremental_listing_of_chosen_galleries_only_looks_there() {
    bounded(async {
        let (emu, changed) = edited(ModifyFilter::Honoured).await;
        let g = emu.gallery_ids()[1].clone();
        let in_g: BTreeSet<String> = emu.gallery_media(&g).unwrap().into_iter().collect();
        let expect: BTreeSet<String> = changed.intersection(&in_g).cloned().collect();
        assert!(!expect.is_empty());
        let c = incremental_client(&emu);
        let got = c
            .list_changed(at(2025, 5, 1, 0), &Scope::Galleries(vec![g.clone()]))
            .await
            .unwrap();
        let ids: BTreeSet<String> = got.media.iter().map(|m| m.id.clone()).collect();
        assert_eq!(ids, expect);
        emu.set_quirks(Quirks {
            modify_filter: ModifyFilter::Rejected,
            ..Quirks::default()
        });
        let got = c
            .list_changed(at(2025, 5, 1, 0), &Scope::Galleries(vec![g]))
            .await
            .unwrap();
        assert_eq!(got.method, ChangeMethod::SortedFallback);
        let ids: BTreeSet<String> = got.media.iter().map(|m| m.id.clone()).collect();
        assert_eq!(ids, expect);
    })
    .await
}

#[tokio::test]
async fn the_next_cursor_never_passes_the_listing_start_minus_the_skew() {
    bounded(async {
        let (emu, _) = edited(ModifyFilter::Honoured).await;
        // ferry's clock says the listing started at 12:05; changes stamped 12:00.
        let c = client_with(
            &emu,
            ClientOptions {
                clock: Clock::fixed(at(2025, 6, 1, 12) + chrono::Duration::minutes(5)),
                ..ClientOptions::default()
            },
        );
        let got = c
            .list_changed(at(2025, 5, 1, 0), &Scope::Account)
            .await
            .unwrap();
        assert_eq!(
            got.next_cursor,
            at(2025, 6, 1, 12) - chrono::Duration::minutes(5)
        );
    })
    .await
}

#[tokio::test]
async fn a_cursor_with_fractions_still_finds_a_change_in_its_own_second() {
    bounded(async {
        let mut o = options(20);
        o.clock = Clock::fixed(at(2025, 6, 1, 12) + chrono::Duration::milliseconds(900));
        let emu = start(o).await;
        let id = emu.media_ids()[4].clone();
        emu.set_iptc(
            &id,
            "headline",
            Some("changed at 12:00:00.900, stamped 12:00:00"),
        );
        let c = incremental_client(&emu);
        let cursor = at(2025, 6, 1, 12) + chrono::Duration::milliseconds(500);
        for filter in [ModifyFilter::Honoured, ModifyFilter::Rejected] {
            emu.set_quirks(Quirks {
                modify_filter: filter,
                ..Quirks::default()
            });
            let got = c.list_changed(cursor, &Scope::Account).await.unwrap();
            let ids: Vec<String> = got.media.iter().map(|m| m.id.clone()).collect();
            assert_eq!(ids, vec![id.clone()], "{filter:?}");
        }
    })
    .await
}
