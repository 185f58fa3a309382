//! Reading the event log as an outbox. Every worker that acts on events outside the request that wrote them
//! (routing, the auto-close timers, webhook delivery, the live stream) follows the log through one [`EventLog`]:
//! it opens a [`Follower`] with a [`Filter`] and a [`Start`], and its loop is "next batch, handle it". The follower
//! gives each durable event it takes exactly once, in id order, and owns the waiting: it wakes on the store's
//! durable watermark, which moves on this node's commits and, on PostgreSQL, on every other node's (the store's
//! `LISTEN` connection), and it looks again every `cluster.log_poll_seconds` in case a wake-up was missed.
//!
//! Two things make reading harder than "read past the last id", and [`LogReader`] handles both:
//! - On SQLite a committed event is on disk only after the syncer's `fdatasync`, so the reader stops at the store's
//!   durable watermark.
//! - On PostgreSQL ids come from a sequence and transactions commit in any order: id 41 can become visible after
//!   id 42 was read. Ids skipped by a read are therefore looked for again for a minute before they are taken for a
//!   rolled-back transaction, and [`LogReader::safe_cursor`] stays before the oldest one still awaited.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use switchboard_domain::{
    Error,
    ids::{ConversationId, OrgId},
};
use switchboard_store::{
    Store,
    events::{self, EventHead},
    model::Event,
    routing::last_event_id,
    webhooks,
};
use tokio::{sync::watch, time::Instant};

/// How long an id skipped in the log is looked for before it is taken for a rolled-back transaction. It bounds how
/// long a transaction may take, so it is measured in real time (tokio's, which a test can pause), never on the app's
/// clock, which tests move by hours at a time.
const GAP_PATIENCE: Duration = Duration::from_secs(60);
/// Skipped ids looked for again in one read at most.
const MAX_GAPS_PER_READ: usize = 1_000;

/// A consumer's own test of an event's organization and type, for what a [`Filter`] cannot say (what changes as
/// the consumer runs: the webhook endpoints).
pub type Want = Arc<dyn Fn(OrgId, &str) -> bool + Send + Sync>;

/// Which events a follower takes in full; the others are passed over unparsed. Each part left unset takes all.
#[derive(Clone, Default)]
pub struct Filter {
    org: Option<OrgId>,
    types: Option<Arc<HashSet<String>>>,
    conversations: Option<Arc<HashSet<ConversationId>>>,
    want: Option<Want>,
}

impl Filter {
    /// Every event.
    pub fn everything() -> Self {
        Self::default()
    }

    /// Only this organization's events.
    pub fn org(mut self, org: OrgId) -> Self {
        self.org = Some(org);
        self
    }

    /// Only events of these types.
    pub fn types<S: Into<String>>(mut self, types: impl IntoIterator<Item = S>) -> Self {
        self.types = Some(Arc::new(types.into_iter().map(Into::into).collect()));
        self
    }

    /// Only these conversations' events (which leaves out the events outside conversations).
    pub fn conversations(mut self, ids: impl IntoIterator<Item = ConversationId>) -> Self {
        self.conversations = Some(Arc::new(ids.into_iter().collect()));
        self
    }

    /// Only events `want` takes as well.
    pub fn wanted_by(mut self, want: Want) -> Self {
        self.want = Some(want);
        self
    }

