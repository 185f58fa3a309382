//! Native webhook subscriptions (Standard Webhooks), and the delivery log with replay.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use switchboard_domain::{
    Code, Error, Timestamp,
    event::EventType,
    ids::*,
    role::Role,
    text::{HttpUrl, ShortText},
};
use switchboard_store::{
    model::Page,
    webhooks::{
        self, AttemptRecord, Delivery, DeliveryFilter, DeliveryState, Endpoint, NewSubscription, Subscription,
        SubscriptionChange,
    },
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    auth::Principal,
    delivery::sign,
    error::ApiResult,
    extract::{ApiJson, ApiQuery, IdemKey, OptionalJson, PageQuery, Written, body, path_id, reveal},
};

const ADMINS: &[Role] = &[Role::Admin];
const READERS: &[Role] = &[Role::Admin, Role::Supervisor];
/// Event types in a filter at most.
const MAX_EVENT_TYPES: usize = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_subscription, list_subscriptions))
        .routes(routes!(get_subscription, update_subscription, delete_subscription))
        .routes(routes!(rotate_secret))
        .routes(routes!(replay_range))
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(delivery_attempts))
        .routes(routes!(replay_delivery))
}

fn subscription_id(raw: &str) -> Result<SubscriptionId, crate::error::ApiError> {
    path_id(raw, Code::SubscriptionNotFound)
}

/// The rule of `check_event_types` as a pattern: dotted snake_case, any part (or the whole) `*`.
const EVENT_TYPE_PATTERN: &str = r"^([a-z_]+|\*)(\.([a-z_]+|\*))*$";

fn event_types_schema(nullable: bool) -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
    let item = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(switchboard_domain::limits::MAX_SHORT_FIELD))
        .pattern(Some(EVENT_TYPE_PATTERN))
        .description(Some(
            "A type of the event catalogue (docs/events.md; the `WebhookEvent` schema), a family of them such as \
             `conversation.*`, or `*`; anything else is `unknown_event_type`",
        ));
    let array = if nullable { SchemaType::from_iter([Type::Array, Type::Null]) } else { SchemaType::new(Type::Array) };
    ArrayBuilder::new().schema_type(array).items(item).max_items(Some(MAX_EVENT_TYPES)).build()
}

fn event_types_list() -> utoipa::openapi::schema::Array {
    event_types_schema(false)
}

fn event_types_change() -> utoipa::openapi::schema::Array {
    event_types_schema(true)
}

/// Checks a filter of event types (a webhook subscription's, a stream's): at most [`MAX_EVENT_TYPES`] entries,
/// each a type of the catalogue, a family such as `conversation.*` that has at least one, or `*`. An entry that
/// names nothing is refused (`unknown_event_type` at `event_types[i]`) rather than kept: it would never match,
/// and a misspelt type would silently deliver nothing.
/// `also`: names a filter may use besides the catalogue's (the stream's signals).
pub(crate) fn check_event_types(types: &[ShortText], also: &[&str]) -> Result<Vec<String>, Error> {
    if types.len() > MAX_EVENT_TYPES {
        return Err(Error::field(Code::InvalidField, "event_types", format!("at most {MAX_EVENT_TYPES} types")));
    }
    types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let t = t.as_str();
            if EventType::matching(t).is_empty() && !also.contains(&t) {
                Err(Error::field(
                    Code::UnknownEventType,
                    format!("event_types[{i}]"),
                    "not an event type, nor a family of them: see the event catalogue (docs/events.md), e.g. \
                     `message.created`, `conversation.*` or `*`",
                ))
            } else {
                Ok(t.to_string())
            }
        })
        .collect()
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionIn {
    /// Where events are POSTed.
    pub url: HttpUrl,
    #[serde(default)]
    pub description: Option<ShortText>,
    /// Event types to receive (`message.created`, a family such as `conversation.*`); empty or absent: all.
    #[serde(default)]
    #[schema(schema_with = event_types_list)]
    pub event_types: Vec<ShortText>,
    /// A `whsec_` secret of your own; one is made when absent.
    #[serde(default)]
    pub secret: Option<String>,
}

