//! Sync scenarios, one per row of the three-way table and per safety promise, in the spirit of
//! rclone bisync's scenario suite: both emulators, real HTTP, a store in a temp directory.

use crate::helpers::repo_file;
use ferry::emulate::FaultOptions;
use ferry::exit::Outcome;
use ferry::mapping::Mapping;
use ferry::model::System;
use ferry::photoshelter::client::PhotoShelterClient;
use ferry::preservica::client::PreservicaClient;
use ferry::store::OutboxEntry;
use ferry::store::Store;
use ferry::sync::{SyncError, SyncOptions, SyncOutcome, run_sync};
use ferry::world::World;
use std::time::Duration;

mod forms;
mod reads;

const DC: &str = "http://www.openarchives.org/OAI/2.0/oai_dc/";

struct Harness {
    world: World,
    mapping: Mapping,
    ps: PhotoShelterClient,
    pv: PreservicaClient,
    store: Store,
    dir: tempfile::TempDir,
    min_assets: u64,
    rights: ferry::config::RightsConfig,
}

async fn harness(media: usize) -> Harness {
    let mapping = Mapping::load(&repo_file("mappings/default.toml")).unwrap();
    let world = crate::helpers::world(media, &mapping).await;
    let ps = PhotoShelterClient::new(&world.photoshelter_config()).unwrap();
    let pv = PreservicaClient::new(world.preservica_connection()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("ferry.db")).unwrap();
    Harness {
        world,
        mapping,
        ps,
        pv,
        store,
        dir,
        min_assets: 50,
        rights: Default::default(),
    }
}

impl Harness {
    async fn run(&mut self, opts: SyncOptions) -> Result<SyncOutcome, SyncError> {
        let mut ctx = crate::helpers::sync_context(
            &self.mapping,
            &self.ps,
            &self.pv,
            self.dir.path().join("reports"),
        );
        ctx.min_assets = self.min_assets;
        ctx.rights = self.rights.clone();
        tokio::time::timeout(
            Duration::from_secs(120),
            run_sync(&mut self.store, &ctx, &opts),
        )
        .await
        .expect("a sync run finishes within two minutes")
    }

    async fn sync(&mut self) -> SyncOutcome {
        self.run(SyncOptions::default())
            .await
            .expect("the run completes")
    }

    /// A `--full` run: every pair compared again.
    async fn full(&mut self) -> SyncOutcome {
        self.run(SyncOptions {
            full: true,
            ..Default::default()
        })
        .await
        .expect("the run completes")
    }

    fn pair(&self, i: usize) -> (String, String) {
        self.world.pairs[i].clone()
    }

    fn ps_iptc(&self, media: &str, field: &str) -> Option<String> {
        self.world
            .photoshelter
            .record(media)
            .and_then(|r| {
                r.iptc
                    .get(field)
                    .and_then(|v| v.as_str().map(str::to_string))
            })
            .filter(|s| !s.is_empty())
    }

    fn writes_logged(&self) -> usize {
        let writes = |log: Vec<ferry::emulate::LoggedRequest>| {
            log.iter()
                .filter(|r| {
                    matches!(r.method.as_str(), "PUT" | "PATCH" | "DELETE")
                        || (r.method == "POST"
                            && !r.path.contains("accesstoken")
                            && !r.path.contains("authenticate"))
                })
                .count()
        };
        writes(self.world.photoshelter.log().entries())
            + writes(self.world.preservica.log().entries())
    }

    fn row<'a>(
        out: &'a SyncOutcome,
        asset_media: &str,
        field: &str,
    ) -> &'a ferry::report::FieldRow {
        out.report
            .fields
            .iter()
            .find(|r| r.photoshelter_id.as_deref() == Some(asset_media) && r.field == field)
            .unwrap_or_else(|| panic!("no report row for {asset_media} {field}"))
    }
}

#[tokio::test]
async fn a_first_run_of_mirrored_libraries_is_all_in_sync_and_writes_nothing() {
    let mut h = harness(12).await;
    let out = h.sync().await;
    assert_eq!(out.outcome, Outcome::Done, "{:?}", out.report.failures);
    let s = &out.report.summary;
    assert_eq!(s.pairs, 12);
    assert_eq!(
        s.drifted,
        0,
        "{:#?}",
        out.report
            .fields
            .iter()
            .filter(|r| r.outcome != "in_sync")
            .collect::<Vec<_>>()
    );
    assert!(s.in_sync > 0);
    assert_eq!(h.writes_logged(), 0);
    // Every field now has a baseline.
    assert!(h.store.counts().unwrap().baselines > 0);
    assert!(out.paths.html.exists() && out.paths.json.exists() && out.paths.csv.exists());
}

