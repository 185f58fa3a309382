//! Checking the bearer token the Bot Framework service sends with each activity (§4.4), without I/O: the caller
//! fetches the OpenID metadata and its key set and hands them in. The checks are the SDK's
//! (botbuilder `JwtTokenExtractor`, `ChannelValidation`, `EndorsementsValidator`): RS256 only, a key the service
//! publishes, endorsed for the activity's channel, the service's issuer, the bot's app id as audience, five
//! minutes of clock skew, and the `serviceurl` claim equal to the activity's.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::Deserialize;
use serde_json::Value;

/// The clock skew allowed on `exp` and `nbf`, as the SDK allows.
pub const LEEWAY_SECONDS: i64 = 5 * 60;

/// The algorithm the service signs with; the SDK allows no other.
const ALGORITHM: &str = "RS256";

/// The OpenID configuration document (`…/.well-known/openidconfiguration`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OpenIdMetadata {
    pub issuer: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
}

/// Why a metadata document or key set could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MetadataError(pub String);

pub fn parse_openid_metadata(body: &[u8]) -> Result<OpenIdMetadata, MetadataError> {
    let m: OpenIdMetadata = serde_json::from_slice(body).map_err(|e| MetadataError(format!("OpenID metadata: {e}")))?;
    if m.jwks_uri.is_empty() {
        return Err(MetadataError("OpenID metadata: empty jwks_uri".into()));
    }
    Ok(m)
}

/// A signing key the service publishes, with the channels it may sign for.
#[derive(Clone)]
pub struct SigningKey {
    pub key: DecodingKey,
    pub endorsements: Vec<String>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("endorsements", &self.endorsements).finish_non_exhaustive()
    }
}

/// The published keys by `kid`. Keys that are not RSA, or have no `kid`, are left out, as the SDK leaves them.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, SigningKey>,
}

impl KeySet {
    pub fn get(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.get(kid)
    }

    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[derive(Deserialize)]
struct RawKeySet {
    keys: Vec<RawKey>,
}

#[derive(Deserialize)]
struct RawKey {
    #[serde(default)]
    kty: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    endorsements: Option<Vec<String>>,
}

/// Reads a JWKS (`{"keys": [{"kty": "RSA", "kid", "n", "e", "endorsements": [...]}, ...]}`).
pub fn parse_jwks(body: &[u8]) -> Result<KeySet, MetadataError> {
    let raw: RawKeySet = serde_json::from_slice(body).map_err(|e| MetadataError(format!("JWKS: {e}")))?;
    let mut keys = HashMap::new();
    for k in raw.keys {
        let (Some(kid), Some(n), Some(e)) = (k.kid, k.n, k.e) else { continue };
        if k.kty.as_deref().is_some_and(|t| t != "RSA") {
            continue;
        }
        let Ok(key) = DecodingKey::from_rsa_components(&n, &e) else { continue };
        keys.insert(kid, SigningKey { key, endorsements: k.endorsements.unwrap_or_default() });
    }
    Ok(KeySet { keys })
}

/// What the token must say for this activity.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// `https://api.botframework.com` for the public cloud.
    pub issuer: &'a str,
    /// The bot's Microsoft App ID: the token's audience.
    pub app_id: &'a str,
    /// The activity's `channelId`, which the signing key must be endorsed for.
    pub channel_id: &'a str,
    /// The activity's `serviceUrl`, which the `serviceurl` claim must equal.
    pub service_url: &'a str,
}

/// Why a token was refused. Each is answered 401; the reason is logged and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no Authorization: Bearer token")]
    Missing,
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token is not signed with RS256")]
    WrongAlgorithm,
    #[error("the token names a signing key the service does not publish")]
    UnknownKey,
    #[error("the signing key is not endorsed for the activity's channel")]
    NotEndorsed,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token is not from the Bot Framework service")]
    WrongIssuer,
    #[error("the token is not for this bot's app id")]
    WrongAudience,
    #[error("the token has expired or is not valid yet")]
    Expired,
    #[error("the token's serviceurl claim is not the activity's serviceUrl")]
    ServiceUrlMismatch,
}

