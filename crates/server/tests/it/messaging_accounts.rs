//! Messaging accounts (seed 002): an administrator creates an account, validates it, adds channels bound to
//! workstreams, and pastes each channel's messaging endpoint URL into the provider's console. Credentials are
//! write-only and sealed at rest; channels' attachment permissions hold on every way a file comes in.

use std::cell::RefCell;

use axum::{Form, Json, Router, http::StatusCode as AxumStatus, routing::post};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_domain::role::Role;

use crate::{Options, TestApp, assert_problem, receiver::Receiver, webhooks::consumer};

const APP_ID: &str = "3f1b0c52-9d4e-4a8b-9a51-0e7c2f1d4b6a";
const GOOD_SECRET: &str = "Xy8Q~goodSECRETvalue.NotToBeReadBack";
const BAD_SECRET: &str = "Xy8Q~badSECRETvalue.NotToBeReadBack";
const SCOPE: &str = "https://api.botframework.com/.default";

thread_local! {
    /// The token URL the next server of this test's thread is configured with (`Options::configure` takes a
    /// function, not a closure; each test runs on its own thread).
    static TOKEN_URL: RefCell<String> = const { RefCell::new(String::new()) };
}

fn token_url_config(config: &mut switchboard_server::Config) {
    config.channels.bot_framework.token_url = TOKEN_URL.with(|u| u.borrow().clone());
}

