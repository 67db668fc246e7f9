//! Running a search: the page of hits and the total in one scored pass over the matches, the
//! facet counts (when asked for) in a second pass without scoring, on a second thread.

use super::query::{self, Compiler};
use super::schema::{self, Fields, RIGHTS_RELEASED, RIGHTS_RESTRICTED};
use super::{
    EXPIRING_WITHIN_DAYS, Hit, IndexError, MAX_LIMIT, MAX_OFFSET, RightsStatus, SearchIndex,
    SearchRequest, SearchResults, Sort,
};
use crate::model::{FieldKind, FieldValue};
use chrono::{Days, NaiveDate};
use std::collections::BTreeMap;
use std::collections::HashMap;
use tantivy::collector::{Collector, Count, SegmentCollector, TopDocs};
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::Weight;
use tantivy::schema::Value;
use tantivy::{
    DocAddress, DocId, Order, Score, Searcher, SegmentOrdinal, SegmentReader, TantivyDocument,
};

/// The facets counted from facet fields: (name in the results, index field name). Decades
/// are summed from the years.
const FACET_FIELDS: [(&str, &str); 5] = [
    ("creator", "creator_facet"),
    ("keyword", "keyword_facet"),
    ("year", "year_facet"),
    ("location", "location_facet"),
    ("lives_in", "lives_in_facet"),
];

pub fn run(index: &SearchIndex, request: &SearchRequest) -> Result<SearchResults, IndexError> {
    let fields = &index.fields;
    let clauses = query::parse(&request.query)?;
    let analyzer = index
        .index
        .tokenizers()
        .get(schema::ANALYZER)
        .unwrap_or_else(schema::analyzer);
    let searcher = index.reader.searcher();
    let mut compiler = Compiler {
        fields,
        analyzer,
        today: request.today,
        searcher: Some(searcher.clone()),
    };
    let (query, matches_all) = query::build(&mut compiler, &clauses, &request.filters)?;
    let error = index.tantivy_error("search failed");

    // The page of hits and the total in one scored pass; the facet counts (when asked for)
    // in a second pass without scoring, so tantivy hands the matches over in blocks. The two
    // passes run side by side: on a broad query counting facets costs as much as ranking, and
    // a curator waits for both. The counts over the whole index are kept until the index or
    // the day changes.
    // tantivy keeps offset + limit candidates per segment: past MAX_OFFSET, only the total.
    let offset = request.offset;
    let limit = if offset > MAX_OFFSET {
        0
    } else {
        request.limit.min(MAX_LIMIT)
    };
    let page = || {
        if matches_all && request.sort == Sort::Relevance {
            // Nothing to rank by: every document, in index order, without visiting them all.
            let total = usize::try_from(searcher.num_docs()).unwrap_or(usize::MAX);
            Ok((total, first_documents(&searcher, offset, limit)))
        } else {
            scored_page(&searcher, query.as_ref(), request.sort, offset, limit)
        }
    };
    let generation = searcher.generation().generation_id();
    let cached = (request.facets && matches_all)
        .then(|| index.facet_cache.lock().ok()?.clone())
        .flatten()
        .filter(|c| c.generation == generation && c.today == request.today)
        .map(|c| c.counts);
    let (page, counted) = if request.facets && cached.is_none() {
        let count = || {
            searcher.search(
                query.as_ref(),
                &FacetCounter {
                    today: request.today,
                },
            )
        };
        std::thread::scope(|scope| {
            let counting = scope.spawn(count);
            let page = page();
            let counted = counting
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (page, Some(counted))
        })
    } else {
        (page(), None)
    };
    let (total, addresses) = page.map_err(&error)?;
    let all = match counted {
        Some(counts) => {
            let counts = counts.map_err(&error)?;
            if matches_all && let Ok(mut cache) = index.facet_cache.lock() {
                *cache = Some(FacetCache {
                    generation,
                    today: request.today,
                    counts: counts.clone(),
                });
            }
            Some(counts)
        }
        None => cached,
    };
    let mut facets = BTreeMap::new();
    for (name, mut values) in all.into_iter().flatten() {
        values.truncate(request.facet_limit);
        if CHRONOLOGICAL_FACETS.contains(&name.as_str()) {
            values.sort_by_key(|(value, _)| chronological_key(value));
        }
        facets.insert(name, values);
    }

    let mut hits = Vec::with_capacity(addresses.len());
    for (score, address) in addresses {
        let doc: TantivyDocument = searcher.doc(address).map_err(&error)?;
        hits.push(hit(fields, &index.mapping, &doc, score, request.today));
    }
    Ok(SearchResults {
        total,
        hits,
        facets,
    })
}

