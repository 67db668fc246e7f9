//! The HTML pages: search, asset, runs and reports, conflicts, login, not found.

use super::html::{
    self, Chrome, Nav, badge, esc, outcome_tone, page, qs, status_tone, value_html, value_text,
};
use super::search::{self, SearchOutcome, SearchParams};
use super::view::{self, AssetView, ConflictView, RunView};
use super::{PageError, Shared, WebError, parse_id, with_store};
use crate::model::{FieldKind, FieldValue};
use crate::store::Store;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::fmt::Write as _;

/// The banner and counts every page shows.
fn chrome(store: &Store) -> Result<Chrome, WebError> {
    Ok(Chrome {
        lockout: store.lockout()?,
        open_conflicts: store.open_conflict_count()?,
    })
}

// ---- search ----

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
    }
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
        if let Some(e) = &hit.license_expiry {
            let _ = write!(body, "<span>licence expiry {}</span>", esc(e));
        }
        if let Some(r) = &hit.preservica_ref {
            let _ = write!(body, "<span>ref <bdi>{}</bdi></span>", esc(r));
            if republish.is_some() {
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
    body.push_str("</ol>\n");
    if let Some(csrf) = republish {
        super::republish::render_form(body, csrf);
        body.push_str("</form>\n");
    }
    if outcome.hits.is_empty() {
        body.push_str("<p>Nothing matches. Try fewer words, or remove a refinement.</p>\n");
    }
    let page_no = params.page();
    let pages = total.div_ceil(search::PAGE_SIZE as u64).max(1) as usize;
    if pages > 1 {
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
    body.push_str("</section>\n</div>\n");
}

// ---- asset ----

/// `/assets/{id}`.
pub async fn asset(
    State(state): State<Shared>,
    Path(raw): Path<String>,
) -> Result<Html<String>, PageError> {
    let id = parse_id(&raw, "asset")?;
    let (chrome, mut asset) = with_store(&state, move |store, state| {
        let asset = view::asset_view(store, &state.mapping, id)?
            .ok_or_else(|| WebError::NotFound(format!("ferry knows no asset {id}")))?;
        Ok((chrome(store)?, asset))
    })
    .await?;
    // A preview when the app can reach the systems and either holds a picture a browser shows.
    let showable = [&asset.snapshots.photoshelter, &asset.snapshots.preservica]
        .into_iter()
        .flatten()
        .any(|s| {
            s.file_name
                .as_deref()
                .and_then(super::preview::web_image_type)
                .is_some()
        });
    if state.republisher.is_some() && showable {
        asset.preview_url = Some(format!("/assets/{id}/preview"));
    }
    Ok(page(
        &asset.label,
        Nav::None,
        &chrome,
        &render_asset(&asset),
    ))
}

fn dd(out: &mut String, label: &str, value: Option<&str>) {
    let _ = write!(out, "<dt>{}</dt><dd>", esc(label));
    match value {
        Some(v) => {
            let _ = write!(out, "<bdi>{}</bdi>", esc(v));
        }
        None => out.push_str("<span class=\"absent\">(none)</span>"),
    }
    out.push_str("</dd>");
}

fn render_asset(a: &AssetView) -> String {
    let mut b = String::with_capacity(16 * 1024);
    let _ = writeln!(b, "<h1><bdi>{}</bdi></h1>", esc(&a.label));
    b.push_str("<div class=\"asset-head\">\n");
    match &a.preview_url {
        Some(url) => {
            let _ = write!(
                b,
                "<img class=\"preview\" src=\"{}\" alt=\"preview of {}\" loading=\"lazy\">",
                esc(url),
                esc(&a.label)
            );
        }
        None => b.push_str(html::NO_PREVIEW),
    }
    b.push_str("\n<dl class=\"facts\">");
    dd(&mut b, "ferry id", Some(&a.id.to_string()));
    dd(&mut b, "PhotoShelter media", a.photoshelter_id.as_deref());
    dd(
        &mut b,
        "Preservation reference",
        a.preservica_ref.as_deref(),
    );
    dd(&mut b, "Authoritative copy", Some(&a.authoritative_copy));
    let paired = a
        .paired_by
        .as_ref()
        .map(|by| format!("by {by} on {}", a.paired_at.as_deref().unwrap_or("?")));
    dd(&mut b, "Paired", paired.as_deref());
    for (name, snap) in [
        ("PhotoShelter", &a.snapshots.photoshelter),
        ("Preservica", &a.snapshots.preservica),
    ] {
        let text = snap.as_ref().map(|s| {
            // A re-read that finds the copy unchanged keeps its row: this is when ferry first
            // saw this version.
            let mut t = format!("this version read {} (run {})", s.captured_at, s.run_id);
            if let Some(m) = &s.system_modified_at {
                let _ = write!(t, ", modified there {m}");
            }
            if let Some(f) = &s.file_name {
                let _ = write!(t, ", file {f}");
            }
            if let Some(n) = s.file_size {
                let _ = write!(t, " ({n} bytes)");
            }
            if let Some(c) = &s.checksum {
                let _ = write!(t, ", {c}");
            }
            t
        });
        dd(&mut b, &format!("In {name}"), text.as_deref());
    }
    b.push_str("</dl>\n</div>\n");

    if !a.open_conflicts.is_empty() {
        let _ = writeln!(
            b,
            "<p class=\"error\">{} {} for a person: <a href=\"/conflicts\">decide</a>.</p>",
            a.open_conflicts.len(),
            if a.open_conflicts.len() == 1 {
                "conflict on this asset waits"
            } else {
                "conflicts on this asset wait"
            }
        );
    }

    b.push_str(
        "<h2>Fields</h2>\n<table class=\"fields\"><thead><tr><th>Field</th><th>Who wins</th>\
         <th>PhotoShelter</th><th>Preservica</th><th>Agreed value</th><th>Last decision</th></tr></thead>\n<tbody>\n",
    );
    for f in &a.fields {
        let class = if f.differs { " class=\"differs\"" } else { "" };
        let _ = write!(
            b,
            "<tr{class} data-field=\"{}\"><th scope=\"row\">{}",
            esc(&f.field),
            esc(&f.field)
        );
        if let Some(k) = f.kind {
            let _ = write!(b, "<small class=\"loc\">{}</small>", k.name());
        }
        let _ = write!(b, "</th><td>{}", esc(&f.authority));
        if let Some(r) = &f.rule {
            let _ = write!(b, "<small class=\"loc\">rule {}</small>", esc(r));
        }
        b.push_str("</td>");
        for (value, location) in [
            (&f.photoshelter, &f.photoshelter_location),
            (&f.preservica, &f.preservica_location),
        ] {
            match location {
                None if f.kind.is_some() => b.push_str(
                    "<td class=\"value\"><span class=\"absent\">not kept there</span></td>",
                ),
                _ => {
                    let _ = write!(
                        b,
                        "<td class=\"value\">{}",
                        value_html(f.kind, value.as_deref())
                    );
                    if let Some(l) = location {
                        let _ = write!(b, "<small class=\"loc\">{}</small>", esc(l));
                    }
                    b.push_str("</td>");
                }
            }
        }
        match &f.baseline {
            None => {
                b.push_str("<td class=\"value\"><span class=\"absent\">never agreed</span></td>")
            }
            Some(v) => {
                let _ = write!(
                    b,
                    "<td class=\"value\">{}</td>",
                    value_html(f.kind, v.as_deref())
                );
            }
        }
        match &f.decision {
            None => b.push_str("<td><span class=\"absent\">no decision yet</span></td>"),
            Some(d) => {
                let _ = write!(
                    b,
                    "<td>{} <span class=\"reason\"><bdi>{}</bdi></span><small class=\"loc\"><a href=\"/runs/{}\">run {}</a> · {}</small></td>",
                    badge(&d.outcome.replace('_', " "), outcome_tone(&d.outcome)),
                    esc(&d.reason),
                    d.run_id,
                    d.run_id,
                    esc(&d.decided_at)
                );
            }
        }
        b.push_str("</tr>\n");
    }
    b.push_str("</tbody></table>\n");

    b.push_str("<h2>Writes</h2>\n");
    if a.writes.is_empty() {
        b.push_str("<p class=\"muted\">ferry has not written to this asset.</p>\n");
    } else {
        b.push_str(
            "<table><thead><tr><th>Run</th><th>To</th><th>Field</th><th>Value</th><th>State</th><th>When</th></tr></thead><tbody>\n",
        );
        for w in &a.writes {
            let kind = a
                .fields
                .iter()
                .find(|f| f.field == w.field)
                .and_then(|f| f.kind);
            let state = match &w.last_error {
                Some(e) => format!("{} ({e})", w.state),
                None => w.state.clone(),
            };
            let _ = writeln!(
                b,
                "<tr><td><a href=\"/runs/{}\">{}</a></td><td>{}</td><td>{}</td><td class=\"value\">{}</td><td>{}</td><td>{}</td></tr>",
                w.run_id,
                w.run_id,
                esc(&w.system),
                esc(&w.field),
                value_html(kind, w.new_value.as_deref()),
                esc(&state),
                esc(&w.updated_at)
            );
        }
        b.push_str("</tbody></table>\n");
    }

    b.push_str("<h2>Field history</h2>\n");
    if a.history.is_empty() {
        b.push_str("<p class=\"muted\">No value of this asset has been superseded yet.</p>\n");
    } else {
        b.push_str(
            "<table class=\"history\"><thead><tr><th>When</th><th>Field</th><th>In</th><th>Was</th><th>Became</th><th>Why</th></tr></thead><tbody>\n",
        );
        for h in &a.history {
            let kind = a
                .fields
                .iter()
                .find(|f| f.field == h.field)
                .and_then(|f| f.kind);
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"value\">{}</td><td class=\"value\">{}</td><td><bdi>{}</bdi></td></tr>",
                esc(&h.recorded_at),
                esc(&h.field),
                esc(&h.system),
                value_html(kind, h.old_value.as_deref()),
                value_html(kind, h.new_value.as_deref()),
                esc(&h.reason)
            );
        }
        b.push_str("</tbody></table>\n");
    }
    let _ = write!(
        b,
        "<p class=\"muted\"><a href=\"/api/assets/{}\">This asset as JSON</a></p>",
        a.id
    );
    b
}

// ---- runs ----

/// `/runs`: the latest runs.
pub async fn runs(State(state): State<Shared>) -> Result<Html<String>, PageError> {
    let (chrome, runs) = with_store(&state, |store, state| {
        let runs: Vec<RunView> = store
            .run_details(200)?
            .into_iter()
            .map(|d| view::run_view(d, &state.reports_dir))
            .collect();
        Ok((chrome(store)?, runs))
    })
    .await?;
    let mut b = String::from("<h1>Runs</h1>\n");
    if runs.is_empty() {
        b.push_str("<p class=\"muted\">No runs yet: <code>ferry sync</code> makes the first.</p>");
        return Ok(page("Runs", Nav::Runs, &chrome, &b));
    }
    b.push_str(
        "<table class=\"runs\"><thead><tr><th>Run</th><th>Kind</th><th>Started</th><th>Finished</th><th>Status</th>\
         <th>Drifted</th><th>Pushed</th><th>Conflicts</th><th>Failures</th><th>Report</th></tr></thead><tbody>\n",
    );
    for r in &runs {
        let n = |key: &str| {
            r.summary
                .as_ref()
                .and_then(|s| s.get(key))
                .and_then(|v| v.as_u64())
        };
        let num = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "–".into());
        let pushed = match (n("pushed_to_photoshelter"), n("pushed_to_preservica")) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        let mut status = badge(r.status.as_str(), status_tone(r.status.as_str()));
        if r.dry_run {
            status.push(' ');
            status.push_str(&badge("dry run", ""));
        }
        if let Some(code) = r.exit_code {
            let _ = write!(status, " <small class=\"loc\">exit {code}</small>");
        }
        if let Some(e) = &r.error {
            let _ = write!(status, "<small class=\"loc\"><bdi>{}</bdi></small>", esc(e));
        }
        let report = if r.has_report {
            format!(
                "<a href=\"/runs/{id}\">report</a> · <a href=\"/runs/{id}/json\">json</a> · <a href=\"/runs/{id}/csv\">csv</a>",
                id = r.id
            )
        } else {
            "<span class=\"absent\">none</span>".to_string()
        };
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{status}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{report}</td></tr>",
            r.id,
            esc(r.kind.as_str()),
            esc(&r.started_at),
            esc(r.finished_at.as_deref().unwrap_or("running")),
            num(n("drifted")),
            num(pushed),
            num(n("conflicts_queued")),
            num(n("failures")),
        );
    }
    b.push_str("</tbody></table>\n");
    Ok(page("Runs", Nav::Runs, &chrome, &b))
}

