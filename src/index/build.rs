//! From the store's snapshots to index documents: which value of a paired asset is indexed,
//! the release state behind the rights status, facets and sort keys.

use super::query::{day_time, decade_label};
use super::schema::{Fields, RIGHTS_NONE, RIGHTS_RELEASED, RIGHTS_RESTRICTED};
use crate::mapping::{FieldSpec, Mapping};
use crate::model::{AccessKey, FieldKind, FieldValue, System};
use crate::rules::{self, Contest, Verdict};
use crate::store::{AssetRow, Snapshot};
use chrono::{Datelike, NaiveDate};
use std::collections::BTreeSet;
use tantivy::TantivyDocument;
use tantivy::schema::Field;

/// Model release values that clear an asset for use (PLUS: unlimited, not applicable).
const RELEASED: &[&str] = &["MR-UMR", "MR-NAP"];
/// Usage-terms phrases (lower case) that mark an asset as restricted.
const RESTRICTING_TERMS: &[&str] = &["restricted", "editorial only", "editorial use only"];

/// Which system's value the index took for a field of a paired asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Agreed,
    PhotoShelter,
    Preservica,
    Merged,
}

/// The values of one asset as the index sees them.
struct Picker<'a> {
    mapping: &'a Mapping,
    photoshelter: Option<&'a Snapshot>,
    preservica: Option<&'a Snapshot>,
    sources: BTreeSet<&'static str>,
}

impl Picker<'_> {
    fn read(&self, snap: Option<&Snapshot>, field: &str, kind: FieldKind) -> Option<FieldValue> {
        let raw = snap?.fields.get(field)?;
        FieldValue::parse(kind, raw).ok().flatten()
    }

    /// The value to index for `field`: the two systems' value when they agree or only one has
    /// one; when they differ, the one the mapping's rule favours (see the module docs of
    /// [`crate::index`]).
    fn pick(&mut self, field: &str) -> Option<FieldValue> {
        let spec = self.mapping.field(field);
        let kind = spec.map_or(FieldKind::Text, |s| s.kind);
        let a = self.read(self.photoshelter, field, kind);
        let b = self.read(self.preservica, field, kind);
        let paired = self.photoshelter.is_some() && self.preservica.is_some();
        let (value, source) = match (a, b) {
            (None, None) => return None,
            (Some(a), None) => (a, Source::PhotoShelter),
            (None, Some(b)) => (b, Source::Preservica),
            (Some(a), Some(b)) if a == b => (a, Source::Agreed),
            (Some(a), Some(b)) => Self::favoured(spec, a, b),
        };
        if paired {
            match source {
                Source::PhotoShelter => {
                    self.sources.insert("photoshelter");
                }
                Source::Preservica => {
                    self.sources.insert("preservica");
                }
                Source::Agreed | Source::Merged => {}
            }
        }
        Some(value)
    }

    /// The value shown where the two systems differ: the one [`rules::decide`] favours, and
    /// PhotoShelter's where the rule leaves it to a person (or the field is not mapped).
    fn favoured(spec: Option<&FieldSpec>, a: FieldValue, b: FieldValue) -> (FieldValue, Source) {
        let Some(spec) = spec else {
            return (a, Source::PhotoShelter);
        };
        let contest = Contest {
            photoshelter: Some(&a),
            preservica: Some(&b),
            photoshelter_modified: None,
            preservica_modified: None,
        };
        match rules::decide(spec, &contest) {
            Verdict::Take(System::Preservica, _) => (b, Source::Preservica),
            Verdict::Merge(Some(merged), _) => (merged, Source::Merged),
            Verdict::Take(System::PhotoShelter, _)
            | Verdict::Merge(None, _)
            | Verdict::Undecided(_) => (a, Source::PhotoShelter),
        }
    }

    fn text(&mut self, field: &str) -> Option<String> {
        self.pick(field).map(|v| v.to_string())
    }

    fn members(&mut self, field: &str) -> Vec<String> {
        self.pick(field).map(|v| v.members()).unwrap_or_default()
    }

    fn day(&mut self, field: &str) -> Option<(NaiveDate, String)> {
        match self.pick(field)? {
            FieldValue::Date(d) => Some((d.day(), d.to_string())),
            _ => None,
        }
    }
}

/// Where an asset lives, from its ids.
pub fn lives_in(row: &AssetRow) -> &'static str {
    match (&row.photoshelter_id, &row.preservica_ref) {
        (Some(_), Some(_)) => "both",
        (None, Some(_)) => "preservica",
        _ => "photoshelter",
    }
}

