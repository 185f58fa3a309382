use futures::FutureExt;
use switchboard_domain::{
    Code, Error, Timestamp,
    contact::CustomerIn,
    context::{ContextMap, ContextPatch},
    conversation::{Action, ConversationState},
    event::{EventType, PositionChanged, TypedEvent},
    ids::*,
    message::SenderKind,
    role::Role,
    routing::overflow::{OverflowAction, OverflowCondition, OverflowRule},
    setup::{ChannelType, Distribution, QueueRouting, QueueType, WorkstreamType},
};
use switchboard_store::{
    IdempotencyKey, Store, access,
    attachments::{self, NewAttachment},
    contacts,
    conversations::{self, ActionRequest, Actor, ConversationFilter, NewConversation, NewMessage},
    events, params, routing,
    setup::{self, WorkstreamChange},
};

crate::conformance!(
    migrations_apply_once,
    tenants_cannot_see_each_other,
    messages_take_consecutive_log_positions_under_concurrency,
    a_failed_write_changes_nothing_and_spares_its_batch,
    a_failed_write_leaves_no_gap_in_the_log,
    recorded_entries_and_messages_share_one_gapless_log_under_concurrency,
    a_pipelined_statement_that_fails_fails_its_write,
    submitted_writes_commit_in_order_and_one_that_fails_spares_the_rest,
    idempotency_keys_replay_and_refuse_other_requests,
    persistent_key_returns_the_live_conversation,
    context_variables_stop_at_one_hundred,
    state_changes_follow_the_table_and_write_events,
    contacts_match_by_customer_id_email_or_phone,
    closed_conversations_refuse_messages,
    webhook_deliveries_are_recorded_once_and_resume_in_event_order,
    concurrent_setup_changes_apply_one_after_the_other,
    setup_changes_that_change_nothing_write_nothing,
    concurrent_queue_routing_changes_apply_one_after_the_other,
    scattered_events_are_read_by_id_in_one_statement,
    a_read_sent_with_a_failing_pipelined_statement_reports_that_failure,
    a_message_on_condition_is_sent_only_in_that_state,
    lookups_for_the_engines_stay_in_the_organization_named,
    writes_carry_the_time_their_caller_gives,
);

struct Fixture {
    org: OrgId,
    channel: ChannelId,
    agent: UserId,
}

async fn fixture(store: &Store) -> Fixture {
    store
        .write(|tx| {
            let org = access::create_org(tx, "acme", Timestamp::now())?;
            let queue = setup::create_queue(tx, org.id, "General", QueueType::Messaging, 100, Timestamp::now())?;
            let ws = setup::create_workstream(
                tx,
                org.id,
                WorkstreamType::Messaging,
                WorkstreamChange {
                    name: "Chat".into(),
                    distribution: Distribution::Push,
                    fallback_queue_id: Some(queue.id),
                    settings: Default::default(),
                },
                Timestamp::now(),
            )?;
            let channel = setup::create_channel(
                tx,
                org.id,
                ChannelType::MessagingApi,
                "Web",
                ws.id,
                Default::default(),
                Timestamp::now(),
            )?;
            let agent = access::create_user(tx, org.id, "Ada", Some("ada@acme.test"), Role::Agent, Timestamp::now())?;
            Ok(Fixture { org: org.id, channel: channel.id, agent: agent.id })
        })
        .await
        .unwrap()
}

fn customer(id: &str) -> CustomerIn {
    serde_json::from_value(serde_json::json!({ "customer_id": id })).unwrap()
}

fn new_conversation(channel: ChannelId, customer_id: &str) -> NewConversation {
    NewConversation {
        channel_id: channel,
        key: None,
        customer: customer(customer_id),
        contact_id: None,
        context: ContextMap::default(),
        subject: None,
        priority: 0,
        start_message: None,
    }
}

fn text(t: &str) -> NewMessage {
    NewMessage {
        sender_kind: SenderKind::Customer,
        sender_id: None,
        sender_name: None,
        text: Some(t.into()),
        attachments: vec![],
        automated: false,
        template: None,
    }
}

async fn start(store: &Store, f: &Fixture, customer_id: &str) -> ConversationId {
    let (org, new) = (f.org, new_conversation(f.channel, customer_id));
    store.write(move |tx| conversations::create(tx, org, new, Timestamp::now())).await.unwrap().conversation.id
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    store.read(move |tx| tx.query_one(sql, params![])?.i64(0)).await.unwrap()
}

async fn close(store: &Store, org: OrgId, conv: ConversationId) {
    let actor = Actor { label: "test".into(), agent: None };
    let req = ActionRequest { action: Action::Close, agent_id: None, reason: None };
    store.write(move |tx| conversations::apply(tx, org, conv, &actor, req, Timestamp::now())).await.unwrap();
}

async fn messages(store: &Store, org: OrgId, conv: ConversationId) -> usize {
    store.read(move |tx| conversations::list_messages(tx, org, conv, 0, 250)).await.unwrap().len()
}

async fn migrations_apply_once(store: &Store) {
    assert_eq!(store.migrate().await.unwrap(), 0, "a second run applies nothing");
    store.ping().await.unwrap();
}