/// The report file of a run the store knows, in `format` (`html`, `json`, `csv`). Only
/// `run-<id>.<format>` directly inside the reports directory is ever read.
async fn report_file(state: &Shared, raw: &str, format: &str) -> Result<Response, PageError> {
    let content_type = match format {
        "html" => "text/html; charset=utf-8",
        "json" => "application/json",
        "csv" => "text/csv; charset=utf-8",
        _ => {
            return Err(WebError::NotFound(format!("no report form '{format}'")).into());
        }
    };
    let id = parse_id(raw, "run")?;
    let format = format.to_string();
    let bytes = with_store(state, move |store, state| {
        if store.run(id)?.is_none() {
            return Err(WebError::NotFound(format!("ferry knows no run {id}")));
        }
        let missing = || {
            WebError::NotFound(format!(
                "run {id} has no {format} report in the reports directory"
            ))
        };
        let dir = state.reports_dir.canonicalize().map_err(|_| missing())?;
        let path = dir
            .join(format!("run-{id}.{format}"))
            .canonicalize()
            .map_err(|_| missing())?;
        // A symbolic link out of the directory is not followed.
        if path.parent() != Some(dir.as_path()) || !path.is_file() {
            return Err(missing());
        }
        std::fs::read(&path).map_err(|_| missing())
    })
    .await?;
    let mut resp = bytes.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(resp)
}

