//! Leases: a named role that one node holds at a time, for a while, and keeps by renewing it (routing's leadership
//! when several nodes share a PostgreSQL database). Taking, renewing and releasing are each one statement, so two
//! nodes racing for a lease cannot both win it.
//!
//! Expiry is read on the database's clock, never a node's: nodes whose clocks disagree still agree on whether a
//! lease has run out. Durations are milliseconds.

use switchboard_domain::Error;

use crate::{
    params,
    sql::{Backend, Tx},
};

/// A live lease, as [`holder`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Who holds it (a node id).
    pub holder: String,
    /// Where the holder takes requests that need it.
    pub address: String,
    /// How long it still lives unless renewed, by the database's clock.
    pub expires_in_ms: i64,
}

/// The database's clock in epoch milliseconds. On PostgreSQL `clock_timestamp()`, not `now()`: the latter is the
/// start of the transaction, which may have waited for a connection.
fn now_ms(tx: &Tx<'_>) -> &'static str {
    match tx.backend() {
        Backend::Postgres => "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT",
        Backend::Sqlite => "CAST(unixepoch('now', 'subsec') * 1000 AS INTEGER)",
    }
}

/// Takes lease `name` for `holder` for `ttl_ms`, or renews it when `holder` has it already. Succeeds (true) only
/// when the lease is free, expired or `holder`'s; otherwise changes nothing and returns false.
pub fn acquire(tx: &mut Tx<'_>, name: &str, holder: &str, address: &str, ttl_ms: i64) -> Result<bool, Error> {
    let now = now_ms(tx);
    let sql = format!(
        "INSERT INTO leases (name, holder, address, expires_at) VALUES ($1, $2, $3, {now} + $4) \
         ON CONFLICT (name) DO UPDATE \
         SET holder = excluded.holder, address = excluded.address, expires_at = excluded.expires_at \
         WHERE leases.holder = excluded.holder OR leases.expires_at <= {now} \
         RETURNING expires_at"
    );
    Ok(tx.query_opt(&sql, params![name, holder, address, ttl_ms])?.is_some())
}

/// Gives lease `name` up if `holder` has it, so that another node may take it at once; returns whether it did.
pub fn release(tx: &mut Tx<'_>, name: &str, holder: &str) -> Result<bool, Error> {
    Ok(tx.execute("DELETE FROM leases WHERE name = $1 AND holder = $2", params![name, holder])? > 0)
}

/// Who holds lease `name` now; `None` when nobody does or the last holder's lease has expired.
pub fn holder(tx: &mut Tx<'_>, name: &str) -> Result<Option<Holder>, Error> {
    let now = now_ms(tx);
    let sql = format!("SELECT holder, address, expires_at - {now} FROM leases WHERE name = $1 AND expires_at > {now}");
    tx.query_opt(&sql, params![name])?
        .map(|row| Ok(Holder { holder: row.string(0)?, address: row.string(1)?, expires_in_ms: row.i64(2)? }))
        .transpose()
}
