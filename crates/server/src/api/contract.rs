//! Completes the generated OpenAPI document with what every operation shares, so that no handler annotation has
//! to restate it (and none can forget it): the statuses the layers, extractors and error catalogue answer with,
//! each as `application/problem+json` with the one `Problem` schema, and the `Idempotency-Key` header's rule.
//!
//! Where each status comes from:
//! - 401 (`unauthenticated`, `token_expired`) and 403 (`forbidden`): the bearer `Principal` and the role checks;
//! - 400 (`invalid_json`, `invalid_body`, `unknown_field`, `missing_field`, `invalid_field`, …), 413
//!   (`payload_too_large`) and 415 (`unsupported_media_type`): `ApiJson` and the validated types, on every body;
//! - 400 (`invalid_query`, `invalid_cursor`): `ApiQuery` and `PageQuery`, on every operation with a query;
//! - 404 (`…_not_found`): `path_id` and the tenant-scoped reads, on every operation with a path id, and on every
//!   body that names another object by id (`user_id`, `queue_id`, …);
//! - 400 (`invalid_idempotency_key`) and 422 (`idempotency_key_reused`): `IdemKey`, where the header is taken;
//! - 400 (`missing_field`, `invalid_field`) on every other header parameter, and 404 (`channel_not_found`) where
//!   the header names an object;
//! - 500 (`internal`) and 503 (`unavailable`, `no_routing_leader`, the request timeout): anywhere.

use serde_json::{Map, Value, json};
use switchboard_domain::{Code, limits};

/// The OAuth2 token endpoint answers its client errors in RFC 6749's shape, not as problems.
const OAUTH_TOKEN: &str = "/oauth2/token";
/// Direct Line 3.0's paths: their client errors are the service's own `{"error": {"code", "message"}}` bodies, which
/// `botframework-directlinejs` reads (see `direct_line::DlError`).
const DIRECT_LINE: &str = "/v3/directline/";

/// Operations every role may call: no role check can refuse them.
const ANY_ROLE: &[(&str, &str)] = &[("get", "/v1/org")];

/// Headers whose value is the id of an object of the caller's organization.
const OBJECT_HEADERS: &[&str] = &["channel-id"];

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn problem_schema() -> Value {
    let codes: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    json!({
        "type": "object",
        "description": "An RFC 9457 problem. `code` is stable; `detail` is for people; `field` names the JSON path, \
            parameter or header at fault, when there is one. See /docs/errors.",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string", "description": "A link to the code's description in /docs/errors"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "code": {"type": "string", "enum": codes},
            "field": {"type": "string"},
        },
    })
}

fn default_description(status: &str) -> &'static str {
    match status {
        "400" => "The request is malformed or a value breaks a rule (see `code` and `field`)",
        "401" => "No credentials, or an unknown, revoked or expired key or token",
        "403" => "The caller's role does not allow this",
        "404" => "No such object in the caller's organization",
        "409" => "The object's state does not allow this, or it already exists",
        "413" => "The body is larger than this endpoint accepts",
        "415" => "The body is not `application/json`",
        "422" => "The Idempotency-Key was used with a different request",
        "500" => "Internal error (logged with the request id)",
        "503" => "A dependency is unavailable or the request took too long; retry later",
        _ => "An error",
    }
}

/// The `Idempotency-Key` rule, from the same limit `IdemKey` checks.
fn idempotency_key_schema() -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": limits::MAX_IDEMPOTENCY_KEY,
        "pattern": "^[!-~]+$",
        "description": "Visible ASCII; a retry with the same key and body returns the first response",
    })
}

/// Applies the shared statuses and rules to every operation of `doc` (an OpenAPI document as JSON).
pub fn complete(doc: &mut Value) {
    doc["components"]["schemas"]["Problem"] = problem_schema();
    let naming = bodies_naming_objects(&doc["components"]["schemas"]);
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        for method in METHODS {
            if let Some(operation) = item.get_mut(*method).and_then(Value::as_object_mut) {
                complete_operation(path, method, operation, &naming);
            }
        }
    }
}

/// The `$ref` an object property points at, directly or as the one non-null choice of a nullable member.
fn referenced(property: &Value) -> Option<&str> {
    property["$ref"]
        .as_str()
        .or_else(|| property["oneOf"].as_array()?.iter().find_map(|choice| choice["$ref"].as_str()))
}

