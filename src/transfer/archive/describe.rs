//! What the package says about each item and gallery: the Preservica records made from
//! PhotoShelter metadata, the distribution history, the checksums ferry computed.

use super::Gallery;
use crate::mapping::photoshelter::{self as ps_map, PhotoShelterRecord};
use crate::mapping::preservica::{self as pv_map, PreservicaRecord};
use crate::mapping::{FieldChange, Mapping};
use crate::model::{FieldValue, System};
use crate::store::transfers::TransferRecord;
use crate::transfer::detail_str;

/// The checksums ferry computed for a transfer's original, as (algorithm, hex).
pub(super) fn computed_fixities(record: &TransferRecord) -> Vec<(String, String)> {
    ["SHA256", "SHA1", "MD5"]
        .iter()
        .filter_map(|alg| {
            detail_str(record, &alg.to_ascii_lowercase()).map(|v| (alg.to_string(), v))
        })
        .collect()
}

/// The distribution history ferry knows of a media item: where PhotoShelter showed it.
pub(super) fn distribution_line(gallery: Option<&Gallery>, today: chrono::NaiveDate) -> String {
    match gallery {
        Some(g) => format!(
            "PhotoShelter gallery \"{}\" ({}{}) until archived {today}",
            g.name,
            g.mode.map(|m| m.name()).unwrap_or("visibility unknown"),
            match g.listed {
                Some(false) => ", unlisted",
                _ => "",
            }
        ),
        None => format!("PhotoShelter library until archived {today}"),
    }
}

/// The Preservica description of one media item: every paired field from its PhotoShelter
/// record, and the distribution history.
pub(super) fn asset_record(
    mapping: &Mapping,
    ps_record: &PhotoShelterRecord,
    distribution: &str,
) -> PreservicaRecord {
    let canonical = ps_map::read_record(mapping, ps_record).record;
    let mut changes: Vec<FieldChange> = mapping
        .paired_fields()
        .filter(|f| f.name != "preservation_reference")
        .map(|f| FieldChange {
            field: f.name.clone(),
            value: canonical.get(&f.name).cloned(),
        })
        .collect();
    if mapping
        .field("distribution_history")
        .is_some_and(|f| f.is_in(System::Preservica))
    {
        changes.push(FieldChange {
            field: "distribution_history".into(),
            value: FieldValue::set([distribution]),
        });
    }
    let mut record = PreservicaRecord::default();
    let write = pv_map::plan_write(mapping, &record, &changes);
    record.apply(&write);
    record
}

/// The gallery folder's description: its name as title, its description as caption, and
/// both again in an oai_dc fragment with the gallery id, so the folder is described by
/// metadata as well as by its properties.
pub(super) fn folder_record(mapping: &Mapping, gallery: &Gallery) -> PreservicaRecord {
    let mut record = folder_properties(mapping, gallery);
    if !record.fragments.iter().any(|f| f.schema == OAI_DC_NS) {
        let mut xml = format!(
            "<oai_dc:dc xmlns:oai_dc=\"{OAI_DC_NS}\" xmlns:dc=\"{DC_ELEMENTS_NS}\">             <dc:title>{}</dc:title>",
            crate::xml::esc(&gallery.name)
        );
        if let Some(d) = &gallery.description {
            xml.push_str(&format!(
                "<dc:description>{}</dc:description>",
                crate::xml::esc(d)
            ));
        }
        xml.push_str(&format!(
            "<dc:identifier>photoshelter gallery {}</dc:identifier></oai_dc:dc>",
            crate::xml::esc(&gallery.id)
        ));
        record.fragments.push(crate::mapping::preservica::Fragment {
            schema: OAI_DC_NS.into(),
            xml,
        });
    }
    record
}

pub(super) const OAI_DC_NS: &str = "http://www.openarchives.org/OAI/2.0/oai_dc/";
pub(super) const DC_ELEMENTS_NS: &str = "http://purl.org/dc/elements/1.1/";

pub(super) fn folder_properties(mapping: &Mapping, gallery: &Gallery) -> PreservicaRecord {
    let mut changes = vec![FieldChange {
        field: "title".into(),
        value: FieldValue::text(&gallery.name),
    }];
    if let Some(d) = &gallery.description {
        changes.push(FieldChange {
            field: "caption".into(),
            value: FieldValue::text(d),
        });
    }
    let mut record = PreservicaRecord::default();
    let write = pv_map::plan_write(mapping, &record, &changes);
    record.apply(&write);
    record
}
