//! A Bot Framework channel's messaging endpoint: the URL an administrator pastes into the Azure bot registration
//! (`{public_url}/channels/bot-framework/{channel}/messages`). Azure's channels (Teams, Web Chat, Telegram, …) post
//! the customer's activities here, each with a token the Bot Framework service signed for the account's app id;
//! Switchboard answers as the bot, through the Connector API (see `delivery::channel`).

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use switchboard_channels::bot_framework as protocol;
use switchboard_domain::{Code, Error, Timestamp, ids::ChannelId, setup::ChannelType};
use switchboard_store::{messaging_accounts, model::Channel, setup};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    channels::ingest::{Ingest, ingest},
    error::ApiResult,
    extract::Written,
};

/// How long a channel and its app id are reused before they are read again.
const CHANNEL_CACHE_MS: i64 = 5_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive_activity))
}

/// The channel named by the path, with its account's app id: a Bot Framework channel's, or not found.
async fn channel(app: &AppState, raw: &str) -> Result<(Channel, String), Error> {
    let not_found = || Error::not_found(Code::ChannelNotFound);
    let id: ChannelId = raw.parse().map_err(|_| not_found())?;
    // A cache's freshness is real time: on the app's clock, which tests hold still, it would never go stale.
    let now = Timestamp::now().millis();
    if let Some((channel, app_id, until)) = app.bot_framework.channels.get(&id)
        && until > now
    {
        return Ok((channel, app_id));
    }
    let (channel, account) = app
        .store
        .read(move |tx| {
            let channel = setup::find_channel(tx, id)?;
            let account = messaging_accounts::account_of_channel(tx, channel.org_id, id)?;
            Ok((channel, account))
        })
        .await
        .map_err(|_| not_found())?;
    if channel.channel_type != ChannelType::BotFramework {
        return Err(not_found());
    }
    let app_id = account
        .settings
        .app_id
        .map(|a| a.into_inner())
        .ok_or_else(|| Error::new(Code::ChannelNotFound, "this channel's account has no Microsoft app id"))?;
    app.bot_framework.channels.insert(id, (channel.clone(), app_id.clone(), now + CHANNEL_CACHE_MS));
    Ok((channel, app_id))
}

/// Receives an activity from the Bot Framework service. The bearer token must be the service's, for this channel's
/// app id, endorsed for the activity's channel and naming its `serviceUrl`; otherwise 401 and nothing is stored.
/// A repeated activity id is stored once.
#[utoipa::path(post, path = "/channels/bot-framework/{channel}/messages", tag = "channels",
    operation_id = "bot_framework_receive_activity",
    params(("channel" = String, Path, description = "The Bot Framework channel's id")),
    request_body(content = Object, description = "A Bot Framework activity"),
    responses((status = 200, description = "Stored (or a repeat, or an activity with nothing to store)"),
        (status = 400, description = "Not a well-formed activity"),
        (status = 401, description = "The Bot Framework token is missing or not good"),
        (status = 404, description = "No Bot Framework channel with this id"),
        (status = 503, description = "The Bot Framework signing keys cannot be fetched")))]
async fn receive_activity(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (channel, app_id) = channel(&app, &raw).await?;
    let activity = protocol::parse_activity(&body).map_err(Error::from)?;
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    app.bot_framework.keys.verify(authorization, &activity, &app_id).await.map_err(Error::from)?;
    let Some(inbound) = protocol::to_inbound(activity).map_err(Error::from)? else {
        // Conversation updates, installations and the like: nothing a contact center keeps.
        return Ok(StatusCode::OK.into_response());
    };
    let ingest_request = Ingest { channel: (&channel).into(), idempotency: None, inbound };
    match ingest(&app, ingest_request, |_, _| Ok((StatusCode::OK, serde_json::json!({})))).await {
        Ok(out) => Ok(Written(out).into_response()),
        // The end, or typing, of a thread whose conversation is over: nothing to do, and nothing to retry.
        Err(e) if e.code == Code::ConversationNotFound || e.code == Code::ConversationClosed => {
            Ok(StatusCode::OK.into_response())
        }
        Err(e) => Err(e.into()),
    }
}
