//! Concurrent edits: someone edits a record between ferry's re-read and its write. Neither
//! API offers a conditional write, so the edit can be overwritten; what ferry must do is see
//! what the API lets it see, mark the write "may have replaced a concurrent edit" in the
//! report, and queue the field for review with the value it read and the value it wrote.
//! The emulators' `edit_during` hooks make the edit land exactly in that window: just before
//! the emulator handles ferry's write.

use crate::helpers::repo_file;
use ferry::emulate::EditDuring;
use ferry::exit::Outcome;
use ferry::mapping::Mapping;
use ferry::photoshelter::client::PhotoShelterClient;
use ferry::photoshelter::emulator::IptcEdit;
use ferry::preservica::client::PreservicaClient;
use ferry::preservica::emulator::{ARCHIVIST, ArchivistEdit};
use ferry::store::Store;
use ferry::sync::{SyncOptions, SyncOutcome, run_sync};
use std::time::Duration;

struct Lab {
    world: ferry::world::World,
    mapping: Mapping,
    ps: PhotoShelterClient,
    pv: PreservicaClient,
    store: Store,
    dir: tempfile::TempDir,
}

async fn lab() -> Lab {
    let mapping = Mapping::load(&repo_file("mappings/default.toml")).unwrap();
    let world = crate::helpers::world(6, &mapping).await;
    let ps = PhotoShelterClient::new(&world.photoshelter_config()).unwrap();
    let pv = PreservicaClient::new(world.preservica_connection()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("ferry.db")).unwrap();
    let mut lab = Lab {
        world,
        mapping,
        ps,
        pv,
        store,
        dir,
    };
    let first = lab.sync().await;
    assert_eq!(first.report.summary.drifted, 0);
    lab
}

impl Lab {
    async fn sync(&mut self) -> SyncOutcome {
        let ctx = crate::helpers::sync_context(
            &self.mapping,
            &self.ps,
            &self.pv,
            self.dir.path().join("reports"),
        );
        let opts = SyncOptions {
            full: true,
            ..Default::default()
        };
        tokio::time::timeout(
            Duration::from_secs(120),
            run_sync(&mut self.store, &ctx, &opts),
        )
        .await
        .expect("a sync run finishes within two minutes")
        .expect("the run completes")
    }

    fn pair(&self, i: usize) -> (String, String) {
        self.world.pairs[i].clone()
    }

    async fn description(&self, reference: &str) -> Option<String> {
        self.pv.read_asset(reference).await.unwrap().description
    }

    fn ps_iptc(&self, media: &str, field: &str) -> Option<String> {
        self.world.photoshelter.record(media).and_then(|r| {
            r.iptc
                .get(field)
                .and_then(|v| v.as_str().map(str::to_string))
                .filter(|s| !s.is_empty())
        })
    }
}

#[tokio::test]
async fn a_preservica_edit_between_re_read_and_write_is_marked_and_queued_with_both_values() {
    let mut lab = lab().await;
    let (m0, r0) = lab.pair(0);
    let (m1, r1) = lab.pair(1);
    let read_before = lab.description(&r0).await;
    // Two captions change in PhotoShelter: both go to Preservica's Description.
    let ps = &lab.world.photoshelter;
    ps.set_iptc(&m0, "caption", Some("Nets drying on the slip"));
    ps.set_iptc(&m1, "caption", Some("Crab pots on the quay"));
    // While ferry writes the first, an archivist retitles the same asset: ferry's PUT of the
    // entity carries the title it re-read, so the archivist's title is overwritten.
    lab.world.preservica.edit_during(EditDuring {
        method: "PUT".into(),
        path_contains: format!("/information-objects/{r0}"),
        edit: ArchivistEdit::Title {
            reference: r0.clone(),
            title: "Slipway at low tide (archivist)".into(),
        },
    });
    let out = lab.sync().await;
    assert_eq!(out.outcome, Outcome::Done, "{:?}", out.report.failures);
    // Both corrections are written and verified.
    assert_eq!(
        lab.description(&r0).await.as_deref(),
        Some("Nets drying on the slip")
    );
    assert_eq!(
        lab.description(&r1).await.as_deref(),
        Some("Crab pots on the quay")
    );
    // The archivist's title is gone: exactly what the mark is about.
    assert_ne!(
        lab.world.preservica.title(&r0).as_deref(),
        Some("Slipway at low tide (archivist)")
    );
    // Only the write that had someone else's change in its window is marked.
    let marked = &out.report.concurrent_edits;
    assert_eq!(marked.len(), 1, "{marked:#?}");
    let c = &marked[0];
    assert_eq!(
        (c.system.as_str(), c.item.as_str(), c.field.as_str()),
        ("preservica", r0.as_str(), "caption")
    );
    assert_eq!(c.note, "may have replaced a concurrent edit");
    assert_eq!(c.value_read, read_before);
    assert_eq!(c.value_written.as_deref(), Some("Nets drying on the slip"));
    assert!(c.evidence.contains(ARCHIVIST), "{}", c.evidence);
    assert_eq!(out.report.summary.concurrent_edits, 1);
    let html = std::fs::read_to_string(&out.paths.html).unwrap();
    assert!(html.contains("may have replaced a concurrent edit"));
    // The field waits for a person with both values ferry knows: Preservica's as ferry read
    // it, and the one ferry wrote (PhotoShelter's).
    let items = lab.store.review_items(true).unwrap();
    let item = items
        .iter()
        .find(|i| i.preservica_ref.as_deref() == Some(r0.as_str()) && i.field == "caption")
        .unwrap_or_else(|| panic!("caption queued for review: {items:#?}"));
    assert_eq!(item.preservica_value, read_before);
    assert_eq!(
        item.photoshelter_value.as_deref(),
        Some("Nets drying on the slip")
    );
    assert!(
        item.reason
            .starts_with("may have replaced a concurrent edit: Preservica recorded 1 change by archivist@ferry.local"),
        "{}",
        item.reason
    );
    assert!(
        !items
            .iter()
            .any(|i| i.preservica_ref.as_deref() == Some(r1.as_str()))
    );

    // The person takes the value Preservica held: the next sync writes it to both systems.
    assert!(
        lab.store
            .resolve_review(item.id, "preservica", None, chrono::Utc::now())
            .unwrap()
    );
    let out = lab.sync().await;
    assert_eq!(out.outcome, Outcome::Done, "{:?}", out.report.failures);
    assert!(out.report.concurrent_edits.is_empty());
    assert_eq!(lab.description(&r0).await, read_before);
    assert_eq!(lab.ps_iptc(&m0, "caption"), read_before);
    assert!(lab.store.review_items(true).unwrap().is_empty());
}

