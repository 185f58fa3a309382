//! Bots in front of agents (issue 17 item 5, reference §4.2). An administrator names a channel's bot
//! (`POST /v1/bots`): its Bot Framework messaging endpoint and app id, and an OAuth2 client of role `bot` created
//! with it. The channel's new conversations go to the bot first: the delivery engine posts the customer's messages
//! to its endpoint as Bot Framework activities (`delivery::channel::bot_activity`), and routing leaves them alone
//! (`store::bots::hold`). The bot answers through Switchboard's own Connector API, here, with a token from
//! `/oauth2/token` for its client: its messages join the conversation (and reach the customer on their channel),
//! `Escalate` updates the context and routes the conversation to agents, who see the bot's transcript in its
//! messages; `EndConversation` closes it. Once the bot has let go, the conversation never returns to it.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use switchboard_channels::{
    bot_framework as protocol,
    inbound::{self, Act},
};
use switchboard_domain::{
    Code, Error,
    conversation::Action,
    ids::*,
    message::{Attachment, SenderKind},
    role::Role,
    text::{HttpUrl, Name, ShortText},
};
use switchboard_store::{
    access,
    bots::{self, Bot, Release},
    conversations::{self, ActionRequest, Actor, NewMessage},
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    auth::{CLIENT_SECRET_PREFIX, Principal, Subject, secrets},
    error::{ApiError, ApiResult},
    extract::{ApiJson, IdemKey, Written, body, path_id, reveal},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_bot))
        .routes(routes!(bot_send_activity))
        .routes(routes!(bot_reply_to_activity))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotIn {
    /// How the bot signs its messages to customers and agents.
    pub name: Name,
    /// The channel whose new conversations the bot answers first; a channel has at most one bot.
    #[schema(value_type = String)]
    pub channel_id: ChannelId,
    /// The bot's Bot Framework messaging endpoint (its `/api/messages`).
    pub messaging_endpoint: HttpUrl,
    /// The bot's app id: the audience of the tokens Switchboard signs for it.
    pub app_id: ShortText,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedBot {
    #[serde(flatten)]
    pub bot: Bot,
    /// The bot's secret for `POST /oauth2/token` (with `client_id`); shown only here, `null` on a replay.
    pub client_secret: Option<String>,
}

/// Names a channel's bot, which answers the channel's new conversations before agents do.
#[utoipa::path(post, path = "/v1/bots", tag = "bots", operation_id = "bots_create", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header)), request_body = BotIn,
    responses((status = 201, body = CreatedBot), (status = 404, description = "`channel_not_found`"),
        (status = 409, description = "`already_exists`: the channel has a bot")))]
async fn create_bot(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    ApiJson(input): ApiJson<BotIn>,
) -> ApiResult<Response> {
    who.require(&[Role::Admin])?;
    if input.app_id.as_str().trim().is_empty() {
        return Err(Error::field(Code::InvalidField, "app_id", "must not be empty").into());
    }
    let org = who.org_id;
    let key = idem.scoped(&who, "POST /v1/bots", &input);
    let secret = secrets::random_token(CLIENT_SECRET_PREFIX);
    let hash = secrets::hash(&secret);
    let now = app.clock.now();
    let out = app
        .store
        .write_once(org, key, now, move |tx| {
            let client = access::create_client(tx, org, input.name.as_str(), Role::Bot, &hash, now)?;
            let bot = Bot {
                client_id: client.id,
                channel_id: input.channel_id,
                name: input.name.into_inner(),
                messaging_endpoint: String::from(input.messaging_endpoint),
                app_id: input.app_id.into_inner(),
                created_at: now,
            };
            bots::create(tx, org, &bot)?;
            body(StatusCode::CREATED, CreatedBot { bot, client_secret: None })
        })
        .await?;
    app.deliveries.targets_changed();
    Ok(Written(reveal(out, "client_secret", secret)?).into_response())
}

/// The Connector API's answer: the id of what was stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceResponse {
    pub id: String,
}

/// A bot's activity in a conversation it holds (Bot Framework Connector API, "send to conversation").
#[utoipa::path(post, path = "/bot-connector/v3/conversations/{id}/activities", tag = "bots",
    operation_id = "bots_send_activity", security(("bearer" = [])),
    params(("id" = String, Path, description = "The Switchboard conversation id")),
    request_body(content = Object, description = "A Bot Framework activity"),
    responses((status = 200, body = ResourceResponse), (status = 401, description = "no or a bad token"),
        (status = 403, description = "the caller is not a bot"),
        (status = 404, description = "`conversation_not_found`: not one this bot held"),
        (status = 409, description = "`bot_not_in_conversation`: the bot escalated or ended it")))]
