//! The HTTP surface: the native `/v1` API (one module per resource), OAuth2, the OpenAPI document, the docs page
//! and the operational endpoints, with the layers every request passes through.

mod access;
mod analytics;
mod bot_framework;
mod bots;
mod chat;
mod contacts;
mod contract;
mod conversations;
mod events;
mod google_bm;
mod lifecycle;
mod message_templates;
mod messaging_accounts;
mod messaging_api;
mod meta;
mod oauth;
mod org;
mod outbound_configs;
mod quick_replies;
mod routing;
mod routing_config;
mod sessions;
mod setup;
mod suppressions;
mod telesign;
mod twilio;
mod webhooks;

pub(crate) use chat::live_chat_channel;
pub(crate) use webhooks::check_event_types;

use std::time::Duration;

use axum::{
    Json, Router,
    extract::DefaultBodyLimit,
    http::{HeaderName, Request},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use switchboard_domain::{Code, event, limits};
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::router::OpenApiRouter;

use crate::{AppState, docs, error::ApiError, ops};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard API",
        description = "The native REST API of Switchboard, an open-source omnichannel contact center engine. \
            Authenticate with `Authorization: Bearer <API key or access token>`, or, in a browser, with the \
            session cookie `POST /v1/sessions` sets (writes then need its `X-CSRF-Token` header). Errors are RFC 9457 \
            `application/problem+json` with a stable `code` (see /docs/errors). Lists are cursor-paginated. \
            Every create and send accepts an `Idempotency-Key` header.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "organization"), (name = "access", description = "Users, API keys and OAuth2 clients"),
        (name = "contacts"), (name = "setup", description = "Queues, workstreams and channels"),
        (name = "conversations"), (name = "events"), (name = "oauth2"),
        (name = "sessions", description = "Browser sign-in: sessions, passwords and organizations' identity \
            providers; see docs/authentication.md"),
        (name = "routing", description = "Unified routing: presence, capacity, skills, queue members and \
            settings, rules, offers, queue positions and representative availability"),
        (name = "webhooks", description = "Webhook subscriptions (Standard Webhooks) and the delivery log"),
        (name = "chat", description = "The customer chat of live_chat channels, for the chat page a website embeds: \
            start a chat (no credentials), then its chat token; see docs/chat.md"),
        (name = "direct-line", description = "Direct Line 3.0 for direct_line channels, as \
            `botframework-directlinejs` and Web Chat call it (`/v3/directline`); see docs/direct-line.md"),
        (name = "quick-replies", description = "Texts agents insert into a reply instead of typing them"),
        (name = "outbound", description = "Messages an organization sends its customers first: templates, and what they render"),
        (name = "phone", description = "SMS and WhatsApp: the suppression list (STOP), and a phone conversation's \
            customer and WhatsApp window; see docs/channels.md"),
        (name = "messaging-accounts", description = "Messaging accounts (a Bot Framework registration, ...) and the \
            channels added to them, with their messaging endpoint URLs"),
        (name = "messaging-api", description = "The Messaging API, compatible with the documented \
            `/api/v1.0/consumer` endpoints; see docs/messaging-api.md"),
        (name = "channels", description = "What providers call: a Bot Framework channel's messaging endpoint; see \
            docs/channels.md")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key (`sbk_…`) or an access token from `POST /oauth2/token`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "chat",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A chat token from `POST /v1/chat/{channel}/conversations`: one conversation"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "direct_line",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A Direct Line channel's secret, or a token from `tokens/generate`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    crate::auth::sessions::COOKIE,
                    "The session cookie `POST /v1/sessions` sets; writes also need the `X-CSRF-Token` header",
                ),
            )),
        );
    }
}

