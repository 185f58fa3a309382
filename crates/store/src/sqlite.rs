//! The embedded backend. One writer thread owns the only write connection and commits jobs in batches (group
//! commit): every job runs in its own savepoint, so a failing job changes nothing. Durability is pipelined: the
//! writer commits with `synchronous=NORMAL` (no fsync in COMMIT) and hands the batch's replies to a syncer
//! thread, which `fdatasync`s the WAL and only then answers the callers, while the writer already runs the next
//! batch. So a reply still means the write is on disk, but the writer never waits for the disk. Readers use a
//! small pool of read-only connections, which WAL lets run beside the writer.
//!
//! A reader may see a batch between its COMMIT and its sync (for the length of one fsync). Anything that acts
//! on stored rows outside the request that wrote them (the outbox) must only read events up to the durable
//! watermark the syncer publishes ([`SqliteStore::durable_events`]).

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    thread,
};

use switchboard_domain::Error;
use tokio::sync::mpsc;

use crate::{
    queued::{self, Job, Reply},
    sql::Tx,
};

/// A WAL sync slower than this is logged: writes and routing wait for it.
const SLOW_SYNC: std::time::Duration = std::time::Duration::from_millis(50);
/// Jobs waiting beyond this make callers wait to enqueue (back-pressure instead of unbounded memory).
const QUEUE_DEPTH: usize = 16_384;
/// Jobs committed together at most; bounds the latency a large burst adds to its first caller.
const MAX_BATCH: usize = 1_024;
/// Jobs run in one transaction for at most about this long (see `writer_loop`).
const BATCH_TIME: std::time::Duration = std::time::Duration::from_millis(4);
/// Reads running at once, each on a connection of its own that is kept for the next. Opening a connection parses
/// the whole schema, so reads beyond this wait for one rather than open another: under 64 concurrent requests,
/// opening and dropping connections had been a tenth of the server's CPU.
const READERS: usize = 8;

pub struct SqliteStore {
    jobs: mpsc::Sender<Job>,
    path: PathBuf,
    readers: Arc<Mutex<Vec<rusqlite::Connection>>>,
    /// One per reader connection: a read holds one while it runs.
    read_permits: Arc<tokio::sync::Semaphore>,
    writer: Mutex<Option<thread::JoinHandle<()>>>,
    syncer: Mutex<Option<thread::JoinHandle<()>>>,
    durable: tokio::sync::watch::Receiver<i64>,
    /// Ephemeral signals: one process owns the database, so they stay in it.
    signals: tokio::sync::broadcast::Sender<Arc<str>>,
}

fn open(path: &Path, read_only: bool) -> Result<rusqlite::Connection, Error> {
    // NORMAL: COMMIT does not fsync; the syncer thread does, before any caller is answered.
    use rusqlite::OpenFlags as F;
    let flags = if read_only {
        F::SQLITE_OPEN_READ_ONLY | F::SQLITE_OPEN_NO_MUTEX | F::SQLITE_OPEN_URI
    } else {
        F::SQLITE_OPEN_READ_WRITE | F::SQLITE_OPEN_CREATE | F::SQLITE_OPEN_NO_MUTEX | F::SQLITE_OPEN_URI
    };
    let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(Error::internal)?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;
         PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=0;",
    )
    .map_err(Error::internal)?;
    // Query-planner stability: without it SQLite re-plans a statement on every execution whenever a bound value
    // could change its plan (as `conversation_id = ?` against the unique log index does), which cost the writer
    // a fifth of its time re-parsing one SELECT per message. Our statements are written for one plan each.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map_err(Error::internal)?;
    conn.set_prepared_statement_cache_capacity(128);
    // SQLite's default page cache (2 MiB) is kept for the writer too. A 64 MiB one was tried: every commit ends
    // by scanning the cache's page table (`pcache1TruncateUnsafe`), which grows with the pages cached, and that
    // scan cost more than the re-reads it saved (a routing drain 15% slower, messages 10%).
    Ok(conn)
}

