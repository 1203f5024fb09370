//! Accounts, known only by `account_ref`.

use super::reputation::{NewReputationEvent, put_event};
use sqlx::{Any, Transaction};

use super::limits::charge_windows;
use super::{Charges, NewPseudonym, Store, StoreError};
use crate::core::account::AccountState;
use crate::core::linkage::AccountRef;

/// An account's break-glass link as the service sealed it, with what it is
/// opened with and its integrity tag (`LinkKeys::glass_tag`).
#[derive(Debug, Clone)]
pub struct GlassRow {
    pub link: Vec<u8>,
    /// `formats::glass_link::GlassSuite` code.
    pub suite: i64,
    /// The HPKE sender public key it was sealed with (current suite).
    pub sender: Option<Vec<u8>>,
    pub tag: [u8; 32],
}

/// The account row written on first sight of an account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub account_ref: AccountRef,
    /// Present when the caller sealed one (first sight of the account, or
    /// a link sealed with other keys to replace).
    pub glass: Option<GlassRow>,
    /// The keys links are sealed with now (`GlassSealer::key_id`).
    pub glass_key_id: Vec<u8>,
    pub created_hour: i64,
    /// Keyed tags of relation keys to attach (see `abuse::relations`).
    pub relations: Vec<[u8; 32]>,
}

/// What the domain makes of the account's sealed pseudonym index, given
/// the stored value while the transaction holds the account row (so no
/// concurrent mint or remedy can slip an entry in between).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexChange {
    /// Store this sealed index; `live` is its count of live pseudonyms.
    Write { sealed: Vec<u8>, live: i64 },
    /// The mint would pass the account's maximum of active pseudonyms.
    OverActive,
    /// The stored value does not open (edited outside veil, or another key).
    Unreadable,
}

/// The domain's step on the sealed index, run by the writer under the
/// account's row lock (only the domain holds the key that opens it).
pub type IndexUpdate = Box<dyn Fn(Option<&[u8]>) -> IndexChange + Send + Sync>;

/// One mint request's database effects, handed to the batch writer
/// ([`Store::mint`]): the account side (limits, sealed index, events) and
/// the pseudonym rows.
pub struct MintJob {
    pub account: NewAccount,
    pub charges: Charges,
    /// Pseudonyms in the request (what the windows charge).
    pub amount: i64,
    /// A fresh random id for the `pseudonym_minted` reputation event: an id
    /// taken from the batch would name a pseudonym beside the account.
    pub event_id: [u8; 16],
    /// The account's tombstone tag, when a deleted account may not return:
    /// creating its row anew is then refused (`StoreError::Restricted`).
    pub tombstone: Option<[u8; 32]>,
    pub index: IndexUpdate,
    pub pseudonyms: Vec<NewPseudonym>,
}

impl std::fmt::Debug for MintJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintJob").field("amount", &self.amount).finish_non_exhaustive()
    }
}

/// What a pseudonym's status read needs of its account.
#[derive(Debug, Clone)]
pub struct AccountView {
    /// The state in force at the time asked.
    pub state: AccountState,
    /// The sealed pseudonym index (`None`: nothing minted since it existed).
    pub sealed_index: Option<Vec<u8>>,
}

impl Store {
    /// The account's sealed pseudonym index; `None` when the account has no
    /// row, `Some(None)` when it has no index yet.
    pub async fn pseudonym_index(
        &self,
        account_ref: &AccountRef,
    ) -> Result<Option<Option<Vec<u8>>>, StoreError> {
        Ok(sqlx::query_scalar("SELECT pseudonym_index FROM accounts WHERE account_ref = $1")
            .bind(account_ref.0.as_slice())
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The account's state at `now` and its sealed index, for a pseudonym's
    /// status; `None` when the account has no row (deleted).
    pub async fn account_view(
        &self,
        account_ref: &AccountRef,
        now: i64,
    ) -> Result<Option<AccountView>, StoreError> {
        let row: Option<StateAndIndex> = sqlx::query_as(
            "SELECT status, status_until, pseudonym_index FROM accounts WHERE account_ref = $1",
        )
        .bind(account_ref.0.as_slice())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.view(now)))
    }

