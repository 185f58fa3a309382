//! A fake Twilio on 127.0.0.1 speaking the real wire format: the Messages API (`POST
//! /2010-04-01/Accounts/{sid}/Messages.json`, form-encoded, Basic auth with the account SID and auth token or an
//! API key and secret, answering 201 with the message resource or Twilio's error JSON), and media URLs behind the
//! same Basic auth. It checks every call and keeps what it refused. The webhooks it sends Switchboard are signed by
//! Twilio's own RequestValidator (twilio-node, `tests/twilio/sign.cjs`), not by Switchboard's code.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine as _;
use serde_json::json;

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "twilio-auth-token-1";

/// A message the Messages API accepted.
#[derive(Debug, Clone)]
pub struct Sent {
    pub sid: String,
    /// The form parameters, in order (`MediaUrl` may repeat).
    pub params: Vec<(String, String)>,
}

impl Sent {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

struct Inner {
    /// Basic-auth user → password the API accepts (the account SID and auth token; API keys and secrets).
    logins: HashMap<String, String>,
    sent: Vec<Sent>,
    /// Calls refused because they broke the API's rules (not failures the test asked for).
    refused: Vec<String>,
    /// The next sends' answers instead of 201: status, Retry-After, Twilio error code.
    failures: VecDeque<(u16, Option<u64>, Option<u32>)>,
    /// Media served: path → (content type, bytes).
    media: HashMap<String, (String, Vec<u8>)>,
    media_fetches: usize,
    counter: u64,
}

#[derive(Clone)]
pub struct FakeTwilio {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

type Shared = Arc<Mutex<Inner>>;

impl FakeTwilio {
    pub async fn start() -> Self {
        let mut logins = HashMap::new();
        logins.insert(ACCOUNT_SID.to_string(), AUTH_TOKEN.to_string());
        let inner = Arc::new(Mutex::new(Inner {
            logins,
            sent: Vec::new(),
            refused: Vec::new(),
            failures: VecDeque::new(),
            media: HashMap::new(),
            media_fetches: 0,
            counter: 0,
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/2010-04-01/Accounts/{sid}/Messages.json", post(create_message))
            .route("/2010-04-01/Accounts/{sid}", get(account))
            .route("/2010-04-01/Accounts/{sid}/Messages/{message}/Media/{media}", get(media))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, inner }
    }

    /// The next `n` sends are answered `status` (with `Retry-After` and Twilio's error `code` when given).
    pub fn fail_next(&self, n: usize, status: u16, retry_after: Option<u64>, code: Option<u32>) {
        self.inner.lock().unwrap().failures.extend(std::iter::repeat_n((status, retry_after, code), n));
    }

    /// Serves a customer's file; returns its URL (under the account's message, as Twilio's are).
    pub fn add_media(&self, message_sid: &str, content_type: &str, bytes: Vec<u8>) -> String {
        let mut inner = self.inner.lock().unwrap();
        inner.counter += 1;
        let path = format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message_sid}/Media/ME{:032x}", inner.counter);
        inner.media.insert(path.clone(), (content_type.into(), bytes));
        format!("{}{path}", self.base)
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.inner.lock().unwrap().sent.clone()
    }

    /// Calls the fake refused as Twilio would (bad credentials, missing parameters): a correct client makes none.
    pub fn refused(&self) -> Vec<String> {
        self.inner.lock().unwrap().refused.clone()
    }

    pub fn media_fetches(&self) -> usize {
        self.inner.lock().unwrap().media_fetches
    }
}

fn login(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(value).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn authorized(inner: &Inner, headers: &HeaderMap) -> bool {
    login(headers).is_some_and(|(user, password)| inner.logins.get(&user) == Some(&password))
}

fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({ "code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16() });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn refuse(inner: &mut Inner, why: String, status: StatusCode, code: u32) -> Response {
    inner.refused.push(why.clone());
    twilio_error(status, code, &why)
}

async fn create_message(
    State(inner): State<Shared>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut guard = inner.lock().unwrap();
    let inner = &mut *guard;
    if !authorized(inner, &headers) {
        return refuse(inner, "authenticate: bad Basic credentials".into(), StatusCode::UNAUTHORIZED, 20003);
    }
    if sid != ACCOUNT_SID {
        return refuse(inner, format!("the URL names account {sid}"), StatusCode::NOT_FOUND, 20404);
    }
    if headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) != Some("application/x-www-form-urlencoded") {
        return refuse(inner, "the body is not form-encoded".into(), StatusCode::BAD_REQUEST, 20001);
    }
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let Some(to) = get("To") else {
        return refuse(inner, "a 'To' phone number is required".into(), StatusCode::BAD_REQUEST, 21604);
    };
    let number = |n: &str| {
        let n = n.strip_prefix("whatsapp:").unwrap_or(n);
        n.len() > 4 && n.starts_with('+') && n[1..].bytes().all(|b| b.is_ascii_digit())
    };
    if !number(&to) {
        return refuse(
            inner,
            format!("The 'To' number {to} is not a valid phone number."),
            StatusCode::BAD_REQUEST,
            21211,
        );
    }
    match (get("From"), get("MessagingServiceSid")) {
        (None, None) => {
            return refuse(
                inner,
                "a 'From' or 'MessagingServiceSid' is required".into(),
                StatusCode::BAD_REQUEST,
                21603,
            );
        }
        (Some(from), None) if !number(&from) || from.starts_with("whatsapp:") != to.starts_with("whatsapp:") => {
            return refuse(inner, format!("'From' {from} does not match 'To' {to}"), StatusCode::BAD_REQUEST, 21212);
        }
        _ => {}
    }
    let body_text = get("Body").unwrap_or_default();
    if body_text.is_empty() && get("MediaUrl").is_none() && get("ContentSid").is_none() {
        return refuse(inner, "a message body, media or content is required".into(), StatusCode::BAD_REQUEST, 21602);
    }
    if body_text.chars().count() > 1_600 {
        return refuse(inner, "the body exceeds 1600 characters".into(), StatusCode::BAD_REQUEST, 21617);
    }
    if let Some((status, retry_after, code)) = inner.failures.pop_front() {
        let status = StatusCode::from_u16(status).unwrap();
        let mut response = twilio_error(status, code.unwrap_or(20500), "failure the test asked for");
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, seconds.to_string().parse().unwrap());
        }
        return response;
    }
    inner.counter += 1;
    let message_sid = format!("SM{:032x}", inner.counter);
    // As Twilio counts: one segment up to 160 GSM characters (70 otherwise), then 153 (67) a segment.
    let gsm = body_text.chars().all(|c| c.is_ascii() && c != '`');
    let (single, multi) = if gsm { (160, 153) } else { (70, 67) };
    let len = body_text.chars().count();
    let segments = if len <= single { 1 } else { len.div_ceil(multi) };
    inner.sent.push(Sent { sid: message_sid.clone(), params });
    let answer = json!({ "sid": message_sid, "account_sid": ACCOUNT_SID, "status": "queued", "to": to,
        "body": body_text, "num_segments": segments.to_string(), "num_media": "0", "error_code": null,
        "error_message": null, "api_version": "2010-04-01" });
    (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], answer.to_string()).into_response()
}

/// `GET /2010-04-01/Accounts/{sid}.json`: the account, to its own credentials.
async fn account(State(inner): State<Shared>, Path(sid): Path<String>, headers: HeaderMap) -> Response {
    let inner = inner.lock().unwrap();
    if sid != format!("{ACCOUNT_SID}.json") || !authorized(&inner, &headers) {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let body = json!({ "sid": ACCOUNT_SID, "status": "active", "type": "Full" });
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn media(State(inner): State<Shared>, uri: axum::http::Uri, headers: HeaderMap) -> Response {
    let mut inner = inner.lock().unwrap();
    if !authorized(&inner, &headers) {
        inner.refused.push(format!("media {} fetched without the account's credentials", uri.path()));
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    inner.media_fetches += 1;
    match inner.media.get(uri.path()) {
        Some((content_type, bytes)) => ([(header::CONTENT_TYPE, content_type.clone())], bytes.clone()).into_response(),
        None => twilio_error(StatusCode::NOT_FOUND, 20404, "not found"),
    }
}

/// The `X-Twilio-Signature` Twilio sends for a request to `url` with `params`, computed by twilio-node's
/// RequestValidator (`tests/twilio/sign.cjs`, installed with `npm ci` the first time it is needed).
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(&str, &str)]) -> String {
    use std::io::Write;
    static INSTALLED: Mutex<bool> = Mutex::new(false);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/twilio");
    {
        let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
        if !*installed && !dir.join("node_modules/twilio").exists() {
            let status = std::process::Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--silent"])
                .current_dir(&dir)
                .status()
                .expect("npm (Node.js) is needed to sign Twilio webhooks with twilio-node");
            assert!(status.success(), "npm ci in tests/twilio failed");
        }
        *installed = true;
    }
    // Repeated names are not sent by Twilio's message webhooks; an object holds each once.
    let object: serde_json::Map<String, serde_json::Value> =
        params.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    let input = json!({ "authToken": auth_token, "url": url, "params": object }).to_string();
    let mut child = std::process::Command::new("node")
        .arg("sign.cjs")
        .current_dir(&dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "sign.cjs: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}
