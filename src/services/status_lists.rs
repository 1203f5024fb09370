//! Revocation that everyone can see: Token Status Lists
//! (draft-ietf-oauth-status-list) for the SD-JWT and SD-CWT disclosures.
//!
//! Each SD disclosure gets its own entry (a Referenced Token, in the
//! draft's terms): a random slot among `LISTS × LIST_ENTRIES` (2^24), so
//! neither the list a credential names nor its index says anything about
//! the pseudonym's account or age, and two pseudonyms of one account sit at
//! unrelated places (herd privacy, §12). The stored entry holds the
//! pseudonym only sealed under `k_ops` (aad = the slot): a copy of the
//! database cannot tell whose entries were written one after another. Each list is published as a signed
//! JWT and CWT at `https://<domain>/v1/status-lists/<n>`, built once per
//! publication interval (`TTL_SECS`, aligned to the clock, so every replica
//! publishes the same snapshot and every remedy of an interval appears at
//! once, at its end).
//!
//! Only revocations are published (`suspend_and_revoke`, `delete`, one by
//! one): entries that flip together group an account's pseudonyms for
//! anyone who watches the lists and holds those credentials, and a
//! suspension flips back when lifted, which would show the same group twice.
//! A permanent revocation is what must reach every verifier; suspensions
//! stay with veil's status API and hub route (docs/THREAT_MODEL.md).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::Mutex;

use crate::core::client_id::ClientId;
use crate::core::clock::Clock;
use crate::core::linkage::{AccountRef, LinkKeys};
use crate::core::ops_keys::OpsPurpose;
use crate::core::pseudonym_id::PseudonymId;
use crate::core::pseudonym_index::PseudonymIndex;
use crate::core::status::PseudonymStatus;
use crate::formats::disclosure::StatusReference;
use crate::formats::status_list::{self, Status, StatusList, StatusListError, TokenTimes};
use crate::services::disclose::{settled_status, stored_clients};
use crate::services::keyring::KeySet;
use crate::store::{PseudonymRow, Store, StoreError};

/// Entries per list: 2^20 (a list of 2-bit entries inflates to 256 KiB and
/// compresses to little while few are set).
pub const LIST_ENTRIES: i64 = 1 << 20;
/// Lists: 16, so 2^24 slots in all.
pub const LISTS: i64 = 16;
/// The publication interval: lists (and the CRL) are rebuilt once per
/// interval, at a boundary of the clock.
pub const TTL_SECS: i64 = 300;
/// The `ttl` a token carries: two intervals, so a token fetched just before
/// a boundary and kept as `Cache-Control` allows is still within it.
pub const TOKEN_TTL_SECS: i64 = 2 * TTL_SECS;
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

/// Whose key a credential is bound to: a pseudonym's own, or one of its
/// further clients'. Sealed in status entries and linked-certificate
/// records: a pseudonym as its id (22 bytes, as before clients existed), a
/// client as `client:` and its id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Holder {
    Pseudonym(PseudonymId),
    Client(ClientId),
}

const CLIENT_HOLDER: &[u8] = b"client:";

impl Holder {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Pseudonym(id) => id.as_str().as_bytes().to_vec(),
            Self::Client(id) => [CLIENT_HOLDER, id.as_str().as_bytes()].concat(),
        }
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let text = |b: &[u8]| std::str::from_utf8(b).ok().map(str::to_string);
        match bytes.strip_prefix(CLIENT_HOLDER) {
            Some(client) => ClientId::parse(&text(client)?).map(Self::Client),
            None => PseudonymId::parse(&text(bytes)?).map(Self::Pseudonym),
        }
    }
}

/// A new entry for a credential bound to `holder`'s key, valid until
/// `expires_at`: a free random slot, the holder sealed to it.
pub async fn reference(
    store: &Store,
    link: &LinkKeys,
    base_uri: &str,
    holder: &Holder,
    expires_at: i64,
) -> Result<StatusReference, StatusListsError> {
    let rng = SystemRandom::new();
    let internal = |e: String| StatusListsError::Internal(e);
    for _ in 0..DRAWS {
        let mut bytes = [0u8; 4];
        rng.fill(&mut bytes).map_err(|_| internal("no randomness".into()))?;
        let slot = i64::from(u32::from_be_bytes(bytes)) % (LISTS * LIST_ENTRIES);
        let sealed = link
            .seal_ops(OpsPurpose::StatusEntry, &holder.encode(), &slot.to_be_bytes())
            .map_err(|e| internal(e.to_string()))?;
        if store.add_status_entry(slot, &sealed, day_of(expires_at)).await? {
            let (list, idx) = (slot / LIST_ENTRIES, slot % LIST_ENTRIES);
            let idx = u64::try_from(idx).map_err(|e| internal(e.to_string()))?;
            return Ok(StatusReference { idx, uri: format!("{base_uri}{list}") });
        }
    }
    Err(StatusListsError::Full)
}

/// The day (unix days) an expiry falls on: rows keep only that, so their
/// expiry does not single out the pseudonym whose validity it copies.
pub fn day_of(unix: i64) -> i64 {
    unix.div_euclid(86_400)
}

/// Opens a sealed holder (`purpose`, aad); `None` for a row this veil did
/// not write.
pub(crate) fn holder_of(
    link: &LinkKeys,
    purpose: OpsPurpose,
    sealed: &[u8],
    aad: &[u8],
) -> Option<Holder> {
    let plain = link.open_ops(purpose, sealed, aad).ok()?;
    Holder::decode(&plain)
}

/// The entry a pseudonym's status becomes: revoked or gone is INVALID; a
/// suspension is not published (see the module doc).
fn entry(status: PseudonymStatus) -> Status {
    match status {
        PseudonymStatus::Active | PseudonymStatus::Suspended => Status::Valid,
        PseudonymStatus::Revoked | PseudonymStatus::Expired => Status::Invalid,
    }
}

