//! Writes queued for one writer thread, which runs them in order, several to a transaction, each in a savepoint
//! of its own: SQLite's only writer, and PostgreSQL's writer of routing's decisions ([`crate::Store::submit`]).

use std::collections::VecDeque;

use switchboard_domain::{Code, Error};
use tokio::sync::{mpsc, oneshot};

use crate::sql::Tx;

/// Answers a job's caller once its transaction is committed (`None`) or failed to (`Some`).
pub(crate) type Reply = Box<dyn FnOnce(Option<&Error>) + Send>;
/// A queued write: runs in the writer's transaction and says whether it succeeded (its savepoint is kept) and how
/// to answer its caller.
pub(crate) type Job = Box<dyn FnOnce(&mut Tx<'_>) -> (bool, Reply) + Send>;

/// Wraps `f` as a job, with the receiver of its outcome.
pub(crate) fn job<R, F>(f: F) -> (Job, oneshot::Receiver<Result<R, Error>>)
where
    R: Send + 'static,
    F: FnOnce(&mut Tx<'_>) -> Result<R, Error> + Send + 'static,
{
    let (reply_tx, reply_rx) = oneshot::channel();
    let job: Job = Box::new(move |tx: &mut Tx<'_>| {
        // The job's pipelined statements (PostgreSQL) are answered before the next job starts, so that a failure
        // among them rolls back this job alone (and, after a job that failed, is not taken for the batch's).
        let result = match f(tx) {
            Ok(v) => tx.finish_pending().map(|()| v),
            Err(e) => {
                let _ = tx.finish_pending();
                Err(e)
            }
        };
        let ok = result.is_ok();
        let reply: Reply = Box::new(move |commit_error: Option<&Error>| {
            let _ = reply_tx.send(match commit_error {
                Some(e) => Err(Error::new(e.code, e.detail.clone())),
                None => result,
            });
        });
        (ok, reply)
    });
    (job, reply_rx)
}

/// What a caller is told when the writer is gone before answering.
pub(crate) fn stopped() -> Error {
    Error::new(Code::Unavailable, "store writer stopped")
}

/// Fills the next batch: jobs left over from a transaction cut short stay first; when there are none, waits for
/// one; then takes whatever else is queued, up to `max`. False once the queue is closed and nothing is left.
pub(crate) fn gather(batch: &mut VecDeque<Job>, jobs: &mut mpsc::Receiver<Job>, max: usize) -> bool {
    if batch.is_empty() {
        match jobs.blocking_recv() {
            Some(first) => batch.push_back(first),
            None => return false,
        }
    }
    while batch.len() < max {
        match jobs.try_recv() {
            Ok(job) => batch.push_back(job),
            Err(_) => break,
        }
    }
    true
}
