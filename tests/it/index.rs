//! The curator search index over a seeded library of about 300 assets with known values:
//! known queries find the known assets first, typos and phrases behave, date and expiry
//! filters are exact at the day boundaries, facet counts equal counts taken straight from the
//! snapshots, incremental updates touch only the given assets and agree with a rebuild, and no
//! query string makes a search panic.

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use ferry::index::{
    DateField, Filter, IndexError, SearchIndex, SearchRequest, SearchResults, Sort,
};
use ferry::model::System;
use ferry::store::Store;
use ferry::store::{AssetId, Snapshot};
use std::collections::{BTreeMap, BTreeSet, HashMap};

type Fields = BTreeMap<String, String>;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap()
}

fn fields(pairs: &[(&str, &str)]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn set(items: &[&str]) -> String {
    let sorted: BTreeSet<&str> = items.iter().copied().collect();
    serde_json::to_string(&sorted).unwrap()
}

/// One asset of the seeded library: its values in each system it lives in.
#[derive(Clone)]
struct Seed {
    key: String,
    ps: Option<Fields>,
    pv: Option<Fields>,
}

const SUBJECTS: [&str; 8] = [
    "Street scene",
    "Market day",
    "Factory floor",
    "Snow on the hills",
    "Children playing",
    "Festival parade",
    "Bridge works",
    "Portrait study",
];
const CREATORS: [&str; 6] = [
    "Mary Ellis",
    "John Carter",
    "Ana Souza",
    "Peter Lund",
    "Rosa Martin",
    "Kenji Mori",
];
const KEYWORDS: [&str; 7] = [
    "boats", "street", "portrait", "factory", "market", "snow", "bridge",
];
const PLACES: [(&str, &str); 4] = [
    ("Portsmouth", "United Kingdom"),
    ("Lisbon", "Portugal"),
    ("Bergen", "Norway"),
    ("Halifax", "Canada"),
];

fn generated(n: usize) -> Seed {
    let (city, country) = PLACES[n % 4];
    let mut f = fields(&[
        ("title", &format!("{} {n}", SUBJECTS[n % 8])),
        ("caption", &format!("Archive photograph number {n}")),
        ("creator", CREATORS[n % 6]),
        (
            "keywords",
            &set(&[KEYWORDS[n % 7], KEYWORDS[(n / 7 + 3) % 7]]),
        ),
        (
            "date_created",
            &format!(
                "{}-{:02}-{:02}",
                1940 + (n * 7) % 60,
                1 + n % 12,
                1 + n % 28
            ),
        ),
        ("country", country),
        (
            "usage_terms",
            if n.is_multiple_of(9) {
                "Editorial only, no advertising"
            } else {
                "Licensed for internal use"
            },
        ),
    ]);
    if n % 10 != 9 {
        f.insert("city".into(), city.into());
    }
    match n % 5 {
        1 => {
            f.insert(
                "license_expiry".into(),
                format!("2020-01-{:02}", 1 + n % 28),
            );
        }
        2 => {
            f.insert(
                "license_expiry".into(),
                format!("2031-03-{:02}", 1 + n % 28),
            );
        }
        3 => {
            let day = today()
                .checked_add_days(Days::new((n % 40) as u64))
                .unwrap()
                .checked_sub_days(Days::new(5))
                .unwrap();
            f.insert("license_expiry".into(), day.to_string());
        }
        _ => {}
    }
    match n % 4 {
        1 => {
            f.insert("model_release".into(), "MR-UMR".into());
        }
        2 => {
            f.insert("model_release".into(), "MR-NON".into());
        }
        3 => {
            f.insert("model_release".into(), "MR-LMR".into());
        }
        _ => {}
    }
    let mut ps = f.clone();
    ps.insert(
        "archive_status".into(),
        if n.is_multiple_of(2) {
            "archived"
        } else {
            "not_archived"
        }
        .into(),
    );
    let mut pv = f;
    pv.insert("distribution_history".into(), set(&["press 1999"]));
    let key = format!("g{n}");
    match n % 3 {
        0 => Seed {
            key,
            ps: Some(ps),
            pv: Some(pv),
        },
        1 => Seed {
            key,
            ps: Some(ps),
            pv: None,
        },
        _ => Seed {
            key,
            ps: None,
            pv: Some(pv),
        },
    }
}

fn known() -> Vec<Seed> {
    let ps_only = |key: &str, f: Fields| Seed {
        key: key.into(),
        ps: Some(f),
        pv: None,
    };
    let pv_only = |key: &str, f: Fields| Seed {
        key: key.into(),
        ps: None,
        pv: Some(f),
    };
    let both = |key: &str, f: Fields| Seed {
        key: key.into(),
        ps: Some(f.clone()),
        pv: Some(f),
    };
    vec![
        both(
            "regatta-1962",
            fields(&[
                ("title", "Harbour regatta"),
                ("caption", "Yachts racing at the summer harbour regatta"),
                ("creator", "Mary Ellis"),
                ("keywords", &set(&["harbour", "regatta", "sailing"])),
                ("date_created", "1962-07-14"),
                ("city", "Portsmouth"),
                ("country", "United Kingdom"),
                ("model_release", "MR-NAP"),
            ]),
        ),
        ps_only(
            "regatta-crowd",
            fields(&[
                ("title", "Crowd on the quay"),
                (
                    "caption",
                    "Spectators watch the regatta from the harbour wall",
                ),
                ("creator", "John Carter"),
                ("date_created", "1962-07-15"),
            ]),
        ),
        pv_only(
            "regatta-1963",
            fields(&[
                ("title", "Harbour regatta"),
                ("creator", "Ana Souza"),
                ("keywords", &set(&["harbour", "regatta"])),
                ("date_created", "1963-07-13"),
            ]),
        ),
        ps_only(
            "harbour-dawn",
            fields(&[
                ("title", "Harbour at dawn"),
                ("creator", "Peter Lund"),
                ("date_created", "1962-03-02"),
            ]),
        ),
        ps_only(
            "tall-ships",
            fields(&[
                ("title", "Departure"),
                ("caption", "Tall ships leave the harbour"),
                ("date_created", "1970-05-05"),
            ]),
        ),
        pv_only(
            "ships-tall",
            fields(&[
                ("title", "Anchorage"),
                ("caption", "Ships both tall and small at anchor"),
                ("date_created", "1971-05-05"),
            ]),
        ),
        ps_only(
            "d-0630",
            fields(&[("title", "Boundary june"), ("date_created", "1962-06-30")]),
        ),
        ps_only(
            "d-0701",
            fields(&[("title", "Boundary first"), ("date_created", "1962-07-01")]),
        ),
        ps_only(
            "d-0731",
            fields(&[
                ("title", "Boundary last"),
                ("date_created", "1962-07-31T23:30:00Z"),
            ]),
        ),
        ps_only(
            "d-0801",
            fields(&[("title", "Boundary august"), ("date_created", "1962-08-01")]),
        ),
        pv_only(
            "e-0531",
            fields(&[
                ("title", "Expiry yesterday"),
                ("license_expiry", "2026-05-31"),
            ]),
        ),
        pv_only(
            "e-0601",
            fields(&[("title", "Expiry today"), ("license_expiry", "2026-06-01")]),
        ),
        pv_only(
            "e-0701",
            fields(&[
                ("title", "Expiry in thirty"),
                ("license_expiry", "2026-07-01"),
            ]),
        ),
        pv_only(
            "e-0702",
            fields(&[
                ("title", "Expiry in thirty one"),
                ("license_expiry", "2026-07-02"),
            ]),
        ),
        Seed {
            key: "mixed".into(),
            ps: Some(fields(&[
                ("title", "Old pier at low tide"),
                ("date_created", "1950-01-01"),
                ("keywords", &set(&["pier"])),
                ("license_expiry", "2027-01-01"),
                ("model_release", "MR-UMR"),
            ])),
            pv: Some(fields(&[
                ("title", "Pier, low tide (catalogue)"),
                ("date_created", "1951-05-05"),
                ("keywords", &set(&["jetty"])),
                ("license_expiry", "2026-06-10"),
                ("model_release", "MR-NON"),
            ])),
        },
        ps_only(
            "restricted",
            fields(&[
                ("title", "Backstage"),
                ("usage_terms", "RESTRICTED: ask the archive first"),
            ]),
        ),
    ]
}

fn seeds() -> Vec<Seed> {
    let mut all = known();
    all.extend((0..290).map(generated));
    all
}

fn snapshot(f: &Fields) -> Snapshot {
    Snapshot {
        fields: f.clone(),
        modified_at: Some(now()),
        ..Snapshot::default()
    }
}

struct Library {
    store: Store,
    seeds: Vec<Seed>,
    /// Seed key → asset id.
    ids: HashMap<String, AssetId>,
}

impl Library {
    fn id(&self, key: &str) -> AssetId {
        self.ids[key]
    }

    fn key(&self, id: AssetId) -> &str {
        self.ids
            .iter()
            .find(|(_, v)| **v == id)
            .map(|(k, _)| k.as_str())
            .unwrap_or("?")
    }

    fn seed(&self, key: &str) -> &Seed {
        self.seeds.iter().find(|s| s.key == key).unwrap()
    }
}

fn library() -> Library {
    let mut store = Store::open_in_memory().unwrap();
    let run = store
        .begin_run(ferry::store::RunKind::Sync, false, now())
        .unwrap();
    let seeds = seeds();
    let ps_ids: Vec<String> = seeds
        .iter()
        .filter(|s| s.ps.is_some())
        .map(|s| format!("I-{}", s.key))
        .collect();
    let pv_ids: Vec<String> = seeds
        .iter()
        .filter(|s| s.pv.is_some())
        .map(|s| format!("pv-{}", s.key))
        .collect();
    let ps_map = store
        .ensure_assets(System::PhotoShelter, &ps_ids, now())
        .unwrap();
    let pv_map = store
        .ensure_assets(System::Preservica, &pv_ids, now())
        .unwrap();
    let mut ps_items = Vec::new();
    let mut pv_items = Vec::new();
    for s in &seeds {
        if let Some(f) = &s.ps {
            ps_items.push((ps_map[&format!("I-{}", s.key)], snapshot(f)));
        }
        if let Some(f) = &s.pv {
            pv_items.push((pv_map[&format!("pv-{}", s.key)], snapshot(f)));
        }
    }
    store
        .put_snapshots(run, System::PhotoShelter, &ps_items, now())
        .unwrap();
    store
        .put_snapshots(run, System::Preservica, &pv_items, now())
        .unwrap();
    let mut ids = HashMap::new();
    for s in &seeds {
        let id = match (&s.ps, &s.pv) {
            (Some(_), Some(_)) => store
                .pair(
                    ps_map[&format!("I-{}", s.key)],
                    pv_map[&format!("pv-{}", s.key)],
                    "identifier",
                    now(),
                )
                .unwrap(),
            (Some(_), None) => ps_map[&format!("I-{}", s.key)],
            _ => pv_map[&format!("pv-{}", s.key)],
        };
        ids.insert(s.key.clone(), id);
    }
    store
        .finish_run(
            run,
            ferry::store::RunStatus::Done,
            ferry::store::RunEnding::default(),
            now(),
        )
        .unwrap();
    Library { store, seeds, ids }
}

fn built(lib: &Library) -> SearchIndex {
    let mut index = SearchIndex::open_in_ram().unwrap();
    let n = index.update_from_store(&lib.store, None, today()).unwrap();
    assert_eq!(n, lib.seeds.len());
    assert_eq!(index.doc_count(), lib.seeds.len() as u64);
    index
}

fn request(query: &str) -> SearchRequest {
    let mut r = SearchRequest::new(query, today());
    r.limit = 1000;
    r
}

fn search(index: &SearchIndex, query: &str) -> SearchResults {
    index
        .search(&request(query))
        .unwrap_or_else(|e| panic!("{query}: {e}"))
}

fn hit_keys(lib: &Library, results: &SearchResults) -> Vec<String> {
    results
        .hits
        .iter()
        .map(|h| lib.key(h.asset_id).to_string())
        .collect()
}

fn key_set(lib: &Library, results: &SearchResults) -> BTreeSet<String> {
    hit_keys(lib, results).into_iter().collect()
}

// ---- the oracle: values straight from the seeded snapshots ----

const RELEASE_ORDER: [&str; 4] = ["MR-NON", "MR-LMR", "MR-NAP", "MR-UMR"];

fn value(seed: &Seed, field: &str) -> Option<String> {
    let a = seed.ps.as_ref().and_then(|f| f.get(field)).cloned();
    let b = seed.pv.as_ref().and_then(|f| f.get(field)).cloned();
    match field {
        "date_created" => b.or(a),
        "license_expiry" => match (a, b) {
            (Some(a), Some(b)) => Some(if day(&a) <= day(&b) { a } else { b }),
            (a, b) => a.or(b),
        },
        "model_release" => match (a, b) {
            (Some(a), Some(b)) => {
                let rank = |v: &str| RELEASE_ORDER.iter().position(|r| *r == v).unwrap();
                Some(if rank(&a) <= rank(&b) { a } else { b })
            }
            (a, b) => a.or(b),
        },
        _ => a.or(b),
    }
}

fn keywords(seed: &Seed) -> BTreeSet<String> {
    [&seed.ps, &seed.pv]
        .into_iter()
        .flatten()
        .filter_map(|f| f.get("keywords"))
        .flat_map(|k| serde_json::from_str::<Vec<String>>(k).unwrap())
        .collect()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(&s[..10], "%Y-%m-%d").unwrap()
}

fn rights(seed: &Seed, today: NaiveDate) -> &'static str {
    let expiry = value(seed, "license_expiry").map(|e| day(&e));
    if let Some(e) = expiry {
        if e < today {
            return "expired";
        }
        if e <= today + Days::new(30) {
            return "expiring";
        }
    }
    let release = value(seed, "model_release");
    let usage = value(seed, "usage_terms")
        .unwrap_or_default()
        .to_lowercase();
    if release.as_deref() == Some("MR-NON")
        || usage.contains("restricted")
        || usage.contains("editorial only")
    {
        "restricted"
    } else if expiry.is_some() || matches!(release.as_deref(), Some("MR-UMR" | "MR-NAP")) {
        "ok"
    } else {
        "unknown"
    }
}

