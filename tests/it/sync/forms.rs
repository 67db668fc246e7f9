//! The sync at the edges the wire contracts leave open: a date spelled in any form either
//! system uses, the licence record kept in any of its plausible places, and ids of any safe
//! shape.

use super::*;
use ferry::photoshelter::emulator::Quirks;
use ferry::photoshelter::wire::LicensePlace;

const FERRY: &str = "urn:ferry:schema:rights:1";

/// Another spelling of a `YYYY-MM-DD` day.
type Spelling = fn(&str) -> String;

/// The day Preservica's Dublin Core holds for an asset.
fn pv_dc_date(h: &Harness, reference: &str) -> String {
    let dc = h.world.preservica.fragment(reference, DC).unwrap();
    let start = dc.find("<dc:date>").expect("a dc:date") + "<dc:date>".len();
    let end = dc[start..].find("</dc:date>").unwrap() + start;
    dc[start..end].to_string()
}

#[tokio::test]
async fn a_date_in_any_form_on_either_side_is_one_value_never_written_or_in_conflict() {
    let mut h = harness(8).await;
    let first = h.sync().await;
    assert_eq!(
        first.report.summary.drifted, 0,
        "seeded dates differ only in form"
    );
    let baselines = h.store.baselines().unwrap();
    let spellings: [(Spelling, Option<&str>); 6] = [
        (|d| format!("{d} 10:15:00 GMT"), Some("T00:00:00Z")),
        (|d| d.replace('-', ""), None),
        (|d| d.replace('-', ":"), Some(" 00:00:00 UTC")),
        (|d| format!("{d}T23:30:00-05:00"), None),
        (|d| format!("{d}T00:30:00+02:00"), Some("T12:00:00")),
        (|d| format!("{d} 14:54:12.136828"), None),
    ];
    let mut touched = Vec::new();
    for (i, (ps_form, pv_suffix)) in spellings.iter().enumerate() {
        let (media, reference) = h.pair(i);
        let day = pv_dc_date(&h, &reference);
        assert_eq!(day.len(), 10, "Preservica holds a plain day: {day}");
        h.world
            .photoshelter
            .set_iptc(&media, "date_created", Some(&ps_form(&day)));
        if let Some(suffix) = pv_suffix {
            let dc = h.world.preservica.fragment(&reference, DC).unwrap();
            let dc = replace_element(&dc, "dc:date", &format!("{day}{suffix}"));
            h.world.preservica.set_fragment(&reference, DC, &dc);
        }
        touched.push(media);
    }
    let before = h.writes_logged();
    let out = h.full().await;
    assert_eq!(out.outcome, Outcome::Done, "{:?}", out.report.failures);
    let not_in_sync: Vec<_> = out
        .report
        .fields
        .iter()
        .filter(|r| r.field == "date_created" && r.outcome != "in_sync")
        .collect();
    assert!(not_in_sync.is_empty(), "{not_in_sync:#?}");
    assert_eq!(
        h.writes_logged(),
        before,
        "a difference of form is never written"
    );
    assert!(h.store.review_items(true).unwrap().is_empty());
    assert_eq!(
        h.store.baselines().unwrap(),
        baselines,
        "a difference of form never rewrites a baseline"
    );
    // The day itself changing is still drift, and is written in the form PhotoShelter uses.
    let (media, reference) = h.pair(0);
    let dc = h.world.preservica.fragment(&reference, DC).unwrap();
    h.world.preservica.set_fragment(
        &reference,
        DC,
        &replace_element(&dc, "dc:date", "1901-02-03"),
    );
    let out = h.full().await;
    let row = Harness::row(&out, &media, "date_created");
    assert_eq!(
        (row.outcome.as_str(), row.write_state.as_str()),
        ("push_to_photoshelter", "done")
    );
    assert_eq!(
        h.ps_iptc(&media, "date_created").as_deref(),
        Some("1901-02-03 00:00:00 GMT"),
        "written in the form PhotoShelter held the field in"
    );
}

#[tokio::test]
async fn the_licence_is_read_and_written_wherever_the_account_keeps_it() {
    for place in [LicensePlace::V4Record, LicensePlace::V4Attribute] {
        let mut h = harness(6).await;
        h.world.photoshelter.set_quirks(Quirks {
            license_places: vec![place],
            ..Quirks::default()
        });
        let out = h.sync().await;
        assert_eq!(
            out.outcome,
            Outcome::Done,
            "{place:?}: {:?}",
            out.report.failures
        );
        assert_eq!(out.report.summary.drifted, 0, "{place:?}");
        assert_eq!(h.writes_logged(), 0, "{place:?}");
        // A licence shortened in the archive reaches PhotoShelter's licence record.
        let (media, reference) = h.pair(1);
        let xml = match h.world.preservica.fragment(&reference, FERRY) {
            Some(xml) if xml.contains("<LicenseExpiry>") => {
                replace_element(&xml, "LicenseExpiry", "2027-02-01")
            }
            Some(xml) => xml.replace(
                "</FerryRights>",
                "<LicenseExpiry>2027-02-01</LicenseExpiry></FerryRights>",
            ),
            None => format!(
                "<FerryRights xmlns=\"{FERRY}\"><LicenseExpiry>2027-02-01</LicenseExpiry></FerryRights>"
            ),
        };
        assert!(xml.contains("2027-02-01"), "{xml}");
        h.world.preservica.set_fragment(&reference, FERRY, &xml);
        let out = h.full().await;
        let row = Harness::row(&out, &media, "license_expiry");
        assert_eq!(row.write_state, "done", "{place:?}: {row:?}");
        let rec = h.world.photoshelter.record(&media).unwrap();
        assert_eq!(
            rec.license["expiration_date"],
            serde_json::json!("2027-02-01 00:00:00 GMT"),
            "{place:?}"
        );
    }
}

#[tokio::test]
async fn an_id_of_an_unexpected_shape_is_listed_read_and_synced() {
    let mut h = harness(6).await;
    let (media, _) = h.pair(2);
    let odd = "img 2024/05#1.ü-legacy-import-0001";
    assert!(h.world.photoshelter.rename_media(&media, odd));
    let out = h.sync().await;
    assert_eq!(out.outcome, Outcome::Done, "{:?}", out.report.failures);
    assert!(
        out.report
            .failures
            .iter()
            .all(|f| !format!("{f:?}").contains(odd)),
        "{:?}",
        out.report.failures
    );
    let row = crate::helpers::asset_row(&h.store, odd);
    assert_eq!(row.photoshelter_id.as_deref(), Some(odd));
    // Its record was read through paths that carry the id as one segment.
    let title = h.world.photoshelter.record(odd).unwrap().iptc["title"].clone();
    let snapshot = h
        .store
        .snapshots_of(ferry::model::System::PhotoShelter, [row.id])
        .unwrap();
    assert!(
        format!("{snapshot:?}").contains(title.as_str().unwrap()),
        "{snapshot:?}"
    );
}
