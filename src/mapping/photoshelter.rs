//! PhotoShelter media ⇄ canonical record.
//!
//! A media item's descriptive values live in four places: IPTC attributes, custom metadata
//! (one preset tag per field), the media's own attributes (release flags) and its licence
//! record (licence expiry).
//! Values arrive leniently typed (numbers as strings, `t`/`f`), so every value is read as text
//! and then parsed as the field's kind.

use super::{
    FieldChange, FieldProblem, FieldSpec, Mapping, PhotoShelterPlace, ProblemKind, Translation,
    check_limit, parse_for,
};
use crate::model::{CanonicalRecord, DateForm, FieldKind, FieldValue, System};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What the PhotoShelter client reads for one media item, before mapping.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PhotoShelterRecord {
    pub media_id: String,
    /// The media's attributes (`/media/{id}`).
    pub attributes: Map<String, Value>,
    /// IPTC attributes (`/media/{id}/iptc`).
    pub iptc: Map<String, Value>,
    /// Custom metadata: field name to the tag set on this media.
    pub custom: BTreeMap<String, String>,
    /// The licence record: field (a [`LicenseField`] name) to value, wherever the account
    /// keeps it.
    pub license: Map<String, Value>,
    pub modified_at: Option<DateTime<Utc>>,
    pub file_name: Option<String>,
    pub file_size: Option<u64>,
    pub checksum: Option<String>,
}

impl PhotoShelterRecord {
    /// Applies a planned write as PhotoShelter would store it: what the emulator does, and
    /// what round-trip tests use to prove reading back gives the written values.
    pub fn apply(&mut self, write: &PhotoShelterWrite) {
        for (k, v) in &write.iptc {
            self.iptc.insert(k.clone(), v.clone());
        }
        for (k, v) in &write.attributes {
            self.attributes.insert(k.clone(), v.clone());
        }
        for (k, v) in &write.license {
            self.license.insert(k.clone(), v.clone());
        }
        for (k, v) in &write.custom {
            match v {
                Some(tag) => self.custom.insert(k.clone(), tag.clone()),
                None => self.custom.remove(k),
            };
        }
    }
}

/// Which of the reads of a media record (its attributes, IPTC, custom metadata, licence) a
/// piece of work needs: a write re-checks and reads back only the parts it touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordParts {
    pub attributes: bool,
    pub iptc: bool,
    pub custom: bool,
    pub license: bool,
}

impl RecordParts {
    pub const ALL: RecordParts = RecordParts {
        attributes: true,
        iptc: true,
        custom: true,
        license: true,
    };
    pub const NONE: RecordParts = RecordParts {
        attributes: false,
        iptc: false,
        custom: false,
        license: false,
    };

    /// The parts holding `fields` (canonical names; names the mapping does not place in
    /// PhotoShelter, such as access state, live in the media attributes).
    pub fn holding<'a>(mapping: &Mapping, fields: impl IntoIterator<Item = &'a str>) -> Self {
        let mut parts = RecordParts::NONE;
        for field in fields {
            match mapping.field(field).and_then(|f| f.photoshelter.as_ref()) {
                Some(loc) => match loc.place {
                    PhotoShelterPlace::Iptc(_) => parts.iptc = true,
                    PhotoShelterPlace::Custom(_) => parts.custom = true,
                    PhotoShelterPlace::Attribute(_) => parts.attributes = true,
                    PhotoShelterPlace::License(_) => parts.license = true,
                },
                None => parts.attributes = true,
            }
        }
        parts
    }

    /// The parts a pull reads: the attributes (file facts, modification time and access
    /// state live there) and each part a mapped field lives in. A part no field maps to is
    /// not read at all.
    pub fn mapped(mapping: &Mapping) -> Self {
        let fields = mapping.fields.iter().map(|f| f.name.as_str());
        RecordParts {
            attributes: true,
            ..RecordParts::holding(mapping, fields)
        }
    }

    /// The parts a write changes.
    pub fn written(write: &PhotoShelterWrite) -> Self {
        RecordParts {
            attributes: !write.attributes.is_empty(),
            iptc: !write.iptc.is_empty(),
            custom: !write.custom.is_empty(),
            license: !write.license.is_empty(),
        }
    }
}

impl PhotoShelterRecord {
    /// This record with the `parts` of `newer` in place of its own.
    pub fn with_parts(mut self, newer: PhotoShelterRecord, parts: RecordParts) -> Self {
        if parts.attributes {
            self.attributes = newer.attributes;
            self.modified_at = newer.modified_at;
            self.file_name = newer.file_name;
            self.file_size = newer.file_size;
            self.checksum = newer.checksum;
        }
        if parts.iptc {
            self.iptc = newer.iptc;
        }
        if parts.custom {
            self.custom = newer.custom;
        }
        if parts.license {
            self.license = newer.license;
        }
        self
    }
}

/// Everything to send to PhotoShelter for one media item.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PhotoShelterWrite {
    /// IPTC attribute to new text (empty clears): the body of the IPTC update.
    pub iptc: Map<String, Value>,
    /// Custom metadata field to tag (`None` clears).
    pub custom: BTreeMap<String, Option<String>>,
    /// Media attribute to value (`null` clears).
    pub attributes: Map<String, Value>,
    /// Licence record field to value (`null` clears).
    pub license: Map<String, Value>,
    /// Changes that were left out, and why.
    pub problems: Vec<FieldProblem>,
}