fn lives_in(seed: &Seed) -> &'static str {
    match (&seed.ps, &seed.pv) {
        (Some(_), Some(_)) => "both",
        (Some(_), None) => "photoshelter",
        _ => "preservica",
    }
}

fn expected_keys(lib: &Library, keep: impl Fn(&Seed) -> bool) -> BTreeSet<String> {
    lib.seeds
        .iter()
        .filter(|s| keep(s))
        .map(|s| s.key.clone())
        .collect()
}

// ---- tests ----

#[test]
fn known_queries_return_the_known_assets_first() {
    let lib = library();
    let index = built(&lib);

    let r = search(&index, "harbour regatta 1962");
    assert_eq!(
        hit_keys(&lib, &r),
        ["regatta-1962", "regatta-crowd"],
        "every word must match; the title match ranks first"
    );
    assert_eq!(r.total, 2);
    assert!(r.hits[0].score > r.hits[1].score);

    let r = search(&index, "regatta");
    assert_eq!(r.total, 3);
    assert_eq!(hit_keys(&lib, &r)[0], "regatta-1962");

    // Keyword boost over "the rest": the title word ranks above a caption word.
    let r = search(&index, "harbour");
    let keys = hit_keys(&lib, &r);
    assert!(
        keys.iter().position(|k| k == "harbour-dawn") < keys.iter().position(|k| k == "tall-ships")
    );

    let top = &search(&index, "harbour regatta 1962").hits[0];
    assert_eq!(top.title.as_deref(), Some("Harbour regatta"));
    assert_eq!(top.creator.as_deref(), Some("Mary Ellis"));
    assert_eq!(top.keywords, ["harbour", "regatta", "sailing"]);
    assert_eq!(top.date_created.as_deref(), Some("1962-07-14"));
    assert_eq!(top.lives_in, "both");
    assert_eq!(top.authoritative, "agreed");
    assert_eq!(top.rights_status, "ok");
    assert_eq!(top.photoshelter_id.as_deref(), Some("I-regatta-1962"));
    assert_eq!(top.preservica_ref.as_deref(), Some("pv-regatta-1962"));
}

