//! The local engine: snapshot write, reconcile and plan for a generated library, with no
//! network. What a nightly run does between the pulls and the pushes.
//!
//! ```text
//! cargo bench --bench engine                               # 10,000 pairs (seconds)
//! FERRY_BENCH_ASSETS=1000000 cargo bench --bench engine    # 1M pairs (by hand)
//! ```
//!
//! Generates N pairs (N assets in each system) with 15 mapped fields each, as a library
//! looks after its first sync: every pair has baselines. 2% of the pairs drifted since: a
//! third changed in PhotoShelter, a third in Preservica, a third in both. Then times, in
//! order: recording the pairs (one transaction), writing both systems' snapshots (2N rows),
//! and reconciling and planning every pair from the store exactly as `ferry sync` does
//! (load snapshots and baselines, three-way reconcile per field, plan the writes, run the
//! mass-change guard). Prints one figure per line and the process's peak memory. A benchmark,
//! not a test: nothing is asserted.

use chrono::Utc;
use ferry::mapping::Mapping;
use ferry::model::{FieldValue, System};
use ferry::store::Store;
use ferry::store::sync::Snapshot;
use ferry::sync::cycle::{baselines_of, canonical};
use ferry::sync::plan::{PairState, Plan, check_mass_change, plan_pair};
use std::collections::{BTreeMap, HashMap};
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

fn snapshot(fields: BTreeMap<String, String>) -> Snapshot {
    Snapshot {
        fields,
        modified_at: Some(Utc::now()),
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
    let run = store.begin_run("sync", false, now).unwrap();
    let mut baselines = Vec::with_capacity(n * 15);
    for (i, id) in ids.iter().enumerate() {
        for (k, v) in fields(i) {
            baselines.push((*id, k, Some(v)));
        }
        if baselines.len() >= 150_000 {
            store.set_baselines(run, &baselines, now).unwrap();
            baselines.clear();
        }
    }
    store.set_baselines(run, &baselines, now).unwrap();
    drop(baselines);

    // Tonight's snapshots: 2% drifted.
    let mut drifted = 0usize;
    let t = Instant::now();
    for system in [System::PhotoShelter, System::Preservica] {
        for chunk in ids.chunks(100_000) {
            let items: Vec<_> = chunk
                .iter()
                .map(|id| {
                    let i = (*id - ids[0]) as usize;
                    let mut f = fields(i);
                    if i % 50 == 7 {
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
                    (*id, snapshot(f))
                })
                .collect();
            store.put_snapshots(run, system, &items, now).unwrap();
        }
    }
    let write = t.elapsed().as_secs_f64();
    println!("engine.snapshot_write_s {write:.2}");
    println!(
        "engine.snapshot_write_rows_per_s {:.0}",
        2.0 * n as f64 / write
    );
    println!("engine.drifted_pairs {drifted}");

    // Reconcile and plan, from the store, as a run does.
    let t = Instant::now();
    let assets = store.assets().unwrap();
    let ps_snaps = store.snapshots(System::PhotoShelter).unwrap();
    let pv_snaps = store.snapshots(System::Preservica).unwrap();
    let stored = store.baselines().unwrap();
    let load = t.elapsed().as_secs_f64();
    let mut plan = Plan::default();
    let no_resolutions = HashMap::new();
    let mut pairs_planned = 0usize;
    for a in &assets {
        let (Some(ps), Some(pv)) = (ps_snaps.get(&a.id), pv_snaps.get(&a.id)) else {
            continue;
        };
        pairs_planned += 1;
        let (ps_rec, mut unreadable) = canonical(&mapping, ps);
        let (pv_rec, pv_unreadable) = canonical(&mapping, pv);
        unreadable.extend(pv_unreadable);
        let base = baselines_of(&mapping, &stored, a.id);
        plan_pair(
            &mapping,
            &PairState {
                asset: a.id,
                photoshelter: &ps_rec,
                preservica: &pv_rec,
                unreadable: &unreadable,
                baselines: &base,
                resolutions: &no_resolutions,
            },
            &mut plan,
        );
    }
    let verdict = check_mass_change(
        plan.writes.iter().map(|w| (w.asset, w.field.as_str())),
        pairs_planned,
        0.10,
        50,
    );
    let reconcile = t.elapsed().as_secs_f64();
    println!("engine.load_snapshots_s {load:.2}");
    println!("engine.reconcile_plan_s {:.2}", reconcile - load);
    println!("engine.reconcile_plan_total_s {reconcile:.2}");
    println!("engine.decisions {}", plan.decisions.len());
    println!("engine.planned_writes {}", plan.writes.len());
    println!("engine.guard_tripped {}", verdict.reason.is_some());
    println!(
        "engine.snapshot_write_plus_reconcile_s {:.2}",
        write + reconcile
    );
    println!("engine.peak_rss_mib {:.0}", peak_rss_mib());
}
