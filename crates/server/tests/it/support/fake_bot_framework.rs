//! A fake Bot Framework service on 127.0.0.1 speaking the real wire format (§4.4): the OpenID metadata and a JWKS
//! whose keys carry endorsements, the Azure AD token endpoint (client-credentials grant), and the Connector API's
//! `POST /v3/conversations/{id}/activities[/{replyToId}]`. It signs the activities it sends a bot as the real
//! service does, with its own RSA key.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};
use switchboard_channels::bot_framework::auth;
use switchboard_server::config::BotFrameworkConfig;

/// The service's issuer, as the public cloud's.
pub const ISSUER: &str = "https://api.botframework.com";
pub const SCOPE: &str = "https://api.botframework.com/.default";
/// The channels the fake's keys are endorsed for.
pub const ENDORSED: &[&str] = &["msteams", "webchat", "directline"];

const KEY_1: &[u8] = include_bytes!("fake_bot_framework_key.pem");
const KEY_2: &[u8] = include_bytes!("fake_bot_framework_key_2.pem");

/// An activity a bot posted to the Connector.
#[derive(Debug, Clone)]
pub struct Posted {
    pub conversation_id: String,
    pub reply_to_id: Option<String>,
    /// The app whose token authorized it.
    pub app_id: String,
    pub activity: Value,
    /// The id the fake answered with.
    pub id: String,
}

struct Inner {
    /// App id → client secret.
    apps: HashMap<String, String>,
    /// Access token → the app it was issued to.
    issued: HashMap<String, String>,
    /// Conversation id → the app the fake sent its activities to (only that app may post to it).
    conversations: HashMap<String, String>,
    expires_in: u64,
    /// The signing key in use: its kid and PEM. Both keys are published once rotated.
    current: (&'static str, &'static [u8]),
    rotated: bool,
    posted: Vec<Posted>,
    /// The next Connector answers, in order, instead of 200: a status and an optional Retry-After.
    failures: VecDeque<(u16, Option<u64>)>,
    token_calls: usize,
    metadata_calls: usize,
    jwks_calls: usize,
}

#[derive(Clone)]
pub struct FakeBotFramework {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

type Shared = Arc<Mutex<Inner>>;

fn now_seconds() -> i64 {
    switchboard_domain::Timestamp::now().millis() / 1_000
}

impl FakeBotFramework {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            apps: HashMap::new(),
            issued: HashMap::new(),
            conversations: HashMap::new(),
            expires_in: 3_600,
            current: ("fake-key-1", KEY_1),
            rotated: false,
            posted: Vec::new(),
            failures: VecDeque::new(),
            token_calls: 0,
            metadata_calls: 0,
            jwks_calls: 0,
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/v1/.well-known/openidconfiguration", get(metadata))
            .route("/v1/.well-known/keys", get(jwks))
            .route("/botframework.com/oauth2/v2.0/token", post(token))
            .route("/v3/conversations/{conversation}/activities", post(send_to_conversation))
            .route("/v3/conversations/{conversation}/activities/{reply_to}", post(reply_to_activity))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, inner }
    }

    /// Where Switchboard finds this fake.
    pub fn config(&self) -> BotFrameworkConfig {
        BotFrameworkConfig {
            openid_metadata_url: format!("{}/v1/.well-known/openidconfiguration", self.base),
            issuer: ISSUER.into(),
            token_url: format!("{}/botframework.com/oauth2/v2.0/token", self.base),
            token_scope: SCOPE.into(),
            sends_per_second: 0,
        }
    }

    /// The `serviceUrl` of the activities it sends: its own Connector, with the trailing slash the real one has.
    pub fn service_url(&self) -> String {
        format!("{}/", self.base)
    }

    /// Registers a bot: its app id and client secret.
    pub fn register_app(&self, app_id: &str, secret: &str) {
        self.inner.lock().unwrap().apps.insert(app_id.into(), secret.into());
    }

    /// The lifetime of the tokens it issues from now on.
    pub fn set_token_lifetime(&self, seconds: u64) {
        self.inner.lock().unwrap().expires_in = seconds;
    }

    /// Starts signing with a second key, published beside the first under a new kid (a key rotation).
    pub fn rotate_key(&self) {
        let mut inner = self.inner.lock().unwrap();
        inner.current = ("fake-key-2", KEY_2);
        inner.rotated = true;
    }

    /// The kid it signs with now.
    pub fn kid(&self) -> &'static str {
        self.inner.lock().unwrap().current.0
    }

    /// The Connector answers `status` (with `Retry-After: retry_after` when given) to the next `n` posts.
    pub fn fail_next(&self, n: usize, status: u16, retry_after: Option<u64>) {
        let mut inner = self.inner.lock().unwrap();
        inner.failures.extend(std::iter::repeat_n((status, retry_after), n));
    }

    pub fn posted(&self) -> Vec<Posted> {
        self.inner.lock().unwrap().posted.clone()
    }

    pub fn token_calls(&self) -> usize {
        self.inner.lock().unwrap().token_calls
    }

    /// How many times the metadata and the key set were fetched.
    pub fn key_fetches(&self) -> (usize, usize) {
        let inner = self.inner.lock().unwrap();
        (inner.metadata_calls, inner.jwks_calls)
    }

    /// The claims the service puts in the token of an activity for `app_id` from `service_url`, valid for an hour
    /// from `now` (Unix seconds).
    pub fn claims(&self, app_id: &str, service_url: &str, now: i64) -> Value {
        json!({
            "serviceurl": service_url,
            "nbf": now - 5,
            "exp": now + 3_600,
            "iss": ISSUER,
            "aud": app_id,
        })
    }

    /// Signs `claims` with the current key under its kid.
    pub fn sign(&self, claims: &Value) -> String {
        let (kid, pem) = self.inner.lock().unwrap().current;
        auth::sign_for_tests(pem, kid, claims).unwrap()
    }

    /// Signs `claims` with a key the service does not publish, under the current kid: a forged token.
    pub fn forge(&self, claims: &Value) -> String {
        let inner = self.inner.lock().unwrap();
        let other = if inner.current.1 == KEY_1 { KEY_2 } else { KEY_1 };
        auth::sign_for_tests(other, inner.current.0, claims).unwrap()
    }

    /// What the service sends a bot: the activity (its `serviceUrl` set to this fake's Connector unless given,
    /// its `channelId` to `webchat` unless given) and `Authorization: Bearer <JWT>` signed for `app_id` at the wall
    /// clock's time. The bot may then post to the activity's conversation with `app_id`'s tokens.
    pub fn signed_activity(&self, app_id: &str, activity: Value) -> (String, Vec<u8>) {
        self.signed_activity_at(app_id, activity, now_seconds())
    }

    /// [`Self::signed_activity`] with the token issued at `now` (Unix seconds).
    pub fn signed_activity_at(&self, app_id: &str, mut activity: Value, now: i64) -> (String, Vec<u8>) {
        if activity.get("serviceUrl").is_none() {
            activity["serviceUrl"] = json!(self.service_url());
        }
        if activity.get("channelId").is_none() {
            activity["channelId"] = json!("webchat");
        }
        if let Some(conversation) = activity.pointer("/conversation/id").and_then(Value::as_str) {
            self.inner.lock().unwrap().conversations.insert(conversation.into(), app_id.into());
        }
        let service_url = activity["serviceUrl"].as_str().unwrap_or_default().to_string();
        let token = self.sign(&self.claims(app_id, &service_url, now));
        (format!("Bearer {token}"), serde_json::to_vec(&activity).unwrap())
    }
}

