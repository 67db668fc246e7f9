//! Indexing and query latency of the curator search index on a generated library.
//!
//! ```text
//! cargo bench --bench index                              # 10,000 assets (seconds)
//! FERRY_BENCH_ASSETS=100000 cargo bench --bench index    # 100k
//! FERRY_BENCH_ASSETS=1000000 cargo bench --bench index   # 1M (about 4.5 minutes on 2 cores)
//! ```
//!
//! Generates N assets (a third paired, a third in PhotoShelter only, a third in Preservica
//! only) into a store in a temporary directory, rebuilds an on-disk index from it, reindexes
//! 1% of the assets as a nightly pull would, then runs 1,000 fixed queries (free words, typos,
//! phrases, field filters, date ranges, rights and expiry filters; one in five with facets)
//! and prints one figure per line. A benchmark, not a test: nothing is asserted.

use chrono::{Days, NaiveDate, TimeZone, Utc};
use ferry::index::{SearchIndex, SearchRequest, Sort};
use ferry::model::System;
use ferry::store::Store;
use ferry::store::{AssetId, Snapshot};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const WORDS: [&str; 96] = [
    "harbour",
    "regatta",
    "street",
    "market",
    "factory",
    "bridge",
    "snow",
    "festival",
    "parade",
    "portrait",
    "children",
    "station",
    "railway",
    "tram",
    "river",
    "quay",
    "ferry",
    "yacht",
    "fishing",
    "boats",
    "lighthouse",
    "beach",
    "pier",
    "storm",
    "winter",
    "summer",
    "spring",
    "autumn",
    "church",
    "school",
    "hospital",
    "workers",
    "strike",
    "crowd",
    "queen",
    "mayor",
    "council",
    "election",
    "football",
    "cricket",
    "rowing",
    "cycling",
    "race",
    "match",
    "team",
    "band",
    "concert",
    "theatre",
    "cinema",
    "dance",
    "wedding",
    "funeral",
    "memorial",
    "war",
    "soldiers",
    "sailors",
    "navy",
    "dock",
    "shipyard",
    "launch",
    "liner",
    "cargo",
    "crane",
    "warehouse",
    "mill",
    "mine",
    "farm",
    "harvest",
    "horses",
    "cattle",
    "show",
    "fair",
    "circus",
    "zoo",
    "park",
    "garden",
    "castle",
    "cathedral",
    "museum",
    "library",
    "university",
    "students",
    "protest",
    "flood",
    "fire",
    "rescue",
    "police",
    "airport",
    "aircraft",
    "motor",
    "bus",
    "traffic",
    "shop",
    "hotel",
    "restaurant",
    "bakery",
];
const FIRST: [&str; 20] = [
    "Mary", "John", "Ana", "Peter", "Rosa", "Kenji", "Grace", "Tom", "Ines", "Olaf", "Maeve",
    "Ravi", "Lena", "Ahmed", "Clara", "Jonas", "Nora", "Hugo", "Ada", "Felix",
];
const LAST: [&str; 25] = [
    "Ellis", "Carter", "Souza", "Lund", "Martin", "Mori", "Hopper", "Brennan", "Silva", "Berg",
    "Walsh", "Patel", "Novak", "Haddad", "Weber", "Keller", "Quinn", "Duval", "Byron", "Stone",
    "Price", "Rowe", "Adler", "Moss", "Frost",
];
const PLACES: [(&str, &str); 12] = [
    ("Portsmouth", "United Kingdom"),
    ("Southampton", "United Kingdom"),
    ("Lisbon", "Portugal"),
    ("Porto", "Portugal"),
    ("Bergen", "Norway"),
    ("Oslo", "Norway"),
    ("Halifax", "Canada"),
    ("Boston", "United States"),
    ("Hamburg", "Germany"),
    ("Rotterdam", "Netherlands"),
    ("Cork", "Ireland"),
    ("Gdansk", "Poland"),
];
const RELEASES: [&str; 4] = ["MR-NON", "MR-LMR", "MR-NAP", "MR-UMR"];

/// A small deterministic generator (xorshift), so every run indexes the same library.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn word(&mut self) -> &'static str {
        // Skewed towards the first words, as real vocabularies are.
        let a = self.below(WORDS.len());
        let b = self.below(WORDS.len());
        WORDS[a.min(b)]
    }
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 1).expect("a valid date")
}

