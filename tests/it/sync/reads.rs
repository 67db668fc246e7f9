//! What a pull reads: only the parts of a record that the mapping places a field in.

use ferry::mapping::Mapping;
use ferry::photoshelter::client::PhotoShelterClient;
use ferry::preservica::client::PreservicaClient;
use ferry::store::Store;
use ferry::sync::{SyncOptions, run_sync};

/// The default mapping without its licence field: an account that does not track licences.
fn mapping_without_licences() -> Mapping {
    let text = Mapping::default_text();
    let start = text
        .find("[[field]]\nname = \"license_expiry\"")
        .expect("the default mapping maps license_expiry");
    let end = start
        + text[start + 1..]
            .find("[[field]]")
            .expect("a field follows")
        + 1;
    let without = format!("{}{}", &text[..start], &text[end..]);
    Mapping::parse(&without, std::path::Path::new("mapping.toml")).expect("the mapping loads")
}

#[tokio::test]
async fn a_pull_reads_no_fragment_and_no_record_part_that_no_mapped_field_lives_in() {
    let mapping = mapping_without_licences();
    let world = crate::helpers::world(4, &mapping).await;
    let (media, reference) = world.pairs[0].clone();
    // Another department's schema on the asset: the mapping has no field in it.
    let mods = "http://www.loc.gov/mods/v3";
    world.preservica.set_fragment(
        &reference,
        mods,
        r#"<mods xmlns="http://www.loc.gov/mods/v3"><note>not ours</note></mods>"#,
    );
    let ps = PhotoShelterClient::new(&world.photoshelter_config()).unwrap();
    let pv = PreservicaClient::new(world.preservica_connection()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("ferry.db")).unwrap();
    let ctx = crate::helpers::sync_context(&mapping, &ps, &pv, dir.path().join("reports"));
    let out = run_sync(&mut store, &ctx, &SyncOptions::default())
        .await
        .expect("the run completes");
    assert_eq!(out.report.summary.failures, 0);
    assert_eq!(out.report.summary.pairs, 4);

    let pv_log = world.preservica.log().entries();
    let about_asset: Vec<String> = pv_log
        .iter()
        .filter(|r| r.path.contains(&reference) && r.method == "GET")
        .map(|r| r.path.clone())
        .collect();
    // The entity and its two mapped fragments (Dublin Core and ferry's own) are read; the
    // MODS fragment, which the entity lists too, is not.
    let fragments = about_asset
        .iter()
        .filter(|p| p.contains("/metadata/"))
        .count();
    assert_eq!(fragments, 2, "{about_asset:#?}");
    assert!(
        pv.read_asset(&reference)
            .await
            .unwrap()
            .fragments
            .iter()
            .any(|f| f.schema == mods),
        "the asset does hold the unmapped fragment"
    );
    // No field lives in PhotoShelter's licence record, so no place of it is asked.
    let ps_log = world.photoshelter.log().entries();
    let licence: Vec<&str> = ps_log
        .iter()
        .filter(|r| r.path.contains("license") || r.path.contains("/psapi/v3/"))
        .map(|r| r.path.as_str())
        .collect();
    assert!(licence.is_empty(), "{licence:#?}");
    let about_media = ps_log.iter().filter(|r| r.path.contains(&media)).count();
    assert_eq!(about_media, 3, "attributes, IPTC and custom metadata only");
}
