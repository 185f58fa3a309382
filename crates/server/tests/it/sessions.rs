//! Browser sign-in: passwords, sessions and their cookie, CSRF, the failed sign-in limit, and signing in through an
//! organization's OpenID Connect provider (a local fake that speaks the real wire format).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Form, Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode as AxumStatus, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::EncodingKey;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use switchboard_domain::{Timestamp, role::Role};
use switchboard_server::{clock::ManualClock, config::OidcProvider};

use crate::{
    Options, TestApp, assert_problem,
    auth::{chrono_now, es256_key, sign_jwt},
};

const PASSWORD: &str = "correct horse battery staple";

/// A response as a browser sees it: status, JSON body, and the cookies it set (name → value and attributes).
struct Answer {
    status: StatusCode,
    body: Value,
    cookies: HashMap<String, String>,
    location: Option<String>,
}

impl Answer {
    fn cookie(&self, name: &str) -> Option<String> {
        let raw = self.cookies.get(name)?;
        Some(raw.split(';').next()?.split_once('=')?.1.to_string())
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let cookies = response
        .headers()
        .get_all(header::SET_COOKIE.as_str())
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| Some((c.split_once('=')?.0.to_string(), c.to_string())))
        .collect();
    let location = response.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_string);
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer { status, body, cookies, location }
}

async fn sign_in(app: &TestApp, body: Value) -> Answer {
    answer(app.http.post(format!("{}/v1/sessions", app.base)).json(&body).send().await.unwrap()).await
}

