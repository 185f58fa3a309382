//! The Messaging API, compatible with the documented `/api/v1.0/consumer` endpoints (reference §1): an
//! integrator's own channel starts conversations, sends the customer's activities and reads transcripts, with the
//! documented paths, field names and limits, onto the same services as the native API.
//!
//! Calls carry a bearer token of the integration role and the `channel-id` header naming a `messaging_api`
//! channel; `organization-id` may be sent too and must then name the caller's organization. Activities are Bot
//! Framework activities, so fields this API does not use are accepted and ignored.

use std::collections::BTreeMap;

use axum::{
    Json,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchboard_domain::{
    Code, Error, Timestamp,
    contact::CustomerIn,
    context::ContextMap,
    event::EventType,
    ids::*,
    limits,
    message::SenderKind,
    role::Role,
    setup::{ChannelType, CustomerTokenKeys},
    text::{CustomerField, Email, Phone, ShortText},
};
use switchboard_store::{
    IdempotencyKey,
    conversations::{self, NewConversation, NewMessage},
    events,
    model::{Channel, Conversation, Message},
    setup,
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use switchboard_channels::messaging_api::{ActivityIn, compat_context, parse_activity};

use crate::{
    AppState,
    auth::Principal,
    channels::{self, ingest::Ingest},
    error::{ApiError, ApiResult},
    extract::{ApiJson, IdemKey, Written, body},
};

const CALLERS: &[Role] = &[Role::Integration, Role::Admin];
/// `startmessage.message` may be up to 27 KB (§1.4); it is a message like any other past that.
const MAX_START_MESSAGE_BYTES: usize = 27 * 1024;
const DEFAULT_PAGE: usize = 50;
const MAX_MESSAGES_PAGE: usize = 100;
const MAX_CONVERSATIONS_PAGE: usize = 250;
/// A request body may carry embedded files; the workstream's policy bounds each one.
pub const MAX_SEND_BODY_BYTES: usize = 24 << 20;
/// How long a channel's settings are reused before they are read again (a new webhook URL or customer key takes
/// effect within this).
const CHANNEL_CACHE_MS: i64 = 5_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_conversation))
        .routes(routes!(create_conversation_alias))
        .routes(routes!(send_activity))
        .routes(routes!(list_messages))
        .routes(routes!(get_context))
        .routes(routes!(list_conversations))
}

/// The caller and the channel named by the headers.
struct Caller {
    who: Principal,
    channel: Channel,
}

