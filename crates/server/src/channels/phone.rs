//! What the phone channels share on the server's side, whichever provider carries them (Twilio, TeleSign, Meta):
//! the customer a number is (matched to a contact by it, its open conversation resumed), the carriers' keywords
//! answered and the suppression list they feed, and WhatsApp's 24-hour window noted on every inbound. An adapter
//! parses its provider's webhook, then:
//!
//! 1. [`keyword`] — a STOP/START/HELP message is acted on here and answered (the adapter sends the answer its own
//!    way); it is not stored in a conversation;
//! 2. otherwise [`inbound`] builds the [`Inbound`] for the ingest service (thread keyed by the number), and
//!    [`note_inbound`] is called inside the ingest answer, so the window moves in the same transaction as the message.
//!
//! Agents' and bots' replies to an opted-out number, or to a WhatsApp customer outside the window, are refused
//! where messages are written (`switchboard_store::phone::check_reply`); the deliveries of the server's own notices
//! are dropped by [`deliverable`].

use switchboard_channels::{
    inbound::{Act, Attachment, Inbound, Thread},
    phone::{E164, Keyword},
};
use switchboard_domain::{
    Error, Timestamp,
    account::KeywordReplies,
    contact::CustomerIn,
    ids::{ChannelId, ConversationId, OrgId},
    setup::ChannelType,
    text::{CustomerField, Phone},
};
use switchboard_store::{
    phone::{self as rows, SuppressionSource},
    sql::Tx,
};

use crate::AppState;

/// The text a keyword is answered with: the account's, else the default.
pub fn keyword_answer(keyword: Keyword, replies: Option<&KeywordReplies>) -> String {
    let configured = replies.and_then(|r| match keyword {
        Keyword::Stop => r.stop.as_ref(),
        Keyword::Start => r.start.as_ref(),
        Keyword::Help => r.help.as_ref(),
    });
    match (configured, keyword) {
        (Some(text), _) => text.as_str().to_string(),
        (None, Keyword::Stop) => KeywordReplies::DEFAULT_STOP.into(),
        (None, Keyword::Start) => KeywordReplies::DEFAULT_START.into(),
        (None, Keyword::Help) => KeywordReplies::DEFAULT_HELP.into(),
    }
}

/// If `text` is a carrier keyword from `from`, acts on it — STOP puts the number on the organization's suppression
/// list, START takes it off, HELP changes nothing — and answers with what to send back; `None` for any other text,
/// which goes to a conversation. A repeated STOP answers again (the carrier expects an answer to each) and changes
/// nothing.
pub async fn keyword(
    app: &AppState,
    org: OrgId,
    channel: ChannelId,
    from: &E164,
    text: Option<&str>,
    replies: Option<&KeywordReplies>,
) -> Result<Option<(Keyword, String)>, Error> {
    let Some(keyword) = text.and_then(Keyword::parse) else { return Ok(None) };
    let (phone, now) = (from.as_str().to_string(), app.clock.now());
    match keyword {
        Keyword::Stop => {
            app.store
                .write(move |tx| {
                    rows::suppress(tx, org, &phone, SuppressionSource::Keyword, Some(channel), None, now).map(drop)
                })
                .await?
        }
        Keyword::Start => app.store.write(move |tx| rows::unsuppress(tx, org, &phone).map(drop)).await?,
        Keyword::Help => {}
    }
    metrics::counter!("switchboard_phone_keywords_total", "keyword" => format!("{keyword:?}").to_lowercase())
        .increment(1);
    Ok(Some((keyword, keyword_answer(keyword, replies))))
}

/// The customer a phone number is: matched to the organization's contact with that number (or a new one), and
/// named as the provider tells (a WhatsApp profile name).
pub fn customer(from: &E164, name: Option<&str>) -> CustomerIn {
    CustomerIn {
        phone: Phone::parse(from.as_str()).ok(),
        preferred_name: name.filter(|n| !n.trim().is_empty()).and_then(|n| CustomerField::parse(n.trim()).ok()),
        ..CustomerIn::default()
    }
}