/// The components with a property that is an object's id (`UserId`, `QueueId`, …): a body of that type names
/// another object, which the server looks up in the caller's organization.
fn bodies_naming_objects(schemas: &Value) -> Vec<String> {
    let Some(schemas) = schemas.as_object() else { return Vec::new() };
    schemas
        .iter()
        .filter(|(_, schema)| {
            schema["properties"]
                .as_object()
                .is_some_and(|properties| properties.values().any(|p| referenced(p).is_some_and(|r| r.ends_with("Id"))))
        })
        .map(|(name, _)| format!("#/components/schemas/{name}"))
        .collect()
}

fn complete_operation(path: &str, method: &str, op: &mut Map<String, Value>, naming: &[String]) {
    let bearer =
        op.get("security").and_then(Value::as_array).is_some_and(|reqs| reqs.iter().any(|r| r.get("bearer").is_some()));
    let mut statuses: Vec<&str> = vec!["500", "503"];
    if bearer {
        statuses.push("401");
        if !ANY_ROLE.contains(&(method, path)) {
            statuses.push("403");
        }
    }
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for param in params.iter_mut() {
            match param["in"].as_str() {
                Some("path") => statuses.push("404"),
                Some("query") => statuses.push("400"),
                Some("header") if param["name"] == "Idempotency-Key" => {
                    param["schema"] = idempotency_key_schema();
                    statuses.extend(["400", "422"]);
                }
                // A header that names an object (the Messaging API's `channel-id`) is refused when missing and
                // not found when it names nothing of the caller's.
                Some("header") if OBJECT_HEADERS.contains(&param["name"].as_str().unwrap_or_default()) => {
                    statuses.extend(["400", "404"]);
                }
                Some("header") => statuses.push("400"),
                _ => {}
            }
        }
    }
    if let Some(body) = op.get_mut("requestBody") {
        if path != OAUTH_TOKEN {
            statuses.extend(["400", "413", "415"]);
        }
        unwrap_optional_body(body);
        let schemas = body["content"].as_object().into_iter().flat_map(|c| c.values()).map(|m| &m["schema"]);
        if schemas.filter_map(referenced).any(|r| naming.iter().any(|n| n == r)) {
            statuses.push("404");
        }
    }
    let oauth = path == OAUTH_TOKEN;
    let direct_line = path.starts_with(DIRECT_LINE);
    let responses = op.entry("responses").or_insert_with(|| json!({}));
    let Some(responses) = responses.as_object_mut() else { return };
    for status in statuses {
        responses.entry(status).or_insert_with(|| json!({}));
    }
    for (status, response) in responses.iter_mut() {
        let client_or_server_error = status.starts_with('4') || status.starts_with('5');
        // OAuth2 token errors are RFC 6749 bodies; its 5xx are problems like everywhere else.
        if !client_or_server_error || (oauth && status.starts_with('4')) {
            continue;
        }
        let Some(response) = response.as_object_mut() else { continue };
        let described = response.get("description").and_then(Value::as_str).is_some_and(|d| !d.is_empty());
        if !described {
            response.insert("description".into(), default_description(status).into());
        }
        let content = if direct_line && status.starts_with('4') {
            json!({"application/json": {"schema": {
                "type": "object", "required": ["error"],
                "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                }},
            }}})
        } else {
            json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}})
        };
        response.insert("content".into(), content);
    }
}

/// A body declared `Option<T>` (an action whose fields are all optional, read by `OptionalJson`) may be left out,
/// but `null` is not an object and is refused: document it as `T`, not required.
fn unwrap_optional_body(body: &mut Value) {
    let Some(content) = body.get_mut("content").and_then(Value::as_object_mut) else { return };
    let mut optional = false;
    for media in content.values_mut() {
        let Some(one_of) = media["schema"].get("oneOf").and_then(Value::as_array) else { continue };
        let not_null: Vec<Value> = one_of.iter().filter(|s| s["type"] != "null").cloned().collect();
        if not_null.len() == 1 && not_null.len() < one_of.len() {
            media["schema"] = not_null.into_iter().next().unwrap_or_default();
            optional = true;
        }
    }
    if optional {
        body["required"] = false.into();
    }
}