/// The first `limit` live documents after skipping `offset`, in index order.
fn first_documents(searcher: &Searcher, offset: usize, limit: usize) -> Vec<(f32, DocAddress)> {
    let mut out = Vec::with_capacity(limit);
    let mut skip = offset;
    for (ord, reader) in searcher.segment_readers().iter().enumerate() {
        if out.len() == limit {
            break;
        }
        let live = reader.num_docs() as usize;
        if skip >= live {
            skip -= live;
            continue;
        }
        let alive = reader.alive_bitset();
        for doc in 0..reader.max_doc() {
            if alive.is_some_and(|a| !a.is_alive(doc)) {
                continue;
            }
            if skip > 0 {
                skip -= 1;
                continue;
            }
            out.push((1.0, DocAddress::new(ord as SegmentOrdinal, doc)));
            if out.len() == limit {
                break;
            }
        }
    }
    out
}

/// The total and one page of hits, by score or by date.
fn scored_page(
    searcher: &Searcher,
    query: &dyn tantivy::query::Query,
    sort: Sort,
    offset: usize,
    limit: usize,
) -> tantivy::Result<(usize, Vec<(f32, DocAddress)>)> {
    if limit == 0 {
        return Ok((searcher.search(query, &Count)?, Vec::new()));
    }
    let top = TopDocs::with_limit(limit).and_offset(offset);
    match sort {
        Sort::Relevance => searcher.search(query, &(Count, top.order_by_score())),
        Sort::DateAsc | Sort::DateDesc => {
            let key = if sort == Sort::DateAsc {
                "sort_date_asc"
            } else {
                "sort_date_desc"
            };
            let (total, hits) = searcher.search(
                query,
                &(Count, top.order_by_fast_field::<i64>(key, Order::Desc)),
            )?;
            let addresses = hits.into_iter().map(|(_, addr)| (0.0, addr)).collect();
            Ok((total, addresses))
        }
    }
}

/// Facet counts of every document, kept for the searcher generation and day they were
/// counted on: browsing with no query counts the whole index, the most expensive facet query.
#[derive(Debug, Clone)]
pub struct FacetCache {
    generation: u64,
    today: NaiveDate,
    counts: BTreeMap<String, Vec<(String, u64)>>,
}

/// Facets listed oldest first (the values kept are still those with the largest counts).
const CHRONOLOGICAL_FACETS: [&str; 2] = ["decade", "year"];

/// `1962` and `1960s` by their number (a year before 1000 sorts before 1962), then as text.
fn chronological_key(value: &str) -> (i64, String) {
    let digits: String = value.chars().take_while(|c| c.is_ascii_digit()).collect();
    (digits.parse().unwrap_or(i64::MAX), value.to_string())
}

/// Largest counts first, then by value.
fn top(mut values: Vec<(String, u64)>) -> Vec<(String, u64)> {
    values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    values
}

impl Hit {
    /// What to call the asset: its title, else its file name, else its headline, else either
    /// system's id, else `asset <id>`. Never empty.
    pub fn label_for(
        asset_id: i64,
        title: Option<&str>,
        file_name: Option<&str>,
        headline: Option<&str>,
        ids: [Option<&str>; 2],
    ) -> String {
        [title, file_name, headline, ids[0], ids[1]]
            .into_iter()
            .flatten()
            .map(str::trim)
            .find(|s| !s.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("asset {asset_id}"))
    }
}

