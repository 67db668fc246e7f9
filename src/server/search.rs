//! Searching the curator index for the search page and `/api/search`, and turning facet values
//! into query terms: a facet link is the current query with one more `name:value` term, so the
//! whole search — refinements included — lives in `?q=` and can be shared as a URL.

use super::{AppState, Shared, WebError};
use crate::index::{IndexError, SearchIndex, SearchRequest, Sort};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// Hits per page on the search page (and the API's default limit).
pub const PAGE_SIZE: usize = 20;
/// Most hits one API call returns.
pub const MAX_API_LIMIT: usize = 200;
/// Values listed per facet.
const FACET_VALUES: usize = 12;

/// An index shared between the web app and whatever else in the process updates it.
pub type SharedIndex = Arc<Mutex<SearchIndex>>;

/// The search's URL parameters (page and API alike).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SearchParams {
    pub q: Option<String>,
    /// 1-based page of [`PAGE_SIZE`] hits (the page).
    pub page: Option<usize>,
    /// `relevance` (default), `date_desc`, `date_asc`.
    #[serde(default)]
    pub sort: SortParam,
    /// Hits to return (the API), at most [`MAX_API_LIMIT`].
    pub limit: Option<usize>,
    /// Hits to skip (the API); `page` is used when absent.
    pub offset: Option<usize>,
}

/// `sort=` parsed once into [`Sort`]. An unknown word is kept rather than failing the whole
/// query string: the page still shows its form and says why, and the search answers 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortParam(Result<Sort, String>);

impl Default for SortParam {
    fn default() -> Self {
        SortParam(Ok(Sort::Relevance))
    }
}

impl<'de> Deserialize<'de> for SortParam {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::IntoDeserializer;
        let word = String::deserialize(d)?;
        if word.is_empty() {
            return Ok(SortParam::default());
        }
        let parsed: Result<Sort, serde::de::value::Error> =
            Sort::deserialize(word.as_str().into_deserializer());
        Ok(SortParam(parsed.map_err(|_| word)))
    }
}

impl SearchParams {
    pub fn page(&self) -> usize {
        self.page.unwrap_or(1).clamp(1, 10_000)
    }

    /// The order asked for; an unknown `sort=` is refused, as `ferry search --sort` refuses it.
    fn sort(&self) -> Result<Sort, WebError> {
        self.sort.0.clone().map_err(|other| {
            WebError::BadRequest(format!(
                "sort={other:?} is not an order; use relevance, date_desc or date_asc"
            ))
        })
    }

    /// The sort's URL name (relevance when `sort=` is not one: such a search is refused).
    pub fn sort_name(&self) -> &'static str {
        match self.sort().unwrap_or_default() {
            Sort::Relevance => "relevance",
            Sort::DateDesc => "date_desc",
            Sort::DateAsc => "date_asc",
        }
    }

    fn limit(&self) -> usize {
        self.limit.unwrap_or(PAGE_SIZE).min(MAX_API_LIMIT)
    }

    fn offset(&self) -> usize {
        self.offset
            .unwrap_or_else(|| (self.page() - 1) * self.limit())
            .min(1_000_000)
    }
}

/// One hit, as the page and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct HitView {
    pub asset_id: i64,
    /// The asset page.
    pub url: String,
    /// The title, else the file name, else the headline, else an id: never empty.
    pub title: String,
    pub headline: Option<String>,
    pub caption: Option<String>,
    pub creator: Option<String>,
    pub keywords: Vec<String>,
    pub location: Option<String>,
    pub date_created: Option<String>,
    pub license_expiry: Option<String>,
    pub rights_status: String,
    /// The model release code and what it means.
    pub model_release: Option<String>,
    pub model_release_meaning: Option<String>,
    /// `photoshelter`, `preservica` or `both`.
    pub lives_in: String,
    /// Whose values were indexed where the two systems differ.
    pub authoritative: String,
    pub photoshelter_id: Option<String>,
    pub preservica_ref: Option<String>,
    pub score: f32,
}

/// One facet value: its count, and the query that refines the search by it.
#[derive(Debug, Clone, Serialize)]
pub struct FacetValue {
    pub value: String,
    pub count: u64,
    /// The term this value adds to the query (`creator:"Mary Ellis"`).
    pub term: String,
}

