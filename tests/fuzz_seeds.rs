//! Writes the seed corpora in `fuzz/seeds/<target>/`: valid inputs made with
//! the fixed keys of the fuzz crate (`fuzz/src/lib.rs`), so the fuzzer starts
//! from inputs that pass every check. Signatures are randomized (ECDSA), so a
//! rerun rewrites the files with other bytes that are just as valid; commit
//! them only when the formats change.
//!
//! Ignored by a plain `cargo test`; run it with
//! `cargo test --test fuzz_seeds -- --ignored`. It lives here rather than in
//! `fuzz/` so that it builds with the main crate's test build, not a third one.

use std::fs;
use std::path::{Path, PathBuf};

use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use coset::{CoseSign1, Label, TaggedCborSerializable};
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::{
    Credential, CredentialWithKey, GroupId, KeyPackage, KeyPackageIn, LeafNodeParameters, MlsGroup,
    MlsGroupCreateConfig, MlsMessageOut, OpenMlsProvider as _, ProtocolVersion, SignatureScheme,
};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use p256::pkcs8::DecodePrivateKey;
use serde_json::{Value, json};
use veil::formats::disclosure::{IssueParams, sd_cwt, sd_jwt};
use veil::formats::linked_x509::{self, LinkedIdentity};
use veil::formats::mls::LeafPosition;
use veil::formats::mls::x509_credential;
use veil::formats::pop::prove;
use veil::formats::x509::{PseudonymCa, PseudonymCertRequest, der_to_pem};
use veil::services::verify::credential::Anchors;
use veil::services::verify::leaf_node::check_leaf_node;
#[allow(dead_code)] // Only the targets use some fixtures.
#[path = "../fuzz/src/lib.rs"]
mod veil_fuzz;

use veil_fuzz::{
    AUDIENCE, EXPIRES_AT, GROUP_ID, ISSUED_AT, ISSUER, LEAF_INDEX, NONCE, NOW, PSEUDONYM_PREFIX,
    anchors, ca_pems, holder, holder_pkcs8, issuer, join_chunks, sha256,
};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const PSEUDONYM: &str = "AAAAAAAAAAAAAAAAAAAAAA";
/// Certificates are valid from 2023 to 2096, so the fixed clock is inside.
const CERT_NOT_BEFORE: i64 = 1_700_000_000;
const CERT_NOT_AFTER: i64 = 4_000_000_000;

#[test]
#[ignore = "writes the committed fuzz seeds; run when a format changes"]
fn write_fuzz_seeds() -> Res<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    sd_jwt_seeds(&root)?;
    sd_cwt_seeds(&root)?;
    jwk_seeds(&root)?;
    key_package_seeds(&root)?;
    leaf_node_seeds(&root)?;
    policy_seeds(&root)?;
    pop_seeds(&root)?;
    x509_seeds(&root)?;
    abuse_report_seeds(&root)?;
    room_message_seeds(&root)?;
    println!("seeds written under {}", root.display());
    Ok(())
}

fn write(root: &Path, target: &str, name: &str, bytes: impl AsRef<[u8]>) -> Res<()> {
    let dir: PathBuf = root.join(target);
    fs::create_dir_all(&dir)?;
    fs::write(dir.join(name), bytes)?;
    Ok(())
}

fn params() -> IssueParams {
    let claims = json!({
        "display_name": "Zoë 🦊 李小龍",
        "email": "zoe@example.com",
        "address": { "locality": "Zürich", "country": "CH" },
        "age_over_18": true,
        "handle": "crazykoala75",
    });
    let Value::Object(claims) = claims else { unreachable!() };
    IssueParams {
        issuer: ISSUER.into(),
        subject: Some(format!("{PSEUDONYM_PREFIX}{PSEUDONYM}")),
        vct: Some(format!("{ISSUER}/vct/pseudonym")),
        holder_key: holder().public_key().clone(),
        issued_at: ISSUED_AT,
        expires_at: EXPIRES_AT,
        claims,
        disclosable: vec!["display_name".into(), "email".into(), "address".into()],
        status: None,
    }
}

const REVEALS: [&[&str]; 3] = [&["display_name", "email", "address"], &["display_name"], &[]];

