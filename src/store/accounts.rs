//! Accounts, known only by `account_ref`.

use super::{Store, StoreError, get};

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
    /// The status hubs see as of `now`: `active` or `suspended` (a muted
    /// account's pseudonyms stay active; a timed remedy past its end is over).
    pub async fn account_status(
        &self,
        account_ref: &[u8],
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT CASE WHEN status_until IS NOT NULL AND status_until <= $2 THEN 'active' \
             WHEN status = 'muted' THEN 'active' ELSE status END AS status \
             FROM accounts WHERE account_ref = $1",
        )
        .bind(account_ref)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(|r| get(r, "status")).transpose()
    }

    pub async fn count_accounts(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM accounts").fetch_one(&self.pool).await?;
        get(&row, "n")
    }
}
