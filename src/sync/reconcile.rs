//! Three-way reconciliation of one field of one paired asset: PhotoShelter's value now, the
//! archive's value now, and the baseline (the value both last agreed on). Pure: no I/O, so
//! every row of DESIGN.md's table and every rule is tested directly.
//!
//! | case | outcome |
//! |---|---|
//! | equal | in sync; the baseline takes the value |
//! | only PhotoShelter moved from the baseline | push PhotoShelter's value to Preservica |
//! | only Preservica moved | push Preservica's value to PhotoShelter |
//! | both moved, differently | a true conflict: the field's rule decides (or a person) |
//! | no baseline yet | first meeting: a value present on one side only fills the gap; two different values go to the rule |

use crate::mapping::{FieldSpec, Rule};
use crate::model::{FieldValue, System};
use crate::rules::{self, Contest, Verdict};
use chrono::{DateTime, Utc};

/// The baseline of one field: never agreed, or agreed on a value (or on "no value").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Baseline {
    None,
    Agreed(Option<FieldValue>),
}

/// What reconciliation sees of one field.
#[derive(Debug, Clone, Copy)]
pub struct FieldState<'a> {
    pub photoshelter: Option<&'a FieldValue>,
    pub preservica: Option<&'a FieldValue>,
    pub baseline: &'a Baseline,
    /// Each system's own last-modified time of the record, for `newest`.
    pub photoshelter_modified: Option<DateTime<Utc>>,
    pub preservica_modified: Option<DateTime<Utc>>,
}

/// Which row of the table a field fell in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Case {
    Equal,
    PhotoShelterChanged,
    PreservicaChanged,
    BothChanged,
    FirstMeeting,
}

/// What is to happen to the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Both hold the same value; only the baseline moves.
    InSync,
    /// Both systems must end up holding `Decision::value`.
    Write,
    /// A person decides; nothing is written.
    Review,
}

/// The decision for one field, with everything needed to explain it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub field: String,
    pub case: Case,
    pub outcome: Outcome,
    pub rule: Rule,
    /// The value both systems are to hold (for `InSync`, the value they hold).
    pub value: Option<FieldValue>,
    /// One line saying why, for reports and the UI.
    pub reason: String,
}

impl Decision {
    /// Whether `system` must be written to reach the decided value.
    pub fn writes_to(&self, system: System, state: &FieldState<'_>) -> bool {
        if self.outcome != Outcome::Write {
            return false;
        }
        let current = match system {
            System::PhotoShelter => state.photoshelter,
            System::Preservica => state.preservica,
        };
        current != self.value.as_ref()
    }
}

fn show(v: Option<&FieldValue>) -> String {
    match v {
        None => "no value".into(),
        Some(v) => {
            let s = v.to_string();
            let short: String = s.chars().take(40).collect();
            if short.len() < s.len() {
                format!("\"{short}…\"")
            } else {
                format!("\"{s}\"")
            }
        }
    }
}

/// Decides one field. `spec` must be a field that lives in both systems.
pub fn reconcile_field(spec: &FieldSpec, s: &FieldState<'_>) -> Decision {
    let (a, b) = (s.photoshelter, s.preservica);
    let decision = |case, outcome, value: Option<&FieldValue>, reason: String| Decision {
        field: spec.name.clone(),
        case,
        outcome,
        rule: spec.rule,
        value: value.cloned(),
        reason,
    };
    if a == b {
        let reason = match s.baseline {
            Baseline::Agreed(base) if base.as_ref() != a => {
                "changed to the same value in both systems".to_string()
            }
            _ => "equal in both systems".to_string(),
        };
        return decision(Case::Equal, Outcome::InSync, a, reason);
    }
    match s.baseline {
        Baseline::Agreed(base) if base.as_ref() == b => decision(
            Case::PhotoShelterChanged,
            Outcome::Write,
            a,
            format!("changed in PhotoShelter (from {})", show(b)),
        ),
        Baseline::Agreed(base) if base.as_ref() == a => decision(
            Case::PreservicaChanged,
            Outcome::Write,
            b,
            format!("changed in Preservica (from {})", show(a)),
        ),
        Baseline::Agreed(_) => apply_rule(spec, s, Case::BothChanged),
        Baseline::None => match (a, b) {
            // Nothing to choose between: the one value fills the other side's gap.
            (Some(v), None) => decision(
                Case::FirstMeeting,
                Outcome::Write,
                Some(v),
                "first meeting: only PhotoShelter has a value".into(),
            ),
            (None, Some(v)) => decision(
                Case::FirstMeeting,
                Outcome::Write,
                Some(v),
                "first meeting: only Preservica has a value".into(),
            ),
            _ => apply_rule(spec, s, Case::FirstMeeting),
        },
    }
}