    /// Whether this database already belongs to a veil: any API client,
    /// account or pseudonym. Startup refuses to generate keys over it.
    pub async fn holds_data(&self) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM api_clients) + (SELECT COUNT(*) FROM accounts) \
             + (SELECT COUNT(*) FROM pseudonyms)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    pub async fn count_accounts(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) AS n FROM accounts").fetch_one(&self.pool).await?)
    }
}

/// The account side of one mint, inside the writer's batch transaction.
/// No savepoint (PostgreSQL's subtransactions cost more than the rest of
/// the request): everything that can refuse is checked before the write it
/// guards, and the two writes a later refusal could follow are taken back
/// by hand (a just-created account row; a window charged before the other
/// refused). So a refused request leaves nothing, and the batch goes on.
///
/// Creates the account on first sight, takes its row lock, lets the domain
/// append the request to the sealed index, charges the account's windows,
/// and writes the reputation event and relation tags. The shared limits
/// (client bucket, global window) are the writer's `SharedLedger`.
pub(super) async fn account_job(
    tx: &mut Transaction<'static, Any>,
    job: &MintJob,
) -> Result<(), StoreError> {
    let account = &job.account;
    let account_ref = account.account_ref.0.as_slice();
    // The row lock, and the state and index as the last committed writer
    // left them: a remedy that committed after the caller's standing check
    // is seen here, so no pseudonym is minted past it.
    let mut locked = lock_account(tx, account_ref).await?;
    let mut created = false;
    if locked.is_none() {
        let Some(glass) = &account.glass else {
            // New after all (e.g. just deleted): its first row must carry a
            // glass link, so the caller seals one and retries.
            return Err(StoreError::AccountMissing);
        };
        if let Some(tag) = job.tombstone {
            let buried = sqlx::query("SELECT 1 AS one FROM account_tombstones WHERE tag = $1")
                .bind(tag.as_slice())
                .fetch_optional(&mut **tx)
                .await?;
            if buried.is_some() {
                return Err(StoreError::Restricted);
            }
        }
        let inserted = sqlx::query(
            "INSERT INTO accounts (account_ref, glass_link, glass_suite, glass_sender, glass_tag, \
             glass_key_id, status, created_hour) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7) \
             ON CONFLICT (account_ref) DO NOTHING",
        )
        .bind(account_ref)
        .bind(glass.link.as_slice())
        .bind(glass.suite)
        .bind(glass.sender.as_deref())
        .bind(glass.tag.as_slice())
        .bind(account.glass_key_id.as_slice())
        .bind(account.created_hour)
        .execute(&mut **tx)
        .await?;
        created = inserted.rows_affected() == 1;
        locked = match created {
            // What the insert wrote; the insert holds its lock.
            true => Some(LockedAccount {
                row: StateAndIndex {
                    state: StateRow { status: AccountState::Active, status_until: None },
                    pseudonym_index: None,
                },
                glass_key_id: Some(account.glass_key_id.clone()),
            }),
            // Another replica created it meanwhile: its row, locked.
            false => lock_account(tx, account_ref).await?,
        };
    }
    let Some(LockedAccount { row: locked, glass_key_id }) = locked else {
        return Err(StoreError::AccountMissing);
    };
    let outcome = account_writes(tx, job, locked, glass_key_id, created).await;
    if outcome.is_err() && created {
        sqlx::query("DELETE FROM accounts WHERE account_ref = $1")
            .bind(account_ref)
            .execute(&mut **tx)
            .await?;
    }
    outcome
}

async fn lock_account(
    tx: &mut Transaction<'static, Any>,
    account_ref: &[u8],
) -> Result<Option<LockedAccount>, StoreError> {
    Ok(sqlx::query_as(
        "UPDATE accounts SET active_pseudonyms = active_pseudonyms WHERE account_ref = $1 \
         RETURNING status, status_until, pseudonym_index, glass_key_id",
    )
    .bind(account_ref)
    .fetch_optional(&mut **tx)
    .await?)
}

