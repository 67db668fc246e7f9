//! `ferry doctor`'s check of the mapping's custom metadata fields against the PhotoShelter
//! account. Custom fields are the account's own (an administrator defines each with its
//! preset tags), so `ferry mappings check` cannot know them; PhotoShelter refuses a write to
//! a field the account does not define. With `photoshelter.probe_media_id` set, each mapped
//! custom field is written on the probe media item with the value it already holds (or
//! cleared where it holds none): nothing changes, and a field the account lacks is named.

use super::{Check, Status};
use crate::config::PhotoShelterConfig;
use crate::mapping::photoshelter::{PhotoShelterWrite, RecordParts};
use crate::mapping::{Mapping, PhotoShelterPlace};
use crate::model::System;
use crate::photoshelter::client::PhotoShelterClient;

const NAME: &str = "custom field";

fn check(status: Status, detail: impl Into<String>) -> Check {
    Check {
        system: System::PhotoShelter,
        name: NAME,
        status,
        detail: detail.into(),
    }
}

/// The mapping's custom fields as (canonical field, custom field name, mapping line).
fn custom_fields(mapping: &Mapping) -> Vec<(&str, &str, usize)> {
    mapping
        .fields
        .iter()
        .filter_map(|f| {
            let loc = f.photoshelter.as_ref()?;
            match &loc.place {
                PhotoShelterPlace::Custom(n) => Some((f.name.as_str(), n.as_str(), loc.line)),
                _ => None,
            }
        })
        .collect()
}

/// Checks every custom field `mapping` names against the account, through the probe media.
pub async fn check_custom_fields(cfg: &PhotoShelterConfig, mapping: &Mapping) -> Vec<Check> {
    let fields = custom_fields(mapping);
    if fields.is_empty() {
        return vec![check(
            Status::Ok,
            "the mapping names no custom metadata field",
        )];
    }
    let Some(probe) = cfg.probe_media_id.as_deref() else {
        return vec![check(
            Status::Skipped,
            "set photoshelter.probe_media_id to check the mapping's custom metadata fields",
        )];
    };
    let client = match PhotoShelterClient::new(cfg) {
        Ok(c) => c,
        Err(e) => return vec![check(Status::Skipped, e.to_string())],
    };
    let names = fields.iter().map(|(f, _, _)| *f);
    let record = match client
        .read_parts(probe, RecordParts::holding(mapping, names))
        .await
    {
        Ok(r) => r,
        Err(e) => return vec![check(Status::Fail, format!("reading {probe}: {e}"))],
    };
    let mut out = Vec::new();
    for (field, custom, line) in fields {
        let mut write = PhotoShelterWrite::default();
        write
            .custom
            .insert(custom.to_string(), record.custom.get(custom).cloned());
        // One field per write, so a refusal names its field.
        out.push(match client.apply_write(probe, &write).await {
            Ok(_) => check(
                Status::Ok,
                format!("'{custom}' (field {field}) is defined in the account"),
            ),
            Err(e) => check(
                Status::Fail,
                format!(
                    "{}:{line}: field '{field}': PhotoShelter refused custom metadata field '{custom}' on {probe}: {e}; \
                     define it in the account or fix the mapping",
                    mapping.file.display()
                ),
            ),
        });
    }
    out
}