async fn bot_send_activity(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<ResourceResponse>> {
    activity(&app, &who, &id, &body).await
}

/// A bot's reply to an activity (Bot Framework Connector API, "reply to activity"); the same as sending.
#[utoipa::path(post, path = "/bot-connector/v3/conversations/{id}/activities/{reply_to}", tag = "bots",
    operation_id = "bots_reply_to_activity", security(("bearer" = [])),
    params(("id" = String, Path, description = "The Switchboard conversation id"),
        ("reply_to" = String, Path, description = "The activity answered")),
    request_body(content = Object, description = "A Bot Framework activity"),
    responses((status = 200, body = ResourceResponse), (status = 401, description = "no or a bad token"),
        (status = 403, description = "the caller is not a bot"),
        (status = 404, description = "`conversation_not_found`: not one this bot held"),
        (status = 409, description = "`bot_not_in_conversation`: the bot escalated or ended it")))]
async fn bot_reply_to_activity(
    State(app): State<AppState>,
    who: Principal,
    Path((id, _reply_to)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<ResourceResponse>> {
    activity(&app, &who, &id, &body).await
}

async fn activity(app: &AppState, who: &Principal, id: &str, raw: &[u8]) -> ApiResult<Json<ResourceResponse>> {
    who.require(&[Role::Bot])?;
    let Subject::Client(client) = who.subject else {
        return Err(Error::new(Code::Forbidden, "only a bot's OAuth2 client calls the Connector API").into());
    };
    let (org, conversation) = (who.org_id, path_id::<ConversationId>(id, Code::ConversationNotFound)?);
    let bot = app
        .store
        .read(move |tx| bots::by_client(tx, org, client))
        .await?
        .ok_or_else(|| Error::new(Code::Forbidden, "this client is not a bot"))?;
    let held = app.store.read(move |tx| bots::held_by(tx, conversation, client)).await?;
    let active = held.ok_or_else(|| Error::not_found(Code::ConversationNotFound))?;
    let parsed = protocol::parse_activity(raw).map_err(Error::from)?;
    let activity_id = parsed.id.clone();
    let Some(inbound) = protocol::to_inbound(parsed).map_err(Error::from)? else {
        // Conversation updates and the like: nothing a contact center keeps.
        return Ok(Json(ResourceResponse { id: activity_id.unwrap_or_default() }));
    };
    let now = app.clock.now();
    let actor = Actor { label: who.label(), agent: None };
    match inbound.act {
        Act::Typing => Ok(Json(ResourceResponse { id: activity_id.unwrap_or_default() })),
        Act::Message { text, attachments, automated } => {
            if !active {
                return Err(ApiError(Error::new(
                    Code::BotNotInConversation,
                    "the bot has let go of this conversation; an agent answers now",
                )));
            }
            let message = NewMessage {
                sender_kind: SenderKind::Bot,
                sender_id: Some(client.to_string()),
                sender_name: Some(bot.name),
                text,
                attachments: bot_attachments(attachments)?,
                automated,
                template: None,
            };
            let sent =
                app.store.write(move |tx| conversations::send_message(tx, org, conversation, message, now)).await?;
            Ok(Json(ResourceResponse { id: sent.id.to_string() }))
        }
        Act::Context(patch) => {
            app.store.write(move |tx| conversations::patch_context(tx, org, conversation, &patch, now)).await?;
            Ok(Json(ResourceResponse { id: activity_id.unwrap_or_default() }))
        }
        Act::Escalate { context } => {
            // Only the first escalation re-routes: the session is active once.
            let released = app
                .store
                .write(move |tx| {
                    let released = bots::release(tx, conversation, client, Release::Escalated, now)?;
                    if released && !context.0.is_empty() {
                        conversations::patch_context(tx, org, conversation, &context, now)?;
                    }
                    Ok(released)
                })
                .await?;
            if released {
                app.routing.route_escalated(&app.routing_deps, org, conversation).await?;
            }
            Ok(Json(ResourceResponse { id: activity_id.unwrap_or_default() }))
        }
        Act::End => {
            app.store
                .write(move |tx| {
                    if bots::release(tx, conversation, client, Release::Ended, now)? {
                        let req = ActionRequest { action: Action::Close, agent_id: None, reason: None };
                        conversations::apply(tx, org, conversation, &actor, req, now)?;
                    }
                    Ok(())
                })
                .await?;
            Ok(Json(ResourceResponse { id: activity_id.unwrap_or_default() }))
        }
    }
}

/// A bot's attachments, kept as the links it sent (a card's content arrives as text already). A file inside the
/// activity (a `data:` URL) is refused: a bot shares files by URL, as the Connector API expects of it.
fn bot_attachments(attachments: Vec<inbound::Attachment>) -> Result<Vec<Attachment>, Error> {
    attachments
        .into_iter()
        .enumerate()
        .map(|(i, a)| match a {
            inbound::Attachment::Link { content_type, url, name } => {
                crate::channels::ingest::link(i, content_type, url, name)
            }
            inbound::Attachment::Embedded { .. } => Err(Error::field(
                Code::InvalidField,
                format!("attachments[{i}].contentUrl"),
                "a bot sends files as links (https URLs), not inside the activity",
            )),
        })
        .collect()
}
