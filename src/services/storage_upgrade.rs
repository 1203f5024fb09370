//! Startup step for databases written before issue 11: re-seals each
//! account's pseudonym index into one value on its account row, with the
//! old revocation stamps as flags, and lets the store drop the layout that
//! linked pseudonyms to accounts (see `store::upgrade`). It needs `k_ops`
//! and `k_ref`, so it runs once the keys are loaded; a database already
//! upgraded (or created since) skips it.

use crate::core::linkage::{AccountRef, LinkKeys};
use crate::core::ops_keys::OpsPurpose;
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
        // Sealed before per-purpose keys: `open_ops` falls back to `k_ops`.
        let id = link.open_ops(OpsPurpose::PseudonymIndex, sealed, &account.0).ok()?;
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

/// Startup step for databases written before links carried an integrity
/// tag (issue 12): tags each such link as it is now, so it can still be
/// released. Trusted on this first start, as the old design trusted every
/// link; from then on a link edited in the database is refused. Returns
/// how many links were tagged.
pub async fn tag_untagged_glass_links(store: &Store, link: &LinkKeys) -> Result<u64, StoreError> {
    const BATCH: i64 = 1000;
    let mut tagged = 0u64;
    loop {
        let rows = store.untagged_glass_links(BATCH).await?;
        let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) >= BATCH;
        let before = tagged;
        for (account, sealed, suite) in rows {
            let Ok(bytes) = <[u8; 32]>::try_from(account.as_slice()) else { continue };
            let tag = super::glass_tag::tag(link, &AccountRef(bytes), suite, None, &sealed);
            store.set_glass_tag(&account, &sealed, &tag).await?;
            tagged += 1;
        }
        // A batch that tagged nothing would come back unchanged.
        if !full || tagged == before {
            break;
        }
    }
    if tagged > 0 {
        tracing::info!(links = tagged, "break-glass links from before integrity tags tagged");
    }
    Ok(tagged)
}