async fn metadata(State(inner): State<Shared>, headers: HeaderMap) -> Json<Value> {
    inner.lock().unwrap().metadata_calls += 1;
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or_default();
    Json(json!({
        "issuer": ISSUER,
        "authorization_endpoint": "https://invalid.botframework.com",
        "jwks_uri": format!("http://{host}/v1/.well-known/keys"),
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
    }))
}

async fn jwks(State(inner): State<Shared>) -> Json<Value> {
    let mut inner = inner.lock().unwrap();
    inner.jwks_calls += 1;
    let mut keys = vec![auth::jwk_for_tests(KEY_1, "fake-key-1", ENDORSED).unwrap()];
    if inner.rotated {
        keys.push(auth::jwk_for_tests(KEY_2, "fake-key-2", ENDORSED).unwrap());
    }
    Json(json!({ "keys": keys }))
}

/// Azure AD's error body.
fn aad_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({ "error": error, "error_description": description }))).into_response()
}

async fn token(State(inner): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut inner = inner.lock().unwrap();
    inner.token_calls += 1;
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    if field("grant_type") != "client_credentials" {
        return aad_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "AADSTS70003: unsupported grant type");
    }
    let app_id = field("client_id");
    let Some(secret) = inner.apps.get(app_id) else {
        return aad_error(StatusCode::BAD_REQUEST, "unauthorized_client", "AADSTS700016: application not found");
    };
    if secret != field("client_secret") {
        return aad_error(StatusCode::UNAUTHORIZED, "invalid_client", "AADSTS7000215: Invalid client secret provided.");
    }
    if field("scope") != SCOPE {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "AADSTS70011: The provided value for scope is not valid.",
        );
    }
    let access_token = format!("fake-token-{}", uuid::Uuid::now_v7().simple());
    inner.issued.insert(access_token.clone(), app_id.to_string());
    let expires_in = inner.expires_in;
    Json(json!({
        "token_type": "Bearer",
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": access_token,
    }))
    .into_response()
}

async fn send_to_conversation(
    State(inner): State<Shared>,
    Path(conversation): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    connector(inner, conversation, None, &headers, &body)
}

async fn reply_to_activity(
    State(inner): State<Shared>,
    Path((conversation, reply_to)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    connector(inner, conversation, Some(reply_to), &headers, &body)
}

/// The Connector's error body.
fn connector_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": { "code": code, "message": message } }))).into_response()
}

fn connector(
    inner: Shared,
    conversation: String,
    reply_to: Option<String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let mut inner = inner.lock().unwrap();
    let bearer = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default();
    let Some(app_id) = inner.issued.get(bearer).cloned() else {
        return connector_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Authorization has been denied for this request.",
        );
    };
    if inner.conversations.get(&conversation).is_some_and(|owner| *owner != app_id) {
        return connector_error(StatusCode::FORBIDDEN, "Forbidden", "The bot is not part of the conversation.");
    }
    if let Some((status, retry_after)) = inner.failures.pop_front() {
        let mut response = connector_error(StatusCode::from_u16(status).unwrap(), "ServiceError", "told to fail");
        if let Some(after) = retry_after {
            response.headers_mut().insert("retry-after", after.to_string().parse().unwrap());
        }
        return response;
    }
    let Ok(activity) = serde_json::from_slice::<Value>(body) else {
        return connector_error(StatusCode::BAD_REQUEST, "BadArgument", "The activity is not JSON.");
    };
    if activity.get("type").and_then(Value::as_str).is_none_or(str::is_empty) {
        return connector_error(StatusCode::BAD_REQUEST, "MissingProperty", "The activity has no type.");
    }
    let id = format!("{}|{:07}", conversation, inner.posted.len() + 1);
    inner.posted.push(Posted {
        conversation_id: conversation,
        reply_to_id: reply_to,
        app_id,
        activity,
        id: id.clone(),
    });
    (StatusCode::OK, Json(json!({ "id": id }))).into_response()
}
