//! The curator search index: a tantivy index of every asset ferry knows (paired, or in one
//! system only), built from the store's snapshots, updated after each pull for the assets that
//! changed, and rebuildable from scratch (`ferry index rebuild`).
//!
//! [`SearchIndex`] is the one owner of the tantivy `Index` and its `IndexReader`; the writer's
//! lifecycle is `writer.rs`'s. The index is for finding; the store is the truth: a hit names the
//! asset and both system ids, and anything shown beyond that is the indexed copy of the
//! snapshots.
//!
//! # Several processes, one index
//!
//! Any number of ferry processes on one config keep the one index current: `ferry serve` (the
//! web app, its nightly job and web republish) next to `ferry sync`, `archive`, `republish` and
//! `index rebuild` from cron or by hand. No process holds the writer longer than one update
//! ([`SearchIndex::update_from_store`]); an update that finds the writer held waits for it,
//! bounded by [`WRITER_WAIT`], and says so in the log. Every search first reloads the reader
//! when the index's `meta.json` changed since the last one, so a long-running web app shows
//! what another process committed at its next search.
//!
//! # What is indexed
//!
//! Per asset: title, headline, caption, creator, credit, keywords, campaign/event, location
//! (city, state, country), date created and licence expiry (day precision), model release
//! status, rights and references as searchable text, archive status, where the asset lives
//! (`photoshelter`, `preservica`, `both`), which system the shown values came from, and both
//! system ids. Galleries and folders are not indexed: the store does not keep them.
//!
//! For a paired asset whose two snapshots differ on a field, the index takes the value the
//! mapping favours: the owner's for `photoshelter`/`preservica` rules, the merged set for
//! `union`, the earlier date or stricter release for `most_restrictive` (so an asset is never
//! shown as licensed for longer than either system says), and PhotoShelter's for `newest`,
//! `manual` and values a rule cannot rank (all decided by [`crate::rules`], as for sync). When only one system has a value, that value is indexed. The hit's
//! `authoritative` says whose values were taken where the two differed: `photoshelter`,
//! `preservica`, `mixed`, or `agreed` when nothing differed (for an asset in one system only,
//! that system). A changed mapping takes effect for an asset when it is next reindexed;
//! rebuild to apply it everywhere.
//!
//! # Rights status
//!
//! Computed when searching, against [`SearchRequest::today`], so it never goes stale between
//! reindexing runs: `expired` when the licence expiry is before today; `expiring` when it is
//! today or within [`EXPIRING_WITHIN_DAYS`] days; otherwise `restricted` when the model release
//! is `MR-NON` or the usage terms say "restricted" or "editorial only" (any case); `ok` when
//! an expiry lies further ahead or the model release is `MR-UMR` or `MR-NAP`; else `unknown`.
//!
//! # Query syntax
//!
//! - Free words: `harbour regatta 1962`. Every word must match somewhere (words like "the"
//!   and "of" are skipped when there are others). A match in the title counts most, then
//!   headline and caption, then keywords, then everything else (creator, credit, campaign,
//!   location, rights text, references, ids, the year created).
//! - Typos: a word of 4–7 letters also matches words one edit away (`Elis` finds Ellis), a
//!   longer word two edits; exact matches rank above fuzzy ones, and near misses are ranked
//!   among themselves like typed words (title first, then headline and caption, …). Words of three letters or
//!   fewer, and anything with a digit, match exactly.
//! - Phrases: `"tall ships"`; an unclosed quote runs to the end of the query.
//! - Field filters: `creator:mary`, `creator:"mary ellis"`, `keyword:regatta`, and likewise
//!   `title:`, `headline:`, `caption:`, `credit:`, `campaign:` (or `event:`), `location:` (or
//!   `city:`, `state:`, `country:`: all three are one location field). Fuzzy as free words.
//! - Dates, day precision, both ends included: `year:1962`, `year:1960..1965`,
//!   `date:1960..1965`, `date:1962-07`, `date:1962-07-01..1962-07-31`, `date:..1950`,
//!   `date:1990..`; licence expiry the same way with `expiry:`.
//! - `expires:30`: the licence expires between today and 30 days from today, both included.
//! - `rights:ok|expiring|expired|restricted|unknown`.
//! - `in:photoshelter|preservica|both`: exactly where the asset lives (`in:preservica` is an
//!   asset in Preservica only; paired assets are `in:both`).
//! - `id:I0000abc` (either system's id), `archive:archived`, `release:MR-UMR`.
//! - `-` before any word, phrase or filter excludes what it matches: `regatta -keyword:rain`.
//! - An empty query matches every asset (useful with filters and facets).
//!
//! Words that look like `name:value` with an unknown `name` are an error naming the known
//! fields (quote them to search the text). Queries longer than
//! [`query::MAX_QUERY_CHARS`] characters or with more than [`query::MAX_CLAUSES`] parts are
//! refused with a message saying so. Nothing in a query string can make a search panic.
//!
//! # Facets
//!
//! With [`SearchRequest::facets`], exact counts over every match (not just the page) of
//! `creator`, `keyword`, `decade` (e.g. `1960s`) and `year` of the date created, `rights`,
//! `location` (`city, country`) and `lives_in`; each list has the largest counts first (ties by
//! value), at most [`SearchRequest::facet_limit`] values, except `decade` and `year`, which
//! list those values oldest first (a timeline, which the web app draws as a histogram). [`Filter::Facet`] selects one value
//! exactly. The counts of the whole index (no query, no filter) are kept until the index
//! changes or the day does. Cost grows with the number of matches: see BENCHMARKS.md.
//!
//! # Order
//!
//! By relevance (ties in index order; with nothing to search for, index order), or by date
//! created either way with undated assets last and ties by asset id.

