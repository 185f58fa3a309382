//! Quick replies: texts an organization's agents insert into a reply instead of typing them. Every change is an
//! event in the organization's log.

use switchboard_domain::{
    Code, Error, Timestamp,
    event::{Deleted, TypedEvent},
    ids::OrgId,
    text::MessageText,
};
use uuid::Uuid;

pub use switchboard_domain::record::QuickReply;

use crate::{
    events, params,
    routing_config::clean_name,
    sql::{Row, Tx},
};

/// Quick replies an organization holds at most: the list is read whole, by every agent's page.
pub const MAX_PER_ORG: i64 = 1_000;

const COLUMNS: &str = "id, title, text, created_at, updated_at";

fn from_row(r: &Row) -> Result<QuickReply, Error> {
    Ok(QuickReply {
        id: r.parse(0)?,
        title: r.string(1)?,
        text: r.string(2)?,
        created_at: r.ts(3)?,
        updated_at: r.ts(4)?,
    })
}

/// The organization's quick replies by title; with `search`, those whose title or text contains it (ignoring
/// case), so an agent finds one by what it says.
pub fn list(tx: &mut Tx<'_>, org: OrgId, search: Option<&str>) -> Result<Vec<QuickReply>, Error> {
    let pattern = search.map(contains_pattern);
    tx.query(
        &format!(
            "SELECT {COLUMNS} FROM quick_replies WHERE org_id = $1
               AND ($2 = '' OR title_key LIKE $2 ESCAPE '\\' OR LOWER(text) LIKE $2 ESCAPE '\\')
             ORDER BY title_key, id"
        ),
        params![org, pattern.unwrap_or_default()],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// A `LIKE` pattern matching text that contains `search` as written (its `%`, `_` and backslash match only
/// themselves).
fn contains_pattern(search: &str) -> String {
    let mut pattern = String::from("%");
    for c in search.to_lowercase().chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

pub fn get(tx: &mut Tx<'_>, org: OrgId, id: Uuid) -> Result<QuickReply, Error> {
    let row = tx
        .query_opt(
            &format!("SELECT {COLUMNS} FROM quick_replies WHERE id = $1 AND org_id = $2"),
            params![id.to_string(), org],
        )?
        .ok_or_else(|| Error::not_found(Code::QuickReplyNotFound))?;
    from_row(&row)
}

fn title_taken(tx: &mut Tx<'_>, org: OrgId, key: &str, except: Option<Uuid>) -> Result<(), Error> {
    let taken = tx.query_opt(
        "SELECT id FROM quick_replies WHERE org_id = $1 AND title_key = $2 AND id <> $3",
        params![org, key, except.map_or_else(String::new, |id| id.to_string())],
    )?;
    if taken.is_some() {
        return Err(Error::field(Code::AlreadyExists, "title", "a quick reply with this title exists"));
    }
    Ok(())
}

fn check_text(text: &MessageText) -> Result<(), Error> {
    if text.as_str().trim().is_empty() {
        return Err(Error::field(Code::InvalidField, "text", "a quick reply has text to insert"));
    }
    Ok(())
}

pub fn create(
    tx: &mut Tx<'_>,
    org: OrgId,
    title: &str,
    text: MessageText,
    now: Timestamp,
) -> Result<QuickReply, Error> {
    let (title, key) = clean_name(title, "title")?;
    check_text(&text)?;
    title_taken(tx, org, &key, None)?;
    let held = tx.query_one("SELECT COUNT(*) FROM quick_replies WHERE org_id = $1", params![org])?.i64(0)?;
    if held >= MAX_PER_ORG {
        return Err(Error::new(Code::TooManyQuickReplies, "delete a quick reply before adding another"));
    }
    let q = QuickReply { id: Uuid::now_v7(), title, text: text.into_inner(), created_at: now, updated_at: now };
    tx.execute(
        "INSERT INTO quick_replies (id, org_id, title, title_key, text, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        params![q.id.to_string(), org, &q.title, key, &q.text, now, now],
    )?;
    events::append_event(tx, org, None, &TypedEvent::QuickReplyCreated(q.clone()), now)?;
    Ok(q)
}

pub fn update(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: Uuid,
    title: Option<&str>,
    text: Option<MessageText>,
    now: Timestamp,
) -> Result<QuickReply, Error> {
    let mut q = get(tx, org, id)?;
    if let Some(title) = title {
        let (title, key) = clean_name(title, "title")?;
        title_taken(tx, org, &key, Some(id))?;
        q.title = title;
    }
    if let Some(text) = text {
        check_text(&text)?;
        q.text = text.into_inner();
    }
    q.updated_at = now;
    tx.execute(
        "UPDATE quick_replies SET title = $3, title_key = $4, text = $5, updated_at = $6 WHERE id = $1 AND org_id = $2",
        params![id.to_string(), org, &q.title, q.title.to_lowercase(), &q.text, now],
    )?;
    events::append_event(tx, org, None, &TypedEvent::QuickReplyUpdated(q.clone()), now)?;
    Ok(q)
}

pub fn delete(tx: &mut Tx<'_>, org: OrgId, id: Uuid, now: Timestamp) -> Result<(), Error> {
    get(tx, org, id)?;
    tx.execute("DELETE FROM quick_replies WHERE id = $1 AND org_id = $2", params![id.to_string(), org])?;
    events::append_event(tx, org, None, &TypedEvent::QuickReplyDeleted(Deleted { id }), now)?;
    Ok(())
}
