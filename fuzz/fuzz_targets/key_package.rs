//! A KeyPackage (or an MLSMessage holding one) as a hub submits it for
//! validation: TLS decoding, openmls' validation, the x509 credential and its
//! chain to the fixed CA, the leaf key and the pseudonym named in the SAN.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil::services::verify::key_package::check_key_package;
use veil_fuzz::{NOW, PSEUDONYM_PREFIX, anchors};

fuzz_target!(|data: &[u8]| {
    let _ = check_key_package(data, anchors(), PSEUDONYM_PREFIX, NOW);
});