fn apply_rule(spec: &FieldSpec, s: &FieldState<'_>, case: Case) -> Decision {
    let (a, b) = (s.photoshelter, s.preservica);
    let prefix = match case {
        Case::FirstMeeting => "first meeting, values differ",
        _ => "changed in both systems",
    };
    let write = |value: Option<&FieldValue>, why: String| Decision {
        field: spec.name.clone(),
        case,
        outcome: Outcome::Write,
        rule: spec.rule,
        value: value.cloned(),
        reason: format!("{prefix}: {why}"),
    };
    let review = |why: String| Decision {
        field: spec.name.clone(),
        case,
        outcome: Outcome::Review,
        rule: spec.rule,
        value: None,
        reason: format!("{prefix}: {why}"),
    };
    let contest = Contest {
        photoshelter: a,
        preservica: b,
        photoshelter_modified: s.photoshelter_modified,
        preservica_modified: s.preservica_modified,
    };
    match rules::decide(spec, &contest) {
        Verdict::Take(system, why) => write(contest.value(system), why),
        Verdict::Merge(merged, why) => write(merged.as_ref(), why),
        Verdict::Undecided(why) => review(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::Mapping;
    use crate::model::FieldKind;
    use chrono::TimeZone;

    fn mapping() -> Mapping {
        Mapping::parse(
            Mapping::default_text(),
            std::path::Path::new("default.toml"),
        )
        .unwrap()
    }

    fn text(s: &str) -> FieldValue {
        FieldValue::text(s).unwrap()
    }

    fn decide(
        field: &str,
        a: Option<FieldValue>,
        b: Option<FieldValue>,
        base: Baseline,
    ) -> Decision {
        decide_at(field, a, b, base, None, None)
    }

    fn decide_at(
        field: &str,
        a: Option<FieldValue>,
        b: Option<FieldValue>,
        base: Baseline,
        ta: Option<DateTime<Utc>>,
        tb: Option<DateTime<Utc>>,
    ) -> Decision {
        let m = mapping();
        let spec = m.field(field).unwrap();
        reconcile_field(
            spec,
            &FieldState {
                photoshelter: a.as_ref(),
                preservica: b.as_ref(),
                baseline: &base,
                photoshelter_modified: ta,
                preservica_modified: tb,
            },
        )
    }

    #[test]
    fn equal_values_are_in_sync_even_when_both_changed_alike() {
        let d = decide(
            "title",
            Some(text("A")),
            Some(text("A")),
            Baseline::Agreed(Some(text("old"))),
        );
        assert_eq!((d.case, d.outcome), (Case::Equal, Outcome::InSync));
        assert_eq!(d.reason, "changed to the same value in both systems");
        assert_eq!(d.value, Some(text("A")));
    }

    #[test]
    fn a_change_on_one_side_goes_to_the_other_whatever_the_rule() {
        // title's rule is newest and caption's is photoshelter: one-sided changes ignore both.
        let d = decide(
            "title",
            Some(text("new")),
            Some(text("old")),
            Baseline::Agreed(Some(text("old"))),
        );
        assert_eq!(
            (d.case, d.outcome, d.value.clone()),
            (Case::PhotoShelterChanged, Outcome::Write, Some(text("new")))
        );
        let d = decide(
            "caption",
            Some(text("old")),
            Some(text("new")),
            Baseline::Agreed(Some(text("old"))),
        );
        assert_eq!(
            (d.case, d.value.clone()),
            (Case::PreservicaChanged, Some(text("new")))
        );
        assert_eq!(d.reason, "changed in Preservica (from \"old\")");
        // Clearing a value is a change too.
        let d = decide(
            "caption",
            None,
            Some(text("old")),
            Baseline::Agreed(Some(text("old"))),
        );
        assert_eq!((d.case, d.value.clone()), (Case::PhotoShelterChanged, None));
    }

    #[test]
    fn owner_rules_decide_true_conflicts() {
        let base = Baseline::Agreed(Some(text("base")));
        let d = decide("caption", Some(text("ps")), Some(text("pv")), base.clone());
        assert_eq!(
            (d.case, d.value.clone()),
            (Case::BothChanged, Some(text("ps")))
        );
        assert_eq!(
            d.reason,
            "changed in both systems: PhotoShelter owns this field"
        );
        let d = decide(
            "date_created",
            Some(
                FieldValue::parse(FieldKind::Date, "1962-07-14")
                    .unwrap()
                    .unwrap(),
            ),
            Some(
                FieldValue::parse(FieldKind::Date, "1962-07-15")
                    .unwrap()
                    .unwrap(),
            ),
            Baseline::Agreed(None),
        );
        assert_eq!(d.value.unwrap().to_canonical_string(), "1962-07-15");
    }

    #[test]
    fn newest_takes_the_later_record_and_asks_when_it_cannot_tell() {
        let t = |h| Some(Utc.with_ymd_and_hms(2026, 1, 1, h, 0, 0).unwrap());
        let base = Baseline::Agreed(Some(text("base")));
        let d = decide_at(
            "title",
            Some(text("ps")),
            Some(text("pv")),
            base.clone(),
            t(10),
            t(9),
        );
        assert_eq!(d.value, Some(text("ps")));
        let d = decide_at(
            "title",
            Some(text("ps")),
            Some(text("pv")),
            base.clone(),
            t(8),
            t(9),
        );
        assert_eq!(d.value, Some(text("pv")));
        assert_eq!(
            d.reason,
            "changed in both systems: Preservica's record changed last"
        );
        let d = decide_at(
            "title",
            Some(text("ps")),
            Some(text("pv")),
            base,
            t(9),
            t(9),
        );
        assert_eq!(d.outcome, Outcome::Review);
    }

    #[test]
    fn union_merges_sets() {
        let set = |s: &[&str]| FieldValue::set(s);
        let d = decide(
            "keywords",
            set(&["boats", "harbour"]),
            set(&["harbour", "regatta"]),
            Baseline::Agreed(set(&["harbour"])),
        );
        assert_eq!(d.value, set(&["boats", "harbour", "regatta"]));
        assert_eq!(
            d.reason,
            "changed in both systems: union of both systems' values"
        );
    }

    #[test]
    fn most_restrictive_takes_the_earlier_expiry_and_the_stricter_release() {
        let date = |s| FieldValue::parse(FieldKind::Date, s).unwrap();
        let d = decide(
            "license_expiry",
            date("2027-01-31"),
            date("2026-12-31"),
            Baseline::None,
        );
        assert_eq!(d.value.unwrap().to_canonical_string(), "2026-12-31");
        // An expiry is stricter than none.
        let d = decide(
            "license_expiry",
            None,
            date("2030-01-01"),
            Baseline::Agreed(date("2029-01-01")),
        );
        assert_eq!(d.case, Case::BothChanged);
        assert_eq!(d.value.unwrap().to_canonical_string(), "2030-01-01");
        let e = |s: &str| Some(FieldValue::Enum(s.into()));
        let d = decide("model_release", e("MR-UMR"), e("MR-NON"), Baseline::None);
        assert_eq!(d.value, e("MR-NON"));
        assert_eq!(
            d.reason,
            "first meeting, values differ: Preservica's value is the more restrictive"
        );
    }

    #[test]
    fn manual_fields_go_to_review_and_write_nothing() {
        let d = decide(
            "copyright_notice",
            Some(text("© A")),
            Some(text("© B")),
            Baseline::Agreed(Some(text("© C"))),
        );
        assert_eq!(d.outcome, Outcome::Review);
        assert_eq!(d.value, None);
        let state = FieldState {
            photoshelter: None,
            preservica: None,
            baseline: &Baseline::None,
            photoshelter_modified: None,
            preservica_modified: None,
        };
        assert!(!d.writes_to(System::PhotoShelter, &state));
    }

    #[test]
    fn first_meeting_fills_gaps_and_applies_the_rule_to_differences() {
        let d = decide("copyright_notice", Some(text("© A")), None, Baseline::None);
        assert_eq!(
            (d.case, d.outcome, d.value.clone()),
            (Case::FirstMeeting, Outcome::Write, Some(text("© A")))
        );
        let d = decide(
            "caption",
            Some(text("ps")),
            Some(text("pv")),
            Baseline::None,
        );
        assert_eq!(
            (d.case, d.value.clone()),
            (Case::FirstMeeting, Some(text("ps")))
        );
        assert_eq!(
            d.reason,
            "first meeting, values differ: PhotoShelter owns this field"
        );
    }
}
