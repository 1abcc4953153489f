//! Checks that a delivery comes from the ticketing system: an HMAC-SHA256
//! signature over the body (or the timestamp and the body, with stale
//! timestamps refused), a bearer token, or both; compared in constant time.

use std::collections::BTreeMap;

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

use super::settings::{DEFAULT_SIGNATURE_HEADER, InboundSettings, SignatureAlgorithm};
use crate::auth::constant_time_eq;
use crate::infra::secrets::Secrets;

/// One delivery as the HTTP layer hands it over: lower-cased header names and values, and the body.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    /// Headers by lower-cased name.
    pub headers: BTreeMap<String, String>,
    /// The raw body.
    pub body: Vec<u8>,
    /// Query parameters of the URL.
    pub query: BTreeMap<String, String>,
}

impl Delivery {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// Why a delivery was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InboundError {
    /// No signature or token where one is required, or a wrong one.
    #[error("{0}")]
    Unauthenticated(String),
    /// The delivery's timestamp is too old or too far in the future.
    #[error("{0}")]
    Stale(String),
    /// The connector's secrets are not configured.
    #[error("{0}")]
    Misconfigured(String),
}

/// Verifies `delivery` against `settings` at Unix time `now`.
pub fn verify(
    settings: &InboundSettings,
    secrets: &Secrets,
    delivery: &Delivery,
    now: i64,
) -> Result<(), InboundError> {
    if settings.hmac_secret.is_none()
        && settings.bearer_secret.is_none()
        && settings.query_token_secret.is_none()
    {
        // A polled connector has none, and takes no deliveries at all.
        return Err(InboundError::Unauthenticated(
            "this connector accepts no deliveries (no inbound authentication is configured)".into(),
        ));
    }
    let secret = |name: &str| {
        secrets
            .get(name)
            .ok_or_else(|| InboundError::Misconfigured(format!("secret {name} is not configured")))
    };
    if let Some(name) = &settings.bearer_secret {
        let expected = secret(name)?;
        let presented = delivery
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| InboundError::Unauthenticated("missing bearer token".into()))?;
        if !constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            return Err(InboundError::Unauthenticated("wrong bearer token".into()));
        }
    }
    if let Some(name) = &settings.query_token_secret {
        let expected = secret(name)?;
        let presented = delivery
            .query
            .get("token")
            .ok_or_else(|| InboundError::Unauthenticated("missing token parameter".into()))?;
        if !constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            return Err(InboundError::Unauthenticated(
                "wrong token parameter".into(),
            ));
        }
    }
    if let Some(name) = &settings.hmac_secret {
        let key = secret(name)?;
        let header = settings
            .signature_header
            .as_deref()
            .unwrap_or(DEFAULT_SIGNATURE_HEADER);
        let signature = delivery
            .header(header)
            .ok_or_else(|| InboundError::Unauthenticated(format!("missing {header} header")))?;
        let algorithm = settings
            .signature_algorithm
            .unwrap_or(SignatureAlgorithm::Sha256);
        let signature = decode_signature(signature, algorithm).ok_or_else(|| {
            InboundError::Unauthenticated(format!(
                "signature is not a hex or base64 {algorithm:?} digest"
            ))
        })?;
        let mut signed = Vec::new();
        if let Some(header) = &settings.timestamp_header {
            let stamp = delivery
                .header(header)
                .ok_or_else(|| InboundError::Unauthenticated(format!("missing {header} header")))?;
            let seconds = parse_timestamp(stamp).ok_or_else(|| {
                InboundError::Unauthenticated(format!(
                    "{header} is neither Unix seconds nor an RFC 3339 time"
                ))
            })?;
            if (now - seconds).unsigned_abs() > settings.max_skew_s {
                return Err(InboundError::Stale(format!(
                    "the delivery's timestamp is {} s away from now (at most {} s accepted)",
                    (now - seconds).abs(),
                    settings.max_skew_s
                )));
            }
            signed.extend_from_slice(stamp.trim().as_bytes());
        }
        signed.extend_from_slice(&delivery.body);
        let matches = match algorithm {
            SignatureAlgorithm::Sha256 => {
                let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes())
                    .expect("HMAC takes any key length");
                mac.update(&signed);
                mac.verify_slice(&signature).is_ok()
            }
            SignatureAlgorithm::Sha1 => {
                let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes())
                    .expect("HMAC takes any key length");
                mac.update(&signed);
                mac.verify_slice(&signature).is_ok()
            }
        };
        if !matches {
            return Err(InboundError::Unauthenticated(
                "signature does not match the body".into(),
            ));
        }
    }
    Ok(())
}

