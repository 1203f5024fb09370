//! Accounts, known only by `account_ref`.

use super::{Store, StoreError, get};

/// The account row written on first sight of an account.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    pub account_ref: &'a [u8],
    /// Present when the caller sealed one (first sight of the account).
    pub glass_link: Option<&'a [u8]>,
    pub created_hour: i64,
}

impl Store {
    pub async fn account_exists(&self, account_ref: &[u8]) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 AS one FROM accounts WHERE account_ref = $1")
            .bind(account_ref)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    pub async fn account_status(&self, account_ref: &[u8]) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT status FROM accounts WHERE account_ref = $1")
            .bind(account_ref)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| get(r, "status")).transpose()
    }

    pub async fn count_accounts(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM accounts").fetch_one(&self.pool).await?;
        get(&row, "n")
    }
}
