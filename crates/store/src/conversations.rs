//! Conversations: creation (with the persistent-conversation key and contact matching), the state actions of
//! §6.6, messages in per-conversation order, and context variables. Every change writes its event in the same
//! transaction.

use switchboard_domain::{
    Code, Error, Timestamp,
    account::Uploader,
    contact::CustomerIn,
    context::{ContextMap, ContextPatch, ContextValue, ContextVariableIn, VariableKind, VariableName},
    conversation::{Action, ConversationState, transition},
    ids::*,
    limits::MAX_CONTEXT_VARIABLES,
    message::{Attachment, SenderKind},
    role::Role,
    setup::{ChannelType, WorkstreamType},
};

use crate::{
    access, contacts, events,
    model::{ContextVariable, Conversation, Message, Sender, display_name},
    params, setup,
    sql::{Row, Tx},
};
use switchboard_domain::event::{AgentName, ContextUpdated, ConversationStateChanged, EventType, TypedEvent};

const COLUMNS: &str = "c.id, c.org_id, c.channel_id, c.workstream_id, c.queue_id, c.contact_id, c.customer_key, c.state, \
     c.agent_id, c.priority, c.subject, c.created_at, c.updated_at, c.state_changed_at, c.closed_at, c.closure_reason";

fn from_row(r: &Row) -> Result<Conversation, Error> {
    Ok(Conversation {
        id: r.parse(0)?,
        org_id: r.parse(1)?,
        channel_id: r.parse(2)?,
        workstream_id: r.parse(3)?,
        queue_id: r.opt_parse(4)?,
        contact_id: r.opt_parse(5)?,
        customer_key: r.opt_string(6)?,
        state: r.enumeration(7, ConversationState::parse)?,
        agent_id: r.opt_parse(8)?,
        priority: r.i64(9)?,
        subject: r.opt_string(10)?,
        created_at: r.ts(11)?,
        updated_at: r.ts(12)?,
        state_changed_at: r.ts(13)?,
        closed_at: r.opt_ts(14)?,
        closure_reason: r.opt_string(15)?,
    })
}

/// A message as a caller hands it in.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub sender_kind: SenderKind,
    pub sender_id: Option<String>,
    pub sender_name: Option<String>,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    pub automated: bool,
    /// WhatsApp: the template the message is sent as, which may go after the 24-hour window has closed.
    pub template: Option<switchboard_domain::message::WhatsappTemplate>,
}

#[derive(Debug, Clone)]
pub struct NewConversation {
    pub channel_id: ChannelId,
    /// Matched to a contact (created if none matches); its customer id is the persistent-conversation key unless
    /// `key` is given.
    pub customer: CustomerIn,
    /// The persistent-conversation key when it is not the customer's id: a provider's thread (a Bot Framework
    /// conversation id), whose live conversation every activity of the thread joins.
    pub key: Option<String>,
    /// An existing contact, instead of `customer`.
    pub contact_id: Option<ContactId>,
    pub context: ContextMap,
    pub subject: Option<String>,
    pub priority: i64,
    /// Only used when a new conversation starts.
    pub start_message: Option<NewMessage>,
}

#[derive(Debug, Clone)]
pub struct Created {
    pub conversation: Conversation,
    /// False when the customer's live conversation on this channel was returned instead.
    pub is_new: bool,
    pub start_message: Option<Message>,
}

pub fn create(tx: &mut Tx<'_>, org: OrgId, new: NewConversation, now: Timestamp) -> Result<Created, Error> {
    create_with_id(tx, org, ConversationId::new(), new, now)
}

