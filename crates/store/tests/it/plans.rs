//! Query plans: statements that read a slice of a large table use an index made for them, on both backends.

use switchboard_domain::{
    Error, Timestamp,
    ids::*,
    setup::{ChannelType, Distribution, WorkstreamType},
};
use switchboard_store::{
    Backend, Store, Tx, access, params, routing_config,
    setup::{self, WorkstreamChange},
};

crate::conformance!(the_capacity_reset_rebuild_reads_assignments_through_an_index);

/// An organization with a channel on a workstream; returns their ids.
fn organization(tx: &mut Tx<'_>, name: &str) -> Result<(OrgId, ChannelId, WorkstreamId), Error> {
    let org = access::create_org(tx, name, Timestamp::now())?.id;
    let ws = setup::create_workstream(
        tx,
        org,
        WorkstreamType::Messaging,
        WorkstreamChange {
            name: "Chat".into(),
            distribution: Distribution::Push,
            fallback_queue_id: None,
            settings: Default::default(),
        },
        Timestamp::now(),
    )?;
    let channel =
        setup::create_channel(tx, org, ChannelType::MessagingApi, "Web", ws.id, Default::default(), Timestamp::now())?;
    Ok((org, channel.id, ws.id))
}

async fn the_capacity_reset_rebuild_reads_assignments_through_an_index(store: &Store) {
    // Two organizations' logs of 400 conversations, mostly other events, with statistics, so that the plan is the
    // one a real log gets rather than whatever tables with a handful of rows make cheapest.
    const START: i64 = 1_000_000;
    let acme = store
        .write(|tx| {
            let orgs = [organization(tx, "acme")?, organization(tx, "other")?];
            let kinds = ["message.created", "routing.queued", "routing.offer_issued", "conversation.state_changed"];
            let payload = serde_json::json!({ "agent_id": UserId::new(), "by": "pick" }).to_string();
            for k in 0..400_i64 {
                let (org, channel, ws) = orgs[usize::from(k % 4 == 0)];
                let conversation = ConversationId::new();
                tx.execute(
                    "INSERT INTO conversations (id, org_id, channel_id, workstream_id, state, priority, created_at,
                                                updated_at, state_changed_at)
                     VALUES ($1, $2, $3, $4, 'closed', 0, $5, $5, $5)",
                    params![conversation, org, channel, ws, START + k * 10_000],
                )?;
                for seq in 1..=10_i64 {
                    let i = k * 10 + seq;
                    let kind = if i % 50 == 7 { "routing.assigned" } else { kinds[(i % 4) as usize] };
                    tx.execute(
                        "INSERT INTO events (org_id, event_type, conversation_id, seq, payload, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6)",
                        params![org, kind, conversation, seq, &payload, START + i * 1000],
                    )?;
                }
            }
            // These two tables only: PostgreSQL's bare ANALYZE would take every test schema of the database.
            tx.batch("ANALYZE events; ANALYZE conversations")?;
            Ok(orgs[0].0)
        })
        .await
        .unwrap();
    // The last tenth of the log: what a period's rebuild reads.
    let since = START + 3600 * 1000;
    let read = store.read(move |tx| routing_config::assignments_since(tx, acme, Timestamp::from_millis(since)));
    let expect = (3600..=4000).filter(|i| i % 50 == 7 && (i - 1) / 10 % 4 != 0).count();
    assert_eq!(read.await.unwrap().len(), expect, "the rebuild reads acme's assignments since then");
    let lines = store
        .read(move |tx| {
            let backend = tx.backend();
            let (explain, column) = match backend {
                Backend::Sqlite => ("EXPLAIN QUERY PLAN", 3),
                Backend::Postgres => ("EXPLAIN", 0),
            };
            let sql = format!("{explain} {}", routing_config::assigned_events_sql(backend));
            tx.query(&sql, params![acme, since])?.iter().map(|r| r.string(column)).collect::<Result<Vec<_>, _>>()
        })
        .await
        .unwrap();
    println!("{}", lines.join("\n"));
    let index = match store.backend() {
        Backend::Sqlite => "USING INDEX events_assigned_org_time (<expr>=? AND created_at>?)",
        Backend::Postgres => "Index Scan using events_assigned_org_time on events e",
    };
    assert!(lines.iter().any(|l| l.contains(index)), "events are read through `{index}`:\n{}", lines.join("\n"));
}
