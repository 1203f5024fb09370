//! The MIMI flows' cast: `Persona`, one veil pseudonym held by a real
//! openmls client, and `Hub`, a small in-process hub that keeps its rooms'
//! policies, members and relayed messages. The hub decides nothing about
//! credentials itself: every check goes through veil's HTTP routes
//! (KeyPackage and leaf validation, presentation verification).
//!
//! The MLS groups live in the clients; the hub only ever sees what a real
//! hub sees: KeyPackages, member credentials, and opaque relayed messages.

use std::collections::{BTreeMap, BTreeSet};

use base64ct::{Base64, Encoding};
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use serde_json::{Value, json};
pub use veil::testkit::CommittedLeaf;
pub use veil::testkit::credential_uri;
use veil::testkit::{SUITE, capabilities, merge_commit};

use super::TestApp;
use super::mls::{MlsClient, validate_key_package};

/// One minted pseudonym and the MLS client holding its key.
pub struct Persona {
    pub client: MlsClient,
    pub id: String,
    pub uri: String,
    /// The TLS-serialized x509 `Credential` veil minted.
    pub credential: Vec<u8>,
}

/// Mints `n` pseudonyms for `account` in one request.
pub async fn mint(
    app: &TestApp,
    backend: &str,
    account: &str,
    n: usize,
    connection_only: bool,
) -> Vec<Persona> {
    let clients: Vec<MlsClient> = (0..n).map(|_| MlsClient::new()).collect();
    let keys: Vec<Value> = clients.iter().map(MlsClient::jwk).collect();
    let body = json!({"account": account, "keys": keys, "connection_only": connection_only});
    let (status, body) = app.post("/v1/pseudonyms", backend, &body).await;
    assert_eq!(status, 201, "{body}");
    clients
        .into_iter()
        .zip(body["pseudonyms"].as_array().expect("pseudonyms"))
        .map(|(client, minted)| Persona {
            client,
            id: minted["id"].as_str().expect("id").into(),
            uri: minted["uri"].as_str().expect("uri").into(),
            credential: b64(&minted["mls_credential"]),
        })
        .collect()
}

pub fn b64(value: &Value) -> Vec<u8> {
    Base64::decode_vec(value.as_str().expect("string")).expect("standard base64")
}

fn tls(value: impl tls_codec::Serialize) -> Vec<u8> {
    value.tls_serialize_detached().expect("TLS encodes")
}

/// A message a client received: its application bytes (if any), the
/// sender's MLS leaf `signature_key`, and the leaf a commit with a path
/// brought.
pub struct Received {
    pub application: Option<Vec<u8>>,
    pub sender_key: Vec<u8>,
    pub committed_leaf: Option<CommittedLeaf>,
}

impl Persona {
    pub fn credential_with_key(&self) -> CredentialWithKey {
        let credential = Credential::tls_deserialize_exact(&self.credential[..]).expect("cred");
        CredentialWithKey { credential, signature_key: self.client.public_key().into() }
    }

    /// A fresh KeyPackage (TLS bytes); its private keys stay in the client.
    pub fn key_package(&self) -> Vec<u8> {
        self.client.key_package(&self.credential)
    }

    /// A fresh KeyPackage carrying the connection-only extension: for
    /// connection rooms only, whatever the certificate says.
    pub fn connection_only_key_package(&self) -> Vec<u8> {
        self.client.connection_only_key_package(&self.credential)
    }

    /// A new room's group with this pseudonym as its only member.
    pub fn create_group(&self) -> MlsGroup {
        let config = MlsGroupCreateConfig::builder()
            .ciphersuite(SUITE)
            .capabilities(capabilities())
            .use_ratchet_tree_extension(true)
            .build();
        MlsGroup::new(
            &self.client.provider,
            &self.client.key.mls,
            &config,
            self.credential_with_key(),
        )
        .expect("group")
    }

    /// Adds the holders of `key_package` (as validated by an openmls client);
    /// returns (commit, welcome) after merging.
    pub fn add(&self, group: &mut MlsGroup, key_package: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let package = validate_key_package(key_package);
        let (commit, welcome, _) = group
            .add_members(&self.client.provider, &self.client.key.mls, &[package])
            .expect("add member");
        group.merge_pending_commit(&self.client.provider).expect("merge");
        (tls(commit), tls(welcome))
    }

