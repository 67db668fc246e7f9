//! The search page: the form, the facets, the results and the pager (`templates/search.html`).

use super::chrome;
use crate::html::Layout;
use crate::server::html::{Nav, qs, render};
use crate::server::search::{self, HitView, SearchOutcome, SearchParams};
use crate::server::{PageError, Shared, with_store};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Html;
use std::fmt::Write as _;

/// The longest caption a hit shows, in characters.
const CAPTION_CHARS: usize = 240;

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage<'a> {
    layout: Layout,
    q: &'a str,
    /// Each order: its URL name, its label, whether it is the search's.
    sorts: Vec<(&'static str, &'static str, bool)>,
    /// The results, or why the search was refused.
    results: Result<Results<'a>, &'a str>,
}

/// What the results part of the page shows.
struct Results<'a> {
    facets: Vec<Facet>,
    total: u64,
    shown_from: usize,
    shown_to: usize,
    hits: Vec<Hit<'a>>,
    /// The form token when the page offers to republish the ticked archive assets.
    republish: Option<&'a str>,
    page: usize,
    pages: usize,
    prev: Option<String>,
    next: Option<String>,
}

struct Facet {
    label: String,
    name: String,
    values: Vec<FacetLink>,
    histogram: Option<String>,
}

/// A facet value: a link to the search with its term added, or removed when active.
struct FacetLink {
    href: String,
    term: String,
    label: String,
    count: u64,
    active: bool,
}

struct Hit<'a> {
    hit: &'a HitView,
    rights: (&'static str, &'static str),
    lives_in: &'static str,
    /// The caption (else the headline), cut to [`CAPTION_CHARS`]; `more` when it was cut.
    caption: Option<String>,
    more: bool,
    /// A republish tick box (archive assets, when the app can republish).
    pick: bool,
    /// The hit's small thumbnail (a "no picture" card when there is none; see
    /// `server::thumbs`).
    thumb: Option<String>,
}

/// `/`: the search page. The query, page and sort live in the URL so a search can be shared.
pub async fn search(
    State(state): State<Shared>,
    Query(params): Query<SearchParams>,
) -> Result<Html<String>, PageError> {
    let chrome = with_store(&state, |store, _| chrome(store)).await?;
    let outcome = search::run(&state, &params).await;
    let q = params.q.clone().unwrap_or_default();
    let csrf = state
        .republisher
        .as_ref()
        .map(|_| state.auth.csrf_token().to_string());
    let results = match &outcome {
        Err(e) => Err(e.message()),
        Ok(outcome) => Ok(results(&params, outcome, csrf.as_deref())),
    };
    let page = SearchPage {
        layout: Layout::app(
            if q.is_empty() { "Search" } else { &q },
            Nav::Search,
            &chrome,
        ),
        q: &q,
        sorts: [
            ("relevance", "Best match"),
            ("date_desc", "Newest first"),
            ("date_asc", "Oldest first"),
        ]
        .into_iter()
        .map(|(value, label)| (value, label, value == params.sort_name()))
        .collect(),
        results,
    };
    Ok(render(&page))
}

/// The URL of a search for `q` (page 1, same sort).
fn search_url(q: &str, params: &SearchParams, page: usize) -> String {
    let mut url = format!("/?q={}", qs(q));
    if params.sort_name() != "relevance" {
        let _ = write!(url, "&sort={}", params.sort_name());
    }
    if page > 1 {
        let _ = write!(url, "&page={page}");
    }
    url
}

/// The results, with facets; `csrf` set (the app can republish) adds a tick box to each
/// archive asset and the republish form below them.
fn results<'a>(
    params: &SearchParams,
    outcome: &'a SearchOutcome,
    csrf: Option<&'a str>,
) -> Results<'a> {
    let q = params.q.as_deref().unwrap_or("").trim();
    let total = outcome.total;
    let republish = csrf.filter(|_| outcome.hits.iter().any(|h| h.preservica_ref.is_some()));
    let page = params.page();
    let pages = total.div_ceil(search::PAGE_SIZE as u64).max(1) as usize;
    Results {
        facets: facets(params, outcome, q),
        total,
        shown_from: if total == 0 { 0 } else { outcome.offset + 1 },
        shown_to: outcome.offset + outcome.hits.len(),
        hits: outcome
            .hits
            .iter()
            .map(|h| hit(h, republish.is_some()))
            .collect(),
        republish,
        page,
        pages,
        prev: (page > 1).then(|| search_url(q, params, page - 1)),
        next: (page < pages).then(|| search_url(q, params, page + 1)),
    }
}

/// Each facet's values with counts; a value links to the search with its term added, or
/// removed when the search has it already.
fn facets(params: &SearchParams, outcome: &SearchOutcome, q: &str) -> Vec<Facet> {
    outcome
        .facets
        .iter()
        .filter(|(_, values)| !values.is_empty())
        .map(|(facet, values)| Facet {
            label: search::facet_label(facet),
            name: facet.clone(),
            values: values
                .iter()
                .map(|(value, count)| {
                    let term = search::facet_term(facet, value);
                    let active = search::has_term(q, &term);
                    let href = if active {
                        search::without_term(q, &term)
                    } else if q.is_empty() {
                        term.clone()
                    } else {
                        format!("{q} {term}")
                    };
                    FacetLink {
                        href: search_url(&href, params, 1),
                        label: search::facet_value_label(facet, value),
                        term,
                        count: *count,
                        active,
                    }
                })
                .collect(),
            histogram: histogram(params, facet, values, q),
        })
        .collect()
}

/// Decade and year get a histogram whose bars refine like the list's links (an active value's
/// bar keeps the search as it is).
fn histogram(
    params: &SearchParams,
    facet: &str,
    values: &[(String, u64)],
    q: &str,
) -> Option<String> {
    let svg = crate::server::figures::facet_histogram(facet, values, |value| {
        let term = search::facet_term(facet, value);
        let href = if search::has_term(q, &term) {
            q.to_string()
        } else if q.is_empty() {
            term
        } else {
            format!("{q} {term}")
        };
        search_url(&href, params, 1)
    });
    (!svg.is_empty()).then_some(svg)
}

fn hit(hit: &HitView, can_republish: bool) -> Hit<'_> {
    let text = hit.caption.as_deref().or(hit.headline.as_deref());
    let caption = text.map(|c| c.chars().take(CAPTION_CHARS).collect::<String>());
    Hit {
        more: matches!((&caption, text), (Some(short), Some(c)) if short.len() < c.len()),
        caption,
        rights: search::rights_badge(&hit.rights_status),
        lives_in: search::lives_in_label(&hit.lives_in),
        pick: can_republish && hit.preservica_ref.is_some(),
        thumb: Some(format!("/assets/{}/thumb/small", hit.asset_id)),
        hit,
    }
}
