//! A fake of Meta's Graph API on 127.0.0.1 for the WhatsApp Cloud API, speaking its documented wire format:
//! `POST /{version}/{phone-number-id}/messages` (checked: the bearer token is the number's, the body a valid
//! message of its type), `GET /{version}/{media-id}` (the media's URL) and that URL (the file, with the token), and
//! `GET /{version}/{phone-number-id}`. It also makes what Meta posts to a webhook: notifications signed with the app
//! secret (`X-Hub-Signature-256`), computed here with HMAC-SHA256 directly rather than with the server's code.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use switchboard_server::config::MetaConfig;

pub const VERSION: &str = "v21.0";

/// A message the business sent through the fake.
#[derive(Debug, Clone)]
pub struct Sent {
    pub phone_number_id: String,
    pub body: Value,
    /// The `wamid` the fake answered with.
    pub id: String,
}

struct Inner {
    /// Phone number id → the access token that may send as it.
    numbers: HashMap<String, String>,
    /// Media id → (type, bytes).
    media: HashMap<String, (String, Vec<u8>)>,
    sent: Vec<Sent>,
    /// The next sends' answers instead of 200: status, Retry-After, Graph error code.
    failures: VecDeque<(u16, Option<u64>, i64)>,
    media_calls: usize,
}

type Shared = Arc<Mutex<Inner>>;

#[derive(Clone)]
pub struct FakeMeta {
    pub base: String,
    inner: Shared,
}

impl FakeMeta {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            numbers: HashMap::new(),
            media: HashMap::new(),
            sent: Vec::new(),
            failures: VecDeque::new(),
            media_calls: 0,
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/{version}/{id}/messages", post(send))
            .route("/{version}/{id}", get(node))
            .route("/files/{id}", get(file))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, inner }
    }

    pub fn config(&self) -> MetaConfig {
        MetaConfig {
            graph_url: self.base.clone(),
            graph_version: VERSION.into(),
            sends_per_second: 0,
            max_media_bytes: 1024 * 1024,
        }
    }

    /// A business number and the token that sends as it.
    pub fn register_number(&self, phone_number_id: &str, token: &str) {
        self.inner.lock().unwrap().numbers.insert(phone_number_id.into(), token.into());
    }

    /// A file a customer sent, downloadable by its media id.
    pub fn add_media(&self, id: &str, content_type: &str, bytes: &[u8]) {
        self.inner.lock().unwrap().media.insert(id.into(), (content_type.into(), bytes.to_vec()));
    }

    /// The next `n` sends are answered `status` with Graph error `code` (and `Retry-After` when given).
    pub fn fail_next(&self, n: usize, status: u16, retry_after: Option<u64>, code: i64) {
        self.inner.lock().unwrap().failures.extend(std::iter::repeat_n((status, retry_after, code), n));
    }

    /// Refusals told with `fail_next` not yet answered.
    pub fn failures_left(&self) -> usize {
        self.inner.lock().unwrap().failures.len()
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.inner.lock().unwrap().sent.clone()
    }

    pub fn media_calls(&self) -> usize {
        self.inner.lock().unwrap().media_calls
    }

    /// `X-Hub-Signature-256` of `body` under `app_secret`.
    pub fn signature(app_secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    /// A notification of `value` (a `messages` change) for `phone_number_id`, as Meta posts it.
    pub fn notification(phone_number_id: &str, value: Value) -> Vec<u8> {
        let mut value = value;
        value["messaging_product"] = json!("whatsapp");
        value["metadata"] = json!({"display_phone_number": "15550783881", "phone_number_id": phone_number_id});
        serde_json::to_vec(&json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]
        }))
        .unwrap()
    }

    /// A customer's message `message` (with its `from`) from `name`.
    pub fn customer_message(phone_number_id: &str, name: &str, message: Value) -> Vec<u8> {
        let from = message["from"].clone();
        Self::notification(
            phone_number_id,
            json!({"contacts": [{"profile": {"name": name}, "wa_id": from}], "messages": [message]}),
        )
    }

    /// A status of a message the business sent.
    pub fn status(phone_number_id: &str, wamid: &str, status: &str, recipient: &str, errors: Value) -> Vec<u8> {
        let mut s = json!({"id": wamid, "status": status, "timestamp": "1765069323", "recipient_id": recipient});
        if errors.is_array() {
            s["errors"] = errors;
        }
        Self::notification(phone_number_id, json!({"statuses": [s]}))
    }
}

fn graph_error(status: StatusCode, code: i64, message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": "OAuthException", "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": message}, "fbtrace_id": "AbCdEfGh"}});
    (status, Json(body)).into_response()
}

