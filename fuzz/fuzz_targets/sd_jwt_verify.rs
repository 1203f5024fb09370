//! An SD-JWT+KB presentation as a hub receives it: parse, then verify
//! against the fixed issuer key. Seeds are valid presentations, so mutations
//! of every part reach the parsers; only the seeds themselves get past the
//! signatures (`sd_jwt_signed` covers what lies behind them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil::formats::disclosure::sd_jwt;
use veil_fuzz::{expectations, holder, issuer_keys};

fuzz_target!(|data: &[u8]| {
    if let Ok(presentation) = std::str::from_utf8(data) {
        let _ = sd_jwt::verify(presentation, issuer_keys(), &expectations(None));
        let _ =
            sd_jwt::verify(presentation, issuer_keys(), &expectations(Some(holder().public_key())));
    }
});
