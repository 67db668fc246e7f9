//! v4 search (`/media/search` and `/library/search`): the parameters as PhotoShelter reads
//! them, the quirks a test may switch on, and the hits in the order asked for.

use super::*;

/// A search's parameters, checked.
struct Query {
    modify_start: Option<DateTime<Utc>>,
    modify_end: Option<DateTime<Utc>>,
    create_start: Option<DateTime<Utc>>,
    create_end: Option<DateTime<Utc>>,
    terms: Vec<String>,
    all_terms: bool,
    kinds: Option<Vec<MediaKind>>,
    sort: String,
    desc: bool,
}

pub(super) async fn search(emu: S, req: Req, media_path: bool) -> R {
    let (ctx, scope, p) = authed(&emu, &req)?;
    let q = parse(&emu, &req, media_path)?;
    let items: Vec<Value> = {
        let store = lock(&emu.store);
        let mut galleries: Option<Vec<String>> = csv(&req, wire::GALLERIES);
        if let Some(cols) = csv(&req, wire::COLLECTIONS) {
            let mut g = galleries.unwrap_or_default();
            for c in cols {
                g.extend(store.galleries_under(&c));
            }
            galleries = Some(g);
        }
        let in_galleries: Option<std::collections::HashSet<&str>> = galleries.as_ref().map(|gs| {
            gs.iter()
                .filter_map(|g| store.galleries.get(g))
                .flat_map(|g| g.media.iter().map(|(m, _)| m.as_str()))
                .collect()
        });
        let user = req.param_nonblank("user_id");
        let mut hits: Vec<(usize, &Media)> = store
            .media
            .values()
            .filter(|m| m.org == scope)
            .filter(|m| user.is_none_or(|u| u == ctx.user_id && m.owner == u))
            .filter(|m| {
                in_galleries
                    .as_ref()
                    .is_none_or(|s| s.contains(m.id.as_str()))
            })
            .filter(|m| q.kinds.as_ref().is_none_or(|k| k.contains(&m.kind)))
            .filter(|m| q.modify_start.is_none_or(|t| m.modified_at >= t))
            .filter(|m| q.modify_end.is_none_or(|t| m.modified_at <= t))
            .filter(|m| q.create_start.is_none_or(|t| m.created_at >= t))
            .filter(|m| q.create_end.is_none_or(|t| m.created_at <= t))
            .filter_map(|m| q.relevance(m).map(|n| (n, m)))
            .collect();
        sort_hits(&mut hits, &q.sort);
        if q.desc {
            hits.reverse();
        }
        hits.into_iter().map(|(_, m)| hit(m)).collect()
    };
    let path = if media_path {
        wire::v4::MEDIA_SEARCH
    } else {
        wire::v4::SEARCH
    };
    Ok(list(&emu, path, items, &p))
}

/// Reads and checks a search's parameters as the path (`media_path`) and the quirks have it.
fn parse(emu: &S, req: &Req, media_path: bool) -> Result<Query, ApiErr> {
    if media_path
        && !SEARCH_REQUIRED
            .iter()
            .any(|k| req.param_nonblank(k).is_some())
    {
        return Err(ApiErr::bad_request(
            API,
            format!(
                "media search needs at least one of: {}",
                SEARCH_REQUIRED.join(", ")
            ),
        ));
    }
    let quirks = emu.quirks();
    let (modify_start, modify_end) = match quirks.modify_filter {
        ModifyFilter::Honoured => (
            time_param(req, wire::MODIFY_START)?,
            time_param(req, wire::MODIFY_END)?,
        ),
        ModifyFilter::Ignored => (None, None),
        ModifyFilter::Rejected => {
            for k in [wire::MODIFY_START, wire::MODIFY_END] {
                if req.param(k).is_some() {
                    return Err(ApiErr::bad_request(API, format!("Unknown parameter: {k}")));
                }
            }
            (None, None)
        }
    };
    let create_start = time_param(req, "create_start")?;
    let create_end = time_param(req, "create_end")?;
    let terms: Vec<String> = req
        .param_nonblank(wire::TERMS)
        .map(|t| {
            t.split(|c: char| c.is_whitespace() || c == ',')
                .filter(|s| !s.is_empty())
                .map(str::to_lowercase)
                .collect()
        })
        .unwrap_or_default();
    let all_terms = req
        .param("match_all_terms")
        .is_some_and(|v| wire::parse_bool_text(v).ok().flatten() == Some(true));
    let kinds: Option<Vec<MediaKind>> =
        csv(req, "media_type").map(|v| v.iter().filter_map(|t| MediaKind::from_type(t)).collect());
    let sort = req.param_nonblank(wire::SORT_BY).unwrap_or("relevance");
    let accepted: &[&str] = if media_path {
        &["relevance", "date", "file_name", "upload_time"]
    } else {
        &[
            "relevance",
            "date",
            "file_name",
            "upload_time",
            "creation_time",
            "modification_time",
        ]
    };
    if !accepted.contains(&sort) {
        return Err(ApiErr::bad_request(
            API,
            format!("sort_by \"{sort}\" is not supported"),
        ));
    }
    let desc = descending(req)?;
    Ok(Query {
        modify_start,
        modify_end,
        create_start,
        create_end,
        terms,
        all_terms,
        kinds,
        sort: sort.to_string(),
        desc,
    })
}

impl Query {
    /// How many terms a media matches, if it matches (every term with `match_all_terms`).
    fn relevance(&self, m: &Media) -> Option<usize> {
        if self.terms.is_empty() {
            return Some(0);
        }
        let hay = format!(
            "{} {}",
            m.file_name.to_lowercase(),
            m.iptc
                .values()
                .map(|v| v.to_lowercase())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let n = self
            .terms
            .iter()
            .filter(|t| hay.contains(t.as_str()))
            .count();
        let ok = if self.all_terms {
            n == self.terms.len()
        } else {
            n > 0
        };
        ok.then_some(n)
    }
}

fn sort_hits(hits: &mut [(usize, &Media)], sort: &str) {
    match sort {
        "relevance" => hits.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id))),
        "date" => hits.sort_by_key(|(_, m)| (m.iptc.get("date_created").cloned(), m.id.clone())),
        "file_name" => hits.sort_by_key(|(_, m)| (m.file_name.clone(), m.id.clone())),
        "modification_time" => hits.sort_by_key(|(_, m)| (m.modified_at, m.id.clone())),
        _ => hits.sort_by_key(|(_, m)| (m.created_at, m.id.clone())),
    }
}

fn hit(m: &Media) -> Value {
    json!({
        "id": m.id,
        "type": "media",
        "attributes": {
            "media_type": m.kind.type_name(),
            "file_name": m.file_name,
            "file_size": m.bytes.len(),
            "created_at": wire::format_timestamp(m.created_at),
            "modified_at": wire::format_timestamp(m.modified_at),
        },
    })
}
