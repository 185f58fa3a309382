//! `serve --demo`: an organization to try Switchboard with, seeded once, whose ids and credentials are written to
//! `DATA_DIR/demo.json`. It routes from the first minute: the workstream is routed, both agents are members of the
//! queue with capacity, and Ada starts available, so a customer's first message becomes an offer on her screen.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use switchboard_domain::{
    context::VariableName,
    ids::*,
    role::Role,
    setup::{
        ChannelSettings, ChannelType, Distribution, PreChatField, PresenceName, QueueType, RoutingSettings,
        WorkstreamSettings, WorkstreamType,
    },
    text::Name,
};
use switchboard_store::{
    Store, access,
    setup::{self, WorkstreamChange},
};

use crate::{AppState, admin, auth::secrets};

pub const DEMO_ORG: &str = "demo";
/// Capacity units each demo agent has: three conversations at once.
const AGENT_CAPACITY: i64 = 3;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoAgent {
    pub id: UserId,
    pub name: String,
    pub api_key: String,
    /// What the agent signs in to the web pages with.
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
}

/// A demo user who signs in with a password (the administrator, the supervisor).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoUser {
    pub id: UserId,
    pub email: String,
    pub password: String,
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
    /// The live chat channel on the same workstream: its chat page is `/chat/<id>` (see docs/chat.md).
    #[serde(default)]
    pub chat_channel_id: Option<ChannelId>,
    /// The Direct Line channel on the same workstream, and its primary secret: point `botframework-directlinejs`
    /// or Web Chat at `<server>/v3/directline` with it (see docs/direct-line.md).
    #[serde(default)]
    pub directline_channel_id: Option<ChannelId>,
    #[serde(default)]
    pub directline_secret: Option<String>,
    pub agents: Vec<DemoAgent>,
    /// Absent from a `demo.json` written before the demo routed; such a file is replaced by a new organization.
    #[serde(default)]
    pub admin: Option<DemoUser>,
    #[serde(default)]
    pub supervisor: Option<DemoUser>,
    /// Further keys written by later versions are kept as they are.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The demo's live chat channel, on its routed workstream: the customer's side of the demo at `/chat/<id>`. It
/// asks the customer's name (required), email and topic; no other site may frame it until `allowed_origins` lists
/// one.
fn chat_channel(
    tx: &mut switchboard_store::Tx<'_>,
    org: OrgId,
    workstream: WorkstreamId,
    now: switchboard_domain::Timestamp,
) -> Result<ChannelId, switchboard_domain::Error> {
    let field = |key: &str, label: &str, required| PreChatField {
        key: VariableName::from_stored(key.into()),
        label: Name::from_stored(label.into()),
        required,
    };
    let settings = ChannelSettings {
        pre_chat_fields: vec![
            field(PreChatField::NAME, "Your name", true),
            field(PreChatField::EMAIL, "Email", false),
            field(PreChatField::SUBJECT, "How can we help?", false),
        ],
        ..ChannelSettings::default()
    };
    Ok(setup::create_channel(tx, org, ChannelType::LiveChat, "Demo chat", workstream, settings, now)?.id)
}

/// The demo's Direct Line channel, on its routed workstream, with its secrets; answers it and the primary secret.
fn direct_line_channel(
    tx: &mut switchboard_store::Tx<'_>,
    org: OrgId,
    workstream: WorkstreamId,
    secrets: &crate::direct_line::NewSecrets,
    now: switchboard_domain::Timestamp,
) -> Result<ChannelId, switchboard_domain::Error> {
    let channel = setup::create_channel(
        tx,
        org,
        ChannelType::DirectLine,
        "Demo Direct Line",
        workstream,
        Default::default(),
        now,
    )?;
    secrets.store(tx, org, channel.id, now)?;
    Ok(channel.id)
}

pub fn demo_path(data_dir: &Path) -> PathBuf {
    data_dir.join("demo.json")
}

/// A password a person can type from demo.json: 20 URL-safe characters (120 random bits).
fn demo_password() -> String {
    secrets::random_token("").chars().take(20).collect()
}

