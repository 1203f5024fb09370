//! Disclosure issuance and verification per format, against raw ring P-256
//! sign and verify measured in the same run, so the printed ratios survive
//! noisy machines. Only the CPU part: the routes add a pseudonym lookup and
//! a replay record on top. `check_proof` is what the issuance route added for
//! issue 11 (the request digest and one P-256 verification of the holder's
//! proof of possession); the ratios show it against each issuance.
//!
//! `cargo bench --bench disclosures -- --warm-up-time 1 --measurement-time 2`

use criterion::Criterion;
use serde_json::{Map, Value, json};
use veil::core::clock::{Clock, SystemClock};
use veil::formats::disclosure::{Expectations, IssueParams, IssuerKey, sd_cwt, sd_jwt};
use veil::formats::keys::signer::Es256Signer;
use veil::formats::linked_x509::{self, LinkedIdentity};
use veil::formats::pop;
use veil::formats::x509::der_to_pem;
use veil::services::disclose::{CredentialFormat, DisclosureRequest};
use veil::services::keyring::{KeyDirectory, KeySet};
use veil::services::verify::x509::{self as verify_x509, TrustAnchor};

const ROOM: &str = "mimi://example.com/r/general";
const NONCE: &str = "bench-nonce-0123456789";
const PREFIX: &str = "mimi://example.com/p/";
const MESSAGE: &[u8] = b"32 bytes of message to be signed";

struct Fixture {
    keys: KeySet,
    holder: Es256Signer,
    params: IssueParams,
    now: i64,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let directory = KeyDirectory::new(dir.path().join("keys"));
    directory.generate("example.com").expect("keys");
    let keys = directory.load().expect("load");
    let holder = Es256Signer::generate("holder").expect("holder").0;
    let now = SystemClock.now();
    let claims: Map<String, Value> = match json!({
        "name": "Zoë 🦊 李小龍 مرحبا",
        "email": "zoe@example.com",
        "age_over_18": true,
        "family_name": "Doe",
        "address": {"locality": "Zürich", "country": "CH"},
    }) {
        Value::Object(map) => map,
        _ => unreachable!(),
    };
    let params = IssueParams {
        issuer: "https://example.com".into(),
        subject: Some(format!("{PREFIX}AAAAAAAAAAAAAAAAAAAAAA")),
        vct: Some("urn:veil:vct:linked-identity:1".into()),
        holder_key: holder.public_key().clone(),
        issued_at: now,
        expires_at: now + 86_400,
        disclosable: claims.keys().cloned().collect(),
        status: None,
        claims,
    };
    Fixture { keys, holder, params, now, _dir: dir }
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    let signature = f.holder.sign(MESSAGE).expect("sign");
    c.bench_function("disclosures/raw_p256_sign", |b| b.iter(|| f.holder.sign(MESSAGE)));
    c.bench_function("disclosures/raw_p256_verify", |b| {
        b.iter(|| f.holder.public_key().verify_es256(MESSAGE, &signature))
    });

    let request = DisclosureRequest {
        account: "zoe@accounts.example".into(),
        format: CredentialFormat::SdJwt,
        claims: f.params.claims.clone(),
        disclosable: f.params.disclosable.clone(),
        validity_days: 30,
        client: None,
    };
    let pseudonym = "AAAAAAAAAAAAAAAAAAAAAA";
    let issuer = "https://example.com";
    let proof = request.prove(&f.holder, issuer, pseudonym, f.now).expect("proof");
    c.bench_function("disclosures/check_proof", |b| {
        b.iter(|| {
            let digest = pop::request_digest(&request.proof_object());
            let expected =
                pop::Expected { audience: issuer, pseudonym, request_digest: &digest, now: f.now };
            pop::verify_proof(&proof, f.holder.public_key(), &expected).expect("verify")
        })
    });

    let expected = Expectations {
        audience: ROOM,
        nonce: NONCE.as_bytes(),
        now: f.now,
        max_kb_age_secs: 300,
        presenter_key: None,
    };
    let reveal = ["name", "age_over_18"];