fn secret_or_new(given: Option<String>) -> Result<String, Error> {
    match given {
        Some(s) if sign::secret_key(&s).is_some() => Ok(s),
        Some(_) => {
            Err(Error::field(Code::InvalidField, "secret", "a secret is `whsec_` followed by base64 of 16 to 64 bytes"))
        }
        None => Ok(sign::new_secret()),
    }
}

/// Subscribes a URL to events. The response shows the signing secret, once.
#[utoipa::path(post, path = "/v1/webhook-subscriptions", tag = "webhooks", security(("bearer" = [])),
    request_body = SubscriptionIn, params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = Subscription, description = "The subscription, with `secret` shown once")))]
async fn create_subscription(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    ApiJson(input): ApiJson<SubscriptionIn>,
) -> ApiResult<Response> {
    who.require(ADMINS)?;
    let event_types = check_event_types(&input.event_types, &[])?;
    let secret = secret_or_new(input.secret.clone())?;
    let sealed_secret = app.auth.secrets.seal(secret.as_bytes())?;
    let org = who.org_id;
    let key = idem.scoped(&who, "POST /v1/webhook-subscriptions", &(&input.url, &input.description, &event_types));
    let new = NewSubscription {
        url: input.url.as_str().to_string(),
        description: input.description.map(ShortText::into_inner),
        event_types,
        sealed_secret,
    };
    let now = app.clock.now();
    let out = app
        .store
        .write_once(org, key, now, move |tx| {
            body(StatusCode::CREATED, webhooks::create_subscription(tx, org, new, now)?)
        })
        .await?;
    app.deliveries.targets_changed();
    Ok(Written(reveal(out, "secret", secret)?).into_response())
}

#[utoipa::path(get, path = "/v1/webhook-subscriptions", tag = "webhooks", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = Page<Subscription>)))]
async fn list_subscriptions(
    State(app): State<AppState>,
    who: Principal,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Subscription>>> {
    who.require(READERS)?;
    let (limit, after, org) = (page.limit()?, page.cursor::<SubscriptionId>()?, who.org_id);
    let rows = app.store.read(move |tx| webhooks::list_subscriptions(tx, org, after, limit + 1)).await?;
    Ok(Json(Page::from_rows(rows, limit, |s| s.id.to_string())))
}

#[utoipa::path(get, path = "/v1/webhook-subscriptions/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Subscription), (status = 404)))]
async fn get_subscription(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Subscription>> {
    who.require(READERS)?;
    let (id, org) = (subscription_id(&id)?, who.org_id);
    Ok(Json(app.store.read(move |tx| webhooks::get_subscription(tx, org, id)).await?))
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionPatch {
    #[serde(default)]
    pub url: Option<HttpUrl>,
    #[serde(default)]
    pub description: Option<ShortText>,
    #[serde(default)]
    #[schema(schema_with = event_types_change)]
    pub event_types: Option<Vec<ShortText>>,
    /// `true` turns a disabled subscription (after a 410) back on; `false` pauses it.
    #[serde(default)]
    pub enabled: Option<bool>,
}

#[utoipa::path(patch, path = "/v1/webhook-subscriptions/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = SubscriptionPatch,
    responses((status = 200, body = Subscription), (status = 404)))]
async fn update_subscription(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<SubscriptionPatch>,
) -> ApiResult<Json<Subscription>> {
    who.require(ADMINS)?;
    let (id, org) = (subscription_id(&id)?, who.org_id);
    let change = SubscriptionChange {
        url: input.url.map(|u| u.as_str().to_string()),
        description: input.description.map(|d| Some(d.into_inner())),
        event_types: input.event_types.as_deref().map(|types| check_event_types(types, &[])).transpose()?,
        enabled: input.enabled,
    };
    let now = app.clock.now();
    let sub = app.store.write(move |tx| webhooks::update_subscription(tx, org, id, change, now)).await?;
    app.deliveries.targets_changed();
    Ok(Json(sub))
}

#[utoipa::path(delete, path = "/v1/webhook-subscriptions/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404)))]
async fn delete_subscription(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    who.require(ADMINS)?;
    let (id, org) = (subscription_id(&id)?, who.org_id);
    let now = app.clock.now();
    app.store.write(move |tx| webhooks::delete_subscription(tx, org, id, now)).await?;
    app.deliveries.targets_changed();
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateIn {
    /// How long the previous secret keeps signing (a second signature), 0 to 604800 seconds; default one day.
    #[serde(default)]
    pub previous_valid_seconds: Option<u32>,
    /// A `whsec_` secret of your own; one is made when absent.
    #[serde(default)]
    pub secret: Option<String>,
}

/// Replaces the signing secret. Until the previous one expires, every delivery carries both signatures.
#[utoipa::path(post, path = "/v1/webhook-subscriptions/{id}/rotate-secret", tag = "webhooks",
    security(("bearer" = [])), params(("id" = String, Path)), request_body = RotateIn,
    responses((status = 200, body = Subscription, description = "With the new `secret`, shown once"), (status = 404)))]
