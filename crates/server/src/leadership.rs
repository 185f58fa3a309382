//! Which node routes conversations and delivers webhooks.
//!
//! Both run on in-memory state that must exist once per deployment: routing's engines (two engines would offer one
//! conversation to two agents) and the delivery engine's lanes (two engines would send every webhook twice, out of
//! order). So one node does that work at a time, the *leader*:
//!
//! - **On SQLite** one process owns the data directory: it always leads, at no cost.
//! - **On PostgreSQL** the leader holds the lease named [`LEASE`] in the database (`switchboard_store::leases`). Every
//!   node tries to take or renew it every `cluster.renew_seconds`, on real time (never `app.clock`, which tests
//!   drive by hand). A leader whose renewals have failed for `lease_seconds - renew_seconds` stops leading, so it has
//!   stopped before its lease can expire and another node can take it: two leaders never overlap while the clocks
//!   run at the same rate. A node that stops leading asks its workers to finish what they hold (for half a renewal
//!   interval, after which they are aborted), then drops every organization's engine; the next leader rebuilds them
//!   from the store (pending offers are withdrawn and made again).
//! - **Requests that need the engines** (see [`ON_LEADER`]) are forwarded by the other nodes to the leader's
//!   address (`cluster.advertise_url`) and its answer is passed back unchanged; with no leader known they are
//!   answered 503 `no_routing_leader` with `Retry-After`. Everything else is served by whichever node gets it.

use std::{sync::RwLock, time::Duration};

