//! The live stream, `GET /v1/stream`: the conversation log's events as they become durable, and ephemeral signals
//! (typing, viewing), over a WebSocket or as Server-Sent Events, with the same frames. Served by every node: each
//! has its own [`Hub`]. The frames, close codes, resume and visibility rules are in docs/stream.md.

pub mod bench;
mod hub;
pub mod visibility;

use std::{
    collections::{HashSet, VecDeque},
    convert::Infallible,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use axum::{
    extract::{
        Path, State,
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    http::{HeaderMap, StatusCode, header},
    response::{
        IntoResponse, Response,
        sse::{Event as SseEvent, Sse},
    },
};
pub use hub::{Frame, Hub, Registration, Signal, SignalKind, Signals};
use serde::Deserialize;
use switchboard_domain::{
    Code, Error, Timestamp,
    ids::{ConversationId, OrgId},
    role::Role,
    text::{ShortText, split_coded},
};
use switchboard_store::{conversations, routing};
use tokio::sync::mpsc;
use utoipa_axum::{router::OpenApiRouter, routes};
use visibility::{Filter, Viewer};

use crate::{
    AppState,
    auth::Principal,
    error::{ApiError, ApiResult},
    extract::path_id,
    outbox,
};

/// WebSocket close code: the connection fell `stream.send_buffer` frames behind; reconnect with `?after=`.
pub const CLOSE_LAGGING: u16 = 4008;
/// WebSocket close code: the server is shutting down; reconnect (to another node) with `?after=`.
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Conversation ids one stream may name at most.
const MAX_CONVERSATIONS: usize = 100;
/// Events read per page when a resume replays the log.
const REPLAY_PAGE: usize = 1_000;
/// A WebSocket's buffers. tungstenite's defaults (128 KiB each, the read one allocated up front) would make an
/// idle connection cost a quarter of a megabyte; clients send only small signal frames.
const WS_READ_BUFFER: usize = 4 * 1024;
const WS_MAX_MESSAGE: usize = 16 * 1024;
/// How long a closing frame may take to reach a client that has stopped reading before the socket is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// The stream's routes, served by every node (never forwarded to the leader).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stream)).routes(routes!(typing))
}

/// The query of `GET /v1/stream`. Lists are comma-separated or repeated.
#[derive(Debug, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// WebSocket resume: the id of the last event received; the events after it are replayed first. (SSE sends
    /// `Last-Event-ID` instead.)
    pub after: Option<i64>,
    /// Event types to receive (`message.created`, a family such as `conversation.*`); absent: all the caller
    /// may see.
    #[param(value_type = Option<Vec<String>>, style = Form, explode = false)]
    pub types: Vec<ShortText>,
    /// Only these conversations' events (at most 100).
    #[param(value_type = Option<Vec<String>>, style = Form, explode = false)]
    pub conversation_id: Vec<ConversationId>,
}

fn bad_query(field: &str, detail: impl Into<String>) -> ApiError {
    ApiError(Error::field(Code::InvalidQuery, field, detail))
}

impl StreamQuery {
    fn parse(query: &str) -> Result<Self, ApiError> {
        let mut q = StreamQuery::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "after" => {
                    let after = value.parse().ok().filter(|a: &i64| *a >= 0);
                    q.after = Some(after.ok_or_else(|| bad_query("after", "`after` is an event id"))?);
                }
                "types" => {
                    for t in value.split(',') {
                        let t = ShortText::parse(t.to_string()).map_err(|e| {
                            let (code, detail) = split_coded(&e).unwrap_or((Code::InvalidQuery, &e));
                            ApiError(Error::field(code, "types", detail.to_string()))
                        })?;
                        q.types.push(t);
                        // Checked again by the catalogue's rule; stopping early keeps 10,000 values cheap.
                        if q.types.len() > 1_000 {
                            return Err(bad_query("types", "too many event types"));
                        }
                    }
                }
                "conversation_id" => {
                    for id in value.split(',') {
                        let id = id.parse().map_err(|_| bad_query("conversation_id", "not a conversation id"))?;
                        q.conversation_id.push(id);
                        if q.conversation_id.len() > MAX_CONVERSATIONS {
                            return Err(bad_query(
                                "conversation_id",
                                format!("at most {MAX_CONVERSATIONS} conversations"),
                            ));
                        }
                    }
                }
                other => return Err(bad_query(other, format!("`{other}` is not a parameter of the stream"))),
            }
        }
        Ok(q)
    }
}