/// Seeds the demo organization unless `demo.json` already describes one; returns it.
pub async fn ensure(app: &AppState, data_dir: &Path) -> anyhow::Result<Demo> {
    let store: &Store = &app.store;
    let now = app.clock.now();
    let path = demo_path(data_dir);
    if path.exists() {
        let mut demo: Demo = serde_json::from_slice(&std::fs::read(&path)?).context("reading demo.json")?;
        let org = demo.org_id;
        if demo.admin.is_none() {
            tracing::warn!("demo.json was written by a version whose demo did not route; seeding a new one");
        } else if store.read(move |tx| access::get_org(tx, org)).await.is_ok() {
            if demo.chat_channel_id.is_some() && demo.directline_channel_id.is_some() {
                return Ok(demo);
            }
            // Written before the demo had a chat page or a Direct Line channel: they are added to the same
            // organization.
            let workstream = demo.workstream_id;
            if demo.chat_channel_id.is_none() {
                let channel = store
                    .write(move |tx| chat_channel(tx, org, workstream, now))
                    .await
                    .map_err(|e| anyhow::anyhow!("adding the demo's chat channel: {e}"))?;
                demo.chat_channel_id = Some(channel);
            }
            if demo.directline_channel_id.is_none() {
                let secrets = crate::direct_line::NewSecrets::generate(&app.auth.secrets)?;
                let secret = secrets.shown().primary;
                let channel = store
                    .write(move |tx| direct_line_channel(tx, org, workstream, &secrets, now))
                    .await
                    .map_err(|e| anyhow::anyhow!("adding the demo's Direct Line channel: {e}"))?;
                demo.directline_channel_id = Some(channel);
                demo.directline_secret = secret;
            }
            std::fs::write(&path, serde_json::to_vec_pretty(&demo)?)
                .with_context(|| format!("writing {}", path.display()))?;
            return Ok(demo);
        } else {
            tracing::warn!("demo.json names an organization this database does not have; seeding a new one");
        }
    }
    let err = |e: switchboard_domain::Error| anyhow::anyhow!("seeding the demo: {e}");
    let (_, created) = admin::create_org(store, DEMO_ORG, now).await.map_err(err)?;
    let org = created.org_id;
    let direct_line_secrets = crate::direct_line::NewSecrets::generate(&app.auth.secrets)?;
    let directline_secret = direct_line_secrets.shown().primary;
    let (queue, workstream, channel, chat, direct_line) = store
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
                    settings: WorkstreamSettings {
                        routing: RoutingSettings { enabled: true, ..Default::default() },
                        ..Default::default()
                    },
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
            let chat = chat_channel(tx, org, workstream.id, now)?;
            let direct_line = direct_line_channel(tx, org, workstream.id, &direct_line_secrets, now)?;
            Ok((queue, workstream, channel, chat, direct_line))
        })
        .await
        .map_err(err)?;
    let (_, client) =
        admin::create_client(store, org, "Demo integration", Role::Integration, now).await.map_err(err)?;
    let mut agents = Vec::new();
    for (name, email, presence) in [
        ("Ada Agent", "ada@demo.invalid", PresenceName::Available),
        ("Bo Agent", "bo@demo.invalid", PresenceName::Offline),
    ] {
        let password = demo_password();
        let (_, agent) = admin::create_user(store, org, name, Some(email), Role::Agent, Some(password.clone()), now)
            .await
            .map_err(err)?;
        app.routing
            .update_agent(&app.routing_deps, org, agent.user_id, move |a| {
                a.capacity_units = AGENT_CAPACITY;
                a.presence = presence;
            })
            .await
            .map_err(err)?;
        agents.push(DemoAgent {
            id: agent.user_id,
            name: agent.name,
            api_key: agent.api_key,
            email: email.into(),
            password,
        });
    }
    let members = agents.iter().map(|a| a.id).collect();
    app.routing.set_members(&app.routing_deps, org, queue.id, members).await.map_err(err)?;
    let mut staff = Vec::new();
    for (name, email, role) in [
        ("Ann Admin", "admin@demo.invalid", Role::Admin),
        ("Sam Supervisor", "supervisor@demo.invalid", Role::Supervisor),
    ] {
        let password = demo_password();
        let (_, user) =
            admin::create_user(store, org, name, Some(email), role, Some(password.clone()), now).await.map_err(err)?;
        staff.push(DemoUser { id: user.user_id, email: email.into(), password });
    }
    let supervisor = staff.pop();
    let admin = staff.pop();
    let demo = Demo {
        org_id: org,
        admin_api_key: created.api_key,
        client_id: client.client_id,
        client_secret: client.client_secret,
        workstream_id: workstream.id,
        queue_id: queue.id,
        channel_id: channel.id,
        messaging_channel_id: Some(channel.id),
        chat_channel_id: Some(chat),
        directline_channel_id: Some(direct_line),
        directline_secret,
        agents,
        admin,
        supervisor,
        extra: serde_json::Map::new(),
    };
    std::fs::create_dir_all(data_dir)?;
    std::fs::write(&path, serde_json::to_vec_pretty(&demo)?).with_context(|| format!("writing {}", path.display()))?;
    Ok(demo)
}
