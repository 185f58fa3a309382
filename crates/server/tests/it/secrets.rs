//! Credentials are write-only: set and rotated through the API, shown once where the server makes them (API keys,
//! client secrets, webhook signing secrets), and never in any read, for any role. Channel settings are read by
//! admins and supervisors only, and without their credentials.

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_domain::role::Role;

use crate::TestApp;

/// A public key whose text no read may contain (it is checked for its BEGIN line only).
const PEM: &str = "-----BEGIN PUBLIC KEY-----\nCUSTOMERTOKENKEYnotToBeReadBack\n-----END PUBLIC KEY-----";
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ROTATED_SECRET: &str = "whsec_QWxsIHRoZSB3b3JsZCdzIGEgc3RhZ2U=";

/// Every GET a caller might use to find a credential; the ids are filled in by the test.
fn reads(channel: &str, subscription: &str) -> Vec<String> {
    vec![
        "/v1/channels".into(),
        format!("/v1/channels/{channel}"),
        "/v1/events?limit=250".into(),
        "/v1/webhook-subscriptions".into(),
        format!("/v1/webhook-subscriptions/{subscription}"),
        "/v1/webhook-deliveries".into(),
        "/v1/api-keys".into(),
        "/v1/clients".into(),
        "/v1/users".into(),
        "/v1/workstreams".into(),
    ]
}

