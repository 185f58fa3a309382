//! One `Store` over SQLite (the embedded default) and PostgreSQL (to scale out).
//!
//! Store logic lives in the modules named after what they hold (`conversations`, `contacts`, `setup`, `access`,
//! `events`, `idempotency`, `routing`) as plain functions over a [`sql::Tx`]; the `Store` runs them in a transaction on
//! whichever backend is configured. A write returns only once it is committed.

pub mod access;
pub mod analytics;
pub mod attachments;
pub mod bots;
pub mod contacts;
pub mod conversations;
pub mod direct_line;
pub mod events;
pub mod idempotency;
pub mod leases;
pub mod message_templates;
pub mod messaging_accounts;
mod migrate;
pub mod model;
pub mod outbound_configs;
pub mod overflow;
mod pg_listen;
mod pg_tls;
pub mod phone;
mod postgres;
pub mod provider_messages;
mod queued;
pub mod quick_replies;
pub mod reply_addresses;
pub mod routing;
pub mod routing_config;
pub mod setup;
pub mod sign_in;
pub mod sql;
mod sqlite;
pub mod timers;
pub mod webhooks;

use std::path::Path;

pub use idempotency::{Body, IdempotencyKey, Outcome};
pub use pg_tls::{PgTarget, SslMode};
pub use sql::{Backend, Tx};
use switchboard_domain::{Code, Error, Timestamp, ids::OrgId};

/// Where the data lives.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// A SQLite database file (created if missing).
    Sqlite { path: std::path::PathBuf },
    /// A PostgreSQL URL; `schema` isolates tests that share one server.
    Postgres { url: String, schema: Option<String>, pool_size: usize },
}

/// The largest signal [`Store::publish_signal`] sends: PostgreSQL's NOTIFY takes payloads shorter than 8,000 bytes.
pub const MAX_SIGNAL_BYTES: usize = 7_999;
/// Signals a node has received and not yet handed to every subscriber, at most; a subscriber further behind
/// misses the oldest.
pub const SIGNAL_BUFFER: usize = 1_024;

/// A submitted write's commit: it resolves once the transaction is durable, with its result.
pub type Committing<R> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<R, Error>> + Send>>;

