//! What the examples share: an in-process veil on a temporary SQLite file,
//! a tiny HTTP helper, people's pseudonyms held by real openmls clients,
//! and a hub that asks veil about every credential it meets.
//!
//! Not every example uses every helper.
#![allow(dead_code)]

use std::error::Error;
use std::path::PathBuf;

use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use p256::pkcs8::DecodePrivateKey;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use veil::core::clock::{Clock, SystemClock};
use veil::formats::keys::signer::Es256Signer;
use veil::services::config::Config;
use veil::services::disclose::{CredentialFormat, DEFAULT_VALIDITY_DAYS, DisclosureRequest};

pub type Res<T> = Result<T, Box<dyn Error>>;

/// The only suite a P-256 pseudonym key can sign in.
pub const SUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMP256_AES128GCM_SHA256_P256;

/// Prints one step of the story.
pub fn step(text: &str) {
    println!("\n==> {text}");
}

/// A veil served on 127.0.0.1 with its keys and database in a temporary
/// directory, gone when the value is dropped.
pub struct Veil {
    url: String,
    http: reqwest::Client,
    pub admin: String,
    /// `https://<domain>`: the audience of disclosure proofs.
    pub issuer: String,
    _dir: tempfile::TempDir,
    _shutdown: oneshot::Sender<()>,
}

impl Veil {
    pub async fn start() -> Res<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir()?;
        let database = format!("sqlite://{}", dir.path().join("veil.db").display());
        let keys = dir.path().join("keys").display().to_string();
        let policies = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/policies"));
        let config = Config::load(|name| match name {
            "VEIL_DATABASE_URL" => Some(database.clone()),
            "VEIL_LISTEN" => Some("127.0.0.1:0".into()),
            "VEIL_KEYS_DIR" => Some(keys.clone()),
            "VEIL_POLICIES_DIR" => Some(policies.display().to_string()),
            _ => None,
        })?;
        let listener = veil::app::bind(&config).await?;
        let (state, first) = veil::app::prepare(config, std::sync::Arc::new(SystemClock)).await?;
        let issuer = state.disclosures.names().issuer.clone();
        let admin = std::fs::read_to_string(first.admin_token_file.ok_or("no admin token")?)?;
        let url = format!("http://{}", listener.local_addr()?);
        let (shutdown, stop) = oneshot::channel::<()>();
        tokio::spawn(veil::app::serve(listener, state, async move {
            let _ = stop.await;
        }));
        println!("veil is running at {url} (temporary SQLite database)");
        let http = reqwest::Client::builder().build()?;
        Ok(Self { url, http, admin: admin.trim().into(), issuer, _dir: dir, _shutdown: shutdown })
    }

    /// An API client with these scopes (the admin creates it); its token.
    pub async fn token(&self, name: &str, scopes: &[&str]) -> Res<String> {
        let body = json!({"name": name, "scopes": scopes});
        let created = self.post("/v1/admin/clients", &self.admin, &body).await?;
        Ok(created["token"].as_str().ok_or("no token")?.into())
    }

    /// POSTs JSON; a non-2xx answer is an error carrying the problem body.
    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Res<Value> {
        let request = self.http.post(format!("{}{path}", self.url)).bearer_auth(token).json(body);
        answer(request.send().await?).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Res<Value> {
        let request = self.http.get(format!("{}{path}", self.url)).bearer_auth(token);
        answer(request.send().await?).await
    }
}

async fn answer(response: reqwest::Response) -> Res<Value> {
    let status = response.status();
    let body: Value = response.json().await?;
    if !status.is_success() {
        return Err(format!("{status}: {body}").into());
    }
    Ok(body)
}

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
        let (holder, pkcs8) = Es256Signer::generate("holder")?;
        let point = holder.public_key().sec1().to_vec();
        keys.push(json!({"kty": "EC", "crv": "P-256",
                         "x": Base64UrlUnpadded::encode_string(&point[1..33]),
                         "y": Base64UrlUnpadded::encode_string(&point[33..65])}));
        let secret = p256::SecretKey::from_pkcs8_der(&pkcs8)?.to_bytes().to_vec();
        let signer =
            SignatureKeyPair::from_raw(SignatureScheme::ECDSA_SECP256R1_SHA256, secret, point);
        holders.push((holder, signer));
    }
    let body = json!({"account": account, "keys": keys, "connection_only": connection_only});
    let minted = veil.post("/v1/pseudonyms", backend, &body).await?;
    let minted = minted["pseudonyms"].as_array().ok_or("no pseudonyms")?;
    let mut personas = Vec::new();
    for ((holder, signer), pseudonym) in holders.into_iter().zip(minted) {
        let bytes = Base64::decode_vec(pseudonym["mls_credential"].as_str().ok_or("credential")?)?;
        personas.push(Persona {
            uri: pseudonym["uri"].as_str().ok_or("uri")?.into(),
            id: pseudonym["id"].as_str().ok_or("id")?.into(),
            provider: OpenMlsRustCrypto::default(),
            signer,
            holder,
            credential: Credential::tls_deserialize_exact(&bytes[..])?,
        });
    }
    Ok(personas)
}

