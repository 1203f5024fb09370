//! The bounded CBOR reader every SD-CWT field goes through, and the salted
//! disclosure decoder on top of it. Whatever decodes must re-encode, decode
//! again to the same encoding, and convert to JSON without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil::formats::disclosure::sd_cwt::fuzzing::{decode_cbor, decode_disclosure};

fuzz_target!(|data: &[u8]| {
    let _ = decode_disclosure(data);
    let Ok(item) = decode_cbor(data) else { return };
    let _ = item.to_json();
    let _ = item.claims_to_json();
    let _ = item.encode_deterministic();
    if let Ok(encoded) = item.encode() {
        let again = decode_cbor(&encoded).expect("a re-encoded item decodes");
        assert_eq!(again.encode().expect("and encodes again"), encoded, "encoding is stable");
    }
});
