//! The event catalogue at the edge: webhook subscriptions name only types it has (or families of them), and
//! `/openapi.json` publishes every payload and the envelope receivers get.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{TestApp, assert_problem};

async fn subscription_count(app: &TestApp) -> usize {
    let (status, page) = app.get("/v1/webhook-subscriptions", &app.admin_key).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["data"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn subscriptions_take_known_types_families_and_everything() {
    let app = TestApp::spawn().await;
    for types in [
        json!(["message.created"]),
        json!(["conversation.*", "routing.assigned", "agent.presence_changed"]),
        json!(["*"]),
        json!(["webhook_subscription.*", "routing.*"]),
        json!([]),
    ] {
        let body = json!({ "url": "http://127.0.0.1:9/hooks", "event_types": types });
        let sub = app.post_ok("/v1/webhook-subscriptions", &app.admin_key, body, StatusCode::CREATED).await;
        assert_eq!(sub["event_types"], types, "{sub}");
    }
    assert_eq!(subscription_count(&app).await, 5);
}

#[tokio::test]
async fn unknown_event_types_are_refused_with_their_place_and_change_nothing() {
    let app = TestApp::spawn().await;
    let sub = app
        .post_ok(
            "/v1/webhook-subscriptions",
            &app.admin_key,
            json!({ "url": "http://127.0.0.1:9/hooks", "event_types": ["message.created"] }),
            StatusCode::CREATED,
        )
        .await;
    let id = sub["id"].as_str().unwrap();
    let cases: [(Value, &str); 7] = [
        (json!(["message.created", "message.creatd"]), "event_types[1]"),
        (json!(["conversation"]), "event_types[0]"),
        (json!(["nothing.*"]), "event_types[0]"),
        (json!(["*.created"]), "event_types[0]"),
        (json!(["conversation.created.x"]), "event_types[0]"),
        (json!(["routing.*", "test.recorded"]), "event_types[1]"),
        (json!(["Message.Created"]), "event_types[0]"),
    ];
    for (types, field) in cases {
        let body = json!({ "url": "http://127.0.0.1:9/hooks", "event_types": types });
        let (status, problem) = app.post("/v1/webhook-subscriptions", &app.admin_key, body).await;
        assert_problem(status, &problem, StatusCode::BAD_REQUEST, "unknown_event_type");
        assert_eq!(problem["field"], field, "{types}: {problem}");
        let patch = json!({ "event_types": types });
        let (status, problem) = app
            .call(Method::PATCH, &format!("/v1/webhook-subscriptions/{id}"), Some(&app.admin_key), Some(patch))
            .await;
        assert_problem(status, &problem, StatusCode::BAD_REQUEST, "unknown_event_type");
        assert_eq!(problem["field"], field, "{types}: {problem}");
    }
    assert_eq!(subscription_count(&app).await, 1);
    let (_, kept) = app.get(&format!("/v1/webhook-subscriptions/{id}"), &app.admin_key).await;
    assert_eq!(kept["event_types"], json!(["message.created"]), "{kept}");
}

#[tokio::test]
async fn ten_thousand_unknown_types_are_one_clear_refusal() {
    let app = TestApp::spawn().await;
    let many: Vec<String> = (0..10_000).map(|i| format!("unknown.type_{i}")).collect();
    let (status, problem) = app
        .post(
            "/v1/webhook-subscriptions",
            &app.admin_key,
            json!({ "url": "http://127.0.0.1:9/hooks", "event_types": many }),
        )
        .await;
    assert!(status.is_client_error(), "{status}: {problem}");
    assert!(problem["code"].as_str().is_some(), "{problem}");
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("100")), "{problem}");
    // At the limit, the first unknown entry is named.
    let hundred: Vec<String> = (0..100).map(|i| format!("unknown.type_{i}")).collect();
    let (status, problem) = app
        .post(
            "/v1/webhook-subscriptions",
            &app.admin_key,
            json!({ "url": "http://127.0.0.1:9/hooks", "event_types": hundred }),
        )
        .await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "unknown_event_type");
    assert_eq!(problem["field"], "event_types[0]", "{problem}");
    assert_eq!(subscription_count(&app).await, 0);
}

#[tokio::test]
async fn the_catalogue_is_published_in_the_openapi_document() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let schemas = &doc["components"]["schemas"];
    let envelope = &schemas["WebhookEvent"];
    assert_eq!(envelope["discriminator"]["propertyName"], "type", "{envelope}");
    let mapping = envelope["discriminator"]["mapping"].as_object().unwrap();
    let one_of = envelope["oneOf"].as_array().unwrap();
    assert_eq!(mapping.len(), one_of.len());
    for (event_type, target) in mapping {
        let name = target.as_str().unwrap().trim_start_matches("#/components/schemas/");
        let per_type = &schemas[name];
        assert_eq!(per_type["properties"]["type"]["enum"], json!([event_type]), "{name}");
        let payload = per_type["properties"]["data"]["$ref"].as_str().unwrap();
        let payload = payload.trim_start_matches("#/components/schemas/");
        assert!(schemas[payload].is_object(), "{event_type}: {payload} is not in the components");
    }
    for event_type in
        ["message.created", "conversation.state_changed", "routing.offer_issued", "agent.presence_changed"]
    {
        assert!(mapping.contains_key(event_type), "{event_type}");
    }
    let change = &schemas["ConversationStateChanged"]["properties"];
    assert!(change["conversation"].is_object() && change["affinity_agent_id"].is_object(), "{change}");
}
