//! Issue 15's independent peer: a second MLS implementation, mls-rs (AWS
//! Labs, crates.io `mls-rs` with `mls-rs-crypto-rustcrypto`), in suite
//! MLS_128_DHKEMP256_AES128GCM_SHA256_P256 (0x0002).
//!
//! - mls-rs accepts veil's credentials: the P-256 key is made by mls-rs'
//!   crypto provider, veil certifies it, and the minted x509 `Credential`
//!   (leaf + CA certificate) is the mls-rs `SigningIdentity`. One mls-rs
//!   client adds another to a group by its KeyPackage, the Welcome is
//!   processed, and messages flow. The identity provider on the mls-rs
//!   side is mls-rs' own `X509IdentityProvider` (`mls-rs-identity-x509`,
//!   which also checks that the certified key is the leaf's signature key),
//!   wired to a small validator written here: it parses the chain with
//!   x509-cert, checks the leaf's issuer name and ECDSA signature (verified
//!   by mls-rs' own RustCrypto suite) against the CA veil publishes at
//!   `/.well-known/veil-issuer` and the validity at the time mls-rs gives;
//!   the identity is the SAN URI. (mls-rs-crypto-rustcrypto's own `x509`
//!   feature would bring x509-cert 0.2 and spki 0.7 beside veil's 0.3.)
//! - veil accepts mls-rs' structures: the KeyPackage mls-rs built validates
//!   at `POST /v1/mls/key-packages/validate` (as an MLSMessage and bare),
//!   and the LeafNode of an mls-rs commit with a path validates at
//!   `POST /v1/mls/credentials/validate` with its group id and leaf index.
//!   The KeyPackage lifetime is set on the mls-rs client to end before the
//!   certificate does (`lifetime_exceeds_certificate` otherwise).
//! - A veil credential on another mls-rs key is refused by veil
//!   (`leaf_key_mismatch`, KeyPackage and leaf) and by mls-rs' provider.
//! - openmls and mls-rs in one group: an openmls member adds the mls-rs
//!   client by its KeyPackage, mls-rs joins from openmls' Welcome, messages
//!   flow both ways, and the leaf of an mls-rs commit as openmls reads it
//!   validates at veil. openmls' default wire format policy takes handshake
//!   messages only as PrivateMessages, so that mls-rs client encrypts its
//!   commits (mls-rs sends them as PublicMessages by default).
//! - Also checked on the way: veil's `mls_credential` is byte for byte what
//!   mls-rs encodes from the returned `certificate_chain`, and mls-rs'
//!   validator refuses a pseudonym of another veil (another CA).

use std::time::Duration;

use base64ct::{Base64, Encoding};
use mls_rs::client_builder::MlsConfig;
use mls_rs::error::IntoAnyError;
use mls_rs::group::ReceivedMessage;
use mls_rs::identity::SigningIdentity;
use mls_rs::identity::x509::{
    CertificateChain, DerCertificate, X509CredentialValidator, X509IdentityExtractor,
    X509IdentityProvider,
};
use mls_rs::mls_rs_codec::{MlsDecode, MlsEncode};
use mls_rs::mls_rules::{DefaultMlsRules, EncryptionOptions};
use mls_rs::time::MlsTime;
use mls_rs::{
    CipherSuite, CipherSuiteProvider, Client, CryptoProvider, ExtensionList, IdentityProvider,
    MlsMessage,
};
use mls_rs_crypto_rustcrypto::RustCryptoProvider;
use serde_json::{Value, json};
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use crate::support::hub::{b64, codes, mint};
use crate::support::{Db, TestApp};

on_both_backends!(
    mls_rs_accepts_veil_credentials_and_veil_accepts_mls_rs_structures,
    a_veil_credential_on_another_mls_rs_key_is_refused_by_both,
    openmls_and_mls_rs_share_a_group
);

/// The only suite a P-256 pseudonym key signs in (0x0002).
const SUITE: CipherSuite = CipherSuite::P256_AES128;

/// Shorter than the 30-day default pseudonym: mls-rs' default KeyPackage
/// lifetime (a year) would outlive the certificate.
const KEY_PACKAGE_LIFETIME: Duration = Duration::from_secs(7 * 86_400);

