//! What the supervisor dashboard's charts read (docs/analytics.md): per organization, queue and 15-minute interval,
//! the conversations that arrived, were answered or were abandoned, and their waits; what the analytics worker keeps
//! to count them (the conversations waiting as it counted them); and its place in the log.

use std::collections::HashMap;

use switchboard_domain::{Code, Error, Timestamp, ids::*};

use crate::{
    params,
    sql::{Row, Tx},
};

/// The length of an interval.
pub const INTERVAL_MS: i64 = 15 * 60 * 1000;

/// The start of the interval `at` falls in.
pub fn interval_start(at: Timestamp) -> Timestamp {
    Timestamp::from_millis(at.millis().div_euclid(INTERVAL_MS) * INTERVAL_MS)
}

/// One interval's counts of one queue (also what a batch adds to one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub arrivals: i64,
    pub answered: i64,
    pub abandoned: i64,
    /// The waits of the answered conversations, summed.
    pub wait_ms_sum: i64,
    /// Answered within the service-level threshold.
    pub answered_in_target: i64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.arrivals += other.arrivals;
        self.answered += other.answered;
        self.abandoned += other.abandoned;
        self.wait_ms_sum += other.wait_ms_sum;
        self.answered_in_target += other.answered_in_target;
    }
}

/// A stored interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    pub queue_id: QueueId,
    pub start: Timestamp,
    pub counts: Counts,
}

/// Adds `counts` to the queue's interval starting at `start`.
pub fn add(tx: &mut Tx<'_>, org: OrgId, queue: QueueId, start: Timestamp, c: &Counts) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO analytics_intervals (org_id, queue_id, start_at, arrivals, answered, abandoned, wait_ms_sum,
           answered_in_target)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (org_id, start_at, queue_id) DO UPDATE SET
           arrivals = analytics_intervals.arrivals + excluded.arrivals,
           answered = analytics_intervals.answered + excluded.answered,
           abandoned = analytics_intervals.abandoned + excluded.abandoned,
           wait_ms_sum = analytics_intervals.wait_ms_sum + excluded.wait_ms_sum,
           answered_in_target = analytics_intervals.answered_in_target + excluded.answered_in_target",
        params![org, queue, start, c.arrivals, c.answered, c.abandoned, c.wait_ms_sum, c.answered_in_target],
    )?;
    Ok(())
}

fn interval(r: &Row) -> Result<Interval, Error> {
    Ok(Interval {
        queue_id: r.parse(0)?,
        start: r.ts(1)?,
        counts: Counts {
            arrivals: r.i64(2)?,
            answered: r.i64(3)?,
            abandoned: r.i64(4)?,
            wait_ms_sum: r.i64(5)?,
            answered_in_target: r.i64(6)?,
        },
    })
}

/// The organization's intervals starting in `[from, to)`, of one queue when given, oldest first (queues in id order
/// within an interval).
pub fn intervals(
    tx: &mut Tx<'_>,
    org: OrgId,
    queue: Option<QueueId>,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Interval>, Error> {
    tx.query(
        "SELECT queue_id, start_at, arrivals, answered, abandoned, wait_ms_sum, answered_in_target
         FROM analytics_intervals
         WHERE org_id = $1 AND start_at >= $2 AND start_at < $3 AND (CAST($4 AS TEXT) IS NULL OR queue_id = $4)
         ORDER BY start_at, queue_id",
        params![org, from, to, queue],
    )?
    .iter()
    .map(interval)
    .collect()
}

/// Each queue's counts over the intervals starting at or after `since`.
pub fn totals_since(tx: &mut Tx<'_>, org: OrgId, since: Timestamp) -> Result<HashMap<QueueId, Counts>, Error> {
    let mut totals: HashMap<QueueId, Counts> = HashMap::new();
    for i in intervals(tx, org, None, since, Timestamp::from_millis(i64::MAX))? {
        totals.entry(i.queue_id).or_default().add(&i.counts);
    }
    Ok(totals)
}

/// A conversation counted as arrived and not yet answered or abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    pub org_id: OrgId,
    pub queue_id: QueueId,
    pub since: Timestamp,
}

/// The waits of these conversations, those that have one.
pub fn waits(tx: &mut Tx<'_>, ids: &[ConversationId]) -> Result<HashMap<ConversationId, Wait>, Error> {
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let values: Vec<crate::sql::Value<'_>> = chunk.iter().map(crate::sql::Value::from).collect();
        let rows = tx.query(
            &format!(
                "SELECT conversation_id, org_id, queue_id, since FROM analytics_waits WHERE conversation_id IN ({})",
                placeholders.join(", ")
            ),
            &values,
        )?;
        for r in rows {
            found.insert(r.parse(0)?, Wait { org_id: r.parse(1)?, queue_id: r.parse(2)?, since: r.ts(3)? });
        }
    }
    Ok(found)
}

/// Records that the conversation waits in `queue` since `since` (replacing what was recorded).
pub fn set_wait(tx: &mut Tx<'_>, conversation: ConversationId, w: &Wait) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO analytics_waits (conversation_id, org_id, queue_id, since) VALUES ($1, $2, $3, $4)
         ON CONFLICT (conversation_id) DO UPDATE SET org_id = excluded.org_id, queue_id = excluded.queue_id,
           since = excluded.since",
        params![conversation, w.org_id, w.queue_id, w.since],
    )?;
    Ok(())
}

/// The conversation's wait is over (answered or abandoned).
pub fn end_wait(tx: &mut Tx<'_>, conversation: ConversationId) -> Result<(), Error> {
    tx.execute("DELETE FROM analytics_waits WHERE conversation_id = $1", params![conversation])?;
    Ok(())
}

/// The worker's place in the log: see the `analytics_cursor` table (migration 0015).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    /// Where a restart reads again from.
    pub after: i64,
    /// The last id read; the ids in `(after, high]` were counted, except those in `awaited`.
    pub high: i64,
    pub awaited: Vec<i64>,
    pub version: i64,
}

/// The place kept under `name`, the log's beginning if none is kept yet.
pub fn place(tx: &mut Tx<'_>, name: &str) -> Result<Place, Error> {
    let row =
        tx.query_opt("SELECT event_id, high, awaited, version FROM analytics_cursor WHERE name = $1", params![name])?;
    match row {
        Some(r) => Ok(Place { after: r.i64(0)?, high: r.i64(1)?, awaited: r.json(2)?, version: r.i64(3)? }),
        None => Ok(Place::default()),
    }
}

/// Saves `next` if the kept place is still at `seen`'s version, returning the new version; another writer's save
/// since (a second node counting) is a conflict, and the caller's transaction must not commit.
pub fn save_place(tx: &mut Tx<'_>, name: &str, seen: i64, next: &Place) -> Result<i64, Error> {
    let awaited = serde_json::to_string(&next.awaited).map_err(Error::internal)?;
    let version = seen + 1;
    let changed = if seen == 0 {
        tx.execute(
            "INSERT INTO analytics_cursor (name, event_id, high, awaited, version) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (name) DO NOTHING",
            params![name, next.after, next.high, awaited.as_str(), version],
        )?
    } else {
        tx.execute(
            "UPDATE analytics_cursor SET event_id = $2, high = $3, awaited = $4, version = $5
             WHERE name = $1 AND version = $6",
            params![name, next.after, next.high, awaited.as_str(), version, seen],
        )?
    };
    if changed == 0 {
        return Err(Error::new(Code::AlreadyExists, format!("the analytics cursor `{name}` moved under this worker")));
    }
    Ok(version)
}
