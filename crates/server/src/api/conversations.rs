//! Conversations: start one, move it through its states, exchange messages, set context variables, read its
//! timeline.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use switchboard_domain::{
    Code, Error,
    account::Uploader,
    contact::CustomerIn,
    context::{ContextMap, ContextPatch},
    conversation::{Action, ConversationState},
    ids::*,
    limits,
    message::{Attachment, SenderKind},
    role::Role,
    text::{MessageText, ShortText},
};
use switchboard_store::{
    conversations::{self, Access, ActionRequest, Actor, ConversationFilter, NewConversation, NewMessage},
    events,
    model::{ContextVariable, Conversation, Event, Message, Page},
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    attachments::{Upload, keep_uploads},
    auth::Principal,
    error::{ApiError, ApiResult},
    extract::{ApiFile, ApiJson, ApiQuery, IdemKey, OptionalJson, PageQuery, Written, body, path_id},
};

const STARTERS: &[Role] = &[Role::Admin, Role::Supervisor, Role::Integration];
const EVERYONE: &[Role] = &[Role::Admin, Role::Supervisor, Role::Agent, Role::Integration];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_conversation, list_conversations))
        .routes(routes!(get_conversation))
        .routes(routes!(accept))
        .routes(routes!(release))
        .routes(routes!(park))
        .routes(routes!(end))
        .routes(routes!(close))
        .routes(routes!(send_message, list_messages))
        .routes(routes!(get_context, patch_context))
        .routes(routes!(timeline))
}

/// Routes whose body is a file, up to the largest a workstream may accept (its own policy then bounds it).
pub fn file_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(send_file))
}

/// The largest body a file route reads: the largest file any workstream policy allows.
pub(crate) const MAX_FILE_BODY_BYTES: usize = switchboard_domain::setup::AttachmentPolicy::MAX_BYTES_LIMIT as usize;

fn conversation_id(raw: &str) -> Result<ConversationId, ApiError> {
    path_id(raw, Code::ConversationNotFound)
}

/// Answers `conversation_not_found` unless `who` sees the conversation, for handlers whose work reads it
/// elsewhere; the others check in their own transaction (`conversations::check_visible`).
pub(super) async fn visible(app: &AppState, who: &Principal, id: ConversationId) -> Result<(), ApiError> {
    let (org, scope) = (who.org_id, who.conversations());
    if scope != conversations::Scope::All {
        app.store.read(move |tx| conversations::check_visible(tx, org, id, scope, Access::Use)).await?;
    }
    Ok(())
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartMessageIn {
    pub text: Option<MessageText>,
    /// The sender's display name.
    #[serde(default)]
    pub sender_name: Option<ShortText>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationIn {
    pub channel_id: ChannelId,
    /// Who the customer is; matched to a contact by customer id, email or phone (created if none matches). A
    /// `customer_id` is the persistent-conversation key: while the customer has a live conversation on this
    /// channel, that one is returned.
    #[serde(default)]
    pub customer: Option<CustomerIn>,
    /// An existing contact, instead of `customer`.
    #[serde(default)]
    pub contact_id: Option<ContactId>,
    /// Up to 100 context variables.
    #[serde(default)]
    pub context: ContextMap,
    #[serde(default)]
    pub subject: Option<ShortText>,
    /// Higher is served first (default 0).
    #[serde(default)]
    pub priority: i64,
    /// The customer's first message; only used when a new conversation starts.
    #[serde(default)]
    pub start_message: Option<StartMessageIn>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationCreated {
    pub conversation: Conversation,
    /// False when the customer's live conversation was returned (status 200 instead of 201).
    pub is_new: bool,
    pub start_message: Option<Message>,
}

fn check_attachments(attachments: &[Attachment], field: &str) -> Result<(), ApiError> {
    if let Some(i) = attachments.iter().position(|a| a.id.is_some() || a.size.is_some()) {
        return Err(Error::field(
            Code::InvalidField,
            format!("{field}[{i}]"),
            "`id` and `size` are set by the server for files it keeps; link a file by `url`",
        )
        .into());
    }
    if attachments.len() > limits::MAX_ATTACHMENTS {
        return Err(Error::field(
            Code::TooManyAttachments,
            field,
            format!("at most {} attachments per message", limits::MAX_ATTACHMENTS),
        )
        .into());
    }
    Ok(())
}

/// Starts a conversation (or returns the customer's live one).
#[utoipa::path(post, path = "/v1/conversations", tag = "conversations", security(("bearer" = [])),
    request_body = ConversationIn, params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = ConversationCreated), (status = 200, body = ConversationCreated,
        description = "The customer's live conversation"), (status = 404, description = "Unknown channel or contact")))]