/// A search's answer.
#[derive(Debug, Clone, Serialize)]
pub struct SearchOutcome {
    pub query: String,
    pub total: u64,
    pub offset: usize,
    pub limit: usize,
    pub sort: &'static str,
    pub hits: Vec<HitView>,
    /// Facet name → values, largest counts first (facet names in a fixed order).
    pub facets: Vec<(String, Vec<(String, u64)>)>,
    /// The same facets with the term each value adds to the query.
    pub refine: Vec<(String, Vec<FacetValue>)>,
}

/// The order facets are shown in; any others follow.
const FACET_ORDER: [&str; 7] = [
    "rights", "lives_in", "decade", "year", "creator", "keyword", "location",
];

/// Runs the search `params` asks for.
pub async fn run(state: &Shared, params: &SearchParams) -> Result<SearchOutcome, WebError> {
    let state = state.clone();
    let params = params.clone();
    tokio::task::spawn_blocking(move || run_blocking(&state, &params))
        .await
        .map_err(|e| WebError::Internal(format!("the search worker failed: {e}")))?
}

pub(super) fn index_error(e: IndexError) -> WebError {
    match e {
        IndexError::Query(q) => WebError::BadRequest(q.to_string()),
        other => {
            tracing::warn!(error = %other, "web app: search index");
            WebError::Internal(other.to_string())
        }
    }
}

/// The shared index, opening it on first use.
pub(super) fn index_of(state: &AppState) -> Result<SharedIndex, WebError> {
    let mut slot = state
        .index
        .lock()
        .map_err(|_| WebError::Internal("the search index lock is poisoned".into()))?;
    if let Some(index) = &*slot {
        return Ok(index.clone());
    }
    let mut index = SearchIndex::open(&state.index_dir).map_err(index_error)?;
    index.set_mapping(state.mapping.clone());
    let shared = Arc::new(Mutex::new(index));
    *slot = Some(shared.clone());
    Ok(shared)
}

fn run_blocking(state: &AppState, params: &SearchParams) -> Result<SearchOutcome, WebError> {
    let query = params.q.clone().unwrap_or_default().trim().to_string();
    let limit = params.limit();
    let offset = params.offset();
    let mut request = SearchRequest::new(&query, chrono::Utc::now().date_naive());
    request.facets = true;
    request.facet_limit = FACET_VALUES;
    request.limit = limit;
    request.offset = offset;
    request.sort = params.sort()?;
    let index = index_of(state)?;
    let results = {
        let index = index
            .lock()
            .map_err(|_| WebError::Internal("the search index lock is poisoned".into()))?;
        index.search(&request).map_err(index_error)?
    };
    let hits = results
        .hits
        .into_iter()
        .map(|h| HitView {
            url: format!("/assets/{}", h.asset_id),
            title: h.label.clone(),
            asset_id: h.asset_id,
            headline: h.headline,
            caption: h.caption,
            creator: h.creator,
            keywords: h.keywords,
            location: h.location,
            date_created: h.date_created,
            license_expiry: h.license_expiry,
            rights_status: h.rights_status,
            model_release: h.model_release,
            model_release_meaning: h.model_release_meaning,
            lives_in: h.lives_in,
            authoritative: h.authoritative,
            photoshelter_id: h.photoshelter_id,
            preservica_ref: h.preservica_ref,
            score: h.score,
        })
        .collect();
    let mut facets: Vec<(String, Vec<(String, u64)>)> = results.facets.into_iter().collect();
    facets.sort_by_key(|(name, _)| {
        FACET_ORDER
            .iter()
            .position(|n| n == name)
            .unwrap_or(FACET_ORDER.len())
    });
    let refine = facets
        .iter()
        .map(|(name, values)| {
            let values = values
                .iter()
                .map(|(value, count)| FacetValue {
                    value: value.clone(),
                    count: *count,
                    term: facet_term(name, value),
                })
                .collect();
            (name.clone(), values)
        })
        .collect();
    Ok(SearchOutcome {
        query,
        total: results.total as u64,
        offset,
        limit,
        sort: params.sort_name(),
        hits,
        facets,
        refine,
    })
}

/// `value` as one query word: bare when it is a plain word, else in quotes (quotes inside are
/// dropped: the query language cannot escape them and the analyser ignores them anyway).
fn word(value: &str) -> String {
    let clean = value.replace('"', " ");
    let clean = clean.trim();
    if !clean.is_empty()
        && clean
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !clean.starts_with('-')
    {
        clean.to_string()
    } else {
        format!("\"{clean}\"")
    }
}

