//! Signing in through an organization's own OpenID Connect provider: the authorization code flow with PKCE (S256),
//! `state` and `nonce`. The sign-in under way is kept in the store (the callback may reach another node), bound to
//! the browser that started it by a short-lived cookie, and used once.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use switchboard_domain::{Code, Error, Timestamp, ids::OrgId};
use switchboard_store::{Store, model::User, sign_in};

use super::{oidc::ExternalIssuers, secrets};
use crate::config::OidcProvider;

/// The cookie that ties a sign-in under way to the browser that started it.
pub const STATE_COOKIE: &str = "switchboard_oidc_state";
/// How long a user has at the provider before the sign-in must start again.
pub const STATE_TTL: Duration = Duration::from_secs(600);
/// How long a provider's discovery document is used before it is read again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

pub struct SignIns {
    providers: HashMap<OrgId, OidcProvider>,
    http: reqwest::Client,
    discovered: Mutex<HashMap<String, (Discovery, Instant)>>,
}

fn failed(detail: impl Into<String>) -> Error {
    Error::new(Code::OidcSignInFailed, detail)
}

fn bad_state(detail: &str) -> Error {
    Error::field(Code::InvalidOidcState, "state", detail)
}

impl SignIns {
    pub fn new(providers: &[OidcProvider]) -> anyhow::Result<Self> {
        let mut by_org = HashMap::new();
        for p in providers {
            let org: OrgId = p.org_id.parse().map_err(|_| anyhow::anyhow!("sign_in.oidc {}: bad org_id", p.issuer))?;
            by_org.insert(org, p.clone());
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { providers: by_org, http, discovered: Mutex::new(HashMap::new()) })
    }

    /// Whether `org` signs in through its identity provider (and not with passwords).
    pub fn uses_oidc(&self, org: OrgId) -> bool {
        self.providers.contains_key(&org)
    }

    fn provider(&self, org: OrgId) -> Result<&OidcProvider, Error> {
        self.providers.get(&org).ok_or_else(|| {
            Error::field(
                Code::OidcNotConfigured,
                "organization",
                "this organization has no identity provider for sign-in",
            )
        })
    }