    /// Joins from a Welcome made for one of this client's KeyPackages.
    pub fn join(&self, welcome: &[u8]) -> MlsGroup {
        let message = MlsMessageIn::tls_deserialize_exact(welcome).expect("welcome decodes");
        let MlsMessageBodyIn::Welcome(welcome) = message.extract() else {
            panic!("not a Welcome");
        };
        let config = MlsGroupJoinConfig::builder().use_ratchet_tree_extension(true).build();
        StagedWelcome::new_from_welcome(&self.client.provider, &config, welcome, None)
            .expect("staged welcome")
            .into_group(&self.client.provider)
            .expect("group from welcome")
    }

    /// The join link: a GroupInfo (with the ratchet tree) any holder of the
    /// link can use for an external commit.
    pub fn group_info(&self, group: &MlsGroup) -> Vec<u8> {
        tls(group
            .export_group_info(self.client.provider.crypto(), &self.client.key.mls, true)
            .expect("group info"))
    }

    /// Joins by external commit; returns the group and the commit to relay.
    pub fn join_external(&self, group_info: &[u8]) -> (MlsGroup, Vec<u8>) {
        let message = MlsMessageIn::tls_deserialize_exact(group_info).expect("decodes");
        let MlsMessageBodyIn::GroupInfo(info) = message.extract() else {
            panic!("not a GroupInfo");
        };
        let config = MlsGroupJoinConfig::builder().use_ratchet_tree_extension(true).build();
        let leaf = LeafNodeParameters::builder().with_capabilities(capabilities()).build();
        let provider = &self.client.provider;
        let (group, bundle) = MlsGroup::external_commit_builder()
            .with_config(config)
            .build_group(provider, info, self.credential_with_key())
            .expect("external commit group")
            .leaf_node_parameters(leaf)
            .load_psks(provider.storage())
            .expect("psks")
            .build(provider.rand(), provider.crypto(), &self.client.key.mls, |_| true)
            .expect("external commit")
            .finalize(provider)
            .expect("finalize");
        let (commit, _, _) = bundle.into_contents();
        (group, tls(commit))
    }

    /// An application message for the group.
    pub fn send(&self, group: &mut MlsGroup, payload: &[u8]) -> Vec<u8> {
        tls(group
            .create_message(&self.client.provider, &self.client.key.mls, payload)
            .expect("application message"))
    }

    /// Asks to leave: a Remove proposal another member must commit.
    pub fn leave(&self, group: &mut MlsGroup) -> Vec<u8> {
        tls(group.leave_group(&self.client.provider, &self.client.key.mls).expect("leave"))
    }

    /// Commits the proposals this member has received (e.g. a leave).
    pub fn commit_pending(&self, group: &mut MlsGroup) -> Vec<u8> {
        let (commit, _, _) = group
            .commit_to_pending_proposals(&self.client.provider, &self.client.key.mls)
            .expect("commit proposals");
        group.merge_pending_commit(&self.client.provider).expect("merge");
        tls(commit)
    }

    /// Processes a relayed message: merges commits, stores proposals.
    pub fn receive(&self, group: &mut MlsGroup, bytes: &[u8]) -> Received {
        let message = MlsMessageIn::tls_deserialize_exact(bytes).expect("message decodes");
        let protocol = message.try_into_protocol_message().expect("protocol message");
        let processed =
            group.process_message(&self.client.provider, protocol).expect("process message");
        let sender_credential = processed.credential().clone();
        let mut application = None;
        let mut committed_leaf = None;
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(message) => {
                application = Some(message.into_bytes());
            }
            ProcessedMessageContent::ProposalMessage(proposal) => {
                group
                    .store_pending_proposal(self.client.provider.storage(), *proposal)
                    .expect("store proposal");
            }
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                committed_leaf =
                    merge_commit(&self.client.provider, group, *staged).expect("merge commit");
            }
            _ => {}
        }
        let sender_key = group
            .members()
            .find(|member| member.credential == sender_credential)
            .map(|member| member.signature_key)
            .unwrap_or_default();
        Received { application, sender_key, committed_leaf }
    }
}

/// The pseudonym URIs named by the members' certificates, as any member
/// (or a hub reading the tree) sees them.
pub fn member_uris(group: &MlsGroup) -> BTreeSet<String> {
    group.members().filter_map(|member| credential_uri(&member.credential)).collect()
}

