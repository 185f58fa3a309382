//! Where a conversation's replies go on its channel: the address its adapter took from the customer's last
//! activity, handed back to the adapter when it renders a reply.

use switchboard_domain::{
    Error, Timestamp,
    ids::{ConversationId, OrgId},
};

use crate::{params, sql::Tx};

/// Keeps `address` as where `conversation`'s replies go, replacing what was kept.
pub fn keep(
    tx: &mut Tx<'_>,
    org: OrgId,
    conversation: ConversationId,
    address: &serde_json::Value,
    now: Timestamp,
) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO reply_addresses (conversation_id, org_id, address, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (conversation_id) DO UPDATE SET address = excluded.address, updated_at = excluded.updated_at
         WHERE reply_addresses.address <> excluded.address",
        params![conversation, org, address.to_string(), now],
    )?;
    Ok(())
}

/// Where `conversation`'s replies go, if its channel told.
pub fn get(tx: &mut Tx<'_>, conversation: ConversationId) -> Result<Option<serde_json::Value>, Error> {
    match tx.query_opt("SELECT address FROM reply_addresses WHERE conversation_id = $1", params![conversation])? {
        Some(row) => Ok(Some(row.json(0)?)),
        None => Ok(None),
    }
}
