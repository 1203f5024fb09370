//! The integrity tag of an account's `glass_link` (`LinkKeys::glass_tag`)
//! over everything the link is opened with: the account, the suite, the
//! HPKE sender key and the sealed bytes. Written by the mint, checked
//! before a reveal releases the link, so only links this service wrote
//! are ever released.

use crate::core::linkage::{AccountRef, LinkKeys};

fn binding<'a>(suite: &'a [u8; 8], sender: Option<&'a [u8]>, link: &'a [u8]) -> [&'a [u8]; 3] {
    [suite.as_slice(), sender.unwrap_or_default(), link]
}

pub fn tag(
    keys: &LinkKeys,
    account: &AccountRef,
    suite: i64,
    sender: Option<&[u8]>,
    link: &[u8],
) -> [u8; 32] {
    let suite = suite.to_be_bytes();
    keys.glass_tag(account, &binding(&suite, sender, link))
}

/// Whether `tag` (absent: never written by this release) is the tag of this link.
pub fn matches(
    keys: &LinkKeys,
    account: &AccountRef,
    suite: i64,
    sender: Option<&[u8]>,
    link: &[u8],
    tag: Option<&[u8]>,
) -> bool {
    let suite = suite.to_be_bytes();
    tag.is_some_and(|tag| keys.glass_tag_matches(account, &binding(&suite, sender, link), tag))
}