/// Runs a statement prepared once per connection (savepoints run for every job; re-parsing them adds up).
fn step(conn: &rusqlite::Connection, sql: &str) -> Result<(), Error> {
    conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(drop).map_err(Error::internal)
}

/// Past this many frames the writer checkpoints itself, so that the WAL can start over; below it the
/// checkpointer thread copies frames into the database in the background.
const WAL_RESTART_FRAMES: u64 = 65_536;
/// Frames written between nudges to the checkpointer.
const CHECKPOINT_EVERY_FRAMES: u64 = 10_000;

/// Replies of committed batches, answered once the WAL holding them is synced.
struct Committed {
    replies: Vec<Reply>,
    /// The newest event id once the batch committed: every event up to it is durable when the batch is.
    last_event: i64,
}

fn writer_loop(
    conn: rusqlite::Connection,
    mut rx: mpsc::Receiver<Job>,
    synced: std::sync::mpsc::Sender<Committed>,
    checkpoint: std::sync::mpsc::SyncSender<()>,
    wal_frames: Arc<std::sync::atomic::AtomicU64>,
) {
    let mut batch: std::collections::VecDeque<Job> = std::collections::VecDeque::with_capacity(MAX_BATCH);
    let mut nudged_at = 0u64;
    let mut last_frames = 0u64;
    let mut restart_tried_at = 0u64;
    crate::events::remember_positions_on_this_thread();
    let mut replies: Vec<Reply> = Vec::with_capacity(MAX_BATCH);
    while queued::gather(&mut batch, &mut rx, MAX_BATCH) {
        let started = std::time::Instant::now();
        let mut jobs = 0usize;
        let mut executed = started;
        let outcome = (|| -> Result<(), Error> {
            step(&conn, "BEGIN IMMEDIATE")?;
            while let Some(job) = batch.pop_front() {
                step(&conn, "SAVEPOINT job")?;
                let (ok, reply) = job(&mut Tx::Sqlite(&conn));
                if !ok {
                    crate::events::forget_positions();
                    step(&conn, "ROLLBACK TO job")?;
                }
                step(&conn, "RELEASE job")?;
                replies.push(reply);
                jobs += 1;
                // A long batch commits early and leaves the rest for the next: its first callers are answered
                // while the rest runs, and come back with their next writes while the writer is still busy,
                // instead of all waiting for one long batch and leaving the writer idle while they do.
                if started.elapsed() >= BATCH_TIME {
                    break;
                }
            }
            executed = std::time::Instant::now();
            step(&conn, "COMMIT")
        })();
        metrics::histogram!("switchboard_store_batch_jobs").record(jobs as f64);
        metrics::histogram!("switchboard_store_batch_execute_seconds").record((executed - started).as_secs_f64());
        metrics::histogram!("switchboard_store_commit_seconds").record(executed.elapsed().as_secs_f64());
        // The WAL file is reused in place after a restart, so its size says nothing; SQLite's own count does.
        let frames = wal_frames.load(std::sync::atomic::Ordering::Relaxed);
        if frames >= last_frames && outcome.is_ok() {
            metrics::counter!("switchboard_store_wal_frames_total").increment(frames - last_frames);
        }
        last_frames = frames;
        if frames < restart_tried_at {
            restart_tried_at = 0;
        }
        if frames >= WAL_RESTART_FRAMES && frames >= restart_tried_at + CHECKPOINT_EVERY_FRAMES {
            // The background checkpoints have copied nearly everything; finishing here lets the next
            // transaction start the WAL over instead of growing it. Not after every batch while it cannot (the
            // checkpointer or a reader is in the way): each attempt is a pass over the WAL on the writer's time.
            let started = std::time::Instant::now();
            let _ = conn.prepare_cached("PRAGMA wal_checkpoint(PASSIVE)").and_then(|mut s| s.query_row([], |_| Ok(())));
            metrics::histogram!("switchboard_store_writer_checkpoint_seconds").record(started.elapsed().as_secs_f64());
            if started.elapsed() > std::time::Duration::from_millis(20) {
                tracing::warn!(
                    took_ms = started.elapsed().as_millis(),
                    frames,
                    "the writer's checkpoint held up writes"
                );
            }
            restart_tried_at = frames;
            nudged_at = 0;
        } else if frames >= nudged_at + CHECKPOINT_EVERY_FRAMES || frames < nudged_at {
            let _ = checkpoint.try_send(());
            nudged_at = frames;
        }
        match &outcome {
            Ok(()) => {
                let last_event = conn
                    .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM events")
                    .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
                    .unwrap_or(0);
                let replies = std::mem::replace(&mut replies, Vec::with_capacity(MAX_BATCH));
                let committed = Committed { replies, last_event };
                if let Err(unsent) = synced.send(committed) {
                    let e = Error::new(switchboard_domain::Code::Unavailable, "store syncer stopped");
                    unsent.0.replies.into_iter().for_each(|reply| reply(Some(&e)));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, source = ?e.source, "sqlite batch failed; rolling back");
                crate::events::forget_positions();
                let _ = conn.execute_batch("ROLLBACK");
                replies.drain(..).for_each(|reply| reply(Some(e)));
            }
        }
    }
    // Every sender is gone: the store is shutting down. Checkpoint so the WAL does not outgrow the database.
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
}

