//! The phone channels' shared rows: the organization's suppression list (numbers that opted out), and each phone
//! conversation's customer number with when they last wrote, which decides WhatsApp's 24-hour window. Numbers are
//! E.164, normalized by the channel's adapter before they get here.

use serde::{Deserialize, Serialize};
use switchboard_domain::{
    Code, Error, Timestamp,
    account::AccountMethod,
    ids::{ChannelId, ConversationId, OrgId},
    message::{SenderKind, WhatsappTemplate},
    setup::ChannelType,
};
use utoipa::ToSchema;

use crate::{
    params,
    sql::{Row, Tx},
};

/// How long after the customer's last message WhatsApp lets a business send free-form messages.
pub const WHATSAPP_WINDOW_MILLIS: i64 = 24 * 60 * 60 * 1_000;

switchboard_domain::str_enum!(
    /// How a number came onto the suppression list.
    SuppressionSource {
        /// The customer sent STOP (or a synonym).
        Keyword = "keyword",
        /// An administrator added it.
        Api = "api",
    }
);

/// A number nothing is sent to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Suppression {
    /// E.164.
    #[schema(example = "+14255550100")]
    pub phone: String,
    pub source: SuppressionSource,
    /// The channel the customer's STOP came in on.
    pub channel_id: Option<ChannelId>,
    pub reason: Option<String>,
    pub created_at: Timestamp,
}

const COLUMNS: &str = "phone, source, channel_id, reason, created_at";

fn from_row(r: &Row) -> Result<Suppression, Error> {
    Ok(Suppression {
        phone: r.string(0)?,
        source: r.enumeration(1, SuppressionSource::parse)?,
        channel_id: r.opt_parse(2)?,
        reason: r.opt_string(3)?,
        created_at: r.ts(4)?,
    })
}

/// Puts `phone` on the list; a number already there keeps how and when it got there. `true` when it was added now.
pub fn suppress(
    tx: &mut Tx<'_>,
    org: OrgId,
    phone: &str,
    source: SuppressionSource,
    channel: Option<ChannelId>,
    reason: Option<&str>,
    now: Timestamp,
) -> Result<(Suppression, bool), Error> {
    let added = tx.execute(
        "INSERT INTO suppressions (org_id, phone, source, channel_id, reason, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org_id, phone) DO NOTHING",
        params![org, phone, source.as_str(), channel, reason, now],
    )? > 0;
    Ok((get_suppression(tx, org, phone)?, added))
}

/// Takes `phone` off the list; `false` when it was not on it.
pub fn unsuppress(tx: &mut Tx<'_>, org: OrgId, phone: &str) -> Result<bool, Error> {
    Ok(tx.execute("DELETE FROM suppressions WHERE org_id = $1 AND phone = $2", params![org, phone])? > 0)
}

pub fn get_suppression(tx: &mut Tx<'_>, org: OrgId, phone: &str) -> Result<Suppression, Error> {
    let row = tx
        .query_opt(
            &format!("SELECT {COLUMNS} FROM suppressions WHERE org_id = $1 AND phone = $2"),
            params![org, phone],
        )?
        .ok_or_else(|| Error::not_found(Code::SuppressionNotFound))?;
    from_row(&row)
}

pub fn is_suppressed(tx: &mut Tx<'_>, org: OrgId, phone: &str) -> Result<bool, Error> {
    Ok(tx.query_opt("SELECT 1 FROM suppressions WHERE org_id = $1 AND phone = $2", params![org, phone])?.is_some())
}

