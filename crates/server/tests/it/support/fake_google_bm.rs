//! A fake Google's Business Messages on 127.0.0.1 speaking the documented wire format: the OAuth token endpoint of
//! service accounts (the JWT bearer grant, each JWT verified against the account's public key), the Business
//! Messages API's `conversations.messages.create` and `conversations.events.create` (each call checked: a token it
//! issued, a conversation it started, a well-formed body), and the sender of the webhooks Google posts to a
//! partner: the verification request, and user events signed with `X-Goog-Signature`.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex},
};

use axum::{
    Form, Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};
use switchboard_channels::google_bm;
use switchboard_server::config::GoogleBusinessMessagesConfig;

pub const PRIVATE_KEY: &str = include_str!("../../../../channels/testdata/google_bm/service_account_key.pem");
const PUBLIC_KEY: &str = include_str!("../../../../channels/testdata/google_bm/service_account_key.pub.pem");
/// The brand and agent the fake's users write to.
pub const BRAND: &str = "6e1f2a3b-brand";
pub const AGENT: &str = "9c8d7e6f-agent";

/// A call the fake accepted.
#[derive(Debug, Clone)]
pub struct Call {
    pub conversation_id: String,
    /// `messages` or `events`.
    pub kind: &'static str,
    /// The event's `eventId` query parameter.
    pub event_id: Option<String>,
    /// The service account whose token authorized it.
    pub client_email: String,
    pub body: Value,
}

struct Inner {
    /// Service account email → its public key (PEM).
    accounts: HashMap<String, String>,
    /// Access token → the service account it was issued to.
    issued: HashMap<String, String>,
    conversations: HashSet<String>,
    message_ids: HashSet<String>,
    calls: Vec<Call>,
    /// The next API answers, in order, instead of 200: a status, a Google error status, an optional Retry-After.
    failures: VecDeque<(u16, &'static str, Option<u64>)>,
    token_calls: usize,
    /// What each refused call was refused for, so that a test sees why.
    refusals: Vec<String>,
}

#[derive(Clone)]
pub struct FakeGoogle {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

type Shared = Arc<Mutex<Inner>>;

impl FakeGoogle {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            accounts: HashMap::new(),
            issued: HashMap::new(),
            conversations: HashSet::new(),
            message_ids: HashSet::new(),
            calls: Vec::new(),
            failures: VecDeque::new(),
            token_calls: 0,
            refusals: Vec::new(),
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/token", post(token))
            .route("/v1/conversations/{conversation}/messages", post(create_message))
            .route("/v1/conversations/{conversation}/events", post(create_event))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, inner }
    }

    /// Where Switchboard finds this fake.
    pub fn config(&self) -> GoogleBusinessMessagesConfig {
        GoogleBusinessMessagesConfig {
            api_url: self.base.clone(),
            token_url: format!("{}/token", self.base),
            sends_per_second: 0,
        }
    }

    /// A service account key file for `email`, as the console downloads it, whose key the fake knows.
    pub fn service_account(&self, email: &str) -> Value {
        self.inner.lock().unwrap().accounts.insert(email.into(), PUBLIC_KEY.into());
        json!({
            "type": "service_account",
            "project_id": "switchboard-test",
            "private_key_id": "3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a",
            "private_key": PRIVATE_KEY,
            "client_email": email,
            "client_id": "104912345678901234567",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
        })
    }

    /// The API answers `status` (Google's `error.status` `code`, `Retry-After: retry_after` when given) to the
    /// next `n` calls.
    pub fn fail_next(&self, n: usize, status: u16, code: &'static str, retry_after: Option<u64>) {
        self.inner.lock().unwrap().failures.extend(std::iter::repeat_n((status, code, retry_after), n));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    pub fn token_calls(&self) -> usize {
        self.inner.lock().unwrap().token_calls
    }

    pub fn refusals(&self) -> Vec<String> {
        self.inner.lock().unwrap().refusals.clone()
    }

    /// What Google posts when the webhook is set in the console.
    pub fn verification(client_token: &str, secret: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({ "clientToken": client_token, "secret": secret })).unwrap()
    }

