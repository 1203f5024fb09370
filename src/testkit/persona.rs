//! A pseudonym and the real openmls client that holds its key: what the
//! example flows do with MLS (rooms, welcomes, join links, messages).

use base64ct::{Base64, Encoding};
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use serde_json::{Value, json};

use super::{HolderKey, Res, SUITE, Veil, capabilities};
use crate::core::clock::{Clock, SystemClock};
use crate::formats::keys::signer::Es256Signer;
use crate::services::disclose::{CredentialFormat, DEFAULT_VALIDITY_DAYS, DisclosureRequest};

/// One pseudonym and the openmls client holding its P-256 key.
pub struct Persona {
    pub uri: String,
    pub id: String,
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    holder: Es256Signer,
    credential: Credential,
}

/// The backend mints `n` pseudonyms for `account`, one key each.
pub async fn mint(
    veil: &Veil,
    backend: &str,
    account: &str,
    n: usize,
    connection_only: bool,
) -> Res<Vec<Persona>> {
    let mut keys = Vec::new();
    let mut holders = Vec::new();
    for _ in 0..n {
        let key = HolderKey::generate()?;
        keys.push(key.jwk()?);
        holders.push((key.es256_signer()?, key.mls));
    }
    let body = json!({"account": account, "keys": keys, "connection_only": connection_only});
    let minted = veil.post("/v1/pseudonyms", backend, &body).await?;
    let minted = minted.get("pseudonyms").and_then(Value::as_array).ok_or("no pseudonyms")?;
    let mut personas = Vec::new();
    for ((holder, signer), pseudonym) in holders.into_iter().zip(minted) {
        let field =
            |name: &str| pseudonym.get(name).and_then(Value::as_str).ok_or(name.to_string());
        let bytes = Base64::decode_vec(field("mls_credential")?)?;
        personas.push(Persona {
            uri: field("uri")?.into(),
            id: field("id")?.into(),
            provider: OpenMlsRustCrypto::default(),
            signer,
            holder,
            credential: Credential::tls_deserialize_exact(bytes.as_slice())?,
        });
    }
    Ok(personas)
}

fn tls(value: impl tls_codec::Serialize) -> Res<Vec<u8>> {
    Ok(value.tls_serialize_detached()?)
}

fn body(bytes: &[u8]) -> Res<MlsMessageBodyIn> {
    Ok(MlsMessageIn::tls_deserialize_exact(bytes)?.extract())
}

impl Persona {
    fn credential_with_key(&self) -> CredentialWithKey {
        CredentialWithKey {
            credential: self.credential.clone(),
            signature_key: self.signer.to_public_vec().into(),
        }
    }

    /// The MLS leaf signature key (SEC1), the key disclosures are bound to.
    pub fn leaf_key(&self) -> Vec<u8> {
        self.signer.to_public_vec()
    }

    /// A fresh KeyPackage (TLS bytes).
    pub fn key_package(&self) -> Res<Vec<u8>> {
        self.key_package_with(self)
    }

    /// A KeyPackage signed with this persona's key but carrying `owner`'s
    /// certificate: what someone who copied a certificate would publish.
    pub fn key_package_with(&self, owner: &Persona) -> Res<Vec<u8>> {
        let credential = CredentialWithKey {
            credential: owner.credential.clone(),
            signature_key: self.signer.to_public_vec().into(),
        };
        let bundle = KeyPackage::builder()
            .leaf_node_capabilities(capabilities())
            .key_package_lifetime(lifetime_within(&owner.credential))
            .build(SUITE, &self.provider, &self.signer, credential)?;
        tls(bundle.key_package().clone())
    }

    pub fn create_room(&self) -> Res<MlsGroup> {
        let config = MlsGroupCreateConfig::builder()
            .ciphersuite(SUITE)
            .capabilities(capabilities())
            .use_ratchet_tree_extension(true)
            .build();
        Ok(MlsGroup::new(&self.provider, &self.signer, &config, self.credential_with_key())?)
    }

    /// Adds the holder of `key_package`; returns the Welcome.
    pub fn add(&self, group: &mut MlsGroup, key_package: &[u8]) -> Res<Vec<u8>> {
        let package = KeyPackageIn::tls_deserialize_exact(key_package)?
            .validate(self.provider.crypto(), ProtocolVersion::Mls10)?;
        let (_, welcome, _) = group.add_members(&self.provider, &self.signer, &[package])?;
        group.merge_pending_commit(&self.provider)?;
        tls(welcome)
    }