/// One room as the hub knows it.
#[derive(Debug, Default)]
pub struct Room {
    /// A room policy name (`policies/rooms/`).
    pub policy: String,
    /// Connection and knock rooms: connection-only KeyPackages may be used.
    pub connection_room: bool,
    /// Pseudonym URIs of the members the hub admitted.
    pub members: BTreeSet<String>,
    /// Messages relayed, as opaque bytes.
    pub relayed: Vec<Vec<u8>>,
}

/// The in-process hub.
pub struct Hub<'a> {
    app: &'a TestApp,
    token: String,
    pub rooms: BTreeMap<String, Room>,
}

impl<'a> Hub<'a> {
    /// A hub registered with veil as an API client of scope `hub`.
    pub async fn new(app: &'a TestApp) -> Self {
        Self { app, token: app.token(&["hub"]).await, rooms: BTreeMap::new() }
    }

    pub fn open_room(&mut self, uri: &str, policy: &str, connection_room: bool, creator: &str) {
        let room = Room {
            policy: policy.into(),
            connection_room,
            members: BTreeSet::from([creator.to_string()]),
            relayed: Vec::new(),
        };
        self.rooms.insert(uri.into(), room);
    }

    fn room(&mut self, uri: &str) -> &mut Room {
        self.rooms.get_mut(uri).expect("known room")
    }

    /// veil's verdict on a KeyPackage.
    pub async fn validate(&self, key_package: &[u8]) -> Value {
        self.validate_for(key_package, None).await
    }

    /// veil's verdict on a KeyPackage offered to a room under `policy`:
    /// admission by the room policy's `pseudonyms_allowed` too, and (for a
    /// room that is not a connection room) of connection-only packages.
    async fn validate_for(&self, key_package: &[u8], room: Option<(&str, bool)>) -> Value {
        let mut body = json!({"key_package": Base64::encode_string(key_package)});
        if let Some((policy, connection_room)) = room {
            body["policy"] = json!(policy);
            body["connection_room"] = json!(connection_room);
        }
        let (status, report) =
            self.app.post("/v1/mls/key-packages/validate", &self.token, &body).await;
        assert_eq!(status, 200, "{report}");
        report
    }

    /// Admits the holder of `key_package` to `room`: veil must find it
    /// valid under the room's policy (which may forbid pseudonyms) and for
    /// the kind of room (a connection-only package, by its KeyPackage
    /// extension or its certificate, only enters connection rooms:
    /// `connection_room_required`). Returns the member's pseudonym URI, or
    /// the refusal codes.
    pub async fn admit(&mut self, room: &str, key_package: &[u8]) -> Result<String, Vec<String>> {
        let (policy, connection_room) = {
            let room = self.room(room);
            (room.policy.clone(), room.connection_room)
        };
        let report = self.validate_for(key_package, Some((&policy, connection_room))).await;
        let refusals = codes(&report);
        if !refusals.is_empty() {
            return Err(refusals);
        }
        let uri = report["pseudonym"].as_str().expect("pseudonym").to_string();
        self.room(room).members.insert(uri.clone());
        Ok(uri)
    }

    /// veil's verdict on a LeafNode, with its position for a leaf made by a
    /// Commit or an Update.
    pub async fn validate_leaf(&self, leaf: &CommittedLeaf, policy: Option<&str>) -> Value {
        let mut body = json!({
            "leaf_node": Base64::encode_string(&leaf.leaf_node),
            "group_id": Base64::encode_string(&leaf.group_id),
            "leaf_index": leaf.leaf_index,
        });
        if let Some(policy) = policy {
            body["policy"] = json!(policy);
        }
        let (status, report) =
            self.app.post("/v1/mls/credentials/validate", &self.token, &body).await;
        assert_eq!(status, 200, "{report}");
        report
    }

    /// Admits a member who joined by external commit: no KeyPackage, so the
    /// hub shows veil the LeafNode of the commit's path (its signature and
    /// credential are checked, and the pseudonym's status, under the room's
    /// policy). Returns the member's pseudonym URI, or the refusal codes.
    pub async fn admit_external(
        &mut self,
        room: &str,
        leaf: &CommittedLeaf,
    ) -> Result<String, Vec<String>> {
        let policy = self.room(room).policy.clone();
        let report = self.validate_leaf(leaf, Some(&policy)).await;
        let mut refusals = codes(&report);
        if report["connection_only"] == true && !self.room(room).connection_room {
            refusals.push("connection_only".into());
        }
        if !refusals.is_empty() {
            return Err(refusals);
        }
        let uri = report["pseudonym"].as_str().expect("pseudonym").to_string();
        self.room(room).members.insert(uri.clone());
        Ok(uri)
    }

