//! Direct Line 3.0 for `direct_line` channels: the API Azure's Bot Service offers its web clients, served here so
//! that the unmodified `botframework-directlinejs` client (and Bot Framework Web Chat) talks to Switchboard's
//! agents. A client authenticates with one of the channel's two secrets, or with a token minted from one (30
//! minutes, one conversation); the conversation's log is its activities, its event sequence the watermark. See
//! docs/direct-line.md.

mod activities;
mod secrets;
mod stream;

use axum::{
    Json,
    body::Bytes,
    extract::{FromRequestParts, Multipart, Path, Query, State},
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use switchboard_channels::{
    direct_line::{self as parser, Posted},
    inbound::{Act, Attachment as InboundAttachment},
};
use switchboard_domain::{
    Code, Error,
    contact::CustomerIn,
    ids::{ChannelId, ConversationId, OrgId},
    setup::ChannelType,
    text::{CustomerField, field_error},
};
use switchboard_store::{
    conversations::{self, NewConversation},
    direct_line as store,
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use self::{
    secrets::{DirectLineSecrets, NewSecrets},
    stream::Sockets,
};
use crate::{
    AppState,
    attachments::{Upload, decode_embedded},
    auth::secrets as credentials,
    channels::ingest::{Ingest, On, ingest},
    error::ApiError,
    extract::Written,
};

/// The audience of Direct Line tokens: they open the Direct Line endpoints of one conversation, nothing else.
const TOKEN_AUDIENCE: &str = "switchboard-directline";
/// How long a token works, as Azure's: 30 minutes; the client refreshes it every 15.
pub const TOKEN_SECONDS: i64 = 30 * 60;
/// The largest upload body: the largest file a workstream may accept, and room for the multipart framing and the
/// activity part. Each file is then held to its workstream's own limit.
const MAX_UPLOAD_BODY_BYTES: usize =
    switchboard_domain::setup::AttachmentPolicy::MAX_BYTES_LIMIT as usize + parser::MAX_ACTIVITY_BYTES + 64 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    let uploads =
        OpenApiRouter::new().routes(routes!(upload)).layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD_BODY_BYTES));
    OpenApiRouter::new()
        .routes(routes!(generate_token))
        .routes(routes!(refresh_token))
        .routes(routes!(start_conversation))
        .routes(routes!(get_conversation))
        .routes(routes!(post_activity, get_activities))
        .routes(routes!(stream::stream))
        .merge(uploads)
        .merge(secrets::router())
}

/// How long a browser may reuse a preflight answer.
const CORS_MAX_AGE_SECONDS: u64 = 600;

