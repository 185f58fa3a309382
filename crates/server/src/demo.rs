//! `serve --demo`: an organization to try Switchboard with, seeded once, whose ids and credentials are written to
//! `DATA_DIR/demo.json`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use switchboard_domain::{
    Timestamp,
    ids::*,
    role::Role,
    setup::{ChannelType, Distribution, QueueType, WorkstreamType},
};
use switchboard_store::{
    Store, access,
    setup::{self, WorkstreamChange},
};

use crate::admin;

pub const DEMO_ORG: &str = "demo";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoAgent {
    pub id: UserId,
    pub name: String,
    pub api_key: String,
}

/// What `demo.json` holds. Later capabilities add their own keys next to these.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Demo {
    pub org_id: OrgId,
    pub admin_api_key: String,
    pub client_id: ClientId,
    pub client_secret: String,
    pub workstream_id: WorkstreamId,
    pub queue_id: QueueId,
    pub channel_id: ChannelId,
    /// The Messaging API channel (the `channel-id` header of `/api/v1.0/consumer` calls). The demo's one channel
    /// is of that type; set its `webhook_url` to receive agent replies.
    #[serde(default)]
    pub messaging_channel_id: Option<ChannelId>,
    pub agents: Vec<DemoAgent>,
    /// Further keys written by later versions are kept as they are.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

pub fn demo_path(data_dir: &Path) -> PathBuf {
    data_dir.join("demo.json")
}

/// Seeds the demo organization unless `demo.json` already describes one; returns it.
pub async fn ensure(store: &Store, data_dir: &Path, now: Timestamp) -> anyhow::Result<Demo> {
    let path = demo_path(data_dir);
    if path.exists() {
        let mut demo: Demo = serde_json::from_slice(&std::fs::read(&path)?).context("reading demo.json")?;
        let org = demo.org_id;
        if store.read(move |tx| access::get_org(tx, org)).await.is_ok() {
            if demo.messaging_channel_id.is_none() {
                // Written by a version before the Messaging API: its one channel is that channel.
                demo.messaging_channel_id = Some(demo.channel_id);
                std::fs::write(&path, serde_json::to_vec_pretty(&demo)?)?;
            }
            return Ok(demo);
        }
        tracing::warn!("demo.json names an organization this database does not have; seeding a new one");
    }
    let err = |e: switchboard_domain::Error| anyhow::anyhow!("seeding the demo: {e}");
    let (_, created) = admin::create_org(store, DEMO_ORG, now).await.map_err(err)?;
    let org = created.org_id;
    let (queue, workstream, channel) = store
        .write(move |tx| {
            let queue = setup::create_queue(tx, org, "General", QueueType::Messaging, 100, now)?;
            let workstream = setup::create_workstream(
                tx,
                org,
                WorkstreamType::Messaging,
                WorkstreamChange {
                    name: "Messaging".into(),
                    distribution: Distribution::Push,
                    fallback_queue_id: Some(queue.id),
                    settings: Default::default(),
                },
                now,
            )?;
            let channel = setup::create_channel(
                tx,
                org,
                ChannelType::MessagingApi,
                "Demo channel",
                workstream.id,
                Default::default(),
                now,
            )?;
            Ok((queue, workstream, channel))
        })
        .await
        .map_err(err)?;
    let (_, client) =
        admin::create_client(store, org, "Demo integration", Role::Integration, now).await.map_err(err)?;
    let mut agents = Vec::new();
    for (name, email) in [("Ada Agent", "ada@demo.invalid"), ("Bo Agent", "bo@demo.invalid")] {
        let (_, agent) =
            admin::create_user(store, org, name, Some(email), Role::Agent, None, now).await.map_err(err)?;
        agents.push(DemoAgent { id: agent.user_id, name: agent.name, api_key: agent.api_key });
    }
    let demo = Demo {
        org_id: org,
        admin_api_key: created.api_key,
        client_id: client.client_id,
        client_secret: client.client_secret,
        workstream_id: workstream.id,
        queue_id: queue.id,
        channel_id: channel.id,
        messaging_channel_id: Some(channel.id),
        agents,
        extra: serde_json::Map::new(),
    };
    std::fs::create_dir_all(data_dir)?;
    std::fs::write(&path, serde_json::to_vec_pretty(&demo)?).with_context(|| format!("writing {}", path.display()))?;
    Ok(demo)
}
