//! Several nodes on one database: one leads (routes and delivers webhooks), the others forward what needs the
//! engines to it, and another node takes over when the leader's lease ends. Two nodes share only PostgreSQL; on
//! SQLite the test checks what a single node does instead (it leads without a lease).

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_domain::ids::OrgId;
use switchboard_server::{
    Config,
    leadership::LEASE,
    outbox::{Filter, Follower, Start},
};
use switchboard_store::{Store, leases, params};

use crate::{
    Options, TestApp, assert_problem,
    receiver::Receiver,
    routing::{agent, create, routed},
};

/// A short lease, so that a takeover takes seconds, and quick webhook retries.
fn short_lease(config: &mut Config) {
    config.cluster.lease_seconds = 2.0;
    config.cluster.renew_seconds = 0.5;
    config.webhooks.retry_schedule_seconds = vec![1, 1, 1, 1, 1];
}

fn on_postgres() -> bool {
    std::env::var("SWITCHBOARD_TEST_BACKEND").as_deref() == Ok("postgres")
}

fn leads(app: &TestApp) -> bool {
    app.state.leadership.is_leader()
}

/// Polls `check` until it holds, in real time (leases run on it); panics after 30 s.
async fn until(what: &str, check: impl Fn() -> bool) {
    crate::until(what, || check().then_some(())).await
}

/// Notes whether the two nodes ever lead at the same moment, for as long as both run.
fn watch_for_two_leaders(a: &TestApp, b: &TestApp) -> Arc<AtomicBool> {
    let (mut a, mut b) = (a.state.leadership.watch(), b.state.leadership.watch());
    let both = Arc::new(AtomicBool::new(false));
    let seen = both.clone();
    tokio::spawn(async move {
        loop {
            if *a.borrow_and_update() && *b.borrow_and_update() {
                seen.store(true, Ordering::SeqCst);
            }
            let changed = tokio::select! {
                c = a.changed() => c,
                c = b.changed() => c,
            };
            if changed.is_err() {
                return;
            }
        }
    });
    both
}

/// Each agent's pending offers, read through `app`: (conversation, agent, offer).
async fn pending(app: &TestApp, agents: &[(String, String)]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (key, id) in agents {
        let (status, offers) = app.get(&format!("/v1/agents/{id}/offers"), key).await;
        assert_eq!(status, StatusCode::OK, "{offers}");
        for offer in offers["data"].as_array().unwrap() {
            let s = |f: &str| offer[f].as_str().unwrap().to_string();
            out.push((s("conversation_id"), id.clone(), s("id")));
        }
    }
    out
}

