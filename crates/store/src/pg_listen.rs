//! How the nodes on one PostgreSQL database hear of each other: each node keeps one connection that announces its
//! commits of events (the [`Announcer`]) and one that `LISTEN`s and wakes the node's log readers (the [`Listener`]).
//! The listening connection also carries ephemeral signals (typing, an agent viewing a conversation) that are
//! never stored.
//!
//! Commits are announced after they commit, not by a `NOTIFY` inside their transaction: PostgreSQL serializes the
//! commits of every transaction that notified (a database-wide lock held from the notification's queueing to the
//! end of the commit, fsync included), which cut a node's commits of events from thousands to hundreds a second.
//! A writer instead tells its node's announcer once it has committed; the announcer sends one `NOTIFY` for however
//! many commits came in while it was sending the last, outside any writer's transaction and without waiting for
//! its own commit's flush (`synchronous_commit = off`: a notification is no data). Its payload, the events
//! sequence's last value, is a hint for people watching; the listeners do not read it.
//!
//! A notification is a wake-up, never the data: a reader woken reads everything past its cursor. So a notification
//! lost while a connection was down loses nothing, as long as the readers are woken once it is back: the listener
//! wakes its node's readers when it listens again, and the announcer announces once when it has connected again.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI32, Ordering},
    },
    time::Duration,
};

use switchboard_domain::Error;
use tokio::sync::{Notify, broadcast, watch};
use tokio_postgres::AsyncMessage;

use crate::pg_tls::MakeRustls;

/// The first wait before connecting again after a failed attempt; it doubles up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(10);
/// How long a silent connection stays trusted before the kernel probes it: a database host that vanished without
/// closing the connection (a network partition) is noticed in about this long, not in the default two hours.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);

/// The notification channels of one deployment. Channels are per database, and tests share one database with a
/// schema each, so the schema is part of the name.
#[derive(Debug, Clone)]
pub struct Channels {
    /// Commits of events: the payload is the events sequence's last value when they were announced.
    pub events: Arc<str>,
    /// Ephemeral signals: the payload is the signal.
    pub signals: Arc<str>,
    /// The listener's `application_name`, to find its connection in `pg_stat_activity`.
    pub application_name: Arc<str>,
    /// The announcer's `application_name`: one per node, so it names the node.
    pub announcer_name: Arc<str>,
}

impl Channels {
    /// `node` tells this node's announcing connection from the other nodes'.
    pub fn new(schema: Option<&str>, node: &str) -> Self {
        let suffix = schema.map(|s| format!("_{s}")).unwrap_or_default();
        Self {
            events: format!("switchboard_events{suffix}").into(),
            signals: format!("switchboard_signals{suffix}").into(),
            application_name: format!("switchboard listener{}", schema.map(|s| format!(" {s}")).unwrap_or_default())
                .into(),
            // Without the schema: PostgreSQL cuts names at 63 bytes, and the node's id tells it apart already.
            announcer_name: format!("switchboard announcer {node}").into(),
        }
    }
}

/// The announcement of commits of events: a notification carrying the events sequence's last value (0 before the
/// first event), which is at least the newest id committed.
pub const ANNOUNCE_EVENTS: &str =
    "SELECT pg_notify($1, COALESCE(pg_sequence_last_value(pg_get_serial_sequence('events', 'id')::regclass), 0)::text)";
/// The statement that sends a signal.
pub const NOTIFY_SIGNAL: &str = "SELECT pg_notify($1, $2)";

