//! Thumbnails end to end: Preservica's thumbnail endpoint in the emulator, the web app's
//! `/assets/{id}/thumb/{small,medium}` over HTTP (made on first view from what each system
//! offers, then served from the cache; a placeholder where there is no picture), thumbnails
//! beside search hits, and every one of them loading in Chromium.

use crate::helpers::asset_row;
use crate::transfer::{Lab, archive_asset, index_everything, jpeg, lab, web_app};
use ferry::emulate::pictures::{Picture, PictureFormat};
use ferry::preservica::client::PreservicaClient;
use ferry::preservica::wire::ThumbnailSize;

/// A real (uncompressed) TIFF master of `w` x `h`.
fn tiff(seed: u64, w: u32, h: u32) -> Vec<u8> {
    Picture {
        seed,
        title: format!("Scan {seed}"),
        width: w,
        height: h,
        format: PictureFormat::Tiff,
    }
    .bytes()
    .to_vec()
}

fn dimensions(bytes: &[u8]) -> (u32, u32) {
    let img = image::load_from_memory(bytes).expect("a picture");
    (img.width(), img.height())
}

fn asset_of_ref(lab: &Lab, reference: &str) -> i64 {
    lab.store
        .assets()
        .unwrap()
        .into_iter()
        .find(|a| a.preservica_ref.as_deref() == Some(reference))
        .unwrap_or_else(|| panic!("the store knows {reference}"))
        .id
}

struct Got {
    status: u16,
    content_type: String,
    cache_control: String,
    body: Vec<u8>,
}

