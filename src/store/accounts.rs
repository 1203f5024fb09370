//! Accounts, known only by `account_ref`.

use super::reputation::{NewReputationEvent, put_event};
use super::{Charges, Store, StoreError};
use crate::core::account::AccountState;
use crate::core::linkage::AccountRef;

/// An account's break-glass link as the service sealed it, with what it is
/// opened with and its integrity tag (`LinkKeys::glass_tag`).
#[derive(Debug, Clone, Copy)]
pub struct GlassRow<'a> {
    pub link: &'a [u8],
    /// `formats::glass_link::GlassSuite` code.
    pub suite: i64,
    /// The HPKE sender public key it was sealed with (current suite).
    pub sender: Option<&'a [u8]>,
    pub tag: &'a [u8],
}

/// The account row written on first sight of an account.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    pub account_ref: &'a AccountRef,
    /// Present when the caller sealed one (first sight of the account, or
    /// a link sealed with other keys to replace).
    pub glass: Option<GlassRow<'a>>,
    /// The keys links are sealed with now (`GlassSealer::key_id`).
    pub glass_key_id: &'a [u8],
    pub created_hour: i64,
    /// Keyed tags of relation keys to attach (see `abuse::relations`).
    pub relations: &'a [[u8; 32]],
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

/// The account side of a mint: everything keyed by the account, written in
/// a transaction that touches no pseudonym row.
#[derive(Debug, Clone)]
pub struct AccountSideMint<'a> {
    pub account: NewAccount<'a>,
    pub charges: &'a Charges<'a>,
    /// Pseudonyms in the batch (what the windows charge).
    pub amount: i64,
    /// A fresh random id for the `pseudonym_minted` reputation event: an id
    /// taken from the batch would name a pseudonym beside the account.
    pub event_id: &'a [u8],
    /// The account's tombstone tag, when a deleted account may not return:
    /// creating its row anew is then refused (`StoreError::Restricted`).
    pub tombstone: Option<&'a [u8; 32]>,
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
    /// The account side of a mint, in one transaction: creates the account
    /// on first sight, takes its row lock, charges the rate limits, lets
    /// `change` append the batch to the sealed index, and writes the
    /// reputation event and relation tags. A refusal rolls everything back.
    /// The pseudonym rows follow in their own transaction
    /// ([`Store::insert_pseudonyms`]); a crash in between leaves index
    /// entries that name no pseudonym (remedies skip them) and no
    /// acknowledged mint.
    pub async fn mint_account_side(
        &self,
        mint: &AccountSideMint<'_>,
        change: impl FnOnce(Option<&[u8]>) -> IndexChange,
    ) -> Result<(), StoreError> {
        let account = &mint.account;
        let account_ref = account.account_ref.0.as_slice();
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await?;
        if self.backend == super::Backend::Postgres {
            // Nothing is acknowledged until the pseudonym side commits, and
            // its synchronous commit flushes the write-ahead log through
            // this transaction's commit record too: one flush per mint, not
            // two. A crash before that loses only unacknowledged work.
            sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
        }
        let glass = account.glass;
        let inserted = sqlx::query(
            "INSERT INTO accounts (account_ref, glass_link, glass_suite, glass_sender, glass_tag, \
             glass_key_id, status, created_hour) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7) \
             ON CONFLICT (account_ref) DO NOTHING",
        )
        .bind(account_ref)
        .bind(glass.map(|g| g.link))
        .bind(glass.map_or(1, |g| g.suite))
        .bind(glass.and_then(|g| g.sender))
        .bind(glass.map(|g| g.tag))
        .bind(account.glass_key_id)
        .bind(account.created_hour)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 1 {
            if let Some(tag) = mint.tombstone {
                let buried = sqlx::query("SELECT 1 AS one FROM account_tombstones WHERE tag = $1")
                    .bind(tag.as_slice())
                    .fetch_optional(&mut *tx)
                    .await?;
                if buried.is_some() {
                    return Err(StoreError::Restricted);
                }
            }
            if account.glass.is_none() {
                // The account is new after all (e.g. just deleted): its first
                // row must carry a glass link, so let the caller seal one and
                // retry.
                return Err(StoreError::AccountMissing);
            }
        }
        // The row lock, and the state and index as the last committed
        // writer left them: a remedy that committed after the caller's
        // standing check is seen here, so no pseudonym is minted past it.
        let locked: Option<LockedAccount> = sqlx::query_as(
            "UPDATE accounts SET active_pseudonyms = active_pseudonyms WHERE account_ref = $1 \
             RETURNING status, status_until, pseudonym_index, glass_key_id",
        )
        .bind(account_ref)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(LockedAccount { row: locked, glass_key_id }) = locked else {
            return Err(StoreError::AccountMissing);
        };
        if !locked.state.status.effective(locked.state.status_until, mint.charges.now).may_act() {
            return Err(StoreError::Restricted);
        }
        if glass_key_id.as_deref() != Some(account.glass_key_id) {
            // Sealed with other keys (an older suite, a rotated break-glass
            // key): the caller holds the account id now, so the link is
            // re-sealed with the current keys here.
            let Some(glass) = account.glass else { return Err(StoreError::GlassOutdated) };
            sqlx::query(
                "UPDATE accounts SET glass_link = $1, glass_suite = $2, glass_sender = $3, \
                 glass_tag = $4, glass_key_id = $5 WHERE account_ref = $6",
            )
            .bind(glass.link)
            .bind(glass.suite)
            .bind(glass.sender)
            .bind(glass.tag)
            .bind(account.glass_key_id)
            .bind(account_ref)
            .execute(&mut *tx)
            .await?;
        }
        let (sealed, live) = match change(locked.pseudonym_index.as_deref()) {
            IndexChange::Write { sealed, live } => (sealed, live),
            IndexChange::OverActive => {
                return Err(StoreError::OverLimit(super::Limited::Active));
            }
            IndexChange::Unreadable => return Err(StoreError::Corrupt("pseudonym index")),
        };
        mint.charges.apply(&mut tx).await?;
        sqlx::query(
            "UPDATE accounts SET pseudonym_index = $1, active_pseudonyms = $2 WHERE account_ref = $3",
        )
        .bind(sealed)
        .bind(live)
        .bind(account_ref)
        .execute(&mut *tx)
        .await?;
        if mint.charges.reputation_per_pseudonym != 0 {
            let event = NewReputationEvent {
                id: mint.event_id,
                account_ref: account.account_ref,
                kind: "pseudonym_minted",
                points: mint.charges.reputation_per_pseudonym.saturating_mul(mint.amount),
                at: mint.charges.now,
                decays: true,
            };
            put_event(&mut tx, &event).await?;
        }
        if !account.relations.is_empty() {
            let mut sql = String::from("INSERT INTO account_relations (tag, account_ref) VALUES ");
            super::pseudonyms::push_placeholders(&mut sql, account.relations.len(), 2, "");
            sql.push_str(" ON CONFLICT (tag, account_ref) DO NOTHING");
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
            for tag in account.relations {
                query = query.bind(tag.as_slice()).bind(account_ref);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

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
        Ok(row.map(|r| AccountView {
            state: r.state.status.effective(r.state.status_until, now),
            sealed_index: r.pseudonym_index,
        }))
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

/// The account's state and sealed index, as the mint's lock and a status
/// read both select them.
#[derive(sqlx::FromRow)]
struct StateAndIndex {
    #[sqlx(flatten)]
    state: StateRow,
    pseudonym_index: Option<Vec<u8>>,
}

#[derive(sqlx::FromRow)]
struct LockedAccount {
    #[sqlx(flatten)]
    row: StateAndIndex,
    glass_key_id: Option<Vec<u8>>,
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