/// A token service speaking Entra's client-credentials wire format: a token for the good secret, the documented
/// `invalid_client` refusal otherwise.
async fn token_service() -> String {
    async fn token(Form(form): Form<std::collections::HashMap<String, String>>) -> (AxumStatus, Json<Value>) {
        let field = |name: &str| form.get(name).map(String::as_str);
        let good = field("grant_type") == Some("client_credentials")
            && field("client_id") == Some(APP_ID)
            && field("client_secret") == Some(GOOD_SECRET)
            && field("scope") == Some(SCOPE);
        if good {
            return (
                AxumStatus::OK,
                Json(json!({ "token_type": "Bearer", "expires_in": 3599, "access_token": "eyJ0" })),
            );
        }
        let refusal = json!({ "error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the \
                request is the client secret value, not the client secret ID." });
        (AxumStatus::UNAUTHORIZED, Json(refusal))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/botframework.com/oauth2/v2.0/token", listener.local_addr().unwrap());
    let app = Router::new().route("/{tenant}/oauth2/v2.0/token", post(token));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A server whose Bot Framework token service is the local fake.
async fn spawn_with_token_service() -> TestApp {
    let url = token_service().await;
    TOKEN_URL.with(|u| *u.borrow_mut() = url);
    TestApp::spawn_with(Options { configure: Some(token_url_config), ..Options::default() }).await
}

fn bot_account(secret: &str) -> Value {
    json!({ "name": "Contoso bot", "kind": "bot_framework", "method": "azure_bot_framework",
            "settings": { "app_id": APP_ID }, "credentials": { "client_secret": secret } })
}

async fn workstream(app: &TestApp) -> String {
    let ws = app.post_ok("/v1/workstreams", &app.admin_key, json!({ "name": "Bots" }), StatusCode::CREATED).await;
    ws["id"].as_str().unwrap().to_string()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_administrator_creates_an_account_validates_it_and_adds_channels_with_their_endpoint_urls() {
    let app = spawn_with_token_service().await;
    let admin = app.admin_key.clone();
    let account = app.post_ok("/v1/messaging-accounts", &admin, bot_account(GOOD_SECRET), StatusCode::CREATED).await;
    assert_eq!(account["kind"], "bot_framework");
    assert_eq!(account["method"], "azure_bot_framework");
    assert_eq!(account["settings"], json!({ "app_id": APP_ID }));
    assert_eq!(account["credentials_set"], true);
    assert_eq!(account["validation"], json!({ "state": "unchecked", "reason": null, "checked_at": null }));
    let account_id = id(&account);
    let path = format!("/v1/messaging-accounts/{account_id}");

    let validated = app.post_ok(&format!("{path}/validate"), &admin, json!({}), StatusCode::OK).await;
    assert_eq!(validated["validation"]["state"], "valid", "{validated}");
    assert!(validated["validation"]["checked_at"].is_string());
    let (_, read) = app.get(&path, &admin).await;
    assert_eq!(read["validation"], validated["validation"]);

    // Channels added to the account: of its kind, bound to a workstream, with language, behaviours and permissions.
    let ws = workstream(&app).await;
    let body = json!({ "name": "Teams", "workstream_id": ws, "language": "fr-fr",
                       "behaviours": { "wait_time_message": false }, "attachments": { "customers": false } });
    let channel = app.post_ok(&format!("{path}/channels"), &admin, body, StatusCode::CREATED).await;
    let channel_id = id(&channel);
    assert_eq!(channel["channel_type"], "bot_framework");
    assert_eq!(channel["account_id"], account_id.as_str());
    assert_eq!(channel["language"], "fr-FR");
    assert_eq!(channel["behaviours"], json!({ "wait_time_message": false, "post_conversation_survey": false }));
    assert_eq!(channel["attachments"], json!({ "customers": false, "agents": true }));
    let endpoint = format!("{}/channels/bot-framework/{channel_id}/messages", app.base);
    assert_eq!(channel["messaging_endpoint_url"], endpoint.as_str());
    let second = app
        .post_ok(
            &format!("{path}/channels"),
            &admin,
            json!({ "name": "Web chat", "workstream_id": ws }),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(
        (second["language"].clone(), second["attachments"].clone()),
        (json!("en-US"), json!({ "customers": true, "agents": true }))
    );

    // The account's channels, a page at a time, and each under /v1/channels as well, endpoint URL included.
    let (_, page) = app.get(&format!("{path}/channels?limit=1"), &admin).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = app.get(&format!("{path}/channels?limit=1&cursor={cursor}"), &admin).await;
    assert_eq!(rest["data"][0]["id"], second["id"]);
    let (_, read) = app.get(&format!("/v1/channels/{channel_id}"), &admin).await;
    assert_eq!(read["messaging_endpoint_url"], endpoint.as_str());
    assert_eq!(read["account_id"], account_id.as_str());
    // Agents read names, as they do channels': no settings, no validation, no endpoint.
    let (agent, _) = app.key(Role::Agent).await;
    let (status, seen) = app.get(&path, &agent).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen["name"], "Contoso bot");
    for hidden in ["settings", "credentials_set", "validation"] {
        assert!(seen.get(hidden).is_none(), "{hidden}: {seen}");
    }
    let (_, seen) = app.get(&format!("/v1/channels/{channel_id}"), &agent).await;
    assert!(seen.get("messaging_endpoint_url").is_none(), "{seen}");
    let (status, body) = app.post(&format!("{path}/validate"), &agent, json!({})).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");

    // Renamed: the validation stays; new settings make it unchecked again.
    let renamed = app.call(Method::PATCH, &path, Some(&admin), Some(json!({ "name": "Contoso support bot" }))).await.1;
    assert_eq!(
        (renamed["name"].clone(), renamed["validation"]["state"].clone()),
        (json!("Contoso support bot"), json!("valid"))
    );
    let moved = json!({ "settings": { "tenant_id": "contoso.onmicrosoft.com" } });
    let changed = app.call(Method::PATCH, &path, Some(&admin), Some(moved)).await.1;
    assert_eq!(changed["settings"], json!({ "app_id": APP_ID, "tenant_id": "contoso.onmicrosoft.com" }));
    assert_eq!(changed["validation"]["state"], "unchecked");
    // A single-tenant bot asks its own tenant's token service, which knows the same app.
    let validated = app.post_ok(&format!("{path}/validate"), &admin, json!({}), StatusCode::OK).await;
    assert_eq!(validated["validation"]["state"], "valid", "{validated}");

    // An account with channels stays; one without goes.
    let (status, body) = app.call(Method::DELETE, &path, Some(&admin), None).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "in_use");
    let spare = app
        .post_ok(
            "/v1/messaging-accounts",
            &admin,
            json!({ "name": "Spare", "kind": "messaging_api" }),
            StatusCode::CREATED,
        )
        .await;
    let spare_path = format!("/v1/messaging-accounts/{}", id(&spare));
    let (status, _) = app.call(Method::DELETE, &spare_path, Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get(&spare_path, &admin).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "messaging_account_not_found");

    let (_, events) = app.get("/v1/events?limit=250", &admin).await;
    let types: Vec<&str> = events["data"].as_array().unwrap().iter().filter_map(|e| e["type"].as_str()).collect();
    for t in ["messaging_account.created", "messaging_account.updated", "messaging_account.deleted"] {
        assert!(types.contains(&t), "{t}: {types:?}");
    }
}

#[tokio::test]
async fn validation_asks_the_token_service_and_records_its_refusal() {
    let app = spawn_with_token_service().await;
    let admin = app.admin_key.clone();
    let account = app.post_ok("/v1/messaging-accounts", &admin, bot_account(BAD_SECRET), StatusCode::CREATED).await;
    let path = format!("/v1/messaging-accounts/{}", id(&account));
    let refused = app.post_ok(&format!("{path}/validate"), &admin, json!({}), StatusCode::OK).await;
    assert_eq!(refused["validation"]["state"], "invalid");
    let reason = refused["validation"]["reason"].as_str().unwrap();
    assert!(reason.contains("invalid_client") && reason.contains("AADSTS7000215"), "{reason}");
    assert!(!reason.contains(BAD_SECRET), "{reason}");
    // New credentials replace the old whole, and make the account unchecked; then it validates.
    let fixed = json!({ "credentials": { "client_secret": GOOD_SECRET } });
    let (status, changed) = app.call(Method::PATCH, &path, Some(&admin), Some(fixed)).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["validation"]["state"], "unchecked");
    let valid = app.post_ok(&format!("{path}/validate"), &admin, json!({}), StatusCode::OK).await;
    assert_eq!(
        (valid["validation"]["state"].clone(), valid["validation"]["reason"].clone()),
        (json!("valid"), Value::Null)
    );

    // A token service that does not answer: invalid, and why.
    let unreachable = TestApp::spawn_with(Options { configure: Some(dead_token_service), ..Options::default() }).await;
    let account = unreachable
        .post_ok("/v1/messaging-accounts", &unreachable.admin_key, bot_account(GOOD_SECRET), StatusCode::CREATED)
        .await;
    let path = format!("/v1/messaging-accounts/{}/validate", id(&account));
    let out = unreachable.post_ok(&path, &unreachable.admin_key, json!({}), StatusCode::OK).await;
    assert_eq!(out["validation"]["state"], "invalid");
    assert!(out["validation"]["reason"].as_str().unwrap().contains("did not answer"), "{out}");

    // Kinds with no provider to ask are valid as they are.
    let own = app
        .post_ok(
            "/v1/messaging-accounts",
            &admin,
            json!({ "name": "Integrator", "kind": "messaging_api" }),
            StatusCode::CREATED,
        )
        .await;
    let out =
        app.post_ok(&format!("/v1/messaging-accounts/{}/validate", id(&own)), &admin, json!({}), StatusCode::OK).await;
    assert_eq!(out["validation"]["state"], "valid");
}

fn dead_token_service(config: &mut switchboard_server::Config) {
    // Port 9 (discard) on loopback: nothing listens there in the test environment.
    config.channels.bot_framework.token_url = "http://127.0.0.1:9/botframework.com/oauth2/v2.0/token".into();
}

#[tokio::test]
async fn credentials_are_never_read_back_and_are_sealed_at_rest() {
    let app = spawn_with_token_service().await;
    let admin = app.admin_key.clone();
    let receiver = Receiver::start().await;
    let sub = json!({ "url": format!("{}/events", receiver.base), "event_types": ["messaging_account.*"] });
    app.post_ok("/v1/webhook-subscriptions", &admin, sub, StatusCode::CREATED).await;
    let create = |body: Value| {
        app.http
            .post(format!("{}/v1/messaging-accounts", app.base))
            .bearer_auth(&admin)
            .header("idempotency-key", "bot-account")
            .json(&body)
            .send()
    };
    let first = create(bot_account(GOOD_SECRET)).await.unwrap().text().await.unwrap();
    let again = create(bot_account(GOOD_SECRET)).await.unwrap().text().await.unwrap();
    let account: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(account, serde_json::from_str::<Value>(&again).unwrap(), "the retry gets the first answer");
    let account_id = id(&account);
    let path = format!("/v1/messaging-accounts/{account_id}");
    app.post_ok(&format!("{path}/validate"), &admin, json!({}), StatusCode::OK).await;
    let rotated = json!({ "credentials": { "client_secret": BAD_SECRET } });
    let (_, changed) = app.call(Method::PATCH, &path, Some(&admin), Some(rotated)).await;
    let ws = workstream(&app).await;
    app.post_ok(
        &format!("{path}/channels"),
        &admin,
        json!({ "name": "Teams", "workstream_id": ws }),
        StatusCode::CREATED,
    )
    .await;

    let mut seen = vec![first, changed.to_string()];
    let (supervisor, _) = app.key(Role::Supervisor).await;
    for key in [&admin, &supervisor] {
        for read in [
            "/v1/messaging-accounts".to_string(),
            path.clone(),
            format!("{path}/channels"),
            "/v1/channels".into(),
            "/v1/events?limit=250".into(),
            "/v1/webhook-deliveries".into(),
        ] {
            let (_, body) = app.get(&read, key).await;
            seen.push(body.to_string());
        }
    }
    let delivered = receiver.until("the account's events", |r| r.len() >= 3).await;
    seen.extend(delivered.iter().map(|r| r.raw.clone()));
    for text in &seen {
        for secret in [GOOD_SECRET, BAD_SECRET] {
            assert!(!text.contains(secret), "a read shows a client secret: {text}");
        }
    }
    assert!(delivered.iter().all(|r| r.body["data"]["credentials_set"] == true), "{:?}", delivered[0].body);

    // At rest: sealed, and what the server's key opens is the last secret set.
    let org = app.org_id.parse().unwrap();
    let sealed = app
        .state
        .store
        .read(move |tx| {
            let channel = switchboard_store::setup::list_channels(tx, org, None, 10)?
                .into_iter()
                .find(|c| c.channel_type == switchboard_domain::setup::ChannelType::BotFramework)
                .unwrap();
            switchboard_store::messaging_accounts::account_of_channel(tx, org, channel.id)
        })
        .await
        .unwrap();
    let column = sealed.sealed_credentials.clone().unwrap();
    assert!(!column.contains("SECRET") && !column.contains("client_secret"), "{column}");
    let opened = switchboard_server::channels::accounts::open(&app.state, &sealed).unwrap();
    assert_eq!(opened.client_secret.unwrap().as_str(), BAD_SECRET);
}

#[tokio::test]
async fn another_organizations_accounts_are_not_found() {
    let app = TestApp::spawn().await;
    let elsewhere = TestApp::spawn().await;
    let theirs = elsewhere
        .post_ok(
            "/v1/messaging-accounts",
            &elsewhere.admin_key,
            json!({ "name": "Theirs", "kind": "messaging_api" }),
            StatusCode::CREATED,
        )
        .await;
    let path = format!("/v1/messaging-accounts/{}", id(&theirs));
    let admin = app.admin_key.clone();
    let ws = workstream(&app).await;
    for (method, path, body) in [
        (Method::GET, path.clone(), None),
        (Method::PATCH, path.clone(), Some(json!({ "name": "Mine" }))),
        (Method::DELETE, path.clone(), None),
        (Method::POST, format!("{path}/validate"), Some(json!({}))),
        (Method::GET, format!("{path}/channels"), None),
        (Method::POST, format!("{path}/channels"), Some(json!({ "name": "x", "workstream_id": ws }))),
        (Method::GET, "/v1/messaging-accounts/not-an-id".into(), None),
    ] {
        let (status, body) = app.call(method.clone(), &path, Some(&admin), body).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "messaging_account_not_found");
    }
    let body = json!({ "name": "x", "channel_type": "messaging_api", "workstream_id": ws, "account_id": theirs["id"] });
    let (status, body) = app.post("/v1/channels", &admin, body).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "messaging_account_not_found");
    assert_eq!(body["field"], "account_id");
    let (_, list) = app.get("/v1/messaging-accounts", &admin).await;
    assert_eq!(list["data"], json!([]));
    let (_, still) = elsewhere.get(&path, &elsewhere.admin_key).await;
    assert_eq!(still["name"], "Theirs");
}