// ---------------------------------------------------------------------------
// The mls-rs side's trust in veil: an X.509 validator and identity extractor
// for mls-rs' X509IdentityProvider.

#[derive(Debug)]
struct ChainError(String);

impl std::fmt::Display for ChainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ChainError {}

impl IntoAnyError for ChainError {
    fn into_dyn_error(self) -> Result<Box<dyn std::error::Error + Send + Sync>, Self> {
        Ok(Box::new(self))
    }
}

fn chain_error(what: impl std::fmt::Display) -> ChainError {
    ChainError(what.to_string())
}

/// Trusts end-entity certificates issued by veil's CA.
#[derive(Clone)]
struct VeilCa {
    /// The CA's subject name (DER) and key (SEC1), from the issuer metadata.
    subject: Vec<u8>,
    key: Vec<u8>,
}

impl VeilCa {
    /// veil's current CA, as `/.well-known/veil-issuer` publishes it.
    async fn published(app: &TestApp) -> Self {
        let (status, issuer) = app.get("/.well-known/veil-issuer", None).await;
        assert_eq!(status, 200, "{issuer}");
        let pem = issuer["ca_certificates"][0].as_str().expect("a CA certificate");
        let der = pem::parse(pem).expect("PEM").into_contents();
        let ca = Certificate::from_der(&der).expect("CA certificate");
        let tbs = ca.tbs_certificate();
        Self {
            subject: tbs.subject().to_der().expect("subject"),
            key: tbs.subject_public_key_info().subject_public_key.raw_bytes().to_vec(),
        }
    }

    fn provider(&self) -> X509IdentityProvider<SanUri, VeilCa> {
        X509IdentityProvider::new(SanUri, self.clone())
    }
}

impl X509CredentialValidator for VeilCa {
    type Error = ChainError;

    /// The leaf's key, if the leaf was issued by veil's CA and is valid at
    /// `timestamp` (no time: no expiry check, as the trait asks).
    fn validate_chain(
        &self,
        chain: &CertificateChain,
        timestamp: Option<MlsTime>,
    ) -> Result<mls_rs::crypto::SignaturePublicKey, ChainError> {
        let leaf = chain.leaf().ok_or_else(|| chain_error("empty chain"))?;
        let cert = Certificate::from_der(leaf).map_err(chain_error)?;
        let tbs = cert.tbs_certificate();
        if tbs.issuer().to_der().map_err(chain_error)? != self.subject {
            return Err(chain_error("not issued by veil's CA"));
        }
        let signed = tbs.to_der().map_err(chain_error)?;
        let signature = cert.signature().as_bytes().ok_or_else(|| chain_error("signature"))?;
        // mls-rs' own P-256 suite checks the CA's ECDSA-SHA256 signature
        // (DER, as MLS signatures are).
        let suite = RustCryptoProvider::default()
            .cipher_suite_provider(SUITE)
            .ok_or_else(|| chain_error("no P-256 suite"))?;
        suite
            .verify(&self.key.clone().into(), signature, &signed)
            .map_err(|e| chain_error(format!("CA signature: {e:?}")))?;
        if let Some(now) = timestamp {
            let now = now.seconds_since_epoch();
            let validity = tbs.validity();
            if now < validity.not_before.to_unix_duration().as_secs()
                || now > validity.not_after.to_unix_duration().as_secs()
            {
                return Err(chain_error("outside the certificate's validity"));
            }
        }
        Ok(tbs.subject_public_key_info().subject_public_key.raw_bytes().to_vec().into())
    }
}

/// A member's identity is its certificate's SAN URI (the pseudonym URI).
#[derive(Clone)]
struct SanUri;

fn san_uri(certificate: &DerCertificate) -> Result<String, ChainError> {
    let cert = Certificate::from_der(certificate).map_err(chain_error)?;
    let (_, san) = cert
        .tbs_certificate()
        .get_extension::<SubjectAltName>()
        .map_err(chain_error)?
        .ok_or_else(|| chain_error("no subjectAltName"))?;
    san.0
        .iter()
        .find_map(|name| match name {
            GeneralName::UniformResourceIdentifier(uri) => Some(uri.to_string()),
            _ => None,
        })
        .ok_or_else(|| chain_error("no SAN URI"))
}

