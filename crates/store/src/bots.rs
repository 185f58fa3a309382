//! Bots in front of agents: a channel's bot, and its hold on each conversation it answers (`bot_sessions`). A
//! conversation has at most one session, so a bot that escalated or ended it never gets it back.

use serde::Serialize;
use switchboard_domain::{
    Code, Error, Timestamp,
    ids::{ChannelId, ClientId, ConversationId, OrgId},
};

use crate::{params, sql::Tx};

/// A channel's bot.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Bot {
    /// The bot's OAuth2 client: its id is the bot's id.
    #[schema(value_type = String)]
    pub client_id: ClientId,
    #[schema(value_type = String)]
    pub channel_id: ChannelId,
    pub name: String,
    /// Where Switchboard posts the customer's activities (the bot's `/api/messages`).
    pub messaging_endpoint: String,
    /// The audience of the tokens Switchboard signs for the bot.
    pub app_id: String,
    pub created_at: Timestamp,
}

const COLUMNS: &str = "client_id, channel_id, name, messaging_endpoint, app_id, created_at";

fn from_row(r: &crate::sql::Row) -> Result<Bot, Error> {
    Ok(Bot {
        client_id: r.parse(0)?,
        channel_id: r.parse(1)?,
        name: r.string(2)?,
        messaging_endpoint: r.string(3)?,
        app_id: r.string(4)?,
        created_at: r.ts(5)?,
    })
}

/// Names `bot` as the bot of its channel, which must be the organization's and have no bot yet.
pub fn create(tx: &mut Tx<'_>, org: OrgId, bot: &Bot) -> Result<(), Error> {
    crate::setup::get_channel(tx, org, bot.channel_id)?;
    if tx.query_opt("SELECT 1 FROM bots WHERE channel_id = $1", params![bot.channel_id])?.is_some() {
        return Err(Error::field(Code::AlreadyExists, "channel_id", "the channel already has a bot"));
    }
    tx.execute(
        "INSERT INTO bots (client_id, org_id, channel_id, name, messaging_endpoint, app_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        params![
            bot.client_id,
            org,
            bot.channel_id,
            bot.name.as_str(),
            bot.messaging_endpoint.as_str(),
            bot.app_id.as_str(),
            bot.created_at
        ],
    )?;
    Ok(())
}

/// The bot that is this OAuth2 client, if it is one.
pub fn by_client(tx: &mut Tx<'_>, org: OrgId, client: ClientId) -> Result<Option<Bot>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM bots WHERE client_id = $1 AND org_id = $2");
    tx.query_opt(&sql, params![client, org])?.map(|r| from_row(&r)).transpose()
}

/// Every bot, for the delivery engine.
pub fn all(tx: &mut Tx<'_>) -> Result<Vec<(OrgId, Bot)>, Error> {
    let sql = format!("SELECT org_id, {COLUMNS} FROM bots ORDER BY client_id");
    let mut out = Vec::new();
    for r in tx.query(&sql, params![])? {
        out.push((
            r.parse(0)?,
            Bot {
                client_id: r.parse(1)?,
                channel_id: r.parse(2)?,
                name: r.string(3)?,
                messaging_endpoint: r.string(4)?,
                app_id: r.string(5)?,
                created_at: r.ts(6)?,
            },
        ));
    }
    Ok(out)
}

/// Where a conversation stands with its channel's bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// A bot answers it: routing leaves it alone.
    Held,
    /// New, on a channel with this bot: the bot takes it first ([`start`]).
    Due(ClientId),
    /// No bot, or the bot has let go: routed like any other.
    Free,
}

/// Where `conversation` (of `channel`) stands with a bot.
pub fn hold(tx: &mut Tx<'_>, org: OrgId, conversation: ConversationId, channel: ChannelId) -> Result<Hold, Error> {
    if let Some(r) = tx.query_opt("SELECT state FROM bot_sessions WHERE conversation_id = $1", params![conversation])? {
        return Ok(if r.string(0)? == "active" { Hold::Held } else { Hold::Free });
    }
    match tx.query_opt("SELECT client_id FROM bots WHERE channel_id = $1 AND org_id = $2", params![channel, org])? {
        Some(r) => Ok(Hold::Due(r.parse(0)?)),
        None => Ok(Hold::Free),
    }
}

/// Gives `conversation` to the bot `client`, once: a conversation that had a session keeps it.
pub fn start(
    tx: &mut Tx<'_>,
    org: OrgId,
    conversation: ConversationId,
    client: ClientId,
    now: Timestamp,
) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO bot_sessions (conversation_id, org_id, client_id, state, started_at)
         VALUES ($1, $2, $3, 'active', $4) ON CONFLICT (conversation_id) DO NOTHING",
        params![conversation, org, client, now],
    )?;
    Ok(())
}

/// The bot holding each of these conversations, for those a bot holds or is about to: a new conversation of a
/// channel with a bot is the bot's even before routing has started its session (its first message must reach it).
pub fn holders(tx: &mut Tx<'_>, conversations: &[ConversationId]) -> Result<Vec<(ConversationId, ClientId)>, Error> {
    let mut out = Vec::new();
    for id in conversations {
        let held =
            match tx.query_opt("SELECT state, client_id FROM bot_sessions WHERE conversation_id = $1", params![id])? {
                Some(r) => (r.string(0)? == "active").then(|| r.parse(1)).transpose()?,
                None => tx
                    .query_opt(
                        "SELECT b.client_id FROM conversations c JOIN bots b ON b.channel_id = c.channel_id
                     WHERE c.id = $1 AND c.state = 'open'",
                        params![id],
                    )?
                    .map(|r| r.parse(0))
                    .transpose()?,
            };
        if let Some(client) = held {
            out.push((*id, client));
        }
    }
    Ok(out)
}

/// How a bot lets go of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    Escalated,
    Ended,
}

/// Ends `client`'s hold on `conversation`: `true` if it held it (so only the first escalation re-routes).
pub fn release(
    tx: &mut Tx<'_>,
    conversation: ConversationId,
    client: ClientId,
    how: Release,
    now: Timestamp,
) -> Result<bool, Error> {
    let state = match how {
        Release::Escalated => "escalated",
        Release::Ended => "ended",
    };
    let n = tx.execute(
        "UPDATE bot_sessions SET state = $1, finished_at = $2
         WHERE conversation_id = $3 AND client_id = $4 AND state = 'active'",
        params![state, now, conversation, client],
    )?;
    Ok(n > 0)
}

/// Whether `client` has held `conversation` (now or before): its transcript is the bot's to add to.
pub fn held_by(tx: &mut Tx<'_>, conversation: ConversationId, client: ClientId) -> Result<Option<bool>, Error> {
    let r = tx.query_opt(
        "SELECT state FROM bot_sessions WHERE conversation_id = $1 AND client_id = $2",
        params![conversation, client],
    )?;
    r.map(|r| Ok(r.string(0)? == "active")).transpose()
}
