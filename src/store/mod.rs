//! Storage: the only module that writes SQL. One code path over sqlx `Any`
//! serves SQLite (embedded default, WAL) and PostgreSQL (several replicas);
//! every invariant that must hold across replicas is a constraint or a
//! transaction here, never process memory.

mod accounts;
mod audit;
mod breakglass;
mod clients;
mod crl;
mod dump;
mod limits;
mod mint_batch;
mod mint_sight;
mod mint_writer;
mod operators;
mod pseudonym_clients;
mod pseudonyms;
mod readers;
mod remedies;
mod replay;
mod reports;
mod reputation;
mod seen_writer;
mod shapes;
mod status_entries;
mod upgrade;

#[cfg(feature = "testkit")]
pub use accounts::SeededAccount;
pub use accounts::{AccountView, GlassRow, IndexChange, IndexUpdate, MintJob, NewAccount};
pub use audit::{AuditLink, AuditRow, StoredAuditEntry, StoredCheckpoint};
pub use breakglass::{
    Approval, BreakGlassRow, NewBreakGlass, PartialOutcome, RequestFilter, RevealCompletion,
    RevealRecord, SealedPartial, StoredGlass,
};
pub use clients::{ClientRow, NewClient};
pub use limits::{BucketCharge, Charges, Limited, WindowCharge};
pub use mint_sight::{MintSight, SightQuery};
pub use operators::{NewOperator, OperatorRow};
pub use pseudonym_clients::{ClientAdded, NewPseudonymClient, PseudonymClientRow};
pub use pseudonyms::{NewPseudonym, PseudonymRow};
pub use remedies::{
    Applied, DeletionTarget, Finished, Lifted, RemedyEffect, RemedyIndex, RemedyRow, RemedyWrite,
};
pub use reports::{NewReport, ReportTally};
pub use reputation::{NewReputationEvent, ReputationEvent, Standing};
pub use upgrade::{LegacyEntry, UpgradeKeys, UpgradeReport};

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{AnyPool, ConnectOptions, Connection};

use crate::core::linkage::AccountRef;
use crate::core::page::Cursor;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; the name says which.
    #[error("conflict on {0}")]
    Conflict(String),
    /// An account row was needed but absent (the caller may retry with it).
    #[error("account row missing")]
    AccountMissing,
    /// The account's `glass_link` is sealed in an older suite than the
    /// caller's: retry with a freshly sealed one, which replaces it.
    #[error("the account's break-glass link is sealed with other keys than the current ones")]
    GlassOutdated,
    /// The account is muted or suspended: it may not act (read under the
    /// row lock, so a remedy that just committed counts).
    #[error("account restricted")]
    Restricted,
    /// A rate limit refused the write; the transaction was rolled back.
    #[error("over a rate limit ({0:?})")]
    OverLimit(Limited),
    /// A stored value has an impossible shape (e.g. a hash of the wrong
    /// length): the database was edited outside the service.
    #[error("corrupt stored value: {0}")]
    Corrupt(&'static str),
    /// The batch this request was written in failed as a whole (the
    /// database refused its transaction); nothing of it committed.
    #[error("the mint batch failed: {0}")]
    Batch(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error
            && db.is_unique_violation()
        {
            let detail =
                db.constraint().map(str::to_string).unwrap_or_else(|| db.message().to_string());
            return StoreError::Conflict(detail);
        }
        StoreError::Database(error)
    }
}

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The handle every domain service holds.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer at a time; writers that find the lock taken
    /// sleep in SQLite's busy handler with growing back-off. The mint's
    /// writes take turns here first, so within one process they queue and
    /// wake in order instead (other processes still meet SQLite's lock).
    /// `None` on PostgreSQL, whose row locks need no help.
    sqlite_writer: Option<Arc<tokio::sync::Mutex<()>>>,
    /// The group-commit writer of mints, started by the first mint.
    mint_writer: Arc<std::sync::OnceLock<mint_writer::MintWriter>>,
    /// The group-commit writer of replay records, started by the first.
    seen_writer: Arc<std::sync::OnceLock<seen_writer::SeenWriter>>,
    /// Connections outside the pool for the reads of every request.
    readers: Arc<readers::Readers>,
    /// Tests only: holds the next batch between its two transactions.
    #[cfg(feature = "testkit")]
    between_sides: mint_writer::BetweenSides,
}