async fn caller(app: &AppState, who: Principal, headers: &HeaderMap) -> Result<Caller, ApiError> {
    who.require(CALLERS)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(org) = header("organization-id")
        && org.parse::<OrgId>().ok() != Some(who.org_id)
    {
        return Err(Error::field(Code::OrganizationNotFound, "organization-id", "not the caller's organization").into());
    }
    let raw = header("channel-id").ok_or_else(|| {
        Error::field(Code::MissingField, "channel-id", "send the `channel-id` header naming a messaging_api channel")
    })?;
    let not_found = || Error::field(Code::ChannelNotFound, "channel-id", "no Messaging API channel with this id");
    let id: ChannelId = raw.parse().map_err(|_| not_found())?;
    let org = who.org_id;
    // A cache's freshness is real time: on the app's clock, which tests hold still, it would never go stale.
    let now = Timestamp::now().millis();
    let channel = match app.messaging_channels.get(&id) {
        Some((channel, until)) if until > now => channel,
        _ => {
            let channel = app.store.read(move |tx| setup::get_channel(tx, org, id)).await.map_err(|_| not_found())?;
            app.messaging_channels.insert(id, (channel.clone(), now + CHANNEL_CACHE_MS));
            channel
        }
    };
    if channel.org_id != org || channel.channel_type != ChannelType::MessagingApi {
        return Err(not_found().into());
    }
    Ok(Caller { who, channel })
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct CustomerContext {
    #[serde(default, alias = "customerId")]
    pub customerid: Option<CustomerField>,
    #[serde(default, alias = "firstName")]
    pub firstname: Option<CustomerField>,
    #[serde(default, alias = "lastName")]
    pub lastname: Option<CustomerField>,
    #[serde(default, alias = "preferredName")]
    pub preferredname: Option<CustomerField>,
    #[serde(default)]
    pub email: Option<Email>,
    #[serde(default, alias = "phoneNumber")]
    pub phonenumber: Option<Phone>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct StartMessage {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, alias = "displayName")]
    pub displayname: Option<ShortText>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct CreateIn {
    #[serde(default, alias = "customerContext")]
    pub customercontext: Option<CustomerContext>,
    /// Up to 100 variables: name → `{isDisplayable, value}`.
    #[serde(default, alias = "conversationContext")]
    #[schema(value_type = Object)]
    pub conversationcontext: Option<serde_json::Map<String, Value>>,
    /// Makes the call idempotent: the same id returns the first answer.
    #[serde(default, alias = "conversationRequestId")]
    pub conversationrequestid: Option<ShortText>,
    /// Only used when a new conversation starts.
    #[serde(default, alias = "startMessage")]
    pub startmessage: Option<StartMessage>,
    /// Route straight to people. Switchboard has no deflection bot yet, so this changes nothing today.
    #[serde(default, alias = "skipDeflectionBot")]
    pub skipdeflectionbot: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateOut {
    pub conversation_id: ConversationId,
    pub is_new: bool,
    /// Epoch milliseconds of the start message, when one was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

/// An authenticated customer's token, checked against the channel's key; its subject is the customer id.
async fn customer_subject(app: &AppState, channel: &Channel, token: &str) -> Result<String, Error> {
    let unauthenticated = |detail: &str| Error::field(Code::Unauthenticated, "authenticatedusertoken", detail);
    let keys: &CustomerTokenKeys = channel
        .settings
        .customer_token
        .as_ref()
        .ok_or_else(|| unauthenticated("this channel has no key for customer tokens (settings.customer_token)"))?;
    let header = jsonwebtoken::decode_header(token).map_err(|_| unauthenticated("the customer token is malformed"))?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256 | Algorithm::PS256 | Algorithm::EdDSA) {
        return Err(unauthenticated("the customer token must be signed with RS256, PS256, ES256 or EdDSA"));
    }
    let key = match (&keys.public_key_pem, &keys.jwks_url) {
        (Some(pem), _) => match header.alg {
            Algorithm::ES256 => DecodingKey::from_ec_pem(pem.as_bytes()),
            Algorithm::EdDSA => DecodingKey::from_ed_pem(pem.as_bytes()),
            _ => DecodingKey::from_rsa_pem(pem.as_bytes()),
        }
        .map_err(|_| unauthenticated("the channel's public key does not fit the token's algorithm"))?,
        (None, Some(url)) => app.auth.external.jwks_key(url.as_str(), header.kid.as_deref()).await?,
        (None, None) => return Err(unauthenticated("this channel has no key for customer tokens")),
    };
    let mut validation = Validation::new(header.alg);
    validation.validate_aud = false;
    validation.leeway = 30;
    validation.set_required_spec_claims(&["exp", "sub"]);
    if let Some(iss) = &keys.issuer {
        validation.set_issuer(&[iss.as_str()]);
    }
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map_err(|e| unauthenticated(&format!("the customer token is not valid: {e}")))?
        .claims;
    let sub = claims["sub"].as_str().unwrap_or_default();
    if sub.is_empty() || sub.chars().count() > limits::MAX_CUSTOMER_FIELD {
        return Err(unauthenticated("the customer token's `sub` must be 1 to 200 characters"));
    }
    Ok(sub.to_string())
}

/// Starts a conversation, or returns the customer's active one (`isNew: false`).
#[utoipa::path(post, path = "/api/v1.0/consumer/conversation/create", tag = "messaging-api",
    operation_id = "messaging_api_create_conversation",
    security(("bearer" = [])), request_body = CreateIn,
    params(("channel-id" = String, Header), ("organization-id" = Option<String>, Header),
        ("authenticatedusertoken" = Option<String>, Header, description = "An authenticated customer's JWT"),
        ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CreateOut), (status = 404, description = "Unknown channel")))]
