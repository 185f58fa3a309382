//! The customer chat: what the chat page (`/chat/{channel}`, see `workspace::chat`) calls for a customer of a
//! `live_chat` channel. The customer is not a user: starting a chat (no credentials; limited per client address)
//! answers a chat token, signed by this server, for that one conversation, which every other call carries as
//! `Authorization: Bearer`, or as a WebSocket subprotocol on the stream. See docs/chat.md.

use std::{collections::BTreeMap, net::SocketAddr};

use axum::{
    Extension, Json,
    extract::{
        ConnectInfo, FromRequestParts, Path, Query, State,
        ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use switchboard_domain::{
    Code, Error, Timestamp,
    contact::CustomerIn,
    context::{ContextMap, ContextValue, ContextVariableIn, VariableName},
    conversation::{Action, ConversationState},
    ids::{ChannelId, ConversationId, OrgId},
    message::{Attachment, SenderKind},
    record::Message,
    setup::{ChannelType, PreChatField},
    text::{CustomerField, Email, MessageText, ShortText, VariableValue, field_error},
};
use switchboard_store::{
    conversations::{self, ActionRequest, Actor, NewConversation},
    model::{Channel, Page},
    setup,
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use switchboard_channels::inbound::{self, Act, Inbound, Thread};
use switchboard_store::Outcome;

use crate::{
    AppState,
    api::conversations::MAX_FILE_BODY_BYTES,
    attachments::Links,
    channels::ingest::{Ingest, On, ingest},
    error::{ApiError, ApiResult},
    extract::Written,
    extract::{ApiFile, ApiJson, ApiQuery, PageQuery, path_id},
};

/// The audience of chat tokens: they open the chat endpoints of one conversation, and nothing of the API.
const CHAT_AUDIENCE: &str = "switchboard-chat";
/// How long a chat token works: a day, longer than any chat, short enough that a token left in a browser dies.
const CHAT_TOKEN_SECONDS: i64 = 24 * 60 * 60;
/// Messages a transcript holds at most.
const MAX_TRANSCRIPT: usize = 10_000;

pub fn router() -> OpenApiRouter<AppState> {
    let uploads =
        OpenApiRouter::new().routes(routes!(upload)).layer(axum::extract::DefaultBodyLimit::max(MAX_FILE_BODY_BYTES));
    OpenApiRouter::new()
        .routes(routes!(chat_form))
        .routes(routes!(start))
        .routes(routes!(get_chat))
        .routes(routes!(send_message, list_messages))
        .routes(routes!(typing))
        .routes(routes!(queue_position))
        .routes(routes!(end))
        .routes(routes!(transcript))
        .routes(routes!(stream))
        .merge(uploads)
}

/// What a chat token says.
#[derive(Debug, Serialize, Deserialize)]
struct ChatClaims {
    iss: String,
    aud: String,
    /// The conversation.
    sub: String,
    org: String,
    channel: String,
    iat: i64,
    exp: i64,
}

/// A live chat channel by id, whichever organization has it; any other channel is not found.
pub(crate) async fn live_chat_channel(app: &AppState, raw: &str) -> Result<Channel, ApiError> {
    let id: ChannelId = path_id(raw, Code::ChannelNotFound)?;
    let channel = app.store.read(move |tx| setup::find_channel(tx, id)).await?;
    if channel.channel_type != ChannelType::LiveChat {
        return Err(Error::not_found(Code::ChannelNotFound).into());
    }
    Ok(channel)
}

/// Refuses a browser's request made from a page of a site the channel does not list. The chat page itself is
/// ours (same origin); a site listed in `allowed_origins` may call from its own pages too. A request with no
/// `Origin` is not a browser's cross-site request (browsers send it on every cross-origin request and on every
/// WebSocket), so it is let through: the chat token is what authorizes it.
fn check_origin(app: &AppState, headers: &HeaderMap, channel: &Channel) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().unwrap_or_default().trim_end_matches('/');
    let ours = app.stream.origins.iter().any(|o| o.eq_ignore_ascii_case(origin));
    let listed = channel.settings.allowed_origins.iter().any(|o| o.as_str().eq_ignore_ascii_case(origin));
    if ours || listed {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::OriginNotAllowed,
            format!("the origin `{origin}` is not in this channel's allowed_origins"),
        ))
    }
}

/// The customer of one conversation, by their chat token (`Authorization: Bearer`, or on the stream's WebSocket
/// the subprotocol after `switchboard.chat`), from an origin the channel allows.
pub struct Customer {
    org: OrgId,
    conversation: ConversationId,
    channel: ChannelId,
}

