//! Pulling both systems: list what is there (in full, or what changed since the cursor),
//! read each record and translate it to canonical form, with bounded concurrency per system.
//!
//! A listing that fails is an error, never an empty result: absence only means deletion
//! after a listing that completed (DESIGN invariant 1). A record that cannot be read is
//! reported and left out of this run; its old snapshot stays as it was.

use crate::mapping::photoshelter as ps_map;
use crate::mapping::preservica as pv_map;
use crate::mapping::{Mapping, Translation};
use crate::model::{AccessKey, System};
use crate::photoshelter::client::PhotoShelterClient;
use crate::preservica::client::PreservicaClient;
use crate::preservica::wire::{self, EntityKind};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// How far back an incremental listing reaches before the cursor, so a change made while the
/// last listing ran is not missed.
pub const CURSOR_OVERLAP: Duration = Duration::from_secs(15 * 60);

/// One record as pulled.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// Its id in its own system (media id, or asset ref).
    pub id: String,
    pub translation: Translation,
    /// The other system's id this record names (pairing), if it names one.
    pub link: Option<String>,
}

/// What a pull of one system produced.
#[derive(Debug, Clone)]
pub struct PullResult {
    pub system: System,
    /// Whether every asset of the system was listed (a full pull), or only changes.
    pub full: bool,
    /// Ids the listing returned.
    pub listed: usize,
    pub records: Vec<Pulled>,
    /// Records that could not be read: (id, error).
    pub failures: Vec<(String, String)>,
    /// Where the next incremental pull starts.
    pub next_cursor: DateTime<Utc>,
    pub seconds: f64,
}

/// A progress bar for reading `len` records of `system`, drawn only when the caller has a
/// terminal to draw on (`progress` is `None` in logs, CI and tests).
fn bar(
    progress: Option<&indicatif::MultiProgress>,
    system: System,
    len: usize,
) -> indicatif::ProgressBar {
    let Some(mp) = progress else {
        return indicatif::ProgressBar::hidden();
    };
    let bar = mp.add(indicatif::ProgressBar::new(len as u64));
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{prefix:>13} {bar:40} {pos}/{len} records, {per_sec}, eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar.set_prefix(system.name());
    bar
}

// The stored keys of the access state, by the names other modules use (see [`AccessKey`]).
pub const SEARCHABLE_KEY: &str = AccessKey::Searchable.key();
pub const SECURITY_TAG_KEY: &str = AccessKey::SecurityTag.key();
pub const GALLERIES_KEY: &str = AccessKey::Galleries.key();
pub const FOLDER_KEY: &str = AccessKey::Folder.key();

/// A Preservica asset in canonical form, with its access state (the security tag).
pub fn read_preservica(
    mapping: &Mapping,
    record: &crate::mapping::preservica::PreservicaRecord,
) -> Translation {
    let mut t = pv_map::read_record(mapping, record);
    t.record.set(
        AccessKey::SecurityTag.key(),
        record
            .security_tag
            .as_deref()
            .and_then(crate::model::FieldValue::text),
    );
    t
}

/// A PhotoShelter media item in canonical form, with its access state (searchable).
pub fn read_photoshelter(
    mapping: &Mapping,
    record: &crate::mapping::photoshelter::PhotoShelterRecord,
) -> Translation {
    let mut t = ps_map::read_record(mapping, record);
    t.record
        .set(AccessKey::Searchable.key(), searchable(record));
    t
}

/// Why a pull could not give a listing to act on.
#[derive(Debug, thiserror::Error)]
#[error("listing {system} failed, so this run cannot tell what is there: {reason}")]
pub struct PullError {
    pub system: System,
    pub reason: String,
}

/// Pulls Preservica: every asset (`cursor` None) or those changed since `cursor`.
pub async fn pull_preservica(
    client: &PreservicaClient,
    mapping: &Mapping,
    cursor: Option<DateTime<Utc>>,
    paired: &HashSet<String>,
    concurrency: usize,
    started: DateTime<Utc>,
    progress: Option<&indicatif::MultiProgress>,
) -> Result<PullResult, PullError> {
    let clock = std::time::Instant::now();
    let fail = |e: crate::preservica::client::PreservicaError| PullError {
        system: System::Preservica,
        reason: e.to_string(),
    };
    let refs: Vec<String> = match cursor {
        None => client.walk_assets(None).await.map_err(fail)?,
        Some(c) => client
            .updated_since(c, CURSOR_OVERLAP)
            .await
            .map_err(fail)?
            .into_iter()
            .filter(|e| e.kind == Some(EntityKind::Asset) && !e.deleted)
            .collect(),
    }
    .into_iter()
    .map(|e| e.reference)
    .collect();
    let listed = refs.len();
    let results = read_preservica_refs(client, mapping, refs, paired, concurrency, progress).await;
    Ok(split(
        System::Preservica,
        cursor.is_none(),
        listed,
        results,
        started,
        clock,
    ))
}

