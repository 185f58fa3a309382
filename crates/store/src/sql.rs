//! The thin layer that lets one piece of store logic run on both backends: parameter values, rows, and a `Tx`
//! that executes the same SQL (written with `$1` placeholders, epoch-millisecond integers and TEXT ids) on a
//! SQLite connection or a PostgreSQL transaction.

use std::{borrow::Cow, error::Error as StdError};

use bytes::{BufMut, BytesMut};
use switchboard_domain::{Code, Error, Timestamp};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

/// A parameter bound to a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Bool(bool),
    Text(Cow<'a, str>),
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<usize> for Value<'_> {
    fn from(v: usize) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}
impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(Cow::Borrowed(v))
    }
}
impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Text(Cow::Borrowed(v))
    }
}
impl From<String> for Value<'_> {
    fn from(v: String) -> Self {
        Value::Text(Cow::Owned(v))
    }
}
impl From<Timestamp> for Value<'_> {
    fn from(v: Timestamp) -> Self {
        Value::Int(v.millis())
    }
}
impl<'a, T: Into<Value<'a>>> From<Option<T>> for Value<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

macro_rules! id_values {
    ($($t:ty),+) => {$(
        impl From<$t> for Value<'_> {
            fn from(v: $t) -> Self {
                Value::Text(Cow::Owned(v.to_string()))
            }
        }
        impl From<&$t> for Value<'_> {
            fn from(v: &$t) -> Self {
                Value::Text(Cow::Owned(v.to_string()))
            }
        }
    )+};
}
use switchboard_domain::ids::*;
id_values!(
    OrgId,
    UserId,
    ApiKeyId,
    ClientId,
    ContactId,
    ChannelId,
    WorkstreamId,
    QueueId,
    ConversationId,
    MessageId,
    SubscriptionId,
    DeliveryId,
    AttachmentId,
    SessionId,
    MessagingAccountId,
    MessageTemplateId,
    OutboundConfigId
);

/// Builds a parameter list: `params![org_id, name, now]`.
#[macro_export]
macro_rules! params {
    ($($v:expr),* $(,)?) => { &[$($crate::sql::Value::from($v)),*][..] };
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Real(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
            Value::Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*b))),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

