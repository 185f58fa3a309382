//! Reading the event log as an outbox: every worker that acts on events outside the request that wrote them (webhook
//! delivery, routing) reads it through a [`LogReader`], which gives each durable event exactly once, in id order.
//!
//! Two things make that harder than "read past the last id":
//! - On SQLite a committed event is on disk only after the syncer's `fdatasync`, so the reader stops at the store's
//!   durable watermark.
//! - On PostgreSQL ids come from a sequence and transactions commit in any order: id 41 can become visible after
//!   id 42 was read. Ids skipped by a read are therefore looked for again for a minute before they are taken for a
//!   rolled-back transaction, and [`LogReader::safe_cursor`] stays before the oldest one still awaited.

use std::{collections::HashMap, sync::Arc, time::Duration};

use switchboard_domain::{Error, ids::OrgId};
use switchboard_store::{Store, events, model::Event};
use tokio::time::Instant;

/// How long an id skipped in the log is looked for before it is taken for a rolled-back transaction. It bounds how
/// long a transaction may take, so it is measured in real time (tokio's, which a test can pause), never on the app's
/// clock, which tests move by hours at a time.
const GAP_PATIENCE: Duration = Duration::from_secs(60);
/// Skipped ids looked for again in one read at most.
const MAX_GAPS_PER_READ: usize = 1_000;

/// Which events a reader wants in full, by organization and type; the others are passed over unparsed.
pub type Want = Arc<dyn Fn(OrgId, &str) -> bool + Send + Sync>;

#[derive(Clone)]
pub struct LogReader {
    cursor: i64,
    /// Skipped ids, with when they were first skipped.
    gaps: HashMap<i64, Instant>,
}

/// One read: the wanted events, and whether the read was full (more may be waiting).
pub struct Batch {
    pub events: Vec<Event>,
    pub full: bool,
    /// The reader moved (past wanted or unwanted events): its cursor should be saved some time.
    pub moved: bool,
}

impl LogReader {
    pub fn new(cursor: i64) -> Self {
        Self { cursor, gaps: HashMap::new() }
    }

    /// The last id read.
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// Where a restart must read again from: before the oldest skipped id still awaited.
    pub fn safe_cursor(&self) -> i64 {
        self.gaps.keys().min().map_or(self.cursor, |g| (g - 1).min(self.cursor))
    }

    /// Reads up to `count` events past the cursor (and skipped ids that have appeared since), returning in full the
    /// ones `want` takes.
    pub async fn read(&mut self, store: &Store, want: Want, count: usize) -> Result<Batch, Error> {
        let until = *store.durable_events().borrow();
        let after = self.cursor;
        let gaps: Vec<i64> = self.gaps.keys().copied().take(MAX_GAPS_PER_READ).collect();
        let (ids, mut found) = store
            .read(move |tx| {
                let heads = events::heads(tx, after, until, count)?;
                // Skipped ids that have committed since: wanted or not, they are no longer awaited.
                let late = events::heads_of(tx, &gaps)?;
                let wanted: Vec<i64> =
                    heads.iter().chain(&late).filter(|h| want(h.org_id, &h.event_type)).map(|h| h.id).collect();
                let found = events::with_ids(tx, &wanted)?;
                let ids: Vec<i64> = heads.iter().chain(&late).map(|h| h.id).collect();
                Ok((ids, found))
            })
            .await?;
        let full = ids.len() >= count;
        let mut expected = self.cursor + 1;
        let mut moved = false;
        let now = Instant::now();
        for id in ids {
            if id > self.cursor {
                for missing in expected..id {
                    self.gaps.insert(missing, now);
                }
                expected = id + 1;
                self.cursor = id;
            } else {
                self.gaps.remove(&id);
            }
            moved = true;
        }
        self.gaps.retain(|_, seen| now.duration_since(*seen) < GAP_PATIENCE);
        found.sort_by_key(|e| e.id);
        Ok(Batch { events: found, full, moved })
    }
}