/// Web Chat runs on the organization's own site and calls Direct Line from there, as it calls Azure's service: any
/// origin may, since every call carries its secret or token and no cookie is read. Only Direct Line's paths, and
/// ahead of routing, since a browser's preflight is an `OPTIONS` no route has; the rest of the API stays closed to
/// other sites.
pub async fn cors(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use tower::{Service as _, ServiceExt as _};
    static CORS: std::sync::LazyLock<tower_http::cors::CorsLayer> = std::sync::LazyLock::new(|| {
        tower_http::cors::CorsLayer::new()
            .allow_origin(tower_http::cors::Any)
            .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
            .allow_headers(tower_http::cors::Any)
            .max_age(std::time::Duration::from_secs(CORS_MAX_AGE_SECONDS))
    });
    if !request.uri().path().starts_with("/v3/directline/") {
        return next.run(request).await;
    }
    let inner = tower::service_fn(move |request| {
        let next = next.clone();
        async move { Ok::<_, std::convert::Infallible>(next.run(request).await) }
    });
    let mut service = tower::Layer::layer(&*CORS, inner);
    match service.ready().await {
        Ok(service) => match service.call(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        Err(never) => match never {},
    }
}

/// An error as the Direct Line service answers it: `{"error": {"code", "message"}}` with its status. An expired
/// token is a 403, which is how the client tells it apart from other refusals.
#[derive(Debug)]
pub struct DlError(pub Error);

impl From<Error> for DlError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl From<ApiError> for DlError {
    fn from(e: ApiError) -> Self {
        Self(e.0)
    }
}

impl IntoResponse for DlError {
    fn into_response(self) -> Response {
        let e = self.0;
        let (status, code) = match e.code {
            Code::Unauthenticated => (StatusCode::UNAUTHORIZED, "BadArgument"),
            Code::TokenExpired => (StatusCode::FORBIDDEN, "TokenExpired"),
            Code::Forbidden | Code::OriginNotAllowed => (StatusCode::FORBIDDEN, "Forbidden"),
            Code::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "MessageSizeTooBig"),
            Code::ConversationClosed => (StatusCode::CONFLICT, "ConversationEnded"),
            Code::Internal | Code::Unavailable => return ApiError(e).into_response(),
            _ if e.code.status() == 404 => (StatusCode::NOT_FOUND, "NotFound"),
            _ if e.code.status() == 429 => (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests"),
            _ if e.code.status() == 400 => (StatusCode::BAD_REQUEST, "BadArgument"),
            _ => return ApiError(e).into_response(),
        };
        tracing::debug!(code = %e.code, detail = %e.detail, "direct line request refused");
        let body = serde_json::json!({ "error": { "code": code, "message": e.detail } });
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

type DlResult<T> = Result<T, DlError>;

/// What a Direct Line token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenClaims {
    iss: String,
    aud: String,
    /// The conversation.
    sub: String,
    org: String,
    channel: String,
    /// The user the token was issued for (`user.id` on generate); the client reads it back from the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    iat: i64,
    exp: i64,
}

/// What a caller may act on: one conversation of one channel, as its customer (the token's user, if it names one).
#[derive(Debug, Clone)]
pub struct Grant {
    pub org: OrgId,
    pub channel: ChannelId,
    pub conversation: ConversationId,
    pub user: Option<String>,
    pub name: Option<String>,
}

/// Who calls: a channel by its secret, or the holder of a token for one conversation.
pub enum Caller {
    Secret { org: OrgId, channel: ChannelId },
    Token(Grant),
}

fn forbidden(detail: &str) -> Error {
    Error::new(Code::Forbidden, detail)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = DlError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, DlError> {
        let auth = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let credential = auth
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Error::new(Code::Unauthenticated, "send `Authorization: Bearer <secret or token>`"))?;
        // A token is a JWT (three dot-separated parts); a secret never has a dot.
        if credential.contains('.') {
            return Ok(Caller::Token(verify_token(app, credential)?));
        }
        let hash = credentials::hash(credential);
        let found = app.store.read(move |tx| store::channel_by_secret(tx, &hash)).await?;
        let (org, channel) = found.ok_or_else(|| forbidden("the secret is not one of a Direct Line channel's"))?;
        Ok(Caller::Secret { org, channel })
    }
}

/// This node's Direct Line state: its open streams, and the tokens it has verified.
#[derive(Default)]
pub struct DirectLine {
    pub sockets: Sockets,
    verified: Verified,
}

/// Tokens remembered as verified, by their SHA-256, with their grant and expiry: a client sends its one token with
/// every request for half an hour, and checking its ES256 signature each time cost a fifth of the server's time
/// with 2,000 conversations writing.
struct Verified(quick_cache::sync::Cache<[u8; 32], (Grant, i64)>);

impl Default for Verified {
    fn default() -> Self {
        Verified(quick_cache::sync::Cache::new(VERIFIED_CAPACITY))
    }
}

/// Tokens remembered at most (the conversations of a busy node's last half hour).
const VERIFIED_CAPACITY: usize = 50_000;

fn verify_token(app: &AppState, token: &str) -> Result<Grant, Error> {
    use sha2::{Digest, Sha256};
    let now = app.clock.now().millis() / 1000;
    let expired = || Error::new(Code::TokenExpired, "the token has expired; generate a new one with the secret");
    let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    if let Some((grant, exp)) = app.direct_line.verified.0.get(&hash) {
        return if exp <= now { Err(expired()) } else { Ok(grant) };
    }
    let claims: TokenClaims =
        app.auth.signer.verify_for(token, TOKEN_AUDIENCE).map_err(|_| forbidden("the token is not valid here"))?;
    if claims.exp <= now {
        return Err(expired());
    }
    let malformed = || forbidden("the token is not valid here");
    let grant = Grant {
        org: claims.org.parse().map_err(|_| malformed())?,
        channel: claims.channel.parse().map_err(|_| malformed())?,
        conversation: claims.sub.parse().map_err(|_| malformed())?,
        user: claims.user,
        name: claims.name,
    };
    app.direct_line.verified.0.insert(hash, (grant.clone(), claims.exp));
    Ok(grant)
}

/// A token for `grant`, and the seconds it works.
fn mint(app: &AppState, grant: &Grant) -> Result<(String, i64), Error> {
    let iat = app.clock.now().millis() / 1000;
    let claims = TokenClaims {
        iss: app.auth.signer.issuer().to_string(),
        aud: TOKEN_AUDIENCE.into(),
        sub: grant.conversation.to_string(),
        org: grant.org.to_string(),
        channel: grant.channel.to_string(),
        user: grant.user.clone(),
        name: grant.name.clone(),
        iat,
        exp: iat + TOKEN_SECONDS,
    };
    Ok((app.auth.signer.sign(&claims)?, TOKEN_SECONDS))
}

impl Caller {
    /// The grant to act on the conversation named in the path: a token's own conversation only; with a secret, a
    /// started conversation of the secret's channel.
    async fn on(&self, app: &AppState, raw: &str) -> Result<Grant, Error> {
        match self {
            Caller::Token(grant) => {
                if raw != grant.conversation.to_string() {
                    return Err(forbidden("the token is for another conversation"));
                }
                let (org, id, channel) = (grant.org, grant.conversation, grant.channel);
                let found = app.store.read(move |tx| conversations::get(tx, org, id)).await?;
                if found.channel_id != channel {
                    return Err(forbidden("the token is for another channel"));
                }
                Ok(grant.clone())
            }
            Caller::Secret { org, channel } => {
                let id: ConversationId =
                    raw.parse().map_err(|_| Error::new(Code::ConversationNotFound, "no conversation has this id"))?;
                let org = *org;
                let found = app.store.read(move |tx| conversations::get(tx, org, id)).await?;
                if found.channel_id != *channel {
                    return Err(forbidden("the conversation is another channel's"));
                }
                Ok(Grant { org, channel: *channel, conversation: id, user: None, name: None })
            }
        }
    }
}

/// `user` as a client gives it.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UserIn {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// The optional body of `tokens/generate` and `conversations`. Other fields the client sends (`locale`,
/// `trustedOrigins`) are accepted and ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ConversationIn {
    #[serde(default)]
    pub user: Option<UserIn>,
}