#[tokio::test]
async fn bad_input_is_refused_with_its_code_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key.clone();
    let ws = workstream(&app).await;
    let events = app.event_count().await;
    let bot = |f: &dyn Fn(&mut Value)| {
        let mut v = bot_account(GOOD_SECRET);
        f(&mut v);
        v
    };
    for (body, code, field) in [
        (bot(&|v| v["name"] = json!("n".repeat(201))), "field_too_long", "name"),
        (bot(&|v| v["name"] = json!("  ")), "invalid_field", "name"),
        (bot(&|v| v["settings"] = json!({})), "missing_field", "settings.app_id"),
        (bot(&|v| v["credentials"] = json!({})), "missing_field", "credentials.client_secret"),
        (bot(&|v| v["settings"]["extra"] = json!(1)), "unknown_field", "settings.extra"),
        (bot(&|v| v["method"] = json!("carrier_pigeon")), "invalid_field", "method"),
        (bot(&|v| v["kind"] = json!("telegram")), "invalid_field", "kind"),
        (json!({ "name": "x", "kind": "messaging_api", "method": "azure_bot_framework" }), "invalid_field", "method"),
        (
            json!({ "name": "x", "kind": "messaging_api", "credentials": { "client_secret": "s" } }),
            "invalid_field",
            "credentials.client_secret",
        ),
        (
            json!({ "name": "x", "kind": "live_chat", "settings": { "app_id": "a" } }),
            "invalid_field",
            "settings.app_id",
        ),
    ] {
        let (status, problem) = app.post("/v1/messaging-accounts", &admin, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem}");
        assert_eq!(
            (problem["code"].as_str(), problem["field"].as_str()),
            (Some(code), Some(field)),
            "{body}: {problem}"
        );
    }
    assert_eq!(app.event_count().await, events, "nothing was created");

    let account = app.post_ok("/v1/messaging-accounts", &admin, bot_account(GOOD_SECRET), StatusCode::CREATED).await;
    let path = format!("/v1/messaging-accounts/{}", id(&account));
    let events = app.event_count().await;
    for (patch, code, field) in [
        (json!({ "kind": "messaging_api" }), "unknown_field", "kind"),
        (json!({ "method": null }), "unknown_field", "method"),
        (json!({ "settings": { "app_id": null } }), "missing_field", "settings.app_id"),
        (json!({ "credentials": null }), "missing_field", "credentials.client_secret"),
        (json!({ "name": null }), "missing_field", "name"),
    ] {
        let (status, problem) = app.call(Method::PATCH, &path, Some(&admin), Some(patch.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{patch}: {problem}");
        assert_eq!(
            (problem["code"].as_str(), problem["field"].as_str()),
            (Some(code), Some(field)),
            "{patch}: {problem}"
        );
    }
    for (channel, code, field) in [
        (json!({ "name": "x", "workstream_id": ws, "language": "english" }), "invalid_field", "language"),
        (
            json!({ "name": "x", "workstream_id": ws, "behaviours": { "post_conversation_survey": true } }),
            "invalid_field",
            "behaviours.post_conversation_survey",
        ),
        (
            json!({ "name": "x", "workstream_id": ws, "attachments": { "customers": "no" } }),
            "invalid_field",
            "attachments.customers",
        ),
        (
            json!({ "name": "x", "workstream_id": ws, "settings": { "webhook_url": "https://x.example" } }),
            "invalid_field",
            "settings.webhook_url",
        ),
        (json!({ "name": "x", "workstream_id": ws, "channel_type": "sms" }), "unknown_field", "channel_type"),
    ] {
        let (status, problem) = app.post(&format!("{path}/channels"), &admin, channel.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{channel}: {problem}");
        assert_eq!(
            (problem["code"].as_str(), problem["field"].as_str()),
            (Some(code), Some(field)),
            "{channel}: {problem}"
        );
    }
    let missing = json!({ "name": "x", "workstream_id": uuid::Uuid::now_v7() });
    let (status, problem) = app.post(&format!("{path}/channels"), &admin, missing).await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND, "workstream_not_found");
    // A channel of another type cannot join the account through /v1/channels either.
    let other =
        json!({ "name": "x", "channel_type": "messaging_api", "workstream_id": ws, "account_id": account["id"] });
    let (status, problem) = app.post("/v1/channels", &admin, other).await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(problem["field"], "channel_type");
    assert_eq!(app.event_count().await, events, "nothing changed");

    // Supervisors and agents configure nothing.
    for role in [Role::Supervisor, Role::Agent] {
        let (key, _) = app.key(role).await;
        let (status, problem) = app.post("/v1/messaging-accounts", &key, bot_account(GOOD_SECRET)).await;
        assert_problem(status, &problem, StatusCode::FORBIDDEN, "forbidden");
    }
}

#[tokio::test]
async fn an_account_holds_at_most_one_hundred_channels() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key.clone();
    let ws = workstream(&app).await;
    let account = app
        .post_ok(
            "/v1/messaging-accounts",
            &admin,
            json!({ "name": "Many", "kind": "direct_line" }),
            StatusCode::CREATED,
        )
        .await;
    let path = format!("/v1/messaging-accounts/{}/channels", id(&account));
    for i in 0..100 {
        app.post_ok(&path, &admin, json!({ "name": format!("Line {i}"), "workstream_id": ws }), StatusCode::CREATED)
            .await;
    }
    let (status, problem) = app.post(&path, &admin, json!({ "name": "One more", "workstream_id": ws })).await;
    assert_problem(status, &problem, StatusCode::CONFLICT, "too_many_channels");
    let (_, page) = app.get(&format!("{path}?limit=250"), &admin).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 100);
    assert_eq!(page["data"][0]["messaging_endpoint_url"], format!("{}/v3/directline", app.base).as_str());
}

