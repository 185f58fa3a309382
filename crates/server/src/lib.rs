//! Switchboard's server: the HTTP API, authentication, the web pages, and the benchmark. The binary in
//! `crates/cli` is a thin shell over [`Server`].

pub mod admin;
pub mod analytics;
pub mod api;
pub mod attachments;
pub mod auth;
pub mod bench;
pub mod channels;
pub mod clock;
pub mod config;
pub mod connections;
pub mod delivery;
pub mod demo;
pub mod direct_line;
mod docs;
pub mod error;
pub mod extract;
pub mod leadership;
mod ops;
pub mod outbox;
pub mod rate;
pub mod routing;
pub mod stream;
pub mod workspace;

use std::{future::Future, net::SocketAddr, ops::Deref, sync::Arc, time::Duration};

use anyhow::Context;
pub use config::Config;
use switchboard_store::{Store, access};
use tokio::net::TcpListener;

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

pub struct AppInner {
    pub store: Arc<Store>,
    pub auth: auth::Auth,
    pub config: Config,
    /// The time background work runs on (a manual clock in tests).
    pub clock: clock::Clock,
    /// Nudges the webhook delivery engine.
    pub deliveries: Arc<delivery::Handle>,
    pub links: attachments::Links,
    pub files: attachments::Files,
    /// Messaging API channels by id, briefly, so that a send costs no read before its write.
    pub messaging_channels:
        quick_cache::sync::Cache<switchboard_domain::ids::ChannelId, (switchboard_store::model::Channel, i64)>,
    /// Unified routing: each organization's engine.
    pub routing: Arc<routing::Routing>,
    /// What routing uses of this state (its engines among them), lent to its tasks and handlers.
    pub routing_deps: routing::Deps,
    /// Whether this node routes and delivers webhooks (always on SQLite; the lease holder on PostgreSQL).
    pub leadership: leadership::Leadership,
    /// The event log as the workers follow it.
    pub log: outbox::EventLog,
    /// The live stream's hub: this node's connections to `GET /v1/stream`.
    pub stream: Arc<stream::Hub>,
    /// Customer chats started per client address (`POST /v1/chat/{channel}/conversations`).
    pub chat_starts: rate::Windows,
    /// The Bot Framework channel's keys, tokens and channels.
    pub bot_framework: Arc<channels::bot_framework::BotFramework>,
    /// Google's Business Messages channel: its service accounts' tokens and its channels.
    pub google_bm: Arc<channels::google_bm::GoogleBusinessMessages>,
    /// WhatsApp through Meta's Cloud API: its channels and the Graph API calls made outside deliveries.
    pub meta: Arc<channels::meta::Meta>,
    /// SMS through TeleSign: its channels and validation's calls.
    pub telesign: Arc<channels::telesign::Telesign>,
    /// This node's Direct Line streams (one per conversation) and the tokens it verified.
    pub direct_line: direct_line::DirectLine,
    /// Agents' typing, sent to the channels that show it.
    pub typing: delivery::typing::Typing,
}

impl Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

/// Opens the configured store, applying migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::open(&config.store()).await.map_err(|e| anyhow::anyhow!("{e} ({:?})", e.source))?;
    Ok(store)
}