/// Refuses a browser's request that rides the session cookie from an origin this server does not serve: a browser
/// sends the cookie on its own, whichever page opens the WebSocket. Programs send their key in `Authorization`,
/// which a page of another site cannot make a browser add; a request with no credentials at all gains nothing from
/// its origin and is refused by authentication (401). A cookie must come from `public_url`'s origin or
/// `stream.allowed_origins`.
fn check_origin(app: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if !crate::auth::signs_in_by_cookie(headers) {
        return Ok(());
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().unwrap_or_default().trim_end_matches('/');
    if app.stream.origins.iter().any(|o| o.eq_ignore_ascii_case(origin)) {
        Ok(())
    } else {
        Err(ApiError::new(Code::OriginNotAllowed, format!("the origin `{origin}` may not open the stream")))
    }
}

/// Subscribes to events and signals as they happen.
///
/// A WebSocket (`Upgrade: websocket`) or Server-Sent Events (`Accept: text/event-stream`), with the same frames:
/// each a JSON object with a `type`; events carry their `id` (the SSE `id:` too). Resume with `?after=<id>`
/// (WebSocket) or `Last-Event-ID` (SSE). See docs/stream.md for the frames, close codes and what each role sees.
#[utoipa::path(get, path = "/v1/stream", tag = "events", security(("bearer" = [])),
    params(StreamQuery, ("Last-Event-ID" = Option<i64>, Header, description = "SSE resume: the last event id received")),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 200, description = "An SSE stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "A bad filter, or a resume id newer than the log (`resume_id_ahead`)"),
        (status = 403, description = "A session cookie sent from an origin not allowed (`origin_not_allowed`)"),
        (status = 406, description = "Neither a WebSocket upgrade nor `Accept: text/event-stream`")))]
async fn stream(
    State(app): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    who: Result<Principal, ApiError>,
) -> ApiResult<Response> {
    // Before authentication: a page of another site learns nothing, not even whether its cookie was good.
    check_origin(&app, &headers)?;
    let who = who?;
    let mut query = StreamQuery::parse(uri.query().unwrap_or_default())?;
    let wants_ws = headers.contains_key(header::UPGRADE);
    if !wants_ws {
        let sse = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|m| m.trim().starts_with("text/event-stream")));
        if !sse {
            return Err(ApiError::new(
                Code::NotAcceptable,
                "open the stream as a WebSocket, or ask for Server-Sent Events with `Accept: text/event-stream`",
            ));
        }
        if let Some(last) = headers.get("last-event-id") {
            let last = last.to_str().ok().and_then(|v| v.trim().parse().ok()).filter(|a: &i64| *a >= 0);
            query.after = Some(last.ok_or_else(|| bad_query("Last-Event-ID", "`Last-Event-ID` is an event id"))?);
        }
    }
    let ws = match ws {
        Ok(ws) => Some(ws),
        Err(e) if wants_ws => return Err(ApiError::new(Code::InvalidQuery, format!("not a WebSocket upgrade: {e}"))),
        Err(_) => None,
    };
    let session = Session::open(&app, &who, query).await?;
    Ok(match ws {
        Some(ws) => ws
            .read_buffer_size(WS_READ_BUFFER)
            .write_buffer_size(0)
            .max_message_size(WS_MAX_MESSAGE)
            .on_upgrade(move |socket| drive_websocket(socket, session, app, Talker::Caller(who)))
            .into_response(),
        None => drive_sse(session, app).into_response(),
    })
}

/// What one connection is sent: the replay first, then the hub's live frames.
pub struct Session {
    rx: mpsc::Receiver<Frame>,
    lagging: Arc<std::sync::atomic::AtomicBool>,
    queued: VecDeque<Frame>,
    /// The resume id: live events at or below it are not sent. The client has them, from this node or another,
    /// though this node's hub may still hand some out (one ahead of this one, or late commits on PostgreSQL).
    skip_through: i64,
    /// A customer's session: each frame is reshaped to what a customer is shown, with attachment links signed.
    for_customer: Option<crate::attachments::Links>,
}

