//! Token Status Lists and the CRL (issue 14): every SD-JWT and SD-CWT names
//! its entry; the lists are public; a revocation flips the entry within one
//! publication interval, as a member's offline check and an independent
//! decoder (Python's zlib) both read it, and OpenSSL refuses the revoked
//! certificates; suspensions are not published; and the entries do not
//! group pseudonyms by account.

use std::collections::HashMap;
use std::sync::Arc;

use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use serde_json::{Value, json};
use veil::core::clock::{Clock, ManualClock};
use veil::core::pseudonym_id::PseudonymId;
use veil::formats::disclosure::{StatusReference, sd_cwt, sd_jwt};
use veil::formats::keys::public_key::P256PublicKey;
use veil::services::disclose::CredentialFormat;
use veil::services::status_lists::{Holder, LIST_ENTRIES, TOKEN_TTL_SECS, TTL_SECS, reference};
use veil::services::verify::offline::{IssuerTrust, MemberPresentation, StatusCache};
use veil::services::verify::policy::RoomPolicy;
use veil::testkit::member::fetch_documents;

use crate::support::fixtures::{Pseudonym, pseudonym};
use crate::support::mls::MlsClient;
use crate::support::{Db, TestApp, tools};

const ROOM: &str = "mimi://hub.example/r/status";
const ACCOUNT: &str = "member@accounts.example";

async fn on_a_clock(db: Db) -> (TestApp, Arc<ManualClock>) {
    let clock = ManualClock::new(1_900_000_800);
    let policy = "[account]\npseudonyms_per_hour = 1000\npseudonyms_per_day = 10000\n\
                  max_active = 10000\n[client]\nrequests_per_second = 100000\nburst = 100000\n";
    (TestApp::spawn_with(db, clock.clone(), Some(policy)).await, clock)
}

