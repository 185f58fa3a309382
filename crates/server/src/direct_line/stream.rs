//! The `streamUrl` WebSocket: the conversation's activities pushed as ActivitySet frames (`{"activities": [...],
//! "watermark": "N"}`), the agents' typing included, and an empty frame as a keep-alive. The URL carries a token of
//! its own that works for a minute (the client asks for a fresh URL each time it reconnects) and the watermark to
//! start after. One socket per conversation: a second one closes the first with the reason `collision`.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    extract::{
        Path, Query, State,
        ws::{Message as WsMessage, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchboard_domain::{Code, Error, ids::ConversationId};
use switchboard_store::direct_line as store;
use tokio::sync::oneshot;

use super::{DlResult, Grant, PAGE, activities, forbidden};
use crate::{
    AppState,
    stream::{
        Frame, Registration, close, later,
        visibility::{CUSTOMER_EVENT_TYPES, Filter, Viewer},
    },
};

/// The audience of the tokens in stream URLs.
const STREAM_AUDIENCE: &str = "switchboard-directline-stream";
/// How long a stream URL may wait to be opened.
const STREAM_TOKEN_SECONDS: i64 = 60;
/// The close code of a socket replaced by another on the same conversation (reason `collision`).
pub const CLOSE_COLLISION: u16 = 1008;
/// The close code when the connection fell behind or the server stops: the client reconnects from its watermark.
const CLOSE_GOING_AWAY: u16 = 1001;

#[derive(Debug, Serialize, Deserialize)]
struct StreamClaims {
    iss: String,
    aud: String,
    sub: String,
    org: String,
    channel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    iat: i64,
    exp: i64,
}

/// A `streamUrl` for the grant's conversation, starting after the watermark `at`.
pub(super) fn url(app: &AppState, grant: &Grant, at: i64) -> Result<String, Error> {
    let iat = app.clock.now().millis() / 1000;
    let claims = StreamClaims {
        iss: app.auth.signer.issuer().to_string(),
        aud: STREAM_AUDIENCE.into(),
        sub: grant.conversation.to_string(),
        org: grant.org.to_string(),
        channel: grant.channel.to_string(),
        user: grant.user.clone(),
        iat,
        exp: iat + STREAM_TOKEN_SECONDS,
    };
    let token = app.auth.signer.sign(&claims)?;
    let base = app.auth.signer.issuer();
    let ws = match base.strip_prefix("https://") {
        Some(rest) => format!("wss://{rest}"),
        None => format!("ws://{}", base.strip_prefix("http://").unwrap_or(base)),
    };
    Ok(format!("{ws}/v3/directline/conversations/{}/stream?watermark={at}&t={token}", grant.conversation))
}

/// The open streams of this node by conversation, so that a new one replaces the old.
#[derive(Default)]
pub struct Sockets {
    open: Mutex<HashMap<ConversationId, (u64, oneshot::Sender<()>)>>,
    next: AtomicU64,
}

impl Sockets {
    /// Registers a new socket for the conversation, telling the one there to close; answers its number and what
    /// tells it to close in turn.
    fn claim(&self, id: ConversationId) -> (u64, oneshot::Receiver<()>) {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, previous)) = open.insert(id, (number, tx)) {
            let _ = previous.send(());
        }
        (number, rx)
    }

    fn release(&self, id: ConversationId, number: u64) {
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if open.get(&id).is_some_and(|(n, _)| *n == number) {
            open.remove(&id);
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// The stream token (part of the `streamUrl`).
    pub t: Option<String>,
    /// The watermark to start after (part of the `streamUrl`).
    pub watermark: Option<String>,
}

/// The conversation's activities as a WebSocket: open the `streamUrl` as it is given (it is pre-authorized).
#[utoipa::path(get, path = "/v3/directline/conversations/{id}/stream", operation_id = "direct_line_stream",
    tag = "direct-line", params(("id" = String, Path), StreamQuery),
    responses((status = 101, description = "Switching to the WebSocket protocol"), (status = 400), (status = 401),
        (status = 403, description = "`TokenExpired`: the URL is older than a minute; ask for a fresh one"),
        (status = 404)))]
