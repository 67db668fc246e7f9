//! Field crosswalks between PhotoShelter, Preservica and ferry's canonical record.
//!
//! A mapping file (`mappings/default.toml` ships; users copy it) names every canonical field,
//! its kind, where it lives in each system, per-system limits and the rule that decides a
//! conflict. This module is the only place that knows either system's field names: `load`
//! reads and validates a file, `photoshelter` and `preservica` translate system records to
//! canonical records and canonical changes back to what each system must be sent.

mod load;
mod meanings;
pub mod names;
pub mod photoshelter;
pub mod preservica;
mod xml;

pub use load::{MappingError, Problem};
pub use xml::XmlError;

use crate::model::{FieldKind, FieldValue, System};
pub use crate::photoshelter::wire::LicenseField;
use std::fmt;
use std::path::{Path, PathBuf};

/// How a true conflict on a field is decided (see the reconciliation table in DESIGN.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// PhotoShelter owns the field: its value wins.
    PhotoShelter,
    /// Preservica owns the field: its value wins.
    Preservica,
    /// The side whose record changed most recently wins.
    Newest,
    /// Sets are merged.
    Union,
    /// The earlier date, or the stricter enum value (first in the field's `values`), wins.
    MostRestrictive,
    /// A person decides; nothing is written until then.
    Manual,
}

impl Rule {
    pub const ALL: [Rule; 6] = [
        Rule::PhotoShelter,
        Rule::Preservica,
        Rule::Newest,
        Rule::Union,
        Rule::MostRestrictive,
        Rule::Manual,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Rule::PhotoShelter => "photoshelter",
            Rule::Preservica => "preservica",
            Rule::Newest => "newest",
            Rule::Union => "union",
            Rule::MostRestrictive => "most_restrictive",
            Rule::Manual => "manual",
        }
    }

    pub fn from_name(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The system a rule always favours, if it is an owner rule.
    pub fn owner(self) -> Option<System> {
        match self {
            Rule::PhotoShelter => Some(System::PhotoShelter),
            Rule::Preservica => Some(System::Preservica),
            _ => None,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a field lives in a PhotoShelter media record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PhotoShelterPlace {
    /// An IPTC attribute (`/media/{id}/iptc`), e.g. `caption`.
    Iptc(String),
    /// A custom metadata field, by its name; PhotoShelter holds one preset tag per field.
    Custom(String),
    /// A media attribute (`/media/{id}`).
    Attribute(String),
    /// A field of the media's licence record, wherever the account keeps it (see
    /// [`crate::photoshelter::wire::LicensePlace`]).
    License(LicenseField),
}

/// Where a field lives on a Preservica asset.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PreservicaPlace {
    /// The entity's own `Title`.
    EntityTitle,
    /// The entity's own `Description`.
    EntityDescription,
    /// The entity's `Ref`: read-only, it is the preservation reference itself.
    EntityRef,
    /// An element directly under the root of a metadata fragment; a `set` repeats it.
    Element { fragment: String, element: String },
}

/// A field's location in one system, with that system's limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location<P> {
    pub place: P,
    /// Largest value the system keeps without cutting it, in UTF-8 bytes (for a set: per
    /// member). A longer value is a truncation risk and is never written.
    pub max_bytes: Option<usize>,
    /// Line of the location in the mapping file, for messages.
    pub line: usize,
}

/// One descriptive-metadata fragment schema ferry reads and writes in Preservica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentDef {
    /// The name the mapping's fields refer to, e.g. `oai_dc`.
    pub name: String,
    /// The schema URI Preservica stores the fragment under (`schemaUri`).
    pub schema: String,
    /// Local name and namespace of the document's root element.
    pub root: String,
    pub root_namespace: String,
    pub root_prefix: Option<String>,
    /// Namespace (and preferred prefix) of the field elements under the root.
    pub element_namespace: String,
    pub element_prefix: Option<String>,
}

/// One canonical field and how it maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    pub name: String,
    pub kind: FieldKind,
    pub rule: Rule,
    /// Closed vocabulary of an `enum` field, most restrictive first.
    pub values: Vec<String>,
    /// What codes of an `enum` field mean, as the mapping file says (`labels`); see
    /// [`Mapping::label_of`] for the built-in ones.
    pub labels: std::collections::BTreeMap<String, String>,
    pub photoshelter: Option<Location<PhotoShelterPlace>>,
    pub preservica: Option<Location<PreservicaPlace>>,
    pub line: usize,
}

impl FieldSpec {
    /// Whether `system` holds this field at all.
    pub fn is_in(&self, system: System) -> bool {
        match system {
            System::PhotoShelter => self.photoshelter.is_some(),
            System::Preservica => self.preservica.is_some(),
        }
    }

    /// The limit, in bytes, of this field in `system`.
    pub fn max_bytes(&self, system: System) -> Option<usize> {
        match system {
            System::PhotoShelter => self.photoshelter.as_ref().and_then(|l| l.max_bytes),
            System::Preservica => self.preservica.as_ref().and_then(|l| l.max_bytes),
        }
    }

