//! The one-time move of a database written before issue 11 to storage that
//! leaves nothing to join (migration 0014 explains the shape). It needs
//! `k_ops` and `k_ref`, which the store never holds, so the domain passes
//! what it does with them as closures; the SQL stays here.

use std::collections::BTreeMap;

use sqlx::{Any, Transaction};

use super::pseudonyms::{IDS_PER_STATEMENT, placeholders};
use super::{Backend, Hash32, Store, StoreError};
use crate::core::linkage::AccountRef;
use crate::core::pseudonym_id::PseudonymId;

/// One pseudonym as the old index named it, for the domain to re-seal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyEntry {
    pub id: PseudonymId,
    pub not_after: i64,
    /// Revoked by a stamp on its row (account-wide or one by one).
    pub revoked: bool,
}

/// An old index entry (sealed id, aad = account ref) → the id.
pub type OpenEntry<'a> = &'a dyn Fn(&AccountRef, &[u8]) -> Option<PseudonymId>;
/// The account's entries → its sealed index.
pub type SealIndex<'a> = &'a dyn Fn(&AccountRef, &[LegacyEntry]) -> Option<Vec<u8>>;

/// What the domain does with its keys during the upgrade.
pub struct UpgradeKeys<'a> {
    pub open_entry: OpenEntry<'a>,
    pub seal_index: SealIndex<'a>,
    /// A revealed request's account → the tag its row keeps instead.
    pub reveal_tag: &'a dyn Fn(&AccountRef) -> [u8; 32],
}

/// What the upgrade did, for the startup log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpgradeReport {
    pub accounts: usize,
    pub pseudonyms: usize,
    /// Old index entries that did not open or named no stored pseudonym.
    pub skipped: usize,
}

#[derive(sqlx::FromRow)]
struct LegacyRow {
    id: String,
    not_after: i64,
    revoked_at: Option<i64>,
}

