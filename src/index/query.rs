//! The curator query language (see the module docs of [`crate::index`]): a hand-written
//! parser into [`Clause`]s, and their translation into tantivy queries. Nothing here panics on
//! any input: every problem is a [`QueryError`] that quotes the part of the query at fault.

use super::schema::Fields;
use super::{DateField, Filter, RightsStatus};
use chrono::{Datelike, Days, NaiveDate};
use std::ops::Bound;
use tantivy::query::doc_predicate_query::{DocPredicateQuery, FunctionPredicate};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, ExistsQuery, Occur, PhraseQuery, Query,
    RangeQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocId, SegmentReader, Term};

/// Longest query accepted, in characters: more is a pasted document, not a search.
pub const MAX_QUERY_CHARS: usize = 1000;
/// Most words, phrases and filters in one query.
pub const MAX_CLAUSES: usize = 32;

/// Free-text fields and their boosts: title > headline/caption > keywords > the rest.
const BOOST_TITLE: f32 = 5.0;
const BOOST_HEADLINE_CAPTION: f32 = 3.0;
const BOOST_KEYWORDS: f32 = 2.0;
const BOOST_REST: f32 = 1.0;

/// Words left out of free text (when the query has other words): they match nearly every
/// caption and would make an all-words search miss good hits.
const STOPWORDS: &[&str] = &[
    "a", "an", "and", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with",
];

/// What was wrong with a query, for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    pub message: String,
}

fn err<T>(message: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError {
        message: message.into(),
    })
}

/// Which text field(s) a word is looked for in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextTarget {
    /// Every text field, with boosts.
    Free,
    Title,
    Headline,
    Caption,
    Keywords,
    Creator,
    Credit,
    Campaign,
    Location,
    /// Gallery and folder names.
    FiledIn,
}

/// A facet a filter can select a value of exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FacetName {
    Creator,
    Keyword,
    Decade,
    Year,
    Location,
}

/// One parsed part of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Words (or, `quoted`, a phrase) in some text fields.
    Text {
        target: TextTarget,
        value: String,
        quoted: bool,
    },
    /// A date in `[from, to]`, both days included; both `None`: the date is set at all.
    Dates {
        field: DateField,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    },
    /// The licence expires between today and today + N days, both included.
    ExpiresWithin(u32),
    Rights(RightsStatus),
    /// `photoshelter`, `preservica` or `both`.
    LivesIn(&'static str),
    /// Either system's id, exactly.
    Id(String),
    ArchiveStatus(String),
    ModelRelease(String),
    /// A facet value, exactly (as a facet count lists it).
    Facet(FacetName, String),
}

/// An [`Item`] that must (or, negated, must not) match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    pub negated: bool,
    pub item: Item,
}

/// The field names of `name:value`, with what each does; shown when a name is unknown.
const FIELD_NAMES: &str = "creator, keyword, title, headline, caption, credit, campaign, event, \
     location, city, state, country, year, date, expiry, expires, rights, in, id, archive, release";

/// Splits a query into clauses. Words are separated by white space; `"..."` is a phrase (an
/// unclosed quote runs to the end); `-` before a word, phrase or filter excludes it;
/// `name:value` is a filter when `name` is a known field name (`name:"a phrase"` too).
pub fn parse(query: &str) -> Result<Vec<Clause>, QueryError> {
    let chars = query.chars().count();
    if chars > MAX_QUERY_CHARS {
        return err(format!(
            "the query is {chars} characters long; at most {MAX_QUERY_CHARS} are searched. \
             Shorten it to the words that matter."
        ));
    }
    let mut clauses = Vec::new();
    for raw in split(query) {
        if let Some(clause) = clause(&raw)? {
            clauses.push(clause);
        }
    }
    if clauses.len() > MAX_CLAUSES {
        return err(format!(
            "the query has {} words, phrases and filters; at most {MAX_CLAUSES} are searched",
            clauses.len()
        ));
    }
    Ok(clauses)
}