#[test]
fn fuzzy_terms_find_a_misspelt_creator() {
    let lib = library();
    let index = built(&lib);
    let ellis = expected_keys(&lib, |s| {
        value(s, "creator").as_deref() == Some("Mary Ellis")
    });
    assert!(ellis.len() > 40);

    for query in ["Mary Elis", "mary elis", "creator:elis", "Mary Ellsi"] {
        let r = search(&index, query);
        assert_eq!(key_set(&lib, &r), ellis, "{query}");
        assert!(
            r.hits
                .iter()
                .all(|h| h.creator.as_deref() == Some("Mary Ellis"))
        );
    }
    // The exact spelling ranks above the typo on the same assets? Exact scores are higher.
    let exact = search(&index, "Ellis").hits[0].score;
    let fuzzy = search(&index, "Elis").hits[0].score;
    assert!(exact > fuzzy, "{exact} <= {fuzzy}");
    // Short words and numbers are exact: no 1961 for 1962, no "cat" for "car".
    let r = search(&index, "year:1962 1961");
    assert_eq!(r.total, 0);
}

#[test]
fn phrases_and_field_filters() {
    let lib = library();
    let index = built(&lib);

    assert_eq!(
        key_set(&lib, &search(&index, "\"tall ships\"")),
        expected_keys(&lib, |s| s.key == "tall-ships")
    );
    assert_eq!(
        key_set(&lib, &search(&index, "tall ships")),
        expected_keys(&lib, |s| s.key == "tall-ships" || s.key == "ships-tall")
    );

    let r = search(&index, "keyword:regatta");
    assert_eq!(
        key_set(&lib, &r),
        expected_keys(&lib, |s| keywords(s).contains("regatta"))
    );
    let r = search(&index, "creator:carter keyword:street");
    assert_eq!(
        key_set(&lib, &r),
        expected_keys(&lib, |s| {
            value(s, "creator").as_deref() == Some("John Carter") && keywords(s).contains("street")
        })
    );
    assert!(r.total > 0);
    let r = search(&index, "creator:\"mary ellis\" -keyword:boats");
    assert_eq!(
        key_set(&lib, &r),
        expected_keys(&lib, |s| {
            value(s, "creator").as_deref() == Some("Mary Ellis") && !keywords(s).contains("boats")
        })
    );
    let r = search(&index, "in:preservica regatta");
    assert_eq!(hit_keys(&lib, &r), ["regatta-1963"]);

    // The same through API filters.
    let mut req = request("");
    req.filters = vec![
        Filter::parse("creator:carter").unwrap(),
        Filter::parse("keyword=street").unwrap(),
    ];
    let r = index.search(&req).unwrap();
    assert_eq!(
        key_set(&lib, &r),
        expected_keys(&lib, |s| {
            value(s, "creator").as_deref() == Some("John Carter") && keywords(s).contains("street")
        })
    );
}