/// Why a session ended.
enum Ended {
    /// The connection fell behind and the hub dropped it.
    Lagging,
}

impl Session {
    async fn open(app: &AppState, who: &Principal, query: StreamQuery) -> Result<Self, ApiError> {
        // The stream also carries signals, which are not events of the log; `types` may name them.
        let signals = hub::SignalKind::ALL.map(hub::SignalKind::event_type);
        let types = crate::api::check_event_types(&query.types, &signals).map_err(|e| ApiError(e.at("types")))?;
        let filter = Filter { types, conversations: query.conversation_id.into_iter().collect() };
        let viewer = match (who.role, who.agent()) {
            // The hub fills in the agent's queues, and keeps them as they change.
            (Role::Agent, Some(agent)) => Viewer::Agent { id: agent, queues: HashSet::new() },
            (Role::Agent, None) => Viewer::Nobody,
            _ => Viewer::Organization,
        };
        Self::start(app, who.org_id, viewer, filter, query.after).await
    }

    async fn start(
        app: &AppState,
        org: OrgId,
        viewer: Viewer,
        filter: Filter,
        after: Option<i64>,
    ) -> Result<Self, ApiError> {
        if let Some(after) = after {
            let newest = app.store.read(routing::last_event_id).await?;
            if after > newest {
                return Err(ApiError::new(
                    Code::ResumeIdAhead,
                    format!("no event has the id {after} yet (the newest is {newest}); reconnect without it"),
                ));
            }
        }
        let hub = app.stream.clone();
        let reg = hub.subscribe(org, viewer, filter.clone()).await?;
        let viewer = reg.viewer;
        let mut session = Session {
            rx: reg.rx,
            lagging: reg.lagging,
            queued: VecDeque::new(),
            skip_through: after.unwrap_or(0),
            for_customer: None,
        };
        let Some(after) = after.filter(|a| *a < reg.cursor) else { return Ok(session) };
        if reg.cursor - after > hub.config.replay_events {
            session.queued.push_back(Frame::resync("replay_limit"));
            session.skip_through = 0;
            return Ok(session);
        }
        // Up to the hub's cursor: the hub hands out nothing at or below it again, but the ids it still awaits, which
        // are left to it (one that commits between the hub's read and this one would otherwise come twice). Every
        // event of the organization is read, the filter applied after: the table is moved by all of them.
        let mut replay = Vec::new();
        let mut from = after;
        loop {
            let page = app.log.range(org, from, Some(reg.cursor), &outbox::Filter::everything(), REPLAY_PAGE).await?;
            let full = page.len() == REPLAY_PAGE;
            from = page.last().map_or(from, |e| e.id);
            replay.extend(page.into_iter().filter(|e| !reg.awaited.contains(&e.id)));
            if !full {
                break;
            }
        }
        let mut table = reg.table.rewound(&replay);
        for event in &replay {
            let seen = table.observe(event);
            if filter.admits(&event.event_type, event.conversation_id) && seen.visible_to(&viewer, &event.data) {
                session.queued.push_back(Frame::event(event, &hub.links));
            }
        }
        Ok(session)
    }

    /// The next frame to send.
    async fn next(&mut self) -> Result<Frame, Ended> {
        loop {
            let frame = self.next_raw().await?;
            match &self.for_customer {
                None => return Ok(frame),
                Some(links) => {
                    if let Some(frame) = customer_frame(&frame, links) {
                        return Ok(frame);
                    }
                }
            }
        }
    }

    async fn next_raw(&mut self) -> Result<Frame, Ended> {
        if let Some(frame) = self.queued.pop_front() {
            return Ok(frame);
        }
        loop {
            // Once dropped for lagging, what is still buffered is not sent: the client resumes from the log.
            if self.lagging.load(Ordering::Acquire) {
                return Err(Ended::Lagging);
            }
            match self.rx.recv().await {
                Some(Frame::Event { id, .. }) if id <= self.skip_through => {}
                Some(frame) => return Ok(frame),
                None => return Err(Ended::Lagging),
            }
        }
    }
}

/// A frame a WebSocket client sends: a signal about a conversation it may see.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientFrame {
    #[serde(rename = "type")]
    kind: SignalKind,
    conversation_id: ConversationId,
}

