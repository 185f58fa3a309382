//! Layered configuration: built-in defaults, then an optional TOML file, then `SWITCHBOARD_*` environment
//! variables (`__` separates nested keys), then command-line flags.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::{Context, bail};
use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

const DEFAULTS: &str = include_str!("../config.default.toml");

/// The keys `SWITCHBOARD_*` environment variables may set.
const KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "database_pool_size",
    "public_url",
    "secret_key",
    "log_format",
    "token_ttl_seconds",
    "auth_cache_seconds",
    "request_timeout_seconds",
    "http",
    "trusted_issuers",
    "sign_in",
    "webhooks",
    "attachments",
    "cluster",
    "stream",
    "channels",
];

/// `SWITCHBOARD_*` names that are read elsewhere, not configuration keys: the log filter, the config file flag,
/// the workspace's files read from disk while they are edited, and the test suite's settings.
fn read_elsewhere(key: &str) -> bool {
    key == "log" || key == "config" || key == "workspace_assets" || key.starts_with("test_")
}

fn is_key(key: &str) -> bool {
    let key = key.to_lowercase();
    let top = key.split(['.']).next().unwrap_or_default();
    KEYS.contains(&top.split("__").next().unwrap_or_default())
}

/// Names of `SWITCHBOARD_*` variables that set nothing, to warn about (a typo would otherwise pass silently).
pub fn unknown_env_vars() -> Vec<String> {
    std::env::vars()
        .filter_map(|(name, _)| {
            let key = name.strip_prefix("SWITCHBOARD_")?.to_lowercase().replace("__", ".");
            (!is_key(&key) && !read_elsewhere(&key)).then_some(name)
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the embedded database, the secret key and demo.json live.
    pub data_dir: PathBuf,
    /// A `postgres://` URL; when empty, SQLite under `data_dir`.
    pub database_url: Option<String>,
    /// Connections per node when on PostgreSQL.
    pub database_pool_size: usize,
    /// The URL clients reach this server at: the issuer of its tokens. Defaults to `http://{listen}`.
    pub public_url: Option<String>,
    /// Base64 of 32 bytes that encrypts secrets at rest; when empty, `data_dir/secret.key` is created and used.
    /// Every node of a PostgreSQL deployment needs the same one.
    pub secret_key: Option<String>,
    /// `text` or `json` log lines.
    pub log_format: LogFormat,
    /// Seconds an issued access token lives.
    pub token_ttl_seconds: u64,
    /// Seconds a verified API key is trusted before it is looked up again (how long a revocation takes to reach
    /// other nodes).
    pub auth_cache_seconds: u64,
    /// Seconds a request may take, from whole headers to the response, before it is answered 503
    /// (`request_timeout`).
    pub request_timeout_seconds: u64,
    pub http: HttpConfig,
    /// Identity providers whose tokens are accepted besides our own.
    #[serde(default)]
    pub trusted_issuers: Vec<TrustedIssuer>,
    pub sign_in: SignInConfig,
    pub webhooks: WebhookConfig,
    pub attachments: AttachmentConfig,
    pub cluster: ClusterConfig,
    pub stream: StreamConfig,
    pub channels: ChannelsConfig,
}

/// How client connections are limited (see `connections.rs` and docs/operations.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Seconds a client has to send a request's whole headers, from the connection's start or the request's first
    /// byte; then it is answered 408 (`header_timeout`) and disconnected.
    pub header_read_timeout_seconds: u64,
    /// Seconds a kept-alive connection may wait for its next request before it is closed.
    pub keep_alive_idle_seconds: u64,
    /// Open client connections at most; 0 derives it from the open file limit (nine tenths of it). At the limit a
    /// new connection evicts a slow or idle one, or is refused when all are busy.
    pub max_connections: usize,
}

/// How webhooks are delivered.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Seconds to wait before each retry, in order; after the last, the delivery is a dead letter. Each wait
    /// varies by up to ±`jitter_percent`.
    pub retry_schedule_seconds: Vec<u64>,
    pub jitter_percent: u8,
    /// Seconds one attempt may take.
    pub timeout_seconds: u64,
    /// Requests in flight at once, over all endpoints.
    pub concurrency: usize,
    /// Allow webhook URLs that resolve to loopback addresses (a receiver on the same machine).
    pub allow_loopback: bool,
    /// Allow webhook URLs that resolve to private, link-local and other internal addresses.
    pub allow_private: bool,
    /// When not empty, the only hosts (names or IP addresses, as written in the URL) webhooks are sent to; any
    /// other destination fails its attempt without a DNS lookup or a connection. For tests that must not reach
    /// out (a fuzzer's URLs), and for operators who pin their receivers.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Seconds a Messaging API webhook token lives.
    pub token_ttl_seconds: u64,
    /// Requests a second to one subscription or Messaging API webhook at most; 0: no limit.
    pub sends_per_endpoint_per_second: u32,
}

