//! Reading and validating a mapping file. Every problem is reported with the file and line it
//! is on, all at once, so a user fixes a file in one pass rather than one error per run.

use super::{
    FieldSpec, FragmentDef, LicenseField, Location, Mapping, PhotoShelterPlace, PreservicaPlace,
    Rule, names,
};
use crate::model::FieldKind;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The only mapping format version this ferry reads.
const FORMAT_VERSION: u32 = 1;

/// One thing wrong with a mapping file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub message: String,
}

/// A mapping file that cannot be used, with every problem found in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct MappingError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match p.line {
                Some(line) => write!(f, "{}:{line}: {}", self.file.display(), p.message)?,
                None => write!(f, "{}: {}", self.file.display(), p.message)?,
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    version: Spanned<u32>,
    #[serde(default)]
    fragments: BTreeMap<String, Spanned<RawFragment>>,
    #[serde(default, rename = "field")]
    fields: Vec<Spanned<RawField>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFragment {
    schema: String,
    root: String,
    root_namespace: String,
    root_prefix: Option<String>,
    element_namespace: String,
    element_prefix: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: Spanned<String>,
    kind: Spanned<String>,
    rule: Spanned<String>,
    values: Option<Spanned<Vec<String>>>,
    /// For enum fields: what each code means, for people (`"MR-NAP" = "…"`).
    labels: Option<Spanned<BTreeMap<String, String>>>,
    photoshelter: Option<Spanned<RawPhotoShelter>>,
    preservica: Option<Spanned<RawPreservica>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPhotoShelter {
    iptc: Option<String>,
    custom: Option<String>,
    attribute: Option<String>,
    license: Option<String>,
    max_bytes: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPreservica {
    entity: Option<String>,
    fragment: Option<String>,
    element: Option<String>,
    max_bytes: Option<usize>,
}

pub(super) fn load_file(path: &Path) -> Result<Mapping, MappingError> {
    let bytes = std::fs::read(path).map_err(|e| MappingError {
        file: path.to_path_buf(),
        problems: vec![Problem {
            line: None,
            message: format!("cannot read the mapping file: {e}"),
        }],
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = line_of(&String::from_utf8_lossy(e.as_bytes()), offset);
        MappingError {
            file: path.to_path_buf(),
            problems: vec![Problem {
                line: Some(line),
                message: "the file is not valid UTF-8".into(),
            }],
        }
    })?;
    parse(&text, path)
}

pub(super) fn parse(text: &str, file: &Path) -> Result<Mapping, MappingError> {
    let fail = |problems| MappingError {
        file: file.to_path_buf(),
        problems,
    };
    let raw: RawMapping = toml::from_str(text).map_err(|e| {
        fail(vec![Problem {
            line: e.span().map(|s| line_of(text, s.start)),
            message: toml_message(&e),
        }])
    })?;
    let mut v = Validator {
        text,
        problems: Vec::new(),
    };
    let mapping = v.validate(raw, file);
    if v.problems.is_empty() {
        Ok(mapping)
    } else {
        v.problems.sort_by_key(|p| p.line);
        Err(fail(v.problems))
    }
}

/// toml's message, made to read as a mapping problem ("unknown key" rather than serde's
/// "unknown field", which would be confused with a canonical field).
fn toml_message(e: &toml::de::Error) -> String {
    let msg = e.message().trim();
    match msg.strip_prefix("unknown field ") {
        Some(rest) => format!("unknown key {rest}"),
        None => msg.to_string(),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

struct Validator<'t> {
    text: &'t str,
    problems: Vec<Problem>,
}

impl Validator<'_> {
    fn line<T>(&self, s: &Spanned<T>) -> usize {
        line_of(self.text, s.span().start)
    }

    fn problem(&mut self, line: usize, message: impl Into<String>) {
        self.problems.push(Problem {
            line: Some(line),
            message: message.into(),
        });
    }

    fn validate(&mut self, raw: RawMapping, file: &Path) -> Mapping {
        if *raw.version.get_ref() != FORMAT_VERSION {
            let line = self.line(&raw.version);
            self.problem(
                line,
                format!(
                    "mapping format version {} is not supported (this ferry reads version {FORMAT_VERSION})",
                    raw.version.get_ref()
                ),
            );
        }
        let fragments = self.fragments(raw.fragments);
        let fields = self.fields(raw.fields, &fragments);
        if fields.is_empty() && self.problems.is_empty() {
            self.problems.push(Problem {
                line: None,
                message: "the mapping defines no [[field]]".into(),
            });
        }
        Mapping {
            file: file.to_path_buf(),
            fields,
            fragments,
        }
    }

    /// Checks each `[fragments.<name>]` table and that no two fragments claim one schema.
    fn fragments(&mut self, raw: BTreeMap<String, Spanned<RawFragment>>) -> Vec<FragmentDef> {
        let fragments = raw
            .into_iter()
            .map(|(name, f)| {
                let line = self.line(&f);
                let f = f.into_inner();
                for (key, value) in [
                    ("schema", &f.schema),
                    ("root", &f.root),
                    ("root_namespace", &f.root_namespace),
                    ("element_namespace", &f.element_namespace),
                ] {
                    if value.trim().is_empty() {
                        self.problem(line, format!("fragment '{name}': {key} is empty"));
                    }
                }
                let names = [
                    ("root", Some(&f.root)),
                    ("root_prefix", f.root_prefix.as_ref()),
                    ("element_prefix", f.element_prefix.as_ref()),
                ];
                for (key, value) in names {
                    if let Some(why) = value
                        .filter(|v| !v.trim().is_empty())
                        .and_then(|v| names::xml_name_problem(key, v))
                    {
                        self.problem(line, format!("fragment '{name}': {why}"));
                    }
                }
                FragmentDef {
                    name,
                    schema: f.schema,
                    root: f.root,
                    root_namespace: f.root_namespace,
                    root_prefix: f.root_prefix,
                    element_namespace: f.element_namespace,
                    element_prefix: f.element_prefix,
                }
            })
            .collect::<Vec<_>>();
        let mut schemas: HashMap<&str, &str> = HashMap::new();
        for f in &fragments {
            if let Some(other) = schemas.insert(&f.schema, &f.name) {
                self.problems.push(Problem {
                    line: None,
                    message: format!(
                        "fragments '{other}' and '{}' have the same schema {}",
                        f.name, f.schema
                    ),
                });
            }
        }
        fragments
    }

    /// Checks each `[[field]]` and that names and the places they write are unique.
    fn fields(&mut self, raw: Vec<Spanned<RawField>>, fragments: &[FragmentDef]) -> Vec<FieldSpec> {
        let mut fields: Vec<FieldSpec> = Vec::new();
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut ps_places: HashMap<PhotoShelterPlace, String> = HashMap::new();
        let mut pv_places: HashMap<PreservicaPlace, String> = HashMap::new();
        for raw_field in raw {
            let line = self.line(&raw_field);
            let Some(spec) = self.field(raw_field.into_inner(), line, fragments) else {
                continue;
            };
            if let Some(first) = names.insert(spec.name.clone(), spec.line) {
                self.problem(
                    spec.line,
                    format!(
                        "duplicate field '{}' (first defined on line {first})",
                        spec.name
                    ),
                );
                continue;
            }
            // Two fields writing one place would overwrite each other on every run.
            if let Some(loc) = &spec.photoshelter
                && let Some(other) = ps_places.insert(loc.place.clone(), spec.name.clone())
            {
                self.problem(
                    loc.line,
                    format!(
                        "field '{}' uses the same PhotoShelter location as '{other}'",
                        spec.name
                    ),
                );
            }
            if let Some(loc) = &spec.preservica
                && let Some(other) = pv_places.insert(loc.place.clone(), spec.name.clone())
            {
                self.problem(
                    loc.line,
                    format!(
                        "field '{}' uses the same Preservica location as '{other}'",
                        spec.name
                    ),
                );
            }
            fields.push(spec);
        }
        fields
    }

    fn field(
        &mut self,
        raw: RawField,
        line: usize,
        fragments: &[FragmentDef],
    ) -> Option<FieldSpec> {
        let name = raw.name.get_ref().clone();
        self.check_name(&raw.name);
        let kind = FieldKind::from_name(raw.kind.get_ref());
        if kind.is_none() {
            let l = self.line(&raw.kind);
            self.problem(
                l,
                format!(
                    "field '{name}': unknown kind '{}' (expected one of: text, date, set, enum, bool)",
                    raw.kind.get_ref()
                ),
            );
        }
        let rule = Rule::from_name(raw.rule.get_ref());
        let rule_line = self.line(&raw.rule);
        if rule.is_none() {
            self.problem(
                rule_line,
                format!(
                    "field '{name}': unknown rule '{}' (expected one of: photoshelter, preservica, newest, union, most_restrictive, manual)",
                    raw.rule.get_ref()
                ),
            );
        }
        let values = self.values(&name, raw.values.as_ref(), kind, line);
        let labels = self.labels(&name, raw.labels.as_ref(), &values);
        let photoshelter = raw
            .photoshelter
            .map(|loc| self.photoshelter_location(&name, loc, kind));
        let preservica = raw
            .preservica
            .map(|loc| self.preservica_location(&name, loc, kind, fragments));
        if let Some(Some(Location {
            place: PhotoShelterPlace::Iptc(iptc),
            line,
            ..
        })) = &photoshelter
            && let Some(why) = names::iptc_name_problem(iptc)
        {
            self.problem(*line, format!("field '{name}': {why}"));
        }
        let (kind, rule) = (kind?, rule?);
        let spec = FieldSpec {
            name,
            kind,
            rule,
            values,
            labels,
            photoshelter: photoshelter.flatten(),
            preservica: preservica.flatten(),
            line,
        };
        self.check_rule(&spec, rule_line);
        Some(spec)
    }

    fn check_name(&mut self, raw: &Spanned<String>) {
        let name = raw.get_ref();
        let name_ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !name_ok {
            let l = self.line(raw);
            self.problem(
                l,
                format!("field name '{name}' must be lowercase letters, digits and _, starting with a letter"),
            );
        }
    }

    /// An enum field's meanings of its codes: each key must be one of its `values` (so a typo
    /// cannot label nothing), and `labels` without `values` is a mistake.
    fn labels(
        &mut self,
        name: &str,
        raw: Option<&Spanned<BTreeMap<String, String>>>,
        values: &[String],
    ) -> BTreeMap<String, String> {
        let Some(raw) = raw else {
            return BTreeMap::new();
        };
        let l = self.line(raw);
        if values.is_empty() {
            self.problem(
                l,
                format!("field '{name}': labels is only for enum fields with values"),
            );
            return BTreeMap::new();
        }
        for code in raw.get_ref().keys().filter(|c| !values.contains(c)) {
            self.problem(
                l,
                format!(
                    "field '{name}': labels names '{code}', which is not one of its values ({})",
                    values.join(", ")
                ),
            );
        }
        raw.get_ref().clone()
    }

    /// An enum field's closed vocabulary; `values` on any other kind is a mistake.
    fn values(
        &mut self,
        name: &str,
        raw: Option<&Spanned<Vec<String>>>,
        kind: Option<FieldKind>,
        line: usize,
    ) -> Vec<String> {
        match (raw, kind) {
            (Some(v), Some(FieldKind::Enum)) => {
                if v.get_ref().is_empty() {
                    let l = self.line(v);
                    self.problem(l, format!("field '{name}': values is empty"));
                }
                v.get_ref().clone()
            }
            (Some(v), Some(_)) => {
                let l = self.line(v);
                self.problem(l, format!("field '{name}': values is only for enum fields"));
                Vec::new()
            }
            (None, Some(FieldKind::Enum)) => {
                self.problem(
                    line,
                    format!("field '{name}': an enum field needs values = [...] (its closed vocabulary, most restrictive first)"),
                );
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Checks that the rule fits the field's kind and the places the field lives.
    fn check_rule(&mut self, spec: &FieldSpec, rule_line: usize) {
        let FieldSpec {
            name,
            kind,
            rule,
            photoshelter,
            preservica,
            line,
            ..
        } = spec;
        let (kind, rule, line) = (*kind, *rule, *line);
        match rule {
            Rule::Union if kind != FieldKind::Set => self.problem(
                rule_line,
                format!("field '{name}': rule union merges sets, but the field is {kind}"),
            ),
            Rule::MostRestrictive if !matches!(kind, FieldKind::Date | FieldKind::Enum) => self
                .problem(
                    rule_line,
                    format!(
                        "field '{name}': rule most_restrictive cannot rank {kind} values (it ranks dates and enums); use manual or an owner rule"
                    ),
                ),
            _ => {}
        }
        match (photoshelter, preservica) {
            (None, None) => self.problem(
                line,
                format!("field '{name}': needs a photoshelter or a preservica location"),
            ),
            (None, Some(_)) if rule != Rule::Preservica => self.problem(
                rule_line,
                format!("field '{name}' lives only in Preservica, so its rule must be preservica"),
            ),
            (Some(_), None) if rule != Rule::PhotoShelter => self.problem(
                rule_line,
                format!(
                    "field '{name}' lives only in PhotoShelter, so its rule must be photoshelter"
                ),
            ),
            _ => {}
        }
        if let Some(loc) = preservica
            && loc.place == PreservicaPlace::EntityRef
            && rule != Rule::Preservica
        {
            self.problem(
                rule_line,
                format!("field '{name}': the entity Ref is read-only in Preservica, so the rule must be preservica"),
            );
        }
    }

    fn photoshelter_location(
        &mut self,
        field: &str,
        raw: Spanned<RawPhotoShelter>,
        kind: Option<FieldKind>,
    ) -> Option<Location<PhotoShelterPlace>> {
        let line = self.line(&raw);
        let raw = raw.into_inner();
        let license = match raw
            .license
            .as_deref()
            .map(|n| (n, LicenseField::from_name(n)))
        {
            None => None,
            Some((_, Some(f))) => Some(PhotoShelterPlace::License(f)),
            Some((n, None)) => {
                let known: Vec<&str> = LicenseField::ALL.iter().map(|f| f.name()).collect();
                self.problem(
                    line,
                    format!(
                        "field '{field}': the licence record has no field '{n}' (known: {})",
                        known.join(", ")
                    ),
                );
                return None;
            }
        };
        let places: Vec<PhotoShelterPlace> = [
            raw.iptc.map(PhotoShelterPlace::Iptc),
            raw.custom.map(PhotoShelterPlace::Custom),
            raw.attribute.map(PhotoShelterPlace::Attribute),
            license,
        ]
        .into_iter()
        .flatten()
        .collect();
        let Ok([place]) = <[PhotoShelterPlace; 1]>::try_from(places) else {
            self.problem(
                line,
                format!("field '{field}': a photoshelter location names exactly one of iptc, custom, attribute or license"),
            );
            return None;
        };
        if let PhotoShelterPlace::Iptc(n)
        | PhotoShelterPlace::Custom(n)
        | PhotoShelterPlace::Attribute(n) = &place
            && n.trim().is_empty()
        {
            self.problem(line, format!("field '{field}': empty PhotoShelter name"));
        }
        if let Some(kind) = kind {
            let holds = match &place {
                // IPTC is text: a set is held as a comma-separated list, a bool not at all.
                PhotoShelterPlace::Iptc(_) => kind != FieldKind::Bool,
                // One preset tag per field per file: no sets, and dates are not tags.
                PhotoShelterPlace::Custom(_) => {
                    matches!(kind, FieldKind::Text | FieldKind::Enum | FieldKind::Bool)
                }
                PhotoShelterPlace::Attribute(_) => kind != FieldKind::Set,
                PhotoShelterPlace::License(LicenseField::ExpirationDate) => kind == FieldKind::Date,
            };
            if !holds {
                let what = match &place {
                    PhotoShelterPlace::Iptc(n) => format!("IPTC field '{n}'"),
                    PhotoShelterPlace::Custom(n) => format!("custom metadata field '{n}'"),
                    PhotoShelterPlace::Attribute(n) => format!("media attribute '{n}'"),
                    PhotoShelterPlace::License(f) => format!("licence record field '{}'", f.name()),
                };
                self.problem(
                    line,
                    format!("field '{field}': PhotoShelter {what} cannot hold a {kind} value"),
                );
            }
        }
        Some(Location {
            place,
            max_bytes: raw.max_bytes,
            line,
        })
    }

    fn preservica_location(
        &mut self,
        field: &str,
        raw: Spanned<RawPreservica>,
        kind: Option<FieldKind>,
        fragments: &[FragmentDef],
    ) -> Option<Location<PreservicaPlace>> {
        let line = self.line(&raw);
        let raw = raw.into_inner();
        let place = match (raw.entity.as_deref(), raw.fragment, raw.element) {
            (Some(entity), None, None) => match entity {
                "title" => PreservicaPlace::EntityTitle,
                "description" => PreservicaPlace::EntityDescription,
                "ref" => PreservicaPlace::EntityRef,
                other => {
                    self.problem(
                        line,
                        format!("field '{field}': unknown Preservica entity part '{other}' (expected title, description or ref)"),
                    );
                    return None;
                }
            },
            (None, Some(fragment), Some(element)) => {
                if !fragments.iter().any(|f| f.name == fragment) {
                    self.problem(
                        line,
                        format!("field '{field}': unknown fragment '{fragment}' (define it under [fragments.{fragment}])"),
                    );
                }
                if let Some(why) = names::xml_name_problem("element", &element) {
                    self.problem(line, format!("field '{field}': {why}"));
                }
                PreservicaPlace::Element { fragment, element }
            }
            _ => {
                self.problem(
                    line,
                    format!("field '{field}': a preservica location is either entity = \"title\"|\"description\"|\"ref\" or fragment = \"...\" with element = \"...\""),
                );
                return None;
            }
        };
        if let Some(kind) = kind
            && !matches!(place, PreservicaPlace::Element { .. })
            && kind != FieldKind::Text
        {
            self.problem(
                line,
                format!("field '{field}': the Preservica entity's own fields hold text, not a {kind} value; use a fragment element"),
            );
        }
        Some(Location {
            place,
            max_bytes: raw.max_bytes,
            line,
        })
    }
}