/// The list by number, after `after`, at most `limit`.
pub fn list_suppressions(
    tx: &mut Tx<'_>,
    org: OrgId,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<Suppression>, Error> {
    tx.query(
        &format!(
            "SELECT {COLUMNS} FROM suppressions WHERE org_id = $1 AND phone > $2 ORDER BY phone LIMIT {}",
            limit.min(1_000)
        ),
        params![org, after.unwrap_or("")],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// A phone conversation's customer.
#[derive(Debug, Clone, PartialEq)]
pub struct PhoneThread {
    pub channel_type: ChannelType,
    /// E.164.
    pub phone: String,
    pub last_inbound_at: Timestamp,
}

impl PhoneThread {
    /// When WhatsApp stops taking free-form messages in this conversation; `None` on channels without a window.
    pub fn window_ends_at(&self) -> Option<Timestamp> {
        (self.channel_type == ChannelType::Whatsapp).then(|| self.last_inbound_at.plus_millis(WHATSAPP_WINDOW_MILLIS))
    }
}

/// Notes that `conversation`'s customer, at `phone`, wrote at `now`.
pub fn note_inbound(
    tx: &mut Tx<'_>,
    org: OrgId,
    conversation: ConversationId,
    channel_type: ChannelType,
    phone: &str,
    now: Timestamp,
) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO phone_threads (conversation_id, org_id, channel_type, phone, last_inbound_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (conversation_id) DO UPDATE SET phone = excluded.phone,
           last_inbound_at = CASE WHEN excluded.last_inbound_at > phone_threads.last_inbound_at
             THEN excluded.last_inbound_at ELSE phone_threads.last_inbound_at END",
        params![conversation, org, channel_type.as_str(), phone, now],
    )?;
    Ok(())
}

/// `conversation`'s customer, if it is a phone conversation.
pub fn thread(tx: &mut Tx<'_>, org: OrgId, conversation: ConversationId) -> Result<Option<PhoneThread>, Error> {
    tx.query_opt(
        "SELECT channel_type, phone, last_inbound_at FROM phone_threads WHERE conversation_id = $1 AND org_id = $2",
        params![conversation, org],
    )?
    .map(|r| {
        Ok(PhoneThread {
            channel_type: r.enumeration(0, ChannelType::parse)?,
            phone: r.string(1)?,
            last_inbound_at: r.ts(2)?,
        })
    })
    .transpose()
}

/// Refuses a template a message cannot be sent as: one on a channel other than WhatsApp, one written as the
/// customer, or one named the way the other provider names templates (a Meta account's channel takes `name` and
/// `language`, a Twilio account's `content_sid`).
pub fn check_template(
    tx: &mut Tx<'_>,
    channel: ChannelId,
    sender: SenderKind,
    template: &WhatsappTemplate,
) -> Result<(), Error> {
    template.check()?;
    if sender == SenderKind::Customer {
        return Err(Error::field(Code::InvalidField, "template", "templates are sent to customers, not by them"));
    }
    let row = tx.query_opt(
        "SELECT c.channel_type, a.method FROM channels c JOIN messaging_accounts a ON a.id = c.account_id
         WHERE c.id = $1",
        params![channel],
    )?;
    let (kind, method) = match row {
        Some(r) => (r.enumeration(0, ChannelType::parse)?, r.opt_string(1)?.as_deref().and_then(AccountMethod::parse)),
        None => return Err(Error::not_found(Code::ChannelNotFound)),
    };
    let refuse = |detail: &str| Err(Error::field(Code::InvalidField, "template", detail));
    match (kind, method) {
        (ChannelType::Whatsapp, Some(AccountMethod::Twilio)) if !template.is_twilio() => {
            refuse("this WhatsApp channel sends through Twilio: name the template by its `content_sid`")
        }
        (ChannelType::Whatsapp, Some(AccountMethod::Meta)) if template.is_twilio() => {
            refuse("this WhatsApp channel sends through Meta's Cloud API: name the template by `name` and `language`")
        }
        (ChannelType::Whatsapp, _) => Ok(()),
        (other, _) => refuse(&format!("templates are sent on WhatsApp channels; this conversation is on {other}")),
    }
}

/// Refuses a message a person (an agent, or a bot) writes to a phone conversation's customer when it cannot be
/// sent: their number opted out, or (WhatsApp) the 24-hour window is over and the message is not a `template`.
/// Checked where the message is written, so the agent hears why at once rather than from a failed delivery later.
pub fn check_reply(
    tx: &mut Tx<'_>,
    org: OrgId,
    conversation: ConversationId,
    template: bool,
    now: Timestamp,
) -> Result<(), Error> {
    match thread(tx, org, conversation)? {
        Some(thread) => check_thread(tx, org, &thread, template, now),
        None => Ok(()),
    }
}

/// [`check_reply`] for a conversation's phone thread already read.
pub fn check_thread(
    tx: &mut Tx<'_>,
    org: OrgId,
    thread: &PhoneThread,
    template: bool,
    now: Timestamp,
) -> Result<(), Error> {
    if is_suppressed(tx, org, &thread.phone)? {
        return Err(Error::new(
            Code::RecipientOptedOut,
            format!("{} opted out of messages (STOP); they can opt back in by sending START", thread.phone),
        ));
    }
    if let Some(end) = thread.window_ends_at()
        && now >= end
        && !template
    {
        return Err(Error::new(
            Code::WhatsappWindowClosed,
            format!(
                "the customer last wrote over 24 hours ago (the window closed at {}): send a WhatsApp template, or wait \
                 for them to write",
                end.to_datetime().format("%Y-%m-%dT%H:%M:%SZ")
            ),
        ));
    }
    Ok(())
}