async fn create_conversation(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    ApiJson(input): ApiJson<ConversationIn>,
) -> ApiResult<Response> {
    who.require(STARTERS)?;
    if input.customer.is_some() && input.contact_id.is_some() {
        return Err(Error::field(Code::InvalidField, "contact_id", "give `customer` or `contact_id`, not both").into());
    }
    let start_message = match &input.start_message {
        Some(m) => {
            check_attachments(&m.attachments, "start_message.attachments")?;
            Some(NewMessage {
                sender_kind: SenderKind::Customer,
                sender_id: input.customer.as_ref().and_then(|c| c.customer_id.as_ref()).map(|c| c.as_str().to_string()),
                sender_name: m.sender_name.as_ref().map(|n| n.as_str().to_string()),
                text: m.text.as_ref().map(|t| t.as_str().to_string()),
                attachments: m.attachments.clone(),
                automated: false,
                template: None,
            })
        }
        None => None,
    };
    let org = who.org_id;
    let key = idem.scoped(&who, "POST /v1/conversations", &input);
    let new = NewConversation {
        channel_id: input.channel_id,
        key: None,
        customer: input.customer.unwrap_or_default(),
        contact_id: input.contact_id,
        context: input.context,
        subject: input.subject.map(ShortText::into_inner),
        priority: input.priority,
        start_message,
    };
    let now = app.clock.now();
    let out = app
        .store
        .write_once(org, key, now, move |tx| {
            let created = conversations::create(tx, org, new, now)?;
            let status = if created.is_new { StatusCode::CREATED } else { StatusCode::OK };
            body(
                status,
                ConversationCreated {
                    conversation: created.conversation,
                    is_new: created.is_new,
                    start_message: created.start_message,
                },
            )
        })
        .await?;
    Ok(Written(out).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConversationQuery {
    pub state: Option<ConversationState>,
    pub channel_id: Option<ChannelId>,
    pub queue_id: Option<QueueId>,
    pub agent_id: Option<UserId>,
    pub contact_id: Option<ContactId>,
    #[param(inline)]
    pub limit: Option<crate::extract::PageSize>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/conversations", tag = "conversations", security(("bearer" = [])),
    params(ConversationQuery), responses((status = 200, body = Page<Conversation>)))]
async fn list_conversations(
    State(app): State<AppState>,
    who: Principal,
    ApiQuery(q): ApiQuery<ConversationQuery>,
) -> ApiResult<Json<Page<Conversation>>> {
    who.require(EVERYONE)?;
    let page = PageQuery { limit: q.limit, cursor: q.cursor };
    let (limit, after, org) = (page.limit()?, page.cursor::<ConversationId>()?, who.org_id);
    let filter = ConversationFilter {
        state: q.state,
        channel_id: q.channel_id,
        queue_id: q.queue_id,
        agent_id: q.agent_id,
        contact_id: q.contact_id,
        scope: who.conversations(),
    };
    let rows = app.store.read(move |tx| conversations::list(tx, org, &filter, after, limit + 1)).await?;
    Ok(Json(Page::from_rows(rows, limit, |c| c.id.to_string())))
}

#[utoipa::path(get, path = "/v1/conversations/{id}", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Conversation), (status = 404)))]
async fn get_conversation(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Conversation>> {
    who.require(EVERYONE)?;
    let (id, org, scope) = (conversation_id(&id)?, who.org_id, who.conversations());
    let conversation = app
        .store
        .read(move |tx| {
            conversations::check_visible(tx, org, id, scope, Access::Use)?;
            conversations::get(tx, org, id)
        })
        .await?;
    Ok(Json(conversation))
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptIn {
    /// The agent to assign; an agent accepting for themselves leaves it out.
    #[serde(default)]
    pub agent_id: Option<UserId>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseIn {
    /// Why the conversation was closed (the session closure reason).
    #[serde(default)]
    pub reason: Option<ShortText>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoBody {}

async fn act(
    app: AppState,
    who: Principal,
    idem: IdemKey,
    raw_id: &str,
    action: Action,
    agent_id: Option<UserId>,
    reason: Option<ShortText>,
) -> ApiResult<Response> {
    who.require(&[Role::Admin, Role::Supervisor, Role::Agent])?;
    let (id, org) = (conversation_id(raw_id)?, who.org_id);
    let route = format!("POST /v1/conversations/{id}/{action}");
    let key = idem.scoped(&who, &route, &(agent_id, &reason));
    let actor = Actor { label: who.label(), agent: who.agent() };
    let (scope, access) = (who.conversations(), if action == Action::Accept { Access::Take } else { Access::Use });
    let req = ActionRequest { action, agent_id, reason: reason.map(ShortText::into_inner) };
    let now = app.clock.now();
    let out = app
        .store
        .write_once(org, key, now, move |tx| {
            conversations::check_visible(tx, org, id, scope, access)?;
            body(StatusCode::OK, conversations::apply(tx, org, id, &actor, req, now)?)
        })
        .await?;
    Ok(Written(out).into_response())
}

/// Assigns the conversation to an agent: Open or Waiting → Active. An agent accepts for themselves; an admin
/// or supervisor names the agent.
#[utoipa::path(post, path = "/v1/conversations/{id}/accept", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = Option<AcceptIn>,
    responses((status = 200, body = Conversation), (status = 409, description = "The state does not allow it")))]
async fn accept(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    Path(id): Path<String>,
    OptionalJson(input): OptionalJson<AcceptIn>,
) -> ApiResult<Response> {
    // An agent taking work from a pick workstream's queue picks it: membership, presence and capacity apply.
    if let Some(agent) = who.agent()
        && input.agent_id.is_none_or(|a| a == agent)
    {
        let conversation = conversation_id(&id)?;
        let (org, scope) = (who.org_id, who.conversations());
        app.store.read(move |tx| conversations::check_visible(tx, org, conversation, scope, Access::Take)).await?;
        if app.routing.is_pick(&app.routing_deps, who.org_id, conversation).await? {
            let picked = app.routing.pick(&app.routing_deps, who.org_id, agent, who.label(), conversation).await?;
            return Ok(Json(picked).into_response());
        }
    }
    act(app, who, idem, &id, Action::Accept, input.agent_id, None).await
}

/// Gives the conversation back to its queue: Active → Open.
#[utoipa::path(post, path = "/v1/conversations/{id}/release", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Conversation), (status = 409)))]
async fn release(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    Path(id): Path<String>,
    OptionalJson(_): OptionalJson<NoBody>,
) -> ApiResult<Response> {
    act(app, who, idem, &id, Action::Release, None, None).await
}

/// Closes the agent's session without ending the conversation: Active → Waiting (asynchronous channels).
#[utoipa::path(post, path = "/v1/conversations/{id}/park", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Conversation), (status = 409)))]
async fn park(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    Path(id): Path<String>,
    OptionalJson(_): OptionalJson<NoBody>,
) -> ApiResult<Response> {
    act(app, who, idem, &id, Action::Park, None, None).await
}

/// Ends the conversation: Active → Wrap-up.
#[utoipa::path(post, path = "/v1/conversations/{id}/end", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Conversation), (status = 409)))]
async fn end(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    Path(id): Path<String>,
    OptionalJson(_): OptionalJson<NoBody>,
) -> ApiResult<Response> {
    act(app, who, idem, &id, Action::End, None, None).await
}

/// Closes the conversation: Open, Waiting or Wrap-up → Closed.
#[utoipa::path(post, path = "/v1/conversations/{id}/close", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = Option<CloseIn>,
    responses((status = 200, body = Conversation), (status = 409)))]
async fn close(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    Path(id): Path<String>,
    OptionalJson(input): OptionalJson<CloseIn>,
) -> ApiResult<Response> {
    act(app, who, idem, &id, Action::Close, None, input.reason).await
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SenderIn {
    pub kind: SenderKind,
    /// The caller's id for the sender (customers and bots); agents are always themselves.
    #[serde(default)]
    pub id: Option<ShortText>,
    #[serde(default)]
    pub name: Option<ShortText>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageIn {
    /// Who writes. Defaults to the agent for agents' keys, the customer for integrations, and `system` for
    /// admins and supervisors. What is left out is completed: an agent's display name, the conversation's
    /// customer, and for `system` and `bot` the key or client sending (`api_key:<id>` and the key's name).
    #[serde(default)]
    pub sender: Option<SenderIn>,
    /// Up to 6,000 characters; required unless there are attachments.
    #[serde(default)]
    pub text: Option<MessageText>,
    /// Up to 10 attachments, by URL.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// Sent by automation rather than typed by a person.
    #[serde(default)]
    pub automated: bool,
    /// WhatsApp: send the message as this approved template, which may go after the 24-hour customer-service
    /// window has closed (a message without one is refused then with `whatsapp_window_closed`). `text`, when
    /// given, is what the transcript shows of it.
    #[serde(default)]
    pub template: Option<switchboard_domain::message::WhatsappTemplate>,
}

/// Who a message is from, given who sends it: agents write as themselves; others never as an agent.
fn sender(who: &Principal, input: Option<SenderIn>) -> Result<(SenderKind, Option<String>, Option<String>), ApiError> {
    let name = |s: &Option<SenderIn>| s.as_ref().and_then(|s| s.name.as_ref()).map(|n| n.as_str().to_string());
    if let Some(agent) = who.agent() {
        if input.as_ref().is_some_and(|s| s.kind != SenderKind::Agent) {
            return Err(Error::field(Code::Forbidden, "sender.kind", "an agent's key writes as that agent").into());
        }
        return Ok((SenderKind::Agent, Some(agent.to_string()), name(&input)));
    }
    let default = if who.role == Role::Integration { SenderKind::Customer } else { SenderKind::System };
    let kind = input.as_ref().map_or(default, |s| s.kind);
    if kind == SenderKind::Agent {
        return Err(Error::field(Code::Forbidden, "sender.kind", "only an agent's own key writes as an agent").into());
    }
    let id = input.as_ref().and_then(|s| s.id.as_ref()).map(|i| i.as_str().to_string());
    if kind == SenderKind::Customer {
        // The integration writes for the conversation's customer, whom the store names.
        return Ok((kind, id, name(&input)));
    }
    // A system or bot message sent with a key or client is signed by it, unless the caller names the sender.
    Ok((kind, id.or_else(|| Some(who.label())), name(&input).or_else(|| Some(who.name.clone()))))
}

/// Appends a message. The response (201) means it is durably committed. A customer's message revives a
/// Waiting conversation.
#[utoipa::path(post, path = "/v1/conversations/{id}/messages", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = MessageIn,
    responses((status = 201, body = Message), (status = 404), (status = 409, description = "The conversation is closed")))]
async fn send_message(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<MessageIn>,
) -> ApiResult<Response> {
    who.require(EVERYONE)?;
    check_attachments(&input.attachments, "attachments")?;
    if let Some(template) = &input.template {
        crate::channels::phone::check_template(template)?;
    }
    let (id, org) = (conversation_id(&id)?, who.org_id);
    let key = idem.scoped(&who, "POST /v1/conversations/{id}/messages", &(id, &input));
    let (sender_kind, sender_id, sender_name) = sender(&who, input.sender)?;
    let new = NewMessage {
        sender_kind,
        sender_id,
        sender_name,
        text: input.text.map(MessageText::into_inner),
        attachments: input.attachments,
        automated: input.automated,
        template: input.template,
    };
    let now = app.clock.now();
    let scope = who.conversations();
    let out = app
        .store
        .write_once(org, key, now, move |tx| {
            conversations::check_visible(tx, org, id, scope, Access::Use)?;
            body(StatusCode::CREATED, conversations::send_message(tx, org, id, new, now)?)
        })
        .await?;
    metrics::counter!("switchboard_messages_total").increment(u64::from(!out.replayed));
    Ok(Written(out).into_response())
}

#[derive(Debug, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FileQuery {
    /// The file's name with its extension, as the reader will see it.
    #[serde(default)]
    pub name: Option<ShortText>,
}