/// [`create`], with the id the new conversation gets chosen by the caller (a Direct Line token names its
/// conversation before the client starts it).
pub fn create_with_id(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: ConversationId,
    new: NewConversation,
    now: Timestamp,
) -> Result<Created, Error> {
    let channel = setup::get_channel(tx, org, new.channel_id).map_err(|e| e.at("channel_id"))?;
    let workstream = setup::get_workstream(tx, org, channel.workstream_id)?;
    let customer_key = new.key.clone().or_else(|| new.customer.customer_id.as_ref().map(|k| k.as_str().to_string()));
    if let Some(key) = &customer_key
        && let Some(conversation) = live_by_key(tx, org, channel.id, key)?
    {
        return Ok(Created { conversation, is_new: false, start_message: None });
    }
    let contact = match new.contact_id {
        Some(id) => Some(contacts::get(tx, org, id).map_err(|e| e.at("contact_id"))?),
        None if !new.customer.is_empty() => Some(contacts::match_or_create(tx, org, &new.customer, now)?),
        None => None,
    };
    let conversation = Conversation {
        id,
        org_id: org,
        channel_id: channel.id,
        workstream_id: workstream.id,
        queue_id: workstream.fallback_queue_id,
        contact_id: contact.as_ref().map(|c| c.id),
        customer_key,
        state: ConversationState::Open,
        agent_id: None,
        priority: new.priority,
        subject: new.subject,
        created_at: now,
        updated_at: now,
        state_changed_at: now,
        closed_at: None,
        closure_reason: None,
    };
    tx.execute(
        "INSERT INTO conversations (id, org_id, channel_id, workstream_id, queue_id, contact_id, customer_key, state,
           priority, subject, created_at, updated_at, state_changed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $11)",
        params![
            conversation.id,
            org,
            conversation.channel_id,
            conversation.workstream_id,
            conversation.queue_id,
            conversation.contact_id,
            conversation.customer_key.as_deref(),
            conversation.state.as_str(),
            conversation.priority,
            conversation.subject.as_deref(),
            now
        ],
    )?;
    for (name, var) in &new.context.0 {
        upsert_variable(tx, org, conversation.id, name, var, now)?;
    }
    let id = conversation.id;
    events::append_event(tx, org, Some(id), &TypedEvent::ConversationCreated(conversation), now)?;
    let start_message = match new.start_message {
        Some(m) => Some(send_message(tx, org, id, m, now)?),
        None => None,
    };
    let conversation = get(tx, org, id)?;
    Ok(Created { conversation, is_new: true, start_message })
}

pub fn get(tx: &mut Tx<'_>, org: OrgId, id: ConversationId) -> Result<Conversation, Error> {
    let row = tx
        .query_opt(
            &format!("SELECT {COLUMNS} FROM conversations c WHERE c.id = $1 AND c.org_id = $2"),
            params![id, org],
        )?
        .ok_or_else(|| Error::not_found(Code::ConversationNotFound))?;
    from_row(&row)
}

/// Which of the organization's conversations a reader sees. Agents see their own work and the work waiting for
/// them: the conversations assigned to them, and the Open ones nobody holds in queues they are members of.
/// Everyone else of the organization sees all of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Scope {
    #[default]
    All,
    Agent(UserId),
    /// An agent role that names no agent (a token of an outside issuer): there is no work of theirs to see.
    Nothing,
}

/// The condition on `c` (a conversation) for `Scope::Agent`, the agent being `${agent}` and the organization `$1`.
fn agent_sees(agent: usize) -> String {
    format!(
        "(c.agent_id = ${agent} OR (c.agent_id IS NULL AND c.state = 'open' AND c.queue_id IN
           (SELECT m.queue_id FROM queue_members m WHERE m.org_id = $1 AND m.user_id = ${agent})))"
    )
}

/// Why a caller names a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reading it or acting in it: the scope decides.
    Use,
    /// Accepting it for oneself: an agent may also take an Open conversation nobody holds in a queue they are not
    /// a member of, by its id, as before queues had members; and a member of its queue who loses a race for it
    /// hears that it was taken (409), not that it is gone.
    Take,
}