fn bearer(parts: &Parts) -> Option<String> {
    let auth = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if let Some(token) = auth.and_then(|h| h.strip_prefix("Bearer ")) {
        return Some(token.trim().to_string());
    }
    // Browsers cannot set headers on a WebSocket; the page offers `switchboard.chat, <token>` as subprotocols.
    let protocols = parts.headers.get(header::SEC_WEBSOCKET_PROTOCOL).and_then(|v| v.to_str().ok())?;
    let mut offered = protocols.split(',').map(str::trim);
    offered.find(|p| *p == crate::stream::CHAT_PROTOCOL)?;
    offered.next().map(str::to_string)
}

impl FromRequestParts<AppState> for Customer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(|| {
            ApiError::new(Code::Unauthenticated, "send the chat token as `Authorization: Bearer <token>`")
        })?;
        let claims: ChatClaims = app.auth.signer.verify_for(&token, CHAT_AUDIENCE)?;
        if claims.exp <= app.clock.now().millis() / 1000 {
            return Err(ApiError::new(Code::TokenExpired, "the chat token has expired; start a new chat"));
        }
        let malformed = || ApiError::new(Code::Unauthenticated, "the chat token is invalid");
        let org: OrgId = claims.org.parse().map_err(|_| malformed())?;
        let conversation: ConversationId = claims.sub.parse().map_err(|_| malformed())?;
        let channel: ChannelId = claims.channel.parse().map_err(|_| malformed())?;
        let found = app.store.read(move |tx| setup::get_channel(tx, org, channel)).await?;
        check_origin(app, &parts.headers, &found)?;
        Ok(Customer { org, conversation, channel })
    }
}

impl Customer {
    /// The conversation named by the path, if it is the token's; any other is not found.
    fn owns(&self, raw: &str) -> Result<ConversationId, ApiError> {
        let id: ConversationId = path_id(raw, Code::ConversationNotFound)?;
        if id == self.conversation { Ok(id) } else { Err(Error::not_found(Code::ConversationNotFound).into()) }
    }
}

/// What the chat page asks before a chat.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatForm {
    pub channel_id: ChannelId,
    pub name: String,
    pub pre_chat_fields: Vec<PreChatField>,
}

/// The chat's pre-chat form: the channel's questions. No credentials.
#[utoipa::path(get, path = "/v1/chat/{channel}", operation_id = "chat_form", tag = "chat", params(("channel" = String, Path)),
    responses((status = 200, body = ChatForm), (status = 403, description = "`origin_not_allowed`"),
        (status = 404, description = "`channel_not_found`: no live_chat channel has this id")))]
