//! Ids and refs are opaque (both wire contracts say so): ferry accepts any id that is safe to
//! carry — non-empty, at most [`MAX_BYTES`], no control characters — and always sends one as a
//! single URL-encoded path segment. A shape other than the usual one is worth a warning, never
//! a reason to stop a listing, a login or a run.

/// Longest id ferry accepts, in bytes.
pub const MAX_BYTES: usize = 256;

/// Checks that an id is safe to carry; the error says what is wrong with it.
pub fn check(id: &str) -> Result<(), String> {
    if id.trim().is_empty() {
        return Err("the id is empty".into());
    }
    if id.len() > MAX_BYTES {
        return Err(format!(
            "{} bytes, more than the {MAX_BYTES} ferry accepts",
            id.len()
        ));
    }
    if let Some(c) = id.chars().find(|c| c.is_control()) {
        return Err(format!("it holds the control character U+{:04X}", c as u32));
    }
    Ok(())
}

/// One path segment, percent-encoded: only unreserved characters stay as they are, and `.`
/// and `..` alone (which a URL would resolve as steps) are encoded too.
pub fn segment(raw: &str) -> String {
    if raw == "." || raw == ".." {
        return raw.replace('.', "%2E");
    }
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether `reference` has the shape of the refs Preservica assigns (a UUID); refs of other
/// shapes are still used as they are.
pub fn is_uuid_shaped(reference: &str) -> bool {
    let b = reference.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Remembers which odd ids were already logged, so each is logged once.
#[derive(Debug, Default)]
pub struct OddIds(std::sync::Mutex<std::collections::HashSet<String>>);

impl OddIds {
    /// True the first time `id` is seen (and at most for the first thousand ids).
    pub fn first_time(&self, id: &str) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        seen.len() < 1_000 && seen.insert(id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_safe_id_is_accepted_and_unsafe_ones_say_why() {
        for ok in ["I0000AbCdEfGhIjK", "img 2024/05#1.ü", "..", "x"] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        assert!(check("").unwrap_err().contains("empty"));
        assert!(check("a\nb").unwrap_err().contains("U+000A"));
        assert!(check(&"x".repeat(257)).unwrap_err().contains("257 bytes"));
    }

    #[test]
    fn every_id_is_one_path_segment() {
        assert_eq!(segment("I0000a.b_c"), "I0000a.b_c");
        assert_eq!(segment("a/b c?d#e"), "a%2Fb%20c%3Fd%23e");
        assert_eq!(segment("ü"), "%C3%BC");
        assert_eq!(segment(".."), "%2E%2E");
        assert_eq!(segment("."), "%2E");
    }

    #[test]
    fn preservica_refs_are_told_apart_by_shape_only() {
        assert!(is_uuid_shaped("0f8ad4b5-3e3a-4d5b-9c2d-1a2b3c4d5e6f"));
        assert!(!is_uuid_shaped("asset-0001"));
    }
}