/// Whether `scope` sees the conversation; one it does not see is `conversation_not_found`, as another
/// organization's is, so that its existence does not show.
pub fn check_visible(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: ConversationId,
    scope: Scope,
    access: Access,
) -> Result<(), Error> {
    let agent = match scope {
        Scope::All => return Ok(()),
        Scope::Agent(agent) => agent,
        Scope::Nothing => return Err(Error::not_found(Code::ConversationNotFound)),
    };
    let condition = match access {
        Access::Use => agent_sees(3),
        Access::Take => "(c.agent_id = $3 OR (c.agent_id IS NULL AND c.state = 'open') OR c.queue_id IN
           (SELECT m.queue_id FROM queue_members m WHERE m.org_id = $1 AND m.user_id = $3))"
            .to_string(),
    };
    let sql = format!("SELECT 1 FROM conversations c WHERE c.org_id = $1 AND c.id = $2 AND {condition}");
    match tx.query_opt(&sql, params![org, id, agent])? {
        Some(_) => Ok(()),
        None => Err(Error::not_found(Code::ConversationNotFound)),
    }
}

#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub state: Option<ConversationState>,
    pub channel_id: Option<ChannelId>,
    pub queue_id: Option<QueueId>,
    pub agent_id: Option<UserId>,
    pub contact_id: Option<ContactId>,
    /// Whose conversations the reader sees.
    pub scope: Scope,
}

