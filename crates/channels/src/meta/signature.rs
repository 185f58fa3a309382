//! How Meta proves a request is its own: the subscription handshake (`hub.mode=subscribe`, the verify token the
//! administrator chose, answered with `hub.challenge`) and `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of
//! the raw body under the app secret, on every notification.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header every notification carries.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Why a request is not Meta's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request has no X-Hub-Signature-256")]
    Missing,
    #[error("X-Hub-Signature-256 is not `sha256=<64 hex digits>`")]
    Malformed,
    #[error("X-Hub-Signature-256 does not match the body and the app secret")]
    Mismatch,
    #[error("the app has no secret to check signatures with")]
    NoSecret,
    #[error("hub.mode is not `subscribe`")]
    NotSubscribe,
    #[error("hub.verify_token is not this channel's verify token")]
    WrongVerifyToken,
    #[error("hub.challenge is missing or too long")]
    BadChallenge,
}

fn mac(app_secret: &[u8]) -> Result<Hmac<Sha256>, SignatureError> {
    if app_secret.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    Hmac::<Sha256>::new_from_slice(app_secret).map_err(|_| SignatureError::NoSecret)
}

/// `sha256=<hex>` for `body` under `app_secret`: what Meta sends (and what the tests' fake Meta signs with).
pub fn sign(app_secret: &[u8], body: &[u8]) -> String {
    match mac(app_secret) {
        Ok(mut m) => {
            m.update(body);
            format!("sha256={}", hex::encode(m.finalize().into_bytes()))
        }
        Err(_) => String::new(),
    }
}

/// Checks `header` (the `X-Hub-Signature-256` value) against the raw `body`. The comparison is constant-time
/// (`verify_slice`), so the time it takes tells nothing about how much of a forged signature was right.
pub fn verify_signature(app_secret: &[u8], header: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex_sig =
        header.strip_prefix("sha256=").or_else(|| header.strip_prefix("SHA256=")).ok_or(SignatureError::Malformed)?;
    if hex_sig.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let expected = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed)?;
    let mut m = mac(app_secret)?;
    m.update(body);
    m.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

/// The longest `hub.challenge` answered. Meta's are short numbers; an answer is echoed back, so it is bounded.
pub const MAX_CHALLENGE: usize = 256;

/// The subscription handshake: `hub.mode` must be `subscribe` and `hub.verify_token` the channel's own (compared in
/// constant time); the answer is `hub.challenge`, as given.
pub fn verify_subscription<'a>(
    mode: Option<&str>,
    verify_token: Option<&str>,
    challenge: Option<&'a str>,
    expected_token: &str,
) -> Result<&'a str, SignatureError> {
    if mode != Some("subscribe") {
        return Err(SignatureError::NotSubscribe);
    }
    let given = verify_token.unwrap_or_default().as_bytes();
    if expected_token.is_empty() || !constant_time_eq(given, expected_token.as_bytes()) {
        return Err(SignatureError::WrongVerifyToken);
    }
    match challenge {
        Some(c) if !c.is_empty() && c.len() <= MAX_CHALLENGE => Ok(c),
        _ => Err(SignatureError::BadChallenge),
    }
}

/// Equal bytes, in time that depends only on the lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_made_with_the_secret_is_accepted_and_nothing_else_is() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let header = sign(b"s3cret", body);
        assert!(header.starts_with("sha256=") && header.len() == 71);
        assert_eq!(verify_signature(b"s3cret", Some(&header), body), Ok(()));
        assert_eq!(verify_signature(b"other", Some(&header), body), Err(SignatureError::Mismatch));
        assert_eq!(verify_signature(b"s3cret", Some(&header), b"{}"), Err(SignatureError::Mismatch));
        assert_eq!(verify_signature(b"s3cret", None, body), Err(SignatureError::Missing));
        assert_eq!(verify_signature(b"s3cret", Some("sha1=abc"), body), Err(SignatureError::Malformed));
        assert_eq!(verify_signature(b"s3cret", Some("sha256=zz"), body), Err(SignatureError::Malformed));
        let not_hex = format!("sha256={}", "g".repeat(64));
        assert_eq!(verify_signature(b"s3cret", Some(&not_hex), body), Err(SignatureError::Malformed));
        assert_eq!(verify_signature(b"", Some(&header), body), Err(SignatureError::NoSecret));
    }

    #[test]
    fn matches_an_independent_hmac() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let header = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(header, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert_eq!(
            verify_signature(
                b"Jefe",
                Some(&header.to_uppercase().replace("SHA256", "sha256")),
                b"what do ya want for nothing?"
            ),
            Ok(())
        );
    }

    #[test]
    fn the_handshake_answers_the_challenge_only_to_the_right_token() {
        assert_eq!(verify_subscription(Some("subscribe"), Some("tok"), Some("1158201444"), "tok"), Ok("1158201444"));
        assert_eq!(
            verify_subscription(Some("unsubscribe"), Some("tok"), Some("1"), "tok"),
            Err(SignatureError::NotSubscribe)
        );
        assert_eq!(verify_subscription(None, Some("tok"), Some("1"), "tok"), Err(SignatureError::NotSubscribe));
        assert_eq!(
            verify_subscription(Some("subscribe"), Some("tok2"), Some("1"), "tok"),
            Err(SignatureError::WrongVerifyToken)
        );
        assert_eq!(
            verify_subscription(Some("subscribe"), None, Some("1"), "tok"),
            Err(SignatureError::WrongVerifyToken)
        );
        assert_eq!(
            verify_subscription(Some("subscribe"), Some(""), Some("1"), ""),
            Err(SignatureError::WrongVerifyToken)
        );
        assert_eq!(verify_subscription(Some("subscribe"), Some("tok"), None, "tok"), Err(SignatureError::BadChallenge));
        let long = "9".repeat(MAX_CHALLENGE + 1);
        assert_eq!(
            verify_subscription(Some("subscribe"), Some("tok"), Some(&long), "tok"),
            Err(SignatureError::BadChallenge)
        );
    }
}
