use axum::{Json, Router, routing::get};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, jwk::JwkSet};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use reqwest::{Method, StatusCode};
use serde_json::json;
use switchboard_domain::role::Role;
use switchboard_server::config::TrustedIssuer;

use crate::{Options, TestApp, assert_problem};

#[tokio::test]
async fn requests_without_valid_credentials_are_refused() {
    let app = TestApp::spawn().await;
    let (status, body) = app.call(Method::GET, "/v1/org", None, None).await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    let response =
        app.http.get(format!("{}/v1/org", app.base)).header("authorization", "Basic abc").send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    for bad in ["sbk_not-a-real-key", "garbage", "a.b.c"] {
        let (status, body) = app.get("/v1/org", bad).await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    let (status, org) = app.get("/v1/org", &app.admin_key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((org["id"].as_str(), org["name"].as_str()), (Some(app.org_id.as_str()), Some("acme")));
}

#[tokio::test]
async fn roles_limit_what_a_caller_may_do() {
    let app = TestApp::spawn().await;
    let (agent, _) = app.key(Role::Agent).await;
    let (integration, _) = app.key(Role::Integration).await;
    let (status, body) = app.post("/v1/queues", &agent, json!({ "name": "Q" })).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = app.post("/v1/users", &integration, json!({ "name": "X", "role": "admin" })).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = app.get("/v1/api-keys", &integration).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = app.post("/v1/conversations", &agent, json!({ "channel_id": uuid::Uuid::now_v7() })).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    // An agent's key must name its agent.
    let (status, body) = app.post("/v1/api-keys", &app.admin_key, json!({ "name": "a", "role": "agent" })).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "missing_field");
}

#[tokio::test]
async fn another_tenants_objects_answer_not_found() {
    let ours = TestApp::spawn().await;
    let channel = ours.channel().await;
    let (integration, _) = ours.key(Role::Integration).await;
    let conversation = ours.conversation(&integration, &channel, "c1").await;
    // A second organization on the same server.
    let (_, theirs) =
        switchboard_server::admin::create_org(&ours.state.store, "globex", ours.state.clock.now()).await.unwrap();
    let key = theirs.api_key;
    for path in [
        format!("/v1/conversations/{conversation}"),
        format!("/v1/conversations/{conversation}/messages"),
        format!("/v1/conversations/{conversation}/context"),
        format!("/v1/channels/{channel}"),
    ] {
        let (status, body) = ours.get(&path, &key).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let events = ours.event_count().await;
    let (status, body) =
        ours.post(&format!("/v1/conversations/{conversation}/messages"), &key, json!({ "text": "hi" })).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "conversation_not_found");
    let (status, body) = ours.post("/v1/conversations", &key, json!({ "channel_id": channel })).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "channel_not_found");
    assert_eq!(body["field"], "channel_id");
    let (status, body) = ours.post(&format!("/v1/conversations/{conversation}/close"), &key, json!({})).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "conversation_not_found");
    assert_eq!(ours.event_count().await, events, "nothing changed in our organization");
    let (_, listed) = ours.get("/v1/conversations", &key).await;
    assert!(listed["data"].as_array().unwrap().is_empty());
}

