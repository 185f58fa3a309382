//! The one ingest service: whatever the channel, what its customer side sent comes in here, parsed by the channel's
//! adapter into an [`Inbound`], and is de-duplicated by the provider's message id, joined to its conversation (found,
//! or started), and stored. The Messaging API, Bot Framework and Direct Line all come through it, so a message
//! is stored the same way (files, order, events, routing) whichever way it arrived.

use axum::http::StatusCode;
use serde_json::Value;
use switchboard_channels::inbound::{self, Act, Inbound, Thread};
use switchboard_domain::{
    Code, Error, Timestamp,
    account::Uploader,
    context::{ContextMap, ContextPatch},
    conversation::{Action, ConversationState},
    ids::{ChannelId, ConversationId, OrgId},
    message::{Attachment, SenderKind},
    text::{HttpUrl, ShortText, field_error},
};
use switchboard_store::{
    IdempotencyKey, Outcome, attachments as stored_attachments,
    conversations::{self, ActionRequest, Actor, NewConversation, NewMessage},
    events,
    idempotency::Body,
    model::{Channel, Conversation, Message},
    reply_addresses,
    sql::Tx,
};

use crate::{
    AppState,
    attachments::{Upload, keep_uploads},
};

/// What an adapter hands the ingest service.
pub struct Ingest {
    /// The channel it came in on, already authenticated by the adapter.
    pub channel: On,
    /// The caller's `Idempotency-Key`, scoped to the request, where the adapter's API takes one.
    pub idempotency: Option<IdempotencyKey>,
    pub inbound: Inbound,
}

/// A channel of an organization.
#[derive(Debug, Clone, Copy)]
pub struct On {
    pub org: OrgId,
    pub channel: ChannelId,
}

impl From<&Channel> for On {
    fn from(channel: &Channel) -> Self {
        On { org: channel.org_id, channel: channel.id }
    }
}

/// What was stored, for the adapter's answer.
#[derive(Debug, Clone)]
pub struct Stored {
    pub conversation: ConversationId,
    /// The conversation started with this inbound.
    pub is_new: bool,
    /// When what was stored happened (a message's time; the last event's for an end or a context change); `None`
    /// for what is not stored (typing).
    pub at: Option<Timestamp>,
    /// The message stored, for a message.
    pub message: Option<Message>,
}

