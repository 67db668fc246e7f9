//! Precedence: which value a field's rule (`photoshelter`, `preservica`, `newest`, `union`,
//! `most_restrictive`, `manual`) favours when PhotoShelter and Preservica hold different values.
//!
//! The one owner of that decision, used by reconciliation (which writes the winner to both
//! systems) and by the search index (which shows the winner). Reconciliation's needs set the
//! semantics because its answer is written: a rule that cannot rank two values answers
//! [`Verdict::Undecided`] rather than guess, so no value is ever lost to an unknown enum
//! value or a value of the wrong kind; a person decides. The index, which must show something,
//! shows PhotoShelter's value for an undecided field, as it does for `manual`.

use crate::mapping::{FieldSpec, Rule};
use crate::model::{FieldKind, FieldValue, System};
use chrono::{DateTime, Utc};
use std::cmp::Ordering;

/// The two values in contest, with each system's last-modified time of its record (for
/// `newest`; unknown times leave `newest` undecided).
#[derive(Debug, Clone, Copy)]
pub struct Contest<'a> {
    pub photoshelter: Option<&'a FieldValue>,
    pub preservica: Option<&'a FieldValue>,
    pub photoshelter_modified: Option<DateTime<Utc>>,
    pub preservica_modified: Option<DateTime<Utc>>,
}

/// What the rule favours, with one line saying why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// One system's value (which may be "no value").
    Take(System, String),
    /// A value made of both (`union`); `None` when both are empty.
    Merge(Option<FieldValue>, String),
    /// The rule cannot decide; a person does.
    Undecided(String),
}

impl<'a> Contest<'a> {
    /// The value `system` holds.
    pub fn value(&self, system: System) -> Option<&'a FieldValue> {
        match system {
            System::PhotoShelter => self.photoshelter,
            System::Preservica => self.preservica,
        }
    }
}

/// Applies `spec`'s rule to two values that differ.
pub fn decide(spec: &FieldSpec, c: &Contest<'_>) -> Verdict {
    match spec.rule {
        Rule::PhotoShelter => {
            Verdict::Take(System::PhotoShelter, "PhotoShelter owns this field".into())
        }
        Rule::Preservica => Verdict::Take(System::Preservica, "Preservica owns this field".into()),
        Rule::Manual => Verdict::Undecided("this field's rule is manual; a person decides".into()),
        Rule::Newest => newest(c),
        Rule::Union => {
            let members = [c.photoshelter, c.preservica]
                .into_iter()
                .flatten()
                .flat_map(|v| v.members());
            Verdict::Merge(
                FieldValue::set(members),
                "union of both systems' values".into(),
            )
        }
        Rule::MostRestrictive => most_restrictive(spec, c.photoshelter, c.preservica)
            .unwrap_or_else(|| {
                Verdict::Undecided("the values cannot be ranked; a person decides".into())
            }),
    }
}

fn newest(c: &Contest<'_>) -> Verdict {
    match (c.photoshelter_modified, c.preservica_modified) {
        (Some(ta), Some(tb)) if ta > tb => Verdict::Take(
            System::PhotoShelter,
            "PhotoShelter's record changed last".into(),
        ),
        (Some(ta), Some(tb)) if tb > ta => Verdict::Take(
            System::Preservica,
            "Preservica's record changed last".into(),
        ),
        _ => Verdict::Undecided(
            "the rule is newest but the records' times cannot tell which changed last".into(),
        ),
    }
}

/// The stricter of two values: the earlier date (a date is stricter than none: no expiry
/// means unlimited), or the enum value listed first in the field's vocabulary. `None` when
/// they cannot be ranked: an enum value outside the vocabulary, or values of another kind.
fn most_restrictive(
    spec: &FieldSpec,
    a: Option<&FieldValue>,
    b: Option<&FieldValue>,
) -> Option<Verdict> {
    let pick = |ord: Ordering, what: &str| match ord {
        Ordering::Less | Ordering::Equal => Verdict::Take(
            System::PhotoShelter,
            format!("PhotoShelter's {what} is the more restrictive"),
        ),
        Ordering::Greater => Verdict::Take(
            System::Preservica,
            format!("Preservica's {what} is the more restrictive"),
        ),
    };
    match (a, b) {
        (Some(_), None) => Some(Verdict::Take(
            System::PhotoShelter,
            "only PhotoShelter sets a restriction".into(),
        )),
        (None, Some(_)) => Some(Verdict::Take(
            System::Preservica,
            "only Preservica sets a restriction".into(),
        )),
        (Some(FieldValue::Date(x)), Some(FieldValue::Date(y))) if spec.kind == FieldKind::Date => {
            Some(pick(x.day().cmp(&y.day()), "date (the earlier)"))
        }
        (Some(FieldValue::Enum(x)), Some(FieldValue::Enum(y))) => {
            let rank = |v: &str| spec.values.iter().position(|w| w == v);
            Some(pick(rank(x)?.cmp(&rank(y)?), "value"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::Mapping;

    fn contest<'a>(a: &'a FieldValue, b: &'a FieldValue) -> Contest<'a> {
        Contest {
            photoshelter: Some(a),
            preservica: Some(b),
            photoshelter_modified: None,
            preservica_modified: None,
        }
    }

    #[test]
    fn an_enum_value_outside_the_vocabulary_is_left_to_a_person() {
        let m = Mapping::parse(
            Mapping::default_text(),
            std::path::Path::new("default.toml"),
        )
        .unwrap();
        let spec = m.field("model_release").unwrap();
        let known = FieldValue::Enum("MR-UMR".into());
        let unknown = FieldValue::Enum("MR-SOMETIMES".into());
        for (a, b) in [(&known, &unknown), (&unknown, &known)] {
            assert!(matches!(
                decide(spec, &contest(a, b)),
                Verdict::Undecided(_)
            ));
        }
        let stricter = FieldValue::Enum("MR-NON".into());
        assert_eq!(
            decide(spec, &contest(&known, &stricter)),
            Verdict::Take(
                System::Preservica,
                "Preservica's value is the more restrictive".into()
            )
        );
    }
}
