//! Accounts, known only by `account_ref`.

use super::{Store, StoreError};
use crate::core::account::AccountState;
use crate::core::linkage::AccountRef;

/// The account row written on first sight of an account.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    pub account_ref: &'a AccountRef,
    /// Present when the caller sealed one (first sight of the account).
    pub glass_link: Option<&'a [u8]>,
    pub created_hour: i64,
    /// Keyed tags of relation keys to attach (see `abuse::relations`).
    pub relations: &'a [[u8; 32]],
}

impl Store {
    /// The account's state in force at `now` (a timed remedy past its end
    /// reads active); `None` when the account has no row (never seen, or
    /// deleted). How the state shows on pseudonyms is
    /// [`PseudonymStatus::of`](crate::core::status::PseudonymStatus::of).
    pub async fn account_status(
        &self,
        account_ref: &AccountRef,
        now: i64,
    ) -> Result<Option<AccountState>, StoreError> {
        let row: Option<StateRow> =
            sqlx::query_as("SELECT status, status_until FROM accounts WHERE account_ref = $1")
                .bind(account_ref.0.as_slice())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| r.status.effective(r.status_until, now)))
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