pub(super) async fn stream(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    Query(query): Query<StreamQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> DlResult<Response> {
    let token = query.t.ok_or_else(|| Error::new(Code::Unauthenticated, "open the streamUrl as it was given"))?;
    let claims: StreamClaims =
        app.auth.signer.verify_for(&token, STREAM_AUDIENCE).map_err(|_| forbidden("the stream URL is not valid"))?;
    if claims.exp <= app.clock.now().millis() / 1000 {
        return Err(Error::new(Code::TokenExpired, "the stream URL has expired; get a fresh one").into());
    }
    if claims.sub != raw {
        return Err(forbidden("the stream URL is for another conversation").into());
    }
    let malformed = || forbidden("the stream URL is not valid");
    let grant = Grant {
        org: claims.org.parse().map_err(|_| malformed())?,
        channel: claims.channel.parse().map_err(|_| malformed())?,
        conversation: claims.sub.parse().map_err(|_| malformed())?,
        user: claims.user,
        name: None,
    };
    let at = super::watermark(&app, &grant, query.watermark.as_deref()).await?;
    let ws = ws.map_err(|e| Error::new(Code::NotAcceptable, format!("open the stream as a WebSocket: {e}")))?;
    // Subscribed before the log is read: what commits in between comes both ways, and goes out once (by sequence).
    let filter = Filter {
        types: CUSTOMER_EVENT_TYPES.iter().map(|t| (*t).to_string()).collect(),
        conversations: HashSet::from([grant.conversation]),
    };
    let viewer = Viewer::Customer { conversation: grant.conversation };
    let registration = app.stream.subscribe(grant.org, viewer, filter).await?;
    Ok(ws.on_upgrade(move |socket| drive(socket, app, grant, at, registration)).into_response())
}

async fn send_set(socket: &mut WebSocket, activities: Vec<Value>, watermark: i64) -> bool {
    let frame = json!({ "activities": activities, "watermark": watermark.to_string() });
    socket.send(WsMessage::Text(frame.to_string().into())).await.is_ok()
}

async fn drive(mut socket: WebSocket, app: AppState, grant: Grant, at: i64, registration: Registration) {
    let id = grant.conversation;
    let (number, mut replaced) = app.direct_line.sockets.claim(id);
    let reason = run(&mut socket, &app, &grant, at, registration, &mut replaced).await;
    app.direct_line.sockets.release(id, number);
    if let Some((code, reason)) = reason {
        close(socket, code, reason).await;
    }
}

/// Serves the socket until it ends; answers how to close it, if the server closes it.
async fn run(
    socket: &mut WebSocket,
    app: &AppState,
    grant: &Grant,
    at: i64,
    registration: Registration,
    replaced: &mut oneshot::Receiver<()>,
) -> Option<(u16, &'static str)> {
    let Registration { mut rx, lagging, .. } = registration;
    // The log after the watermark first, a page a frame.
    let mut sent = at;
    let mut render = activities::Renderer::new(grant, app.links.clone());
    loop {
        let set = match activities::after(app, grant, sent, PAGE, &mut render).await {
            Ok(set) => set,
            Err(_) => return Some((CLOSE_GOING_AWAY, "the log could not be read; reconnect")),
        };
        let reached = set.watermark.parse().unwrap_or(sent);
        if !set.activities.is_empty() && !send_set(socket, set.activities, reached).await {
            return None;
        }
        if reached == sent {
            break;
        }
        sent = reached;
    }
    let heartbeat = Duration::from_secs(app.stream.config.heartbeat_seconds);
    let clock = app.clock.clone();
    let mut beat_at = later(clock.now(), heartbeat);
    let mut closing = app.stream.closing();
    loop {
        tokio::select! {
            frame = rx.recv() => {
                if lagging.load(Ordering::Acquire) {
                    return Some((CLOSE_GOING_AWAY, "lagging: reconnect from the watermark"));
                }
                let Some(frame) = frame else { return Some((CLOSE_GOING_AWAY, "lagging: reconnect from the watermark")) };
                let (activity, watermark) = match live(app, grant, &mut render, &frame, sent).await {
                    Live::Skip => continue,
                    Live::Resync => return Some((CLOSE_GOING_AWAY, "reconnect from the watermark")),
                    Live::Show(activity, watermark) => (activity, watermark),
                };
                sent = watermark;
                if !send_set(socket, vec![activity], sent).await {
                    return None;
                }
            }
            () = clock.sleep_until(beat_at) => {
                beat_at = later(clock.now(), heartbeat);
                if socket.send(WsMessage::Text(String::new().into())).await.is_err() {
                    return None;
                }
            }
            received = socket.recv() => match received {
                // The client's own keep-alives are empty frames; it sends nothing else here.
                Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => {}
            },
            _ = &mut *replaced => return Some((CLOSE_COLLISION, "collision")),
            _ = closing.changed() => return Some((CLOSE_GOING_AWAY, "the server is shutting down")),
        }
    }
}

enum Live {
    Skip,
    Resync,
    /// An activity, and the watermark after it.
    Show(Value, i64),
}

/// What a live frame of the hub shows the client.
async fn live(app: &AppState, grant: &Grant, render: &mut activities::Renderer, frame: &Frame, sent: i64) -> Live {
    let Ok(parsed) = serde_json::from_str::<Value>(frame.json()) else { return Live::Skip };
    let kind = parsed.get("type").and_then(Value::as_str).unwrap_or_default();
    let data = parsed.get("data").cloned().unwrap_or(Value::Null);
    match frame {
        Frame::Resync(_) => Live::Resync,
        Frame::Signal(_) if kind == "conversation.typing" => match render.typing(&data) {
            Some(activity) => Live::Show(activity, sent),
            None => Live::Skip,
        },
        Frame::Signal(_) => Live::Skip,
        Frame::Event { .. } => {
            let Some(seq) = parsed.get("sequence").and_then(Value::as_i64) else { return Live::Skip };
            if seq <= sent {
                return Live::Skip;
            }
            let at = serde_json::from_value(parsed.get("created_at").cloned().unwrap_or(Value::Null))
                .unwrap_or_else(|_| app.clock.now());
            let from_customer = data.pointer("/sender/kind").and_then(Value::as_str) == Some("customer");
            let client = if kind == "message.created" && from_customer {
                let id = grant.conversation;
                let found = app.store.read(move |tx| store::client_activities(tx, id, seq - 1)).await;
                found.ok().and_then(|mut m| m.remove(&seq))
            } else {
                None
            };
            match render.entry(kind, seq, &data, at, client) {
                Some(activity) => Live::Show(activity, seq),
                None => Live::Skip,
            }
        }
    }
}