async fn chat_form(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> ApiResult<Json<ChatForm>> {
    let channel = live_chat_channel(&app, &raw).await?;
    check_origin(&app, &headers, &channel)?;
    Ok(Json(ChatForm {
        channel_id: channel.id,
        name: channel.name.clone(),
        pre_chat_fields: channel.settings.pre_chat_fields.clone(),
    }))
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatStartIn {
    /// The pre-chat form's answers by key (`name`, `email`, or a question's key).
    #[serde(default)]
    pub answers: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatStarted {
    pub conversation_id: ConversationId,
    /// The chat token: `Authorization: Bearer <token>` on the chat endpoints of this conversation.
    pub token: String,
    pub expires_at: Timestamp,
}

/// What the pre-chat answers fill in.
#[derive(Default)]
struct Answers {
    customer: CustomerIn,
    subject: Option<String>,
    context: ContextMap,
}

/// The answers as the customer, the subject and the conversation's context: each checked as the field it fills.
fn answers(fields: &[PreChatField], mut given: BTreeMap<String, String>) -> Result<Answers, Error> {
    let mut out = Answers::default();
    for field in fields {
        let key = field.key.as_str();
        let path = format!("answers.{key}");
        let answer = given.remove(key).map(|a| a.trim().to_string()).filter(|a| !a.is_empty());
        let Some(answer) = answer else {
            if field.required {
                return Err(Error::field(Code::MissingField, path, format!("`{}` must be answered", field.label)));
            }
            continue;
        };
        match key {
            PreChatField::NAME => {
                out.customer.preferred_name = Some(CustomerField::parse(answer).map_err(|e| field_error(&path, &e))?);
            }
            PreChatField::EMAIL => {
                out.customer.email = Some(Email::parse(answer).map_err(|e| field_error(&path, &e))?);
            }
            PreChatField::SUBJECT => {
                out.subject = Some(ShortText::parse(answer).map_err(|e| field_error(&path, &e))?.into_inner());
            }
            _ => {
                let value = VariableValue::parse(answer).map_err(|e| field_error(&path, &e))?;
                let name = VariableName::parse(key.to_string()).map_err(|e| field_error(&path, &e))?;
                out.context.0.insert(name, ContextVariableIn { value: ContextValue::Text(value), displayable: true });
            }
        }
    }
    if let Some(extra) = given.keys().next() {
        return Err(Error::field(
            Code::UnknownField,
            format!("answers.{extra}"),
            format!("the pre-chat form has no question `{extra}`"),
        ));
    }
    Ok(out)
}

/// Starts a chat on a live_chat channel: checks the pre-chat answers, starts the conversation (routed as every
/// other), and answers the chat token. No credentials; at most 20 chats per client address in 10 minutes.
#[utoipa::path(post, path = "/v1/chat/{channel}/conversations", operation_id = "chat_start", tag = "chat", params(("channel" = String, Path)),
    request_body = ChatStartIn,
    responses((status = 201, body = ChatStarted),
        (status = 400, description = "`missing_field`: a required question is not answered; an answer is invalid"),
        (status = 403, description = "`origin_not_allowed`"), (status = 404, description = "`channel_not_found`"),
        (status = 429, description = "`too_many_chats`", headers(("retry-after" = u64)))))]
async fn start(
    State(app): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    ApiJson(input): ApiJson<ChatStartIn>,
) -> ApiResult<Response> {
    let channel = live_chat_channel(&app, &raw).await?;
    check_origin(&app, &headers, &channel)?;
    let Answers { customer, subject, context } = answers(&channel.settings.pre_chat_fields, input.answers)?;
    let now = app.clock.now();
    let address = super::sessions::client(&app, &headers, peer.map(|p| p.0.0), None).address.unwrap_or_default();
    if let Err(seconds) = app.chat_starts.admit(&address, now) {
        let error =
            ApiError::new(Code::TooManyChats, format!("too many chats from this address; retry in {seconds} s"));
        let mut response = error.into_response();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return Ok(response);
    }
    let org = channel.org_id;
    let new = NewConversation {
        channel_id: channel.id,
        key: None,
        customer,
        contact_id: None,
        context,
        subject,
        priority: 0,
        start_message: None,
    };
    let created = app.store.write(move |tx| conversations::create(tx, org, new, now)).await?;
    let id = created.conversation.id;
    let iat = now.millis() / 1000;
    let claims = ChatClaims {
        iss: app.auth.signer.issuer().to_string(),
        aud: CHAT_AUDIENCE.into(),
        sub: id.to_string(),
        org: org.to_string(),
        channel: channel.id.to_string(),
        iat,
        exp: iat + CHAT_TOKEN_SECONDS,
    };
    let token = app.auth.signer.sign(&claims)?;
    let expires_at = Timestamp::from_millis((iat + CHAT_TOKEN_SECONDS) * 1000);
    Ok((StatusCode::CREATED, Json(ChatStarted { conversation_id: id, token, expires_at })).into_response())
}

/// The chat as its customer sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatConversation {
    pub id: ConversationId,
    pub state: ConversationState,
    pub created_at: Timestamp,
}

/// The chat's state (for a page reloaded mid-chat).
#[utoipa::path(get, path = "/v1/chat/conversations/{id}", operation_id = "chat_get_chat", tag = "chat", security(("chat" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ChatConversation), (status = 401), (status = 404)))]
async fn get_chat(
    State(app): State<AppState>,
    who: Customer,
    Path(raw): Path<String>,
) -> ApiResult<Json<ChatConversation>> {
    let (id, org) = (who.owns(&raw)?, who.org);
    let c = app.store.read(move |tx| conversations::get(tx, org, id)).await?;
    Ok(Json(ChatConversation { id: c.id, state: c.state, created_at: c.created_at }))
}

/// A message as the customer is shown it: who wrote it by kind and name (no ids of agents), attachments by
/// signed links.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatMessage {
    pub id: String,
    pub sequence: i64,
    pub sender: ChatSender,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    pub created_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatSender {
    pub kind: SenderKind,
    pub name: String,
}

fn shown(links: &Links, mut m: Message) -> ChatMessage {
    links.sign_attachments(&mut m.attachments);
    ChatMessage {
        id: m.id.to_string(),
        sequence: m.sequence,
        sender: ChatSender { kind: m.sender.kind, name: m.sender.name },
        text: m.text,
        attachments: m.attachments,
        created_at: m.created_at,
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatMessageIn {
    /// Up to 6,000 characters, kept and shown as written (text, never markup).
    pub text: MessageText,
}

/// The customer writes. 201 means it is durably committed.
#[utoipa::path(post, path = "/v1/chat/conversations/{id}/messages", operation_id = "chat_send_message", tag = "chat", security(("chat" = [])),
    params(("id" = String, Path)), request_body = ChatMessageIn,
    responses((status = 201, body = ChatMessage), (status = 400), (status = 401), (status = 404),
        (status = 409, description = "`conversation_closed`")))]
