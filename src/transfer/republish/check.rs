//! The check of the metadata a republish will write, run before anything is uploaded by both
//! `ferry republish` and the web app's republish (real or dry). PhotoShelter refuses a custom
//! metadata value that is not one of the field's preset tags, and ferry never writes a value
//! longer than a field keeps; found only after the upload, either would leave a copy in the
//! gallery without its metadata.

use crate::mapping::{FieldChange, Mapping, PhotoShelterPlace};
use crate::model::System;
use std::collections::BTreeMap;
use std::fmt;

/// The account's custom metadata fields and their preset tags.
pub type Presets = BTreeMap<String, Vec<String>>;

/// One value of one asset that cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MetadataRefusal {
    /// The archive asset's ref.
    pub asset: String,
    /// The canonical field name.
    pub field: String,
    pub value: String,
    /// What is wrong, naming the limit or the allowed values.
    pub why: String,
}

/// Every value a republish would write that cannot be written: nothing was uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataRefused(pub Vec<MetadataRefusal>);

impl fmt::Display for MetadataRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "republish refused before anything was uploaded: {} value(s) cannot be written",
            self.0.len()
        )?;
        for r in &self.0 {
            write!(
                f,
                "; asset {} field {} = {:?}: {}",
                r.asset, r.field, r.value, r.why
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for MetadataRefused {}

/// Checks the writes planned for each asset (ref, changes) against the field limits of the
/// mapping and, when the account tells them (`presets`), the preset tags of custom fields.
pub fn check_metadata(
    mapping: &Mapping,
    presets: Option<&Presets>,
    writes: &[(String, Vec<FieldChange>)],
) -> Vec<MetadataRefusal> {
    let mut refusals = Vec::new();
    for (asset, changes) in writes {
        for change in changes {
            let (Some(spec), Some(value)) = (mapping.field(&change.field), &change.value) else {
                continue;
            };
            let text = value.to_canonical_string();
            let mut refuse = |why: String| {
                refusals.push(MetadataRefusal {
                    asset: asset.clone(),
                    field: change.field.clone(),
                    value: text.clone(),
                    why,
                })
            };
            if let Err(problem) = crate::mapping::check_limit(spec, System::PhotoShelter, value) {
                refuse(format!("too long for PhotoShelter: {}", problem.detail));
                continue;
            }
            let custom = match spec.photoshelter.as_ref().map(|l| &l.place) {
                Some(PhotoShelterPlace::Custom(name)) => name,
                _ => continue,
            };
            match presets.map(|p| p.get(custom)) {
                None => {}
                Some(None) => refuse(format!(
                    "the PhotoShelter account has no custom metadata field \"{custom}\""
                )),
                Some(Some(tags)) if !tags.contains(&text) => refuse(format!(
                    "not one of the preset values of PhotoShelter's \"{custom}\" ({}); \
                     an administrator adds presets in PhotoShelter",
                    if tags.is_empty() {
                        "it has none".to_string()
                    } else {
                        tags.join(", ")
                    }
                )),
                Some(Some(_)) => {}
            }
        }
    }
    refusals
}
