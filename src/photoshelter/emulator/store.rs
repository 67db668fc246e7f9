//! The emulator's in-memory account and its deterministic seed generator.

use super::EmulatorOptions;
use crate::emulate::pictures::{self, Picture, PictureFormat, PictureSize};
use crate::model::DateForm;
use crate::photoshelter::wire::{MediaKind, Visibility};
use bytes::Bytes;
use chrono::{DateTime, Duration as ChronoDuration, NaiveDate, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// Characters of the 11-character id tail; `.` and `_` really occur (contract §4).
const ID_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";

#[derive(Debug, Clone)]
pub(crate) struct Collection {
    pub id: String,
    pub name: String,
    pub description: String,
    /// `None`: top level.
    pub parent: Option<String>,
    pub org: Option<String>,
    pub mode: Visibility,
    pub listed: bool,
    pub display_order: u64,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Gallery {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Collections holding it (a gallery may live in several); empty: top level.
    pub parents: Vec<String>,
    pub org: Option<String>,
    pub mode: Visibility,
    pub listed: bool,
    pub display_order: u64,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    /// Media in display order, with the time each was added.
    pub media: Vec<(String, DateTime<Utc>)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Media {
    pub id: String,
    pub kind: MediaKind,
    pub org: Option<String>,
    pub owner: String,
    pub file_name: String,
    pub content_type: String,
    pub bytes: Bytes,
    pub width: u64,
    pub height: u64,
    pub rating: u64,
    pub searchable: bool,
    pub model_released: bool,
    pub property_released: bool,
    pub license_expiration_date: Option<NaiveDate>,
    /// Upload time.
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    /// IPTC attribute to text (absent: no value).
    pub iptc: BTreeMap<String, String>,
    /// Custom metadata field name to tag.
    pub custom: BTreeMap<String, String>,
}

impl Media {
    pub fn sha1(&self) -> String {
        use sha1::Digest;
        hex::encode(sha1::Sha1::digest(&self.bytes))
    }
}

/// An admin-defined custom metadata field with its preset tags (H-cmd).
#[derive(Debug, Clone)]
pub(crate) struct CustomField {
    pub id: String,
    pub name: String,
    /// (tag id, tag)
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub org: Option<String>,
    pub last_used: Instant,
    /// An OAuth bearer token from the options: never idles out.
    pub oauth: bool,
}

#[derive(Debug)]
pub(crate) struct Store {
    pub user_id: String,
    /// (id, name); the first is the one seeded content belongs to.
    pub orgs: Vec<(String, String)>,
    pub collections: BTreeMap<String, Collection>,
    pub galleries: BTreeMap<String, Gallery>,
    pub media: BTreeMap<String, Media>,
    pub custom_fields: Vec<CustomField>,
    pub sessions: HashMap<String, Session>,
    /// Every token ever issued, for tests that check none leaks.
    pub issued: Vec<String>,
    ids: StdRng,
    tokens: StdRng,
    next_order: u64,
}

pub(crate) const CAMPAIGNS: &[&str] = &[
    "Spring Regatta",
    "Harbour Lights",
    "Summer Festival",
    "Heritage Week",
    "Winter Market",
    "Centennial",
    "Open Doors",
];

const SUBJECTS: &[&str] = &[
    "harbour",
    "regatta",
    "lighthouse",
    "market",
    "festival",
    "bridge",
    "skyline",
    "portrait",
    "ferry",
    "pier",
    "sailing",
    "parade",
];
const PLACES: &[(&str, &str, &str)] = &[
    ("Halifax", "Nova Scotia", "Canada"),
    ("Portland", "Maine", "United States"),
    ("Bergen", "Vestland", "Norway"),
    ("Cork", "Munster", "Ireland"),
    ("Hobart", "Tasmania", "Australia"),
    ("Göteborg", "Västra Götaland", "Sweden"),
];
const AUTHORS: &[&str] = &[
    "Ada Lindqvist",
    "Marcus Okafor",
    "Jane Doe",
    "Ólafur Þórðarson",
    "Li Wei",
    "Sam Brennan",
];
const USAGE: &[&str] = &[
    "Editorial use only",
    "Internal use; no third parties",
    "Marketing use in North America until licence expiry",
    "Any use with credit",
];

impl Store {
    /// A collection the caller's organisation (`scope`) may see, or the API's 404.
    pub(crate) fn collection_in(
        &self,
        id: &str,
        scope: &Option<String>,
        api: super::request::Api,
    ) -> Result<&Collection, super::request::ApiErr> {
        self.collections
            .get(id)
            .filter(|c| &c.org == scope)
            .ok_or_else(|| super::request::ApiErr::not_found(api, &format!("Collection {id}")))
    }

    /// A gallery the caller's organisation (`scope`) may see, or the API's 404.
    pub(crate) fn gallery_in(
        &self,
        id: &str,
        scope: &Option<String>,
        api: super::request::Api,
    ) -> Result<&Gallery, super::request::ApiErr> {
        self.galleries
            .get(id)
            .filter(|g| &g.org == scope)
            .ok_or_else(|| super::request::ApiErr::not_found(api, &format!("Gallery {id}")))
    }

    pub fn new(options: &EmulatorOptions) -> Store {
        let mut store = Store {
            user_id: String::new(),
            orgs: Vec::new(),
            collections: BTreeMap::new(),
            galleries: BTreeMap::new(),
            media: BTreeMap::new(),
            custom_fields: Vec::new(),
            sessions: HashMap::new(),
            issued: Vec::new(),
            ids: StdRng::seed_from_u64(options.seed),
            tokens: StdRng::seed_from_u64(options.seed ^ 0x5eed_7041_e700_0001),
            next_order: 0,
        };
        store.user_id = store.new_id("U");
        if !options.org_id.is_empty() {
            store
                .orgs
                .push((options.org_id.clone(), "Ferry Demo Organisation".into()));
            store
                .orgs
                .push(("O0000OtherOrg001".into(), "Other Organisation".into()));
        }
        let fields: [(&str, Vec<&str>); 4] = [
            ("Campaign", CAMPAIGNS.to_vec()),
            (
                "Model Release Status",
                vec!["MR-NON", "MR-LMR", "MR-NAP", "MR-UMR"],
            ),
            (
                "Property Release Status",
                vec!["PR-NON", "PR-LPR", "PR-NAP", "PR-UPR"],
            ),
            (
                "Archive Status",
                vec!["not_archived", "archiving", "archived"],
            ),
        ];
        for (name, tags) in fields {
            let id = store.new_id("CMF");
            let tags = tags
                .into_iter()
                .map(|t| (store.new_id("CMV"), t.to_string()))
                .collect();
            store.custom_fields.push(CustomField {
                id,
                name: name.to_string(),
                tags,
            });
        }
        store.seed(options);
        // A campaign an admin added later; its tag id is fixed rather than drawn, so the
        // seeded ids stay what they were.
        if let Some(f) = store
            .custom_fields
            .iter_mut()
            .find(|f| f.name == "Campaign")
        {
            f.tags
                .push(("CMV00Anniv2027x0".into(), "Anniversary 2027".into()));
        }
        store
    }

    /// The org seeded content belongs to (`None` for a user without organisations).
    pub fn home_org(&self) -> Option<String> {
        self.orgs.first().map(|(id, _)| id.clone())
    }

    pub fn new_id(&mut self, prefix: &str) -> String {
        loop {
            let mut id = format!("{prefix:0<5}");
            for _ in 0..11 {
                id.push(ID_CHARS[self.ids.random_range(0..ID_CHARS.len())] as char);
            }
            let taken = self.media.contains_key(&id)
                || self.galleries.contains_key(&id)
                || self.collections.contains_key(&id);
            if !taken {
                return id;
            }
        }
    }

    pub fn new_token(&mut self) -> String {
        let t: String = (0..32)
            .map(|_| format!("{:x}", self.tokens.random_range(0..16u8)))
            .collect();
        self.issued.push(t.clone());
        t
    }

    pub fn next_order(&mut self) -> u64 {
        self.next_order += 1;
        self.next_order
    }

    pub fn custom_field(&self, name: &str) -> Option<&CustomField> {
        self.custom_fields
            .iter()
            .find(|f| f.name == name || f.id == name)
    }

    /// Collections and galleries directly under `parent` (`None`: the top level) of `org`,
    /// collections first, each in display order.
    pub fn children(&self, parent: Option<&str>, org: &Option<String>) -> Vec<(bool, String)> {
        let mut cols: Vec<&Collection> = self
            .collections
            .values()
            .filter(|c| &c.org == org && c.parent.as_deref() == parent)
            .collect();
        cols.sort_by_key(|c| (c.display_order, c.id.clone()));
        let mut gals: Vec<&Gallery> = self
            .galleries
            .values()
            .filter(|g| {
                &g.org == org
                    && match parent {
                        None => g.parents.is_empty(),
                        Some(p) => g.parents.iter().any(|x| x == p),
                    }
            })
            .collect();
        gals.sort_by_key(|g| (g.display_order, g.id.clone()));
        cols.into_iter()
            .map(|c| (true, c.id.clone()))
            .chain(gals.into_iter().map(|g| (false, g.id.clone())))
            .collect()
    }

    /// Galleries under a collection, at any depth.
    pub fn galleries_under(&self, collection: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![collection.to_string()];
        let mut seen = std::collections::HashSet::new();
        while let Some(c) = stack.pop() {
            if !seen.insert(c.clone()) {
                continue;
            }
            for g in self.galleries.values() {
                if g.parents.contains(&c) && !out.contains(&g.id) {
                    out.push(g.id.clone());
                }
            }
            for sub in self.collections.values() {
                if sub.parent.as_deref() == Some(c.as_str()) {
                    stack.push(sub.id.clone());
                }
            }
        }
        out
    }

    /// Galleries holding a media item.
    pub fn galleries_of(&self, media_id: &str) -> Vec<String> {
        let mut v: Vec<&Gallery> = self
            .galleries
            .values()
            .filter(|g| g.media.iter().any(|(m, _)| m == media_id))
            .collect();
        v.sort_by_key(|g| (g.display_order, g.id.clone()));
        v.into_iter().map(|g| g.id.clone()).collect()
    }

    fn seed(&mut self, options: &EmulatorOptions) {
        if options.seed_media == 0 {
            return;
        }
        let org = self.home_org();
        let mut rng = StdRng::seed_from_u64(options.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 7);
        let per_gallery = options.media_per_gallery.max(1);
        let n_galleries = options.seed_media.div_ceil(per_gallery);
        let per_collection = options.galleries_per_collection.max(1);

        let gallery_ids = self.seed_galleries(&mut rng, n_galleries, &org);
        self.seed_collections(&mut rng, &gallery_ids, per_collection, &org);
        self.seed_media_items(
            &mut rng,
            options.seed_media,
            &gallery_ids,
            per_gallery,
            &org,
        );
        self.draw_pictures(options.picture_size);
        // A few media in two galleries.
        if n_galleries >= 2 {
            let first: Vec<(String, DateTime<Utc>)> = self.galleries[&gallery_ids[0]]
                .media
                .iter()
                .take(3)
                .cloned()
                .collect();
            if let Some(last) = self.galleries.get_mut(&gallery_ids[n_galleries - 1]) {
                last.media.extend(first);
            }
        }
        // An empty gallery at the top level.
        let id = self.new_id("G");
        let order = self.next_order();
        let created = seed_time(&mut rng, 2023, 2024);
        self.galleries.insert(
            id.clone(),
            Gallery {
                id,
                name: "Unsorted".into(),
                description: String::new(),
                parents: Vec::new(),
                org,
                mode: Visibility::Private,
                listed: false,
                display_order: order,
                created_at: created,
                modified_at: created,
                media: Vec::new(),
            },
        );
    }

    /// `n` galleries, the last one at the top level when there are several.
    fn seed_galleries(
        &mut self,
        rng: &mut StdRng,
        n_galleries: usize,
        org: &Option<String>,
    ) -> Vec<String> {
        let mut gallery_ids = Vec::new();
        for g in 0..n_galleries {
            let id = self.new_id("G");
            let created = seed_time(rng, 2015, 2020);
            let mode = [
                Visibility::Everyone,
                Visibility::Permission,
                Visibility::Private,
            ][g % 3];
            let order = self.next_order();
            self.galleries.insert(
                id.clone(),
                Gallery {
                    id: id.clone(),
                    name: format!(
                        "{} {}",
                        title_case(SUBJECTS[g % SUBJECTS.len()]),
                        2000 + (g % 25)
                    ),
                    description: format!("Seeded gallery {}", g + 1),
                    parents: Vec::new(),
                    org: org.clone(),
                    mode,
                    listed: g % 4 != 3,
                    display_order: order,
                    created_at: created,
                    modified_at: created + ChronoDuration::days(rng.random_range(0..400)),
                    media: Vec::new(),
                },
            );
            gallery_ids.push(id);
        }
        gallery_ids
    }

    /// Collections of `per_collection` galleries; every second one nested in the one before,
    /// so listings must recurse. One gallery is in two collections.
    fn seed_collections(
        &mut self,
        rng: &mut StdRng,
        gallery_ids: &[String],
        per_collection: usize,
        org: &Option<String>,
    ) {
        let n_galleries = gallery_ids.len();
        let in_collections = if n_galleries > 1 {
            n_galleries - 1
        } else {
            n_galleries
        };

        let mut collection_ids: Vec<String> = Vec::new();
        for (c, chunk) in gallery_ids[..in_collections]
            .chunks(per_collection)
            .enumerate()
        {
            let id = self.new_id("C");
            let created = seed_time(rng, 2014, 2016);
            let parent = (c % 2 == 1).then(|| collection_ids[c - 1].clone());
            let order = self.next_order();
            self.collections.insert(
                id.clone(),
                Collection {
                    id: id.clone(),
                    name: format!("Collection {}", c + 1),
                    description: format!("Seeded collection {}", c + 1),
                    parent,
                    org: org.clone(),
                    mode: Visibility::Everyone,
                    listed: true,
                    display_order: order,
                    created_at: created,
                    modified_at: created + ChronoDuration::days(30),
                },
            );
            for g in chunk {
                if let Some(gal) = self.galleries.get_mut(g) {
                    gal.parents.push(id.clone());
                }
            }
            collection_ids.push(id);
        }
        // A gallery in two collections.
        if collection_ids.len() >= 2
            && let Some(g) = self.galleries.get_mut(&gallery_ids[0])
        {
            g.parents
                .push(collection_ids[collection_ids.len() - 1].clone());
        }
    }

    /// Gives every seeded image a generated JPEG (seeded by its old random bytes, titled with
    /// its IPTC title) and the picture's own dimensions. Drawn on every core, once per
    /// process (pictures are kept, see `pictures`).
    fn draw_pictures(&mut self, size: PictureSize) {
        let images = self.media.values().filter(|m| m.kind == MediaKind::Image);
        let size = size.for_library(images.count());
        let wanted: Vec<(String, Picture)> = self
            .media
            .values()
            .filter(|m| m.kind == MediaKind::Image)
            .map(|m| {
                let (width, height) = size.dimensions(m.width >= m.height);
                let picture = Picture {
                    seed: pictures::seed_from(&m.bytes[20..]),
                    title: m.iptc.get("title").cloned().unwrap_or_default(),
                    width,
                    height,
                    format: PictureFormat::Jpeg,
                };
                (m.id.clone(), picture)
            })
            .collect();
        let drawn = pictures::draw_all(&wanted.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>());
        for ((id, picture), bytes) in wanted.iter().zip(drawn) {
            if let Some(m) = self.media.get_mut(id) {
                m.bytes = bytes;
                (m.width, m.height) = (u64::from(picture.width), u64::from(picture.height));
            }
        }
    }

    /// `count` media, `per_gallery` to a gallery.
    fn seed_media_items(
        &mut self,
        rng: &mut StdRng,
        count: usize,
        gallery_ids: &[String],
        per_gallery: usize,
        org: &Option<String>,
    ) {
        for i in 0..count {
            let kind = if i % 97 == 13 {
                MediaKind::Video
            } else if i % 101 == 17 {
                MediaKind::Document
            } else if i % 103 == 19 {
                MediaKind::Audio
            } else {
                MediaKind::Image
            };
            let id = self.new_id(kind.id_prefix());
            let media = seed_media(rng, i, &id, kind, org.clone(), &self.user_id);
            let gallery = &gallery_ids[i / per_gallery];
            let added = media.created_at;
            if let Some(g) = self.galleries.get_mut(gallery) {
                g.media.push((id.clone(), added));
            }
            self.media.insert(id, media);
        }
    }
}

/// A time in [from, to] (years), whole seconds.
fn seed_time(rng: &mut StdRng, from: i32, to: i32) -> DateTime<Utc> {
    let start = Utc
        .with_ymd_and_hms(from, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let end = Utc
        .with_ymd_and_hms(to, 12, 31, 23, 59, 59)
        .single()
        .unwrap_or_default();
    let span = (end - start).num_seconds().max(1);
    start + ChronoDuration::seconds(rng.random_range(0..span))
}

fn title_case(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// Small deterministic bytes that start like the file type they claim to be.
fn seed_bytes(rng: &mut StdRng, kind: MediaKind) -> (Vec<u8>, &'static str, &'static str) {
    let (head, tail, ext, ctype): (&[u8], &[u8], &str, &str) = match kind {
        MediaKind::Image => (
            b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00",
            b"\xFF\xD9",
            "jpg",
            "image/jpeg",
        ),
        MediaKind::Video => (b"\x00\x00\x00\x18ftypmp42", b"", "mp4", "video/mp4"),
        MediaKind::Audio => (b"ID3\x04\x00\x00\x00\x00\x00\x00", b"", "mp3", "audio/mpeg"),
        MediaKind::Document => (b"%PDF-1.4\n", b"\n%%EOF\n", "pdf", "application/pdf"),
    };
    let n = rng.random_range(200..1400);
    let mut out = Vec::with_capacity(head.len() + n + tail.len());
    out.extend_from_slice(head);
    out.extend((0..n).map(|_| rng.random::<u8>()));
    out.extend_from_slice(tail);
    (out, ext, ctype)
}

fn seed_media(
    rng: &mut StdRng,
    i: usize,
    id: &str,
    kind: MediaKind,
    org: Option<String>,
    owner: &str,
) -> Media {
    let (bytes, ext, ctype) = seed_bytes(rng, kind);
    let created = seed_time(rng, 2015, 2023);
    let modified = (created + ChronoDuration::seconds(rng.random_range(0..86_400 * 365))).min(
        Utc.with_ymd_and_hms(2024, 12, 31, 0, 0, 0)
            .single()
            .unwrap_or(created),
    );
    let subject = pick(rng, SUBJECTS);
    let (city, state, country) = PLACES[rng.random_range(0..PLACES.len())];
    let author = pick(rng, AUTHORS);
    let year = rng.random_range(1950..2021);
    let iptc = seed_iptc(rng, i, subject, (city, state, country), author, year);

    let mr = pick(rng, &["MR-NON", "MR-LMR", "MR-NAP", "MR-UMR"]);
    let pr = pick(rng, &["PR-NON", "PR-LPR", "PR-NAP", "PR-UPR"]);
    let mut custom = BTreeMap::new();
    if rng.random_bool(0.7) {
        custom.insert("Campaign".to_string(), pick(rng, CAMPAIGNS).to_string());
    }
    custom.insert("Model Release Status".to_string(), mr.to_string());
    custom.insert("Property Release Status".to_string(), pr.to_string());
    custom.insert(
        "Archive Status".to_string(),
        if i.is_multiple_of(10) {
            "archived"
        } else {
            "not_archived"
        }
        .to_string(),
    );

    let license_expiration_date = match rng.random_range(0..3) {
        0 => None,
        1 => NaiveDate::from_ymd_opt(
            rng.random_range(2016..2024),
            rng.random_range(1..13),
            rng.random_range(1..29),
        ),
        _ => NaiveDate::from_ymd_opt(
            rng.random_range(2030..2036),
            rng.random_range(1..13),
            rng.random_range(1..29),
        ),
    };
    let (width, height) = if rng.random_bool(0.5) {
        (6000, 4000)
    } else {
        (4000, 6000)
    };
    Media {
        id: id.to_string(),
        kind,
        org,
        owner: owner.to_string(),
        file_name: format!("{}_{:05}.{ext}", subject.to_uppercase(), i + 1),
        content_type: ctype.to_string(),
        bytes: Bytes::from(bytes),
        width,
        height,
        rating: rng.random_range(0..6),
        searchable: true,
        model_released: matches!(mr, "MR-UMR" | "MR-LMR"),
        property_released: matches!(pr, "PR-UPR" | "PR-LPR"),
        license_expiration_date,
        created_at: created,
        modified_at: modified,
        iptc,
        custom,
    }
}

/// A seeded media's IPTC fields, dates in the spellings real libraries hold.
fn seed_iptc(
    rng: &mut StdRng,
    i: usize,
    subject: &str,
    (city, state, country): (&str, &str, &str),
    author: &str,
    year: i32,
) -> BTreeMap<String, String> {
    let mut iptc = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        iptc.insert(k.to_string(), v);
    };
    put(
        "title",
        format!("{} {year} #{}", title_case(subject), i + 1),
    );
    if rng.random_bool(0.7) {
        put("headline", format!("{} in {city}", title_case(subject)));
    }
    put(
        "caption",
        format!("The {subject} at {city}, {country}, photographed in {year}."),
    );
    put("author", author.to_string());
    if rng.random_bool(0.8) {
        put("credit", format!("{author} / Ferry Archive"));
    }
    put("copyright", format!("© {year} {author}"));
    let mut keywords = vec![subject, pick(rng, SUBJECTS), city];
    keywords.dedup();
    put("keywords", keywords.join(", "));
    put("city", city.to_string());
    put("state", state.to_string());
    put("country", country.to_string());
    if rng.random_bool(0.6) {
        put("rights", pick(rng, USAGE).to_string());
    }
    if rng.random_bool(0.3) {
        put(
            "trans_ref",
            format!("LIC-{year}-{:04}.pdf", rng.random_range(1..9999)),
        );
    }
    if rng.random_bool(0.1) {
        put("instructions", "Check with the archive before reuse".into());
    }
    // Real libraries hold dates in several spellings (typed, embedded, imported): one in three
    // as PhotoShelter's timestamp, one in three as IPTC's compact form.
    let (month, day) = (rng.random_range(1..13), rng.random_range(1..29));
    let taken = NaiveDate::from_ymd_opt(year, month, day).expect("a day under 29 exists");
    let form = match i % 3 {
        0 => DateForm::Day,
        1 => DateForm::Timestamp { zone: "GMT" },
        _ => DateForm::Compact,
    };
    put("date_created", form.write(taken));
    iptc
}
