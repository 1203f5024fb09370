//! Minting end to end: an openmls client puts the minted credential in a
//! KeyPackage that another client validates; the chain and SAN are right.

use base64ct::{Base64, Encoding};
use openmls::prelude::tls_codec::DeserializeBytes as _;
use openmls::prelude::{Credential, CredentialType, VLBytes};
use serde_json::Value;
use x509_cert::der::oid::AssociatedOid as _;
use x509_cert::der::{Decode, Encode};

use crate::support::mls::{MlsClient, validate_key_package};
use crate::support::{TestApp, tools};

on_both_backends!(
    openmls_key_package_carries_a_valid_pseudonym_credential,
    status_reports_active_and_unknown,
    openssl_verifies_the_certificate
);

fn b64(value: &Value) -> Vec<u8> {
    Base64::decode_vec(value.as_str().expect("string")).expect("standard base64")
}

async fn openmls_key_package_carries_a_valid_pseudonym_credential(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let alice = MlsClient::new();
    let (status, body) = app.mint(&backend, "alice", vec![alice.jwk()]).await;
    assert_eq!(status, 201, "{body}");
    let minted = &body["pseudonyms"][0];
    let uri = minted["uri"].as_str().unwrap();
    assert_eq!(uri, format!("mimi://example.com/p/{}", minted["id"].as_str().unwrap()));
    assert_eq!(minted["connection_only"], false);

    // A second client receives and validates the KeyPackage.
    let key_package = validate_key_package(&alice.key_package(&b64(&minted["mls_credential"])));
    let leaf = key_package.leaf_node();
    assert_eq!(leaf.signature_key().as_slice(), alice.public_key().as_slice());
    let credential: &Credential = leaf.credential();
    assert_eq!(credential.credential_type(), CredentialType::X509);
    let certs = split_certificates(credential.serialized_content());
    assert_eq!(certs.len(), 2, "leaf and CA");

    // The leaf chains to the CA published in the issuer metadata.
    let (status, issuer) = app.get("/.well-known/veil-issuer", None).await;
    assert_eq!(status, 200);
    let ca_pem = issuer["ca_certificates"][0].as_str().unwrap();
    let ca_der = pem_der(ca_pem);
    assert_eq!(certs[1], ca_der);
    assert_eq!(b64(&minted["certificate_chain"][0]), certs[0]);
    let leaf_cert = x509_cert::Certificate::from_der(&certs[0]).unwrap();
    let ca_cert = x509_cert::Certificate::from_der(&ca_der).unwrap();
    let ca_key = ca_cert.tbs_certificate().subject_public_key_info().subject_public_key.raw_bytes();
    let tbs = leaf_cert.tbs_certificate().to_der().unwrap();
    let signature = leaf_cert.signature().raw_bytes();
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, ca_key)
        .verify(&tbs, signature)
        .expect("leaf is signed by the published CA");
    assert_eq!(leaf_cert.tbs_certificate().issuer(), ca_cert.tbs_certificate().subject());

    // Its SAN URI is the pseudonym URI, its key the KeyPackage's signature key.
    let spki_key =
        leaf_cert.tbs_certificate().subject_public_key_info().subject_public_key.raw_bytes();
    assert_eq!(spki_key, leaf.signature_key().as_slice());
    let der = certs[0].clone();
    assert!(contains(&der, uri.as_bytes()), "SAN URI present");
    let san = leaf_cert
        .tbs_certificate()
        .extensions()
        .unwrap()
        .iter()
        .find(|e| e.extn_id == x509_cert::ext::pkix::SubjectAltName::OID)
        .expect("SAN extension");
    let san = x509_cert::ext::pkix::SubjectAltName::from_der(san.extn_value.as_bytes()).unwrap();
    let uris: Vec<String> = san
        .0
        .iter()
        .filter_map(|name| match name {
            x509_cert::ext::pkix::name::GeneralName::UniformResourceIdentifier(u) => {
                Some(u.to_string())
            }
            _ => None,
        })
        .collect();
    assert_eq!(uris, vec![uri.to_string()]);
}