    let jwt_keys = vec![IssuerKey::es256(f.keys.sd_jwt.kid(), f.keys.sd_jwt.public_key())];
    c.bench_function("disclosures/issue_sd_jwt", |b| {
        b.iter(|| sd_jwt::issue(&f.params, &f.keys.sd_jwt).expect("issue"))
    });
    let credential = sd_jwt::issue(&f.params, &f.keys.sd_jwt).expect("issue");
    let presentation =
        sd_jwt::present(&credential, &reveal, &f.holder, ROOM, NONCE, f.now).expect("present");
    c.bench_function("disclosures/verify_sd_jwt", |b| {
        b.iter(|| sd_jwt::verify(&presentation, &jwt_keys, &expected).expect("verify"))
    });

    let cwt_keys = vec![IssuerKey::es256(f.keys.sd_cwt.kid(), f.keys.sd_cwt.public_key())];
    c.bench_function("disclosures/issue_sd_cwt", |b| {
        b.iter(|| sd_cwt::issue(&f.params, &f.keys.sd_cwt).expect("issue"))
    });
    let credential = sd_cwt::issue(&f.params, &f.keys.sd_cwt).expect("issue");
    let kbt = sd_cwt::present(&credential, &reveal, &f.holder, ROOM, NONCE.as_bytes(), f.now)
        .expect("present");
    c.bench_function("disclosures/verify_sd_cwt", |b| {
        b.iter(|| sd_cwt::verify(&kbt, &cwt_keys, &expected).expect("verify"))
    });

    let identity = LinkedIdentity {
        name: "Zoë 🦊 李小龍 مرحبا",
        user_uri: Some("mimi://example.com/u/zoe"),
        email: Some("zoe@example.com"),
    };
    let key = f.holder.public_key();
    let (not_before, not_after) = (f.now - 3600, f.now + 86_400);
    c.bench_function("disclosures/issue_x509", |b| {
        b.iter(|| {
            linked_x509::issue(&f.keys.ca, &identity, key, (not_before, not_after), &[0x11; 16])
                .expect("issue")
        })
    });
    let leaf = linked_x509::issue(&f.keys.ca, &identity, key, (not_before, not_after), &[0x11; 16])
        .expect("issue");
    let pem = der_to_pem(&leaf);
    let anchor = TrustAnchor::from_ca_der(f.keys.ca.cert_der()).expect("anchor");
    c.bench_function("disclosures/verify_x509", |b| {
        b.iter(|| {
            verify_x509::verify(&pem, std::slice::from_ref(&anchor), PREFIX, f.now).expect("verify")
        })
    });
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
    print_ratios();
}

/// Median time per operation from criterion's estimates, in nanoseconds:
/// the median, not the mean, because other builds share this machine.
fn median_ns(id: &str) -> Option<f64> {
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let text = std::fs::read_to_string(format!("{dir}/criterion/{id}/new/estimates.json")).ok()?;
    let json: Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

fn print_ratios() {
    let (Some(sign), Some(verify)) =
        (median_ns("disclosures_raw_p256_sign"), median_ns("disclosures_raw_p256_verify"))
    else {
        return;
    };
    println!(
        "\nRatios to one raw ring P-256 signature ({:.1} µs) and verification ({:.1} µs), this run:",
        sign / 1e3,
        verify / 1e3
    );
    for format in ["sd_jwt", "sd_cwt", "x509"] {
        for (step, unit, unit_name) in
            [("issue", sign, "signatures"), ("verify", verify, "verifications")]
        {
            let id = format!("disclosures_{step}_{format}");
            if let Some(ns) = median_ns(&id) {
                println!(
                    "  {step:<6} {format:<7} {:>8.1} µs = {:>5.2} {unit_name}",
                    ns / 1e3,
                    ns / unit
                );
            }
        }
    }
    if let Some(proof) = median_ns("disclosures_check_proof") {
        println!(
            "  proof check    {:>8.1} µs = {:>5.2} verifications",
            proof / 1e3,
            proof / verify
        );
        for format in ["sd_jwt", "sd_cwt", "x509"] {
            if let Some(issue) = median_ns(&format!("disclosures_issue_{format}")) {
                println!(
                    "  issue {format:<7} with the proof check / without: {:.2}",
                    (issue + proof) / issue
                );
            }
        }
    }
}