/// A request made by a browser holding `cookie`, with `csrf` as the X-CSRF-Token header when given.
async fn browser(
    app: &TestApp,
    method: Method,
    path: &str,
    cookie: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut req = app
        .http
        .request(method, format!("{}{path}", app.base))
        .header("cookie", format!("switchboard_session={cookie}"));
    if let Some(csrf) = csrf {
        req = req.header("x-csrf-token", csrf);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    answer(req.send().await.unwrap()).await
}

/// A user with an email, whose password is set the way a person's is: an admin issues a set-password token and
/// the user spends it. Returns the user's id.
async fn user_with_password(app: &TestApp, role: Role, email: &str) -> String {
    let user = app
        .post_ok(
            "/v1/users",
            &app.admin_key,
            json!({ "name": email, "email": email, "role": role }),
            StatusCode::CREATED,
        )
        .await;
    let id = user["id"].as_str().unwrap().to_string();
    let token =
        app.post_ok(&format!("/v1/users/{id}/password-token"), &app.admin_key, json!({}), StatusCode::CREATED).await;
    assert!(token["token"].as_str().unwrap().starts_with("sbp_"));
    let (status, body) = app
        .call(Method::POST, "/v1/password", None, Some(json!({ "token": token["token"], "password": PASSWORD })))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    id
}

/// Signs in and returns (session cookie, CSRF token, the answer's body).
async fn signed_in(app: &TestApp, email: &str, password: &str) -> (String, String, Value) {
    let answer = sign_in(app, json!({ "email": email, "password": password })).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let cookie = answer.cookie("switchboard_session").expect("a session cookie");
    (cookie, answer.body["csrf_token"].as_str().unwrap().to_string(), answer.body)
}

async fn session_count(app: &TestApp) -> usize {
    let (status, page) = app.get("/v1/sessions", &app.admin_key).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["data"].as_array().unwrap().len()
}

async fn queue_count(app: &TestApp) -> usize {
    app.get("/v1/queues", &app.admin_key).await.1["data"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_user_signs_in_works_with_the_cookie_and_signs_out() {
    let app = TestApp::spawn().await;
    let agent = user_with_password(&app, Role::Agent, "ada@example.com").await;
    let answer = sign_in(&app, json!({ "email": "Ada@Example.com", "password": PASSWORD })).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    assert_eq!(answer.body["user"]["id"], agent.as_str());
    assert_eq!(answer.body["role"], "agent");
    assert_eq!(answer.body["method"], "password");
    assert!(answer.body["expires_at"].is_string() && answer.body["csrf_token"].as_str().unwrap().len() >= 43);
    let set = &answer.cookies["switchboard_session"];
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "plain http gets no Secure cookie: {set}");
    let cookie = answer.cookie("switchboard_session").unwrap();
    let csrf = answer.body["csrf_token"].as_str().unwrap();

    let current = browser(&app, Method::GET, "/v1/sessions/current", &cookie, None, None).await;
    assert_eq!(current.status, StatusCode::OK, "{}", current.body);
    assert_eq!(
        (current.body["csrf_token"].as_str(), current.body["id"].clone()),
        (Some(csrf), answer.body["id"].clone())
    );
    // The agent's own view of the work: an agent's scope, as with their API key.
    let listed = browser(&app, Method::GET, "/v1/conversations", &cookie, None, None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let mine = browser(&app, Method::GET, "/v1/sessions", &cookie, None, None).await;
    assert_eq!(mine.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(mine.body["data"][0]["user_id"], agent.as_str());
    assert!(mine.body["data"][0].get("csrf_token").is_none() && mine.body["data"][0].get("token_hash").is_none());

    let out = browser(&app, Method::DELETE, "/v1/sessions/current", &cookie, Some(csrf), None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.body);
    assert!(out.cookies["switchboard_session"].contains("Max-Age=0"));
    let after = browser(&app, Method::GET, "/v1/sessions/current", &cookie, None, None).await;
    assert_problem(after.status, &after.body, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(session_count(&app).await, 0);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer_and_no_session() {
    let app = TestApp::spawn().await;
    user_with_password(&app, Role::Agent, "ada@example.com").await;
    for body in [
        json!({ "email": "ada@example.com", "password": "not the password at all" }),
        json!({ "email": "nobody@example.com", "password": PASSWORD }),
        json!({ "email": "ada@example.com", "password": "x".repeat(5000) }),
    ] {
        let answer = sign_in(&app, body).await;
        assert_problem(answer.status, &answer.body, StatusCode::UNAUTHORIZED, "invalid_credentials");
        assert!(answer.cookies.is_empty());
    }
    // Another organization does not hold the user.
    let answer = sign_in(
        &app,
        json!({ "email": "ada@example.com", "password": PASSWORD, "organization": uuid::Uuid::now_v7() }),
    )
    .await;
    assert_problem(answer.status, &answer.body, StatusCode::UNAUTHORIZED, "invalid_credentials");
    let answer = sign_in(&app, json!({ "email": "ada@example.com", "password": PASSWORD, "extra": 1 })).await;
    assert_problem(answer.status, &answer.body, StatusCode::BAD_REQUEST, "unknown_field");
    assert_eq!(session_count(&app).await, 0);
    // A user without a password cannot sign in with one.
    app.post_ok(
        "/v1/users",
        &app.admin_key,
        json!({ "name": "B", "email": "bo@example.com", "role": "agent" }),
        StatusCode::CREATED,
    )
    .await;
    let answer = sign_in(&app, json!({ "email": "bo@example.com", "password": PASSWORD })).await;
    assert_problem(answer.status, &answer.body, StatusCode::UNAUTHORIZED, "invalid_credentials");
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_account_until_the_window_passes() {
    let clock = ManualClock::new(Timestamp::now());
    let app = TestApp::spawn_with(Options { clock: Some(clock.clone()), ..Options::default() }).await;
    user_with_password(&app, Role::Agent, "ada@example.com").await;
    for _ in 0..5 {
        let answer = sign_in(&app, json!({ "email": "ada@example.com", "password": "wrong wrong wrong" })).await;
        assert_problem(answer.status, &answer.body, StatusCode::UNAUTHORIZED, "invalid_credentials");
        clock.advance(Duration::from_secs(1));
    }
    // Even the right password is refused now, and says when to come back.
    let response = app
        .http
        .post(format!("{}/v1/sessions", app.base))
        .json(&json!({ "email": "ada@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((890..=901).contains(&retry_after), "{retry_after}");
    let answer = answer(response).await;
    assert_problem(answer.status, &answer.body, StatusCode::TOO_MANY_REQUESTS, "too_many_sign_in_attempts");
    assert!(answer.cookies.is_empty());
    assert_eq!(session_count(&app).await, 0);
    // Once the oldest failures leave the 15-minute window, the owner signs in (and the count starts again).
    clock.advance(Duration::from_secs(retry_after));
    signed_in(&app, "ada@example.com", PASSWORD).await;
    let answer = sign_in(&app, json!({ "email": "ada@example.com", "password": "wrong wrong wrong" })).await;
    assert_problem(answer.status, &answer.body, StatusCode::UNAUTHORIZED, "invalid_credentials");
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_address() {
    let app = TestApp::spawn_with(Options {
        configure: Some(|c| c.sign_in.max_failures_per_address = 3),
        ..Options::default()
    })
    .await;
    user_with_password(&app, Role::Agent, "ada@example.com").await;
    for who in ["a@example.com", "b@example.com", "c@example.com"] {
        let answer = sign_in(&app, json!({ "email": who, "password": PASSWORD })).await;
        assert_problem(answer.status, &answer.body, StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let answer = sign_in(&app, json!({ "email": "ada@example.com", "password": PASSWORD })).await;
    assert_problem(answer.status, &answer.body, StatusCode::TOO_MANY_REQUESTS, "too_many_sign_in_attempts");
    assert_eq!(session_count(&app).await, 0);
}

#[tokio::test]
async fn forged_expired_and_revoked_sessions_are_refused() {
    let clock = ManualClock::new(Timestamp::now());
    let app = TestApp::spawn_with(Options { clock: Some(clock.clone()), ..Options::default() }).await;
    user_with_password(&app, Role::Agent, "ada@example.com").await;
    for forged in ["forged", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        let answer = browser(&app, Method::GET, "/v1/sessions/current", forged, None, None).await;
        assert_problem(answer.status, &answer.body, StatusCode::UNAUTHORIZED, "unauthenticated");
    }

    // Use keeps a session alive past its idle time (4 h); its absolute end (12 h) does not move.
    let (cookie, _, _) = signed_in(&app, "ada@example.com", PASSWORD).await;
    for _ in 0..3 {
        clock.advance(Duration::from_secs(3 * 3600));
        let answer = browser(&app, Method::GET, "/v1/sessions/current", &cookie, None, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }
    clock.advance(Duration::from_secs(3 * 3600));
    let answer = browser(&app, Method::GET, "/v1/sessions/current", &cookie, None, None).await;
    assert_problem(answer.status, &answer.body, StatusCode::UNAUTHORIZED, "session_expired");

    // Unused for longer than the idle time.
    let (idle, _, _) = signed_in(&app, "ada@example.com", PASSWORD).await;
    clock.advance(Duration::from_secs(4 * 3600 + 1));
    let answer = browser(&app, Method::GET, "/v1/conversations", &idle, None, None).await;
    assert_problem(answer.status, &answer.body, StatusCode::UNAUTHORIZED, "session_expired");

    // Revoked by an admin: refused on the next request.
    let (cookie, _, body) = signed_in(&app, "ada@example.com", PASSWORD).await;
    assert_eq!(browser(&app, Method::GET, "/v1/conversations", &cookie, None, None).await.status, StatusCode::OK);
    let id = body["id"].as_str().unwrap();
    let (status, _) = app.call(Method::DELETE, &format!("/v1/sessions/{id}"), Some(&app.admin_key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let answer = browser(&app, Method::GET, "/v1/conversations", &cookie, None, None).await;
    assert_problem(answer.status, &answer.body, StatusCode::UNAUTHORIZED, "unauthenticated");
    let (status, body) = app.call(Method::DELETE, &format!("/v1/sessions/{id}"), Some(&app.admin_key), None).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "session_not_found");
}

#[tokio::test]
async fn cookie_writes_need_the_csrf_token_and_bearer_writes_do_not() {
    let app = TestApp::spawn().await;
    user_with_password(&app, Role::Admin, "root@example.com").await;
    let (cookie, csrf, _) = signed_in(&app, "root@example.com", PASSWORD).await;
    let queues = queue_count(&app).await;
    for sent in [None, Some("wrong"), Some("")] {
        let answer = browser(&app, Method::POST, "/v1/queues", &cookie, sent, Some(json!({ "name": "Q" }))).await;
        assert_problem(answer.status, &answer.body, StatusCode::FORBIDDEN, "csrf_token_invalid");
    }
    let answer = browser(&app, Method::DELETE, "/v1/sessions/current", &cookie, None, None).await;
    assert_problem(answer.status, &answer.body, StatusCode::FORBIDDEN, "csrf_token_invalid");
    assert_eq!(queue_count(&app).await, queues, "nothing was created");
    assert_eq!(session_count(&app).await, 1, "nor signed out");
    // Another session's token is not this one's.
    let (_, other_csrf, _) = signed_in(&app, "root@example.com", PASSWORD).await;
    let answer =
        browser(&app, Method::POST, "/v1/queues", &cookie, Some(&other_csrf), Some(json!({ "name": "Q" }))).await;
    assert_problem(answer.status, &answer.body, StatusCode::FORBIDDEN, "csrf_token_invalid");

    let answer = browser(&app, Method::POST, "/v1/queues", &cookie, Some(&csrf), Some(json!({ "name": "Q" }))).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    // Reads need no token; bearer callers never do.
    assert_eq!(browser(&app, Method::GET, "/v1/queues", &cookie, None, None).await.status, StatusCode::OK);
    let (status, _) = app.post("/v1/queues", &app.admin_key, json!({ "name": "R" })).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(queue_count(&app).await, queues + 2);
}

#[tokio::test]
async fn passwords_follow_the_rules_and_set_password_tokens_work_once() {
    let clock = ManualClock::new(Timestamp::now());
    let app = TestApp::spawn_with(Options { clock: Some(clock.clone()), ..Options::default() }).await;
    let user = app
        .post_ok(
            "/v1/users",
            &app.admin_key,
            json!({ "name": "Ada", "email": "ada@example.com", "role": "agent" }),
            StatusCode::CREATED,
        )
        .await;
    let path = format!("/v1/users/{}/password-token", user["id"].as_str().unwrap());
    let token = app.post_ok(&path, &app.admin_key, json!({}), StatusCode::CREATED).await["token"].clone();
    let set = |password: String| {
        app.call(Method::POST, "/v1/password", None, Some(json!({ "token": token, "password": password })))
    };
    let (status, body) = set("a".repeat(11)).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "password_too_short");
    let (status, body) = set("a".repeat(129)).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "password_too_long");
    let answer = sign_in(&app, json!({ "email": "ada@example.com", "password": "a".repeat(11) })).await;
    assert_problem(answer.status, &answer.body, StatusCode::UNAUTHORIZED, "invalid_credentials");
    // The refused tries did not spend the token.
    let (status, _) = set(PASSWORD.to_string()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = set("another good password".to_string()).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_password_token");
    let (status, body) = app
        .call(Method::POST, "/v1/password", None, Some(json!({ "token": "sbp_forged", "password": PASSWORD })))
        .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_password_token");
    // A token left unused for a day has expired.
    let late = app.post_ok(&path, &app.admin_key, json!({}), StatusCode::CREATED).await["token"].clone();
    clock.advance(Duration::from_secs(86_400));
    let (status, body) = app
        .call(Method::POST, "/v1/password", None, Some(json!({ "token": late, "password": "another good password" })))
        .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_password_token");
    let (_, _, _) = signed_in(&app, "ada@example.com", PASSWORD).await;
    // Only an admin issues tokens, for users of their organization.
    let (agent_key, _) = app.key(Role::Agent).await;
    let (status, body) = app.post(&path, &agent_key, json!({})).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) =
        app.post(&format!("/v1/users/{}/password-token", uuid::Uuid::now_v7()), &app.admin_key, json!({})).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "user_not_found");
}

#[tokio::test]
async fn a_user_changes_their_password_with_the_current_one() {
    let app = TestApp::spawn().await;
    user_with_password(&app, Role::Agent, "ada@example.com").await;
    let (cookie, csrf, _) = signed_in(&app, "ada@example.com", PASSWORD).await;
    let (elsewhere, _, _) = signed_in(&app, "ada@example.com", PASSWORD).await;
    let change = |current: &str, new: &str| {
        browser(
            &app,
            Method::PUT,
            "/v1/password",
            &cookie,
            Some(&csrf),
            Some(json!({ "current_password": current, "password": new })),
        )
    };
    let answer = change("not my password!", "a brand new password").await;
    assert_problem(answer.status, &answer.body, StatusCode::FORBIDDEN, "wrong_current_password");
    let answer = change(PASSWORD, "short").await;
    assert_problem(answer.status, &answer.body, StatusCode::BAD_REQUEST, "password_too_short");
    signed_in(&app, "ada@example.com", PASSWORD).await;
    let answer = change(PASSWORD, "a brand new password").await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);
    let answer = sign_in(&app, json!({ "email": "ada@example.com", "password": PASSWORD })).await;
    assert_problem(answer.status, &answer.body, StatusCode::UNAUTHORIZED, "invalid_credentials");
    signed_in(&app, "ada@example.com", "a brand new password").await;
    // The session that changed it goes on; the others ended.
    assert_eq!(browser(&app, Method::GET, "/v1/sessions/current", &cookie, None, None).await.status, StatusCode::OK);
    let answer = browser(&app, Method::GET, "/v1/sessions/current", &elsewhere, None, None).await;
    assert_problem(answer.status, &answer.body, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn sessions_are_revoked_by_their_owner_or_an_admin_only() {
    let app = TestApp::spawn().await;
    user_with_password(&app, Role::Agent, "ada@example.com").await;
    user_with_password(&app, Role::Agent, "bo@example.com").await;
    let (ada, ada_csrf, _) = signed_in(&app, "ada@example.com", PASSWORD).await;
    signed_in(&app, "ada@example.com", PASSWORD).await;
    let (bo, _, bo_session) = signed_in(&app, "bo@example.com", PASSWORD).await;
    assert_eq!(
        browser(&app, Method::GET, "/v1/sessions", &ada, None, None).await.body["data"].as_array().unwrap().len(),
        2
    );
    assert_eq!(session_count(&app).await, 3);
    let path = format!("/v1/sessions/{}", bo_session["id"].as_str().unwrap());
    let answer = browser(&app, Method::DELETE, &path, &ada, Some(&ada_csrf), None).await;
    assert_problem(answer.status, &answer.body, StatusCode::NOT_FOUND, "session_not_found");
    assert_eq!(browser(&app, Method::GET, "/v1/sessions/current", &bo, None, None).await.status, StatusCode::OK);
    // Another organization's admin cannot see or end them.
    let (_, theirs) =
        switchboard_server::admin::create_org(&app.state.store, "globex", app.state.clock.now()).await.unwrap();
    let (status, body) = app.call(Method::DELETE, &path, Some(&theirs.api_key), None).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "session_not_found");
    assert!(app.get("/v1/sessions", &theirs.api_key).await.1["data"].as_array().unwrap().is_empty());
    // A bearer caller has no current session.
    let (status, body) = app.call(Method::DELETE, "/v1/sessions/current", Some(&app.admin_key), None).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "session_not_found");
    assert_eq!(session_count(&app).await, 3);
}

#[tokio::test]
async fn an_operator_creates_a_user_with_a_password() {
    let app = TestApp::spawn().await;
    let org = app.org_id.parse().unwrap();
    let store = &app.state.store;
    let now = app.state.clock.now();
    let (_, created) = switchboard_server::admin::create_user(
        store,
        org,
        "Sam",
        Some("sam@example.com"),
        Role::Supervisor,
        Some(PASSWORD.into()),
        now,
    )
    .await
    .unwrap();
    let (_, _, body) = signed_in(&app, "sam@example.com", PASSWORD).await;
    assert_eq!((body["role"].as_str(), body["user"]["id"].clone()), (Some("supervisor"), json!(created.user_id)));
    let weak = switchboard_server::admin::create_user(
        store,
        org,
        "W",
        Some("w@example.com"),
        Role::Agent,
        Some("short".into()),
        now,
    )
    .await
    .unwrap_err();
    assert_eq!(weak.code.as_str(), "password_too_short");
    let no_email =
        switchboard_server::admin::create_user(store, org, "N", None, Role::Agent, Some(PASSWORD.into()), now)
            .await
            .unwrap_err();
    assert_eq!(no_email.code.as_str(), "missing_field");
    // An email names one person who signs in with a password, across organizations.
    let (_, theirs) = switchboard_server::admin::create_org(store, "globex", now).await.unwrap();
    let taken = switchboard_server::admin::create_user(
        store,
        theirs.org_id,
        "Sam 2",
        Some("sam@example.com"),
        Role::Agent,
        Some(PASSWORD.into()),
        now,
    )
    .await
    .unwrap_err();
    assert_eq!(taken.code.as_str(), "already_exists");
}

/// A stand-in OpenID Connect provider: discovery, an authorization endpoint that signs anyone in at once, a token
/// endpoint that checks the client and the PKCE verifier, and a JWKS.
#[derive(Clone)]
struct Provider {
    issuer: String,
    inner: Arc<Mutex<ProviderState>>,
}

struct ProviderState {
    key: EncodingKey,
    /// A key the JWKS does not publish, under the same `kid`.
    other_key: EncodingKey,
    jwk: Value,
    /// code → (code_challenge, nonce, redirect_uri)
    codes: HashMap<String, (String, String, String)>,
    email: String,
    wrong_nonce: bool,
    sign_with_other_key: bool,
}

const CLIENT_ID: &str = "switchboard-web";
const CLIENT_SECRET: &str = "provider-client-secret";

async fn discovery(State(p): State<Provider>) -> Json<Value> {
    Json(json!({
        "issuer": p.issuer,
        "authorization_endpoint": format!("{}/authorize", p.issuer),
        "token_endpoint": format!("{}/token", p.issuer),
        "jwks_uri": format!("{}/jwks", p.issuer),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": ["ES256"],
    }))
}

async fn authorize(State(p): State<Provider>, Query(q): Query<HashMap<String, String>>) -> Response {
    let ok = q.get("response_type").map(String::as_str) == Some("code")
        && q.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && q.get("code_challenge_method").map(String::as_str) == Some("S256")
        && q.get("scope").is_some_and(|s| s.split(' ').any(|s| s == "openid"));
    if !ok {
        return (AxumStatus::BAD_REQUEST, "bad authorization request").into_response();
    }
    let code = uuid::Uuid::new_v4().simple().to_string();
    let redirect_uri = q["redirect_uri"].clone();
    p.inner
        .lock()
        .unwrap()
        .codes
        .insert(code.clone(), (q["code_challenge"].clone(), q["nonce"].clone(), redirect_uri.clone()));
    Redirect::to(&format!("{redirect_uri}?code={code}&state={}", q["state"])).into_response()
}

async fn token(State(p): State<Provider>, headers: HeaderMap, Form(form): Form<HashMap<String, String>>) -> Response {
    let refuse = |error: &str| (AxumStatus::BAD_REQUEST, Json(json!({ "error": error }))).into_response();
    let basic = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Basic "));
    let expected = STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    if basic != Some(expected.as_str()) {
        return (AxumStatus::UNAUTHORIZED, Json(json!({ "error": "invalid_client" }))).into_response();
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return refuse("unsupported_grant_type");
    }
    let mut state = p.inner.lock().unwrap();
    let Some((challenge, nonce, redirect_uri)) = form.get("code").and_then(|c| state.codes.remove(c)) else {
        return refuse("invalid_grant");
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != challenge
        || form.get("redirect_uri") != Some(&redirect_uri)
    {
        return refuse("invalid_grant");
    }
    let now = chrono_now();
    let claims = json!({
        "iss": p.issuer, "sub": "idp-user-1", "aud": CLIENT_ID, "iat": now, "exp": now + 300,
        "nonce": if state.wrong_nonce { "another-nonce".to_string() } else { nonce },
        "email": state.email, "email_verified": true,
    });
    let key = if state.sign_with_other_key { &state.other_key } else { &state.key };
    let id_token = sign_jwt(&claims, key, "provider-key");
    Json(json!({ "access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token }))
        .into_response()
}

async fn provider() -> Provider {
    let (key, jwk) = es256_key("provider-key");
    let (other_key, _) = es256_key("provider-key");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let provider = Provider {
        issuer,
        inner: Arc::new(Mutex::new(ProviderState {
            key,
            other_key,
            jwk,
            codes: HashMap::new(),
            email: "ada@example.com".into(),
            wrong_nonce: false,
            sign_with_other_key: false,
        })),
    };
    let jwks = provider.inner.lock().unwrap().jwk.clone();
    let router = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/jwks", get(move || async move { Json(json!({ "keys": [jwks] })) }))
        .with_state(provider.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    provider
}

async fn oidc_app(provider: &Provider) -> TestApp {
    let app = TestApp::spawn_with(Options {
        oidc: Some(OidcProvider {
            org_id: String::new(),
            issuer: provider.issuer.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            scopes: vec!["openid".into(), "email".into()],
            user_claim: "email".into(),
        }),
        ..Options::default()
    })
    .await;
    app.post_ok(
        "/v1/users",
        &app.admin_key,
        json!({ "name": "Ada", "email": "ada@example.com", "role": "supervisor" }),
        StatusCode::CREATED,
    )
    .await;
    app
}

/// What can go wrong on the way through the provider, as a test makes it happen.
#[derive(Default)]
struct Tamper {
    /// Replaces the PKCE challenge sent to the provider, so that our verifier no longer matches it.
    challenge: bool,
    /// Replaces the state the provider sends back.
    state: bool,
    /// Leaves out the cookie that ties the sign-in to the browser.
    no_cookie: bool,
}

/// Walks a browser through the sign-in: our redirect, the provider's, and our callback's answer.
async fn oidc_sign_in(app: &TestApp, tamper: Tamper) -> Answer {
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let start =
        answer(browser.get(format!("{}/v1/sessions/oidc?organization={}", app.base, app.org_id)).send().await.unwrap())
            .await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
    let state_cookie = start.cookie("switchboard_oidc_state").expect("a state cookie");
    let mut authorize = url::Url::parse(start.location.as_deref().unwrap()).unwrap();
    let query: HashMap<String, String> = authorize.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!((query["client_id"].as_str(), query["scope"].as_str()), (CLIENT_ID, "openid email"));
    assert_eq!(query["redirect_uri"], format!("{}/v1/sessions/oidc/callback", app.base));
    assert!(query["nonce"].len() >= 43 && query["state"] == state_cookie);
    if tamper.challenge {
        let pairs: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    if k == "code_challenge" { URL_SAFE_NO_PAD.encode(Sha256::digest(b"x")) } else { v.clone() },
                )
            })
            .collect();
        authorize.query_pairs_mut().clear().extend_pairs(pairs);
    }
    let back = answer(browser.get(authorize).send().await.unwrap()).await;
    let mut callback = url::Url::parse(back.location.as_deref().expect("the provider redirects back")).unwrap();
    if tamper.state {
        let code = callback.query_pairs().find(|(k, _)| k == "code").unwrap().1.to_string();
        callback.query_pairs_mut().clear().append_pair("code", &code).append_pair("state", "forged-state");
    }
    let mut request = browser.get(callback);
    if !tamper.no_cookie {
        request = request.header("cookie", format!("switchboard_oidc_state={state_cookie}"));
    }
    answer(request.send().await.unwrap()).await
}

#[tokio::test]
async fn an_organization_with_an_identity_provider_signs_in_through_it() {
    let provider = provider().await;
    let app = oidc_app(&provider).await;
    let done = oidc_sign_in(&app, Tamper::default()).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/"));
    assert!(done.cookies["switchboard_oidc_state"].contains("Max-Age=0"));
    let cookie = done.cookie("switchboard_session").expect("a session cookie");
    let current = browser(&app, Method::GET, "/v1/sessions/current", &cookie, None, None).await;
    assert_eq!(current.status, StatusCode::OK, "{}", current.body);
    assert_eq!((current.body["role"].as_str(), current.body["method"].as_str()), (Some("supervisor"), Some("oidc")));
    assert_eq!(current.body["user"]["email"], "ada@example.com");

    // Passwords are refused for this organization, whether it is named or found from the email.
    let org = app.org_id.parse().unwrap();
    switchboard_server::admin::create_user(
        &app.state.store,
        org,
        "Bo",
        Some("bo@example.com"),
        Role::Agent,
        Some(PASSWORD.into()),
        app.state.clock.now(),
    )
    .await
    .unwrap();
    for body in [
        json!({ "email": "bo@example.com", "password": PASSWORD }),
        json!({ "email": "bo@example.com", "password": "whatever it is", "organization": app.org_id }),
    ] {
        let answer = sign_in(&app, body).await;
        assert_problem(answer.status, &answer.body, StatusCode::FORBIDDEN, "password_sign_in_disabled");
        assert!(answer.cookies.is_empty());
    }
    assert_eq!(session_count(&app).await, 1);
    // An organization without a provider has nothing to redirect to.
    let (status, body) =
        app.call(Method::GET, &format!("/v1/sessions/oidc?organization={}", uuid::Uuid::now_v7()), None, None).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "oidc_not_configured");
}

#[tokio::test]
async fn a_provider_answer_that_does_not_verify_signs_no_one_in() {
    let provider = provider().await;
    let app = oidc_app(&provider).await;
    let state = oidc_sign_in(&app, Tamper { state: true, ..Tamper::default() }).await;
    assert_problem(state.status, &state.body, StatusCode::BAD_REQUEST, "invalid_oidc_state");
    let cookie = oidc_sign_in(&app, Tamper { no_cookie: true, ..Tamper::default() }).await;
    assert_problem(cookie.status, &cookie.body, StatusCode::BAD_REQUEST, "invalid_oidc_state");
    let verifier = oidc_sign_in(&app, Tamper { challenge: true, ..Tamper::default() }).await;
    assert_problem(verifier.status, &verifier.body, StatusCode::UNAUTHORIZED, "oidc_sign_in_failed");
    assert!(verifier.body["detail"].as_str().unwrap().contains("invalid_grant"), "{}", verifier.body);

    provider.inner.lock().unwrap().wrong_nonce = true;
    let nonce = oidc_sign_in(&app, Tamper::default()).await;
    assert_problem(nonce.status, &nonce.body, StatusCode::UNAUTHORIZED, "oidc_sign_in_failed");
    provider.inner.lock().unwrap().wrong_nonce = false;

    provider.inner.lock().unwrap().sign_with_other_key = true;
    let forged = oidc_sign_in(&app, Tamper::default()).await;
    assert_problem(forged.status, &forged.body, StatusCode::UNAUTHORIZED, "oidc_sign_in_failed");
    provider.inner.lock().unwrap().sign_with_other_key = false;

    provider.inner.lock().unwrap().email = "stranger@example.com".into();
    let stranger = oidc_sign_in(&app, Tamper::default()).await;
    assert_problem(stranger.status, &stranger.body, StatusCode::UNAUTHORIZED, "oidc_sign_in_failed");

    for refused in [state, cookie, verifier, nonce, forged, stranger] {
        assert!(!refused.cookies.contains_key("switchboard_session"));
    }
    assert_eq!(session_count(&app).await, 0, "no session was made");
}

/// Reference §6.5: an agent who signs in is put in their default presence (a custom one here), or Available without
/// one; a default that is no presence is refused.
#[tokio::test]
async fn an_agent_who_signs_in_is_put_in_their_default_presence() {
    let app = TestApp::spawn().await;
    let ada = user_with_password(&app, Role::Agent, "ada@example.com").await;
    let bo = user_with_password(&app, Role::Agent, "bo@example.com").await;
    let custom = json!({ "name": "Getting ready", "base": "busy_dnd" });
    let custom = app.post_ok("/v1/presences", &app.admin_key, custom, StatusCode::CREATED).await;
    let routing = format!("/v1/agents/{bo}/routing");
    let (status, body) = app
        .call(Method::PUT, &routing, Some(&app.admin_key), Some(json!({ "default_presence": "getting ready" })))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["default_presence"], custom["id"], "{body}");
    for bad in ["nope", "inactive"] {
        let (status, problem) =
            app.call(Method::PUT, &routing, Some(&app.admin_key), Some(json!({ "default_presence": bad }))).await;
        assert_problem(status, &problem, StatusCode::BAD_REQUEST, "invalid_presence");
        assert_eq!(problem["field"], "default_presence", "{problem}");
    }
    let presence = |id: &str| format!("/v1/agents/{id}/presence");
    assert_eq!(app.get(&presence(&ada), &app.admin_key).await.1["presence"], "offline");

    signed_in(&app, "ada@example.com", PASSWORD).await;
    signed_in(&app, "bo@example.com", PASSWORD).await;
    app.eventually(&presence(&ada), &app.admin_key, |p| p["presence"] == "available").await;
    let p = app.eventually(&presence(&bo), &app.admin_key, |p| p["custom_presence"]["id"] == custom["id"]).await;
    assert_eq!(p["presence"], "busy_dnd", "{p}");
}