#[tokio::test]
async fn no_read_by_any_role_returns_a_credential_and_channel_settings_follow_the_role() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key.clone();
    let (channel, _, _) = app.channel_setup().await;
    let workstream = channel["workstream_id"].clone();
    let settings = json!({
        "webhook_url": "https://hooks.example.com/switchboard",
        "app_id": "app-1",
        "customer_token": { "public_key_pem": PEM, "issuer": "https://shop.example" }
    });
    let body = json!({ "name": "Shop", "channel_type": "messaging_api", "workstream_id": workstream,
                       "settings": settings });
    let create = |body: Value| {
        app.http
            .post(format!("{}/v1/channels", app.base))
            .bearer_auth(&admin)
            .header("idempotency-key", "shop-channel")
            .json(&body)
            .send()
    };
    let first = create(body.clone()).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = first.text().await.unwrap();
    // The retry returns the stored first answer, which holds no credential either.
    let again = create(body).await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again = again.text().await.unwrap();
    for answer in [&first, &again] {
        assert!(!answer.contains("CUSTOMERTOKENKEY"), "the create answer shows the key: {answer}");
    }
    let created: Value = serde_json::from_str(&first).unwrap();
    let expect = json!({ "webhook_url": "https://hooks.example.com/switchboard", "app_id": "app-1",
                         "customer_token_set": true });
    assert_eq!(created["settings"], expect);
    let id = created["id"].as_str().unwrap().to_string();

    // Set and rotate a webhook signing secret: each shown once, in the answer that sets it.
    let sub = app
        .post_ok(
            "/v1/webhook-subscriptions",
            &admin,
            json!({ "url": "https://hooks.example.com/events", "secret": WEBHOOK_SECRET }),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(sub["secret"], WEBHOOK_SECRET);
    let sub_id = sub["id"].as_str().unwrap().to_string();
    let rotated = app
        .post_ok(
            &format!("/v1/webhook-subscriptions/{sub_id}/rotate-secret"),
            &admin,
            json!({ "secret": ROTATED_SECRET }),
            StatusCode::OK,
        )
        .await;
    assert_eq!(rotated["secret"], ROTATED_SECRET);
    // An API key and an OAuth client, whose secrets are shown once too.
    let (integration_key, _) = app.key(Role::Integration).await;
    let client =
        app.post_ok("/v1/clients", &admin, json!({ "name": "crm", "role": "integration" }), StatusCode::CREATED).await;
    let client_secret = client["client_secret"].as_str().unwrap().to_string();
    let client_token = app.client_token(client["client_id"].as_str().unwrap(), &client_secret).await;
    let (supervisor, _) = app.key(Role::Supervisor).await;
    let (agent, _) = app.key(Role::Agent).await;

    let secrets = [
        "CUSTOMERTOKENKEY",
        WEBHOOK_SECRET,
        ROTATED_SECRET,
        &integration_key,
        &client_secret,
        &supervisor,
        &agent,
        &admin,
    ];
    let callers = [
        ("admin", &admin, true),
        ("supervisor", &supervisor, true),
        ("agent", &agent, false),
        ("integration", &integration_key, false),
        ("integration client", &client_token, false),
    ];
    let mut readable = 0;
    for (role, key, sees_settings) in callers {
        for path in reads(&id, &sub_id) {
            let response = app.http.get(format!("{}{path}", app.base)).bearer_auth(key).send().await.unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            assert!(status == StatusCode::OK || status == StatusCode::FORBIDDEN, "{role} GET {path}: {status} {text}");
            readable += usize::from(status == StatusCode::OK);
            for secret in secrets {
                assert!(!text.contains(secret), "{role} GET {path} shows a credential ({secret}): {text}");
            }
        }
        let (status, read) = app.get(&format!("/v1/channels/{id}"), key).await;
        assert_eq!(status, StatusCode::OK, "{role}: {read}");
        if sees_settings {
            assert_eq!(read["settings"], expect, "{role}: {read}");
        } else {
            assert!(read.get("settings").is_none(), "{role} has no use for a channel's settings: {read}");
            assert_eq!((read["id"].as_str(), &read["channel_type"]), (Some(id.as_str()), &json!("messaging_api")));
        }
        let (_, list) = app.get("/v1/channels", key).await;
        let listed = list["data"].as_array().unwrap().iter().find(|c| c["id"] == *id).unwrap();
        assert_eq!(listed, &read, "{role}: the list shows what the read does");
    }
    assert!(readable >= 20, "the reads were answered, so the search means something ({readable})");

    // The event feed carries the channel as a read shows it.
    let (_, events) = app.get("/v1/events?limit=250", &admin).await;
    let created_event = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "channel.created" && e["data"]["id"] == *id)
        .unwrap_or_else(|| panic!("channel.created is in the feed: {events}"))
        .clone();
    assert_eq!(created_event["data"]["settings"], expect);

    // A PATCH that leaves the keys out keeps them; its answer shows no key either.
    let path = format!("/v1/channels/{id}");
    let (status, patched) =
        app.call(reqwest::Method::PATCH, &path, Some(&admin), Some(json!({ "name": "Shop 2" }))).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["settings"], expect);
    assert!(!patched.to_string().contains("CUSTOMERTOKENKEY"));
    // Only admins change channels: a supervisor's patch is refused.
    let (status, _) = app
        .call(reqwest::Method::PATCH, &path, Some(&supervisor), Some(json!({ "settings": { "customer_token": null } })))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&path, &admin).await.1["settings"]["customer_token_set"], true);
}

#[tokio::test]
async fn the_openapi_document_reads_channels_without_credentials() {
    let app = TestApp::spawn().await;
    let (_, doc) = app.call(reqwest::Method::GET, "/openapi.json", None, None).await;
    let schemas = &doc["components"]["schemas"];
    let read = &schemas["ChannelSettingsView"]["properties"];
    assert!(read.get("customer_token").is_none(), "{read}");
    assert!(read.get("customer_token_set").is_some(), "{read}");
    let channel = &schemas["Channel"]["properties"]["settings"];
    assert!(channel.to_string().contains("ChannelSettingsView"), "a read's settings are the view: {channel}");
    let create = &schemas["ChannelIn"]["properties"]["settings"];
    assert!(create.to_string().contains("schemas/ChannelSettings\""), "a create sets the keys: {create}");
    assert!(schemas["ChannelSettings"]["properties"].get("customer_token").is_some());
}
