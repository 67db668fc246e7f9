//! The local engine: snapshot write, reconcile and plan for a generated library, with no
//! network. What a nightly run does between the pulls and the pushes.
//!
//! ```text
//! cargo bench --bench engine                               # 10,000 pairs (seconds)
//! FERRY_BENCH_ASSETS=1000000 cargo bench --bench engine    # 1M pairs (by hand)
//! ```
//!
//! Generates N pairs (N assets in each system) with 15 mapped fields each, as a library
//! looks after its first sync: every pair has baselines and both systems' snapshots (the
//! first snapshot write, 2N new rows, is timed apart). Then tonight: every asset is read
//! again and 2% of the pairs drifted (a third changed in PhotoShelter, a third in
//! Preservica, a third in both). Times, in order: recording the pairs (one transaction),
//! writing tonight's snapshots (2N rows compared, the changed ones rewritten), and
//! reconciling and planning every pair with the engine `ferry sync` runs
//! (`sync::engine::plan_all_pairs`: pages of pairs from the store, three-way reconcile per
//! field, baselines and decisions recorded, writes planned), then the mass-change guard.
//! Prints one figure per line and the process's peak memory. A benchmark, not a test:
//! nothing is asserted.

use chrono::{DateTime, Utc};
use ferry::config::RightsConfig;
use ferry::mapping::Mapping;
use ferry::model::{FieldValue, System};
use ferry::store::Snapshot;
use ferry::store::Store;
use ferry::sync::engine::{EngineRun, plan_all_pairs};
use ferry::sync::plan::check_mass_change;
use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

const CREATORS: [&str; 8] = [
    "Ada Lindqvist",
    "Marcus Okafor",
    "Jane Doe",
    "Li Wei",
    "Sam Brennan",
    "Harbour Board Photographic Unit",
    "Mary Ellis",
    "Olafur Thordarson",
];
const WORDS: [&str; 12] = [
    "harbour",
    "regatta",
    "market",
    "bridge",
    "festival",
    "pier",
    "ferry",
    "storm",
    "parade",
    "crowd",
    "lighthouse",
    "quay",
];

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The canonical fields of pair `i` (both systems agree on these before drift).
fn fields(i: usize) -> BTreeMap<String, String> {
    let w = |k: usize| WORDS[(i / (k + 1) + k) % WORDS.len()];
    let set = |items: &[&str]| {
        FieldValue::set(items.iter().copied())
            .map(|v| v.to_canonical_string())
            .unwrap_or_default()
    };
    let year = 1900 + (i % 125);
    let mut f = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        f.insert(k.to_string(), v);
    };
    put("title", format!("{} {} {year}", w(0), w(1)));
    put("headline", format!("The {} at the {}", w(2), w(3)));
    put(
        "caption",
        format!(
            "Photograph {i}: the {} seen from the {} during the {} of {year}, with the {} behind.",
            w(0),
            w(4),
            w(1),
            w(5)
        ),
    );
    put("creator", CREATORS[i % CREATORS.len()].to_string());
    put("credit", "Harbour Museum".into());
    put("copyright_notice", format!("© {year} Harbour Board"));
    put(
        "date_created",
        format!("{year}-{:02}-{:02}", 1 + i % 12, 1 + i % 28),
    );
    put("keywords", set(&[w(0), w(1), w(6)]));
    put("city", "Halifax".into());
    put("state", "Nova Scotia".into());
    put("country", "Canada".into());
    put("usage_terms", "Editorial use only".into());
    put("license_expiry", format!("{}-12-31", 2026 + i % 10));
    put(
        "model_release",
        ["MR-NON", "MR-LMR", "MR-NAP", "MR-UMR"][i % 4].into(),
    );
    put("campaign", "Heritage Week".into());
    f
}

fn snapshot(fields: BTreeMap<String, String>, modified_at: DateTime<Utc>) -> Snapshot {
    Snapshot {
        fields,
        modified_at: Some(modified_at),
        file_name: None,
        file_size: None,
        checksum: None,
    }
}