fn bearer(headers: &HeaderMap) -> &str {
    headers.get("authorization").and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Bearer ")).unwrap_or("")
}

/// The checks Meta makes of a message before it accepts it, as far as a fake can: the product, a recipient of
/// digits, a type with its object, a non-empty text of at most 4,096 characters, a media link, a template's name
/// and language.
fn check_message(body: &Value) -> Result<(), String> {
    if body["messaging_product"] != "whatsapp" {
        return Err("(#100) The parameter messaging_product is required.".into());
    }
    let to = body["to"].as_str().unwrap_or_default();
    if to.is_empty() || !to.bytes().all(|b| b.is_ascii_digit()) {
        return Err("(#100) Invalid parameter: to".into());
    }
    let kind = body["type"].as_str().unwrap_or("text");
    let object = &body[kind];
    match kind {
        "text" => {
            let text = object["body"].as_str().unwrap_or_default();
            if text.is_empty() || text.chars().count() > 4_096 {
                return Err("(#100) Param text['body'] must be 1 to 4096 characters".into());
            }
        }
        "image" | "audio" | "video" | "document" | "sticker" => {
            if !object["link"].as_str().is_some_and(|l| l.starts_with("http")) && object["id"].is_null() {
                return Err(format!("(#100) Param {kind}['link'] is not a valid URI"));
            }
        }
        "template" => {
            if object["name"].as_str().is_none_or(str::is_empty) || object["language"]["code"].as_str().is_none() {
                return Err("(#132000) Number of parameters does not match the expected number of params".into());
            }
        }
        other => return Err(format!("(#100) Unsupported message type {other}")),
    }
    Ok(())
}

async fn send(
    State(inner): State<Shared>,
    Path((version, number)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut inner = inner.lock().unwrap();
    if version != VERSION {
        return graph_error(StatusCode::BAD_REQUEST, 2500, "Unknown path components");
    }
    if headers.get("content-type").and_then(|h| h.to_str().ok()) != Some("application/json") {
        return graph_error(StatusCode::BAD_REQUEST, 100, "The request body must be JSON");
    }
    match inner.numbers.get(&number) {
        Some(token) if token == bearer(&headers) => {}
        Some(_) | None => return graph_error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token."),
    }
    if let Some((status, retry_after, code)) = inner.failures.pop_front() {
        let mut response = graph_error(StatusCode::from_u16(status).unwrap(), code, "told to fail");
        if let Some(after) = retry_after {
            response.headers_mut().insert("retry-after", after.to_string().parse().unwrap());
        }
        return response;
    }
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return graph_error(StatusCode::BAD_REQUEST, 100, "The request body is not JSON");
    };
    if let Err(why) = check_message(&message) {
        return graph_error(StatusCode::BAD_REQUEST, 100, &why);
    }
    let id = format!("wamid.FAKE{:06}", inner.sent.len() + 1);
    let to = message["to"].clone();
    inner.sent.push(Sent { phone_number_id: number, body: message, id: id.clone() });
    Json(json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}], "messages": [{"id": id}]}))
        .into_response()
}

async fn node(
    State(inner): State<Shared>,
    Path((version, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut inner = inner.lock().unwrap();
    if version != VERSION {
        return graph_error(StatusCode::BAD_REQUEST, 2500, "Unknown path components");
    }
    let token = bearer(&headers).to_string();
    if !inner.numbers.values().any(|t| *t == token) {
        return graph_error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token.");
    }
    if inner.numbers.get(&id).is_some_and(|t| *t == token) {
        return Json(json!({"verified_name": "Contoso", "display_phone_number": "+1 555-078-3881", "id": id,
            "quality_rating": "GREEN"}))
        .into_response();
    }
    inner.media_calls += 1;
    let Some((content_type, bytes)) = inner.media.get(&id) else {
        return graph_error(StatusCode::BAD_REQUEST, 100, "Unsupported get request. Object does not exist");
    };
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or_default();
    Json(json!({"url": format!("http://{host}/files/{id}"), "mime_type": content_type, "sha256": "fake",
        "file_size": bytes.len(), "id": id, "messaging_product": "whatsapp"}))
    .into_response()
}

/// The download URL: only with a token of the business.
async fn file(State(inner): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let inner = inner.lock().unwrap();
    let token = bearer(&headers).to_string();
    if token.is_empty() || !inner.numbers.values().any(|t| *t == token) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match inner.media.get(&id) {
        Some((content_type, bytes)) => {
            (StatusCode::OK, [("content-type", content_type.clone())], bytes.clone()).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
