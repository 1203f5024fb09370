//! The pseudonym CA's CRL (RFC 5280), for verifiers that check X.509:
//! pseudonym certificates and linked X.509 disclosures of revoked or
//! suspended pseudonyms, until they expire. Suspensions are listed as
//! `certificateHold` and leave the list when lifted.
//!
//! It is built from the accounts (each sealed index opened once: revoked
//! entries, and every live entry of a suspended account) and the deleted
//! accounts' pseudonyms, and published at `https://<domain>/v1/crl`,
//! rebuilt on the same schedule as the status lists (a remedy on any
//! replica, or `ttl`). Pseudonym certificate serials are derived from the
//! pseudonym id (`x509::pseudonym_serial`), so only linked certificates'
//! serials are stored. Every entry carries the same revocation date (the
//! hour of the build), so the dates do not group an account's pseudonyms.

use std::sync::Arc;

use tokio::sync::Mutex;

use crate::core::account::AccountState;
use crate::core::clock::Clock;
use crate::core::linkage::AccountRef;
use crate::core::ops_keys::OpsPurpose;
use crate::core::pseudonym_id::PseudonymId;
use crate::core::pseudonym_index::PseudonymIndex;
use crate::formats::x509::{RevokedEntry, pseudonym_serial};
use crate::services::keyring::KeySet;
use crate::services::status_lists::{StatusListsError, TTL_SECS, day_of, holder_of};
use crate::store::Store;

/// Accounts read per query while building.
const PAGE: i64 = 5000;
/// `nextUpdate`: verifiers may keep a CRL this long.
pub const NEXT_UPDATE_SECS: i64 = 3600;

struct Published {
    epoch: (i64, i64, i64),
    issued_at: i64,
    der: Vec<u8>,
}

/// The CRL this replica publishes.
pub struct Crl {
    store: Store,
    keys: Arc<KeySet>,
    clock: Arc<dyn Clock>,
    published: Mutex<Option<Published>>,
}

impl Crl {
    pub fn new(store: Store, keys: Arc<KeySet>, clock: Arc<dyn Clock>) -> Self {
        Self { store, keys, clock, published: Mutex::new(None) }
    }

    /// The current CRL (DER).
    pub async fn current(&self) -> Result<Vec<u8>, StatusListsError> {
        let now = self.clock.now();
        let epoch = self.store.remedy_epoch().await?;
        let mut published = self.published.lock().await;
        if let Some(p) = published.as_ref()
            && p.epoch == epoch
            && now.saturating_sub(p.issued_at) < TTL_SECS
        {
            return Ok(p.der.clone());
        }
        let revoked = self.revoked(now).await?;
        // The CRL number only grows: the build time, one per second at most.
        let number = u64::try_from(now).unwrap_or_default();
        let der = self
            .keys
            .ca
            .crl(&revoked, now, now.saturating_add(NEXT_UPDATE_SECS), number)
            .map_err(|e| StatusListsError::Internal(e.to_string()))?;
        *published = Some(Published { epoch, issued_at: now, der: der.clone() });
        Ok(der)
    }

    /// Every certificate to list at `now`.
    async fn revoked(&self, now: i64) -> Result<Vec<RevokedEntry>, StatusListsError> {
        let link = &self.keys.link;
        let mut listed: Vec<(PseudonymId, bool)> = Vec::new();
        let mut after: Option<AccountRef> = None;
        loop {
            let page = self.store.accounts_page(after.as_ref(), PAGE, now).await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(*last);
            for (account, view) in &page {
                let index = PseudonymIndex::open(link, account, view.sealed_index.as_deref())
                    .map_err(|e| StatusListsError::Internal(format!("pseudonym index: {e}")))?;
                let suspended = view.state == AccountState::Suspended;
                for entry in index.entries() {
                    if entry.not_after <= now {
                        continue;
                    }
                    if entry.revoked {
                        listed.push((entry.id.clone(), false));
                    } else if suspended {
                        listed.push((entry.id.clone(), true));
                    }
                }
            }
        }
        for id in self.store.unlinked_pseudonyms(now).await? {
            listed.push((id, false));
        }
        let on_hold: std::collections::HashMap<&PseudonymId, bool> =
            listed.iter().map(|(id, hold)| (id, *hold)).collect();
        let mut linked = Vec::new();
        for (serial, sealed) in self.store.linked_certificates(day_of(now)).await? {
            let holder = holder_of(link, OpsPurpose::LinkedCertificate, &sealed, &serial);
            if let Some(id) = holder.filter(|id| on_hold.contains_key(id)) {
                linked.push((id, serial));
            }
        }
        let mut entries: Vec<RevokedEntry> = listed
            .iter()
            .map(|(id, hold)| RevokedEntry {
                serial: pseudonym_serial(id.as_str()).to_vec(),
                on_hold: *hold,
            })
            .collect();
        for (id, serial) in &linked {
            let hold = on_hold.get(id).copied().unwrap_or(false);
            entries.push(RevokedEntry { serial: serial.clone(), on_hold: hold });
        }
        // Serial order: the list says nothing of which entries go together.
        entries.sort_by(|a, b| a.serial.cmp(&b.serial));
        Ok(entries)
    }
}