/// Who a WebSocket's client frames (signals) come from.
enum Talker {
    Caller(Principal),
    /// The customer of one conversation, with a chat token.
    Customer {
        org: OrgId,
        conversation: ConversationId,
    },
}

async fn drive_websocket(mut socket: WebSocket, mut session: Session, app: AppState, who: Talker) {
    let heartbeat = Duration::from_secs(app.stream.config.heartbeat_seconds);
    let clock = app.clock.clone();
    let mut beat_at = later(clock.now(), heartbeat);
    let mut closing = app.stream.closing();
    loop {
        tokio::select! {
            frame = session.next() => match frame {
                Ok(frame) => {
                    if socket.send(Message::Text(frame.json().into())).await.is_err() {
                        return;
                    }
                }
                Err(Ended::Lagging) => {
                    close(socket, CLOSE_LAGGING, "lagging: resume with ?after=<last event id>").await;
                    return;
                }
            },
            () = clock.sleep_until(beat_at) => {
                beat_at = later(clock.now(), heartbeat);
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
            received = socket.recv() => match received {
                Some(Ok(Message::Text(text))) => {
                    if let Err(e) = client_frame(&app, &who, text.as_str()).await {
                        let answer = serde_json::json!({ "type": "stream.error", "code": e.code.as_str(), "detail": e.detail });
                        if socket.send(Message::Text(answer.to_string().into())).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = closing.changed() => {
                close(socket, CLOSE_GOING_AWAY, "the server is shutting down").await;
                return;
            }
        }
    }
}

pub(crate) fn later(now: Timestamp, by: Duration) -> Timestamp {
    Timestamp::from_millis(now.millis().saturating_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX)))
}

pub(crate) async fn close(mut socket: WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame { code, reason: reason.into() };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
}

async fn client_frame(app: &AppState, who: &Talker, text: &str) -> Result<(), Error> {
    let frame: ClientFrame = crate::extract::parse_json(text.as_bytes())?;
    match who {
        Talker::Caller(who) => publish_signal(app, who, frame.conversation_id, frame.kind).await,
        Talker::Customer { org, conversation } => {
            if frame.conversation_id != *conversation {
                return Err(Error::not_found(Code::ConversationNotFound));
            }
            if frame.kind != SignalKind::Typing {
                return Err(Error::field(Code::InvalidField, "type", "a customer sends `typing` only"));
            }
            customer_typing(app, *org, *conversation).await
        }
    }
}

/// Tells the agents who see the conversation that its customer is typing (`by: "customer"`).
pub async fn customer_typing(app: &AppState, org: OrgId, id: ConversationId) -> Result<(), Error> {
    app.stream
        .signals
        .publish(Signal {
            org_id: org,
            conversation_id: id,
            kind: SignalKind::Typing,
            by: CUSTOMER.into(),
            agent_id: None,
            at: app.clock.now(),
        })
        .await
}

/// How a customer is named in signals and events.
const CUSTOMER: &str = "customer";

/// The WebSocket subprotocol a customer's page asks for, next to its chat token (see `customer_stream`).
pub const CHAT_PROTOCOL: &str = "switchboard.chat";

/// A customer's stream of one conversation: its messages, state, queue place and agents' typing, each reshaped to
/// what a customer is shown (no ids of agents, queues or the organization; attachment links signed), and the
/// customer's typing sent back as client frames. Resumes with `?after=` as the agents' stream does.
pub async fn customer_stream(
    app: AppState,
    ws: WebSocketUpgrade,
    org: OrgId,
    conversation: ConversationId,
    after: Option<i64>,
) -> Result<Response, ApiError> {
    let filter = Filter {
        types: visibility::CUSTOMER_EVENT_TYPES.iter().map(|t| (*t).to_string()).collect(),
        conversations: HashSet::from([conversation]),
    };
    let mut session = Session::start(&app, org, Viewer::Customer { conversation }, filter, after).await?;
    session.for_customer = Some(app.links.clone());
    let talker = Talker::Customer { org, conversation };
    Ok(ws
        .protocols([CHAT_PROTOCOL])
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(WS_MAX_MESSAGE)
        .on_upgrade(move |socket| drive_websocket(socket, session, app, talker))
        .into_response())
}

/// What a customer is shown of a frame, or nothing (their own typing, which they know of).
fn customer_frame(frame: &Frame, links: &crate::attachments::Links) -> Option<Frame> {
    use serde_json::{Value, json};
    let parsed: Value = serde_json::from_str(frame.json()).ok()?;
    let kind = parsed.get("type").and_then(Value::as_str).unwrap_or_default();
    let data = parsed.get("data").cloned().unwrap_or(Value::Null);
    let shown = match kind {
        "message.created" => {
            let mut message = data;
            links.sign_message(&mut message);
            if let Some(sender) = message.get_mut("sender").and_then(Value::as_object_mut) {
                sender.remove("id");
            }
            message
        }
        "conversation.state_changed" => json!({
            "from": data.get("from"),
            "to": data.get("to"),
            "agent_name": data.pointer("/agent/name"),
        }),
        "conversation.typing" if data.get("by").and_then(Value::as_str) == Some(CUSTOMER) => return None,
        "conversation.typing" => json!({ "by": "agent" }),
        "routing.position_changed" | "routing.wait_estimate_changed" | "routing.queued" => json!({
            "position": data.get("position"),
            "estimated_wait_seconds": data.get("estimated_wait_seconds"),
        }),
        "conversation.transferred" => json!({}),
        _ => return Some(frame.clone()),
    };
    let mut out = json!({
        "type": kind,
        "conversation_id": parsed.get("conversation_id"),
        "data": shown,
        "created_at": parsed.get("created_at"),
    });
    Some(match frame {
        Frame::Event { id, .. } => {
            out["id"] = json!(id);
            Frame::Event { id: *id, json: out.to_string().into() }
        }
        _ => Frame::Signal(out.to_string().into()),
    })
}

async fn publish_signal(app: &AppState, who: &Principal, id: ConversationId, kind: SignalKind) -> Result<(), Error> {
    let (org, scope) = (who.org_id, who.conversations());
    app.store
        .read(move |tx| {
            conversations::check_visible(tx, org, id, scope, conversations::Access::Use)?;
            conversations::get(tx, org, id).map(drop)
        })
        .await?;
    app.stream
        .signals
        .publish(Signal {
            org_id: org,
            conversation_id: id,
            kind,
            by: who.label(),
            agent_id: who.agent(),
            at: app.clock.now(),
        })
        .await?;
    if kind == SignalKind::Typing {
        app.typing.agent_typing(org, id).await?;
    }
    Ok(())
}

fn drive_sse(session: Session, app: AppState) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>> {
    let heartbeat = Duration::from_secs(app.stream.config.heartbeat_seconds);
    let closing = app.stream.closing();
    let beat_at = later(app.clock.now(), heartbeat);
    let state = Some((session, app.clock.clone(), beat_at, closing));
    let frames = futures_util::stream::unfold(state, move |state| async move {
        let (mut session, clock, mut beat_at, mut closing) = state?;
        let event = tokio::select! {
            frame = session.next() => match frame {
                Ok(frame @ Frame::Event { id, .. }) => SseEvent::default().id(id.to_string()).data(frame.json()),
                Ok(frame @ Frame::Signal(_)) => SseEvent::default().event("signal").data(frame.json()),
                Ok(frame @ Frame::Resync(_)) => SseEvent::default().event("resync").data(frame.json()),
                Err(Ended::Lagging) => {
                    let frame = Frame::resync("lagging");
                    return Some((Ok(SseEvent::default().event("resync").data(frame.json())), None));
                }
            },
            () = clock.sleep_until(beat_at) => {
                beat_at = later(clock.now(), heartbeat);
                SseEvent::default().comment("")
            }
            _ = closing.changed() => return None,
        };
        Some((Ok(event), Some((session, clock, beat_at, closing))))
    });
    Sse::new(frames)
}

/// Tells those who may see the conversation that the caller is typing in it. Nothing is stored: the signal goes
/// to the streams connected now (`conversation.typing` frames), for clients that cannot send it on a WebSocket.
#[utoipa::path(post, path = "/v1/conversations/{id}/typing", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Sent to the streams connected now"), (status = 404)))]
async fn typing(State(app): State<AppState>, who: Principal, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = path_id(&id, Code::ConversationNotFound)?;
    publish_signal(&app, &who, id, SignalKind::Typing).await?;
    Ok(StatusCode::NO_CONTENT)
}
