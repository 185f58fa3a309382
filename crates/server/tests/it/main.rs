//! HTTP-level tests: each starts the real server on 127.0.0.1:0 and talks to it as a client would. The backend is
//! SQLite, or PostgreSQL (a fresh schema per test) when `SWITCHBOARD_TEST_BACKEND=postgres`.

#![allow(clippy::unwrap_used)]

mod agent_tools;
mod analytics;
mod api;
mod auth;
mod bad_input;
mod bot_framework;
mod bot_framework_channel;
mod bots;
mod chat;
mod clock;
mod cluster;
mod connections;
mod contract;
mod direct_line;
mod event_types;
mod google_bm_channel;
mod lifecycle;
mod messaging;
mod messaging_accounts;
mod meta_channel;
mod ops;
mod outbound;
mod outbox;
mod presence;
mod receiver;
mod routing;
mod routing_attributes;
mod routing_config;
mod routing_overflow;
mod routing_wait;
mod secrets;
mod senders;
mod sessions;
mod setup_patch;
mod stream;
mod support;
mod telesign_channel;
mod twilio_channel;
mod visibility;
mod webhooks;
mod workspace;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_domain::role::Role;
use switchboard_server::{
    Config, Server, admin,
    config::{OidcProvider, TrustedIssuer},
};
use switchboard_store::{Store, StoreConfig};

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub admin_key: String,
    pub org_id: String,
    pub state: switchboard_server::AppState,
    /// Where the store is, so that a second node can share it (`peer`).
    store_config: StoreConfig,
    stop: Option<Running>,
    _dir: tempfile::TempDir,
}

/// A server running in the background: what stops it, and its task, which ends once the server has stopped
/// serving and given up what it led (on PostgreSQL, the routing lease).
struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    done: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Runs `server` in the background; returns its base URL, its state and what stops it.
fn serve(server: Server) -> (String, switchboard_server::AppState, Running) {
    let base = format!("http://{}", server.local_addr());
    let state = server.state().clone();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    (base, state, Running { stop, done })
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(running) = self.stop.take() {
            let _ = running.stop.send(());
        }
    }
}

