//! Members verify disclosures in their own clients (issue 14): with the
//! issuer's published documents only, fetched once over HTTP, and no call
//! to veil per disclosure. Two members verify the same disclosure; each
//! failed binding (room, nonce, leaf key, issuer, policy) is refused.

use base64ct::{Base64, Encoding};
use serde_json::{Value, json};
use veil::core::clock::{Clock, SystemClock};
use veil::formats::disclosure::{sd_cwt, sd_jwt};
use veil::formats::keys::public_key::P256PublicKey;
use veil::services::disclose::CredentialFormat;
use veil::services::verify::offline::{IssuerDocuments, IssuerTrust, MemberPresentation};
use veil::services::verify::policy::RoomPolicy;

use std::sync::Arc;

use veil::core::clock::ManualClock;
use veil::services::status_lists::TTL_SECS;

use crate::support::fixtures::{Pseudonym, pseudonym};
use crate::support::mls::MlsClient;
use crate::support::{Db, TestApp};

on_both_backends!(
    members_verify_each_format_with_the_published_documents_only,
    a_member_refuses_what_does_not_bind_to_its_room_and_leaf,
    a_room_accepts_the_credential_types_its_policy_names
);

const ROOM: &str = "mimi://hub.example/r/book-club";

/// What a client fetches once from the issuer and keeps.
async fn documents(app: &TestApp) -> IssuerDocuments {
    let (status, veil_issuer) = app.get("/.well-known/veil-issuer", None).await;
    assert_eq!(status, 200, "{veil_issuer}");
    let (status, jwt_vc_issuer) = app.get("/.well-known/jwt-vc-issuer", None).await;
    assert_eq!(status, 200, "{jwt_vc_issuer}");
    let response = app.http.get(app.url("/.well-known/cose-keys")).send().await.expect("cose-keys");
    assert_eq!(response.status(), 200);
    let cose = response.bytes().await.expect("body");
    IssuerDocuments { veil_issuer, jwt_vc_issuer, cose_keys: Base64::encode_string(&cose) }
}

async fn issue(app: &TestApp, f: &Pseudonym, format: &str) -> String {
    // A certificate shows every claim it holds; the SD formats hide `email`.
    let (claims, disclosable) = match format {
        "x509" => (json!({"name": "Alice Martin"}), json!([])),
        _ => (
            json!({"name": "Alice Martin", "email": "alice@example.com"}),
            json!(["name", "email"]),
        ),
    };
    let request = json!({"account": "member@accounts.example", "format": format,
                         "claims": claims, "disclosable": disclosable, "validity_days": 7});
    let (status, body) = app.disclose(&f.backend, &f.holder, &f.id, &request).await;
    assert_eq!(status, 201, "{body}");
    body["credential"].as_str().expect("credential").to_string()
}

/// The presenter's side: reveal `name` to `room` answering `nonce`.
fn present(
    f: &Pseudonym,
    format: CredentialFormat,
    credential: &str,
    room: &str,
    nonce: &[u8],
) -> Vec<u8> {
    let now = SystemClock.now();
    match format {
        CredentialFormat::SdJwt => {
            let nonce = std::str::from_utf8(nonce).expect("text nonce");
            sd_jwt::present(credential, &["name"], &f.holder, room, nonce, now)
                .expect("present")
                .into_bytes()
        }
        CredentialFormat::SdCwt => {
            let cwt = Base64::decode_vec(credential).expect("base64");
            sd_cwt::present(&cwt, &["name"], &f.holder, room, nonce, now).expect("present")
        }
        CredentialFormat::X509 => credential.as_bytes().to_vec(),
    }
}

fn policy(rules: Value) -> RoomPolicy {
    RoomPolicy::from_json(rules).expect("policy")
}

fn codes(verdict: &veil::services::verify::Verification) -> Vec<&str> {
    verdict.errors.iter().map(|finding| finding.code).collect()
}

const FORMATS: [(CredentialFormat, &str); 3] = [
    (CredentialFormat::SdJwt, "sd-jwt"),
    (CredentialFormat::SdCwt, "sd-cwt"),
    (CredentialFormat::X509, "x509"),
];

