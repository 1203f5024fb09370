//! Group commit for mints. One writer task per replica takes the database
//! effects of every mint request queued while the previous batch committed
//! and commits them together: the account sides of the whole batch in one
//! transaction, then all its pseudonym rows in another, in random order.
//! Signing and validation stay in the request tasks, concurrent; only the
//! writes queue here, so a batch costs two commits however many requests
//! it carries.
//!
//! Exactness: inside the account transaction each request is checked before
//! it writes (`accounts::account_job`, no savepoints: PostgreSQL's
//! subtransactions cost more than the rest of a request), so a refused
//! request leaves nothing and gets its refusal while the others commit. The
//! rows every mint shares are charged in memory ([`SharedLedger`]) and
//! written once with the batch's totals.
//!
//! Unlinkability: the two transactions share no row, and the pseudonym rows
//! of a batch are written sorted by their random ids, so neither physical
//! order nor transaction ids align a pseudonym with its account better than
//! the batch as a whole.

use std::time::Duration;

use sqlx::AnyPool;
use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use super::accounts::{MintJob, account_job};
use super::limits::SharedLedger;
use super::mint_batch::{self, Admission, Fast};
use super::pseudonyms::insert_rows;
use super::{Backend, NewPseudonym, Store, StoreError};

/// Most requests one batch carries (each up to 32 pseudonyms).
const MAX_BATCH: usize = 256;

/// Writer tasks per replica on PostgreSQL (each holds one connection).
const POSTGRES_WRITERS: usize = 4;

/// Requests waiting for the writer before new ones wait for room.
const QUEUE: usize = 4096;

/// How often a batch whose transaction the database aborted (a deadlock
/// with a remedy holding account rows or with another replica's writer, a
/// serialization failure) is retried whole before every request in it gets
/// the error. Three were once not enough: a crowd minting through two
/// replicas on a loaded CI machine got 500s (not reproduced locally in
/// eleven runs); retries now back off, with jitter, so the two writers do
/// not collide again in step.
const ATTEMPTS: u32 = 6;

type Reply = oneshot::Sender<Result<(), StoreError>>;

/// Tests only (`Store::pause_next_batch_between_sides`): told when the
/// next batch's account side committed, then waited on.
#[cfg(feature = "testkit")]
pub(super) type BetweenSides =
    Arc<std::sync::Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>>;

/// The handle request tasks hold: a queue into the writer task.
#[derive(Debug, Clone)]
pub(super) struct MintWriter {
    queue: mpsc::Sender<(MintJob, Reply)>,
}

impl MintWriter {
    /// Starts the writer task on this runtime; it ends when every handle is
    /// dropped.
    pub(super) fn spawn(store: &Store) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let jobs = Arc::new(Mutex::new(jobs));
        // SQLite has one writer at a time anyway; on PostgreSQL several
        // batches run at once and meet only on the rows they share.
        let writers = match store.backend {
            Backend::Sqlite => 1,
            Backend::Postgres => POSTGRES_WRITERS,
        };
        for _ in 0..writers {
            let task = Task {
                pool: store.pool.clone(),
                backend: store.backend,
                sqlite_writer: store.sqlite_writer.clone(),
                #[cfg(feature = "testkit")]
                between_sides: store.between_sides.clone(),
            };
            tokio::spawn(task.run(jobs.clone()));
        }
        Self { queue }
    }

    pub(super) async fn submit(&self, job: MintJob) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((job, reply))
            .await
            .map_err(|_| StoreError::Batch("the mint writer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Batch("the mint writer dropped the request".into()))?
    }
}

struct Task {
    pool: AnyPool,
    backend: Backend,
    /// The SQLite write turn (see `Store::sqlite_writer`). The task holds
    /// no `Store`, so no writer handle: it ends once the service's are gone.
    sqlite_writer: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
    #[cfg(feature = "testkit")]
    between_sides: BetweenSides,
}