async fn rotate_secret(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    OptionalJson(input): OptionalJson<RotateIn>,
) -> ApiResult<Response> {
    who.require(ADMINS)?;
    let (id, org) = (subscription_id(&id)?, who.org_id);
    let grace = input.previous_valid_seconds.unwrap_or(86_400);
    if grace > 604_800 {
        return Err(Error::field(Code::InvalidField, "previous_valid_seconds", "at most 604800 (a week)").into());
    }
    let secret = secret_or_new(input.secret)?;
    let sealed = app.auth.secrets.seal(secret.as_bytes())?;
    let until = app.clock.now().plus_millis(i64::from(grace) * 1000);
    let now = app.clock.now();
    let sub = app.store.write(move |tx| webhooks::rotate_secret(tx, org, id, &sealed, until, now)).await?;
    app.deliveries.targets_changed();
    let mut value = serde_json::to_value(sub).map_err(Error::internal)?;
    value["secret"] = secret.into();
    Ok(Json(value).into_response())
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRangeIn {
    /// RFC 3339; deliveries created at or after it.
    pub since: Timestamp,
    /// RFC 3339; before it (default: now).
    #[serde(default)]
    pub until: Option<Timestamp>,
    /// Also send again what was delivered; by default only failed deliveries (dead letters) are.
    #[serde(default)]
    pub include_delivered: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    /// How many deliveries were made due again.
    pub replayed: u64,
}

/// Sends again the subscription's deliveries of a time range.
#[utoipa::path(post, path = "/v1/webhook-subscriptions/{id}/replay", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ReplayRangeIn,
    responses((status = 202, body = Replayed), (status = 404)))]
async fn replay_range(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ReplayRangeIn>,
) -> ApiResult<(StatusCode, Json<Replayed>)> {
    who.require(ADMINS)?;
    let (id, org) = (subscription_id(&id)?, who.org_id);
    let now = app.clock.now();
    let until = input.until.unwrap_or(now);
    if until <= input.since {
        return Err(Error::field(Code::InvalidField, "until", "`until` must be after `since`").into());
    }
    let replayed = app
        .store
        .write(move |tx| {
            webhooks::get_subscription(tx, org, id)?;
            webhooks::replay_range(
                tx,
                org,
                Endpoint::Subscription(id),
                input.since,
                until,
                input.include_delivered,
                now,
            )
        })
        .await?;
    app.deliveries.replayed();
    Ok((StatusCode::ACCEPTED, Json(Replayed { replayed })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    pub subscription_id: Option<String>,
    pub channel_id: Option<String>,
    /// `pending`, `delivered` or `failed` (dead letters).
    pub state: Option<DeliveryState>,
    pub conversation_id: Option<String>,
    #[param(inline)]
    pub limit: Option<crate::extract::PageSize>,
    pub cursor: Option<String>,
}

fn query_id<T: std::str::FromStr>(raw: Option<String>, field: &str) -> Result<Option<T>, Error> {
    raw.map(|r| r.parse().map_err(|_| Error::field(Code::InvalidQuery, field, format!("`{field}` is not an id"))))
        .transpose()
}

/// The delivery log: one entry per event and endpoint.
#[utoipa::path(get, path = "/v1/webhook-deliveries", tag = "webhooks", security(("bearer" = [])),
    params(DeliveryQuery), responses((status = 200, body = Page<Delivery>)))]