pub enum Store {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

impl Store {
    /// Opens the store and brings its schema up to date.
    pub async fn open(config: &StoreConfig) -> Result<Self, Error> {
        let store = Self::connect(config).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens the store without touching its schema.
    pub async fn connect(config: &StoreConfig) -> Result<Self, Error> {
        Ok(match config {
            StoreConfig::Sqlite { path } => Store::Sqlite(sqlite::SqliteStore::open(Path::new(path))?),
            StoreConfig::Postgres { url, schema, pool_size } => {
                Store::Postgres(postgres::PgStore::connect(url, schema.as_deref(), *pool_size).await?)
            }
        })
    }

    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the migrations not yet applied; returns how many ran.
    pub async fn migrate(&self) -> Result<usize, Error> {
        self.write(migrate::run).await
    }

    /// Runs `f` in a transaction that commits when it returns `Ok` and changes nothing when it returns `Err`.
    /// Returns after the commit is durable.
    pub async fn write<R, F>(&self, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<R, Error> + Send + 'static,
    {
        match self {
            Store::Sqlite(s) => s.write(f).await,
            Store::Postgres(p) => p.write(f).await,
        }
    }

    /// Like [`Store::write`], in two steps: the returned future is the commit. The transaction is queued for one
    /// writer when this returns (SQLite's only writer; on PostgreSQL, the node's writer of queued writes), so
    /// writes submitted one after another commit in that order, and a caller may release a lock before it waits
    /// for its commit and let the next writes join the same group commit.
    pub async fn submit<R, F>(&self, f: F) -> Result<Committing<R>, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<R, Error> + Send + 'static,
    {
        match self {
            Store::Sqlite(s) => s.submit(f).await,
            Store::Postgres(p) => p.submit(f).await,
        }
    }

    /// Runs `f`, which only reads: on SQLite on one snapshot; on PostgreSQL outside a transaction, each statement on
    /// its own snapshot (what a READ COMMITTED transaction gives), which saves two round trips.
    pub async fn read<R, F>(&self, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<R, Error> + Send + 'static,
    {
        match self {
            Store::Sqlite(s) => s.read(f).await,
            Store::Postgres(p) => p.read(f).await,
        }
    }

    /// A write that happens at most once per idempotency key: see [`idempotency::run`].
    pub async fn write_once<R, F>(
        &self,
        org: OrgId,
        key: Option<IdempotencyKey>,
        now: Timestamp,
        effect: F,
    ) -> Result<Outcome<R>, Error>
    where
        R: serde::Serialize + Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<(u16, R), Error> + Send + 'static,
    {
        self.write(move |tx| idempotency::run(tx, org, key.as_ref(), now, effect)).await
    }

    /// A write that happens at most once per idempotency key and per protocol request id: see
    /// [`idempotency::run_keyed_and_identified`].
    pub async fn write_once_identified<R, F>(
        &self,
        org: OrgId,
        key: Option<IdempotencyKey>,
        request_id: Option<IdempotencyKey>,
        now: Timestamp,
        effect: F,
    ) -> Result<Outcome<serde_json::Value>, Error>
    where
        R: serde::Serialize + Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<(u16, R), Error> + Send + 'static,
    {
        self.write(move |tx| {
            idempotency::run_keyed_and_identified(tx, org, key.as_ref(), request_id.as_ref(), now, effect)
        })
        .await
    }

    /// The outbox watermark: events with an id up to its value are durable and may be acted on outside the
    /// request that wrote them. The receiver wakes after every commit of events: on SQLite once they are synced; on
    /// PostgreSQL after this node's commits and, through its listening connection, every other node's (each node
    /// announces its commits after they committed), and once
    /// more whenever that connection listens again after it was lost (so a reader woken reads what it missed).
    pub fn durable_events(&self) -> tokio::sync::watch::Receiver<i64> {
        match self {
            Store::Sqlite(s) => s.durable_events(),
            Store::Postgres(p) => p.durable_events(),
        }
    }

    /// Sends an ephemeral signal (typing, an agent viewing a conversation) to the [`Store::signals`] subscribers of
    /// every node sharing the database, this one's included; nothing is stored, and a node not listening at that
    /// moment never hears it. A payload over [`MAX_SIGNAL_BYTES`] is refused (`payload_too_large`), on both
    /// backends alike.
    pub async fn publish_signal(&self, payload: String) -> Result<(), Error> {
        if payload.len() > MAX_SIGNAL_BYTES {
            return Err(Error::new(
                Code::PayloadTooLarge,
                format!("a signal is at most {MAX_SIGNAL_BYTES} bytes; this one is {}", payload.len()),
            ));
        }
        match self {
            Store::Sqlite(s) => {
                s.publish_signal(payload);
                Ok(())
            }
            Store::Postgres(p) => p.publish_signal(payload).await,
        }
    }

    /// The signals published from now on, by any node. A subscriber that falls more than [`SIGNAL_BUFFER`] behind
    /// misses the oldest and is told how many (`RecvError::Lagged`).
    pub fn signals(&self) -> tokio::sync::broadcast::Receiver<std::sync::Arc<str>> {
        match self {
            Store::Sqlite(s) => s.signals(),
            Store::Postgres(p) => p.signals(),
        }
    }

    /// The `application_name` of the connection that listens for other nodes' events (PostgreSQL): how an operator
    /// finds it in `pg_stat_activity`.
    pub fn listener_application_name(&self) -> Option<&str> {
        match self {
            Store::Sqlite(_) => None,
            Store::Postgres(p) => Some(p.listener_application_name()),
        }
    }

    /// The `application_name` of the connection that announces this node's commits of events to the other nodes
    /// (PostgreSQL): one per node, so it tells the nodes apart in `pg_stat_activity`.
    pub fn announcer_application_name(&self) -> Option<&str> {
        match self {
            Store::Sqlite(_) => None,
            Store::Postgres(p) => Some(p.announcer_application_name()),
        }
    }

    /// Drops a PostgreSQL schema and everything in it: what a benchmark run made for itself.
    pub async fn drop_schema(&self, schema: &str) -> Result<(), Error> {
        let sql = format!("DROP SCHEMA \"{}\" CASCADE", schema.replace('"', "\"\""));
        self.write(move |tx| tx.batch(&sql)).await
    }

    /// Whether the database answers (readiness).
    pub async fn ping(&self) -> Result<(), Error> {
        self.read(|tx| tx.query_one("SELECT 1", params![]).map(|_| ())).await
    }
}