/// `/runs/{id}`: the run's drift report as the run wrote it.
pub async fn run_report(
    State(state): State<Shared>,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    report_file(&state, &raw, "html").await
}

/// `/runs/{id}/json` and `/runs/{id}/csv`.
pub async fn run_report_data(
    State(state): State<Shared>,
    Path((raw, format)): Path<(String, String)>,
) -> Result<Response, PageError> {
    if format == "html" {
        return Err(WebError::NotFound("the HTML report is at /runs/{id}".into()).into());
    }
    report_file(&state, &raw, &format).await
}

// ---- conflicts ----

#[derive(Debug, Deserialize)]
pub struct ConflictsParams {
    resolved: Option<i64>,
}

/// `/conflicts`: the open conflicts, each with forms to decide it, and the latest decisions.
pub async fn conflicts(
    State(state): State<Shared>,
    Query(params): Query<ConflictsParams>,
) -> Result<Html<String>, PageError> {
    let (chrome, open, decided) = with_store(&state, |store, state| {
        let open = view::open_conflicts(store, &state.mapping)?;
        let decided = store.decided_conflicts(20)?;
        Ok((chrome(store)?, open, decided))
    })
    .await?;
    let csrf = state.auth.csrf_token();
    let mut b = String::from("<h1>Conflicts</h1>\n");
    if let Some(id) = params.resolved
        && let Some(d) = decided.iter().find(|d| d.id == id)
    {
        let _ = writeln!(
            b,
            "<p class=\"notice\" role=\"status\" id=\"resolved\">Conflict #{} ({}) decided: {}. The next sync writes it to both systems.</p>",
            d.id,
            esc(&d.field),
            esc(&resolution_words(
                &d.resolution,
                d.resolution_value.as_deref()
            ))
        );
    }
    if open.is_empty() {
        b.push_str("<p class=\"muted\" id=\"none-open\">No conflicts wait for a person.</p>\n");
    } else {
        let _ = writeln!(
            b,
            "<p>{} {} for a person. Choose a value: the next sync writes it to both systems.</p>",
            open.len(),
            if open.len() == 1 {
                "conflict waits"
            } else {
                "conflicts wait"
            }
        );
    }
    for c in &open {
        render_conflict(&mut b, c, csrf);
    }
    if !decided.is_empty() {
        b.push_str(
            "<h2>Recently decided</h2>\n<table><thead><tr><th>#</th><th>Asset</th><th>Field</th><th>Decision</th><th>When</th><th>Carried out</th></tr></thead><tbody>\n",
        );
        for d in &decided {
            let _ = writeln!(
                b,
                "<tr id=\"decided-{}\"><td>{}</td><td><a href=\"/assets/{}\">{}</a></td><td>{}</td><td><bdi>{}</bdi></td><td>{}</td><td>{}</td></tr>",
                d.id,
                d.id,
                d.asset_id,
                d.asset_id,
                esc(&d.field),
                esc(&resolution_words(
                    &d.resolution,
                    d.resolution_value.as_deref()
                )),
                esc(&d.resolved_at),
                esc(d
                    .carried_out_by
                    .as_deref()
                    .unwrap_or("waiting for the next sync"))
            );
        }
        b.push_str("</tbody></table>\n");
    }
    Ok(page("Conflicts", Nav::Conflicts, &chrome, &b))
}