async fn list_deliveries(
    State(app): State<AppState>,
    who: Principal,
    ApiQuery(q): ApiQuery<DeliveryQuery>,
) -> ApiResult<Json<Page<Delivery>>> {
    who.require(READERS)?;
    let page = PageQuery { limit: q.limit, cursor: q.cursor };
    let (limit, after, org) = (page.limit()?, page.cursor::<DeliveryId>()?, who.org_id);
    let endpoint = match (
        query_id::<SubscriptionId>(q.subscription_id, "subscription_id")?,
        query_id::<ChannelId>(q.channel_id, "channel_id")?,
    ) {
        (Some(_), Some(_)) => {
            return Err(Error::new(Code::InvalidQuery, "give `subscription_id` or `channel_id`, not both").into());
        }
        (Some(s), None) => Some(Endpoint::Subscription(s)),
        (None, Some(c)) => Some(Endpoint::Channel(c)),
        (None, None) => None,
    };
    let filter =
        DeliveryFilter { endpoint, state: q.state, conversation_id: query_id(q.conversation_id, "conversation_id")? };
    let rows = app.store.read(move |tx| webhooks::list_deliveries(tx, org, &filter, after, limit + 1)).await?;
    Ok(Json(Page::from_rows(rows, limit, |d| d.id.to_string())))
}

#[utoipa::path(get, path = "/v1/webhook-deliveries/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Delivery), (status = 404)))]
async fn get_delivery(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Delivery>> {
    who.require(READERS)?;
    let (id, org) = (path_id(&id, Code::DeliveryNotFound)?, who.org_id);
    Ok(Json(app.store.read(move |tx| webhooks::get_delivery(tx, org, id)).await?))
}

/// Every attempt of a delivery, with the receiver's answer.
#[utoipa::path(get, path = "/v1/webhook-deliveries/{id}/attempts", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Vec<AttemptRecord>), (status = 404)))]
async fn delivery_attempts(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<AttemptRecord>>> {
    who.require(READERS)?;
    let (id, org) = (path_id(&id, Code::DeliveryNotFound)?, who.org_id);
    Ok(Json(app.store.read(move |tx| webhooks::attempts(tx, org, id)).await?))
}

/// Sends a delivery again (a dead letter, one delivered before, or one waiting for its next retry) at once, ahead
/// of the events of its conversation that wait behind it; it keeps its `webhook-id`.
#[utoipa::path(post, path = "/v1/webhook-deliveries/{id}/replay", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 202, body = Delivery), (status = 404)))]
async fn replay_delivery(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    who.require(ADMINS)?;
    let (id, org): (DeliveryId, _) = (path_id(&id, Code::DeliveryNotFound)?, who.org_id);
    let key = idem.scoped(&who, "POST /v1/webhook-deliveries/{id}/replay", &id);
    let now = app.clock.now();
    let out = app
        .store
        .write_once(org, key, now, move |tx| body(StatusCode::ACCEPTED, webhooks::replay(tx, org, id, now)?))
        .await?;
    app.deliveries.replayed_now(id);
    Ok(Written(out).into_response())
}