pub fn list(
    tx: &mut Tx<'_>,
    org: OrgId,
    f: &ConversationFilter,
    after: Option<ConversationId>,
    limit: usize,
) -> Result<Vec<Conversation>, Error> {
    let seen_by = match f.scope {
        Scope::All => None,
        Scope::Agent(agent) => Some(agent),
        Scope::Nothing => return Ok(Vec::new()),
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM conversations c WHERE c.org_id = $1
           AND (CAST($2 AS TEXT) IS NULL OR c.state = $2)
           AND (CAST($3 AS TEXT) IS NULL OR c.channel_id = $3)
           AND (CAST($4 AS TEXT) IS NULL OR c.queue_id = $4)
           AND (CAST($5 AS TEXT) IS NULL OR c.agent_id = $5)
           AND (CAST($6 AS TEXT) IS NULL OR c.contact_id = $6)
           AND (CAST($9 AS TEXT) IS NULL OR {})
           AND c.id > $7 ORDER BY c.id LIMIT $8",
        agent_sees(9)
    );
    let after = after.map(|a| a.to_string()).unwrap_or_default();
    tx.query(
        &sql,
        params![
            org,
            f.state.map(ConversationState::as_str),
            f.channel_id,
            f.queue_id,
            f.agent_id,
            f.contact_id,
            after,
            limit,
            seen_by
        ],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// Who asks for a state change. When `agent` is set the caller is that agent and may only act on their own work.
#[derive(Debug, Clone)]
pub struct Actor {
    /// How the caller appears in events: `api_key:<id>`, `client:<id>`, `user:<id>`.
    pub label: String,
    pub agent: Option<UserId>,
}

#[derive(Debug, Clone)]
pub struct ActionRequest {
    pub action: Action,
    /// For `accept` by an admin or supervisor: the agent to assign.
    pub agent_id: Option<UserId>,
    /// For `close`: why (the session closure reason).
    pub reason: Option<String>,
}

pub fn apply(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: ConversationId,
    actor: &Actor,
    req: ActionRequest,
    now: Timestamp,
) -> Result<Conversation, Error> {
    // On PostgreSQL the row stays locked until commit, so that two concurrent actions (two agents accepting one
    // conversation) are checked one after the other; SQLite's single writer already does that.
    let lock = if tx.backend() == crate::sql::Backend::Postgres { " FOR UPDATE OF c" } else { "" };
    let sql = format!(
        "SELECT {COLUMNS}, ch.channel_type, w.workstream_type FROM conversations c
         JOIN channels ch ON ch.id = c.channel_id JOIN workstreams w ON w.id = c.workstream_id
         WHERE c.id = $1 AND c.org_id = $2{lock}"
    );
    let row = tx.query_opt(&sql, params![id, org])?.ok_or_else(|| Error::not_found(Code::ConversationNotFound))?;
    let before = from_row(&row)?;
    let channel_type = row.enumeration(16, ChannelType::parse)?;
    let workstream_type = row.enumeration(17, WorkstreamType::parse)?;
    let to = transition(before.state, req.action, channel_type, workstream_type)?;

    let agent_id = match req.action {
        Action::Accept => {
            let agent = match (actor.agent, req.agent_id) {
                (Some(me), Some(other)) if me != other => {
                    return Err(Error::field(Code::Forbidden, "agent_id", "an agent can only accept for themselves"));
                }
                (Some(me), _) => me,
                (None, Some(agent)) => agent,
                (None, None) => {
                    return Err(Error::field(Code::MissingField, "agent_id", "`agent_id` names the agent to assign"));
                }
            };
            let user = access::get_user(tx, org, agent)
                .map_err(|_| Error::field(Code::AgentNotFound, "agent_id", "no agent with this id"))?;
            if user.role != Role::Agent {
                return Err(Error::field(Code::AgentNotFound, "agent_id", "this user is not an agent"));
            }
            Some(agent)
        }
        _ => {
            if let Some(me) = actor.agent
                && before.agent_id != Some(me)
            {
                return Err(Error::new(
                    Code::NotAssignedAgent,
                    "only the agent assigned to this conversation can do this",
                ));
            }
            match to {
                ConversationState::Open => None,
                _ => before.agent_id,
            }
        }
    };
    let change = StateChange { action: req.action, to, agent_id, reason: req.reason };
    change_state(tx, &before, change, &actor.label, now)
}

/// A state change the state machine allowed: `action` takes the conversation `to` a state, with `agent_id`.
struct StateChange {
    action: Action,
    to: ConversationState,
    agent_id: Option<UserId>,
    reason: Option<String>,
}

/// Makes `change` and records it in the conversation's log.
fn change_state(
    tx: &mut Tx<'_>,
    before: &Conversation,
    change: StateChange,
    by: &str,
    now: Timestamp,
) -> Result<Conversation, Error> {
    let StateChange { action, to, agent_id, reason } = change;
    let (org, id) = (before.org_id, before.id);
    let closed_at = (to == ConversationState::Closed).then_some(now);
    let reason = if to == ConversationState::Closed { reason } else { None };
    tx.execute(
        "UPDATE conversations SET state = $3, agent_id = $4, updated_at = $5, state_changed_at = $5,
           closed_at = $6, closure_reason = $7
         WHERE id = $1 AND org_id = $2",
        params![id, org, to.as_str(), agent_id, now, closed_at, reason],
    )?;
    let after = get(tx, org, id)?;
    // Named here, once, so that webhooks and timelines can say who joined without looking the agent up.
    let agent = match after.agent_id.or(before.agent_id) {
        Some(agent) => {
            let name = tx
                .query_opt("SELECT name FROM users WHERE id = $1", params![agent])?
                .map(|r| r.string(0))
                .transpose()?;
            Some(AgentName { id: agent, name })
        }
        None => None,
    };
    let changed = ConversationStateChanged {
        conversation: after.clone(),
        from: before.state,
        to,
        action,
        by: by.to_string(),
        agent,
        // Routing gives a revived conversation back to the agent who had it, when it can.
        affinity_agent_id: (action == Action::CustomerReply).then_some(before.agent_id),
    };
    events::append_event(tx, org, Some(id), &TypedEvent::ConversationStateChanged(changed), now)?;
    Ok(after)
}

/// Appends a message to the conversation's log. A customer's message revives a Waiting conversation (Waiting →
/// Open); an agent may only write into a conversation assigned to them.
pub fn send_message(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: ConversationId,
    m: NewMessage,
    now: Timestamp,
) -> Result<Message, Error> {
    send(tx, org, id, None, None, m, now)?.ok_or_else(|| Error::internal("a message without a condition was not sent"))
}

/// [`send_message`] if the conversation is in `state`; `None`, and nothing written, if it is not (a system
/// message about a state that has since ended).
pub fn send_message_in_state(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: ConversationId,
    state: ConversationState,
    m: NewMessage,
    now: Timestamp,
) -> Result<Option<Message>, Error> {
    send(tx, org, id, None, Some(state), m, now)
}

/// [`send_message`] into a conversation of `channel` only: another channel's conversation is not found.
pub fn send_message_on(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: ConversationId,
    channel: ChannelId,
    m: NewMessage,
    now: Timestamp,
) -> Result<Message, Error> {
    send(tx, org, id, Some(channel), None, m, now)?
        .ok_or_else(|| Error::internal("a message without a condition was not sent"))
}

fn send(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: ConversationId,
    channel: Option<ChannelId>,
    only_in: Option<ConversationState>,
    m: NewMessage,
    now: Timestamp,
) -> Result<Option<Message>, Error> {
    if m.text.as_deref().is_none_or(str::is_empty) && m.attachments.is_empty() && m.template.is_none() {
        return Err(Error::new(Code::EmptyMessage, "a message needs `text`, a `template` or at least one attachment"));
    }
    let row = tx
        .query_opt(
            // Who may be writing comes with the conversation, in the same round trip: its customer's name and its
            // agent's (only the assigned agent writes as an agent).
            "SELECT c.state, c.agent_id, c.channel_id, c.customer_key, c.contact_id, k.preferred_name, k.first_name,
               k.last_name, u.name
             FROM conversations c LEFT JOIN contacts k ON k.id = c.contact_id LEFT JOIN users u ON u.id = c.agent_id
             WHERE c.id = $1 AND c.org_id = $2",
            params![id, org],
        )?
        .ok_or_else(|| Error::not_found(Code::ConversationNotFound))?;
    if channel.is_some_and(|c| row.parse::<ChannelId>(2).ok() != Some(c)) {
        return Err(Error::not_found(Code::ConversationNotFound));
    }
    let state = row.enumeration(0, ConversationState::parse)?;
    if only_in.is_some_and(|s| s != state) {
        return Ok(None);
    }
    if state == ConversationState::Closed {
        return Err(Error::new(Code::ConversationClosed, format!("conversation {id} is closed")));
    }
    let agent: Option<String> = row.opt_string(1)?;
    if m.sender_kind == SenderKind::Agent && agent.is_none_or(|a| Some(a) != m.sender_id) {
        return Err(Error::new(Code::NotAssignedAgent, "only the agent assigned to this conversation can write in it"));
    }
    // Files from a side the channel does not let send them are refused here, where every message is written,
    // whichever edge it came through (attachment links as well as uploads).
    if let Some(uploader) = Uploader::of(m.sender_kind).filter(|_| !m.attachments.is_empty()) {
        crate::setup::attachment_permissions(tx, org, row.parse(2)?)?.check(uploader, "attachments")?;
    }
    // A phone customer who opted out, or a WhatsApp window that closed, refuses what a person writes to them here,
    // whichever edge it came through; the server's own notices are dropped by the channel's delivery instead.
    if let Some(template) = &m.template {
        crate::phone::check_template(tx, row.parse(2)?, m.sender_kind, template)?;
    }
    if matches!(m.sender_kind, SenderKind::Agent | SenderKind::Bot) {
        crate::phone::check_reply(tx, org, id, m.template.is_some(), now)?;
    }
    let known = Known {
        customer_key: row.opt_string(3)?,
        contact: row.opt_parse(4)?,
        customer_name: display_name(
            row.opt_string(5)?.as_deref(),
            row.opt_string(6)?.as_deref(),
            row.opt_string(7)?.as_deref(),
        ),
        agent_name: row.opt_string(8)?,
    };
    let sender = complete_sender(m.sender_kind, m.sender_id, m.sender_name, known);
    if m.sender_kind == SenderKind::Customer && state == ConversationState::Waiting {
        revive(tx, org, id, now)?;
    }
    let at = events::next_position(tx, id, now)?;
    let message = Message {
        id: MessageId::new(),
        conversation_id: id,
        sequence: at.seq,
        sender,
        text: m.text,
        attachments: m.attachments,
        automated: m.automated,
        template: m.template,
        created_at: at.at,
    };
    events::insert_event(tx, org, Some((id, at)), &TypedEvent::MessageCreated(message.clone()), now)?;
    Ok(Some(message))
}

/// What a conversation knows of who may write in it.
struct Known {
    customer_key: Option<String>,
    contact: Option<ContactId>,
    customer_name: Option<String>,
    /// The assigned agent's display name.
    agent_name: Option<String>,
}

/// The whole sender of a message, from what the caller gave and what the conversation knows: an agent's name is
/// their display name, a customer without an id is the conversation's customer. Recorded with the message, so a
/// later rename does not rewrite history.
fn complete_sender(kind: SenderKind, id: Option<String>, name: Option<String>, known: Known) -> Sender {
    let name = name.or(match kind {
        SenderKind::Agent => known.agent_name,
        SenderKind::Customer => known.customer_name,
        SenderKind::Bot | SenderKind::System => None,
    });
    let id = match kind {
        SenderKind::Customer => id.or(known.customer_key).or_else(|| known.contact.map(|c| c.to_string())),
        _ => id,
    };
    Sender {
        kind,
        id: id.unwrap_or_else(|| kind.as_str().to_string()),
        name: name.unwrap_or_else(|| kind.generic_name().to_string()),
    }
}

/// Waiting → Open on the customer's reply, to be routed anew.
fn revive(tx: &mut Tx<'_>, org: OrgId, id: ConversationId, now: Timestamp) -> Result<(), Error> {
    let before = get(tx, org, id)?;
    let change =
        StateChange { action: Action::CustomerReply, to: ConversationState::Open, agent_id: None, reason: None };
    change_state(tx, &before, change, "customer", now).map(drop)
}

pub fn list_messages(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: ConversationId,
    after_seq: i64,
    limit: usize,
) -> Result<Vec<Message>, Error> {
    get(tx, org, id)?;
    events::entries(tx, org, id, EventType::MessageCreated, after_seq, limit)?.iter().map(|r| r.json(0)).collect()
}

fn upsert_variable(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: ConversationId,
    name: &VariableName,
    var: &ContextVariableIn,
    now: Timestamp,
) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO context_variables (conversation_id, name, org_id, kind, value, displayable, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (conversation_id, name) DO UPDATE SET kind = excluded.kind, value = excluded.value,
           displayable = excluded.displayable, updated_at = excluded.updated_at",
        params![id, name.as_str(), org, var.value.kind().as_str(), var.value.to_stored(), var.displayable, now],
    )?;
    Ok(())
}

pub fn context(tx: &mut Tx<'_>, org: OrgId, id: ConversationId) -> Result<Vec<ContextVariable>, Error> {
    get(tx, org, id)?;
    tx.query(
        "SELECT name, kind, value, displayable, updated_at FROM context_variables
         WHERE conversation_id = $1 AND org_id = $2 ORDER BY name",
        params![id, org],
    )?
    .iter()
    .map(|r| {
        let kind = r.enumeration(1, VariableKind::parse)?;
        Ok(ContextVariable {
            name: VariableName::from_stored(r.string(0)?),
            value: ContextValue::from_stored(kind, r.string(2)?),
            displayable: r.bool(3)?,
            updated_at: r.ts(4)?,
        })
    })
    .collect()
}

/// Sets and removes variables; refuses (changing nothing) if the result would hold more than 100.
pub fn patch_context(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: ConversationId,
    patch: &ContextPatch,
    now: Timestamp,
) -> Result<Vec<ContextVariable>, Error> {
    let conversation = get(tx, org, id)?;
    if conversation.state == ConversationState::Closed {
        return Err(Error::new(Code::ConversationClosed, "the conversation is closed"));
    }
    for (name, var) in &patch.0 {
        match var {
            Some(var) => upsert_variable(tx, org, id, name, var, now)?,
            None => {
                tx.execute(
                    "DELETE FROM context_variables WHERE conversation_id = $1 AND name = $2 AND org_id = $3",
                    params![id, name.as_str(), org],
                )?;
            }
        }
    }
    let count =
        tx.query_one("SELECT COUNT(*) FROM context_variables WHERE conversation_id = $1", params![id])?.i64(0)?;
    if count > MAX_CONTEXT_VARIABLES as i64 {
        return Err(Error::new(
            Code::TooManyContextVariables,
            format!("the conversation would hold {count} context variables; at most {MAX_CONTEXT_VARIABLES}"),
        ));
    }
    let variables = context(tx, org, id)?;
    let changed = ContextUpdated { conversation_id: id, changed: patch.clone(), variables: variables.clone() };
    events::append_event(tx, org, Some(id), &TypedEvent::ConversationContextUpdated(changed), now)?;
    Ok(variables)
}

/// A channel's live conversations (Open, Active, Waiting) created at or after `since`, after `after` in id order:
/// the Messaging API's list.
pub fn list_live_on_channel(
    tx: &mut Tx<'_>,
    org: OrgId,
    channel: ChannelId,
    since: Timestamp,
    after: Option<ConversationId>,
    limit: usize,
) -> Result<Vec<(ConversationId, Timestamp)>, Error> {
    let after = after.map(|a| a.to_string()).unwrap_or_default();
    tx.query(
        "SELECT id, created_at FROM conversations WHERE org_id = $1 AND channel_id = $2
           AND state IN ('open', 'active', 'waiting') AND created_at >= $3 AND id > $4
         ORDER BY id LIMIT $5",
        params![org, channel, since, after, limit],
    )?
    .iter()
    .map(|r| Ok((r.parse(0)?, r.ts(1)?)))
    .collect()
}

/// The channel a conversation came in on (404 for another organization's).
pub fn channel_of(tx: &mut Tx<'_>, org: OrgId, id: ConversationId) -> Result<ChannelId, Error> {
    tx.query_opt("SELECT channel_id FROM conversations WHERE id = $1 AND org_id = $2", params![id, org])?
        .ok_or_else(|| Error::not_found(Code::ConversationNotFound))?
        .parse(0)
}

/// The live (open, active or waiting) conversation of `channel` with the persistent-conversation key `key`.
pub fn live_by_key(tx: &mut Tx<'_>, org: OrgId, channel: ChannelId, key: &str) -> Result<Option<Conversation>, Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM conversations c WHERE c.channel_id = $1 AND c.customer_key = $2 AND c.org_id = $3
         AND c.state IN ('open', 'active', 'waiting')"
    );
    tx.query_opt(&sql, params![channel, key, org])?.map(|row| from_row(&row)).transpose()
}

/// The channels of the conversations named, each looked up in the organization it is named with; a conversation
/// not in that organization is left out (the delivery engine reads events of every organization).
pub fn channels_of(
    tx: &mut Tx<'_>,
    conversations: &[(OrgId, ConversationId)],
) -> Result<Vec<(ConversationId, ChannelId)>, Error> {
    let mut out = Vec::with_capacity(conversations.len());
    for (org, id) in conversations {
        if let Some(r) =
            tx.query_opt("SELECT channel_id FROM conversations WHERE id = $1 AND org_id = $2", params![id, org])?
        {
            out.push((*id, r.parse(0)?));
        }
    }
    Ok(out)
}

/// Records the queue a conversation was transferred to, so that a restart puts it back in that queue.
pub fn move_to_queue(tx: &mut Tx<'_>, org: OrgId, id: ConversationId, queue: QueueId) -> Result<(), Error> {
    let moved =
        tx.execute("UPDATE conversations SET queue_id = $3 WHERE id = $1 AND org_id = $2", params![id, org, queue])?;
    if moved == 0 {
        return Err(Error::not_found(Code::ConversationNotFound));
    }
    Ok(())
}
