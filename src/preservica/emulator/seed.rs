//! The deterministic seed library: the same `seed` gives the same folders, assets, metadata,
//! identifiers and file bytes, so tests and demos can name what they expect to find.

use super::{
    Data, EmulatorOptions, Entity, Generation, Representation, StoredBitstream, StoredFragment,
};
use crate::emulate::pictures::{self, Picture, PictureFormat, PictureSize};
use crate::preservica::wire::{EntityKind, Identifier};
use crate::xml::esc;
use bytes::Bytes;
use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::Digest;

pub const DC_SCHEMA: &str = "http://www.openarchives.org/OAI/2.0/oai_dc/";
pub const FERRY_SCHEMA: &str = "urn:ferry:schema:rights:1";

const PLACES: &[&str] = &[
    "Harbour",
    "Quay",
    "Lighthouse",
    "Market Square",
    "Cathedral",
    "Mill",
];
const EVENTS: &[&str] = &[
    "Regatta",
    "Launch",
    "Parade",
    "Fair",
    "Storm damage",
    "Opening",
];
const CREATORS: &[&str] = &[
    "Mary Ellis",
    "J. Whitcombe",
    "Harbour Board Photographic Unit",
    "Anon.",
    "Ólafur Sigurðsson",
];
const KEYWORDS: &[&str] = &[
    "boats",
    "harbour",
    "crowds",
    "sails",
    "weather",
    "architecture",
    "industry",
    "ceremony",
];

/// The title of seeded folder `n` (1-based).
pub fn seed_folder_title(n: usize) -> String {
    format!("Series {n}")
}

fn uuid_from(rng: &mut StdRng) -> String {
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string()
}

fn seed_time(i: usize) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid date")
        + Duration::minutes(i as i64)
}

/// Fills `data` with a root folder and `options.seed_assets` assets in series folders.
pub(super) fn seed(data: &mut Data, options: &EmulatorOptions) {
    let mut rng = StdRng::seed_from_u64(options.seed);
    let root_ref = uuid_from(&mut rng);
    let mut root = Entity::new(
        EntityKind::Folder,
        root_ref.clone(),
        "ferry emulator archive".into(),
        None,
        seed_time(0),
    );
    root.description = Some("Seeded by the ferry emulator".into());
    data.insert(root);
    let per_folder = options.seed_folder_size.max(1);
    let mut folder_ref = String::new();
    let mut pictures = Vec::with_capacity(options.seed_assets);
    for i in 0..options.seed_assets {
        if i % per_folder == 0 {
            folder_ref = uuid_from(&mut rng);
            let n = i / per_folder + 1;
            let f = Entity::new(
                EntityKind::Folder,
                folder_ref.clone(),
                seed_folder_title(n),
                Some(root_ref.clone()),
                seed_time(0),
            );
            data.insert(f);
        }
        pictures.push(seed_asset(data, &mut rng, &folder_ref, i));
    }
    draw_pictures(data, pictures, options.picture_size);
}

/// Gives each seeded content object (ref, title, seed) its generated JPEG and the fixities
/// of those bytes.
fn draw_pictures(data: &mut Data, wanted: Vec<(String, String, u64)>, size: PictureSize) {
    let size = size.for_library(wanted.len());
    let specs: Vec<Picture> = wanted
        .iter()
        .enumerate()
        .map(|(i, (_, title, seed))| {
            let (width, height) = size.dimensions(i % 4 != 3);
            Picture {
                seed: *seed,
                title: title.clone(),
                width,
                height,
                format: PictureFormat::Jpeg,
            }
        })
        .collect();
    for ((co, _, _), bytes) in wanted.iter().zip(pictures::draw_all(&specs)) {
        let Some(c) = data.entities.get_mut(co) else {
            continue;
        };
        for bs in c
            .generations
            .iter_mut()
            .flat_map(|g| g.bitstreams.iter_mut())
        {
            bs.fixities = fixities(&bytes);
            bs.bytes = bytes.clone();
        }
    }
}