/// Loads (creating on first start) the signing key and builds the shared state.
pub async fn build_state(
    config: Config,
    store: Arc<Store>,
    public_url: String,
    clock: clock::Clock,
) -> anyhow::Result<AppState> {
    // reqwest is built without a default TLS provider so that no C crypto library is compiled; choose ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let secrets = auth::secrets::SecretBox::load(config.secret_key.as_deref(), &config.data_dir)?;
    let mut keys = store.read(access::signing_keys).await.map_err(|e| anyhow::anyhow!("loading signing keys: {e}"))?;
    if keys.is_empty() {
        // First start: make one. Another node may do the same; ensure_signing_key keeps exactly one.
        let candidate = auth::tokens::generate(&secrets, clock.now())?;
        keys = store
            .write(move |tx| access::ensure_signing_key(tx, candidate))
            .await
            .map_err(|e| anyhow::anyhow!("creating the signing key: {e}"))?;
    }
    let links = attachments::Links::new(
        secrets.derive_key("attachment links"),
        &public_url,
        config.attachments.link_ttl_seconds,
        clock.clone(),
    );
    let files = attachments::Files::new(&config.data_dir, &config.attachments.dir);
    let leadership = leadership::Leadership::new(&config, store.backend(), &public_url)?;
    let stream = Arc::new(stream::Hub::new(store.clone(), config.stream.clone(), &public_url, links.clone()));
    let signer = auth::tokens::Signer::new(public_url, &keys, &secrets).map_err(anyhow::Error::from)?;
    let external = auth::oidc::ExternalIssuers::new(&config.trusted_issuers)?;
    let auth = auth::Auth::new(
        signer,
        external,
        secrets,
        Duration::from_secs(config.auth_cache_seconds),
        Duration::from_secs(config.token_ttl_seconds),
        (
            Duration::from_secs(config.sign_in.session_idle_seconds),
            auth::oidc_sign_in::SignIns::new(&config.sign_in.oidc)?,
        ),
    );
    let deliveries = Arc::new(delivery::Handle::default());
    let routing_deps = routing::Deps::new(store.clone(), clock.clone());
    let routing = routing_deps.routing.clone();
    let messaging_channels = quick_cache::sync::Cache::new(10_000);
    let bot_framework =
        Arc::new(channels::bot_framework::BotFramework::new(&config.channels.bot_framework, clock.clone())?);
    let meta = Arc::new(channels::meta::Meta::new(&config.channels.meta)?);
    let telesign = Arc::new(channels::telesign::Telesign::new(&config.channels.telesign)?);
    let google_bm = Arc::new(channels::google_bm::GoogleBusinessMessages::new(
        &config.channels.google_business_messages,
        clock.clone(),
    )?);
    let log = outbox::EventLog::new(store.clone(), Duration::try_from_secs_f64(config.cluster.log_poll_seconds)?);
    let typing = delivery::typing::Typing::new(
        store.clone(),
        clock.clone(),
        &config,
        auth.signer.issuer(),
        auth.secrets.clone(),
        bot_framework.tokens.clone(),
        google_bm.tokens.clone(),
    )
    .map_err(|e| anyhow::anyhow!("the typing client: {e}"))?;
    Ok(AppState(Arc::new(AppInner {
        store,
        auth,
        config,
        clock,
        deliveries,
        links,
        files,
        messaging_channels,
        routing,
        routing_deps,
        leadership,
        log,
        stream,
        chat_starts: rate::Windows::new(rate::CHAT_STARTS_PER_WINDOW, rate::CHAT_START_WINDOW_SECONDS),
        bot_framework,
        meta,
        telesign,
        google_bm,
        direct_line: direct_line::DirectLine::default(),
        typing,
    })))
}

/// A bound, ready server.
pub struct Server {
    state: AppState,
    listener: TcpListener,
    addr: SocketAddr,
    limits: connections::Limits,
}

impl Server {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let store = Arc::new(open_store(&config).await?);
        Self::with_store(config, store).await
    }

    pub async fn with_store(config: Config, store: Arc<Store>) -> anyhow::Result<Self> {
        Self::with_clock(config, store, clock::Clock::System).await
    }

    /// A server whose background work runs on `clock`.
    pub async fn with_clock(config: Config, store: Arc<Store>, clock: clock::Clock) -> anyhow::Result<Self> {
        let limits = connections::Limits::new(&config.http, &config.stream, connections::raise_descriptor_limit());
        let listener = TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
        let addr = listener.local_addr()?;
        let public_url =
            config.public_url.clone().filter(|u| !u.is_empty()).unwrap_or_else(|| format!("http://{addr}"));
        let state = build_state(config, store, public_url.trim_end_matches('/').to_string(), clock).await?;
        Ok(Self { state, listener, addr, limits })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting and finishes the requests in flight.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let app = api::app(self.state.clone());
        // Routing and webhook delivery run on the leader only: at once on SQLite, with the lease on PostgreSQL.
        let leading = leadership::start(&self.state).await;
        let _analytics = analytics::start(&self.state);
        let hub = self
            .state
            .stream
            .start(&self.state.log)
            .await
            .map_err(|e| anyhow::anyhow!("starting the stream hub: {e}"))?;
        tracing::info!(max_connections = self.limits.max_connections, "serving");
        let stream = self.state.stream.clone();
        // Streams never finish on their own: they are ended first, so that the requests in flight can finish.
        let shutdown = async move {
            shutdown.await;
            stream.close();
        };
        connections::serve(self.listener, app, self.limits, shutdown).await;
        let _ = hub.await;
        // Deliveries in flight are attempted again after a restart (or by the next leader); receivers deduplicate
        // by webhook-id.
        leading.stop().await;
        Ok(())
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Installs the log subscriber (once per process).
pub fn init_tracing(format: config::LogFormat) {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_env("SWITCHBOARD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let result = match format {
        config::LogFormat::Json => fmt().json().with_env_filter(filter).with_current_span(true).try_init(),
        config::LogFormat::Text => fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init(),
    };
    drop(result);
}
