//! What a request that certifies keys reads before it signs, in one
//! statement: each read is a round trip (on SQLite, two thread hand-offs),
//! and under load those, not the SQL, are what a mint costs.

use super::pseudonyms::placeholders;
use super::shapes::{padded, padded_len};
use super::{Store, StoreError};
use crate::core::account::AccountState;
use crate::core::linkage::AccountRef;

/// The question: one account, its fixed windows, the keys to certify.
#[derive(Debug, Clone, Copy)]
pub struct SightQuery<'a> {
    pub account_ref: &'a AccountRef,
    /// `(action, window_start)` of each account window to read.
    pub windows: [(&'static str, i64); 2],
    /// Reputation events at or after this time count (and every one that
    /// does not decay).
    pub events_since: i64,
    /// Public keys (SEC1) that must not be certified to a pseudonym yet.
    pub public_keys: &'a [&'a [u8]],
    /// Keyed tags of keys that must not be certified to a client yet.
    pub client_key_tags: &'a [[u8; 32]],
}

/// The answer, as stored (the domain judges it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintSight {
    /// The account's stored status and its end; `None`: no row.
    pub status: Option<(AccountState, Option<i64>)>,
    /// The count of each window asked for (0 without a row).
    pub window_counts: [i64; 2],
    /// Whether the account has reputation events that count (then the
    /// caller reads them; most accounts have none).
    pub has_events: bool,
    /// Whether one of the keys is certified already.
    pub keys_in_use: bool,
}

type SightRow = (Option<String>, Option<i64>, Option<i64>, Option<i64>, i64, i64);

impl Store {
    /// Everything [`SightQuery`] asks, in one statement.
    pub async fn mint_sight(&self, query: &SightQuery<'_>) -> Result<MintSight, StoreError> {
        // Padded lists: one statement text per power of two of keys.
        let keys = padded_len(query.public_keys.len());
        let tags = padded_len(query.client_key_tags.len());
        // $1 the account, $2..$5 the windows, $6 the events' horizon, then
        // the keys and the tags.
        let in_list = |first: usize, n: usize, sql: &str| match n {
            0 => "0".to_string(),
            _ => format!("({sql} ({}))", placeholders(first, n)),
        };
        let sql = format!(
            "SELECT (SELECT status FROM accounts WHERE account_ref = $1), \
             (SELECT status_until FROM accounts WHERE account_ref = $1), \
             (SELECT n FROM rate_windows WHERE subject = $1 AND action = $2 AND window_start = $3), \
             (SELECT n FROM rate_windows WHERE subject = $1 AND action = $4 AND window_start = $5), \
             (SELECT COUNT(*) FROM (SELECT 1 AS one FROM reputation_events \
              WHERE account_ref = $1 AND (at >= $6 OR decays = 0) LIMIT 1) AS counting), \
             {} + {}",
            in_list(7, keys, "SELECT COUNT(*) FROM pseudonyms WHERE public_key IN"),
            in_list(7 + keys, tags, "SELECT COUNT(*) FROM pseudonym_clients WHERE key_tag IN"),
        );
        // Only placeholders are formatted in; every value is bound (owned:
        // a read that meets a broken connection runs again on a fresh one).
        let [(hour_action, hour_start), (day_action, day_start)] = query.windows;
        let account_ref = query.account_ref.0.to_vec();
        let keys: Vec<Vec<u8>> = padded(query.public_keys).map(|k| k.to_vec()).collect();
        let tags: Vec<Vec<u8>> = padded(query.client_key_tags).map(|t| t.to_vec()).collect();
        let read = self.readers.read(&self.pool, |conn| {
            let mut statement = sqlx::query_as::<_, SightRow>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(account_ref.clone())
                .bind(hour_action)
                .bind(hour_start)
                .bind(day_action)
                .bind(day_start)
                .bind(query.events_since);
            for value in keys.iter().chain(&tags) {
                statement = statement.bind(value.clone());
            }
            Box::pin(statement.fetch_one(conn))
        });
        let (status, until, hour, day, events, keys_used) = read.await?;
        let status = match status {
            None => None,
            Some(text) => Some((
                AccountState::parse(&text).ok_or(StoreError::Corrupt("account status"))?,
                until,
            )),
        };
        Ok(MintSight {
            status,
            window_counts: [hour.unwrap_or(0), day.unwrap_or(0)],
            has_events: events > 0,
            keys_in_use: keys_used > 0,
        })
    }
}