/// A signature as hex or base64, with or without its algorithm's prefix
/// (`sha256=`, `sha1=`).
fn decode_signature(text: &str, algorithm: SignatureAlgorithm) -> Option<Vec<u8>> {
    let (prefix, len) = match algorithm {
        SignatureAlgorithm::Sha256 => ("sha256=", 32),
        SignatureAlgorithm::Sha1 => ("sha1=", 20),
    };
    let text = text.trim();
    let text = text.strip_prefix(prefix).unwrap_or(text);
    if text.len() == 2 * len && text.chars().all(|c| c.is_ascii_hexdigit()) {
        return hex::decode(text).ok();
    }
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// A delivery timestamp: Unix seconds, or an RFC 3339 time (Zendesk's).
fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    text.parse()
        .ok()
        .or_else(|| Some(chrono::DateTime::parse_from_rfc3339(text).ok()?.timestamp()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Secrets {
        Secrets::from_map(BTreeMap::from([
            ("HOOK_KEY".to_owned(), "hook-key-0123456789".to_owned()),
            ("HOOK_TOKEN".to_owned(), "hook-token-0123456789".to_owned()),
        ]))
    }

    fn signed(body: &[u8], stamp: Option<&str>, key: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
        if let Some(stamp) = stamp {
            mac.update(stamp.as_bytes());
        }
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    fn delivery(headers: &[(&str, &str)], body: &[u8]) -> Delivery {
        Delivery {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
                .collect(),
            body: body.to_vec(),
            query: BTreeMap::new(),
        }
    }

    #[test]
    fn a_signed_body_passes_and_anything_else_is_refused() {
        let settings = InboundSettings {
            hmac_secret: Some("HOOK_KEY".into()),
            ..InboundSettings::default()
        };
        let body = br#"{"ticket":{"id":7}}"#;
        let good = signed(body, None, "hook-key-0123456789");
        let ok = delivery(&[("X-Hub-Signature-256", &good)], body);
        assert_eq!(verify(&settings, &secrets(), &ok, 0), Ok(()));
        let tampered = delivery(&[("X-Hub-Signature-256", &good)], br#"{"ticket":{"id":8}}"#);
        assert!(matches!(
            verify(&settings, &secrets(), &tampered, 0),
            Err(InboundError::Unauthenticated(_))
        ));
        let wrong_key = delivery(
            &[("X-Hub-Signature-256", &signed(body, None, "another-key"))],
            body,
        );
        assert!(verify(&settings, &secrets(), &wrong_key, 0).is_err());
        assert!(verify(&settings, &secrets(), &delivery(&[], body), 0).is_err());
        // Base64 without a prefix (Zendesk's form) is accepted too.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"hook-key-0123456789").unwrap();
        mac.update(body);
        let b64 = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(
            verify(
                &settings,
                &secrets(),
                &delivery(&[("x-hub-signature-256", &b64)], body),
                0
            ),
            Ok(())
        );
    }

    #[test]
    fn a_timestamped_signature_refuses_stale_and_replayed_deliveries() {
        let settings = InboundSettings {
            hmac_secret: Some("HOOK_KEY".into()),
            signature_header: Some("X-Signature".into()),
            timestamp_header: Some("X-Timestamp".into()),
            max_skew_s: 300,
            ..InboundSettings::default()
        };
        let body = b"{}";
        let now = 1_800_000_000;
        let stamp = now.to_string();
        let good = signed(body, Some(&stamp), "hook-key-0123456789");
        let ok = delivery(&[("X-Signature", &good), ("X-Timestamp", &stamp)], body);
        assert_eq!(verify(&settings, &secrets(), &ok, now), Ok(()));
        assert!(matches!(
            verify(&settings, &secrets(), &ok, now + 301),
            Err(InboundError::Stale(_))
        ));
        // A fresh timestamp on an old signature does not match.
        let moved = delivery(
            &[
                ("X-Signature", &good),
                ("X-Timestamp", &(now + 10).to_string()),
            ],
            body,
        );
        assert!(matches!(
            verify(&settings, &secrets(), &moved, now),
            Err(InboundError::Unauthenticated(_))
        ));
    }

    #[test]
    fn a_bearer_token_must_match_and_missing_secrets_are_reported() {
        let settings = InboundSettings {
            bearer_secret: Some("HOOK_TOKEN".into()),
            ..InboundSettings::default()
        };
        let ok = delivery(&[("Authorization", "Bearer hook-token-0123456789")], b"{}");
        assert_eq!(verify(&settings, &secrets(), &ok, 0), Ok(()));
        let wrong = delivery(&[("Authorization", "Bearer nope")], b"{}");
        assert!(verify(&settings, &secrets(), &wrong, 0).is_err());
        let unset = InboundSettings {
            bearer_secret: Some("NOT_SET".into()),
            ..InboundSettings::default()
        };
        assert!(matches!(
            verify(&unset, &secrets(), &ok, 0),
            Err(InboundError::Misconfigured(_))
        ));
    }

    #[test]
    fn a_connector_without_inbound_authentication_accepts_no_delivery() {
        let polled = InboundSettings::default();
        let any = delivery(&[("Authorization", "Bearer hook-token-0123456789")], b"{}");
        assert!(matches!(
            verify(&polled, &secrets(), &any, 0),
            Err(InboundError::Unauthenticated(_))
        ));
    }
}