fn sd_jwt_seeds(root: &Path) -> Res<()> {
    let issued = sd_jwt::issue(&params(), issuer())?;
    for (index, reveal) in REVEALS.iter().enumerate() {
        let presented = sd_jwt::present(&issued, reveal, holder(), AUDIENCE, NONCE, NOW)?;
        write(root, "sd_jwt_verify", &format!("reveal-{index}"), presented)?;
    }
    // The structured target: the payload with each digest replaced by `@N`,
    // then the disclosures' JSON.
    let mut parts = issued.trim_end_matches('~').split('~');
    let jwt = parts.next().ok_or("no JWT")?;
    let disclosures: Vec<&str> = parts.collect();
    let payload = jwt.split('.').nth(1).ok_or("no payload")?;
    let mut payload = String::from_utf8(Base64UrlUnpadded::decode_vec(payload)?)?;
    let mut chunks = vec![Vec::new()];
    for (index, disclosure) in disclosures.iter().enumerate() {
        let digest = Base64UrlUnpadded::encode_string(&sha256(disclosure.as_bytes()));
        payload = payload.replace(&digest, &format!("@{}", index));
        chunks.push(Base64UrlUnpadded::decode_vec(disclosure)?);
    }
    chunks[0] = payload.into_bytes();
    write(root, "sd_jwt_signed", "issued", join_chunks(&chunks))?;
    write(root, "sd_jwt_signed", "no-disclosures", join_chunks(&chunks[..1]))?;
    Ok(())
}

fn sd_cwt_seeds(root: &Path) -> Res<()> {
    let issued = sd_cwt::issue(&params(), issuer())?;
    for (index, reveal) in REVEALS.iter().enumerate() {
        let kbt = sd_cwt::present(&issued, reveal, holder(), AUDIENCE, NONCE.as_bytes(), NOW)?;
        write(root, "sd_cwt_verify", &format!("reveal-{index}"), &kbt)?;
        if index == 0 {
            write(root, "cbor", "kbt", &kbt)?;
        }
    }
    let credential = CoseSign1::from_tagged_slice(&issued).map_err(|e| e.to_string())?;
    let mut payload = credential.payload.clone().ok_or("no payload")?;
    let disclosures: Vec<Vec<u8>> = credential
        .unprotected
        .rest
        .iter()
        .find(|(label, _)| *label == Label::Int(17))
        .and_then(|(_, value)| value.as_array())
        .ok_or("no disclosures")?
        .iter()
        .filter_map(|item| item.as_bytes().cloned())
        .collect();
    write(root, "cbor", "payload", &payload)?;
    let mut chunks = vec![Vec::new()];
    for (index, disclosure) in disclosures.iter().enumerate() {
        let mut wrapped = Vec::new();
        ciborium::into_writer(&ciborium::Value::Bytes(disclosure.clone()), &mut wrapped)?;
        let digest = sha256(&wrapped);
        let mut placeholder = [0u8; 32];
        placeholder[31] = u8::try_from(index)?;
        if let Some(at) = payload.windows(32).position(|window| window == digest) {
            payload[at..at + 32].copy_from_slice(&placeholder);
        }
        chunks.push(disclosure.clone());
        if index < 2 {
            write(root, "cbor", &format!("disclosure-{index}"), disclosure)?;
        }
    }
    chunks[0] = payload;
    write(root, "sd_cwt_signed", "issued", join_chunks(&chunks))?;
    write(root, "sd_cwt_signed", "no-disclosures", join_chunks(&chunks[..1]))?;
    Ok(())
}

fn jwk_seeds(root: &Path) -> Res<()> {
    let key = holder().public_key();
    write(root, "jwk", "jwk", serde_json::to_vec(&key.to_jwk())?)?;
    let mut full = serde_json::to_value(key.to_jwk())?;
    if let Value::Object(map) = &mut full {
        map.insert("kid".into(), json!("k1"));
        map.insert("alg".into(), json!("ES256"));
        map.insert("use".into(), json!("sig"));
    }
    write(root, "jwk", "jwk-full", serde_json::to_vec(&full)?)?;
    write(root, "jwk", "sec1", key.sec1())?;
    Ok(())
}