fn fields(rng: &mut Rng, n: usize) -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    let (w1, w2, w3) = (rng.word(), rng.word(), rng.word());
    f.insert("title".into(), format!("{w1} {w2} {n}"));
    f.insert(
        "headline".into(),
        format!("{} at the {w3}", capitalise(rng.word())),
    );
    f.insert(
        "caption".into(),
        format!(
            "{} {} near the {} with {} and {}, photographed for the archive (item {n})",
            capitalise(w1),
            rng.word(),
            rng.word(),
            rng.word(),
            rng.word()
        ),
    );
    f.insert(
        "creator".into(),
        format!(
            "{} {}",
            FIRST[rng.below(FIRST.len())],
            LAST[rng.below(LAST.len())]
        ),
    );
    f.insert("credit".into(), "City Archive".into());
    let keywords: Vec<&str> = (0..1 + rng.below(5)).map(|_| rng.word()).collect();
    let keywords: std::collections::BTreeSet<&str> = keywords.into_iter().collect();
    f.insert(
        "keywords".into(),
        serde_json::to_string(&keywords).expect("strings serialise"),
    );
    let year = 1900 + rng.below(126) as i32;
    let day = NaiveDate::from_ymd_opt(year, 1 + rng.below(12) as u32, 1 + rng.below(28) as u32)
        .expect("a valid date");
    f.insert("date_created".into(), day.to_string());
    let (city, country) = PLACES[rng.below(PLACES.len())];
    f.insert("city".into(), city.into());
    f.insert("country".into(), country.into());
    if rng.below(3) > 0 {
        let expiry = today() + Days::new(rng.below(3000) as u64) - Days::new(1000);
        f.insert("license_expiry".into(), expiry.to_string());
    }
    f.insert(
        "model_release".into(),
        RELEASES[rng.below(RELEASES.len())].into(),
    );
    if rng.below(10) == 0 {
        f.insert("usage_terms".into(), "Editorial only".into());
    }
    f
}