/// Reads exactly `refs` (no listing): what a live run pulls, the records a webhook or a poll
/// named. A ref that cannot be read is a failure of this run, as in any pull.
pub async fn pull_preservica_refs(
    client: &PreservicaClient,
    mapping: &Mapping,
    refs: Vec<String>,
    paired: &HashSet<String>,
    concurrency: usize,
    started: DateTime<Utc>,
) -> PullResult {
    let clock = std::time::Instant::now();
    let listed = refs.len();
    let results = read_preservica_refs(client, mapping, refs, paired, concurrency, None).await;
    split(System::Preservica, false, listed, results, started, clock)
}

/// Reads each asset of `refs` with its folder's title (and, when not paired yet, what can
/// pair it).
async fn read_preservica_refs(
    client: &PreservicaClient,
    mapping: &Mapping,
    refs: Vec<String>,
    paired: &HashSet<String>,
    concurrency: usize,
    progress: Option<&indicatif::MultiProgress>,
) -> Vec<(String, Result<Pulled, String>)> {
    let bar = bar(progress, System::Preservica, refs.len());
    // Folder titles, read once per folder however many assets it holds.
    let folders: tokio::sync::Mutex<HashMap<String, Option<String>>> = Default::default();
    let folders = &folders;
    let schemas = &pv_map::mapped_schemas(mapping);
    let results: Vec<(String, Result<Pulled, String>)> = futures_util::stream::iter(refs)
        .map(|r| async move {
            let read = async {
                let (record, parent) = client.read_asset_located(&r, Some(schemas)).await?;
                let folder = match parent {
                    None => None,
                    Some(p) => {
                        let known = folders.lock().await.get(&p).cloned();
                        match known {
                            Some(title) => title,
                            None => {
                                let title = client
                                    .entity(EntityKind::Folder, &p)
                                    .await
                                    .ok()
                                    .and_then(|f| f.title);
                                folders.lock().await.insert(p, title.clone());
                                title
                            }
                        }
                    }
                };
                // Identifiers are only needed to pair an asset ferry has not paired yet.
                let link = if paired.contains(&r) {
                    None
                } else {
                    client
                        .identifiers(EntityKind::Asset, &r)
                        .await?
                        .into_iter()
                        .find(|i| i.kind == wire::PHOTOSHELTER_ID_TYPE)
                        .map(|i| i.value)
                };
                let mut translation = read_preservica(mapping, &record);
                translation.record.set(
                    AccessKey::Folder.key(),
                    folder.as_deref().and_then(crate::model::FieldValue::text),
                );
                // Without a link, only the file's checksum can pair the asset: ask for the
                // fixity Preservica keeps (a few calls, for unpaired assets only).
                if link.is_none() && !paired.contains(&r) {
                    translation.record.checksum = client
                        .bitstreams(&r)
                        .await?
                        .into_iter()
                        .find_map(|b| {
                            b.doc
                                .fixities
                                .into_iter()
                                .find(|(alg, _)| alg.replace('-', "").eq_ignore_ascii_case("sha1"))
                        })
                        .map(|(_, v)| format!("sha1:{}", v.to_lowercase()));
                }
                Ok::<_, crate::preservica::client::PreservicaError>(Pulled {
                    id: r.clone(),
                    translation,
                    link,
                })
            };
            let out = read.await.map_err(|e| e.to_string());
            (r, out)
        })
        .buffer_unordered(concurrency.max(1))
        .inspect(|_| bar.inc(1))
        .collect()
        .await;
    bar.finish_and_clear();
    results
}

/// Pulls PhotoShelter: every media item (`cursor` None) or those modified since `cursor`.
pub async fn pull_photoshelter(
    client: &PhotoShelterClient,
    mapping: &Mapping,
    cursor: Option<DateTime<Utc>>,
    concurrency: usize,
    started: DateTime<Utc>,
    progress: Option<&indicatif::MultiProgress>,
) -> Result<PullResult, PullError> {
    let clock = std::time::Instant::now();
    let fail = |e: crate::photoshelter::client::PhotoShelterError| PullError {
        system: System::PhotoShelter,
        reason: e.to_string(),
    };
    let scope = crate::photoshelter::client::Scope::Account;
    // Gallery names by media id: a full listing says which galleries hold each item (an
    // incremental one does not; the store keeps what the last full pull found).
    let mut galleries: HashMap<String, Vec<String>> = HashMap::new();
    let (ids, next_cursor): (Vec<String>, DateTime<Utc>) = match cursor {
        None => {
            let listing = client.list_all(&scope).await.map_err(fail)?;
            let names = gallery_names(client, &listing.galleries, concurrency).await;
            let ids = listing
                .media
                .into_iter()
                .map(|m| {
                    galleries.insert(
                        m.id.clone(),
                        m.galleries
                            .iter()
                            .map(|g| names.get(g).cloned().unwrap_or_else(|| g.clone()))
                            .collect(),
                    );
                    m.id
                })
                .collect();
            (ids, started)
        }
        Some(c) => {
            let changed = client.list_changed(c, &scope).await.map_err(fail)?;
            (
                changed.media.into_iter().map(|m| m.id).collect(),
                changed.next_cursor,
            )
        }
    };
    let listed = ids.len();
    let results = read_media(client, mapping, ids, &galleries, concurrency, progress).await;
    Ok(split(
        System::PhotoShelter,
        cursor.is_none(),
        listed,
        results,
        next_cursor,
        clock,
    ))
}

