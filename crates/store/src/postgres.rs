//! The scale-out backend. Each operation runs in its own transaction on a pooled connection; PostgreSQL's row
//! locks serialize what must be serial (a conversation's message sequence), so any number of nodes can share it.
//! Store logic is synchronous (it is shared with SQLite), so it runs on a blocking thread and drives the async
//! client through the runtime handle.

use std::str::FromStr;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use switchboard_domain::Error;
use tokio::runtime::Handle;

use crate::sql::Tx;

/// Waits and transactions longer than this are logged: on a healthy server they do not happen.
const SLOW: std::time::Duration = std::time::Duration::from_secs(1);

pub struct PgStore {
    pool: Pool,
    /// Bumped after every commit of this node, to wake the outbox reader; every committed row is durable here.
    committed: tokio::sync::watch::Sender<i64>,
}

impl PgStore {
    /// Connects to `url`. `schema`, when given, is created if missing and used as the search path: tests use a
    /// schema each to stay isolated on one server.
    pub async fn connect(url: &str, schema: Option<&str>, pool_size: usize) -> Result<Self, Error> {
        let mut config = tokio_postgres::Config::from_str(url).map_err(Error::internal)?;
        if let Some(schema) = schema {
            let (client, conn) = config.connect(tokio_postgres::NoTls).await.map_err(Error::internal)?;
            let driver = tokio::spawn(conn);
            client
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                .await
                .map_err(Error::internal)?;
            drop(client);
            let _ = driver.await;
            config.options(format!("-c search_path=\"{schema}\""));
        }
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager).max_size(pool_size).build().map_err(Error::internal)?;
        // Fail now, with the cause, rather than on the first request.
        drop(pool.get().await.map_err(Error::internal)?);
        let (committed, _) = tokio::sync::watch::channel(i64::MAX);
        Ok(Self { pool, committed })
    }

    /// Changes after every commit on this node. Its value, `i64::MAX`, says that no committed event waits for
    /// anything before it may be read: PostgreSQL's COMMIT is durable.
    pub fn durable_events(&self) -> tokio::sync::watch::Receiver<i64> {
        self.committed.subscribe()
    }

    pub async fn run<R, F>(&self, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<R, Error> + Send + 'static,
    {
        let pool = self.pool.clone();
        let committed = self.committed.clone();
        let rt = Handle::current();
        tokio::task::spawn_blocking(move || {
            let asked = std::time::Instant::now();
            let mut client = rt.block_on(pool.get()).map_err(Error::internal)?;
            let waited = asked.elapsed();
            if waited > SLOW {
                tracing::warn!(waited_ms = waited.as_millis(), "waited long for a database connection");
            }
            let tx = rt.block_on(client.transaction()).map_err(Error::internal)?;
            let result = f(&mut Tx::Postgres { tx: &tx, rt: &rt });
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