async fn create_conversation(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    headers: HeaderMap,
    ApiJson(input): ApiJson<CreateIn>,
) -> ApiResult<Response> {
    create(app, who, idem, headers, input).await
}

/// The same as `…/conversation/create` (the documentation spells the path both ways).
#[utoipa::path(post, path = "/api/v1.0/consumer/conversations/create", tag = "messaging-api",
    operation_id = "messaging_api_create_conversation_alias",
    security(("bearer" = [])), request_body = CreateIn,
    params(("channel-id" = String, Header), ("organization-id" = Option<String>, Header),
        ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CreateOut)))]
async fn create_conversation_alias(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    headers: HeaderMap,
    ApiJson(input): ApiJson<CreateIn>,
) -> ApiResult<Response> {
    create(app, who, idem, headers, input).await
}

async fn create(
    app: AppState,
    who: Principal,
    idem: IdemKey,
    headers: HeaderMap,
    input: CreateIn,
) -> ApiResult<Response> {
    let Caller { who, channel } = caller(&app, who, &headers).await?;
    let token = headers.get("authenticatedusertoken").and_then(|v| v.to_str().ok()).map(str::trim);
    // Both spellings of the path are one operation; the channel and the customer's token are part of the request.
    let idem_key = idem.scoped(&who, "POST /api/v1.0/consumer/conversation/create", &(channel.id, token, &input));
    let ctx = input.customercontext.unwrap_or_default();
    let mut customer = CustomerIn {
        customer_id: ctx.customerid,
        first_name: ctx.firstname,
        last_name: ctx.lastname,
        preferred_name: ctx.preferredname,
        email: ctx.email,
        phone: ctx.phonenumber,
    };
    if let Some(token) = token {
        // The token's subject is who the customer is, whatever the body says.
        let sub = customer_subject(&app, &channel, token).await?;
        customer.customer_id = Some(CustomerField::from_stored(sub));
    }
    let context = match &input.conversationcontext {
        Some(map) => channels::ingest::context_of(compat_context(map, "conversationcontext")?),
        None => ContextMap::default(),
    };
    let start_message = match input.startmessage {
        Some(StartMessage { message: Some(text), displayname }) if !text.is_empty() => {
            if text.len() > MAX_START_MESSAGE_BYTES {
                return Err(Error::field(
                    Code::MessageTooLong,
                    "startmessage.message",
                    format!("the start message is {} bytes; at most {MAX_START_MESSAGE_BYTES}", text.len()),
                )
                .into());
            }
            Some(NewMessage {
                sender_kind: SenderKind::Customer,
                sender_id: customer.customer_id.as_ref().map(|c| c.as_str().to_string()),
                sender_name: displayname.map(ShortText::into_inner),
                text: Some(text),
                attachments: Vec::new(),
                automated: false,
                template: None,
            })
        }
        _ => None,
    };
    let org = who.org_id;
    let request_id = input.conversationrequestid.map(|id| IdempotencyKey {
        principal: format!("channel:{}", channel.id),
        key: format!("create:{}", id.as_str()),
        // A repeated request id always answers with the first result (§1.4), whatever the body.
        fingerprint: String::new(),
    });
    let new = NewConversation {
        channel_id: channel.id,
        key: None,
        customer,
        contact_id: None,
        context,
        subject: None,
        priority: 0,
        start_message,
    };
    let now = app.clock.now();
    let out = app
        .store
        .write_once_identified(org, idem_key, request_id, now, move |tx| {
            let created = conversations::create(tx, org, new, now)?;
            body(
                StatusCode::OK,
                CreateOut {
                    conversation_id: created.conversation.id,
                    is_new: created.is_new,
                    message_id: created.start_message.map(|m| m.created_at.millis().to_string()),
                },
            )
        })
        .await?;
    Ok(Written(out).into_response())
}

