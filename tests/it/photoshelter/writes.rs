//! Reading records for `mapping`, writing IPTC / custom metadata / attributes with read-back
//! verification, licence expiry, release flags, visibility and the write probe.

use super::*;
use chrono::NaiveDate;
use ferry::mapping::photoshelter::{PhotoShelterWrite, plan_write, read_record};
use ferry::mapping::{FieldChange, Mapping};
use ferry::model::FieldValue;
use ferry::photoshelter::client::{ContainerKind, PhotoShelterError};
use ferry::photoshelter::emulator::Override;
use ferry::photoshelter::wire::{LicensePlace, Visibility};
use serde_json::{Value, json};
use std::path::Path;

fn mapping() -> Mapping {
    Mapping::parse(Mapping::default_text(), Path::new("default.toml")).unwrap()
}

#[tokio::test]
async fn a_record_reads_as_the_emulator_holds_it_and_maps_to_canonical_fields() {
    bounded(async {
        let emu = start(options(120)).await;
        let c = client(&emu);
        let ids = emu.media_ids();
        let mut with_expiry = 0;
        for id in ids.iter().take(40) {
            let rec = c.read_record(id).await.unwrap();
            assert_eq!(Some(&rec), emu.record(id).as_ref());
            let t = read_record(&mapping(), &rec);
            assert!(t.problems.is_empty(), "{:?}", t.problems);
            assert!(t.record.get("title").is_some());
            assert!(t.record.get("model_release").is_some());
            if t.record.get("license_expiry").is_some() {
                with_expiry += 1;
            }
            assert_eq!(
                rec.file_size,
                Some(emu.media_bytes(id).unwrap().len() as u64)
            );
        }
        assert!(with_expiry > 0 && with_expiry < 40, "{with_expiry}");
        // Non-images carry a checksum.
        let listing = c
            .list_all(&ferry::photoshelter::client::Scope::Account)
            .await
            .unwrap();
        let video = listing
            .media
            .iter()
            .find(|m| m.kind != ferry::photoshelter::wire::MediaKind::Image)
            .unwrap();
        let rec = c.read_record(&video.id).await.unwrap();
        assert!(rec.checksum.unwrap().starts_with("sha1:"));
    })
    .await
}

#[tokio::test]
async fn planned_iptc_custom_and_attribute_writes_are_applied_and_read_back() {
    bounded(async {
        let emu = start(options(30)).await;
        let c = client(&emu);
        let id = emu.media_ids()[7].clone();
        let m = mapping();
        let changes = vec![
            FieldChange {
                field: "title".into(),
                value: FieldValue::text("Regatta, 1962"),
            },
            FieldChange {
                field: "caption".into(),
                value: FieldValue::text("Boats & \"crews\" — at the harbour"),
            },
            FieldChange {
                field: "keywords".into(),
                value: FieldValue::set(["harbour", "1962", "regatta"]),
            },
            FieldChange {
                field: "creator".into(),
                value: None,
            },
            FieldChange {
                field: "preservation_reference".into(),
                value: FieldValue::text("b3f1c0de-0000-4000-8000-000000000001"),
            },
            FieldChange {
                field: "campaign".into(),
                value: FieldValue::text("Heritage Week"),
            },
            FieldChange {
                field: "archive_status".into(),
                value: FieldValue::parse(ferry::model::FieldKind::Enum, "archived").unwrap(),
            },
            FieldChange {
                field: "license_expiry".into(),
                value: FieldValue::parse(ferry::model::FieldKind::Date, "2031-03-04").unwrap(),
            },
        ];
        let write = plan_write(&m, &Default::default(), &changes);
        assert!(write.problems.is_empty(), "{:?}", write.problems);
        let back = c.apply_write(&id, &write).await.unwrap();
        assert_eq!(Some(&back), emu.record(&id).as_ref());
        let canon = read_record(&m, &back).record;
        for ch in &changes {
            assert_eq!(canon.get(&ch.field), ch.value.as_ref(), "{}", ch.field);
        }
        // Sent as the wire module says: IPTC in the PATCH query string.
        let patch = emu
            .captured()
            .into_iter()
            .find(|r| r.method == "PATCH" && r.path.ends_with("/iptc"))
            .unwrap();
        assert!(patch.body.is_empty());
        assert!(patch.query.unwrap().contains("title=Regatta%2C+1962"));
    })
    .await
}

