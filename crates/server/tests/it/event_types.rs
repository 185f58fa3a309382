//! The event catalogue at the edge: webhook subscriptions name only types it has (or families of them), and
//! `/openapi.json` publishes every payload, the envelope receivers get, and the entries of the event feed and
//! timelines, which agree with what the server answers.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_domain::event::EventType;

use crate::{
    TestApp, assert_problem,
    routing::{agent, create, pending_offers, routed},
};

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

/// The schema `schema` stands for: itself, or the component its `$ref` names (followed to the end).
fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
    while let Some(name) = schema["$ref"].as_str() {
        schema = &doc["components"]["schemas"][name.trim_start_matches("#/components/schemas/")];
    }
    schema
}

/// The schema of the entries of the page `GET path` answers with.
fn page_entries<'a>(doc: &'a Value, path: &str) -> &'a Value {
    let page = &doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    &resolve(doc, page)["properties"]["data"]["items"]
}

/// Whether `value` is of the JSON type `documented` (a name, or a list of names such as `["string", "null"]`).
fn of_type(value: &Value, documented: &Value) -> bool {
    let is = |name: &str| match name {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        _ => true,
    };
    match documented {
        Value::String(name) => is(name),
        Value::Array(names) => names.iter().filter_map(Value::as_str).any(is),
        _ => true,
    }
}

/// Checks `value` against the schema `schema` as far as it states types and required fields (objects, their
/// properties and arrays' items; a choice of schemas is taken on trust). `at` names the place for failures.
fn agrees(doc: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = resolve(doc, schema);
    if let Some(choices) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        // A nullable member is documented as a choice of null and its schema.
        let nullable = match choices.as_slice() {
            [one, null] | [null, one] if null["type"] == "null" => Some(one),
            _ => None,
        };
        if let Some(one) = nullable
            && !value.is_null()
        {
            agrees(doc, one, value, at);
        }
        return;
    }
    assert!(of_type(value, &schema["type"]), "{at}: {value} is not of the documented type {}", schema["type"]);
    if let Some(allowed) = schema["enum"].as_array()
        && !value.is_null()
    {
        assert!(allowed.contains(value), "{at}: {value} is not one of {allowed:?}");
    }
    if let Some(object) = value.as_object() {
        for field in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            assert!(object.contains_key(field), "{at}: the required `{field}` is missing from {value}");
        }
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            if let Some(v) = object.get(field) {
                agrees(doc, property, v, &format!("{at}.{field}"));
            }
        }
    }
    if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
        for (i, v) in values.iter().enumerate() {
            agrees(doc, items, v, &format!("{at}[{i}]"));
        }
    }
}

#[tokio::test]
async fn the_feed_and_timelines_are_documented_as_the_catalogue_and_answer_as_documented() {
    let app = TestApp::spawn().await;
    // Setup, a routed conversation taken by an agent who answers: organization, conversation and routing entries.
    let setup = routed(&app, json!({})).await;
    let (key, agent_id) = agent(&app, &[&setup.queue], "available").await;
    let conversation = create(&app, &setup.channel, "c1", json!({})).await;
    let offers = pending_offers(&app, &agent_id, &key, 1).await;
    let offer = offers[0]["id"].as_str().unwrap();
    app.post_ok(&format!("/v1/offers/{offer}/accept"), &key, json!({}), StatusCode::OK).await;
    let messages = format!("/v1/conversations/{conversation}/messages");
    app.post_ok(&messages, &key, json!({ "text": "Hello, how can I help?" }), StatusCode::CREATED).await;
    let timeline_path = format!("/v1/conversations/{conversation}/timeline?limit=250");
    let timeline = app
        .eventually(&timeline_path, &app.admin_key, |t| {
            t["data"].as_array().is_some_and(|d| d.iter().any(|e| e["type"] == "routing.assigned"))
        })
        .await;

    let (status, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    // The pages' entries are the catalogue's `Event` (utoipa writes a generic page's items inline).
    let entry = &doc["components"]["schemas"]["Event"];
    assert_eq!(resolve(&doc, page_entries(&doc, "/v1/events")), entry);
    assert_eq!(resolve(&doc, page_entries(&doc, "/v1/conversations/{id}/timeline")), entry);
    assert_eq!(entry["discriminator"]["propertyName"], "type", "{entry}");
    let mapping = entry["discriminator"]["mapping"].as_object().unwrap();
    let one_of: Vec<&str> = entry["oneOf"].as_array().unwrap().iter().filter_map(|c| c["$ref"].as_str()).collect();
    let mut documented: Vec<&str> = mapping.keys().map(String::as_str).collect();
    documented.sort_unstable();
    let mut catalogue: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
    catalogue.sort_unstable();
    assert_eq!(documented, catalogue, "one entry schema per type of the catalogue");
    for (event_type, target) in mapping {
        let target = target.as_str().unwrap();
        assert!(one_of.contains(&target), "{event_type}: {target} is not among the choices");
        let reference = json!({ "$ref": target });
        let per_type = resolve(&doc, &reference);
        assert_eq!(per_type["properties"]["type"]["enum"], json!([event_type]), "{target}");
        let payload = resolve(&doc, &per_type["properties"]["data"]);
        assert!(payload["properties"].is_object(), "{event_type}: its payload is documented: {payload}");
    }

    // What the server answers is what the document says, entry by entry.
    let (status, feed) = app.get("/v1/events?limit=250", &app.admin_key).await;
    assert_eq!(status, StatusCode::OK, "{feed}");
    let feed = feed["data"].as_array().unwrap();
    let timeline = timeline["data"].as_array().unwrap();
    let mut seen = Vec::new();
    for (i, e) in feed.iter().chain(timeline).enumerate() {
        let event_type = e["type"].as_str().unwrap();
        let target = mapping.get(event_type).unwrap_or_else(|| panic!("{event_type} is not documented"));
        agrees(&doc, &json!({ "$ref": target }), e, &format!("entry {i} ({event_type})"));
        seen.push(event_type);
    }
    for expected in [
        "queue.created",
        "workstream.created",
        "channel.created",
        "agent.presence_changed",
        "conversation.created",
        "routing.queued",
        "routing.offer_issued",
        "routing.assigned",
        "conversation.state_changed",
        "message.created",
    ] {
        assert!(seen.contains(&expected), "no {expected} entry was checked: {seen:?}");
    }
}