/// Sends a file: the request body is the file and `Content-Type` its type. The conversation's workstream decides
/// which types and sizes it accepts (`attachments` in its settings). The answer (201) is the message that carries
/// the file, written as `POST /v1/conversations/{id}/messages` writes one, from the same sender.
#[utoipa::path(post, path = "/v1/conversations/{id}/attachments", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path), FileQuery, ("Idempotency-Key" = Option<String>, Header)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes"),
    responses((status = 201, body = Message),
        (status = 400, description = "`missing_field`: no `Content-Type`; `invalid_field`: a type the workstream refuses"),
        (status = 404), (status = 409, description = "The conversation is closed"),
        (status = 413, description = "Larger than the workstream accepts")))]
async fn send_file(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<FileQuery>,
    file: ApiFile,
) -> ApiResult<Response> {
    who.require(EVERYONE)?;
    let (id, org, scope) = (conversation_id(&id)?, who.org_id, who.conversations());
    let digest = hex::encode(sha2::Sha256::digest(&file.bytes));
    let key =
        idem.scoped(&who, "POST /v1/conversations/{id}/attachments", &(id, &query.name, &file.content_type, digest));
    let (sender_kind, sender_id, sender_name) = sender(&who, None)?;
    let workstream = app
        .store
        .read(move |tx| {
            conversations::check_visible(tx, org, id, scope, Access::Use)?;
            Ok(conversations::get(tx, org, id)?.workstream_id)
        })
        .await?;
    let upload = Upload {
        content_type: file.content_type,
        name: query.name.map(ShortText::into_inner),
        bytes: file.bytes.to_vec(),
    };
    let kept =
        keep_uploads(&app, org, id, workstream, Uploader::of(sender_kind), vec![(0, upload)], |_| "body".to_string())
            .await?;
    let (attachments, rows): (Vec<_>, Vec<_>) = kept.into_iter().map(|(_, a, row)| (a, row)).unzip();
    let new =
        NewMessage { sender_kind, sender_id, sender_name, text: None, attachments, automated: false, template: None };
    let now = app.clock.now();
    let out = app
        .store
        .write_once(org, key, now, move |tx| {
            conversations::check_visible(tx, org, id, scope, Access::Use)?;
            // The message before the file's row, as every upload writes them (see `attachments::keep_uploads`).
            let message = conversations::send_message(tx, org, id, new, now)?;
            for row in &rows {
                switchboard_store::attachments::insert(tx, row, now)?;
            }
            body(StatusCode::CREATED, message)
        })
        .await?;
    metrics::counter!("switchboard_messages_total").increment(u64::from(!out.replayed));
    Ok(Written(out).into_response())
}