#[tokio::test]
async fn a_write_the_server_did_not_keep_is_not_verified() {
    bounded(async {
        let emu = start(options(5)).await;
        let c = client(&emu);
        let id = emu.media_ids()[0].clone();
        let old = emu.record(&id).unwrap();
        // The read-back answers the old IPTC, as a server that silently ignored the write.
        let iptc: serde_json::Map<String, Value> = old.iptc.clone();
        emu.override_response(Override {
            method: Some("GET".into()),
            path: format!("/psapi/v4.0/media/{id}/iptc"),
            status: 200,
            content_type: "application/json".into(),
            body: json!({"data": {"id": id, "type": "iptc", "attributes": iptc}}).to_string(),
            times: 1,
        });
        let mut w = PhotoShelterWrite::default();
        w.iptc.insert("headline".into(), json!("A new headline"));
        let e = c.apply_write(&id, &w).await.unwrap_err();
        let text = error_text(&emu, &e);
        assert!(matches!(e, PhotoShelterError::NotVerified { .. }), "{text}");
        assert!(
            text.contains("headline") && text.contains("A new headline"),
            "{text}"
        );
    })
    .await
}

#[tokio::test]
async fn a_custom_tag_that_is_not_a_preset_is_refused_by_the_server() {
    bounded(async {
        let emu = start(options(5)).await;
        let c = client(&emu);
        let id = emu.media_ids()[0].clone();
        let mut w = PhotoShelterWrite::default();
        w.custom
            .insert("Campaign".into(), Some("No Such Campaign".into()));
        let e = c.apply_write(&id, &w).await.unwrap_err();
        let text = error_text(&emu, &e);
        assert_eq!(e.status(), Some(400), "{text}");
        assert!(text.contains("No Such Campaign"), "{text}");
        assert!(text.contains("/custom-metadata"), "{text}");
    })
    .await
}

#[tokio::test]
async fn licence_expiry_and_release_flags_are_set_and_cleared() {
    bounded(async {
        let emu = start(options(5)).await;
        let c = client(&emu);
        let id = emu.media_ids()[3].clone();
        let d = NaiveDate::from_ymd_opt(2029, 12, 31).unwrap();
        c.set_license_expiry(&id, Some(d)).await.unwrap();
        assert_eq!(
            emu.record(&id).unwrap().license["expiration_date"],
            json!("2029-12-31 00:00:00 GMT"),
            "PhotoShelter answers licence dates as its timestamps"
        );
        c.set_license_expiry(&id, None).await.unwrap();
        assert!(emu.record(&id).unwrap().license.is_empty());
        c.set_releases(&id, Some(true), Some(false)).await.unwrap();
        let a = emu.record(&id).unwrap().attributes;
        assert_eq!(
            (&a["model_released"], &a["property_released"]),
            (&json!(true), &json!(false))
        );
        c.set_releases(&id, Some(false), None).await.unwrap();
        assert_eq!(
            emu.record(&id).unwrap().attributes["model_released"],
            json!(false)
        );
    })
    .await
}

#[tokio::test]
async fn gallery_and_collection_visibility_is_set_and_read() {
    bounded(async {
        let emu = start(options(300)).await;
        let c = client(&emu);
        let g = emu.gallery_ids()[0].clone();
        for mode in [
            Visibility::Private,
            Visibility::Everyone,
            Visibility::Permission,
        ] {
            c.set_visibility(ContainerKind::Gallery, &g, mode)
                .await
                .unwrap();
            assert_eq!(emu.visibility(&g), Some(mode));
            assert_eq!(
                c.visibility(ContainerKind::Gallery, &g).await.unwrap(),
                mode
            );
        }
        let col = emu.collection_ids()[0].clone();
        c.set_visibility(ContainerKind::Collection, &col, Visibility::Private)
            .await
            .unwrap();
        assert_eq!(emu.visibility(&col), Some(Visibility::Private));
        let info = c.container(ContainerKind::Gallery, &g).await.unwrap();
        assert_eq!(info.mode, Some(Visibility::Permission));
        assert!(info.name.is_some() && info.listed.is_some() && info.modified_at.is_some());
        // Unknown containers are 404s naming the URL.
        let e = c
            .set_visibility(
                ContainerKind::Gallery,
                "G0000NoSuchOne01",
                Visibility::Private,
            )
            .await
            .unwrap_err();
        let text = error_text(&emu, &e);
        assert!(matches!(e, PhotoShelterError::NotFound { .. }), "{text}");
        assert!(
            text.contains("/psapi/v3/mem/gallery/G0000NoSuchOne01/visibility/update"),
            "{text}"
        );
    })
    .await
}

#[tokio::test]
async fn the_write_probe_restores_the_original_value() {
    bounded(async {
        let emu = start(options(20)).await;
        let c = client(&emu);
        for id in emu.media_ids().iter().take(12) {
            let before = emu.record(id).unwrap();
            let probe = c.write_probe(id).await.unwrap();
            assert!(probe.restored);
            assert_eq!(probe.field, "instructions");
            let after = emu.record(id).unwrap();
            assert_eq!(after.iptc, before.iptc, "{id}");
        }
    })
    .await
}

