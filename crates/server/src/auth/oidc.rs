//! Trusting an organization's own identity provider: its access tokens are verified against its published JWKS
//! (fetched on first use, refetched when a token names a key we have not seen, at most once a minute).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use switchboard_domain::{Error, ids::OrgId, role::Role};

use super::tokens::{token_error, unauthenticated};
use crate::config::TrustedIssuer;

const REFETCH_AFTER: Duration = Duration::from_secs(60);

pub struct ExternalIssuers {
    issuers: Vec<(TrustedIssuer, OrgId)>,
    http: reqwest::Client,
    keys: Mutex<HashMap<String, (JwkSet, Instant)>>,
}

/// What an external token says about its holder.
pub struct ExternalIdentity {
    pub org_id: OrgId,
    pub role: Role,
    pub subject: String,
    pub expires_at: i64,
}

impl ExternalIssuers {
    pub fn new(issuers: &[TrustedIssuer]) -> anyhow::Result<Self> {
        let mut parsed = Vec::with_capacity(issuers.len());
        for i in issuers {
            let org: OrgId =
                i.org_id.parse().map_err(|_| anyhow::anyhow!("trusted issuer {}: bad org_id", i.issuer))?;
            parsed.push((i.clone(), org));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { issuers: parsed, http, keys: Mutex::new(HashMap::new()) })
    }

    pub fn is_trusted(&self, iss: &str) -> bool {
        self.issuers.iter().any(|(i, _)| i.issuer == iss)
    }

    async fn fetch(&self, jwks_url: &str) -> Result<JwkSet, Error> {
        let set: JwkSet = self
            .http
            .get(jwks_url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| Error::new(switchboard_domain::Code::Unavailable, format!("fetching {jwks_url}: {e}")))?
            .json()
            .await
            .map_err(|e| Error::new(switchboard_domain::Code::Unavailable, format!("reading {jwks_url}: {e}")))?;
        Ok(set)
    }

    /// The key `kid` of the JWKS at `jwks_url` (any key when `kid` is absent), fetched on first use and refetched
    /// for a key not seen yet. Also checks customer tokens of Messaging API channels.
    pub async fn jwks_key(&self, jwks_url: &str, kid: Option<&str>) -> Result<DecodingKey, Error> {
        let find = |set: &JwkSet| {
            set.keys
                .iter()
                .find(|k| kid.is_none() || k.common.key_id.as_deref() == kid)
                .and_then(|jwk| DecodingKey::from_jwk(jwk).ok())
        };
        let cached = self.keys.lock().ok().and_then(|m| m.get(jwks_url).cloned());
        if let Some((set, fetched)) = &cached {
            if let Some(key) = find(set) {
                return Ok(key);
            }
            if fetched.elapsed() < REFETCH_AFTER {
                return Err(unauthenticated("the token names a signing key its issuer does not publish"));
            }
        }
        let set = self.fetch(jwks_url).await?;
        let key = find(&set);
        if let Ok(mut m) = self.keys.lock() {
            m.insert(jwks_url.to_string(), (set, Instant::now()));
        }
        key.ok_or_else(|| unauthenticated("the token names a signing key its issuer does not publish"))
    }

    pub async fn verify(&self, iss: &str, token: &str) -> Result<ExternalIdentity, Error> {
        let (issuer, org_id) =
            self.issuers.iter().find(|(i, _)| i.issuer == iss).ok_or_else(|| unauthenticated("untrusted issuer"))?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| unauthenticated("malformed bearer token"))?;
        let key = self.jwks_key(&issuer.jwks_url, header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[&issuer.audience]);
        validation.set_issuer(&[&issuer.issuer]);
        validation.leeway = 30;
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).map_err(token_error)?.claims;
        let role = match claims.get(&issuer.role_claim) {
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            // A list of roles: the most capable one we know.
            Some(serde_json::Value::Array(list)) => {
                let roles: Vec<Role> = list.iter().filter_map(|v| v.as_str()?.parse().ok()).collect();
                [Role::Admin, Role::Supervisor, Role::Agent, Role::Integration].into_iter().find(|r| roles.contains(r))
            }
            _ => None,
        }
        .ok_or_else(|| {
            Error::new(
                switchboard_domain::Code::Forbidden,
                format!("the token has no known role in `{}`", issuer.role_claim),
            )
        })?;
        Ok(ExternalIdentity {
            org_id: *org_id,
            role,
            subject: claims.get("sub").and_then(|s| s.as_str()).unwrap_or_default().to_string(),
            expires_at: claims.get("exp").and_then(serde_json::Value::as_i64).unwrap_or_default(),
        })
    }
}