/// The conversation's messages in order.
#[utoipa::path(get, path = "/v1/conversations/{id}/messages", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path), PageQuery), responses((status = 200, body = Page<Message>), (status = 404)))]
async fn list_messages(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Message>>> {
    who.require(EVERYONE)?;
    let (limit, after) = (page.limit()?, page.position()?);
    let (id, org, scope) = (conversation_id(&id)?, who.org_id, who.conversations());
    let mut rows = app
        .store
        .read(move |tx| {
            conversations::check_visible(tx, org, id, scope, Access::Use)?;
            conversations::list_messages(tx, org, id, after, limit + 1)
        })
        .await?;
    for m in &mut rows {
        app.links.sign_attachments(&mut m.attachments);
    }
    Ok(Json(Page::from_rows(rows, limit, |m| m.sequence.to_string())))
}

/// The conversation's context variables. Agents see only the displayable ones.
#[utoipa::path(get, path = "/v1/conversations/{id}/context", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Vec<ContextVariable>), (status = 404)))]
async fn get_context(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ContextVariable>>> {
    who.require(EVERYONE)?;
    let (id, org, scope) = (conversation_id(&id)?, who.org_id, who.conversations());
    let mut variables = app
        .store
        .read(move |tx| {
            conversations::check_visible(tx, org, id, scope, Access::Use)?;
            conversations::context(tx, org, id)
        })
        .await?;
    if who.role == Role::Agent {
        variables.retain(|v| v.displayable);
    }
    Ok(Json(variables))
}

/// Sets variables (`{"name": {"value": …, "displayable": …}}`) and removes those set to `null`; at most 100 in all.
#[utoipa::path(patch, path = "/v1/conversations/{id}/context", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ContextPatch,
    responses((status = 200, body = Vec<ContextVariable>), (status = 400), (status = 404),
        (status = 409, description = "`conversation_closed`")))]
