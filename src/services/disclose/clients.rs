//! A pseudonym's further clients (devices): the identity draft puts a
//! client URI (`mimi://<domain>/d/<id>`) beside the user's URI in each
//! client's certificate, so a user with a phone and a laptop is one
//! pseudonymous participant with two clients (draft-mahy-mimi-pseudonyms:
//! the user "adds her own clients").
//!
//! Adding one takes what a disclosure takes: a proof of possession of the
//! pseudonym's own key (so a backend token alone cannot test which account
//! owns a pseudonym, nor hang keys on pseudonyms it does not hold) and the
//! account that owns it. The client's certificate is issued by the same CA,
//! within the pseudonym's validity, and its status is the pseudonym's first
//! (a revoked or suspended pseudonym takes its clients with it), then its
//! own. Each client added counts against the account's hourly and daily
//! pseudonym limits, and a pseudonym has at most
//! `account.max_clients_per_pseudonym` live clients.
//!
//! A user adds a new device to several pseudonyms one after another, so a
//! stored client must not be recognisable as any pseudonym's: its row holds
//! keyed tags of its id, its pseudonym and its key, and the rest sealed
//! ([`ClientSeal`]); the tags and the seal are made here, with the keys.

use std::collections::HashMap;

use ring::rand::SystemRandom;
use serde_json::{Value, json};

use super::{DisclosureError, DisclosureIssuer, pseudonym_status};
use crate::core::account::{AccountId, AccountState};
use crate::core::client_id::ClientId;
use crate::core::linkage::LinkKeys;
use crate::core::ops_keys::OpsPurpose;
use crate::core::pseudonym_id::PseudonymId;
use crate::core::status::PseudonymStatus;
use crate::formats::keys::public_key::{Jwk, P256PublicKey};
use crate::formats::{mls, x509};
use crate::services::abuse::gate::Refusal;
use crate::services::abuse::limits;
use crate::services::abuse::precheck::{self, Certifying, Refused};
use crate::services::status_lists::day_of;
use crate::store::{
    ClientAdded, Limited, NewPseudonymClient, PseudonymClientRow, Store, StoreError,
};

/// A request to add a client to a pseudonym.
#[derive(Debug, Clone)]
pub struct AddClientRequest {
    pub account: String,
    /// The new client's public key.
    pub key: Jwk,
}

impl AddClientRequest {
    /// The JSON object a proof's `req` digest covers: the action and the
    /// new key as a canonical JWK (not `account`, which the holder's client
    /// need not know). The holder proves it with the pseudonym's own key
    /// (`pop::prove`).
    pub fn proof_object(&self) -> Result<Value, DisclosureError> {
        let key = P256PublicKey::from_jwk(&self.key)
            .map_err(|e| DisclosureError::InvalidRequest(format!("`key`: {e}")))?;
        let jwk = key.to_jwk();
        Ok(
            json!({"action": "add_client", "key": {"kty": jwk.kty, "crv": jwk.crv, "x": jwk.x, "y": jwk.y}}),
        )
    }
}

/// The JSON object a revocation proof's `req` digest covers.
pub fn revoke_proof_object(client: &str) -> Value {
    json!({"action": "revoke_client", "client": client})
}

/// A client added to a pseudonym, with its credentials.
#[derive(Debug, Clone)]
pub struct AddedClient {
    pub id: ClientId,
    pub uri: String,
    pub pseudonym_uri: String,
    pub leaf_der: Vec<u8>,
    pub mls_credential: Vec<u8>,
    pub not_before: i64,
    pub not_after: i64,
}

/// A client as anyone who sees it in a room may know it.
#[derive(Debug, Clone)]
pub struct ClientView {
    pub id: ClientId,
    pub uri: String,
    pub status: PseudonymStatus,
    pub not_after: i64,
}

