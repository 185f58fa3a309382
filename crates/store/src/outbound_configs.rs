//! Outbound configurations: the channel and template an outbound send goes through, named by one id. A
//! configuration's channel and template are the organization's and of its channel type (SMS or WhatsApp); a
//! template a configuration uses cannot be deleted. Every change is an event in the organization's log.

use switchboard_domain::{
    Code, Error, Timestamp,
    event::{Deleted, TypedEvent},
    ids::{ChannelId, MessageTemplateId, OrgId, OutboundConfigId},
    outbound::OutboundConfig,
    setup::ChannelType,
};

use crate::{
    events, params,
    routing_config::clean_name,
    sql::{Row, Tx},
};

/// Configurations an organization holds at most.
pub const MAX_PER_ORG: i64 = 1_000;

const COLUMNS: &str = "id, name, show_in_timeline, channel_type, channel_id, template_id, created_at, updated_at";

fn from_row(r: &Row) -> Result<OutboundConfig, Error> {
    Ok(OutboundConfig {
        id: r.parse(0)?,
        name: r.string(1)?,
        show_in_timeline: r.bool(2)?,
        channel_type: r.enumeration(3, ChannelType::parse)?,
        channel_id: r.parse(4)?,
        template_id: r.parse(5)?,
        created_at: r.ts(6)?,
        updated_at: r.ts(7)?,
    })
}

pub fn list(
    tx: &mut Tx<'_>,
    org: OrgId,
    after: Option<OutboundConfigId>,
    limit: usize,
) -> Result<Vec<OutboundConfig>, Error> {
    tx.list_in_org("outbound_configs", COLUMNS, org, after, limit, from_row)
}

pub fn get(tx: &mut Tx<'_>, org: OrgId, id: OutboundConfigId) -> Result<OutboundConfig, Error> {
    tx.get_in_org("outbound_configs", COLUMNS, id.into(), org, Code::OutboundConfigNotFound, from_row)
}

/// What a configuration is made of, as it is created or changed.
#[derive(Debug, Clone)]
pub struct ConfigContent {
    pub name: String,
    pub show_in_timeline: bool,
    pub channel_type: ChannelType,
    pub channel_id: ChannelId,
    pub template_id: MessageTemplateId,
}

/// Refuses a configuration whose channel or template is not the organization's, or not of its channel type.
fn check(tx: &mut Tx<'_>, org: OrgId, c: &ConfigContent, except: Option<OutboundConfigId>) -> Result<String, Error> {
    let (name, key) = clean_name(&c.name, "name")?;
    if !matches!(c.channel_type, ChannelType::Sms | ChannelType::Whatsapp) {
        return Err(Error::field(
            Code::InvalidField,
            "channel_type",
            "outbound messages go out on `sms` and `whatsapp`",
        ));
    }
    let channel = crate::setup::get_channel(tx, org, c.channel_id).map_err(|e| e.at("channel_id"))?;
    if channel.channel_type != c.channel_type {
        return Err(Error::field(
            Code::InvalidField,
            "channel_id",
            format!("the channel is {}, the configuration {}", channel.channel_type, c.channel_type),
        ));
    }
    let template = crate::message_templates::get(tx, org, c.template_id).map_err(|e| e.at("template_id"))?;
    if template.channel_type != c.channel_type {
        return Err(Error::field(
            Code::InvalidField,
            "template_id",
            format!("the template is for {}, the configuration {}", template.channel_type, c.channel_type),
        ));
    }
    let taken = tx.query_opt(
        "SELECT id FROM outbound_configs WHERE org_id = $1 AND name_key = $2 AND id <> $3",
        params![org, &key, except.map_or_else(String::new, |id| id.to_string())],
    )?;
    if taken.is_some() {
        return Err(Error::field(Code::AlreadyExists, "name", "an outbound configuration with this name exists"));
    }
    Ok(name)
}

pub fn create(tx: &mut Tx<'_>, org: OrgId, c: ConfigContent, now: Timestamp) -> Result<OutboundConfig, Error> {
    let name = check(tx, org, &c, None)?;
    let held = tx.query_one("SELECT COUNT(*) FROM outbound_configs WHERE org_id = $1", params![org])?.i64(0)?;
    if held >= MAX_PER_ORG {
        return Err(Error::new(
            Code::InvalidField,
            format!("an organization holds at most {MAX_PER_ORG} outbound configurations"),
        ));
    }
    let config = OutboundConfig {
        id: OutboundConfigId::new(),
        name,
        show_in_timeline: c.show_in_timeline,
        channel_type: c.channel_type,
        channel_id: c.channel_id,
        template_id: c.template_id,
        created_at: now,
        updated_at: now,
    };
    tx.execute(
        "INSERT INTO outbound_configs (id, org_id, name, name_key, show_in_timeline, channel_type, channel_id,
             template_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        params![
            config.id,
            org,
            &config.name,
            config.name.to_lowercase(),
            config.show_in_timeline,
            config.channel_type.as_str(),
            config.channel_id,
            config.template_id,
            now
        ],
    )?;
    events::append_event(tx, org, None, &TypedEvent::OutboundConfigCreated(config.clone()), now)?;
    Ok(config)
}

/// Changes a configuration: `change` edits its content, which is then checked whole, as on create.
pub fn update(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: OutboundConfigId,
    change: impl FnOnce(&mut ConfigContent),
    now: Timestamp,
) -> Result<OutboundConfig, Error> {
    let mut config = get(tx, org, id)?;
    let mut content = ConfigContent {
        name: config.name.clone(),
        show_in_timeline: config.show_in_timeline,
        channel_type: config.channel_type,
        channel_id: config.channel_id,
        template_id: config.template_id,
    };
    change(&mut content);
    config.name = check(tx, org, &content, Some(id))?;
    config.show_in_timeline = content.show_in_timeline;
    config.channel_type = content.channel_type;
    config.channel_id = content.channel_id;
    config.template_id = content.template_id;
    config.updated_at = now;
    tx.execute(
        "UPDATE outbound_configs SET name = $3, name_key = $4, show_in_timeline = $5, channel_type = $6,
             channel_id = $7, template_id = $8, updated_at = $9
         WHERE id = $1 AND org_id = $2",
        params![
            id,
            org,
            &config.name,
            config.name.to_lowercase(),
            config.show_in_timeline,
            config.channel_type.as_str(),
            config.channel_id,
            config.template_id,
            now
        ],
    )?;
    events::append_event(tx, org, None, &TypedEvent::OutboundConfigUpdated(config.clone()), now)?;
    Ok(config)
}

pub fn delete(tx: &mut Tx<'_>, org: OrgId, id: OutboundConfigId, now: Timestamp) -> Result<(), Error> {
    get(tx, org, id)?;
    tx.execute("DELETE FROM outbound_configs WHERE id = $1 AND org_id = $2", params![id, org])?;
    events::append_event(tx, org, None, &TypedEvent::OutboundConfigDeleted(Deleted { id: id.uuid() }), now)?;
    Ok(())
}

/// Refuses to delete a template a configuration sends from.
pub fn check_template_unused(tx: &mut Tx<'_>, org: OrgId, template: MessageTemplateId) -> Result<(), Error> {
    let used = tx.query_opt(
        "SELECT name FROM outbound_configs WHERE org_id = $1 AND template_id = $2",
        params![org, template],
    )?;
    match used {
        Some(r) => Err(Error::new(
            Code::InUse,
            format!("the outbound configuration `{}` sends from this template", r.string(0)?),
        )),
        None => Ok(()),
    }
}