/// Splits on white space outside quotes. A quote opens a quoted run anywhere in a piece
/// (`creator:"mary ellis"`, `"harbour regatta"`); it closes at the next quote or the end.
fn split(query: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    for c in query.chars() {
        if c == '"' {
            in_quotes = !in_quotes;
            current.push(c);
        } else if c.is_whitespace() && !in_quotes {
            if !current.is_empty() {
                pieces.push(std::mem::take(&mut current));
            }
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// `"text"` → (text, true); unquoted → (text, false). An unclosed quote counts as closed at
/// the end; quotes inside a word are dropped (the analyser ignores them anyway).
fn unquote(s: &str) -> (String, bool) {
    if let Some(rest) = s.strip_prefix('"') {
        let inner = rest.strip_suffix('"').unwrap_or(rest);
        (inner.replace('"', " "), true)
    } else {
        (s.replace('"', " "), false)
    }
}

fn clause(raw: &str) -> Result<Option<Clause>, QueryError> {
    let mut text = raw;
    let mut negated = false;
    if let Some(rest) = text.strip_prefix('-')
        && !rest.is_empty()
    {
        negated = true;
        text = rest;
    }
    // name:value, where name is letters only (so "10:30" and "http://…" stay words).
    if !text.starts_with('"')
        && let Some((name, value)) = text.split_once(':')
        && !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphabetic() || c == '_')
        && !value.starts_with("//")
    {
        let (value, quoted) = unquote(value);
        let item = field_item(name, value.trim(), quoted)?;
        return Ok(Some(Clause { negated, item }));
    }
    let (value, quoted) = unquote(text);
    if value.trim().is_empty() {
        return Ok(None);
    }
    Ok(Some(Clause {
        negated,
        item: Item::Text {
            target: TextTarget::Free,
            value,
            quoted,
        },
    }))
}

/// The item for `name:value` (also used by [`Filter::Field`]).
pub fn field_item(name: &str, value: &str, quoted: bool) -> Result<Item, QueryError> {
    let lower = name.to_ascii_lowercase();
    if value.is_empty() {
        return err(format!(
            "'{name}:' needs a value after the colon, for example {}",
            example(&lower)
        ));
    }
    let text = |target| {
        Ok(Item::Text {
            target,
            value: value.to_string(),
            quoted,
        })
    };
    match lower.as_str() {
        "creator" | "by" | "photographer" => text(TextTarget::Creator),
        "keyword" | "keywords" | "subject" => text(TextTarget::Keywords),
        "title" => text(TextTarget::Title),
        "headline" => text(TextTarget::Headline),
        "caption" | "description" => text(TextTarget::Caption),
        "credit" => text(TextTarget::Credit),
        "campaign" | "event" => text(TextTarget::Campaign),
        "location" | "city" | "state" | "country" | "place" => text(TextTarget::Location),
        "gallery" | "folder" | "in_gallery" | "in_folder" => text(TextTarget::FiledIn),
        "year" => {
            let (from, to) = parse_range(name, value, true)?;
            Ok(Item::Dates {
                field: DateField::Created,
                from,
                to,
            })
        }
        "date" | "created" => {
            let (from, to) = parse_range(name, value, false)?;
            Ok(Item::Dates {
                field: DateField::Created,
                from,
                to,
            })
        }
        "expiry" | "licence_expiry" | "license_expiry" => {
            let (from, to) = parse_range(name, value, false)?;
            Ok(Item::Dates {
                field: DateField::LicenseExpiry,
                from,
                to,
            })
        }
        "expires" => Ok(Item::ExpiresWithin(parse_days(name, value)?)),
        "rights" => match RightsStatus::from_name(&value.to_ascii_lowercase()) {
            Some(r) => Ok(Item::Rights(r)),
            None => err(format!(
                "'{name}:{value}': rights is one of ok, expiring, expired, restricted, unknown"
            )),
        },
        "in" | "system" | "lives_in" => Ok(Item::LivesIn(parse_lives_in(name, value)?)),
        "id" => Ok(Item::Id(value.to_string())),
        "archive" | "archive_status" => Ok(Item::ArchiveStatus(value.to_ascii_lowercase())),
        "release" | "model_release" => Ok(Item::ModelRelease(value.to_ascii_uppercase())),
        _ => err(format!(
            "'{name}:' is not a field ferry can search; use one of {FIELD_NAMES}, or put the \
             words in quotes to search for them as text"
        )),
    }
}

/// The item for an exact facet value ([`Filter::Facet`]).
pub fn facet_item(facet: &str, value: &str) -> Result<Item, QueryError> {
    let name = match facet.to_ascii_lowercase().as_str() {
        "creator" => FacetName::Creator,
        "keyword" | "keywords" => FacetName::Keyword,
        "decade" => FacetName::Decade,
        "year" => FacetName::Year,
        "location" => FacetName::Location,
        "rights" => {
            return match RightsStatus::from_name(&value.to_ascii_lowercase()) {
                Some(r) => Ok(Item::Rights(r)),
                None => err(format!(
                    "rights is one of ok, expiring, expired, restricted, unknown, not '{value}'"
                )),
            };
        }
        "lives_in" | "system" | "in" => return Ok(Item::LivesIn(parse_lives_in(facet, value)?)),
        _ => {
            return err(format!(
                "'{facet}' is not a facet; the facets are creator, keyword, decade, year, \
                 rights, location and lives_in"
            ));
        }
    };
    if value.is_empty() {
        return err(format!("the {facet} facet filter needs a value"));
    }
    Ok(Item::Facet(name, value.to_string()))
}

/// The item of an API filter.
pub fn filter_item(filter: &Filter) -> Result<Item, QueryError> {
    match filter {
        Filter::Field { field, value } => {
            let value = value.trim();
            let (value, quoted) = unquote(value);
            let quoted = quoted || value.split_whitespace().count() > 1;
            field_item(field, value.trim(), quoted)
        }
        Filter::Facet { facet, value } => facet_item(facet, value),
        Filter::DateRange { field, from, to } => {
            if let (Some(f), Some(t)) = (from, to)
                && f > t
            {
                return err(format!("the date range starts ({f}) after it ends ({t})"));
            }
            Ok(Item::Dates {
                field: *field,
                from: *from,
                to: *to,
            })
        }
        Filter::ExpiresWithinDays(n) => Ok(Item::ExpiresWithin(*n)),
        Filter::Rights(r) => match RightsStatus::from_name(&r.to_ascii_lowercase()) {
            Some(r) => Ok(Item::Rights(r)),
            None => err(format!(
                "rights is one of ok, expiring, expired, restricted, unknown, not '{r}'"
            )),
        },
        Filter::LivesIn(s) => Ok(Item::LivesIn(parse_lives_in("in", s)?)),
    }
}

fn example(name: &str) -> &'static str {
    match name {
        "year" => "year:1962 or year:1960..1965",
        "date" | "created" => "date:1962-07-14 or date:1962-07-01..1962-07-31",
        "expiry" | "licence_expiry" | "license_expiry" => "expiry:..2025-12-31",
        "expires" => "expires:30 (within 30 days)",
        "rights" => "rights:expired",
        "in" | "system" | "lives_in" => "in:preservica",
        "keyword" | "keywords" | "subject" => "keyword:regatta",
        _ => "creator:ellis or creator:\"mary ellis\"",
    }
}

fn parse_lives_in(name: &str, value: &str) -> Result<&'static str, QueryError> {
    match value.to_ascii_lowercase().as_str() {
        "photoshelter" | "ps" => Ok("photoshelter"),
        "preservica" | "pv" => Ok("preservica"),
        "both" => Ok("both"),
        _ => err(format!(
            "'{name}:{value}': an asset lives in photoshelter, preservica or both"
        )),
    }
}