fn conversation_in(body: &Bytes) -> Result<ConversationIn, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ConversationIn::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| Error::new(Code::InvalidJson, format!("the body is not a valid conversation request: {e}")))
}

/// The user a body names, checked: a client may not claim the `dl_` ids Azure reserves for ids inside tokens.
fn user_of(input: ConversationIn) -> Result<(Option<String>, Option<String>), Error> {
    let Some(user) = input.user else { return Ok((None, None)) };
    let id = user.id.filter(|i| !i.trim().is_empty());
    let name = user.name.filter(|n| !n.trim().is_empty());
    for (field, value) in [("user.id", &id), ("user.name", &name)] {
        if value.as_ref().is_some_and(|v| v.chars().count() > parser::MAX_ID) {
            return Err(Error::field(Code::FieldTooLong, field, format!("`{field}` is at most 256 characters")));
        }
    }
    Ok((id, name))
}

/// A conversation as the client is told it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationOut {
    pub conversation_id: String,
    pub token: String,
    /// Seconds the token works (snake_case, as the service writes it).
    #[serde(rename = "expires_in")]
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_url: Option<String>,
}

/// Mints a token for a conversation that starts when the client starts it (`POST conversations` with this token).
/// Nothing is created yet; the conversation's id is fixed now.
#[utoipa::path(post, path = "/v3/directline/tokens/generate", operation_id = "direct_line_generate_token",
    tag = "direct-line", security(("direct_line" = [])), request_body(content = Option<ConversationIn>),
    responses((status = 200, body = ConversationOut), (status = 400), (status = 401), (status = 403)))]
