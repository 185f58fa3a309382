//! Messages by the id their channel's provider gave them (a Twilio MessageSid, a WhatsApp `wamid`, a TeleSign
//! `reference_id`): kept when the provider accepts a message, read when it reports what became of it. One table and
//! one path for every provider, so that a status means the same whichever provider reported it.

use switchboard_domain::{
    Error, Timestamp,
    event::{MessageDeliveryFailed, MessageStatusChanged, ProviderStatus, TypedEvent},
    ids::{ChannelId, ConversationId, DeliveryId, MessageId, OrgId},
};

use crate::{params, sql::Tx};

/// A message a provider accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMessage {
    pub org_id: OrgId,
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub delivery_id: DeliveryId,
    /// SMS: the segments the provider sends it as, when its answer said.
    pub segments: Option<u32>,
}

/// Keeps `provider_id` as the provider's name for the message `m` carried on `channel`. A provider that reuses an
/// id keeps the first message it named.
pub fn keep(
    tx: &mut Tx<'_>,
    channel: ChannelId,
    provider_id: &str,
    m: &ProviderMessage,
    now: Timestamp,
) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO provider_messages (channel_id, provider_message_id, org_id, conversation_id, message_id,
             delivery_id, segments, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (channel_id, provider_message_id) DO NOTHING",
        params![
            channel,
            provider_id,
            m.org_id,
            m.conversation_id,
            m.message_id,
            m.delivery_id,
            m.segments.map(i64::from),
            now
        ],
    )?;
    Ok(())
}

/// What a provider reported about a message it accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    pub status: ProviderStatus,
    /// The provider's error code with `undelivered` and `failed` (Twilio `30003`, Meta `131047`, TeleSign `210`).
    pub error_code: Option<String>,
    /// The provider's words for a failure, with its code, as the message's `message.delivery_failed` shows them.
    pub error: Option<String>,
}

/// How long a status that names no message yet waits for its message's send to be recorded.
const EARLY_STATUS_KEPT_MS: i64 = 3_600_000;

/// Records what `channel`'s provider reported for its message `provider_id`, once: the message's conversation
/// hears `message.status_changed`, and when the report is a failure also `message.delivery_failed` (what the agent
/// sees under the message, as when the provider refused the send). Returns the status event's payload; `None`
/// when the status is not news (a repeat, or an earlier status arriving after a later one: callbacks cross), or
/// when no message of the channel has that id yet: the report is then kept for [`apply_early`], since a provider
/// may call back before the delivery that sent the message has recorded its answer (and one that never finds its
/// message, the same number used by another system, is dropped after an hour).
pub fn report_status(
    tx: &mut Tx<'_>,
    channel: ChannelId,
    provider_id: &str,
    report: StatusReport,
    now: Timestamp,
) -> Result<Option<MessageStatusChanged>, Error> {
    let Some(row) = tx.query_opt(
        "SELECT p.org_id, p.conversation_id, p.message_id, p.delivery_id, p.status, d.attempts
         FROM provider_messages p LEFT JOIN webhook_deliveries d ON d.id = p.delivery_id
         WHERE p.channel_id = $1 AND p.provider_message_id = $2",
        params![channel, provider_id],
    )?
    else {
        tx.execute(
            "DELETE FROM early_statuses WHERE received_at < $1",
            params![now.plus_millis(-EARLY_STATUS_KEPT_MS)],
        )?;
        tx.execute(
            "INSERT INTO early_statuses (channel_id, provider_message_id, status, error_code, error, received_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (channel_id, provider_message_id, status) DO NOTHING",
            params![
                channel,
                provider_id,
                report.status.as_str(),
                report.error_code.as_deref(),
                report.error.as_deref(),
                now
            ],
        )?;
        return Ok(None);
    };
    let (org, conversation, message, delivery): (OrgId, ConversationId, MessageId, DeliveryId) =
        (row.parse(0)?, row.parse(1)?, row.parse(2)?, row.parse(3)?);
    let before = row.opt_string(4)?.as_deref().and_then(ProviderStatus::parse);
    if before.is_some_and(|b| b.rank() >= report.status.rank()) {
        return Ok(None);
    }
    let attempts = row.opt_i64(5)?.unwrap_or(1);
    let StatusReport { status, error_code, error } = report;
    tx.execute(
        "UPDATE provider_messages SET status = $3, error_code = $4, updated_at = $5
         WHERE channel_id = $1 AND provider_message_id = $2",
        params![channel, provider_id, status.as_str(), error_code.as_deref(), now],
    )?;
    let changed = MessageStatusChanged {
        message_id: message,
        channel_id: channel,
        provider_message_id: provider_id.to_string(),
        status,
        error_code: error_code.clone(),
    };
    crate::events::append_event(tx, org, Some(conversation), &TypedEvent::MessageStatusChanged(changed.clone()), now)?;
    if matches!(status, ProviderStatus::Undelivered | ProviderStatus::Failed) {
        let words = error.unwrap_or_else(|| match &error_code {
            Some(code) => format!("the provider reported the message {status} (error {code})"),
            None => format!("the provider reported the message {status}"),
        });
        let failed = MessageDeliveryFailed {
            message_id: message,
            channel_id: channel,
            delivery_id: delivery,
            attempts,
            status: None,
            error: Some(words),
        };
        crate::events::append_event(tx, org, Some(conversation), &TypedEvent::MessageDeliveryFailed(failed), now)?;
    }
    Ok(Some(changed))
}

/// Applies the statuses `channel`'s provider reported for `provider_id` before its message was kept, in the order
/// of the message's life (a `delivered` that overtook its `sent` still ends at `delivered`); called once the
/// message is kept and its delivery recorded.
pub fn apply_early(tx: &mut Tx<'_>, channel: ChannelId, provider_id: &str, now: Timestamp) -> Result<(), Error> {
    let mut early = Vec::new();
    for r in tx.query(
        "SELECT status, error_code, error FROM early_statuses WHERE channel_id = $1 AND provider_message_id = $2",
        params![channel, provider_id],
    )? {
        let Some(status) = ProviderStatus::parse(&r.string(0)?) else { continue };
        early.push(StatusReport { status, error_code: r.opt_string(1)?, error: r.opt_string(2)? });
    }
    if early.is_empty() {
        return Ok(());
    }
    tx.execute(
        "DELETE FROM early_statuses WHERE channel_id = $1 AND provider_message_id = $2",
        params![channel, provider_id],
    )?;
    early.sort_by_key(|r| r.status.rank());
    for report in early {
        report_status(tx, channel, provider_id, report, now)?;
    }
    Ok(())
}