impl X509IdentityExtractor for SanUri {
    type Error = ChainError;

    fn identity(&self, chain: &CertificateChain) -> Result<Vec<u8>, ChainError> {
        Ok(san_uri(chain.leaf().ok_or_else(|| chain_error("empty chain"))?)?.into_bytes())
    }

    fn valid_successor(
        &self,
        predecessor: &CertificateChain,
        successor: &CertificateChain,
    ) -> Result<bool, ChainError> {
        Ok(self.identity(predecessor)? == self.identity(successor)?)
    }
}

// ---------------------------------------------------------------------------
// mls-rs clients holding veil pseudonyms.

/// A P-256 signature key made by mls-rs' RustCrypto suite.
struct MlsRsKey {
    secret: mls_rs::crypto::SignatureSecretKey,
    public: mls_rs::crypto::SignaturePublicKey,
}

impl MlsRsKey {
    fn generate() -> Self {
        let suite = RustCryptoProvider::default().cipher_suite_provider(SUITE).expect("P-256");
        let (secret, public) = suite.signature_key_generate().expect("P-256 key");
        Self { secret, public }
    }

    /// The JWK `POST /v1/pseudonyms` takes.
    fn jwk(&self) -> Value {
        let point: &[u8] = &self.public;
        let [4, coordinates @ ..] = point else { panic!("not an uncompressed point: {point:?}") };
        assert_eq!(coordinates.len(), 64);
        let (x, y) = coordinates.split_at(32);
        json!({"kty": "EC", "crv": "P-256",
               "x": base64ct::Base64UrlUnpadded::encode_string(x),
               "y": base64ct::Base64UrlUnpadded::encode_string(y)})
    }
}

/// A veil pseudonym whose key mls-rs holds.
struct MlsRsPseudonym {
    key: MlsRsKey,
    uri: String,
    /// veil's `mls_credential`: the TLS-serialized x509 `Credential`.
    credential: Vec<u8>,
}

impl MlsRsPseudonym {
    /// The mls-rs `SigningIdentity` of the credential on `key` (the
    /// certified one, or, for a copier, another).
    fn identity_on(&self, key: &MlsRsKey) -> SigningIdentity {
        let credential =
            mls_rs::identity::Credential::mls_decode(&mut &*self.credential).expect("decodes");
        SigningIdentity::new(credential, key.public.clone())
    }

    fn client(&self, ca: &VeilCa) -> Client<impl MlsConfig> {
        client_with(self.identity_on(&self.key), &self.key, ca.provider(), false)
    }
}

/// An mls-rs client signing as `identity` with `key`. `encrypt_handshakes`:
/// send commits and proposals as PrivateMessages, as openmls' default wire
/// format policy (pure ciphertext) requires of every member.
fn client_with(
    identity: SigningIdentity,
    key: &MlsRsKey,
    identity_provider: impl IdentityProvider + Clone,
    encrypt_handshakes: bool,
) -> Client<impl MlsConfig> {
    let mut encryption = EncryptionOptions::default();
    encryption.encrypt_control_messages = encrypt_handshakes;
    Client::builder()
        .crypto_provider(RustCryptoProvider::default())
        .identity_provider(identity_provider)
        .mls_rules(DefaultMlsRules::new().with_encryption_options(encryption))
        .signing_identity(identity, key.secret.clone(), SUITE)
        .key_package_lifetime(KEY_PACKAGE_LIFETIME)
        .build()
}

/// A copier's validator: it takes any chain as certifying her own key.
/// mls-rs' `X509IdentityProvider` refuses to create a group under a
/// certificate that names another key, so the copier needs this to commit.
#[derive(Clone)]
struct ClaimsKey(mls_rs::crypto::SignaturePublicKey);

impl X509CredentialValidator for ClaimsKey {
    type Error = ChainError;

    fn validate_chain(
        &self,
        _: &CertificateChain,
        _: Option<MlsTime>,
    ) -> Result<mls_rs::crypto::SignaturePublicKey, ChainError> {
        Ok(self.0.clone())
    }
}