async fn tenants_cannot_see_each_other(store: &Store) {
    let a = fixture(store).await;
    let b = fixture(store).await;
    let conv = start(store, &a, "c1").await;
    let (borg, bchannel) = (b.org, a.channel);
    let err = store.read(move |tx| conversations::get(tx, borg, conv)).await.unwrap_err();
    assert_eq!(err.code, Code::ConversationNotFound);
    let err = store
        .write(move |tx| conversations::send_message(tx, borg, conv, text("hi"), Timestamp::now()))
        .await
        .unwrap_err();
    assert_eq!(err.code, Code::ConversationNotFound);
    assert_eq!(count(store, "SELECT COUNT(*) FROM events WHERE event_type = 'message.created'").await, 0);
    // Another tenant's channel cannot receive a conversation either.
    let err = store
        .write(move |tx| conversations::create(tx, borg, new_conversation(bchannel, "x"), Timestamp::now()))
        .await
        .unwrap_err();
    assert_eq!((err.code, err.field.as_deref()), (Code::ChannelNotFound, Some("channel_id")));
    let listed =
        store.read(move |tx| conversations::list(tx, borg, &ConversationFilter::default(), None, 50)).await.unwrap();
    assert!(listed.is_empty());
    assert_eq!(messages(store, a.org, conv).await, 0);
    let err = store.read(move |tx| conversations::list_messages(tx, borg, conv, 0, 10)).await.unwrap_err();
    assert_eq!(err.code, Code::ConversationNotFound);
}

async fn messages_take_consecutive_log_positions_under_concurrency(store: &Store) {
    let f = fixture(store).await;
    let conv = start(store, &f, "c1").await;
    let org = f.org;
    let sends = (0..40).map(|i| {
        store.write(move |tx| conversations::send_message(tx, org, conv, text(&format!("m{i}")), Timestamp::now()))
    });
    let mut seqs: Vec<i64> = futures::future::join_all(sends).await.into_iter().map(|m| m.unwrap().sequence).collect();
    seqs.sort_unstable();
    // Position 1 is the conversation's creation; the messages follow without gaps.
    assert_eq!(seqs, (2..=41).collect::<Vec<_>>());
    let listed = store.read(move |tx| conversations::list_messages(tx, org, conv, 0, 100)).await.unwrap();
    assert_eq!(listed.iter().map(|m| m.sequence).collect::<Vec<_>>(), (2..=41).collect::<Vec<_>>());
    let page = store.read(move |tx| conversations::list_messages(tx, org, conv, 39, 100)).await.unwrap();
    assert_eq!(page.len(), 2, "reading after a position continues there");
    let log = store.read(move |tx| events::timeline(tx, org, conv, 0, 100)).await.unwrap();
    assert_eq!(log.iter().map(|e| e.sequence.unwrap()).collect::<Vec<_>>(), (1..=41).collect::<Vec<_>>());
}

async fn a_failed_write_changes_nothing_and_spares_its_batch(store: &Store) {
    let f = fixture(store).await;
    let conv = start(store, &f, "c1").await;
    let org = f.org;
    let before = count(store, "SELECT COUNT(*) FROM contacts").await;
    let (failing, succeeding) = tokio::join!(
        store.write(move |tx| {
            contacts::create(tx, org, &customer("ghost"), Timestamp::now())?;
            Err::<(), _>(Error::new(Code::InvalidField, "refused after writing"))
        }),
        store.write(move |tx| conversations::send_message(tx, org, conv, text("kept"), Timestamp::now())),
    );
    assert_eq!(failing.unwrap_err().code, Code::InvalidField);
    assert_eq!(succeeding.unwrap().sequence, 2);
    assert_eq!(count(store, "SELECT COUNT(*) FROM contacts").await, before, "the failed write left nothing");
    assert_eq!(messages(store, org, conv).await, 1);
}

async fn idempotency_keys_replay_and_refuse_other_requests(store: &Store) {
    let f = fixture(store).await;
    let conv = start(store, &f, "c1").await;
    let org = f.org;
    let key = |fingerprint: &str| IdempotencyKey {
        principal: "api_key:x".into(),
        key: "k1".into(),
        fingerprint: fingerprint.into(),
    };
    let send = |k: IdempotencyKey, t: &'static str| {
        store.write_once(org, Some(k), Timestamp::now(), move |tx| {
            let m = conversations::send_message(tx, org, conv, text(t), Timestamp::now())?;
            Ok((201u16, serde_json::to_value(m).map_err(Error::internal)?))
        })
    };
    let first = send(key("a"), "once").await.unwrap();
    let again = send(key("a"), "once").await.unwrap();
    assert!(!first.replayed && again.replayed);
    let json = |o: &switchboard_store::Outcome<serde_json::Value>| {
        serde_json::from_str::<serde_json::Value>(&o.to_json().unwrap()).unwrap()
    };
    assert_eq!(json(&first), json(&again));
    assert_eq!(again.status, 201);
    let other = send(key("b"), "other").await.unwrap_err();
    assert_eq!(other.code, Code::IdempotencyKeyReused);
    assert_eq!(messages(store, org, conv).await, 1);
    // The same key from another caller is another key.
    let theirs = IdempotencyKey { principal: "api_key:y".into(), ..key("b") };
    assert!(!send(theirs, "theirs").await.unwrap().replayed);
}

async fn persistent_key_returns_the_live_conversation(store: &Store) {
    let f = fixture(store).await;
    let (org, channel) = (f.org, f.channel);
    let first = store
        .write(move |tx| conversations::create(tx, org, new_conversation(channel, "jdoe"), Timestamp::now()))
        .await
        .unwrap();
    let second = store
        .write(move |tx| conversations::create(tx, org, new_conversation(channel, "jdoe"), Timestamp::now()))
        .await
        .unwrap();
    assert!(first.is_new && !second.is_new);
    assert_eq!(first.conversation.id, second.conversation.id);
    assert_eq!(first.conversation.contact_id, second.conversation.contact_id);
    let id = first.conversation.id;
    close(store, org, id).await;
    let third = store
        .write(move |tx| conversations::create(tx, org, new_conversation(channel, "jdoe"), Timestamp::now()))
        .await
        .unwrap();
    assert!(third.is_new);
    assert_ne!(third.conversation.id, id);
    assert_eq!(third.conversation.contact_id, first.conversation.contact_id, "same customer, same contact");
}