#[test]
fn a_paired_asset_shows_the_values_the_mapping_favours() {
    let lib = library();
    let index = built(&lib);
    let r = search(&index, "jetty");
    assert_eq!(
        hit_keys(&lib, &r),
        ["mixed"],
        "keywords are the union of both"
    );
    let hit = &r.hits[0];
    assert_eq!(
        hit.title.as_deref(),
        Some("Old pier at low tide"),
        "newest → PhotoShelter's"
    );
    assert_eq!(
        hit.date_created.as_deref(),
        Some("1951-05-05"),
        "Preservica owns the date"
    );
    assert_eq!(hit.keywords, ["jetty", "pier"]);
    assert_eq!(
        hit.license_expiry.as_deref(),
        Some("2026-06-10"),
        "the earlier expiry"
    );
    assert_eq!(
        hit.model_release.as_deref(),
        Some("MR-NON"),
        "the stricter release"
    );
    assert_eq!(hit.rights_status, "expiring");
    assert_eq!(hit.authoritative, "mixed");
    // Preservica's losing title is not indexed.
    assert_eq!(search(&index, "catalogue").total, 0);
}

#[test]
fn date_ranges_are_exact_at_day_boundaries() {
    let lib = library();
    let index = built(&lib);
    let in_july = |s: &Seed| {
        value(s, "date_created")
            .is_some_and(|d| (day("1962-07-01")..=day("1962-07-31")).contains(&day(&d)))
    };
    let expected = expected_keys(&lib, in_july);
    for k in ["d-0701", "d-0731", "regatta-1962", "regatta-crowd"] {
        assert!(expected.contains(k), "{k}");
    }
    let r = search(&index, "date:1962-07-01..1962-07-31");
    assert_eq!(key_set(&lib, &r), expected);
    assert_eq!(key_set(&lib, &search(&index, "date:1962-07")), expected);

    let mut req = request("");
    req.filters = vec![Filter::DateRange {
        field: DateField::Created,
        from: Some(day("1962-07-01")),
        to: Some(day("1962-07-31")),
    }];
    assert_eq!(key_set(&lib, &index.search(&req).unwrap()), expected);

    // Years and open ranges.
    let year =
        |y: i32| move |s: &Seed| value(s, "date_created").is_some_and(|d| d[..4] == y.to_string());
    assert_eq!(
        key_set(&lib, &search(&index, "year:1962")),
        expected_keys(&lib, year(1962))
    );
    assert_eq!(
        key_set(&lib, &search(&index, "date:..1945")),
        expected_keys(&lib, |s| {
            value(s, "date_created").is_some_and(|d| day(&d) <= day("1945-12-31"))
        })
    );

    // Sorted by date: ascending days, undated never in a date range.
    req.sort = Sort::DateAsc;
    let r = index.search(&req).unwrap();
    let days: Vec<NaiveDate> = r
        .hits
        .iter()
        .map(|h| day(h.date_created.as_deref().unwrap()))
        .collect();
    assert!(days.windows(2).all(|w| w[0] <= w[1]), "{days:?}");
    assert_eq!(days.first(), Some(&day("1962-07-01")));
    req.sort = Sort::DateDesc;
    let r = index.search(&req).unwrap();
    assert_eq!(hit_keys(&lib, &r)[0], "d-0731");
    assert_eq!(r.hits[0].score, 0.0);

    // Paging continues where the first page ends.
    let mut page = request("");
    page.sort = Sort::DateDesc;
    page.limit = 10;
    let first = index.search(&page).unwrap();
    page.offset = 10;
    let second = index.search(&page).unwrap();
    page.offset = 0;
    page.limit = 20;
    let both = index.search(&page).unwrap();
    let joined: Vec<i64> = first
        .hits
        .iter()
        .chain(&second.hits)
        .map(|h| h.asset_id)
        .collect();
    let whole: Vec<i64> = both.hits.iter().map(|h| h.asset_id).collect();
    assert_eq!(joined, whole);
}

