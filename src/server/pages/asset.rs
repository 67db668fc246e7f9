//! The asset page (`templates/asset.html`): what ferry knows of one asset, where it is filed
//! and who may see it, its fields in both systems, its writes and its history.
//!
//! The `@` snapshot keys (folder, galleries, searchable, security tag) are state ferry reads
//! beside the mapped fields, not fields the mapping compares: the page shows them as "Where it
//! is filed" and "Access", never as rows of the fields table.

use super::chrome;
use crate::html::Layout;
use crate::model::{AccessKey, FieldKind, SnapshotKey, System};
use crate::server::html::{Nav, outcome_tone, render, value_text};
use crate::server::view::{self, AssetView, FieldView, HistoryView, SnapshotView, WriteView};
use crate::server::{PageError, Shared, WebError, parse_id, with_store};
use crate::store::DecidedConflict;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::Html;

#[derive(Template)]
#[template(path = "asset.html")]
struct AssetPage<'a> {
    layout: Layout,
    a: &'a AssetView,
    snapshots: [(&'static str, &'a Option<SnapshotView>); 2],
    /// "Where it is filed" and "Access".
    places: [PlaceSection; 2],
    fields: Vec<FieldRow<'a>>,
    writes: Vec<WriteRow<'a>>,
    history: Vec<HistoryRow<'a>>,
    decided: Vec<DecidedRow<'a>>,
}

struct PlaceSection {
    heading: &'static str,
    id: &'static str,
    places: Vec<Place>,
}

/// One `@` key's value, in words.
struct Place {
    label: &'static str,
    key: &'static str,
    value: Option<String>,
}

struct FieldRow<'a> {
    f: &'a FieldView,
    /// PhotoShelter's, then Preservica's.
    cells: [Cell<'a>; 2],
    /// `None`: never agreed; `Some(None)`: agreed on no value.
    baseline: Option<Option<String>>,
    /// The last decision's badge: its words and tone.
    outcome: (String, &'static str),
}

/// A field's value in one system.
enum Cell<'a> {
    /// The mapping does not keep the field in that system.
    NotKept,
    Value {
        value: Option<String>,
        location: Option<&'a str>,
        /// What an enum code means (`MR-NAP` → "model release: not applicable").
        meaning: Option<&'a str>,
    },
}

struct WriteRow<'a> {
    w: &'a WriteView,
    value: Option<String>,
}

struct HistoryRow<'a> {
    h: &'a HistoryView,
    old: Option<String>,
    new: Option<String>,
}

struct DecidedRow<'a> {
    d: &'a DecidedConflict,
    /// The value a person typed; `None` when they took one system's.
    value: Option<Option<String>>,
}

/// `/assets/{id}`.
pub async fn asset(
    State(state): State<Shared>,
    Path(raw): Path<String>,
) -> Result<Html<String>, PageError> {
    let id = parse_id(&raw, "asset")?;
    let (chrome, mut asset, cached) = with_store(&state, move |store, state| {
        let asset = view::asset_view(store, &state.mapping, id)?
            .ok_or_else(|| WebError::NotFound(format!("ferry knows no asset {id}")))?;
        let file = crate::media::fill::identity(store, id)?;
        let cached = state
            .thumbs
            .cache
            .as_ref()
            .is_some_and(|c| c.path(id, &file, crate::media::ThumbSize::Medium).exists());
        Ok((chrome(store)?, asset, cached))
    })
    .await?;
    // A preview when the app can reach the systems and either holds a picture a browser shows.
    let showable = [&asset.snapshots.photoshelter, &asset.snapshots.preservica]
        .into_iter()
        .flatten()
        .any(|s| {
            s.file_name
                .as_deref()
                .and_then(crate::server::preview::web_image_type)
                .is_some()
        });
    if state.republisher.is_some() && showable {
        asset.preview_url = Some(format!("/assets/{id}/preview"));
    }
    // A picture when the app can make thumbnails or the cache (filled by sync) has this one.
    if state.republisher.is_some() || cached {
        asset.picture_url = Some(format!("/assets/{id}/thumb/medium"));
    }
    Ok(render(&page(
        Layout::app(&asset.label, Nav::None, &chrome),
        &asset,
    )))
}