/// Stores `ingest` and answers with what `answer` makes of it, inside the same transaction (where an adapter may
/// also keep rows of its own; for typing, which stores nothing, a read). The answer is kept with the provider's
/// message id (and the idempotency key), so a repeat of the same activity stores nothing and gets the first answer
/// again.
pub async fn ingest<A>(app: &AppState, ingest: Ingest, answer: A) -> Result<Outcome<Value>, Error>
where
    A: FnOnce(&mut Tx<'_>, Stored) -> Result<(StatusCode, Value), Error> + Send + 'static,
{
    let Ingest { channel, idempotency, inbound } = ingest;
    let Inbound { provider_message_id, thread, customer, sender_id, sender_name, act, reply_to } = inbound;
    let org = channel.org;
    let thread = Resolve::parse(thread)?;
    let request_id = provider_message_id.filter(|id| !id.is_empty()).map(|id| IdempotencyKey {
        principal: format!("channel:{}", channel.channel),
        key: format!("activity:{}:{id}", thread.label()),
        // A repeated activity id answers with the first result, whatever the body.
        fingerprint: String::new(),
    });
    let now = app.clock.now();
    let start = Start { channel, customer, reply_to };
    match act {
        Act::Typing => {
            let conversation = thread.find(app, &channel).await?;
            if conversation.state == ConversationState::Closed {
                return Err(Error::new(Code::ConversationClosed, "the conversation is closed"));
            }
            crate::stream::customer_typing(app, org, conversation.id).await?;
            let stored = Stored { conversation: conversation.id, is_new: false, at: None, message: None };
            let (status, body) = app.store.read(move |tx| answer(tx, stored)).await?;
            Ok(Outcome { status: status.as_u16(), body: Body::Value(body), replayed: false })
        }
        Act::Message { text, attachments, automated } => {
            let mut links = Vec::new();
            let mut uploads = Vec::new();
            for (i, attachment) in attachments.into_iter().enumerate() {
                match attachment {
                    inbound::Attachment::Link { content_type, url, name } => {
                        links.push((i, link(i, content_type, url, name)?))
                    }
                    inbound::Attachment::Embedded { content_type, name, bytes } => {
                        uploads.push((i, Upload { content_type, name, bytes }))
                    }
                }
            }
            let mut message = NewMessage {
                sender_kind: SenderKind::Customer,
                sender_id,
                sender_name,
                text,
                attachments: links.into_iter().map(|(_, a)| a).collect(),
                automated,
                template: None,
            };
            let mut rows = Vec::new();
            let mut thread = thread;
            if !uploads.is_empty() {
                // The files are kept under their conversation, so it must be known (or started) first.
                let conversation = thread.find_or_start(app, &start, now).await?;
                let field = |i| format!("attachments[{i}]");
                for (i, attachment, row) in keep_uploads(
                    app,
                    org,
                    conversation.id,
                    conversation.workstream_id,
                    Some(Uploader::Customer),
                    uploads,
                    field,
                )
                .await?
                {
                    message.attachments.insert(i.min(message.attachments.len()), attachment);
                    rows.push(row);
                }
                thread = Resolve::Known(conversation.id);
            }
            app.store
                .write_once_identified(org, idempotency, request_id, now, move |tx| {
                    let (id, is_new) = thread.resolve(tx, &start, now)?;
                    // The message before the files' rows, as every upload writes them (`attachments::keep_uploads`).
                    let m = conversations::send_message_on(tx, org, id, start.channel.channel, message, now)?;
                    for row in &rows {
                        stored_attachments::insert(tx, row, now)?;
                    }
                    let (status, body) =
                        answer(tx, Stored { conversation: id, is_new, at: Some(m.created_at), message: Some(m) })?;
                    Ok((status.as_u16(), body))
                })
                .await
        }
        Act::End => {
            app.store
                .write_once_identified(org, idempotency, request_id, now, move |tx| {
                    let id = thread.existing(tx, &start.channel)?;
                    let actor = Actor { label: "customer".into(), agent: None };
                    let request = ActionRequest { action: Action::CustomerEnd, agent_id: None, reason: None };
                    conversations::apply(tx, org, id, &actor, request, now)?;
                    let at = events::last_time(tx, id)?;
                    let (status, body) =
                        answer(tx, Stored { conversation: id, is_new: false, at: Some(at), message: None })?;
                    Ok((status.as_u16(), body))
                })
                .await
        }
        Act::Context(patch) => {
            app.store
                .write_once_identified(org, idempotency, request_id, now, move |tx| {
                    let id = thread.existing(tx, &start.channel)?;
                    conversations::patch_context(tx, org, id, &patch, now)?;
                    let at = events::last_time(tx, id)?;
                    let (status, body) =
                        answer(tx, Stored { conversation: id, is_new: false, at: Some(at), message: None })?;
                    Ok((status.as_u16(), body))
                })
                .await
        }
        Act::Escalate { context } => {
            app.store
                .write_once_identified(org, idempotency, request_id, now, move |tx| {
                    let (id, is_new) = thread.resolve(tx, &start, now)?;
                    if !context.0.is_empty() {
                        conversations::patch_context(tx, org, id, &context, now)?;
                    }
                    let at = events::last_time(tx, id)?;
                    let (status, body) = answer(tx, Stored { conversation: id, is_new, at: Some(at), message: None })?;
                    Ok((status.as_u16(), body))
                })
                .await
        }
    }
}

/// The `i`th attachment of an inbound message, a link the sender gave: its type and URL checked.
pub fn link(i: usize, content_type: String, url: String, name: Option<String>) -> Result<Attachment, Error> {
    Ok(Attachment {
        content_type: ShortText::parse(content_type)
            .map_err(|e| field_error(&format!("attachments[{i}].contentType"), &e))?,
        url: HttpUrl::parse(url).map_err(|e| field_error(&format!("attachments[{i}].contentUrl"), &e))?,
        name: name.map(ShortText::from_stored),
        id: None,
        size: None,
    })
}

/// Where a conversation starts when an inbound finds none: its channel, the customer as the provider told, and
/// where replies go.
#[derive(Clone)]
struct Start {
    channel: On,
    customer: switchboard_domain::contact::CustomerIn,
    reply_to: Option<Value>,
}

/// An inbound's thread, checked.
#[derive(Clone)]
enum Resolve {
    /// Switchboard's conversation, named by the client.
    Known(ConversationId),
    /// The provider's thread: its live conversation on the channel, or a new one.
    External(String),
}

impl Resolve {
    fn parse(thread: Thread) -> Result<Self, Error> {
        match thread {
            Thread::Conversation(raw) => {
                raw.trim().parse().map(Resolve::Known).map_err(|_| Error::not_found(Code::ConversationNotFound))
            }
            Thread::External(key) if key.is_empty() => {
                Err(Error::field(Code::MissingField, "conversation.id", "the provider named no conversation"))
            }
            Thread::External(key) => Ok(Resolve::External(key)),
        }
    }

    /// How the thread is named in the de-duplication key of its activities.
    fn label(&self) -> String {
        match self {
            Resolve::Known(id) => id.to_string(),
            Resolve::External(key) => format!("thread:{key}"),
        }
    }

    /// The thread's conversation, which must exist and be the channel's.
    async fn find(&self, app: &AppState, channel: &On) -> Result<Conversation, Error> {
        let (org, channel_id) = (channel.org, channel.channel);
        let conversation = match self {
            Resolve::Known(id) => {
                let id = *id;
                app.store.read(move |tx| conversations::get(tx, org, id)).await?
            }
            Resolve::External(key) => {
                let key = key.clone();
                app.store
                    .read(move |tx| conversations::live_by_key(tx, org, channel_id, &key))
                    .await?
                    .ok_or_else(|| Error::not_found(Code::ConversationNotFound))?
            }
        };
        if conversation.channel_id != channel_id {
            return Err(Error::not_found(Code::ConversationNotFound));
        }
        Ok(conversation)
    }

    /// The thread's conversation, started if it has none (in a write of its own).
    async fn find_or_start(&self, app: &AppState, start: &Start, now: Timestamp) -> Result<Conversation, Error> {
        if let Resolve::Known(_) = self {
            return self.find(app, &start.channel).await;
        }
        let org = start.channel.org;
        let (resolve, start) = (self.clone(), start.clone());
        let id = app.store.write(move |tx| resolve.resolve(tx, &start, now).map(|(id, _)| id)).await?;
        app.store.read(move |tx| conversations::get(tx, org, id)).await
    }

    /// The thread's conversation inside a write: the client's (which must be the channel's), or the provider
    /// thread's live one, or a new one. Keeps where replies go when the adapter told.
    fn resolve(&self, tx: &mut Tx<'_>, start: &Start, now: Timestamp) -> Result<(ConversationId, bool), Error> {
        let org = start.channel.org;
        let (id, is_new) = match self {
            Resolve::Known(id) => {
                on_channel(tx, org, *id, &start.channel)?;
                (*id, false)
            }
            Resolve::External(key) => match conversations::live_by_key(tx, org, start.channel.channel, key)? {
                Some(c) => (c.id, false),
                None => {
                    let new = NewConversation {
                        channel_id: start.channel.channel,
                        key: Some(key.clone()),
                        customer: start.customer.clone(),
                        contact_id: None,
                        context: ContextMap::default(),
                        subject: None,
                        priority: 0,
                        start_message: None,
                    };
                    (conversations::create(tx, org, new, now)?.conversation.id, true)
                }
            },
        };
        if let Some(address) = &start.reply_to {
            reply_addresses::keep(tx, org, id, address, now)?;
        }
        Ok((id, is_new))
    }

    /// The thread's conversation inside a write, which must exist: an end or a context change starts nothing.
    fn existing(&self, tx: &mut Tx<'_>, channel: &On) -> Result<ConversationId, Error> {
        let org = channel.org;
        match self {
            Resolve::Known(id) => {
                on_channel(tx, org, *id, channel)?;
                Ok(*id)
            }
            Resolve::External(key) => conversations::live_by_key(tx, org, channel.channel, key)?
                .map(|c| c.id)
                .ok_or_else(|| Error::not_found(Code::ConversationNotFound)),
        }
    }
}

/// Refuses (404) a conversation of another channel or organization, inside the write that acts on it.
fn on_channel(tx: &mut Tx<'_>, org: OrgId, id: ConversationId, channel: &On) -> Result<(), Error> {
    if conversations::channel_of(tx, org, id)? == channel.channel {
        Ok(())
    } else {
        Err(Error::not_found(Code::ConversationNotFound))
    }
}

/// Context variables as set, from a patch (a removal in a patch that starts a conversation sets nothing).
pub fn context_of(patch: ContextPatch) -> ContextMap {
    ContextMap(patch.0.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect())
}