    pub fn join(&self, welcome: &[u8]) -> Res<MlsGroup> {
        let MlsMessageBodyIn::Welcome(welcome) = body(welcome)? else {
            return Err("not a Welcome".into());
        };
        let config = MlsGroupJoinConfig::builder().use_ratchet_tree_extension(true).build();
        Ok(StagedWelcome::new_from_welcome(&self.provider, &config, welcome, None)?
            .into_group(&self.provider)?)
    }

    /// The join link's content: a GroupInfo with the ratchet tree.
    pub fn group_info(&self, group: &MlsGroup) -> Res<Vec<u8>> {
        tls(group.export_group_info(self.provider.crypto(), &self.signer, true)?)
    }

    /// Joins by external commit; returns the group and the commit.
    pub fn join_by_link(&self, group_info: &[u8]) -> Res<(MlsGroup, Vec<u8>)> {
        let MlsMessageBodyIn::GroupInfo(info) = body(group_info)? else {
            return Err("not a GroupInfo".into());
        };
        let config = MlsGroupJoinConfig::builder().use_ratchet_tree_extension(true).build();
        let leaf = LeafNodeParameters::builder().with_capabilities(capabilities()).build();
        let (group, bundle) = MlsGroup::external_commit_builder()
            .with_config(config)
            .build_group(&self.provider, info, self.credential_with_key())?
            .leaf_node_parameters(leaf)
            .load_psks(self.provider.storage())?
            .build(self.provider.rand(), self.provider.crypto(), &self.signer, |_| true)?
            .finalize(&self.provider)?;
        Ok((group, tls(bundle.into_contents().0)?))
    }

    pub fn send(&self, group: &mut MlsGroup, text: &[u8]) -> Res<Vec<u8>> {
        tls(group.create_message(&self.provider, &self.signer, text)?)
    }

    /// Asks to leave the room: a proposal another member commits.
    pub fn leave(&self, group: &mut MlsGroup) -> Res<Vec<u8>> {
        tls(group.leave_group(&self.provider, &self.signer)?)
    }

    pub fn commit_pending(&self, group: &mut MlsGroup) -> Res<()> {
        group.commit_to_pending_proposals(&self.provider, &self.signer)?;
        Ok(group.merge_pending_commit(&self.provider)?)
    }

    /// Processes a relayed message; returns its application bytes, if any,
    /// and the sender's credential.
    pub fn receive(
        &self,
        group: &mut MlsGroup,
        bytes: &[u8],
    ) -> Res<(Option<Vec<u8>>, Credential)> {
        let message = MlsMessageIn::tls_deserialize_exact(bytes)?.try_into_protocol_message()?;
        let processed = group.process_message(&self.provider, message)?;
        let sender = processed.credential().clone();
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(app) => {
                return Ok((Some(app.into_bytes()), sender));
            }
            ProcessedMessageContent::ProposalMessage(proposal) => {
                group.store_pending_proposal(self.provider.storage(), *proposal)?
            }
            ProcessedMessageContent::StagedCommitMessage(commit) => {
                group.merge_staged_commit(&self.provider, *commit)?
            }
            _ => {}
        }
        Ok((None, sender))
    }

    /// Processes a relayed commit; returns the leaf its path brought (an
    /// external join's new member), what a hub shows veil to admit them.
    pub fn receive_commit(&self, group: &mut MlsGroup, bytes: &[u8]) -> Res<Option<CommittedLeaf>> {
        let message = MlsMessageIn::tls_deserialize_exact(bytes)?.try_into_protocol_message()?;
        let processed = group.process_message(&self.provider, message)?;
        let ProcessedMessageContent::StagedCommitMessage(commit) = processed.into_content() else {
            return Err("not a commit".into());
        };
        merge_commit(&self.provider, group, *commit)
    }

    /// The backend issues an SD-JWT of `claims` for this pseudonym; the
    /// holder presents `reveal` to `room`, answering the hub's `nonce`.
    pub async fn sd_jwt(
        &self,
        veil: &Veil,
        backend: &str,
        account: &str,
        (claims, reveal): (Value, &[&str]),
        (room, nonce): (&str, &str),
    ) -> Res<String> {
        let disclosable: Vec<&String> = claims.as_object().ok_or("claims")?.keys().collect();
        let request = DisclosureRequest {
            account: account.into(),
            format: CredentialFormat::SdJwt,
            claims: claims.as_object().cloned().ok_or("claims")?,
            disclosable: disclosable.into_iter().cloned().collect(),
            validity_days: DEFAULT_VALIDITY_DAYS,
            client: None,
        };
        // The user's client proves it holds the pseudonym's key; the backend
        // forwards the proof with its request.
        let now = SystemClock.now();
        let proof = request.prove(&self.holder, &veil.issuer, &self.id, now)?;
        let body = json!({"account": account, "format": "sd-jwt", "claims": request.claims,
                          "disclosable": request.disclosable, "proof": proof});
        let path = format!("/v1/pseudonyms/{}/disclosures", self.id);
        let issued = veil.post(&path, backend, &body).await?;
        let credential = issued.get("credential").and_then(Value::as_str).ok_or("credential")?;
        Ok(crate::formats::disclosure::sd_jwt::present(
            credential,
            reveal,
            &self.holder,
            room,
            nonce,
            now,
        )?)
    }
}

