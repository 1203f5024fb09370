//! Pure codecs and cryptographic compositions: client keys and issuer
//! signers, X.509 pseudonym and linked certificates, MLS credentials,
//! identity claims, SD-JWT and SD-CWT, proofs of possession, MIMI abuse
//! reports, and threshold opening of break-glass links. Used by issuing and
//! verifying code alike; no storage, no I/O.

pub mod abuse_report;
pub mod claims;
pub mod disclosure;
pub mod glass_link;
pub mod jws;
pub mod keys;
pub mod linked_x509;
pub mod mls;
pub mod pop;
pub mod room_message;
pub mod status_list;
pub mod threshold;
pub mod type_metadata;
pub mod x509;