fn parse_days(name: &str, value: &str) -> Result<u32, QueryError> {
    let v = value.trim().to_ascii_lowercase();
    let digits = v
        .strip_suffix("days")
        .or_else(|| v.strip_suffix('d'))
        .unwrap_or(&v);
    match digits.trim().parse::<u32>() {
        Ok(n) if n <= 36_500 => Ok(n),
        _ => err(format!(
            "'{name}:{value}': give a number of days from 0 to 36500, for example expires:30"
        )),
    }
}

/// `A`, `A..B`, `..B` or `A..`, where each end is `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (only
/// `YYYY` when `years_only`). A start covers from its first day, an end to its last.
fn parse_range(
    name: &str,
    value: &str,
    years_only: bool,
) -> Result<(Option<NaiveDate>, Option<NaiveDate>), QueryError> {
    let bad = |why: &str| -> QueryError {
        let forms = if years_only {
            "a year like 1962 or a range like 1960..1965"
        } else {
            "YYYY, YYYY-MM or YYYY-MM-DD, or a range A..B (either end may be left out)"
        };
        QueryError {
            message: format!("'{name}:{value}': {why}; use {forms}"),
        }
    };
    let (from, to) = match value.split_once("..") {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (value.trim(), value.trim()),
    };
    if from.is_empty() && to.is_empty() {
        return Err(bad("the range has no start and no end"));
    }
    let end = |s: &str, last: bool| -> Result<Option<NaiveDate>, QueryError> {
        if s.is_empty() {
            return Ok(None);
        }
        match day_bound(s, last, years_only) {
            Some(d) => Ok(Some(d)),
            None => Err(bad(&format!("'{s}' is not a date"))),
        }
    };
    let from = end(from, false)?;
    let to = end(to, true)?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(bad(&format!("the range starts ({f}) after it ends ({t})")));
    }
    Ok((from, to))
}