/// The start of the publication interval `now` falls in.
pub fn interval_start(now: i64) -> i64 {
    now - now.rem_euclid(TTL_SECS)
}

/// Seconds until the interval `now` falls in ends: how long a fetched list
/// may be cached.
pub fn interval_left(now: i64) -> i64 {
    interval_start(now) + TTL_SECS - now
}

/// One list as last published.
struct Published {
    interval: i64,
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
        let interval = interval_start(now);
        let mut published = self.published.lock().await;
        if published.get(&list).is_none_or(|p| p.interval != interval) {
            let built = self.build(list, interval).await?;
            let uri = format!("{}{list}", self.base_uri);
            let times = TokenTimes {
                issued_at: interval,
                expires_at: interval.saturating_add(VALIDITY_SECS),
                ttl: TOKEN_TTL_SECS,
            };
            let jwt = status_list::sign_jwt(&built, &uri, times, &self.keys.sd_jwt)?;
            let cwt = status_list::sign_cwt(&built, &uri, times, &self.keys.sd_cwt)?;
            published.insert(list, Published { interval, jwt, cwt });
        }
        let current = published.get(&list).ok_or(StatusListsError::NoSuchList(list))?;
        Ok(match cwt {
            true => ListForm::Cwt(current.cwt.clone()),
            false => ListForm::Jwt(current.jwt.clone()),
        })
    }

    /// The list's entries at `now`, in a fixed number of reads whatever the
    /// list holds (batches of at most `IDS_PER_STATEMENT` values): its
    /// entries, the clients its client-bound entries name, the pseudonyms,
    /// their accounts; each account's index opened once.
    pub async fn build(&self, list: i64, now: i64) -> Result<StatusList, StatusListsError> {
        let internal = |e: std::num::TryFromIntError| StatusListsError::Internal(e.to_string());
        let link = &self.keys.link;
        let from = list * LIST_ENTRIES;
        let entries = self.store.status_entries(from, from + LIST_ENTRIES, day_of(now)).await?;
        let size = usize::try_from(LIST_ENTRIES).map_err(internal)?;
        let mut built = StatusList::new(size);
        let opened: Vec<(i64, Option<Holder>)> = entries
            .iter()
            .map(|(slot, sealed)| {
                (*slot, holder_of(link, OpsPurpose::StatusEntry, sealed, &slot.to_be_bytes()))
            })
            .collect();
        let mut asked: Vec<ClientId> = opened
            .iter()
            .filter_map(|(_, holder)| match holder {
                Some(Holder::Client(client)) => Some(client.clone()),
                _ => None,
            })
            .collect();
        asked.sort();
        asked.dedup();
        let clients = stored_clients(&self.store, link, &asked).await?;
        let mut holders: Vec<(i64, PseudonymId)> = Vec::with_capacity(opened.len());
        for (slot, holder) in opened {
            // A client's entry follows its pseudonym unless the client
            // itself is revoked or gone.
            let pseudonym = match holder {
                Some(Holder::Pseudonym(id)) => Some(id),
                Some(Holder::Client(client)) => {
                    clients.get(&client).filter(|c| !c.revoked).map(|c| c.pseudonym.clone())
                }
                None => {
                    tracing::warn!(slot, "a status entry that does not open is published revoked");
                    None
                }
            };
            match pseudonym {
                Some(id) => holders.push((slot, id)),
                // Fail closed: an entry no loaded k_ops opens, or a revoked
                // or unknown client's, is published revoked, never valid.
                None => {
                    built.set(usize::try_from(slot - from).map_err(internal)?, Status::Invalid)?;
                }
            }
        }
        let mut ids: Vec<PseudonymId> = holders.iter().map(|(_, id)| id.clone()).collect();
        ids.sort();
        ids.dedup();
        let rows = self.store.pseudonyms_among(&ids).await?;
        let statuses = statuses(&self.store, link, &rows, now).await?;
        let by_id: HashMap<&PseudonymId, PseudonymStatus> =
            rows.iter().map(|row| &row.id).zip(statuses).collect();
        for (slot, id) in &holders {
            // A pseudonym row that is gone reads as revoked.
            let status = by_id.get(id).copied().unwrap_or(PseudonymStatus::Revoked);
            built.set(usize::try_from(slot - from).map_err(internal)?, entry(status))?;
        }
        Ok(built)
    }
}

/// [`crate::services::disclose::pseudonym_status`] of many rows at once.
async fn statuses(
    store: &Store,
    link: &LinkKeys,
    rows: &[PseudonymRow],
    now: i64,
) -> Result<Vec<PseudonymStatus>, StatusListsError> {
    let internal = |e: String| StatusListsError::Internal(e);
    // Each row: its account, or the status its row alone decides.
    let mut owners: Vec<Result<AccountRef, PseudonymStatus>> = Vec::with_capacity(rows.len());
    for row in rows {
        owners.push(match settled_status(row, now) {
            Some(status) => Err(status),
            None => Ok(link
                .open_ops_link(row.id.as_str(), &row.ops_link)
                .map_err(|e| internal(format!("ops_link: {e}")))?),
        });
    }
    let mut accounts: Vec<AccountRef> = owners.iter().flatten().copied().collect();
    accounts.sort_by_key(|a| a.0);
    accounts.dedup();
    let views = store.account_views(&accounts, now).await?;
    let mut indexes: HashMap<AccountRef, PseudonymIndex> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for (row, owner) in rows.iter().zip(owners) {
        let account = match owner {
            Ok(account) => account,
            Err(settled) => {
                out.push(settled);
                continue;
            }
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