fn capitalise(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|first| first.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn populate(store: &mut Store, assets: usize) -> Vec<AssetId> {
    let now = Utc
        .with_ymd_and_hms(2026, 6, 1, 2, 0, 0)
        .single()
        .expect("a time");
    let run = store
        .begin_run(ferry::store::RunKind::Sync, false, now)
        .expect("run");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut all = Vec::with_capacity(assets);
    const BATCH: usize = 10_000;
    let mut start = 0;
    while start < assets {
        let end = (start + BATCH).min(assets);
        let mut ps_ids = Vec::new();
        let mut pv_ids = Vec::new();
        let mut values = Vec::new();
        for n in start..end {
            let f = fields(&mut rng, n);
            if n % 3 != 2 {
                ps_ids.push(format!("I{n:08}"));
            }
            if n % 3 != 1 {
                pv_ids.push(format!("pv-{n:08}"));
            }
            values.push((n, f));
        }
        let ps_map = store
            .ensure_assets(System::PhotoShelter, &ps_ids, now)
            .expect("assets");
        let pv_map = store
            .ensure_assets(System::Preservica, &pv_ids, now)
            .expect("assets");
        let snapshot = |f: &BTreeMap<String, String>| Snapshot {
            fields: f.clone(),
            modified_at: Some(now),
            ..Snapshot::default()
        };
        let ps_items: Vec<(AssetId, Snapshot)> = values
            .iter()
            .filter(|(n, _)| n % 3 != 2)
            .map(|(n, f)| (ps_map[&format!("I{n:08}")], snapshot(f)))
            .collect();
        let pv_items: Vec<(AssetId, Snapshot)> = values
            .iter()
            .filter(|(n, _)| n % 3 != 1)
            .map(|(n, f)| (pv_map[&format!("pv-{n:08}")], snapshot(f)))
            .collect();
        store
            .put_snapshots(run, System::PhotoShelter, &ps_items, now)
            .expect("snapshots");
        store
            .put_snapshots(run, System::Preservica, &pv_items, now)
            .expect("snapshots");
        for (n, _) in &values {
            let id = match n % 3 {
                0 => store
                    .pair(
                        ps_map[&format!("I{n:08}")],
                        pv_map[&format!("pv-{n:08}")],
                        "identifier",
                        now,
                    )
                    .expect("pair"),
                1 => ps_map[&format!("I{n:08}")],
                _ => pv_map[&format!("pv-{n:08}")],
            };
            all.push(id);
        }
        start = end;
    }
    store
        .finish_run(
            run,
            ferry::store::RunStatus::Done,
            ferry::store::RunEnding::default(),
            now,
        )
        .expect("finish");
    all
}

/// What each tenth of the queries is, by `i % 10`.
const KINDS: [&str; 10] = [
    "two words, with facets",
    "one word",
    "one word with a typo (fuzzy)",
    "two-word phrase",
    "creator:name",
    "keyword:word",
    "word year:YYYY",
    "date:YYYY-03..YYYY-09 (3.5 years)",
    "rights:ok word expires:400",
    "no query, facets (whole-index cache)",
];

/// The 1,000 fixed queries: (query, facets).
fn queries() -> Vec<(String, bool)> {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    (0..1000)
        .map(|i| {
            let w = rng.word();
            let v = rng.word();
            let year = 1900 + rng.below(120);
            match i % 10 {
                0 => (format!("{w} {v}"), true),
                1 => (w.to_string(), false),
                2 => {
                    // A typo: one letter dropped from a long enough word.
                    let cut = 1 + rng.below(w.len().saturating_sub(2).max(1));
                    let typo: String = w
                        .chars()
                        .enumerate()
                        .filter(|(k, _)| *k != cut)
                        .map(|(_, c)| c)
                        .collect();
                    (typo, false)
                }
                3 => (format!("\"{} {w}\"", capitalise(v)), false),
                4 => (
                    format!("creator:{}", LAST[rng.below(LAST.len())].to_lowercase()),
                    false,
                ),
                5 => (format!("keyword:{w}"), false),
                6 => (format!("{w} year:{year}"), false),
                7 => (format!("date:{year}-03..{}-09", year + 3), false),
                8 => (format!("rights:ok {w} expires:400"), false),
                _ => (String::new(), true),
            }
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let assets: usize = std::env::var("FERRY_BENCH_ASSETS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut store = Store::open(&dir.path().join("ferry.db")).expect("store");

    let t = Instant::now();
    let ids = populate(&mut store, assets);
    let populate_time = t.elapsed();

    let index_dir = dir.path().join("index");
    let mut index = SearchIndex::open(&index_dir).expect("index");
    let t = Instant::now();
    let written = index
        .update_from_store(&store, None, today())
        .expect("rebuild");
    let build = t.elapsed();

    // A nightly pull that changed 1% of the assets.
    let changed: Vec<AssetId> = ids.iter().step_by(100).copied().collect();
    let t = Instant::now();
    index
        .update_from_store(&store, Some(&changed), today())
        .expect("reindex");
    let incremental = t.elapsed();

    let queries = queries();
    let mut by_kind: BTreeMap<usize, Vec<Duration>> = BTreeMap::new();
    let mut latencies = Vec::with_capacity(queries.len());
    let mut matched = 0usize;
    // One untimed pass warms the page cache and the reader, as a running server would be.
    for (q, facets) in queries.iter().take(50) {
        let mut r = SearchRequest::new(q, today());
        r.facets = *facets;
        let _ = index.search(&r);
    }
    for (i, (q, facets)) in queries.iter().enumerate() {
        let mut r = SearchRequest::new(q, today());
        r.facets = *facets;
        if i % 7 == 0 {
            r.sort = Sort::DateDesc;
        }
        let t = Instant::now();
        let results = index.search(&r).expect("search");
        latencies.push(t.elapsed());
        by_kind.entry(i % 10).or_default().push(t.elapsed());
        matched += results.total;
    }
    latencies.sort();
    let facet_latencies: Vec<Duration> = {
        let mut v = Vec::new();
        for (q, facets) in queries.iter().filter(|(_, f)| *f).take(100) {
            let mut r = SearchRequest::new(q, today());
            r.facets = *facets;
            let t = Instant::now();
            let _ = index.search(&r).expect("search");
            v.push(t.elapsed());
        }
        v.sort();
        v
    };

    // Facets over every document without the whole-index cache (a negation-only query
    // matches everything but is not "no query"), the worst case of a facet count.
    let mut uncached = Vec::new();
    for _ in 0..20 {
        let mut r = SearchRequest::new("-id:none", today());
        r.facets = true;
        let t = Instant::now();
        let _ = index.search(&r).expect("search");
        uncached.push(t.elapsed());
    }
    uncached.sort();

    println!("assets: {assets}");
    println!(
        "documents indexed: {written} (index holds {})",
        index.doc_count()
    );
    println!(
        "store populate (not indexing): {:.1} s",
        populate_time.as_secs_f64()
    );
    println!(
        "index build (rebuild from store): {:.2} s",
        build.as_secs_f64()
    );
    println!(
        "index build rate: {:.0} docs/s",
        written as f64 / build.as_secs_f64()
    );
    println!(
        "incremental reindex of {} assets (1%): {}",
        changed.len(),
        ms(incremental)
    );
    println!(
        "index size on disk: {:.1} MB",
        dir_size(&index_dir) as f64 / 1e6
    );
    println!(
        "queries: {} (mean matches {:.0})",
        latencies.len(),
        matched as f64 / latencies.len() as f64
    );
    println!("query p50: {}", ms(percentile(&latencies, 0.50)));
    println!("query p95: {}", ms(percentile(&latencies, 0.95)));
    println!("query p99: {}", ms(percentile(&latencies, 0.99)));
    println!("query max: {}", ms(*latencies.last().expect("queries ran")));
    println!(
        "queries with facets p50/p95: {} / {}",
        ms(percentile(&facet_latencies, 0.50)),
        ms(percentile(&facet_latencies, 0.95))
    );
    for (kind, mut times) in by_kind {
        times.sort();
        println!(
            "  {:<44} p50 {} p95 {}",
            KINDS[kind],
            ms(percentile(&times, 0.50)),
            ms(percentile(&times, 0.95))
        );
    }
    println!(
        "facets over all {} documents, uncached, p50: {}",
        index.doc_count(),
        ms(percentile(&uncached, 0.50))
    );
}
