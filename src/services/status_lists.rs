//! Revocation that everyone can see: Token Status Lists
//! (draft-ietf-oauth-status-list) for the SD-JWT and SD-CWT disclosures.
//!
//! A pseudonym gets an entry the first time it is disclosed in an SD
//! format: a random slot among `LISTS × LIST_ENTRIES` (2^24), so neither
//! the list a credential names nor its index says anything about the
//! pseudonym's account or age, and two pseudonyms of one account sit at
//! unrelated places (herd privacy, §12). Each list is published as a signed
//! JWT and CWT at `https://<domain>/v1/status-lists/<n>`, rebuilt when a
//! remedy has been applied or lifted since (on any replica) or when it is
//! older than its `ttl`.
//!
//! What the lists cannot hide: pseudonyms revoked by one remedy flip
//! together, so someone who watches the lists and holds several of those
//! credentials sees that they share a fate. The status API tells a hub as
//! much about pseudonyms it hosts (docs/THREAT_MODEL.md).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::Mutex;

use crate::core::clock::Clock;
use crate::core::linkage::{AccountRef, LinkKeys};
use crate::core::pseudonym_id::PseudonymId;
use crate::core::pseudonym_index::PseudonymIndex;
use crate::core::status::PseudonymStatus;
use crate::formats::disclosure::StatusReference;
use crate::formats::status_list::{self, Status, StatusList, StatusListError, TokenTimes};
use crate::services::keyring::KeySet;
use crate::store::{SlottedRow, Store, StoreError};