async fn status_reports_active_and_unknown(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let (status, body) =
        app.mint(&backend, "bob", vec![MlsClient::new().jwk(), MlsClient::new().jwk()]).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["pseudonyms"].as_array().unwrap().len(), 2);
    let id = body["pseudonyms"][1]["id"].as_str().unwrap();
    let (status, view) = app.get(&format!("/v1/pseudonyms/{id}"), Some(&hub)).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["status"], "active");
    assert_eq!(view["uri"], body["pseudonyms"][1]["uri"]);
    assert_eq!(view["not_after"], body["pseudonyms"][1]["not_after"]);
    assert_eq!(view.as_object().unwrap().len(), 3, "nothing about the account: {view}");

    let (status, problem) = app.get("/v1/pseudonyms/AAAAAAAAAAAAAAAAAAAAAA", Some(&hub)).await;
    crate::support::assert_problem(status, &problem, 404, "not-found");
    let (status, problem) = app.get(&format!("/v1/pseudonyms/{id}"), None).await;
    crate::support::assert_problem(status, &problem, 401, "unauthorized");
}

async fn openssl_verifies_the_certificate(app: TestApp) {
    tools::require("openssl", &["version"], "install OpenSSL");
    let backend = app.token(&["backend"]).await;
    let (status, body) = app.mint(&backend, "carol", vec![MlsClient::new().jwk()]).await;
    assert_eq!(status, 201, "{body}");
    let (_, issuer) = app.get("/.well-known/veil-issuer", None).await;
    let ca = app.dir.path().join("ca.pem");
    let leaf = app.dir.path().join("leaf.pem");
    std::fs::write(&ca, issuer["ca_certificates"][0].as_str().unwrap()).unwrap();
    std::fs::write(&leaf, body["pseudonyms"][0]["certificate_pem"].as_str().unwrap()).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["verify", "-purpose", "sslclient", "-CAfile"])
        .arg(&ca)
        .arg(&leaf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName,basicConstraints,keyUsage", "-in"])
        .arg(&leaf)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(body["pseudonyms"][0]["uri"].as_str().unwrap()), "{text}");
    assert!(text.contains("CA:FALSE") && text.contains("Digital Signature"), "{text}");
}

/// Splits an x509 credential's content: a sequence of `opaque cert_data<V>`.
fn split_certificates(mut content: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (cert, rest) = VLBytes::tls_deserialize_bytes(content).expect("cert_data");
        out.push(cert.as_slice().to_vec());
        content = rest;
    }
    out
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    Base64::decode_vec(&body).unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// PostgreSQL only: the server ends every connection of this veil, as a
/// restart, a failover or a proxy's idle cut would, and the next requests
/// still pass. The reads every request makes (its token's, a mint's look
/// before signing) run on connections kept outside the pool
/// (`store/readers.rs`); one found broken must be replaced, not reported
/// (before that, the first requests after the cut got 500).
mod requests_outlive_their_connections {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs VEIL_TEST_POSTGRES_URL (cargo test -- --ignored postgres)"]
    async fn postgres() {
        let app = crate::support::TestApp::spawn(crate::support::Db::Postgres).await;
        super::requests_outlive_their_connections(app).await;
    }
}

async fn requests_outlive_their_connections(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let mint = |n: usize| {
        let (app, backend) = (&app, &backend);
        async move { app.mint(backend, &format!("cut-{n}"), vec![MlsClient::new().jwk()]).await }
    };
    // A reader connection is open and idle (used a moment ago, so the
    // next read takes it without a test).
    for n in 0..2 {
        let (status, body) = mint(n).await;
        assert_eq!(status, 201, "{body}");
    }
    let killer = app.raw_pool().await;
    let cut: i64 = sqlx::query_scalar(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE application_name = current_setting('application_name') \
         AND pid <> pg_backend_pid()",
    )
    .fetch_one(&killer)
    .await
    .unwrap();
    assert!(cut >= 2, "the cut reached this veil's connections ({cut})");
    for n in 2..6 {
        let (status, body) = mint(n).await;
        assert_eq!(status, 201, "mint {n} after the cut: {body}");
    }
}
