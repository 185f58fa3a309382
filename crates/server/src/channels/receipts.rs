//! What providers report about the messages they accepted, put on those messages: a WhatsApp status (delivered,
//! read, failed with Meta's error code) or a TeleSign delivery report (delivered, or failed with TeleSign's status
//! code). The message is found by the id the provider answered its send with (`provider_messages`). Each report is
//! applied once: a provider sending it again changes nothing.

use switchboard_channels::{
    meta::{StatusIn, StatusState},
    telesign::{DeliveryOutcome, DeliveryReport},
};
use switchboard_domain::{
    Error,
    event::{MessageDelivered, MessageDeliveryFailed, TypedEvent},
};
use switchboard_store::{IdempotencyKey, events, model::Channel, provider_messages};

use crate::AppState;

/// What a report says became of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    /// `delivered` or `read`.
    Reached(&'static str),
    /// The provider gave up: its code and words, as the message shows them.
    Failed(String),
}

/// Puts `receipt` on the message `provider_id` names on `channel`. A report of a message the provider accepted
/// from someone else (the same number used by another system) names no message here and is dropped.
pub async fn apply(app: &AppState, channel: &Channel, provider_id: &str, receipt: Receipt) -> Result<(), Error> {
    let (org, channel_id, provider_id) = (channel.org_id, channel.id, provider_id.to_string());
    let label = match &receipt {
        Receipt::Reached(status) => *status,
        Receipt::Failed(_) => "failed",
    };
    let once = IdempotencyKey {
        principal: format!("channel:{channel_id}"),
        key: format!("receipt:{provider_id}:{label}"),
        fingerprint: String::new(),
    };
    let now = app.clock.now();
    app.store
        .write_once_identified(org, None, Some(once), now, move |tx| {
            let Some(m) = provider_messages::find(tx, channel_id, &provider_id)? else {
                return Ok((200, serde_json::json!({})));
            };
            let event = match receipt {
                Receipt::Reached(status) => TypedEvent::MessageDelivered(MessageDelivered {
                    message_id: m.message_id,
                    channel_id,
                    delivery_id: m.delivery_id,
                    provider_message_id: Some(provider_id),
                    status: Some(status.to_string()),
                }),
                Receipt::Failed(error) => TypedEvent::MessageDeliveryFailed(MessageDeliveryFailed {
                    message_id: m.message_id,
                    channel_id,
                    delivery_id: m.delivery_id,
                    attempts: 1,
                    status: None,
                    error: Some(error),
                }),
            };
            events::append_event(tx, m.org_id, Some(m.conversation_id), &event, now)?;
            Ok((200, serde_json::json!({})))
        })
        .await?;
    Ok(())
}

/// A WhatsApp status: `sent` is what the Graph API's answer already said; `delivered`, `read` and `failed` go on
/// the message (a failure with Meta's code, `(#131047) Re-engagement message: …`).
pub async fn meta_status(app: &AppState, channel: &Channel, s: StatusIn) -> Result<(), Error> {
    let receipt = match s.state {
        StatusState::Delivered => Receipt::Reached("delivered"),
        StatusState::Read => Receipt::Reached("read"),
        StatusState::Failed => {
            let words = s.errors.first().map_or_else(
                || "WhatsApp could not deliver the message".to_string(),
                |e| {
                    let what = e.title.as_deref().or(e.message.as_deref()).unwrap_or("failed");
                    match e.details.as_deref() {
                        Some(d) if d != what => format!("(#{}) {what}: {d}", e.code),
                        _ => format!("(#{}) {what}", e.code),
                    }
                },
            );
            Receipt::Failed(words)
        }
        StatusState::Sent | StatusState::Other => return Ok(()),
    };
    apply(app, channel, &s.message_id, receipt).await
}

/// A TeleSign delivery report: 200 delivered, a final failure with TeleSign's code, intermediate states nothing.
pub async fn telesign_report(app: &AppState, channel: &Channel, r: DeliveryReport) -> Result<(), Error> {
    let receipt = match r.outcome {
        DeliveryOutcome::Delivered => Receipt::Reached("delivered"),
        DeliveryOutcome::Failed => Receipt::Failed(format!(
            "TeleSign {}: {}",
            r.code,
            r.description.as_deref().unwrap_or("the message was not delivered")
        )),
        DeliveryOutcome::Pending => return Ok(()),
    };
    apply(app, channel, &r.reference_id, receipt).await
}