async fn patch_context(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<ContextPatch>,
) -> ApiResult<Json<Vec<ContextVariable>>> {
    who.require(&[Role::Admin, Role::Supervisor, Role::Integration])?;
    let (id, org) = (conversation_id(&id)?, who.org_id);
    let now = app.clock.now();
    Ok(Json(app.store.write(move |tx| conversations::patch_context(tx, org, id, &patch, now)).await?))
}

/// The conversation's log: everything that happened to it, messages included, in order. Files in messages are
/// given by signed links, as in the message list.
#[utoipa::path(get, path = "/v1/conversations/{id}/timeline", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path), PageQuery), responses((status = 200, body = Page<Event>), (status = 404)))]
async fn timeline(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Event>>> {
    who.require(&[Role::Admin, Role::Supervisor, Role::Agent, Role::Integration])?;
    let (limit, after) = (page.limit()?, page.position()?);
    let (id, org, scope) = (conversation_id(&id)?, who.org_id, who.conversations());
    let mut rows = app
        .store
        .read(move |tx| {
            conversations::get(tx, org, id)?;
            conversations::check_visible(tx, org, id, scope, Access::Use)?;
            events::timeline(tx, org, id, after, limit + 1)
        })
        .await?;
    // Its messages' files open from the timeline as from the message list: by signed, expiring links.
    for e in &mut rows {
        app.links.sign_event(e);
    }
    Ok(Json(Page::from_rows(rows, limit, |e| e.sequence.unwrap_or_default().to_string())))
}