impl DisclosureIssuer {
    /// Adds a client to `pseudonym`: the key is checked first, then the
    /// proof of the pseudonym's key, then ownership and state, then the
    /// limits; the certificate is signed before anything is written.
    pub async fn add_client(
        &self,
        pseudonym: &str,
        request: &AddClientRequest,
        proof: Option<&str>,
    ) -> Result<AddedClient, DisclosureError> {
        AccountId::parse(&request.account)
            .map_err(|e| DisclosureError::InvalidRequest(e.to_string()))?;
        let object = request.proof_object()?;
        let key = P256PublicKey::from_jwk(&request.key)
            .map_err(|e| DisclosureError::InvalidRequest(format!("`key`: {e}")))?;
        let now = self.clock.now();
        let row = self.proven_pseudonym(pseudonym, &object, proof, now).await?;
        if row.ops_link.is_empty() {
            return Err(DisclosureError::NotFound);
        }
        self.check_owner(&row, &request.account)?;
        let status = pseudonym_status(&self.store, &self.keys.link, &row, now).await?;
        if status != PseudonymStatus::Active {
            return Err(DisclosureError::Inactive(status));
        }
        let account_ref = self.keys.link.account_ref(&request.account);
        // A client is a new certified key: the account must be allowed to
        // mint (not muted or suspended, reputation above the threshold).
        let link = &self.keys.link;
        let key_tag = key_tag(link, key.sec1());
        let certifying =
            Certifying { public_keys: &[key.sec1().as_slice()], client_key_tags: &[key_tag] };
        match precheck::check(&self.store, &self.policy, &account_ref, 1, certifying, now).await? {
            Ok(_) => {}
            Err(Refused::Gate(Refusal::Restricted)) => {
                return Err(DisclosureError::AccountRestricted);
            }
            Err(Refused::Gate(Refusal::ReputationTooLow)) => {
                return Err(DisclosureError::ReputationTooLow);
            }
            Err(Refused::Window(window)) => {
                let (action, retry_after) = limits::refusal(Limited::Window(window), now);
                return Err(DisclosureError::RateLimited { action, retry_after });
            }
            Err(Refused::KeyInUse) => return Err(DisclosureError::KeyInUse),
        }
        let max = self.policy.account.max_clients_per_pseudonym;
        let pseudonym_tag = pseudonym_tag(link, &row.id);
        let live = self.live_clients(&pseudonym_tag, now).await?.len();
        if i64::try_from(live).unwrap_or(i64::MAX) >= max {
            return Err(DisclosureError::TooManyClients(max));
        }

        let id = ClientId::random(&SystemRandom::new())
            .ok_or_else(|| DisclosureError::Internal("no randomness".into()))?;
        let uri = format!("{}{id}", self.names.client_prefix);
        let pseudonym_uri = format!("{}{}", self.names.pseudonym_prefix, row.id);
        // The pseudonym's own validity: a start at the hour the device was
        // added would group the pseudonyms a user adds a device to at once
        // (found by review). Never past the pseudonym's end.
        let (not_before, not_after) = (row.not_before, row.not_after);
        let leaf_der = self
            .keys
            .ca
            .issue_pseudonym(&x509::PseudonymCertRequest {
                id: row.id.as_str(),
                uri: &pseudonym_uri,
                key: &key,
                not_before,
                not_after,
                connection_only: row.connection_only,
                client: Some(x509::ClientName { id: id.as_str(), uri: &uri }),
            })
            .map_err(|e| DisclosureError::Internal(e.to_string()))?;
        let mls_credential = mls::x509_credential(&[&leaf_der, self.keys.ca.cert_der()])
            .map_err(|e| DisclosureError::Internal(e.to_string()))?;

        // The account's windows (account-side, a transaction of its own
        // that holds the account row, so an account deleted or restricted
        // since the checks above is not charged), then the client row
        // (pseudonym-side). A client refused after the charge (a race for
        // the last place or the key) costs its unit.
        let charges = limits::mint_charges(&self.policy, &account_ref, "", 1, now);
        match self.store.charge_client_windows(&account_ref, &charges.windows, now).await {
            Ok(()) => {}
            Err(StoreError::OverLimit(limited)) => {
                let (action, retry_after) = limits::refusal(limited, now);
                return Err(DisclosureError::RateLimited { action, retry_after });
            }
            // Deleted since the checks above (its pseudonym's link is gone):
            // as for a pseudonym whose account was deleted before.
            Err(StoreError::AccountMissing) => return Err(DisclosureError::NotFound),
            Err(StoreError::Restricted) => return Err(DisclosureError::AccountRestricted),
            Err(other) => return Err(other.into()),
        }
        let id_tag = client_tag(link, &id);
        let seal =
            ClientSeal { id: id.clone(), pseudonym: row.id.clone(), not_after, key: *key.sec1() };
        let client = NewPseudonymClient {
            id_tag,
            pseudonym_tag,
            key_tag,
            sealed: seal.seal(link, &id_tag)?,
            expires_day: expiry_bucket(not_after),
        };
        match self.store.add_pseudonym_client(&client, max, day_of(now)).await? {
            ClientAdded::Added => {}
            ClientAdded::TooMany => return Err(DisclosureError::TooManyClients(max)),
            ClientAdded::KeyInUse => return Err(DisclosureError::KeyInUse),
        }
        Ok(AddedClient { id, uri, pseudonym_uri, leaf_der, mls_credential, not_before, not_after })
    }

