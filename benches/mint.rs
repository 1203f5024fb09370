//! Minting cost against the machine's own limit: raw ring P-256 signing,
//! measured in the same run, so the printed ratios survive noisy machines.
//!
//! `cargo bench --bench mint`

use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use veil::core::clock::SystemClock;
use veil::formats::keys::public_key::P256PublicKey;
use veil::formats::keys::signer::Es256Signer;
use veil::services::abuse::policy::IssuancePolicy;
use veil::services::keyring::KeyDirectory;
use veil::services::mint::{MintRequest, Minter};
use veil::store::Store;

struct Fixture {
    minter: Minter,
    keys: Arc<veil::services::keyring::KeySet>,
    runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let directory = KeyDirectory::new(dir.path().join("keys"));
    directory.generate("example.com").expect("keys");
    let keys = Arc::new(directory.load().expect("load"));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = runtime.block_on(async {
        let store = Store::connect(&url, 4).await.expect("store");
        store.migrate().await.expect("migrate");
        store
    });
    // Far above any real policy: the bench measures minting, not refusals.
    let mut policy = IssuancePolicy::default();
    policy.account.pseudonyms_per_hour = 1_000_000_000;
    policy.account.pseudonyms_per_day = 1_000_000_000;
    policy.account.max_active = 1_000_000_000;
    policy.client.burst = 1_000_000_000;
    policy.client.requests_per_second = 1_000_000_000;
    policy.global.pseudonyms_per_minute = 1_000_000_000;
    let minter = Minter::new(
        keys.clone(),
        store,
        Arc::new(SystemClock),
        "mimi://example.com/p/".into(),
        90,
        Arc::new(policy),
    );
    Fixture { minter, keys, runtime, _dir: dir }
}

fn client_key() -> P256PublicKey {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .expect("key");
    P256PublicKey::from_sec1(pair.public_key().as_ref()).expect("point")
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    let (signer, _) = Es256Signer::generate("bench").expect("signer");
    c.bench_function("raw/p256_sign_ring", |b| {
        b.iter(|| signer.sign(b"32 bytes of message to be signed"))
    });

    let account = f.keys.link.account_ref("bench-account");
    c.bench_function("mint/credentials", |b| {
        b.iter_batched(
            client_key,
            |key| f.minter.issue_credentials(&key, &account, false, 0, 86_400 * 30),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("mint/glass_seal", |b| {
        b.iter(|| f.keys.glass.seal("bench-account", &account.0))
    });
    c.bench_function("mint/credentials_and_seal", |b| {
        b.iter_batched(
            client_key,
            |key| {
                let minted = f.minter.issue_credentials(&key, &account, false, 0, 86_400 * 30);
                (minted, f.keys.glass.seal("bench-account", &account.0))
            },
            BatchSize::SmallInput,
        )
    });
    let mut n = 0u64;
    c.bench_function("mint/end_to_end_sqlite", |b| {
        b.iter_batched(
            || {
                n += 1;
                MintRequest {
                    account: format!("account-{}", n % 1000),
                    client_id: "bench".into(),
                    relations: Vec::new(),
                    keys: vec![client_key().to_jwk()],
                    connection_only: false,
                    validity_days: 30,
                }
            },
            |request| f.runtime.block_on(f.minter.mint(&request)).expect("mint"),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(mint, benches);

fn main() {
    mint();
    Criterion::default().configure_from_args().final_summary();
    print_ratios();
}

/// Mean time per operation from criterion's estimates, in nanoseconds.
fn mean_ns(id: &str) -> Option<f64> {
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let path = format!("{dir}/criterion/{id}/new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

fn print_ratios() {
    let Some(sign) = mean_ns("raw_p256_sign_ring") else {
        return;
    };
    println!(
        "\nRatios to one raw ring P-256 signature ({:.1} µs) measured in this run:",
        sign / 1e3
    );
    for id in [
        "mint_credentials",
        "mint_glass_seal",
        "mint_credentials_and_seal",
        "mint_end_to_end_sqlite",
    ] {
        if let Some(ns) = mean_ns(id) {
            println!("  {id:<28} {:>8.1} µs  = {:>5.1} signatures", ns / 1e3, ns / sign);
        }
    }
}