fn main() {
    let n: usize = std::env::var("FERRY_BENCH_ASSETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let mapping = Mapping::parse(
        Mapping::default_text(),
        std::path::Path::new("mapping.toml"),
    )
    .expect("the default mapping loads");
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut store = Store::open(&dir.path().join("ferry.db")).expect("a store");
    let now = Utc::now();
    let yesterday = now - chrono::Duration::days(1);
    println!("engine.pairs {n}");

    let t = Instant::now();
    let pairs: Vec<(String, String)> = (0..n)
        .map(|i| {
            (
                format!("I0000{i:011}"),
                format!("{i:08x}-0000-4000-8000-{i:012x}"),
            )
        })
        .collect();
    let ids = store.insert_pairs(&pairs, "identifier", now).unwrap();
    drop(pairs);
    println!("engine.record_pairs_s {:.2}", t.elapsed().as_secs_f64());

    // Baselines: what both systems agreed on at the last run (untimed setup).
    let run = store
        .begin_run(ferry::store::RunKind::Sync, false, now)
        .unwrap();
    let mut baselines = Vec::with_capacity(n * 15);
    for (i, id) in ids.iter().enumerate() {
        let mut f = fields(i);
        // A first sync agrees on every mapped field, those absent in both included.
        for spec in mapping.paired_fields() {
            let v = f.remove(&spec.name);
            baselines.push((*id, spec.name.clone(), v));
        }
        if baselines.len() >= 150_000 {
            store.set_baselines(run, &baselines, now).unwrap();
            baselines.clear();
        }
    }
    store.set_baselines(run, &baselines, now).unwrap();
    drop(baselines);

    // Yesterday's snapshots, as the first sync left them: both systems agree (timed apart:
    // a first sync writes every row).
    let mut drifted = 0usize;
    // Returns the seconds spent in the store: generating the records is not timed.
    let mut write_snapshots = |store: &mut Store, run, drift: bool| {
        let mut seconds = 0.0;
        for system in [System::PhotoShelter, System::Preservica] {
            for chunk in ids.chunks(100_000) {
                let items: Vec<_> = chunk
                    .iter()
                    .map(|id| {
                        let i = (*id - ids[0]) as usize;
                        let mut f = fields(i);
                        if drift && i % 50 == 7 {
                            let changed_here = match (i / 50) % 3 {
                                0 => system == System::PhotoShelter,
                                1 => system == System::Preservica,
                                _ => true,
                            };
                            if changed_here {
                                f.insert(
                                    "caption".into(),
                                    format!("Recaptioned in {}: photograph {i}", system.name()),
                                );
                            }
                            if system == System::PhotoShelter {
                                drifted += 1;
                            }
                        }
                        (*id, snapshot(f, yesterday))
                    })
                    .collect();
                let t = Instant::now();
                store.put_snapshots(run, system, &items, now).unwrap();
                seconds += t.elapsed().as_secs_f64();
            }
        }
        seconds
    };
    let first = write_snapshots(&mut store, run, false);
    println!("engine.snapshot_first_write_s {first:.2}");

    // Reconcile and plan from the store, with the engine a run uses: once comparing every
    // pair (a first sync, or `ferry sync --full`), once as a nightly run does (pairs settled
    // the night before and unchanged since are skipped).
    let no_skips = HashSet::new();
    let rights = RightsConfig::default();
    let reconcile_plan = |store: &mut Store, run, compare_settled| {
        let t = Instant::now();
        let plan = plan_all_pairs(
            store,
            &EngineRun {
                only: None,
                mapping: &mapping,
                run,
                now,
                today: now.date_naive(),
                skip: &no_skips,
                rights: &rights,
                expiring_days: 30,
                compare_settled,
            },
        )
        .unwrap();
        let entries: Vec<(i64, &str)> = plan
            .writes
            .iter()
            .map(|w| (w.asset, w.field.as_str()))
            .chain(
                plan.enforcement
                    .iter()
                    .map(|(e, _)| (e.asset_id, e.field.as_str())),
            )
            .collect();
        let verdict = check_mass_change(entries, plan.all_pairs(), 0.10, 50);
        (t.elapsed().as_secs_f64(), plan, verdict)
    };

    let (full, plan, _) = reconcile_plan(&mut store, run, true);
    println!("engine.full_reconcile_plan_s {full:.2}");
    println!("engine.full_pairs_compared {}", plan.pairs);
    println!(
        "engine.full_fields_compared {}",
        plan.settled_fields + plan.decisions.len() as u64
    );
    println!("engine.full_peak_rss_mib {:.0}", peak_rss_mib());
    drop(plan);
    store
        .finish_run(
            run,
            ferry::store::RunStatus::Done,
            ferry::store::RunEnding::default(),
            now,
        )
        .unwrap();

    // The nightly run: tonight's snapshots, every asset read again and 2% drifted, then
    // reconcile and plan.
    let run = store
        .begin_run(ferry::store::RunKind::Sync, false, now)
        .unwrap();
    let write = write_snapshots(&mut store, run, true);
    println!("engine.snapshot_write_s {write:.2}");
    println!(
        "engine.snapshot_write_rows_per_s {:.0}",
        2.0 * n as f64 / write
    );
    println!("engine.drifted_pairs {drifted}");
    let (reconcile, plan, verdict) = reconcile_plan(&mut store, run, false);
    println!("engine.reconcile_plan_s {reconcile:.2}");
    println!("engine.pairs_compared {}", plan.pairs);
    println!("engine.pairs_unchanged {}", plan.pairs_unchanged);
    println!("engine.decisions_kept {}", plan.decisions.len());
    println!("engine.planned_writes {}", plan.writes.len());
    println!("engine.guard_tripped {}", verdict.reason.is_some());
    println!(
        "engine.snapshot_write_plus_reconcile_s {:.2}",
        write + reconcile
    );
    println!("engine.peak_rss_mib {:.0}", peak_rss_mib());
}
