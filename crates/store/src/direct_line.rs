//! Direct Line channels: their two secrets, and what Web Chat needs echoed on a customer's own messages.

use std::collections::HashMap;

use switchboard_domain::{
    Error, Timestamp,
    ids::{ChannelId, ConversationId, OrgId},
};

use crate::{params, sql::Tx};

/// A channel's secret as stored: sealed with the deployment's secret key.
#[derive(Debug, Clone)]
pub struct StoredSecret {
    pub slot: String,
    pub sealed_secret: String,
    pub created_at: Timestamp,
}

/// Sets the secret in `slot` (`primary`, `secondary`), replacing the one there: the old one stops working at once.
pub fn set_secret(
    tx: &mut Tx<'_>,
    org: OrgId,
    channel: ChannelId,
    slot: &str,
    sealed_secret: &str,
    secret_hash: &str,
    now: Timestamp,
) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO direct_line_secrets (channel_id, slot, org_id, sealed_secret, secret_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (channel_id, slot) DO UPDATE SET sealed_secret = excluded.sealed_secret,
           secret_hash = excluded.secret_hash, created_at = excluded.created_at",
        params![channel, slot, org, sealed_secret, secret_hash, now],
    )?;
    Ok(())
}

/// The channel's secrets, by slot.
pub fn secrets(tx: &mut Tx<'_>, org: OrgId, channel: ChannelId) -> Result<Vec<StoredSecret>, Error> {
    tx.query(
        "SELECT slot, sealed_secret, created_at FROM direct_line_secrets WHERE channel_id = $1 AND org_id = $2
         ORDER BY slot",
        params![channel, org],
    )?
    .iter()
    .map(|r| Ok(StoredSecret { slot: r.string(0)?, sealed_secret: r.string(1)?, created_at: r.ts(2)? }))
    .collect()
}

/// The channel whose secret has this hash.
pub fn channel_by_secret(tx: &mut Tx<'_>, secret_hash: &str) -> Result<Option<(OrgId, ChannelId)>, Error> {
    tx.query_opt("SELECT org_id, channel_id FROM direct_line_secrets WHERE secret_hash = $1", params![secret_hash])?
        .map(|r| Ok((r.parse(0)?, r.parse(1)?)))
        .transpose()
}

/// Keeps Web Chat's id of the customer's message at `seq`.
pub fn record_client_activity(
    tx: &mut Tx<'_>,
    conversation: ConversationId,
    seq: i64,
    client_activity_id: &str,
) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO direct_line_activities (conversation_id, seq, client_activity_id) VALUES ($1, $2, $3)
         ON CONFLICT (conversation_id, seq) DO NOTHING",
        params![conversation, seq, client_activity_id],
    )?;
    Ok(())
}

/// Web Chat's ids of the conversation's messages after `after_seq`, by sequence.
pub fn client_activities(
    tx: &mut Tx<'_>,
    conversation: ConversationId,
    after_seq: i64,
) -> Result<HashMap<i64, String>, Error> {
    tx.query(
        "SELECT seq, client_activity_id FROM direct_line_activities WHERE conversation_id = $1 AND seq > $2",
        params![conversation, after_seq],
    )?
    .iter()
    .map(|r| Ok((r.i64(0)?, r.string(1)?)))
    .collect()
}

/// The sequence of the conversation's newest event, 0 when it has none: the Direct Line watermark it has reached.
pub fn last_seq(tx: &mut Tx<'_>, conversation: ConversationId) -> Result<i64, Error> {
    let row = tx.query_opt("SELECT MAX(seq) FROM events WHERE conversation_id = $1", params![conversation])?;
    Ok(row.map(|r| r.opt_i64(0)).transpose()?.flatten().unwrap_or(0))
}

/// An event of a conversation's log that a Direct Line client is shown: a message, or a change of state.
#[derive(Debug, Clone)]
pub struct Shown {
    pub event_type: String,
    pub seq: i64,
    pub payload: serde_json::Value,
    pub created_at: Timestamp,
}

/// The conversation's messages and state changes after `after_seq`, in order, at most `limit`.
pub fn shown_after(
    tx: &mut Tx<'_>,
    org: OrgId,
    conversation: ConversationId,
    after_seq: i64,
    limit: usize,
) -> Result<Vec<Shown>, Error> {
    tx.query(
        "SELECT event_type, seq, payload, created_at FROM events WHERE conversation_id = $1 AND org_id = $2 AND seq > $3
           AND event_type IN ('message.created', 'conversation.state_changed')
         ORDER BY seq LIMIT $4",
        params![conversation, org, after_seq, limit],
    )?
    .iter()
    .map(|r| Ok(Shown { event_type: r.string(0)?, seq: r.i64(1)?, payload: r.json(2)?, created_at: r.ts(3)? }))
    .collect()
}

/// The sequence of the customer's newest message at or before `at_seq`, among the last few messages there (what an
/// agent's reply after it answers).
pub fn last_customer_message(
    tx: &mut Tx<'_>,
    org: OrgId,
    conversation: ConversationId,
    at_seq: i64,
) -> Result<Option<i64>, Error> {
    let rows = tx.query(
        "SELECT seq, payload FROM events WHERE conversation_id = $1 AND org_id = $2 AND seq <= $3
           AND event_type = 'message.created'
         ORDER BY seq DESC LIMIT 20",
        params![conversation, org, at_seq],
    )?;
    for r in &rows {
        let payload: serde_json::Value = r.json(1)?;
        if payload.pointer("/sender/kind").and_then(serde_json::Value::as_str) == Some("customer") {
            return Ok(Some(r.i64(0)?));
        }
    }
    Ok(None)
}
