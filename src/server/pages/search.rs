//! The search page: the form, the facets, the results and the pager.

use super::chrome;
use crate::server::html::{Nav, badge, esc, page, qs};
use crate::server::search::{self, HitView, SearchOutcome, SearchParams};
use crate::server::{PageError, Shared, with_store};
use axum::extract::{Query, State};
use axum::response::Html;
use std::fmt::Write as _;

/// `/`: the search page. The query, page and sort live in the URL so a search can be shared.
pub async fn search(
    State(state): State<Shared>,
    Query(params): Query<SearchParams>,
) -> Result<Html<String>, PageError> {
    let chrome = with_store(&state, |store, _| chrome(store)).await?;
    let outcome = search::run(&state, &params).await;
    let mut body = String::with_capacity(16 * 1024);
    let q = params.q.clone().unwrap_or_default();
    let _ = write!(
        body,
        "<h1>Search the archive and the library</h1>\n\
         <form class=\"search\" method=\"get\" action=\"/\" role=\"search\">\
         <input type=\"search\" name=\"q\" value=\"{}\" placeholder=\"harbour 1962 regatta, creator:mary, year:1962, rights:ok\" aria-label=\"search\" autofocus>\
         <select name=\"sort\" aria-label=\"sort\">",
        esc(&q)
    );
    for (value, label) in [
        ("relevance", "Best match"),
        ("date_desc", "Newest first"),
        ("date_asc", "Oldest first"),
    ] {
        let selected = if params.sort_name() == value {
            " selected"
        } else {
            ""
        };
        let _ = write!(body, "<option value=\"{value}\"{selected}>{label}</option>");
    }
    body.push_str("</select><button class=\"primary\" type=\"submit\">Search</button></form>\n");
    match outcome {
        Err(e) => {
            let _ = write!(body, "<p class=\"error\">{}</p>", esc(e.message()));
        }
        Ok(outcome) => {
            let csrf = state
                .republisher
                .as_ref()
                .map(|_| state.auth.csrf_token().to_string());
            render_results(&mut body, &params, &outcome, csrf.as_deref())
        }
    }
    Ok(page(
        if q.is_empty() { "Search" } else { &q },
        Nav::Search,
        &chrome,
        &body,
    ))
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
fn render_results(
    body: &mut String,
    params: &SearchParams,
    outcome: &SearchOutcome,
    csrf: Option<&str>,
) {
    let q = params.q.as_deref().unwrap_or("").trim();
    body.push_str("<div class=\"layout\">\n<aside class=\"facets\" aria-label=\"refine\">\n");
    render_facets(body, params, outcome, q);
    body.push_str("</aside>\n<section aria-label=\"results\">\n");
    let total = outcome.total;
    let shown_from = if total == 0 { 0 } else { outcome.offset + 1 };
    let shown_to = outcome.offset + outcome.hits.len();
    let _ = writeln!(
        body,
        "<p class=\"muted\" id=\"count\">{total} {} · showing {shown_from}–{shown_to}</p>",
        if total == 1 { "asset" } else { "assets" }
    );
    let republish = csrf.filter(|_| outcome.hits.iter().any(|h| h.preservica_ref.is_some()));
    if republish.is_some() {
        body.push_str("<form method=\"post\" action=\"/republish\" class=\"republish\">\n");
    }
    body.push_str("<ol class=\"hits\">\n");
    for hit in &outcome.hits {
        render_hit(body, hit, republish.is_some());
    }
    body.push_str("</ol>\n");
    if let Some(csrf) = republish {
        crate::server::republish::render_form(body, csrf);
        body.push_str("</form>\n");
    }
    if outcome.hits.is_empty() {
        body.push_str("<p>Nothing matches. Try fewer words, or remove a refinement.</p>\n");
    }
    render_pager(body, params, total, q);
    body.push_str("</section>\n</div>\n");
}

/// Each facet's values with counts; a value links to the search with its term added, or
/// removed when the search has it already.
fn render_facets(body: &mut String, params: &SearchParams, outcome: &SearchOutcome, q: &str) {
    if outcome.facets.iter().all(|(_, values)| values.is_empty()) {
        body.push_str("<p class=\"muted\">No facets for this search.</p>\n");
    }
    for (facet, values) in &outcome.facets {
        if values.is_empty() {
            continue;
        }
        let _ = writeln!(
            body,
            "<h3>{}</h3>\n<ul data-facet=\"{}\">",
            esc(&search::facet_label(facet)),
            esc(facet)
        );
        for (value, count) in values {
            let term = search::facet_term(facet, value);
            let active = search::has_term(q, &term);
            let (href, class) = if active {
                (search::without_term(q, &term), " class=\"active\"")
            } else if q.is_empty() {
                (term.clone(), "")
            } else {
                (format!("{q} {term}"), "")
            };
            let _ = writeln!(
                body,
                "<li{class}><a href=\"{}\" data-term=\"{}\" title=\"{}\"><bdi>{}</bdi></a><span class=\"n\">{count}</span></li>",
                esc(&search_url(&href, params, 1)),
                esc(&term),
                esc(&if active {
                    format!("remove {term}")
                } else {
                    format!("add {term}")
                }),
                esc(&search::facet_value_label(facet, value)),
            );
        }
        body.push_str("</ul>\n");
        // H3 charts: decade and year get a histogram whose bars refine like the list's links.
        body.push_str(&crate::server::figures::facet_histogram(
            facet,
            values,
            |value| {
                let term = search::facet_term(facet, value);
                let href = if search::has_term(q, &term) {
                    q.to_string()
                } else if q.is_empty() {
                    term
                } else {
                    format!("{q} {term}")
                };
                search_url(&href, params, 1)
            },
        ));
    }
}

/// One hit; `pick` adds a republish tick box to an archive asset.
fn render_hit(body: &mut String, hit: &HitView, pick: bool) {
    let _ = write!(
        body,
        "<li class=\"hit\"><div class=\"title\"><a href=\"/assets/{}\"><bdi>{}</bdi></a></div>\n<div class=\"meta\">",
        hit.asset_id,
        esc(&hit.title)
    );
    if let Some(c) = &hit.creator {
        let _ = write!(body, "<span>by <bdi>{}</bdi></span>", esc(c));
    }
    if let Some(d) = &hit.date_created {
        let _ = write!(body, "<span>{}</span>", esc(d));
    }
    let (rights, tone) = search::rights_badge(&hit.rights_status);
    body.push_str(&badge(rights, tone));
    body.push_str(&badge(search::lives_in_label(&hit.lives_in), ""));
    // H3: the release code in words, the code on hover.
    if let (Some(code), Some(m)) = (&hit.model_release, &hit.model_release_meaning) {
        let _ = write!(
            body,
            "<span class=\"meaning\" title=\"{}\">{}</span>",
            esc(code),
            esc(m)
        );
    }
    if let Some(e) = &hit.license_expiry {
        let _ = write!(body, "<span>licence expiry {}</span>", esc(e));
    }
    if let Some(r) = &hit.preservica_ref {
        let _ = write!(body, "<span>ref <bdi>{}</bdi></span>", esc(r));
        if pick {
            let _ = write!(
                body,
                "<label class=\"pick\"><input type=\"checkbox\" name=\"ref\" value=\"{}\"> republish</label>",
                esc(r)
            );
        }
    }
    body.push_str("</div>\n");
    if let Some(c) = hit.caption.as_deref().or(hit.headline.as_deref()) {
        let short: String = c.chars().take(240).collect();
        let more = if short.len() < c.len() { "…" } else { "" };
        let _ = write!(
            body,
            "<p class=\"caption\"><bdi>{}</bdi>{more}</p>",
            esc(&short)
        );
    }
    body.push_str("</li>\n");
}

/// Previous and next links when the results span more than one page.
fn render_pager(body: &mut String, params: &SearchParams, total: u64, q: &str) {
    let page_no = params.page();
    let pages = total.div_ceil(search::PAGE_SIZE as u64).max(1) as usize;
    if pages <= 1 {
        return;
    }
    body.push_str("<nav class=\"pager\" aria-label=\"pages\">");
    if page_no > 1 {
        let _ = write!(
            body,
            "<a rel=\"prev\" href=\"{}\">← Previous</a>",
            esc(&search_url(q, params, page_no - 1))
        );
    }
    let _ = write!(body, "<span>page {page_no} of {pages}</span>");
    if page_no < pages {
        let _ = write!(
            body,
            "<a rel=\"next\" href=\"{}\">Next →</a>",
            esc(&search_url(q, params, page_no + 1))
        );
    }
    body.push_str("</nav>\n");
}