#[test]
fn expiry_filters_are_exact_at_day_boundaries() {
    let lib = library();
    let index = built(&lib);
    let within = |n: u64| {
        move |s: &Seed| {
            value(s, "license_expiry").is_some_and(|e| {
                let e = day(&e);
                e >= today() && e <= today() + Days::new(n)
            })
        }
    };
    let r = search(&index, "expires:30");
    let keys = key_set(&lib, &r);
    assert_eq!(keys, expected_keys(&lib, within(30)));
    for k in ["e-0601", "e-0701", "mixed"] {
        assert!(keys.contains(k), "{k}");
    }
    for k in ["e-0531", "e-0702"] {
        assert!(!keys.contains(k), "{k}");
    }
    assert_eq!(
        key_set(&lib, &search(&index, "expires:0")),
        expected_keys(&lib, within(0))
    );
    assert!(key_set(&lib, &search(&index, "expires:31")).contains("e-0702"));

    let mut req = request("");
    req.filters = vec![Filter::ExpiresWithinDays(30)];
    assert_eq!(
        key_set(&lib, &index.search(&req).unwrap()),
        expected_keys(&lib, within(30))
    );

    for status in ["ok", "expiring", "expired", "restricted", "unknown"] {
        let r = search(&index, &format!("rights:{status}"));
        assert_eq!(
            key_set(&lib, &r),
            expected_keys(&lib, |s| rights(s, today()) == status),
            "{status}"
        );
        assert!(r.total > 0, "{status}");
        assert!(r.hits.iter().all(|h| h.rights_status == status));
    }

    // Rights follow the day of the search, not the day of indexing.
    let later = today() + Days::new(31);
    let mut req = SearchRequest::new("rights:expired", later);
    req.limit = 1000;
    assert_eq!(
        key_set(&lib, &index.search(&req).unwrap()),
        expected_keys(&lib, |s| rights(s, later) == "expired")
    );
    assert!(key_set(&lib, &index.search(&req).unwrap()).contains("e-0701"));
}

#[test]
fn facet_counts_match_the_snapshots() {
    let lib = library();
    let index = built(&lib);
    let mut req = request("");
    req.facets = true;
    req.facet_limit = 1000;
    let r = index.search(&req).unwrap();
    assert_eq!(r.total, lib.seeds.len());

    let mut expected: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut count = |facet: &str, value: String| {
        *expected
            .entry(facet.to_string())
            .or_default()
            .entry(value)
            .or_default() += 1;
    };
    for s in &lib.seeds {
        if let Some(c) = value(s, "creator") {
            count("creator", c);
        }
        for k in keywords(s) {
            count("keyword", k);
        }
        if let Some(d) = value(s, "date_created") {
            let year: i32 = d[..4].parse().unwrap();
            count("year", year.to_string());
            count("decade", format!("{}s", year / 10 * 10));
        }
        let place: Vec<String> = [value(s, "city"), value(s, "country")]
            .into_iter()
            .flatten()
            .collect();
        if !place.is_empty() {
            count("location", place.join(", "));
        }
        count("rights", rights(s, today()).to_string());
        count("lives_in", lives_in(s).to_string());
    }
    let got: BTreeMap<String, BTreeMap<String, u64>> = r
        .facets
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().cloned().collect()))
        .collect();
    assert_eq!(got, expected);

    // Facets follow the query, and are listed largest first.
    let mut req = request("regatta");
    req.facets = true;
    let r = index.search(&req).unwrap();
    let lives: u64 = r.facets["lives_in"].iter().map(|(_, n)| n).sum();
    assert_eq!(lives, r.total as u64);
    let mut req = request("");
    req.facets = true;
    req.facet_limit = 3;
    let r = index.search(&req).unwrap();
    let creators = &r.facets["creator"];
    assert_eq!(creators.len(), 3);
    assert!(creators.windows(2).all(|w| w[0].1 >= w[1].1));
    // Decades and years are a timeline: oldest first, whatever their counts.
    for facet in ["year", "decade"] {
        let values = &r.facets[facet];
        assert!(
            values.windows(2).all(|w| w[0].0 < w[1].0),
            "{facet} oldest first: {values:?}"
        );
    }

    // Whole-index counts are kept between searches, but not across days (rights move).
    let later = today() + Days::new(31);
    let mut req = SearchRequest::new("", later);
    req.facets = true;
    let r = index.search(&req).unwrap();
    let mut rights_later: BTreeMap<String, u64> = BTreeMap::new();
    for s in &lib.seeds {
        *rights_later
            .entry(rights(s, later).to_string())
            .or_default() += 1;
    }
    let got: BTreeMap<String, u64> = r.facets["rights"].iter().cloned().collect();
    assert_eq!(got, rights_later);
    assert_ne!(rights_later, expected["rights"]);

    // A facet value selects exactly its count.
    for (facet, value, n) in [
        ("creator", "Mary Ellis", expected["creator"]["Mary Ellis"]),
        ("decade", "1960s", expected["decade"]["1960s"]),
        (
            "location",
            "Lisbon, Portugal",
            expected["location"]["Lisbon, Portugal"],
        ),
        ("rights", "restricted", expected["rights"]["restricted"]),
        ("lives_in", "both", expected["lives_in"]["both"]),
    ] {
        let mut req = request("");
        req.filters = vec![Filter::Facet {
            facet: facet.into(),
            value: value.into(),
        }];
        assert_eq!(
            index.search(&req).unwrap().total as u64,
            n,
            "{facet}={value}"
        );
    }
}

