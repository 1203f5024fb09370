//! Privacy at rest: after minting for known account ids, neither a dump of
//! every table nor (on SQLite) the raw database files contain them.

use crate::support::TestApp;
use crate::support::mls::MlsClient;

on_both_backends!(database_holds_no_account_id);

const ACCOUNTS: [&str; 3] = ["alice.liddell@wonderland.example", "acct-0042-bob", "Zoë 🦊 李"];

fn forms(account: &str) -> Vec<String> {
    let hex: String = account.bytes().map(|b| format!("{b:02x}")).collect();
    vec![account.to_string(), hex.clone(), hex.to_uppercase()]
}

async fn database_holds_no_account_id(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    for account in ACCOUNTS {
        for _ in 0..2 {
            let (status, body) = app
                .mint(&backend, account, vec![MlsClient::new().jwk(), MlsClient::new().jwk()])
                .await;
            assert_eq!(status, 201, "{body}");
            assert!(!body.to_string().contains(account), "the response never echoes the account");
        }
    }
    assert_eq!(app.account_count().await, 3);
    assert_eq!(app.pseudonym_count().await, 12);

    let dump = app.state.store.dump_all_tables().await.unwrap();
    assert!(
        dump.contains("pseudonyms: "),
        "the dump covers the tables: {}",
        &dump[..dump.len().min(400)]
    );
    for account in ACCOUNTS {
        for form in forms(account) {
            assert!(!dump.contains(&form), "table dump contains {form:?}");
        }
    }

    if let Some(path) = app.sqlite_path() {
        let mut bytes = std::fs::read(&path).unwrap();
        for suffix in ["-wal", "-shm"] {
            if let Ok(more) = std::fs::read(format!("{}{suffix}", path.display())) {
                bytes.extend(more);
            }
        }
        assert!(bytes.len() > 4096);
        for account in ACCOUNTS {
            let needle = account.as_bytes();
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "database file contains {account:?}"
            );
        }
    }
}
