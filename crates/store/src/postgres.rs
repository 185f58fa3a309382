//! The scale-out backend. Each operation runs in its own transaction on a pooled connection; PostgreSQL's row
//! locks serialize what must be serial (a conversation's message sequence), so any number of nodes can share it.
//! Store logic is synchronous (it is shared with SQLite), so it runs on a blocking thread and drives the async
//! client through the runtime handle.
//!
//! Writes queued with [`PgStore::submit`] (routing's decisions) are the exception: one writer thread commits
//! them in the order they were queued, several to a transaction (group commit), each in a savepoint of its own so
//! that a failing one changes nothing. Their callers need not wait for the commit while they hold a lock, and a
//! burst of them costs one commit rather than one each.
//!
//! A commit of events wakes this node's log readers directly and the other nodes' through this node's announcer
//! (see [`pg_listen`]), after it committed.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use switchboard_domain::{Code, Error};
use tokio::runtime::Handle;

use crate::{
    params,
    pg_listen::{self, Announcer, Channels, Listener},
    pg_tls::PgTarget,
    queued::{self, Job, Reply},
    sql::{PgSession, Tx},
};

/// Queued writes waiting beyond this make callers wait to queue more.
const QUEUE_DEPTH: usize = 16_384;
/// Queued writes committed together at most.
const MAX_BATCH: usize = 256;
/// A transaction of queued writes takes in more for at most about this long: it holds the rows it wrote until
/// it commits, and writers on other connections may wait for them.
const BATCH_TIME: std::time::Duration = std::time::Duration::from_millis(4);
/// How long the writer waits before it asks again for a connection it could not get.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_millis(250);

/// Waits and transactions longer than this are logged: on a healthy server they do not happen.
const SLOW: std::time::Duration = std::time::Duration::from_secs(1);

pub struct PgStore {
    pool: Pool,
    /// Bumped after every commit of events on any node (this node's commits directly, the others' through the
    /// listener), to wake the log's readers; every committed row is durable here.
    committed: tokio::sync::watch::Sender<i64>,
    /// Tells the announcer of this node's commits of events.
    announce: std::sync::Arc<tokio::sync::Notify>,
    /// Writes for the queued writer ([`PgStore::submit`]).
    queued: tokio::sync::mpsc::Sender<Job>,
    channels: Channels,
    /// Signals from every node, as the listener receives them.
    signals: tokio::sync::broadcast::Sender<std::sync::Arc<str>>,
    /// The listener's and the announcer's tasks, which end with the store.
    listener: tokio::task::AbortHandle,
    announcer: tokio::task::AbortHandle,
}

/// What a write transaction needs to wake the log's readers once it commits.
#[derive(Clone)]
struct Wake {
    committed: tokio::sync::watch::Sender<i64>,
    announce: std::sync::Arc<tokio::sync::Notify>,
}

impl Wake {
    /// After a commit of events: wakes this node's readers, and has the announcer wake the other nodes'. Never
    /// before the commit, so that a reader woken finds the events.
    fn committed(&self) {
        self.committed.send_modify(|_| {});
        self.announce.notify_one();
    }
}

