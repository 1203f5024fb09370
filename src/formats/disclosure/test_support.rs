//! Fixtures shared by the SD-JWT and SD-CWT tests.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::{Expectations, IssueParams, IssuerKey};
use crate::formats::keys::signer::Es256Signer;

pub const ISSUED_AT: i64 = 1_750_000_000;
pub const NOW: i64 = ISSUED_AT + 30;
pub const AUDIENCE: &str = "mimi://room.example/r/general";
pub const NONCE: &str = "n-0S6_WzA2Mj";
pub const DISPLAY_NAME: &str = "Zoë 🦊 李小龍 مرحبا";

pub fn signer(kid: &str) -> Es256Signer {
    Es256Signer::generate(kid).expect("key generation").0
}

pub fn keys(issuer: &Es256Signer) -> Vec<IssuerKey> {
    vec![IssuerKey::es256(issuer.kid(), issuer.public_key())]
}

pub fn expectations() -> Expectations<'static> {
    Expectations {
        audience: AUDIENCE,
        nonce: NONCE.as_bytes(),
        now: NOW,
        max_kb_age_secs: 300,
        presenter_key: None,
    }
}

pub fn claims() -> Map<String, Value> {
    let claims = json!({
        "display_name": DISPLAY_NAME,
        "email": "zoe@example.com",
        "address": { "locality": "Zürich", "country": "CH" },
        "age_over_18": true,
        "handle": "crazykoala75",
    });
    match claims {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

pub fn params(holder: &Es256Signer) -> IssueParams {
    IssueParams {
        issuer: "https://veil.example".into(),
        subject: Some("mimi://veil.example/p/crazykoala75".into()),
        vct: Some("https://veil.example/vct/pseudonym".into()),
        holder_key: holder.public_key().clone(),
        issued_at: ISSUED_AT,
        expires_at: ISSUED_AT + 3600,
        claims: claims(),
        disclosable: vec!["display_name".into(), "email".into(), "address".into()],
        status: None,
    }
}

/// Small JSON values with arbitrary Unicode text, for round-trip properties.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Claims with arbitrary names (avoiding reserved ones) and values, plus the
/// subset to make disclosable.
pub fn claims_and_selection() -> impl Strategy<Value = (Map<String, Value>, Vec<String>)> {
    prop::collection::btree_map(
        "[a-z][a-z0-9_]{0,8}|\\PC{1,6}",
        (json_value(), any::<bool>()),
        0..6,
    )
    .prop_map(|map| {
        let mut claims = Map::new();
        let mut disclosable = Vec::new();
        for (name, (value, hide)) in map {
            if super::RESERVED_CLAIMS.contains(&name.as_str()) {
                continue;
            }
            if hide {
                disclosable.push(name.clone());
            }
            claims.insert(name, value);
        }
        (claims, disclosable)
    })
}