mod build;
mod fuzzy;
mod render;
mod schema;
mod search;
mod writer;

pub mod query;

pub use query::QueryError;
pub use render::{format_csv, format_table};
pub use writer::WRITER_WAIT;

use crate::mapping::Mapping;
use crate::store::AssetId;
use crate::store::{Store, StoreError};
use chrono::NaiveDate;
use schema::{Fields, SCHEMA_VERSION};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tantivy::directory::error::LockError;
use tantivy::directory::{Directory, INDEX_WRITER_LOCK, MmapDirectory};
use tantivy::indexer::NoMergePolicy;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyError, Term};

/// An asset counts as `expiring` when its licence ends within this many days of today.
pub const EXPIRING_WITHIN_DAYS: u64 = 30;

/// How many assets are read from the store at a time when rebuilding.
const REBUILD_PAGE: usize = 2_000;
/// The file whose change tells readers that another commit is there to load.
const META_FILE: &str = "meta.json";
/// At most this many hits are returned by one search; page with `offset` beyond.
pub const MAX_LIMIT: usize = 10_000;
/// Hits further down than this are not returned (a search with a larger offset gives only the
/// total): ranking keeps offset + limit candidates in memory.
pub const MAX_OFFSET: usize = 100_000;

/// What can go wrong with the search index. Messages name the index directory and say what to
/// do where there is something to do.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("cannot create the search index directory {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "the search index at {} was written by another version of ferry ({found}; this ferry \
         writes {SCHEMA_VERSION}). Run `ferry index rebuild` to recreate it from the store.",
        .path.display()
    )]
    OtherVersion { path: PathBuf, found: String },

    #[error(
        "another ferry process has been writing the search index at {} for more than {waited_secs:.1} s \
         (one update usually takes seconds); see which ferry processes run, then try again \
         (the lock is released when its process ends)",
        .path.display()
    )]
    Busy { path: PathBuf, waited_secs: f64 },

    #[error("search index {}: {context}: {source}. If this persists, run `ferry index rebuild`.", .path.display())]
    Tantivy {
        path: PathBuf,
        context: &'static str,
        source: TantivyError,
    },

    #[error(
        "the search index at {} was opened read-only (for searching while another process \
         writes it); open it with SearchIndex::open to update it",
        .path.display()
    )]
    ReadOnly { path: PathBuf },

    #[error("cannot read the store to index it: {0}")]
    Store(#[from] StoreError),

    #[error("cannot search for that: {0}")]
    Query(#[from] QueryError),
}

/// A date field that date ranges can filter on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateField {
    Created,
    LicenseExpiry,
}