async fn client(app: &TestApp) -> (String, String) {
    let created = app
        .post_ok("/v1/clients", &app.admin_key, json!({ "name": "crm", "role": "integration" }), StatusCode::CREATED)
        .await;
    (created["client_id"].as_str().unwrap().to_string(), created["client_secret"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn client_credentials_issue_tokens_any_jwt_library_verifies() {
    let app = TestApp::spawn().await;
    let (id, secret) = client(&app).await;
    let form = app
        .http
        .post(format!("{}/oauth2/token", app.base))
        .form(&[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret)])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    assert_eq!(form.headers()["cache-control"], "no-store");
    let form: serde_json::Value = form.json().await.unwrap();
    assert_eq!(form["token_type"], "Bearer");
    assert_eq!(form["expires_in"], 3600);
    let token = form["access_token"].as_str().unwrap();

    let basic = app
        .http
        .post(format!("{}/oauth2/token", app.base))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::OK);

    // Verify independently, as a receiver would: discovery → JWKS → signature, issuer and audience.
    let (_, discovery) = app.call(Method::GET, "/.well-known/openid-configuration", None, None).await;
    assert_eq!(discovery["issuer"], app.base);
    let jwks: JwkSet =
        app.http.get(discovery["jwks_uri"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("the token's key is published");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&["switchboard"]);
    validation.set_issuer(&[app.base.as_str()]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .unwrap()
        .claims;
    assert_eq!(
        (claims["org"].as_str(), claims["role"].as_str(), claims["sub"].as_str()),
        (Some(app.org_id.as_str()), Some("integration"), Some(id.as_str()))
    );

    let (status, _) = app.get("/v1/org", token).await;
    assert_eq!(status, StatusCode::OK);

    // A revoked client's tokens stop working.
    let (status, _) = app.call(Method::DELETE, &format!("/v1/clients/{id}"), Some(&app.admin_key), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.get("/v1/org", token).await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn the_token_endpoint_answers_in_oauth_terms() {
    let app = TestApp::spawn().await;
    let (id, secret) = client(&app).await;
    let token =
        |fields: Vec<(&'static str, String)>| app.http.post(format!("{}/oauth2/token", app.base)).form(&fields).send();
    let wrong = token(vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", id.clone()),
        ("client_secret", "sbs_wrong".into()),
    ])
    .await
    .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json::<serde_json::Value>().await.unwrap()["error"], "invalid_client");
    let grant =
        token(vec![("grant_type", "password".into()), ("client_id", id.clone()), ("client_secret", secret.clone())])
            .await
            .unwrap();
    assert_eq!(grant.status(), StatusCode::BAD_REQUEST);
    assert_eq!(grant.json::<serde_json::Value>().await.unwrap()["error"], "unsupported_grant_type");
    let missing = token(vec![("client_id", id.clone())]).await.unwrap();
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert_eq!(missing.json::<serde_json::Value>().await.unwrap()["error"], "invalid_request");
    let unknown = token(vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", uuid::Uuid::now_v7().to_string()),
        ("client_secret", secret),
    ])
    .await
    .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoked_api_keys_stop_working() {
    let app = TestApp::spawn().await;
    let created = app
        .post_ok("/v1/api-keys", &app.admin_key, json!({ "name": "temp", "role": "integration" }), StatusCode::CREATED)
        .await;
    let key = created["key"].as_str().unwrap();
    assert_eq!(app.get("/v1/org", key).await.0, StatusCode::OK);
    let id = created["id"].as_str().unwrap();
    let (status, revoked) = app.call(Method::DELETE, &format!("/v1/api-keys/{id}"), Some(&app.admin_key), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(revoked["revoked_at"].is_string());
    let (status, body) = app.get("/v1/org", key).await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    let (_, listed) = app.get("/v1/api-keys", &app.admin_key).await;
    assert!(listed["data"].as_array().unwrap().iter().all(|k| k.get("key_hash").is_none() && k.get("key").is_none()));
}

/// A stand-in identity provider: one P-256 key, published as a JWKS on a local port.
struct IdentityProvider {
    jwks_url: String,
    encoding: EncodingKey,
    kid: String,
}

/// A fresh P-256 signing key: what signs tokens, and its public JWK named `kid`.
pub fn es256_key(kid: &str) -> (EncodingKey, serde_json::Value) {
    let key = p256::ecdsa::SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let point = key.verifying_key().to_encoded_point(false);
    let jwk = json!({ "kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()), "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()) });
    let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    (EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(), jwk)
}

/// Signs `claims` as an ES256 JWT naming key `kid`.
pub fn sign_jwt(claims: &serde_json::Value, key: &EncodingKey, kid: &str) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

async fn identity_provider() -> IdentityProvider {
    let kid = "idp-key-1".to_string();
    let (encoding, jwk) = es256_key(&kid);
    let jwks = json!({ "keys": [jwk] });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_url = format!("http://{}/jwks", listener.local_addr().unwrap());
    let router = Router::new().route("/jwks", get(move || async move { Json(jwks) }));
    tokio::spawn(async move { axum::serve(listener, router).await });
    IdentityProvider { jwks_url, encoding, kid }
}

#[tokio::test]
async fn tokens_of_a_trusted_identity_provider_act_in_its_organization() {
    let idp = identity_provider().await;
    let issuer = "https://login.acme.test";
    let app = TestApp::spawn_with(Options {
        trusted_issuer: Some(TrustedIssuer {
            issuer: issuer.into(),
            jwks_url: idp.jwks_url.clone(),
            audience: "api://switchboard".into(),
            org_id: String::new(),
            role_claim: "roles".into(),
        }),
        ..Options::default()
    })
    .await;
    let now = chrono_now();
    let sign = |claims: serde_json::Value, kid: &str| sign_jwt(&claims, &idp.encoding, kid);
    let good = sign(
        json!({ "iss": issuer, "aud": "api://switchboard", "sub": "alice", "exp": now + 600, "roles": ["reader", "supervisor"] }),
        &idp.kid,
    );
    let (status, org) = app.get("/v1/org", &good).await;
    assert_eq!(status, StatusCode::OK, "{org}");
    assert_eq!(org["id"].as_str(), Some(app.org_id.as_str()));
    let (status, body) = app.post("/v1/queues", &good, json!({ "name": "Q" })).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");

    let wrong_audience =
        sign(json!({ "iss": issuer, "aud": "other", "sub": "alice", "exp": now + 600, "roles": "admin" }), &idp.kid);
    assert_eq!(app.get("/v1/org", &wrong_audience).await.0, StatusCode::UNAUTHORIZED);
    let expired = sign(
        json!({ "iss": issuer, "aud": "api://switchboard", "sub": "alice", "exp": now - 600, "roles": "admin" }),
        &idp.kid,
    );
    let (status, body) = app.get("/v1/org", &expired).await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED, "token_expired");
    let unknown_key = sign(
        json!({ "iss": issuer, "aud": "api://switchboard", "sub": "alice", "exp": now + 600, "roles": "admin" }),
        "other-kid",
    );
    assert_eq!(app.get("/v1/org", &unknown_key).await.0, StatusCode::UNAUTHORIZED);
    let untrusted = sign(
        json!({ "iss": "https://evil.test", "aud": "api://switchboard", "sub": "x", "exp": now + 600, "roles": "admin" }),
        &idp.kid,
    );
    assert_eq!(app.get("/v1/org", &untrusted).await.0, StatusCode::UNAUTHORIZED);
}

pub fn chrono_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}
