//! The scale-out backend. Each operation runs in its own transaction on a pooled connection; PostgreSQL's row
//! locks serialize what must be serial (a conversation's message sequence), so any number of nodes can share it.
//! Store logic is synchronous (it is shared with SQLite), so it runs on a blocking thread and drives the async
//! client through the runtime handle.
//!
//! Writes queued with [`PgStore::submit`] (routing's decisions) are the exception: one writer thread commits
//! them in the order they were queued, several to a transaction (group commit), each in a savepoint of its own so
//! that a failing one changes nothing. Their callers need not wait for the commit while they hold a lock, and a
//! burst of them costs one commit rather than one each.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use switchboard_domain::{Code, Error};
use tokio::runtime::Handle;

use crate::{
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
    /// Bumped after every commit of this node, to wake the outbox reader; every committed row is durable here.
    committed: tokio::sync::watch::Sender<i64>,
    /// Writes for the queued writer ([`PgStore::submit`]).
    queued: tokio::sync::mpsc::Sender<Job>,
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
        let manager = Manager::from_config(config, tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager).max_size(pool_size).build().map_err(Error::internal)?;
        // Fail now, with the cause, rather than on the first request.
        drop(pool.get().await.map_err(|e| unreachable(&e))?);
        let (committed, _) = tokio::sync::watch::channel(i64::MAX);
        let (queued, jobs) = tokio::sync::mpsc::channel(QUEUE_DEPTH);
        let (writer_pool, writer_committed, rt) = (pool.clone(), committed.clone(), Handle::current());
        std::thread::Builder::new()
            .name("postgres-writer".into())
            .spawn(move || writer_loop(&writer_pool, jobs, &writer_committed, &rt))
            .map_err(Error::internal)?;
        Ok(Self { pool, committed, queued })
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

    /// Changes after every commit of a write on this node. Its value, `i64::MAX`, says that no committed event waits
    /// for anything before it may be read: PostgreSQL's COMMIT is durable.
    pub fn durable_events(&self) -> tokio::sync::watch::Receiver<i64> {
        self.committed.subscribe()
    }

    /// Runs `f` in a transaction of its own; the log's readers are woken once it commits.
    pub async fn write<R, F>(&self, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<R, Error> + Send + 'static,
    {
        self.run(f, Some(self.committed.clone())).await
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

    /// A write when `committed` is given (woken after the commit), a read otherwise.
    async fn run<R, F>(&self, f: F, committed: Option<tokio::sync::watch::Sender<i64>>) -> Result<R, Error>
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
            let Some(committed) = committed else {
                let mut t = Tx::postgres(PgSession::Connection(&client), &rt);
                return f(&mut t).and_then(|v| t.finish_pending().map(|()| v));
            };
            let tx = rt.block_on(client.transaction()).map_err(Error::internal)?;
            let result = {
                let mut t = Tx::postgres(PgSession::Transaction(&tx), &rt);
                f(&mut t).and_then(|v| t.finish_pending().map(|()| v))
            };
            match result {
                Ok(v) => {
                    rt.block_on(tx.commit()).map_err(Error::internal)?;
                    let took = asked.elapsed();
                    if took > SLOW {
                        tracing::warn!(took_ms = took.as_millis(), "slow database transaction");
                    }
                    committed.send_modify(|_| {});
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
fn writer_loop(
    pool: &Pool,
    mut jobs: tokio::sync::mpsc::Receiver<Job>,
    committed: &tokio::sync::watch::Sender<i64>,
    rt: &Handle,
) {
    let mut batch: std::collections::VecDeque<Job> = std::collections::VecDeque::with_capacity(MAX_BATCH);
    let mut replies: Vec<Reply> = Vec::with_capacity(MAX_BATCH);
    while queued::gather(&mut batch, &mut jobs, MAX_BATCH) {
        let outcome = (|| -> Result<(), Error> {
            let mut client = rt.block_on(pool.get()).map_err(Error::internal)?;
            let tx = rt.block_on(client.transaction()).map_err(Error::internal)?;
            let started = std::time::Instant::now();
            {
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
                t.finish_pending()?;
            }
            let jobs = replies.len();
            rt.block_on(tx.commit()).map_err(Error::internal)?;
            metrics::histogram!("switchboard_store_batch_jobs").record(jobs as f64);
            Ok(())
        })();
        match outcome {
            Ok(()) => {
                committed.send_modify(|_| {});
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