async fn generate_token(State(app): State<AppState>, caller: Caller, body: Bytes) -> DlResult<Json<ConversationOut>> {
    let Caller::Secret { org, channel } = caller else {
        return Err(forbidden("generate a token with the channel's secret; refresh a token with tokens/refresh").into());
    };
    let (user, name) = user_of(conversation_in(&body)?)?;
    let grant = Grant { org, channel, conversation: ConversationId::new(), user, name };
    let (token, expires_in) = mint(&app, &grant)?;
    Ok(Json(ConversationOut { conversation_id: grant.conversation.to_string(), token, expires_in, stream_url: None }))
}

/// A fresh token for the same conversation, while the current one works.
#[utoipa::path(post, path = "/v3/directline/tokens/refresh", operation_id = "direct_line_refresh_token",
    tag = "direct-line", security(("direct_line" = [])),
    responses((status = 200, body = ConversationOut), (status = 401), (status = 403)))]
async fn refresh_token(State(app): State<AppState>, caller: Caller) -> DlResult<Json<ConversationOut>> {
    let Caller::Token(grant) = caller else {
        return Err(forbidden("refresh a token, not a secret").into());
    };
    let (token, expires_in) = mint(&app, &grant)?;
    Ok(Json(ConversationOut { conversation_id: grant.conversation.to_string(), token, expires_in, stream_url: None }))
}

/// Starts the conversation: with a secret, a new one; with a token, the token's (201), or, if it has started,
/// answers it again (200). Answers a token and the `streamUrl` to receive its activities on.
#[utoipa::path(post, path = "/v3/directline/conversations", operation_id = "direct_line_start_conversation",
    tag = "direct-line", security(("direct_line" = [])), request_body(content = Option<ConversationIn>),
    responses((status = 201, body = ConversationOut), (status = 200, body = ConversationOut), (status = 400),
        (status = 401), (status = 403)))]
async fn start_conversation(State(app): State<AppState>, caller: Caller, body: Bytes) -> DlResult<Response> {
    let input = conversation_in(&body)?;
    let grant = match caller {
        Caller::Secret { org, channel } => {
            let (user, name) = user_of(input)?;
            Grant { org, channel, conversation: ConversationId::new(), user, name }
        }
        Caller::Token(grant) => grant,
    };
    let created = start(&app, &grant).await?;
    let (token, expires_in) = mint(&app, &grant)?;
    let stream_url = Some(stream::url(&app, &grant, 0)?);
    let out = ConversationOut { conversation_id: grant.conversation.to_string(), token, expires_in, stream_url };
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(out)).into_response())
}