/// The inbound a customer's message from `from` is: on the thread of that number, so that it joins the number's
/// open conversation on the channel, or starts one when the last is closed.
pub fn inbound(
    provider_message_id: String,
    from: &E164,
    name: Option<&str>,
    text: Option<String>,
    attachments: Vec<Attachment>,
    reply_to: Option<serde_json::Value>,
) -> Inbound {
    Inbound {
        provider_message_id: Some(provider_message_id),
        thread: Thread::External(from.as_str().to_string()),
        customer: customer(from, name),
        sender_id: Some(from.as_str().to_string()),
        sender_name: name.map(str::to_string),
        act: Act::Message { text, attachments, automated: false },
        reply_to,
    }
}

/// The number a message from an adapter that parses its own webhook (Meta, TeleSign) is on: the E.164 its thread
/// is keyed by, normalized by libphonenumber where it knows the number, else kept as the provider wrote it (the
/// provider's own international digits: a number it delivered from is real to it, whatever a numbering plan
/// says); `None` for a message not on a number's thread.
pub fn number_of(inbound: &Inbound) -> Option<E164> {
    let Thread::External(key) = &inbound.thread else { return None };
    Some(E164::parse(key, None).unwrap_or_else(|_| E164::from_stored(key.clone())))
}

/// The text of a customer's message, for [`keyword`]: a message with files is never a keyword.
pub fn keyword_text(inbound: &Inbound) -> Option<&str> {
    match &inbound.act {
        Act::Message { text, attachments, .. } if attachments.is_empty() => text.as_deref(),
        _ => None,
    }
}

/// Notes, inside the ingest's transaction, that the customer at `from` wrote at `now` in `conversation`: WhatsApp's
/// window restarts, and the conversation's replies know their number.
pub fn note_inbound(
    tx: &mut Tx<'_>,
    org: OrgId,
    conversation: ConversationId,
    channel_type: ChannelType,
    from: &E164,
    now: Timestamp,
) -> Result<(), Error> {
    rows::note_inbound(tx, org, conversation, channel_type, from.as_str(), now)
}

/// Whether a message may still go to the phone customer of `thread` (a conversation's, read by the caller, which
/// needs its number too) at `now`: not to an opted-out number, and on WhatsApp not outside the window (a template
/// aside). The delivery engine asks before each send, so that what was queued before a STOP, or the server's notices
/// after the window, are not sent; `Err` says why, for the delivery log.
pub fn deliverable(
    tx: &mut Tx<'_>,
    org: OrgId,
    thread: &rows::PhoneThread,
    template: bool,
    now: Timestamp,
) -> Result<Result<(), String>, Error> {
    match rows::check_thread(tx, org, thread, template, now) {
        Ok(()) => Ok(Ok(())),
        Err(e)
            if e.code == switchboard_domain::Code::WhatsappWindowClosed
                || e.code == switchboard_domain::Code::RecipientOptedOut =>
        {
            Ok(Err(e.detail))
        }
        Err(e) => Err(e),
    }
}

/// Holds a message's template to what its provider takes, at the edge: the shape (`WhatsappTemplate::check`), and
/// Meta's components read and checked as the Cloud API would, so that a send it would refuse is refused with a
/// 400 naming the field rather than failing later at the provider. Which provider the conversation's channel uses
/// is checked where the message is written.
pub fn check_template(template: &switchboard_domain::message::WhatsappTemplate) -> Result<(), Error> {
    use switchboard_channels::meta::outbound::{Template, TemplateComponent};
    template.check()?;
    if template.components.is_empty() {
        return Ok(());
    }
    let invalid = |detail: String| Error::field(switchboard_domain::Code::InvalidField, "template.components", detail);
    let components = template
        .components
        .iter()
        .cloned()
        .map(serde_json::from_value)
        .collect::<Result<Vec<TemplateComponent>, _>>()
        .map_err(|e| invalid(format!("not a Cloud API template component: {e}")))?;
    let whole = Template {
        name: template.name.clone().unwrap_or_default(),
        language: template.language.clone().unwrap_or_default(),
        components,
    };
    whole.check().map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_domain::text::ShortText;

    #[test]
    fn keywords_are_answered_with_the_accounts_text_or_the_default() {
        assert_eq!(keyword_answer(Keyword::Stop, None), KeywordReplies::DEFAULT_STOP);
        let replies = KeywordReplies { help: Some(ShortText::from_stored("Call 555".into())), ..Default::default() };
        assert_eq!(keyword_answer(Keyword::Help, Some(&replies)), "Call 555");
        assert_eq!(keyword_answer(Keyword::Start, Some(&replies)), KeywordReplies::DEFAULT_START);
    }
}
