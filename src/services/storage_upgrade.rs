//! Startup step for databases written before issue 11: re-seals each
//! account's pseudonym index into one value on its account row, with the
//! old revocation stamps as flags, and lets the store drop the layout that
//! linked pseudonyms to accounts (see `store::upgrade`). It needs `k_ops`
//! and `k_ref`, so it runs once the keys are loaded; a database already
//! upgraded (or created since) skips it.

use crate::core::linkage::{AccountRef, LinkKeys};
use crate::core::pseudonym_id::PseudonymId;
use crate::core::pseudonym_index::{IndexEntry, PseudonymIndex};
use crate::store::{LegacyEntry, Store, StoreError, UpgradeKeys, UpgradeReport};

/// Upgrades the database if it still has the old layout; `None` when it
/// had nothing to do. `now` drops index entries already expired.
pub async fn upgrade_if_needed(
    store: &Store,
    link: &LinkKeys,
    now: i64,
) -> Result<Option<UpgradeReport>, StoreError> {
    if !store.needs_unlinkable_upgrade().await? {
        return Ok(None);
    }
    let open_entry = |account: &AccountRef, sealed: &[u8]| {
        let id = link.open_ops(sealed, &account.0).ok()?;
        PseudonymId::parse(std::str::from_utf8(&id).ok()?)
    };
    let seal_index = |account: &AccountRef, entries: &[LegacyEntry]| {
        let mut index = PseudonymIndex::default();
        for entry in entries {
            index.push(IndexEntry {
                id: entry.id.clone(),
                not_after: entry.not_after,
                revoked: entry.revoked,
            });
        }
        index.seal(link, account, now).ok()
    };
    let reveal_tag = |account: &AccountRef| link.reveal_tag(account);
    let keys =
        UpgradeKeys { open_entry: &open_entry, seal_index: &seal_index, reveal_tag: &reveal_tag };
    let report = store.upgrade_to_unlinkable(&keys).await?;
    if report == UpgradeReport::default() {
        // A new database: nothing to move, nothing to tell the operator.
        tracing::debug!("storage laid out without the linking index");
    } else {
        tracing::info!(
            accounts = report.accounts,
            pseudonyms = report.pseudonyms,
            skipped = report.skipped,
            "storage upgraded: pseudonym indexes re-sealed on the account rows, linking layout dropped"
        );
    }
    Ok(Some(report))
}