use axum::{
    body::Bytes,
    extract::{FromRequest, MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use switchboard_domain::{Code, Error};
use switchboard_store::{Backend, Store, leases};
use tokio::{
    sync::{oneshot, watch},
    task::AbortHandle,
    time::Instant,
};

use crate::{AppState, config::Config, delivery, error::ApiError, routing};

/// The lease the leader holds.
pub const LEASE: &str = "routing";

/// Marks a request one node forwarded to another (its value is the forwarding node's id), so that a request is never
/// forwarded twice: a node that gets a forwarded request it cannot serve answers 503.
pub static FORWARDED_BY: HeaderName = HeaderName::from_static("x-switchboard-forwarded-by");

/// The endpoints served only by the leader, as (method, route): those that use routing's engines (`app.routing`)
/// or nudge the delivery engine (`app.deliveries`: a changed endpoint must apply to the next event, a replay be
/// picked up). Everything else works from the store on any node. Two tests keep this list honest: each entry is a
/// documented route, and every handler that calls `app.routing` or `app.deliveries` is listed.
pub const ON_LEADER: &[(&str, &str)] = &[
    // Routing: presence, capacity, members, queue settings, rules, offers, positions, availability.
    ("GET", "/v1/agents/{id}/presence"),
    ("PUT", "/v1/agents/{id}/presence"),
    ("GET", "/v1/agents/{id}/routing"),
    ("PUT", "/v1/agents/{id}/routing"),
    ("PUT", "/v1/queues/{id}/members"),
    ("PATCH", "/v1/queues/{id}"),
    ("PUT", "/v1/workstreams/{id}/rules"),
    ("GET", "/v1/agents/{id}/offers"),
    ("POST", "/v1/offers/{id}/accept"),
    ("POST", "/v1/offers/{id}/reject"),
    ("GET", "/v1/conversations/{id}/queue-position"),
    ("GET", "/v1/chat/conversations/{id}/queue-position"),
    ("POST", "/api/data/v9.2/CCaaS_GetRepresentativeAvailabilityBeforeConversation"),
    ("POST", "/api/data/v9.2/CCaaS_GetRepresentativeAvailabilityForConversation"),
    ("POST", "/api/data/v9.2/CCaaS_GetPresence"),
    ("POST", "/api/data/v9.2/CCaaS_ModifyAgentPresence"),
    // Routing configuration that the engines hold.
    ("POST", "/v1/presences"),
    ("PATCH", "/v1/presences/{id}"),
    ("DELETE", "/v1/presences/{id}"),
    ("PATCH", "/v1/capacity-profiles/{id}"),
    ("DELETE", "/v1/capacity-profiles/{id}"),
    ("GET", "/v1/agents/{id}/capacity-profiles"),
    ("PUT", "/v1/agents/{id}/capacity-profiles"),
    // Conversation actions routing carries out: transfer, pick, a pick workstream's accept, work items.
    ("POST", "/v1/conversations/{id}/transfer"),
    ("POST", "/v1/conversations/{id}/pick"),
    ("POST", "/v1/conversations/{id}/accept"),
    ("GET", "/v1/queues/{id}/work-items"),
    // The supervisor dashboard's live view of queues and agents.
    ("GET", "/v1/analytics/queues"),
    // Webhook endpoints and replays, which the delivery engine must hear of.
    ("POST", "/v1/webhook-subscriptions"),
    ("PATCH", "/v1/webhook-subscriptions/{id}"),
    ("DELETE", "/v1/webhook-subscriptions/{id}"),
    ("POST", "/v1/webhook-subscriptions/{id}/rotate-secret"),
    ("POST", "/v1/webhook-subscriptions/{id}/replay"),
    ("POST", "/v1/webhook-deliveries/{id}/replay"),
    ("POST", "/v1/channels"),
    ("PATCH", "/v1/channels/{id}"),
    // Bots: a new bot is a delivery endpoint; a bot's escalation routes its conversation.
    ("POST", "/v1/bots"),
    ("POST", "/bot-connector/v3/conversations/{id}/activities"),
    ("POST", "/bot-connector/v3/conversations/{id}/activities/{reply_to}"),
];

fn on_leader(method: &str, route: &str) -> bool {
    ON_LEADER.iter().any(|(m, r)| *m == method && *r == route)
}

/// This node's part in leadership, on `AppState`.
pub struct Leadership {
    node_id: String,
    /// Where the other nodes reach this one.
    address: String,
    /// Several nodes may share the database (PostgreSQL), so leadership is held by lease.
    clustered: bool,
    /// Whether this node leads now.
    leader: watch::Sender<bool>,
    /// The leader's address as the lease last said; `None` when no node is known to lead.
    leader_url: RwLock<Option<String>>,
    lease: Duration,
    renew: Duration,
    /// Forwards requests to the leader: no proxy, no redirects, the API's own time limit.
    http: reqwest::Client,
}

impl Leadership {
    /// `public_url` is this node's, the default of `cluster.advertise_url`.
    pub fn new(config: &Config, backend: Backend, public_url: &str) -> anyhow::Result<Self> {
        let clustered = backend == Backend::Postgres;
        let advertised = config.cluster.advertise_url.as_deref().filter(|u| !u.is_empty());
        if clustered && advertised.is_none() && config.public_url.as_deref().is_some_and(|u| !u.is_empty()) {
            // A public URL is often a load balancer in front of every node; forwarded there, a routing call may
            // land on another node that does not lead, which answers 503 rather than forward it again.
            tracing::warn!(
                public_url = public_url,
                "cluster.advertise_url is not set: other nodes forward routing calls to public_url, which must reach \
                 this node itself"
            );
        }
        let address = advertised.unwrap_or(public_url);
        let lease = Duration::try_from_secs_f64(config.cluster.lease_seconds)?;
        let renew = Duration::try_from_secs_f64(config.cluster.renew_seconds)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.request_timeout_seconds))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?;
        Ok(Self {
            node_id: uuid::Uuid::now_v7().to_string(),
            address: address.trim_end_matches('/').to_string(),
            clustered,
            leader: watch::Sender::new(!clustered),
            leader_url: RwLock::new(None),
            lease,
            renew,
            http,
        })
    }

    /// Whether this node routes and delivers now.
    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    /// Follows whether this node leads.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.leader.subscribe()
    }

    /// This node's id: the lease's holder while it leads.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Whether leadership is decided by lease (PostgreSQL) rather than given (SQLite).
    pub fn clustered(&self) -> bool {
        self.clustered
    }

    /// Where engine requests go now: this node's address while it leads, else the leader's as last read.
    pub fn leader_url(&self) -> Option<String> {
        if self.is_leader() {
            return Some(self.address.clone());
        }
        self.leader_url.read().ok().and_then(|u| u.clone())
    }

    fn set_leader_url(&self, url: Option<String>) {
        if let Ok(mut current) = self.leader_url.write() {
            *current = url;
        }
    }

    /// 503 `no_routing_leader`, with the time after which asking again may find a leader.
    fn no_leader(&self, detail: &str) -> Response {
        metrics::counter!("switchboard_forwarded_requests_total", "outcome" => "no_leader").increment(1);
        let mut response = ApiError(Error::new(Code::NoRoutingLeader, detail)).into_response();
        let seconds = self.renew.as_secs_f64().ceil().max(1.0).to_string();
        if let Ok(value) = HeaderValue::from_str(&seconds) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }

    /// The leader's address as the store says now, remembered for the next request.
    async fn refresh_leader(&self, store: &Store) -> Option<String> {
        match store.read(|tx| leases::holder(tx, LEASE)).await {
            Ok(holder) => {
                let url = holder.map(|h| h.address);
                self.set_leader_url(url.clone());
                url
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the routing lease failed");
                None
            }
        }
    }

    /// Sends `request` to the leader and returns its answer unchanged.
    async fn forward(&self, store: &Store, request: Request) -> Response {
        if request.headers().contains_key(&FORWARDED_BY) {
            return self.no_leader("the node this request was forwarded to does not lead routing either");
        }
        let known = self.leader_url.read().ok().and_then(|u| u.clone());
        // Between renewals a node may not have heard of a new leader yet: the store says.
        let leader = match known {
            Some(url) => Some(url),
            None => self.refresh_leader(store).await,
        };
        let Some(mut leader) = leader else {
            return self.no_leader("no node leads routing at the moment");
        };
        let method = request.method().clone();
        let target = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
        let mut headers = request.headers().clone();
        strip_hop_by_hop(&mut headers);
        headers.remove(header::HOST);
        if let Ok(id) = HeaderValue::from_str(&self.node_id) {
            headers.insert(FORWARDED_BY.clone(), id);
        }
        // Read under the API's body limit (the `DefaultBodyLimit` the router sets), as the leader will read it.
        let body = match Bytes::from_request(request, &()).await {
            Ok(body) => body,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return ApiError::new(Code::PayloadTooLarge, "the body is larger than this endpoint accepts")
                    .into_response();
            }
            Err(e) => return ApiError::new(Code::InvalidBody, e.body_text()).into_response(),
        };
        let send = |to: &str| {
            let url = format!("{to}{target}");
            self.http.request(method.clone(), url).headers(headers.clone()).body(body.clone()).send()
        };
        let mut sent = send(&leader).await;
        // A leader that cannot be reached may have been replaced since this node last renewed: ask the store, and
        // try the new one. The request never reached the old one, so sending it again is safe.
        if sent.as_ref().is_err_and(reqwest::Error::is_connect)
            && let Some(current) = self.refresh_leader(store).await.filter(|current| *current != leader)
        {
            leader = current;
            sent = send(&leader).await;
        }
        let answer = match sent {
            Ok(answer) => answer,
            Err(e) => {
                tracing::warn!(leader = %leader, error = %e, "forwarding to the routing leader failed");
                return self.no_leader(if e.is_connect() {
                    "the node that led routing does not answer; another takes over when its lease expires"
                } else {
                    "the leading node did not answer in time; the request may or may not have taken effect"
                });
            }
        };
        let status = answer.status();
        let mut headers = answer.headers().clone();
        let body = match answer.bytes().await {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(leader = %leader, error = %e, "reading the routing leader's answer failed");
                return self.no_leader("the leading node's answer broke off; the request may have taken effect");
            }
        };
        metrics::counter!("switchboard_forwarded_requests_total", "outcome" => "forwarded").increment(1);
        strip_hop_by_hop(&mut headers);
        // The body is passed on whole, so its length is set anew.
        headers.remove(header::CONTENT_LENGTH);
        let mut response = Response::new(axum::body::Body::from(body));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
    }
}