/// Waits until each of `conversations` has a pending offer (read through `app`) and returns them; no conversation
/// may ever be offered to two agents at once.
async fn offered(app: &TestApp, agents: &[(String, String)], conversations: &[&str]) -> Vec<(String, String, String)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let offers = pending(app, agents).await;
        let mut per_conversation: HashMap<&str, usize> = HashMap::new();
        for (conversation, _, _) in &offers {
            *per_conversation.entry(conversation.as_str()).or_default() += 1;
        }
        assert!(per_conversation.values().all(|n| *n == 1), "a conversation offered twice at once: {offers:?}");
        if conversations.iter().all(|c| per_conversation.contains_key(c)) {
            return offers.into_iter().filter(|(c, _, _)| conversations.contains(&c.as_str())).collect();
        }
        assert!(Instant::now() < deadline, "not all of {conversations:?} were offered; pending: {offers:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Conversations the store has more than one accepted offer or assignment for: there must be none.
async fn assigned_twice(store: &Store) -> Vec<String> {
    store
        .read(|tx| {
            let rows = tx.query(
                "SELECT conversation_id FROM offers WHERE state = 'accepted' GROUP BY conversation_id \
                 HAVING COUNT(DISTINCT agent_id) > 1 \
                 UNION SELECT conversation_id FROM events WHERE event_type = 'routing.assigned' \
                 GROUP BY conversation_id HAVING COUNT(*) > 1",
                params![],
            )?;
            rows.iter().map(|r| r.string(0)).collect()
        })
        .await
        .unwrap()
}

/// Waits until every delivery recorded so far has been made and its outcome recorded.
async fn deliveries_settled(app: &TestApp) {
    app.eventually("/v1/webhook-deliveries?state=pending", &app.admin_key, |p| {
        p["data"].as_array().is_some_and(Vec::is_empty)
    })
    .await;
}

/// Webhooks of type `kind` the receiver accepted.
fn count_of(received: &[crate::receiver::Received], kind: &str) -> usize {
    received.iter().filter(|r| r.body["type"] == kind && (200..300).contains(&r.status)).count()
}

#[tokio::test]
async fn nodes_on_one_database_route_and_deliver_through_one_leader() {
    if !on_postgres() {
        return a_single_node_leads_without_a_lease().await;
    }
    let first = TestApp::spawn_with(Options { configure: Some(short_lease), ..Options::default() }).await;
    until("the first node leads", || leads(&first)).await;
    // A webhook that is still due when the second node starts: only the leader may send it (once).
    let receiver = Receiver::start().await;
    receiver.fail_with(Some((503, None)));
    let subscription = json!({ "url": format!("{}/hooks", receiver.base),
                               "event_types": ["conversation.created", "routing.assigned"] });
    first.post_ok("/v1/webhook-subscriptions", &first.admin_key, subscription, StatusCode::CREATED).await;
    let early_channel = first.channel().await;
    first.conversation(&first.admin_key, &early_channel, "c-early").await;
    receiver.until("a failed first attempt", |r| !r.is_empty()).await;
    let second = first.peer().await;
    receiver.fail_with(None);
    let two_leaders = watch_for_two_leaders(&first, &second);
    until("a node leads", || leads(&first) || leads(&second)).await;
    let nodes = if leads(&first) { [first, second] } else { [second, first] };
    let [leader, follower] = &nodes;
    assert!(!leads(follower), "exactly one node leads");
    until("the follower knows the leader", || follower.state.leadership.leader_url() == Some(leader.base.clone()))
        .await;

    // Everything else is set up through the node that does not lead: setup itself is served there, the channel, a
    // change of the webhook subscription and every routing call are forwarded to the leader.
    let (_, subscriptions) = follower.get("/v1/webhook-subscriptions", &follower.admin_key).await;
    let subscription = subscriptions["data"][0]["id"].as_str().unwrap();
    let patch = json!({ "event_types": ["conversation.created", "routing.assigned", "routing.offer_issued"] });
    let path = format!("/v1/webhook-subscriptions/{subscription}");
    let (status, body) = follower.call(reqwest::Method::PATCH, &path, Some(&follower.admin_key), Some(patch)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let setup = routed(follower, json!({})).await;
    let mut agents = Vec::new();
    for _ in 0..3 {
        agents.push(agent(follower, &[&setup.queue], "available").await);
    }

    // The leader's answers come back as they are, refusals included.
    let (agent_key, agent_id) = &agents[0];
    let refused = follower
        .http
        .put(format!("{}/v1/agents/{agent_id}/presence", follower.base))
        .bearer_auth(agent_key)
        .json(&json!({ "presence": "napping" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.headers()["content-type"], "application/problem+json");
    assert!(refused.headers().contains_key("x-request-id"));
    let status = refused.status();
    assert_problem(status, &refused.json().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_presence");

    // Conversations arrive through both nodes; each is offered to one agent, and accepted through either node.
    let mut conversations = Vec::new();
    for (i, node) in [leader, follower, leader, follower].into_iter().enumerate() {
        conversations.push(create(node, &setup.channel, &format!("c{i}"), json!({})).await);
    }
    let ids: Vec<&str> = conversations.iter().map(String::as_str).collect();
    let offers = offered(follower, &agents, &ids).await;
    for (i, (conversation, agent_id, offer)) in offers.iter().enumerate() {
        let node = if i % 2 == 0 { follower } else { leader };
        let key = &agents.iter().find(|(_, id)| id == agent_id).unwrap().0;
        let accepted = node.post_ok(&format!("/v1/offers/{offer}/accept"), key, json!({}), StatusCode::OK).await;
        assert_eq!(
            (accepted["id"].as_str(), accepted["agent_id"].as_str()),
            (Some(&**conversation), Some(&**agent_id))
        );
    }
    assert_eq!(assigned_twice(&leader.state.store).await, Vec::<String>::new());
    // Webhooks come from the leader alone: each event once.
    receiver
        .until("every conversation's creation and assignment", |r| {
            count_of(r, "conversation.created") == 5
                && count_of(r, "routing.assigned") == 4
                && count_of(r, "routing.offer_issued") >= 4
        })
        .await;
    deliveries_settled(leader).await;

    // The lease passes to a node that never renews and does not answer (as if the leader had been cut off and
    // another had taken over and died): both nodes stop leading, engine calls are answered 503 with Retry-After,
    // and once that lease expires a node leads again and routes what arrived meanwhile.
    let leader_id = leader.state.leadership.node_id().to_string();
    leader
        .state
        .store
        .write(move |tx| {
            leases::release(tx, LEASE, &leader_id)?;
            leases::acquire(tx, LEASE, "ghost", "http://127.0.0.1:1", 2_000)
        })
        .await
        .unwrap();
    until("the leader steps down", || !leads(leader)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let refused = loop {
        let response =
            follower.http.get(format!("{}/v1/agents/{agent_id}/offers", follower.base)).bearer_auth(agent_key);
        let response = response.send().await.unwrap();
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            break response;
        }
        assert!(Instant::now() < deadline, "engine calls were never refused without a leader");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(refused.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let body: Value = refused.json().await.unwrap();
    assert_problem(StatusCode::SERVICE_UNAVAILABLE, &body, StatusCode::SERVICE_UNAVAILABLE, "no_routing_leader");
    let waiting = create(follower, &setup.channel, "c-meanwhile", json!({})).await;
    until("a node leads again", || leads(leader) || leads(follower)).await;
    offered(follower, &agents, &[&waiting]).await;
    receiver.until("the new conversation's creation", |r| count_of(r, "conversation.created") == 6).await;

    // The leader stops; the other node takes over at once (the lease is released) and routes a new conversation.
    let current = usize::from(!leads(&nodes[0]));
    deliveries_settled(&nodes[current]).await;
    let [a, b] = nodes;
    let (stopped, survivor) = if current == 0 { (a, b) } else { (b, a) };
    drop(stopped);
    until("the other node takes over", || leads(&survivor)).await;
    let last = create(&survivor, &setup.channel, "c-last", json!({})).await;
    offered(&survivor, &agents, &[&waiting, &last]).await;
    receiver.until("the last conversation's creation", |r| count_of(r, "conversation.created") == 7).await;
    deliveries_settled(&survivor).await;

    assert_eq!(assigned_twice(&survivor.state.store).await, Vec::<String>::new());
    assert!(!two_leaders.load(Ordering::SeqCst), "two nodes led at once");
    let received = receiver.accepted();
    let mut ids = HashSet::new();
    for r in &received {
        assert!(ids.insert(r.headers["webhook-id"].clone()), "webhook {} arrived twice", r.headers["webhook-id"]);
    }
}

/// SQLite: one process owns the database, so it leads from the start, without a lease, and routes.
async fn a_single_node_leads_without_a_lease() {
    let app = TestApp::spawn_with(Options { configure: Some(short_lease), ..Options::default() }).await;
    assert!(leads(&app), "a SQLite node leads from the start");
    assert!(!app.state.leadership.clustered());
    assert_eq!(app.state.leadership.leader_url(), Some(app.base.clone()));
    let setup = routed(&app, json!({})).await;
    let agents = vec![agent(&app, &[&setup.queue], "available").await];
    let conversation = create(&app, &setup.channel, "c1", json!({})).await;
    offered(&app, &agents, &[&conversation]).await;
    let leases = app.state.store.read(|tx| tx.query_one("SELECT COUNT(*) FROM leases", params![])?.i64(0)).await;
    assert_eq!(leases.unwrap(), 0, "no lease is taken on SQLite");
}

/// Readers are woken by commits alone: the poll fallback is an hour.
fn hour_poll(config: &mut Config) {
    config.cluster.log_poll_seconds = 3_600.0;
}

/// Publishes signals through `from` until `to` hears one: then `to`'s listener listens, and has woken its readers
/// as it does when it starts listening.
async fn listening(from: &TestApp, to: &TestApp) {
    let mut heard = to.state.store.signals();
    for _ in 0..300 {
        from.state.store.publish_signal("ping".into()).await.unwrap();
        if tokio::time::timeout(Duration::from_millis(100), heard.recv()).await.is_ok() {
            return;
        }
    }
    panic!("no signal reached the other node");
}

/// The id of the next conversation the follower takes; it must be woken within 30 s.
async fn next_conversation(follower: &mut Follower) -> String {
    let events = tokio::time::timeout(Duration::from_secs(30), follower.next()).await.expect("woken").unwrap().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    events[0].conversation_id.unwrap().to_string()
}

#[tokio::test]
async fn a_commit_on_one_node_wakes_a_reader_on_another_even_after_its_listener_was_killed() {
    let first = TestApp::spawn_with(Options { configure: Some(hour_poll), ..Options::default() }).await;
    let org: OrgId = first.org_id.parse().unwrap();
    let filter = || Filter::everything().org(org).types(["conversation.created"]);
    let channel = first.channel().await;
    if !on_postgres() {
        // One node: its own commit wakes its reader.
        let mut follower = first.state.log.follow(Start::End, filter(), 100).await.unwrap();
        follower.read().await.unwrap();
        let conversation = first.conversation(&first.admin_key, &channel, "c-wake").await;
        assert_eq!(next_conversation(&mut follower).await, conversation);
        return;
    }
    let second = first.peer().await;
    let mut follower = second.state.log.follow(Start::End, filter(), 100).await.unwrap();
    // It has read what there was, and waits.
    follower.read().await.unwrap();
    listening(&first, &second).await;
    let conversation = first.conversation(&first.admin_key, &channel, "c-wake").await;
    assert_eq!(next_conversation(&mut follower).await, conversation, "the other node's commit woke it");

    let name = second.state.store.listener_application_name().unwrap().to_string();
    let killed = first
        .state
        .store
        .read(move |tx| {
            tx.query_one(
                "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                params![name.as_str()],
            )?
            .i64(0)
        })
        .await
        .unwrap();
    assert_eq!(killed, 2, "each node's listening connection");
    let conversation = first.conversation(&first.admin_key, &channel, "c-after-kill").await;
    assert_eq!(next_conversation(&mut follower).await, conversation, "nothing committed after the kill is missed");
    // Signals cross the nodes again.
    listening(&first, &second).await;
    listening(&second, &first).await;
}