fn fixities(bytes: &[u8]) -> Vec<(String, String)> {
    vec![
        ("SHA1".to_string(), hex::encode(sha1::Sha1::digest(bytes))),
        (
            "SHA256".to_string(),
            hex::encode(sha2::Sha256::digest(bytes)),
        ),
    ]
}

fn pick<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len())]
}

/// Seeds one asset; returns its content object's ref, the title and the seed its picture is
/// drawn with (see `draw_pictures`).
fn seed_asset(data: &mut Data, rng: &mut StdRng, folder: &str, i: usize) -> (String, String, u64) {
    let io = uuid_from(rng);
    let co = uuid_from(rng);
    let year = 1900 + rng.random_range(0..100);
    let place = pick(rng, PLACES);
    let event = pick(rng, EVENTS);
    let creator = pick(rng, CREATORS);
    let title = format!("{event} at the {place}, {year}");
    let mut subjects: Vec<&str> = (0..rng.random_range(1..4))
        .map(|_| pick(rng, KEYWORDS))
        .collect();
    subjects.sort();
    subjects.dedup();
    let dc = format!(
        "<oai_dc:dc xmlns:oai_dc=\"{DC_SCHEMA}\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n  <dc:title>{}</dc:title>\n  <dc:creator>{}</dc:creator>\n  <dc:date>{year}-{:02}-{:02}</dc:date>\n{}  <dc:rights>© {year} {}</dc:rights>\n  <dc:identifier>FERRY-{i:05}</dc:identifier>\n</oai_dc:dc>",
        esc(&title),
        esc(creator),
        rng.random_range(1..13),
        rng.random_range(1..29),
        subjects
            .iter()
            .map(|s| format!("  <dc:subject>{}</dc:subject>\n", esc(s)))
            .collect::<String>(),
        esc(creator),
    );
    let mut fragments = vec![StoredFragment {
        id: data.next_id("frag-"),
        schema: DC_SCHEMA.into(),
        xml: dc,
    }];
    if i.is_multiple_of(3) {
        let expiry = 2020 + rng.random_range(0..12);
        fragments.push(StoredFragment {
            id: data.next_id("frag-"),
            schema: FERRY_SCHEMA.into(),
            xml: format!(
                "<FerryRights xmlns=\"{FERRY_SCHEMA}\">\n  <LicenseExpiry>{expiry}-06-30</LicenseExpiry>\n  <ModelReleaseStatus>{}</ModelReleaseStatus>\n</FerryRights>",
                if i.is_multiple_of(2) { "MR-UMR" } else { "MR-NON" }
            ),
        });
    }
    // The random bytes files once held, still drawn so that everything seeded after them
    // stays the same; they now only seed the picture.
    let len = rng.random_range(512..2048);
    let noise: Vec<u8> = (0..len).map(|_| rng.random::<u8>()).collect();
    let picture = (co.clone(), title.clone(), pictures::seed_from(&noise));
    let mut e = Entity::new(
        EntityKind::Asset,
        io.clone(),
        title,
        Some(folder.to_string()),
        seed_time(i + 1),
    );
    e.description = Some(format!("{event} photographed by {creator}."));
    e.fragments = fragments;
    e.identifiers = vec![Identifier {
        api_id: data.next_id(""),
        kind: "code".into(),
        value: format!("FERRY-{i:05}"),
        entity: Some(io.clone()),
    }];
    e.representations = vec![Representation {
        rtype: "Preservation".into(),
        name: "Preservation".into(),
        content_objects: vec![co.clone()],
    }];
    data.insert(e);
    let file_name = format!("IMG_{i:05}.jpg");
    let mut c = Entity::new(
        EntityKind::ContentObject,
        co,
        file_name.clone(),
        Some(io),
        seed_time(i + 1),
    );
    c.generations = vec![Generation {
        original: true,
        active: true,
        bitstreams: vec![StoredBitstream {
            filename: file_name,
            bytes: Bytes::new(),
            fixities: Vec::new(),
        }],
    }];
    data.insert(c);
    picture
}