/// The query term(s) that select a facet value.
pub fn facet_term(facet: &str, value: &str) -> String {
    match facet {
        "decade" => match value.strip_suffix('s').and_then(|y| y.parse::<i32>().ok()) {
            Some(start) => format!("year:{start}..{}", start + 9),
            None => format!("\"{}\"", value.replace('"', " ")),
        },
        "year" => format!("year:{}", word(value)),
        "rights" => format!("rights:{}", word(value)),
        "lives_in" => format!("in:{}", word(value)),
        // "city, country": each part must match (they are separate values in the index).
        "location" => value
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| format!("location:{}", word(p)))
            .collect::<Vec<_>>()
            .join(" "),
        "keyword" => format!("keyword:{}", word(value)),
        "creator" => format!("creator:{}", word(value)),
        other => format!("{}:{}", other, word(value)),
    }
}

/// Whether `query` already holds `term` as whole words.
pub fn has_term(query: &str, term: &str) -> bool {
    find_term(query, term).is_some()
}

fn find_term(query: &str, term: &str) -> Option<usize> {
    if term.is_empty() {
        return None;
    }
    let mut from = 0;
    while let Some(i) = query[from..].find(term) {
        let start = from + i;
        let end = start + term.len();
        let before_ok = query[..start]
            .chars()
            .next_back()
            .is_none_or(char::is_whitespace);
        let after_ok = query[end..].chars().next().is_none_or(char::is_whitespace);
        if before_ok && after_ok {
            return Some(start);
        }
        from = start + term.len().max(1);
        if from >= query.len() {
            break;
        }
    }
    None
}

/// `query` without `term` (the link that takes a refinement back).
pub fn without_term(query: &str, term: &str) -> String {
    match find_term(query, term) {
        Some(start) => {
            let mut out = String::with_capacity(query.len());
            out.push_str(query[..start].trim_end());
            let rest = query[start + term.len()..].trim_start();
            if !out.is_empty() && !rest.is_empty() {
                out.push(' ');
            }
            out.push_str(rest);
            out
        }
        None => query.to_string(),
    }
}

/// A facet's heading.
pub fn facet_label(facet: &str) -> String {
    match facet {
        "rights" => "Rights".into(),
        "lives_in" => "Lives in".into(),
        "decade" => "Decade".into(),
        "year" => "Year".into(),
        "creator" => "Creator".into(),
        "keyword" => "Keyword".into(),
        "location" => "Location".into(),
        other => other.replace('_', " "),
    }
}

/// A facet value for people.
pub fn facet_value_label(facet: &str, value: &str) -> String {
    match facet {
        "lives_in" => lives_in_label(value).to_string(),
        "rights" => rights_badge(value).0.to_string(),
        _ => value.to_string(),
    }
}

/// Where an asset lives, in words.
pub fn lives_in_label(lives_in: &str) -> &'static str {
    match lives_in {
        "both" => "in both systems",
        "photoshelter" => "PhotoShelter only",
        "preservica" => "Preservica only",
        _ => "unknown",
    }
}

/// The rights badge: its words and tone.
pub fn rights_badge(status: &str) -> (&'static str, &'static str) {
    match status {
        "ok" => ("rights ok", "good"),
        "expiring" => ("licence expiring", "warn"),
        "expired" => ("licence expired", "bad"),
        "restricted" => ("restricted", "warn"),
        _ => ("rights unknown", ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facet_terms_are_query_terms() {
        assert_eq!(
            facet_term("creator", "Mary Ellis"),
            "creator:\"Mary Ellis\""
        );
        assert_eq!(facet_term("keyword", "regatta"), "keyword:regatta");
        assert_eq!(facet_term("decade", "1960s"), "year:1960..1969");
        assert_eq!(facet_term("year", "1962"), "year:1962");
        assert_eq!(facet_term("rights", "expired"), "rights:expired");
        assert_eq!(facet_term("lives_in", "both"), "in:both");
        assert_eq!(
            facet_term("location", "Halifax, Canada"),
            "location:Halifax location:Canada"
        );
        assert_eq!(facet_term("creator", "a\"b"), "creator:\"a b\"");
        assert_eq!(facet_term("keyword", "-x"), "keyword:\"-x\"");
    }

    #[test]
    fn terms_are_found_and_removed_as_whole_words() {
        assert!(has_term("harbour year:1962", "year:1962"));
        assert!(!has_term("harbour year:19621", "year:1962"));
        assert!(!has_term("xyear:1962", "year:1962"));
        assert_eq!(
            without_term("harbour year:1962 regatta", "year:1962"),
            "harbour regatta"
        );
        assert_eq!(without_term("year:1962", "year:1962"), "");
        assert_eq!(without_term("harbour", "year:1962"), "harbour");
    }
}