fn resolution_words(resolution: &str, value: Option<&str>) -> String {
    match resolution {
        "photoshelter" => "take PhotoShelter's value".to_string(),
        "preservica" => "take Preservica's value".to_string(),
        _ => match value {
            Some(v) => format!("use “{v}”"),
            None => "no value".to_string(),
        },
    }
}

fn render_conflict(b: &mut String, c: &ConflictView, csrf: &str) {
    let _ = write!(
        b,
        "<section class=\"conflict\" id=\"c{id}\" data-conflict=\"{id}\">\n<h3>#{id} · <a href=\"/assets/{asset}\"><bdi>{label}</bdi></a> · {field}</h3>\n",
        id = c.id,
        asset = c.asset_id,
        label = esc(&c.label),
        field = esc(&c.field),
    );
    let _ = writeln!(
        b,
        "<p class=\"muted\"><bdi>{}</bdi>{}</p>",
        esc(&c.reason),
        c.rule
            .as_ref()
            .map(|r| format!(" · rule {}", esc(r)))
            .unwrap_or_default()
    );
    let _ = writeln!(
        b,
        "<div class=\"sides\"><div><strong>PhotoShelter</strong><div class=\"side\">{}</div></div>\
         <div><strong>Preservica</strong><div class=\"side\">{}</div></div></div>",
        value_html(c.kind, c.photoshelter_value.as_deref()),
        value_html(c.kind, c.preservica_value.as_deref())
    );
    let action = format!("/conflicts/{}", c.id);
    let hidden = format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(csrf)
    );
    // Two forms: pressing Enter in the typed value must never submit "take PhotoShelter's".
    let _ = writeln!(
        b,
        "<form method=\"post\" action=\"{action}\" class=\"take\">{hidden}\
         <button type=\"submit\" name=\"take\" value=\"photoshelter\">Take PhotoShelter's</button>\
         <button type=\"submit\" name=\"take\" value=\"preservica\">Take Preservica's</button></form>"
    );
    let input = match c.kind {
        Some(FieldKind::Enum) if !c.values.is_empty() => {
            let mut s = String::from("<select name=\"value\" aria-label=\"value\">");
            for v in &c.values {
                let _ = write!(s, "<option>{}</option>", esc(v));
            }
            s.push_str("</select>");
            s
        }
        Some(FieldKind::Bool) => {
            "<select name=\"value\" aria-label=\"value\"><option>true</option><option>false</option></select>".to_string()
        }
        kind => {
            let (placeholder, prefill) = match kind {
                Some(FieldKind::Date) => ("YYYY-MM-DD", None),
                Some(FieldKind::Set) => (
                    "comma, separated, values",
                    value_text(kind, c.photoshelter_value.as_deref()),
                ),
                _ => ("type the value both systems should hold", None),
            };
            format!(
                "<input type=\"text\" name=\"value\" aria-label=\"value\" placeholder=\"{}\" value=\"{}\" required>",
                esc(placeholder),
                esc(prefill.as_deref().unwrap_or(""))
            )
        }
    };
    let _ = writeln!(
        b,
        "<form method=\"post\" action=\"{action}\" class=\"typed\">{hidden}\
         <input type=\"hidden\" name=\"take\" value=\"value\">{input}\
         <button type=\"submit\">Use this value</button></form>\n</section>"
    );
}

