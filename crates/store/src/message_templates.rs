//! Outbound message templates: what an organization's SMS and WhatsApp messages are sent from. Each is checked
//! whole when it is saved (`TemplateContent::check`), so a stored template can always be rendered given its
//! placeholders' values. Every change is an event in the organization's log.

use switchboard_domain::{
    Code, Error, Timestamp,
    event::{Deleted, TypedEvent},
    ids::{MessageTemplateId, OrgId},
    outbound::{MessageTemplate, TemplateContent},
    setup::ChannelType,
};

use crate::{
    events, params,
    routing_config::clean_name,
    sql::{Row, Tx},
};

/// Templates an organization holds at most.
pub const MAX_PER_ORG: i64 = 1_000;

const COLUMNS: &str = "id, name, channel_type, default_locale, versions, placeholders, created_at, updated_at";

fn from_row(r: &Row) -> Result<MessageTemplate, Error> {
    Ok(MessageTemplate {
        id: r.parse(0)?,
        name: r.string(1)?,
        channel_type: r.enumeration(2, ChannelType::parse)?,
        default_locale: switchboard_domain::outbound::Locale::parse(r.string(3)?).map_err(Error::internal)?,
        versions: r.json(4)?,
        placeholders: r.json(5)?,
        created_at: r.ts(6)?,
        updated_at: r.ts(7)?,
    })
}

/// A page of the organization's templates, by id.
pub fn list(
    tx: &mut Tx<'_>,
    org: OrgId,
    after: Option<MessageTemplateId>,
    limit: usize,
) -> Result<Vec<MessageTemplate>, Error> {
    tx.list_in_org("message_templates", COLUMNS, org, after, limit, from_row)
}

pub fn get(tx: &mut Tx<'_>, org: OrgId, id: MessageTemplateId) -> Result<MessageTemplate, Error> {
    tx.get_in_org("message_templates", COLUMNS, id.into(), org, Code::MessageTemplateNotFound, from_row)
}

fn name_taken(tx: &mut Tx<'_>, org: OrgId, key: &str, except: Option<MessageTemplateId>) -> Result<(), Error> {
    let taken = tx.query_opt(
        "SELECT id FROM message_templates WHERE org_id = $1 AND name_key = $2 AND id <> $3",
        params![org, key, except.map_or_else(String::new, |id| id.to_string())],
    )?;
    if taken.is_some() {
        return Err(Error::field(Code::AlreadyExists, "name", "a message template with this name exists"));
    }
    Ok(())
}

pub fn create(
    tx: &mut Tx<'_>,
    org: OrgId,
    name: &str,
    content: TemplateContent,
    now: Timestamp,
) -> Result<MessageTemplate, Error> {
    let (name, key) = clean_name(name, "name")?;
    let placeholders = content.check()?;
    name_taken(tx, org, &key, None)?;
    let held = tx.query_one("SELECT COUNT(*) FROM message_templates WHERE org_id = $1", params![org])?.i64(0)?;
    if held >= MAX_PER_ORG {
        return Err(Error::new(Code::InvalidField, format!("an organization holds at most {MAX_PER_ORG} templates")));
    }
    let t = MessageTemplate {
        id: MessageTemplateId::new(),
        name,
        channel_type: content.channel_type,
        default_locale: content.default_locale,
        versions: content.versions,
        placeholders,
        created_at: now,
        updated_at: now,
    };
    tx.execute(
        "INSERT INTO message_templates (id, org_id, name, name_key, channel_type, default_locale, versions,
             placeholders, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        params![
            t.id,
            org,
            &t.name,
            key,
            t.channel_type.as_str(),
            t.default_locale.as_str(),
            crate::setup::to_json(&t.versions)?,
            crate::setup::to_json(&t.placeholders)?,
            now
        ],
    )?;
    events::append_event(tx, org, None, &TypedEvent::MessageTemplateCreated(t.clone()), now)?;
    Ok(t)
}

/// Renames a template, or replaces what it is made of (`content`, checked whole as on create).
pub fn update(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: MessageTemplateId,
    name: Option<&str>,
    content: Option<TemplateContent>,
    now: Timestamp,
) -> Result<MessageTemplate, Error> {
    let mut t = get(tx, org, id)?;
    if let Some(name) = name {
        let (name, key) = clean_name(name, "name")?;
        name_taken(tx, org, &key, Some(id))?;
        t.name = name;
    }
    if let Some(content) = content {
        t.placeholders = content.check()?;
        t.channel_type = content.channel_type;
        t.default_locale = content.default_locale;
        t.versions = content.versions;
    }
    t.updated_at = now;
    tx.execute(
        "UPDATE message_templates SET name = $3, name_key = $4, channel_type = $5, default_locale = $6, versions = $7,
             placeholders = $8, updated_at = $9
         WHERE id = $1 AND org_id = $2",
        params![
            id,
            org,
            &t.name,
            t.name.to_lowercase(),
            t.channel_type.as_str(),
            t.default_locale.as_str(),
            crate::setup::to_json(&t.versions)?,
            crate::setup::to_json(&t.placeholders)?,
            now
        ],
    )?;
    events::append_event(tx, org, None, &TypedEvent::MessageTemplateUpdated(t.clone()), now)?;
    Ok(t)
}

pub fn delete(tx: &mut Tx<'_>, org: OrgId, id: MessageTemplateId, now: Timestamp) -> Result<(), Error> {
    get(tx, org, id)?;
    crate::outbound_configs::check_template_unused(tx, org, id)?;
    tx.execute("DELETE FROM message_templates WHERE id = $1 AND org_id = $2", params![id, org])?;
    events::append_event(tx, org, None, &TypedEvent::MessageTemplateDeleted(Deleted { id: id.uuid() }), now)?;
    Ok(())
}