#[tokio::test]
async fn a_change_in_one_system_is_pushed_to_the_other() {
    let mut h = harness(6).await;
    h.sync().await;
    let (m0, r0) = h.pair(0);
    let (m1, r1) = h.pair(1);
    // PhotoShelter caption edited → Preservica Description follows.
    h.world
        .photoshelter
        .set_iptc(&m0, "caption", Some("Boats leaving the harbour at dawn"));
    // Preservica title edited → PhotoShelter title follows.
    h.world.preservica.set_title(&r1, "Regatta, 1962");
    let out = h.full().await;
    assert_eq!(out.outcome, Outcome::Done, "{:?}", out.report.failures);
    let row = Harness::row(&out, &m0, "caption");
    assert_eq!(
        (row.outcome.as_str(), row.write_state.as_str()),
        ("push_to_preservica", "done")
    );
    let row = Harness::row(&out, &m1, "title");
    assert_eq!(
        (row.outcome.as_str(), row.write_state.as_str()),
        ("push_to_photoshelter", "done")
    );
    assert_eq!(out.report.summary.pushed_to_preservica, 1);
    assert_eq!(out.report.summary.pushed_to_photoshelter, 1);
    let asset = h.pv.read_asset(&r0).await.unwrap();
    assert_eq!(
        asset.description.as_deref(),
        Some("Boats leaving the harbour at dawn")
    );
    assert_eq!(h.ps_iptc(&m1, "title").as_deref(), Some("Regatta, 1962"));
    // The next run sees everything in sync and writes nothing more.
    let before = h.writes_logged();
    let out = h.full().await;
    assert_eq!(out.report.summary.drifted, 0);
    assert_eq!(h.writes_logged(), before);
}

#[tokio::test]
async fn true_conflicts_follow_each_rule_and_keep_the_losing_value() {
    let mut h = harness(6).await;
    h.sync().await;
    let (m0, r0) = h.pair(0);
    let (m1, r1) = h.pair(1);
    let (m2, r2) = h.pair(2);
    // caption: PhotoShelter owns it.
    h.world
        .photoshelter
        .set_iptc(&m0, "caption", Some("PS caption"));
    h.world
        .preservica
        .set_title(&r0, &h.world.preservica.title(&r0).unwrap());
    let pv_record = h.pv.read_asset(&r0).await.unwrap();
    let mut changed = pv_record.clone();
    changed.description = Some("PV caption".into());
    let write = ferry::mapping::preservica::PreservicaWrite {
        description: Some(Some("PV caption".into())),
        ..Default::default()
    };
    h.pv.apply_write(&r0, &write).await.unwrap();
    // keywords: union.
    h.world
        .photoshelter
        .set_iptc(&m1, "keywords", Some("alpha, beta"));
    let dc = h.world.preservica.fragment(&r1, DC).unwrap();
    let dc = regex_replace_subjects(&dc, &["beta", "gamma"]);
    h.world.preservica.set_fragment(&r1, DC, &dc);
    // copyright: manual → review queue, nothing written.
    h.world
        .photoshelter
        .set_iptc(&m2, "copyright", Some("© PS"));
    let dc = h.world.preservica.fragment(&r2, DC).unwrap();
    let dc = replace_element(&dc, "dc:rights", "© PV");
    h.world.preservica.set_fragment(&r2, DC, &dc);

    let out = h.full().await;
    let caption = Harness::row(&out, &m0, "caption");
    assert_eq!(caption.outcome, "push_to_preservica");
    assert_eq!(
        caption.reason,
        "changed in both systems: PhotoShelter owns this field"
    );
    assert_eq!(
        h.pv.read_asset(&r0).await.unwrap().description.as_deref(),
        Some("PS caption")
    );
    let keywords = Harness::row(&out, &m1, "keywords");
    assert_eq!(keywords.outcome, "conflict_resolved");
    // The report row keeps a set in its stored form; people see its members.
    assert_eq!(
        keywords.shown(&keywords.decided_value).as_deref(),
        Some("alpha, beta, gamma")
    );
    assert_eq!(
        h.ps_iptc(&m1, "keywords").as_deref(),
        Some("alpha, beta, gamma")
    );
    let rights = Harness::row(&out, &m2, "copyright_notice");
    assert_eq!(rights.outcome, "queued_for_review");
    assert_eq!(out.report.summary.conflicts_queued, 1);
    assert_eq!(h.ps_iptc(&m2, "copyright").as_deref(), Some("© PS"));
    // The losing Preservica caption is kept in field history.
    let asset = crate::helpers::asset_row(&h.store, &m0);
    let history = h.store.field_history(asset.id).unwrap();
    assert!(
        history
            .iter()
            .any(|e| e.field == "caption" && e.old_value.as_deref() == Some("PV caption")),
        "{history:?}"
    );

    // A person takes PhotoShelter's copyright; the next run carries it out.
    let item = h
        .store
        .review_items(true)
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    assert!(
        h.store
            .resolve_review_by(
                item.id,
                "photoshelter",
                None,
                Some(&ferry::store::Decider {
                    name: "Ada Lovelace".into(),
                    note: None,
                }),
                chrono::Utc::now(),
            )
            .unwrap()
    );
    let out = h.full().await;
    let rights = Harness::row(&out, &m2, "copyright_notice");
    assert_eq!(
        rights.reason,
        "resolved by a person (Ada Lovelace): take photoshelter"
    );
    assert_eq!(rights.write_state, "done");
    assert!(
        h.world
            .preservica
            .fragment(&r2, DC)
            .unwrap()
            .contains("<dc:rights>© PS</dc:rights>")
    );
    assert!(h.store.review_items(true).unwrap().is_empty());
    // The field's history names who decided the change the sync wrote.
    let asset = crate::helpers::asset_row(&h.store, &m2);
    let history = h.store.field_history(asset.id).unwrap();
    assert!(
        history.iter().any(|e| e.field == "copyright_notice"
            && e.reason.contains("Ada Lovelace")
            && e.new_value.as_deref() == Some("© PS")),
        "{history:?}"
    );
}