/// The wait before connecting again: none after a connection that worked, doubling from [`RETRY_MIN`] up to
/// [`RETRY_MAX`] while attempts fail. `failures` counts the attempts failed in a row.
/// Runs `session` (one connection's life) again and again, forever: after a connection that worked at once, after
/// one that never did with a backoff from `RETRY_MIN` to `RETRY_MAX`. `lost` and `failing` say what is missing.
async fn keep_connected<F, S>(lost: &str, failing: &str, mut session: F)
where
    F: FnMut() -> S,
    S: Future<Output = Result<(), Error>>,
{
    let mut failures: u32 = 0;
    loop {
        let wait = match session().await {
            Ok(()) => {
                failures = 0;
                tracing::warn!("{lost}; reconnecting");
                RETRY_MIN
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let wait = RETRY_MIN.saturating_mul(2u32.saturating_pow(failures - 1)).min(RETRY_MAX);
                tracing::warn!(error = %e, source = ?e.source, retry_ms = wait.as_millis(), "{failing}");
                wait
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// What the announcer needs: its node's commits of events arrive as wake-ups on `commits`.
pub struct Announcer {
    pub config: tokio_postgres::Config,
    pub tls: MakeRustls,
    pub channels: Channels,
    /// Woken by every commit of events on this node; wake-ups that come while an announcement is under way make
    /// one more announcement after it.
    pub commits: Arc<Notify>,
    /// The server process of the announcing connection, 0 before it first connected: the node's listener ignores
    /// its own node's announcements, whose readers its writers wake directly.
    pub pid: Arc<AtomicI32>,
}

impl Announcer {
    /// Announces until the task is aborted (the store is dropped), connecting again whenever the connection is lost.
    pub async fn run(mut self) {
        self.config.application_name(&*self.channels.announcer_name).keepalives_idle(KEEPALIVE_IDLE);
        // Connected at the first commit of events: a node that writes none needs no announcer, and a new database
        // has no log to announce until its migrations ran.
        self.commits.notified().await;
        keep_connected(
            "the connection announcing this node's events was lost",
            "cannot announce this node's events; other nodes' readers fall back to polling meanwhile",
            || self.announce(),
        )
        .await;
    }

    /// Connects and announces commits until the connection ends: `Ok` once it had announced, `Err` when it never
    /// got that far.
    async fn announce(&self) -> Result<(), Error> {
        let (client, connection) = self.config.connect(self.tls.clone()).await.map_err(Error::internal)?;
        let mut driver = tokio::spawn(connection);
        // A notification is no data: its commit need not wait for the disk.
        client.batch_execute("SET synchronous_commit = off").await.map_err(Error::internal)?;
        let pid: i32 = client.query_one("SELECT pg_backend_pid()", &[]).await.map_err(Error::internal)?.get(0);
        self.pid.store(pid, Ordering::Release);
        let statement = client.prepare(ANNOUNCE_EVENTS).await.map_err(Error::internal)?;
        let channel: &str = &self.channels.events;
        // The first announcement covers whatever committed while no connection announced.
        client.execute(&statement, &[&channel]).await.map_err(Error::internal)?;
        loop {
            tokio::select! {
                () = self.commits.notified() => {}
                // Noticed at once rather than at the next commit, which would then wait for the reconnection.
                _ = &mut driver => return Ok(()),
            }
            if let Err(e) = client.execute(&statement, &[&channel]).await {
                tracing::debug!(error = %e, "the announcing connection failed");
                // The commits not announced are announced by the next connection's first announcement.
                self.commits.notify_one();
                return Ok(());
            }
        }
    }
}

/// What the listener wakes and feeds.
pub struct Listener {
    pub config: tokio_postgres::Config,
    pub tls: MakeRustls,
    pub channels: Channels,
    /// Bumped on every notification of other nodes' events, and once each time the connection listens (again).
    pub committed: watch::Sender<i64>,
    pub signals: broadcast::Sender<Arc<str>>,
    /// This node's announcer's server process, whose announcements it ignores.
    pub announcer: Arc<AtomicI32>,
}

impl Listener {
    /// Listens until the task is aborted (the store is dropped), connecting again whenever the connection is lost.
    pub async fn run(mut self) {
        self.config.application_name(&*self.channels.application_name).keepalives_idle(KEEPALIVE_IDLE);
        keep_connected(
            "the connection listening for other nodes' events was lost",
            "cannot listen for other nodes' events; readers fall back to polling meanwhile",
            || self.listen(),
        )
        .await;
    }

    /// Connects, listens, and passes notifications on until the connection ends: `Ok` once it had listened, `Err`
    /// when it never got that far.
    async fn listen(&self) -> Result<(), Error> {
        let (client, mut connection) = self.config.connect(self.tls.clone()).await.map_err(Error::internal)?;
        let sql = format!("LISTEN {}; LISTEN {}", quoted(&self.channels.events), quoted(&self.channels.signals));
        {
            // The connection does the I/O of the client's requests, so it is driven while LISTEN waits.
            let mut listening = std::pin::pin!(client.batch_execute(&sql));
            loop {
                tokio::select! {
                    answer = &mut listening => { answer.map_err(Error::internal)?; break; }
                    message = std::future::poll_fn(|cx| connection.poll_message(cx)) => match message {
                        Some(Ok(message)) => self.pass_on(message),
                        Some(Err(e)) => return Err(Error::internal(e)),
                        None => return Err(Error::internal("the connection closed before it listened")),
                    },
                }
            }
        }
        // Whatever committed while nobody listened is read now.
        self.committed.send_modify(|_| {});
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(message)) => self.pass_on(message),
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "the listening connection failed");
                    break;
                }
                None => break,
            }
        }
        drop(client);
        Ok(())
    }

    fn pass_on(&self, message: AsyncMessage) {
        let AsyncMessage::Notification(n) = message else { return };
        if n.channel() == &*self.channels.events {
            // This node's own commits woke its readers when they committed.
            if n.process_id() != self.announcer.load(Ordering::Acquire) {
                self.committed.send_modify(|_| {});
            }
        } else if n.channel() == &*self.channels.signals {
            // No subscriber is not an error: nobody on this node is watching.
            let _ = self.signals.send(n.payload().into());
        }
    }
}

/// A channel name as an SQL identifier.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
