//! Running a search: the query, the page of hits, the total and the facet counts in one pass
//! over the matches.

use super::query::{self, Compiler};
use super::schema::{self, Fields, RIGHTS_RELEASED, RIGHTS_RESTRICTED};
use super::{
    EXPIRING_WITHIN_DAYS, Hit, IndexError, MAX_LIMIT, RightsStatus, SearchIndex, SearchRequest,
    SearchResults, Sort,
};
use crate::model::{FieldKind, FieldValue};
use chrono::{Days, NaiveDate};
use std::collections::BTreeMap;
use std::collections::HashMap;
use tantivy::collector::{Collector, Count, MultiCollector, SegmentCollector, TopDocs};
use tantivy::columnar::{Column, StrColumn};
use tantivy::schema::Value;
use tantivy::{DocAddress, DocId, Order, Score, SegmentOrdinal, SegmentReader, TantivyDocument};

/// The facets counted from facet fields: (name in the results, index field name).
const FACET_FIELDS: [(&str, &str); 6] = [
    ("creator", "creator_facet"),
    ("keyword", "keyword_facet"),
    ("decade", "decade_facet"),
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
    let mut compiler = Compiler {
        fields,
        analyzer,
        today: request.today,
    };
    let query = query::build(&mut compiler, &clauses, &request.filters)?;
    let searcher = index.reader.searcher();
    let error = index.tantivy_error("search failed");

    let limit = request.limit.min(MAX_LIMIT);
    let offset = request.offset.min(usize::MAX / 2);
    let mut multi = MultiCollector::new();
    let count = multi.add_collector(Count);
    let mut by_score = None;
    let mut by_date = None;
    if limit > 0 {
        let top = TopDocs::with_limit(limit).and_offset(offset);
        match request.sort {
            Sort::Relevance => by_score = Some(multi.add_collector(top.order_by_score())),
            Sort::DateAsc | Sort::DateDesc => {
                let key = if request.sort == Sort::DateAsc {
                    "sort_date_asc"
                } else {
                    "sort_date_desc"
                };
                by_date =
                    Some(multi.add_collector(top.order_by_fast_field::<i64>(key, Order::Desc)))
            }
        }
    }
    let mut facet_handles = Vec::new();
    let mut rights_handle = None;
    if request.facets {
        for (name, field) in FACET_FIELDS {
            facet_handles.push((name, multi.add_collector(ValueCounter { field })));
        }
        rights_handle = Some(multi.add_collector(RightsCounter {
            today: request.today,
        }));
    }

    let mut fruits = searcher.search(query.as_ref(), &multi).map_err(&error)?;
    let total = count.extract(&mut fruits);
    let addresses: Vec<(f32, DocAddress)> = match (by_score, by_date) {
        (Some(h), _) => h.extract(&mut fruits),
        (None, Some(h)) => h
            .extract(&mut fruits)
            .into_iter()
            .map(|(_, addr)| (0.0, addr))
            .collect(),
        (None, None) => Vec::new(),
    };
    let mut facets = BTreeMap::new();
    for (name, handle) in facet_handles {
        let values: Vec<(String, u64)> = handle.extract(&mut fruits).into_iter().collect();
        facets.insert(name.to_string(), top(values, request.facet_limit));
    }
    if let Some(handle) = rights_handle {
        let counts = handle.extract(&mut fruits);
        let values = RightsStatus::ALL
            .iter()
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| (r.name().to_string(), n))
            .collect();
        facets.insert("rights".to_string(), top(values, request.facet_limit));
    }

    let mut hits = Vec::with_capacity(addresses.len());
    for (score, address) in addresses {
        let doc: TantivyDocument = searcher.doc(address).map_err(&error)?;
        hits.push(hit(fields, &doc, score, request.today));
    }
    Ok(SearchResults {
        total,
        hits,
        facets,
    })
}

/// Largest counts first, then by value; at most `limit`.
fn top(mut values: Vec<(String, u64)>, limit: usize) -> Vec<(String, u64)> {
    values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    values.truncate(limit);
    values
}