fn replace_element(xml: &str, qname: &str, value: &str) -> String {
    let start = xml.find(&format!("<{qname}>")).expect("element present");
    let end = xml[start..].find(&format!("</{qname}>")).unwrap() + start + qname.len() + 3;
    format!("{}<{qname}>{value}</{qname}>{}", &xml[..start], &xml[end..])
}

fn regex_replace_subjects(xml: &str, subjects: &[&str]) -> String {
    let mut out: Vec<&str> = xml
        .lines()
        .filter(|l| !l.contains("<dc:subject>"))
        .collect();
    let close = out.iter().position(|l| l.contains("</oai_dc:dc>")).unwrap();
    let new: Vec<String> = subjects
        .iter()
        .map(|s| format!("  <dc:subject>{s}</dc:subject>"))
        .collect();
    let mut lines: Vec<String> = out.drain(..close).map(str::to_string).collect();
    lines.extend(new);
    lines.extend(out.into_iter().map(str::to_string));
    lines.join("\n")
}

#[tokio::test]
async fn equal_changes_on_both_sides_are_not_a_conflict() {
    let mut h = harness(4).await;
    h.sync().await;
    let (m0, r0) = h.pair(0);
    h.world
        .photoshelter
        .set_iptc(&m0, "title", Some("Same new title"));
    h.world.preservica.set_title(&r0, "Same new title");
    let before = h.writes_logged();
    let out = h.full().await;
    let row = Harness::row(&out, &m0, "title");
    assert_eq!(row.outcome, "in_sync");
    assert_eq!(row.reason, "changed to the same value in both systems");
    assert_eq!(h.writes_logged(), before);
}