/// Creates the grant's conversation unless it exists; true if it was created.
async fn start(app: &AppState, grant: &Grant) -> Result<bool, Error> {
    let (org, id, channel) = (grant.org, grant.conversation, grant.channel);
    let mut customer = CustomerIn::default();
    if let Some(name) = &grant.name {
        customer.preferred_name = Some(CustomerField::parse(name.clone()).map_err(|e| field_error("user.name", &e))?);
    }
    let now = app.clock.now();
    let kind = app.store.read(move |tx| switchboard_store::setup::get_channel(tx, org, channel)).await?.channel_type;
    if kind != ChannelType::DirectLine {
        return Err(forbidden("the channel is no longer a Direct Line channel"));
    }
    let existing = move |of: ChannelId| {
        if of == channel { Ok(false) } else { Err(forbidden("the conversation is another channel's")) }
    };
    let written = app
        .store
        .write(move |tx| {
            match conversations::get(tx, org, id) {
                Ok(found) => return existing(found.channel_id),
                Err(e) if e.code == Code::ConversationNotFound => {}
                Err(e) => return Err(e),
            }
            let new = NewConversation {
                channel_id: channel,
                key: None,
                customer,
                contact_id: None,
                context: Default::default(),
                subject: None,
                priority: 0,
                start_message: None,
            };
            conversations::create_with_id(tx, org, id, new, now).map(|_| true)
        })
        .await;
    match written {
        // Two requests with the same token at once: on PostgreSQL both may look before either creates, and the
        // second's insert meets the first's conversation.
        Err(e) if e.code == Code::AlreadyExists => {
            match app.store.read(move |tx| conversations::get(tx, org, id)).await {
                Ok(found) => existing(found.channel_id),
                Err(_) => Err(e),
            }
        }
        other => other,
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WatermarkQuery {
    /// The last watermark received; empty or absent: from the start.
    pub watermark: Option<String>,
}

/// The watermark a client sent, checked against the conversation's log: a number no greater than its newest event.
async fn watermark(app: &AppState, grant: &Grant, raw: Option<&str>) -> Result<i64, Error> {
    let raw = raw.map(str::trim).filter(|w| !w.is_empty() && *w != "null" && *w != "undefined");
    let Some(raw) = raw else { return Ok(0) };
    let at: i64 =
        raw.parse().ok().filter(|w| *w >= 0).ok_or_else(|| {
            Error::field(Code::InvalidQuery, "watermark", "the watermark is a number this server gave")
        })?;
    let id = grant.conversation;
    let newest = app.store.read(move |tx| store::last_seq(tx, id)).await?;
    if at > newest {
        return Err(Error::field(
            Code::WatermarkAhead,
            "watermark",
            format!("the conversation has no watermark {at} yet (the newest is {newest})"),
        ));
    }
    Ok(at)
}

/// The conversation again, with a fresh token and `streamUrl` (the client calls this to reconnect its WebSocket);
/// the stream starts after `watermark`.
#[utoipa::path(get, path = "/v3/directline/conversations/{id}", operation_id = "direct_line_get_conversation",
    tag = "direct-line", security(("direct_line" = [])), params(("id" = String, Path), WatermarkQuery),
    responses((status = 200, body = ConversationOut), (status = 400), (status = 401), (status = 403),
        (status = 404)))]
async fn get_conversation(
    State(app): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    Query(query): Query<WatermarkQuery>,
) -> DlResult<Json<ConversationOut>> {
    let grant = caller.on(&app, &raw).await?;
    let at = watermark(&app, &grant, query.watermark.as_deref()).await?;
    let (token, expires_in) = mint(&app, &grant)?;
    let stream_url = Some(stream::url(&app, &grant, at)?);
    Ok(Json(ConversationOut { conversation_id: grant.conversation.to_string(), token, expires_in, stream_url }))
}

/// The id the service answers for a posted activity.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ResourceResponse {
    pub id: String,
}

/// The id of the activity at `seq` of the conversation, as Azure's service writes them.
pub fn activity_id(conversation: ConversationId, seq: i64) -> String {
    format!("{conversation}|{seq:07}")
}

/// Posts the customer's activity: a message, typing, endOfConversation or an event (context variables).
/// `from.id` is required. An activity whose `id` (or Web Chat's `channelData.clientActivityID`) was already posted
/// is stored once and answered as the first time.
#[utoipa::path(post, path = "/v3/directline/conversations/{id}/activities", operation_id = "direct_line_post_activity",
    tag = "direct-line", security(("direct_line" = [])), params(("id" = String, Path)),
    request_body(content = Object, description = "A Bot Framework activity"),
    responses((status = 200, body = ResourceResponse), (status = 400), (status = 401), (status = 403),
        (status = 404), (status = 409, description = "`ConversationEnded`")))]