/// Rights status of an asset on a given day (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RightsStatus {
    Ok,
    Expiring,
    Expired,
    Restricted,
    Unknown,
}

impl RightsStatus {
    pub const ALL: [RightsStatus; 5] = [
        RightsStatus::Ok,
        RightsStatus::Expiring,
        RightsStatus::Expired,
        RightsStatus::Restricted,
        RightsStatus::Unknown,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RightsStatus::Ok => "ok",
            RightsStatus::Expiring => "expiring",
            RightsStatus::Expired => "expired",
            RightsStatus::Restricted => "restricted",
            RightsStatus::Unknown => "unknown",
        }
    }

    pub fn from_name(name: &str) -> Option<RightsStatus> {
        RightsStatus::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// A restriction of a search, on top of its query string.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Filter {
    /// As `field:value` in a query (`creator`, `keyword`, `year`, `date`, `rights`, …); a value
    /// with spaces is a phrase.
    Field { field: String, value: String },
    /// One facet value exactly, as the facet counts list it (`creator`, `keyword`, `decade`,
    /// `year`, `location`, `rights`, `lives_in`).
    Facet { facet: String, value: String },
    /// A date between `from` and `to`, both days included; an open end is unbounded.
    DateRange {
        field: DateField,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    },
    /// The licence expires between today and today + N days, both included.
    ExpiresWithinDays(u32),
    /// A rights status: `ok`, `expiring`, `expired`, `restricted`, `unknown`.
    Rights(String),
    /// `photoshelter`, `preservica` or `both`.
    LivesIn(String),
}

impl Filter {
    /// Reads a filter as a command line gives it: `name:value` as in a query (`creator:mary`,
    /// `date:1960..1965`, `expires:30`, `rights:expired`, `in:both`), or `facet=value` for one
    /// facet value exactly (`creator=Mary Ellis`, `decade=1960s`).
    pub fn parse(s: &str) -> Result<Filter, IndexError> {
        let s = s.trim();
        let eq = s.find('=');
        let colon = s.find(':');
        match (eq, colon) {
            (Some(e), c) if c.is_none_or(|c| e < c) => {
                let (facet, value) = (&s[..e], &s[e + 1..]);
                query::facet_item(facet.trim(), value.trim())?;
                Ok(Filter::Facet {
                    facet: facet.trim().to_string(),
                    value: value.trim().to_string(),
                })
            }
            (_, Some(c)) => {
                let (field, value) = (&s[..c], &s[c + 1..]);
                let filter = Filter::Field {
                    field: field.trim().to_string(),
                    value: value.trim().to_string(),
                };
                query::filter_item(&filter)?;
                Ok(filter)
            }
            _ => Err(QueryError {
                message: format!(
                    "'{s}' is not a filter; write name:value (creator:mary, date:1960..1965, \
                     expires:30) or facet=value (creator=Mary Ellis)"
                ),
            }
            .into()),
        }
    }
}

/// How hits are ordered.
///
/// One enum for every front end: `ferry search --sort` (clap, `date-asc`) and the web app's
/// `sort=` (serde, `date_asc`) each keep their established spelling.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Best match first (ties in index order).
    #[default]
    Relevance,
    /// Oldest date created first; undated assets last; same day by asset id.
    DateAsc,
    /// Newest date created first; undated assets last; same day by asset id.
    DateDesc,
}

/// One search.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SearchRequest {
    pub query: String,
    pub filters: Vec<Filter>,
    /// Whether to count facets over all matches.
    pub facets: bool,
    /// Hits to return (at most [`MAX_LIMIT`]); 0 returns only the total and facets.
    pub limit: usize,
    /// Hits to skip, for paging; beyond [`MAX_OFFSET`] no hits are returned.
    pub offset: usize,
    pub sort: Sort,
    /// The day rights status and `expires:` are computed against.
    pub today: NaiveDate,
    /// Most values listed per facet.
    pub facet_limit: usize,
}

impl SearchRequest {
    /// A search for `query` on `today`: first 20 hits by relevance, no facets (20 values per
    /// facet when they are turned on).
    pub fn new(query: &str, today: NaiveDate) -> SearchRequest {
        SearchRequest {
            query: query.to_string(),
            filters: Vec::new(),
            facets: false,
            limit: 20,
            offset: 0,
            sort: Sort::Relevance,
            today,
            facet_limit: 20,
        }
    }
}