    async fn discovery(&self, provider: &OidcProvider) -> Result<Discovery, Error> {
        let cached = self.discovered.lock().ok().and_then(|m| m.get(&provider.issuer).cloned());
        if let Some((doc, at)) = cached
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(doc);
        }
        let url = format!("{}/.well-known/openid-configuration", provider.issuer.trim_end_matches('/'));
        let unavailable = |e: reqwest::Error| Error::new(Code::Unavailable, format!("reading {url}: {e}"));
        let doc: Discovery = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)?;
        if doc.issuer != provider.issuer {
            return Err(Error::new(Code::Unavailable, format!("{url} names another issuer, {}", doc.issuer)));
        }
        if let Ok(mut m) = self.discovered.lock() {
            m.insert(provider.issuer.clone(), (doc.clone(), Instant::now()));
        }
        Ok(doc)
    }

    /// Starts a sign-in: where to send the browser, and the `state` to keep in its cookie.
    pub async fn start(
        &self,
        store: &Store,
        org: OrgId,
        redirect_uri: &str,
        now: Timestamp,
    ) -> Result<(String, String), Error> {
        let provider = self.provider(org)?;
        let doc = self.discovery(provider).await?;
        let state = secrets::random_token("");
        let nonce = secrets::random_token("");
        let code_verifier = secrets::random_token("");
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()));
        let mut scopes = provider.scopes.clone();
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".into());
        }
        let mut location = url::Url::parse(&doc.authorization_endpoint)
            .map_err(|_| Error::new(Code::Unavailable, "the provider's authorization_endpoint is not a URL"))?;
        location
            .query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &provider.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let expires_at = now.plus_millis(i64::try_from(STATE_TTL.as_millis()).unwrap_or(i64::MAX));
        let pending = sign_in::OidcSignIn { org_id: org, nonce, code_verifier, expires_at };
        let state_hash = secrets::hash(&state);
        store.write(move |tx| sign_in::start_oidc(tx, &state_hash, &pending, now)).await?;
        Ok((location.to_string(), state))
    }

    /// Finishes a sign-in at the callback: checks the state against the browser's cookie, exchanges the code (with
    /// the PKCE verifier), verifies the ID token and finds the user it names.
    pub async fn finish(
        &self,
        store: &Store,
        keys: &ExternalIssuers,
        callback: Callback,
        browser_state: Option<&str>,
        redirect_uri: &str,
        now: Timestamp,
    ) -> Result<User, Error> {
        let state = callback.state.ok_or_else(|| bad_state("the callback has no state"))?;
        if !browser_state.is_some_and(|b| bool::from(b.as_bytes().ct_eq(state.as_bytes()))) {
            return Err(bad_state("this sign-in was not started by this browser"));
        }
        let state_hash = secrets::hash(&state);
        let pending = store
            .write(move |tx| sign_in::take_oidc(tx, &state_hash, now))
            .await?
            .ok_or_else(|| bad_state("no sign-in under way has this state, or it expired"))?;
        if let Some(error) = callback.error {
            return Err(failed(format!("the identity provider refused: {error}")));
        }
        let code = callback.code.ok_or_else(|| failed("the callback has no code"))?;
        let provider = self.provider(pending.org_id)?;
        let doc = self.discovery(provider).await?;
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", &code)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("code_verifier", &pending.code_verifier)
            .append_pair("client_id", &provider.client_id)
            .finish();
        let response = self
            .http
            .post(&doc.token_endpoint)
            .basic_auth(&provider.client_id, Some(&provider.client_secret))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| Error::new(Code::Unavailable, format!("calling the token endpoint: {e}")))?;
        let status = response.status();
        let answer: serde_json::Value = response.json().await.unwrap_or_default();
        if !status.is_success() {
            let error = answer.get("error").and_then(|e| e.as_str()).unwrap_or("no error given");
            return Err(failed(format!("the identity provider did not exchange the code ({status}: {error})")));
        }
        let id_token =
            answer.get("id_token").and_then(|t| t.as_str()).ok_or_else(|| failed("the provider sent no id_token"))?;
        let claims = verify_id_token(keys, &doc, provider, id_token).await?;
        let nonce = claims.get("nonce").and_then(|n| n.as_str()).unwrap_or_default();
        if !bool::from(nonce.as_bytes().ct_eq(pending.nonce.as_bytes())) {
            return Err(failed("the ID token's nonce is not this sign-in's"));
        }
        if claims.get("email_verified").and_then(serde_json::Value::as_bool) == Some(false) {
            return Err(failed("the provider has not verified this email"));
        }
        let email = claims
            .get(&provider.user_claim)
            .and_then(|e| e.as_str())
            .map(|e| e.trim().to_lowercase())
            .ok_or_else(|| failed(format!("the ID token has no `{}` claim", provider.user_claim)))?;
        let org = pending.org_id;
        store
            .read(move |tx| sign_in::find_in_org_by_email(tx, org, &email))
            .await?
            .ok_or_else(|| failed("no user of this organization has the email the provider names"))
    }
}

/// The query of the provider's redirect back to us.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set when the provider refused (e.g. `access_denied`).
    pub error: Option<String>,
    pub error_description: Option<String>,
}

async fn verify_id_token(
    keys: &ExternalIssuers,
    doc: &Discovery,
    provider: &OidcProvider,
    token: &str,
) -> Result<serde_json::Value, Error> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| failed("the ID token is malformed"))?;
    if matches!(header.alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
        return Err(failed("the ID token must be signed with the provider's published key"));
    }
    let key = keys.jwks_key(&doc.jwks_uri, header.kid.as_deref()).await.map_err(|e| match e.code {
        Code::Unavailable => e,
        _ => failed("the ID token names a key its provider does not publish"),
    })?;
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[&provider.client_id]);
    validation.set_issuer(&[&provider.issuer]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 30;
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .map(|d| d.claims)
        .map_err(|e| failed(format!("the ID token does not verify: {e}")))
}
