//! A TeleSign SMS channel's callback URL (`{public_url}/channels/telesign/{channel}/callbacks`), set as the
//! account's customer callback URL in TeleSign's portal and sent with each message as its `callback_url`. TeleSign
//! posts customers' messages (`mo_sms`) and the delivery reports of Switchboard's messages here, each signed with
//! the account's API key.

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use switchboard_channels::telesign::{self as protocol, Callback};
use switchboard_domain::{Code, Error, setup::ChannelType};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    channels::{
        ingest::{Ingest, ingest},
        phone, receipts,
    },
    error::ApiResult,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive_callback))
}

/// Receives a TeleSign callback. `Authorization: TSA <customer id>:<signature>` (or the same in
/// `X-TS-Authorization`) must be the account's customer id and the Base64 HMAC-SHA256 of the body under its API
/// key; otherwise 401 and nothing is stored. A customer's message is stored once per `reference_id`; a delivery
/// report goes on the message it is about.
#[utoipa::path(post, path = "/channels/telesign/{channel}/callbacks", tag = "channels",
    operation_id = "telesign_receive_callback",
    params(("channel" = String, Path, description = "The TeleSign SMS channel's id")),
    request_body(content = Object, description = "A TeleSign callback: an inbound SMS or a delivery report"),
    responses((status = 200, description = "Stored (or a repeat)"),
        (status = 400, description = "Not a TeleSign SMS callback"),
        (status = 401, description = "The signature is missing or not the account's"),
        (status = 404, description = "No TeleSign SMS channel with this id")))]
async fn receive_callback(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (channel, account) = app.telesign.channel(&app, &raw).await?;
    let authorization =
        headers.get(header::AUTHORIZATION).or_else(|| headers.get("x-ts-authorization")).and_then(|v| v.to_str().ok());
    protocol::verify_callback(&account.customer_id, &account.api_key, authorization, &body)
        .map_err(|e| Error::new(Code::Unauthenticated, e.to_string()))?;
    let callback = protocol::parse_callback(&body).map_err(|e| {
        tracing::warn!(channel = %channel.id, error = %e, "a TeleSign callback that does not parse");
        Error::from(e)
    })?;
    match callback {
        Callback::Inbound { inbound, to } => {
            let (org, from) = (channel.org_id, phone::number_of(&inbound));
            let replies = account.keyword_replies.as_ref();
            // STOP, START and HELP are acted on and answered, not stored in a conversation.
            if let Some(from) = &from
                && let Some((_, answer)) =
                    phone::keyword(&app, org, channel.id, from, phone::keyword_text(&inbound), replies).await?
            {
                if let Err(why) = app.telesign.send_text(&account, from.as_str(), to.as_deref(), &answer).await {
                    tracing::warn!(channel = %channel.id, error = %why, "a keyword's answer not sent");
                }
                return Ok(StatusCode::OK.into_response());
            }
            let request = Ingest { channel: (&channel).into(), idempotency: None, inbound: *inbound };
            let now = app.clock.now();
            ingest(&app, request, move |tx, stored| {
                if let Some(from) = &from {
                    phone::note_inbound(tx, org, stored.conversation, ChannelType::Sms, from, now)?;
                }
                Ok((StatusCode::OK, serde_json::json!({})))
            })
            .await?;
        }
        Callback::Delivery(report) => receipts::telesign_report(&app, &channel, report).await?,
    }
    Ok(StatusCode::OK.into_response())
}
