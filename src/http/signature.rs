//! Webhook signatures: `X-Intervene-Signature: t=<unix seconds>,v1=<hex>` where the
//! hex is HMAC-SHA256(secret, "<t>.<raw body>"). Several `v1=` values may be sent
//! (secret rotation); one must match. The timestamp must be within the replay window
//! of now, either way.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing `X-Intervene-Signature` header")]
    Missing,
    #[error("malformed `X-Intervene-Signature` header: expected `t=<unix seconds>,v1=<hex>`")]
    Malformed,
    #[error("signature timestamp is {0} s away from now; the replay window is {1} s")]
    Stale(i64, u64),
    #[error("signature does not match the body")]
    Mismatch,
}

/// Check `header` for `body` at time `now` (unix seconds).
pub fn verify(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now: i64,
    window_secs: u64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", v)) => sigs.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if sigs.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let skew = now.saturating_sub(t);
    if skew.unsigned_abs() > window_secs {
        return Err(SignatureError::Stale(skew, window_secs));
    }
    for sig in sigs {
        let mut mac = mac(secret);
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        // verify_slice compares in constant time.
        if mac.verify_slice(&sig).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    #[allow(clippy::expect_used)]
    <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length")
}

/// The header value for `body` at time `t` (for clients, tests and benchmarks).
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    format!("t={t},v1={}", hex::encode(m.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_signature_passes_and_tampering_fails() {
        let h = sign(b"s3cret", 1000, b"{}");
        assert_eq!(verify(b"s3cret", Some(&h), b"{}", 1000, 300), Ok(()));
        assert_eq!(
            verify(b"s3cret", Some(&h), b"{ }", 1000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"other", Some(&h), b"{}", 1000, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn stale_and_future_timestamps_fail() {
        let h = sign(b"k", 1000, b"x");
        assert!(matches!(
            verify(b"k", Some(&h), b"x", 1301, 300),
            Err(SignatureError::Stale(..))
        ));
        assert!(matches!(
            verify(b"k", Some(&h), b"x", 699, 300),
            Err(SignatureError::Stale(..))
        ));
    }

    #[test]
    fn malformed_headers_are_named() {
        assert_eq!(
            verify(b"k", None, b"x", 0, 300),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(b"k", Some("v1=zz"), b"x", 0, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(b"k", Some("t=1"), b"x", 1, 300),
            Err(SignatureError::Malformed)
        );
    }
}
