//! The analytics worker: it follows the conversation log and counts, per queue and 15-minute interval, the
//! conversations that arrived, were answered (with their waits) and were abandoned (docs/analytics.md). The
//! supervisor dashboard's charts read what it stores (`GET /v1/analytics/intervals`).
//!
//! - **What counts.** `routing.queued` is an arrival, unless the conversation already waits in that queue (back
//!   from an offer); one that waits elsewhere has moved, and arrives in the new queue. `routing.assigned` answers a
//!   waiting conversation, with the wait the event carries. `conversation.state_changed` to `closed` while it waits
//!   (never assigned since it arrived) abandons it. Each is counted in the interval of its event's time.
//! - **Once.** The counts, the waiting conversations and the worker's place in the log commit in one transaction
//!   (`switchboard_store::analytics`), so a restart neither loses nor repeats a count.
//! - **One counter.** Only the node that leads routing counts (always on SQLite; the lease holder on PostgreSQL),
//!   and the place's version makes a second writer's transaction fail rather than count twice, should two nodes
//!   overlap for a moment.

use std::{collections::HashSet, time::Duration};

use switchboard_domain::{
    Error, Timestamp,
    conversation::ConversationState,
    event::{EventType, TypedEvent},
    ids::*,
};
use switchboard_store::{
    Store,
    analytics::{self as store, Counts, Place, Wait, interval_start},
    model::Event,
};

use crate::{
    AppState,
    leadership::AbortOnDrop,
    outbox::{EventLog, Filter, Start},
};

/// The name of the worker's place in `analytics_cursor`.
const CURSOR: &str = "analytics";
/// Events read per batch.
const BATCH: usize = 1_000;
/// The events the worker counts from.
const COUNTED: [EventType; 3] =
    [EventType::RoutingQueued, EventType::RoutingAssigned, EventType::ConversationStateChanged];
/// How often the place is saved when the events read counted nothing: a restart reads those again, to no effect.
const SAVE_EVERY: Duration = Duration::from_secs(5);
/// How long the worker waits before it starts again after it failed.
const RETRY: Duration = Duration::from_secs(1);

/// A conversation answered within this many seconds counts toward the service level. No queue or organization
/// setting says otherwise yet; 20 seconds is the industry's usual chat and voice target (80/20).
pub const SERVICE_LEVEL_SECONDS: i64 = 20;

/// Runs the worker while this node leads; dropping the handle stops it.
pub fn start(app: &AppState) -> AbortOnDrop {
    let (db, log) = (app.store.clone(), app.log.clone());
    let mut leading = app.leadership.watch();
    let task = tokio::spawn(async move {
        loop {
            if leading.wait_for(|leads| *leads).await.is_err() {
                return;
            }
            let counting = tokio::spawn(run(db.clone(), log.clone()));
            let _stop = AbortOnDrop(counting.abort_handle());
            if leading.wait_for(|leads| !*leads).await.is_err() {
                return;
            }
        }
    });
    AbortOnDrop(task.abort_handle())
}

