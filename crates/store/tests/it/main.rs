//! The store conformance suite: every test runs on SQLite and on PostgreSQL (a fresh schema per test on the
//! server at `SWITCHBOARD_TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`). A PostgreSQL
//! that cannot be reached fails the PostgreSQL half; it is never skipped.

#![allow(clippy::unwrap_used)]

mod analytics;
mod conformance;
mod leases;
mod listen;
mod messaging_accounts;
mod plans;
mod tls;

use switchboard_store::{Store, StoreConfig};

pub struct TestStore {
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&StoreConfig::Sqlite { path: dir.path().join("test.db") }).await.expect("open sqlite");
    TestStore { store, _dir: Some(dir) }
}

pub fn pg_url() -> String {
    std::env::var("SWITCHBOARD_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub async fn postgres() -> TestStore {
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let config = StoreConfig::Postgres { url: pg_url(), schema: Some(schema), pool_size: 8 };
    let store = Store::open(&config).await.unwrap_or_else(|e| panic!("PostgreSQL at {} is required: {e:?}", pg_url()));
    TestStore { store, _dir: None }
}

/// Declares each test once and runs it on both backends.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),+ $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let t = $crate::sqlite().await;
                    super::$name(&t.store).await;
                }
            )+
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let t = $crate::postgres().await;
                    super::$name(&t.store).await;
                }
            )+
        }
    };
}