/// The sort key of a day and asset, sorted descending: later (or, `ascending`, earlier) days
/// first, then lower asset ids; undated assets last, by asset id.
pub fn sort_key(day: Option<NaiveDate>, asset: i64, ascending: bool) -> i64 {
    let id_part = u32::MAX as i64 - asset.clamp(0, u32::MAX as i64);
    let Some(day) = day else {
        // Undated: below every dated key, still ordered by asset id.
        return i64::MIN + id_part;
    };
    let days = i64::from(day.num_days_from_ce());
    let days = if ascending { -days } else { days };
    days.saturating_mul(1 << 32).saturating_add(id_part)
}

/// An index document being filled; `all` collects every value free words search.
struct Doc<'f> {
    f: &'f Fields,
    doc: TantivyDocument,
    all: Vec<String>,
}

impl Doc<'_> {
    /// Adds a value to `field` and to the free-word field.
    fn add_text(&mut self, field: Field, value: &str) {
        self.doc.add_text(field, value);
        self.all.push(value.to_string());
    }

    /// Adds a value to "the rest", scored as one field for free words, and to `all`.
    fn add_rest(&mut self, value: &str) {
        self.add_text(self.f.rest, value);
    }
}

/// The index document of one asset.
pub fn document(
    fields: &Fields,
    mapping: &Mapping,
    row: &AssetRow,
    photoshelter: Option<&Snapshot>,
    preservica: Option<&Snapshot>,
    today: NaiveDate,
) -> TantivyDocument {
    let mut p = Picker {
        mapping,
        photoshelter,
        preservica,
        sources: BTreeSet::new(),
    };
    let mut d = Doc {
        f: fields,
        doc: TantivyDocument::new(),
        all: Vec::new(),
    };
    add_ids(&mut d, row);
    if let Some(name) = [photoshelter, preservica]
        .into_iter()
        .flatten()
        .find_map(|s| s.file_name.as_deref().filter(|n| !n.trim().is_empty()))
    {
        d.doc.add_text(fields.file_name, name);
    }
    add_descriptions(&mut d, &mut p);
    add_location(&mut d, &mut p);
    add_dates(&mut d, &mut p, row.id);
    add_rights(&mut d, &mut p);
    add_rest(&mut d, &mut p, row);
    let Doc { f, mut doc, all } = d;
    for value in &all {
        doc.add_text(f.all, value);
    }
    let place = lives_in(row);
    doc.add_text(f.lives_in, place);
    doc.add_text(f.lives_in_facet, place);
    doc.add_text(f.authoritative, authoritative(place, &p.sources));
    doc.add_text(f.indexed_on, today.format("%Y-%m-%d").to_string());
    doc
}

fn add_ids(d: &mut Doc<'_>, row: &AssetRow) {
    let f = d.f;
    d.doc.add_i64(f.asset_id, row.id);
    if let Some(id) = &row.photoshelter_id {
        d.doc.add_text(f.photoshelter_id, id);
    }
    if let Some(r) = &row.preservica_ref {
        d.doc.add_text(f.preservica_ref, r);
    }
}

/// Titles, captions, credits, creator and keywords.
fn add_descriptions(d: &mut Doc<'_>, p: &mut Picker<'_>) {
    let f = d.f;
    for (name, field) in [
        ("title", f.title),
        ("headline", f.headline),
        ("caption", f.caption),
        ("credit", f.credit),
        ("campaign", f.campaign),
    ] {
        if let Some(v) = p.text(name) {
            d.add_text(field, &v);
            // Free text scores credit, campaign, creator and location as one field, "the
            // rest"; their own fields serve `credit:`, `campaign:`, … filters.
            if field == f.credit || field == f.campaign {
                d.doc.add_text(f.rest, &v);
            }
        }
    }
    if let Some(creator) = p.text("creator") {
        d.add_text(f.creator, &creator);
        d.doc.add_text(f.rest, &creator);
        d.doc.add_text(f.creator_facet, &creator);
    }
    for keyword in p.members("keywords") {
        d.add_text(f.keywords, &keyword);
        d.doc.add_text(f.keyword_facet, &keyword);
    }
}

/// City, state and country are searched; the facet and the hit show "city, country".
fn add_location(d: &mut Doc<'_>, p: &mut Picker<'_>) {
    let f = d.f;
    let city = p.text("city");
    let state = p.text("state");
    let country = p.text("country");
    for part in [&city, &state, &country].into_iter().flatten() {
        d.add_text(f.location, part);
        d.doc.add_text(f.rest, part);
    }
    let shown: Vec<&str> = [&city, &country]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let shown = if shown.is_empty() {
        state.clone()
    } else {
        Some(shown.join(", "))
    };
    if let Some(place) = shown {
        d.doc.add_text(f.location_shown, &place);
        d.doc.add_text(f.location_facet, &place);
    }
}