#[tokio::test]
async fn channels_made_without_an_account_get_one_of_their_own_and_keep_working() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key.clone();
    let (channel, _, _) = app.channel_setup().await;
    let account_id = channel["account_id"].as_str().expect("an account").to_string();
    let (status, account) = app.get(&format!("/v1/messaging-accounts/{account_id}"), &admin).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert_eq!(
        (account["kind"].clone(), account["name"].clone(), account["method"].clone()),
        (json!("messaging_api"), channel["name"].clone(), Value::Null)
    );
    assert_eq!(channel["messaging_endpoint_url"], format!("{}/api/v1.0/consumer", app.base).as_str());
    let (_, channels) = app.get(&format!("/v1/messaging-accounts/{account_id}/channels"), &admin).await;
    assert_eq!(channels["data"][0]["id"], channel["id"]);
    // A second channel joins the same account through /v1/channels.
    let body = json!({ "name": "Web 2", "channel_type": "messaging_api", "workstream_id": channel["workstream_id"],
                       "account_id": account_id });
    let second = app.post_ok("/v1/channels", &admin, body, StatusCode::CREATED).await;
    assert_eq!(second["account_id"], account_id.as_str());
    // A live chat channel's endpoint is its chat page.
    let chat = json!({ "name": "Chat", "channel_type": "live_chat", "workstream_id": channel["workstream_id"] });
    let chat = app.post_ok("/v1/channels", &admin, chat, StatusCode::CREATED).await;
    assert_eq!(chat["messaging_endpoint_url"], format!("{}/chat/{}", app.base, id(&chat)).as_str());
    // The channel's language, behaviours and permissions change by PATCH; its account does not.
    let path = format!("/v1/channels/{}", id(&channel));
    let patch = json!({ "language": "de-de", "attachments": { "agents": false } });
    let (status, changed) = app.call(Method::PATCH, &path, Some(&admin), Some(patch)).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (changed["language"].clone(), changed["attachments"].clone()),
        (json!("de-DE"), json!({ "customers": true, "agents": false }))
    );
    let (status, problem) =
        app.call(Method::PATCH, &path, Some(&admin), Some(json!({ "account_id": second["account_id"] }))).await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "unknown_field");
}