    /// Human form of the location in `system`, for tables and reports.
    pub fn describe_location(&self, system: System, mapping: &Mapping) -> String {
        match system {
            System::PhotoShelter => match self.photoshelter.as_ref().map(|l| &l.place) {
                Some(PhotoShelterPlace::Iptc(n)) => format!("iptc.{n}"),
                Some(PhotoShelterPlace::Custom(n)) => format!("custom[{n}]"),
                Some(PhotoShelterPlace::Attribute(n)) => format!("media.{n}"),
                Some(PhotoShelterPlace::License(f)) => format!("license.{}", f.name()),
                None => "-".into(),
            },
            System::Preservica => match self.preservica.as_ref().map(|l| &l.place) {
                Some(PreservicaPlace::EntityTitle) => "entity Title".into(),
                Some(PreservicaPlace::EntityDescription) => "entity Description".into(),
                Some(PreservicaPlace::EntityRef) => "entity Ref".into(),
                Some(PreservicaPlace::Element { fragment, element }) => {
                    match mapping
                        .fragment(fragment)
                        .and_then(|f| f.element_prefix.as_ref())
                    {
                        Some(prefix) => format!("{fragment}:{prefix}:{element}"),
                        None => format!("{fragment}:{element}"),
                    }
                }
                None => "-".into(),
            },
        }
    }
}

/// A validated mapping: every field has a known kind and rule, every location can hold its
/// field's kind, and no two fields share a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub file: PathBuf,
    pub fields: Vec<FieldSpec>,
    pub fragments: Vec<FragmentDef>,
}

impl Mapping {
    /// Reads and validates a mapping file.
    pub fn load(path: &Path) -> Result<Mapping, MappingError> {
        load::load_file(path)
    }

    /// Validates mapping text; `file` is only used to name the source in messages.
    pub fn parse(text: &str, file: &Path) -> Result<Mapping, MappingError> {
        load::parse(text, file)
    }

    /// The mapping that ships with ferry (`mappings/default.toml`).
    pub fn default_text() -> &'static str {
        include_str!("../../mappings/default.toml")
    }

    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// What `code` of the enum field `field` means, for people: the mapping file's `labels`,
    /// else ferry's built-in meaning of the code (PLUS release codes, archive status); `None`
    /// for a field that is not an enum or a code without a known meaning.
    pub fn label_of(&self, field: &str, code: &str) -> Option<String> {
        let spec = self.field(field).filter(|s| s.kind == FieldKind::Enum)?;
        spec.labels
            .get(code)
            .cloned()
            .or_else(|| meanings::built_in(code).map(str::to_string))
    }

    pub fn fragment(&self, name: &str) -> Option<&FragmentDef> {
        self.fragments.iter().find(|f| f.name == name)
    }

    pub fn fragment_by_schema(&self, schema: &str) -> Option<&FragmentDef> {
        self.fragments.iter().find(|f| f.schema == schema)
    }

    /// Fields present in both systems: the ones reconciliation compares.
    pub fn paired_fields(&self) -> impl Iterator<Item = &FieldSpec> {
        self.fields
            .iter()
            .filter(|f| f.photoshelter.is_some() && f.preservica.is_some())
    }
}

/// A change to one canonical field: the new value, or `None` to clear it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: String,
    pub value: Option<FieldValue>,
}

/// Something about one field of one record that the caller must know: the field is left
/// out of the record (unreadable) or out of the write (truncation risk, unwritable value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub system: System,
    pub kind: ProblemKind,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The system's value could not be read as the field's kind; the field is not compared.
    Unreadable,
    /// The value is longer than the target keeps; it was not written.
    TruncationRisk,
    /// The value cannot be represented in the target (e.g. a control character in XML).
    Unwritable,
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ProblemKind::Unreadable => "unreadable",
            ProblemKind::TruncationRisk => "truncation risk",
            ProblemKind::Unwritable => "cannot write",
        };
        write!(
            f,
            "{} in {}: {what}: {}",
            self.field, self.system, self.detail
        )
    }
}

/// A system record translated into canonical form, with what could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Translation {
    pub record: crate::model::CanonicalRecord,
    pub problems: Vec<FieldProblem>,
}

/// Reads one system string as `spec`'s kind, holding enum values to the field's vocabulary.
pub(crate) fn parse_for(spec: &FieldSpec, raw: &str) -> Result<Option<FieldValue>, String> {
    let value = FieldValue::parse(spec.kind, raw).map_err(|e| e.to_string())?;
    if let Some(FieldValue::Enum(v)) = &value
        && !spec.values.contains(v)
    {
        return Err(format!(
            "'{v}' is not one of the values of {} ({})",
            spec.name,
            spec.values.join(", ")
        ));
    }
    Ok(value)
}

/// Checks a value against a byte limit; for sets every member is checked.
pub(crate) fn check_limit(
    spec: &FieldSpec,
    system: System,
    value: &FieldValue,
) -> Result<(), FieldProblem> {
    let Some(limit) = spec.max_bytes(system) else {
        return Ok(());
    };
    let too_long = |s: &str| s.len() > limit;
    let offending: Vec<String> = match value {
        FieldValue::Set(items) => items.iter().filter(|s| too_long(s)).cloned().collect(),
        other => {
            let s = other.to_canonical_string();
            if too_long(&s) { vec![s] } else { vec![] }
        }
    };
    match offending.first() {
        None => Ok(()),
        Some(s) => Err(FieldProblem {
            field: spec.name.clone(),
            system,
            kind: ProblemKind::TruncationRisk,
            detail: format!(
                "{} bytes where {system} keeps {limit}; starts \"{}\"",
                s.len(),
                preview(s, 40)
            ),
        }),
    }
}

/// The first `chars` characters of `s`, with an ellipsis when cut: for messages only.
pub(crate) fn preview(s: &str, chars: usize) -> String {
    let mut out: String = s.chars().take(chars).collect();
    if s.chars().count() > chars {
        out.push('…');
    }
    out
}