/// Counts until the store closes, starting again after a failure.
async fn run(db: std::sync::Arc<Store>, log: EventLog) {
    loop {
        match count(&db, &log).await {
            Ok(()) => return,
            Err(e) => tracing::warn!(error = %e, source = ?e.source, "analytics stopped; starting again"),
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// What one event adds up to.
#[derive(Debug, Clone, Copy)]
enum Step {
    Queued { org: OrgId, conversation: ConversationId, queue: QueueId, at: Timestamp },
    Assigned { conversation: ConversationId, queue: QueueId, waited_ms: Option<i64>, at: Timestamp },
    Closed { conversation: ConversationId, at: Timestamp },
}

impl Step {
    fn conversation(&self) -> ConversationId {
        match *self {
            Step::Queued { conversation, .. }
            | Step::Assigned { conversation, .. }
            | Step::Closed { conversation, .. } => conversation,
        }
    }
}

fn step(event: &Event) -> Option<Step> {
    let conversation = event.conversation_id?;
    let at = event.created_at;
    let typed = match event.typed() {
        Ok(typed) => typed,
        Err(e) => {
            tracing::warn!(error = %e, event = event.id, "analytics skipped an event it cannot read");
            return None;
        }
    };
    match typed {
        TypedEvent::RoutingQueued(q) => Some(Step::Queued { org: event.org_id, conversation, queue: q.queue_id, at }),
        TypedEvent::RoutingAssigned(a) => {
            Some(Step::Assigned { conversation, queue: a.queue_id, waited_ms: a.waited_ms, at })
        }
        TypedEvent::ConversationStateChanged(c) if c.to == ConversationState::Closed => {
            Some(Step::Closed { conversation, at })
        }
        _ => None,
    }
}

/// The worker's loop: read, count, save.
async fn count(db: &std::sync::Arc<Store>, log: &EventLog) -> Result<(), Error> {
    let kept = db.read(|tx| store::place(tx, CURSOR)).await?;
    let filter = Filter::everything().types(COUNTED.map(EventType::as_str));
    let mut follower = log.follow(Start::After(kept.after), filter, BATCH).await?;
    let before = Counted::from(&kept);
    let mut version = kept.version;
    let mut saved_at = std::time::Instant::now();
    loop {
        if !follower.wait().await {
            return Ok(());
        }
        let batch = follower.read().await?;
        if !batch.moved {
            continue;
        }
        let steps: Vec<Step> = batch.events.iter().filter(|e| !before.counted(e.id)).filter_map(step).collect();
        if steps.is_empty() && saved_at.elapsed() < SAVE_EVERY {
            continue;
        }
        let next = before.next_place(follower.cursor(), follower.safe_cursor(), follower.awaited());
        let seen = version;
        version = db
            .write(move |tx| {
                apply(tx, &steps)?;
                store::save_place(tx, CURSOR, seen, &next)
            })
            .await?;
        saved_at = std::time::Instant::now();
    }
}

/// What the run before this one (before a restart) counted: the ids up to `high`, except those it still awaited.
struct Counted {
    high: i64,
    awaited: HashSet<i64>,
}

impl From<&Place> for Counted {
    fn from(kept: &Place) -> Self {
        Self { high: kept.high, awaited: kept.awaited.iter().copied().collect() }
    }
}

impl Counted {
    /// Whether the event `id`, read again after a restart, was counted before it.
    fn counted(&self, id: i64) -> bool {
        id <= self.high && !self.awaited.contains(&id)
    }

    /// The place to save once the reader is at `cursor` (with `safe` and `awaited` as the follower has them): where
    /// a restart must read from, and what it must not count again.
    fn next_place(&self, cursor: i64, safe: i64, awaited: impl Iterator<Item = i64>) -> Place {
        // Skipped now but counted before (it cannot really recur; were it to, it must not count twice).
        let mut still: Vec<i64> = awaited.filter(|id| !self.counted(*id)).collect();
        // Awaited before the restart and not read up to yet: awaited still, and past the cursor, so reading again
        // from `safe` reads them too.
        still.extend(self.awaited.iter().copied().filter(|id| *id > cursor));
        still.sort_unstable();
        still.dedup();
        Place { after: safe, high: cursor.max(self.high), awaited: still, version: 0 }
    }
}

/// Adds what the steps count, in the caller's transaction.
fn apply(tx: &mut switchboard_store::Tx<'_>, steps: &[Step]) -> Result<(), Error> {
    if steps.is_empty() {
        return Ok(());
    }
    let ids: Vec<ConversationId> = steps.iter().map(Step::conversation).collect();
    let mut waits = store::waits(tx, &ids)?;
    let before: std::collections::HashMap<ConversationId, Wait> = waits.clone();
    let mut counts: std::collections::BTreeMap<(OrgId, QueueId, Timestamp), Counts> = Default::default();
    let target_ms = SERVICE_LEVEL_SECONDS * 1000;
    for s in steps {
        match *s {
            Step::Queued { org, conversation, queue, at } => {
                if waits.get(&conversation).is_some_and(|w| w.queue_id == queue) {
                    continue;
                }
                counts.entry((org, queue, interval_start(at))).or_default().arrivals += 1;
                waits.insert(conversation, Wait { org_id: org, queue_id: queue, since: at });
            }
            Step::Assigned { conversation, queue, waited_ms, at } => {
                let Some(wait) = waits.remove(&conversation) else { continue };
                let waited = waited_ms.unwrap_or(at.millis() - wait.since.millis()).max(0);
                let c = counts.entry((wait.org_id, queue, interval_start(at))).or_default();
                c.answered += 1;
                c.wait_ms_sum += waited;
                c.answered_in_target += i64::from(waited <= target_ms);
            }
            Step::Closed { conversation, at } => {
                let Some(wait) = waits.remove(&conversation) else { continue };
                counts.entry((wait.org_id, wait.queue_id, interval_start(at))).or_default().abandoned += 1;
            }
        }
    }
    for ((org, queue, start), c) in &counts {
        store::add(tx, *org, *queue, *start, c)?;
    }
    for id in ids.iter().collect::<HashSet<_>>() {
        match (before.get(id), waits.get(id)) {
            (_, Some(now)) if before.get(id) != Some(now) => store::set_wait(tx, *id, now)?,
            (Some(_), None) => store::end_wait(tx, *id)?,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restart_counts_what_it_had_not_counted_and_nothing_twice() {
        // Saved while id 11 had not committed yet (PostgreSQL): 10 and 12 were counted.
        let kept = Place { after: 10, high: 12, awaited: vec![11], version: 3 };
        let before = Counted::from(&kept);
        assert!(!before.counted(11) && before.counted(12) && !before.counted(13));

        // Read again up to 12 with 11 arrived: nothing awaited any more, and nothing below 12 is counted again.
        let at_12 = before.next_place(12, 12, std::iter::empty());
        assert_eq!(at_12, Place { after: 12, high: 12, awaited: vec![], version: 0 });

        // Read again only up to 10 so far: 11 is still to be counted; the next restart skips 12 as before.
        let at_10 = before.next_place(10, 10, std::iter::empty());
        assert_eq!(at_10, Place { after: 10, high: 12, awaited: vec![11], version: 0 });

        // A gap of this run past what was counted is awaited; one below it that was counted is not.
        let gaps = before.next_place(15, 13, [14, 12].into_iter());
        assert_eq!(gaps, Place { after: 13, high: 15, awaited: vec![14], version: 0 });
    }
}
