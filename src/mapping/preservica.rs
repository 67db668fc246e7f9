//! Preservica asset ⇄ canonical record.
//!
//! A Preservica asset carries a few fields of its own (Title, Description, Ref) and any number
//! of descriptive-metadata fragments, one per schema. Reading takes each mapped field from its
//! place; writing produces the new Title/Description and, per touched fragment, the whole new
//! fragment document in which only the mapped elements changed.

use super::xml::{self, ParsedFragment};
use super::{
    FieldChange, FieldProblem, FieldSpec, FragmentDef, Mapping, PreservicaPlace, ProblemKind,
    Translation, check_limit, parse_for,
};
use crate::model::{CanonicalRecord, DateForm, FieldKind, FieldValue, SnapshotKey, System};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// A descriptive-metadata fragment as stored on the asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// The `schemaUri` Preservica keeps the fragment under.
    pub schema: String,
    /// The fragment document: the single element inside `xip:Content`.
    pub xml: String,
}

/// What the Preservica client reads for one asset, before mapping.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PreservicaRecord {
    pub reference: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub fragments: Vec<Fragment>,
    pub modified_at: Option<DateTime<Utc>>,
    pub file_name: Option<String>,
    pub file_size: Option<u64>,
    pub checksum: Option<String>,
    /// The entity's security tag (`open`, `closed`, …): who may see the asset.
    pub security_tag: Option<String>,
}

impl PreservicaRecord {
    pub fn fragment(&self, schema: &str) -> Option<&Fragment> {
        self.fragments.iter().find(|f| f.schema == schema)
    }

    /// Applies a planned write as Preservica would store it: what the emulator does, and
    /// what round-trip tests use to prove reading back gives the written values.
    pub fn apply(&mut self, write: &PreservicaWrite) {
        if let Some(title) = &write.title {
            self.title = title.clone();
        }
        if let Some(description) = &write.description {
            self.description = description.clone();
        }
        for f in &write.fragments {
            match self.fragments.iter_mut().find(|x| x.schema == f.schema) {
                Some(existing) => existing.xml = f.xml.clone(),
                None => self.fragments.push(Fragment {
                    schema: f.schema.clone(),
                    xml: f.xml.clone(),
                }),
            }
        }
    }
}

/// A fragment to store: replace the existing one (`exists`) or add a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentWrite {
    pub schema: String,
    pub exists: bool,
    pub xml: String,
    /// The canonical fields this fragment write carries, for logs and verification.
    pub fields: Vec<String>,
}

/// Everything to send to Preservica for one asset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PreservicaWrite {
    /// `Some(new)` when the entity Title changes (`Some(None)` clears it).
    pub title: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub fragments: Vec<FragmentWrite>,
    /// Changes that were left out, and why.
    pub problems: Vec<FieldProblem>,
}

impl PreservicaWrite {
    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.description.is_none() && self.fragments.is_empty()
    }
}

fn unreadable(spec: &FieldSpec, detail: String) -> FieldProblem {
    FieldProblem {
        field: spec.name.clone(),
        system: System::Preservica,
        kind: ProblemKind::Unreadable,
        detail,
    }
}

/// The schemas of the fragments holding `fields` (canonical names; access state such as
/// `@security_tag` and the entity's own Title and Description need none), or `None` when a
/// field is one the mapping does not place, so every fragment must be read.
pub fn schemas_holding<'a>(
    mapping: &Mapping,
    fields: impl IntoIterator<Item = &'a str>,
) -> Option<std::collections::BTreeSet<String>> {
    let mut schemas = std::collections::BTreeSet::new();
    for field in fields {
        if SnapshotKey::is_access(field) {
            continue;
        }
        let loc = mapping.field(field)?.preservica.as_ref()?;
        if let PreservicaPlace::Element { fragment, .. } = &loc.place {
            schemas.insert(mapping.fragment(fragment)?.schema.clone());
        }
    }
    Some(schemas)
}

/// The schemas of the fragments a pull reads: those a mapped field lives in. An asset's other
/// fragments (technical metadata, another department's schema) are not read at all.
pub fn mapped_schemas(mapping: &Mapping) -> std::collections::BTreeSet<String> {
    mapping
        .fields
        .iter()
        .filter_map(|f| match &f.preservica.as_ref()?.place {
            PreservicaPlace::Element { fragment, .. } => {
                Some(mapping.fragment(fragment)?.schema.clone())
            }
            _ => None,
        })
        .collect()
}

/// Reads the mapped fields of a Preservica asset into a canonical record.
pub fn read_record(mapping: &Mapping, record: &PreservicaRecord) -> Translation {
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
    // Each fragment is parsed once, whatever number of fields it holds.
    let mut parsed: BTreeMap<&str, Result<ParsedFragment, String>> = BTreeMap::new();
    for spec in &mapping.fields {
        let Some(loc) = &spec.preservica else {
            continue;
        };
        let raw: Result<Vec<String>, String> = match &loc.place {
            PreservicaPlace::EntityTitle => Ok(record.title.iter().cloned().collect()),
            PreservicaPlace::EntityDescription => Ok(record.description.iter().cloned().collect()),
            PreservicaPlace::EntityRef => Ok(vec![record.reference.clone()]),
            PreservicaPlace::Element { fragment, element } => {
                let Some(def) = mapping.fragment(fragment) else {
                    continue;
                };
                match record.fragment(&def.schema) {
                    None => Ok(Vec::new()),
                    Some(f) => match parsed
                        .entry(&f.schema)
                        .or_insert_with(|| xml::parse_fragment(&f.xml).map_err(|e| e.to_string()))
                    {
                        Err(e) => Err(format!("fragment {} is not readable XML: {e}", def.schema)),
                        Ok(doc) => element_values(doc, def, element),
                    },
                }
            }
        };
        let values = match raw {
            Ok(v) => v,
            Err(detail) => {
                out.problems.push(unreadable(spec, detail));
                continue;
            }
        };
        match to_value(spec, &values) {
            Ok(value) => out.record.set(&spec.name, value),
            Err(detail) => out.problems.push(unreadable(spec, detail)),
        }
    }
    out
}

