//! The demo's library beyond the paired images: a shoot a team just finished (ready to
//! archive) and a photograph only the archive holds (to republish).

use super::DemoError;
use crate::mapping::preservica::PreservicaRecord;
use crate::world::World;

/// A shoot a team just finished: a gallery of four captioned images with model releases, a
/// contract and a release form, placed in a "Ready to archive" collection. Returns the
/// gallery and collection ids.
pub(super) async fn ready_shoot(
    world: &World,
    ps: &crate::photoshelter::client::PhotoShelterClient,
) -> Result<(String, String), DemoError> {
    let setup = |e: crate::photoshelter::client::PhotoShelterError| DemoError::Setup(e.to_string());
    let gallery = ps
        .create_gallery(
            "Harbour Regatta 2026 – finals",
            None,
            crate::photoshelter::wire::Visibility::Permission,
            true,
        )
        .await
        .map_err(setup)?;
    world.photoshelter.set_gallery_description(
        &gallery,
        "Finals day of the 2026 harbour regatta, shot for the museum's annual report.",
    );
    for i in 0..4u8 {
        let mut bytes = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00".to_vec();
        bytes.extend((0..60_000u32).map(|n| (n as u8).wrapping_mul(17).wrapping_add(i)));
        bytes.extend_from_slice(b"\xFF\xD9");
        let up = ps
            .upload(
                &gallery,
                &format!("regatta-finals-{i}.jpg"),
                "image/jpeg",
                bytes::Bytes::from(bytes),
            )
            .await
            .map_err(setup)?;
        let p = &world.photoshelter;
        p.set_iptc(
            &up.media_id,
            "title",
            Some(&format!("Regatta finals, heat {}", i + 1)),
        );
        p.set_iptc(
            &up.media_id,
            "caption",
            Some("Crews round the harbour mark in the 2026 regatta finals"),
        );
        p.set_iptc(&up.media_id, "author", Some("Ada Lindqvist"));
        p.set_iptc(&up.media_id, "rights", Some("Editorial use only"));
        p.set_custom(&up.media_id, "Model Release Status", Some("MR-LMR"));
    }
    for name in ["contract-harbour-museum-2026.pdf", "model-release-crew.pdf"] {
        ps.upload(
            &gallery,
            name,
            "application/pdf",
            bytes::Bytes::from(format!("%PDF-1.4\n% {name}\n%%EOF\n")),
        )
        .await
        .map_err(setup)?;
    }
    let collection = world
        .photoshelter
        .create_collection("Ready to archive", std::slice::from_ref(&gallery));
    Ok((gallery, collection))
}

/// A photograph only the archive holds: the 1962 regatta, licensed until 2030.
pub(super) fn archive_only_asset(world: &World) -> String {
    const DC: &str = "http://www.openarchives.org/OAI/2.0/oai_dc/";
    let record = PreservicaRecord {
        title: Some("Regatta 1962: the winning crew".into()),
        description: Some("The winning crew of the 1962 harbour regatta, from the pier.".into()),
        fragments: vec![
            crate::mapping::preservica::Fragment {
                schema: DC.into(),
                xml: format!(
                    "<oai_dc:dc xmlns:oai_dc=\"{DC}\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\
                     <dc:creator>Harbour Board Photographic Unit</dc:creator>\
                     <dc:date>1962-07-14</dc:date></oai_dc:dc>"
                ),
            },
            crate::mapping::preservica::Fragment {
                schema: "urn:ferry:schema:rights:1".into(),
                xml: "<FerryRights xmlns=\"urn:ferry:schema:rights:1\">\
                      <UsageTerms>Credit: Harbour Museum</UsageTerms>\
                      <LicenseExpiry>2030-12-31</LicenseExpiry></FerryRights>"
                    .into(),
            },
        ],
        ..PreservicaRecord::default()
    };
    let reference = world.preservica.add_asset(&world.folder, &record, &[]);
    // A scanned negative: a real (uncompressed) TIFF master, so its thumbnails are made
    // from the file itself.
    let bytes = crate::emulate::pictures::Picture {
        seed: 1962,
        title: "Regatta 1962".into(),
        width: 900,
        height: 600,
        format: crate::emulate::pictures::PictureFormat::Tiff,
    }
    .bytes();
    world
        .preservica
        .add_content(&reference, "regatta-1962-negative-scan.tif", &bytes);
    reference
}
