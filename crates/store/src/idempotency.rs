//! `Idempotency-Key`: the first response to a key is saved in the same transaction as the effect, so a retry
//! gets that response back and nothing happens twice.

use serde::Serialize;
use switchboard_domain::{Code, Error, Timestamp, ids::OrgId};

use crate::{params, sql::Tx};

/// A client's key, scoped to who sent it, with a fingerprint of the request it was first used for.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub principal: String,
    pub key: String,
    pub fingerprint: String,
}

/// The response to return: the fresh one, or the one saved when the key was first used.
#[derive(Debug, Clone)]
pub struct Outcome<R> {
    pub status: u16,
    pub body: Body<R>,
    pub replayed: bool,
}

/// A response body: the value itself, or its JSON when it had to be serialized to be saved.
#[derive(Debug, Clone)]
pub enum Body<R> {
    Value(R),
    Json(String),
}

impl<R: Serialize> Outcome<R> {
    /// The body as JSON text.
    pub fn to_json(&self) -> Result<String, Error> {
        match &self.body {
            Body::Value(v) => serde_json::to_string(v).map_err(Error::internal),
            Body::Json(s) => Ok(s.clone()),
        }
    }
}

/// Runs `effect` once per key: a repeat with the same request returns the saved response, a repeat with another
/// request is refused, and a failed effect saves nothing (so the client may retry it).
///
/// Without a key the body is returned as a value, to be serialized off the writer; with one it is serialized
/// here, once, to be saved.
pub fn run<R: Serialize>(
    tx: &mut Tx<'_>,
    org: OrgId,
    key: Option<&IdempotencyKey>,
    now: Timestamp,
    effect: impl FnOnce(&mut Tx<'_>) -> Result<(u16, R), Error>,
) -> Result<Outcome<R>, Error> {
    let Some(key) = key else {
        let (status, value) = effect(tx)?;
        return Ok(Outcome { status, body: Body::Value(value), replayed: false });
    };
    let saved = tx.query_opt(
        "SELECT fingerprint, status, response FROM idempotency_keys WHERE org_id = $1 AND principal = $2 AND idem_key = $3",
        params![org, &key.principal, &key.key],
    )?;
    if let Some(row) = saved {
        if row.str(0)? != key.fingerprint {
            return Err(Error::new(
                Code::IdempotencyKeyReused,
                "this Idempotency-Key was first used with a different request; use a new key for a new request",
            ));
        }
        let status = u16::try_from(row.i64(1)?).map_err(Error::internal)?;
        return Ok(Outcome { status, body: Body::Json(row.string(2)?), replayed: true });
    }
    let (status, value) = effect(tx)?;
    let body = serde_json::to_string(&value).map_err(Error::internal)?;
    tx.execute(
        "INSERT INTO idempotency_keys (org_id, principal, idem_key, fingerprint, status, response, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        params![org, &key.principal, &key.key, &key.fingerprint, i64::from(status), &body, now],
    )
    .map_err(|e| match e.code {
        // Only on PostgreSQL, where two nodes can run the same key at once: the other one won and committed.
        Code::AlreadyExists => {
            Error::new(Code::AlreadyExists, "a request with this Idempotency-Key is in progress; retry it")
        }
        _ => e,
    })?;
    Ok(Outcome { status, body: Body::Json(body), replayed: false })
}

/// [`run`] under two keys: the client's `Idempotency-Key` and a request id of the protocol's own (the Messaging
/// API's `conversationrequestid` and activity `id`). A key seen before answers as [`run`] does; a request id seen
/// before answers with its saved response, which a new `Idempotency-Key` then keeps too.
pub fn run_keyed_and_identified<R: Serialize>(
    tx: &mut Tx<'_>,
    org: OrgId,
    key: Option<&IdempotencyKey>,
    request_id: Option<&IdempotencyKey>,
    now: Timestamp,
    effect: impl FnOnce(&mut Tx<'_>) -> Result<(u16, R), Error>,
) -> Result<Outcome<serde_json::Value>, Error> {
    let mut by_request_id = false;
    let mut outcome = run(tx, org, key, now, |tx| {
        let first = run(tx, org, request_id, now, effect)?;
        by_request_id = first.replayed;
        let value = match first.body {
            Body::Value(v) => serde_json::to_value(v),
            Body::Json(s) => serde_json::from_str(&s),
        }
        .map_err(Error::internal)?;
        Ok((first.status, value))
    })?;
    outcome.replayed |= by_request_id;
    Ok(outcome)
}