fn vars(range: std::ops::Range<usize>) -> serde_json::Value {
    range.map(|i| (format!("v{i}"), serde_json::json!({ "value": i as f64 }))).collect::<serde_json::Map<_, _>>().into()
}

async fn context_variables_stop_at_one_hundred(store: &Store) {
    let f = fixture(store).await;
    let conv = start(store, &f, "c1").await;
    let org = f.org;
    let patch: ContextPatch = serde_json::from_value(vars(0..60)).unwrap();
    assert_eq!(
        store
            .write(move |tx| conversations::patch_context(tx, org, conv, &patch, Timestamp::now()))
            .await
            .unwrap()
            .len(),
        60
    );
    let too_many: ContextPatch = serde_json::from_value(vars(60..101)).unwrap();
    let err = store
        .write(move |tx| conversations::patch_context(tx, org, conv, &too_many, Timestamp::now()))
        .await
        .unwrap_err();
    assert_eq!(err.code, Code::TooManyContextVariables);
    let now = store.read(move |tx| conversations::context(tx, org, conv)).await.unwrap();
    assert_eq!(now.len(), 60, "the refused update changed nothing");
    // Removing some makes room.
    let mut swap = vars(60..100);
    swap["v0"] = serde_json::Value::Null;
    let swap: ContextPatch = serde_json::from_value(swap).unwrap();
    assert_eq!(
        store
            .write(move |tx| conversations::patch_context(tx, org, conv, &swap, Timestamp::now()))
            .await
            .unwrap()
            .len(),
        99
    );
}

async fn state_changes_follow_the_table_and_write_events(store: &Store) {
    let f = fixture(store).await;
    let conv = start(store, &f, "c1").await;
    let (org, agent) = (f.org, f.agent);
    let act = |action: Action, agent_id: Option<UserId>, by_agent: Option<UserId>| {
        let actor = Actor { label: "test".into(), agent: by_agent };
        store.write(move |tx| {
            conversations::apply(
                tx,
                org,
                conv,
                &actor,
                ActionRequest { action, agent_id, reason: Some("resolved".into()) },
                Timestamp::now(),
            )
        })
    };
    assert_eq!(act(Action::End, None, None).await.unwrap_err().code, Code::InvalidStateTransition);
    let active = act(Action::Accept, Some(agent), None).await.unwrap();
    assert_eq!((active.state, active.agent_id), (ConversationState::Active, Some(agent)));
    // Another agent may not act on it.
    let other = UserId::new();
    assert_eq!(act(Action::End, None, Some(other)).await.unwrap_err().code, Code::NotAssignedAgent);
    let waiting = act(Action::Park, None, Some(agent)).await.unwrap();
    assert_eq!(waiting.state, ConversationState::Waiting);
    // The customer's reply revives it into the queue.
    store
        .write(move |tx| conversations::send_message(tx, org, conv, text("still there?"), Timestamp::now()))
        .await
        .unwrap();
    let revived = store.read(move |tx| conversations::get(tx, org, conv)).await.unwrap();
    assert_eq!((revived.state, revived.agent_id), (ConversationState::Open, None));
    act(Action::Accept, Some(agent), None).await.unwrap();
    act(Action::End, None, Some(agent)).await.unwrap();
    let closed = act(Action::Close, None, Some(agent)).await.unwrap();
    assert_eq!(closed.state, ConversationState::Closed);
    assert_eq!(closed.closure_reason.as_deref(), Some("resolved"));
    assert!(closed.closed_at.is_some());
    let timeline = store.read(move |tx| events::timeline(tx, org, conv, 0, 100)).await.unwrap();
    let kinds: Vec<&str> = timeline.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "conversation.created",
            "conversation.state_changed",
            "conversation.state_changed",
            "conversation.state_changed",
            "message.created",
            "conversation.state_changed",
            "conversation.state_changed",
            "conversation.state_changed",
        ]
    );
    let tos: Vec<&str> = timeline.iter().filter_map(|e| e.data.get("to")?.as_str()).collect();
    assert_eq!(tos, ["active", "waiting", "open", "active", "wrap_up", "closed"]);
}

async fn contacts_match_by_customer_id_email_or_phone(store: &Store) {
    let f = fixture(store).await;
    let org = f.org;
    let by = |v: serde_json::Value| serde_json::from_value::<CustomerIn>(v).unwrap();
    let first =
        by(serde_json::json!({ "email": "John.Doe@Example.com", "phone": "+1 (425) 555-0100", "first_name": "John" }));
    let a = store.write(move |tx| contacts::match_or_create(tx, org, &first, Timestamp::now())).await.unwrap();
    let by_phone = by(serde_json::json!({ "phone": "+14255550100", "first_name": "Johnny", "customer_id": "jd-1" }));
    let b = store.write(move |tx| contacts::match_or_create(tx, org, &by_phone, Timestamp::now())).await.unwrap();
    assert_eq!(a.id, b.id);
    assert_eq!(b.first_name.as_deref(), Some("John"), "stored values win");
    assert_eq!(b.customer_id.as_deref(), Some("jd-1"), "a missing customer id is recorded");
    let by_id = by(serde_json::json!({ "customer_id": "jd-1", "email": "other@example.com" }));
    let c = store.write(move |tx| contacts::match_or_create(tx, org, &by_id, Timestamp::now())).await.unwrap();
    assert_eq!(c.id, a.id);
    let stranger = by(serde_json::json!({ "email": "stranger@example.com" }));
    let d = store.write(move |tx| contacts::match_or_create(tx, org, &stranger, Timestamp::now())).await.unwrap();
    assert_ne!(d.id, a.id);
    let dup = by(serde_json::json!({ "customer_id": "jd-1" }));
    assert_eq!(
        store.write(move |tx| contacts::create(tx, org, &dup, Timestamp::now())).await.unwrap_err().code,
        Code::AlreadyExists
    );
}

