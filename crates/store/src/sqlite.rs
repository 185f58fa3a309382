//! The embedded backend. One writer thread owns the only write connection and commits jobs in batches (group
//! commit): every job runs in its own savepoint, so a failing job changes nothing, and no caller hears back
//! until the batch's COMMIT has been synced to the WAL (`synchronous=FULL`). Readers use a small pool of
//! read-only connections, which WAL lets run beside the writer.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    thread,
};

use switchboard_domain::Error;
use tokio::sync::{mpsc, oneshot};

use crate::sql::Tx;

/// Jobs waiting beyond this make callers wait to enqueue (back-pressure instead of unbounded memory).
const QUEUE_DEPTH: usize = 16_384;
/// Jobs committed together at most; bounds the latency a large burst adds to its first caller.
const MAX_BATCH: usize = 1_024;
const READERS: usize = 4;

type Reply = Box<dyn FnOnce(Option<&Error>) + Send>;
type Job = Box<dyn FnOnce(&mut Tx<'_>) -> (bool, Reply) + Send>;

pub struct SqliteStore {
    jobs: mpsc::Sender<Job>,
    path: PathBuf,
    readers: Arc<Mutex<Vec<rusqlite::Connection>>>,
    writer: Mutex<Option<thread::JoinHandle<()>>>,
}

fn open(path: &Path, read_only: bool) -> Result<rusqlite::Connection, Error> {
    use rusqlite::OpenFlags as F;
    let flags = if read_only {
        F::SQLITE_OPEN_READ_ONLY | F::SQLITE_OPEN_NO_MUTEX | F::SQLITE_OPEN_URI
    } else {
        F::SQLITE_OPEN_READ_WRITE | F::SQLITE_OPEN_CREATE | F::SQLITE_OPEN_NO_MUTEX | F::SQLITE_OPEN_URI
    };
    let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(Error::internal)?;
    // FULL makes every COMMIT fsync the WAL: an acknowledged write survives a crash or power loss.
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;
         PRAGMA cache_size=-32000; PRAGMA temp_store=MEMORY;",
    )
    .map_err(Error::internal)?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

fn exec(conn: &rusqlite::Connection, sql: &str) -> Result<(), Error> {
    conn.execute_batch(sql).map_err(Error::internal)
}

fn writer_loop(conn: rusqlite::Connection, mut rx: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut replies: Vec<Reply> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcome = (|| -> Result<(), Error> {
            exec(&conn, "BEGIN IMMEDIATE")?;
            for job in batch.drain(..) {
                exec(&conn, "SAVEPOINT job")?;
                let (ok, reply) = job(&mut Tx::Sqlite(&conn));
                if !ok {
                    exec(&conn, "ROLLBACK TO job")?;
                }
                exec(&conn, "RELEASE job")?;
                replies.push(reply);
            }
            exec(&conn, "COMMIT")
        })();
        if let Err(e) = &outcome {
            tracing::error!(error = %e, source = ?e.source, "sqlite batch failed; rolling back");
            let _ = conn.execute_batch("ROLLBACK");
            batch.clear();
        }
        for reply in replies.drain(..) {
            reply(outcome.as_ref().err());
        }
    }
    // Every sender is gone: the store is shutting down. Checkpoint so the WAL does not outgrow the database.
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
}

fn clone_error(e: &Error) -> Error {
    Error::new(e.code, e.detail.clone())
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self, Error> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(Error::internal)?;
        }
        let conn = open(path, false)?;
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let writer = thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx))
            .map_err(Error::internal)?;
        Ok(Self {
            jobs: tx,
            path: path.to_path_buf(),
            readers: Arc::new(Mutex::new(Vec::new())),
            writer: Mutex::new(Some(writer)),
        })
    }

    pub async fn write<R, F>(&self, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<R, Error> + Send + 'static,
    {
        let (reply_tx, reply_rx) = oneshot::channel();
        let job: Job = Box::new(move |tx: &mut Tx<'_>| {
            let result = f(tx);
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |commit_error: Option<&Error>| {
                let _ = reply_tx.send(match commit_error {
                    Some(e) => Err(clone_error(e)),
                    None => result,
                });
            });
            (ok, reply)
        });
        self.jobs.send(job).await.map_err(|_| Error::new(switchboard_domain::Code::Unavailable, "store closed"))?;
        reply_rx.await.map_err(|_| Error::new(switchboard_domain::Code::Unavailable, "store writer stopped"))?
    }

    pub async fn read<R, F>(&self, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<R, Error> + Send + 'static,
    {
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = readers.lock().map_err(|_| Error::internal("reader pool poisoned"))?.pop();
            let conn = match pooled {
                Some(c) => c,
                None => open(&path, true)?,
            };
            // One read transaction, so that several queries see one snapshot.
            exec(&conn, "BEGIN")?;
            let result = f(&mut Tx::Sqlite(&conn));
            let _ = conn.execute_batch("COMMIT");
            if let Ok(mut pool) = readers.lock()
                && pool.len() < READERS
            {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(Error::internal)?
    }
}

impl Drop for SqliteStore {
    /// Closes the job queue and waits for the writer to commit what it holds and checkpoint the WAL.
    fn drop(&mut self) {
        let (closed, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.jobs, closed));
        if let Some(handle) = self.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = handle.join();
        }
    }
}
