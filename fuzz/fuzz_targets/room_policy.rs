//! Room policies: a TOML file from `policies/rooms/`, or the same document as
//! the inline JSON policy of a verification request. A policy that loads is
//! then evaluated against a few disclosures.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use veil::services::verify::policy::RoomPolicy;

fn evaluate(policy: &RoomPolicy) {
    let disclosed = json!({ "display_name": "Zoë", "age_over_18": true, "email": "z@example.com" });
    if let Value::Object(disclosed) = disclosed {
        let _ = policy.evaluate(&disclosed);
    }
    let _ = policy.evaluate(&Map::new());
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(policy) = RoomPolicy::from_toml("fuzz", text, "fuzz.toml") {
        evaluate(&policy);
    }
    if let Ok(value) = serde_json::from_str::<Value>(text)
        && let Ok(policy) = RoomPolicy::from_json(value)
    {
        evaluate(&policy);
    }
});
