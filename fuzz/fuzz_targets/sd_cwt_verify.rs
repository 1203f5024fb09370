//! An SD-CWT key binding token as a hub receives it (the KBT with the SD-CWT
//! embedded): decode, then verify against the fixed issuer key. Only the
//! seeds get past the signatures; `sd_cwt_signed` covers what lies behind them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil::formats::disclosure::sd_cwt;
use veil_fuzz::{expectations, holder, issuer_keys};

fuzz_target!(|data: &[u8]| {
    let _ = sd_cwt::verify(data, issuer_keys(), &expectations(Some(holder().public_key())));
    let _ = sd_cwt::verify(data, issuer_keys(), &expectations(None));
});