async fn members_verify_each_format_with_the_published_documents_only(app: TestApp) {
    let f = pseudonym(&app, "member@accounts.example").await;
    let kept = serde_json::to_string(&documents(&app).await).expect("serialize");
    let documents: IssuerDocuments = serde_json::from_str(&kept).expect("the kept documents");
    let trust = IssuerTrust::from_documents(&documents).expect("trust");
    assert_eq!(trust.issuer(), "https://example.com");
    let leaf = P256PublicKey::from_sec1(&f.client.public_key()).expect("leaf key");
    let rules = policy(json!({"claims": {"required": ["name"], "forbidden": ["email"]}}));
    let now = SystemClock.now();
    for (format, name) in FORMATS {
        let credential = issue(&app, &f, name).await;
        let nonce = uuid::Uuid::new_v4().simple().to_string().into_bytes();
        let presented = present(&f, format, &credential, ROOM, &nonce);
        let member = MemberPresentation {
            format,
            presentation: &presented,
            room: ROOM,
            nonce: &nonce,
            leaf_key: &leaf,
        };
        // Two members of the room check the same disclosure: both accept it.
        for _ in 0..2 {
            let verdict = trust.verify(&member, &rules, now).expect("readable");
            assert!(verdict.valid, "{name}: {:?}", verdict.errors);
            assert_eq!(verdict.disclosed["name"], "Alice Martin", "{name}");
            assert!(!verdict.disclosed.contains_key("email"), "{name}: not revealed");
            match format {
                CredentialFormat::X509 => assert_eq!(verdict.subject_pseudonym, None),
                _ => assert_eq!(verdict.subject_pseudonym.as_deref(), Some(f.uri.as_str())),
            }
        }
    }
}

async fn a_member_refuses_what_does_not_bind_to_its_room_and_leaf(app: TestApp) {
    let f = pseudonym(&app, "member@accounts.example").await;
    let trust = IssuerTrust::from_documents(&documents(&app).await).expect("trust");
    let elsewhere = TestApp::spawn(app.db).await;
    let stranger = IssuerTrust::from_documents(&documents(&elsewhere).await).expect("trust");
    let mut impostor = documents(&app).await;
    impostor.jwt_vc_issuer["issuer"] = json!("https://impostor.example");
    let renamed = IssuerTrust::from_documents(&impostor).expect("trust");
    let leaf = P256PublicKey::from_sec1(&f.client.public_key()).expect("leaf key");
    let other_leaf = P256PublicKey::from_sec1(&MlsClient::new().public_key()).expect("key");
    let open = policy(json!({"claims": {"optional": ["name"]}}));
    let now = SystemClock.now();
    for (format, name) in FORMATS {
        let credential = issue(&app, &f, name).await;
        let nonce = b"nonce-the-member-asked-with".to_vec();
        let presented = present(&f, format, &credential, ROOM, &nonce);
        let member = MemberPresentation {
            format,
            presentation: &presented,
            room: ROOM,
            nonce: &nonce,
            leaf_key: &leaf,
        };
        let verdict = trust.verify(&member, &open, now).expect("readable");
        assert!(verdict.valid, "{name}: {:?}", verdict.errors);

        let refused = |member: &MemberPresentation<'_>, trust: &IssuerTrust, rules: &RoomPolicy| {
            let verdict = trust.verify(member, rules, now).expect("readable");
            assert!(!verdict.valid, "{name}");
            codes(&verdict).into_iter().map(String::from).collect::<Vec<_>>()
        };
        let on_another_leaf = MemberPresentation { leaf_key: &other_leaf, ..member.clone() };
        let on_a_strangers_keys = refused(&member, &stranger, &open);
        let wrong_format = policy(
            json!({"formats": [if name == "x509" { "sd-jwt" } else { "x509" }], "claims": {"optional": ["name"]}}),
        );
        let needs_email = policy(json!({"claims": {"required": ["email"], "optional": ["name"]}}));
        let no_pseudonyms =
            policy(json!({"pseudonyms": "forbidden", "claims": {"optional": ["name"]}}));
        // Genuine, and bound to a key that is not this leaf's (for X.509
        // the certificate's key, for the SD formats the key binding's).
        assert_eq!(refused(&on_another_leaf, &trust, &open), ["leaf_key_mismatch"], "{name}");
        // Another issuer's keys: unknown key ids; its CA has our CA's name
        // and another key.
        let stranger_code = match format {
            CredentialFormat::X509 => "issuer_signature_invalid",
            _ => "unknown_issuer_key",
        };
        assert_eq!(on_a_strangers_keys, [stranger_code], "{name}");
        if format != CredentialFormat::X509 {
            let other_room =
                MemberPresentation { room: "mimi://hub.example/r/other", ..member.clone() };
            assert_eq!(refused(&other_room, &trust, &open), ["audience_mismatch"], "{name}");
            let other_nonce = MemberPresentation { nonce: b"another nonce", ..member.clone() };
            assert_eq!(refused(&other_nonce, &trust, &open), ["nonce_mismatch"], "{name}");
            // Our keys published under another issuer name: `iss` is checked.
            assert_eq!(refused(&member, &renamed, &open), ["wrong_issuer"], "{name}");
        }
        assert_eq!(refused(&member, &trust, &wrong_format), ["format_not_allowed"], "{name}");
        assert_eq!(refused(&member, &trust, &needs_email), ["required_claim_missing"], "{name}");
        assert_eq!(refused(&member, &trust, &no_pseudonyms), ["pseudonym_forbidden"], "{name}");
    }
}

