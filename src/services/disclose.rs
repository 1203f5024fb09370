//! Linked identity disclosures (draft-mahy-mimi-pseudonyms §4): the account
//! behind a pseudonym asks for a credential stating chosen facts about its
//! real identity, bound to the pseudonym's own key, in one of three formats.
//!
//! Every request carries a proof of possession of the pseudonym's key
//! ([`crate::formats::pop`]), checked before anything about the account, so a
//! backend token alone cannot test which account owns a pseudonym.
//!
//! Nothing of the request is stored: the claim values pass through to the
//! signer and back to the caller. The only write is the hash of the proof's
//! `jti` (replay protection); the reads are the pseudonym row (for its key
//! and `ops_link`) and the account status.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;

use crate::core::account::AccountId;
use crate::core::client_id::{CLIENT_PATH, ClientId};
use crate::core::clock::{Clock, coarsen_to_hour};
use crate::core::linkage::LinkKeys;
use crate::core::ops_keys::OpsPurpose;
use crate::core::pseudonym_id::PseudonymId;
use crate::core::pseudonym_index::PseudonymIndex;
use crate::core::status::PseudonymStatus;
use crate::formats::claims::{self, ClaimError};
use crate::formats::disclosure::{IssueError, IssueParams, StatusReference, sd_cwt, sd_jwt};
use crate::formats::keys::public_key::P256PublicKey;
use crate::formats::keys::signer::{Es256Signer, SignError};
use crate::formats::linked_x509::{self, LinkedIdentity, MAX_COMMON_NAME_CHARS};
use crate::formats::mls;
use crate::formats::pop::{self, PopError};
use crate::services::abuse::gate::{self, Act, Refusal};
use crate::services::abuse::limits::LimitedAction;
use crate::services::abuse::policy::IssuancePolicy;
use crate::services::keyring::KeySet;
use crate::services::status_lists::{self, Holder};
use crate::store::{PseudonymRow, Store, StoreError};

mod clients;
pub use clients::{
    AddClientRequest, AddedClient, ClientView, StoredClient, all_clients, certified_client,
    client_of_key, key_tag as client_key_tag, revoke_proof_object, stored_client, stored_clients,
};

/// The claims an X.509 linked certificate can carry (CN, SAN URI, SAN email).
const X509_CLAIMS: &[&str] = &["name", "user_uri", "email"];

/// How long a disclosure is valid when the request does not say.
pub const DEFAULT_VALIDITY_DAYS: u32 = 30;

/// Expired proof records are pruned on every this-many recorded proofs.
const PRUNE_EVERY: u64 = 32;

/// The three credential formats, by their API names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum CredentialFormat {
    #[serde(rename = "x509")]
    X509,
    #[serde(rename = "sd-jwt")]
    SdJwt,
    #[serde(rename = "sd-cwt")]
    SdCwt,
}

impl CredentialFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X509 => "x509",
            Self::SdJwt => "sd-jwt",
            Self::SdCwt => "sd-cwt",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DisclosureRequest {
    pub account: String,
    pub format: CredentialFormat,
    pub claims: Map<String, Value>,
    /// Claims hidden behind digests (SD-JWT, SD-CWT); empty for X.509.
    pub disclosable: Vec<String>,
    pub validity_days: u32,
    /// Bind the credential to this further client's key instead of the
    /// pseudonym's own (the proof is then made with the client's key).
    pub client: Option<String>,
}

impl DisclosureRequest {
    /// The JSON object a proof's `req` digest covers:
    /// `{"claims", "disclosable", "format", "validity_days"}` with the values
    /// the server acts on (defaults filled in), not `account`: the holder's
    /// client need not know the backend's account id.
    pub fn proof_object(&self) -> Value {
        let mut object = json!({
            "format": self.format.as_str(),
            "claims": self.claims,
            "disclosable": self.disclosable,
            "validity_days": self.validity_days,
        });
        // Only when set, so proofs made before clients existed still match.
        if let (Some(client), Some(map)) = (&self.client, object.as_object_mut()) {
            map.insert("client".into(), Value::String(client.clone()));
        }
        object
    }