/// A conversation of the caller's channel, or 404 (another channel's or tenant's conversation is not found).
async fn conversation_of(app: &AppState, caller: &Caller, raw: &str) -> Result<Conversation, ApiError> {
    let not_found = || Error::not_found(Code::ConversationNotFound);
    let id: ConversationId = raw.parse().map_err(|_| not_found())?;
    let org = caller.who.org_id;
    let conversation = app.store.read(move |tx| conversations::get(tx, org, id)).await?;
    if conversation.channel_id != caller.channel.id {
        return Err(not_found().into());
    }
    Ok(conversation)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendOut {
    /// Epoch milliseconds, strictly increasing per conversation. Absent for `typing`, which is not stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

/// Sends the customer's activity: a message, typing, the end of the conversation, or a custom event whose value
/// updates context variables.
#[utoipa::path(post, path = "/api/v1.0/consumer/conversation/{conversationId}", tag = "messaging-api",
    operation_id = "messaging_api_send_activity",
    security(("bearer" = [])), request_body = ActivityIn,
    params(("conversationId" = String, Path), ("channel-id" = String, Header),
        ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = SendOut), (status = 400), (status = 404), (status = 409)))]
async fn send_activity(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    headers: HeaderMap,
    Path(conversation_id): Path<String>,
    ApiJson(input): ApiJson<ActivityIn>,
) -> ApiResult<Response> {
    let caller = caller(&app, who, &headers).await?;
    let id: ConversationId = conversation_id.parse().map_err(|_| Error::not_found(Code::ConversationNotFound))?;
    let route = "POST /api/v1.0/consumer/conversation/{conversationId}";
    let idempotency = idem.scoped(&caller.who, route, &(caller.channel.id, id, &input));
    let inbound = parse_activity(caller.channel.id, id, input)?;
    let ingest = Ingest { channel: (&caller.channel).into(), idempotency, inbound };
    let out = channels::ingest::ingest(&app, ingest, |_, stored| {
        let out = SendOut { message_id: stored.at.map(|at| at.millis().to_string()) };
        Ok((StatusCode::OK, serde_json::to_value(out).map_err(Error::internal)?))
    })
    .await?;
    Ok(Written(out).into_response())
}

/// Query parameters by name, ignoring case (`PageSize`, `pagesize`).
fn query_params(raw: Option<&str>) -> BTreeMap<String, String> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.to_lowercase(), v.into_owned()))
        .collect()
}

fn page_size(q: &BTreeMap<String, String>, max: usize) -> Result<usize, Error> {
    match q.get("pagesize") {
        None => Ok(DEFAULT_PAGE),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(Error::field(Code::InvalidQuery, "PageSize", format!("`PageSize` must be 1 to {max}"))),
        },
    }
}

fn time_param(q: &BTreeMap<String, String>, name: &str, field: &str) -> Result<Option<Timestamp>, Error> {
    q.get(name)
        .map(|v| {
            Timestamp::parse_rfc3339(v.trim()).ok_or_else(|| {
                Error::field(Code::InvalidQuery, field, format!("`{field}` must be an ISO 8601 date-time with offset"))
            })
        })
        .transpose()
}

/// A transcript entry in the documented shape.
fn transcript_entry(m: &Message) -> Value {
    json!({
        "type": "message",
        "messageId": m.created_at.millis().to_string(),
        "timestamp": m.created_at,
        // The documented transcript always carries `text` as a string; a message of attachments only has none.
        "text": m.text.as_deref().unwrap_or_default(),
        "attachments": m.attachments.iter().map(|a| json!({
            "contentType": a.content_type, "contentUrl": a.url, "name": a.name
        })).collect::<Vec<_>>(),
        "from": { "id": m.sender.id, "name": m.sender.name, "role": m.sender.kind },
        "channelData": if m.automated { json!({ "messagingapi-oc": { "type": "AutomatedMessage" } }) } else { json!({}) },
    })
}

/// The transcript, oldest first, paged by time.
#[utoipa::path(get, path = "/api/v1.0/consumer/conversation/{conversationId}/messages", tag = "messaging-api",
    operation_id = "messaging_api_list_messages",
    security(("bearer" = [])),
    params(("conversationId" = String, Path), ("channel-id" = String, Header),
        ("StartTimeStamp" = Option<String>, Query), ("PageSize" = Option<usize>, Query, description = "1 to 100"),
        ("ContinuationToken" = Option<String>, Query)),
    responses((status = 200, body = Object), (status = 404)))]