    pub fn takes(&self, head: &EventHead) -> bool {
        self.org.is_none_or(|org| org == head.org_id)
            && self.types.as_ref().is_none_or(|t| t.contains(&head.event_type))
            && self.conversations.as_ref().is_none_or(|c| head.conversation_id.is_some_and(|id| c.contains(&id)))
            && self.want.as_ref().is_none_or(|want| want(head.org_id, &head.event_type))
    }
}

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

    /// The skipped ids still awaited: below the cursor, yet a later read may still return them.
    pub fn awaited(&self) -> impl Iterator<Item = i64> + '_ {
        self.gaps.keys().copied()
    }

    /// Reads up to `count` events past the cursor (and skipped ids that have appeared since), returning in full the
    /// ones `want` takes.
    pub async fn read(&mut self, store: &Store, want: Want, count: usize) -> Result<Batch, Error> {
        self.read_filtered(store, &Filter::everything().wanted_by(want), count).await
    }

    /// Like [`LogReader::read`], returning the events `filter` takes.
    pub async fn read_filtered(&mut self, store: &Store, filter: &Filter, count: usize) -> Result<Batch, Error> {
        let until = *store.durable_events().borrow();
        let filter = filter.clone();
        let after = self.cursor;
        let gaps: Vec<i64> = self.gaps.keys().copied().take(MAX_GAPS_PER_READ).collect();
        let (ids, mut found) = store
            .read(move |tx| {
                let heads = events::heads(tx, after, until, count)?;
                // Skipped ids that have committed since: wanted or not, they are no longer awaited.
                let late = events::heads_of(tx, &gaps)?;
                let wanted: Vec<i64> = heads.iter().chain(&late).filter(|h| filter.takes(h)).map(|h| h.id).collect();
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

/// Where a follower starts reading.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    /// After the last event now in the log: for a consumer that loads the current state first (routing, timers).
    End,
    /// After this event id.
    After(i64),
    /// After the cursor kept in the store under this name (`outbox_cursors`), or at the log's beginning if none is
    /// kept yet. The consumer moves it with `webhooks::set_cursor` to [`Follower::safe_cursor`], in the transaction
    /// that records what it did with the events, so that a restart neither skips nor repeats them.
    Kept(&'static str),
}

/// The event log as the workers read it: the store, and how often a follower looks for events when nothing woke it.
#[derive(Clone)]
pub struct EventLog {
    store: Arc<Store>,
    poll: Duration,
}

impl EventLog {
    pub fn new(store: Arc<Store>, poll: Duration) -> Self {
        Self { store, poll }
    }

    /// A follower of the log from `start`, taking the events `filter` takes, up to `batch` read at a time.
    pub async fn follow(&self, start: Start, filter: Filter, batch: usize) -> Result<Follower, Error> {
        // Subscribed before the cursor is taken, so that nothing committed after it goes unnoticed.
        let durable = self.store.durable_events();
        let cursor = match start {
            // The watermark bounds what may be read (SQLite); PostgreSQL's is unbounded.
            Start::End => self.store.read(last_event_id).await?.min(*durable.borrow()),
            Start::After(id) => id,
            Start::Kept(name) => self.store.read(move |tx| webhooks::cursor(tx, name)).await?.unwrap_or(0),
        };
        Ok(Follower {
            store: self.store.clone(),
            reader: LogReader::new(cursor),
            filter,
            batch,
            durable,
            poll: self.poll,
            next_poll: Instant::now() + self.poll,
            ready: true,
        })
    }

    /// One organization's durable events after id `after`, oldest first, at most `limit` (more may follow when
    /// `limit` came back): those of the filter's types and conversations (its organization is `org`; a
    /// [`Filter::wanted_by`] test is applied too). It reads up to `until`, or up to the durable watermark when `None`.
    ///
    /// A stream client resuming after X while the node's follower is at cursor C reads `(X, C]` here (`until:
    /// Some(C)`) and then takes the follower's batches: on PostgreSQL an id below C that commits late comes through
    /// the follower, which awaits the ids it skipped, where a range read up to the watermark could pass it for good.
    pub async fn range(
        &self,
        org: OrgId,
        after: i64,
        until: Option<i64>,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<Event>, Error> {
        let durable = *self.store.durable_events().borrow();
        let until = until.map_or(durable, |u| u.min(durable));
        let types: Option<Vec<String>> = filter.types.as_ref().map(|t| t.iter().cloned().collect());
        let conversations: Option<Vec<ConversationId>> =
            filter.conversations.as_ref().map(|c| c.iter().copied().collect());
        let mut found = self
            .store
            .read(move |tx| events::page(tx, org, after, until, types.as_deref(), conversations.as_deref(), limit))
            .await?;
        if let Some(want) = &filter.want {
            found.retain(|e| want(e.org_id, &e.event_type));
        }
        Ok(found)
    }
}

/// One consumer's place in the log: it reads the events its filter takes, in batches, and waits for more.
pub struct Follower {
    store: Arc<Store>,
    reader: LogReader,
    filter: Filter,
    batch: usize,
    durable: watch::Receiver<i64>,
    poll: Duration,
    /// When to look again if nothing wakes it before.
    next_poll: Instant,
    /// More may be waiting (the last read was full, or it was woken): read before waiting.
    ready: bool,
}

impl Follower {
    /// The next events the filter takes, waiting for them as long as it takes; `None` once the store is closed.
    pub async fn next(&mut self) -> Result<Option<Vec<Event>>, Error> {
        loop {
            if !self.wait().await {
                return Ok(None);
            }
            let batch = self.read().await?;
            if !batch.events.is_empty() {
                return Ok(Some(batch.events));
            }
        }
    }

    /// Resolves when there may be events to read: at once after a full read, else when a commit (of any node)
    /// wakes it or the poll interval has passed. `false` once the store is closed. It can be dropped unfinished
    /// (a branch of `select!`) without losing a wake-up.
    pub async fn wait(&mut self) -> bool {
        if !self.ready {
            tokio::select! {
                changed = self.durable.changed() => if changed.is_err() { return false },
                () = tokio::time::sleep_until(self.next_poll) => {}
            }
            self.ready = true;
        }
        true
    }

    /// Reads one batch now, without waiting; for a consumer that waits on more than the log ([`Follower::wait`]
    /// in its own `select!`).
    pub async fn read(&mut self) -> Result<Batch, Error> {
        let batch = self.reader.read_filtered(&self.store, &self.filter, self.batch).await?;
        self.ready = batch.full;
        self.next_poll = Instant::now() + self.poll;
        Ok(batch)
    }

    /// Takes the events `filter` takes from the next read on.
    pub fn set_filter(&mut self, filter: Filter) {
        self.filter = filter;
    }

    /// The reader's place, to go back to with [`Follower::rewind`].
    pub fn place(&self) -> LogReader {
        self.reader.clone()
    }

    /// Reads again from `place` (the events read since are read again).
    pub fn rewind(&mut self, place: LogReader) {
        self.reader = place;
        self.ready = true;
    }

    /// The last id read.
    pub fn cursor(&self) -> i64 {
        self.reader.cursor()
    }

    /// The ids below the cursor a later read may still return: see [`LogReader::awaited`].
    pub fn awaited(&self) -> impl Iterator<Item = i64> + '_ {
        self.reader.awaited()
    }

    /// Where a restart must read again from (what [`Start::Kept`] should hold): see [`LogReader::safe_cursor`].
    pub fn safe_cursor(&self) -> i64 {
        self.reader.safe_cursor()
    }
}