    /// Holder side: a proof for this request on `pseudonym` at `issuer`
    /// (`https://<domain>`), signed with the pseudonym's key.
    pub fn prove(
        &self,
        key: &Es256Signer,
        issuer: &str,
        pseudonym: &str,
        now: i64,
    ) -> Result<String, SignError> {
        pop::prove(key, issuer, pseudonym, &self.proof_object(), now)
    }
}

/// An issued credential, in its native encoding.
#[derive(Debug, Clone)]
pub enum Credential {
    /// Compact SD-JWT ending in `~`.
    SdJwt(String),
    /// Tagged COSE_Sign1 bytes.
    SdCwt(Vec<u8>),
    /// DER chain, leaf first, and the same chain as an MLS x509 `Credential`.
    X509 { chain: Vec<Vec<u8>>, mls_credential: Vec<u8> },
}

#[derive(Debug, Clone)]
pub struct IssuedDisclosure {
    pub credential: Credential,
    pub not_after: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum DisclosureError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error(transparent)]
    InvalidClaim(#[from] ClaimError),
    /// No valid proof of possession, or an unknown pseudonym: one answer,
    /// whatever the account, so neither can be told apart.
    #[error("a valid proof of possession of the pseudonym's key is required")]
    ProofRequired,
    /// A valid proof, but the account does not own the pseudonym: the same
    /// answer the other routes give for an unknown pseudonym.
    #[error("no such pseudonym")]
    NotFound,
    #[error("the pseudonym is {0}")]
    Inactive(PseudonymStatus),
    #[error("this account may not be issued disclosures now")]
    AccountRestricted,
    #[error("this account's reputation is below what a disclosure needs")]
    ReputationTooLow,
    /// The pseudonym has as many live clients as the policy allows.
    #[error("the pseudonym has {0} clients, the most the policy allows")]
    TooManyClients(i64),
    /// The key already certifies a pseudonym or a client.
    #[error("this key is already bound to a pseudonym or client")]
    KeyInUse,
    #[error("limit reached: {}", .action.describe())]
    RateLimited { action: LimitedAction, retry_after: i64 },
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for DisclosureError {
    fn from(error: StoreError) -> Self {
        Self::Internal(error.to_string())
    }
}

/// Where veil publishes the pseudonym CA's CRL.
pub const CRL_PATH: &str = "/v1/crl";

/// Where veil publishes its status lists (`…/<n>`).
pub const STATUS_LISTS_PATH: &str = "/v1/status-lists/";

/// Where veil serves the SD-JWT VC Type Metadata of its linked identity
/// credential; with the issuer's origin, its `vct`.
pub const VCT_PATH: &str = "/vct/linked-identity/v1";
/// The `vct` of credentials issued before it was a URL; verifiers accept it
/// until those credentials have expired.
pub const LEGACY_VCT: &str = "urn:veil:vct:linked-identity:1";

/// What the issuer and verifier call themselves.
#[derive(Debug, Clone)]
pub struct IssuerNames {
    /// `iss` of our SD-JWTs and SD-CWTs: `https://<domain>`, the base of
    /// `/.well-known/jwt-vc-issuer`.
    pub issuer: String,
    /// SD-JWT VC `vct` (also set in SD-CWTs): an HTTPS URL under the
    /// issuer that serves the type's metadata ([`VCT_PATH`]).
    pub vct: String,
    /// `mimi://<domain>/p/` (or `/u/`, `pseudonym_path`)
    pub pseudonym_prefix: String,
    /// `mimi://<domain>/d/`: a pseudonym's further clients.
    pub client_prefix: String,
    /// `mimi://<domain>/u/`: the only user URIs we vouch for (never one of
    /// a pseudonym URI's form, `claims::UriPrefixes`).
    pub user_prefix: String,
    /// `https://<domain>/v1/status-lists/`: each status list's URI is this
    /// and its number.
    pub status_lists: String,
}

impl IssuerNames {
    pub fn for_domain(domain: &str, pseudonym_prefix: String) -> Self {
        Self {
            issuer: format!("https://{domain}"),
            vct: format!("https://{domain}{VCT_PATH}"),
            pseudonym_prefix,
            client_prefix: format!("mimi://{domain}/{CLIENT_PATH}/"),
            user_prefix: format!("mimi://{domain}/u/"),
            status_lists: format!("https://{domain}{STATUS_LISTS_PATH}"),
        }
    }
}

/// A pseudonym whose holder proved possession: the key the proof was made
/// with (the pseudonym's or the client's) and the client, if one.
struct Proven {
    row: PseudonymRow,
    key: P256PublicKey,
    client: Option<StoredClient>,
}

/// The disclosure service.
pub struct DisclosureIssuer {
    keys: Arc<KeySet>,
    store: Store,
    clock: Arc<dyn Clock>,
    names: IssuerNames,
    max_validity_days: u32,
    policy: Arc<IssuancePolicy>,
    /// Proofs recorded since start, to prune now and then.
    recorded: AtomicU64,
}

impl DisclosureIssuer {
    pub fn new(
        keys: Arc<KeySet>,
        store: Store,
        clock: Arc<dyn Clock>,
        names: IssuerNames,
        max_validity_days: u32,
        policy: Arc<IssuancePolicy>,
    ) -> Self {
        Self { keys, store, clock, names, max_validity_days, policy, recorded: AtomicU64::new(0) }
    }

    pub fn names(&self) -> &IssuerNames {
        &self.names
    }

    /// Validates everything that does not depend on the pseudonym first, so
    /// validation errors are the same whether or not it exists; then the
    /// proof of possession (recording its `jti`); only then ownership and
    /// state, then signs.
    pub async fn issue(
        &self,
        pseudonym: &str,
        request: &DisclosureRequest,
        proof: Option<&str>,
    ) -> Result<IssuedDisclosure, DisclosureError> {
        self.validate(request)?;
        let now = self.clock.now();
        let proven = self
            .proven_holder(
                pseudonym,
                request.client.as_deref(),
                &request.proof_object(),
                proof,
                now,
            )
            .await?;
        let (row, key) = (proven.row, proven.key);
        self.check_owner(&row, &request.account)?;
        let status = pseudonym_status(&self.store, &self.keys.link, &row, now).await?;
        if status != PseudonymStatus::Active {
            return Err(DisclosureError::Inactive(status));
        }
        let requested = now.saturating_add(i64::from(request.validity_days) * 86_400);
        // A disclosure never outlives the pseudonym (or client) whose key it names.
        let mut not_after = requested.min(row.not_after);
        let holder = match &proven.client {
            None => Holder::Pseudonym(row.id.clone()),
            Some(client) if client.inactive(now) => {
                return Err(DisclosureError::Inactive(client.status(now)));
            }
            Some(client) => {
                not_after = not_after.min(client.not_after);
                Holder::Client(client.id.clone())
            }
        };
        self.check_standing(&request.account, now).await?;
        let subject = format!("{}{}", self.names.pseudonym_prefix, row.id);
        let credential = match request.format {
            CredentialFormat::X509 => {
                self.linked_certificate(request, &holder, &key, now, not_after).await?
            }
            CredentialFormat::SdJwt => {
                let mut params = self.params(request, key, subject, now, not_after);
                params.status = Some(self.status_entry(&holder, not_after).await?);
                Credential::SdJwt(sd_jwt::issue(&params, &self.keys.sd_jwt).map_err(issue_error)?)
            }
            CredentialFormat::SdCwt => {
                let mut params = self.params(request, key, subject, now, not_after);
                params.status = Some(self.status_entry(&holder, not_after).await?);
                Credential::SdCwt(sd_cwt::issue(&params, &self.keys.sd_cwt).map_err(issue_error)?)
            }
        };
        Ok(IssuedDisclosure { credential, not_after })
    }

    /// A new status list entry for a credential bound to `holder`'s key.
    async fn status_entry(
        &self,
        holder: &Holder,
        not_after: i64,
    ) -> Result<StatusReference, DisclosureError> {
        let link = &self.keys.link;
        status_lists::reference(&self.store, link, &self.names.status_lists, holder, not_after)
            .await
            .map_err(|e| DisclosureError::Internal(e.to_string()))
    }

    /// A muted account, or one under the reputation threshold, gets no
    /// disclosure of its real identity (its pseudonyms keep working).
    async fn check_standing(&self, account: &str, now: i64) -> Result<(), DisclosureError> {
        let account_ref = self.keys.link.account_ref(account);
        gate::check(&self.store, &self.policy.reputation, &account_ref, Act::Disclose, now)
            .await?
            .map_err(|refusal| match refusal {
                Refusal::Restricted => DisclosureError::AccountRestricted,
                Refusal::ReputationTooLow => DisclosureError::ReputationTooLow,
            })?;
        Ok(())
    }

    fn validate(&self, request: &DisclosureRequest) -> Result<(), DisclosureError> {
        let invalid = |message: String| Err(DisclosureError::InvalidRequest(message));
        if let Err(error) = AccountId::parse(&request.account) {
            return invalid(error.to_string());
        }
        if request.validity_days == 0 || request.validity_days > self.max_validity_days {
            return invalid(format!("`validity_days` must be 1 to {}", self.max_validity_days));
        }
        if request.claims.is_empty() {
            return invalid("`claims` must hold at least one claim".into());
        }
        let prefixes = claims::UriPrefixes {
            user: &self.names.user_prefix,
            pseudonym: &self.names.pseudonym_prefix,
        };
        claims::validate(&request.claims, prefixes, &self.policy.claims.extra)?;
        for (index, name) in request.disclosable.iter().enumerate() {
            if !request.claims.contains_key(name) {
                return invalid(format!("disclosable[{index}] is not among the claims"));
            }
            if request.disclosable.iter().take(index).any(|earlier| earlier == name) {
                return invalid(format!("disclosable[{index}] appears twice"));
            }
        }
        if request.format == CredentialFormat::X509 {
            validate_x509(&request.claims, &request.disclosable)?;
        }
        Ok(())
    }

    /// The pseudonym, if it exists and `proof` is a fresh proof of its key
    /// for this request; its `jti` is then recorded. Otherwise
    /// `ProofRequired`, whichever check failed. An unknown pseudonym still
    /// costs a signature check (against a key no proof is made with), so it
    /// does not answer noticeably faster than a bad proof.
    async fn proven_pseudonym(
        &self,
        id: &str,
        proof_object: &Value,
        proof: Option<&str>,
        now: i64,
    ) -> Result<PseudonymRow, DisclosureError> {
        Ok(self.proven_holder(id, None, proof_object, proof, now).await?.row)
    }

    /// As [`Self::proven_pseudonym`], with the proof made by the key the
    /// credential will name: the pseudonym's own, or (`client`) one of its
    /// further clients'. An unknown or foreign client is `ProofRequired`
    /// like an unknown pseudonym.
    async fn proven_holder(
        &self,
        id: &str,
        client: Option<&str>,
        proof_object: &Value,
        proof: Option<&str>,
        now: i64,
    ) -> Result<Proven, DisclosureError> {
        let digest = pop::request_digest(proof_object);
        let expected = pop::Expected {
            audience: &self.names.issuer,
            pseudonym: id,
            request_digest: &digest,
            now,
        };
        let row = match PseudonymId::parse(id) {
            Some(id) => self.store.pseudonym(&id).await?,
            None => None,
        };
        let client_asked = client.is_some();
        let client = match (client, &row) {
            (None, _) => None,
            (Some(client), Some(row)) => match ClientId::parse(client) {
                Some(client) => stored_client(&self.store, &self.keys.link, &client)
                    .await?
                    .filter(|c| c.pseudonym == row.id),
                None => None,
            },
            (Some(_), None) => None,
        };
        let unknown = row.is_none() || (client_asked && client.is_none());
        let (Some(row), false) = (row, unknown) else {
            if let Some(proof) = proof {
                let _ = pop::verify_proof(proof, self.keys.sd_jwt.public_key(), &expected);
            }
            return Err(DisclosureError::ProofRequired);
        };
        let stored_key = match &client {
            Some(client) => client.key.to_vec(),
            None => row.public_key.clone(),
        };
        let key = P256PublicKey::from_sec1(&stored_key)
            .map_err(|e| DisclosureError::Internal(format!("stored key: {e}")))?;
        let proof = proof.ok_or(DisclosureError::ProofRequired)?;
        let verified = pop::verify_proof(proof, &key, &expected).map_err(refused)?;
        let jti_hash = ring::digest::digest(&ring::digest::SHA256, verified.jti.as_bytes());
        let mut hash = [0u8; 32];
        hash.copy_from_slice(jti_hash.as_ref());
        // One second past the last instant the proof verifies, so the record
        // cannot be taken over while the proof is still acceptable.
        let expires_at = verified.keep_until.saturating_add(1);
        let fresh = self.store.record_proof_jti(&hash, expires_at, now).await?;
        if self.recorded.fetch_add(1, Ordering::Relaxed).is_multiple_of(PRUNE_EVERY)
            && let Err(error) = self.store.prune_proof_jtis(now).await
        {
            tracing::warn!(%error, "pruning expired proof records failed");
        }
        if !fresh {
            tracing::debug!("disclosure proof refused: replayed");
            return Err(DisclosureError::ProofRequired);
        }
        Ok(Proven { row, key, client })
    }

    /// `NotFound` unless `account` owns the pseudonym; the comparison is
    /// constant-time.
    fn check_owner(&self, row: &PseudonymRow, account: &str) -> Result<(), DisclosureError> {
        let owner = self
            .keys
            .link
            .open_ops_link(row.id.as_str(), &row.ops_link)
            .map_err(|e| DisclosureError::Internal(format!("ops_link: {e}")))?;
        let claimed = self.keys.link.account_ref(account);
        if bool::from(owner.0.ct_eq(&claimed.0)) { Ok(()) } else { Err(DisclosureError::NotFound) }
    }

    fn params(
        &self,
        request: &DisclosureRequest,
        holder_key: P256PublicKey,
        subject: String,
        now: i64,
        not_after: i64,
    ) -> IssueParams {
        IssueParams {
            issuer: self.names.issuer.clone(),
            subject: Some(subject),
            vct: Some(self.names.vct.clone()),
            holder_key,
            issued_at: now,
            expires_at: not_after,
            claims: request.claims.clone(),
            disclosable: request.disclosable.clone(),
            status: None,
        }
    }

    async fn linked_certificate(
        &self,
        request: &DisclosureRequest,
        holder: &Holder,
        key: &P256PublicKey,
        now: i64,
        not_after: i64,
    ) -> Result<Credential, DisclosureError> {
        let text = |name: &str| request.claims.get(name).and_then(Value::as_str);
        let identity = LinkedIdentity {
            name: text("name").unwrap_or_default(),
            user_uri: text("user_uri"),
            email: text("email"),
        };
        let serial =
            linked_x509::new_serial().map_err(|e| DisclosureError::Internal(e.to_string()))?;
        // Recorded first: a certificate the CRL could not name is never out.
        // The pseudonym is sealed to the serial, the expiry kept by day.
        let holder = self
            .keys
            .link
            .seal_ops(OpsPurpose::LinkedCertificate, &holder.encode(), &serial)
            .map_err(|e| DisclosureError::Internal(e.to_string()))?;
        let day = status_lists::day_of(not_after);
        self.store.record_linked_certificate(&serial, &holder, day).await?;
        // Starts at the hour like the pseudonym certificate, so the two look alike.
        let validity = (coarsen_to_hour(now), not_after);
        let leaf = linked_x509::issue(&self.keys.ca, &identity, key, validity, &serial)
            .map_err(|e| DisclosureError::Internal(e.to_string()))?;
        let ca = self.keys.ca.cert_der().to_vec();
        let mls_credential = mls::x509_credential(&[&leaf, &ca])
            .map_err(|e| DisclosureError::Internal(e.to_string()))?;
        Ok(Credential::X509 { chain: vec![leaf, ca], mls_credential })
    }
}

/// A certificate is not selectively disclosable and has three name slots;
/// its IA5 names must be ASCII and its CN within the X.520 bound.
fn validate_x509(
    claims: &Map<String, Value>,
    disclosable: &[String],
) -> Result<(), DisclosureError> {
    let invalid = |message: &str| Err(DisclosureError::InvalidRequest(message.into()));
    if !disclosable.is_empty() {
        return invalid("`disclosable` must be empty for x509: a certificate is disclosed whole");
    }
    if let Some(name) = claims.keys().find(|name| !X509_CLAIMS.contains(&name.as_str())) {
        return Err(DisclosureError::InvalidClaim(ClaimError {
            name: name.clone(),
            reason: "cannot be carried by an x509 disclosure (only name, user_uri, email)",
        }));
    }
    let Some(name) = claims.get("name").and_then(Value::as_str) else {
        return invalid("x509 disclosures need `name` (the certificate's CN)");
    };
    if name.chars().count() > MAX_COMMON_NAME_CHARS {
        return Err(DisclosureError::InvalidClaim(ClaimError {
            name: "name".into(),
            reason: "is longer than 64 characters, the X.509 common name limit",
        }));
    }
    if claims.get("email").and_then(Value::as_str).is_some_and(|email| !email.is_ascii()) {
        return Err(DisclosureError::InvalidClaim(ClaimError {
            name: "email".into(),
            reason: "must be ASCII in an x509 disclosure (rfc822Name is an IA5String)",
        }));
    }
    Ok(())
}

/// A refused proof, logged by kind only (never the pseudonym or account).
fn refused(error: PopError) -> DisclosureError {
    tracing::debug!(reason = %error, "disclosure proof refused");
    DisclosureError::ProofRequired
}

/// What the holder asked for that the signer refused: caller mistakes are
/// invalid requests, the rest internal.
fn issue_error(error: IssueError) -> DisclosureError {
    match error {
        IssueError::Signing(_) | IssueError::Random | IssueError::Encoding(_) => {
            DisclosureError::Internal(error.to_string())
        }
        other => DisclosureError::InvalidRequest(other.to_string()),
    }
}

/// A pseudonym's lifecycle state: revoked (one by one, by an account-wide
/// remedy in the account's sealed index, or unlinked by a deletion),
/// expired, or its account's state. Account-wide revocations are read here
/// rather than stamped on the pseudonym rows, so a copy of the database
/// shows no revocation shared by an account's pseudonyms.
/// The status of a pseudonym whose row alone decides it (revoked on the
/// row, expired, or its account deleted), without opening its link.
pub(crate) fn settled_status(row: &PseudonymRow, now: i64) -> Option<PseudonymStatus> {
    let revoked = row.revoked_at.is_some() || row.ops_link.is_empty();
    (revoked || row.not_after <= now)
        .then(|| PseudonymStatus::of(revoked, row.not_after, None, now))
}

pub async fn pseudonym_status(
    store: &Store,
    link: &LinkKeys,
    row: &PseudonymRow,
    now: i64,
) -> Result<PseudonymStatus, DisclosureError> {
    if let Some(status) = settled_status(row, now) {
        return Ok(status);
    }
    let account = link
        .open_ops_link(row.id.as_str(), &row.ops_link)
        .map_err(|e| DisclosureError::Internal(format!("ops_link: {e}")))?;
    let Some(view) = store.account_view(&account, now).await? else {
        return Ok(PseudonymStatus::of(false, row.not_after, None, now));
    };
    let index = PseudonymIndex::open(link, &account, view.sealed_index.as_deref())
        .map_err(|e| DisclosureError::Internal(format!("pseudonym index: {e}")))?;
    Ok(PseudonymStatus::of(index.revoked(&row.id), row.not_after, Some(view.state), now))
}