/// The answer to a search.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SearchResults {
    /// How many assets match (all pages).
    pub total: usize,
    pub hits: Vec<Hit>,
    /// Facet name → (value, count), largest counts first (`decade` and `year`: oldest first);
    /// empty unless asked for.
    pub facets: BTreeMap<String, Vec<(String, u64)>>,
}

/// One matching asset, as indexed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hit {
    pub asset_id: i64,
    pub photoshelter_id: Option<String>,
    pub preservica_ref: Option<String>,
    pub title: Option<String>,
    /// The asset's file name, when a system gave one.
    pub file_name: Option<String>,
    /// What to call the hit: [`Hit::label`] (always set in results).
    pub label: String,
    pub headline: Option<String>,
    pub caption: Option<String>,
    pub creator: Option<String>,
    pub keywords: Vec<String>,
    pub campaign: Option<String>,
    pub location: Option<String>,
    /// Canonical form: `YYYY-MM-DD` or RFC 3339.
    pub date_created: Option<String>,
    pub license_expiry: Option<String>,
    pub rights_status: String,
    pub model_release: Option<String>,
    /// What the model release code means (`MR-NAP` → "model release: not applicable").
    pub model_release_meaning: Option<String>,
    pub archive_status: Option<String>,
    pub archive_status_meaning: Option<String>,
    /// `photoshelter`, `preservica` or `both`.
    pub lives_in: String,
    /// Whose values were indexed where the systems differ (see the module docs).
    pub authoritative: String,
    /// Relevance score (0 when sorted by date).
    pub score: f32,
}

/// The curator index: the one owner of the tantivy index and its reader. It holds no writer:
/// each update takes one and releases it (see the module docs).
pub struct SearchIndex {
    index: Index,
    /// False when opened read-only.
    writable: bool,
    /// How long an update waits for another process's writer.
    writer_wait: Duration,
    reader: IndexReader,
    /// A digest of the `meta.json` the reader last loaded (on disk only).
    seen_meta: std::sync::Mutex<Option<u64>>,
    fields: Fields,
    mapping: Mapping,
    /// `None` in memory.
    path: Option<PathBuf>,
    /// Facet counts of the whole index, for browsing without a query.
    facet_cache: std::sync::Mutex<Option<search::FacetCache>>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// Opens the index in `dir`, creating it (and the directory) when missing. An index from
    /// another ferry version is refused with [`IndexError::OtherVersion`]. Other processes
    /// may have it open too: none holds the writer between updates.
    pub fn open(dir: &Path) -> Result<SearchIndex, IndexError> {
        SearchIndex::open_with(dir, true)
    }

    /// Opens the index in `dir`, updates it for `assets` (`None`: every asset) with `mapping`
    /// and closes it: what a process does after changing the store. Waits at most
    /// [`WRITER_WAIT`] for another process's update. Returns how many documents were written.
    pub fn update_dir(
        dir: &Path,
        mapping: &Mapping,
        store: &Store,
        assets: Option<&[AssetId]>,
        today: NaiveDate,
    ) -> Result<usize, IndexError> {
        let mut index = SearchIndex::open(dir)?;
        index.set_mapping(mapping.clone());
        index.update_from_store(store, assets, today)
    }

    /// Opens the index in `dir` for searching only: it follows other processes' commits, and
    /// [`SearchIndex::update_from_store`] on it is an [`IndexError::ReadOnly`] error. Creates
    /// an empty index when there is none.
    pub fn open_read_only(dir: &Path) -> Result<SearchIndex, IndexError> {
        SearchIndex::open_with(dir, false)
    }