impl Task {
    async fn run(self, jobs: Arc<Mutex<mpsc::Receiver<(MintJob, Reply)>>>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        // The next batch is what queued while this writer was busy; the
        // queue is held only while taking it.
        loop {
            let taken = {
                let mut queue = jobs.lock().await;
                queue.recv_many(&mut batch, MAX_BATCH).await
            };
            if taken == 0 {
                break;
            }
            let (jobs_of_batch, replies): (Vec<MintJob>, Vec<Reply>) =
                std::mem::take(&mut batch).into_iter().unzip();
            let started = std::time::Instant::now();
            let outcomes = self.commit(&jobs_of_batch).await;
            // Sizes and times only: nothing about who minted.
            tracing::debug!(
                requests = jobs_of_batch.len(),
                micros = started.elapsed().as_micros(),
                "mint batch committed"
            );
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // A request whose client went away no longer listens.
                let _ = reply.send(outcome);
            }
        }
    }

    /// Commits one batch; one outcome per job, in order.
    async fn commit(&self, jobs: &[MintJob]) -> Vec<Result<(), StoreError>> {
        let mut attempt = 0;
        // Optimistic first; locked from the start when the shared rows
        // changed under the batch (see `SharedLedger`); one request at a
        // time when the fast path could not be sure (see `mint_batch`).
        let mut lock_first = false;
        let mut exact = false;
        let accepted = loop {
            attempt += 1;
            match self.account_sides(jobs, lock_first, exact).await {
                Ok(Sides::Done(accepted)) => break accepted,
                Ok(Sides::SharedChanged) => lock_first = true,
                Ok(Sides::Fallback) => exact = true,
                Err(error) if attempt < ATTEMPTS && retryable(&error) => back_off(attempt).await,
                Err(error) => {
                    let text = error.to_string();
                    tracing::error!(error = %text, requests = jobs.len(), "mint batch failed");
                    return jobs.iter().map(|_| Err(StoreError::Batch(text.clone()))).collect();
                }
            }
        };
        #[cfg(feature = "testkit")]
        {
            let hook = self.between_sides.lock().ok().and_then(|mut slot| slot.take());
            if let Some((reached, resume)) = hook {
                let _ = reached.send(());
                let _ = resume.await;
            }
        }
        let mut outcomes: Vec<Result<(), StoreError>> = accepted;
        let rows: Vec<(usize, &NewPseudonym)> = jobs
            .iter()
            .enumerate()
            .filter(|(i, _)| outcomes.get(*i).is_some_and(Result::is_ok))
            .flat_map(|(i, job)| job.pseudonyms.iter().map(move |row| (i, row)))
            .collect();
        if let Err(error) = self.pseudonym_side(rows.iter().map(|(_, row)| *row)).await {
            if !matches!(error, StoreError::Conflict(_)) {
                let text = error.to_string();
                tracing::error!(error = %text, "mint batch: pseudonym rows failed");
                for (i, _) in &rows {
                    if let Some(outcome) = outcomes.get_mut(*i) {
                        *outcome = Err(StoreError::Batch(text.clone()));
                    }
                }
                return outcomes;
            }
            // A key certified twice (two requests of this batch, or another
            // replica in between): each request's rows on their own, so only
            // the late one is refused. Rare; the order here is the batch's.
            for (i, job) in jobs.iter().enumerate() {
                if outcomes.get(i).is_some_and(Result::is_ok)
                    && let Err(error) = self.pseudonym_side(job.pseudonyms.iter()).await
                    && let Some(outcome) = outcomes.get_mut(i)
                {
                    *outcome = Err(error);
                }
            }
        }
        outcomes
    }

    /// The account side of every job in one transaction: `Done` holds
    /// each job's outcome; otherwise the transaction rolled back and the
    /// batch must run again (`SharedChanged`: locked from the start;
    /// `Fallback`: on the exact path). `Err`: the batch transaction itself
    /// failed and nothing of it committed.
    async fn account_sides(
        &self,
        jobs: &[MintJob],
        lock_first: bool,
        exact: bool,
    ) -> Result<Sides, StoreError> {
        let _turn = super::write_turn(&self.sqlite_writer).await;
        let mut tx = super::begin_write(&self.pool, self.backend).await?;
        if self.backend == Backend::Postgres {
            // Nothing is acknowledged until the pseudonym side commits, and
            // its synchronous commit flushes the write-ahead log through
            // this transaction's commit record too: one flush per batch.
            sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
        }
        // Every existing account row first, in account-ref order (so
        // concurrent writers never deadlock on them), then the shared rows.
        let locked = mint_batch::lock_batch(&mut tx, self.backend, jobs).await?;
        let charges = jobs.iter().map(|j| &j.charges);
        let mut ledger = match lock_first {
            true => SharedLedger::lock(&mut tx, charges).await?,
            false => SharedLedger::read(&mut tx, charges).await?,
        };
        // Requests in account-ref order, arrival order within an account.
        let mut order: Vec<usize> = (0..jobs.len()).collect();
        order.sort_by_key(|&i| jobs.get(i).map(|j| j.account.account_ref.0));
        let outcomes = match exact {
            false => {
                match mint_batch::account_sides(&mut tx, locked, jobs, &order, &mut ledger).await? {
                    Fast::Done(outcomes) => outcomes,
                    // Dropping the transaction rolls it back.
                    Fast::Fallback => return Ok(Sides::Fallback),
                }
            }
            true => exact_account_sides(&mut tx, jobs, &order, &mut ledger).await?,
        };
        if !ledger.write(&mut tx).await? {
            return Ok(Sides::SharedChanged);
        }
        tx.commit().await?;
        Ok(Sides::Done(outcomes))
    }

    /// The rows, sorted by their random ids (so in no order a request or
    /// an account chose), in one transaction that writes nothing keyed by
    /// an account.
    async fn pseudonym_side<'a>(
        &self,
        rows: impl Iterator<Item = &'a NewPseudonym>,
    ) -> Result<(), StoreError> {
        let mut rows: Vec<&NewPseudonym> = rows.collect();
        if rows.is_empty() {
            return Ok(());
        }
        rows.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        let _turn = super::write_turn(&self.sqlite_writer).await;
        let mut tx = super::begin_write(&self.pool, self.backend).await?;
        insert_rows(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// What one attempt at a batch's account side came to.
enum Sides {
    Done(Vec<Result<(), StoreError>>),
    SharedChanged,
    Fallback,
}

/// The exact path: each request on its own (`accounts::account_job`), in
/// `order`, each checked before it writes.
async fn exact_account_sides(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    jobs: &[MintJob],
    order: &[usize],
    ledger: &mut SharedLedger,
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let mut outcomes: Vec<Result<(), StoreError>> = jobs.iter().map(|_| Ok(())).collect();
    let mut admission = Admission::default();
    for (i, job) in order.iter().filter_map(|&i| jobs.get(i).map(|job| (i, job))) {
        let Some(slot) = outcomes.get_mut(i) else { continue };
        if let Err(refusal) = admission.admit(job, ledger) {
            *slot = Err(refusal);
            continue;
        }
        let outcome = match account_job(tx, job).await {
            // The transaction itself is in trouble: the batch fails.
            Err(error) if !is_refusal(&error) => return Err(error),
            outcome => outcome,
        };
        admission.settle(job, ledger, &outcome);
        *slot = outcome;
    }
    Ok(outcomes)
}

/// A refusal of one request (it wrote nothing, the batch goes on), as
/// opposed to a failure of the transaction.
fn is_refusal(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::OverLimit(_)
            | StoreError::Restricted
            | StoreError::AccountMissing
            | StoreError::GlassOutdated
            | StoreError::Corrupt(_)
            | StoreError::Conflict(_)
    )
}

/// The pause after failed attempt `attempt` (from 1) of a batch: 4, 8,
/// 16, 32, then 64 ms, plus up to as much again at random, so two writers
/// (two replicas') that collided do not collide again in step.
pub(super) async fn back_off(attempt: u32) {
    let base = 2u64 << attempt.min(5);
    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % base;
    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
}

/// PostgreSQL aborted the transaction to break a deadlock or a
/// serialization conflict: the same batch may pass on a second try.
pub(super) fn retryable(error: &StoreError) -> bool {
    match error {
        StoreError::Database(sqlx::Error::Database(db)) => {
            matches!(db.code().as_deref(), Some("40P01") | Some("40001"))
        }
        _ => false,
    }
}
