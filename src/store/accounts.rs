//! Accounts, known only by `account_ref`.

use super::{Store, StoreError, get};
use crate::core::account::AccountState;

/// The account row written on first sight of an account.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    pub account_ref: &'a [u8],
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
        account_ref: &[u8],
        now: i64,
    ) -> Result<Option<AccountState>, StoreError> {
        let row = sqlx::query("SELECT status, status_until FROM accounts WHERE account_ref = $1")
            .bind(account_ref)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let status: String = get(&row, "status")?;
        let until: Option<i64> = get(&row, "status_until")?;
        let state = AccountState::parse(&status).ok_or(StoreError::Corrupt("account status"))?;
        Ok(Some(state.effective(until, now)))
    }

    /// Whether this database already belongs to a veil: any API client,
    /// account or pseudonym. Startup refuses to generate keys over it.
    pub async fn holds_data(&self) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM api_clients) + (SELECT COUNT(*) FROM accounts) \
             + (SELECT COUNT(*) FROM pseudonyms) AS n",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(get::<i64>(&row, "n")? > 0)
    }

    pub async fn count_accounts(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM accounts").fetch_one(&self.pool).await?;
        get(&row, "n")
    }
}