    /// A pseudonym's clients with their status, in client id order; `None`
    /// for a pseudonym we never minted.
    pub async fn clients(
        &self,
        pseudonym: &str,
    ) -> Result<Option<Vec<ClientView>>, DisclosureError> {
        let Some(id) = PseudonymId::parse(pseudonym) else { return Ok(None) };
        let Some(row) = self.store.pseudonym(&id).await? else { return Ok(None) };
        let now = self.clock.now();
        let status = pseudonym_status(&self.store, &self.keys.link, &row, now).await?;
        let tag = pseudonym_tag(&self.keys.link, &id);
        let mut views: Vec<ClientView> =
            self.clients_of(&tag).await?.iter().map(|c| self.view(c, status, now)).collect();
        views.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Some(views))
    }

    /// Revokes one client. Like adding one, it takes a fresh proof of
    /// possession, checked before the account: made with the pseudonym's own
    /// key, or (`prover`) with one of its live clients' keys (a lost phone is
    /// revoked from the laptop), over [`revoke_proof_object`]. Without a
    /// valid one every account gets the same 401, so a backend token alone
    /// cannot test which account owns the pseudonym; with one, `NotFound`
    /// unless `account` owns it and `client` is one of its live clients.
    pub async fn revoke_client(
        &self,
        pseudonym: &str,
        client: &str,
        account: &str,
        prover: Option<&str>,
        proof: Option<&str>,
    ) -> Result<(), DisclosureError> {
        AccountId::parse(account).map_err(|e| DisclosureError::InvalidRequest(e.to_string()))?;
        let now = self.clock.now();
        let object = revoke_proof_object(client);
        let proven = self.proven_holder(pseudonym, prover, &object, proof, now).await?;
        if proven.client.as_ref().is_some_and(|c| c.inactive(now)) {
            return Err(DisclosureError::ProofRequired);
        }
        let row = proven.row;
        if row.ops_link.is_empty() {
            return Err(DisclosureError::NotFound);
        }
        self.check_owner(&row, account)?;
        let Some(client) = ClientId::parse(client) else {
            return Err(DisclosureError::NotFound);
        };
        let link = &self.keys.link;
        let (pseudonym_tag, client_tag) = (pseudonym_tag(link, &row.id), client_tag(link, &client));
        match self.store.revoke_pseudonym_client(&pseudonym_tag, &client_tag).await? {
            true => Ok(()),
            false => Err(DisclosureError::NotFound),
        }
    }

    /// The clients a pseudonym tag names, opened; a row that does not open
    /// (or was moved from another tag's client) is an internal error.
    async fn clients_of(
        &self,
        pseudonym_tag: &[u8; 32],
    ) -> Result<Vec<StoredClient>, DisclosureError> {
        let link = &self.keys.link;
        self.store
            .pseudonym_clients(pseudonym_tag)
            .await?
            .iter()
            .map(|row| {
                StoredClient::from_row(link, row).ok_or_else(|| {
                    DisclosureError::Internal("a stored client does not open".into())
                })
            })
            .collect()
    }

    /// The live clients a pseudonym tag names (not revoked, not expired).
    async fn live_clients(
        &self,
        pseudonym_tag: &[u8; 32],
        now: i64,
    ) -> Result<Vec<StoredClient>, DisclosureError> {
        let mut clients = self.clients_of(pseudonym_tag).await?;
        clients.retain(|c| !c.inactive(now));
        Ok(clients)
    }

    /// A client as a hub may see it: the pseudonym's status when that is not
    /// active (a remedy reaches every client), else its own.
    fn view(&self, client: &StoredClient, pseudonym: PseudonymStatus, now: i64) -> ClientView {
        let status = match pseudonym {
            PseudonymStatus::Active => client.status(now),
            other => other,
        };
        ClientView {
            uri: format!("{}{}", self.names.client_prefix, client.id),
            id: client.id.clone(),
            status,
            not_after: client.not_after,
        }
    }
}

