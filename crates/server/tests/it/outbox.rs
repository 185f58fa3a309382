//! The outbox reader against a log whose ids become visible out of order, as PostgreSQL's do.

use std::sync::Arc;

use switchboard_server::outbox::LogReader;
use switchboard_store::{Store, StoreConfig, params};

async fn insert_event(store: &Store, id: i64, org: &str) {
    let org = org.to_string();
    store
        .write(move |tx| {
            tx.execute(
                "INSERT INTO events (id, org_id, event_type, payload, created_at) VALUES ($1, $2, 'test.event', '{}', 0)",
                params![id, org.as_str()],
            )
            .map(drop)
        })
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_log_reader_gives_each_event_once_even_when_ids_appear_out_of_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreConfig::Sqlite { path: dir.path().join("db") }).await.unwrap();
    let (_, created) =
        switchboard_server::admin::create_org(&store, "acme", switchboard_domain::Timestamp::now()).await.unwrap();
    let org = created.org_id.to_string();
    let last =
        store.read(|tx| tx.query_one("SELECT COALESCE(MAX(id), 0) FROM events", params![])?.i64(0)).await.unwrap();
    let mut reader = LogReader::new(last);
    let all: switchboard_server::outbox::Want = Arc::new(|_, _| true);

    // Id last+2 commits first: it is read, and last+1 is awaited.
    insert_event(&store, last + 2, &org).await;
    let batch = reader.read(&store, all.clone(), 100).await.unwrap();
    assert_eq!(batch.events.iter().map(|e| e.id).collect::<Vec<_>>(), [last + 2]);
    assert_eq!(reader.safe_cursor(), last, "a restart must read the awaited id again");

    // Then last+1 commits: the next read finds it, once.
    insert_event(&store, last + 1, &org).await;
    let batch = reader.read(&store, all.clone(), 100).await.unwrap();
    assert_eq!(batch.events.iter().map(|e| e.id).collect::<Vec<_>>(), [last + 1]);
    assert_eq!(reader.safe_cursor(), last + 2);
    let batch = reader.read(&store, all.clone(), 100).await.unwrap();
    assert!(batch.events.is_empty() && !batch.moved);

    // An id that never commits (a rolled-back transaction) stops being awaited after a minute.
    insert_event(&store, last + 4, &org).await;
    reader.read(&store, all.clone(), 100).await.unwrap();
    assert_eq!(reader.safe_cursor(), last + 2);
    tokio::time::advance(std::time::Duration::from_secs(59)).await;
    reader.read(&store, all.clone(), 100).await.unwrap();
    assert_eq!(reader.safe_cursor(), last + 2, "still awaited within the minute");
    tokio::time::advance(std::time::Duration::from_secs(2)).await;
    reader.read(&store, all.clone(), 100).await.unwrap();
    assert_eq!(reader.safe_cursor(), last + 4);

    // Unwanted events are passed over without being returned.
    insert_event(&store, last + 5, &org).await;
    let none: switchboard_server::outbox::Want = Arc::new(|_, _| false);
    let batch = reader.read(&store, none, 100).await.unwrap();
    assert!(batch.events.is_empty() && batch.moved);
    assert_eq!(reader.cursor(), last + 5);
}