#[tokio::test]
async fn ids_that_cannot_be_carried_are_refused_before_sending() {
    let emu = start(options(1)).await;
    let c = client(&emu);
    let huge = "I".repeat(300);
    for bad in ["", " ", "I0000\n../etc", "I0000\u{7f}x", huge.as_str()] {
        let e = c.read_record(bad).await.unwrap_err();
        assert!(matches!(e, PhotoShelterError::Invalid(_)), "{bad:?}: {e}");
    }
    assert!(emu.log().is_empty());
    // Odd but safe ids are sent, each as one path segment.
    for odd in ["I0000../../etc/x", "G0000AbCdEfGhIjK", "I0000short"] {
        let e = c.read_record(odd).await.unwrap_err();
        assert!(
            matches!(e, PhotoShelterError::NotFound { .. }),
            "{odd}: {e}"
        );
    }
    assert!(
        emu.log()
            .entries()
            .iter()
            .any(|r| r.path == "/psapi/v4.0/media/I0000..%2F..%2Fetc%2Fx")
    );
}

#[tokio::test]
async fn long_values_are_written_in_several_requests_and_verified() {
    bounded(async {
        let emu = start(options(3)).await;
        let c = client(&emu);
        let id = emu.media_ids()[0].clone();
        let caption = "Ø".repeat(1000); // 2000 bytes, IPTC's caption limit
        let mut w = PhotoShelterWrite::default();
        w.iptc.insert("caption".into(), json!(caption));
        w.iptc.insert("headline".into(), json!("Short"));
        w.iptc.insert("title".into(), json!("Also short"));
        let back = c.apply_write(&id, &w).await.unwrap();
        assert_eq!(back.iptc["caption"], json!(caption));
        let patches: Vec<_> = emu
            .captured()
            .into_iter()
            .filter(|r| r.method == "PATCH")
            .collect();
        assert_eq!(patches.len(), 2);
        assert!(
            patches
                .iter()
                .all(|r| r.query.as_ref().unwrap().len() <= 6000 + 20)
        );
    })
    .await
}

/// An image of the emulator's seed (v3 keeps licences of images only).
fn an_image(emu: &ferry::photoshelter::emulator::PhotoShelterEmulator) -> String {
    emu.media_ids()
        .into_iter()
        .find(|id| id.starts_with("I0000"))
        .expect("the seed holds images")
}

#[tokio::test]
async fn the_licence_round_trips_through_whichever_place_the_account_keeps_it_in() {
    bounded(async {
        for place in LicensePlace::ALL {
            let mut o = options(12);
            o.quirks.license_places = vec![place];
            let emu = start(o).await;
            let c = client(&emu);
            let id = an_image(&emu);
            let d = NaiveDate::from_ymd_opt(2031, 3, 4).unwrap();
            c.set_license_expiry(&id, Some(d)).await.unwrap();
            assert_eq!(c.license_place(), Some(place), "{place:?}");
            // A fresh client (a new run) finds the same place by reading.
            let fresh = client(&emu);
            let rec = fresh.read_record(&id).await.unwrap();
            let t = read_record(&mapping(), &rec);
            assert!(t.problems.is_empty(), "{place:?}: {:?}", t.problems);
            assert_eq!(
                t.record.get("license_expiry").map(|v| v.to_string()),
                Some("2031-03-04".to_string()),
                "{place:?}"
            );
            assert_eq!(fresh.license_place(), Some(place), "{place:?}");
            c.set_license_expiry(&id, None).await.unwrap();
            let rec = fresh.read_record(&id).await.unwrap();
            assert!(rec.license.is_empty(), "{place:?}: {:?}", rec.license);
            emu.stop().await;
        }
    })
    .await
}

#[tokio::test]
async fn a_licence_date_is_written_back_in_the_form_photoshelter_answers_it_in() {
    bounded(async {
        let emu = start(options(12)).await;
        let c = client(&emu);
        let id = an_image(&emu);
        let m = mapping();
        let before = c.read_record(&id).await.unwrap();
        let changes = vec![
            FieldChange {
                field: "license_expiry".into(),
                value: FieldValue::parse(ferry::model::FieldKind::Date, "2032-07-01").unwrap(),
            },
            FieldChange {
                field: "date_created".into(),
                value: FieldValue::parse(ferry::model::FieldKind::Date, "1962-07-14").unwrap(),
            },
        ];
        let mut current = before.clone();
        current
            .license
            .insert("expiration_date".into(), json!("2020-01-01 00:00:00 GMT"));
        current
            .iptc
            .insert("date_created".into(), json!("19550101"));
        let write = plan_write(&m, &current, &changes);
        assert_eq!(
            write.license["expiration_date"],
            json!("2032-07-01 00:00:00 GMT")
        );
        assert_eq!(write.iptc["date_created"], json!("19620714"));
        let after = c.apply_write(&id, &write).await.unwrap();
        let t = read_record(&m, &after);
        assert_eq!(
            t.record.get("license_expiry").unwrap().to_string(),
            "2032-07-01"
        );
        assert_eq!(
            t.record.get("date_created").unwrap().to_string(),
            "1962-07-14"
        );
    })
    .await
}