    fn open_with(dir: &Path, writable: bool) -> Result<SearchIndex, IndexError> {
        crate::private_fs::create_dir_all(dir).map_err(|source| IndexError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let t = |context| {
            let path = dir.to_path_buf();
            move |source| IndexError::Tantivy {
                path,
                context,
                source,
            }
        };
        let directory = MmapDirectory::open(dir).map_err(|e| IndexError::Tantivy {
            path: dir.to_path_buf(),
            context: "cannot open the directory",
            source: e.into(),
        })?;
        let (schema, fields) = schema::build_schema();
        let exists = Index::exists(&directory).map_err(|e| IndexError::Tantivy {
            path: dir.to_path_buf(),
            context: "cannot read the index metadata",
            source: e.into(),
        })?;
        let index = if exists {
            let index = Index::open(directory).map_err(t("cannot open the index"))?;
            let payload = index
                .load_metas()
                .map_err(t("cannot read the index metadata"))?
                .payload;
            let found = match payload {
                Some(p) if p != SCHEMA_VERSION => Some(p),
                _ if index.schema() != schema => Some("an older schema".to_string()),
                _ => None,
            };
            if let Some(found) = found {
                return Err(IndexError::OtherVersion {
                    path: dir.to_path_buf(),
                    found,
                });
            }
            index
        } else {
            Index::create(directory, schema, tantivy::IndexSettings::default())
                .map_err(t("cannot create the index"))?
        };
        SearchIndex::set_up_with(index, fields, Some(dir.to_path_buf()), writable)
    }

    /// Deletes the index files in `dir` (only tantivy's own files: nothing else in the
    /// directory is touched) and opens a new, empty index there. For `ferry index rebuild`
    /// when [`SearchIndex::open`] refuses an index from another version or a damaged one;
    /// fill it with [`SearchIndex::update_from_store`] and `None`.
    pub fn recreate(dir: &Path) -> Result<SearchIndex, IndexError> {
        crate::private_fs::create_dir_all(dir).map_err(|source| IndexError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let directory = MmapDirectory::open(dir).map_err(|e| IndexError::Tantivy {
            path: dir.to_path_buf(),
            context: "cannot open the directory",
            source: e.into(),
        })?;
        // Hold the writer lock while deleting, so a running writer is never pulled from under;
        // wait for one that is running, as an update would.
        let lock = writer::wait_while_busy(dir, WRITER_WAIT, || {
            match directory.acquire_lock(&INDEX_WRITER_LOCK) {
                Ok(lock) => Ok(Some(lock)),
                Err(LockError::LockBusy) => Ok(None),
                Err(LockError::IoError(e)) => Err(IndexError::Io {
                    path: dir.join(".tantivy-writer.lock"),
                    source: std::io::Error::new(e.kind(), e.to_string()),
                }),
            }
        })?;
        let entries = std::fs::read_dir(dir).map_err(|source| IndexError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let stem = name.split('.').next().unwrap_or("");
            let segment_file = stem.len() == 32 && stem.chars().all(|c| c.is_ascii_hexdigit());
            if segment_file || name == META_FILE || name == ".managed.json" {
                std::fs::remove_file(entry.path()).map_err(|source| IndexError::Io {
                    path: entry.path(),
                    source,
                })?;
            }
        }
        // The new, empty index exists before the lock is released: no other process finds
        // the directory without one.
        let (schema, _) = schema::build_schema();
        Index::create(directory, schema, tantivy::IndexSettings::default()).map_err(|source| {
            IndexError::Tantivy {
                path: dir.to_path_buf(),
                context: "cannot create the index",
                source,
            }
        })?;
        drop(lock);
        SearchIndex::open(dir)
    }

    /// A new, empty index in memory (tests, `ferry demo`).
    pub fn open_in_ram() -> Result<SearchIndex, IndexError> {
        let (schema, fields) = schema::build_schema();
        SearchIndex::set_up(Index::create_in_ram(schema), fields, None)
    }

    fn set_up(
        index: Index,
        fields: Fields,
        path: Option<PathBuf>,
    ) -> Result<SearchIndex, IndexError> {
        SearchIndex::set_up_with(index, fields, path, true)
    }

    fn set_up_with(
        index: Index,
        fields: Fields,
        path: Option<PathBuf>,
        writable: bool,
    ) -> Result<SearchIndex, IndexError> {
        let label = path.clone().unwrap_or_else(|| PathBuf::from("(in memory)"));
        index
            .tokenizers()
            .register(schema::ANALYZER, schema::analyzer());
        // Reloaded explicitly: after this process's own updates, and before a search when
        // `meta.json` changed (another process committed).
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|source| IndexError::Tantivy {
                path: label.clone(),
                context: "cannot open an index reader",
                source,
            })?;
        let mapping = Mapping::parse(Mapping::default_text(), Path::new("mappings/default.toml"))
            .expect("the shipped mapping is valid");
        let seen_meta = std::sync::Mutex::new(path.as_deref().and_then(meta_digest));
        Ok(SearchIndex {
            index,
            writable,
            writer_wait: WRITER_WAIT,
            reader,
            seen_meta,
            fields,
            mapping,
            path,
            facet_cache: std::sync::Mutex::new(None),
        })
    }

    /// How long an update waits for another process's writer before [`IndexError::Busy`]
    /// ([`WRITER_WAIT`] by default).
    pub fn set_writer_wait(&mut self, wait: Duration) {
        self.writer_wait = wait;
    }

    /// Uses `mapping` (rather than the shipped default) to decide which value of a paired
    /// asset is indexed, from the next update on.
    pub fn set_mapping(&mut self, mapping: Mapping) {
        self.mapping = mapping;
    }

    /// The index directory, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn tantivy_error(&self, context: &'static str) -> impl Fn(TantivyError) -> IndexError + '_ {
        move |source| IndexError::Tantivy {
            path: self.label(),
            context,
            source,
        }
    }