impl ToSql for Value<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Value::Null => return Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out)?,
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out)?,
                Type::BOOL => (*i != 0).to_sql(ty, out)?,
                Type::FLOAT8 => (*i as f64).to_sql(ty, out)?,
                _ => i.to_sql(ty, out)?,
            },
            Value::Real(f) => f.to_sql(ty, out)?,
            Value::Bool(b) => match *ty {
                Type::INT2 | Type::INT4 | Type::INT8 => Value::Int(i64::from(*b)).to_sql(ty, out)?,
                _ => b.to_sql(ty, out)?,
            },
            Value::Text(s) => match *ty {
                Type::JSONB => {
                    out.put_u8(1);
                    out.put_slice(s.as_bytes());
                    IsNull::No
                }
                _ => {
                    out.put_slice(s.as_bytes());
                    IsNull::No
                }
            },
        };
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A value read back from a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl<'a> tokio_postgres::types::FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(match *ty {
            Type::INT8 => Cell::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Cell::Int(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT2 => Cell::Int(i64::from(i16::from_sql(ty, raw)?)),
            Type::BOOL => Cell::Int(i64::from(bool::from_sql(ty, raw)?)),
            Type::FLOAT8 => Cell::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Cell::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::NUMERIC => return Err("NUMERIC columns are not used; store integers or float8".into()),
            Type::JSONB => Cell::Text(std::str::from_utf8(raw.get(1..).unwrap_or_default())?.to_string()),
            _ => Cell::Text(std::str::from_utf8(raw)?.to_string()),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(Cell::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// One result row, decoded eagerly so that both backends hand the same thing to the store logic.
#[derive(Debug, Clone)]
pub struct Row(Vec<Cell>);

fn decode(idx: usize, want: &str) -> Error {
    Error::internal(format!("column {idx}: expected {want}"))
}

impl Row {
    pub fn i64(&self, idx: usize) -> Result<i64, Error> {
        match self.0.get(idx) {
            Some(Cell::Int(i)) => Ok(*i),
            _ => Err(decode(idx, "integer")),
        }
    }

    pub fn opt_i64(&self, idx: usize) -> Result<Option<i64>, Error> {
        match self.0.get(idx) {
            Some(Cell::Null) => Ok(None),
            _ => self.i64(idx).map(Some),
        }
    }

    pub fn f64(&self, idx: usize) -> Result<f64, Error> {
        match self.0.get(idx) {
            Some(Cell::Real(f)) => Ok(*f),
            Some(Cell::Int(i)) => Ok(*i as f64),
            _ => Err(decode(idx, "real")),
        }
    }

    pub fn bool(&self, idx: usize) -> Result<bool, Error> {
        self.i64(idx).map(|i| i != 0)
    }

    pub fn ts(&self, idx: usize) -> Result<Timestamp, Error> {
        self.i64(idx).map(Timestamp::from_millis)
    }

    pub fn opt_ts(&self, idx: usize) -> Result<Option<Timestamp>, Error> {
        Ok(self.opt_i64(idx)?.map(Timestamp::from_millis))
    }

    pub fn str(&self, idx: usize) -> Result<&str, Error> {
        match self.0.get(idx) {
            Some(Cell::Text(s)) => Ok(s),
            _ => Err(decode(idx, "text")),
        }
    }

    pub fn string(&self, idx: usize) -> Result<String, Error> {
        self.str(idx).map(str::to_string)
    }

    pub fn opt_string(&self, idx: usize) -> Result<Option<String>, Error> {
        match self.0.get(idx) {
            Some(Cell::Null) => Ok(None),
            _ => self.string(idx).map(Some),
        }
    }

    /// A value stored by its string form: ids and closed enums.
    pub fn parse<T: std::str::FromStr>(&self, idx: usize) -> Result<T, Error> {
        self.str(idx)?.parse().map_err(|_| decode(idx, std::any::type_name::<T>()))
    }

    pub fn opt_parse<T: std::str::FromStr>(&self, idx: usize) -> Result<Option<T>, Error> {
        match self.0.get(idx) {
            Some(Cell::Null) => Ok(None),
            _ => self.parse(idx).map(Some),
        }
    }

    /// A closed enum stored as its snake_case name.
    pub fn enumeration<T>(&self, idx: usize, parse: fn(&str) -> Option<T>) -> Result<T, Error> {
        parse(self.str(idx)?).ok_or_else(|| decode(idx, std::any::type_name::<T>()))
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self, idx: usize) -> Result<T, Error> {
        serde_json::from_str(self.str(idx)?).map_err(Error::internal)
    }
}

/// Which database a transaction runs on; some statements (row claims, upserts of sequences) differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// An open transaction on either backend. Store logic takes `&mut Tx` and never knows which.
pub enum Tx<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres {
        tx: PgSession<'a>,
        rt: &'a tokio::runtime::Handle,
        /// Statements from [`Tx::execute_later`] not yet sent, or whose answers have not been read yet.
        pending: Vec<PendingStatement<'a>>,
        /// The transaction appended to the event log: its commit tells the log's readers, on every node.
        wrote_events: bool,
    },
}

/// A pipelined statement's answer, still to be read.
pub type PendingStatement<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'a>>;

impl<'a> Tx<'a> {
    pub(crate) fn postgres(tx: PgSession<'a>, rt: &'a tokio::runtime::Handle) -> Self {
        Tx::Postgres { tx, rt, pending: Vec::new(), wrote_events: false }
    }
}

/// What a PostgreSQL `Tx` runs its statements on: a transaction, or, for a read, the connection itself. A read
/// needs no transaction of its own: under READ COMMITTED each statement takes its own snapshot either way, and
/// BEGIN and COMMIT would be two more round trips for every read.
#[derive(Clone, Copy)]
pub enum PgSession<'a> {
    Transaction(&'a deadpool_postgres::Transaction<'a>),
    Connection(&'a deadpool_postgres::ClientWrapper),
}

impl PgSession<'_> {
    async fn prepare_cached(self, sql: &str) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
        match self {
            PgSession::Transaction(t) => t.prepare_cached(sql).await,
            PgSession::Connection(c) => c.prepare_cached(sql).await,
        }
    }

    async fn execute(
        self,
        stmt: &tokio_postgres::Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        match self {
            PgSession::Transaction(t) => t.execute(stmt, params).await,
            PgSession::Connection(c) => c.execute(stmt, params).await,
        }
    }

    async fn query(
        self,
        stmt: &tokio_postgres::Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        match self {
            PgSession::Transaction(t) => t.query(stmt, params).await,
            PgSession::Connection(c) => c.query(stmt, params).await,
        }
    }

    async fn batch_execute(self, script: &str) -> Result<(), tokio_postgres::Error> {
        match self {
            PgSession::Transaction(t) => t.batch_execute(script).await,
            PgSession::Connection(c) => c.batch_execute(script).await,
        }
    }
}

