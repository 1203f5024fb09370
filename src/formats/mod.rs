//! Pure codecs: client keys and issuer signers, X.509 pseudonym and linked
//! certificates, MLS credentials, identity claims, SD-JWT and SD-CWT. Used by
//! issuing and verifying code alike; no storage, no I/O.

pub mod claims;
pub mod disclosure;
pub mod keys;
pub mod linked_x509;
pub mod mls;
pub mod threshold;
pub mod x509;