/// What a search answered: total, asset ids in order, facets.
type Answer = (usize, Vec<i64>, BTreeMap<String, Vec<(String, u64)>>);

fn comparable(index: &SearchIndex) -> Vec<Answer> {
    [
        "",
        "regatta",
        "Mary Elis",
        "lighthouse",
        "title:dawn",
        "date:1960..1965",
        "rights:expiring",
        "in:both",
    ]
    .iter()
    .map(|q| {
        let mut req = request(q);
        req.sort = Sort::DateDesc;
        req.facets = true;
        let r = index.search(&req).unwrap();
        (
            r.total,
            r.hits.iter().map(|h| h.asset_id).collect(),
            r.facets,
        )
    })
    .collect()
}

#[test]
fn incremental_updates_touch_only_the_given_assets_and_equal_a_rebuild() {
    let mut lib = library();
    let mut index = built(&lib);
    let before = index.doc_count();
    let later = now() + chrono::Duration::days(1);
    let run = lib
        .store
        .begin_run(ferry::store::RunKind::Sync, false, later)
        .unwrap();

    // An edited title: found by its new words, not its old.
    let dawn = lib.id("harbour-dawn");
    let mut edited = lib.seed("harbour-dawn").ps.clone().unwrap();
    edited.insert("title".into(), "Lighthouse at dusk".into());
    lib.store
        .put_snapshots(
            run,
            System::PhotoShelter,
            &[(dawn, snapshot(&edited))],
            later,
        )
        .unwrap();
    // Edited in the store but not reindexed yet: the index still has the old title.
    assert_eq!(search(&index, "lighthouse").total, 0);
    assert_eq!(
        index
            .update_from_store(&lib.store, Some(&[dawn]), today())
            .unwrap(),
        1
    );
    assert_eq!(index.doc_count(), before);
    assert_eq!(
        hit_keys(&lib, &search(&index, "lighthouse")),
        ["harbour-dawn"]
    );
    // (The PhotoShelter id "I-harbour-dawn" still holds the word, so ask the title.)
    assert!(!key_set(&lib, &search(&index, "title:dawn")).contains("harbour-dawn"));
    assert_eq!(search(&index, "title:dawn").total, 0);

    // Two one-system assets become a pair: one document replaces two.
    let ps_only = lib.id("g1");
    let pv_only = lib.id("g2");
    let paired = lib.store.pair(ps_only, pv_only, "manual", later).unwrap();
    assert_eq!(paired, ps_only);
    let changed = lib.store.assets_changed_in_run(run).unwrap();
    assert!(
        changed.contains(&dawn) && changed.contains(&paired),
        "{changed:?}"
    );
    let written = index
        .update_from_store(&lib.store, Some(&[paired, pv_only]), today())
        .unwrap();
    assert_eq!(
        written, 1,
        "the merged Preservica asset is gone from the store"
    );
    assert_eq!(index.doc_count(), before - 1);
    let r = search(&index, "id:pv-g2");
    assert_eq!(r.hits.len(), 1);
    assert_eq!(r.hits[0].asset_id, paired);
    assert_eq!(r.hits[0].lives_in, "both");

    // Reindexing an unchanged asset writes one document and changes nothing else.
    let snapshot_of_results = comparable(&index);
    assert_eq!(
        index
            .update_from_store(&lib.store, Some(&[lib.id("g10")]), today())
            .unwrap(),
        1
    );
    assert_eq!(comparable(&index), snapshot_of_results);

    // A rebuild from the store gives the same answers.
    let mut rebuilt = SearchIndex::open_in_ram().unwrap();
    rebuilt
        .update_from_store(&lib.store, None, today())
        .unwrap();
    assert_eq!(rebuilt.doc_count(), index.doc_count());
    assert_eq!(comparable(&rebuilt), comparable(&index));
    // And rebuilding the incremental index in place too.
    index.update_from_store(&lib.store, None, today()).unwrap();
    assert_eq!(comparable(&rebuilt), comparable(&index));
}

