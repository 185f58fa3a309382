//! The tokens this server issues: ES256 JWTs signed with a key kept (sealed) in the database and published at
//! `/.well-known/jwks.json`, so that any JWT library can verify them.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use p256::{
    ecdsa::SigningKey,
    pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use switchboard_domain::{Code, Error, Timestamp};
use switchboard_store::access::StoredSigningKey;

use super::secrets::SecretBox;

/// The audience of the access tokens this server issues for its own API.
pub const API_AUDIENCE: &str = "switchboard";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// The organization the token acts in.
    pub org: String,
    pub role: String,
}

#[derive(Clone)]
struct Key {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: serde_json::Value,
}

/// Cloned for the workers that sign (webhook delivery); its keys are fixed once the server has started.
#[derive(Clone)]
pub struct Signer {
    issuer: String,
    keys: Vec<Key>,
}

fn public_jwk(key: &SigningKey, kid: &str) -> serde_json::Value {
    let point = key.verifying_key().to_encoded_point(false);
    let x = URL_SAFE_NO_PAD.encode(point.x().map(|x| x.as_slice()).unwrap_or_default());
    let y = URL_SAFE_NO_PAD.encode(point.y().map(|y| y.as_slice()).unwrap_or_default());
    serde_json::json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "use": "sig", "alg": "ES256" })
}

/// A fresh signing key, sealed for storage.
pub fn generate(secrets: &SecretBox, now: Timestamp) -> Result<StoredSigningKey, Error> {
    let key = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let der = key.to_pkcs8_der().map_err(Error::internal)?;
    let point = key.verifying_key().to_encoded_point(false);
    let kid = hex::encode(&Sha256::digest(point.as_bytes())[..8]);
    Ok(StoredSigningKey {
        sealed_private_key: secrets.seal(der.as_bytes())?,
        public_jwk: public_jwk(&key, &kid).to_string(),
        kid,
        created_at: now,
    })
}

impl Signer {
    pub fn new(issuer: String, stored: &[StoredSigningKey], secrets: &SecretBox) -> Result<Self, Error> {
        let mut keys = Vec::with_capacity(stored.len());
        for s in stored {
            let der = secrets.open(&s.sealed_private_key)?;
            let key = SigningKey::from_pkcs8_der(&der).map_err(Error::internal)?;
            let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(Error::internal)?;
            let jwk = public_jwk(&key, &s.kid);
            let decoding = DecodingKey::from_ec_components(
                jwk["x"].as_str().unwrap_or_default(),
                jwk["y"].as_str().unwrap_or_default(),
            )
            .map_err(Error::internal)?;
            keys.push(Key {
                kid: s.kid.clone(),
                encoding: EncodingKey::from_ec_pem(pem.as_bytes()).map_err(Error::internal)?,
                decoding,
                jwk,
            });
        }
        if keys.is_empty() {
            return Err(Error::internal("no signing key"));
        }
        Ok(Self { issuer, keys })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": self.keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
    }

    /// Signs `claims` with the newest key.
    pub fn sign(&self, claims: &impl Serialize) -> Result<String, Error> {
        let key = self.keys.last().ok_or_else(|| Error::internal("no signing key"))?;
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding).map_err(Error::internal)
    }

    /// Verifies one of our own API tokens.
    pub fn verify(&self, token: &str) -> Result<Claims, Error> {
        self.decode(token, API_AUDIENCE, true)
    }

    /// Verifies a token of ours minted for `audience` (not the API's), returning its claims. Its `exp` is left to
    /// the caller, who reads it on the app's clock like every other time the server keeps.
    pub fn verify_for<T: serde::de::DeserializeOwned>(&self, token: &str, audience: &str) -> Result<T, Error> {
        self.decode(token, audience, false)
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, token: &str, audience: &str, expiry: bool) -> Result<T, Error> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| unauthenticated("malformed bearer token"))?;
        let key = self
            .keys
            .iter()
            .find(|k| header.kid.as_deref() == Some(k.kid.as_str()))
            .ok_or_else(|| unauthenticated("the token was not signed by a key of this server"))?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[&self.issuer]);
        validation.leeway = 30;
        validation.validate_exp = expiry;
        jsonwebtoken::decode::<T>(token, &key.decoding, &validation).map(|d| d.claims).map_err(token_error)
    }
}

pub fn unauthenticated(detail: &str) -> Error {
    Error::new(Code::Unauthenticated, detail)
}

pub fn token_error(e: jsonwebtoken::errors::Error) -> Error {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => {
            Error::new(Code::TokenExpired, "the bearer token has expired; request a new one")
        }
        ErrorKind::InvalidAudience => unauthenticated("the token is not meant for this API (aud)"),
        ErrorKind::InvalidIssuer => unauthenticated("the token's issuer is not trusted"),
        _ => unauthenticated("the bearer token is invalid"),
    }
}

/// The `iss` claim of a token, read before it is verified, to choose which keys verify it.
pub fn peek_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("iss")?.as_str().map(str::to_string)
}
