//! A WhatsApp channel's webhook on Meta's Cloud API: the callback URL an administrator pastes into the Meta app's
//! WhatsApp configuration (`{public_url}/channels/whatsapp/{channel}/webhook`), with the verify token of its account.
//! Meta checks it with a `GET` (the `hub.challenge` handshake), then posts every notification to it signed with the
//! app secret; customers' messages go through the ingest service, statuses onto the messages they are about.

use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use switchboard_channels::{
    inbound::{Act, Attachment},
    meta::{self as protocol, Event, MessageIn, signature::SIGNATURE_HEADER},
};
use switchboard_domain::{Code, Error, setup::ChannelType};
use switchboard_store::model::Channel;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    channels::{
        ingest::{Ingest, ingest},
        meta::{MediaError, MetaAccount},
        phone, receipts,
    },
    error::ApiResult,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(verify_webhook, receive_notification))
}

/// Meta's subscription handshake: answers `hub.challenge` when `hub.mode` is `subscribe` and `hub.verify_token` is
/// the account's verify token; otherwise 403, as Meta's own sample does.
#[utoipa::path(get, path = "/channels/whatsapp/{channel}/webhook", tag = "channels",
    operation_id = "meta_verify_webhook",
    params(("channel" = String, Path, description = "The WhatsApp channel's id"),
        ("hub.mode" = String, Query, description = "`subscribe`"),
        ("hub.verify_token" = String, Query, description = "The verify token typed into the app's webhook settings"),
        ("hub.challenge" = String, Query, description = "Echoed back when the token is right")),
    responses((status = 200, description = "The challenge, as text", content_type = "text/plain", body = String),
        (status = 403, description = "Not subscribe, or not this channel's verify token"),
        (status = 404, description = "No WhatsApp (Meta) channel with this id")))]
async fn verify_webhook(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let (_, account) = app.meta.channel(&app, &raw).await?;
    let (mut mode, mut token, mut challenge) = (None, None, None);
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "hub.mode" => mode = Some(v.into_owned()),
            "hub.verify_token" => token = Some(v.into_owned()),
            "hub.challenge" => challenge = Some(v.into_owned()),
            _ => {}
        }
    }
    match protocol::verify_subscription(mode.as_deref(), token.as_deref(), challenge.as_deref(), &account.verify_token)
    {
        Ok(challenge) => Ok((StatusCode::OK, [("content-type", "text/plain")], challenge.to_string()).into_response()),
        Err(e) => Err(Error::new(Code::Forbidden, e.to_string()).into()),
    }
}

/// Receives a notification: checked against `X-Hub-Signature-256` (HMAC-SHA256 of the body with the app secret)
/// before anything is read, then each customer message stored once (a repeated `wamid` is stored once) and each
/// status put on the message it is about. A file that cannot be fetched for now answers 503, and Meta sends the
/// whole notification again; what was stored is not stored twice.
#[utoipa::path(post, path = "/channels/whatsapp/{channel}/webhook", tag = "channels",
    operation_id = "meta_receive_notification",
    params(("channel" = String, Path, description = "The WhatsApp channel's id")),
    request_body(content = Object, description = "A WhatsApp Business Account notification"),
    responses((status = 200, description = "Stored (or repeats, or nothing to store)"),
        (status = 400, description = "Not a WhatsApp notification"),
        (status = 401, description = "The signature is missing or not the app secret's"),
        (status = 404, description = "No WhatsApp (Meta) channel with this id"),
        (status = 503, description = "A file could not be fetched from the Graph API for now")))]
async fn receive_notification(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (channel, account) = app.meta.channel(&app, &raw).await?;
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    protocol::verify_signature(account.app_secret.as_bytes(), signature, &body)
        .map_err(|e| Error::new(Code::Unauthenticated, e.to_string()))?;
    let notification = protocol::parse_notification(&body).map_err(|e| {
        tracing::warn!(channel = %channel.id, error = %e, "a WhatsApp notification that does not parse");
        Error::from(e)
    })?;
    for event in notification.events {
        match event {
            Event::Message(m) if m.phone_number_id == account.phone_number_id => {
                message(&app, &channel, &account, *m).await?;
            }
            Event::Status(s) if s.phone_number_id == account.phone_number_id => {
                receipts::meta_status(&app, &channel, s).await?;
            }
            // Another number of the same business: not this channel's.
            _ => {}
        }
    }
    Ok(StatusCode::OK.into_response())
}

/// Stores one customer message with its files. A refusal that Meta's retries cannot change (the channel takes no
/// files, a closed thread) is logged with the message's id and acknowledged, so Meta stops sending it.
async fn message(app: &AppState, channel: &Channel, account: &MetaAccount, m: MessageIn) -> Result<(), Error> {
    let MessageIn { mut inbound, media, .. } = m;
    let provider_id = inbound.provider_message_id.clone().unwrap_or_default();
    let (org, from) = (channel.org_id, phone::number_of(&inbound));
    // STOP, START and HELP are acted on and answered, not stored in a conversation, as on every phone channel.
    if let Some(from) = &from
        && media.is_empty()
        && let Some((_, answer)) =
            phone::keyword(app, org, channel.id, from, phone::keyword_text(&inbound), account.keyword_replies.as_ref())
                .await?
    {
        let wa_id = inbound.reply_to.as_ref().and_then(|r| r["wa_id"].as_str()).map(str::to_string);
        let to = wa_id.unwrap_or_else(|| from.as_str().trim_start_matches('+').to_string());
        if let Err(why) = app.meta.send_text(account, &to, &answer).await {
            tracing::warn!(channel = %channel.id, message = %provider_id, error = %why, "a keyword's answer not sent");
        }
        return Ok(());
    }
    if let Act::Message { text, attachments, .. } = &mut inbound.act {
        for file in media {
            match app.meta.fetch_media(&account.access_token, &file).await {
                Ok(f) => attachments.push(Attachment::Embedded {
                    content_type: f.content_type,
                    name: file.filename.clone(),
                    bytes: f.bytes,
                }),
                Err(MediaError::Unavailable(why)) => {
                    tracing::warn!(channel = %channel.id, message = %provider_id, error = %why, "a WhatsApp file not fetched yet");
                    return Err(Error::new(Code::Unavailable, format!("the Graph API did not give a file: {why}")));
                }
                Err(e) => {
                    // The message is kept without the file, saying why, so the agent can ask for it another way.
                    let note = format!("(a {} the customer sent was not kept: {e})", file.kind);
                    *text = Some(match text.take() {
                        Some(t) => format!("{t}\n{note}"),
                        None => note,
                    });
                }
            }
        }
    }
    let request = Ingest { channel: channel.into(), idempotency: None, inbound };
    let now = app.clock.now();
    // The 24-hour window moves, and the conversation's replies learn their number, with the message.
    let noted = ingest(app, request, move |tx, stored| {
        if let Some(from) = &from {
            phone::note_inbound(tx, org, stored.conversation, ChannelType::Whatsapp, from, now)?;
        }
        Ok((StatusCode::OK, serde_json::json!({})))
    });
    match noted.await {
        Ok(_) => Ok(()),
        Err(e) if e.code.status() < 500 => {
            tracing::warn!(channel = %channel.id, message = %provider_id, error = %e, "a WhatsApp message not stored");
            Ok(())
        }
        Err(e) => Err(e),
    }
}