/// Removes the headers that describe one connection rather than the message (RFC 9110 §7.6.1).
fn strip_hop_by_hop(headers: &mut axum::http::HeaderMap) {
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
}

/// The route layer in front of the API: on the leader it passes every request through after one look at the watch;
/// on another node it forwards the [`ON_LEADER`] endpoints to the leader.
pub async fn forward_to_leader(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let leadership = &app.leadership;
    if leadership.is_leader() {
        return next.run(request).await;
    }
    let needs_leader = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|route| on_leader(request.method().as_str(), route.as_str()));
    if !needs_leader {
        return next.run(request).await;
    }
    leadership.forward(&app.store, request).await
}

/// Aborts a task when dropped: a spawned task otherwise outlives the handle of whoever started it.
pub struct AbortOnDrop(pub AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Tells a leader's workers to finish what they hold and stop: the node is stopping or no longer leads. A worker
/// checks it between units of work (a batch of the log, a pass of its timer), never in the middle of one, so what
/// it started is written down before it stops; whatever is still running at the hand-over deadline is aborted.
#[derive(Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// Resolves once the workers are asked to stop.
    pub async fn requested(&mut self) {
        // A dropped sender is no request: its workers are aborted with it instead.
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }
}

/// The leader's workers: routing's follower and timers, the auto-close timers and webhook delivery.
struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Google's Business Messages typing relay.
    _relays: Vec<AbortOnDrop>,
}