/// The LeafNode of a commit's path and where it sits: its signature covers
/// the group id and leaf index (RFC 9420 §7.2), so a hub needs all three.
#[derive(Debug, Clone)]
pub struct CommittedLeaf {
    pub leaf_node: Vec<u8>,
    pub group_id: Vec<u8>,
    pub leaf_index: u32,
}

/// Merges `commit` into `group`; returns the leaf of its path, if it has one.
pub fn merge_commit(
    provider: &OpenMlsRustCrypto,
    group: &mut MlsGroup,
    commit: StagedCommit,
) -> Res<Option<CommittedLeaf>> {
    let leaf = commit.update_path_leaf_node().cloned();
    group.merge_staged_commit(provider, commit)?;
    let Some(leaf) = leaf else { return Ok(None) };
    let member = group
        .members()
        .find(|member| member.signature_key == leaf.signature_key().as_slice())
        .ok_or("the committer is not a member")?;
    Ok(Some(CommittedLeaf {
        leaf_node: tls(leaf)?,
        group_id: group.group_id().as_slice().to_vec(),
        leaf_index: member.index.u32(),
    }))
}

/// The end-entity certificate of an x509 credential.
fn leaf_certificate(credential: &Credential) -> Option<x509_cert::Certificate> {
    use x509_cert::der::Decode;
    let mut content = credential.serialized_content();
    let leaf = VLBytes::tls_deserialize(&mut content).ok()?;
    x509_cert::Certificate::from_der(leaf.as_slice()).ok()
}

/// The pseudonym URI in an x509 credential's leaf certificate.
pub fn credential_uri(credential: &Credential) -> Option<String> {
    let cert = leaf_certificate(credential)?;
    let (_, san) =
        cert.tbs_certificate().get_extension::<x509_cert::ext::pkix::SubjectAltName>().ok()??;
    san.0.iter().find_map(|name| match name {
        x509_cert::ext::pkix::name::GeneralName::UniformResourceIdentifier(uri) => {
            Some(uri.to_string())
        }
        _ => None,
    })
}

/// openmls' default KeyPackage lifetime (12 weeks), also its longest.
const DEFAULT_LIFETIME_SECS: u64 = 84 * 86_400;

/// The KeyPackage lifetime a careful client offers with `credential`:
/// from an hour ago (openmls' margin for skewed clocks) to the
/// certificate's notAfter, never longer than openmls' default. veil refuses
/// a package that outlives its certificate (`lifetime_exceeds_certificate`),
/// so openmls' default 84 days does not do with a 30-day pseudonym.
pub fn lifetime_within(credential: &Credential) -> Lifetime {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let cert_end = leaf_certificate(credential)
        .map(|cert| cert.tbs_certificate().validity().not_after.to_unix_duration().as_secs());
    let end = now + DEFAULT_LIFETIME_SECS;
    Lifetime::init(now.saturating_sub(3600), cert_end.map_or(end, |cert_end| cert_end.min(end)))
}

/// The pseudonym URIs of a group's members.
pub fn members(group: &MlsGroup) -> Vec<String> {
    group.members().filter_map(|m| credential_uri(&m.credential)).collect()
}
