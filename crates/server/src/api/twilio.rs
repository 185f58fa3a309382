//! A Twilio channel's webhooks, the URLs an administrator gives the Twilio number (or messaging service, or
//! WhatsApp sender): `{public_url}/channels/twilio/{channel}/messages` for customers' messages, and
//! `…/status` for the statuses of what was sent (Switchboard names it as each message's `StatusCallback`). Every
//! request must carry Twilio's signature with the account's auth token; otherwise 401 and nothing is stored.

use axum::{
    body::Bytes,
    extract::{OriginalUri, Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use switchboard_channels::twilio as protocol;
use switchboard_domain::{Code, Error, event::ProviderStatus};
use switchboard_store::provider_messages::{self, StatusReport};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    channels::{
        ingest::{Ingest, ingest},
        phone,
        twilio::{self, TwilioChannel},
    },
    error::ApiResult,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive_message)).routes(routes!(receive_status))
}

fn parse_error(e: protocol::ParseError) -> Error {
    match e.field() {
        Some(field) => Error::field(Code::InvalidBody, field, e.to_string()),
        None => Error::new(Code::InvalidBody, e.to_string()),
    }
}

/// The webhook's parameters, signed by Twilio for this channel's account.
async fn signed(
    app: &AppState,
    raw: &str,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(TwilioChannel, Vec<(String, String)>), Error> {
    let twilio = twilio::channel(app, raw).await?;
    let params = protocol::parse_form(body).map_err(parse_error)?;
    twilio::verify(app, &twilio, uri, headers, &params)?;
    Ok((twilio, params))
}

fn xml(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// Receives a customer's message. A STOP, START or HELP is answered at once (TwiML) and not stored; any other
/// message goes to the number's open conversation on the channel, or starts one, with its media fetched and kept.
/// A repeated `MessageSid` is stored once.
#[utoipa::path(post, path = "/channels/twilio/{channel}/messages", tag = "channels",
    operation_id = "twilio_receive_message",
    params(("channel" = String, Path, description = "The SMS or WhatsApp channel's id"),
        ("X-Twilio-Signature" = String, Header, description = "Twilio's signature of the URL and parameters")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "Twilio's message webhook: MessageSid, AccountSid, From, To, Body, NumMedia, MediaUrl{N}, …"),
    responses((status = 200, description = "Stored (or a repeat, or a keyword answered): TwiML", content_type = "text/xml"),
        (status = 400, description = "Not a message webhook Twilio would send"),
        (status = 401, description = "The X-Twilio-Signature is missing or not the account's"),
        (status = 404, description = "No Twilio SMS or WhatsApp channel with this id"),
        (status = 413, description = "A file is larger than `channels.twilio.max_media_bytes`")))]
async fn receive_message(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (twilio, params) = signed(&app, &raw, &uri, &headers, &body).await?;
    let message = protocol::parse_message(&params).map_err(parse_error)?;
    if twilio.account.settings.account_sid.as_ref().map(|s| s.as_str()) != Some(message.account_sid.as_str()) {
        return Err(Error::field(Code::InvalidBody, "AccountSid", "not this channel's Twilio account").into());
    }
    if message.whatsapp != twilio.whatsapp() {
        let expected = if twilio.whatsapp() { "a WhatsApp address (`whatsapp:+…`)" } else { "a phone number" };
        return Err(
            Error::field(Code::InvalidBody, "From", format!("this channel's customers write from {expected}")).into()
        );
    }
    let (org, channel, channel_type) = (twilio.channel.org_id, twilio.channel.id, twilio.channel.channel_type);
    let replies = twilio.account.settings.keyword_replies.as_ref();
    if message.media.is_empty()
        && let Some((_, answer)) =
            phone::keyword(&app, org, channel, &message.from, message.body.as_deref(), replies).await?
    {
        return Ok(xml(StatusCode::OK, twilio::twiml(Some(&answer))));
    }
    let attachments = twilio::fetch_media(&app, &twilio, &message.media).await?;
    let wrote_to = message.to.strip_prefix(protocol::WHATSAPP_PREFIX).unwrap_or(&message.to).to_string();
    let reply_to = serde_json::json!({ "to": message.from.as_str(), "from": wrote_to });
    let inbound = phone::inbound(
        message.message_sid.clone(),
        &message.from,
        message.profile_name.as_deref(),
        message.body.clone(),
        attachments,
        Some(reply_to),
    );
    let from = message.from.clone();
    let now = app.clock.now();
    let request = Ingest { channel: (&twilio.channel).into(), idempotency: None, inbound };
    ingest(&app, request, move |tx, stored| {
        phone::note_inbound(tx, org, stored.conversation, channel_type, &from, now)?;
        Ok((StatusCode::OK, serde_json::json!({})))
    })
    .await?;
    metrics::counter!("switchboard_twilio_inbound_total", "channel_type" => channel_type.as_str()).increment(1);
    Ok(xml(StatusCode::OK, twilio::twiml(None)))
}

/// Receives a sent message's status (`queued`, `sent`, `delivered`, `undelivered`, `failed`, and on WhatsApp
/// `read`), with Twilio's `ErrorCode`: the message's conversation hears it as `message.status_changed`. A status
/// of a message this channel did not send, or one already reported, changes nothing.
#[utoipa::path(post, path = "/channels/twilio/{channel}/status", tag = "channels",
    operation_id = "twilio_receive_status",
    params(("channel" = String, Path, description = "The SMS or WhatsApp channel's id"),
        ("X-Twilio-Signature" = String, Header, description = "Twilio's signature of the URL and parameters")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "Twilio's status callback: MessageSid, AccountSid, MessageStatus, ErrorCode"),
    responses((status = 204, description = "Recorded (or nothing to record)"),
        (status = 400, description = "Not a status callback Twilio would send"),
        (status = 401, description = "The X-Twilio-Signature is missing or not the account's"),
        (status = 404, description = "No Twilio SMS or WhatsApp channel with this id")))]
async fn receive_status(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let (twilio, params) = signed(&app, &raw, &uri, &headers, &body).await?;
    let report = protocol::parse_status(&params).map_err(parse_error)?;
    if twilio.account.settings.account_sid.as_ref().map(|s| s.as_str()) != Some(report.account_sid.as_str()) {
        return Err(Error::field(Code::InvalidBody, "AccountSid", "not this channel's Twilio account").into());
    }
    use protocol::MessageStatus as M;
    let status = match report.status {
        M::Accepted | M::Scheduled | M::Queued | M::Sending => ProviderStatus::Queued,
        M::Sent => ProviderStatus::Sent,
        M::Delivered => ProviderStatus::Delivered,
        M::Read => ProviderStatus::Read,
        M::Undelivered => ProviderStatus::Undelivered,
        M::Failed | M::Canceled => ProviderStatus::Failed,
    };
    let (channel, now) = (twilio.channel.id, app.clock.now());
    let (sid, error_code) = (report.message_sid, report.error_code.map(|c| c.to_string()));
    let error = Some(match &error_code {
        Some(code) => format!("Twilio reported the message {status}: error {code}"),
        None => format!("Twilio reported the message {status}"),
    });
    let report = StatusReport { status, error_code, error };
    app.store.write(move |tx| provider_messages::report_status(tx, channel, &sid, report, now)).await?;
    Ok(StatusCode::NO_CONTENT)
}