/// Reads exactly the media `ids` (no listing): what a live run pulls, the media the change
/// poll found. A media item that cannot be read is a failure of this run, as in any pull.
pub async fn pull_photoshelter_ids(
    client: &PhotoShelterClient,
    mapping: &Mapping,
    ids: Vec<String>,
    concurrency: usize,
    started: DateTime<Utc>,
) -> PullResult {
    let clock = std::time::Instant::now();
    let listed = ids.len();
    let results = read_media(client, mapping, ids, &HashMap::new(), concurrency, None).await;
    split(System::PhotoShelter, false, listed, results, started, clock)
}

/// Reads each media item of `ids`, with the galleries a full listing found holding it.
async fn read_media(
    client: &PhotoShelterClient,
    mapping: &Mapping,
    ids: Vec<String>,
    galleries: &HashMap<String, Vec<String>>,
    concurrency: usize,
    progress: Option<&indicatif::MultiProgress>,
) -> Vec<(String, Result<Pulled, String>)> {
    let bar = bar(progress, System::PhotoShelter, ids.len());
    let reference = mapping
        .field("preservation_reference")
        .map(|f| f.name.clone());
    let parts = ps_map::RecordParts::mapped(mapping);
    let results: Vec<(String, Result<Pulled, String>)> = futures_util::stream::iter(ids)
        .map(|id| {
            let reference = reference.clone();
            async move {
                let out = client
                    .read_parts(&id, parts)
                    .await
                    .map(|record| {
                        let mut translation = read_photoshelter(mapping, &record);
                        if let Some(names) = galleries.get(&id) {
                            translation.record.set(
                                AccessKey::Galleries.key(),
                                crate::model::FieldValue::set(names),
                            );
                        }
                        let link = reference
                            .as_deref()
                            .and_then(|f| translation.record.get(f))
                            .map(|v| v.to_canonical_string());
                        Pulled {
                            id: id.clone(),
                            translation,
                            link,
                        }
                    })
                    .map_err(|e| e.to_string());
                (id, out)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .inspect(|_| bar.inc(1))
        .collect()
        .await;
    bar.finish_and_clear();
    results
}

/// Gallery id → name; a gallery whose name cannot be read is left out (its id stands in).
async fn gallery_names(
    client: &PhotoShelterClient,
    ids: &[String],
    concurrency: usize,
) -> HashMap<String, String> {
    futures_util::stream::iter(ids.iter().cloned())
        .map(|g| async move {
            let name = client
                .container(crate::photoshelter::client::ContainerKind::Gallery, &g)
                .await
                .ok()
                .and_then(|c| c.name);
            (g, name)
        })
        .buffer_unordered(concurrency.max(1))
        .filter_map(|(g, name)| async move { name.map(|n| (g, n)) })
        .collect()
        .await
}

fn split(
    system: System,
    full: bool,
    listed: usize,
    results: Vec<(String, Result<Pulled, String>)>,
    started: DateTime<Utc>,
    clock: std::time::Instant,
) -> PullResult {
    let mut records = Vec::with_capacity(results.len());
    let mut failures = Vec::new();
    for (id, r) in results {
        match r {
            Ok(p) => records.push(p),
            Err(e) => failures.push((id, e)),
        }
    }
    // Stable order, so reports and stored rows do not depend on which answer came first.
    records.sort_by(|a, b| a.id.cmp(&b.id));
    failures.sort();
    PullResult {
        system,
        full,
        listed,
        records,
        failures,
        next_cursor: started,
        seconds: clock.elapsed().as_secs_f64(),
    }
}

/// Whether PhotoShelter shows a media item to the public, read leniently.
pub fn searchable(
    record: &crate::mapping::photoshelter::PhotoShelterRecord,
) -> Option<crate::model::FieldValue> {
    let v = record
        .attributes
        .get(crate::photoshelter::wire::SEARCHABLE)?;
    let text = match v {
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    crate::model::FieldValue::parse(crate::model::FieldKind::Bool, &text)
        .ok()
        .flatten()
}