/// Runs `veilctl verify` with `args`; returns the exit code and stdout.
fn veilctl_verify(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_veilctl"))
        .arg("verify")
        .args(args)
        .env_remove("VEIL_URL")
        .output()
        .expect("veilctl runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

on_both_backends_with!(on_a_clock_at_now; veilctl_verify_checks_files_as_a_member_does);

/// A veil on a clock that starts at the real time (so `veilctl`, which
/// reads the system clock, agrees with it) and that the test can move on
/// to the next status list interval.
async fn on_a_clock_at_now(db: Db) -> (TestApp, Arc<ManualClock>) {
    let clock = ManualClock::new(SystemClock.now());
    (TestApp::spawn_with(db, clock.clone(), None).await, clock)
}

async fn veilctl_verify_checks_files_as_a_member_does((app, clock): (TestApp, Arc<ManualClock>)) {
    let f = pseudonym(&app, "member@accounts.example").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = |name: &str, contents: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).expect("write");
        path.to_str().expect("utf-8 path").to_string()
    };
    let policy = file("club.toml", b"[claims]\noptional = [\"name\"]\n");
    let leaf = file("leaf.b64", Base64::encode_string(&f.client.public_key()).as_bytes());
    let kept = dir.path().join("issuer.json");
    let kept = kept.to_str().expect("utf-8 path");
    let nonce = "a-nonce-from-the-member";

    let credential = issue(&app, &f, "sd-jwt").await;
    let presented = file(
        "alice.sd-jwt",
        &present(&f, CredentialFormat::SdJwt, &credential, ROOM, nonce.as_bytes()),
    );
    let common = [
        "--format",
        "sd-jwt",
        "--presentation",
        &presented,
        "--room",
        ROOM,
        "--leaf-key",
        &leaf,
        "--policy",
        &policy,
    ];
    let fetched =
        [&["--issuer", &app.url, "--save-keys", kept, "--nonce", nonce][..], &common].concat();
    let (code, out) = veilctl_verify(&fetched);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("disclosed: name = \"Alice Martin\""), "{out}");
    // Online, the credential's status list was fetched and checked too.
    assert!(out.contains("not checked here: replay\n"), "{out}");

    // From the kept documents, with no network: the same verdict, as JSON.
    let offline = [&["--keys", kept, "--nonce", nonce, "--json"][..], &common].concat();
    let (code, out) = veilctl_verify(&offline);
    assert_eq!(code, 0, "{out}");
    let verdict: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["subject_pseudonym"], f.uri.as_str());
    assert_eq!(verdict["not_checked"], json!(["replay", "revocation_status"]));

    let wrong_nonce = [&["--keys", kept, "--nonce", "another"][..], &common].concat();
    let (code, out) = veilctl_verify(&wrong_nonce);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("failed: nonce_mismatch"), "{out}");

    // SD-CWT given as base64 text, its nonce as base64; X.509 as PEM.
    let credential = issue(&app, &f, "sd-cwt").await;
    let kbt = present(&f, CredentialFormat::SdCwt, &credential, ROOM, nonce.as_bytes());
    let presented = file("alice.kbt.b64", Base64::encode_string(&kbt).as_bytes());
    let nonce_b64 = Base64::encode_string(nonce.as_bytes());
    let args = [
        "--keys",
        kept,
        "--format",
        "sd-cwt",
        "--presentation",
        &presented,
        "--room",
        ROOM,
        "--nonce-b64",
        &nonce_b64,
        "--leaf-key",
        &leaf,
        "--policy",
        &policy,
    ];
    let (code, out) = veilctl_verify(&args);
    assert_eq!(code, 0, "{out}");
    let credential = issue(&app, &f, "x509").await;
    let presented = file("alice.pem", credential.as_bytes());
    let args = [
        "--keys",
        kept,
        "--format",
        "x509",
        "--presentation",
        &presented,
        "--leaf-key",
        &leaf,
        "--policy",
        &policy,
    ];
    let (code, out) = veilctl_verify(&args);
    assert_eq!(code, 0, "{out}");

    // Revoked: the status list says so to `veilctl verify --issuer`.
    let remedy = json!({"pseudonym": f.uri, "action": "suspend_and_revoke", "case_id": "c-9",
                        "reason": "abuse"});
    let (status, body) = app.post("/v1/admin/remedies", &app.admin_token, &remedy).await;
    assert_eq!(status, 201, "{body}");
    // It is published with the next list, within one interval.
    clock.advance(TTL_SECS);
    let fetched = [&["--issuer", &app.url, "--nonce", nonce][..], &common].concat();
    let (code, out) = veilctl_verify(&fetched);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("failed: pseudonym_revoked"), "{out}");

    // Usage errors: an SD format without its binding inputs, or no issuer.
    let (code, out) = veilctl_verify(&[&["--keys", kept][..], &common].concat());
    assert_eq!(code, 2, "{out}");
    let (code, out) = veilctl_verify(&[&["--nonce", nonce][..], &common].concat());
    assert_eq!(code, 2, "{out}");
}