/// The first (or, `last`, the last) day of a year, month or day.
fn day_bound(s: &str, last: bool, years_only: bool) -> Option<NaiveDate> {
    let parts: Vec<&str> = s.split('-').collect();
    let number = |p: &str, len: usize| -> Option<u32> {
        (p.len() == len && p.chars().all(|c| c.is_ascii_digit()))
            .then(|| p.parse().ok())
            .flatten()
    };
    let year = i32::try_from(number(parts.first()?, 4)?).ok()?;
    match (parts.len(), years_only) {
        (1, _) => {
            if last {
                NaiveDate::from_ymd_opt(year, 12, 31)
            } else {
                NaiveDate::from_ymd_opt(year, 1, 1)
            }
        }
        (2, false) => {
            let month = number(parts[1], 2)?;
            let first = NaiveDate::from_ymd_opt(year, month, 1)?;
            if last {
                first.checked_add_months(chrono::Months::new(1))?.pred_opt()
            } else {
                Some(first)
            }
        }
        (3, false) => NaiveDate::from_ymd_opt(year, number(parts[1], 2)?, number(parts[2], 2)?),
        _ => None,
    }
}

/// tantivy keeps dates as nanoseconds in an i64 (years 1677 to 2262); days beyond this many
/// seconds from 1970 are clamped to it, in the index and in queries alike.
const MAX_ABS_SECS: i64 = 9_000_000_000;

/// Midnight UTC of `day`, the form dates are indexed in.
pub fn day_time(day: NaiveDate) -> tantivy::DateTime {
    let secs = day
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp())
        .unwrap_or_default()
        .clamp(-MAX_ABS_SECS, MAX_ABS_SECS);
    tantivy::DateTime::from_timestamp_secs(secs)
}

