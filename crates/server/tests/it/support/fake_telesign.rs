//! A fake TeleSign on 127.0.0.1 speaking its documented wire format: `POST /v1/messaging` (checked: Basic auth
//! with a known customer id and API key, a form with `phone_number`, `message` and `message_type`), answering a
//! `reference_id` and status 290; and TeleSign's callbacks, signed `Authorization: TSA <customer id>:<signature>`
//! with HMAC-SHA256 of the body under the Base64-decoded API key, computed here directly rather than with the
//! server's code. Delivery reports go to the `callback_url` each send named, as TeleSign's do.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use switchboard_server::config::TelesignConfig;

/// A message sent through the fake.
#[derive(Debug, Clone)]
pub struct Sent {
    pub customer_id: String,
    pub form: HashMap<String, String>,
    pub reference_id: String,
}

struct Inner {
    /// Customer id → API key.
    customers: HashMap<String, String>,
    sent: Vec<Sent>,
    /// The next sends' answers instead of 200: status, Retry-After, TeleSign's error code.
    failures: VecDeque<(u16, Option<u64>, i64)>,
}

type Shared = Arc<Mutex<Inner>>;

#[derive(Clone)]
pub struct FakeTelesign {
    pub base: String,
    inner: Shared,
}

impl FakeTelesign {
    pub async fn start() -> Self {
        let inner =
            Arc::new(Mutex::new(Inner { customers: HashMap::new(), sent: Vec::new(), failures: VecDeque::new() }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().route("/v1/messaging", post(messaging)).with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, inner }
    }

    pub fn config(&self) -> TelesignConfig {
        TelesignConfig { api_url: self.base.clone(), sends_per_second: 0 }
    }

    pub fn register_customer(&self, customer_id: &str, api_key: &str) {
        self.inner.lock().unwrap().customers.insert(customer_id.into(), api_key.into());
    }

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

    /// The `Authorization` TeleSign sends with `body`.
    pub fn authorization(customer_id: &str, api_key: &str, body: &[u8]) -> String {
        let key = STANDARD.decode(api_key).unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(body);
        format!("TSA {customer_id}:{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// A customer's message, as TeleSign's inbound SMS callback carries it.
    pub fn mo_sms(reference_id: &str, from: &str, to: &str, text: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "reference_id": reference_id,
            "sub_resource": "mo_sms",
            "errors": [],
            "status": {"updated_on": "2026-12-07T10:00:00.000000Z", "code": 2000, "description": ""},
            "submit_timestamp": "2026-12-07T10:00:00.000000Z",
            "user_response": {"iso_country_code": "US", "phone_number": from, "mo_message": text, "sender_id": to}
        }))
        .unwrap()
    }

    /// Posts the delivery report of `sent` with status `code` to the callback URL its send named (its host
    /// replaced by `base`, the test server's address), signed; returns the callback's HTTP status.
    pub async fn report(&self, sent: &Sent, code: i64, description: &str, base: &str) -> u16 {
        let url = sent.form.get("callback_url").cloned().unwrap_or_default();
        let path = &url[url.find("/channels/").unwrap_or(0)..];
        let body = serde_json::to_vec(&json!({
            "reference_id": sent.reference_id,
            "external_id": sent.form.get("external_id"),
            "sub_resource": "sms",
            "errors": [],
            "status": {"code": code, "description": description, "updated_on": "2026-12-07T10:00:01.000000Z"}
        }))
        .unwrap();
        let key = self.inner.lock().unwrap().customers.get(&sent.customer_id).cloned().unwrap_or_default();
        reqwest::Client::new()
            .post(format!("{base}{path}"))
            .header("authorization", Self::authorization(&sent.customer_id, &key, &body))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

fn error(status: StatusCode, status_code: i64, code: i64, description: &str) -> Response {
    let body = json!({"status": {"code": status_code, "description": description,
        "updated_on": "2026-12-07T10:00:00.000000Z"}, "errors": [{"code": code, "description": description}]});
    (status, Json(body)).into_response()
}

async fn messaging(State(inner): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let mut inner = inner.lock().unwrap();
    let basic = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    let Some((customer_id, api_key)) = basic.split_once(':') else {
        return error(StatusCode::UNAUTHORIZED, 10001, -30000, "Missing Authorization header");
    };
    if inner.customers.get(customer_id).is_none_or(|k| k != api_key) {
        return error(StatusCode::UNAUTHORIZED, 10001, -30006, "Invalid Signature.");
    }
    if headers.get("content-type").and_then(|h| h.to_str().ok()) != Some("application/x-www-form-urlencoded") {
        return error(StatusCode::BAD_REQUEST, 11000, -10001, "Invalid Request: the body must be form-encoded");
    }
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let phone = form.get("phone_number").map(String::as_str).unwrap_or_default();
    if phone.is_empty() || !phone.bytes().all(|b| b.is_ascii_digit()) {
        return error(StatusCode::BAD_REQUEST, 11000, -10001, "Invalid Request: PhoneNumber Parameter is not valid.");
    }
    if form.get("message").is_none_or(String::is_empty) {
        return error(StatusCode::BAD_REQUEST, 11000, -10001, "Invalid Request: Message Parameter is required.");
    }
    if !matches!(form.get("message_type").map(String::as_str), Some("OTP" | "ARN" | "MKT")) {
        return error(StatusCode::BAD_REQUEST, 11000, -10001, "Invalid Request: MessageType Parameter is not valid.");
    }
    if let Some((status, retry_after, code)) = inner.failures.pop_front() {
        let mut response =
            error(StatusCode::from_u16(status).unwrap(), 10000 + code.abs() % 1000, code, "told to fail");
        if let Some(after) = retry_after {
            response.headers_mut().insert("retry-after", after.to_string().parse().unwrap());
        }
        return response;
    }
    let reference_id = format!("{:032X}", inner.sent.len() + 1);
    inner.sent.push(Sent { customer_id: customer_id.into(), form: form.clone(), reference_id: reference_id.clone() });
    Json(json!({"reference_id": reference_id, "external_id": form.get("external_id"),
        "status": {"code": 290, "description": "Message in progress", "updated_on": "2026-12-07T10:00:00.000000Z"}}))
    .into_response()
}