async fn list_messages(
    State(app): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    Path(conversation_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let caller = caller(&app, who, &headers).await?;
    let q = query_params(raw.as_deref());
    let size = page_size(&q, MAX_MESSAGES_PAGE)?;
    let start = time_param(&q, "starttimestamp", "StartTimeStamp")?;
    let token = time_param(&q, "continuationtoken", "ContinuationToken")?;
    let conversation = conversation_of(&app, &caller, &conversation_id).await?;
    let (org, id) = (caller.who.org_id, conversation.id);
    // StartTimeStamp includes messages at that instant; a continuation token continues after its message.
    let after = match (token, start) {
        (Some(t), _) => t,
        (None, Some(s)) => s.plus_millis(-1),
        (None, None) => Timestamp::from_millis(0),
    };
    let rows = app
        .store
        .read(move |tx| events::entries_since(tx, org, id, EventType::MessageCreated, after, size + 1))
        .await?;
    let mut messages: Vec<Message> = rows.iter().map(|r| r.json(0)).collect::<Result<_, _>>()?;
    let more = messages.len() > size;
    messages.truncate(size);
    for m in &mut messages {
        app.links.sign_attachments(&mut m.attachments);
    }
    let continuation = if more { messages.last().map(|m| m.created_at.to_string()) } else { None };
    Ok(Json(json!({
        "messages": messages.iter().map(transcript_entry).collect::<Vec<_>>(),
        "continuationToken": continuation,
    })))
}

/// The conversation's context variables (an empty array when there are none).
#[utoipa::path(get, path = "/api/v1.0/consumer/conversation/{conversationId}/context", tag = "messaging-api",
    operation_id = "messaging_api_get_context",
    security(("bearer" = [])), params(("conversationId" = String, Path), ("channel-id" = String, Header)),
    responses((status = 200, body = Object), (status = 404)))]
async fn get_context(
    State(app): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    Path(conversation_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&app, who, &headers).await?;
    let conversation = conversation_of(&app, &caller, &conversation_id).await?;
    let (org, id) = (caller.who.org_id, conversation.id);
    let variables = app.store.read(move |tx| conversations::context(tx, org, id)).await?;
    Ok(Json(Value::Array(
        variables
            .into_iter()
            .map(|v| json!({ "name": v.name, "value": v.value, "isDisplayable": v.displayable }))
            .collect(),
    )))
}

/// The channel's active conversations (Open, Active and Waiting; not Wrap-up or Closed), oldest first.
#[utoipa::path(get, path = "/api/v1.0/consumer/conversations", tag = "messaging-api",
    operation_id = "messaging_api_list_conversations", security(("bearer" = [])),
    params(("channel-id" = String, Header), ("StartTimeStamp" = Option<String>, Query),
        ("PageSize" = Option<usize>, Query, description = "1 to 250"), ("ContinuationToken" = Option<String>, Query)),
    responses((status = 200, body = Object)))]
async fn list_conversations(
    State(app): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let caller = caller(&app, who, &headers).await?;
    let q = query_params(raw.as_deref());
    let size = page_size(&q, MAX_CONVERSATIONS_PAGE)?;
    let start = time_param(&q, "starttimestamp", "StartTimeStamp")?.unwrap_or(Timestamp::from_millis(0));
    let after = q
        .get("continuationtoken")
        .map(|t| {
            t.trim().parse::<ConversationId>().map_err(|_| {
                Error::field(Code::InvalidCursor, "ContinuationToken", "this token was not issued by this list")
            })
        })
        .transpose()?;
    let (org, channel) = (caller.who.org_id, caller.channel.id);
    let mut list =
        app.store.read(move |tx| conversations::list_live_on_channel(tx, org, channel, start, after, size + 1)).await?;
    let more = list.len() > size;
    list.truncate(size);
    let token = if more { list.last().map(|(id, _)| id.to_string()) } else { None };
    Ok(Json(json!({
        "conversations": list.iter().map(|(id, at)| json!({ "conversationid": id, "timestamp": at })).collect::<Vec<_>>(),
        "continuationtoken": token,
    })))
}