impl PgStore {
    /// Connects to `url`, over TLS as its `sslmode` says. `schema`, when given, is created if missing and used as
    /// the search path: tests use a schema each to stay isolated on one server.
    pub async fn connect(url: &str, schema: Option<&str>, pool_size: usize) -> Result<Self, Error> {
        let PgTarget { mut config, ssl_mode, tls } = PgTarget::parse(url)?;
        let unreachable = |e: &dyn std::error::Error| {
            Error::new(Code::Unavailable, format!("cannot connect to PostgreSQL (sslmode={ssl_mode}): {}", causes(e)))
        };
        if let Some(schema) = schema {
            let (client, conn) = config.connect(tls.clone()).await.map_err(|e| unreachable(&e))?;
            let driver = tokio::spawn(conn);
            client
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                .await
                .map_err(Error::internal)?;
            drop(client);
            let _ = driver.await;
            config.options(format!("-c search_path=\"{schema}\""));
        }
        let listen_config = config.clone();
        let manager =
            Manager::from_config(config, tls.clone(), ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager).max_size(pool_size).build().map_err(Error::internal)?;
        // Fail now, with the cause, rather than on the first request.
        drop(pool.get().await.map_err(|e| unreachable(&e))?);
        let (committed, _) = tokio::sync::watch::channel(i64::MAX);
        let (signals, _) = tokio::sync::broadcast::channel(crate::SIGNAL_BUFFER);
        let node = uuid::Uuid::now_v7().simple().to_string();
        let channels = Channels::new(schema, &node[node.len() - 12..]);
        let (queued, jobs) = tokio::sync::mpsc::channel(QUEUE_DEPTH);
        let announce = std::sync::Arc::new(tokio::sync::Notify::new());
        let wake = Wake { committed: committed.clone(), announce: announce.clone() };
        let (writer_pool, rt) = (pool.clone(), Handle::current());
        std::thread::Builder::new()
            .name("postgres-writer".into())
            .spawn(move || writer_loop(&writer_pool, jobs, &wake, &rt))
            .map_err(Error::internal)?;
        let announcer_pid = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
        let announcer = Announcer {
            config: listen_config.clone(),
            tls: tls.clone(),
            channels: channels.clone(),
            commits: announce.clone(),
            pid: announcer_pid.clone(),
        };
        let announcer = tokio::spawn(announcer.run()).abort_handle();
        let listener = Listener {
            config: listen_config,
            tls,
            channels: channels.clone(),
            committed: committed.clone(),
            signals: signals.clone(),
            announcer: announcer_pid,
        };
        let listener = tokio::spawn(listener.run()).abort_handle();
        Ok(Self { pool, committed, announce, queued, channels, signals, listener, announcer })
    }

    /// Queues `f` for the writer, behind every write queued before it; the returned future resolves once its
    /// transaction committed.
    pub async fn submit<R, F>(&self, f: F) -> Result<crate::Committing<R>, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<R, Error> + Send + 'static,
    {
        let (job, reply_rx) = queued::job(f);
        self.queued.send(job).await.map_err(|_| queued::stopped())?;
        Ok(Box::pin(async move { reply_rx.await.map_err(|_| queued::stopped())? }))
    }

    /// Changes after every commit of events, on this node or (through the listener) another, and whenever the
    /// listener starts listening again after a lost connection. Its value, `i64::MAX`, says that no committed
    /// event waits for anything before it may be read: PostgreSQL's COMMIT is durable.
    pub fn durable_events(&self) -> tokio::sync::watch::Receiver<i64> {
        self.committed.subscribe()
    }

    /// Sends an ephemeral signal to every node's subscribers, this node's included (through its listener).
    pub async fn publish_signal(&self, payload: String) -> Result<(), Error> {
        let channel = self.channels.signals.clone();
        // Outside a transaction: PostgreSQL delivers it as soon as the statement ends.
        self.read(move |tx| tx.execute(pg_listen::NOTIFY_SIGNAL, params![&*channel, payload]).map(drop)).await
    }

    pub fn signals(&self) -> tokio::sync::broadcast::Receiver<std::sync::Arc<str>> {
        self.signals.subscribe()
    }

    /// The `application_name` of this node's listening connection.
    pub fn listener_application_name(&self) -> &str {
        &self.channels.application_name
    }

    /// The `application_name` of this node's announcing connection.
    pub fn announcer_application_name(&self) -> &str {
        &self.channels.announcer_name
    }