impl Store {
    /// Whether the database still has the pre-issue-11 layout.
    pub async fn needs_unlinkable_upgrade(&self) -> Result<bool, StoreError> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT COUNT(*) AS n FROM sqlite_master \
                 WHERE type = 'table' AND name = 'account_pseudonyms'"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) AS n FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = 'account_pseudonyms'"
            }
        };
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&self.pool).await?;
        Ok(n > 0)
    }

    /// Moves the database to the unlinkable layout in one transaction (a
    /// crash leaves the old layout whole, and the next start retries), then
    /// compacts it so the old rows leave the files too.
    pub async fn upgrade_to_unlinkable(
        &self,
        keys: &UpgradeKeys<'_>,
    ) -> Result<UpgradeReport, StoreError> {
        let mut tx = self.begin_write().await?;
        let report = reseal_indexes(&mut tx, keys).await?;
        // Pseudonyms of deleted accounts read `revoked` from their empty
        // link; the rest from the account's index. No stamp stays that an
        // account's pseudonyms could share.
        sqlx::query("UPDATE pseudonyms SET revoked_at = NULL WHERE ops_link = $1")
            .bind(Vec::<u8>::new())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE pseudonyms SET revoked_at = revoked_at - (revoked_at % 3600) \
             WHERE revoked_at IS NOT NULL",
        )
        .execute(&mut *tx)
        .await?;
        randomize_event_ids(&mut tx).await?;
        retag_reveals(&mut tx, keys).await?;
        self.rebuild_pseudonyms(&mut tx).await?;
        sqlx::query("DROP TABLE account_pseudonyms").execute(&mut *tx).await?;
        tx.commit().await?;
        self.compact().await?;
        Ok(report)
    }

    /// Rewrites `pseudonyms` in id order (ids are random, so the order is
    /// too): on SQLite as a `WITHOUT ROWID` table, whose file order is its
    /// key order; on PostgreSQL every row gets this transaction's id, so
    /// old rows no longer group by the mint that wrote them.
    async fn rebuild_pseudonyms(
        &self,
        tx: &mut Transaction<'static, Any>,
    ) -> Result<(), StoreError> {
        let without_rowid = match self.backend {
            Backend::Sqlite => " WITHOUT ROWID",
            Backend::Postgres => "",
        };
        let create = format!(
            "CREATE TABLE pseudonyms_unlinkable (\
             id TEXT PRIMARY KEY, public_key BYTEA NOT NULL UNIQUE, ops_link BYTEA NOT NULL, \
             connection_only BIGINT NOT NULL, created_hour BIGINT NOT NULL, \
             not_before BIGINT NOT NULL, not_after BIGINT NOT NULL, revoked_at BIGINT){without_rowid}"
        );
        for sql in [
            create.as_str(),
            "INSERT INTO pseudonyms_unlinkable (id, public_key, ops_link, connection_only, \
             created_hour, not_before, not_after, revoked_at) \
             SELECT id, public_key, ops_link, connection_only, created_hour, not_before, \
             not_after, revoked_at FROM pseudonyms ORDER BY id",
            "DROP TABLE pseudonyms",
            "ALTER TABLE pseudonyms_unlinkable RENAME TO pseudonyms",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Frees the pages the old layout used, so its rows leave the files.
    async fn compact(&self) -> Result<(), StoreError> {
        let sql = match self.backend {
            Backend::Sqlite => "VACUUM",
            Backend::Postgres => {
                "VACUUM FULL accounts, pseudonyms, reputation_events, break_glass_requests"
            }
        };
        sqlx::query(sql).execute(&self.pool).await?;
        Ok(())
    }
}

/// Builds each account's sealed index from its old index rows, with the
/// revocation stamps its pseudonyms carry as flags.
async fn reseal_indexes(
    tx: &mut Transaction<'static, Any>,
    keys: &UpgradeKeys<'_>,
) -> Result<UpgradeReport, StoreError> {
    let rows: Vec<(Vec<u8>, Vec<u8>)> =
        sqlx::query_as("SELECT account_ref, sealed_pseudonym FROM account_pseudonyms")
            .fetch_all(&mut **tx)
            .await?;
    let mut by_account: BTreeMap<[u8; 32], Vec<Vec<u8>>> = BTreeMap::new();
    for (account, sealed) in rows {
        by_account.entry(Hash32::try_from(account)?.0).or_default().push(sealed);
    }
    let mut report = UpgradeReport::default();
    for (account, sealed) in by_account {
        let account = AccountRef(account);
        let ids: Vec<PseudonymId> =
            sealed.iter().filter_map(|s| (keys.open_entry)(&account, s)).collect();
        let mut entries = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "SELECT id, not_after, revoked_at FROM pseudonyms WHERE id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query_as::<_, LegacyRow>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.as_str());
            }
            for row in query.fetch_all(&mut **tx).await? {
                let id = PseudonymId::try_from(row.id)
                    .map_err(|_| StoreError::Corrupt("pseudonym id"))?;
                entries.push(LegacyEntry {
                    id,
                    not_after: row.not_after,
                    revoked: row.revoked_at.is_some(),
                });
            }
        }
        report.skipped += sealed.len() - entries.len();
        let index =
            (keys.seal_index)(&account, &entries).ok_or(StoreError::Corrupt("pseudonym index"))?;
        sqlx::query("UPDATE accounts SET pseudonym_index = $1 WHERE account_ref = $2")
            .bind(index)
            .bind(account.0.as_slice())
            .execute(&mut **tx)
            .await?;
        let revoked: Vec<&PseudonymId> =
            entries.iter().filter(|e| e.revoked).map(|e| &e.id).collect();
        for chunk in revoked.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE pseudonyms SET revoked_at = NULL WHERE id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.as_str());
            }
            query.execute(&mut **tx).await?;
        }
        report.accounts += 1;
        report.pseudonyms += entries.len();
    }
    Ok(report)
}

/// Reputation events took their id from the first pseudonym of a mint or
/// from the remedy: both joinable. Every event gets a fresh random id.
async fn randomize_event_ids(tx: &mut Transaction<'static, Any>) -> Result<(), StoreError> {
    let ids: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT id FROM reputation_events \
         WHERE kind IN ('pseudonym_minted', 'remedy_applied', 'report_upheld')",
    )
    .fetch_all(&mut **tx)
    .await?;
    for id in ids {
        sqlx::query("UPDATE reputation_events SET id = $1 WHERE id = $2")
            .bind(uuid::Uuid::new_v4().into_bytes().as_slice())
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Revealed requests kept the account ref beside the pseudonym: re-keyed.
async fn retag_reveals(
    tx: &mut Transaction<'static, Any>,
    keys: &UpgradeKeys<'_>,
) -> Result<(), StoreError> {
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT id, reveal_tag FROM break_glass_requests WHERE reveal_tag IS NOT NULL",
    )
    .fetch_all(&mut **tx)
    .await?;
    for (id, account) in rows {
        let tag = (keys.reveal_tag)(&Hash32::try_from(account)?.into());
        sqlx::query("UPDATE break_glass_requests SET reveal_tag = $1 WHERE id = $2")
            .bind(tag.as_slice())
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