/// Where uploaded attachments are kept and how long their links work.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentConfig {
    /// A directory; relative paths are under `data_dir`. Nodes of one PostgreSQL deployment must share it.
    pub dir: PathBuf,
    /// Seconds a signed attachment link stays valid.
    pub link_ttl_seconds: u64,
}

/// Several nodes on one PostgreSQL database: one of them, the holder of a lease, routes and delivers webhooks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The URL the other nodes reach this one at, to forward the requests only the leader can answer. Defaults to
    /// `public_url`, else `http://{listen}`; set it when `public_url` is a load balancer shared by the nodes.
    pub advertise_url: Option<String>,
    /// Seconds a leader's lease lasts unrenewed: about how long a failover takes after a node dies.
    pub lease_seconds: f64,
    /// Seconds between renewals. A leader that has not renewed for `lease_seconds - renew_seconds` stops leading.
    pub renew_seconds: f64,
    /// Seconds after which a reader of the event log (routing, timers, webhooks, the live stream) looks for new
    /// events though nothing woke it. A fallback only: this node's commits wake the readers at once, and on
    /// PostgreSQL so do the other nodes' (`LISTEN/NOTIFY`).
    pub log_poll_seconds: f64,
}

/// The live stream, `GET /v1/stream` (see docs/stream.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// Seconds between heartbeats (a WebSocket ping, an SSE comment) on a quiet connection.
    pub heartbeat_seconds: u64,
    /// Frames waiting for one connection at most; a connection that falls further behind is closed (it resumes
    /// from the log), so that it never slows the others.
    pub send_buffer: usize,
    /// How far back a resume replays, in log positions; an older resume id gets a `resync` frame instead.
    pub replay_events: i64,
    /// Origins (`https://host[:port]`) besides `public_url`'s that a browser may open the stream from.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Seconds a write to a client may make no progress before the connection is closed: a stream whose client
    /// stopped reading, or any response's. Applies to every HTTP connection.
    pub write_timeout_seconds: u64,
}

/// The providers of custom messaging channels.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelsConfig {
    pub bot_framework: BotFrameworkConfig,
    pub meta: MetaConfig,
    pub telesign: TelesignConfig,
    pub twilio: TwilioConfig,
    pub google_business_messages: GoogleBusinessMessagesConfig,
}

/// Where Meta's Graph API is (WhatsApp Cloud API sends, media downloads, validation). The default is Meta's; tests
/// point it at a fake.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaConfig {
    /// `{graph_url}/{graph_version}/{phone number id}/messages`, `…/{media id}`.
    pub graph_url: String,
    pub graph_version: String,
    /// Messages a second one WhatsApp channel sends at most (Meta's default throughput is 80 a second a number);
    /// 0: no limit.
    pub sends_per_second: u32,
    /// The largest file a customer sends that is downloaded and kept; a larger one is named in the message instead.
    pub max_media_bytes: u64,
}

/// Where TeleSign's REST API is (`{api_url}/v1/messaging`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelesignConfig {
    pub api_url: String,
    /// Messages a second one TeleSign channel sends at most; 0: no limit.
    pub sends_per_second: u32,
}

/// Twilio's Programmable Messaging (SMS and WhatsApp). The default is Twilio's API; tests point it at a fake.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    /// The REST API's base (`https://api.twilio.com`): messages are sent to
    /// `{api_base_url}/2010-04-01/Accounts/{sid}/Messages.json`, and customers' media are fetched only from URLs under
    /// it (with the account's credentials).
    pub api_base_url: String,
    /// The largest file a customer's message may carry (bytes): a larger one is refused and the message with it.
    pub max_media_bytes: u64,
    /// Messages a second one Twilio channel sends at most (a long code takes about 1); 0: no limit.
    pub sends_per_second: u32,
}