fn hit(
    f: &Fields,
    mapping: &crate::mapping::Mapping,
    doc: &TantivyDocument,
    score: Score,
    today: NaiveDate,
) -> Hit {
    let text = |field| {
        doc.get_first(field)
            .and_then(|v| v.as_str().map(str::to_string))
    };
    let license_expiry = text(f.license_expiry_shown);
    let expiry_day = license_expiry
        .as_deref()
        .and_then(|s| FieldValue::parse(FieldKind::Date, s).ok().flatten())
        .and_then(|v| match v {
            FieldValue::Date(d) => Some(d.day()),
            _ => None,
        });
    let base = doc
        .get_first(f.rights_base)
        .and_then(|v| v.as_u64())
        .unwrap_or_default();
    let mut hit = Hit {
        asset_id: doc
            .get_first(f.asset_id)
            .and_then(|v| v.as_i64())
            .unwrap_or_default(),
        photoshelter_id: text(f.photoshelter_id),
        preservica_ref: text(f.preservica_ref),
        title: text(f.title),
        file_name: text(f.file_name),
        label: String::new(),
        headline: text(f.headline),
        caption: text(f.caption),
        creator: text(f.creator),
        keywords: doc
            .get_all(f.keywords)
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        campaign: text(f.campaign),
        location: text(f.location_shown),
        date_created: text(f.date_created_shown),
        license_expiry,
        rights_status: rights_status(expiry_day, base, today).name().to_string(),
        model_release: text(f.model_release),
        model_release_meaning: None,
        archive_status: text(f.archive_status),
        archive_status_meaning: None,
        lives_in: text(f.lives_in).unwrap_or_default(),
        authoritative: text(f.authoritative).unwrap_or_default(),
        score,
    };
    hit.model_release_meaning =
        (hit.model_release.as_deref()).and_then(|code| mapping.label_of("model_release", code));
    hit.archive_status_meaning =
        (hit.archive_status.as_deref()).and_then(|code| mapping.label_of("archive_status", code));
    hit.label = Hit::label_for(
        hit.asset_id,
        hit.title.as_deref(),
        hit.file_name.as_deref(),
        hit.headline.as_deref(),
        [
            hit.photoshelter_id.as_deref(),
            hit.preservica_ref.as_deref(),
        ],
    );
    hit
}

/// The rights status of an asset on `today` (the rules in the module docs of `index`).
pub fn rights_status(expiry: Option<NaiveDate>, base: u64, today: NaiveDate) -> RightsStatus {
    if let Some(e) = expiry {
        if e < today {
            return RightsStatus::Expired;
        }
        let soon = today
            .checked_add_days(Days::new(EXPIRING_WITHIN_DAYS))
            .unwrap_or(today);
        if e <= soon {
            return RightsStatus::Expiring;
        }
    }
    if base == RIGHTS_RESTRICTED {
        RightsStatus::Restricted
    } else if expiry.is_some() || base == RIGHTS_RELEASED {
        RightsStatus::Ok
    } else {
        RightsStatus::Unknown
    }
}

/// Counts matches per facet value and per rights status. Per segment: one count per term
/// ordinal of each facet column, read in bulk for single-valued columns; the ordinals with a
/// count are turned into strings once, in one pass through the sorted term dictionary.
struct FacetCounter {
    today: NaiveDate,
}

/// Days since 1970-01-01 of a date as indexed (midnight UTC).
pub fn epoch_day(t: tantivy::DateTime) -> i64 {
    t.into_timestamp_secs().div_euclid(86_400)
}

struct SegmentFacetCounter {
    columns: Vec<Option<StrColumn>>,
    counts: Vec<Vec<u64>>,
    base: Column<u64>,
    expiry: Column<tantivy::DateTime>,
    /// Today and the last day of "expiring", as days since 1970.
    today: i64,
    soon: i64,
    rights: [u64; 5],
    docs_out: Vec<DocId>,
    rows: Vec<u32>,
    vals: Vec<u64>,
    bases: Vec<Option<u64>>,
    expiries: Vec<Option<tantivy::DateTime>>,
}