/// Entries per list: 2^20 (a list of 2-bit entries inflates to 256 KiB and
/// compresses to little while few are set).
pub const LIST_ENTRIES: i64 = 1 << 20;
/// Lists: 16, so 2^24 slots in all.
pub const LISTS: i64 = 16;
/// How long a verifier may keep a list before fetching it again.
pub const TTL_SECS: i64 = 300;
/// How long a list token is valid: a verifier offline for longer holds an
/// expired list and cannot vouch for any credential.
pub const VALIDITY_SECS: i64 = 24 * 3600;
/// Draws before giving up on a free slot (the space is far from full).
const DRAWS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum StatusListsError {
    #[error("no status list {0}")]
    NoSuchList(i64),
    #[error("no free status list slot after {DRAWS} draws")]
    Full,
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for StatusListsError {
    fn from(error: StoreError) -> Self {
        Self::Internal(error.to_string())
    }
}

impl From<StatusListError> for StatusListsError {
    fn from(error: StatusListError) -> Self {
        Self::Internal(error.to_string())
    }
}

/// The pseudonym's entry, drawn now if it has none. `None` when the
/// pseudonym does not exist.
pub async fn reference(
    store: &Store,
    base_uri: &str,
    id: &PseudonymId,
) -> Result<Option<StatusReference>, StatusListsError> {
    let rng = SystemRandom::new();
    for _ in 0..DRAWS {
        let mut bytes = [0u8; 4];
        rng.fill(&mut bytes).map_err(|_| StatusListsError::Internal("no randomness".into()))?;
        let candidate = i64::from(u32::from_be_bytes(bytes)) % (LISTS * LIST_ENTRIES);
        match store.status_slot(id, candidate).await? {
            Some(slot) => {
                let (list, idx) = (slot / LIST_ENTRIES, slot % LIST_ENTRIES);
                let idx =
                    u64::try_from(idx).map_err(|e| StatusListsError::Internal(e.to_string()))?;
                return Ok(Some(StatusReference { idx, uri: format!("{base_uri}{list}") }));
            }
            None if store.pseudonym(id).await?.is_none() => return Ok(None),
            None => continue,
        }
    }
    Err(StatusListsError::Full)
}

/// The entry a pseudonym's status becomes.
fn entry(status: PseudonymStatus) -> Status {
    match status {
        PseudonymStatus::Active => Status::Valid,
        PseudonymStatus::Suspended => Status::Suspended,
        PseudonymStatus::Revoked | PseudonymStatus::Expired => Status::Invalid,
    }
}

/// One list as last published.
struct Published {
    epoch: (i64, i64, i64),
    issued_at: i64,
    jwt: String,
    cwt: Vec<u8>,
}

/// The lists this replica publishes.
pub struct StatusLists {
    store: Store,
    keys: Arc<KeySet>,
    clock: Arc<dyn Clock>,
    base_uri: String,
    published: Mutex<HashMap<i64, Published>>,
}

/// A list token in one of its two forms.
pub enum ListForm {
    Jwt(String),
    Cwt(Vec<u8>),
}

impl StatusLists {
    pub fn new(store: Store, keys: Arc<KeySet>, clock: Arc<dyn Clock>, base_uri: String) -> Self {
        Self { store, keys, clock, base_uri, published: Mutex::new(HashMap::new()) }
    }

    /// List `list`'s current token, as a JWT or (`cwt`) a CWT.
    pub async fn token(&self, list: i64, cwt: bool) -> Result<ListForm, StatusListsError> {
        if !(0..LISTS).contains(&list) {
            return Err(StatusListsError::NoSuchList(list));
        }
        let now = self.clock.now();
        let epoch = self.store.remedy_epoch().await?;
        let mut published = self.published.lock().await;
        let fresh = published
            .get(&list)
            .is_some_and(|p| p.epoch == epoch && now.saturating_sub(p.issued_at) < TTL_SECS);
        if !fresh {
            let built = self.build(list, now).await?;
            let uri = format!("{}{list}", self.base_uri);
            let times = TokenTimes {
                issued_at: now,
                expires_at: now.saturating_add(VALIDITY_SECS),
                ttl: TTL_SECS,
            };
            let jwt = status_list::sign_jwt(&built, &uri, times, &self.keys.sd_jwt)?;
            let cwt = status_list::sign_cwt(&built, &uri, times, &self.keys.sd_cwt)?;
            published.insert(list, Published { epoch, issued_at: now, jwt, cwt });
        }
        let current = published.get(&list).ok_or(StatusListsError::NoSuchList(list))?;
        Ok(match cwt {
            true => ListForm::Cwt(current.cwt.clone()),
            false => ListForm::Jwt(current.jwt.clone()),
        })
    }

    /// The list's entries at `now`: each account's index opened once.
    pub async fn build(&self, list: i64, now: i64) -> Result<StatusList, StatusListsError> {
        let from = list * LIST_ENTRIES;
        let rows = self.store.slotted_pseudonyms(from, from + LIST_ENTRIES).await?;
        let statuses = statuses(&self.store, &self.keys.link, &rows, now).await?;
        let size =
            usize::try_from(LIST_ENTRIES).map_err(|e| StatusListsError::Internal(e.to_string()))?;
        let mut built = StatusList::new(size);
        for (row, status) in rows.iter().zip(statuses) {
            let idx = usize::try_from(row.status_slot - from)
                .map_err(|e| StatusListsError::Internal(e.to_string()))?;
            built.set(idx, entry(status))?;
        }
        Ok(built)
    }
}

/// [`crate::services::disclose::pseudonym_status`] of many rows at once.
async fn statuses(
    store: &Store,
    link: &LinkKeys,
    rows: &[SlottedRow],
    now: i64,
) -> Result<Vec<PseudonymStatus>, StatusListsError> {
    let internal = |e: String| StatusListsError::Internal(e);
    let mut owners: Vec<Option<AccountRef>> = Vec::with_capacity(rows.len());
    for SlottedRow { row, .. } in rows {
        let settled = row.revoked_at.is_some() || row.not_after <= now || row.ops_link.is_empty();
        owners.push(match settled {
            true => None,
            false => Some(
                link.open_ops_link(row.id.as_str(), &row.ops_link)
                    .map_err(|e| internal(format!("ops_link: {e}")))?,
            ),
        });
    }
    let mut accounts: Vec<AccountRef> = owners.iter().flatten().copied().collect();
    accounts.sort_by_key(|a| a.0);
    accounts.dedup();
    let views = store.account_views(&accounts, now).await?;
    let mut indexes: HashMap<AccountRef, PseudonymIndex> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for (SlottedRow { row, .. }, owner) in rows.iter().zip(owners) {
        let Some(account) = owner else {
            let revoked = row.revoked_at.is_some() || row.ops_link.is_empty();
            out.push(PseudonymStatus::of(revoked, row.not_after, None, now));
            continue;
        };
        let Some(view) = views.get(&account) else {
            out.push(PseudonymStatus::of(false, row.not_after, None, now));
            continue;
        };
        let index = match indexes.entry(account) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(slot) => slot.insert(
                PseudonymIndex::open(link, &account, view.sealed_index.as_deref())
                    .map_err(|e| internal(format!("pseudonym index: {e}")))?,
            ),
        };
        let revoked = index.revoked(&row.id);
        out.push(PseudonymStatus::of(revoked, row.not_after, Some(view.state), now));
    }
    Ok(out)
}
