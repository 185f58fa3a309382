//! Queues, workstreams and channels: what an administrator configures before conversations arrive.

use switchboard_domain::{
    Code, Error, Timestamp,
    account::{AttachmentPermissions, ChannelBehaviours, Language},
    ids::*,
    setup::{ChannelSettings, ChannelType, Distribution, PresenceName, QueueType, WorkstreamSettings, WorkstreamType},
};

use crate::{
    events,
    model::{Channel, Queue, Workstream},
    params,
    sql::{Backend, Row, Tx},
};
use switchboard_domain::event::TypedEvent;

const QUEUE_COLUMNS: &str = "id, org_id, name, queue_type, priority, created_at, updated_at";

fn queue_from_row(r: &Row) -> Result<Queue, Error> {
    Ok(Queue {
        id: r.parse(0)?,
        org_id: r.parse(1)?,
        name: r.string(2)?,
        queue_type: r.enumeration(3, QueueType::parse)?,
        priority: r.i64(4)?,
        created_at: r.ts(5)?,
        updated_at: r.ts(6)?,
    })
}

pub fn create_queue(
    tx: &mut Tx<'_>,
    org: OrgId,
    name: &str,
    queue_type: QueueType,
    priority: i64,
    now: Timestamp,
) -> Result<Queue, Error> {
    let q = Queue {
        id: QueueId::new(),
        org_id: org,
        name: name.into(),
        queue_type,
        priority,
        created_at: now,
        updated_at: now,
    };
    tx.execute(
        &format!("INSERT INTO queues ({QUEUE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
        params![q.id, org, &q.name, queue_type.as_str(), priority, q.created_at, q.updated_at],
    )?;
    events::append_event(tx, org, None, &TypedEvent::QueueCreated(q.clone()), q.created_at)?;
    Ok(q)
}

pub fn get_queue(tx: &mut Tx<'_>, org: OrgId, id: QueueId) -> Result<Queue, Error> {
    tx.get_in_org("queues", QUEUE_COLUMNS, id.into(), org, Code::QueueNotFound, queue_from_row)
}

pub fn list_queues(tx: &mut Tx<'_>, org: OrgId, after: Option<QueueId>, limit: usize) -> Result<Vec<Queue>, Error> {
    tx.list_in_org("queues", QUEUE_COLUMNS, org, after, limit, queue_from_row)
}

const WORKSTREAM_COLUMNS: &str =
    "id, org_id, name, workstream_type, distribution, fallback_queue_id, created_at, settings, updated_at";

fn workstream_from_row(r: &Row) -> Result<Workstream, Error> {
    Ok(Workstream {
        id: r.parse(0)?,
        org_id: r.parse(1)?,
        name: r.string(2)?,
        workstream_type: r.enumeration(3, WorkstreamType::parse)?,
        distribution: r.enumeration(4, Distribution::parse)?,
        fallback_queue_id: r.opt_parse(5)?,
        created_at: r.ts(6)?,
        updated_at: r.ts(8)?,
        settings: r.json(7)?,
    })
}

pub fn create_workstream(
    tx: &mut Tx<'_>,
    org: OrgId,
    workstream_type: WorkstreamType,
    new: WorkstreamChange,
    now: Timestamp,
) -> Result<Workstream, Error> {
    let WorkstreamChange { name, distribution, fallback_queue_id, settings } = new;
    check_workstream(tx, org, distribution, fallback_queue_id, &settings)?;
    let w = Workstream {
        id: WorkstreamId::new(),
        org_id: org,
        name,
        workstream_type,
        distribution,
        fallback_queue_id,
        created_at: now,
        updated_at: now,
        settings,
    };
    let settings = serde_json::to_string(&w.settings).map_err(Error::internal)?;
    tx.execute(
        &format!("INSERT INTO workstreams ({WORKSTREAM_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
        params![
            w.id,
            org,
            &w.name,
            workstream_type.as_str(),
            distribution.as_str(),
            fallback_queue_id,
            w.created_at,
            settings,
            w.updated_at
        ],
    )?;
    events::append_event(tx, org, None, &TypedEvent::WorkstreamCreated(w.clone()), w.created_at)?;
    Ok(w)
}

/// What a workstream must be, when created and after each change: settings routing can honour, and a fallback
/// queue and capacity profile of its own organization.
fn check_workstream(
    tx: &mut Tx<'_>,
    org: OrgId,
    distribution: Distribution,
    fallback_queue_id: Option<QueueId>,
    settings: &WorkstreamSettings,
) -> Result<(), Error> {
    settings.attachments.check()?;
    settings.auto_close.check()?;
    settings.wait_notifications.check()?;
    settings.routing.to_engine(distribution)?;
    if let Some(p) = settings.routing.capacity_profile_id {
        crate::routing_config::get_profile(tx, org, p).map_err(|e| e.at("settings.routing.capacity_profile_id"))?;
    }
    if let Some(p) = &settings.routing.after_conversation_work_presence {
        check_presence_id(tx, org, p, "settings.routing.after_conversation_work_presence")?;
    }
    if let Some(q) = fallback_queue_id {
        get_queue(tx, org, q).map_err(|e| e.at("fallback_queue_id"))?;
    }
    Ok(())
}

/// A presence an agent may be put in, by its id in the catalogue: a built-in one's name other than routing's own
/// `inactive`, or a custom presence of the organization. Anything else is 400 `invalid_presence` at `field`.
fn check_presence_id(tx: &mut Tx<'_>, org: OrgId, raw: &str, field: &str) -> Result<(), Error> {
    let refused = || {
        Error::field(
            Code::InvalidPresence,
            field,
            format!("`{raw}` is not a presence of the catalogue (see /v1/presences; `inactive` is routing's own)"),
        )
    };
    match PresenceName::parse(raw) {
        Some(PresenceName::Inactive) => Err(refused()),
        Some(_) => Ok(()),
        None => {
            let id = raw.parse::<uuid::Uuid>().map_err(|_| refused())?;
            crate::routing_config::get_presence(tx, org, id).map(drop).map_err(|_| refused())
        }
    }
}

/// A workstream but its type: what it is created with, and what may change after. Its type may not: its
/// conversations already hold it.
#[derive(Debug, Clone)]
pub struct WorkstreamChange {
    pub name: String,
    pub distribution: Distribution,
    pub fallback_queue_id: Option<QueueId>,
    pub settings: WorkstreamSettings,
}

/// Changes a workstream to what `change` makes of the current one, checked as on create, and records
/// `workstream.updated` (which routing follows to pick up the new settings). `change` sees the row as this
/// transaction locked it, so two concurrent changes apply one after the other rather than one losing the other.
/// A change that leaves every value as it was is checked all the same, then writes nothing and records nothing:
/// the current workstream is the answer, and its `updated_at` stays.
pub fn update_workstream(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: WorkstreamId,
    now: Timestamp,
    change: impl FnOnce(&Workstream) -> Result<WorkstreamChange, Error>,
) -> Result<Workstream, Error> {
    let sql = format!("SELECT {WORKSTREAM_COLUMNS} FROM workstreams WHERE id = $1 AND org_id = $2{}", lock(tx));
    let row = tx.query_opt(&sql, params![id, org])?.ok_or_else(|| Error::not_found(Code::WorkstreamNotFound))?;
    let current = workstream_from_row(&row)?;
    let WorkstreamChange { name, distribution, fallback_queue_id, settings } = change(&current)?;
    // Checked before the comparison: a value is refused whether or not it is the one stored. A row saved before a
    // check existed would otherwise accept, as "no change", a value that every other workstream refuses.
    check_workstream(tx, org, distribution, fallback_queue_id, &settings)?;
    if (&name, distribution, fallback_queue_id, &settings)
        == (&current.name, current.distribution, current.fallback_queue_id, &current.settings)
    {
        return Ok(current);
    }
    let w = Workstream { name, distribution, fallback_queue_id, settings, updated_at: now, ..current };
    let settings = serde_json::to_string(&w.settings).map_err(Error::internal)?;
    tx.execute(
        "UPDATE workstreams SET name = $3, distribution = $4, fallback_queue_id = $5, settings = $6, updated_at = $7
         WHERE id = $1 AND org_id = $2",
        params![id, org, &w.name, distribution.as_str(), fallback_queue_id, settings, now],
    )?;
    events::append_event(tx, org, None, &TypedEvent::WorkstreamUpdated(w.clone()), now)?;
    Ok(w)
}

/// Locks the row read for a change until commit on PostgreSQL; SQLite's single writer already serializes them.
pub(crate) fn lock(tx: &Tx<'_>) -> &'static str {
    if tx.backend() == Backend::Postgres { " FOR UPDATE" } else { "" }
}

pub fn get_workstream(tx: &mut Tx<'_>, org: OrgId, id: WorkstreamId) -> Result<Workstream, Error> {
    tx.get_in_org("workstreams", WORKSTREAM_COLUMNS, id.into(), org, Code::WorkstreamNotFound, workstream_from_row)
}

pub fn list_workstreams(
    tx: &mut Tx<'_>,
    org: OrgId,
    after: Option<WorkstreamId>,
    limit: usize,
) -> Result<Vec<Workstream>, Error> {
    tx.list_in_org("workstreams", WORKSTREAM_COLUMNS, org, after, limit, workstream_from_row)
}

pub(crate) const CHANNEL_COLUMNS: &str = "id, org_id, channel_type, name, workstream_id, created_at, settings, updated_at, \
     account_id, language, behaviours, attachments";

pub(crate) fn channel_from_row(r: &Row) -> Result<Channel, Error> {
    Ok(Channel {
        id: r.parse(0)?,
        org_id: r.parse(1)?,
        channel_type: r.enumeration(2, ChannelType::parse)?,
        name: r.string(3)?,
        workstream_id: r.parse(4)?,
        created_at: r.ts(5)?,
        updated_at: r.ts(7)?,
        settings: r.json(6)?,
        account_id: r.parse(8)?,
        language: Language::parse(r.string(9)?).map_err(Error::internal)?,
        behaviours: r.json(10)?,
        attachments: r.json(11)?,
    })
}

/// Creates a channel of `channel_type` with the defaults of everything accounts brought (language, behaviours,
/// attachment permissions) in an account of its own, named after it: what `POST /v1/channels` without an
/// account makes, as the migration that introduced accounts made for every channel before them.
pub fn create_channel(
    tx: &mut Tx<'_>,
    org: OrgId,
    channel_type: ChannelType,
    name: &str,
    workstream_id: WorkstreamId,
    settings: ChannelSettings,
    now: Timestamp,
) -> Result<Channel, Error> {
    let new = NewChannel {
        account_id: None,
        channel_type,
        name: name.into(),
        workstream_id,
        settings,
        language: Language::default(),
        behaviours: ChannelBehaviours::default(),
        attachments: AttachmentPermissions::default(),
    };
    create_channel_in(tx, org, new, now)
}

/// A channel to create. Without `account_id`, the channel gets an account of its own; with it, the account must
/// be of the channel's type and have room for one more channel.
#[derive(Debug, Clone)]
pub struct NewChannel {
    pub account_id: Option<MessagingAccountId>,
    pub channel_type: ChannelType,
    pub name: String,
    pub workstream_id: WorkstreamId,
    pub settings: ChannelSettings,
    pub language: Language,
    pub behaviours: ChannelBehaviours,
    pub attachments: AttachmentPermissions,
}

pub(crate) fn to_json(v: &impl serde::Serialize) -> Result<String, Error> {
    serde_json::to_string(v).map_err(Error::internal)
}

pub fn create_channel_in(tx: &mut Tx<'_>, org: OrgId, new: NewChannel, now: Timestamp) -> Result<Channel, Error> {
    let NewChannel { account_id, channel_type, name, workstream_id, settings, language, behaviours, attachments } = new;
    check_channel(tx, org, channel_type, workstream_id, &settings, &behaviours)?;
    let account_id = match account_id {
        Some(id) => crate::messaging_accounts::room_for_channel(tx, org, id, channel_type)?.id,
        None => crate::messaging_accounts::create_account_of_channel(tx, org, channel_type, &name, now)?.id,
    };
    let c = Channel {
        id: ChannelId::new(),
        org_id: org,
        channel_type,
        name,
        workstream_id,
        created_at: now,
        updated_at: now,
        settings,
        account_id,
        language,
        behaviours,
        attachments,
    };
    tx.execute(
        &format!("INSERT INTO channels ({CHANNEL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"),
        params![
            c.id,
            org,
            channel_type.as_str(),
            &c.name,
            workstream_id,
            c.created_at,
            to_json(&c.settings)?,
            c.updated_at,
            c.account_id,
            c.language.as_str(),
            to_json(&c.behaviours)?,
            to_json(&c.attachments)?
        ],
    )?;
    // Events go to subscribers and the event feed: the channel without its credentials.
    events::append_event(tx, org, None, &TypedEvent::ChannelCreated(c.view(true)), c.created_at)?;
    Ok(c)
}

/// What a channel must be, when created and after each change: settings its type uses, behaviours this server
/// has, a workstream of its own organization.
fn check_channel(
    tx: &mut Tx<'_>,
    org: OrgId,
    channel_type: ChannelType,
    workstream_id: WorkstreamId,
    settings: &ChannelSettings,
    behaviours: &ChannelBehaviours,
) -> Result<(), Error> {
    settings.check(channel_type)?;
    behaviours.check()?;
    get_workstream(tx, org, workstream_id).map_err(|e| e.at("workstream_id"))?;
    Ok(())
}

/// What may change on a channel after creation. Its type may not: its conversations and provider set-up depend
/// on it; nor its account, whose kind and credentials its set-up at the provider follows.
#[derive(Debug, Clone)]
pub struct ChannelChange {
    pub name: String,
    /// New conversations go to this workstream; existing ones keep theirs.
    pub workstream_id: WorkstreamId,
    pub settings: ChannelSettings,
    pub language: Language,
    pub behaviours: ChannelBehaviours,
    pub attachments: AttachmentPermissions,
}

impl ChannelChange {
    /// The change that keeps everything: what a change of some values starts from.
    pub fn of(c: &Channel) -> Self {
        Self {
            name: c.name.clone(),
            workstream_id: c.workstream_id,
            settings: c.settings.clone(),
            language: c.language.clone(),
            behaviours: c.behaviours.clone(),
            attachments: c.attachments,
        }
    }
}

/// Changes a channel to what `change` makes of the current one, checked as on create, and records
/// `channel.updated`. As with workstreams, `change` sees the row locked by this transaction, and a change that
/// leaves every value as it was is checked, then writes and records nothing. The caller tells the delivery engine
/// after commit, since the webhook URL or app id may have changed.
pub fn update_channel(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: ChannelId,
    now: Timestamp,
    change: impl FnOnce(&Channel) -> Result<ChannelChange, Error>,
) -> Result<Channel, Error> {
    let sql = format!("SELECT {CHANNEL_COLUMNS} FROM channels WHERE id = $1 AND org_id = $2{}", lock(tx));
    let row = tx.query_opt(&sql, params![id, org])?.ok_or_else(|| Error::not_found(Code::ChannelNotFound))?;
    let current = channel_from_row(&row)?;
    let ChannelChange { name, workstream_id, settings, language, behaviours, attachments } = change(&current)?;
    // Before the comparison, for the reason given in `update_workstream`.
    check_channel(tx, org, current.channel_type, workstream_id, &settings, &behaviours)?;
    if (&name, workstream_id, &settings, &language, &behaviours, attachments)
        == (
            &current.name,
            current.workstream_id,
            &current.settings,
            &current.language,
            &current.behaviours,
            current.attachments,
        )
    {
        return Ok(current);
    }
    let c = Channel { name, workstream_id, settings, language, behaviours, attachments, updated_at: now, ..current };
    tx.execute(
        "UPDATE channels SET name = $3, workstream_id = $4, settings = $5, updated_at = $6, language = $7,
         behaviours = $8, attachments = $9
         WHERE id = $1 AND org_id = $2",
        params![
            id,
            org,
            &c.name,
            workstream_id,
            to_json(&c.settings)?,
            now,
            c.language.as_str(),
            to_json(&c.behaviours)?,
            to_json(&c.attachments)?
        ],
    )?;
    events::append_event(tx, org, None, &TypedEvent::ChannelUpdated(c.view(true)), now)?;
    Ok(c)
}

/// Who may send files on a channel.
pub fn attachment_permissions(tx: &mut Tx<'_>, org: OrgId, id: ChannelId) -> Result<AttachmentPermissions, Error> {
    let row = tx
        .query_opt("SELECT attachments FROM channels WHERE id = $1 AND org_id = $2", params![id, org])?
        .ok_or_else(|| Error::not_found(Code::ChannelNotFound))?;
    row.json(0)
}

/// The behaviours of the channel a conversation came through.
pub fn behaviours_of_conversation(
    tx: &mut Tx<'_>,
    org: OrgId,
    conversation: ConversationId,
) -> Result<ChannelBehaviours, Error> {
    let row = tx
        .query_opt(
            "SELECT ch.behaviours FROM conversations c JOIN channels ch ON ch.id = c.channel_id
             WHERE c.id = $1 AND c.org_id = $2",
            params![conversation, org],
        )?
        .ok_or_else(|| Error::not_found(Code::ConversationNotFound))?;
    row.json(0)
}

pub fn get_channel(tx: &mut Tx<'_>, org: OrgId, id: ChannelId) -> Result<Channel, Error> {
    tx.get_in_org("channels", CHANNEL_COLUMNS, id.into(), org, Code::ChannelNotFound, channel_from_row)
}

/// A channel by id alone, whichever organization has it: for the public chat page and the customer's first
/// request, which come with no credentials to name an organization. Channel ids are UUIDv7s, whose 74 random bits
/// no one guesses.
pub fn find_channel(tx: &mut Tx<'_>, id: ChannelId) -> Result<Channel, Error> {
    let sql = format!("SELECT {CHANNEL_COLUMNS} FROM channels WHERE id = $1");
    channel_from_row(&tx.query_opt(&sql, params![id])?.ok_or_else(|| Error::not_found(Code::ChannelNotFound))?)
}

pub fn list_channels(
    tx: &mut Tx<'_>,
    org: OrgId,
    after: Option<ChannelId>,
    limit: usize,
) -> Result<Vec<Channel>, Error> {
    tx.list_in_org("channels", CHANNEL_COLUMNS, org, after, limit, channel_from_row)
}