/// The documented routes and the OpenAPI document generated from them.
pub fn documented() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let mut openapi = ApiDoc::openapi();
    openapi.openapi = utoipa::openapi::OpenApiVersion::Version31;
    OpenApiRouter::with_openapi(openapi)
        .merge(org::router())
        .merge(access::router())
        .merge(sessions::router())
        .merge(contacts::router())
        .merge(setup::router())
        .merge(conversations::router())
        .merge(events::router())
        .merge(oauth::router())
        .merge(webhooks::router())
        .merge(routing::router())
        .merge(routing_config::router())
        .merge(lifecycle::router())
        .merge(analytics::router())
        .merge(quick_replies::router())
        .merge(message_templates::router())
        .merge(outbound_configs::router())
        .merge(suppressions::router())
        .merge(messaging_accounts::router())
        // Not in `leadership::ON_LEADER`: every node serves the stream from its own hub.
        .merge(crate::stream::router())
        .merge(chat::router())
        .merge(bot_framework::router())
        .merge(meta::router())
        .merge(telesign::router())
        .merge(twilio::router())
        .merge(google_bm::router())
        .merge(crate::direct_line::router())
        .merge(bots::router())
        .merge(messaging_api::router().layer(DefaultBodyLimit::max(messaging_api::MAX_SEND_BODY_BYTES)))
        .merge(conversations::file_router().layer(DefaultBodyLimit::max(conversations::MAX_FILE_BODY_BYTES)))
        .split_for_parts()
}

/// The OpenAPI document as served at `/openapi.json`: the generated one with what every operation shares (see
/// `contract`).
pub fn openapi() -> serde_json::Value {
    completed(documented().1)
}

fn completed(mut openapi: utoipa::openapi::OpenApi) -> serde_json::Value {
    // The event catalogue: every payload, the envelope webhook receivers and stream clients get, and the entries of
    // the event feed and timelines, so that clients can generate types. No operation returns the envelopes, and the
    // pages of entries hold them inline (`Page<Event>`), so they are added here rather than found from the routes.
    let components = openapi.components.get_or_insert_with(Default::default);
    let entries =
        event::log_entry_schemas().into_iter().chain([(event::LOG_ENTRY_SCHEMA.into(), event::log_entry_schema())]);
    for (name, schema) in event::payload_schemas().into_iter().chain(event::envelope_schemas()).chain(entries) {
        components.schemas.entry(name).or_insert(schema);
    }
    // utoipa's types serialize to JSON but do not all read back, so the shared parts are added to the JSON.
    let mut doc = serde_json::to_value(openapi).unwrap_or_default();
    contract::complete(&mut doc);
    doc
}

async fn route_not_found() -> ApiError {
    ApiError::new(Code::RouteNotFound, "no endpoint at this path; see /docs")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(Code::MethodNotAllowed, "this endpoint does not accept that method; see /docs")
}

/// Answers a request that outlives `timeout` (its body's arrival included) with 503 `request_timeout`.
async fn time_limit(timeout: Duration, req: Request<axum::body::Body>, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            Code::RequestTimeout,
            format!("the request took longer than {} s (request_timeout_seconds)", timeout.as_secs()),
        )
        .into_response(),
    }
}

/// The whole application with its layers.
pub fn app(state: AppState) -> Router {
    ops::metrics_handle();
    let (api, openapi) = documented();
    let openapi = std::sync::Arc::new(completed(openapi));
    let request_id = HeaderName::from_static("x-request-id");
    let timeout = Duration::from_secs(state.config.request_timeout_seconds);
    // Only where several nodes may share the database: on SQLite this node always leads.
    let api = if state.leadership.clustered() {
        api.route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::leadership::forward_to_leader))
    } else {
        api
    };
    api.route("/openapi.json", get(move || async move { Json(openapi.as_ref().clone()) }))
        .route("/docs", get(docs::page))
        .route("/docs/errors", get(docs::errors))
        .route("/docs/assets/swagger-ui-bundle.js", get(docs::swagger_js))
        .route("/docs/assets/swagger-ui.css", get(docs::swagger_css))
        .route("/v1/attachments/{id}/content", get(crate::attachments::content))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(crate::workspace::router())
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(crate::direct_line::cors))
        .layer(axum::middleware::from_fn(ops::track))
        .layer(DefaultBodyLimit::max(limits::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(move |req, next| time_limit(timeout, req, next)))
        .layer(CatchPanicLayer::new())
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}