async fn closed_conversations_refuse_messages(store: &Store) {
    let f = fixture(store).await;
    let conv = start(store, &f, "c1").await;
    let org = f.org;
    close(store, org, conv).await;
    let before = store.read(move |tx| events::timeline(tx, org, conv, 0, 100)).await.unwrap().len();
    let err = store
        .write(move |tx| conversations::send_message(tx, org, conv, text("late"), Timestamp::now()))
        .await
        .unwrap_err();
    assert_eq!(err.code, Code::ConversationClosed);
    assert_eq!(messages(store, org, conv).await, 0);
    let after = store.read(move |tx| events::timeline(tx, org, conv, 0, 100)).await.unwrap().len();
    assert_eq!(after, before, "the refused message took no place in the log");
}

async fn webhook_deliveries_are_recorded_once_and_resume_in_event_order(store: &Store) {
    use switchboard_store::webhooks::{self, Attempt, DeliveryState, Endpoint, NewDelivery, NewSubscription};
    let f = fixture(store).await;
    let org = f.org;
    let conv = start(store, &f, "c1").await;
    let subs = store
        .write(move |tx| {
            (0..2)
                .map(|i| {
                    webhooks::create_subscription(
                        tx,
                        org,
                        NewSubscription {
                            url: format!("https://hooks.example/{i}"),
                            description: None,
                            event_types: vec![],
                            sealed_secret: "sealed".into(),
                        },
                        Timestamp::now(),
                    )
                    .map(|s| s.id)
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .unwrap();
    let event = store.read(move |tx| events::timeline(tx, org, conv, 0, 1)).await.unwrap()[0].id;
    // One event to two endpoints: the second time the same deliveries are offered, none is new.
    let make = move |subs: &[SubscriptionId]| {
        subs.iter()
            .map(|s| NewDelivery {
                id: DeliveryId::new(),
                org_id: org,
                endpoint: Endpoint::Subscription(*s),
                event_id: event,
                event_type: "conversation.created".into(),
                conversation_id: Some(conv),
            })
            .collect::<Vec<_>>()
    };
    let first = make(&subs);
    let fresh = store.write(move |tx| webhooks::enqueue(tx, "test", event, first, Timestamp::now())).await.unwrap();
    assert_eq!(fresh.len(), 2);
    let again = make(&subs);
    let fresh = store.write(move |tx| webhooks::enqueue(tx, "test", event, again, Timestamp::now())).await.unwrap();
    assert!(fresh.is_empty(), "a delivery is recorded once per event and endpoint");
    assert_eq!(store.read(|tx| webhooks::cursor(tx, "test")).await.unwrap(), Some(event));

    // Pages that split one event's deliveries still return each once.
    let page1 = store.read(|tx| webhooks::pending(tx, None, 1)).await.unwrap();
    let after = Some((page1[0].delivery.event_id, page1[0].delivery.id));
    let page2 = store.read(move |tx| webhooks::pending(tx, after, 10)).await.unwrap();
    assert_eq!((page1.len(), page2.len()), (1, 1));
    assert_ne!(page1[0].delivery.id, page2[0].delivery.id);

    // A failed attempt stays pending with its next time; a delivered one leaves the pending list; the log keeps both.
    let (a, b) = (page1[0].delivery.id, page2[0].delivery.id);
    let now = switchboard_domain::Timestamp::now();
    let attempt = |id, state, number| Attempt {
        delivery_id: id,
        number,
        at: now,
        status: Some(if state == DeliveryState::Delivered { 200 } else { 503 }),
        duration_ms: 3,
        error: None,
        response: Some("ok".into()),
        state,
        next_attempt_at: (state == DeliveryState::Pending).then(|| now.plus_millis(5_000)),
        channel_message: false,
    };
    let attempts = vec![
        attempt(a, DeliveryState::Pending, 1),
        attempt(a, DeliveryState::Delivered, 2),
        attempt(b, DeliveryState::Pending, 1),
    ];
    store.write(move |tx| webhooks::record_attempts(tx, &attempts, Timestamp::now())).await.unwrap();
    let pending = store.read(|tx| webhooks::pending(tx, None, 10)).await.unwrap();
    assert_eq!(pending.iter().map(|p| p.delivery.id).collect::<Vec<_>>(), [b]);
    assert!(pending[0].delivery.next_attempt_at.is_some());
    let log = store.read(move |tx| webhooks::attempts(tx, org, a)).await.unwrap();
    assert_eq!(log.iter().map(|l| l.status).collect::<Vec<_>>(), [Some(503), Some(200)]);

    // Replay makes a delivered one due again; another organization cannot see or replay it.
    let replayed = store.write(move |tx| webhooks::replay(tx, org, a, Timestamp::now())).await.unwrap();
    assert_eq!(replayed.state, DeliveryState::Pending);
    let other = store.write(|tx| access::create_org(tx, "other", Timestamp::now())).await.unwrap().id;
    let err = store.write(move |tx| webhooks::replay(tx, other, a, Timestamp::now())).await.unwrap_err();
    assert_eq!(err.code, Code::DeliveryNotFound);
}

async fn concurrent_setup_changes_apply_one_after_the_other(store: &Store) {
    let (f, other) = (fixture(store).await, fixture(store).await);
    let (org, channel) = (f.org, f.channel);
    let ws = store.read(move |tx| setup::get_channel(tx, org, channel)).await.unwrap().workstream_id;
    // Each change builds on the row it reads: none may read a row another is about to change.
    let changes = (0..20).map(|_| {
        store.write(move |tx| {
            setup::update_workstream(tx, org, ws, Timestamp::now(), |w| {
                let mut settings = w.settings.clone();
                settings.wait_notifications.min_interval_seconds += 1;
                Ok(setup::WorkstreamChange {
                    name: w.name.clone(),
                    distribution: w.distribution,
                    fallback_queue_id: w.fallback_queue_id,
                    settings,
                })
            })?;
            setup::update_channel(tx, org, channel, Timestamp::now(), |c| {
                Ok(setup::ChannelChange { name: format!("{}+", c.name), ..setup::ChannelChange::of(c) })
            })
        })
    });
    for changed in futures::future::join_all(changes).await {
        changed.unwrap();
    }
    let w = store.read(move |tx| setup::get_workstream(tx, org, ws)).await.unwrap();
    assert_eq!(w.settings.wait_notifications.min_interval_seconds, 60 + 20);
    let c = store.read(move |tx| setup::get_channel(tx, org, channel)).await.unwrap();
    assert_eq!(c.name, format!("Web{}", "+".repeat(20)));
    assert_eq!(count(store, "SELECT COUNT(*) FROM events WHERE event_type = 'workstream.updated'").await, 20);
    assert_eq!(count(store, "SELECT COUNT(*) FROM events WHERE event_type = 'channel.updated'").await, 20);

    // Another organization's workstream is not found, and a refused change writes nothing.
    let (theirs, their_channel) = (other.org, other.channel);
    let err = store
        .write(move |tx| {
            setup::update_workstream(tx, theirs, ws, Timestamp::now(), |_| unreachable!("not this organization's"))
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, Code::WorkstreamNotFound);
    let err = store
        .write(move |tx| {
            setup::update_channel(tx, theirs, their_channel, Timestamp::now(), |c| {
                Ok(setup::ChannelChange { name: "Moved".into(), workstream_id: ws, ..setup::ChannelChange::of(c) })
            })
        })
        .await
        .unwrap_err();
    assert_eq!((err.code, err.field.as_deref()), (Code::WorkstreamNotFound, Some("workstream_id")));
    let c = store.read(move |tx| setup::get_channel(tx, theirs, their_channel)).await.unwrap();
    assert_eq!(c.name, "Web");
    assert_eq!(count(store, "SELECT COUNT(*) FROM events WHERE event_type = 'channel.updated'").await, 20);
}

async fn setup_changes_that_change_nothing_write_nothing(store: &Store) {
    let f = fixture(store).await;
    let (org, channel) = (f.org, f.channel);
    let c = store.read(move |tx| setup::get_channel(tx, org, channel)).await.unwrap();
    let ws = c.workstream_id;
    let w = store.read(move |tx| setup::get_workstream(tx, org, ws)).await.unwrap();
    assert_eq!((w.updated_at, c.updated_at), (w.created_at, c.created_at), "created is the last change");
    let events = count(store, "SELECT COUNT(*) FROM events").await;

    let (same_w, same_c) = store
        .write(move |tx| {
            let w = setup::update_workstream(tx, org, ws, Timestamp::now(), |w| {
                Ok(setup::WorkstreamChange {
                    name: w.name.clone(),
                    distribution: w.distribution,
                    fallback_queue_id: w.fallback_queue_id,
                    settings: w.settings.clone(),
                })
            })?;
            let c = setup::update_channel(tx, org, channel, Timestamp::now(), |c| Ok(setup::ChannelChange::of(c)))?;
            Ok((w, c))
        })
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&same_w).unwrap(), serde_json::to_value(&w).unwrap());
    assert_eq!(serde_json::to_value(&same_c).unwrap(), serde_json::to_value(&c).unwrap());
    assert_eq!(count(store, "SELECT COUNT(*) FROM events").await, events, "nothing changed, nothing recorded");

    // A change moves `updated_at` and keeps `created_at`; the store reads back what it answered.
    while switchboard_domain::Timestamp::now() <= w.created_at {
        tokio::task::yield_now().await;
    }
    let renamed = store
        .write(move |tx| {
            setup::update_workstream(tx, org, ws, Timestamp::now(), |w| {
                Ok(setup::WorkstreamChange {
                    name: "Renamed".into(),
                    distribution: w.distribution,
                    fallback_queue_id: w.fallback_queue_id,
                    settings: w.settings.clone(),
                })
            })
        })
        .await
        .unwrap();
    assert!(renamed.updated_at > w.updated_at);
    assert_eq!(renamed.created_at, w.created_at);
    let read = store.read(move |tx| setup::get_workstream(tx, org, ws)).await.unwrap();
    assert_eq!(serde_json::to_value(&read).unwrap(), serde_json::to_value(&renamed).unwrap());
    assert_eq!(count(store, "SELECT COUNT(*) FROM events").await, events + 1);
}

/// A queue's routing with one work-item limit rule of `limit`.
fn limited(limit: i64) -> QueueRouting {
    let mut routing = QueueRouting::default();
    routing.overflow.rules = vec![OverflowRule {
        condition: OverflowCondition::WorkItemLimitExceeded { limit },
        action: OverflowAction::AssignAnyway,
    }];
    routing
}

fn limit_of(routing: &QueueRouting) -> i64 {
    match routing.overflow.rules.first().map(|r| &r.condition) {
        Some(OverflowCondition::WorkItemLimitExceeded { limit }) => *limit,
        other => panic!("not a work-item limit: {other:?}"),
    }
}

async fn concurrent_queue_routing_changes_apply_one_after_the_other(store: &Store) {
    let (f, other) = (fixture(store).await, fixture(store).await);
    let org = f.org;
    let queue = store.read(move |tx| Ok(routing::list_queues(tx, org)?[0].id)).await.unwrap();
    let now = switchboard_domain::Timestamp::now();
    let (set, changed) =
        store.write(move |tx| routing::update_queue_routing(tx, org, queue, now, |_, _| Ok(limited(1)))).await.unwrap();
    assert!(changed);
    assert_eq!(limit_of(&set.routing), 1);
    // Each change builds on the routing it reads: none may read one another is about to change.
    let changes = (0..20).map(|_| {
        store.write(move |tx| {
            routing::update_queue_routing(tx, org, queue, now, |_, current| Ok(limited(limit_of(current) + 1)))
        })
    });
    for changed in futures::future::join_all(changes).await {
        assert!(changed.unwrap().1);
    }
    let saved = store.read(move |tx| routing::get_queue(tx, org, queue)).await.unwrap();
    assert_eq!(limit_of(&saved.routing), 21);
    let recorded = "SELECT COUNT(*) FROM events WHERE event_type = 'queue.routing_changed'";
    assert_eq!(count(store, recorded).await, 21);

    // The same routing again writes and records nothing; a refused change writes nothing either; another
    // organization's queue is not found.
    let (same, changed) = store
        .write(move |tx| routing::update_queue_routing(tx, org, queue, now, |_, current| Ok(current.clone())))
        .await
        .unwrap();
    assert!(!changed);
    assert_eq!(limit_of(&same.routing), 21);
    let err = store
        .write(move |tx| {
            routing::update_queue_routing(tx, org, queue, now, |tx, _| {
                tx.execute("UPDATE queues SET name = 'Changed' WHERE id = $1", params![queue])?;
                Err(Error::new(Code::InvalidOverflow, "refused"))
            })
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, Code::InvalidOverflow);
    assert_eq!(store.read(move |tx| setup::get_queue(tx, org, queue)).await.unwrap().name, "General");
    let theirs = other.org;
    let err = store
        .write(move |tx| routing::update_queue_routing(tx, theirs, queue, now, |_, _| unreachable!("not theirs")))
        .await
        .unwrap_err();
    assert_eq!(err.code, Code::QueueNotFound);
    assert_eq!(count(store, recorded).await, 21);
}

async fn a_failed_write_leaves_no_gap_in_the_log(store: &Store) {
    let f = fixture(store).await;
    let conv = start(store, &f, "c1").await;
    let org = f.org;
    let first =
        store.write(move |tx| conversations::send_message(tx, org, conv, text("one"), Timestamp::now())).await.unwrap();
    // A write that took the next log position and then failed: the position was never written, so it is the next
    // message's (the embedded writer remembers each log's end, and must forget what a rollback undid).
    let failed = store
        .write(move |tx| {
            conversations::send_message(tx, org, conv, text("undone"), Timestamp::now())?;
            Err::<(), _>(Error::new(Code::InvalidField, "refused after writing"))
        })
        .await;
    assert_eq!(failed.unwrap_err().code, Code::InvalidField);
    let next =
        store.write(move |tx| conversations::send_message(tx, org, conv, text("two"), Timestamp::now())).await.unwrap();
    assert_eq!((first.sequence, next.sequence), (2, 3));
    let log = store.read(move |tx| events::timeline(tx, org, conv, 0, 100)).await.unwrap();
    assert_eq!(log.iter().map(|e| e.sequence.unwrap()).collect::<Vec<_>>(), vec![1, 2, 3]);
}

/// A routing entry that carries `n` (as a queue position), for the tests of the log's order.
fn numbered(n: u64) -> TypedEvent {
    TypedEvent::RoutingPositionChanged(PositionChanged { queue_id: QueueId::new(), position: n })
}

async fn recorded_entries_and_messages_share_one_gapless_log_under_concurrency(store: &Store) {
    let f = fixture(store).await;
    let conv = start(store, &f, "c1").await;
    let org = f.org;
    let now = switchboard_domain::Timestamp::now();
    // Entries recorded without reading their position back (pipelined on PostgreSQL) race messages that do.
    let records = (0..20).map(|_| {
        store.write(move |tx| {
            for j in 0..3 {
                events::record_event(tx, org, Some(conv), &numbered(j), now)?;
            }
            Ok(())
        })
    });
    let sends = (0..20).map(|i| {
        store
            .write(move |tx| conversations::send_message(tx, org, conv, text(&format!("m{i}")), Timestamp::now()))
            .map(|m| m.map(drop))
    });
    let (recorded, sent) = tokio::join!(futures::future::join_all(records), futures::future::join_all(sends));
    assert!(recorded.into_iter().chain(sent).all(|r| r.is_ok()));
    let log = store.read(move |tx| events::timeline(tx, org, conv, 0, 200)).await.unwrap();
    assert_eq!(log.iter().map(|e| e.sequence.unwrap()).collect::<Vec<_>>(), (1..=81).collect::<Vec<_>>());
    assert!(log.windows(2).all(|w| w[0].created_at < w[1].created_at), "times rise with positions");
    let mine: Vec<_> = log
        .iter()
        .filter(|e| e.kind() == Some(EventType::RoutingPositionChanged))
        .map(|e| e.data["position"].clone())
        .collect();
    assert_eq!(mine.len(), 60);
    assert!(mine.chunks(3).all(|c| c == [0, 1, 2]), "one write's entries are consecutive and in order");
}

async fn a_pipelined_statement_that_fails_fails_its_write(store: &Store) {
    let f = fixture(store).await;
    let conv = start(store, &f, "c1").await;
    let org = f.org;
    let now = switchboard_domain::Timestamp::now();
    let failed = store
        .write(move |tx| {
            events::record_event(tx, org, Some(conv), &numbered(0), now)?;
            // Position 1 is taken: the log's unique position refuses this, though nothing waits for its answer.
            tx.execute_later(
                "INSERT INTO events (org_id, event_type, conversation_id, seq, payload, created_at)
                 VALUES ($1, 'test.duplicate', $2, 1, '{}', 0)",
                params![org, conv],
            )?;
            events::record_event(tx, org, Some(conv), &numbered(1), now)
        })
        .await;
    assert_eq!(failed.unwrap_err().code, Code::AlreadyExists);
    let log = store.read(move |tx| events::timeline(tx, org, conv, 0, 100)).await.unwrap();
    assert_eq!(log.len(), 1, "nothing of the failed write is kept: {log:?}");
    let next = store
        .write(move |tx| conversations::send_message(tx, org, conv, text("after"), Timestamp::now()))
        .await
        .unwrap();
    assert_eq!(next.sequence, 2);
}

async fn submitted_writes_commit_in_order_and_one_that_fails_spares_the_rest(store: &Store) {
    let f = fixture(store).await;
    let conv = start(store, &f, "c1").await;
    let org = f.org;
    let now = switchboard_domain::Timestamp::now();
    let mut commits = Vec::new();
    for i in 0..30 {
        let committing = store
            .submit(move |tx| {
                events::record_event(tx, org, Some(conv), &numbered(i), now)?;
                match i {
                    10 => Err(Error::new(Code::InvalidField, "refused after writing")),
                    // Fails only once its pipelined answer is read.
                    20 => tx.execute_later(
                        "INSERT INTO events (org_id, event_type, conversation_id, seq, payload, created_at)
                         VALUES ($1, 'test.duplicate', $2, 1, '{}', 0)",
                        params![org, conv],
                    ),
                    _ => Ok(()),
                }
            })
            .await
            .unwrap();
        commits.push(committing);
    }
    let results = futures::future::join_all(commits).await;
    for (i, r) in results.iter().enumerate() {
        match i {
            10 => assert_eq!(r.as_ref().unwrap_err().code, Code::InvalidField),
            20 => assert_eq!(r.as_ref().unwrap_err().code, Code::AlreadyExists),
            _ => assert!(r.is_ok(), "write {i}: {r:?}"),
        }
    }
    let log = store.read(move |tx| events::timeline(tx, org, conv, 0, 100)).await.unwrap();
    let written: Vec<u64> = log.iter().skip(1).map(|e| e.data["position"].as_u64().unwrap()).collect();
    assert_eq!(written, (0..30_u64).filter(|i| *i != 10 && *i != 20).collect::<Vec<_>>(), "in the order submitted");
    assert_eq!(log.iter().map(|e| e.sequence.unwrap()).collect::<Vec<_>>(), (1..=29).collect::<Vec<_>>());
}

async fn scattered_events_are_read_by_id_in_one_statement(store: &Store) {
    let f = fixture(store).await;
    let conv = start(store, &f, "c1").await;
    let org = f.org;
    for t in ["one", "two", "three"] {
        store.write(move |tx| conversations::send_message(tx, org, conv, text(t), Timestamp::now())).await.unwrap();
    }
    let log = store.read(move |tx| events::timeline(tx, org, conv, 0, 100)).await.unwrap();
    let ids: Vec<i64> = log.iter().map(|e| e.id).collect();
    let last = *ids.last().unwrap();
    // Asked out of order, with ids that are not in the log (a gap still open, one past the end): the ones that
    // exist come back once each, oldest first.
    let asked = vec![last + 7, ids[3], ids[1], -1, ids[3], ids[0]];
    let (heads, found) =
        store.read(move |tx| Ok((events::heads_of(tx, &asked)?, events::with_ids(tx, &asked)?))).await.unwrap();
    assert_eq!(heads.iter().map(|h| h.id).collect::<Vec<_>>(), vec![ids[0], ids[1], ids[3]]);
    assert!(heads.iter().all(|h| h.org_id == org));
    assert_eq!(heads[0].event_type, log[0].event_type);
    assert_eq!(found.iter().map(|e| e.id).collect::<Vec<_>>(), vec![ids[0], ids[1], ids[3]]);
    assert_eq!(found[2].data, log[3].data);
    assert_eq!(found[2].sequence, log[3].sequence);
    let none = store.read(|tx| Ok((events::heads_of(tx, &[])?, events::with_ids(tx, &[])?))).await.unwrap();
    assert!(none.0.is_empty() && none.1.is_empty());
}

async fn a_read_sent_with_a_failing_pipelined_statement_reports_that_failure(store: &Store) {
    let f = fixture(store).await;
    let conv = start(store, &f, "c1").await;
    let org = f.org;
    let failed = store
        .write(move |tx| {
            tx.execute_later(
                "INSERT INTO events (org_id, event_type, conversation_id, seq, payload, created_at)
                 VALUES ($1, 'test.duplicate', $2, 1, '{}', 0)",
                params![org, conv],
            )?;
            // On PostgreSQL this read travels with the held insert; the insert's failure is the one to report,
            // not the aborted transaction the read then meets.
            tx.query_one("SELECT COUNT(*) FROM events WHERE conversation_id = $1", params![conv])
        })
        .await;
    let err = failed.unwrap_err();
    assert_eq!(err.code, Code::AlreadyExists, "{err:?}");
    let counted = store
        .write(move |tx| {
            tx.execute_later(
                "INSERT INTO events (org_id, event_type, conversation_id, seq, payload, created_at)
                 VALUES ($1, 'test.recorded', $2, 2, '{}', 0)",
                params![org, conv],
            )?;
            tx.query_one("SELECT COUNT(*) FROM events WHERE conversation_id = $1", params![conv])?.i64(0)
        })
        .await
        .unwrap();
    assert_eq!(counted, 2, "the read sees the insert held before it");
}

async fn a_message_on_condition_is_sent_only_in_that_state(store: &Store) {
    let f = fixture(store).await;
    let conv = start(store, &f, "c1").await;
    let org = f.org;
    let system = || NewMessage { sender_kind: SenderKind::System, ..text("You are next in the queue.") };
    let sent = store
        .write(move |tx| {
            conversations::send_message_in_state(tx, org, conv, ConversationState::Open, system(), Timestamp::now())
        })
        .await
        .unwrap();
    assert_eq!(sent.map(|m| m.sequence), Some(2));
    let not_waiting = store
        .write(move |tx| {
            conversations::send_message_in_state(tx, org, conv, ConversationState::Waiting, system(), Timestamp::now())
        })
        .await
        .unwrap();
    assert!(not_waiting.is_none());
    close(store, org, conv).await;
    let closed = store
        .write(move |tx| {
            conversations::send_message_in_state(tx, org, conv, ConversationState::Open, system(), Timestamp::now())
        })
        .await
        .unwrap();
    assert!(closed.is_none(), "a closed conversation is passed over, without an error");
    assert_eq!(messages(store, org, conv).await, 1);
}

async fn lookups_for_the_engines_stay_in_the_organization_named(store: &Store) {
    let a = fixture(store).await;
    let b = fixture(store).await;
    let conv = start(store, &a, "c1").await;
    let (aorg, borg, channel) = (a.org, b.org, a.channel);
    let found = store.read(move |tx| conversations::channels_of(tx, &[(borg, conv), (aorg, conv)])).await.unwrap();
    assert_eq!(found, vec![(conv, channel)], "named with another organization, a conversation is not found");

    let theirs = store
        .write(move |tx| setup::create_queue(tx, borg, "Theirs", QueueType::Messaging, 1, Timestamp::now()))
        .await
        .unwrap()
        .id;
    let err = store.write(move |tx| conversations::move_to_queue(tx, borg, conv, theirs)).await.unwrap_err();
    assert_eq!(err.code, Code::ConversationNotFound);
    let queue = store.read(move |tx| conversations::get(tx, aorg, conv)).await.unwrap().queue_id;
    assert_ne!(queue, Some(theirs), "another organization cannot move it");

    let id = AttachmentId::new();
    let kept = NewAttachment {
        id,
        org_id: aorg,
        conversation_id: conv,
        content_type: "text/plain".into(),
        name: Some("a.txt".into()),
        size: 1,
        sha256: "00".into(),
        path: "a/a.txt".into(),
    };
    store.write(move |tx| attachments::insert(tx, &kept, Timestamp::now())).await.unwrap();
    assert!(store.read(move |tx| attachments::file(tx, borg, id)).await.unwrap().is_none());
    let file = store.read(move |tx| attachments::file(tx, aorg, id)).await.unwrap().unwrap();
    assert_eq!((file.org_id, file.path.as_str()), (aorg, "a/a.txt"));
    let linked = store.read(move |tx| attachments::file_for_signed_link(tx, id)).await.unwrap().unwrap();
    assert_eq!(linked.org_id, aorg);
}

async fn writes_carry_the_time_their_caller_gives(store: &Store) {
    let f = fixture(store).await;
    let t0 = Timestamp::parse_rfc3339("2031-02-03T04:05:06.789Z").unwrap();
    let t1 = t0.plus_millis(60_000);
    let (org, new) = (f.org, new_conversation(f.channel, "c1"));
    let created = store.write(move |tx| conversations::create(tx, org, new, t0)).await.unwrap().conversation;
    assert_eq!((created.created_at, created.updated_at, created.state_changed_at), (t0, t0, t0));
    let id = created.id;
    let message = store.write(move |tx| conversations::send_message(tx, org, id, text("hi"), t1)).await.unwrap();
    assert_eq!(message.created_at, t1);
    let actor = Actor { label: "test".into(), agent: None };
    let req = ActionRequest { action: Action::Close, agent_id: None, reason: None };
    let t2 = t1.plus_millis(1_000);
    let closed = store.write(move |tx| conversations::apply(tx, org, id, &actor, req, t2)).await.unwrap();
    assert_eq!((closed.state_changed_at, closed.closed_at), (t2, Some(t2)));
    let contact = store.write(move |tx| contacts::create(tx, org, &customer("c2"), t0)).await.unwrap();
    assert_eq!((contact.created_at, contact.updated_at), (t0, t0));
}