impl Workers {
    fn start(app: &AppState) -> Self {
        let (stop, asked) = watch::channel(false);
        let mut tasks = vec![delivery::start(app, Stop(asked.clone()))];
        tasks.extend(routing::start(app.clone(), Stop(asked)));
        // Best effort and holding nothing: stopped with the workers, not waited for.
        let relays = vec![AbortOnDrop(crate::channels::google_bm::start_typing(app).abort_handle())];
        Self { stop, tasks, _relays: relays }
    }

    /// Asks the workers to stop after what they hold and waits for them up to `grace`; any still running then is
    /// aborted. Finishing keeps a routing decision from being cut between the engine and its write, and a webhook
    /// sent from being sent again by the next leader for want of its record.
    async fn finish(self, grace: Duration) {
        let _ = self.stop.send(true);
        let aborts: Vec<AbortOnDrop> = self.tasks.iter().map(|t| AbortOnDrop(t.abort_handle())).collect();
        let all = futures_util::future::join_all(self.tasks);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!(?grace, "workers did not finish in time after leadership ended; aborted");
        }
        drop(aborts);
    }
}

/// How long a stopping single node (SQLite) gives its workers to finish what they hold.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Leadership while the server runs; [`Running::stop`] ends it.
pub struct Running {
    /// SQLite: the workers, always on.
    workers: Option<Workers>,
    /// PostgreSQL: the lease task and how to stop it.
    lease: Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
}

/// Starts leading (SQLite) or competing for the lease (PostgreSQL). On PostgreSQL it returns after the first try
/// for the lease, so that a node serves its first request knowing who leads: a lone node leads from the start
/// instead of answering 503 `no_routing_leader` until its lease task has run.
pub async fn start(app: &AppState) -> Running {
    if !app.leadership.clustered {
        return Running { workers: Some(Workers::start(app)), lease: None };
    }
    let (stop, stopped) = oneshot::channel();
    let (tried, first_try) = oneshot::channel();
    let task = tokio::spawn(hold_lease(app.clone(), stopped, tried));
    // The task's own timeout bounds this; an error means the task ended, which `stop` reports.
    let _ = first_try.await;
    Running { workers: None, lease: Some((stop, task)) }
}

