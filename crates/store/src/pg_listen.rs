//! How the nodes on one PostgreSQL database hear of each other: every transaction that appends to the event log
//! ends with a `NOTIFY` carrying its newest event id (sent with its last statements, before COMMIT, so it costs no
//! round trip; PostgreSQL delivers it at the commit), and each node keeps one connection that `LISTEN`s and wakes the
//! node's log readers. The same connection carries ephemeral signals (typing, an agent viewing a conversation)
//! that are never stored.
//!
//! A notification is a wake-up, never the data: a reader woken reads everything past its cursor. So a notification
//! lost while the connection was down loses nothing, as long as the readers are woken once the connection listens
//! again, which it does.

use std::{sync::Arc, time::Duration};

use switchboard_domain::Error;
use tokio::sync::{broadcast, watch};
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
    /// Commits of events: the payload is the newest event id of the transaction.
    pub events: Arc<str>,
    /// Ephemeral signals: the payload is the signal.
    pub signals: Arc<str>,
    /// The listener's `application_name`, to find its connection in `pg_stat_activity`.
    pub application_name: Arc<str>,
}

impl Channels {
    pub fn new(schema: Option<&str>) -> Self {
        let suffix = schema.map(|s| format!("_{s}")).unwrap_or_default();
        Self {
            events: format!("switchboard_events{suffix}").into(),
            signals: format!("switchboard_signals{suffix}").into(),
            application_name: format!("switchboard listener{}", schema.map(|s| format!(" {s}")).unwrap_or_default())
                .into(),
        }
    }
}

/// The statement that ends a transaction of events: it notifies with the transaction's newest event id, which its
/// session's sequence holds.
pub const NOTIFY_EVENTS: &str = "SELECT pg_notify($1, currval(pg_get_serial_sequence('events', 'id'))::text)";
/// The statement that sends a signal.
pub const NOTIFY_SIGNAL: &str = "SELECT pg_notify($1, $2)";

/// What the listener wakes and feeds.
pub struct Listener {
    pub config: tokio_postgres::Config,
    pub tls: MakeRustls,
    pub channels: Channels,
    /// Bumped on every notification of events, and once each time the connection listens (again).
    pub committed: watch::Sender<i64>,
    pub signals: broadcast::Sender<Arc<str>>,
}

impl Listener {
    /// Listens until the task is aborted (the store is dropped), connecting again whenever the connection is lost.
    pub async fn run(mut self) {
        self.config.application_name(&*self.channels.application_name).keepalives_idle(KEEPALIVE_IDLE);
        let mut failures: u32 = 0;
        loop {
            let wait = match self.listen().await {
                Ok(()) => {
                    failures = 0;
                    tracing::warn!("the connection listening for other nodes' events was lost; reconnecting");
                    RETRY_MIN
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let wait = RETRY_MIN.saturating_mul(2u32.saturating_pow(failures - 1)).min(RETRY_MAX);
                    tracing::warn!(
                        error = %e,
                        source = ?e.source,
                        retry_ms = wait.as_millis(),
                        "cannot listen for other nodes' events; readers fall back to polling meanwhile"
                    );
                    wait
                }
            };
            tokio::time::sleep(wait).await;
        }
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
            self.committed.send_modify(|_| {});
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