#[tokio::test]
async fn a_photoshelter_edit_between_re_read_and_write_is_marked_when_photoshelter_shows_it() {
    let mut lab = lab().await;
    let (m0, r0) = lab.pair(0);
    let (m1, r1) = lab.pair(1);
    let title_before = lab.ps_iptc(&m0, "title");
    // Two titles change in Preservica: both go to PhotoShelter's IPTC title.
    lab.world.preservica.set_title(&r0, "Regatta, 1962");
    lab.world.preservica.set_title(&r1, "Harbour wall, 1958");
    // While ferry writes the first, a photo editor saves the IPTC panel with a new title and
    // a new headline. ferry's write replaces the title; the headline shows someone was there.
    lab.world.photoshelter.edit_during(EditDuring {
        method: "PATCH".into(),
        path_contains: format!("/media/{m0}/iptc"),
        edit: IptcEdit {
            media_id: m0.clone(),
            fields: vec![
                ("title".into(), Some("Regatta finals (editor)".into())),
                ("headline".into(), Some("Finals day".into())),
            ],
        },
    });
    let out = lab.sync().await;
    assert_eq!(out.outcome, Outcome::Done, "{:?}", out.report.failures);
    assert_eq!(lab.ps_iptc(&m0, "title").as_deref(), Some("Regatta, 1962"));
    assert_eq!(
        lab.ps_iptc(&m1, "title").as_deref(),
        Some("Harbour wall, 1958")
    );
    let marked = &out.report.concurrent_edits;
    assert_eq!(marked.len(), 1, "{marked:#?}");
    let c = &marked[0];
    assert_eq!(
        (c.system.as_str(), c.item.as_str(), c.field.as_str()),
        ("photoshelter", m0.as_str(), "title")
    );
    assert_eq!(c.value_read, title_before);
    assert_eq!(c.value_written.as_deref(), Some("Regatta, 1962"));
    assert!(c.evidence.contains("IPTC headline"), "{}", c.evidence);
    let items = lab.store.review_items(true).unwrap();
    let item = items
        .iter()
        .find(|i| i.photoshelter_id.as_deref() == Some(m0.as_str()) && i.field == "title")
        .unwrap_or_else(|| panic!("title queued for review: {items:#?}"));
    assert_eq!(item.photoshelter_value, title_before);
    assert_eq!(item.preservica_value.as_deref(), Some("Regatta, 1962"));
    assert!(item.reason.contains("may have replaced a concurrent edit"));
    // The value ferry replaced is in field history too: nothing ferry saw is lost.
    let history = lab
        .store
        .field_history(crate::helpers::asset_row(&lab.store, &m0).id)
        .unwrap();
    assert!(
        history.iter().any(|h| h.field == "title"
            && h.old_value == title_before
            && h.reason.contains("may have replaced")),
        "{history:#?}"
    );
}