#[tokio::test]
async fn a_dry_run_changes_nothing_anywhere() {
    let mut h = harness(6).await;
    h.sync().await;
    let (m0, r0) = h.pair(0);
    h.world.photoshelter.set_iptc(&m0, "caption", Some("dry"));
    let counts_before = h.store.counts().unwrap();
    let baselines_before = h.store.baselines().unwrap();
    let writes_before = h.writes_logged();
    let out = h
        .run(SyncOptions {
            dry_run: true,
            full: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(out.report.dry_run);
    let row = Harness::row(&out, &m0, "caption");
    assert_eq!(
        (row.outcome.as_str(), row.write_state.as_str()),
        ("push_to_preservica", "planned")
    );
    assert_eq!(
        h.writes_logged(),
        writes_before,
        "no write reached either system"
    );
    assert_ne!(
        h.pv.read_asset(&r0).await.unwrap().description.as_deref(),
        Some("dry")
    );
    let counts_after = h.store.counts().unwrap();
    assert_eq!(
        counts_after.runs,
        counts_before.runs + 1,
        "only the run record is new"
    );
    assert_eq!(
        ferry::store::StoreCounts {
            runs: counts_before.runs,
            ..counts_after
        },
        counts_before
    );
    assert_eq!(h.store.baselines().unwrap(), baselines_before);
}

#[tokio::test]
async fn mass_change_writes_nothing_until_allowed() {
    let mut h = harness(30).await;
    h.min_assets = 5;
    h.sync().await;
    for (m, _) in h.world.pairs.clone() {
        h.world
            .photoshelter
            .set_iptc(&m, "credit", Some("Harbour Board Archive"));
    }
    let before = h.writes_logged();
    let out = h.full().await;
    assert_eq!(out.outcome, Outcome::Failures);
    let why = out.report.stopped.clone().unwrap();
    assert!(why.contains("would change 30 of 30 paired assets"), "{why}");
    assert!(why.contains("--allow-mass-change"));
    assert_eq!(h.writes_logged(), before);
    let out = h
        .run(SyncOptions {
            full: true,
            allow_mass_change: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(out.outcome, Outcome::Done, "{:?}", out.report.failures);
    assert_eq!(out.report.summary.pushed_to_preservica, 30);
}

#[tokio::test]
async fn a_failed_listing_stops_the_run_and_writes_nothing() {
    let mut h = harness(4).await;
    h.sync().await;
    let (m0, _) = h.pair(0);
    h.world
        .photoshelter
        .set_iptc(&m0, "caption", Some("must not be pushed"));
    h.world.preservica.faults().set(FaultOptions {
        unavailable_share: 1.0,
        exempt_prefixes: vec!["/api/accesstoken".into()],
        ..FaultOptions::default()
    });
    let before = h.writes_logged();
    let out = h.full().await;
    assert_eq!(out.outcome, Outcome::Fatal);
    assert!(
        out.report
            .stopped
            .as_deref()
            .unwrap()
            .contains("listing preservica failed")
    );
    assert_eq!(h.writes_logged(), before);
    // A transient failure is not a lockout: the next run goes ahead.
    h.world.preservica.faults().set(FaultOptions::default());
    let out = h.full().await;
    assert_eq!(out.outcome, Outcome::Done, "{:?}", out.report.failures);
}

#[tokio::test]
async fn an_empty_listing_locks_out_until_recover() {
    let mut h = harness(4).await;
    h.sync().await;
    // Point the Preservica client at an empty archive: the listing completes with nothing.
    let empty =
        ferry::preservica::emulator::start(Default::default(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
    let mut conn = h.world.preservica_connection();
    conn.base_url = empty.url();
    h.pv = PreservicaClient::new(conn).unwrap();
    let out = h.full().await;
    assert_eq!(out.outcome, Outcome::Fatal);
    assert!(
        out.report
            .stopped
            .as_deref()
            .unwrap()
            .contains("preservica listed no assets where ferry knows 4")
    );
    let e = h.run(SyncOptions::default()).await.unwrap_err();
    assert!(matches!(e, SyncError::LockedOut(_)), "{e}");
    assert!(e.to_string().contains("ferry sync --recover"));
    // Recovering acknowledges the lockout; back on the real archive the run goes ahead.
    h.pv = PreservicaClient::new(h.world.preservica_connection()).unwrap();
    let out = h
        .run(SyncOptions {
            recover: true,
            full: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(out.outcome, Outcome::Done);
    assert!(h.store.lockout().unwrap().is_none());
}

#[tokio::test]
async fn a_held_lock_refuses_a_second_run() {
    let mut h = harness(2).await;
    h.store
        .acquire_lock(
            999_999,
            "elsewhere",
            chrono::Utc::now(),
            chrono::Duration::hours(1),
        )
        .unwrap()
        .unwrap();
    let e = h.run(SyncOptions::default()).await.unwrap_err();
    assert!(matches!(e, SyncError::Locked(_)));
    assert!(e.to_string().contains("pid 999999 on elsewhere"), "{e}");
}

fn pending_entry(
    h: &Harness,
    media: &str,
    system: System,
    field: &str,
    expected: Option<&str>,
    new: Option<&str>,
) -> OutboxEntry {
    let asset = crate::helpers::asset_row(&h.store, media);
    OutboxEntry {
        id: 0,
        run_id: 1,
        asset_id: asset.id,
        decision_id: None,
        system,
        field: field.into(),
        expected_value: expected.map(str::to_string),
        new_value: new.map(str::to_string),
        state: ferry::store::OutboxState::Planned,
        attempts: 0,
    }
}

#[tokio::test]
async fn writes_left_by_a_crash_are_finished_once_and_stale_ones_left_alone() {
    let mut h = harness(4).await;
    h.sync().await;
    let (m0, r0) = h.pair(0);
    let (m1, r1) = h.pair(1);
    let (m2, _r2) = h.pair(2);
    let title = |h: &Harness, r: &str| h.world.preservica.title(r).unwrap();
    // Each plan below is what a run made from an edit in the other system, then crashed.
    // Crash after planning, before writing: the next run writes once.
    let t0 = title(&h, &r0);
    h.world
        .photoshelter
        .set_iptc(&m0, "title", Some("Planned before the crash"));
    let e0 = pending_entry(
        &h,
        &m0,
        System::Preservica,
        "title",
        Some(&t0),
        Some("Planned before the crash"),
    );
    // Crash after writing, before marking done: the value is already there; no second write.
    let t1 = title(&h, &r1);
    h.world
        .photoshelter
        .set_iptc(&m1, "title", Some("Written before the crash"));
    let e1 = pending_entry(
        &h,
        &m1,
        System::Preservica,
        "title",
        Some(&t1),
        Some("Written before the crash"),
    );
    h.world
        .preservica
        .set_title(&r1, "Written before the crash");
    // Someone changed the target since the plan: stale, not overwritten.
    let c2 = h.ps_iptc(&m2, "credit");
    let e2 = pending_entry(
        &h,
        &m2,
        System::PhotoShelter,
        "credit",
        c2.as_deref(),
        Some("Planned credit"),
    );
    h.world
        .photoshelter
        .set_iptc(&m2, "credit", Some("Edited by a person"));
    h.store
        .enqueue(1, &[e0, e1, e2], chrono::Utc::now())
        .unwrap();
    h.world.preservica.log().clear();
    h.world.photoshelter.log().clear();
    h.run(SyncOptions {
        full: true,
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(title(&h, &r0), "Planned before the crash");
    assert_eq!(title(&h, &r1), "Written before the crash");
    let puts = |r: &str| {
        h.world
            .preservica
            .log()
            .count("PUT", &format!("information-objects/{r}"))
    };
    assert_eq!(puts(&r0), 1, "written exactly once");
    assert_eq!(puts(&r1), 0, "not written a second time");
    assert_eq!(
        h.ps_iptc(&m2, "credit").as_deref(),
        Some("Edited by a person")
    );
    assert!(h.store.pending_outbox().unwrap().is_empty());
}

#[tokio::test]
async fn a_run_whose_report_cannot_be_written_ends_failed_naming_the_path() {
    let mut h = harness(6).await;
    h.sync().await;
    let (m0, _) = h.pair(0);
    h.world
        .photoshelter
        .set_iptc(&m0, "caption", Some("Written before the report failed"));
    // A file where the reports directory should be.
    let blocked = h.dir.path().join("reports");
    std::fs::remove_dir_all(&blocked).unwrap();
    std::fs::write(&blocked, "not a directory").unwrap();
    let err = h
        .run(SyncOptions {
            full: true,
            ..Default::default()
        })
        .await
        .expect_err("the report cannot be written");
    let path = blocked.display().to_string();
    assert!(matches!(err, SyncError::Report(_)), "{err:?}");
    assert!(err.to_string().contains(&path), "{err}");
    // The run is finished as failed, with its summary, not left running.
    let run = h.store.run_details(1).unwrap().remove(0);
    assert_eq!(run.status, "failed");
    assert!(run.finished_at.is_some());
    assert_eq!(run.exit_code, Some(3));
    let summary: serde_json::Value = run.summary.clone().expect("a summary");
    assert_eq!(summary["pairs"], 6);
    assert_eq!(summary["pushed_to_preservica"], 1);
    assert!(run.error.is_some_and(|e| e.contains(&path)));
    // The lock was let go: with the directory back, the next run goes ahead.
    std::fs::remove_file(&blocked).unwrap();
    let out = h.sync().await;
    assert_eq!(out.outcome, Outcome::Done, "{:?}", out.report.failures);
    assert!(out.paths.html.exists());
}

#[tokio::test]
async fn a_hostile_caption_is_escaped_in_the_html_report() {
    let mut h = harness(3).await;
    h.sync().await;
    let (m0, _) = h.pair(0);
    let hostile = "<script>alert('x')</script><img src=x onerror=alert(1)>";
    h.world.photoshelter.set_iptc(&m0, "caption", Some(hostile));
    let out = h.full().await;
    let html = std::fs::read_to_string(&out.paths.html).unwrap();
    assert!(!html.contains("<script"));
    assert!(!html.contains("<img src=x"));
    assert!(html.contains("&lt;script&gt;"));
}

#[tokio::test]
async fn incremental_runs_read_only_what_changed() {
    let mut h = harness(20).await;
    // The library was last edited yesterday, well before the first run's cursor.
    let yesterday = chrono::Utc::now() - chrono::Duration::days(1);
    for (m, r) in h.world.pairs.clone() {
        h.world.photoshelter.set_modified_at(&m, yesterday);
        h.world.preservica.set_modified(&r, yesterday);
    }
    h.sync().await;
    let (m0, _) = h.pair(0);
    h.world
        .photoshelter
        .set_iptc(&m0, "headline", Some("Only this changed"));
    h.world.photoshelter.log().clear();
    h.world.preservica.log().clear();
    let out = h.run(SyncOptions::default()).await.unwrap();
    assert_eq!(out.outcome, Outcome::Done, "{:?}", out.report.failures);
    assert_eq!(Harness::row(&out, &m0, "headline").write_state, "done");
    let pv_reads = h
        .world
        .preservica
        .log()
        .count("GET", "/information-objects/");
    assert!(
        pv_reads < 10,
        "Preservica reads scale with change, not size: {pv_reads}"
    );
}

#[tokio::test]
async fn an_asset_gone_from_one_system_is_reported_and_the_others_go_ahead() {
    let mut h = harness(5).await;
    h.sync().await;
    let (m0, r0) = h.pair(0);
    let (m1, r1) = h.pair(1);
    h.world
        .photoshelter
        .set_iptc(&m0, "caption", Some("edited after the archive copy went"));
    h.world
        .photoshelter
        .set_iptc(&m1, "caption", Some("edited, archive copy still there"));
    assert!(h.world.preservica.remove_entity(&r0));
    let out = h.full().await;
    assert_eq!(out.outcome, Outcome::Failures);
    assert!(
        out.report.failures.iter().any(|f| f.item == r0
            && f.error
                .contains("missing from preservica's complete listing")),
        "{:?}",
        out.report.failures
    );
    assert_eq!(Harness::row(&out, &m1, "caption").write_state, "done");
    assert_eq!(
        h.pv.read_asset(&r1).await.unwrap().description.as_deref(),
        Some("edited, archive copy still there")
    );
    // Nothing was deleted on the PhotoShelter side.
    assert!(h.world.photoshelter.record(&m0).is_some());
    assert!(
        !out.report
            .fields
            .iter()
            .any(|r| r.photoshelter_id.as_deref() == Some(&m0))
    );
}

#[tokio::test]
async fn a_write_that_fails_for_one_asset_does_not_stop_the_others() {
    let mut h = harness(5).await;
    h.sync().await;
    let (m0, r0) = h.pair(0);
    let (m1, r1) = h.pair(1);
    // Plans left by a crashed run: one for an asset deleted since, one for a live asset.
    let t1 = h.world.preservica.title(&r1).unwrap();
    h.world
        .photoshelter
        .set_iptc(&m1, "title", Some("Still here"));
    let t0 = h.world.preservica.title(&r0).unwrap();
    let gone = pending_entry(
        &h,
        &m0,
        System::Preservica,
        "title",
        Some(&t0),
        Some("Too late"),
    );
    let live = pending_entry(
        &h,
        &m1,
        System::Preservica,
        "title",
        Some(&t1),
        Some("Still here"),
    );
    h.store
        .enqueue(1, &[gone, live], chrono::Utc::now())
        .unwrap();
    assert!(h.world.preservica.remove_entity(&r0));
    let out = h.full().await;
    assert_eq!(out.outcome, Outcome::Failures);
    assert!(
        out.report
            .failures
            .iter()
            .any(|f| f.item.starts_with(&r0) && f.error.contains("404")),
        "{:?}",
        out.report.failures
    );
    assert_eq!(h.world.preservica.title(&r1).as_deref(), Some("Still here"));
}

#[tokio::test]
async fn expired_licences_are_restricted_in_both_systems_when_the_policy_says_so() {
    let mut h = harness(6).await;
    h.sync().await;
    let (m0, r0) = h.pair(0);
    // An editor records that the licence ran out last year.
    let write = ferry::mapping::photoshelter::plan_write(
        &h.mapping,
        &Default::default(),
        &[ferry::mapping::FieldChange {
            field: "license_expiry".into(),
            value: ferry::model::FieldValue::parse(ferry::model::FieldKind::Date, "2025-01-31")
                .unwrap(),
        }],
    );
    h.ps.apply_write(&m0, &write).await.unwrap();
    h.rights.expired = ferry::config::RightsAction::Restrict;
    // A dry run shows the restriction and does nothing.
    let out = h
        .run(SyncOptions {
            dry_run: true,
            full: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let planned: Vec<&ferry::report::RightsProblem> = out
        .report
        .rights
        .iter()
        .filter(|r| r.kind == "restricted" && r.photoshelter_id.as_deref() == Some(&m0))
        .collect();
    assert_eq!(planned.len(), 2, "{:?}", out.report.rights);
    assert!(
        planned
            .iter()
            .all(|r| r.detail.contains("the licence expired on 2025-01-31")
                && r.detail.ends_with("(planned)"))
    );
    assert_ne!(
        h.pv.read_asset(&r0).await.unwrap().security_tag.as_deref(),
        Some("closed")
    );
    // The real run restricts it in both systems, never deleting.
    let out = h.full().await;
    assert_eq!(out.report.failures, vec![], "{:?}", out.report.failures);
    assert_eq!(
        h.pv.read_asset(&r0).await.unwrap().security_tag.as_deref(),
        Some("closed")
    );
    let searchable = h
        .world
        .photoshelter
        .record(&m0)
        .unwrap()
        .attributes
        .get("searchable")
        .cloned();
    assert_eq!(searchable, Some(serde_json::Value::Bool(false)));
    assert!(h.world.photoshelter.record(&m0).is_some());
    // Every restricted asset really has an expired licence.
    for r in out.report.rights.iter().filter(|r| r.kind == "restricted") {
        assert!(r.detail.contains("the licence expired on"), "{}", r.detail);
    }
    // Once restricted, the next run plans nothing more for it.
    let out = h.full().await;
    assert!(
        !out.report
            .rights
            .iter()
            .any(|r| r.kind == "restricted" && r.photoshelter_id.as_deref() == Some(&m0))
    );
}

/// Requests an emulator log holds whose path names `id`.
fn requests_naming(log: &ferry::emulate::RequestLog, id: &str) -> Vec<String> {
    log.entries()
        .into_iter()
        .filter(|r| r.path.contains(id))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Pairs a run looked at for their licence (expiring soon or expired): these are compared
/// every run, settled or not.
fn licence_watched(out: &SyncOutcome) -> std::collections::BTreeSet<String> {
    out.report
        .rights
        .iter()
        .filter(|r| matches!(r.kind.as_str(), "expiring_soon" | "expired_licence"))
        .filter_map(|r| r.photoshelter_id.clone())
        .collect()
}

#[tokio::test]
async fn a_settled_library_is_not_compared_again_until_something_it_depends_on_changes() {
    let mut h = harness(10).await;
    // The first run compares every pair and agrees the baselines (new agreed values are
    // listed); the pairs are settled from then on.
    let first = h.sync().await;
    assert_eq!(first.report.summary.pairs, 10);
    assert_eq!(first.report.summary.pairs_unchanged, 0);
    assert!(
        first
            .report
            .fields
            .iter()
            .all(|r| r.outcome == "in_sync" && !r.has_baseline),
        "{:?}",
        first.report.fields
    );
    let quiet = h.sync().await;
    // Only pairs whose licence needs watching are compared again.
    let watched = licence_watched(&quiet);
    assert!(watched.len() < 10, "{watched:?}");
    let s = &quiet.report.summary;
    assert_eq!(
        (s.pairs, s.pairs_unchanged),
        (10, 10 - watched.len() as u64)
    );
    let per_pair = h.mapping.paired_fields().count() as u64;
    assert_eq!(s.fields_compared, watched.len() as u64 * per_pair);
    assert!(quiet.report.fields.is_empty(), "{:?}", quiet.report.fields);
    let settled = 10 - watched.len() as u64;
    // `ferry sync` says so.
    let mut said = Vec::new();
    ferry::report::describe_sync(&quiet.report, &quiet.paths.html, &mut |line| {
        said.push(line)
    });
    let line = format!(
        "  {settled} pairs unchanged since an earlier run found them agreed: not compared again"
    );
    assert!(said.contains(&line), "{said:#?}");
    let mut quiet_pairs = (0..10)
        .map(|i| h.pair(i))
        .filter(|(m, _)| !watched.contains(m))
        .collect::<Vec<_>>()
        .into_iter();

    // A change in one system: that pair, and only that pair, is compared and corrected.
    let (m0, r0) = quiet_pairs.next().unwrap();
    h.world
        .photoshelter
        .set_iptc(&m0, "caption", Some("Fog over the quay"));
    let out = h.sync().await;
    assert_eq!(out.outcome, Outcome::Done, "{:?}", out.report.failures);
    assert_eq!(out.report.summary.pairs_unchanged, settled - 1);
    assert_eq!(Harness::row(&out, &m0, "caption").write_state, "done");
    assert_eq!(
        h.pv.read_asset(&r0).await.unwrap().description.as_deref(),
        Some("Fog over the quay")
    );
    // The corrected pair settles in the run after (its new value was agreed when the write
    // was verified): nothing of it is listed then.
    let again = h.sync().await;
    assert_eq!(again.report.summary.pairs_unchanged, settled - 1);
    assert!(again.report.fields.is_empty(), "{:?}", again.report.fields);
    assert_eq!(h.sync().await.report.summary.pairs_unchanged, settled);

    // A baseline changed by any path (here straight in the store) unsettles its pair.
    let (m1, _) = quiet_pairs.next().unwrap();
    let a1 = crate::helpers::asset_row(&h.store, &m1).id;
    h.store
        .set_baselines(
            1,
            &[(a1, "headline".into(), Some("An old guess".into()))],
            chrono::Utc::now(),
        )
        .unwrap();
    let out = h.sync().await;
    assert_eq!(out.report.summary.pairs_unchanged, settled - 1);
    let row = Harness::row(&out, &m1, "headline");
    assert_eq!(row.outcome, "in_sync", "{row:?}");
    assert_eq!(row.baseline_value.as_deref(), Some("An old guess"));

    // `--full` compares every pair.
    h.sync().await;
    let full = h.full().await;
    assert_eq!(full.report.summary.pairs_unchanged, 0);
    assert_eq!(full.report.summary.fields_compared, 10 * per_pair);

    // Another mapping (here one rule changed) compares every pair again.
    let text = std::fs::read_to_string(repo_file("mappings/default.toml")).unwrap();
    h.mapping = Mapping::parse(
        &text.replacen("rule = \"newest\"", "rule = \"manual\"", 1),
        &repo_file("mappings/default.toml"),
    )
    .unwrap();
    let out = h.sync().await;
    assert_eq!(out.report.summary.pairs_unchanged, 0);
    assert_eq!(h.sync().await.report.summary.pairs_unchanged, settled);

    // So does another rights policy.
    h.rights.missing_model_release = ferry::config::RightsAction::Report;
    assert_eq!(h.sync().await.report.summary.pairs_unchanged, 0);
}

#[tokio::test]
async fn a_licence_expiring_soon_is_looked_at_every_night_even_when_settled() {
    let mut h = harness(6).await;
    h.sync().await;
    h.sync().await;
    let before = licence_watched(&h.sync().await);
    let (m0, _) = (0..6)
        .map(|i| h.pair(i))
        .find(|(m, _)| !before.contains(m))
        .expect("a pair whose licence is not watched yet");
    let soon = chrono::Utc::now().date_naive() + chrono::Days::new(5);
    h.ps.set_license_expiry(&m0, Some(soon)).await.unwrap();
    h.sync().await;
    h.sync().await;
    for _ in 0..2 {
        let out = h.sync().await;
        let watched = licence_watched(&out);
        assert!(watched.contains(&m0), "{:?}", out.report.rights);
        assert_eq!(
            out.report.summary.pairs_unchanged,
            6 - watched.len() as u64,
            "{:?}",
            out.report.summary
        );
    }
}

#[tokio::test]
async fn a_correction_re_reads_and_reads_back_only_what_it_writes() {
    let mut h = harness(8).await;
    let yesterday = chrono::Utc::now() - chrono::Duration::days(1);
    for (m, r) in h.world.pairs.clone() {
        h.world.photoshelter.set_modified_at(&m, yesterday);
        h.world.preservica.set_modified(&r, yesterday);
    }
    h.sync().await;
    h.sync().await;
    let (m0, r0) = h.pair(0);
    let (m1, r1) = h.pair(1);
    h.world
        .photoshelter
        .set_iptc(&m0, "caption", Some("Nets drying on the slip"));
    h.world.preservica.set_title(&r1, "Slipway, 1958");
    h.world.photoshelter.log().clear();
    h.world.preservica.log().clear();
    let out = h.sync().await;
    assert_eq!(out.report.summary.pushed_to_preservica, 1);
    assert_eq!(out.report.summary.pushed_to_photoshelter, 1);

    // The caption is the Preservica entity's Description: the entity is re-read (the stale
    // check), written and read back; no fragment is read. Its events are counted before the
    // re-read and read after the write (someone else's change in between is looked for).
    let pv = requests_naming(&h.world.preservica.log(), &r0);
    let entity = format!("/api/entity/information-objects/{r0}");
    assert_eq!(
        pv,
        [
            format!("GET {entity}/event-actions"),
            format!("GET {entity}"),
            format!("PUT {entity}"),
            format!("GET {entity}"),
            format!("GET {entity}/event-actions"),
        ],
        "{pv:#?}"
    );
    // The title goes into PhotoShelter's IPTC: IPTC re-read, written, read back.
    let ps = requests_naming(&h.world.photoshelter.log(), &m1);
    assert_eq!(ps.len(), 3, "{ps:#?}");
    assert!(ps.iter().all(|r| r.contains("/iptc")), "{ps:#?}");
    // Both corrections hold.
    assert_eq!(h.ps_iptc(&m1, "title").as_deref(), Some("Slipway, 1958"));
    assert_eq!(
        h.pv.read_asset(&r0).await.unwrap().description.as_deref(),
        Some("Nets drying on the slip")
    );
}