/// Where Google's Business Messages API and the token endpoint of its service accounts are. The defaults are
/// Google's; tests point them at a fake.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleBusinessMessagesConfig {
    /// The Business Messages API: `{api_url}/v1/conversations/{id}/messages` and `…/events`.
    pub api_url: String,
    /// Where a service account's signed JWT is exchanged for an access token (the JWT bearer grant); also the
    /// JWT's audience.
    pub token_url: String,
    /// Messages and events a second one channel sends at most; 0: no limit.
    pub sends_per_second: u32,
}

/// Where the Bot Framework service publishes its signing keys and issues the bot's tokens (§4.4). The defaults are
/// the public cloud's; tests point them at a fake service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotFrameworkConfig {
    /// The OpenID configuration whose `jwks_uri` lists the keys that sign the activities sent to us.
    pub openid_metadata_url: String,
    /// The `iss` of those tokens.
    pub issuer: String,
    /// Where the bot's client-credentials tokens for the Connector API come from. Multi-tenant apps use the
    /// `botframework.com` tenant; a single-tenant app's account names its tenant, which replaces it in the path.
    pub token_url: String,
    /// The scope those tokens are asked for.
    pub token_scope: String,
    /// Replies a second one channel sends through the Connector at most; 0: no limit.
    pub sends_per_second: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// An external OpenID Connect issuer whose access tokens act in one organization.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuer {
    /// The `iss` claim its tokens carry.
    pub issuer: String,
    /// Where its signing keys are published.
    pub jwks_url: String,
    /// The `aud` its tokens must carry.
    pub audience: String,
    /// The organization its tokens act in.
    pub org_id: String,
    /// The claim that holds the role (a string or a list of strings); defaults to `role`.
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
}

fn default_role_claim() -> String {
    "role".into()
}

/// Browser sign-in: sessions, passwords and organizations' identity providers (docs/authentication.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInConfig {
    /// Seconds a session lasts unused.
    pub session_idle_seconds: u64,
    /// Seconds a session lasts at most, however much it is used.
    pub session_absolute_seconds: u64,
    /// Seconds a set-password token issued by an admin stays valid.
    pub password_token_ttl_seconds: u64,
    /// The window failed sign-ins are counted over.
    pub failure_window_seconds: u64,
    /// Failed sign-ins to one account within the window before it is refused (429) until the oldest leaves it.
    pub max_failures_per_account: u64,
    /// Failed sign-ins from one client address within the window before it is refused.
    pub max_failures_per_address: u64,
    /// A header the load balancer in front sets to the client's address (e.g. `x-forwarded-for`, whose last entry
    /// is taken); when unset, the address the connection comes from.
    #[serde(default)]
    pub client_address_header: Option<String>,
    /// Organizations that sign in through their own OpenID Connect provider (and not with passwords).
    #[serde(default)]
    pub oidc: Vec<OidcProvider>,
}

/// An organization's OpenID Connect provider for browser sign-in (authorization code flow with PKCE).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProvider {
    /// The organization that signs in through it.
    pub org_id: String,
    /// The issuer: its discovery document is at `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Scopes asked for; `openid` is always sent.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The ID token claim that holds the user's email, which names the user in the organization.
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "email".into(), "profile".into()]
}

fn default_user_claim() -> String {
    "email".into()
}

/// Overrides from the command line; `None` leaves the layered value alone.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
}

impl Config {
    pub fn load(overrides: &Overrides) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(file) = &overrides.config_file {
            if !file.exists() {
                bail!("config file {} does not exist", file.display());
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed("SWITCHBOARD_").split("__").filter(|k| is_key(k.as_str())));
        if let Some(v) = overrides.listen {
            figment = figment.merge(Serialized::default("listen", v));
        }
        if let Some(v) = &overrides.data_dir {
            figment = figment.merge(Serialized::default("data_dir", v));
        }
        if let Some(v) = &overrides.database_url {
            figment = figment.merge(Serialized::default("database_url", v));
        }
        let config: Config = figment.extract().context("invalid configuration")?;
        config.validate()?;
        Ok(config)
    }