impl Running {
    /// Stops the workers and, on PostgreSQL, gives the lease up so that another node takes over at once.
    pub async fn stop(self) {
        if let Some(workers) = self.workers {
            workers.finish(SHUTDOWN_GRACE).await;
        }
        if let Some((stop, task)) = self.lease {
            let _ = stop.send(());
            if let Err(e) = task.await {
                tracing::error!(error = %e, "the leadership task failed");
            }
        }
    }
}

/// What a renewal found.
enum Renewal {
    Held,
    /// Another node holds the lease (or nobody, if it expired just then).
    Refused(Option<leases::Holder>),
}

async fn renew(app: &AppState) -> Result<Renewal, Error> {
    let l = &app.leadership;
    let (holder, address) = (l.node_id.clone(), l.address.clone());
    let ttl = i64::try_from(l.lease.as_millis()).unwrap_or(i64::MAX);
    app.store
        .write(move |tx| {
            if leases::acquire(tx, LEASE, &holder, &address, ttl)? {
                return Ok(Renewal::Held);
            }
            Ok(Renewal::Refused(leases::holder(tx, LEASE)?))
        })
        .await
}

/// Takes and renews the lease until told to stop, leading while it holds it; then gives it up.
async fn hold_lease(app: AppState, mut stop: oneshot::Receiver<()>, tried: oneshot::Sender<()>) {
    let (lease, renew_every) = (app.leadership.lease, app.leadership.renew);
    let mut term = Term { app: app.clone(), workers: None, ends: None };
    let mut tried = Some(tried);
    loop {
        let started = Instant::now();
        // Not interrupted by `stop`: a renewal abandoned half way could still commit after the release below.
        match term.wait(tokio::time::timeout(renew_every, renew(&app))).await {
            // The database set the expiry after `started`, so the lease outlives this term by `renew_every`.
            Ok(Ok(Renewal::Held)) => term.lead_until(started + lease.saturating_sub(renew_every)),
            Ok(Ok(Renewal::Refused(holder))) => {
                // Another node leads already: nothing may be finished here any more.
                term.step_down("another node holds the lease", Duration::ZERO).await;
                app.leadership.set_leader_url(holder.map(|h| h.address));
            }
            Ok(Err(e)) => tracing::warn!(error = %e, source = ?e.source, "renewing the routing lease failed"),
            Err(_) => tracing::warn!("renewing the routing lease timed out"),
        }
        if let Some(tried) = tried.take() {
            let _ = tried.send(());
        }
        tokio::select! {
            () = term.wait(tokio::time::sleep_until(started + renew_every)) => {}
            _ = &mut stop => break,
        }
    }
    term.step_down("the server is stopping", term.grace()).await;
    let holder = app.leadership.node_id.clone();
    let released = tokio::time::timeout(renew_every, app.store.write(move |tx| leases::release(tx, LEASE, &holder)));
    match released.await {
        Ok(Ok(true)) => tracing::info!("released the routing lease"),
        Ok(Ok(false)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "releasing the routing lease failed; it expires on its own"),
        Err(_) => tracing::warn!("releasing the routing lease timed out; it expires on its own"),
    }
}

/// This node's term as leader: its workers and when it must stop unless renewed.
struct Term {
    app: AppState,
    workers: Option<Workers>,
    ends: Option<Instant>,
}

impl Term {
    fn lead_until(&mut self, ends: Instant) {
        self.ends = Some(ends);
        if self.workers.is_some() {
            return;
        }
        // An engine loaded by a request that raced the last step-down is stale: every engine starts from the store.
        self.app.routing.forget_all();
        self.workers = Some(Workers::start(&self.app));
        self.app.leadership.set_leader_url(Some(self.app.leadership.address.clone()));
        self.app.leadership.leader.send_replace(true);
        metrics::gauge!("switchboard_routing_leader").set(1.0);
        tracing::info!(node = %self.app.leadership.node_id, "this node now leads routing and webhook delivery");
    }