/// Whether a certificate naming `client` of `pseudonym` for `key` is one we
/// issued: `None` when no stored client matches all three (a copied or
/// forged certificate), else whether the client itself is revoked or
/// expired at `now` (the pseudonym's own status is the caller's).
pub async fn certified_client(
    store: &Store,
    link: &LinkKeys,
    client: &ClientId,
    pseudonym: &PseudonymId,
    key: &[u8],
    now: i64,
) -> Result<Option<bool>, StoreError> {
    let stored = stored_client(store, link, client).await?;
    Ok(stored
        .filter(|c| &c.pseudonym == pseudonym && c.key.as_slice() == key)
        .map(|c| c.inactive(now)))
}

/// The day a client row may be forgotten: the pseudonym's end rounded up
/// to a 32-day bucket, so the stored value is not the `notAfter` day every
/// hub reads in the certificates (found by review).
fn expiry_bucket(not_after: i64) -> i64 {
    const BUCKET_DAYS: i64 = 32;
    let day = day_of(not_after);
    day.saturating_add(BUCKET_DAYS - 1).div_euclid(BUCKET_DAYS).saturating_mul(BUCKET_DAYS)
}

/// The keyed tag a client row is found by (from its id in the client URI).
fn client_tag(link: &LinkKeys, client: &ClientId) -> [u8; 32] {
    link.keyed_tag("pseudonym client id", client.as_str())
}

/// The keyed tag shared by one pseudonym's client rows.
fn pseudonym_tag(link: &LinkKeys, pseudonym: &PseudonymId) -> [u8; 32] {
    link.keyed_tag("pseudonym client owner", pseudonym.as_str())
}

/// The keyed tag of a client's key (unique: a key certifies one client);
/// a mint checks it too, so no key certifies a pseudonym and a client.
pub fn key_tag(link: &LinkKeys, sec1: &[u8; 65]) -> [u8; 32] {
    let hex: String = sec1.iter().map(|b| format!("{b:02x}")).collect();
    link.keyed_tag("pseudonym client key", &hex)
}

/// What a client row keeps sealed: `client id ‖ pseudonym id ‖ not_after
/// ‖ key` (22 + 22 + 8 + 65 bytes), aad = the row's id tag, so a sealed
/// value cannot be moved to another row.
struct ClientSeal {
    id: ClientId,
    pseudonym: PseudonymId,
    not_after: i64,
    key: [u8; 65],
}

const SEAL_LEN: usize = 22 + 22 + 8 + 65;

impl ClientSeal {
    fn seal(&self, link: &LinkKeys, id_tag: &[u8; 32]) -> Result<Vec<u8>, DisclosureError> {
        let mut plain = Vec::with_capacity(SEAL_LEN);
        plain.extend_from_slice(self.id.as_str().as_bytes());
        plain.extend_from_slice(self.pseudonym.as_str().as_bytes());
        plain.extend_from_slice(&self.not_after.to_be_bytes());
        plain.extend_from_slice(&self.key);
        link.seal_ops(OpsPurpose::PseudonymClient, &plain, id_tag)
            .map_err(|e| DisclosureError::Internal(e.to_string()))
    }