/// Mints one pseudonym per mls-rs key for `account`. Checks on the way that
/// veil's `mls_credential` is, byte for byte, what mls-rs makes of the
/// returned `certificate_chain`.
async fn mint_for_mls_rs(
    app: &TestApp,
    backend: &str,
    account: &str,
    n: usize,
) -> Vec<MlsRsPseudonym> {
    let keys: Vec<MlsRsKey> = (0..n).map(|_| MlsRsKey::generate()).collect();
    let jwks: Vec<Value> = keys.iter().map(MlsRsKey::jwk).collect();
    let (status, body) = app.mint(backend, account, jwks).await;
    assert_eq!(status, 201, "{body}");
    keys.into_iter()
        .zip(body["pseudonyms"].as_array().expect("pseudonyms"))
        .map(|(key, minted)| {
            let credential = b64(&minted["mls_credential"]);
            let chain: Vec<DerCertificate> = minted["certificate_chain"]
                .as_array()
                .expect("chain")
                .iter()
                .map(|der| DerCertificate::new(b64(der)))
                .collect();
            assert_eq!(chain.len(), 2, "leaf and CA");
            let from_chain = CertificateChain::from(chain).into_credential();
            assert_eq!(from_chain.mls_encode_to_vec().expect("encodes"), credential);
            MlsRsPseudonym { key, uri: minted["uri"].as_str().expect("uri").into(), credential }
        })
        .collect()
}

fn key_package(client: &Client<impl MlsConfig>) -> MlsMessage {
    client
        .generate_key_package_message(ExtensionList::new(), ExtensionList::new(), None)
        .expect("key package")
}

/// A bare KeyPackage (no MLSMessage framing).
fn bare(key_package: &MlsMessage) -> Vec<u8> {
    key_package
        .clone()
        .into_key_package()
        .expect("a KeyPackage")
        .mls_encode_to_vec()
        .expect("encodes")
}

fn bytes(message: &MlsMessage) -> Vec<u8> {
    message.to_bytes().expect("encodes")
}

/// The members' identities (pseudonym URIs) as mls-rs' provider reads them.
fn roster_uris(group: &mls_rs::Group<impl MlsConfig>) -> Vec<String> {
    let mut uris: Vec<String> = group
        .roster()
        .members()
        .iter()
        .map(|member| {
            let chain = member.signing_identity.credential.as_x509().expect("x509");
            String::from_utf8(SanUri.identity(chain).expect("identity")).expect("UTF-8")
        })
        .collect();
    uris.sort();
    uris
}

fn application(received: ReceivedMessage) -> Vec<u8> {
    match received {
        ReceivedMessage::ApplicationMessage(message) => message.data().to_vec(),
        _ => panic!("not an application message"),
    }
}

// ---------------------------------------------------------------------------
// veil's routes.

async fn validate_key_package(app: &TestApp, hub: &str, key_package: &[u8]) -> Value {
    let body = json!({"key_package": Base64::encode_string(key_package)});
    let (status, report) = app.post("/v1/mls/key-packages/validate", hub, &body).await;
    assert_eq!(status, 200, "{report}");
    report
}

async fn validate_leaf(app: &TestApp, hub: &str, leaf: &[u8], group_id: &[u8], at: u32) -> Value {
    let body = json!({"leaf_node": Base64::encode_string(leaf),
                      "group_id": Base64::encode_string(group_id), "leaf_index": at});
    let (status, report) = app.post("/v1/mls/credentials/validate", hub, &body).await;
    assert_eq!(status, 200, "{report}");
    report
}

fn assert_valid_for(report: &Value, uri: &str) {
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["pseudonym"], uri, "{report}");
    assert_eq!(report["status"], "active", "{report}");
    assert_eq!(report["errors"], json!([]), "{report}");
}

/// mls-rs' X509IdentityProvider refused: the certificate names another key.
fn assert_key_mismatch(error: Option<mls_rs::error::MlsError>) {
    let error = format!("{:?}", error.expect("mls-rs refused"));
    assert!(error.contains("SignatureKeyMismatch"), "{error}");
}

