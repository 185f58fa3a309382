//! The log's readers: the outbox reader against a log whose ids become visible out of order, as PostgreSQL's do,
//! and the followers every worker reads the log through.

use std::{sync::Arc, time::Duration};

use switchboard_domain::{
    event::{CapacityReleased, Deleted, EventType, QueueWait, TypedEvent},
    ids::{ConversationId, OrgId, QueueId, UserId},
};
use switchboard_server::outbox::{Filter, Follower, LogReader, Start};
use switchboard_store::{Store, StoreConfig, events, params, routing::last_event_id, webhooks};

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

async fn record(app: &crate::TestApp, org: OrgId, kind: EventType, conversation: Option<ConversationId>) -> i64 {
    app.state
        .store
        .write(move |tx| {
            events::record_event(tx, org, conversation, &made_up(kind), switchboard_domain::Timestamp::now())?;
            last_event_id(tx)
        })
        .await
        .unwrap()
}

/// An event of `kind` with a made-up payload: these tests look at types, organizations and conversations only.
fn made_up(kind: EventType) -> TypedEvent {
    match kind {
        EventType::RoutingQueued => TypedEvent::RoutingQueued(QueueWait { queue_id: QueueId::new() }),
        EventType::RoutingDequeued => TypedEvent::RoutingDequeued(QueueWait { queue_id: QueueId::new() }),
        EventType::RoutingCapacityReleased => {
            TypedEvent::RoutingCapacityReleased(CapacityReleased { agent_id: UserId::new() })
        }
        EventType::PresenceDeleted => TypedEvent::PresenceDeleted(Deleted { id: uuid::Uuid::now_v7() }),
        EventType::CapacityProfileDeleted => TypedEvent::CapacityProfileDeleted(Deleted { id: uuid::Uuid::now_v7() }),
        other => panic!("no made-up payload for {other}"),
    }
}

/// Waits for the follower's next batch; a reader that is never woken fails the test instead of hanging it.
async fn next(follower: &mut Follower) -> Vec<(String, Option<ConversationId>)> {
    let events = tokio::time::timeout(Duration::from_secs(30), follower.next()).await.expect("woken").unwrap().unwrap();
    events.into_iter().map(|e| (e.event_type, e.conversation_id)).collect()
}

/// Readers are woken by commits alone: the poll fallback is an hour.
fn hour_poll(config: &mut switchboard_server::Config) {
    config.cluster.log_poll_seconds = 3_600.0;
}

#[tokio::test]
async fn a_follower_takes_its_organizations_events_of_its_types_and_conversations_as_they_commit() {
    let app = crate::TestApp::spawn_with(crate::Options { configure: Some(hour_poll), ..Default::default() }).await;
    let org: OrgId = app.org_id.parse().unwrap();
    let (other, c1, c2) = (OrgId::new(), ConversationId::new(), ConversationId::new());
    let filter = Filter::everything()
        .org(org)
        .types([EventType::RoutingQueued.as_str(), EventType::RoutingDequeued.as_str()])
        .conversations([c1]);
    let mut follower = app.state.log.follow(Start::End, filter, 2).await.unwrap();
    record(&app, other, EventType::RoutingQueued, Some(c1)).await;
    record(&app, org, EventType::RoutingQueued, Some(c2)).await;
    record(&app, org, EventType::PresenceDeleted, None).await;
    record(&app, org, EventType::RoutingCapacityReleased, Some(c1)).await;
    let first = record(&app, org, EventType::RoutingQueued, Some(c1)).await;
    assert_eq!(next(&mut follower).await, [(EventType::RoutingQueued.to_string(), Some(c1))]);
    // One read at a time, as they commit; the reader then waits for the next commit.
    let message = tokio::spawn(async move { (next(&mut follower).await, follower) });
    record(&app, org, EventType::RoutingDequeued, Some(c2)).await;
    let last = record(&app, org, EventType::RoutingDequeued, Some(c1)).await;
    let (taken, follower) = message.await.unwrap();
    assert_eq!(taken, [(EventType::RoutingDequeued.to_string(), Some(c1))]);
    assert_eq!(follower.cursor(), last);
    assert!(follower.safe_cursor() >= first);

    // A stream client's resume: the range it missed, with the same filter, up to where the follower is.
    let filter = Filter::everything()
        .org(org)
        .types([EventType::RoutingQueued.as_str(), EventType::RoutingDequeued.as_str()])
        .conversations([c1]);
    let missed = app.state.log.range(org, first - 1, Some(follower.cursor()), &filter, 100).await.unwrap();
    assert_eq!(missed.iter().map(|e| e.id).collect::<Vec<_>>(), [first, last]);
    let up_to_first = app.state.log.range(org, 0, Some(first), &filter, 100).await.unwrap();
    assert_eq!(up_to_first.last().map(|e| e.id), Some(first), "nothing past `until`");
    let others = app.state.log.range(other, 0, None, &Filter::everything(), 100).await.unwrap();
    assert_eq!(others.len(), 1, "another organization's range has only its own");
}

#[tokio::test]
async fn a_kept_cursor_starts_a_follower_where_the_last_one_stopped() {
    let app = crate::TestApp::spawn().await;
    let org: OrgId = app.org_id.parse().unwrap();
    let kept = record(&app, org, EventType::PresenceDeleted, None).await;
    app.state.store.write(move |tx| webhooks::set_cursor(tx, "test", kept)).await.unwrap();
    let after = record(&app, org, EventType::CapacityProfileDeleted, None).await;
    let mut follower = app.state.log.follow(Start::Kept("test"), Filter::everything().org(org), 100).await.unwrap();
    assert_eq!(next(&mut follower).await, [(EventType::CapacityProfileDeleted.to_string(), None)]);
    assert_eq!(follower.cursor(), after);
    let mut fresh = app.state.log.follow(Start::Kept("never kept"), Filter::everything().org(org), 1).await.unwrap();
    assert!(!next(&mut fresh).await.is_empty(), "with no cursor kept, from the beginning");
}