fn page(layout: Layout, a: &AssetView) -> AssetPage<'_> {
    let kind_of = |field: &str| {
        a.fields
            .iter()
            .find(|f| f.field == field)
            .and_then(|f| f.kind)
    };
    AssetPage {
        layout,
        snapshots: [
            ("PhotoShelter", &a.snapshots.photoshelter),
            ("Preservica", &a.snapshots.preservica),
        ],
        places: places(a),
        fields: a
            .fields
            .iter()
            .filter(|f| !SnapshotKey::is_access(&f.field))
            .map(field_row)
            .collect(),
        writes: a
            .writes
            .iter()
            .map(|w| WriteRow {
                value: value_text(kind_of(&w.field), w.new_value.as_deref()),
                w,
            })
            .collect(),
        history: a
            .history
            .iter()
            .map(|h| HistoryRow {
                old: value_text(kind_of(&h.field), h.old_value.as_deref()),
                new: value_text(kind_of(&h.field), h.new_value.as_deref()),
                h,
            })
            .collect(),
        decided: a
            .decided
            .iter()
            .map(|d| DecidedRow {
                value: (d.resolution == "value")
                    .then(|| value_text(kind_of(&d.field), d.resolution_value.as_deref())),
                d,
            })
            .collect(),
        a,
    }
}

fn field_row(f: &FieldView) -> FieldRow<'_> {
    fn cell<'a>(
        kind: Option<FieldKind>,
        value: &Option<String>,
        location: &'a Option<String>,
        meaning: &'a Option<String>,
    ) -> Cell<'a> {
        match location {
            None if kind.is_some() => Cell::NotKept,
            _ => Cell::Value {
                value: value_text(kind, value.as_deref()),
                location: location.as_deref(),
                meaning: meaning.as_deref(),
            },
        }
    }
    FieldRow {
        cells: [
            cell(
                f.kind,
                &f.photoshelter,
                &f.photoshelter_location,
                &f.photoshelter_meaning,
            ),
            cell(
                f.kind,
                &f.preservica,
                &f.preservica_location,
                &f.preservica_meaning,
            ),
        ],
        baseline: f
            .baseline
            .as_ref()
            .map(|v| value_text(f.kind, v.as_deref())),
        outcome: f
            .decision
            .as_ref()
            .map(|d| (d.outcome.replace('_', " "), outcome_tone(&d.outcome)))
            .unwrap_or_default(),
        f,
    }
}

/// Where each `@` key is read, what the page calls it, and which section it is in.
fn place_of(key: AccessKey) -> (System, &'static str, Option<FieldKind>, usize) {
    const FILED: usize = 0;
    const ACCESS: usize = 1;
    match key {
        AccessKey::Folder => (System::Preservica, "Preservica folder", None, FILED),
        AccessKey::Galleries => (
            System::PhotoShelter,
            "PhotoShelter galleries",
            Some(FieldKind::Set),
            FILED,
        ),
        AccessKey::Searchable => (
            System::PhotoShelter,
            "Searchable in PhotoShelter",
            None,
            ACCESS,
        ),
        AccessKey::SecurityTag => (System::Preservica, "Preservica security tag", None, ACCESS),
    }
}

/// The "Where it is filed" and "Access" sections: each `@` key the system it is read from
/// holds for this asset (a key of a system the asset is not in is left out).
fn places(a: &AssetView) -> [PlaceSection; 2] {
    let mut sections = [
        PlaceSection {
            heading: "Where it is filed",
            id: "filed",
            places: Vec::new(),
        },
        PlaceSection {
            heading: "Access",
            id: "access",
            places: Vec::new(),
        },
    ];
    for key in [
        AccessKey::Folder,
        AccessKey::Galleries,
        AccessKey::Searchable,
        AccessKey::SecurityTag,
    ] {
        let (system, label, kind, section) = place_of(key);
        let read = match system {
            System::PhotoShelter => a.snapshots.photoshelter.is_some(),
            System::Preservica => a.snapshots.preservica.is_some(),
        };
        if !read {
            continue;
        }
        let raw = a
            .fields
            .iter()
            .find(|f| f.field == key.key())
            .and_then(|f| match system {
                System::PhotoShelter => f.photoshelter.clone(),
                System::Preservica => f.preservica.clone(),
            });
        sections[section].places.push(Place {
            label,
            key: key.key(),
            value: value_text(kind, raw.as_deref()),
        });
    }
    sections
}
