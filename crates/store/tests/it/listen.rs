//! How nodes hear of each other: commits of events wake every node's log readers (on PostgreSQL through
//! `LISTEN/NOTIFY`: each node's announcing connection notifies after its node's commits, and a listening
//! connection on each node hears them; both come back when they are killed), and ephemeral signals reach every
//! node's subscribers without being stored.

use std::time::Duration;

use serde_json::json;
use switchboard_domain::{
    Code, Timestamp,
    event::{Deleted, EventType, QueueWait, TypedEvent},
    ids::*,
};
use switchboard_store::{MAX_SIGNAL_BYTES, Store, StoreConfig, events, params};
use tokio::time::timeout;

crate::conformance!(
    signals_reach_every_subscriber_and_one_too_large_is_refused,
    a_range_read_takes_one_organizations_events_of_the_types_and_conversations_named,
    a_commit_of_events_wakes_the_readers_and_other_writes_do_not,
);

/// Long enough for a loaded machine; a wait that passes returns at once.
const PATIENCE: Duration = Duration::from_secs(30);

async fn record(store: &Store, org: OrgId, kind: EventType, conversation: Option<ConversationId>) {
    store
        .write(move |tx| events::record_event(tx, org, conversation, &made_up(kind), Timestamp::from_millis(1_000)))
        .await
        .unwrap();
}

/// An event of `kind` with a made-up payload: these tests look at types, organizations and conversations only.
fn made_up(kind: EventType) -> TypedEvent {
    match kind {
        EventType::RoutingQueued => TypedEvent::RoutingQueued(QueueWait { queue_id: QueueId::new() }),
        EventType::RoutingDequeued => TypedEvent::RoutingDequeued(QueueWait { queue_id: QueueId::new() }),
        EventType::PresenceDeleted => TypedEvent::PresenceDeleted(Deleted { id: uuid::Uuid::now_v7() }),
        other => panic!("no made-up payload for {other}"),
    }
}

/// Publishes through `from` until `to`'s subscriber hears it: a node's listener may not listen yet when it starts.
/// Once this returns, `to` listens, and it has done what it does when it starts listening.
async fn until_heard(from: &Store, to: &Store, signals: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<str>>) {
    for _ in 0..300 {
        from.publish_signal("ping".into()).await.unwrap();
        if let Ok(heard) = timeout(Duration::from_millis(100), signals.recv()).await {
            assert_eq!(&*heard.unwrap(), "ping");
            // Pings published before this one was heard may still arrive.
            while signals.try_recv().is_ok() {}
            return;
        }
    }
    panic!("a signal never reached the other node (listener: {:?})", to.listener_application_name());
}

async fn signals_reach_every_subscriber_and_one_too_large_is_refused(store: &Store) {
    let (mut first, mut second) = (store.signals(), store.signals());
    until_heard(store, store, &mut first).await;
    while second.try_recv().is_ok() {}

    let typing = json!({ "type": "typing", "conversation_id": ConversationId::new() }).to_string();
    store.publish_signal(typing.clone()).await.unwrap();
    for subscriber in [&mut first, &mut second] {
        assert_eq!(&*timeout(PATIENCE, subscriber.recv()).await.unwrap().unwrap(), typing);
    }

    let largest = "x".repeat(MAX_SIGNAL_BYTES);
    store.publish_signal(largest.clone()).await.unwrap();
    assert_eq!(&*timeout(PATIENCE, first.recv()).await.unwrap().unwrap(), largest, "the largest signal goes through");
    let refused = store.publish_signal("x".repeat(MAX_SIGNAL_BYTES + 1)).await.unwrap_err();
    assert_eq!(refused.code, Code::PayloadTooLarge, "{refused:?}");
    // Signals arrive in order: the next one heard is the one after the refused one.
    store.publish_signal("after".into()).await.unwrap();
    assert_eq!(&*timeout(PATIENCE, first.recv()).await.unwrap().unwrap(), "after", "nothing of the refused one");
}

