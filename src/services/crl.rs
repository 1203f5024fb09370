//! The pseudonym CA's CRL (RFC 5280), for verifiers that check X.509:
//! pseudonym certificates and linked X.509 disclosures of revoked
//! pseudonyms, until they expire. Suspensions are not listed, for the
//! reason the status lists leave them out (`status_lists` module doc):
//! every pseudonym certificate's serial is in the KeyPackages and leaves
//! anyone may see.
//!
//! It is built from the accounts (each sealed index opened once: revoked
//! entries, and every live entry of a suspended account) and the deleted
//! accounts' pseudonyms and those revoked one by one, and published at
//! `https://<domain>/v1/crl`, rebuilt once per publication interval like
//! the status lists. Pseudonym certificate serials are derived from the
//! pseudonym id (`x509::pseudonym_serial`), so only linked certificates'
//! serials are stored. Every entry carries the same revocation date (the
//! hour of the build), so the dates do not group an account's pseudonyms.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::Mutex;

use crate::core::client_id::ClientId;
use crate::core::clock::Clock;
use crate::core::linkage::AccountRef;
use crate::core::ops_keys::OpsPurpose;
use crate::core::pseudonym_id::PseudonymId;
use crate::core::pseudonym_index::PseudonymIndex;
use crate::formats::x509::{RevokedEntry, pseudonym_serial};
use crate::services::disclose::all_clients;
use crate::services::keyring::KeySet;
use crate::services::status_lists::{Holder, StatusListsError, day_of, holder_of, interval_start};
use crate::store::Store;

/// Accounts read per query while building.
const PAGE: i64 = 5000;
/// `nextUpdate`: verifiers may keep a CRL this long.
pub const NEXT_UPDATE_SECS: i64 = 3600;

struct Published {
    interval: i64,
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
        let interval = interval_start(self.clock.now());
        let mut published = self.published.lock().await;
        if let Some(p) = published.as_ref()
            && p.interval == interval
        {
            return Ok(p.der.clone());
        }
        let revoked = self.revoked(interval).await?;
        // The CRL number only grows: the interval's start.
        let number = u64::try_from(interval).unwrap_or_default();
        let der = self
            .keys
            .ca
            .crl(&revoked, interval, interval.saturating_add(NEXT_UPDATE_SECS), number)
            .map_err(|e| StatusListsError::Internal(e.to_string()))?;
        *published = Some(Published { interval, der: der.clone() });
        Ok(der)
    }

    /// Every certificate to list at `now`.
    async fn revoked(&self, now: i64) -> Result<Vec<RevokedEntry>, StatusListsError> {
        let link = &self.keys.link;
        let mut listed: Vec<PseudonymId> = Vec::new();
        let mut after: Option<AccountRef> = None;
        loop {
            let page = self.store.accounts_page(after.as_ref(), PAGE, now).await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(*last);
            for (account, view) in &page {
                let index = PseudonymIndex::open(link, account, view.sealed_index.as_deref())
                    .map_err(|e| StatusListsError::Internal(format!("pseudonym index: {e}")))?;
                listed.extend(
                    index
                        .entries()
                        .iter()
                        .filter(|entry| entry.revoked && entry.not_after > now)
                        .map(|entry| entry.id.clone()),
                );
            }
        }
        // Deleted accounts' pseudonyms, and those revoked one by one.
        listed.extend(self.store.revoked_rows(now).await?);
        let revoked: HashSet<&PseudonymId> = listed.iter().collect();
        let mut entries: Vec<RevokedEntry> = revoked
            .iter()
            .map(|id| RevokedEntry {
                serial: pseudonym_serial(id.as_str()).to_vec(),
                on_hold: false,
            })
            .collect();
        // Further clients: revoked one by one, or with their pseudonym.
        // Their certificates' serials derive from the client id.
        let clients = all_clients(&self.store, link, day_of(now)).await?;
        let revoked_clients: HashSet<&ClientId> = clients
            .iter()
            .filter(|c| c.revoked || revoked.contains(&c.pseudonym))
            .map(|c| &c.id)
            .collect();
        entries.extend(revoked_clients.iter().map(|id| RevokedEntry {
            serial: pseudonym_serial(id.as_str()).to_vec(),
            on_hold: false,
        }));
        let known_clients: HashSet<&ClientId> = clients.iter().map(|c| &c.id).collect();
        for (serial, sealed) in self.store.linked_certificates(day_of(now)).await? {
            // Fail closed: a record no loaded k_ops opens is listed, and so
            // is one naming a client no longer stored.
            let listed = match holder_of(link, OpsPurpose::LinkedCertificate, &sealed, &serial) {
                Some(Holder::Pseudonym(id)) => revoked.contains(&id),
                Some(Holder::Client(id)) => {
                    revoked_clients.contains(&id) || !known_clients.contains(&id)
                }
                None => true,
            };
            if listed {
                entries.push(RevokedEntry { serial, on_hold: false });
            }
        }
        // Serial order: the list says nothing of which entries go together.
        entries.sort_by(|a, b| a.serial.cmp(&b.serial));
        Ok(entries)
    }
}