fn key_package_seeds(root: &Path) -> Res<()> {
    let (key_pem, cert_pem) = ca_pems();
    let ca = PseudonymCa::load(&key_pem, &cert_pem)?;
    let public = holder().public_key().sec1().to_vec();
    let signer = holder_signer()?;
    let provider = OpenMlsRustCrypto::default();
    for connection_only in [false, true] {
        let uri = format!("{PSEUDONYM_PREFIX}{PSEUDONYM}");
        let cert = ca.issue_pseudonym(&PseudonymCertRequest {
            id: PSEUDONYM,
            uri: &uri,
            key: holder().public_key(),
            not_before: CERT_NOT_BEFORE,
            not_after: CERT_NOT_AFTER,
            connection_only,
            client: None,
        })?;
        let credential = Credential::tls_deserialize_exact(x509_credential(&[&cert])?.as_slice())?;
        let credential = CredentialWithKey { credential, signature_key: public.clone().into() };
        let bundle = KeyPackage::builder()
            .leaf_node_capabilities(veil::testkit::capabilities())
            .build(veil::testkit::SUITE, &provider, &signer, credential)?;
        let package = bundle.key_package().clone();
        let suffix = if connection_only { "-connection-only" } else { "" };
        write(root, "key_package", &format!("bare{suffix}"), package.tls_serialize_detached()?)?;
        let message = MlsMessageOut::from(package);
        write(root, "key_package", &format!("message{suffix}"), message.tls_serialize_detached()?)?;
    }
    Ok(())
}

/// The holder key as openmls' signer.
fn holder_signer() -> Res<SignatureKeyPair> {
    let secret = p256::SecretKey::from_pkcs8_der(&holder_pkcs8())?;
    Ok(SignatureKeyPair::from_raw(
        SignatureScheme::ECDSA_SECP256R1_SHA256,
        secret.to_bytes().to_vec(),
        holder().public_key().sec1().to_vec(),
    ))
}

/// LeafNodes, each after a flags byte (bit 0: check with the fixed group
/// position): the leaf of the `key_package` seed (made by a KeyPackage),
/// and the holder's own leaf after a self-update in a group of the fixed
/// id, where it sits at the fixed index (made by a Commit).
fn leaf_node_seeds(root: &Path) -> Res<()> {
    let bare = fs::read(root.join("key_package/bare"))?;
    let provider = OpenMlsRustCrypto::default();
    let package = KeyPackageIn::tls_deserialize_exact(bare.as_slice())?
        .validate(provider.crypto(), ProtocolVersion::Mls10)?;
    let leaf = package.leaf_node();
    write(root, "leaf_node", "key-package", [&[0], &leaf.tls_serialize_detached()?[..]].concat())?;

    let signer = holder_signer()?;
    let credential = CredentialWithKey {
        credential: leaf.credential().clone(),
        signature_key: leaf.signature_key().clone(),
    };
    let config = MlsGroupCreateConfig::builder()
        .ciphersuite(veil::testkit::SUITE)
        .capabilities(veil::testkit::capabilities())
        .build();
    let mut group = MlsGroup::new_with_group_id(
        &provider,
        &signer,
        &config,
        GroupId::from_slice(GROUP_ID),
        credential,
    )?;
    group.self_update(&provider, &signer, LeafNodeParameters::default())?;
    group.merge_pending_commit(&provider)?;
    assert_eq!(group.own_leaf_index().u32(), LEAF_INDEX);
    let own = group.own_leaf_node().ok_or("own leaf")?.tls_serialize_detached()?;
    write(root, "leaf_node", "commit", [&[1], &own[..]].concat())?;
    // Both get past the signature to the credential, which is ours.
    let trust = Anchors { anchors: anchors(), pseudonym_prefix: PSEUDONYM_PREFIX, now: NOW };
    let position = LeafPosition { group_id: GROUP_ID, leaf_index: LEAF_INDEX };
    for (bytes, position) in [(&leaf.tls_serialize_detached()?, None), (&own, Some(position))] {
        let checks = check_leaf_node(bytes, position, trust)?;
        assert!(checks.certificate.is_some(), "{:?}", checks.errors);
        assert!(
            !checks.errors.iter().any(|e| e.code == "signature_invalid"),
            "{:?}",
            checks.errors
        );
    }
    Ok(())
}

fn policy_seeds(root: &Path) -> Res<()> {
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for entry in fs::read_dir(policies.join("rooms"))? {
        let path = entry?.path();
        let name = path.file_name().ok_or("file name")?.to_string_lossy().into_owned();
        write(root, "room_policy", &name, fs::read(&path)?)?;
    }
    let inline = json!({
        "description": "inline",
        "pseudonyms": "optional",
        "formats": ["sd-jwt", "sd-cwt"],
        "max_kb_age_secs": 120,
        "claims": { "required": ["age_over_18"], "optional": ["age_over_*"], "forbidden": ["email"] },
    });
    write(root, "room_policy", "inline.json", serde_json::to_vec(&inline)?)?;
    write(root, "issuance_policy", "issuance.toml", fs::read(policies.join("issuance.toml"))?)?;
    Ok(())
}