async fn get(url: &str) -> Got {
    let resp = reqwest::get(url).await.unwrap();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (content_type, cache_control) = (header("content-type"), header("cache-control"));
    Got {
        status: resp.status().as_u16(),
        content_type,
        cache_control,
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

#[tokio::test]
async fn preservica_answers_thumbnails_of_pictures_and_404_without_one() {
    let lab = lab().await;
    let scan = archive_asset(&lab, "Regatta scan", "c", None, &tiff(1, 900, 600));
    let junk = archive_asset(&lab, "Broken scan", "c", None, &jpeg(1, 500));
    let pv = PreservicaClient::new(lab.world.preservica_connection()).unwrap();
    for (size, side) in [
        (ThumbnailSize::Small, 150),
        (ThumbnailSize::Medium, 400),
        (ThumbnailSize::Large, 800),
    ] {
        let bytes = pv
            .thumbnail(&scan, size)
            .await
            .unwrap()
            .expect("a thumbnail");
        let (w, h) = dimensions(&bytes);
        assert_eq!(w, side, "{size:?}");
        assert!(h.abs_diff(side * 2 / 3) <= 1, "{size:?}: {w}x{h}");
    }
    // No picture in the file, no content at all, no such asset: 404, read as "none".
    assert!(
        pv.thumbnail(&junk, ThumbnailSize::Large)
            .await
            .unwrap()
            .is_none()
    );
    let (_, mirrored) = &lab.world.pairs[0];
    assert!(
        pv.thumbnail(mirrored, ThumbnailSize::Small)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        pv.thumbnail("5f0c2a9e-0000-4000-8000-00000000dead", ThumbnailSize::Small)
            .await
            .unwrap()
            .is_none()
    );
    // A removed thumbnail is gone although the picture is still there.
    assert!(lab.world.preservica.remove_thumbnail(&scan));
    assert!(
        pv.thumbnail(&scan, ThumbnailSize::Small)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn thumbnails_are_made_on_first_view_then_served_from_the_cache() {
    let mut lab = lab().await;
    let scan = archive_asset(&lab, "Regatta scan", "c", None, &tiff(2, 1200, 900));
    // No Preservica thumbnail: made from the master itself.
    let bare = archive_asset(&lab, "Quay scan", "c", None, &tiff(3, 600, 1000));
    assert!(lab.world.preservica.remove_thumbnail(&bare));
    let junk = archive_asset(&lab, "Broken scan", "c", None, &jpeg(4, 800));
    index_everything(&mut lab).await;
    let (app, tx) = web_app(&lab).await;
    let photo = asset_row(&lab.store, &lab.world.pairs[0].0).id;
    let (scan, bare, junk) = (
        asset_of_ref(&lab, &scan),
        asset_of_ref(&lab, &bare),
        asset_of_ref(&lab, &junk),
    );
    // (asset, medium rendition's longest side): the photo is a 320 x 240 JPEG in PhotoShelter
    // (never enlarged), the scan comes from Preservica's 800 px thumbnail, the bare one from
    // its 600 x 1000 master.
    for (id, medium) in [(photo, 320), (scan, 800), (bare, 800)] {
        let small = get(&format!("{}/assets/{id}/thumb/small", app.url())).await;
        assert_eq!(
            (small.status, small.content_type.as_str()),
            (200, "image/jpeg")
        );
        assert!(
            small.cache_control.contains("max-age"),
            "{}",
            small.cache_control
        );
        let (w, h) = dimensions(&small.body);
        assert_eq!(w.max(h), 200, "asset {id}: {w}x{h}");
        let m = get(&format!("{}/assets/{id}/thumb/medium", app.url())).await;
        assert_eq!(m.status, 200);
        let (w, h) = dimensions(&m.body);
        assert_eq!(w.max(h), medium, "asset {id}: {w}x{h}");
    }
    // Unreadable: the placeholder, not kept by the browser, a picture all the same.
    let card = get(&format!("{}/assets/{junk}/thumb/small", app.url())).await;
    assert_eq!(
        (card.status, card.content_type.as_str()),
        (200, "image/jpeg")
    );
    assert_eq!(card.cache_control, "no-cache");
    assert_eq!(dimensions(&card.body), (200, 150));

    // A second view asks neither system anything.
    let (ps_log, pv_log) = (lab.world.photoshelter.log(), lab.world.preservica.log());
    let before = (ps_log.len(), pv_log.len());
    for id in [photo, scan, bare, junk] {
        for size in ["small", "medium"] {
            let again = get(&format!("{}/assets/{id}/thumb/{size}", app.url())).await;
            assert_eq!(again.status, 200);
        }
    }
    assert_eq!((ps_log.len(), pv_log.len()), before);
    let thumbs = lab.dir.path().join("thumbs");
    let names: Vec<String> = std::fs::read_dir(&thumbs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.ends_with(".jpg")).count(),
        6,
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n.starts_with(&format!("{junk}-")) && n.ends_with(".none"))
    );
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");

    // Unknown assets and sizes are not found.
    for path in [
        "/assets/99999/thumb/small",
        &format!("/assets/{photo}/thumb/large"),
        &format!("/assets/{photo}/thumb/..%2Fsmall"),
    ] {
        assert_eq!(
            get(&format!("{}{path}", app.url())).await.status,
            404,
            "{path}"
        );
    }

    // Search hits carry their small thumbnail; the asset page its medium one, linked to the
    // full picture where a browser shows it.
    let page = reqwest::get(format!("{}/?q=", app.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let hits = page.matches("<li class=\"hit\">").count();
    assert!(hits >= 4, "{page}");
    assert_eq!(page.matches("<img class=\"thumb\"").count(), hits, "{page}");
    for id in [photo, scan, junk] {
        assert!(
            page.contains(&format!("src=\"/assets/{id}/thumb/small\"")),
            "{id}"
        );
    }
    let asset = reqwest::get(format!("{}/assets/{photo}", app.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        asset.contains(&format!("href=\"/assets/{photo}/preview\"")),
        "{asset}"
    );
    assert!(
        asset.contains(&format!("src=\"/assets/{photo}/thumb/medium\"")),
        "{asset}"
    );
    let _ = tx.send(());
    app.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_thumbnail_loads_in_chromium() {
    let Some(browser) = crate::browser::chromium() else {
        return;
    };
    let mut lab = lab().await;
    let scan = archive_asset(&lab, "Regatta scan", "c", None, &tiff(5, 900, 600));
    archive_asset(&lab, "Broken scan", "c", None, &jpeg(6, 800));
    index_everything(&mut lab).await;
    let (app, tx) = web_app(&lab).await;
    let scan = asset_of_ref(&lab, &scan);
    let pages = [
        (format!("{}/?q=", app.url()), "/thumb/small"),
        (format!("{}/assets/{scan}", app.url()), "/thumb/medium"),
    ];
    let loaded = tokio::task::spawn_blocking(move || {
        let mut chrome = crate::browser::Devtools::launch(browser);
        pages
            .into_iter()
            .map(|(url, kind)| {
                let page = chrome.open(&url);
                // Lazy images below the fold are asked for now; each is awaited until decoded
                // (or failed: then its natural width stays 0).
                let got = chrome.call(
                    Some(&page),
                    "Runtime.evaluate",
                    serde_json::json!({
                        "expression": "Promise.all([...document.images].map(i => { i.loading = 'eager'; \
                            return i.decode().catch(() => null); })).then(() => \
                            [...document.images].map(i => [i.getAttribute('src'), i.naturalWidth]))",
                        "awaitPromise": true,
                        "returnByValue": true,
                    }),
                );
                (url, kind, got["result"]["value"].clone())
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for (url, kind, images) in loaded {
        let images = images.as_array().cloned().unwrap_or_default();
        let thumbs: Vec<_> = images
            .iter()
            .filter(|i| i[0].as_str().is_some_and(|s| s.ends_with(kind)))
            .collect();
        assert!(
            !thumbs.is_empty(),
            "no {kind} thumbnail on {url}: {images:?}"
        );
        for img in thumbs {
            assert!(
                img[1].as_u64().unwrap_or(0) > 0,
                "{img} did not load on {url}"
            );
        }
    }
    let _ = tx.send(());
    app.wait().await.unwrap();
}

/// The `.jpg` files in a cache directory.
fn cached(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".jpg"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_makes_the_thumbnails_of_what_it_read_unless_told_not_to() {
    let lab = lab().await;
    archive_asset(&lab, "Regatta scan", "c", None, &tiff(7, 900, 600));
    let run = |dir: std::path::PathBuf, args: Vec<&'static str>| {
        tokio::task::spawn_blocking(move || crate::helpers::ferry(&dir, &args, &[]))
    };
    let skipped = tempfile::tempdir().unwrap();
    ferry::world::write_config(skipped.path(), &lab.world, "").unwrap();
    let out = run(
        skipped.path().to_path_buf(),
        vec!["sync", "--no-thumbnails"],
    )
    .await
    .unwrap();
    assert!(
        out.stdout.contains("run 1"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(cached(&skipped.path().join("thumbs")).is_empty());

    let filled = tempfile::tempdir().unwrap();
    ferry::world::write_config(filled.path(), &lab.world, "[thumbnails]\nmax_mib = 64\n").unwrap();
    let out = run(filled.path().to_path_buf(), vec!["sync"])
        .await
        .unwrap();
    assert!(
        out.stdout.contains("run 1"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    let store = ferry::store::Store::open(&filled.path().join("ferry.db")).unwrap();
    let cache = ferry::media::ThumbCache::open(&filled.path().join("thumbs"), 64 << 20).unwrap();
    let assets = store.assets().unwrap();
    assert!(assets.len() >= 7);
    for a in &assets {
        let file = ferry::media::fill::identity(&store, a.id).unwrap();
        assert!(
            cache.has(a.id, &file),
            "asset {a:?} has no thumbnails after the sync"
        );
    }
    // Every image and the scan have both renditions (documents are "no picture").
    let names = cached(&filled.path().join("thumbs"));
    assert!(names.len() >= 2 * 6, "{names:?}");
    assert_eq!(
        names.iter().filter(|n| n.ends_with("-small.jpg")).count(),
        names.iter().filter(|n| n.ends_with("-medium.jpg")).count()
    );
}