/// Levenshtein distance allowed for a typed word: none for short words and numbers (a year
/// one digit off is another year), 1 for 4–7 letters, 2 for longer words.
pub fn fuzzy_distance(token: &str) -> u8 {
    if token.chars().any(|c| c.is_ascii_digit()) {
        return 0;
    }
    match token.chars().count() {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// Turns clauses into tantivy queries.
pub struct Compiler<'a> {
    pub fields: &'a Fields,
    pub analyzer: TextAnalyzer,
    pub today: NaiveDate,
    /// The index's current searcher: typed words are expanded against its term dictionary so
    /// that near misses are ranked (`None`: near misses match unranked).
    pub searcher: Option<tantivy::Searcher>,
}

impl Compiler<'_> {
    fn tokens(&mut self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut stream = self.analyzer.token_stream(text);
        while let Some(token) = stream.next() {
            out.push(token.text.clone());
        }
        out
    }

    /// Whether an item is a lone free-text stopword (dropped when other words are present).
    pub fn is_stopword(&mut self, item: &Item) -> bool {
        match item {
            Item::Text {
                target: TextTarget::Free,
                value,
                quoted: false,
            } => {
                let tokens = self.tokens(value);
                tokens.len() == 1 && STOPWORDS.contains(&tokens[0].as_str())
            }
            _ => false,
        }
    }

    fn targets(&self, target: TextTarget) -> Vec<(Field, f32)> {
        let f = self.fields;
        match target {
            TextTarget::Free => vec![
                (f.title, BOOST_TITLE),
                (f.headline, BOOST_HEADLINE_CAPTION),
                (f.caption, BOOST_HEADLINE_CAPTION),
                (f.keywords, BOOST_KEYWORDS),
                (f.rest, BOOST_REST),
            ],
            TextTarget::Title => vec![(f.title, 1.0)],
            TextTarget::Headline => vec![(f.headline, 1.0)],
            TextTarget::Caption => vec![(f.caption, 1.0)],
            TextTarget::Keywords => vec![(f.keywords, 1.0)],
            TextTarget::Creator => vec![(f.creator, 1.0)],
            TextTarget::Credit => vec![(f.credit, 1.0)],
            TextTarget::Campaign => vec![(f.campaign, 1.0)],
            TextTarget::Location => vec![(f.location, 1.0)],
            TextTarget::FiledIn => vec![(f.filed_in, 1.0)],
        }
    }

    /// The query of one item; `None` when it holds nothing searchable (only punctuation or
    /// emoji, which the analyser drops).
    pub fn item(&mut self, item: &Item) -> Result<Option<Box<dyn Query>>, QueryError> {
        let f = *self.fields;
        let q: Box<dyn Query> = match item {
            Item::Text {
                target,
                value,
                quoted,
            } => {
                let tokens = self.tokens(value);
                let targets = self.targets(*target);
                match tokens.len() {
                    0 => return Ok(None),
                    1 => {
                        let token = &tokens[0];
                        let distance = fuzzy_distance(token);
                        if *quoted || distance == 0 {
                            let should: Vec<Box<dyn Query>> = targets
                                .iter()
                                .map(|&(field, boost)| boosted(term(field, token), boost))
                                .collect();
                            Box::new(BooleanQuery::union(should))
                        } else {
                            let fuzzy_field = match target {
                                TextTarget::Free => f.all,
                                _ => targets[0].0,
                            };
                            super::fuzzy::word_query(
                                self.searcher.as_ref(),
                                &targets,
                                fuzzy_field,
                                token,
                                distance,
                            )
                        }
                    }
                    _ => {
                        let should: Vec<Box<dyn Query>> = targets
                            .iter()
                            .map(|&(field, boost)| {
                                let terms = tokens
                                    .iter()
                                    .map(|t| Term::from_field_text(field, t))
                                    .collect();
                                boosted(Box::new(PhraseQuery::new(terms)), boost)
                            })
                            .collect();
                        Box::new(BooleanQuery::union(should))
                    }
                }
            }
            Item::Dates { field, from, to } => {
                let (field, name) = match field {
                    DateField::Created => (f.date_created, "date_created"),
                    DateField::LicenseExpiry => (f.license_expiry, "license_expiry"),
                };
                if from.is_none() && to.is_none() {
                    Box::new(ExistsQuery::new(name.to_string(), false))
                } else {
                    date_range(field, *from, *to)
                }
            }
            Item::ExpiresWithin(days) => {
                let end = self.today.checked_add_days(Days::new(u64::from(*days)));
                date_range(f.license_expiry, Some(self.today), end)
            }
            Item::Rights(status) => self.rights(*status),
            Item::LivesIn(place) => raw_term(f.lives_in, place),
            Item::Id(id) => Box::new(BooleanQuery::union(vec![
                raw_term(f.photoshelter_id, id),
                raw_term(f.preservica_ref, id),
            ])),
            Item::ArchiveStatus(s) => raw_term(f.archive_status, s),
            Item::ModelRelease(s) => raw_term(f.model_release, s),
            Item::Facet(name, value) => {
                let field = match name {
                    FacetName::Creator => f.creator_facet,
                    FacetName::Keyword => f.keyword_facet,
                    FacetName::Decade => f.decade_facet,
                    FacetName::Year => f.year_facet,
                    FacetName::Location => f.location_facet,
                };
                raw_term(field, value)
            }
        };
        Ok(Some(q))
    }

    /// Rights status at query time, against `today`, from the indexed expiry date and release
    /// state, so a status never goes stale between reindexing runs: a per-document check of
    /// two columns, which costs little next to the other clauses it is intersected with.
    fn rights(&self, status: RightsStatus) -> Box<dyn Query> {
        let wanted = RightsStatus::ALL
            .iter()
            .position(|r| *r == status)
            .unwrap_or_default();
        let (today, soon) = super::search::rights_days(self.today);
        let predicate = FunctionPredicate::from(move |reader: &SegmentReader| {
            let base = reader.fast_fields().u64("rights_base")?;
            let expiry = reader.fast_fields().date("license_expiry")?;
            Ok(move |doc: DocId| {
                super::search::rights_slot(base.first(doc), expiry.first(doc), today, soon)
                    == wanted
            })
        });
        Box::new(DocPredicateQuery::from(predicate))
    }
}

