//! A Google's Business Messages channel's webhook: the URL an administrator pastes into the Business Communications
//! console (`{public_url}/channels/google-business-messages/{channel}/webhook`). Google verifies it once (a
//! `clientToken` and a `secret` to echo), then posts each user event signed with `X-Goog-Signature`; Switchboard
//! answers through the Business Messages API (see `delivery::channel`).

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use subtle::ConstantTimeEq;
use switchboard_channels::google_bm::{self as protocol, Webhook};
use switchboard_domain::{Code, Error, Timestamp, ids::ChannelId, setup::ChannelType};
use switchboard_store::{messaging_accounts, model::Channel, setup};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    channels::{
        accounts,
        ingest::{Ingest, ingest},
    },
    error::ApiResult,
    extract::Written,
};

/// How long a channel and its client token are reused before they are read again.
const CHANNEL_CACHE_MS: i64 = 5_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive_event))
}

/// The channel named by the path, with its account's client token: a Google's Business Messages channel's, or not
/// found.
async fn channel(app: &AppState, raw: &str) -> Result<(Channel, String), Error> {
    let not_found = || Error::not_found(Code::ChannelNotFound);
    let id: ChannelId = raw.parse().map_err(|_| not_found())?;
    // A cache's freshness is real time: on the app's clock, which tests hold still, it would never go stale.
    let now = Timestamp::now().millis();
    if let Some((channel, token, until)) = app.google_bm.channels.get(&id)
        && until > now
    {
        return Ok((channel, token));
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
    if channel.channel_type != ChannelType::GoogleBusinessMessages {
        return Err(not_found());
    }
    let token = accounts::open(app, &account)?
        .client_token
        .map(|t| t.into_inner())
        .ok_or_else(|| Error::new(Code::ChannelNotFound, "this channel's account has no client token"))?;
    app.google_bm.channels.insert(id, (channel.clone(), token.clone(), now + CHANNEL_CACHE_MS));
    Ok((channel, token))
}

/// Answers the verification request: the `secret`, as plain text, when the `clientToken` is the account's.
fn verification(client_token: &str, given: &str, secret: String) -> Result<Response, Error> {
    if bool::from(given.as_bytes().ct_eq(client_token.as_bytes())) {
        Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], secret).into_response())
    } else {
        Err(Error::new(Code::Unauthenticated, "the clientToken is not this channel's"))
    }
}

/// Receives what Google posts to the webhook. The verification request (`{"clientToken", "secret"}`) is answered
/// with its secret when the client token is the account's. Every other request must carry `X-Goog-Signature`, the
/// HMAC-SHA512 of its body keyed with the client token, or it is answered 401 and nothing is stored. A repeated
/// message id is stored once.
#[utoipa::path(post, path = "/channels/google-business-messages/{channel}/webhook", tag = "channels",
    operation_id = "google_business_messages_receive_event",
    params(("channel" = String, Path, description = "The Google's Business Messages channel's id")),
    request_body(content = Object, description = "A Business Messages user event, or the verification request"),
    responses((status = 200, description = "Stored (or a repeat, or an event with nothing to store); for the verification request, its secret as plain text"),
        (status = 400, description = "Not a well-formed event"),
        (status = 401, description = "The signature or the client token is missing or not good"),
        (status = 404, description = "No Google's Business Messages channel with this id")))]
async fn receive_event(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (channel, client_token) = channel(&app, &raw).await?;
    let signature = headers.get(protocol::SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    if let Err(refused) = protocol::verify(&client_token, &body, signature) {
        // The console's verification request proves itself with the client token it carries instead.
        if let Ok(Webhook::Verification { client_token: given, secret }) = protocol::parse(&body) {
            return Ok(verification(&client_token, &given, secret)?);
        }
        return Err(Error::new(Code::Unauthenticated, refused.to_string()).into());
    }
    let event = match protocol::parse(&body) {
        Ok(Webhook::Verification { client_token: given, secret }) => {
            return Ok(verification(&client_token, &given, secret)?);
        }
        Ok(Webhook::Event(event)) => event,
        Err(e) => {
            tracing::warn!(channel = %channel.id, request_id = request_id(&body).as_deref(), error = %e,
                "a Business Messages webhook that does not parse");
            return Err(Error::from(e).into());
        }
    };
    let inbound = match protocol::to_inbound(&event) {
        Ok(Some(inbound)) => inbound,
        // Receipts, typing stopped, surveys: nothing a contact center keeps.
        Ok(None) => return Ok(StatusCode::OK.into_response()),
        Err(e) => {
            tracing::warn!(channel = %channel.id, request_id = event.request_id.as_deref(), error = %e,
                "a Business Messages event that cannot be stored");
            return Err(Error::from(e).into());
        }
    };
    let ingest_request = Ingest { channel: (&channel).into(), idempotency: None, inbound };
    match ingest(&app, ingest_request, |_, _| Ok((StatusCode::OK, serde_json::json!({})))).await {
        Ok(out) => Ok(Written(out).into_response()),
        // Typing in a conversation that is over: nothing to do, and nothing for Google to retry.
        Err(e) if e.code == Code::ConversationNotFound || e.code == Code::ConversationClosed => {
            Ok(StatusCode::OK.into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// The `requestId` of a body that did not parse as an event, if it has one, for the log.
fn request_id(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("requestId")?.as_str().map(|s| s.chars().take(protocol::MAX_ID).collect())
}