async fn a_range_read_takes_one_organizations_events_of_the_types_and_conversations_named(store: &Store) {
    let (org, other) = (OrgId::new(), OrgId::new());
    let (c1, c2) = (ConversationId::new(), ConversationId::new());
    let start = store.read(routing_last_event).await.unwrap();
    record(store, org, EventType::RoutingQueued, Some(c1)).await;
    record(store, other, EventType::RoutingQueued, Some(c2)).await;
    record(store, org, EventType::RoutingDequeued, Some(c1)).await;
    record(store, org, EventType::RoutingQueued, Some(c2)).await;
    record(store, org, EventType::PresenceDeleted, None).await;
    let end = store.read(routing_last_event).await.unwrap();
    let page = |types: Option<Vec<String>>, conversations: Option<Vec<ConversationId>>, after: i64, limit: usize| {
        store.read(move |tx| events::page(tx, org, after, end, types.as_deref(), conversations.as_deref(), limit))
    };
    let kinds = |found: Vec<switchboard_store::model::Event>| {
        found.into_iter().map(|e| (e.event_type, e.conversation_id)).collect::<Vec<_>>()
    };
    let all = page(None, None, start, 100).await.unwrap();
    assert!(all.iter().all(|e| e.org_id == org), "never another organization's");
    assert_eq!(all.len(), 4);
    assert_eq!(
        kinds(page(Some(vec!["routing.queued".into()]), None, start, 100).await.unwrap()),
        [("routing.queued".to_string(), Some(c1)), ("routing.queued".to_string(), Some(c2))]
    );
    assert_eq!(
        kinds(page(None, Some(vec![c1]), start, 100).await.unwrap()),
        [("routing.queued".to_string(), Some(c1)), ("routing.dequeued".to_string(), Some(c1))],
        "a conversation filter leaves out other conversations and events outside conversations"
    );
    let both = page(Some(vec!["routing.dequeued".into(), "presence.deleted".into()]), Some(vec![c1, c2]), start, 100);
    assert_eq!(kinds(both.await.unwrap()), [("routing.dequeued".to_string(), Some(c1))]);
    let first_two = page(None, None, start, 2).await.unwrap();
    let rest = page(None, None, first_two[1].id, 100).await.unwrap();
    assert_eq!(first_two.len() + rest.len(), 4, "pages continue where the last ended");
    let odd = vec!["it's \"quoted\", with commas".to_string(); 3];
    assert!(page(Some(odd), None, start, 100).await.unwrap().is_empty(), "any text is a type that matches nothing");
    assert!(page(Some(vec![]), None, start, 100).await.unwrap().is_empty(), "an empty list takes nothing");
    assert!(page(None, None, end, 100).await.unwrap().is_empty(), "nothing after the end");
}

fn routing_last_event(tx: &mut switchboard_store::Tx<'_>) -> Result<i64, switchboard_domain::Error> {
    switchboard_store::routing::last_event_id(tx)
}

async fn a_commit_of_events_wakes_the_readers_and_other_writes_do_not(store: &Store) {
    let mut durable = store.durable_events();
    if let Some(name) = store.listener_application_name() {
        // The listener wakes the readers once when it starts listening; after that only commits do.
        let mut signals = store.signals();
        until_heard(store, store, &mut signals).await;
        assert!(!name.is_empty());
    }
    durable.borrow_and_update();
    store.write(|tx| tx.execute("CREATE TABLE IF NOT EXISTS unrelated (x BIGINT)", params![]).map(drop)).await.unwrap();
    assert!(!durable.has_changed().unwrap(), "a write without events wakes nobody");
    record(store, OrgId::new(), EventType::PresenceDeleted, None).await;
    timeout(PATIENCE, durable.changed()).await.unwrap().unwrap();
}

fn on_postgres(schema: &str) -> StoreConfig {
    StoreConfig::Postgres { url: crate::pg_url(), schema: Some(schema.to_string()), pool_size: 4 }
}

/// Two nodes on one database.
async fn two_nodes() -> (Store, Store, String) {
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let a = Store::open(&on_postgres(&schema)).await.unwrap();
    let b = Store::open(&on_postgres(&schema)).await.unwrap();
    (a, b, schema)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_an_event_committed_on_one_node_wakes_the_readers_of_another_and_signals_cross() {
    let (a, b, _) = two_nodes().await;
    let mut durable = b.durable_events();
    let mut signals = b.signals();
    until_heard(&a, &b, &mut signals).await;
    durable.borrow_and_update();
    record(&a, OrgId::new(), EventType::PresenceDeleted, None).await;
    timeout(PATIENCE, durable.changed()).await.expect("the other node's commit woke this one").unwrap();

    // Signals go both ways, to every subscriber.
    let mut on_a = a.signals();
    until_heard(&b, &a, &mut on_a).await;
    b.publish_signal("viewing".into()).await.unwrap();
    assert_eq!(&*timeout(PATIENCE, on_a.recv()).await.unwrap().unwrap(), "viewing");
    // The sender's own subscribers hear it too, after the pings it sent before.
    loop {
        match &*timeout(PATIENCE, signals.recv()).await.unwrap().unwrap() {
            "viewing" => break,
            other => assert_eq!(other, "ping"),
        }
    }
}

/// A connection listening on the schema's channel of events, as another node's listener would.
async fn listen_for_events(
    schema: &str,
) -> (tokio_postgres::Client, tokio::sync::mpsc::UnboundedReceiver<(i32, String)>) {
    let target = switchboard_store::PgTarget::parse(&crate::pg_url()).unwrap();
    let (client, mut connection) = target.config.connect(target.tls).await.unwrap();
    let (notes_tx, notes) = tokio::sync::mpsc::unbounded_channel();
    let channel = format!("switchboard_events_{schema}");
    tokio::spawn(async move {
        while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let tokio_postgres::AsyncMessage::Notification(n) = message
                && n.channel() == channel
            {
                let _ = notes_tx.send((n.process_id(), n.payload().to_string()));
            }
        }
    });
    client.batch_execute(&format!("LISTEN \"switchboard_events_{schema}\"")).await.unwrap();
    (client, notes)
}

