//! The two HMAC-SHA256 values of Preservica webhooks (contract §7.3): the answer to the
//! subscription challenge, HMAC(secret, code), and a delivery's `Preservica-Signature`,
//! HMAC(secret, "preservica-webhook-auth" + body), both lowercase hex.
//!
//! Invariant: a signature is checked in constant time (the `hmac` crate's `verify_slice`)
//! over the raw body bytes as received; the secret and the expected value never appear in an
//! error.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// What Preservica puts before the body when it signs a delivery.
pub const DELIVERY_PREFIX: &[u8] = b"preservica-webhook-auth";
/// The header carrying a delivery's signature.
pub const SIGNATURE_HEADER: &str = "Preservica-Signature";

/// Why a delivery's signature was refused. The messages never hold the secret, the header
/// value or the expected signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the delivery has no Preservica-Signature header")]
    Missing,
    #[error("the Preservica-Signature header is not a hex HMAC-SHA256 (64 hex digits)")]
    NotHex,
    #[error("the Preservica-Signature does not match the body signed with ferry's webhook secret")]
    Mismatch,
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length (a long one is hashed first), so this cannot fail.
    <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC accepts any key length")
}

/// The answer to a subscription challenge: lowercase hex HMAC-SHA256(secret, code).
pub fn challenge_response(secret: &[u8], code: &str) -> String {
    let mut m = mac(secret);
    m.update(code.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// A delivery's signature: lowercase hex HMAC-SHA256(secret, "preservica-webhook-auth" + body).
pub fn sign_delivery(secret: &[u8], body: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(DELIVERY_PREFIX);
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

/// Checks a delivery's `Preservica-Signature` header against the raw body, in constant time.
/// Hex digits of either case are accepted; surrounding spaces are ignored.
pub fn verify_delivery(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.map(str::trim).filter(|h| !h.is_empty());
    let header = header.ok_or(SignatureError::Missing)?;
    if header.len() != 64 {
        return Err(SignatureError::NotHex);
    }
    let given = hex::decode(header).map_err(|_| SignatureError::NotHex)?;
    let mut m = mac(secret);
    m.update(DELIVERY_PREFIX);
    m.update(body);
    m.verify_slice(&given).map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    /// HMAC-SHA256 by RFC 2104's definition, straight from SHA-256: a second route to the
    /// same value, so the tests do not check the functions against themselves.
    fn rfc2104(key: &[u8], message: &[u8]) -> String {
        const BLOCK: usize = 64;
        let mut k = if key.len() > BLOCK {
            Sha256::digest(key).to_vec()
        } else {
            key.to_vec()
        };
        k.resize(BLOCK, 0);
        let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
        let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
        let inner = Sha256::new()
            .chain_update(&ipad)
            .chain_update(message)
            .finalize();
        let outer = Sha256::new()
            .chain_update(&opad)
            .chain_update(inner)
            .finalize();
        hex::encode(outer)
    }

    #[test]
    fn the_challenge_answer_is_the_hmac_of_the_code_in_lowercase_hex() {
        let code = "0b6a7c52-5f0e-4a3c-9d43-1b1d5d4f2e11";
        for secret in [&b"s3cret"[..], &[0xAAu8; 131][..], b""] {
            let got = challenge_response(secret, code);
            assert_eq!(got, rfc2104(secret, code.as_bytes()));
            assert_eq!(got.len(), 64);
            assert!(
                got.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
            );
        }
    }

    #[test]
    fn rfc_4231_case_2_holds() {
        // RFC 4231 §4.3, the published vector (key "Jefe"): independent of ferry's code.
        assert_eq!(
            challenge_response(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_delivery_is_signed_over_the_prefix_and_the_raw_body() {
        let body = br#"{"events":[{"entityRef":"abc","entityType":"IO"}]}"#;
        let mut message = b"preservica-webhook-auth".to_vec();
        message.extend_from_slice(body);
        assert_eq!(sign_delivery(b"k", body), rfc2104(b"k", &message));
    }

    #[test]
    fn verification_accepts_the_right_signature_in_either_case() {
        let body = b"{\"a\":1}";
        let sig = rfc2104(b"k", &[&b"preservica-webhook-auth"[..], body].concat());
        assert_eq!(verify_delivery(b"k", body, Some(&sig)), Ok(()));
        let upper = sig.to_ascii_uppercase();
        assert_eq!(
            verify_delivery(b"k", body, Some(&format!(" {upper} "))),
            Ok(())
        );
    }

    #[test]
    fn verification_refuses_missing_malformed_and_wrong_signatures() {
        let body = b"{\"a\":1}";
        let good = sign_delivery(b"k", body);
        assert_eq!(
            verify_delivery(b"k", body, None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_delivery(b"k", body, Some("  ")),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_delivery(b"k", body, Some("zz")),
            Err(SignatureError::NotHex)
        );
        let not_hex = format!("{}g", &good[..63]);
        assert_eq!(
            verify_delivery(b"k", body, Some(&not_hex)),
            Err(SignatureError::NotHex)
        );
        assert_eq!(
            verify_delivery(b"k", body, Some(&format!("{good}00"))),
            Err(SignatureError::NotHex)
        );
        assert_eq!(
            verify_delivery(b"other", body, Some(&good)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_delivery(b"k", b"{\"a\":2}", Some(&good)),
            Err(SignatureError::Mismatch)
        );
        // Signed without the prefix: what a receiver that forgot it would compute.
        let unprefixed = rfc2104(b"k", body);
        assert_eq!(
            verify_delivery(b"k", body, Some(&unprefixed)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn errors_never_show_the_secret_or_signatures() {
        let body = b"x";
        let good = sign_delivery(b"topsecret", body);
        let wrong = sign_delivery(b"other", body);
        let e = verify_delivery(b"topsecret", body, Some(&wrong)).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("topsecret") && !shown.contains(&good) && !shown.contains(&wrong));
    }
}