/// The LeafNode (TLS) of a commit's update path.
fn path_leaf(commit: &MlsMessage) -> Vec<u8> {
    commit
        .commit_path_leaf_node()
        .expect("the commit has a path")
        .mls_encode_to_vec()
        .expect("encodes")
}

// ---------------------------------------------------------------------------

async fn mls_rs_accepts_veil_credentials_and_veil_accepts_mls_rs_structures(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let ca = VeilCa::published(&app).await;
    let people = mint_for_mls_rs(&app, &backend, "alice", 2).await;
    let (alice, bob) = (&people[0], &people[1]);
    let (alice_client, bob_client) = (alice.client(&ca), bob.client(&ca));

    // veil accepts the KeyPackage mls-rs built, framed and bare.
    let package = key_package(&alice_client);
    assert_valid_for(&validate_key_package(&app, &hub, &bytes(&package)).await, &alice.uri);
    assert_valid_for(&validate_key_package(&app, &hub, &bare(&package)).await, &alice.uri);

    // mls-rs accepts veil's credentials: Bob adds Alice by that KeyPackage,
    // Alice joins from the Welcome, and both see the pseudonyms.
    let mut bob_group =
        bob_client.create_group(ExtensionList::new(), ExtensionList::new(), None).expect("group");
    let added = bob_group.commit_builder().add_member(package).expect("add").build().expect("add");
    bob_group.apply_pending_commit().expect("apply");
    let welcome = added.welcome_messages.first().expect("a Welcome");
    let welcome = MlsMessage::from_bytes(&bytes(welcome)).expect("decodes");
    let (mut alice_group, _) = alice_client.join_group(None, &welcome, None).expect("join");
    let mut both = vec![alice.uri.clone(), bob.uri.clone()];
    both.sort();
    assert_eq!(roster_uris(&bob_group), both);
    assert_eq!(roster_uris(&alice_group), both);
    let hello = alice_group.encrypt_application_message(b"hello", vec![]).expect("encrypt");
    let received = bob_group.process_incoming_message(hello).expect("decrypt");
    assert_eq!(application(received), b"hello");

    // veil accepts a LeafNode mls-rs made in a group: Alice's commit with a
    // path (an empty commit carries one), signed for its group and index.
    let commit = alice_group.commit(vec![]).expect("commit");
    alice_group.apply_pending_commit().expect("apply");
    bob_group.process_incoming_message(commit.commit_message.clone()).expect("Bob processes");
    let leaf = path_leaf(&commit.commit_message);
    let at = alice_group.current_member_index();
    let report = validate_leaf(&app, &hub, &leaf, alice_group.group_id(), at).await;
    assert_valid_for(&report, &alice.uri);
    // The same leaf claimed at another index does not verify.
    let report = validate_leaf(&app, &hub, &leaf, alice_group.group_id(), at + 1).await;
    assert_eq!(codes(&report), ["signature_invalid"], "{report}");

    // The mls-rs side's check is no formality: a pseudonym of another veil
    // (another CA) is refused when Bob tries to add it.
    let foreign = TestApp::spawn(Db::Sqlite).await;
    let foreign_backend = foreign.token(&["backend"]).await;
    let stranger = &mint_for_mls_rs(&foreign, &foreign_backend, "stranger", 1).await[0];
    let package = key_package(&stranger.client(&ca));
    let refused = bob_group.commit_builder().add_member(package).and_then(|b| b.build());
    let error = format!("{:?}", refused.expect_err("mls-rs refused"));
    // (Both veils' CAs bear the same name: the CA signature gives it away.)
    assert!(error.contains("X509ValidationError") && error.contains("CA signature"), "{error}");
}