/// Waits until `node`'s announcer announces ids up to at least `newest`; every notification of ids that high
/// before it must come from an announcer (the other node announces its own commits).
async fn announced_by(node: &Store, notes: &mut tokio::sync::mpsc::UnboundedReceiver<(i32, String)>, newest: i64) {
    let announcer = node.announcer_application_name().unwrap().to_string();
    loop {
        let (pid, payload) = timeout(PATIENCE, notes.recv()).await.expect("an announcement").unwrap();
        if payload.parse::<i64>().unwrap() < newest {
            continue;
        }
        let name = node
            .read(move |tx| {
                tx.query_one(
                    "SELECT application_name FROM pg_stat_activity WHERE pid = $1::bigint",
                    params![i64::from(pid)],
                )?
                .string(0)
            })
            .await
            .unwrap();
        // Not the writer's connection, whose transaction would have notified before its commit.
        assert!(name.starts_with("switchboard announcer"), "notified by {name:?}");
        if name == announcer {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_commits_of_events_are_announced_after_they_commit_by_a_connection_of_their_node() {
    let (a, b, schema) = two_nodes().await;
    let (_listening, mut notes) = listen_for_events(&schema).await;
    let (on_a, on_b) = (a.announcer_application_name().unwrap(), b.announcer_application_name().unwrap());
    assert_ne!(on_a, on_b, "each node announces on a connection of its own");
    let org = OrgId::new();
    let newest = a
        .write(move |tx| {
            for kind in [EventType::RoutingQueued, EventType::RoutingDequeued, EventType::RoutingDequeued] {
                events::record_event(tx, org, Some(ConversationId::new()), &made_up(kind), Timestamp::from_millis(1))?;
            }
            switchboard_store::routing::last_event_id(tx)
        })
        .await
        .unwrap();
    announced_by(&a, &mut notes, newest).await;

    // A queued write (routing's writer) is announced too.
    let committing = b
        .submit(move |tx| {
            events::record_event(tx, org, None, &made_up(EventType::PresenceDeleted), Timestamp::from_millis(1))?;
            switchboard_store::routing::last_event_id(tx)
        })
        .await
        .unwrap();
    let queued = committing.await.unwrap();
    announced_by(&b, &mut notes, queued).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_killed_listeners_and_announcers_connect_again_and_nothing_committed_after_is_missed() {
    let (a, b, _) = two_nodes().await;
    let mut durable = b.durable_events();
    let mut signals = b.signals();
    until_heard(&a, &b, &mut signals).await;
    durable.borrow_and_update();
    // The writing node's announcer connects at its first commit of events.
    record(&a, OrgId::new(), EventType::PresenceDeleted, None).await;
    timeout(PATIENCE, durable.changed()).await.expect("the other node's commit woke this one").unwrap();
    let listener = b.listener_application_name().unwrap().to_string();
    let announcer = a.announcer_application_name().unwrap().to_string();
    let killed = a
        .read(move |tx| {
            tx.query_one(
                "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name IN ($1, $2)",
                params![listener.as_str(), announcer.as_str()],
            )?
            .i64(0)
        })
        .await
        .unwrap();
    assert_eq!(killed, 3, "each node's listener and the writing node's announcer");
    // Once it listens again it wakes its readers, who read whatever was committed while it was down.
    timeout(PATIENCE, durable.changed()).await.expect("woken after listening again").unwrap();
    until_heard(&a, &b, &mut signals).await;
    durable.borrow_and_update();
    // Announced by the writing node's new announcing connection.
    record(&a, OrgId::new(), EventType::PresenceDeleted, None).await;
    timeout(PATIENCE, durable.changed()).await.expect("an event committed after the kill wakes it").unwrap();
}
