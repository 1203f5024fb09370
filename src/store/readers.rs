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

use std::sync::Mutex;

use sqlx::{AnyConnection, AnyPool};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::StoreError;

/// How many: enough that requests seldom wait for one, few enough that
/// they and the pool stay within the database's connection budget.
const READERS: usize = 4;

#[derive(Debug)]
pub(super) struct Readers {
    /// One permit per reader connection.
    turns: Semaphore,
    /// The connections no read holds (fewer than `READERS` after a
    /// discard, or before the first reads).
    idle: Mutex<Vec<AnyConnection>>,
}

impl Default for Readers {
    fn default() -> Self {
        Self { turns: Semaphore::new(READERS), idle: Mutex::new(Vec::with_capacity(READERS)) }
    }
}

impl Readers {
    /// A reader connection, once one is free.
    pub(super) async fn take(&self, pool: &AnyPool) -> Result<Reader<'_>, StoreError> {
        // The semaphore is never closed; without a permit the read would
        // only go unbounded.
        let turn = self.turns.acquire().await.ok();
        let idle = self.idle().pop();
        let conn = match idle {
            Some(conn) => conn,
            // Detached: the pool no longer counts it, nor tests it.
            None => pool.acquire().await?.detach(),
        };
        Ok(Reader { readers: self, conn, _turn: turn })
    }

    /// The idle list (a panic elsewhere while holding it left a plain
    /// list: nothing to repair).
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<AnyConnection>> {
        self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One reader connection, held for one statement. Dropped without
/// [`Reader::finish`] (its request went away half way) or finished with an
/// error, its connection is in a state nobody knows and is closed.
pub(super) struct Reader<'a> {
    readers: &'a Readers,
    conn: AnyConnection,
    _turn: Option<SemaphorePermit<'a>>,
}

impl Reader<'_> {
    /// The connection to run the statement on.
    pub(super) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }

    /// Passes the statement's result through; only a statement that
    /// succeeded leaves its connection for the next read.
    pub(super) fn finish<T>(self, result: Result<T, sqlx::Error>) -> Result<T, StoreError> {
        if result.is_ok() {
            self.readers.idle().push(self.conn);
        }
        Ok(result?)
    }
}