/// Leaves must list x509, the credential type veil mints.
fn capabilities() -> Capabilities {
    Capabilities::builder()
        .credentials(vec![CredentialType::X509, CredentialType::Basic])
        .ciphersuites(vec![SUITE])
        .build()
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
        let bundle = KeyPackage::builder().leaf_node_capabilities(capabilities()).build(
            SUITE,
            &self.provider,
            &self.signer,
            credential,
        )?;
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
        };
        // The user's client proves it holds the pseudonym's key; the backend
        // forwards the proof with its request.
        let now = SystemClock.now();
        let proof = request.prove(&self.holder, &veil.issuer, &self.id, now)?;
        let body = json!({"account": account, "format": "sd-jwt", "claims": request.claims,
                          "disclosable": request.disclosable, "proof": proof});
        let path = format!("/v1/pseudonyms/{}/disclosures", self.id);
        let issued = veil.post(&path, backend, &body).await?;
        let credential = issued["credential"].as_str().ok_or("credential")?;
        Ok(veil::formats::disclosure::sd_jwt::present(
            credential,
            reveal,
            &self.holder,
            room,
            nonce,
            now,
        )?)
    }
}

/// A hub: it keeps rooms, and asks veil about every credential.
pub struct Hub<'a> {
    veil: &'a Veil,
    token: String,
}

impl<'a> Hub<'a> {
    pub async fn new(veil: &'a Veil) -> Res<Self> {
        Ok(Self { veil, token: veil.token("hub.example", &["hub"]).await? })
    }

    /// veil's report on a KeyPackage.
    pub async fn check_key_package(&self, key_package: &[u8]) -> Res<Value> {
        let body = json!({"key_package": Base64::encode_string(key_package)});
        self.veil.post("/v1/mls/key-packages/validate", &self.token, &body).await
    }

    /// Whether the KeyPackage may be used for a room: valid, and
    /// connection-only packages only for connection (or knock) rooms.
    pub async fn may_add(&self, key_package: &[u8], connection_room: bool) -> Res<bool> {
        let report = self.check_key_package(key_package).await?;
        let allowed =
            report["valid"] == true && (connection_room || report["connection_only"] != true);
        println!("    hub: veil says {report}");
        Ok(allowed)
    }

    /// The status of the pseudonym a member's certificate names (a member
    /// who joined by link brought no KeyPackage).
    pub async fn status(&self, uri: &str) -> Res<Value> {
        let id = uri.rsplit('/').next().unwrap_or_default();
        self.veil.get(&format!("/v1/pseudonyms/{id}"), &self.token).await
    }

    /// veil's verdict on an SD-JWT disclosure shown in `room` under `policy`.
    pub async fn verify(
        &self,
        room: &str,
        policy: &str,
        presentation: &str,
        nonce: &str,
        leaf_key: &[u8],
    ) -> Res<Value> {
        let request = json!({"format": "sd-jwt", "presentation": presentation, "audience": room,
                             "nonce": nonce, "leaf_signature_key": Base64::encode_string(leaf_key),
                             "policy": policy});
        self.veil.post("/v1/presentations/verify", &self.token, &request).await
    }

    pub fn nonce(&self) -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }
}

/// The pseudonym URI in an x509 credential's leaf certificate.
pub fn credential_uri(credential: &Credential) -> Option<String> {
    use x509_cert::der::Decode;
    let mut content = credential.serialized_content();
    let leaf = VLBytes::tls_deserialize(&mut content).ok()?;
    let cert = x509_cert::Certificate::from_der(leaf.as_slice()).ok()?;
    let (_, san) =
        cert.tbs_certificate().get_extension::<x509_cert::ext::pkix::SubjectAltName>().ok()??;
    san.0.iter().find_map(|name| match name {
        x509_cert::ext::pkix::name::GeneralName::UniformResourceIdentifier(uri) => {
            Some(uri.to_string())
        }
        _ => None,
    })
}

/// The pseudonym URIs of a group's members.
pub fn members(group: &MlsGroup) -> Vec<String> {
    group.members().filter_map(|m| credential_uri(&m.credential)).collect()
}
