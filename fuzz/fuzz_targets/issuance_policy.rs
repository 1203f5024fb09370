//! The issuance policy (`policies/issuance.toml`): parsing and validation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil::services::abuse::policy::IssuancePolicy;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = IssuancePolicy::from_toml(text, "issuance.toml");
    }
});