type FacetFruit = BTreeMap<String, Vec<(String, u64)>>;

impl Collector for FacetCounter {
    type Fruit = FacetFruit;
    type Child = SegmentFacetCounter;

    fn for_segment(
        &self,
        _segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentFacetCounter> {
        let mut columns = Vec::with_capacity(FACET_FIELDS.len());
        let mut counts = Vec::with_capacity(FACET_FIELDS.len());
        for (_, field) in FACET_FIELDS {
            let column = reader.fast_fields().str(field)?;
            counts.push(vec![0; column.as_ref().map_or(0, |c| c.num_terms())]);
            columns.push(column);
        }
        let (today, soon) = rights_days(self.today);
        Ok(SegmentFacetCounter {
            columns,
            counts,
            base: reader.fast_fields().u64("rights_base")?,
            expiry: reader.fast_fields().date("license_expiry")?,
            today,
            soon,
            rights: [0; 5],
            docs_out: Vec::new(),
            rows: Vec::new(),
            vals: Vec::new(),
            bases: Vec::new(),
            expiries: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    /// As tantivy's own, but deleted documents are filtered out of each block rather than
    /// sending every match one by one, so an index with deletions still counts in blocks.
    fn collect_segment(
        &self,
        weight: &dyn Weight,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentFruit> {
        let mut counter = self.for_segment(segment, reader)?;
        match reader.alive_bitset() {
            None => weight.for_each_no_score(reader, &mut |docs| counter.collect_block(docs))?,
            Some(alive) => {
                let mut live = Vec::with_capacity(tantivy::COLLECT_BLOCK_BUFFER_LEN);
                weight.for_each_no_score(reader, &mut |docs| {
                    live.clear();
                    live.extend(docs.iter().copied().filter(|d| alive.is_alive(*d)));
                    counter.collect_block(&live);
                })?;
            }
        }
        Ok(counter.harvest())
    }

    fn merge_fruits(&self, fruits: Vec<SegmentFruit>) -> tantivy::Result<FacetFruit> {
        let mut values: Vec<HashMap<String, u64>> = vec![HashMap::new(); FACET_FIELDS.len()];
        let mut rights = [0u64; 5];
        for (segment_values, segment_rights) in fruits {
            for (total, segment) in values.iter_mut().zip(segment_values) {
                for (value, n) in segment {
                    *total.entry(value).or_default() += n;
                }
            }
            for (t, n) in rights.iter_mut().zip(segment_rights) {
                *t += n;
            }
        }
        let mut out = BTreeMap::new();
        for ((name, _), counts) in FACET_FIELDS.iter().zip(values) {
            if *name == "year" {
                let mut decades: HashMap<String, u64> = HashMap::new();
                for (year, n) in &counts {
                    if let Ok(y) = year.parse::<i32>() {
                        *decades
                            .entry(format!("{}s", y.div_euclid(10) * 10))
                            .or_default() += n;
                    }
                }
                out.insert("decade".to_string(), top(decades.into_iter().collect()));
            }
            out.insert(name.to_string(), top(counts.into_iter().collect()));
        }
        let rights = RightsStatus::ALL
            .iter()
            .zip(rights)
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| (r.name().to_string(), n))
            .collect();
        out.insert("rights".to_string(), top(rights));
        Ok(out)
    }
}

type SegmentFruit = (Vec<Vec<(String, u64)>>, [u64; 5]);

/// The rules of [`rights_status`] on day numbers (days since 1970: `today`, and `soon`, the
/// last day counted as expiring), as an index into [`RightsStatus::ALL`].
pub fn rights_slot(
    base: Option<u64>,
    expiry: Option<tantivy::DateTime>,
    today: i64,
    soon: i64,
) -> usize {
    let base = base.unwrap_or_default();
    match expiry.map(epoch_day) {
        Some(e) if e < today => 2,
        Some(e) if e <= soon => 1,
        _ if base == RIGHTS_RESTRICTED => 3,
        Some(_) => 0,
        None if base == RIGHTS_RELEASED => 0,
        None => 4,
    }
}

/// `today` and the last expiring day as day numbers (see [`rights_slot`]).
pub fn rights_days(today: NaiveDate) -> (i64, i64) {
    let day = epoch_day(query::day_time(today));
    let soon = today
        .checked_add_days(Days::new(EXPIRING_WITHIN_DAYS))
        .map_or(day, |d| epoch_day(query::day_time(d)));
    (day, soon)
}

impl SegmentFacetCounter {
    fn count_rights(&mut self, base: Option<u64>, expiry: Option<tantivy::DateTime>) {
        self.rights[rights_slot(base, expiry, self.today, self.soon)] += 1;
    }
}

impl SegmentCollector for SegmentFacetCounter {
    type Fruit = SegmentFruit;

    fn collect(&mut self, doc: DocId, _score: Score) {
        for (column, counts) in self.columns.iter().zip(self.counts.iter_mut()) {
            if let Some(column) = column {
                for ord in column.term_ords(doc) {
                    if let Some(n) = counts.get_mut(ord as usize) {
                        *n += 1;
                    }
                }
            }
        }
        let base = self.base.first(doc);
        let expiry = self.expiry.first(doc);
        self.count_rights(base, expiry);
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        for (column, counts) in self.columns.iter().zip(self.counts.iter_mut()) {
            let Some(column) = column else {
                continue;
            };
            // Documents to value rows (one per value: several for keywords), then the term
            // ordinals of those rows in bulk.
            let ords = column.ords();
            self.docs_out.clear();
            self.rows.clear();
            ords.row_ids_for_docs(docs, &mut self.docs_out, &mut self.rows);
            self.vals.clear();
            self.vals.resize(self.rows.len(), 0);
            ords.values.get_vals(&self.rows, &mut self.vals);
            for ord in &self.vals {
                if let Some(n) = counts.get_mut(*ord as usize) {
                    *n += 1;
                }
            }
        }
        self.bases.clear();
        self.bases.resize(docs.len(), None);
        self.base.first_vals(docs, &mut self.bases);
        self.expiries.clear();
        self.expiries.resize(docs.len(), None);
        self.expiry.first_vals(docs, &mut self.expiries);
        for i in 0..docs.len() {
            let (base, expiry) = (self.bases[i], self.expiries[i]);
            self.count_rights(base, expiry);
        }
    }

    fn harvest(self) -> SegmentFruit {
        let mut values = Vec::with_capacity(self.columns.len());
        for (column, counts) in self.columns.iter().zip(&self.counts) {
            let mut out = Vec::new();
            if let Some(column) = column {
                let (ords, ns): (Vec<u64>, Vec<u64>) = counts
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .map(|(ord, n)| (ord as u64, *n))
                    .unzip();
                let mut ns = ns.into_iter();
                let resolved = column.dictionary().sorted_ords_to_term_cb(&ords, |bytes| {
                    if let Some(n) = ns.next() {
                        out.push((String::from_utf8_lossy(bytes).into_owned(), n));
                    }
                });
                if let Err(e) = resolved {
                    tracing::warn!(error = %e, "reading facet values from the index failed");
                }
            }
            values.push(out);
        }
        (values, self.rights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_status_follows_the_documented_order() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let today = d("2026-06-01");
        use RightsStatus::*;
        assert_eq!(rights_status(Some(d("2026-05-31")), 2, today), Expired);
        assert_eq!(rights_status(Some(d("2026-06-01")), 0, today), Expiring);
        assert_eq!(rights_status(Some(d("2026-07-01")), 1, today), Expiring);
        assert_eq!(rights_status(Some(d("2026-07-02")), 0, today), Ok);
        assert_eq!(rights_status(Some(d("2026-07-02")), 2, today), Restricted);
        assert_eq!(rights_status(None, 2, today), Restricted);
        assert_eq!(rights_status(None, 1, today), Ok);
        assert_eq!(rights_status(None, 0, today), Unknown);
    }
}
