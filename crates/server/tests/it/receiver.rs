//! A webhook receiver for tests: an HTTP server on 127.0.0.1 that records every request and answers with the
//! status it is told to.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, Uri},
    response::IntoResponse,
};

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: serde_json::Value,
    pub raw: String,
    /// What the receiver answered.
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    /// Answered instead of 200 while set, with an optional Retry-After.
    failing: Option<(u16, Option<String>)>,
    /// While set, each request is recorded and then waits for the gate to open before it is answered.
    gate: Option<Arc<tokio::sync::Semaphore>>,
    /// Requests waiting at the gate now.
    held: usize,
}

#[derive(Clone)]
pub struct Receiver {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
    arrived: Arc<tokio::sync::Notify>,
}

type Shared = (Arc<Mutex<Inner>>, Arc<tokio::sync::Notify>);

async fn record(
    State((inner, arrived)): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let (status, retry_after, gate) = {
        let _wake = Wake(arrived);
        let mut inner = inner.lock().unwrap();
        let (status, retry_after) = inner.failing.clone().unwrap_or((200, None));
        inner.received.push(Received {
            path: uri.path().to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
                .collect(),
            body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
            raw: String::from_utf8_lossy(&body).into_owned(),
            status,
        });
        let gate = inner.gate.clone();
        inner.held += usize::from(gate.is_some());
        (status, retry_after, gate)
    };
    if let Some(gate) = gate {
        // Recorded as received, and answered only once the gate opens: a test acts while it is in flight.
        let _open = gate.acquire().await.unwrap();
        inner.lock().unwrap().held -= 1;
    }
    let mut response = (StatusCode::from_u16(status).unwrap(), "ok").into_response();
    if let Some(after) = retry_after {
        response.headers_mut().insert("retry-after", after.parse().unwrap());
    }
    response
}

/// Tells waiters a request was recorded, once the handler is done with the lock.
struct Wake(Arc<tokio::sync::Notify>);

impl Drop for Wake {
    fn drop(&mut self) {
        self.0.notify_waiters();
    }
}

impl Receiver {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let arrived = Arc::new(tokio::sync::Notify::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(record).with_state((inner.clone(), arrived.clone()));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, inner, arrived }
    }

    /// Answer `status` (and `Retry-After`) from now on, or 200 again with `None`.
    pub fn fail_with(&self, failing: Option<(u16, Option<&str>)>) {
        self.inner.lock().unwrap().failing = failing.map(|(s, r)| (s, r.map(str::to_string)));
    }

    /// Holds every request unanswered until [`Receiver::open`].
    pub fn hold(&self) {
        self.inner.lock().unwrap().gate = Some(Arc::new(tokio::sync::Semaphore::new(0)));
    }

    /// Answers the requests held, and those after them, at once.
    pub fn open(&self) {
        if let Some(gate) = self.inner.lock().unwrap().gate.take() {
            gate.add_permits(tokio::sync::Semaphore::MAX_PERMITS >> 1);
        }
    }

    /// How many requests are held unanswered now.
    pub fn held(&self) -> usize {
        self.inner.lock().unwrap().held
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// The requests it accepted (answered 2xx).
    pub fn accepted(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| (200..300).contains(&r.status)).collect()
    }

    /// Waits for requests until `done` holds for what was received (at most 20 s of real time); panics otherwise.
    pub async fn until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let waited = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                // Registered before looking, so a request recorded in between still wakes this waiter.
                let arrived = self.arrived.notified();
                let received = self.received();
                if done(&received) {
                    return received;
                }
                arrived.await;
            }
        })
        .await;
        waited.unwrap_or_else(|_| panic!("the receiver never saw {what}; it got {:#?}", self.received()))
    }
}