/// The checks and writes of [`account_job`] once the account row is held.
async fn account_writes(
    tx: &mut Transaction<'static, Any>,
    job: &MintJob,
    locked: StateAndIndex,
    glass_key_id: Option<Vec<u8>>,
    created: bool,
) -> Result<(), StoreError> {
    let account = &job.account;
    let account_ref = account.account_ref.0.as_slice();
    if !locked.state.status.effective(locked.state.status_until, job.charges.now).may_act() {
        return Err(StoreError::Restricted);
    }
    let (sealed, live) = match (job.index)(locked.pseudonym_index.as_deref()) {
        IndexChange::Write { sealed, live } => (sealed, live),
        IndexChange::OverActive => return Err(StoreError::OverLimit(super::Limited::Active)),
        IndexChange::Unreadable => return Err(StoreError::Corrupt("pseudonym index")),
    };
    let reseal = glass_key_id.as_deref() != Some(account.glass_key_id.as_slice());
    if reseal && account.glass.is_none() {
        // Sealed with other keys (an older suite, a rotated break-glass
        // key): the caller seals it anew with the current keys and retries.
        return Err(StoreError::GlassOutdated);
    }
    // The last check that can refuse; all or nothing by itself.
    charge_windows(tx, &job.charges.windows, 0, !created).await?;
    if reseal && let Some(glass) = &account.glass {
        reseal_glass(tx, account, glass).await?;
    }
    sqlx::query(
        "UPDATE accounts SET pseudonym_index = $1, active_pseudonyms = $2 WHERE account_ref = $3",
    )
    .bind(sealed)
    .bind(live)
    .bind(account_ref)
    .execute(&mut **tx)
    .await?;
    if job.charges.reputation_per_pseudonym != 0 {
        let event = NewReputationEvent {
            id: &job.event_id,
            account_ref: &account.account_ref,
            kind: "pseudonym_minted",
            points: job.charges.reputation_per_pseudonym.saturating_mul(job.amount),
            at: job.charges.now,
            decays: true,
        };
        put_event(tx, &event).await?;
    }
    if !account.relations.is_empty() {
        let mut sql = String::from("INSERT INTO account_relations (tag, account_ref) VALUES ");
        super::pseudonyms::push_placeholders(&mut sql, account.relations.len(), 2, "");
        sql.push_str(" ON CONFLICT (tag, account_ref) DO NOTHING");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        for tag in &account.relations {
            query = query.bind(tag.as_slice()).bind(account_ref);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Replaces the account's `glass_link` with one sealed under the current
/// keys (after a rotation or a suite change).
pub(super) async fn reseal_glass(
    tx: &mut Transaction<'static, Any>,
    account: &NewAccount,
    glass: &GlassRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE accounts SET glass_link = $1, glass_suite = $2, glass_sender = $3, \
         glass_tag = $4, glass_key_id = $5 WHERE account_ref = $6",
    )
    .bind(glass.link.as_slice())
    .bind(glass.suite)
    .bind(glass.sender.as_deref())
    .bind(glass.tag.as_slice())
    .bind(account.glass_key_id.as_slice())
    .bind(account.account_ref.0.as_slice())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Inserts account rows (active) with their sealed index and live count, in
/// multi-row statements, skipping any that exists already; returns how many
/// it inserted. A mint batch's new accounts, and the scale benchmark's seed.
pub(super) async fn insert_new_accounts(
    tx: &mut Transaction<'static, Any>,
    rows: &[(&NewAccount, &[u8], i64)],
) -> Result<usize, StoreError> {
    const COLUMNS: usize = 9;
    let mut inserted = 0;
    for chunk in super::shapes::pieces(rows) {
        let mut sql = String::from(
            "INSERT INTO accounts (account_ref, glass_link, glass_suite, glass_sender, glass_tag, \
             glass_key_id, created_hour, pseudonym_index, active_pseudonyms, status) VALUES ",
        );
        super::pseudonyms::push_placeholders(&mut sql, chunk.len(), COLUMNS, ", 'active'");
        sql.push_str(" ON CONFLICT (account_ref) DO NOTHING RETURNING account_ref");
        // Only placeholders are formatted in; every value is bound.
        let mut query = sqlx::query_scalar::<_, Vec<u8>>(sqlx::AssertSqlSafe(sql));
        for (account, sealed, live) in chunk {
            let glass = account.glass.as_ref();
            query = query
                .bind(account.account_ref.0.as_slice())
                .bind(glass.map(|g| g.link.as_slice()))
                .bind(glass.map_or(1, |g| g.suite))
                .bind(glass.and_then(|g| g.sender.as_deref()))
                .bind(glass.map(|g| g.tag.as_slice()))
                .bind(account.glass_key_id.as_slice())
                .bind(account.created_hour)
                .bind(*sealed)
                .bind(*live);
        }
        inserted += query.fetch_all(&mut **tx).await?.len();
    }
    Ok(inserted)
}

/// The account's state and sealed index, as the mint's lock and a status
/// read both select them.
#[derive(sqlx::FromRow)]
pub(super) struct StateAndIndex {
    #[sqlx(flatten)]
    pub(super) state: StateRow,
    pub(super) pseudonym_index: Option<Vec<u8>>,
}

impl StateAndIndex {
    /// The account as a pseudonym's status reads it at `now`.
    fn view(self, now: i64) -> AccountView {
        AccountView {
            state: self.state.status.effective(self.state.status_until, now),
            sealed_index: self.pseudonym_index,
        }
    }
}

/// [`StateAndIndex`] with the account it belongs to, as the reads of many
/// accounts at once select it.
#[derive(sqlx::FromRow)]
pub(super) struct AccountViewRow {
    account_ref: Vec<u8>,
    #[sqlx(flatten)]
    row: StateAndIndex,
}

impl AccountViewRow {
    /// The account and its view at `now`.
    pub(super) fn into_view(self, now: i64) -> Result<(AccountRef, AccountView), StoreError> {
        let bytes = <[u8; 32]>::try_from(self.account_ref.as_slice())
            .map_err(|_| StoreError::Corrupt("32-byte account ref"))?;
        Ok((AccountRef(bytes), self.row.view(now)))
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct LockedAccount {
    #[sqlx(flatten)]
    pub(super) row: StateAndIndex,
    pub(super) glass_key_id: Option<Vec<u8>>,
}

/// The stored status column and when it ends.
#[derive(sqlx::FromRow)]
pub(super) struct StateRow {
    #[sqlx(try_from = "String")]
    pub status: AccountState,
    pub status_until: Option<i64>,
}

/// The status column as stored; anything else was written outside veil.
impl TryFrom<String> for AccountState {
    type Error = StoreError;

    fn try_from(text: String) -> Result<Self, StoreError> {
        AccountState::parse(&text).ok_or(StoreError::Corrupt("account status"))
    }
}

/// An account row as the seeding tool of the scale benchmark writes it
/// (`examples/load`): what its mints would have left, without the mints.
#[cfg(feature = "testkit")]
#[derive(Debug, Clone)]
pub struct SeededAccount {
    pub account: NewAccount,
    pub sealed_index: Vec<u8>,
    pub live: i64,
}

#[cfg(feature = "testkit")]
impl Store {
    /// Writes seeded account rows in multi-row INSERTs, one transaction.
    pub async fn seed_accounts(&self, rows: &[SeededAccount]) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        let mut tx = self.begin_write().await?;
        let rows: Vec<(&NewAccount, &[u8], i64)> =
            rows.iter().map(|r| (&r.account, r.sealed_index.as_slice(), r.live)).collect();
        insert_new_accounts(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(())
    }
}