    /// Reports a member of `room` to veil (MIMI abuse report); returns the
    /// HTTP status.
    pub async fn report(&self, room: &str, abuser: &str, note: &str) -> u16 {
        let report = json!({
            "room": room,
            "reporting_user": "mimi://hub.example/u/moderator",
            "alleged_abuser": abuser,
            "reason_code": 0,
            "note": note,
            "messages": [{"mimi_content": "aGVsbG8=", "frank": super::frank(note),
                           "accepted_timestamp": 1}],
        });
        self.app.post("/v1/abuse-reports", &self.token, &report).await.0
    }

    pub fn relay(&mut self, room: &str, message: &[u8]) {
        self.room(room).relayed.push(message.to_vec());
    }

    pub fn leave(&mut self, room: &str, uri: &str) {
        self.room(room).members.remove(uri);
    }

    /// A fresh challenge for a disclosure in this room.
    pub fn nonce(&self) -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }

    /// veil's verdict on a disclosure presented to `room`: the audience is
    /// the room, `nonce` the one the hub issued, the key the sender's leaf.
    pub async fn verify(
        &self,
        room: &str,
        format: &str,
        presentation: &str,
        nonce: &str,
        leaf_key: &[u8],
    ) -> Value {
        let policy = &self.rooms[room].policy;
        let mut request = json!({
            "format": format,
            "presentation": presentation,
            "leaf_signature_key": Base64::encode_string(leaf_key),
            "policy": policy,
        });
        if format != "x509" {
            request["audience"] = json!(room);
            request["nonce"] = json!(wire_nonce(format, nonce));
        }
        let (status, verdict) =
            self.app.post("/v1/presentations/verify", &self.token, &request).await;
        assert_eq!(status, 200, "{verdict}");
        verdict
    }
}

/// The codes of a report's findings.
pub fn codes(report: &Value) -> Vec<String> {
    report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["code"].as_str().expect("code").to_string())
        .collect()
}

/// SD-JWT carries the nonce as text; SD-CWT as bytes (base64 on the wire).
fn wire_nonce(format: &str, nonce: &str) -> String {
    match format {
        "sd-cwt" => Base64::encode_string(nonce.as_bytes()),
        _ => nonce.to_string(),
    }
}

/// A disclosure to make: its format and claims, what to reveal, and the
/// room's challenge (audience and nonce).
pub struct Ask<'a> {
    pub format: &'a str,
    pub claims: Value,
    pub reveal: &'a [&'a str],
    pub room: &'a str,
    pub nonce: &'a str,
}

/// Issues a real-identity disclosure for `persona` (backend route) and
/// presents it as asked, signing with the persona's MLS key.
pub async fn disclose(
    app: &TestApp,
    backend: &str,
    account: &str,
    persona: &Persona,
    ask: &Ask<'_>,
) -> String {
    let disclosable: Vec<&str> = match ask.format {
        "x509" => Vec::new(),
        _ => ask.claims.as_object().expect("claims").keys().map(String::as_str).collect(),
    };
    let request = json!({"account": account, "format": ask.format, "claims": ask.claims,
                         "disclosable": disclosable, "validity_days": 7});
    let holder = persona.client.es256_signer();
    let (status, issued) = app.disclose(backend, &holder, &persona.id, &request).await;
    assert_eq!(status, 201, "{issued}");
    let credential = issued["credential"].as_str().expect("credential");
    let iat = veil::core::clock::Clock::now(&veil::core::clock::SystemClock);
    let (room, nonce, reveal) = (ask.room, ask.nonce, ask.reveal);
    match ask.format {
        "sd-jwt" => veil::formats::disclosure::sd_jwt::present(
            credential, reveal, &holder, room, nonce, iat,
        )
        .expect("present"),
        "sd-cwt" => {
            let cwt = Base64::decode_vec(credential).expect("base64");
            let kbt = veil::formats::disclosure::sd_cwt::present(
                &cwt,
                reveal,
                &holder,
                room,
                nonce.as_bytes(),
                iat,
            )
            .expect("present");
            Base64::encode_string(&kbt)
        }
        _ => credential.to_string(),
    }
}