#[derive(Default)]
pub struct Options {
    /// An identity provider to trust for the test's organization (its `org_id` is filled in).
    pub trusted_issuer: Option<TrustedIssuer>,
    /// The clock background work runs on (webhook retries, routing timers); the system clock by default.
    pub clock: Option<switchboard_server::clock::ManualClock>,
    /// Changes to the configuration before the server starts.
    pub configure: Option<fn(&mut Config)>,
    /// An identity provider the test's organization signs in through (its `org_id` is filled in).
    pub oidc: Option<OidcProvider>,
    /// Where the Bot Framework service is (a fake one's URLs).
    pub bot_framework: Option<switchboard_server::config::BotFrameworkConfig>,
    /// Where Meta's Graph API is (a fake one's URL).
    pub meta: Option<switchboard_server::config::MetaConfig>,
    /// Where TeleSign's API is (a fake one's URL).
    pub telesign: Option<switchboard_server::config::TelesignConfig>,
    /// Where Twilio is (a fake one's URL), and the server's public URL.
    pub twilio: Option<(switchboard_server::config::TwilioConfig, String)>,
    /// Where Google's Business Messages is (a fake one's URLs).
    pub google_business_messages: Option<switchboard_server::config::GoogleBusinessMessagesConfig>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> Self {
        // Server logs go to the test's captured output, shown when it fails; `RUST_LOG` sets the level.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::for_data_dir(dir.path().to_path_buf()).expect("config");
        // Webhook receivers in tests listen on this machine.
        config.webhooks.allow_loopback = true;
        if let Some(configure) = options.configure {
            configure(&mut config);
        }
        if let Some(bot_framework) = options.bot_framework {
            config.channels.bot_framework = bot_framework;
        }
        if let Some(meta) = options.meta {
            config.channels.meta = meta;
        }
        if let Some(telesign) = options.telesign {
            config.channels.telesign = telesign;
        }
        if let Some((twilio, public_url)) = options.twilio {
            config.channels.twilio = twilio;
            config.public_url = Some(public_url);
        }
        if let Some(google) = options.google_business_messages {
            config.channels.google_business_messages = google;
        }
        let store_config = match std::env::var("SWITCHBOARD_TEST_BACKEND").as_deref() {
            Ok("postgres") => StoreConfig::Postgres {
                url: std::env::var("SWITCHBOARD_TEST_PG_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
                schema: Some(format!("t_{}", uuid::Uuid::now_v7().simple())),
                pool_size: 8,
            },
            _ => config.store(),
        };
        let store = std::sync::Arc::new(Store::open(&store_config).await.expect("open store"));
        let clock =
            options.clock.map_or(switchboard_server::clock::Clock::System, switchboard_server::clock::Clock::Manual);
        let (_, created) = admin::create_org(&store, "acme", clock.now()).await.expect("org");
        if let Some(mut issuer) = options.trusted_issuer {
            issuer.org_id = created.org_id.to_string();
            config.trusted_issuers.push(issuer);
        }
        if let Some(mut provider) = options.oidc {
            provider.org_id = created.org_id.to_string();
            config.sign_in.oidc.push(provider);
        }
        let server = Server::with_clock(config, store, clock).await.expect("server");
        let (base, state, stop) = serve(server);
        TestApp {
            base,
            http: reqwest::Client::new(),
            admin_key: created.api_key,
            org_id: created.org_id.to_string(),
            state,
            store_config,
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// Starts a second node on the same database (a PostgreSQL schema; SQLite allows one process) with the same
    /// configuration and clock, and its own store connections, as another machine would have.
    pub async fn peer(&self) -> Self {
        assert!(matches!(self.store_config, StoreConfig::Postgres { .. }), "nodes share only a PostgreSQL database");
        let store = std::sync::Arc::new(Store::open(&self.store_config).await.expect("open store"));
        let server =
            Server::with_clock(self.state.config.clone(), store, self.state.clock.clone()).await.expect("server");
        let (base, state, stop) = serve(server);
        TestApp {
            base,
            http: reqwest::Client::new(),
            admin_key: self.admin_key.clone(),
            org_id: self.org_id.clone(),
            state,
            store_config: self.store_config.clone(),
            stop: Some(stop),
            _dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Stops this server and starts another on the same store and configuration, as a restart would; the old
    /// server's background work ends with it.
    pub async fn restart(&mut self) {
        // A new client, so that no kept-alive connection holds the old server open.
        self.http = reqwest::Client::new();
        // The new server starts once the old one has given up the routing lease; started earlier, it would see
        // the old node still leading and forward routing calls to it.
        if let Some(running) = self.stop.take() {
            let _ = running.stop.send(());
            running.done.await.expect("server task").expect("server stopped cleanly");
        }
        let server = Server::with_clock(self.state.config.clone(), self.state.store.clone(), self.state.clock.clone())
            .await
            .expect("server");
        let (base, state, stop) = serve(server);
        (self.base, self.state, self.stop) = (base, state, Some(stop));
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.expect("request");
        let status = response.status();
        let bytes = response.bytes().await.expect("body");
        let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        (status, value)
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(key), None).await
    }

    /// Polls GET `path` until `check` passes, for what the server does in the background after a request has
    /// answered (routing, timers). A passing check returns at once; the deadline is generous because the
    /// PostgreSQL run has every test of the suite sharing two cores.
    pub async fn eventually(&self, path: &str, key: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let (status, value) = self.get(path, key).await;
            if status == StatusCode::OK && check(&value) {
                return value;
            }
            assert!(std::time::Instant::now() < deadline, "GET {path} never passed the check; last: {value}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    /// Posts and insists on `expect`, returning the body.
    pub async fn post_ok(&self, path: &str, key: &str, body: Value, expect: StatusCode) -> Value {
        let (status, value) = self.post(path, key, body).await;
        assert_eq!(status, expect, "POST {path}: {value}");
        value
    }

    /// A queue, workstream and messaging channel; returns the channel id.
    pub async fn channel(&self) -> String {
        let queue =
            self.post_ok("/v1/queues", &self.admin_key, json!({ "name": "General" }), StatusCode::CREATED).await;
        let ws = self
            .post_ok(
                "/v1/workstreams",
                &self.admin_key,
                json!({ "name": "Chat", "fallback_queue_id": queue["id"] }),
                StatusCode::CREATED,
            )
            .await;
        let channel = self
            .post_ok(
                "/v1/channels",
                &self.admin_key,
                json!({ "name": "Web", "channel_type": "messaging_api", "workstream_id": ws["id"] }),
                StatusCode::CREATED,
            )
            .await;
        channel["id"].as_str().expect("channel id").to_string()
    }

    /// What `channel` makes, as the API reads it back: the channel, its workstream, and its queue's path.
    pub async fn channel_setup(&self) -> (Value, Value, String) {
        let channel = self.channel().await;
        let (_, channel) = self.get(&format!("/v1/channels/{channel}"), &self.admin_key).await;
        let workstream = channel["workstream_id"].as_str().expect("workstream id");
        let (_, workstream) = self.get(&format!("/v1/workstreams/{workstream}"), &self.admin_key).await;
        let queue = format!("/v1/queues/{}", workstream["fallback_queue_id"].as_str().expect("queue id"));
        (channel, workstream, queue)
    }

    /// A key with `role` (for agents, a new agent's own key); returns (key, user id if any).
    pub async fn key(&self, role: Role) -> (String, Option<String>) {
        if role == Role::Agent || role == Role::Supervisor {
            let org = self.org_id.parse().expect("org id");
            let name = format!("{role} {}", uuid::Uuid::now_v7().simple());
            let (_, user) = admin::create_user(&self.state.store, org, &name, None, role, None, self.state.clock.now())
                .await
                .expect("user");
            return (user.api_key, Some(user.user_id.to_string()));
        }
        let created = self
            .post_ok("/v1/api-keys", &self.admin_key, json!({ "name": "k", "role": role }), StatusCode::CREATED)
            .await;
        (created["key"].as_str().expect("key").to_string(), None)
    }

    /// Starts a conversation as an integration; returns its id.
    /// An access token for an OAuth2 client, by the client credentials grant.
    pub async fn client_token(&self, client_id: &str, client_secret: &str) -> String {
        let answer: Value = self
            .http
            .post(format!("{}/oauth2/token", self.base))
            .form(&[("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", client_secret)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["access_token"].as_str().unwrap().to_string()
    }

    pub async fn conversation(&self, key: &str, channel: &str, customer_id: &str) -> String {
        let body = json!({ "channel_id": channel, "customer": { "customer_id": customer_id } });
        let created = self.post_ok("/v1/conversations", key, body, StatusCode::CREATED).await;
        created["conversation"]["id"].as_str().expect("conversation id").to_string()
    }

    /// How many events the organization has: a change of anything writes one.
    pub async fn event_count(&self) -> usize {
        let mut total = 0;
        let mut cursor = String::new();
        loop {
            let path = format!("/v1/events?limit=250{cursor}");
            let (status, page) = self.get(&path, &self.admin_key).await;
            assert_eq!(status, StatusCode::OK);
            total += page["data"].as_array().map_or(0, Vec::len);
            match page["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => return total,
            }
        }
    }
}

/// Polls `found` until it gives something, in real time (for what the server's background work, or a fake it
/// calls, does apart from the request); panics after 30 s naming `what`.
pub async fn until<T>(what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(t) = found() {
            return t;
        }
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Asserts a problem+json error with this status and code; returns the body.
pub fn assert_problem(status: StatusCode, body: &Value, expect_status: StatusCode, code: &str) {
    assert_eq!(status, expect_status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], expect_status.as_u16(), "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
}