fn hit(f: &Fields, doc: &TantivyDocument, score: Score, today: NaiveDate) -> Hit {
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
    Hit {
        asset_id: doc
            .get_first(f.asset_id)
            .and_then(|v| v.as_i64())
            .unwrap_or_default(),
        photoshelter_id: text(f.photoshelter_id),
        preservica_ref: text(f.preservica_ref),
        title: text(f.title),
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
        archive_status: text(f.archive_status),
        lives_in: text(f.lives_in).unwrap_or_default(),
        authoritative: text(f.authoritative).unwrap_or_default(),
        score,
    }
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

/// Counts matches per value of a string fast field: per segment, a count per term ordinal
/// (one array increment per value of a matching document), turned into strings once at the
/// end by walking the sorted ordinals through the term dictionary in one pass.
struct ValueCounter {
    field: &'static str,
}

struct SegmentValueCounter {
    column: Option<StrColumn>,
    counts: Vec<u64>,
}

impl Collector for ValueCounter {
    type Fruit = HashMap<String, u64>;
    type Child = SegmentValueCounter;

    fn for_segment(
        &self,
        _segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentValueCounter> {
        let column = reader.fast_fields().str(self.field)?;
        let terms = column.as_ref().map_or(0, |c| c.num_terms());
        Ok(SegmentValueCounter {
            column,
            counts: vec![0; terms],
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<HashMap<String, u64>>) -> tantivy::Result<Self::Fruit> {
        let mut fruits = fruits.into_iter();
        let mut total = fruits.next().unwrap_or_default();
        for fruit in fruits {
            for (value, n) in fruit {
                *total.entry(value).or_default() += n;
            }
        }
        Ok(total)
    }
}

impl SegmentCollector for SegmentValueCounter {
    type Fruit = HashMap<String, u64>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if let Some(column) = &self.column {
            for ord in column.term_ords(doc) {
                if let Some(n) = self.counts.get_mut(ord as usize) {
                    *n += 1;
                }
            }
        }
    }

    fn harvest(self) -> HashMap<String, u64> {
        let Some(column) = self.column else {
            return HashMap::new();
        };
        let (ords, counts): (Vec<u64>, Vec<u64>) = self
            .counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(ord, n)| (ord as u64, *n))
            .unzip();
        let mut out = HashMap::with_capacity(ords.len());
        let mut counts = counts.into_iter();
        let resolved = column.dictionary().sorted_ords_to_term_cb(&ords, |bytes| {
            if let Some(n) = counts.next() {
                out.insert(String::from_utf8_lossy(bytes).into_owned(), n);
            }
        });
        if let Err(e) = resolved {
            tracing::warn!(error = %e, "reading facet values from the index failed");
        }
        out
    }
}

/// Counts matches per rights status, computed per document from its expiry date and release
/// state against `today`.
struct RightsCounter {
    today: NaiveDate,
}

struct SegmentRightsCounter {
    today: NaiveDate,
    base: Column<u64>,
    expiry: Column<tantivy::DateTime>,
    counts: [u64; 5],
}

impl Collector for RightsCounter {
    type Fruit = [u64; 5];
    type Child = SegmentRightsCounter;

    fn for_segment(
        &self,
        _segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentRightsCounter> {
        Ok(SegmentRightsCounter {
            today: self.today,
            base: reader.fast_fields().u64("rights_base")?,
            expiry: reader.fast_fields().date("license_expiry")?,
            counts: [0; 5],
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<[u64; 5]>) -> tantivy::Result<[u64; 5]> {
        let mut total = [0; 5];
        for fruit in fruits {
            for (t, n) in total.iter_mut().zip(fruit) {
                *t += n;
            }
        }
        Ok(total)
    }
}

impl SegmentCollector for SegmentRightsCounter {
    type Fruit = [u64; 5];

    fn collect(&mut self, doc: DocId, _score: Score) {
        let base = self.base.first(doc).unwrap_or_default();
        let expiry = self.expiry.first(doc).and_then(|t| {
            let days = t.into_timestamp_secs().div_euclid(86_400);
            NaiveDate::from_num_days_from_ce_opt(i32::try_from(days).ok()? + UNIX_EPOCH_CE_DAYS)
        });
        let status = rights_status(expiry, base, self.today);
        let slot = RightsStatus::ALL
            .iter()
            .position(|r| *r == status)
            .unwrap_or(4);
        self.counts[slot] += 1;
    }

    fn harvest(self) -> [u64; 5] {
        self.counts
    }
}

/// Days from 0001-01-01 (day 1 of the common era in chrono's count) to 1970-01-01.
const UNIX_EPOCH_CE_DAYS: i32 = 719_163;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_epoch_offset_is_right() {
        assert_eq!(
            NaiveDate::from_num_days_from_ce_opt(UNIX_EPOCH_CE_DAYS),
            NaiveDate::from_ymd_opt(1970, 1, 1)
        );
    }

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