async fn send_message(
    State(app): State<AppState>,
    who: Customer,
    Path(raw): Path<String>,
    ApiJson(input): ApiJson<ChatMessageIn>,
) -> ApiResult<Response> {
    let id = who.owns(&raw)?;
    if input.text.as_str().trim().is_empty() {
        return Err(Error::field(Code::EmptyMessage, "text", "write something").into());
    }
    let act = Act::Message { text: Some(input.text.into_inner()), attachments: Vec::new(), automated: false };
    let out = ingest_message(&app, &who, id, act).await?;
    metrics::counter!("switchboard_messages_total").increment(1);
    Ok(Written(out).into_response())
}

/// The customer's message, through the ingest service every channel uses; answered as the chat shows it.
async fn ingest_message(
    app: &AppState,
    who: &Customer,
    id: ConversationId,
    act: Act,
) -> Result<Outcome<serde_json::Value>, Error> {
    let inbound = Inbound {
        provider_message_id: None,
        thread: Thread::Conversation(id.to_string()),
        customer: CustomerIn::default(),
        sender_id: None,
        sender_name: None,
        act,
        reply_to: None,
    };
    let on = On { org: who.org, channel: who.channel };
    let links = app.links.clone();
    ingest(app, Ingest { channel: on, idempotency: None, inbound }, move |_, stored| {
        let shown = stored.message.map(|m| shown(&links, m));
        Ok((StatusCode::CREATED, serde_json::to_value(shown).map_err(Error::internal)?))
    })
    .await
}

/// The chat's messages in order, paged (`next_cursor`).
#[utoipa::path(get, path = "/v1/chat/conversations/{id}/messages", operation_id = "chat_list_messages", tag = "chat", security(("chat" = [])),
    params(("id" = String, Path), PageQuery),
    responses((status = 200, body = Page<ChatMessage>), (status = 401), (status = 404)))]
async fn list_messages(
    State(app): State<AppState>,
    who: Customer,
    Path(raw): Path<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ChatMessage>>> {
    let (id, org) = (who.owns(&raw)?, who.org);
    let (limit, after) = (page.limit()?, page.position()?);
    let rows = app.store.read(move |tx| conversations::list_messages(tx, org, id, after, limit + 1)).await?;
    let rows = rows.into_iter().map(|m| shown(&app.links, m)).collect();
    Ok(Json(Page::from_rows(rows, limit, |m: &ChatMessage| m.sequence.to_string())))
}

/// The customer is typing: the agents who see the chat are told (a `conversation.typing` signal); nothing is
/// stored.
#[utoipa::path(post, path = "/v1/chat/conversations/{id}/typing", operation_id = "chat_typing", tag = "chat", security(("chat" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 401), (status = 404)))]
async fn typing(State(app): State<AppState>, who: Customer, Path(raw): Path<String>) -> ApiResult<StatusCode> {
    let id = who.owns(&raw)?;
    crate::stream::customer_typing(&app, who.org, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The file's name, as the customer's device called it.
    pub name: Option<String>,
}

/// The customer sends a file: the body is the file, `Content-Type` its type. Checked against the workstream's
/// attachment policy (size and types), kept, and sent as a message of its own.
#[utoipa::path(post, path = "/v1/chat/conversations/{id}/attachments", operation_id = "chat_upload", tag = "chat", security(("chat" = [])),
    params(("id" = String, Path), UploadQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = ChatMessage),
        (status = 400, description = "`missing_field`: no `Content-Type`; `invalid_field`: a type the workstream \
            does not accept; `invalid_body`: an empty file"),
        (status = 401), (status = 404), (status = 409, description = "`conversation_closed`"),
        (status = 413, description = "`payload_too_large`: larger than the workstream accepts")))]
async fn upload(
    State(app): State<AppState>,
    who: Customer,
    Path(raw): Path<String>,
    Query(query): Query<UploadQuery>,
    file: ApiFile,
) -> ApiResult<Response> {
    let id = who.owns(&raw)?;
    let attachment =
        inbound::Attachment::Embedded { content_type: file.content_type, name: query.name, bytes: file.bytes.to_vec() };
    let act = Act::Message { text: None, attachments: vec![attachment], automated: false };
    let out = ingest_message(&app, &who, id, act).await?;
    Ok(Written(out).into_response())
}