/// Copies WAL frames into the database file when nudged, on its own connection, so that the writer does not.
fn checkpointer_loop(path: PathBuf, rx: std::sync::mpsc::Receiver<()>) {
    let conn = match open(&path, false) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "the checkpointer cannot open the database; the writer will checkpoint");
            return;
        }
    };
    while rx.recv().is_ok() {
        if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
            tracing::warn!(error = %e, "background checkpoint failed");
        }
    }
}

/// Makes committed batches durable and answers their callers. Batches that committed while a sync ran are
/// covered by the next one, so under load one fsync answers many batches.
fn syncer_loop(wal: PathBuf, rx: std::sync::mpsc::Receiver<Committed>, durable: tokio::sync::watch::Sender<i64>) {
    let mut file: Option<std::fs::File> = None;
    while let Ok(first) = rx.recv() {
        let mut pending = vec![first];
        pending.extend(rx.try_iter());
        let started = std::time::Instant::now();
        let result = (|| -> std::io::Result<()> {
            if file.is_none() {
                file = Some(std::fs::File::open(&wal)?);
            }
            file.as_ref().map_or(Ok(()), std::fs::File::sync_data)
        })();
        let error = result.err().map(|e| {
            tracing::error!(error = %e, "syncing the WAL failed");
            file = None;
            Error::internal(e)
        });
        metrics::histogram!("switchboard_store_sync_seconds").record(started.elapsed().as_secs_f64());
        if started.elapsed() > SLOW_SYNC {
            // Every write waits for this sync, and so does everything that acts on new events (routing).
            tracing::warn!(took_ms = started.elapsed().as_millis(), batches = pending.len(), "a WAL sync was slow");
        }
        metrics::histogram!("switchboard_store_sync_batches").record(pending.len() as f64);
        if error.is_none() {
            let last = pending.iter().map(|c| c.last_event).max().unwrap_or(0);
            durable.send_if_modified(|v| {
                let newer = last > *v;
                *v = (*v).max(last);
                newer
            });
        }
        for reply in pending.into_iter().flat_map(|c| c.replies) {
            reply(error.as_ref());
        }
    }
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self, Error> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(Error::internal)?;
        }
        let mut conn = open(path, false)?;
        let wal_frames = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let frames_seen = wal_frames.clone();
        conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, frames: std::ffi::c_int| {
            frames_seen.store(u64::try_from(frames).unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }))
        .map_err(Error::internal)?;
        // The WAL exists from here on; the syncer keeps its own handle to it.
        conn.execute_batch("BEGIN IMMEDIATE; COMMIT;").map_err(Error::internal)?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let (committed_tx, committed_rx) = std::sync::mpsc::channel();
        let (checkpoint_tx, checkpoint_rx) = std::sync::mpsc::sync_channel(1);
        let checkpoint_path = path.to_path_buf();
        thread::Builder::new()
            .name("sqlite-checkpointer".into())
            .spawn(move || checkpointer_loop(checkpoint_path, checkpoint_rx))
            .map_err(Error::internal)?;
        let wal = PathBuf::from(wal);
        // Everything already in the file is durable.
        let last_event: i64 = conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))
            .or_else(|e| match e {
                // A new database: the events table arrives with the first migration.
                rusqlite::Error::SqliteFailure(..) => Ok(0),
                other => Err(other),
            })
            .map_err(Error::internal)?;
        let (durable_tx, durable) = tokio::sync::watch::channel(last_event);
        let syncer = thread::Builder::new()
            .name("sqlite-syncer".into())
            .spawn(move || syncer_loop(wal, committed_rx, durable_tx))
            .map_err(Error::internal)?;
        let writer = thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, committed_tx, checkpoint_tx, wal_frames))
            .map_err(Error::internal)?;
        Ok(Self {
            jobs: tx,
            path: path.to_path_buf(),
            readers: Arc::new(Mutex::new(Vec::new())),
            read_permits: Arc::new(tokio::sync::Semaphore::new(READERS)),
            writer: Mutex::new(Some(writer)),
            syncer: Mutex::new(Some(syncer)),
            durable,
            signals: tokio::sync::broadcast::Sender::new(crate::SIGNAL_BUFFER),
        })
    }

    /// The newest event id known to be on disk; it changes after every sync that made new events durable.
    pub fn durable_events(&self) -> tokio::sync::watch::Receiver<i64> {
        self.durable.clone()
    }

    pub fn publish_signal(&self, payload: String) {
        // No subscriber is not an error: nobody is watching.
        let _ = self.signals.send(payload.into());
    }

    pub fn signals(&self) -> tokio::sync::broadcast::Receiver<Arc<str>> {
        self.signals.subscribe()
    }

    pub async fn write<R, F>(&self, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<R, Error> + Send + 'static,
    {
        self.submit(f).await?.await
    }

    /// Queues `f` for the writer; the returned future resolves once its batch is durable.
    pub async fn submit<R, F>(&self, f: F) -> Result<crate::Committing<R>, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<R, Error> + Send + 'static,
    {
        let (job, reply_rx) = queued::job(f);
        let started = std::time::Instant::now();
        self.jobs.send(job).await.map_err(|_| Error::new(switchboard_domain::Code::Unavailable, "store closed"))?;
        Ok(Box::pin(async move {
            let result = reply_rx.await.map_err(|_| queued::stopped())?;
            metrics::histogram!("switchboard_store_write_seconds").record(started.elapsed().as_secs_f64());
            result
        }))
    }

    pub async fn read<R, F>(&self, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<R, Error> + Send + 'static,
    {
        let permit = self
            .read_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::new(switchboard_domain::Code::Unavailable, "store closed"))?;
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let pooled = readers.lock().map_err(|_| Error::internal("reader pool poisoned"))?.pop();
            let conn = match pooled {
                Some(c) => c,
                None => open(&path, true)?,
            };
            // One read transaction, so that several queries see one snapshot.
            step(&conn, "BEGIN")?;
            let result = f(&mut Tx::Sqlite(&conn));
            // A connection whose read transaction did not end would fail every later read: it is not kept.
            let ended = step(&conn, "COMMIT").is_ok();
            if ended
                && let Ok(mut pool) = readers.lock()
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
        // The writer finishes first; its end closes the syncer's queue, and the syncer answers what is left.
        for slot in [&self.writer, &self.syncer] {
            if let Some(handle) = slot.lock().ok().and_then(|mut w| w.take()) {
                let _ = handle.join();
            }
        }
    }
}
