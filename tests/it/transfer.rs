//! Transfers against both emulators: archiving a gallery (images, captions, a contract and
//! model releases) into Preservica and republishing archive assets into PhotoShelter, with
//! crashes at every step, a hostile file name, a fixity mismatch, expired licences and
//! repeated runs.

use crate::helpers::repo_file;
use bytes::Bytes;
use ferry::app::{Parts, Settings};
use ferry::config::{AfterArchive, ArchiveConfig, RepublishConfig};
use ferry::exit::Outcome;
use ferry::mapping::Mapping;
use ferry::mapping::preservica::{Fragment, PreservicaRecord};
use ferry::photoshelter::client::PhotoShelterClient;
use ferry::photoshelter::wire::Visibility;
use ferry::preservica::client::PreservicaClient;
use ferry::preservica::opex::read_package;
use ferry::preservica::wire::PHOTOSHELTER_ID_TYPE;
use ferry::store::Store;
use ferry::store::transfers::{TransferKind, TransferState};
use ferry::sync::{SyncOptions, run_sync};
use ferry::transfer::archive::{ArchiveOptions, ArchiveRequest, ArchiveStep, run_archive};
use ferry::transfer::republish::{
    RepublishOptions, RepublishRequest, RepublishStep, run_republish,
};
use ferry::transfer::{TransferContext, TransferError, TransferOutcome};
use ferry::world::World;
use sha2::Digest;

const RIGHTS_NS: &str = "urn:ferry:schema:rights:1";
const DC: &str = "http://www.openarchives.org/OAI/2.0/oai_dc/";

pub(crate) struct Lab {
    pub(crate) world: World,
    pub(crate) mapping: Mapping,
    pub(crate) ps: PhotoShelterClient,
    pv: PreservicaClient,
    pub(crate) store: Store,
    pub(crate) dir: tempfile::TempDir,
    /// Archive and republish settings; reports and index in `dir`.
    pub(crate) settings: Settings,
}

pub(crate) async fn lab() -> Lab {
    let mapping = Mapping::load(&repo_file("mappings/default.toml")).unwrap();
    let world = crate::helpers::world(6, &mapping).await;
    let ps = PhotoShelterClient::new(&world.photoshelter_config()).unwrap();
    let pv = PreservicaClient::new(world.preservica_connection()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("ferry.db")).unwrap();
    let archive = ArchiveConfig {
        folder: Some(world.folder.clone()),
        staging: dir.path().join("transfers"),
        ingest_timeout_secs: 30,
        ..ArchiveConfig::default()
    };
    let settings = Settings {
        archive,
        reports_dir: dir.path().join("reports"),
        index_dir: dir.path().join("index"),
        ..Settings::default()
    };
    Lab {
        world,
        mapping,
        ps,
        pv,
        store,
        dir,
        settings,
    }
}

impl Lab {
    async fn archive(
        &mut self,
        request: &ArchiveRequest,
        opts: ArchiveOptions,
    ) -> Result<TransferOutcome, TransferError> {
        let (store, ctx) = self.parts();
        run_archive(store, &ctx, request, &opts).await
    }

    pub(crate) async fn republish(
        &mut self,
        request: &RepublishRequest,
        opts: RepublishOptions,
    ) -> Result<TransferOutcome, TransferError> {
        let (store, ctx) = self.parts();
        run_republish(store, &ctx, request, &opts).await
    }

    /// The store and a transfer context over the rest of the lab, borrowed apart.
    fn parts(&mut self) -> (&mut Store, TransferContext<'_>) {
        let Lab {
            mapping,
            ps,
            pv,
            store,
            settings,
            ..
        } = self;
        let parts = Parts {
            mapping,
            photoshelter: ps,
            preservica: pv,
        };
        (store, parts.transfer_context(settings, None))
    }

    async fn sync(&mut self) -> ferry::sync::SyncOutcome {
        let mut ctx = crate::helpers::sync_context(
            &self.mapping,
            &self.ps,
            &self.pv,
            self.dir.path().join("reports"),
        );
        ctx.max_change_share = 1.0;
        ctx.min_assets = 1000;
        run_sync(&mut self.store, &ctx, &SyncOptions::default())
            .await
            .expect("the sync completes")
    }

    /// S3 object uploads (single PUTs and completed multipart uploads) the archive received.
    fn package_uploads(&self) -> usize {
        self.world.preservica.packages().len()
    }

    fn ps_iptc(&self, media: &str, field: &str) -> Option<String> {
        self.world.photoshelter.record(media).and_then(|r| {
            r.iptc
                .get(field)
                .and_then(|v| v.as_str().map(str::to_string))
                .filter(|s| !s.is_empty())
        })
    }

    fn ps_custom(&self, media: &str, field: &str) -> Option<String> {
        self.world
            .photoshelter
            .record(media)
            .and_then(|r| r.custom.get(field).cloned())
    }
}

