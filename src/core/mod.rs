//! The product's vocabulary: identifiers, account and pseudonym states,
//! remedies, bounded text, listing pages, the clock, and the privacy
//! primitives that link an account to its pseudonyms. It imports nothing
//! else of the crate, so every layer above can share it.

pub mod account;
pub mod client_id;
pub mod clock;
pub mod linkage;
pub mod ops_keys;
pub mod page;
pub mod pseudonym_id;
pub mod pseudonym_index;
pub mod remedy;
pub mod status;
pub mod text;