/// Date created (with its facets and sort keys) and licence expiry.
fn add_dates(d: &mut Doc<'_>, p: &mut Picker<'_>, asset: i64) {
    let f = d.f;
    let created = p.day("date_created");
    if let Some((day, shown)) = &created {
        d.doc.add_date(f.date_created, day_time(*day));
        d.doc.add_text(f.date_created_shown, shown);
        d.doc.add_text(f.decade_facet, decade_label(*day));
        d.doc.add_text(f.year_facet, day.year().to_string());
        d.add_rest(&day.year().to_string());
    }
    let created_day = created.map(|(d, _)| d);
    d.doc
        .add_i64(f.sort_date_desc, sort_key(created_day, asset, false));
    d.doc
        .add_i64(f.sort_date_asc, sort_key(created_day, asset, true));
    if let Some((day, shown)) = p.day("license_expiry") {
        d.doc.add_date(f.license_expiry, day_time(day));
        d.doc.add_text(f.license_expiry_shown, &shown);
    }
}

/// The release state that, with the expiry date and the day of the search, gives the rights
/// status.
fn add_rights(d: &mut Doc<'_>, p: &mut Picker<'_>) {
    let f = d.f;
    let release = p.text("model_release");
    let usage = p.text("usage_terms");
    let restricted = release.as_deref() == Some("MR-NON")
        || usage.as_deref().is_some_and(|u| {
            let u = u.to_lowercase();
            RESTRICTING_TERMS.iter().any(|t| u.contains(t))
        });
    let base = if restricted {
        RIGHTS_RESTRICTED
    } else if release.as_deref().is_some_and(|r| RELEASED.contains(&r)) {
        RIGHTS_RELEASED
    } else {
        RIGHTS_NONE
    };
    d.doc.add_u64(f.rights_base, base);
    if let Some(r) = &release {
        d.doc.add_text(f.model_release, r);
    }
}

/// Everything else a word might find: rights text, references, where the asset is filed, its
/// archive status and both ids.
fn add_rest(d: &mut Doc<'_>, p: &mut Picker<'_>, row: &AssetRow) {
    let f = d.f;
    for name in [
        "copyright_notice",
        "usage_terms",
        "license_reference",
        "preservation_reference",
        "property_release",
        "model_release",
    ] {
        if let Some(v) = p.text(name) {
            d.add_rest(&v);
        }
    }
    for entry in p.members("distribution_history") {
        d.add_rest(&entry);
    }
    // Where it is filed: found by `gallery:`/`folder:` and by free words.
    let mut filed = Vec::new();
    if let Some(v) = p.read(p.photoshelter, AccessKey::Galleries.key(), FieldKind::Set) {
        filed.extend(v.members());
    }
    if let Some(v) = p.read(p.preservica, AccessKey::Folder.key(), FieldKind::Text) {
        filed.push(v.to_canonical_string());
    }
    for name in &filed {
        d.doc.add_text(f.filed_in, name);
        d.add_rest(name);
    }
    if let Some(status) = p.text("archive_status") {
        d.doc.add_text(f.archive_status, &status);
        d.add_rest(&status);
    }
    for id in [&row.photoshelter_id, &row.preservica_ref]
        .into_iter()
        .flatten()
    {
        d.add_rest(id);
    }
}

/// Whose values the hit shows where the two systems differed.
fn authoritative(place: &'static str, sources: &BTreeSet<&'static str>) -> &'static str {
    match place {
        "both" => match (
            sources.contains("photoshelter"),
            sources.contains("preservica"),
        ) {
            (false, false) => "agreed",
            (true, false) => System::PhotoShelter.name(),
            (false, true) => System::Preservica.name(),
            (true, true) => "mixed",
        },
        one => one,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_order_by_day_then_asset() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd);
        // Descending: later day first; same day: lower asset first; undated last.
        let mut keys = [
            (sort_key(d(1962, 7, 14), 5, false), "b"),
            (sort_key(d(1962, 7, 14), 2, false), "a"),
            (sort_key(d(1970, 1, 1), 9, false), "first"),
            (sort_key(None, 3, false), "last"),
            (sort_key(None, 1, false), "undated"),
        ];
        keys.sort_by_key(|k| std::cmp::Reverse(k.0));
        assert_eq!(
            keys.map(|k| k.1),
            ["first", "a", "b", "undated", "last"],
            "descending order"
        );
        let mut keys = [
            (sort_key(d(1962, 7, 14), 5, true), "b"),
            (sort_key(d(1962, 7, 14), 2, true), "a"),
            (sort_key(d(1970, 1, 1), 9, true), "late"),
            (sort_key(d(1850, 1, 1), 9, true), "first"),
            (sort_key(None, 1, true), "last"),
        ];
        keys.sort_by_key(|k| std::cmp::Reverse(k.0));
        assert_eq!(keys.map(|k| k.1), ["first", "a", "b", "late", "last"]);
    }
}