    fn open(link: &LinkKeys, row: &PseudonymClientRow) -> Result<Self, DisclosureError> {
        let corrupt = || DisclosureError::Internal("a stored client does not open".into());
        let plain = link
            .open_ops(OpsPurpose::PseudonymClient, &row.sealed, &row.id_tag)
            .map_err(|_| corrupt())?;
        if plain.len() != SEAL_LEN {
            return Err(corrupt());
        }
        let text = |range: std::ops::Range<usize>| {
            plain.get(range).and_then(|bytes| std::str::from_utf8(bytes).ok())
        };
        let id = text(0..22).and_then(ClientId::parse).ok_or_else(corrupt)?;
        let pseudonym = text(22..44).and_then(PseudonymId::parse).ok_or_else(corrupt)?;
        let end: [u8; 8] = plain.get(44..52).and_then(|b| b.try_into().ok()).ok_or_else(corrupt)?;
        let key: [u8; 65] = plain.get(52..).and_then(|b| b.try_into().ok()).ok_or_else(corrupt)?;
        Ok(Self { id, pseudonym, not_after: i64::from_be_bytes(end), key })
    }
}

/// A stored client, opened: what the status lists, the CRL and the
/// verifiers need of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredClient {
    pub id: ClientId,
    pub pseudonym: PseudonymId,
    pub not_after: i64,
    /// The certified key (SEC1).
    pub key: [u8; 65],
    pub revoked: bool,
}

impl StoredClient {
    fn from_row(link: &LinkKeys, row: &PseudonymClientRow) -> Option<Self> {
        let seal = ClientSeal::open(link, row).ok()?;
        // A row whose seal names another client was moved: not this one.
        (row.id_tag.as_slice() == client_tag(link, &seal.id).as_slice()).then_some(Self {
            id: seal.id,
            pseudonym: seal.pseudonym,
            not_after: seal.not_after,
            key: seal.key,
            revoked: row.revoked != 0,
        })
    }

    /// Its own status, as if its pseudonym were active: revoked on its
    /// own, past its end, or active.
    pub fn status(&self, now: i64) -> PseudonymStatus {
        PseudonymStatus::of(self.revoked, self.not_after, Some(AccountState::Active), now)
    }

    /// Revoked on its own, or past its end.
    pub fn inactive(&self, now: i64) -> bool {
        self.status(now) != PseudonymStatus::Active
    }
}

/// The client with this id; `None` when none is stored or its row does not
/// open (fail closed: callers treat that as unknown or revoked).
pub async fn stored_client(
    store: &Store,
    link: &LinkKeys,
    client: &ClientId,
) -> Result<Option<StoredClient>, StoreError> {
    let row = store.pseudonym_client(&client_tag(link, client)).await?;
    Ok(row.and_then(|row| StoredClient::from_row(link, &row)))
}

/// [`stored_client`] of many clients at once (a status list's rebuild): the
/// ones stored whose row opens, by id; one statement per
/// `IDS_PER_STATEMENT` clients, not one per client.
pub async fn stored_clients(
    store: &Store,
    link: &LinkKeys,
    clients: &[ClientId],
) -> Result<HashMap<ClientId, StoredClient>, StoreError> {
    let tags: Vec<[u8; 32]> = clients.iter().map(|client| client_tag(link, client)).collect();
    let rows = store.pseudonym_clients_among(&tags).await?;
    // `from_row` keeps a row only if its tag is its own id's, so each id
    // found here is the one its tag was asked for.
    Ok(rows
        .iter()
        .filter_map(|row| StoredClient::from_row(link, row))
        .map(|client| (client.id.clone(), client))
        .collect())
}

/// The client certified for this key (SEC1), if any.
pub async fn client_of_key(
    store: &Store,
    link: &LinkKeys,
    key: &[u8],
) -> Result<Option<StoredClient>, StoreError> {
    let Ok(sec1) = <&[u8; 65]>::try_from(key) else { return Ok(None) };
    let row = store.pseudonym_client_by_key(&key_tag(link, sec1)).await?;
    Ok(row.and_then(|row| StoredClient::from_row(link, &row)).filter(|c| c.key == *sec1))
}

/// Every stored client not expired before `day` whose row opens, for the
/// CRL.
pub async fn all_clients(
    store: &Store,
    link: &LinkKeys,
    day: i64,
) -> Result<Vec<StoredClient>, StoreError> {
    let rows = store.all_pseudonym_clients(day).await?;
    Ok(rows.iter().filter_map(|row| StoredClient::from_row(link, row)).collect())
}