#[test]
fn hostile_queries_give_results_or_clear_errors() {
    let lib = library();
    let index = built(&lib);
    let long = "harbour ".repeat(1300);
    let many = "harbour ".repeat(40);
    let hostile: Vec<&str> = vec![
        "\"harbour regatta",
        "\"",
        "\"\"",
        "creator:",
        "creator:\"",
        "-",
        "--",
        "-\"",
        &long,
        &many,
        "(.*)[a-z]+\\d{3}$^|?",
        "🚢⛵🌊",
        "regatta 🚢",
        "date:9999-99-99",
        "date:0001..9999",
        "date:1600..1700",
        "date:1962-02-29",
        "year:-5",
        "expires:-1",
        "expires:99999999999",
        "::::",
        "a:b:c",
        "title:::",
        "\u{0}",
        "in:",
        "rights:",
        "*",
        "~2",
        "NOT AND OR",
        "id:",
        "http://example.com/harbour",
        "creator:'; DROP TABLE assets; --",
        "\u{202e}regatta",
        "ｒｅｇａｔｔａ",
    ];
    for q in hostile {
        let mut req = request(q);
        req.facets = true;
        match index.search(&req) {
            Ok(_) => {}
            Err(IndexError::Query(e)) => {
                assert!(e.message.len() > 10, "{q:?}: {e}");
            }
            Err(other) => panic!("{q:?}: not a query error: {other}"),
        }
    }

    let e = index.search(&request(&long)).unwrap_err().to_string();
    assert!(e.contains("10400 characters"), "{e}");
    let e = index.search(&request("creator:")).unwrap_err().to_string();
    assert!(e.contains("needs a value"), "{e}");
    let e = index
        .search(&request("colour:red"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("'colour:' is not a field"), "{e}");
    let e = index
        .search(&request("date:1962-13-01"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("'1962-13-01' is not a date"), "{e}");
    // An unclosed quote runs to the end.
    let r = search(&index, "\"harbour regatta");
    assert_eq!(hit_keys(&lib, &r)[0], "regatta-1962");
    // Emoji alone match everything (nothing to search for), not an error.
    assert_eq!(search(&index, "🚢").total, lib.seeds.len());
    // Full-width letters fold? They are letters: tokenised, not folded; no panic, no match.
    // Absurd paging is answered, not allocated: the total, and no hits past the last page.
    for sort in [Sort::Relevance, Sort::DateDesc] {
        let mut deep = request("regatta");
        deep.offset = usize::MAX;
        deep.limit = usize::MAX;
        deep.sort = sort;
        let r = index.search(&deep).unwrap();
        assert!(r.hits.is_empty() && r.total == 3);
        deep.query = String::new();
        let r = index.search(&deep).unwrap();
        assert!(r.hits.is_empty() && r.total == lib.seeds.len());
    }
    let mut zero = request("regatta");
    zero.limit = 0;
    let r = index.search(&zero).unwrap();
    assert!(r.hits.is_empty() && r.total == 3);
}

#[test]
fn an_index_on_disk_persists_and_refuses_another_version() {
    let lib = library();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    {
        let mut index = SearchIndex::open(&path).unwrap();
        index.update_from_store(&lib.store, None, today()).unwrap();
        // No process holds the writer between updates: a second one opens the index too.
        let other = SearchIndex::open(&path).unwrap();
        assert_eq!(other.doc_count(), lib.seeds.len() as u64);
        drop(other);
        // Searching alongside: read-only, following the other's commits.
        let mut reading = SearchIndex::open_read_only(&path).unwrap();
        assert_eq!(reading.doc_count(), lib.seeds.len() as u64);
        let e = reading
            .update_from_store(&lib.store, None, today())
            .unwrap_err();
        assert!(matches!(e, IndexError::ReadOnly { .. }), "{e}");
        let gone = lib.id("g1");
        let mut store = Store::open_in_memory().unwrap();
        let run = store
            .begin_run(ferry::store::RunKind::Sync, false, now())
            .unwrap();
        store
            .put_snapshots(run, System::PhotoShelter, &[], now())
            .unwrap();
        // Reindexing an id the (empty) store does not know removes its document.
        assert_eq!(
            index
                .update_from_store(&store, Some(&[gone]), today())
                .unwrap(),
            0
        );
        // The reader loads the commit at its next look, not after a delay.
        assert_eq!(reading.doc_count(), lib.seeds.len() as u64 - 1);
        index.update_from_store(&lib.store, None, today()).unwrap();
    }
    let index = SearchIndex::open(&path).unwrap();
    assert_eq!(index.doc_count(), lib.seeds.len() as u64);
    assert_eq!(
        hit_keys(&lib, &search(&index, "harbour regatta 1962"))[0],
        "regatta-1962"
    );
    drop(index);

    // An index with another schema (another ferry version).
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "kept").unwrap();
    {
        let mut b = tantivy::schema::Schema::builder();
        let title = b.add_text_field("title", tantivy::schema::TEXT);
        let old = tantivy::Index::create_in_dir(&other, b.build()).unwrap();
        let mut writer: tantivy::IndexWriter = old.writer(15_000_000).unwrap();
        let mut doc = tantivy::TantivyDocument::new();
        doc.add_text(title, "old");
        writer.add_document(doc).unwrap();
        writer.commit().unwrap();
    }
    let e = SearchIndex::open(&other).unwrap_err();
    assert!(matches!(e, IndexError::OtherVersion { .. }));
    assert!(e.to_string().contains("ferry index rebuild"), "{e}");
    let mut fresh = SearchIndex::recreate(&other).unwrap();
    assert_eq!(fresh.doc_count(), 0);
    fresh.update_from_store(&lib.store, None, today()).unwrap();
    assert_eq!(fresh.doc_count(), lib.seeds.len() as u64);
    assert_eq!(
        std::fs::read_to_string(other.join("notes.txt")).unwrap(),
        "kept"
    );
    drop(fresh);
    assert!(SearchIndex::open(&other).is_ok());
}

/// Another process's writer (here tantivy's own, on the same directory) holds the index: an
/// update waits for it and then applies, rather than giving up; past its bound it is refused
/// with a message that says how long it waited.
#[test]
fn an_update_waits_for_another_writer_then_applies() {
    let lib = library();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    let mut index = SearchIndex::open(&path).unwrap();
    let hold = |for_ms: u64| {
        let raw = tantivy::Index::open_in_dir(&path).unwrap();
        let writer: tantivy::IndexWriter = raw.writer(15_000_000).unwrap();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(for_ms));
            drop(writer);
        })
    };
    let holder = hold(800);
    index.set_writer_wait(std::time::Duration::from_secs(30));
    let started = std::time::Instant::now();
    let n = index.update_from_store(&lib.store, None, today()).unwrap();
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(700),
        "the update cannot have run while the writer was held"
    );
    assert_eq!(n, lib.seeds.len());
    assert_eq!(index.doc_count(), lib.seeds.len() as u64);
    holder.join().unwrap();

    // Held longer than the update may wait: refused, nothing lost, the writer free after.
    let holder = hold(2_000);
    index.set_writer_wait(std::time::Duration::from_millis(300));
    let e = index
        .update_from_store(&lib.store, None, today())
        .unwrap_err();
    assert!(matches!(e, IndexError::Busy { .. }), "{e}");
    assert!(e.to_string().contains("for more than 0."), "{e}");
    holder.join().unwrap();
    assert_eq!(index.doc_count(), lib.seeds.len() as u64);
    // `ferry index rebuild`'s path waits the same way.
    let holder = hold(500);
    let mut fresh = SearchIndex::recreate(&path).unwrap();
    holder.join().unwrap();
    assert_eq!(
        fresh.update_from_store(&lib.store, None, today()).unwrap(),
        lib.seeds.len()
    );
    assert_eq!(index.doc_count(), lib.seeds.len() as u64);
}