    /// Reindexes the given assets from the store (`None`: every asset, a rebuild) and commits.
    /// An asset that no longer exists (merged into its pair) leaves the index; a paired asset
    /// replaces any document of either of its system ids. Returns how many documents were
    /// written. On error nothing of this update is committed.
    ///
    /// Takes the index writer for this update only, waiting (bounded, logged) while another
    /// process holds it; the writer is released before this returns.
    pub fn update_from_store(
        &mut self,
        store: &Store,
        assets: Option<&[AssetId]>,
        today: NaiveDate,
    ) -> Result<usize, IndexError> {
        if !self.writable {
            return Err(IndexError::ReadOnly { path: self.label() });
        }
        let index = self.index_for_writing()?;
        let written =
            writer::with_writer(
                &index,
                &self.label(),
                self.writer_wait,
                |writer| match assets {
                    None => self.rebuild(&index, writer, store, today),
                    Some(ids) => self.reindex(writer, store, ids, today),
                },
            )?;
        self.reload_reader()?;
        Ok(written)
    }

    /// The index an update writes through: a fresh `Index` on the directory (see
    /// `writer.rs`), or this one in memory.
    fn index_for_writing(&self) -> Result<Index, IndexError> {
        let Some(dir) = &self.path else {
            return Ok(self.index.clone());
        };
        let directory = MmapDirectory::open(dir).map_err(|e| IndexError::Tantivy {
            path: dir.clone(),
            context: "cannot open the directory",
            source: e.into(),
        })?;
        let index = Index::open(directory).map_err(self.tantivy_error("cannot open the index"))?;
        index
            .tokenizers()
            .register(schema::ANALYZER, schema::analyzer());
        Ok(index)
    }

    /// Loads the latest commit into the reader and remembers which `meta.json` it was.
    fn reload_reader(&self) -> Result<(), IndexError> {
        let digest = self.path.as_deref().and_then(meta_digest);
        self.reader
            .reload()
            .map_err(self.tantivy_error("cannot reload the index reader"))?;
        if let Ok(mut seen) = self.seen_meta.lock() {
            *seen = digest;
        }
        Ok(())
    }

    /// Reloads the reader when another process committed since the last load (its
    /// `meta.json` changed). A reload that fails (a commit replacing files at that moment) is
    /// tried once more; if it fails again, the search uses what was loaded before.
    fn follow_commits(&self) {
        let Some(dir) = &self.path else {
            return;
        };
        let current = meta_digest(dir);
        let unchanged = self
            .seen_meta
            .lock()
            .map(|seen| current.is_none() || *seen == current)
            .unwrap_or(true);
        if unchanged {
            return;
        }
        if let Err(first) = self.reload_reader() {
            std::thread::sleep(Duration::from_millis(50));
            if let Err(e) = self.reload_reader() {
                tracing::warn!(error = %e, first = %first, "the search index changed but could not be reloaded; searching what was loaded before");
            }
        }
    }

