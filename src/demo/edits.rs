//! A day of work in both systems between two syncs, through editor sessions of their own:
//! one edit (or pair of edits) for every case of the three-way table.

use super::DemoError;
use crate::mapping::photoshelter as ps_map;
use crate::mapping::preservica as pv_map;
use crate::mapping::{FieldChange, Mapping};
use crate::model::{FieldKind, FieldValue};
use crate::photoshelter::client::PhotoShelterClient;
use crate::preservica::client::PreservicaClient;
use crate::world::World;

/// An editor's session in each system, as people make edits: not through ferry's clients.
struct Editors<'a> {
    mapping: &'a Mapping,
    photoshelter: PhotoShelterClient,
    preservica: PreservicaClient,
}

impl Editors<'_> {
    /// Applies `value` to one field of a PhotoShelter media item, as an editor would.
    async fn photoshelter(
        &self,
        media: &str,
        field: &str,
        value: Option<FieldValue>,
    ) -> Result<(), DemoError> {
        let change = [FieldChange {
            field: field.into(),
            value,
        }];
        let write = ps_map::plan_write(self.mapping, &Default::default(), &change);
        self.photoshelter
            .apply_write(media, &write)
            .await
            .map_err(|e| DemoError::Setup(e.to_string()))?;
        Ok(())
    }

    /// Applies `value` to one field of an archive asset, as a cataloguer would.
    async fn preservica(
        &self,
        reference: &str,
        field: &str,
        value: Option<FieldValue>,
    ) -> Result<(), DemoError> {
        let setup = |e: crate::preservica::client::PreservicaError| DemoError::Setup(e.to_string());
        let record = self.preservica.read_asset(reference).await.map_err(setup)?;
        let change = [FieldChange {
            field: field.into(),
            value,
        }];
        let write = pv_map::plan_write(self.mapping, &record, &change);
        self.preservica
            .apply_write(reference, &write)
            .await
            .map_err(setup)?;
        Ok(())
    }

    /// The same field edited in both systems: PhotoShelter first, then Preservica.
    async fn both(
        &self,
        (media, reference): &(String, String),
        field: &str,
        photoshelter: Option<FieldValue>,
        preservica: Option<FieldValue>,
    ) -> Result<(), DemoError> {
        self.photoshelter(media, field, photoshelter).await?;
        self.preservica(reference, field, preservica).await
    }
}

fn text(s: &str) -> Option<FieldValue> {
    FieldValue::text(s)
}

fn date(s: &str) -> Option<FieldValue> {
    FieldValue::parse(FieldKind::Date, s).ok().flatten()
}

/// Makes the day's edits on the world's pairs; returns one line per case, for the story.
pub(super) async fn a_day_of_edits(
    world: &World,
    mapping: &Mapping,
) -> Result<Vec<String>, DemoError> {
    let setup = |e: String| DemoError::Setup(e);
    let editors = Editors {
        mapping,
        photoshelter: PhotoShelterClient::new(&world.photoshelter_config())
            .map_err(|e| setup(e.to_string()))?,
        preservica: PreservicaClient::new(world.preservica_connection())
            .map_err(|e| setup(e.to_string()))?,
    };
    let pair = |i: usize| world.pairs[i % world.pairs.len()].clone();
    let mut edits = one_side_edits(&editors, &pair).await?;
    edits.extend(both_sides_edits(&editors, &pair).await?);
    let (_, r) = pair(12);
    let long_creator = text("Harbour Board Photographic Unit, Marine Division");
    editors.preservica(&r, "creator", long_creator).await?;
    edits.push("a creator catalogued in Preservica longer than IPTC's 32 bytes (never cut)".into());
    // A document someone ingested into the archive by hand: same bytes, no link.
    if let Some((doc, _)) = world.ingest_a_document_by_hand() {
        let name = world
            .photoshelter
            .record(&doc)
            .and_then(|r| r.file_name)
            .unwrap_or_default();
        edits.push(format!(
            "{name} ingested into the archive by hand, without a link (paired by checksum)"
        ));
    }
    Ok(edits)
}

/// Edits in one system only: that system's value goes to the other.
async fn one_side_edits(
    editors: &Editors<'_>,
    pair: &dyn Fn(usize) -> (String, String),
) -> Result<Vec<String>, DemoError> {
    for i in 0..3 {
        let caption =
            format!("Crews rigging the boats before the race, photographed from the quay ({i})");
        editors
            .photoshelter(&pair(i).0, "caption", text(&caption))
            .await?;
    }
    for i in 3..6 {
        let title = format!("Harbour regatta, 14 July 1962 ({i})");
        editors
            .preservica(&pair(i).1, "title", text(&title))
            .await?;
    }
    Ok(vec![
        "captions rewritten in PhotoShelter on 3 images (PhotoShelter changed)".into(),
        "titles catalogued in Preservica on 3 assets (Preservica changed)".into(),
    ])
}

/// Edits of the same field in both systems: each rule of precedence decides one.
async fn both_sides_edits(
    editors: &Editors<'_>,
    pair: &dyn Fn(usize) -> (String, String),
) -> Result<Vec<String>, DemoError> {
    let caption_ps = text("The winning crew, as the photographer captioned it");
    let caption_pv = text("Winning crew (catalogue description)");
    editors
        .both(&pair(6), "caption", caption_ps, caption_pv)
        .await?;
    let (taken_ps, taken_pv) = (date("1962-07-15"), date("1962-07-14"));
    editors
        .both(&pair(7), "date_created", taken_ps, taken_pv)
        .await?;
    let keywords_ps = FieldValue::set(["regatta", "sailing", "crowds"]);
    let keywords_pv = FieldValue::set(["regatta", "harbour board", "1962"]);
    editors
        .both(&pair(8), "keywords", keywords_ps, keywords_pv)
        .await?;
    let (expiry_ps, expiry_pv) = (date("2025-06-30"), date("2031-12-31"));
    editors
        .both(&pair(9), "license_expiry", expiry_ps, expiry_pv)
        .await?;
    let headline = text("Regatta day");
    editors
        .both(&pair(10), "headline", headline.clone(), headline)
        .await?;
    let notice_ps = text("© 1962 Harbour Board");
    let notice_pv = text("© 1962 Mary Ellis");
    editors
        .both(&pair(11), "copyright_notice", notice_ps, notice_pv)
        .await?;
    Ok(vec![
        "a caption changed in both systems (PhotoShelter owns captions)".into(),
        "a date taken changed in both systems (Preservica owns dates)".into(),
        "keywords added in both systems (merged)".into(),
        "licence expiry set differently in both systems, one already past (the earlier wins)"
            .into(),
        "the same headline typed in both systems (no conflict)".into(),
        "the copyright notice changed differently in both systems (a person decides)".into(),
    ])
}