    /// Runs `f` in a transaction of its own; if it appended events, every node's log readers are woken once it
    /// commits.
    pub async fn write<R, F>(&self, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<R, Error> + Send + 'static,
    {
        let wake = Wake { committed: self.committed.clone(), announce: self.announce.clone() };
        self.run(f, Some(wake)).await
    }

    /// Runs `f`'s statements on a connection, outside any transaction, each on its own snapshot as in a READ
    /// COMMITTED transaction. It wakes nobody: the log's readers read through here, and a read that woke them would
    /// have them read again at once, for ever.
    pub async fn read<R, F>(&self, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<R, Error> + Send + 'static,
    {
        self.run(f, None).await
    }

    /// A write when `wake` is given (readers woken after the commit), a read otherwise.
    async fn run<R, F>(&self, f: F, wake: Option<Wake>) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<R, Error> + Send + 'static,
    {
        let pool = self.pool.clone();
        let rt = Handle::current();
        tokio::task::spawn_blocking(move || {
            let asked = std::time::Instant::now();
            let mut client = rt.block_on(pool.get()).map_err(Error::internal)?;
            let waited = asked.elapsed();
            if waited > SLOW {
                tracing::warn!(waited_ms = waited.as_millis(), "waited long for a database connection");
            }
            let Some(wake) = wake else {
                let mut t = Tx::postgres(PgSession::Connection(&client), &rt);
                return f(&mut t).and_then(|v| t.finish_pending().map(|()| v));
            };
            let tx = rt.block_on(client.transaction()).map_err(Error::internal)?;
            let result = {
                let mut t = Tx::postgres(PgSession::Transaction(&tx), &rt);
                f(&mut t).and_then(|v| {
                    t.finish_pending()?;
                    Ok((v, t.wrote_events()))
                })
            };
            match result {
                Ok((v, wrote_events)) => {
                    rt.block_on(tx.commit()).map_err(Error::internal)?;
                    let took = asked.elapsed();
                    if took > SLOW {
                        tracing::warn!(took_ms = took.as_millis(), "slow database transaction");
                    }
                    if wrote_events {
                        wake.committed();
                    }
                    Ok(v)
                }
                Err(e) => {
                    let _ = rt.block_on(tx.rollback());
                    Err(e)
                }
            }
        })
        .await
        .map_err(Error::internal)?
    }
}

/// Commits queued writes in order, as many as arrive within [`BATCH_TIME`] to a transaction.
fn writer_loop(pool: &Pool, mut jobs: tokio::sync::mpsc::Receiver<Job>, wake: &Wake, rt: &Handle) {
    let mut batch: std::collections::VecDeque<Job> = std::collections::VecDeque::with_capacity(MAX_BATCH);
    let mut replies: Vec<Reply> = Vec::with_capacity(MAX_BATCH);
    while queued::gather(&mut batch, &mut jobs, MAX_BATCH) {
        let outcome = (|| -> Result<bool, Error> {
            let mut client = rt.block_on(pool.get()).map_err(Error::internal)?;
            let tx = rt.block_on(client.transaction()).map_err(Error::internal)?;
            let started = std::time::Instant::now();
            let wrote_events = {
                let mut t = Tx::postgres(PgSession::Transaction(&tx), rt);
                while let Some(job) = batch.pop_front() {
                    t.execute_later("SAVEPOINT job", &[])?;
                    let (ok, reply) = job(&mut t);
                    replies.push(reply);
                    t.execute_later(if ok { "RELEASE job" } else { "ROLLBACK TO job" }, &[])?;
                    if started.elapsed() >= BATCH_TIME {
                        break;
                    }
                }
                // A job rolled back may have been the one with events: then the readers read once for nothing.
                t.finish_pending()?;
                t.wrote_events()
            };
            let jobs = replies.len();
            rt.block_on(tx.commit()).map_err(Error::internal)?;
            metrics::histogram!("switchboard_store_batch_jobs").record(jobs as f64);
            Ok(wrote_events)
        })();
        match outcome {
            Ok(wrote_events) => {
                if wrote_events {
                    wake.committed();
                }
                replies.drain(..).for_each(|reply| reply(None));
            }
            Err(e) if replies.is_empty() => {
                // No connection or no transaction: nothing ran, and the batch is tried again, after a pause so
                // that a database that is down is not asked in a busy loop. Callers wait meanwhile.
                tracing::error!(error = %e, source = ?e.source, "queued writes wait for the database");
                std::thread::sleep(RETRY_AFTER);
            }
            Err(e) => {
                tracing::error!(error = %e, source = ?e.source, "a batch of queued writes failed; rolled back");
                replies.drain(..).for_each(|reply| reply(Some(&e)));
            }
        }
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.listener.abort();
        self.announcer.abort();
    }
}

/// An error and its causes, on one line: a TLS failure is three levels down.
fn causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}