impl AuthError {
    /// A stable name for logs and metrics.
    pub fn reason(self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Malformed => "malformed",
            AuthError::WrongAlgorithm => "wrong_algorithm",
            AuthError::UnknownKey => "unknown_key",
            AuthError::NotEndorsed => "not_endorsed",
            AuthError::BadSignature => "bad_signature",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::WrongAudience => "wrong_audience",
            AuthError::Expired => "expired",
            AuthError::ServiceUrlMismatch => "service_url_mismatch",
        }
    }
}

/// The verified token's claims.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    pub issuer: String,
    pub audience: String,
    pub expires_at: i64,
    pub not_before: Option<i64>,
    pub service_url: String,
    /// Every claim, as sent.
    pub all: serde_json::Map<String, Value>,
}

/// The token of an `Authorization` header: `Bearer <token>`, the scheme matched as the SDK matches it (exactly).
pub fn bearer(authorization: Option<&str>) -> Result<&str, AuthError> {
    let header = authorization.ok_or(AuthError::Missing)?;
    let mut parts = header.split(' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("Bearer"), Some(token), None) if !token.is_empty() => Ok(token),
        _ => Err(AuthError::Missing),
    }
}

/// The `kid` the token names, so that the caller can refresh its key set before [`verify`] when the key is new.
pub fn key_id(token: &str) -> Result<String, AuthError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
    header.kid.filter(|k| !k.is_empty()).ok_or(AuthError::UnknownKey)
}

/// Verifies `token` for an activity, at `now_seconds` (Unix time). The signature is checked before any claim is
/// believed.
pub fn verify(token: &str, keys: &KeySet, expected: &Expected<'_>, now_seconds: i64) -> Result<Claims, AuthError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
    if header.alg != Algorithm::RS256 {
        return Err(AuthError::WrongAlgorithm);
    }
    let kid = header.kid.filter(|k| !k.is_empty()).ok_or(AuthError::UnknownKey)?;
    let key = keys.get(&kid).ok_or(AuthError::UnknownKey)?;

    // The library checks only the signature; each claim is checked below, on the caller's clock, so that each
    // failure has its own reason.
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let all = jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key.key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature | ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidKeyFormat => {
                AuthError::BadSignature
            }
            ErrorKind::InvalidAlgorithm => AuthError::WrongAlgorithm,
            _ => AuthError::Malformed,
        })?
        .claims;

    // An empty channel id asserts no channel, which the SDK lets pass; Switchboard requires one (the inbound
    // parser refuses an activity without it), and a key published without endorsements endorses nothing.
    if expected.channel_id.trim().is_empty() || !key.endorsements.iter().any(|e| e == expected.channel_id) {
        return Err(AuthError::NotEndorsed);
    }
    let issuer = all.get("iss").and_then(Value::as_str).unwrap_or_default();
    if issuer != expected.issuer {
        return Err(AuthError::WrongIssuer);
    }
    let audience = match all.get("aud") {
        Some(Value::String(a)) if a == expected.app_id => a.clone(),
        Some(Value::Array(list)) if list.iter().any(|a| a.as_str() == Some(expected.app_id)) => {
            expected.app_id.to_string()
        }
        _ => return Err(AuthError::WrongAudience),
    };
    if expected.app_id.is_empty() {
        return Err(AuthError::WrongAudience);
    }
    let expires_at = all.get("exp").and_then(Value::as_i64).ok_or(AuthError::Expired)?;
    let not_before = all.get("nbf").and_then(Value::as_i64);
    if now_seconds > expires_at.saturating_add(LEEWAY_SECONDS)
        || not_before.is_some_and(|nbf| now_seconds < nbf.saturating_sub(LEEWAY_SECONDS))
    {
        return Err(AuthError::Expired);
    }
    // The .NET SDK's comparison: the claim present and non-blank, equal ignoring ASCII case.
    let service_url = all.get("serviceurl").and_then(Value::as_str).unwrap_or_default();
    if service_url.trim().is_empty() || !service_url.eq_ignore_ascii_case(expected.service_url) {
        return Err(AuthError::ServiceUrlMismatch);
    }
    Ok(Claims {
        issuer: issuer.to_string(),
        audience,
        expires_at,
        not_before,
        service_url: service_url.to_string(),
        all,
    })
}

/// For tests and fakes: signs `claims` as the service would, with the RSA key `pem` named `kid`.
pub fn sign_for_tests(pem: &[u8], kid: &str, claims: &Value) -> Result<String, jsonwebtoken::errors::Error> {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem)?;
    let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &key)
}

