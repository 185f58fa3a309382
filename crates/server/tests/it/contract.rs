//! The OpenAPI document says what the server does: the findings of issue 14, pinned against the live server.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::TestApp;

async fn document(app: &TestApp) -> Value {
    let (status, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    doc
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((method.clone(), path.clone(), op));
        }
    }
    out
}

/// Every string `enum` anywhere under `value`, with where it is.
fn enums<'a>(value: &'a Value, at: String, out: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(members) => {
            if let Some(values) = members.get("enum") {
                out.push((at.clone(), values));
            }
            for (name, member) in members {
                enums(member, format!("{at}/{name}"), out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                enums(item, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn enums_are_documented_as_the_strings_the_server_speaks() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["ChannelType"]["enum"].as_array().unwrap().contains(&json!("messaging_api")), "{schemas:#}");
    assert!(schemas["ConversationState"]["enum"].as_array().unwrap().contains(&json!("active")));
    let mut found = Vec::new();
    enums(schemas, String::new(), &mut found);
    assert!(found.len() > 10, "{found:?}");
    for (at, values) in found {
        for v in values.as_array().unwrap().iter().filter_map(Value::as_str) {
            assert!(!v.chars().any(|c| c.is_ascii_uppercase()), "{at}: {v} is not what the server sends");
        }
    }
    // A value taken from the document is one the server accepts.
    let channel_type = schemas["ChannelType"]["enum"][0].as_str().unwrap();
    let queue = app.post_ok("/v1/queues", &app.admin_key, json!({"name": "General"}), StatusCode::CREATED).await;
    let workstream = json!({"name": "Chat", "fallback_queue_id": queue["id"]});
    let workstream = app.post_ok("/v1/workstreams", &app.admin_key, workstream, StatusCode::CREATED).await;
    let channel = json!({"name": "Web", "channel_type": channel_type, "workstream_id": workstream["id"]});
    let channel = app.post_ok("/v1/channels", &app.admin_key, channel, StatusCode::CREATED).await;
    assert_eq!(channel["channel_type"], channel_type);
}

#[tokio::test]
async fn the_custom_presence_body_is_the_one_the_server_reads() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let body = &doc["paths"]["/v1/presences"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    let name = body["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
    let schema = &doc["components"]["schemas"][name];
    let mut fields: Vec<&str> = schema["properties"].as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["base", "name"], "{schema}");
    app.post_ok("/v1/presences", &app.admin_key, json!({"name": "Training", "base": "away"}), StatusCode::CREATED)
        .await;
}

#[tokio::test]
async fn page_sizes_are_documented_with_the_bounds_the_server_applies() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    for (method, path, op) in operations(&doc) {
        let Some(params) = op["parameters"].as_array() else { continue };
        for limit in params.iter().filter(|p| p["name"] == "limit") {
            assert_eq!(limit["in"], "query", "{method} {path}");
            assert_eq!(limit["schema"]["minimum"], 1, "{method} {path}");
            assert_eq!(limit["schema"]["maximum"], 250, "{method} {path}");
        }
    }
    for (limit, expect) in
        [(0, StatusCode::BAD_REQUEST), (1, StatusCode::OK), (250, StatusCode::OK), (251, StatusCode::BAD_REQUEST)]
    {
        for path in ["/v1/conversations", "/v1/callback-requests"] {
            let (status, body) = app.get(&format!("{path}?limit={limit}"), &app.admin_key).await;
            assert_eq!(status, expect, "{path}?limit={limit}: {body}");
        }
    }
}

#[tokio::test]
async fn optional_bodies_may_be_left_out_but_are_never_null() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    for path in ["/v1/conversations/{id}/accept", "/v1/conversations/{id}/close"] {
        let body = &doc["paths"][path]["post"]["requestBody"];
        assert_eq!(body["required"], false, "{path}: {body}");
        let schema = &body["content"]["application/json"]["schema"];
        assert!(schema.get("oneOf").is_none() && schema["$ref"].is_string(), "{path}: {schema}");
    }
    // What the document says of `null`, the server does.
    let channel = app.channel().await;
    let (integration, _) = app.key(switchboard_domain::role::Role::Integration).await;
    let id = app.conversation(&integration, &channel, "c-1").await;
    let (status, body) = app
        .call(Method::POST, &format!("/v1/conversations/{id}/accept"), Some(&app.admin_key), Some(Value::Null))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn every_operation_documents_its_errors_as_problems() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let problem = json!({"$ref": "#/components/schemas/Problem"});
    let codes = doc["components"]["schemas"]["Problem"]["properties"]["code"]["enum"].as_array().unwrap();
    assert!(codes.contains(&json!("idempotency_key_reused")) && codes.contains(&json!("unauthenticated")));
    let ops = operations(&doc);
    assert!(ops.len() >= 88, "{}", ops.len());
    for (method, path, op) in &ops {
        let responses = op["responses"].as_object().unwrap();
        let bearer = op["security"].as_array().is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        if bearer {
            assert!(responses.contains_key("401"), "{method} {path} does not document 401");
        }
        if op.get("requestBody").is_some() && path != "/oauth2/token" {
            for status in ["400", "413", "415"] {
                assert!(responses.contains_key(status), "{method} {path} does not document {status}");
            }
        }
        for (status, response) in responses {
            let oauth_error = path == "/oauth2/token" && status.starts_with('4');
            // Direct Line's client errors are the service's own bodies, which its client reads.
            let direct_line_error = path.starts_with("/v3/directline/") && status.starts_with('4');
            if direct_line_error {
                let error = &response["content"]["application/json"]["schema"]["properties"]["error"];
                assert_eq!(error["required"], json!(["code", "message"]), "{method} {path} {status}");
            } else if (status.starts_with('4') || status.starts_with('5')) && !oauth_error {
                assert_eq!(
                    response["content"]["application/problem+json"]["schema"], problem,
                    "{method} {path} {status}"
                );
            }
        }
        let Some(params) = op["parameters"].as_array() else { continue };
        if let Some(key) = params.iter().find(|p| p["name"] == "Idempotency-Key") {
            assert_eq!(key["schema"]["maxLength"], 255, "{method} {path}");
            assert!(responses.contains_key("422"), "{method} {path}: a reused key is 422");
        }
    }
    // The server answers what the document says: a request without credentials is a 401 problem.
    let response = app.http.get(format!("{}/v1/queues", app.base)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn validated_types_carry_their_rules_into_the_document() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["Phone"]["pattern"], r"^\s*\+?[ .()-]*([0-9][ .()-]*){4,15}\s*$");
    assert_eq!(schemas["VariableName"]["maxLength"], 100);
    let every = &schemas["EverySpec"]["properties"]["every_minutes"]["enum"];
    assert!(every.as_array().unwrap().contains(&json!(60)) && !every.as_array().unwrap().contains(&json!(7)));
    let event_types = &schemas["SubscriptionIn"]["properties"]["event_types"]["items"];
    assert_eq!(event_types["pattern"], r"^([a-z_]+|\*)(\.([a-z_]+|\*))*$", "{event_types}");
    // The server refuses what the pattern refuses.
    let (status, body) = app.post("/v1/contacts", &app.admin_key, json!({"first_name": "Ann", "phone": "123"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn availability_requests_require_the_id_the_server_requires() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    for (path, field) in [
        ("/api/data/v9.2/CCaaS_GetRepresentativeAvailabilityBeforeConversation", "LiveWorkStreamId"),
        ("/api/data/v9.2/CCaaS_GetRepresentativeAvailabilityForConversation", "ConversationId"),
        ("/api/data/v9.2/CCaaS_ModifyAgentPresence", "AgentId"),
    ] {
        let body = &doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"];
        let name = body["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
        let schema = &doc["components"]["schemas"][name];
        assert!(schema["required"].as_array().unwrap().contains(&json!(field)), "{path}: {schema}");
        assert_eq!(schema["properties"][field]["type"], "string", "{path}: {schema}");
        let (status, problem) = app.post(path, &app.admin_key, json!({"ApiVersion": "1.0"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {problem}");
        assert_eq!((problem["code"].as_str(), problem["field"].as_str()), (Some("missing_field"), Some(field)));
    }
}

#[tokio::test]
async fn a_body_that_names_another_object_documents_404() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let responses = &doc["paths"]["/v1/api-keys"]["post"]["responses"];
    assert!(responses.get("404").is_some(), "{responses}");
    let unknown = json!({"name": "Ops", "role": "supervisor", "user_id": "00364e44-16e1-3bca-a67b-fccdb6c8e225"});
    let (status, problem) = app.post("/v1/api-keys", &app.admin_key, unknown).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    assert_eq!(problem["code"], "user_not_found");
}