async fn a_veil_credential_on_another_mls_rs_key_is_refused_by_both(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let ca = VeilCa::published(&app).await;
    let people = mint_for_mls_rs(&app, &backend, "alice", 2).await;
    let (alice, bob) = (&people[0], &people[1]);

    // Mallory puts Alice's credential on her own key; everything she signs
    // verifies under that key, only the certificate binds another one.
    let mallory_key = MlsRsKey::generate();
    let copier = X509IdentityProvider::new(SanUri, ClaimsKey(mallory_key.public.clone()));
    let mallory = client_with(alice.identity_on(&mallory_key), &mallory_key, copier, false);
    let package = key_package(&mallory);
    for form in [bytes(&package), bare(&package)] {
        let report = validate_key_package(&app, &hub, &form).await;
        assert_eq!(report["valid"], false, "{report}");
        assert_eq!(codes(&report), ["leaf_key_mismatch"], "{report}");
    }

    // mls-rs' X509IdentityProvider refuses her KeyPackage as well.
    let bob_client = bob.client(&ca);
    let mut bob_group =
        bob_client.create_group(ExtensionList::new(), ExtensionList::new(), None).expect("group");
    let refused = bob_group.commit_builder().add_member(package).and_then(|b| b.build());
    assert_key_mismatch(refused.err());

    // Nor will mls-rs, with that provider, start a group under her copy.
    let honest = client_with(alice.identity_on(&mallory_key), &mallory_key, ca.provider(), false);
    let refused = honest.create_group(ExtensionList::new(), ExtensionList::new(), None);
    assert_key_mismatch(refused.err());

    // A leaf of a commit with a path from her own group.
    let mut group =
        mallory.create_group(ExtensionList::new(), ExtensionList::new(), None).expect("group");
    let commit = group.commit(vec![]).expect("commit");
    let leaf = path_leaf(&commit.commit_message);
    let report = validate_leaf(&app, &hub, &leaf, group.group_id(), 0).await;
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(codes(&report), ["leaf_key_mismatch"], "{report}");
}

async fn openmls_and_mls_rs_share_a_group(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let ca = VeilCa::published(&app).await;
    let owner = &mint(&app, &backend, "owner", 1, false).await[0];
    let carol = &mint_for_mls_rs(&app, &backend, "carol", 1).await[0];
    let carol_client = client_with(carol.identity_on(&carol.key), &carol.key, ca.provider(), true);

    // openmls validates mls-rs' KeyPackage and adds Carol; mls-rs joins from
    // openmls' Welcome (the ratchet tree rides in the GroupInfo extension).
    let mut group = owner.create_group();
    let (_, welcome) = owner.add(&mut group, &bare(&key_package(&carol_client)));
    let welcome = MlsMessage::from_bytes(&welcome).expect("Welcome decodes");
    let (mut carol_group, _) = carol_client.join_group(None, &welcome, None).expect("join");
    let mut both = vec![owner.uri.clone(), carol.uri.clone()];
    both.sort();
    assert_eq!(roster_uris(&carol_group), both);
    assert_eq!(carol_group.group_id(), group.group_id().as_slice());

    // Messages both ways.
    let from_openmls = owner.send(&mut group, b"from openmls");
    let message = MlsMessage::from_bytes(&from_openmls).expect("decodes");
    let received = carol_group.process_incoming_message(message).expect("mls-rs decrypts");
    assert_eq!(application(received), b"from openmls");
    let from_mls_rs =
        carol_group.encrypt_application_message(b"from mls-rs", vec![]).expect("encrypt");
    let received = owner.receive(&mut group, &bytes(&from_mls_rs));
    assert_eq!(received.application.as_deref(), Some(&b"from mls-rs"[..]));
    assert_eq!(received.sender_key, carol.key.public.to_vec());

    // Carol commits with a path; openmls merges it, and the leaf as openmls
    // reads it (what a hub built on openmls would show veil) validates.
    let commit = carol_group.commit(vec![]).expect("commit");
    carol_group.apply_pending_commit().expect("apply");
    let leaf = owner
        .receive(&mut group, &bytes(&commit.commit_message))
        .committed_leaf
        .expect("the commit has a path");
    assert_eq!(leaf.leaf_index, carol_group.current_member_index());
    let report = validate_leaf(&app, &hub, &leaf.leaf_node, &leaf.group_id, leaf.leaf_index).await;
    assert_valid_for(&report, &carol.uri);
    // And a message after the commit still flows from openmls to mls-rs.
    let after = owner.send(&mut group, b"after the commit");
    let message = MlsMessage::from_bytes(&after).expect("decodes");
    let received = carol_group.process_incoming_message(message).expect("mls-rs decrypts");
    assert_eq!(application(received), b"after the commit");
}