    /// The defaults with a few fields set: what tests and the benchmark start from.
    pub fn for_data_dir(data_dir: PathBuf) -> anyhow::Result<Self> {
        let mut config: Config = Figment::from(Toml::string(DEFAULTS)).extract().context("built-in defaults")?;
        config.data_dir = data_dir;
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        Ok(config)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(url) = self.database_url.as_deref().filter(|u| !u.is_empty())
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            bail!("database_url must be a postgres:// URL (leave it empty for the embedded SQLite database)");
        }
        if let Some(url) = self.database_url.as_deref().filter(|u| !u.is_empty()) {
            switchboard_store::PgTarget::parse(url).map_err(|e| anyhow::anyhow!("database_url: {}", e.detail))?;
        }
        if self.token_ttl_seconds == 0 || self.token_ttl_seconds > 86_400 {
            bail!("token_ttl_seconds must be between 1 and 86400");
        }
        if self.database_pool_size == 0 {
            bail!("database_pool_size must be at least 1");
        }
        let h = &self.http;
        if !(1..=3_600).contains(&h.header_read_timeout_seconds) || !(1..=86_400).contains(&h.keep_alive_idle_seconds) {
            bail!("http: header_read_timeout_seconds must be 1 to 3600, keep_alive_idle_seconds 1 to 86400");
        }
        let s = &self.sign_in;
        if s.session_idle_seconds == 0
            || s.session_absolute_seconds < s.session_idle_seconds
            || s.password_token_ttl_seconds == 0
            || s.failure_window_seconds == 0
            || s.max_failures_per_account == 0
            || s.max_failures_per_address == 0
        {
            bail!(
                "sign_in: times and limits must be at least 1, and session_absolute_seconds at least \
                 session_idle_seconds"
            );
        }
        for p in &s.oidc {
            if p.org_id.parse::<switchboard_domain::ids::OrgId>().is_err() || p.issuer.is_empty() {
                bail!("sign_in.oidc: {} needs an org_id (an organization id) and an issuer", p.issuer);
            }
        }
        let s = &self.stream;
        if s.heartbeat_seconds == 0 || s.send_buffer == 0 || s.replay_events < 0 || s.write_timeout_seconds == 0 {
            bail!(
                "stream: heartbeat_seconds, send_buffer and write_timeout_seconds must be at least 1, replay_events \
                 at least 0"
            );
        }
        let b = &self.channels.bot_framework;
        for (name, url) in [("openid_metadata_url", &b.openid_metadata_url), ("token_url", &b.token_url)] {
            if switchboard_domain::text::HttpUrl::parse(url.as_str()).is_err() {
                bail!("channels.bot_framework.{name} must be an absolute http or https URL");
            }
        }
        if b.issuer.is_empty() || b.token_scope.is_empty() {
            bail!("channels.bot_framework: issuer and token_scope must not be empty");
        }
        let (m, t) = (&self.channels.meta, &self.channels.telesign);
        for (name, url) in [("meta.graph_url", &m.graph_url), ("telesign.api_url", &t.api_url)] {
            if switchboard_domain::text::HttpUrl::parse(url.as_str()).is_err() {
                bail!("channels.{name} must be an absolute http or https URL");
            }
        }
        if m.graph_version.is_empty() || m.graph_version.contains('/') {
            bail!("channels.meta.graph_version must be a version such as v21.0");
        }
        let t = &self.channels.twilio;
        if switchboard_domain::text::HttpUrl::parse(t.api_base_url.as_str()).is_err() || t.max_media_bytes == 0 {
            bail!("channels.twilio: api_base_url must be an absolute http or https URL, max_media_bytes at least 1");
        }
        let g = &self.channels.google_business_messages;
        for (name, url) in [("api_url", &g.api_url), ("token_url", &g.token_url)] {
            if switchboard_domain::text::HttpUrl::parse(url.as_str()).is_err() {
                bail!("channels.google_business_messages.{name} must be an absolute http or https URL");
            }
        }
        if self.request_timeout_seconds == 0 {
            bail!("request_timeout_seconds must be at least 1");
        }
        let w = &self.webhooks;
        if w.retry_schedule_seconds.is_empty() || w.jitter_percent > 50 || w.concurrency == 0 || w.timeout_seconds == 0
        {
            bail!("webhooks: the retry schedule needs a step, jitter is at most 50%, concurrency and timeout >= 1");
        }
        let c = &self.cluster;
        // A leader steps down when a renewal has failed for lease - renew seconds; at least one whole renewal
        // period must fit in that, or it would step down between two good renewals.
        if !(c.renew_seconds >= 0.05 && c.lease_seconds > 2.0 * c.renew_seconds && c.lease_seconds <= 3_600.0) {
            bail!("cluster: renew_seconds must be at least 0.05 and lease_seconds more than twice it, at most 3600");
        }
        if !(0.01..=86_400.0).contains(&c.log_poll_seconds) {
            bail!("cluster: log_poll_seconds must be between 0.01 and 86400");
        }
        Ok(())
    }

    pub fn store(&self) -> switchboard_store::StoreConfig {
        match self.database_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => switchboard_store::StoreConfig::Postgres {
                url: url.to_string(),
                schema: None,
                pool_size: self.database_pool_size,
            },
            None => switchboard_store::StoreConfig::Sqlite { path: self.data_dir.join("switchboard.db") },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // figment's Jail fixes the closure's error type.
    #[allow(clippy::result_large_err)]
    fn layers_defaults_file_environment_and_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("switchboard.toml", "listen = \"127.0.0.1:9000\"\ntoken_ttl_seconds = 600\n")?;
            jail.set_env("SWITCHBOARD_TOKEN_TTL_SECONDS", "900");
            jail.set_env("SWITCHBOARD_LOG", "debug");
            jail.set_env("SWITCHBOARD_TEST_PG_URL", "postgres://elsewhere");
            jail.set_env("SWITCHBOARD_LISTN", "typo");
            let overrides = Overrides { config_file: Some("switchboard.toml".into()), ..Overrides::default() };
            let config = Config::load(&overrides).map_err(|e| e.to_string())?;
            assert_eq!(config.listen.port(), 9000, "the file overrides the defaults");
            assert_eq!(config.token_ttl_seconds, 900, "the environment overrides the file");
            assert_eq!(config.auth_cache_seconds, 30, "defaults fill the rest");
            assert_eq!(unknown_env_vars(), vec!["SWITCHBOARD_LISTN".to_string()]);
            let flags = Overrides { listen: Some("127.0.0.1:9100".parse().map_err(|_| "addr")?), ..overrides };
            assert_eq!(Config::load(&flags).map_err(|e| e.to_string())?.listen.port(), 9100, "flags win");
            assert_eq!((config.cluster.lease_seconds, config.cluster.renew_seconds), (15.0, 5.0));
            jail.set_env("SWITCHBOARD_CLUSTER__RENEW_SECONDS", "0.5");
            let renew = Config::load(&Overrides::default()).map_err(|e| e.to_string())?.cluster.renew_seconds;
            assert_eq!(renew, 0.5, "fractions of a second are allowed");
            jail.set_env("SWITCHBOARD_CLUSTER__RENEW_SECONDS", "8");
            assert!(Config::load(&Overrides::default()).is_err(), "a lease must outlast two renewals");
            jail.set_env("SWITCHBOARD_CLUSTER__RENEW_SECONDS", "5");
            jail.set_env("SWITCHBOARD_DATABASE_URL", "mysql://nope");
            assert!(Config::load(&Overrides::default()).is_err(), "a non-PostgreSQL URL is refused");
            jail.set_env("SWITCHBOARD_DATABASE_URL", "postgres://db.internal/app?sslmode=verify-everything");
            let refused = Config::load(&Overrides::default()).map(drop).map_err(|e| format!("{e:#}"));
            assert!(refused.as_ref().is_err_and(|e| e.contains("sslmode `verify-everything`")), "{refused:?}");
            jail.set_env("SWITCHBOARD_DATABASE_URL", "postgres://db.internal/app?sslmode=verify-full");
            let refused = Config::load(&Overrides::default()).map(drop).map_err(|e| format!("{e:#}"));
            assert!(refused.as_ref().is_err_and(|e| e.contains("needs sslrootcert")), "{refused:?}");
            jail.set_env("SWITCHBOARD_DATABASE_URL", "postgres://db.internal/app?sslmode=require&application_name=sb");
            assert!(
                Config::load(&Overrides::default()).is_ok(),
                "sslmode is taken with tokio-postgres's own parameters"
            );
            let bot = Config::load(&Overrides::default()).map_err(|e| e.to_string())?.channels.bot_framework;
            assert_eq!(bot.issuer, "https://api.botframework.com");
            assert_eq!(bot.token_scope, "https://api.botframework.com/.default");
            jail.set_env("SWITCHBOARD_CHANNELS__BOT_FRAMEWORK__TOKEN_URL", "http://127.0.0.1:9/token");
            let bot = Config::load(&Overrides::default()).map_err(|e| e.to_string())?.channels.bot_framework;
            assert_eq!(bot.token_url, "http://127.0.0.1:9/token", "nested keys are set from the environment");
            jail.set_env("SWITCHBOARD_CHANNELS__BOT_FRAMEWORK__OPENID_METADATA_URL", "not a url");
            assert!(Config::load(&Overrides::default()).is_err(), "the metadata URL must be a URL");
            Ok(())
        });
    }
}