    /// How long workers may finish what they hold once the term ends: the lease outlives the term by a renewal
    /// interval (see `hold_lease`), so half of it leaves a margin before another node can lead.
    fn grace(&self) -> Duration {
        self.app.leadership.renew / 2
    }

    async fn step_down(&mut self, why: &str, grace: Duration) {
        self.ends = None;
        // First stop sending requests to the engines, then stop the workers, then drop the engines.
        self.app.leadership.leader.send_if_modified(|leads| std::mem::replace(leads, false));
        if let Some(workers) = self.workers.take() {
            workers.finish(grace).await;
            metrics::gauge!("switchboard_routing_leader").set(0.0);
            tracing::warn!(node = %self.app.leadership.node_id, why, "this node no longer leads routing");
        }
        // Also on every renewal while following: a request that passed the leader check just before a step-down
        // may have loaded an engine since.
        self.app.routing.forget_all();
    }

    /// Awaits `work`, stepping down meanwhile if the term ends before it is done.
    async fn wait<T>(&mut self, work: impl Future<Output = T>) -> T {
        let mut work = std::pin::pin!(work);
        loop {
            let Some(ends) = self.ends else { return work.await };
            tokio::select! {
                out = &mut work => return out,
                () = tokio::time::sleep_until(ends) => {
                    let grace = self.grace();
                    self.step_down("the lease was not renewed in time", grace).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_served_by_the_leader_is_a_documented_route() {
        let (_, openapi) = crate::api::documented();
        for (method, route) in ON_LEADER {
            let item = openapi.paths.paths.get(*route).unwrap_or_else(|| panic!("no route {route}"));
            let operation = match *method {
                "GET" => &item.get,
                "PUT" => &item.put,
                "POST" => &item.post,
                "PATCH" => &item.patch,
                "DELETE" => &item.delete,
                other => panic!("unexpected method {other}"),
            };
            assert!(operation.is_some(), "{route} has no {method}");
        }
    }

    /// Reads the API's handlers: one that uses the engines (`app.routing`, `app.deliveries`) must be listed, or a
    /// node that does not lead would build an engine of its own for it.
    #[test]
    fn every_handler_that_uses_an_engine_is_served_by_the_leader() {
        let sources = [
            include_str!("api/access.rs"),
            include_str!("api/analytics.rs"),
            include_str!("api/contacts.rs"),
            include_str!("api/conversations.rs"),
            include_str!("api/events.rs"),
            include_str!("api/lifecycle.rs"),
            include_str!("api/messaging_api.rs"),
            include_str!("api/org.rs"),
            include_str!("api/routing.rs"),
            include_str!("api/routing_config.rs"),
            include_str!("api/setup.rs"),
            include_str!("api/webhooks.rs"),
        ];
        let mut found = Vec::new();
        for source in sources {
            // Each documented handler: its annotation, then its code up to the next annotation.
            for chunk in source.split("#[utoipa::path(").skip(1) {
                let method = chunk.split(',').next().unwrap_or_default().trim().to_uppercase();
                let route = chunk.split("path = \"").nth(1).and_then(|r| r.split('"').next()).unwrap_or_default();
                let code: String = chunk.chars().filter(|c| !c.is_whitespace()).collect();
                if code.contains("app.routing.") || code.contains("app.deliveries.") {
                    found.push((method, route.to_string()));
                }
            }
        }
        assert!(found.len() > 20, "the scan found too little to be reading the handlers: {found:?}");
        for (method, route) in &found {
            assert!(on_leader(method, route), "{method} {route} uses an engine but is not in ON_LEADER");
        }
    }
}