fn element_values(
    doc: &ParsedFragment,
    def: &FragmentDef,
    element: &str,
) -> Result<Vec<String>, String> {
    doc.values(&def.element_namespace, element)
        .into_iter()
        .map(|c| {
            c.text
                .clone()
                .ok_or_else(|| format!("<{element}> holds elements, not a value"))
        })
        .collect()
}

fn to_value(spec: &FieldSpec, values: &[String]) -> Result<Option<FieldValue>, String> {
    if spec.kind == FieldKind::Set {
        return Ok(FieldValue::set(values));
    }
    let present: Vec<&String> = values.iter().filter(|v| !v.trim().is_empty()).collect();
    match present.as_slice() {
        [] => Ok(None),
        [one] => parse_for(spec, one),
        // Writing one value back would silently drop the others, so the field is not compared
        // until a person merges them in Preservica.
        many => Err(format!(
            "{} values for a single-valued field; merge them in Preservica",
            many.len()
        )),
    }
}

/// The one value an element of `record` holds now, if it holds exactly one.
fn current_element_text(
    mapping: &Mapping,
    record: &PreservicaRecord,
    fragment: &str,
    element: &str,
) -> Option<String> {
    let def = mapping.fragment(fragment)?;
    let doc = xml::parse_fragment(&record.fragment(&def.schema)?.xml).ok()?;
    match element_values(&doc, def, element).ok()?.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

fn problem(spec: &FieldSpec, kind: ProblemKind, detail: impl Into<String>) -> FieldProblem {
    FieldProblem {
        field: spec.name.clone(),
        system: System::Preservica,
        kind,
        detail: detail.into(),
    }
}

/// Plans the Preservica side of `changes` for `record`: new Title/Description and, per
/// touched fragment, the edited document. Changes that would be cut or cannot be written are
/// left out and listed in `problems`; nothing is ever cut silently.
pub fn plan_write(
    mapping: &Mapping,
    record: &PreservicaRecord,
    changes: &[FieldChange],
) -> PreservicaWrite {
    let mut out = PreservicaWrite::default();
    // schema -> (document so far, existed before, fields)
    let mut docs: BTreeMap<String, (String, bool, Vec<String>)> = BTreeMap::new();
    for change in changes {
        let Some(spec) = mapping.field(&change.field) else {
            continue;
        };
        let Some(loc) = &spec.preservica else {
            continue;
        };
        if let Some(v) = &change.value
            && let Err(p) = check_limit(spec, System::Preservica, v)
        {
            out.problems.push(p);
            continue;
        }
        let current = match &loc.place {
            PreservicaPlace::Element { fragment, element } => {
                current_element_text(mapping, record, fragment, element)
            }
            _ => None,
        };
        let text = change
            .value
            .as_ref()
            .map(|v| DateForm::spell(v, current.as_deref()));
        if let Some(c) = text.as_deref().and_then(xml::first_non_xml_char) {
            out.problems.push(problem(
                spec,
                ProblemKind::Unwritable,
                format!(
                    "contains U+{:04X}, which Preservica's XML cannot hold",
                    c as u32
                ),
            ));
            continue;
        }
        match &loc.place {
            PreservicaPlace::EntityTitle => out.title = Some(text),
            PreservicaPlace::EntityDescription => out.description = Some(text),
            PreservicaPlace::EntityRef => out.problems.push(problem(
                spec,
                ProblemKind::Unwritable,
                "the entity Ref is assigned by Preservica and cannot be written",
            )),
            PreservicaPlace::Element { fragment, element } => {
                let Some(def) = mapping.fragment(fragment) else {
                    continue;
                };
                let values = match (&change.value, &text) {
                    (Some(set @ FieldValue::Set(_)), _) => set.members(),
                    (_, Some(one)) => vec![one.clone()],
                    (_, None) => Vec::new(),
                };
                let entry = match docs.get_mut(&def.schema) {
                    Some(e) => e,
                    None => {
                        let (doc, exists) = match record.fragment(&def.schema) {
                            Some(f) => (f.xml.clone(), true),
                            None if values.is_empty() => continue,
                            None => (new_fragment(def), false),
                        };
                        docs.entry(def.schema.clone())
                            .or_insert((doc, exists, Vec::new()))
                    }
                };
                match xml::set_element(&entry.0, &def.element_namespace, element, &values) {
                    Ok(doc) => {
                        entry.0 = doc;
                        entry.2.push(spec.name.clone());
                    }
                    Err(e) => out.problems.push(problem(
                        spec,
                        ProblemKind::Unwritable,
                        format!("cannot edit fragment {}: {e}", def.schema),
                    )),
                }
            }
        }
    }
    out.fragments = docs
        .into_iter()
        .filter(|(_, (_, _, fields))| !fields.is_empty())
        .map(|(schema, (xml, exists, fields))| FragmentWrite {
            schema,
            exists,
            xml,
            fields,
        })
        .collect();
    out
}

/// An empty fragment document for `def`, ready for elements.
pub fn new_fragment(def: &FragmentDef) -> String {
    xml::empty_fragment(
        &def.root,
        &def.root_namespace,
        def.root_prefix.as_deref(),
        &def.element_namespace,
        def.element_prefix.as_deref(),
    )
}