/// `vct` against the room policy's `types`: by default the issuer's own
/// type; a policy naming others refuses ours with `wrong_type`.
async fn a_room_accepts_the_credential_types_its_policy_names(app: TestApp) {
    let f = pseudonym(&app, "member@accounts.example").await;
    let trust = IssuerTrust::from_documents(&documents(&app).await).expect("trust");
    let leaf = P256PublicKey::from_sec1(&f.client.public_key()).expect("leaf key");
    let ours = "https://example.com/vct/linked-identity/v1";
    let now = SystemClock.now();
    for (format, name) in [(CredentialFormat::SdJwt, "sd-jwt"), (CredentialFormat::SdCwt, "sd-cwt")]
    {
        let credential = issue(&app, &f, name).await;
        let nonce = b"n".to_vec();
        let presented = present(&f, format, &credential, ROOM, &nonce);
        let member = MemberPresentation {
            format,
            presentation: &presented,
            room: ROOM,
            nonce: &nonce,
            leaf_key: &leaf,
        };
        let judged = |types: Value| {
            let rules = policy(json!({"types": types, "claims": {"optional": ["name"]}}));
            let verdict = trust.verify(&member, &rules, now).expect("readable");
            codes(&verdict).into_iter().map(String::from).collect::<Vec<_>>()
        };
        assert!(judged(json!([])).is_empty(), "{name}: the issuer's own type by default");
        assert!(judged(json!([ours])).is_empty(), "{name}");
        assert_eq!(judged(json!(["https://other.example/vct/employee"])), ["wrong_type"], "{name}");
    }
    // Types are URIs, listed once.
    for bad in [json!(["not a uri"]), json!([ours, ours]), json!([""])] {
        assert!(RoomPolicy::from_json(json!({"types": bad})).is_err(), "{bad}");
    }
}
