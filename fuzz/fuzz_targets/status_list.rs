//! Status List Tokens as a member's client receives them from the network:
//! JWT and CWT forms (parsed and refused before any inflation unless signed
//! by the key), and the zlib `lst` inflation itself, which is bounded.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use veil::formats::disclosure::IssuerKey;
use veil::formats::keys::signer::Es256Signer;
use veil::formats::status_list::{self, MAX_ENTRIES, StatusList};

static KEYS: LazyLock<Vec<IssuerKey>> = LazyLock::new(|| {
    let signer = Es256Signer::generate("status").map(|(s, _)| s).expect("key");
    vec![IssuerKey::es256("status", signer.public_key())]
});

fuzz_target!(|data: &[u8]| {
    const URI: &str = "https://example.com/v1/status-lists/0";
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = status_list::verify_jwt(text, &KEYS, URI, 1_000);
    }
    let _ = status_list::verify_cwt(data, &KEYS, URI, 1_000);
    if let Ok(list) = StatusList::from_compressed(data) {
        assert!(list.entries() <= MAX_ENTRIES + 4);
        let _ = list.get(list.entries().saturating_sub(1));
    }
});
