//! A linked X.509 disclosure as a hub presents it (PEM chain or base64 DER):
//! parsing, the chain to the fixed CA, validity and the identity claims.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil::services::verify::x509::verify;
use veil_fuzz::{NOW, PSEUDONYM_PREFIX, anchors};

fuzz_target!(|data: &[u8]| {
    if let Ok(presentation) = std::str::from_utf8(data) {
        let _ = verify(presentation, anchors(), PSEUDONYM_PREFIX, NOW);
    }
});
