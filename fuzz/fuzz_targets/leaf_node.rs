//! A LeafNode as a hub submits it for an external join, an Update or a
//! Commit: decoding field by field, the signature over `LeafNodeTBS` (the
//! first input byte, when odd, names the fixed group position), the
//! lifetime, the x509 credential and its chain to the fixed CA, the leaf
//! key and the pseudonym named in the SAN.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil::formats::mls::LeafPosition;
use veil::services::verify::credential::Anchors;
use veil::services::verify::leaf_node::check_leaf_node;
use veil_fuzz::{GROUP_ID, LEAF_INDEX, NOW, PSEUDONYM_PREFIX, anchors};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, leaf)) = data.split_first() else {
        return;
    };
    let position =
        (flags & 1 == 1).then_some(LeafPosition { group_id: GROUP_ID, leaf_index: LEAF_INDEX });
    let trust = Anchors { anchors: anchors(), pseudonym_prefix: PSEUDONYM_PREFIX, now: NOW };
    let _ = check_leaf_node(leaf, position, trust);
});
