//! Which conversations an agent sees: those assigned to them and the Open ones nobody holds in queues they are
//! members of. Supervisors, admins and integrations see the organization's. A conversation an agent does not see
//! answers 404 to every read and write of theirs, as another organization's does.

use std::collections::{BTreeSet, HashMap};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_domain::role::Role;

use crate::{TestApp, assert_problem};

/// Every read of one conversation.
const READS: &[&str] = &["", "/messages", "/context", "/timeline", "/auto-close", "/queue-position"];

/// A small deterministic generator, so that a failing case can be run again as it was.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

async fn ids_listed(app: &TestApp, key: &str) -> BTreeSet<String> {
    let (status, page) = app.get("/v1/conversations?limit=250", key).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page["next_cursor"].is_null(), "one page holds them all: {page}");
    page["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
}

/// What the rule says `agent` (a member of `queues`) sees of `conversation`, as an admin reads it.
fn sees(agent: &str, queues: &BTreeSet<String>, conversation: &Value) -> bool {
    match conversation["agent_id"].as_str() {
        Some(holder) => holder == agent,
        None => conversation["state"] == "open" && queues.contains(conversation["queue_id"].as_str().unwrap_or("")),
    }
}

#[tokio::test]
async fn agents_see_their_own_conversations_and_those_waiting_in_their_queues() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key.clone();
    let (integration, _) = app.key(Role::Integration).await;
    let (supervisor, _) = app.key(Role::Supervisor).await;
    let mut channels = Vec::new();
    let mut queues = Vec::new();
    for _ in 0..3 {
        let (channel, _, queue_path) = app.channel_setup().await;
        channels.push(channel["id"].as_str().unwrap().to_string());
        queues.push(queue_path.trim_start_matches("/v1/queues/").to_string());
    }
    let mut agents = Vec::new();
    for _ in 0..4 {
        let (key, id) = app.key(Role::Agent).await;
        agents.push((key, id.unwrap()));
    }
    let (mut seen_pairs, mut hidden_pairs) = (0, 0);
    for seed in [7_u64, 1_234_567] {
        let mut random = Lcg(seed);
        // Each agent is a member of some queues (the last agent of none, in the first round).
        let mut membership: HashMap<String, BTreeSet<String>> = HashMap::new();
        for (i, (_, agent)) in agents.iter().enumerate() {
            let mine: BTreeSet<String> =
                queues.iter().filter(|_| (seed != 7 || i != 3) && random.below(2) == 1).cloned().collect();
            membership.insert(agent.clone(), mine);
        }
        for queue in &queues {
            let members: Vec<&String> =
                agents.iter().map(|(_, a)| a).filter(|a| membership[*a].contains(queue)).collect();
            let path = format!("/v1/queues/{queue}/members");
            let (status, body) = app.call(Method::PUT, &path, Some(&admin), Some(json!({ "user_ids": members }))).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        // Conversations in every state, assigned to anyone or no one.
        for n in 0..10 {
            let channel = &channels[usize::try_from(random.below(3)).unwrap()];
            let id = app.conversation(&integration, channel, &format!("customer-{seed}-{n}")).await;
            let holder = &agents[usize::try_from(random.below(4)).unwrap()].1;
            let steps: &[&str] = match random.below(5) {
                0 => &[],
                1 => &["accept"],
                2 => &["accept", "end"],
                3 => &["accept", "release"],
                _ => &["close"],
            };
            for action in steps {
                let body = if *action == "accept" { json!({ "agent_id": holder }) } else { json!({}) };
                app.post_ok(&format!("/v1/conversations/{id}/{action}"), &supervisor, body, StatusCode::OK).await;
            }
        }

        let all = {
            let (_, page) = app.get("/v1/conversations?limit=250", &admin).await;
            page["data"].as_array().unwrap().clone()
        };
        let every: BTreeSet<String> = all.iter().map(|c| c["id"].as_str().unwrap().to_string()).collect();
        for key in [&admin, &supervisor, &integration] {
            assert_eq!(ids_listed(&app, key).await, every);
        }
        for (key, agent) in &agents {
            let expect: BTreeSet<String> = all
                .iter()
                .filter(|c| sees(agent, &membership[agent], c))
                .map(|c| c["id"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(ids_listed(&app, key).await, expect, "agent {agent} in {:?}", membership[agent]);
            for conversation in &all {
                let id = conversation["id"].as_str().unwrap();
                let seen = expect.contains(id);
                if seen {
                    seen_pairs += 1;
                } else {
                    hidden_pairs += 1;
                }
                for read in READS {
                    let path = format!("/v1/conversations/{id}{read}");
                    let (status, body) = app.get(&path, key).await;
                    if seen {
                        assert_ne!(status, StatusCode::NOT_FOUND, "{path} for {agent}: {body}");
                    } else {
                        assert_problem(status, &body, StatusCode::NOT_FOUND, "conversation_not_found");
                    }
                }
                if !seen {
                    // Writes too: the same answer as for a conversation of another organization.
                    let path = format!("/v1/conversations/{id}/messages");
                    let (status, body) = app.post(&path, key, json!({ "text": "hello?" })).await;
                    assert_problem(status, &body, StatusCode::NOT_FOUND, "conversation_not_found");
                    for action in ["end", "release", "park", "close", "transfer"] {
                        let path = format!("/v1/conversations/{id}/{action}");
                        let body = if action == "transfer" { json!({ "queue_id": queues[0] }) } else { json!({}) };
                        let (status, body) = app.post(&path, key, body).await;
                        assert_problem(status, &body, StatusCode::NOT_FOUND, "conversation_not_found");
                    }
                }
            }
        }
    }
    // Both answers were put to the test, many times.
    assert!(seen_pairs >= 5 && hidden_pairs >= 20, "seen {seen_pairs}, hidden {hidden_pairs}");
}

#[tokio::test]
async fn an_agent_writes_only_where_they_are_assigned_and_reads_what_waits_for_them() {
    let app = TestApp::spawn().await;
    let (integration, _) = app.key(Role::Integration).await;
    let (channel, _, queue_path) = app.channel_setup().await;
    let channel = channel["id"].as_str().unwrap().to_string();
    let (ada, ada_id) = app.key(Role::Agent).await;
    let (bo, _) = app.key(Role::Agent).await;
    let members = format!("{queue_path}/members");
    let (status, body) =
        app.call(Method::PUT, &members, Some(&app.admin_key), Some(json!({ "user_ids": [ada_id] }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = app.conversation(&integration, &channel, "c1").await;
    let messages = format!("/v1/conversations/{id}/messages");
    app.post_ok(&messages, &integration, json!({ "text": "Anyone there?" }), StatusCode::CREATED).await;

    // Waiting in Ada's queue: she reads it but may not write in it before taking it.
    assert_eq!(app.get(&messages, &ada).await.0, StatusCode::OK);
    let (status, body) = app.post(&messages, &ada, json!({ "text": "hi" })).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "not_assigned_agent");
    // Bo is in no queue: for him it does not exist.
    let (status, body) = app.get(&messages, &bo).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "conversation_not_found");

    app.post_ok(&format!("/v1/conversations/{id}/accept"), &ada, json!({}), StatusCode::OK).await;
    app.post_ok(&messages, &ada, json!({ "text": "Here." }), StatusCode::CREATED).await;
    let (status, body) = app.post(&messages, &bo, json!({ "text": "me too" })).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "conversation_not_found");
    // Bo cannot take what Ada holds, nor learn that it exists by trying.
    let (status, body) = app.post(&format!("/v1/conversations/{id}/accept"), &bo, json!({})).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "conversation_not_found");
    let (_, page) = app.get(&messages, &ada).await;
    let texts: Vec<&str> = page["data"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Anyone there?", "Here."]);
}