impl Store {
    /// Connects; on SQLite creates the file if needed and switches it to WAL.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") { Backend::Sqlite } else { Backend::Postgres };
        if backend == Backend::Sqlite {
            // WAL is a property of the file: set it once, before pooling.
            let conn = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .connect()
                .await?;
            conn.close().await.ok();
        }
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            // A pooled SQLite connection is a file handle in this process:
            // it cannot break the way a network connection can, so the
            // round trip to its worker thread that tests it on every
            // checkout (sqlx's default) buys nothing and cost a statement's
            // worth per statement.
            .test_before_acquire(backend == Backend::Postgres)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::query("PRAGMA busy_timeout = 10000").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                        // Up to 16 MiB of pages per connection (the default
                        // is 2 MiB): the random keys of every table touch
                        // pages all over their B-trees, and a miss is a read.
                        sqlx::query("PRAGMA cache_size = -16384").execute(&mut *conn).await?;
                        // ... but 48 MiB for every connection together (the
                        // limit is the process's): past it SQLite reuses its
                        // pages instead of taking more, so memory stays
                        // bounded however large the database grows (with
                        // 1 M pseudonyms stored and eight connections' full
                        // caches, RSS was 146 MiB).
                        sqlx::query("PRAGMA soft_heap_limit = 50331648")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                    } else {
                        // Plan every execution with the parameters and table
                        // sizes of now. A prepared statement's generic plan,
                        // made once its connection has run it a few times,
                        // stays for the connection's life: made while a new
                        // database's tables were nearly empty it scans them
                        // whole, and the mint's reads then cost more the more
                        // is stored (seen under load: half of PostgreSQL's
                        // time in sequential scans of indexed lookups).
                        sqlx::query("SET plan_cache_mode = force_custom_plan")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        let sqlite_writer =
            (backend == Backend::Sqlite).then(|| Arc::new(tokio::sync::Mutex::new(())));
        Ok(Self {
            pool,
            backend,
            sqlite_writer,
            mint_writer: Arc::default(),
            seen_writer: Arc::default(),
            readers: Arc::default(),
            #[cfg(feature = "testkit")]
            between_sides: Arc::default(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Waits for this process's turn to write (SQLite only; see
    /// `sqlite_writer`). Hold the guard until the transaction ends.
    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        write_turn(&self.sqlite_writer).await
    }

    /// Writes one mint's effects through the batch writer (group commit,
    /// see `mint_writer`): `Ok` once its pseudonym rows committed. A
    /// refusal (`OverLimit`, `Restricted`, ...) stored nothing of it.
    pub async fn mint(&self, job: MintJob) -> Result<(), StoreError> {
        let writer = self.mint_writer.get_or_init(|| mint_writer::MintWriter::spawn(self));
        writer.submit(job).await
    }

    /// Tests only: the next mint batch stops after its account side
    /// commits; the first receiver hears when it got there, and the batch
    /// goes on to its pseudonym rows once the sender is used or dropped.
    /// How a test puts a remedy between a batch's two transactions.
    #[cfg(feature = "testkit")]
    pub fn pause_next_batch_between_sides(
        &self,
    ) -> (tokio::sync::oneshot::Receiver<()>, tokio::sync::oneshot::Sender<()>) {
        let (reached, heard) = tokio::sync::oneshot::channel();
        let (resume, resumed) = tokio::sync::oneshot::channel();
        if let Ok(mut slot) = self.between_sides.lock() {
            *slot = Some((reached, resumed));
        }
        (heard, resume)
    }

    /// Begins a transaction that will write (see [`begin_write`]).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        begin_write(&self.pool, self.backend).await
    }

    /// Applies pending migrations (idempotent).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Readiness: the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Bytes the database takes on disk, tables and indexes (SQLite: its
    /// pages, the write-ahead log aside; PostgreSQL: the relations of the
    /// current schema): the scale benchmark's bytes per pseudonym.
    pub async fn disk_bytes(&self) -> Result<i64, StoreError> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
            }
            Backend::Postgres => {
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::BIGINT FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind = 'r'"
            }
        };
        Ok(sqlx::query_scalar(sql).fetch_one(&self.pool).await?)
    }

    /// (open connections, idle connections), for the metrics endpoint.
    pub fn pool_usage(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    pub async fn close(&self) {
        self.readers.close().await;
        self.pool.close().await;
    }
}

/// Begins a transaction that will write. On SQLite `BEGIN IMMEDIATE`: it
/// takes the write lock at once, waiting under `busy_timeout`. A deferred
/// transaction that reads first and then writes while another connection
/// commits cannot wait (its snapshot is stale) and fails with "database is
/// locked": schemathesis found that as a 500 on `POST /v1/admin/clients`.
async fn begin_write(
    pool: &AnyPool,
    backend: Backend,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
    Ok(match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => pool.begin().await?,
    })
}

async fn write_turn(
    writer: &Option<Arc<tokio::sync::Mutex<()>>>,
) -> Option<tokio::sync::MutexGuard<'_, ()>> {
    match writer {
        Some(writer) => Some(writer.lock().await),
        None => None,
    }
}

/// The `(created_at, id)` a newest-first listing (`ORDER BY created_at
/// DESC, id`) resumes strictly after, bound as `$2` and `$3` in `WHERE
/// created_at <= $2 AND (created_at < $2 OR id > $3)`: the cursor's, or
/// without one a position before every row (ids are never empty). That
/// form, rather than `created_at < $2 OR (created_at = $2 AND id > $3)`,
/// gives both backends an index range on `created_at`.
fn keyset(after: Option<&Cursor>) -> (i64, &str) {
    after.map_or((i64::MAX, ""), |cursor| (cursor.created_at(), cursor.id()))
}

/// A 32-byte column (hash, account ref), its length checked on decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hash32([u8; 32]);

impl TryFrom<Vec<u8>> for Hash32 {
    type Error = StoreError;

    fn try_from(bytes: Vec<u8>) -> Result<Self, StoreError> {
        bytes.try_into().map(Hash32).map_err(|_| StoreError::Corrupt("32-byte column length"))
    }
}

impl From<Hash32> for AccountRef {
    fn from(hash: Hash32) -> Self {
        AccountRef(hash.0)
    }
}

/// A boolean column. Both backends store flags as integers, and the `Any`
/// driver decodes `bool` only from a native boolean.
#[derive(sqlx::Type)]
#[sqlx(transparent)]
struct Flag(i64);

impl From<Flag> for bool {
    fn from(flag: Flag) -> Self {
        flag.0 != 0
    }
}