#[tokio::test]
async fn files_from_a_side_the_channel_does_not_let_send_them_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key.clone();
    let channel = crate::webhooks::messaging_channel(&app, None, "app").await;
    let path = format!("/v1/channels/{channel}");
    let no_files = json!({ "attachments": { "customers": false, "agents": false } });
    let (status, body) = app.call(Method::PATCH, &path, Some(&admin), Some(no_files)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A customer on the Messaging API: an embedded file, and a linked one.
    let (integration, _) = app.key(Role::Integration).await;
    let (status, out) = consumer(
        &app,
        Method::POST,
        "/conversation/create",
        &integration,
        &channel,
        Some(json!({ "customercontext": { "customerid": "c-1" } })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let conversation = out["conversationId"].as_str().unwrap().to_string();
    let events = app.event_count().await;
    for attachment in [
        json!({ "contentType": "text/plain", "contentUrl": "aGVsbG8=", "name": "a.txt" }),
        json!({ "contentType": "application/pdf", "contentUrl": "https://files.example.com/a.pdf" }),
    ] {
        let activity = json!({ "type": "message", "text": "see attached", "attachments": [attachment] });
        let (status, problem) = consumer(
            &app,
            Method::POST,
            &format!("/conversation/{conversation}"),
            &integration,
            &channel,
            Some(activity),
        )
        .await;
        assert_problem(status, &problem, StatusCode::BAD_REQUEST, "attachments_not_allowed");
    }
    // The native API, writing for the customer.
    let native = json!({ "text": "x", "attachments": [{ "content_type": "image/png", "url": "https://files.example.com/a.png" }] });
    let (status, problem) =
        app.post(&format!("/v1/conversations/{conversation}/messages"), &integration, native.clone()).await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "attachments_not_allowed");
    assert_eq!(app.event_count().await, events, "nothing was sent");

    // The agent: an upload, and a message with a link.
    let (agent, _) = app.key(Role::Agent).await;
    app.post_ok(&format!("/v1/conversations/{conversation}/accept"), &agent, json!({}), StatusCode::OK).await;
    let events = app.event_count().await;
    let upload = app
        .http
        .post(format!("{}/v1/conversations/{conversation}/attachments?name=a.txt", app.base))
        .bearer_auth(&agent)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    let status = upload.status();
    let problem: Value = upload.json().await.unwrap();
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "attachments_not_allowed");
    let (status, problem) =
        app.post(&format!("/v1/conversations/{conversation}/messages"), &agent, native.clone()).await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "attachments_not_allowed");
    assert_eq!(app.event_count().await, events, "nothing was sent");

    // Agents allowed again: the agent's file goes; the customer's still does not. Text always goes.
    let (status, _) =
        app.call(Method::PATCH, &path, Some(&admin), Some(json!({ "attachments": { "agents": true } }))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.post(&format!("/v1/conversations/{conversation}/messages"), &agent, native.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, problem) = app.post(&format!("/v1/conversations/{conversation}/messages"), &integration, native).await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "attachments_not_allowed");
    let (status, _) =
        app.post(&format!("/v1/conversations/{conversation}/messages"), &integration, json!({ "text": "ok" })).await;
    assert_eq!(status, StatusCode::CREATED);
}