async fn a_remedy_flips_the_entry_within_one_ttl((app, clock): (TestApp, Arc<ManualClock>)) {
    let f = pseudonym(&app, ACCOUNT).await;
    let trust = IssuerTrust::from_documents(&fetch_documents(&app.http, &app.url).await.unwrap())
        .expect("trust");
    let leaf = P256PublicKey::from_sec1(&f.client.public_key()).expect("leaf");
    let open =
        RoomPolicy::from_json(json!({"max_kb_age_secs": 3600, "claims": {"optional": ["name"]}}))
            .expect("policy");

    let jwt_credential = issue(&app, &f, "sd-jwt").await;
    let cwt_credential = issue(&app, &f, "sd-cwt").await;
    let shown = [
        (
            CredentialFormat::SdJwt,
            present(&f, CredentialFormat::SdJwt, &jwt_credential, clock.now()),
        ),
        (
            CredentialFormat::SdCwt,
            present(&f, CredentialFormat::SdCwt, &cwt_credential, clock.now()),
        ),
    ];
    // A member's check, with the lists fetched now in the token's own form.
    let check = |cache: &StatusCache, now: i64| {
        shown
            .iter()
            .map(|(format, bytes)| {
                let member = MemberPresentation {
                    format: *format,
                    presentation: bytes,
                    room: ROOM,
                    nonce: b"n",
                    leaf_key: &leaf,
                };
                let verdict =
                    trust.verify_with_status(&member, &open, now, cache).expect("readable");
                verdict.errors.iter().map(|e| e.code.to_string()).collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    // Each credential names its own entry (possibly in another list).
    let entries: Vec<StatusReference> = shown
        .iter()
        .map(|(format, bytes)| {
            let member = MemberPresentation {
                format: *format,
                presentation: bytes,
                room: ROOM,
                nonce: b"n",
                leaf_key: &leaf,
            };
            let verdict = trust.verify(&member, &open, clock.now()).expect("readable");
            verdict.status_list.expect("SD credentials name their entry")
        })
        .collect();
    assert_ne!(entries[0], entries[1], "one entry per credential");
    let entry = entries[0].clone();
    let uris: Vec<&str> = entries.iter().map(|e| e.uri.as_str()).collect();
    let no_findings = vec![Vec::<String>::new(); 2];
    let (jwt_list, cwt_list, jwt) = fetch(&app, &trust, &uris, clock.now()).await;
    assert_eq!(check(&jwt_list, clock.now()), no_findings);
    assert_eq!(check(&cwt_list, clock.now()), no_findings);
    assert_eq!(python_entry(&jwt, entry.idx), 0);
    // Without a list, or with one past its ttl, a member cannot vouch.
    assert_eq!(check(&StatusCache::default(), clock.now())[0], ["status_unavailable"]);
    assert_eq!(check(&jwt_list, clock.now() + TOKEN_TTL_SECS + 1)[0], ["status_unavailable"]);

    // A suspension is not published (it would group the account's
    // pseudonyms for list watchers, twice); a revocation is, with the next
    // list.
    let none: Vec<String> = Vec::new();
    for (action, bit, code) in
        [("suspend", 0, None), ("suspend_and_revoke", 1, Some("pseudonym_revoked"))]
    {
        let remedy =
            json!({"pseudonym": f.uri, "action": action, "case_id": "c-1", "reason": "spam"});
        let (status, applied) = app.post("/v1/admin/remedies", &app.admin_token, &remedy).await;
        assert_eq!(status, 201, "{applied}");
        // Within the interval, the published list is the one built at its
        // start; the next interval's list has it.
        clock.advance(1);
        let (_, _, same) = fetch(&app, &trust, &uris, clock.now()).await;
        assert_eq!(python_entry(&same, entry.idx), 0, "{action}: lists change once per interval");
        clock.advance(TTL_SECS);
        let (jwt_list, cwt_list, jwt) = fetch(&app, &trust, &uris, clock.now()).await;
        let expected = vec![code.map_or(none.clone(), |c| vec![c.to_string()]); 2];
        assert_eq!(check(&jwt_list, clock.now()), expected, "{action} (JWT list)");
        assert_eq!(check(&cwt_list, clock.now()), expected, "{action} (CWT list)");
        assert_eq!(python_entry(&jwt, entry.idx), bit, "{action}: the independent decoder");
        let id = applied["remedy_id"].as_str().unwrap();
        let lift = json!({"reason": "appeal"});
        let (status, body) =
            app.post(&format!("/v1/admin/remedies/{id}/lift"), &app.admin_token, &lift).await;
        assert_eq!(status, 204, "{body}");
    }
    // Revocation is final.
    clock.advance(TTL_SECS);
    let (jwt_list, _, jwt) = fetch(&app, &trust, &uris, clock.now()).await;
    assert_eq!(check(&jwt_list, clock.now())[0], ["pseudonym_revoked"]);
    assert_eq!(python_entry(&jwt, entry.idx), 1);
    let (status, body) = app.get("/v1/status-lists/16", None).await;
    assert_eq!(status, 404, "{body}");
}

/// The list at `uri` fetched from veil in both forms, each checked as the
/// issuer's and kept as a member keeps it; and the JWT itself.
async fn fetch(
    app: &TestApp,
    trust: &IssuerTrust,
    uris: &[&str],
    now: i64,
) -> (StatusCache, StatusCache, String) {
    let (mut jwt_cache, mut cwt_cache) = (StatusCache::default(), StatusCache::default());
    let mut first_jwt = None;
    for uri in uris {
        let path = uri.strip_prefix("https://example.com").expect("under the issuer");
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.headers()["content-type"], "application/statuslist+jwt");
        let cache = response.headers()["cache-control"].to_str().unwrap().to_string();
        let max_age: i64 = cache.strip_prefix("public, max-age=").unwrap().parse().unwrap();
        assert!((1..=TTL_SECS).contains(&max_age), "cached until the next list: {cache}");
        let jwt = response.text().await.unwrap();
        jwt_cache.add_jwt(trust, uri, &jwt, now).expect("the issuer's list");
        first_jwt.get_or_insert(jwt);
        let response = app
            .http
            .get(app.url(path))
            .header("accept", "application/statuslist+cwt")
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-type"], "application/statuslist+cwt");
        cwt_cache.add_cwt(trust, uri, &response.bytes().await.unwrap(), now).expect("CWT list");
    }
    (jwt_cache, cwt_cache, first_jwt.expect("a list"))
}

/// The entry at `idx` as Python's standard library decodes the JWT's
/// `status_list.lst` (base64url, zlib, 2 bits little-endian in each byte).
fn python_entry(jwt: &str, idx: u64) -> u8 {
    tools::require("python3", &["--version"], "install Python 3");
    let script = "import base64, json, sys, zlib\n\
        tok, idx = sys.argv[1], int(sys.argv[2])\n\
        pad = lambda s: s + '=' * (-len(s) % 4)\n\
        body = json.loads(base64.urlsafe_b64decode(pad(tok.split('.')[1])))\n\
        sl = body['status_list']\n\
        assert sl['bits'] == 2\n\
        raw = zlib.decompress(base64.urlsafe_b64decode(pad(sl['lst'])))\n\
        print((raw[idx // 4] >> (2 * (idx % 4))) & 3)\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script, jwt, &idx.to_string()])
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("a number")
}

/// 1,000 pseudonyms of 20 accounts, each given its entry the way a
/// disclosure gives it. The attacker holds every credential (so every list
/// and index) and groups by nearness in the lists: each entry's nearest
/// neighbour is guessed to share its account. Chance is 49/999; the guess
/// must not do measurably better.
async fn entries_do_not_group_pseudonyms_by_account((app, _): (TestApp, Arc<ManualClock>)) {
    let backend = app.token(&["backend"]).await;
    let mut owner: HashMap<String, usize> = HashMap::new();
    for account in 0..20 {
        for _ in 0..2 {
            let keys: Vec<Value> = (0..25).map(|_| MlsClient::new().jwk()).collect();
            let (status, body) = app.mint(&backend, &format!("acct-{account}"), keys).await;
            assert_eq!(status, 201, "{body}");
            for p in body["pseudonyms"].as_array().unwrap() {
                owner
                    .insert(p["uri"].as_str().unwrap().rsplit('/').next().unwrap().into(), account);
            }
        }
    }
    let mut slots: Vec<(i64, usize)> = Vec::new();
    // Each account's entries drawn in a burst, one account after another:
    // the order an allocator by arrival (or by write order) would leak.
    let mut ids: Vec<(&usize, &String)> = owner.iter().map(|(id, a)| (a, id)).collect();
    ids.sort();
    for (account, id) in ids {
        let parsed = Holder::Pseudonym(PseudonymId::parse(id).expect("id"));
        let base = "https://example.com/v1/status-lists/";
        let link = &app.state.keys.link;
        let entry =
            reference(&app.state.store, link, base, &parsed, 2_000_000_000).await.expect("entry");
        let list: i64 = entry.uri.rsplit('/').next().unwrap().parse().unwrap();
        slots.push((list * LIST_ENTRIES + entry.idx as i64, *account));
    }
    slots.sort();
    let distinct: std::collections::HashSet<i64> = slots.iter().map(|(s, _)| *s).collect();
    assert_eq!(distinct.len(), 1000, "every credential has its own entry");
    // A copy of the database shows random slots and sealed holders: no
    // pseudonym id, no account ref, in any column of the new tables.
    let dump = app.state.store.dump_all_tables().await.expect("dump");
    let entries: Vec<&str> = dump.lines().filter(|l| l.starts_with("status_entries")).collect();
    assert_eq!(entries.len(), 1000);
    for id in owner.keys() {
        // Blobs dump as hex (SQLite X'…', PostgreSQL \x…), text as itself.
        let hex: String = id.bytes().map(|b| format!("{b:02x}")).collect();
        let seen = |row: &&str| row.contains(id.as_str()) || row.to_lowercase().contains(&hex);
        assert!(!entries.iter().any(seen), "{id} in the clear");
    }
    let hits = slots.windows(2).filter(|w| w[0].1 == w[1].1).count();
    let trials = slots.len() - 1;
    let chance = 49.0 / 999.0;
    let sd = (trials as f64 * chance * (1.0 - chance)).sqrt();
    let excess = (hits as f64 - trials as f64 * chance) / sd;
    println!(
        "neighbour guess: {hits}/{trials} right, chance {:.1}, z = {excess:.2}",
        trials as f64 * chance
    );
    assert!(excess < 4.0, "entries group pseudonyms by account: z = {excess:.2}");
}

on_both_backends_with!(on_a_clock;
    a_remedy_flips_the_entry_within_one_ttl,
    entries_do_not_group_pseudonyms_by_account,
    openssl_refuses_certificates_the_crl_lists
);

/// The CRL as OpenSSL reads it: the pseudonym certificate and a linked
/// X.509 disclosure both name it, and `openssl verify -crl_check` refuses
/// them once the pseudonym is revoked, not before, and not for a
/// suspension (not published).
async fn openssl_refuses_certificates_the_crl_lists((app, clock): (TestApp, Arc<ManualClock>)) {
    tools::require("openssl", &["version"], "install OpenSSL");
    let f = pseudonym(&app, ACCOUNT).await;
    let other = pseudonym(&app, "bystander@accounts.example").await;
    let request = json!({"account": ACCOUNT, "format": "x509", "claims": {"name": "Alice Martin"},
                         "disclosable": [], "validity_days": 7});
    let (status, linked) = app.disclose(&f.backend, &f.holder, &f.id, &request).await;
    assert_eq!(status, 201, "{linked}");
    let dir = app.dir.path();
    let chain = pem::parse_many(linked["credential"].as_str().unwrap()).unwrap();
    std::fs::write(dir.join("linked.pem"), pem::encode(&chain[0])).unwrap();
    std::fs::write(dir.join("ca.pem"), pem::encode(&chain[1])).unwrap();
    std::fs::write(dir.join("pseudonym.pem"), f.mint["certificate_pem"].as_str().unwrap()).unwrap();
    std::fs::write(dir.join("bystander.pem"), other.mint["certificate_pem"].as_str().unwrap())
        .unwrap();
    let openssl = |args: &[&str]| {
        let out =
            std::process::Command::new("openssl").args(args).current_dir(dir).output().unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    for cert in ["pseudonym.pem", "linked.pem"] {
        let (_, text) = openssl(&["x509", "-in", cert, "-noout", "-ext", "crlDistributionPoints"]);
        assert!(text.contains("URI:https://example.com/v1/crl"), "{cert}: {text}");
    }
    let verify = |cert: &str| {
        // OpenSSL checks at the veil's (manual) time.
        let at = (clock.now() + 60).to_string();
        let response_crl = dir.join("crl.pem");
        let (ok, text) = openssl(&[
            "verify",
            "-crl_check",
            "-attime",
            &at,
            "-CAfile",
            "ca.pem",
            "-CRLfile",
            response_crl.to_str().unwrap(),
            cert,
        ]);
        (ok, text)
    };
    let fetch_crl = || async {
        let response = app.http.get(app.url("/v1/crl")).send().await.unwrap();
        assert_eq!(response.headers()["content-type"], "application/pkix-crl");
        let der = response.bytes().await.unwrap().to_vec();
        std::fs::write(dir.join("crl.pem"), pem::encode(&pem::Pem::new("X509 CRL", der))).unwrap();
    };
    fetch_crl().await;
    for cert in ["pseudonym.pem", "linked.pem", "bystander.pem"] {
        let (ok, text) = verify(cert);
        assert!(ok, "{cert} before any remedy: {text}");
    }
    for (action, revoked) in [("suspend", false), ("suspend_and_revoke", true)] {
        let remedy =
            json!({"pseudonym": f.uri, "action": action, "case_id": "c-2", "reason": "spam"});
        let (status, applied) = app.post("/v1/admin/remedies", &app.admin_token, &remedy).await;
        assert_eq!(status, 201, "{applied}");
        clock.advance(TTL_SECS);
        fetch_crl().await;
        for cert in ["pseudonym.pem", "linked.pem"] {
            let (ok, text) = verify(cert);
            let refused = !ok && text.contains("certificate revoked");
            assert_eq!(refused, revoked, "{action}: {cert}: {text}");
        }
        let (ok, text) = verify("bystander.pem");
        assert!(ok, "{action}: another account's pseudonym stays valid: {text}");
        let id = applied["remedy_id"].as_str().unwrap();
        let (status, body) = app
            .post(
                &format!("/v1/admin/remedies/{id}/lift"),
                &app.admin_token,
                &json!({"reason": "appeal"}),
            )
            .await;
        assert_eq!(status, 204, "{body}");
    }
    // Lifting does not undo a revocation.
    clock.advance(TTL_SECS);
    fetch_crl().await;
    let (ok, text) = verify("pseudonym.pem");
    assert!(!ok && text.contains("certificate revoked"), "{text}");
    // A deleted account's pseudonyms are listed too (their link is gone).
    let remedy = json!({"pseudonym": other.uri, "action": "delete", "case_id": "c-3",
                        "reason": "abuse"});
    let (status, body) = app.post("/v1/admin/remedies", &app.admin_token, &remedy).await;
    assert_eq!(status, 201, "{body}");
    clock.advance(TTL_SECS);
    fetch_crl().await;
    let (ok, text) = verify("bystander.pem");
    assert!(!ok && text.contains("certificate revoked"), "deleted: {text}");
}

async fn issue(app: &TestApp, f: &Pseudonym, format: &str) -> String {
    let request = json!({"account": ACCOUNT, "format": format,
                         "claims": {"name": "Alice Martin"}, "disclosable": ["name"],
                         "validity_days": 7});
    let (status, body) = app.disclose(&f.backend, &f.holder, &f.id, &request).await;
    assert_eq!(status, 201, "{body}");
    let credential = body["credential"].as_str().expect("credential").to_string();
    // The status claim is in the issuer-signed part, never a disclosure.
    if format == "sd-jwt" {
        let payload = credential.split('~').next().unwrap().split('.').nth(1).unwrap();
        let payload: Value =
            serde_json::from_slice(&Base64UrlUnpadded::decode_vec(payload).unwrap()).unwrap();
        assert!(payload["status"]["status_list"]["idx"].is_u64(), "{payload}");
    }
    credential
}

fn present(f: &Pseudonym, format: CredentialFormat, credential: &str, now: i64) -> Vec<u8> {
    match format {
        CredentialFormat::SdJwt => {
            sd_jwt::present(credential, &["name"], &f.holder, ROOM, "n", now)
                .expect("present")
                .into_bytes()
        }
        _ => {
            let cwt = Base64::decode_vec(credential).expect("base64");
            sd_cwt::present(&cwt, &["name"], &f.holder, ROOM, b"n", now).expect("present")
        }
    }
}