impl Value<'_> {
    fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Int(i) => Value::Int(i),
            Value::Real(f) => Value::Real(f),
            Value::Bool(b) => Value::Bool(b),
            Value::Text(s) => Value::Text(Cow::Owned(s.into_owned())),
        }
    }
}

/// Reads the answers of pipelined statements, in the order they were sent; the first failure is the one reported
/// (the statements after it fail only because the transaction is aborted).
fn read_answers(rt: &tokio::runtime::Handle, pending: &mut Vec<PendingStatement<'_>>) -> Result<(), Error> {
    if pending.is_empty() {
        return Ok(());
    }
    after_pending(rt, pending, std::future::ready(Ok(())))
}

/// Sends the pending statements and then `last` together, so that a statement that waits for its answer takes one
/// round trip with the held ones before it rather than one more; returns `last`'s answer, or the first failure.
fn after_pending<T>(
    rt: &tokio::runtime::Handle,
    pending: &mut Vec<PendingStatement<'_>>,
    last: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, Error> {
    let mut statements = std::mem::take(pending);
    let mut answers: Vec<Option<Result<u64, tokio_postgres::Error>>> = statements.iter().map(|_| None).collect();
    let mut last = std::pin::pin!(last);
    let mut last_answer = None;
    rt.block_on(std::future::poll_fn(|cx| {
        let mut all = true;
        // In order, every time: a statement is sent when first polled, so the first round sends them in order.
        for (statement, answer) in statements.iter_mut().zip(answers.iter_mut()) {
            if answer.is_none() {
                match statement.as_mut().poll(cx) {
                    std::task::Poll::Ready(a) => *answer = Some(a),
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if last_answer.is_none() {
            match last.as_mut().poll(cx) {
                std::task::Poll::Ready(a) => last_answer = Some(a),
                std::task::Poll::Pending => all = false,
            }
        }
        if all { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    }));
    if let Some(e) = answers.into_iter().flatten().find_map(Result::err) {
        return Err(pg_error(e));
    }
    match last_answer {
        Some(answer) => answer.map_err(pg_error),
        None => Err(Error::internal("a pipelined statement was not answered")),
    }
}

/// Prepares `sql` (once per connection); on failure the pending statements' answers are read first, so that the
/// transaction's first failure is the one reported.
fn prepare(
    rt: &tokio::runtime::Handle,
    tx: PgSession<'_>,
    pending: &mut Vec<PendingStatement<'_>>,
    sql: &str,
) -> Result<tokio_postgres::Statement, Error> {
    match rt.block_on(tx.prepare_cached(sql)) {
        Ok(stmt) => Ok(stmt),
        Err(e) => {
            read_answers(rt, pending)?;
            Err(pg_error(e))
        }
    }
}

thread_local! {
    static TRANSLATED: std::cell::RefCell<std::collections::HashMap<String, std::rc::Rc<str>>> = Default::default();
}

/// [`sqlite_sql`], remembered per thread: the same few statements run on every write.
fn sqlite_sql_cached(sql: &str) -> std::rc::Rc<str> {
    TRANSLATED.with(|cache| {
        if let Some(hit) = cache.borrow().get(sql) {
            return hit.clone();
        }
        let translated: std::rc::Rc<str> = sqlite_sql(sql).into();
        let mut cache = cache.borrow_mut();
        // Statements are few and fixed; the bound only guards against a caller building SQL from data.
        if cache.len() < 1_024 {
            cache.insert(sql.to_string(), translated.clone());
        }
        translated
    })
}

/// Rewrites `$N` placeholders as SQLite's `?N`: SQLite reads `$1` as a *named* parameter whose index is its order
/// of first appearance, which silently misbinds `SET a = $2 WHERE id = $1`.
fn sqlite_sql(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn sqlite_error(e: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(f, ref msg) = e
        && f.code == rusqlite::ErrorCode::ConstraintViolation
        && matches!(
            f.extended_code,
            rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        )
    {
        return Error::new(Code::AlreadyExists, msg.clone().unwrap_or_else(|| "unique constraint".into()));
    }
    Error::internal(e)
}

fn pg_error(e: tokio_postgres::Error) -> Error {
    if let Some(db) = e.as_db_error()
        && *db.code() == tokio_postgres::error::SqlState::UNIQUE_VIOLATION
    {
        return Error::new(Code::AlreadyExists, db.message().to_string());
    }
    Error::internal(e)
}

impl<'a> Tx<'a> {
    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres { .. } => Backend::Postgres,
        }
    }

    /// Runs a statement; returns the number of rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[Value<'_>]) -> Result<u64, Error> {
        match self {
            Tx::Sqlite(conn) => {
                let mut stmt = conn.prepare_cached(&sqlite_sql_cached(sql)).map_err(sqlite_error)?;
                let n = stmt.execute(rusqlite::params_from_iter(params.iter())).map_err(sqlite_error)?;
                Ok(n as u64)
            }
            Tx::Postgres { tx, rt, pending, .. } => {
                let stmt = prepare(rt, *tx, pending, sql)?;
                let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                after_pending(rt, pending, tx.execute(&stmt, &refs))
            }
        }
    }

    /// Runs a statement whose outcome the caller does not read. On PostgreSQL it is held and sent, in order, with
    /// the others held, when the transaction next waits for an answer: they travel with that statement (a query,
    /// an [`Tx::execute`], or the commit) instead of one round trip each, and a failure surfaces there. On SQLite
    /// it runs at once.
    pub fn execute_later(&mut self, sql: &str, params: &[Value<'_>]) -> Result<(), Error> {
        match self {
            Tx::Sqlite(_) => self.execute(sql, params).map(drop),
            Tx::Postgres { tx, rt, pending, .. } => {
                // Prepared now (once per connection), so that the statement itself goes out when first polled:
                // the order in which pipelined statements are sent is the order they run in.
                let stmt = prepare(rt, *tx, pending, sql)?;
                let params: Vec<Value<'static>> = params.iter().cloned().map(Value::into_owned).collect();
                let tx = *tx;
                pending.push(Box::pin(async move {
                    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                    tx.execute(&stmt, &refs).await
                }));
                Ok(())
            }
        }
    }

    /// Notes that the transaction appends to the event log ([`crate::events`] calls it).
    pub(crate) fn note_events_written(&mut self) {
        if let Tx::Postgres { wrote_events, .. } = self {
            *wrote_events = true;
        }
    }

    /// Whether the transaction appended to the event log (tracked on PostgreSQL only, where a commit of events is
    /// announced to the other nodes).
    pub(crate) fn wrote_events(&self) -> bool {
        matches!(self, Tx::Postgres { wrote_events: true, .. })
    }

    /// Waits for the answers of the statements sent with [`Tx::execute_later`]: before a commit.
    pub(crate) fn finish_pending(&mut self) -> Result<(), Error> {
        match self {
            Tx::Sqlite(_) => Ok(()),
            Tx::Postgres { rt, pending, .. } => read_answers(rt, pending),
        }
    }

    pub fn query(&mut self, sql: &str, params: &[Value<'_>]) -> Result<Vec<Row>, Error> {
        match self {
            Tx::Sqlite(conn) => {
                let mut stmt = conn.prepare_cached(&sqlite_sql_cached(sql)).map_err(sqlite_error)?;
                let width = stmt.column_count();
                let mut rows = stmt.query(rusqlite::params_from_iter(params.iter())).map_err(sqlite_error)?;
                let mut out = Vec::new();
                while let Some(r) = rows.next().map_err(sqlite_error)? {
                    let mut cells = Vec::with_capacity(width);
                    for i in 0..width {
                        use rusqlite::types::ValueRef;
                        cells.push(match r.get_ref(i).map_err(sqlite_error)? {
                            ValueRef::Null => Cell::Null,
                            ValueRef::Integer(i) => Cell::Int(i),
                            ValueRef::Real(f) => Cell::Real(f),
                            ValueRef::Text(t) | ValueRef::Blob(t) => {
                                Cell::Text(String::from_utf8_lossy(t).into_owned())
                            }
                        });
                    }
                    out.push(Row(cells));
                }
                Ok(out)
            }
            Tx::Postgres { tx, rt, pending, .. } => {
                let stmt = prepare(rt, *tx, pending, sql)?;
                let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                let rows = after_pending(rt, pending, tx.query(&stmt, &refs))?;
                rows.iter()
                    .map(|r| (0..r.len()).map(|i| r.try_get::<_, Cell>(i).map_err(pg_error)).collect())
                    .map(|cells: Result<Vec<Cell>, Error>| cells.map(Row))
                    .collect()
            }
        }
    }

    pub fn query_opt(&mut self, sql: &str, params: &[Value<'_>]) -> Result<Option<Row>, Error> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    pub fn query_one(&mut self, sql: &str, params: &[Value<'_>]) -> Result<Row, Error> {
        self.query_opt(sql, params)?.ok_or_else(|| Error::internal("expected a row"))
    }

    /// One row of `table` by id within `org`; `not_found` when it is absent or another organization's.
    pub fn get_in_org<T>(
        &mut self,
        table: &str,
        columns: &str,
        id: Value<'_>,
        org: OrgId,
        not_found: Code,
        from_row: impl Fn(&Row) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let sql = format!("SELECT {columns} FROM {table} WHERE id = $1 AND org_id = $2");
        from_row(&self.query_opt(&sql, &[id, Value::from(org)])?.ok_or_else(|| Error::not_found(not_found))?)
    }

    /// A page of `table` within `org`: ids after `after` (a cursor), in id order, at most `limit`.
    pub fn list_in_org<T>(
        &mut self,
        table: &str,
        columns: &str,
        org: OrgId,
        after: Option<impl std::fmt::Display>,
        limit: usize,
        from_row: impl Fn(&Row) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        let sql = format!("SELECT {columns} FROM {table} WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3");
        let after = after.map(|a| a.to_string()).unwrap_or_default();
        self.query(&sql, &[Value::from(org), Value::from(after), Value::from(limit)])?.iter().map(from_row).collect()
    }

    /// Runs a script of statements with no parameters (migrations).
    pub fn batch(&mut self, script: &str) -> Result<(), Error> {
        match self {
            Tx::Sqlite(conn) => conn.execute_batch(script).map_err(sqlite_error),
            Tx::Postgres { tx, rt, pending, .. } => {
                read_answers(rt, pending)?;
                rt.block_on(tx.batch_execute(script)).map_err(pg_error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_explicit_sqlite_indexes() {
        assert_eq!(sqlite_sql("UPDATE t SET a = $2 WHERE id = $1"), "UPDATE t SET a = ?2 WHERE id = ?1");
        assert_eq!(sqlite_sql("SELECT 1"), "SELECT 1");
    }
}