/// Where the customer waits.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatQueuePosition {
    /// 1 is next; null when the chat does not wait in a queue.
    pub position: Option<usize>,
    /// How long the customer is likely to wait from now; null when unknown.
    pub estimated_wait_seconds: Option<f64>,
}

/// The customer's place in the queue and estimated wait, as routing has them now.
#[utoipa::path(get, path = "/v1/chat/conversations/{id}/queue-position", operation_id = "chat_queue_position", tag = "chat", security(("chat" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ChatQueuePosition), (status = 401), (status = 404)))]
async fn queue_position(
    State(app): State<AppState>,
    who: Customer,
    Path(raw): Path<String>,
) -> ApiResult<Json<ChatQueuePosition>> {
    let id = who.owns(&raw)?;
    let p = app.routing.position(&app.routing_deps, who.org, id).await?;
    Ok(Json(ChatQueuePosition { position: p.position, estimated_wait_seconds: p.estimated_wait_seconds }))
}

/// The customer ends the chat: a waiting chat closes; one with an agent goes to wrap-up.
#[utoipa::path(post, path = "/v1/chat/conversations/{id}/end", operation_id = "chat_end", tag = "chat", security(("chat" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ChatConversation), (status = 401), (status = 404),
        (status = 409, description = "`invalid_state_transition`: the chat has ended")))]
async fn end(State(app): State<AppState>, who: Customer, Path(raw): Path<String>) -> ApiResult<Json<ChatConversation>> {
    let (id, org) = (who.owns(&raw)?, who.org);
    let now = app.clock.now();
    let c = app
        .store
        .write(move |tx| {
            let actor = Actor { label: "customer".into(), agent: None };
            let request = ActionRequest { action: Action::CustomerEnd, agent_id: None, reason: None };
            conversations::apply(tx, org, id, &actor, request, now)
        })
        .await?;
    Ok(Json(ChatConversation { id: c.id, state: c.state, created_at: c.created_at }))
}

/// The chat's transcript as plain text, one message a line (attachments by name and link), to download.
#[utoipa::path(get, path = "/v1/chat/conversations/{id}/transcript", operation_id = "chat_transcript", tag = "chat", security(("chat" = [])),
    params(("id" = String, Path)),
    responses((status = 200, content_type = "text/plain", body = String), (status = 401), (status = 404)))]
async fn transcript(State(app): State<AppState>, who: Customer, Path(raw): Path<String>) -> ApiResult<Response> {
    let (id, org) = (who.owns(&raw)?, who.org);
    let rows = app.store.read(move |tx| conversations::list_messages(tx, org, id, 0, MAX_TRANSCRIPT)).await?;
    let mut text = String::new();
    for m in rows.into_iter().map(|m| shown(&app.links, m)) {
        let at = m.created_at.to_string();
        let line = m.text.as_deref().unwrap_or_default().replace('\r', "").replace('\n', "\n    ");
        text.push_str(&format!("[{at}] {}: {line}\n", m.sender.name));
        for a in &m.attachments {
            let name = a.name.as_ref().map_or("file", |n| n.as_str());
            text.push_str(&format!("    ({name}: {})\n", a.url.as_str()));
        }
    }
    let disposition = format!("attachment; filename=\"chat-{id}.txt\"");
    let mut response = ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response();
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChatStreamQuery {
    /// The id of the last event received; the events after it are sent first.
    pub after: Option<i64>,
}

/// The chat live, as a WebSocket: the conversation's messages, state changes, queue position and the agents'
/// typing, reshaped for the customer (see docs/chat.md); the customer sends `{"type": "typing",
/// "conversation_id": …}`. A browser cannot set headers on a WebSocket, so the page offers two subprotocols,
/// `switchboard.chat` and the chat token; the server answers `switchboard.chat` (the token never sits in a URL,
/// where logs would keep it).
#[utoipa::path(get, path = "/v1/chat/conversations/{id}/stream", operation_id = "chat_stream", tag = "chat", security(("chat" = [])),
    params(("id" = String, Path), ChatStreamQuery),
    responses((status = 101, description = "Switching to the WebSocket protocol"), (status = 401), (status = 403),
        (status = 404)))]
async fn stream(
    State(app): State<AppState>,
    who: Customer,
    Path(raw): Path<String>,
    Query(query): Query<ChatStreamQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let id = who.owns(&raw)?;
    let ws = ws.map_err(|e| ApiError::new(Code::NotAcceptable, format!("open the chat stream as a WebSocket: {e}")))?;
    crate::stream::customer_stream(app, ws, who.org, id, query.after).await
}