/// Builds the whole query: every clause must match (negated ones must not), filters must
/// match without changing scores. With no positive clause, everything matches; the flag says
/// whether the query matches every document (nothing to search for and no filter).
pub fn build(
    compiler: &mut Compiler<'_>,
    clauses: &[Clause],
    filters: &[Filter],
) -> Result<(Box<dyn Query>, bool), QueryError> {
    let has_real_words = clauses.iter().any(|c| {
        !c.negated && matches!(c.item, Item::Text { .. }) && !compiler.is_stopword(&c.item)
    });
    let mut subs: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for c in clauses {
        if has_real_words && !c.negated && compiler.is_stopword(&c.item) {
            continue;
        }
        if let Some(q) = compiler.item(&c.item)? {
            subs.push((
                if c.negated {
                    Occur::MustNot
                } else {
                    Occur::Must
                },
                q,
            ));
        }
    }
    for filter in filters {
        let item = filter_item(filter)?;
        if let Some(q) = compiler.item(&item)? {
            subs.push((Occur::Must, Box::new(ConstScoreQuery::new(q, 0.0))));
        }
    }
    let matches_all = subs.is_empty();
    if matches_all {
        return Ok((Box::new(AllQuery), true));
    }
    if !subs.iter().any(|(o, _)| *o == Occur::Must) {
        subs.push((Occur::Must, Box::new(AllQuery)));
    }
    Ok((Box::new(BooleanQuery::new(subs)), false))
}

/// `q` weighted by `boost` (unchanged at 1).
pub(super) fn boosted(q: Box<dyn Query>, boost: f32) -> Box<dyn Query> {
    if (boost - 1.0).abs() < f32::EPSILON {
        q
    } else {
        Box::new(BoostQuery::new(q, boost))
    }
}

/// The documents whose `field` holds `token`.
pub(super) fn term(field: Field, token: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, token),
        IndexRecordOption::WithFreqs,
    ))
}

fn raw_term(field: Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

fn date_range(field: Field, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Box<dyn Query> {
    let bound = |d: Option<NaiveDate>| match d {
        Some(d) => Bound::Included(Term::from_field_date(field, day_time(d))),
        None => Bound::Unbounded,
    };
    // Callers give at least one end: tantivy's range query needs one.
    Box::new(RangeQuery::new(bound(from), bound(to)))
}

/// The decade label of a year, e.g. `1960s`.
pub fn decade_label(day: NaiveDate) -> String {
    format!("{}s", day.year().div_euclid(10) * 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(q: &str) -> Vec<Item> {
        parse(q).unwrap().into_iter().map(|c| c.item).collect()
    }

    #[test]
    fn words_phrases_and_filters_are_told_apart() {
        let parsed =
            parse(r#"harbour "tall ships" creator:"mary ellis" -keyword:rain 10:30"#).unwrap();
        assert_eq!(parsed.len(), 5);
        assert_eq!(
            parsed[1].item,
            Item::Text {
                target: TextTarget::Free,
                value: "tall ships".into(),
                quoted: true
            }
        );
        assert_eq!(
            parsed[2].item,
            Item::Text {
                target: TextTarget::Creator,
                value: "mary ellis".into(),
                quoted: true
            }
        );
        assert!(parsed[3].negated);
        assert!(matches!(
            parsed[4].item,
            Item::Text {
                target: TextTarget::Free,
                ..
            }
        ));
    }

    #[test]
    fn dates_cover_whole_years_months_and_days() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(
            items("year:1962"),
            vec![Item::Dates {
                field: DateField::Created,
                from: d(1962, 1, 1),
                to: d(1962, 12, 31)
            }]
        );
        assert_eq!(
            items("date:1960..1965-02"),
            vec![Item::Dates {
                field: DateField::Created,
                from: d(1960, 1, 1),
                to: d(1965, 2, 28)
            }]
        );
        assert_eq!(
            items("date:..1962-07-14"),
            vec![Item::Dates {
                field: DateField::Created,
                from: None,
                to: d(1962, 7, 14)
            }]
        );
        for bad in [
            "date:1962-13",
            "date:62",
            "year:1962-07",
            "date:1965..1960",
            "date:..",
            "expires:soon",
            "rights:maybe",
            "in:dropbox",
            "creator:",
            "colour:red",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(!e.message.is_empty(), "{bad}");
        }
    }

    #[test]
    fn fuzziness_depends_on_length_and_spares_numbers() {
        assert_eq!(fuzzy_distance("elis"), 1);
        assert_eq!(fuzzy_distance("ray"), 0);
        assert_eq!(fuzzy_distance("photographer"), 2);
        assert_eq!(fuzzy_distance("1962"), 0);
    }
}
