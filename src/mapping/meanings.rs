//! What enum codes mean, for people: the built-in meanings of the PLUS release codes
//! (`MR-NAP` → "model release: not applicable") and of ferry's archive status, which a
//! mapping's own `labels` add to or override (see [`super::Mapping::label_of`]).
//!
//! Invariant: a meaning is only ever shown next to its code, never instead of it in data
//! (CSV/JSON keep the code and carry the meaning in its own field).

/// Built-in meanings: (code, meaning). Codes are matched exactly (they are a closed,
/// case-sensitive vocabulary).
const BUILT_IN: &[(&str, &str)] = &[
    // PLUS Model Release Status.
    ("MR-NON", "model release: none"),
    ("MR-LMR", "model release: limited or incomplete"),
    ("MR-NAP", "model release: not applicable"),
    ("MR-UMR", "model release: unlimited"),
    // PLUS Property Release Status.
    ("PR-NON", "property release: none"),
    ("PR-LPR", "property release: limited or incomplete"),
    ("PR-NAP", "property release: not applicable"),
    ("PR-UPR", "property release: unlimited"),
    // ferry's archive status.
    ("not_archived", "not archived yet"),
    ("archiving", "being archived"),
    ("archived", "archived in Preservica"),
];

/// The built-in meaning of `code`, if ferry knows one.
pub fn built_in(code: &str) -> Option<&'static str> {
    BUILT_IN.iter().find(|(c, _)| *c == code).map(|(_, m)| *m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plus_release_code_has_a_meaning() {
        for code in [
            "MR-NON", "MR-LMR", "MR-NAP", "MR-UMR", "PR-NON", "PR-LPR", "PR-NAP", "PR-UPR",
        ] {
            let meaning = built_in(code).unwrap();
            assert!(meaning.contains("release"), "{code}: {meaning}");
        }
        assert_eq!(built_in("MR-NAP"), Some("model release: not applicable"));
        assert_eq!(built_in("mr-nap"), None);
        assert_eq!(built_in("MR-XYZ"), None);
    }
}
