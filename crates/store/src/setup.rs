//! Queues, workstreams and channels: what an administrator configures before conversations arrive.

use switchboard_domain::{
    Code, Error, Timestamp,
    ids::*,
    setup::{ChannelType, Distribution, QueueType, WorkstreamType},
};

use crate::{
    events,
    model::{Channel, Queue, Workstream},
    params,
    sql::{Row, Tx},
};

const QUEUE_COLUMNS: &str = "id, org_id, name, queue_type, priority, created_at";

fn queue_from_row(r: &Row) -> Result<Queue, Error> {
    Ok(Queue {
        id: r.parse(0)?,
        org_id: r.parse(1)?,
        name: r.string(2)?,
        queue_type: r.enumeration(3, QueueType::parse)?,
        priority: r.i64(4)?,
        created_at: r.ts(5)?,
    })
}

pub fn create_queue(
    tx: &mut Tx<'_>,
    org: OrgId,
    name: &str,
    queue_type: QueueType,
    priority: i64,
) -> Result<Queue, Error> {
    let q = Queue {
        id: QueueId::new(),
        org_id: org,
        name: name.into(),
        queue_type,
        priority,
        created_at: Timestamp::now(),
    };
    tx.execute(
        &format!("INSERT INTO queues ({QUEUE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"),
        params![q.id, org, &q.name, queue_type.as_str(), priority, q.created_at],
    )?;
    events::append(tx, org, "queue.created", None, &q, q.created_at)?;
    Ok(q)
}

pub fn get_queue(tx: &mut Tx<'_>, org: OrgId, id: QueueId) -> Result<Queue, Error> {
    let row = tx
        .query_opt(&format!("SELECT {QUEUE_COLUMNS} FROM queues WHERE id = $1 AND org_id = $2"), params![id, org])?
        .ok_or_else(|| Error::not_found(Code::QueueNotFound))?;
    queue_from_row(&row)
}

pub fn list_queues(tx: &mut Tx<'_>, org: OrgId, after: Option<QueueId>, limit: usize) -> Result<Vec<Queue>, Error> {
    let sql = format!("SELECT {QUEUE_COLUMNS} FROM queues WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3");
    let after = after.map(|a| a.to_string()).unwrap_or_default();
    tx.query(&sql, params![org, after, limit])?.iter().map(queue_from_row).collect()
}

const WORKSTREAM_COLUMNS: &str = "id, org_id, name, workstream_type, distribution, fallback_queue_id, created_at";

fn workstream_from_row(r: &Row) -> Result<Workstream, Error> {
    Ok(Workstream {
        id: r.parse(0)?,
        org_id: r.parse(1)?,
        name: r.string(2)?,
        workstream_type: r.enumeration(3, WorkstreamType::parse)?,
        distribution: r.enumeration(4, Distribution::parse)?,
        fallback_queue_id: r.opt_parse(5)?,
        created_at: r.ts(6)?,
    })
}

pub fn create_workstream(
    tx: &mut Tx<'_>,
    org: OrgId,
    name: &str,
    workstream_type: WorkstreamType,
    distribution: Distribution,
    fallback_queue_id: Option<QueueId>,
) -> Result<Workstream, Error> {
    if let Some(q) = fallback_queue_id {
        get_queue(tx, org, q).map_err(|e| e.at("fallback_queue_id"))?;
    }
    let w = Workstream {
        id: WorkstreamId::new(),
        org_id: org,
        name: name.into(),
        workstream_type,
        distribution,
        fallback_queue_id,
        created_at: Timestamp::now(),
    };
    tx.execute(
        &format!("INSERT INTO workstreams ({WORKSTREAM_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
        params![w.id, org, &w.name, workstream_type.as_str(), distribution.as_str(), fallback_queue_id, w.created_at],
    )?;
    events::append(tx, org, "workstream.created", None, &w, w.created_at)?;
    Ok(w)
}

pub fn get_workstream(tx: &mut Tx<'_>, org: OrgId, id: WorkstreamId) -> Result<Workstream, Error> {
    let row = tx
        .query_opt(
            &format!("SELECT {WORKSTREAM_COLUMNS} FROM workstreams WHERE id = $1 AND org_id = $2"),
            params![id, org],
        )?
        .ok_or_else(|| Error::not_found(Code::WorkstreamNotFound))?;
    workstream_from_row(&row)
}

pub fn list_workstreams(
    tx: &mut Tx<'_>,
    org: OrgId,
    after: Option<WorkstreamId>,
    limit: usize,
) -> Result<Vec<Workstream>, Error> {
    let sql =
        format!("SELECT {WORKSTREAM_COLUMNS} FROM workstreams WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3");
    let after = after.map(|a| a.to_string()).unwrap_or_default();
    tx.query(&sql, params![org, after, limit])?.iter().map(workstream_from_row).collect()
}

const CHANNEL_COLUMNS: &str = "id, org_id, channel_type, name, workstream_id, created_at";

fn channel_from_row(r: &Row) -> Result<Channel, Error> {
    Ok(Channel {
        id: r.parse(0)?,
        org_id: r.parse(1)?,
        channel_type: r.enumeration(2, ChannelType::parse)?,
        name: r.string(3)?,
        workstream_id: r.parse(4)?,
        created_at: r.ts(5)?,
    })
}

pub fn create_channel(
    tx: &mut Tx<'_>,
    org: OrgId,
    channel_type: ChannelType,
    name: &str,
    workstream_id: WorkstreamId,
) -> Result<Channel, Error> {
    get_workstream(tx, org, workstream_id).map_err(|e| e.at("workstream_id"))?;
    let c = Channel {
        id: ChannelId::new(),
        org_id: org,
        channel_type,
        name: name.into(),
        workstream_id,
        created_at: Timestamp::now(),
    };
    tx.execute(
        &format!("INSERT INTO channels ({CHANNEL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"),
        params![c.id, org, channel_type.as_str(), &c.name, workstream_id, c.created_at],
    )?;
    events::append(tx, org, "channel.created", None, &c, c.created_at)?;
    Ok(c)
}

pub fn get_channel(tx: &mut Tx<'_>, org: OrgId, id: ChannelId) -> Result<Channel, Error> {
    let row = tx
        .query_opt(&format!("SELECT {CHANNEL_COLUMNS} FROM channels WHERE id = $1 AND org_id = $2"), params![id, org])?
        .ok_or_else(|| Error::not_found(Code::ChannelNotFound))?;
    channel_from_row(&row)
}

pub fn list_channels(
    tx: &mut Tx<'_>,
    org: OrgId,
    after: Option<ChannelId>,
    limit: usize,
) -> Result<Vec<Channel>, Error> {
    let sql = format!("SELECT {CHANNEL_COLUMNS} FROM channels WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3");
    let after = after.map(|a| a.to_string()).unwrap_or_default();
    tx.query(&sql, params![org, after, limit])?.iter().map(channel_from_row).collect()
}