fn pop_seeds(root: &Path) -> Res<()> {
    // The request the fuzz target's verifier expects (fuzz_targets/pop.rs).
    let request = json!({ "format": "sd-jwt", "claims": ["display_name"] });
    let proof = prove(holder(), ISSUER, PSEUDONYM, &request, NOW)?;
    write(root, "pop", "proof", proof)?;
    Ok(())
}

fn x509_seeds(root: &Path) -> Res<()> {
    let (key_pem, cert_pem) = ca_pems();
    let ca = PseudonymCa::load(&key_pem, &cert_pem)?;
    let identity = LinkedIdentity {
        name: "Zoë Example",
        user_uri: Some("mimi://example.com/u/zoe"),
        email: Some("zoe@example.com"),
    };
    let der = linked_x509::issue(
        &ca,
        &identity,
        holder().public_key(),
        (CERT_NOT_BEFORE, CERT_NOT_AFTER),
        &[0x11; 16],
    )?;
    write(root, "x509_linked", "pem-chain", format!("{}{}", der_to_pem(&der), cert_pem))?;
    write(root, "x509_linked", "base64-der", Base64::encode_string(&der))?;
    Ok(())
}

/// The room message seeds alone: deterministic, like the abuse report's.
#[test]
#[ignore = "writes the committed fuzz seeds; run when a format changes"]
fn write_room_message_seeds() -> Res<()> {
    room_message_seeds(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds"))
}

/// In-room identity messages: a disclosure with a KeyPackage and the next
/// pseudonym, and a request for a disclosure (a nonce alone).
fn room_message_seeds(root: &Path) -> Res<()> {
    use veil::formats::room_message::{IdentityMessage, PresentationFormat, RoomDisclosure};
    let answer = IdentityMessage {
        disclosure: Some(RoomDisclosure {
            format: PresentationFormat::SdCwt,
            presentation: vec![0xd2, 0x84, 0x43, 0xa1, 0x01, 0x26],
            nonce: b"0123456789abcdef".to_vec(),
        }),
        key_packages: vec![vec![0, 1, 0, 5, 0, 1, 2, 3]],
        next_pseudonym: Some(format!("mimi://example.com/p/{PSEUDONYM}")),
        nonce: None,
    };
    let ask = IdentityMessage { nonce: Some(vec![0x5a; 16]), ..Default::default() };
    write(root, "room_message", "answer", answer.encode()?)?;
    write(root, "room_message", "ask", ask.encode()?)?;
    Ok(())
}

/// The abuse report seeds alone: deterministic, so rerunning this leaves
/// them unchanged (and the other targets' seeds untouched).
#[test]
#[ignore = "writes the committed fuzz seeds; run when a format changes"]
fn write_abuse_report_seeds() -> Res<()> {
    abuse_report_seeds(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds"))
}

/// TLS-encoded `AbuseReport`s (draft-ietf-mimi-protocol-02 §5.9): a full
/// report, one naming no reporting user with no messages, and one at the
/// bound of ten messages.
fn abuse_report_seeds(root: &Path) -> Res<()> {
    use veil::formats::abuse_report::{
        AbuseReport, AbuseType, AbusiveMessage, Frank, MAX_MESSAGES,
    };
    let frank = |n: u8| Frank {
        franking_tag: [n; 32],
        server_frank: [n ^ 0x5a; 32],
        franking_context_hash: [n ^ 0xa5; 32],
    };
    let message = |n: u8| AbusiveMessage {
        mimi_content: format!("message {n}: a MIMI content message, CBOR in real life")
            .into_bytes(),
        frank: frank(n),
        accepted_timestamp: 1_750_000_000_000 + u64::from(n),
    };
    let full = AbuseReport {
        reporting_user: "mimi://hub.example/u/reporter".into(),
        alleged_abuser_uri: format!("{PSEUDONYM_PREFIX}{PSEUDONYM}"),
        reason_code: AbuseType::Reserved,
        note: "spam in the lobby, über and over".into(),
        messages: vec![message(1), message(2)],
    };
    let anonymous = AbuseReport {
        reporting_user: String::new(),
        note: String::new(),
        messages: vec![],
        ..full.clone()
    };
    let most =
        AbuseReport { messages: (0..MAX_MESSAGES as u8).map(message).collect(), ..full.clone() };
    write(root, "abuse_report", "report", full.encode()?)?;
    write(root, "abuse_report", "anonymous", anonymous.encode()?)?;
    write(root, "abuse_report", "ten-messages", most.encode()?)?;
    Ok(())
}