    /// A user event on `conversation` with `payload` (`{"message": …}`, `{"userStatus": …}`, …), as Google sends
    /// it, and its `X-Goog-Signature` with `client_token`. The agent may then call the API on the conversation.
    pub fn signed(
        &self,
        client_token: &str,
        conversation: &str,
        request_id: &str,
        payload: Value,
    ) -> (String, Vec<u8>) {
        self.inner.lock().unwrap().conversations.insert(conversation.into());
        let mut event = json!({
            "agent": format!("brands/{BRAND}/agents/{AGENT}"),
            "conversationId": conversation,
            "customAgentId": "switchboard",
            "requestId": request_id,
            "context": {
                "entryPoint": "PLACESHEET",
                "placeId": "ChIJN1t_tDeuEmsRUsoyG83frY4",
                "userInfo": { "displayName": "Ada Lovelace", "userDeviceLocale": "en-GB" },
                "resolvedLocale": "en",
            },
            "sendTime": "2026-12-07T10:00:01.045123456Z",
        });
        for (k, v) in payload.as_object().unwrap() {
            event[k] = v.clone();
        }
        let body = serde_json::to_vec(&event).unwrap();
        (google_bm::sign(client_token, &body), body)
    }

    /// A user's text message.
    pub fn message(&self, client_token: &str, conversation: &str, id: &str, text: &str) -> (String, Vec<u8>) {
        let payload = json!({ "message": {
            "name": format!("conversations/{conversation}/messages/{id}"),
            "messageId": id,
            "text": text,
            "createTime": "2026-12-07T10:00:00.045123456Z",
        }});
        self.signed(client_token, conversation, &format!("req-{id}"), payload)
    }
}

fn google_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": { "code": status.as_u16(), "message": message, "status": code } }))).into_response()
}

fn now_seconds() -> i64 {
    switchboard_domain::Timestamp::now().millis() / 1_000
}

/// Google's token endpoint: the JWT bearer grant, the assertion verified as Google verifies it.
async fn token(State(inner): State<Shared>, headers: HeaderMap, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut inner = inner.lock().unwrap();
    inner.token_calls += 1;
    let refuse = |description: &str| {
        (StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid_grant", "error_description": description })))
            .into_response()
    };
    if form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": "unsupported_grant_type" }))).into_response();
    }
    let Some(assertion) = form.get("assertion") else { return refuse("no assertion") };
    let Ok(header) = jsonwebtoken::decode_header(assertion) else { return refuse("the assertion is not a JWT") };
    if header.alg != jsonwebtoken::Algorithm::RS256 {
        return refuse("the assertion must be RS256");
    }
    // Whose key verifies it is named inside it: read the issuer first, then verify with that account's key.
    let issuer = assertion
        .split('.')
        .nth(1)
        .and_then(|p| base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, p).ok())
        .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
        .and_then(|c| c.get("iss").and_then(Value::as_str).map(str::to_string));
    let Some(email) = issuer else { return refuse("the assertion's claims") };
    let Some(public) = inner.accounts.get(&email).cloned() else {
        return refuse("Invalid JWT Signature.");
    };
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or_default();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[format!("http://{host}/token")]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()).unwrap();
    let claims = match jsonwebtoken::decode::<google_bm::GrantClaims>(assertion, &key, &validation) {
        Ok(t) => t.claims,
        Err(e) => return refuse(&format!("Invalid JWT: {e}")),
    };
    if claims.scope != google_bm::SCOPE {
        return refuse("the assertion's scope is not the Business Messages API's");
    }
    if claims.exp - claims.iat > 3_600 || (claims.iat - now_seconds()).abs() > 300 {
        return refuse("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.");
    }
    let access_token = format!("ya29.fake-{}", uuid::Uuid::now_v7().simple());
    inner.issued.insert(access_token.clone(), email);
    Json(json!({ "access_token": access_token, "expires_in": 3599, "token_type": "Bearer" })).into_response()
}