#[derive(Debug, Deserialize)]
pub struct ResolveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    take: String,
    value: Option<String>,
}

/// `POST /conflicts/{id}`: a person decides a conflict. The form token must be this process's
/// (the Origin check ran before, in the guard).
pub async fn resolve_conflict(
    State(state): State<Shared>,
    Path(raw): Path<String>,
    Form(form): Form<ResolveForm>,
) -> Result<Response, PageError> {
    if !state.auth.csrf_ok(&form.csrf) {
        return Err(WebError::Forbidden(
            "the form is out of date or was not sent by this app: reload the page and try again"
                .into(),
        )
        .into());
    }
    let id = parse_id(&raw, "conflict")?;
    let take = form.take.clone();
    let typed = form.value.clone();
    with_store(&state, move |store, state| {
        let item = store
            .review_items(true)?
            .into_iter()
            .find(|i| i.id == id)
            .ok_or_else(|| {
                WebError::Conflict(format!(
                    "conflict #{id} is not open: someone decided it already, or it does not exist"
                ))
            })?;
        let (how, value) = match take.as_str() {
            "photoshelter" | "preservica" => (take.clone(), None),
            "value" => {
                let raw = typed.unwrap_or_default();
                if raw.trim().is_empty() {
                    return Err(WebError::BadRequest(
                        "type a value, or take one system's value".into(),
                    ));
                }
                let spec = state.mapping.field(&item.field).ok_or_else(|| {
                    WebError::BadRequest(format!(
                        "the mapping no longer has field {}; decide it with `ferry conflicts resolve`",
                        item.field
                    ))
                })?;
                let value = FieldValue::parse(spec.kind, &raw)
                    .map_err(|e| WebError::BadRequest(format!("{}: {e}", item.field)))?
                    .ok_or_else(|| {
                        WebError::BadRequest("type a value, or take one system's value".into())
                    })?;
                if spec.kind == FieldKind::Enum
                    && !spec.values.is_empty()
                    && !spec.values.contains(&value.to_canonical_string())
                {
                    return Err(WebError::BadRequest(format!(
                        "{} takes one of: {}",
                        item.field,
                        spec.values.join(", ")
                    )));
                }
                ("value".to_string(), Some(value.to_canonical_string()))
            }
            _ => {
                return Err(WebError::BadRequest(
                    "choose PhotoShelter's value, Preservica's, or type one".into(),
                ));
            }
        };
        // Never raced with a run that is pushing: refused while one holds the lock.
        let recorded = crate::sync::lock::while_no_run(store, chrono::Utc::now(), |s| {
            s.resolve_review(id, &how, value.as_deref(), chrono::Utc::now())
        })
        .map_err(|e| match e {
            crate::sync::lock::DecisionError::Store(e) => WebError::from(e),
            running => WebError::Conflict(running.to_string()),
        })?;
        if !recorded {
            return Err(WebError::Conflict(format!(
                "conflict #{id} was decided by someone else meanwhile"
            )));
        }
        tracing::info!(conflict = id, field = %item.field, take = %how, "conflict decided in the web app");
        Ok(())
    })
    .await?;
    Ok(Redirect::to(&format!("/conflicts?resolved={id}")).into_response())
}

// ---- login and fallbacks ----

#[derive(Debug, Deserialize)]
pub struct LoginParams {
    token: Option<String>,
}

/// `/login?token=…`: sets the session cookie and goes to search. Without a token configured
/// there is nothing to log in to.
pub async fn login(State(state): State<Shared>, Query(params): Query<LoginParams>) -> Response {
    let auth = &state.auth;
    if !auth.token_required() {
        return Redirect::to("/").into_response();
    }
    match params.token {
        None => html::login_page(false).into_response(),
        Some(t) if auth.token_ok(&t) => {
            let mut resp = Redirect::to("/").into_response();
            if let Some(cookie) = auth.session_cookie()
                && let Ok(v) = HeaderValue::from_str(&cookie)
            {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
        Some(_) => (StatusCode::UNAUTHORIZED, html::login_page(true)).into_response(),
    }
}

/// Any other path.
pub async fn not_found() -> PageError {
    PageError(WebError::NotFound(
        "there is no page here: try the search".into(),
    ))
}
