//! Normalisation of canonical values: formatting differences are never drift.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use ferry::model::{DateForm, DateValue, FieldKind, FieldValue};
use proptest::prelude::*;
use unicode_normalization::UnicodeNormalization;

fn parse(kind: FieldKind, raw: &str) -> Option<FieldValue> {
    FieldValue::parse(kind, raw).expect("parses")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Reading a value's canonical form gives the same value back, for any input text.
    #[test]
    fn text_normalisation_is_idempotent(raw in any::<String>()) {
        if let Some(v) = parse(FieldKind::Text, &raw) {
            prop_assert_eq!(parse(FieldKind::Text, &v.to_canonical_string()), Some(v));
        }
    }

    #[test]
    fn set_normalisation_is_idempotent(items in proptest::collection::vec(any::<String>(), 0..8)) {
        if let Some(v) = FieldValue::set(&items) {
            let again = parse(FieldKind::Set, &v.to_canonical_string());
            prop_assert_eq!(again, Some(v));
        }
    }

    /// The formatting the two systems add or drop (decomposed accents, CRLF, padding) makes
    /// no difference: the values are equal.
    #[test]
    fn reformatted_text_is_equal(raw in "[ -~À-ÿ\n]{0,80}") {
        let reformatted = format!("  {}\t\r\n", raw.nfd().collect::<String>().replace('\n', "\r\n"));
        prop_assert_eq!(parse(FieldKind::Text, &raw), parse(FieldKind::Text, &reformatted));
    }

    /// Equal after normalisation means equal: two inputs with the same canonical string are
    /// the same value, and different canonical strings are different values.
    #[test]
    fn equality_is_equality_of_canonical_form(a in "[ a-cÀ\n]{0,6}", b in "[ a-cÀ\n]{0,6}") {
        let (va, vb) = (parse(FieldKind::Text, &a), parse(FieldKind::Text, &b));
        let (ca, cb) = (
            va.as_ref().map(FieldValue::to_canonical_string),
            vb.as_ref().map(FieldValue::to_canonical_string),
        );
        prop_assert_eq!(va == vb, ca == cb);
    }

    /// Keyword order, repeats and padding do not matter; case does.
    #[test]
    fn sets_ignore_order_and_repeats(items in proptest::collection::vec("[a-cA-C]{1,3}", 1..6), seed in any::<u64>()) {
        let mut shuffled = items.clone();
        let n = shuffled.len();
        shuffled.rotate_left((seed as usize) % n);
        shuffled.push(format!(" {} ", items[0]));
        prop_assert_eq!(FieldValue::set(&items), FieldValue::set(&shuffled));
    }

    /// Every form either system uses for a moment reads as the day written in it, and the
    /// form a target used writes that day so that it reads back the same.
    #[test]
    fn every_form_of_a_moment_is_the_day_written_in_it(secs in 0i64..4_102_444_800, micros in 0u32..1_000_000) {
        let t: DateTime<Utc> = DateTime::from_timestamp(secs, micros * 1000).unwrap();
        let offset = t.with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap());
        let forms = [
            (t.to_rfc3339_opts(SecondsFormat::Micros, true), t.date_naive()),
            (t.to_rfc3339_opts(SecondsFormat::Micros, false), t.date_naive()),
            (offset.to_rfc3339_opts(SecondsFormat::Micros, false), offset.date_naive()),
            (t.format("%Y-%m-%d %H:%M:%S%.6f").to_string(), t.date_naive()),
            (t.format("%Y-%m-%d %H:%M:%S GMT").to_string(), t.date_naive()),
            (t.format("%Y%m%d").to_string(), t.date_naive()),
            (t.format("%Y:%m:%d").to_string(), t.date_naive()),
        ];
        for (form, day) in forms {
            let expected = Some(FieldValue::Date(DateValue::new(day)));
            prop_assert_eq!(&parse(FieldKind::Date, &form), &expected, "{}", form);
            let canonical = expected.as_ref().unwrap().to_canonical_string();
            prop_assert_eq!(&parse(FieldKind::Date, &canonical), &expected);
            let spelled = DateForm::spell(expected.as_ref().unwrap(), Some(&form));
            prop_assert_eq!(&parse(FieldKind::Date, &spelled), &expected, "{} written as {}", form, spelled);
        }
    }

    #[test]
    fn days_normalise_from_every_day_form(y in 1800i32..2200, m in 1u32..13, d in 1u32..29) {
        let day = NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let expected = Some(FieldValue::Date(DateValue::new(day)));
        for form in [day.format("%Y-%m-%d").to_string(), day.format("%Y%m%d").to_string(), format!(" {} ", day)] {
            prop_assert_eq!(&parse(FieldKind::Date, &form), &expected);
        }
    }

    /// No input makes parsing panic; bad input is an error naming the value.
    #[test]
    fn parsing_any_input_never_panics(raw in any::<String>()) {
        for kind in FieldKind::ALL {
            match FieldValue::parse(kind, &raw) {
                Ok(_) => {}
                Err(e) => prop_assert!(e.to_string().contains(&raw)),
            }
        }
    }
}

#[test]
fn seconds_without_fraction_and_the_time_of_day_are_form_not_value() {
    assert_eq!(
        parse(FieldKind::Date, "2024-05-01 12:00:00 GMT"),
        parse(FieldKind::Date, "2024-05-01T12:00:00.000Z")
    );
    assert_eq!(
        parse(FieldKind::Date, "2024-05-01"),
        parse(FieldKind::Date, "2024-05-01T00:00:00Z"),
        "a date field is a day: the time of day is form, not value"
    );
}
