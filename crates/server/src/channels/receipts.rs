//! What Meta and TeleSign report about the messages they accepted, put on those messages the way Twilio's status
//! callbacks are (`store::provider_messages::report_status`): a WhatsApp status (sent, delivered, read, failed with
//! Meta's error code) or a TeleSign delivery report (in progress, delivered, or failed with TeleSign's status code)
//! becomes `message.status_changed`, and a failure also `message.delivery_failed` in the provider's words. The
//! message is found by the id the provider answered its send with. Each status is applied once: a provider sending
//! it again, or an earlier one after a later, changes nothing.

use switchboard_channels::{
    meta::{StatusIn, StatusState},
    telesign::{DeliveryOutcome, DeliveryReport},
};
use switchboard_domain::{Error, event::ProviderStatus};
use switchboard_store::{
    model::Channel,
    provider_messages::{self, StatusReport},
};

use crate::AppState;

/// Puts `report` on the message `provider_id` names on `channel`. A report of a message the provider accepted
/// from someone else (the same number used by another system) names no message here and is dropped.
async fn apply(app: &AppState, channel: &Channel, provider_id: String, report: StatusReport) -> Result<(), Error> {
    let (channel_id, now) = (channel.id, app.clock.now());
    app.store.write(move |tx| provider_messages::report_status(tx, channel_id, &provider_id, report, now)).await?;
    Ok(())
}

/// A WhatsApp status; a failure with Meta's code and words (`(#131047) Re-engagement message: …`).
pub async fn meta_status(app: &AppState, channel: &Channel, s: StatusIn) -> Result<(), Error> {
    let report = match s.state {
        StatusState::Sent => StatusReport { status: ProviderStatus::Sent, error_code: None, error: None },
        StatusState::Delivered => StatusReport { status: ProviderStatus::Delivered, error_code: None, error: None },
        StatusState::Read => StatusReport { status: ProviderStatus::Read, error_code: None, error: None },
        StatusState::Failed => {
            let first = s.errors.first();
            let words = first.map_or_else(
                || "WhatsApp could not deliver the message".to_string(),
                |e| {
                    let what = e.title.as_deref().or(e.message.as_deref()).unwrap_or("failed");
                    match e.details.as_deref() {
                        Some(d) if d != what => format!("(#{}) {what}: {d}", e.code),
                        _ => format!("(#{}) {what}", e.code),
                    }
                },
            );
            StatusReport {
                status: ProviderStatus::Failed,
                error_code: first.map(|e| e.code.to_string()),
                error: Some(words),
            }
        }
        StatusState::Other => return Ok(()),
    };
    apply(app, channel, s.message_id, report).await
}

/// A TeleSign delivery report: 203 (delivered to the gateway) and 295 (sent) read as `sent`, the other codes in
/// progress as `queued`, 200 as `delivered`, any other code as a failure with TeleSign's code.
pub async fn telesign_report(app: &AppState, channel: &Channel, r: DeliveryReport) -> Result<(), Error> {
    let report = match r.outcome {
        DeliveryOutcome::Delivered => StatusReport { status: ProviderStatus::Delivered, error_code: None, error: None },
        DeliveryOutcome::Pending => {
            let status = if matches!(r.code, 203 | 295) { ProviderStatus::Sent } else { ProviderStatus::Queued };
            StatusReport { status, error_code: None, error: None }
        }
        DeliveryOutcome::Failed => StatusReport {
            status: ProviderStatus::Failed,
            error_code: Some(r.code.to_string()),
            error: Some(format!(
                "TeleSign {}: {}",
                r.code,
                r.description.as_deref().unwrap_or("the message was not delivered")
            )),
        },
    };
    apply(app, channel, r.reference_id, report).await
}