/// Checks a call's token and conversation; the service account it was made as.
fn authorize(inner: &mut Inner, headers: &HeaderMap, conversation: &str) -> Result<String, Box<Response>> {
    let bearer = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default();
    let Some(email) = inner.issued.get(bearer).cloned() else {
        inner.refusals.push("unauthenticated".into());
        return Err(Box::new(google_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Request had invalid credentials.",
        )));
    };
    if !inner.conversations.contains(conversation) {
        inner.refusals.push(format!("unknown conversation {conversation}"));
        return Err(Box::new(google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Requested entity was not found.")));
    }
    if let Some((status, code, retry_after)) = inner.failures.pop_front() {
        let mut response = google_error(StatusCode::from_u16(status).unwrap(), code, "told to fail");
        if let Some(after) = retry_after {
            response.headers_mut().insert("retry-after", after.to_string().parse().unwrap());
        }
        return Err(Box::new(response));
    }
    Ok(email)
}

fn representative_ok(body: &Value) -> bool {
    matches!(body.pointer("/representative/representativeType").and_then(Value::as_str), Some("HUMAN" | "BOT"))
}

async fn create_message(
    State(inner): State<Shared>,
    Path(conversation): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut inner = inner.lock().unwrap();
    let email = match authorize(&mut inner, &headers, &conversation) {
        Ok(email) => email,
        Err(response) => return *response,
    };
    let invalid = |inner: &mut Inner, why: &str| {
        inner.refusals.push(why.to_string());
        google_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", why)
    };
    let Some(id) = body.get("messageId").and_then(Value::as_str).filter(|i| !i.is_empty()) else {
        return invalid(&mut inner, "messageId is required");
    };
    if !representative_ok(&body) {
        return invalid(&mut inner, "representative.representativeType must be HUMAN or BOT");
    }
    let contents = ["text", "image", "richCard"].iter().filter(|k| body.get(**k).is_some()).count();
    if contents != 1 {
        return invalid(&mut inner, "exactly one of text, image and richCard");
    }
    if body.get("text").and_then(Value::as_str).is_some_and(|t| t.chars().count() > 3_072) {
        return invalid(&mut inner, "text is longer than 3072 characters");
    }
    if body.get("suggestions").and_then(Value::as_array).is_some_and(|s| s.len() > 13) {
        return invalid(&mut inner, "at most 13 suggestions");
    }
    if !inner.message_ids.insert(format!("{conversation}/{id}")) {
        inner.refusals.push(format!("a second message {id}"));
        return google_error(StatusCode::CONFLICT, "ALREADY_EXISTS", "A message with this messageId exists.");
    }
    let id = id.to_string();
    inner.calls.push(Call {
        conversation_id: conversation.clone(),
        kind: "messages",
        event_id: None,
        client_email: email,
        body: body.clone(),
    });
    let mut answer = body;
    answer["name"] = json!(format!("conversations/{conversation}/messages/{id}"));
    (StatusCode::OK, Json(answer)).into_response()
}

async fn create_event(
    State(inner): State<Shared>,
    Path(conversation): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut inner = inner.lock().unwrap();
    let email = match authorize(&mut inner, &headers, &conversation) {
        Ok(email) => email,
        Err(response) => return *response,
    };
    let Some(event_id) = query.get("eventId").filter(|i| !i.is_empty()).cloned() else {
        inner.refusals.push("eventId is required".into());
        return google_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "eventId is required");
    };
    let known = ["TYPING_STARTED", "TYPING_STOPPED", "REPRESENTATIVE_JOINED", "REPRESENTATIVE_LEFT"];
    if !body.get("eventType").and_then(Value::as_str).is_some_and(|t| known.contains(&t)) || !representative_ok(&body) {
        inner.refusals.push(format!("a bad event {body}"));
        return google_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "eventType and representative");
    }
    let name = format!("conversations/{conversation}/events/{event_id}");
    inner.calls.push(Call {
        conversation_id: conversation,
        kind: "events",
        event_id: Some(event_id),
        client_email: email,
        body: body.clone(),
    });
    let mut answer = body;
    answer["name"] = json!(name);
    (StatusCode::OK, Json(answer)).into_response()
}
