//! Connections for the reads every request makes (its token's client, a
//! mint's one look before signing), kept outside the pool. sqlx tests every
//! pooled connection on its way back with a round trip of its own (on
//! SQLite, two more thread hand-offs; on PostgreSQL, another message pair),
//! so through the pool a one-statement read cost two round trips: under
//! load, about as much CPU as the read itself.
//!
//! A connection taken from the pool and detached stays here until a read
//! on it fails or is dropped before it finished (a request whose client
//! went away): then it is closed and the next read takes a fresh one, so a
//! connection in an unknown state is never used again.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::{AnyConnection, AnyPool, Connection};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::StoreError;

/// How many: enough that requests seldom wait for one, few enough that
/// they and the pool stay within the database's connection budget.
const READERS: usize = 4;

/// A connection idle longer than this is tested before it is used (the
/// server may have restarted, a proxy cut it); under load none is.
const TEST_AFTER_IDLE: Duration = Duration::from_secs(5);

/// A connection older than this is closed and replaced, as the pool does
/// with its own (`max_lifetime`): after a failover, readers move to the
/// new primary within this time.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// Whether `error` says the connection, not the read, failed: the socket
/// (I/O, protocol), or the server ending the session (SQLSTATE class 57,
/// e.g. an administrator's `pg_terminate_backend` or a shutdown; class
/// 08, connection exceptions).
fn broken(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => {
            db.code().is_some_and(|code| code.starts_with("57") || code.starts_with("08"))
        }
        _ => false,
    }
}

/// A read on a reader connection (boxed: it borrows the connection).
pub(super) type ReadFuture<'c, T> =
    Pin<Box<dyn Future<Output = Result<T, sqlx::Error>> + Send + 'c>>;

/// A connection not in use, with when it was opened and last used.
#[derive(Debug)]
struct Idle {
    conn: AnyConnection,
    opened: Instant,
    used: Instant,
}

#[derive(Debug)]
pub(super) struct Readers {
    /// One permit per reader connection.
    turns: Semaphore,
    /// The connections no read holds (fewer than `READERS` after a
    /// discard, or before the first reads).
    idle: Mutex<Vec<Idle>>,
}

impl Default for Readers {
    fn default() -> Self {
        Self { turns: Semaphore::new(READERS), idle: Mutex::new(Vec::with_capacity(READERS)) }
    }
}

impl Readers {
    /// Runs one read on a reader connection. A reused connection that
    /// turns out broken (see [`broken`]) is closed and the read runs once
    /// more on a fresh one; any other error is the read's.
    pub(super) async fn read<T, F>(&self, pool: &AnyPool, run: F) -> Result<T, StoreError>
    where
        F: for<'c> Fn(&'c mut AnyConnection) -> ReadFuture<'c, T>,
    {
        // Closed only by `close`: then the pool is closed too, and the
        // fresh connection below is refused with `PoolClosed`.
        let _turn: Option<SemaphorePermit<'_>> = self.turns.acquire().await.ok();
        let mut reused = self.reusable().await;
        loop {
            let (mut conn, opened, fresh) = match reused.take() {
                Some(idle) => (idle.conn, idle.opened, false),
                // Detached: the pool no longer counts it, nor tests it.
                None => (pool.acquire().await?.detach(), Instant::now(), true),
            };
            let result = run(&mut conn).await;
            // Only a connection whose read succeeded goes back: one that
            // failed is in a state nobody knows, and dropping it (or the
            // future, half way) closes it.
            if result.is_ok() {
                self.idle().push(Idle { conn, opened, used: Instant::now() });
            }
            match result {
                Err(error) if !fresh && broken(&error) => continue,
                result => return Ok(result?),
            }
        }
    }

    /// An idle connection fit to use, if there is one: the most recently
    /// used first; one too old is closed, one idle a while is tested.
    async fn reusable(&self) -> Option<Idle> {
        loop {
            let mut idle = self.idle().pop()?;
            if idle.opened.elapsed() > MAX_LIFETIME {
                let _ = idle.conn.close().await;
                continue;
            }
            if idle.used.elapsed() > TEST_AFTER_IDLE && idle.conn.ping().await.is_err() {
                continue;
            }
            return Some(idle);
        }
    }

    /// Closes every idle connection and refuses new reads' turns (the
    /// store is closing).
    pub(super) async fn close(&self) {
        self.turns.close();
        let idle: Vec<Idle> = std::mem::take(&mut *self.idle());
        for Idle { conn, .. } in idle {
            let _ = conn.close().await;
        }
    }

    /// The idle list (a panic elsewhere while holding it left a plain
    /// list: nothing to repair).
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