impl PhotoShelterWrite {
    pub fn is_empty(&self) -> bool {
        self.iptc.is_empty()
            && self.custom.is_empty()
            && self.attributes.is_empty()
            && self.license.is_empty()
    }
}

/// Reads the mapped fields of a PhotoShelter media item into a canonical record.
pub fn read_record(mapping: &Mapping, record: &PhotoShelterRecord) -> Translation {
    let mut out = Translation {
        record: CanonicalRecord {
            modified_at: record.modified_at,
            file_name: record.file_name.clone(),
            file_size: record.file_size,
            checksum: record.checksum.clone(),
            ..CanonicalRecord::default()
        },
        problems: Vec::new(),
    };
    for spec in &mapping.fields {
        let Some(loc) = &spec.photoshelter else {
            continue;
        };
        let raw = match &loc.place {
            PhotoShelterPlace::Iptc(n) => json_strings(record.iptc.get(n)),
            PhotoShelterPlace::Attribute(n) => json_strings(record.attributes.get(n)),
            PhotoShelterPlace::Custom(n) => Ok(record.custom.get(n).cloned().into_iter().collect()),
            PhotoShelterPlace::License(f) => json_strings(record.license.get(f.name())),
        };
        let value = raw.and_then(|values| match spec.kind {
            // IPTC keeps a keyword list as one comma-separated string.
            FieldKind::Set => Ok(FieldValue::set(values.iter().flat_map(|v| v.split(',')))),
            _ => match values.as_slice() {
                [] => Ok(None),
                [one] => parse_for(spec, one),
                many => Err(format!("{} values for a single-valued field", many.len())),
            },
        });
        match value {
            Ok(v) => out.record.set(&spec.name, v),
            Err(detail) => out.problems.push(FieldProblem {
                field: spec.name.clone(),
                system: System::PhotoShelter,
                kind: ProblemKind::Unreadable,
                detail,
            }),
        }
    }
    out
}

/// A JSON value as the strings it holds; PhotoShelter sends numbers and booleans in several
/// spellings, all of which are read as text and parsed by kind afterwards.
fn json_strings(v: Option<&Value>) -> Result<Vec<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Number(n)) => Ok(vec![n.to_string()]),
        Some(Value::Bool(b)) => Ok(vec![b.to_string()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(format!("a list holding {other}, not text")),
            })
            .collect(),
        Some(Value::Object(_)) => Err("an object where a value was expected".into()),
    }
}

/// The single text a JSON value holds (a number as its digits), if any.
fn current_text(v: Option<&Value>) -> Option<String> {
    json_strings(v).ok()?.into_iter().next()
}

fn problem(spec: &FieldSpec, kind: ProblemKind, detail: impl Into<String>) -> FieldProblem {
    FieldProblem {
        field: spec.name.clone(),
        system: System::PhotoShelter,
        kind,
        detail: detail.into(),
    }
}

/// Plans the PhotoShelter side of `changes`. Changes that PhotoShelter would cut or could not
/// hold are left out and listed in `problems`; nothing is ever cut silently.
///
/// A date is written in the form `current` (the media as last read; an empty record for new
/// media) holds it in, so what PhotoShelter answers afterwards is what ferry would write.
pub fn plan_write(
    mapping: &Mapping,
    current: &PhotoShelterRecord,
    changes: &[FieldChange],
) -> PhotoShelterWrite {
    let mut out = PhotoShelterWrite::default();
    for change in changes {
        let Some(spec) = mapping.field(&change.field) else {
            continue;
        };
        let Some(loc) = &spec.photoshelter else {
            continue;
        };
        if let Some(v) = &change.value
            && let Err(p) = check_limit(spec, System::PhotoShelter, v)
        {
            out.problems.push(p);
            continue;
        }
        match &loc.place {
            PhotoShelterPlace::Iptc(name) => {
                let text = match &change.value {
                    None => String::new(),
                    Some(FieldValue::Set(items)) => {
                        if let Some(bad) = items.iter().find(|i| i.contains(',')) {
                            out.problems.push(problem(
                                spec,
                                ProblemKind::Unwritable,
                                format!(
                                    "\"{bad}\" contains a comma, which PhotoShelter's comma-separated list would split"
                                ),
                            ));
                            continue;
                        }
                        items.iter().cloned().collect::<Vec<_>>().join(", ")
                    }
                    Some(v) => DateForm::spell(v, current_text(current.iptc.get(name)).as_deref()),
                };
                out.iptc.insert(name.clone(), Value::String(text));
            }
            PhotoShelterPlace::Custom(name) => {
                out.custom.insert(
                    name.clone(),
                    change.value.as_ref().map(FieldValue::to_canonical_string),
                );
            }
            PhotoShelterPlace::Attribute(name) => {
                let value = match &change.value {
                    None => Value::Null,
                    Some(FieldValue::Bool(b)) => Value::Bool(*b),
                    Some(v) => Value::String(DateForm::spell(
                        v,
                        current_text(current.attributes.get(name)).as_deref(),
                    )),
                };
                out.attributes.insert(name.clone(), value);
            }
            PhotoShelterPlace::License(field) => {
                let current = current_text(current.license.get(field.name()));
                let value = change.value.as_ref().map_or(Value::Null, |v| {
                    Value::String(DateForm::spell(v, current.as_deref()))
                });
                out.license.insert(field.name().to_string(), value);
            }
        }
    }
    out
}