async fn post_activity(
    State(app): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    body: Bytes,
) -> DlResult<Response> {
    let grant = caller.on(&app, &raw).await?;
    let posted = parser::parse(&raw, &body, grant.user.as_deref(), false)?;
    let out = inbound(&app, &grant, posted, Vec::new()).await?;
    Ok(Written(out).into_response())
}

/// One part of an upload, kept until the whole body is read.
struct Part {
    name: String,
    content_type: Option<String>,
    file_name: Option<String>,
    bytes: Bytes,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct UploadQuery {
    /// The sender (`from.id` of the message the files make).
    pub user_id: Option<String>,
}

/// The customer sends files: `multipart/form-data` with a part per file and, optionally, an `activity` part (the
/// message they belong to, JSON). Each file is checked against the workstream's attachment policy (size, types).
#[utoipa::path(post, path = "/v3/directline/conversations/{id}/upload", operation_id = "direct_line_upload",
    tag = "direct-line", security(("direct_line" = [])), params(("id" = String, Path), UploadQuery),
    request_body(content = Vec<u8>, content_type = "multipart/form-data"),
    responses((status = 200, body = ResourceResponse),
        (status = 400, description = "`BadArgument`: not multipart, no file, a type the workstream refuses"),
        (status = 401), (status = 403), (status = 404),
        (status = 413, description = "`MessageSizeTooBig`: a file larger than the workstream accepts")))]