/// For tests and fakes: the JWKS entry of the RSA key `pem`, endorsed for `endorsements`.
pub fn jwk_for_tests(pem: &[u8], kid: &str, endorsements: &[&str]) -> Result<Value, jsonwebtoken::errors::Error> {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem)?;
    let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::RS256)?;
    let jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) = jwk.algorithm else {
        return Err(jsonwebtoken::errors::ErrorKind::InvalidRsaKey("not an RSA key".into()).into());
    };
    Ok(serde_json::json!({
        "kty": "RSA", "use": "sig", "kid": kid, "n": rsa.n, "e": rsa.e, "endorsements": endorsements,
    }))
}

/// The algorithm the metadata must offer for its keys to be usable.
pub fn metadata_supports_rs256(m: &OpenIdMetadata) -> bool {
    m.id_token_signing_alg_values_supported.is_empty()
        || m.id_token_signing_alg_values_supported.iter().any(|a| a == ALGORITHM)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const KEY_A: &[u8] = include_bytes!("../../testdata/bot_framework/test_key_a.pem");
    const KEY_B: &[u8] = include_bytes!("../../testdata/bot_framework/test_key_b.pem");
    const ISSUER: &str = "https://api.botframework.com";
    const APP: &str = "6fcd0c7e-0000-4000-8000-000000000001";
    const SERVICE: &str = "https://smba.trafficmanager.net/emea/";
    const NOW: i64 = 1_800_000_000;

    fn keys() -> KeySet {
        let jwks = json!({"keys": [
            jwk_for_tests(KEY_A, "key-a", &["msteams", "webchat"]).unwrap(),
            jwk_for_tests(KEY_B, "key-b", &["skype"]).unwrap(),
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "x", "y": "y"},
        ]});
        parse_jwks(jwks.to_string().as_bytes()).unwrap()
    }

    fn claims() -> Value {
        json!({"iss": ISSUER, "aud": APP, "exp": NOW + 3_600, "nbf": NOW - 60, "serviceurl": SERVICE})
    }

    fn expected() -> Expected<'static> {
        Expected { issuer: ISSUER, app_id: APP, channel_id: "msteams", service_url: SERVICE }
    }

    fn check(token: &str) -> Result<Claims, AuthError> {
        verify(token, &keys(), &expected(), NOW)
    }

    fn signed(claims: &Value) -> String {
        sign_for_tests(KEY_A, "key-a", claims).unwrap()
    }

    fn with(change: Value) -> Value {
        let mut c = claims();
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    }

    #[test]
    fn metadata_and_key_sets_parse() {
        let m = parse_openid_metadata(
            br#"{"issuer":"https://api.botframework.com","authorization_endpoint":"https://invalid.botframework.com",
                "jwks_uri":"https://login.botframework.com/v1/.well-known/keys",
                "id_token_signing_alg_values_supported":["RS256"],"token_endpoint_auth_methods_supported":["private_key_jwt"]}"#,
        )
        .unwrap();
        assert_eq!(m.jwks_uri, "https://login.botframework.com/v1/.well-known/keys");
        assert!(metadata_supports_rs256(&m));
        assert!(parse_openid_metadata(b"{}").is_err());
        assert!(parse_jwks(b"{\"keys\": 1}").is_err());
        let k = keys();
        assert_eq!(k.len(), 2, "the EC key is left out");
        assert_eq!(k.get("key-a").map(|k| k.endorsements.clone()), Some(vec!["msteams".into(), "webchat".into()]));
    }

    #[test]
    fn a_good_token_verifies() {
        let c = check(&signed(&claims())).unwrap();
        assert_eq!((c.issuer.as_str(), c.audience.as_str(), c.service_url.as_str()), (ISSUER, APP, SERVICE));
        assert_eq!(c.expires_at, NOW + 3_600);
        let upper = with(json!({"serviceurl": "HTTPS://SMBA.trafficmanager.net/emea/"}));
        assert!(check(&signed(&upper)).is_ok(), "service URLs compare ignoring case, as the .NET SDK does");
        let listed = with(json!({"aud": ["other", APP]}));
        assert!(check(&signed(&listed)).is_ok());
        let late = with(json!({"exp": NOW - 299}));
        assert!(check(&signed(&late)).is_ok(), "five minutes of skew");
        let early = with(json!({"nbf": NOW + 299}));
        assert!(check(&signed(&early)).is_ok(), "five minutes of skew");
    }

    #[test]
    fn each_bad_token_has_its_reason() {
        assert_eq!(bearer(None), Err(AuthError::Missing));
        assert_eq!(bearer(Some("Basic abc")), Err(AuthError::Missing));
        assert_eq!(bearer(Some("Bearer ")), Err(AuthError::Missing));
        assert_eq!(bearer(Some("bearer abc")), Err(AuthError::Missing), "the scheme is matched exactly");
        assert_eq!(bearer(Some("Bearer abc")), Ok("abc"));
        assert_eq!(check("not-a-jwt"), Err(AuthError::Malformed));
        assert_eq!(check("a.b.c"), Err(AuthError::Malformed));

        let hs = jsonwebtoken::encode(
            &jsonwebtoken::Header { kid: Some("key-a".into()), ..jsonwebtoken::Header::new(Algorithm::HS256) },
            &claims(),
            &jsonwebtoken::EncodingKey::from_secret(b"guess"),
        )
        .unwrap();
        assert_eq!(check(&hs), Err(AuthError::WrongAlgorithm));

        assert_eq!(check(&sign_for_tests(KEY_A, "key-z", &claims()).unwrap()), Err(AuthError::UnknownKey));
        let no_kid = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::RS256),
            &claims(),
            &jsonwebtoken::EncodingKey::from_rsa_pem(KEY_A).unwrap(),
        )
        .unwrap();
        assert_eq!(check(&no_kid), Err(AuthError::UnknownKey));
        assert_eq!(key_id(&no_kid), Err(AuthError::UnknownKey));
        assert_eq!(key_id(&signed(&claims())).as_deref(), Ok("key-a"));

        // Signed by key B while naming key A.
        assert_eq!(check(&sign_for_tests(KEY_B, "key-a", &claims()).unwrap()), Err(AuthError::BadSignature));
        let good = signed(&claims());
        let (head, rest) = good.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let forged_claims = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            with(json!({"aud": "someone-else"})).to_string(),
        );
        assert_eq!(check(&format!("{head}.{forged_claims}.{sig}")), Err(AuthError::BadSignature));

        // Key B is endorsed for skype only.
        assert_eq!(check(&sign_for_tests(KEY_B, "key-b", &claims()).unwrap()), Err(AuthError::NotEndorsed));
        let no_channel = Expected { channel_id: "", ..expected() };
        assert_eq!(verify(&good, &keys(), &no_channel, NOW), Err(AuthError::NotEndorsed));

        assert_eq!(check(&signed(&with(json!({"iss": "https://sts.windows.net/x/"})))), Err(AuthError::WrongIssuer));
        assert_eq!(check(&signed(&with(json!({"iss": null})))), Err(AuthError::WrongIssuer));
        assert_eq!(check(&signed(&with(json!({"aud": "another-bot"})))), Err(AuthError::WrongAudience));
        assert_eq!(check(&signed(&with(json!({"aud": null})))), Err(AuthError::WrongAudience));
        assert_eq!(check(&signed(&with(json!({"exp": NOW - 301})))), Err(AuthError::Expired));
        assert_eq!(check(&signed(&with(json!({"exp": null})))), Err(AuthError::Expired));
        assert_eq!(check(&signed(&with(json!({"nbf": NOW + 301})))), Err(AuthError::Expired));
        assert_eq!(
            check(&signed(&with(json!({"serviceurl": "https://evil.example/"})))),
            Err(AuthError::ServiceUrlMismatch)
        );
        assert_eq!(check(&signed(&with(json!({"serviceurl": null})))), Err(AuthError::ServiceUrlMismatch));

        let reasons: std::collections::HashSet<_> = [
            AuthError::Missing,
            AuthError::Malformed,
            AuthError::WrongAlgorithm,
            AuthError::UnknownKey,
            AuthError::NotEndorsed,
            AuthError::BadSignature,
            AuthError::WrongIssuer,
            AuthError::WrongAudience,
            AuthError::Expired,
            AuthError::ServiceUrlMismatch,
        ]
        .into_iter()
        .map(AuthError::reason)
        .collect();
        assert_eq!(reasons.len(), 10);
    }
}
