//! Group commit for replay records (`replay.rs`): every presentation a hub
//! verifies and every proof of possession veil accepts writes one row, and
//! alone each was a transaction of its own: on SQLite a commit, a turn at
//! the file's write lock and, since another connection wrote last, a page
//! cache read afresh; under load, more CPU than both signature checks of a
//! presentation. One writer task per replica takes the records queued
//! while the previous batch committed and writes them in one transaction.
//!
//! Exactness is the database's, as before: each record is its own
//! `INSERT … ON CONFLICT` in the transaction, so of two equal records (in
//! one batch, or in two replicas' batches) exactly one is fresh. Records
//! are written sorted, so two writers lock their keys in the same order
//! and never deadlock (the prune skips rows a batch holds). A batch whose
//! transaction fails answers each of its records with the error (a
//! request that cannot tell a replay from a fresh presentation fails
//! closed); it rolled back, unless the failure was the commit's answer
//! itself, lost on the wire, as with any single statement.

use sqlx::AnyPool;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::mint_writer::{back_off, retryable};
use super::replay::Seen;
use super::{Backend, Store, StoreError};

/// Most records one batch carries.
const MAX_BATCH: usize = 512;

/// Records waiting for the writer before new ones wait for room.
const QUEUE: usize = 4096;

/// Attempts at a batch PostgreSQL aborted (deadlock, serialization).
const ATTEMPTS: u32 = 4;

/// One replay record: `value` first seen now, remembered until `expires_at`.
#[derive(Debug)]
pub(super) struct Record {
    pub table: Seen,
    pub value: Vec<u8>,
    pub expires_at: i64,
    pub now: i64,
}

/// Whether the record was fresh (`true`) or a replay.
type Reply = oneshot::Sender<Result<bool, StoreError>>;

/// The handle request tasks hold: a queue into the writer task.
#[derive(Debug, Clone)]
pub(super) struct SeenWriter {
    queue: mpsc::Sender<(Record, Reply)>,
}

impl SeenWriter {
    /// Starts the writer task on this runtime; it ends when every handle is
    /// dropped.
    pub(super) fn spawn(store: &Store) -> Self {
        let (queue, records) = mpsc::channel(QUEUE);
        let task = Task {
            pool: store.pool.clone(),
            backend: store.backend,
            sqlite_writer: store.sqlite_writer.clone(),
        };
        tokio::spawn(task.run(records));
        Self { queue }
    }

    /// True when `record` was fresh; false when an unexpired equal record
    /// was already stored (a replay).
    pub(super) async fn submit(&self, record: Record) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((record, reply))
            .await
            .map_err(|_| StoreError::Batch("the replay writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Batch("the replay writer dropped the record".into()))?
    }
}

struct Task {
    pool: AnyPool,
    backend: Backend,
    sqlite_writer: Option<Arc<Mutex<()>>>,
}

impl Task {
    async fn run(self, mut records: mpsc::Receiver<(Record, Reply)>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while records.recv_many(&mut batch, MAX_BATCH).await > 0 {
            // A request that went away (its client, or its deadline) gets
            // no answer: its record is not written, so the presentation or
            // proof it carried is not used up by a check nobody saw.
            batch.retain(|(_, reply)| !reply.is_closed());
            if batch.is_empty() {
                continue;
            }
            // Sorted (stably: of equal records the first queued is the
            // fresh one), each with its reply.
            batch.sort_by(|(a, _), (b, _)| key(a).cmp(&key(b)));
            let (records, replies): (Vec<Record>, Vec<Reply>) =
                std::mem::take(&mut batch).into_iter().unzip();
            let outcomes = self.commit(&records).await;
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // A request whose client went away no longer listens.
                let _ = reply.send(outcome);
            }
        }
    }

    /// One outcome per record, in order.
    async fn commit(&self, records: &[Record]) -> Vec<Result<bool, StoreError>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.write(records).await {
                Ok(fresh) => return fresh.into_iter().map(Ok).collect(),
                Err(error) if attempt < ATTEMPTS && retryable(&error) => back_off(attempt).await,
                Err(error) => {
                    let text = error.to_string();
                    tracing::error!(error = %text, records = records.len(), "replay batch failed");
                    return records.iter().map(|_| Err(StoreError::Batch(text.clone()))).collect();
                }
            }
        }
    }

    async fn write(&self, records: &[Record]) -> Result<Vec<bool>, StoreError> {
        let _turn = super::write_turn(&self.sqlite_writer).await;
        let mut tx = super::begin_write(&self.pool, self.backend).await?;
        let mut fresh = Vec::with_capacity(records.len());
        for record in records {
            let done = sqlx::query(record.table.record_sql())
                .bind(record.value.as_slice())
                .bind(record.expires_at)
                .bind(record.now)
                .execute(&mut *tx)
                .await?;
            fresh.push(done.rows_affected() == 1);
        }
        tx.commit().await?;
        Ok(fresh)
    }
}

fn key(record: &Record) -> (Seen, &[u8]) {
    (record.table, record.value.as_slice())
}