    fn rebuild(
        &self,
        index: &Index,
        writer: &mut IndexWriter,
        store: &Store,
        today: NaiveDate,
    ) -> Result<usize, IndexError> {
        // No background merges while the whole index is rewritten: one merge at the end.
        writer.set_merge_policy(Box::new(NoMergePolicy));
        writer
            .delete_all_documents()
            .map_err(self.tantivy_error("cannot clear the index"))?;
        let mut written = 0;
        let mut after = 0;
        loop {
            let page = store.asset_page(after, REBUILD_PAGE)?;
            let Some(last) = page.last() else {
                break;
            };
            after = last.id;
            let ids: Vec<AssetId> = page.iter().map(|a| a.id).collect();
            let snapshots = store.snapshots_for(&ids)?;
            written += self.add_documents(writer, &page, &snapshots, today)?;
        }
        self.commit(writer)?;
        let segments = index
            .searchable_segment_ids()
            .map_err(self.tantivy_error("cannot list segments"))?;
        if segments.len() > 1 {
            // A failed merge leaves a correct index of several segments: only slower.
            if let Err(e) = writer.merge(&segments).wait() {
                tracing::warn!(error = %e, "merging the rebuilt search index failed");
            }
        }
        Ok(written)
    }

    fn reindex(
        &self,
        writer: &mut IndexWriter,
        store: &Store,
        ids: &[AssetId],
        today: NaiveDate,
    ) -> Result<usize, IndexError> {
        let f = self.fields;
        for id in ids {
            writer.delete_term(Term::from_field_i64(f.asset_id, *id));
        }
        let rows = store.assets_by_id(ids)?;
        for row in &rows {
            // A pair replaces the documents its two halves had while unpaired.
            if let Some(ps) = &row.photoshelter_id {
                writer.delete_term(Term::from_field_text(f.photoshelter_id, ps));
            }
            if let Some(pv) = &row.preservica_ref {
                writer.delete_term(Term::from_field_text(f.preservica_ref, pv));
            }
        }
        let found: Vec<AssetId> = rows.iter().map(|r| r.id).collect();
        let snapshots = store.snapshots_for(&found)?;
        let written = self.add_documents(writer, &rows, &snapshots, today)?;
        self.commit(writer)?;
        Ok(written)
    }

    fn add_documents(
        &self,
        writer: &IndexWriter,
        rows: &[crate::store::AssetRow],
        snapshots: &HashMap<(AssetId, crate::model::System), crate::store::Snapshot>,
        today: NaiveDate,
    ) -> Result<usize, IndexError> {
        use crate::model::System;
        for row in rows {
            let doc = build::document(
                &self.fields,
                &self.mapping,
                row,
                snapshots.get(&(row.id, System::PhotoShelter)),
                snapshots.get(&(row.id, System::Preservica)),
                today,
            );
            writer
                .add_document(doc)
                .map_err(self.tantivy_error("cannot add a document"))?;
        }
        Ok(rows.len())
    }

    fn commit(&self, writer: &mut IndexWriter) -> Result<(), IndexError> {
        let mut prepared = writer
            .prepare_commit()
            .map_err(self.tantivy_error("cannot prepare the commit"))?;
        prepared.set_payload(SCHEMA_VERSION);
        prepared
            .commit()
            .map_err(self.tantivy_error("cannot commit"))?;
        Ok(())
    }

    fn label(&self) -> PathBuf {
        self.path
            .clone()
            .unwrap_or_else(|| PathBuf::from("(in memory)"))
    }

    /// Runs a search (see the module docs for the query syntax).
    /// Commits other processes made since the last search are loaded first.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResults, IndexError> {
        self.follow_commits();
        search::run(self, request)
    }

    /// How many assets the index holds (as of its latest commit).
    pub fn doc_count(&self) -> u64 {
        self.follow_commits();
        self.reader.searcher().num_docs()
    }
}

/// A digest of the index's `meta.json` in `dir` (`None` when it cannot be read): it changes
/// with every commit.
fn meta_digest(dir: &Path) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let bytes = std::fs::read(dir.join(META_FILE)).ok()?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    Some(hasher.finish())
}