/// Deterministic file content that starts like a JPEG.
pub(crate) fn jpeg(seed: u8, len: usize) -> Vec<u8> {
    let mut v = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00".to_vec();
    v.extend((0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    v.extend_from_slice(b"\xFF\xD9");
    v
}

/// A finished shoot: a gallery with three captioned images with model releases, a contract
/// PDF and two model release PDFs.
struct Shoot {
    gallery: String,
    images: Vec<String>,
    documents: Vec<String>,
    bytes: std::collections::HashMap<String, Vec<u8>>,
}

async fn shoot(lab: &Lab, name: &str) -> Shoot {
    let gallery = lab
        .ps
        .create_gallery(name, None, Visibility::Everyone, true)
        .await
        .unwrap();
    lab.world
        .photoshelter
        .set_gallery_description(&gallery, "Finals day at the harbour; <b>all</b> boats.");
    let mut images = Vec::new();
    let mut bytes = std::collections::HashMap::new();
    for i in 0..3u8 {
        let data = jpeg(i, 40_000 + i as usize * 1000);
        let up = lab
            .ps
            .upload(
                &gallery,
                &format!("regatta-{i}.jpg"),
                "image/jpeg",
                Bytes::from(data.clone()),
            )
            .await
            .unwrap();
        let p = &lab.world.photoshelter;
        p.set_iptc(&up.media_id, "title", Some(&format!("Regatta finals {i}")));
        p.set_iptc(
            &up.media_id,
            "caption",
            Some(&format!(
                "Boat {i} rounds the mark <script>alert(1)</script> & wins"
            )),
        );
        p.set_iptc(&up.media_id, "author", Some("Ada Lindqvist"));
        p.set_iptc(&up.media_id, "rights", Some("Editorial use only"));
        p.set_custom(&up.media_id, "Model Release Status", Some("MR-LMR"));
        bytes.insert(up.media_id.clone(), data);
        images.push(up.media_id);
    }
    let mut documents = Vec::new();
    for name in ["contract.pdf", "model-release-1.pdf", "model-release-2.pdf"] {
        let data = format!("%PDF-1.4\n% {name}\n%%EOF\n").into_bytes();
        let up = lab
            .ps
            .upload(&gallery, name, "application/pdf", Bytes::from(data.clone()))
            .await
            .unwrap();
        bytes.insert(up.media_id.clone(), data);
        documents.push(up.media_id);
    }
    Shoot {
        gallery,
        images,
        documents,
        bytes,
    }
}

fn gallery_request(gallery: &str) -> ArchiveRequest {
    ArchiveRequest {
        galleries: vec![gallery.to_string()],
        ..ArchiveRequest::default()
    }
}

/// Checks that every media item of the shoot is in the archive exactly once, written back
/// and paired; returns media id → ref.
async fn assert_archived(lab: &Lab, shoot: &Shoot) -> std::collections::HashMap<String, String> {
    let mut refs = std::collections::HashMap::new();
    for id in shoot.images.iter().chain(&shoot.documents) {
        let found = lab
            .world
            .preservica
            .find_by_identifier(PHOTOSHELTER_ID_TYPE, id);
        assert_eq!(
            found.len(),
            1,
            "{id} is in the archive exactly once: {found:?}"
        );
        let reference = found[0].clone();
        assert_eq!(
            lab.ps_iptc(id, "instructions").as_deref(),
            Some(reference.as_str()),
            "{id}: the preservation reference is written back"
        );
        assert_eq!(
            lab.ps_custom(id, "Archive Status").as_deref(),
            Some("archived")
        );
        assert_eq!(
            lab.store.preservica_ref_of(id).unwrap().as_deref(),
            Some(reference.as_str()),
            "{id} is recorded as a pair"
        );
        refs.insert(id.clone(), reference);
    }
    refs
}

#[tokio::test]
async fn a_gallery_is_archived_end_to_end_and_the_next_sync_finds_it_in_sync() {
    let mut lab = lab().await;
    let shoot = shoot(&lab, "Harbour Regatta 2026").await;
    let out = lab
        .archive(&gallery_request(&shoot.gallery), ArchiveOptions::default())
        .await
        .unwrap();
    assert_eq!(out.outcome, Outcome::Done, "{:?}", out.report);
    let report = out.report.as_ref().unwrap();
    assert_eq!(report.transfers.len(), 6);
    assert!(report.transfers.iter().all(|t| t.state == "done"));

    // The package: one folder for the gallery, an asset per media with its fixity,
    // SourceID, identifier and both fragments; documents name the images they cover.
    let packages = lab.world.preservica.packages();
    assert_eq!(packages.len(), 1);
    let plan = read_package(&packages[0].1).unwrap();
    assert_eq!(plan.folders.len(), 1);
    let folder = &plan.folders[0];
    assert_eq!(folder.title, "Harbour Regatta 2026");
    assert_eq!(
        folder.description.as_deref(),
        Some("Finals day at the harbour; <b>all</b> boats.")
    );
    assert!(
        folder
            .identifiers
            .contains(&("photoshelter_gallery".to_string(), shoot.gallery.clone()))
    );
    assert!(folder.fragments.iter().any(|(schema, _)| schema == DC));
    assert_eq!(plan.assets.len(), 6);
    for a in &plan.assets {
        assert_eq!(a.folder.as_deref(), Some(folder.path.as_str()));
        let media = a
            .identifiers
            .iter()
            .find(|(t, _)| t == PHOTOSHELTER_ID_TYPE)
            .map(|(_, v)| v.clone())
            .expect("a photoshelter identifier");
        let original = &shoot.bytes[&media];
        assert_eq!(&a.bytes, original, "{media}: the original, byte for byte");
        let sha = hex::encode(sha2::Sha256::digest(original));
        assert!(
            a.fixities
                .iter()
                .any(|(alg, v)| alg.eq_ignore_ascii_case("SHA-256") && *v == sha)
        );
        assert!(
            a.source_id
                .as_deref()
                .is_some_and(|s| s.starts_with("ferry-transfer-"))
        );
        let covers: Vec<&String> = a
            .identifiers
            .iter()
            .filter(|(t, _)| t == "ferry-covers")
            .map(|(_, v)| v)
            .collect();
        if shoot.documents.contains(&media) {
            assert_eq!(covers.len(), 3, "{media} covers the three images");
            assert!(shoot.images.iter().all(|i| covers.contains(&i)));
        } else {
            assert!(covers.is_empty());
            let rights = a
                .fragments
                .iter()
                .find(|(schema, _)| schema == RIGHTS_NS)
                .map(|(_, xml)| xml.clone())
                .expect("a ferry rights fragment");
            assert!(rights.contains("Editorial use only"), "{rights}");
            assert!(rights.contains("MR-LMR"), "{rights}");
            assert!(
                rights.contains("Harbour Regatta 2026"),
                "the distribution history: {rights}"
            );
            assert!(
                a.fragments
                    .iter()
                    .any(|(schema, xml)| schema == DC && xml.contains("Ada Lindqvist"))
            );
            assert!(
                a.description
                    .as_deref()
                    .is_some_and(|d| d.contains("<script>alert(1)</script> & wins")),
                "the caption travels as text, escaped on the way: {:?}",
                a.description
            );
        }
    }

    // In the archive: under a new folder in the configured one; written back; paired.
    let refs = assert_archived(&lab, &shoot).await;
    let any = refs.values().next().unwrap();
    let gallery_folder = lab.world.preservica.parent(any).unwrap();
    assert_eq!(
        lab.world.preservica.parent(&gallery_folder).as_deref(),
        Some(lab.world.folder.as_str())
    );
    assert_eq!(lab.store.counts().unwrap().transfers, 6);

    // The next sync sees the new pairs as in sync and writes nothing to them: the archive
    // recorded their agreed baselines, so no field of theirs is even listed (in-sync fields
    // already agreed are only counted).
    let pairs_before = lab.store.counts().unwrap().paired_assets;
    let synced = lab.sync().await;
    assert!(
        synced.report.summary.pairs >= pairs_before,
        "{:?}",
        synced.report.summary
    );
    for id in shoot.images.iter().chain(&shoot.documents) {
        assert!(
            lab.store.preservica_ref_of(id).unwrap().is_some(),
            "{id} is a pair"
        );
        for r in synced
            .report
            .fields
            .iter()
            .filter(|r| r.photoshelter_id.as_deref() == Some(id.as_str()))
        {
            assert_eq!(r.outcome, "in_sync", "{id} {}: {r:?}", r.field);
        }
    }
    assert_eq!(synced.report.summary.pushed_to_photoshelter, 0);
    assert_eq!(synced.report.summary.pushed_to_preservica, 0);

    // Archiving again does nothing new.
    let again = lab
        .archive(&gallery_request(&shoot.gallery), ArchiveOptions::default())
        .await
        .unwrap();
    assert_eq!(again.outcome, Outcome::Done);
    assert!(again.planned.iter().all(|p| p.skip.is_some()));
    assert_eq!(lab.package_uploads(), 1);
}

#[tokio::test]
async fn a_dry_run_lists_what_would_move_with_sizes_and_touches_nothing() {
    let mut lab = lab().await;
    let shoot = shoot(&lab, "Dry Regatta").await;
    let before = lab.world.photoshelter.record(&shoot.images[0]);
    let out = lab
        .archive(
            &gallery_request(&shoot.gallery),
            ArchiveOptions {
                dry_run: true,
                ..ArchiveOptions::default()
            },
        )
        .await
        .unwrap();
    assert!(out.run_id.is_none());
    assert_eq!(out.planned.len(), 6);
    let first = out
        .planned
        .iter()
        .find(|p| p.source == shoot.images[0])
        .unwrap();
    assert_eq!(first.size, Some(shoot.bytes[&shoot.images[0]].len() as u64));
    assert_eq!(first.name, "regatta-0.jpg");
    assert_eq!(lab.package_uploads(), 0);
    assert_eq!(lab.world.photoshelter.record(&shoot.images[0]), before);
    assert_eq!(lab.store.counts().unwrap().transfers, 0);
    assert!(lab.store.runs(10).unwrap().is_empty());
    let mut lines = Vec::new();
    ferry::transfer::describe(&out, &mut |l| lines.push(l));
    assert!(lines[0].starts_with("dry run: 6 to move"), "{lines:?}");
}

#[tokio::test]
async fn a_crash_after_any_step_resumes_without_uploading_twice() {
    for step in ArchiveStep::ALL {
        if step == ArchiveStep::Done {
            continue;
        }
        let mut lab = lab().await;
        let shoot = shoot(&lab, "Crash Regatta").await;
        let request = gallery_request(&shoot.gallery);
        let stopped = lab
            .archive(
                &request,
                ArchiveOptions {
                    stop_after: Some(step),
                    ..ArchiveOptions::default()
                },
            )
            .await;
        assert!(
            matches!(stopped, Err(TransferError::StoppedAfter(s)) if s == step.name()),
            "{step:?}: {stopped:?}"
        );
        let resumed = lab
            .archive(&request, ArchiveOptions::default())
            .await
            .unwrap();
        assert_eq!(
            resumed.outcome,
            Outcome::Done,
            "{step:?}: {:?}",
            resumed.report
        );
        assert_archived(&lab, &shoot).await;
        assert_eq!(
            lab.package_uploads(),
            1,
            "{step:?}: the package went up exactly once"
        );
        // No field written twice with the same value: the write-back happened once.
        let writes = lab
            .world
            .photoshelter
            .log()
            .entries()
            .iter()
            .filter(|r| r.method != "GET" && r.path.contains(&shoot.images[0]))
            .count();
        assert!(
            writes <= 2,
            "{step:?}: one IPTC and one custom write for the image, got {writes}"
        );
        let runs = lab.store.runs(10).unwrap();
        assert_eq!(runs[1].status, "interrupted", "{step:?}");
        assert_eq!(lab.store.integrity_check().unwrap(), Ok(()));
    }
}

#[tokio::test]
async fn a_hostile_file_name_is_sanitised_and_the_mapping_recorded() {
    let mut lab = lab().await;
    let gallery = lab
        .ps
        .create_gallery("Hostile", None, Visibility::Private, false)
        .await
        .unwrap();
    let hostile = "../../etc/passwd\u{7}<b>.jpg";
    let up = lab
        .ps
        .upload(&gallery, hostile, "image/jpeg", Bytes::from(jpeg(9, 5000)))
        .await
        .unwrap();
    let out = lab
        .archive(&gallery_request(&gallery), ArchiveOptions::default())
        .await
        .unwrap();
    assert_eq!(out.outcome, Outcome::Done, "{:?}", out.report);
    let t = lab
        .store
        .transfer_for(TransferKind::Archive, &up.media_id, &lab.world.folder)
        .unwrap()
        .unwrap();
    let packaged = t.detail["packaged_name"].as_str().unwrap().to_string();
    let held = lab
        .world
        .photoshelter
        .record(&up.media_id)
        .unwrap()
        .file_name;
    assert!(
        held.as_deref()
            .is_some_and(|n| n.starts_with("../../etc/passwd"))
    );
    assert_eq!(t.detail["original_name"].as_str(), held.as_deref());
    assert!(!packaged.contains(".."), "{packaged}");
    assert!(!packaged.contains('/'), "{packaged}");
    assert!(!packaged.chars().any(char::is_control), "{packaged}");
    let plan = read_package(&lab.world.preservica.packages()[0].1).unwrap();
    assert!(plan.assets[0].file_name.ends_with(&packaged));
    // XML cannot hold the bell character: the package says U+FFFD in its place.
    assert_eq!(
        plan.assets[0].original_name,
        held.map(|h| h.replace('\u{7}', "\u{FFFD}"))
    );
    let row = &out.report.as_ref().unwrap().transfers[0];
    assert!(row.detail.contains("packaged as"), "{}", row.detail);
    // Nothing was written outside the staging directory, and nothing is left in it.
    let left: Vec<_> = std::fs::read_dir(&lab.settings.archive.staging)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn a_fixity_mismatch_fails_the_transfer_and_writes_nothing_back() {
    let mut lab = lab().await;
    let shoot = shoot(&lab, "Damaged Regatta").await;
    lab.world.preservica.corrupt_ingest(true);
    let before: Vec<_> = shoot
        .images
        .iter()
        .map(|m| lab.world.photoshelter.record(m))
        .collect();
    let out = lab
        .archive(&gallery_request(&shoot.gallery), ArchiveOptions::default())
        .await
        .unwrap();
    assert_eq!(out.outcome, Outcome::Failures);
    let report = out.report.unwrap();
    assert!(report.transfers.iter().all(|t| t.state == "failed"));
    assert!(
        report.transfers[0].detail.contains("fixity mismatch"),
        "{}",
        report.transfers[0].detail
    );
    assert!(
        report
            .failures
            .iter()
            .all(|f| f.error.contains("nothing was written back"))
    );
    let after: Vec<_> = shoot
        .images
        .iter()
        .map(|m| lab.world.photoshelter.record(m))
        .collect();
    assert_eq!(before, after, "PhotoShelter is untouched");
    for m in &shoot.images {
        assert_eq!(lab.store.preservica_ref_of(m).unwrap(), None);
    }
}

#[tokio::test]
async fn making_the_gallery_private_comes_only_after_verified_fixity() {
    let mut lab = lab().await;
    lab.settings.archive.after = AfterArchive::Private;
    let shoot = shoot(&lab, "Slim Regatta").await;
    lab.world.preservica.corrupt_ingest(true);
    lab.archive(&gallery_request(&shoot.gallery), ArchiveOptions::default())
        .await
        .unwrap();
    assert_eq!(
        lab.world.photoshelter.visibility(&shoot.gallery),
        Some(Visibility::Everyone),
        "a failed archive leaves the gallery as it was"
    );
    // Once a good copy exists, the gallery is made private; it still holds every image.
    lab.world.preservica.corrupt_ingest(false);
    let second = shoot_again_after_failure(&mut lab, &shoot).await;
    assert_eq!(second.outcome, Outcome::Done, "{:?}", second.report);
    assert_eq!(
        lab.world.photoshelter.visibility(&shoot.gallery),
        Some(Visibility::Private)
    );
    assert_eq!(
        lab.world
            .photoshelter
            .gallery_media(&shoot.gallery)
            .unwrap()
            .len(),
        6
    );
}

/// After a fixity failure the damaged archive copies stay (ferry never deletes); a person
/// archives into a fresh folder.
async fn shoot_again_after_failure(lab: &mut Lab, shoot: &Shoot) -> TransferOutcome {
    let fresh = lab
        .world
        .preservica
        .add_folder(Some(&lab.world.folder), "Second attempt");
    lab.settings.archive.folder = Some(fresh);
    lab.archive(&gallery_request(&shoot.gallery), ArchiveOptions::default())
        .await
        .unwrap()
}

/// An archive-only asset with content, as ingested long ago.
pub(crate) fn archive_asset(
    lab: &Lab,
    title: &str,
    caption: &str,
    expiry: Option<&str>,
    bytes: &[u8],
) -> String {
    let mut rights = format!(
        "<FerryRights xmlns=\"{RIGHTS_NS}\"><UsageTerms>Credit the harbour museum</UsageTerms>"
    );
    if let Some(e) = expiry {
        rights.push_str(&format!("<LicenseExpiry>{e}</LicenseExpiry>"));
    }
    rights.push_str("</FerryRights>");
    let record = PreservicaRecord {
        title: Some(title.to_string()),
        description: Some(caption.to_string()),
        fragments: vec![
            Fragment {
                schema: RIGHTS_NS.into(),
                xml: rights,
            },
            Fragment {
                schema: DC.into(),
                xml: format!(
                    "<oai_dc:dc xmlns:oai_dc=\"{DC}\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:creator>Harbour Studio</dc:creator><dc:date>1962-07-14</dc:date></oai_dc:dc>"
                ),
            },
        ],
        ..PreservicaRecord::default()
    };
    let reference = lab
        .world
        .preservica
        .add_asset(&lab.world.folder, &record, &[]);
    lab.world
        .preservica
        .add_content(&reference, &format!("{title}.tif"), bytes);
    reference
}

pub(crate) async fn index_everything(lab: &mut Lab) {
    lab.sync().await;
    let mut index = ferry::index::SearchIndex::open(&lab.dir.path().join("index")).unwrap();
    index.set_mapping(lab.mapping.clone());
    index
        .update_from_store(&lab.store, None, chrono::Utc::now().date_naive())
        .unwrap();
}

#[tokio::test]
async fn republish_by_query_into_a_new_private_gallery_with_a_new_campaign() {
    let mut lab = lab().await;
    let content = jpeg(62, 80_000);
    let regatta = archive_asset(
        &lab,
        "Regatta 1962",
        "The 1962 harbour regatta from the pier",
        Some("2099-01-01"),
        &content,
    );
    archive_asset(&lab, "Market 1975", "Winter market", None, &jpeg(75, 1000));
    index_everything(&mut lab).await;

    let request = RepublishRequest {
        query: Some("regatta 1962".into()),
        to_gallery: "Anniversary 2027".into(),
        set: vec![("campaign".into(), "Anniversary 2027".into())],
        ..RepublishRequest::default()
    };
    let out = lab
        .republish(&request, RepublishOptions::default())
        .await
        .unwrap();
    assert_eq!(out.outcome, Outcome::Done, "{:?}", out.report);
    let report = out.report.as_ref().unwrap();
    assert_eq!(report.transfers.len(), 1, "only the regatta matches");
    let media = report.transfers[0].target.clone().unwrap();

    let galleries = lab.ps.galleries_named("Anniversary 2027").await.unwrap();
    assert_eq!(galleries.len(), 1);
    assert_eq!(
        lab.world.photoshelter.visibility(&galleries[0]),
        Some(Visibility::Private)
    );
    assert_eq!(
        lab.world.photoshelter.gallery_media(&galleries[0]).unwrap(),
        vec![media.clone()]
    );
    assert_eq!(
        lab.world.photoshelter.media_bytes(&media).unwrap().as_ref(),
        content.as_slice()
    );
    assert_eq!(
        lab.ps_iptc(&media, "title").as_deref(),
        Some("Regatta 1962")
    );
    assert_eq!(
        lab.ps_iptc(&media, "caption").as_deref(),
        Some("The 1962 harbour regatta from the pier")
    );
    assert_eq!(
        lab.ps_iptc(&media, "rights").as_deref(),
        Some("Credit the harbour museum"),
        "usage terms travel"
    );
    assert_eq!(
        lab.ps_iptc(&media, "instructions").as_deref(),
        Some(regatta.as_str())
    );
    assert_eq!(
        lab.ps_custom(&media, "Campaign").as_deref(),
        Some("Anniversary 2027")
    );
    assert_eq!(
        lab.world
            .photoshelter
            .record(&media)
            .unwrap()
            .license
            .get("expiration_date")
            .and_then(|v| v.as_str())
            .map(|s| s.starts_with("2099-01-01")),
        Some(true),
        "the licence expiry travels"
    );
    // Paired both ways, so later syncs keep them consistent.
    assert_eq!(
        lab.store.preservica_ref_of(&media).unwrap().as_deref(),
        Some(regatta.as_str())
    );
    assert!(
        lab.world
            .preservica
            .identifiers(&regatta)
            .iter()
            .any(|i| i.kind == PHOTOSHELTER_ID_TYPE && i.value == media)
    );

    // A second republish into the same gallery is a no-op.
    let uploads = |lab: &Lab| {
        lab.world
            .photoshelter
            .log()
            .entries()
            .iter()
            .filter(|r| r.path.contains("image/upload"))
            .count()
    };
    let before = uploads(&lab);
    let again = lab
        .republish(&request, RepublishOptions::default())
        .await
        .unwrap();
    assert_eq!(again.outcome, Outcome::Done);
    assert_eq!(uploads(&lab), before);
    assert!(
        again.planned[0]
            .skip
            .as_deref()
            .is_some_and(|s| s.contains("already republished")),
        "{:?}",
        again.planned
    );
    assert_eq!(
        lab.world
            .photoshelter
            .gallery_media(&galleries[0])
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn an_expired_licence_is_refused_unless_allowed() {
    let mut lab = lab().await;
    let old = archive_asset(
        &lab,
        "Pier 1950",
        "The old pier",
        Some("2001-05-31"),
        &jpeg(50, 900),
    );
    let request = RepublishRequest {
        refs: vec![old.clone()],
        to_gallery: "Reuse".into(),
        ..RepublishRequest::default()
    };
    let out = lab
        .republish(&request, RepublishOptions::default())
        .await
        .unwrap();
    assert_eq!(out.outcome, Outcome::SomeSkipped);
    assert!(
        out.planned[0]
            .skip
            .as_deref()
            .is_some_and(|s| s.contains("licence expired on 2001-05-31")),
        "{:?}",
        out.planned
    );
    assert!(lab.ps.galleries_named("Reuse").await.unwrap().is_empty());
    let allowed = lab
        .republish(
            &RepublishRequest {
                allow_expired: true,
                ..request
            },
            RepublishOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(allowed.outcome, Outcome::Done, "{:?}", allowed.report);
    let media = allowed.report.unwrap().transfers[0].target.clone().unwrap();
    assert_eq!(
        lab.world
            .photoshelter
            .record(&media)
            .unwrap()
            .license
            .get("expiration_date")
            .and_then(|v| v.as_str())
            .map(|s| s.starts_with("2001-05-31")),
        Some(true),
        "the expired date goes with it"
    );
}

#[tokio::test]
async fn a_republish_stopped_at_any_step_resumes_without_a_second_upload() {
    for step in RepublishStep::ALL {
        if step == RepublishStep::Done {
            continue;
        }
        let mut lab = lab().await;
        let reference = archive_asset(&lab, "Lighthouse 1958", "Night", None, &jpeg(58, 3000));
        let request = RepublishRequest {
            refs: vec![reference.clone()],
            to_gallery: "Lights".into(),
            ..RepublishRequest::default()
        };
        let stopped = lab
            .republish(
                &request,
                RepublishOptions {
                    stop_after: Some(step),
                    ..RepublishOptions::default()
                },
            )
            .await;
        assert!(
            matches!(stopped, Err(TransferError::StoppedAfter(_))),
            "{step:?}: {stopped:?}"
        );
        let out = lab
            .republish(&request, RepublishOptions::default())
            .await
            .unwrap();
        assert_eq!(out.outcome, Outcome::Done, "{step:?}: {:?}", out.report);
        let gallery = lab.ps.galleries_named("Lights").await.unwrap();
        assert_eq!(gallery.len(), 1, "{step:?}: one gallery");
        assert_eq!(
            lab.world
                .photoshelter
                .gallery_media(&gallery[0])
                .unwrap()
                .len(),
            1,
            "{step:?}: one upload"
        );
        let t = lab
            .store
            .transfer_for(TransferKind::Republish, &reference, &gallery[0])
            .unwrap()
            .unwrap();
        assert_eq!(t.state, TransferState::Done);
    }
}

#[tokio::test]
async fn republish_by_folder_takes_every_asset_in_it_and_bad_overrides_are_named() {
    let mut lab = lab().await;
    let folder = lab
        .world
        .preservica
        .add_folder(Some(&lab.world.folder), "Box 12");
    for i in 0..2u8 {
        let record = PreservicaRecord {
            title: Some(format!("Box 12 item {i}")),
            ..PreservicaRecord::default()
        };
        let r = lab.world.preservica.add_asset(&folder, &record, &[]);
        lab.world
            .preservica
            .add_content(&r, &format!("item-{i}.jpg"), &jpeg(i, 700));
    }
    let bad = lab
        .republish(
            &RepublishRequest {
                folder: Some(folder.clone()),
                to_gallery: "Box 12".into(),
                set: vec![("colour".into(), "red".into())],
                ..RepublishRequest::default()
            },
            RepublishOptions::default(),
        )
        .await;
    let err = bad.unwrap_err().to_string();
    assert!(
        err.contains("--set colour=red") && err.contains("no field"),
        "{err}"
    );
    let out = lab
        .republish(
            &RepublishRequest {
                folder: Some(folder),
                to_gallery: "Box 12".into(),
                ..RepublishRequest::default()
            },
            RepublishOptions {
                dry_run: true,
                ..RepublishOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(out.planned.len(), 2);
    assert!(out.planned.iter().all(|p| p.size == Some(713)));
    assert!(lab.ps.galleries_named("Box 12").await.unwrap().is_empty());
}

/// Runs the ferry binary to completion and returns (exit code, stdout, stderr, peak resident
/// memory in bytes). The peak is the kernel's high-water mark of the child's own address
/// space (`VmHWM`), read while it runs: `wait4`'s `ru_maxrss` would also count the test
/// process's memory, which the child shares until it execs.
fn ferry_measured(dir: &std::path::Path, args: &[&str]) -> (i32, String, String, u64) {
    use std::io::Read;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the ferry binary runs");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).unwrap();
        s
    });
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_kb = peak_kb.max(kb);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ferry {args:?} runs too long"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    (
        status.code().unwrap_or(-1),
        out.join().unwrap(),
        err.join().unwrap(),
        peak_kb * 1024,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commands_move_a_file_far_larger_than_their_buffers_in_bounded_memory() {
    const BIG: usize = 64 * 1024 * 1024;
    let lab = lab().await;
    let gallery = lab
        .ps
        .create_gallery("Big scans", None, Visibility::Private, false)
        .await
        .unwrap();
    let big = jpeg(3, BIG);
    let up = lab
        .ps
        .upload(
            &gallery,
            "drum-scan.jpg",
            "image/jpeg",
            Bytes::from(big.clone()),
        )
        .await
        .unwrap();
    // The same work on a small file, for the memory every run needs whatever it moves.
    let small_gallery = lab
        .ps
        .create_gallery("Small scans", None, Visibility::Private, false)
        .await
        .unwrap();
    let small = lab
        .ps
        .upload(
            &small_gallery,
            "contact-sheet.jpg",
            "image/jpeg",
            Bytes::from(jpeg(4, 4096)),
        )
        .await
        .unwrap();
    let dir = lab.dir.path().to_path_buf();
    ferry::world::write_config(
        &dir,
        &lab.world,
        &format!("[archive]\nfolder = \"{}\"\n", lab.world.folder),
    )
    .unwrap();
    let run = |args: Vec<String>| {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ferry_measured(&dir, &args)
        })
    };
    let (code, stdout, stderr, _) = run(vec![
        "archive".into(),
        "--gallery".into(),
        gallery.clone(),
        "--dry-run".into(),
    ])
    .await
    .unwrap();
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("dry run: 1 to move (64.0 MiB)"), "{stdout}");
    assert!(lab.world.preservica.packages().is_empty());

    let (code, stdout, stderr, base) =
        run(vec!["archive".into(), "--gallery".into(), small_gallery])
            .await
            .unwrap();
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, stdout, stderr, peak) = run(vec!["archive".into(), "--gallery".into(), gallery])
        .await
        .unwrap();
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("1 done, 0 failed"), "{stdout}");
    println!(
        "ferry archive: peak RSS {} MiB for a 64 MiB file, {} MiB for 4 KiB",
        peak >> 20,
        base >> 20
    );
    assert!(
        peak < base + 24 * 1024 * 1024,
        "archiving a 64 MiB file peaked at {} MiB, a 4 KiB one at {} MiB",
        peak >> 20,
        base >> 20
    );
    let reference = lab
        .world
        .preservica
        .find_by_identifier(PHOTOSHELTER_ID_TYPE, &up.media_id)
        .pop()
        .unwrap();
    let (_, ingested) = lab.world.preservica.packages().pop().unwrap();
    assert!(ingested.len() > BIG, "the package holds the whole file");

    let small_ref = lab
        .world
        .preservica
        .find_by_identifier(PHOTOSHELTER_ID_TYPE, &small.media_id)
        .pop()
        .unwrap();
    let republish = |reference: String| {
        run(vec![
            "republish".into(),
            "--ref".into(),
            reference,
            "--to-gallery".into(),
            "Big copies".into(),
        ])
    };
    let (code, stdout, stderr, base) = republish(small_ref).await.unwrap();
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, stdout, stderr, peak) = republish(reference).await.unwrap();
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    println!(
        "ferry republish: peak RSS {} MiB for a 64 MiB file, {} MiB for 4 KiB",
        peak >> 20,
        base >> 20
    );
    assert!(
        peak < base + 24 * 1024 * 1024,
        "republishing a 64 MiB file peaked at {} MiB, a 4 KiB one at {} MiB",
        peak >> 20,
        base >> 20
    );
    let copies = lab.ps.galleries_named("Big copies").await.unwrap();
    let copies = lab.world.photoshelter.gallery_media(&copies[0]).unwrap();
    assert_eq!(copies.len(), 2);
    assert_eq!(
        lab.world
            .photoshelter
            .media_bytes(&copies[1])
            .unwrap()
            .as_ref(),
        big.as_slice()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_republishes_ticked_search_results() {
    let mut lab = lab().await;
    let regatta = archive_asset(
        &lab,
        "Regatta 1962",
        "The 1962 harbour regatta",
        None,
        &jpeg(62, 2000),
    );
    let gallery = lab
        .ps
        .create_gallery("Previews", None, Visibility::Private, false)
        .await
        .unwrap();
    let picture = jpeg(8, 3000);
    let up = lab
        .ps
        .upload(
            &gallery,
            "quay.jpg",
            "image/jpeg",
            Bytes::from(picture.clone()),
        )
        .await
        .unwrap();
    index_everything(&mut lab).await;
    let (app, tx) = web_app(&lab).await;
    let http = reqwest::Client::new();
    let page = http
        .get(format!("{}/?q=regatta+1962", app.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("name=\"ref\" value=\"{regatta}\"")),
        "the archive asset can be ticked"
    );
    let csrf = crate::server::csrf_of(&page);
    let post = |form: Vec<(&'static str, String)>| {
        http.post(format!("{}/republish", app.url()))
            .header("Origin", app.url())
            .form(&form)
            .send()
    };
    let forged = post(vec![
        ("ref", regatta.clone()),
        ("gallery", "Web picks".into()),
        ("csrf", "0".repeat(64)),
    ])
    .await
    .unwrap();
    assert_eq!(forged.status(), 403);
    let nothing = post(vec![
        ("gallery", "Web picks".into()),
        ("csrf", csrf.clone()),
    ])
    .await
    .unwrap();
    assert_eq!(nothing.status(), 400);
    let done = post(vec![
        ("ref", regatta.clone()),
        ("gallery", "Web picks".into()),
        ("campaign", "Anniversary 2027".into()),
        ("csrf", csrf.clone()),
    ])
    .await
    .unwrap();
    assert_eq!(done.status(), 200);
    let text = done.text().await.unwrap();
    assert!(text.contains("1 done, 0 failed"), "{text}");
    let galleries = lab.ps.galleries_named("Web picks").await.unwrap();
    let media = lab.world.photoshelter.gallery_media(&galleries[0]).unwrap();
    assert_eq!(media.len(), 1);
    assert_eq!(
        lab.ps_custom(&media[0], "Campaign").as_deref(),
        Some("Anniversary 2027")
    );
    // Asset pages show a preview fetched from the system that holds the picture.
    let asset = crate::helpers::asset_row(&lab.store, &up.media_id).id;
    let page = http
        .get(format!("{}/assets/{asset}", app.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The medium thumbnail links to the full picture.
    assert!(
        page.contains(&format!("href=\"/assets/{asset}/preview\"")),
        "{page}"
    );
    let preview = http
        .get(format!("{}/assets/{asset}/preview", app.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(preview.status(), 200);
    assert_eq!(
        preview.headers()["content-type"].to_str().unwrap(),
        "image/jpeg"
    );
    assert_eq!(preview.bytes().await.unwrap().as_ref(), picture.as_slice());
    // The TIFF master of the archive-only asset is not something a browser shows.
    let tiff = lab
        .store
        .assets()
        .unwrap()
        .into_iter()
        .find(|a| a.preservica_ref.as_deref() == Some(regatta.as_str()))
        .unwrap()
        .id;
    let none = http
        .get(format!("{}/assets/{tiff}/preview", app.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 404);
    let _ = tx.send(());
    app.wait().await.unwrap();
}

#[tokio::test]
async fn assets_are_found_by_the_gallery_or_folder_they_are_filed_in() {
    let mut lab = lab().await;
    let shoot = shoot(&lab, "Harbour Regatta 2026").await;
    let box12 = lab
        .world
        .preservica
        .add_folder(Some(&lab.world.folder), "Box 12 negatives");
    let record = PreservicaRecord {
        title: Some("Pier at dawn".into()),
        ..PreservicaRecord::default()
    };
    let pier = lab.world.preservica.add_asset(&box12, &record, &[]);
    index_everything(&mut lab).await;
    let index = ferry::index::SearchIndex::open_read_only(&lab.dir.path().join("index")).unwrap();
    let today = chrono::Utc::now().date_naive();
    let search = |q: &str| {
        let mut r = ferry::index::SearchRequest::new(q, today);
        r.limit = 50;
        index.search(&r).unwrap()
    };
    let in_gallery = search("gallery:\"Harbour Regatta 2026\"");
    let mut found: Vec<String> = in_gallery
        .hits
        .iter()
        .filter_map(|h| h.photoshelter_id.clone())
        .collect();
    found.sort();
    let mut expected: Vec<String> = shoot
        .images
        .iter()
        .chain(&shoot.documents)
        .cloned()
        .collect();
    expected.sort();
    assert_eq!(found, expected);
    let in_folder = search("folder:\"box 12\"");
    assert_eq!(in_folder.total, 1);
    assert_eq!(
        in_folder.hits[0].preservica_ref.as_deref(),
        Some(pier.as_str())
    );
    // Free words find the folder too.
    assert!(
        search("negatives")
            .hits
            .iter()
            .any(|h| h.preservica_ref.as_deref() == Some(pier.as_str()))
    );
}

#[tokio::test]
async fn a_transfer_run_whose_report_cannot_be_written_ends_failed_naming_the_path() {
    let mut lab = lab().await;
    // A file where the reports directory should be.
    let blocked = lab.dir.path().join("reports");
    std::fs::write(&blocked, "not a directory").unwrap();
    let err = lab
        .archive(&ArchiveRequest::default(), ArchiveOptions::default())
        .await
        .expect_err("the report cannot be written");
    let path = blocked.display().to_string();
    assert!(err.to_string().contains(&path), "{err}");
    let run = lab.store.run_details(1).unwrap().remove(0);
    assert_eq!(
        (run.kind.as_str(), run.status.as_str()),
        ("archive", "failed")
    );
    assert!(run.finished_at.is_some());
    assert!(
        run.summary
            .is_some_and(|s| s.to_string().contains("\"transfers\""))
    );
    assert!(run.error.is_some_and(|e| e.contains(&path)));
    // The lock was let go: once the directory can be made, the next run goes ahead.
    std::fs::remove_file(&blocked).unwrap();
    let out = lab
        .archive(&ArchiveRequest::default(), ArchiveOptions::default())
        .await
        .unwrap();
    assert!(out.paths.is_some_and(|p| p.html.exists()));
}

/// The web app over the lab's store and index, with republish enabled; stops when the sender
/// is dropped or sent to.
pub(crate) async fn web_app(
    lab: &Lab,
) -> (ferry::server::Running, tokio::sync::oneshot::Sender<()>) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = ferry::server::start(
        ferry::server::ServerOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            access_token: None,
            store_path: lab.dir.path().join("ferry.db"),
            index_dir: lab.dir.path().join("index"),
            reports_dir: lab.dir.path().join("reports"),
            mapping: lab.mapping.clone(),
            index: None,
            republisher: Some(ferry::server::Republisher {
                photoshelter: lab.world.photoshelter_config(),
                preservica: lab.world.preservica_connection(),
                archive: lab.settings.archive.clone(),
                republish: RepublishConfig::default(),
            }),
            thumbnails: Default::default(),
            live: None,
        },
        async {
            let _ = rx.await;
        },
    )
    .await
    .unwrap();
    (app, tx)
}