#[test]
fn results_render_as_table_csv_and_json() {
    let lib = library();
    let index = built(&lib);
    let mut req = request("harbour regatta 1962");
    req.facets = true;
    let r = index.search(&req).unwrap();
    let table = ferry::index::format_table(&r);
    assert!(table.starts_with("2 matching assets\n"), "{table}");
    assert!(table.contains("Harbour regatta"));
    assert!(table.contains("\ncreator:\n"));
    let csv = ferry::index::format_csv(&r, ferry::csv_out::CsvStyle::default());
    assert_eq!(csv.lines().count(), 3);
    assert!(csv.starts_with("asset_id,photoshelter_id,preservica_ref,"));
    let json: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(json["total"], 2);
    assert_eq!(json["hits"][0]["title"], "Harbour regatta");
    assert_eq!(json["hits"][0]["rights_status"], "ok");
    assert!(json["facets"]["creator"].is_array());
}

/// One asset of [`small_index`]: its fields and its file name.
type SmallAsset<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>);

/// A small index of PhotoShelter-only assets, in this order.
fn small_index(assets: &[SmallAsset<'_>]) -> (SearchIndex, Vec<AssetId>) {
    let mut store = Store::open_in_memory().unwrap();
    let run = store
        .begin_run(ferry::store::RunKind::Sync, false, now())
        .unwrap();
    let names: Vec<String> = (0..assets.len()).map(|i| format!("I-small-{i}")).collect();
    let map = store
        .ensure_assets(System::PhotoShelter, &names, now())
        .unwrap();
    let ids: Vec<AssetId> = names.iter().map(|n| map[n]).collect();
    let items: Vec<(AssetId, Snapshot)> = assets
        .iter()
        .zip(&ids)
        .map(|((fields, file), id)| {
            let fields = fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let snap = Snapshot {
                fields,
                modified_at: Some(now()),
                file_name: file.map(str::to_string),
                ..Snapshot::default()
            };
            (*id, snap)
        })
        .collect();
    store
        .put_snapshots(run, System::PhotoShelter, &items, now())
        .unwrap();
    let mut index = SearchIndex::open_in_ram().unwrap();
    index.update_from_store(&store, None, today()).unwrap();
    (index, ids)
}

#[test]
fn near_misses_are_ranked_by_relevance_not_by_id_and_exact_matches_stay_first() {
    let (index, ids) = small_index(&[
        (
            &[(
                "caption",
                "boats gather along the course before the regatta starts",
            )],
            None,
        ),
        (&[("keywords", r#"["regatta"]"#)], None),
        (&[("title", "Regatta")], None),
        (&[("caption", "the regata, as the poster spelt it")], None),
    ]);
    let r = search(&index, "regata");
    let order: Vec<AssetId> = r.hits.iter().map(|h| h.asset_id).collect();
    assert_eq!(order.len(), 4);
    assert_eq!(
        order[0], ids[3],
        "the word itself, though in a caption, ranks first"
    );
    assert_eq!(order[1], ids[2], "then the near miss in a title");
    assert!(
        r.hits.windows(2).all(|w| w[0].score > w[1].score),
        "near misses have scores of their own, not one constant: {:?}",
        r.hits.iter().map(|h| h.score).collect::<Vec<_>>()
    );
    // A field filter ranks its near misses too.
    let r = search(&index, "title:regata");
    assert_eq!(r.hits[0].asset_id, ids[2]);
}

#[test]
fn a_hit_without_a_title_is_called_by_its_file_and_codes_have_meanings() {
    let (index, ids) = small_index(&[
        (
            &[
                ("headline", "Cranes on the quay"),
                ("model_release", "MR-NAP"),
            ],
            Some("IMG_0007.jpg"),
        ),
        (&[("title", "Quay at dusk")], Some("quay.tif")),
        (&[("caption", "quay, no title, no file")], None),
    ]);
    let r = search(&index, "quay");
    let label = |id: AssetId| {
        r.hits
            .iter()
            .find(|h| h.asset_id == id)
            .map(|h| h.label.clone())
            .unwrap()
    };
    assert_eq!(label(ids[0]), "IMG_0007.jpg");
    assert_eq!(label(ids[1]), "Quay at dusk");
    assert_eq!(
        label(ids[2]),
        "I-small-2",
        "no title or file: the system id"
    );
    let hit = r.hits.iter().find(|h| h.asset_id == ids[0]).unwrap();
    assert_eq!(hit.file_name.as_deref(), Some("IMG_0007.jpg"));
    assert_eq!(
        hit.model_release_meaning.as_deref(),
        Some("model release: not applicable")
    );
    let csv = ferry::index::format_csv(&r, ferry::csv_out::CsvStyle::default());
    assert!(
        csv.contains(",MR-NAP,model release: not applicable,"),
        "{csv}"
    );
}