async fn upload(
    State(app): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    Query(query): Query<UploadQuery>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> DlResult<Response> {
    let grant = caller.on(&app, &raw).await?;
    let mut multipart =
        multipart.map_err(|e| Error::new(Code::InvalidBody, format!("send the files as multipart/form-data: {e}")))?;
    let mut parts = Vec::new();
    loop {
        let field = multipart.next_field().await.map_err(multipart_error)?;
        let Some(field) = field else { break };
        let name = field.name().unwrap_or_default().to_string();
        let content_type = field.content_type().map(str::to_string);
        let file_name = field.file_name().map(str::to_string);
        let bytes = field.bytes().await.map_err(multipart_error)?;
        parts.push(Part { name, content_type, file_name, bytes });
    }
    let user = query.user_id.filter(|u| !u.trim().is_empty());
    let activity = parts
        .iter()
        .position(|p| p.name == "activity" || p.content_type.as_deref() == Some("application/vnd.microsoft.activity"));
    let activity = activity.map(|i| parts.remove(i));
    let posted = match activity {
        Some(part) => parser::parse(&raw, &part.bytes, grant.user.as_deref(), true)?,
        None => {
            let from = user.clone().or_else(|| grant.user.clone()).ok_or_else(|| {
                Error::field(Code::MissingField, "userId", "name the sender with `?userId=` or an `activity` part")
            })?;
            let body = serde_json::json!({ "type": "message", "from": { "id": from } });
            parser::parse(&raw, body.to_string().as_bytes(), grant.user.as_deref(), true)?
        }
    };
    if user.is_some_and(|u| posted.inbound.sender_id.as_deref() != Some(u.as_str())) {
        return Err(Error::field(Code::InvalidField, "userId", "`userId` is not the activity's `from.id`").into());
    }
    if !matches!(posted.inbound.act, Act::Message { .. }) {
        return Err(Error::field(Code::InvalidField, "activity.type", "an upload's activity is a message").into());
    }
    let uploads: Vec<Upload> = parts
        .into_iter()
        .map(|p| Upload {
            content_type: p.content_type.unwrap_or_else(|| "application/octet-stream".into()),
            name: p.file_name,
            bytes: p.bytes.to_vec(),
        })
        .collect();
    if uploads.is_empty() {
        return Err(Error::field(Code::MissingField, "file", "an upload needs at least one file part").into());
    }
    let out = inbound(&app, &grant, posted, uploads).await?;
    Ok(Written(out).into_response())
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> Error {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::new(Code::PayloadTooLarge, "the upload is larger than the server accepts")
    } else {
        Error::new(Code::InvalidBody, format!("the multipart body is malformed: {}", e.body_text()))
    }
}

/// Stores what the customer's client posted: the one place Direct Line's inbound path writes, so that it moves onto
/// the shared ingest service as a whole. `uploads` are the files of an upload, kept before the message that refers to
/// them. Answers the activity's `{id}`; a repeated `provider_message_id` answers what the first answered.
pub async fn inbound(
    app: &AppState,
    grant: &Grant,
    posted: Posted,
    uploads: Vec<Upload>,
) -> Result<switchboard_store::Outcome<serde_json::Value>, Error> {
    let Posted { mut inbound, client_activity_id } = posted;
    let id = grant.conversation;
    match &mut inbound.act {
        Act::Escalate { .. } => {
            return Err(Error::field(Code::InvalidField, "type", "a customer does not escalate"));
        }
        Act::Message { attachments, .. } => {
            // A `data:` URL carries the file itself: it is kept like an uploaded one.
            for (i, a) in attachments.iter_mut().enumerate() {
                if let InboundAttachment::Link { content_type, url, name } = a
                    && let Some(decoded) = decode_embedded(url, content_type)
                {
                    let (content_type, bytes) =
                        decoded.map_err(|e| field_error(&format!("attachments[{i}].contentUrl"), &e))?;
                    *a = InboundAttachment::Embedded { content_type, name: name.take(), bytes };
                }
            }
            attachments.extend(uploads.into_iter().map(|u| InboundAttachment::Embedded {
                content_type: u.content_type,
                name: u.name,
                bytes: u.bytes,
            }));
        }
        _ => {}
    }
    let on = On { org: grant.org, channel: grant.channel };
    ingest(app, Ingest { channel: on, idempotency: None, inbound }, move |tx, stored| {
        // The activity's id is its place in the conversation's log: the message's, or the newest event's.
        let seq = match &stored.message {
            Some(m) => {
                if let Some(client) = &client_activity_id {
                    store::record_client_activity(tx, id, m.sequence, client)?;
                }
                m.sequence
            }
            None => store::last_seq(tx, id)?,
        };
        let body = serde_json::to_value(ResourceResponse { id: activity_id(id, seq) }).map_err(Error::internal)?;
        Ok((StatusCode::OK, body))
    })
    .await
}

/// Activities the client is given per request at most; it asks again from the watermark for the rest.
const PAGE: usize = 500;

/// The ActivitySet a client polls for.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivitySet {
    #[schema(value_type = Vec<Object>)]
    pub activities: Vec<serde_json::Value>,
    pub watermark: String,
}

/// The conversation's activities after `watermark`: the customer's own messages, the agents' and the system's, and
/// its end; never typing (that is on the stream only).
#[utoipa::path(get, path = "/v3/directline/conversations/{id}/activities", operation_id = "direct_line_get_activities",
    tag = "direct-line", security(("direct_line" = [])), params(("id" = String, Path), WatermarkQuery),
    responses((status = 200, body = ActivitySet), (status = 400, description = "`BadArgument`: a watermark ahead of \
        the conversation"), (status = 401), (status = 403), (status = 404)))]
async fn get_activities(
    State(app): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    Query(query): Query<WatermarkQuery>,
) -> DlResult<Json<ActivitySet>> {
    let grant = caller.on(&app, &raw).await?;
    let at = watermark(&app, &grant, query.watermark.as_deref()).await?;
    let mut render = activities::Renderer::new(&grant, app.links.clone());
    Ok(Json(activities::after(&app, &grant, at, PAGE, &mut render).await?))
}
