//! Messages by the id their channel's provider gave them: kept when the provider accepts a message, read when it
//! reports what became of it.

use switchboard_domain::{
    Error, Timestamp,
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
        "INSERT INTO provider_messages
             (channel_id, provider_message_id, org_id, conversation_id, message_id, delivery_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (channel_id, provider_message_id) DO NOTHING",
        params![channel, provider_id, m.org_id, m.conversation_id, m.message_id, m.delivery_id, now],
    )?;
    Ok(())
}

/// The message the provider named `provider_id` on `channel`, if it named one.
pub fn find(tx: &mut Tx<'_>, channel: ChannelId, provider_id: &str) -> Result<Option<ProviderMessage>, Error> {
    let row = tx.query_opt(
        "SELECT org_id, conversation_id, message_id, delivery_id FROM provider_messages
         WHERE channel_id = $1 AND provider_message_id = $2",
        params![channel, provider_id],
    )?;
    row.map(|r| {
        Ok(ProviderMessage {
            org_id: r.parse(0)?,
            conversation_id: r.parse(1)?,
            message_id: r.parse(2)?,
            delivery_id: r.parse(3)?,
        })
    })
    .transpose()
}
