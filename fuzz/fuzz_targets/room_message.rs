//! The in-room identity message (`application/vnd.veil.identity+cbor`) a
//! member's client reads from another member: `IdentityMessage::decode`.
//! Beyond "never panics": only the deterministic encoding decodes, so what
//! decodes re-encodes to the very same bytes, within the bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil::formats::room_message::{IdentityMessage, MAX_KEY_PACKAGES};

fuzz_target!(|data: &[u8]| {
    let Ok(message) = IdentityMessage::decode(data) else { return };
    assert!(message.key_packages.len() <= MAX_KEY_PACKAGES);
    let encoded = message.encode().expect("a decoded message encodes");
    assert_eq!(encoded, data, "a decoded message re-encodes to its input");
});
