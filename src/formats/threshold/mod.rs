//! Threshold opening of the break-glass link (issue 12, "Accountable
//! correlation"): no machine ever holds the whole break-glass key.
//!
//! `glass_link` is an HPKE ciphertext in mode Auth with DHKEM(P-256,
//! HKDF-SHA256), HKDF-SHA256 and AES-128-GCM (RFC 9180), sealed by veil
//! with its *sender* key to the break-glass *recipient* key `skR`.
//!
//! Who holds what:
//! - **Key ceremony** (once, offline): [`split`] cuts `skR` into `n` Feldman
//!   shares `s_i`, any `k` of which determine it, and forgets `skR`. It
//!   publishes each custodian's verification point `V_i = s_i·G` and the
//!   Feldman commitments, with which a custodian checks its share
//!   ([`verify_share`]).
//! - **veil** (online) holds the recipient public key and its own sender
//!   private key: it can seal ([`AuthSealer`]; [`seal_auth`] is the `hpke`
//!   crate's own, kept to check it) but not open.
//! - **Each custodian** holds one [`CustodianShare`]. Asked to open a link,
//!   it computes a [`Partial`] ([`partial`]): `s_i·E` and `s_i·S` for the
//!   link's encapsulated key `E` and veil's sender key `S`, with a
//!   Chaum–Pedersen proof that the same `s_i` as in `V_i` was used. A
//!   partial opens this one link only.
//! - **The requester** checks every proof against the published `V_i` (a
//!   bad one names its custodian), combines `k` partials by Lagrange
//!   interpolation in the exponent into `skR·E` and `skR·S`, and finishes
//!   the DHKEM decapsulation and HPKE open ([`open_threshold`]). The key
//!   itself is never rebuilt.
//!
//! Integrity: Auth mode binds the link to veil's sender key, so a database
//! writer who knows only public keys cannot forge a `glass_link` that opens.
//! The caller's `aad` (the `account_ref`) binds it to its row.

mod auth_sealer;
mod dleq;
mod encoding;
mod full;
mod keys;
mod partial;
mod rng;
mod schedule;
mod shares;
#[cfg(test)]
mod tests;

pub use auth_sealer::AuthSealer;
pub use dleq::DleqProof;
pub use full::{open_auth, open_base, seal_auth, seal_base};
pub use keys::{Encapsulated, KemPublicKey, KemSecretKey};
pub use partial::{Envelope, Partial, open_threshold, partial};
#[cfg(test)]
pub(crate) use rng::OsRng;
pub use shares::{
    CustodianIndex, CustodianShare, FeldmanCommitments, Split, VerificationPoint, split,
    verify_share,
};

/// RFC 9180 identifiers of the one suite used here.
const MODE_AUTH: u8 = 0x02;
const KEM_ID: u16 = 0x0010;
const KDF_ID: u16 = 0x0001;
const AEAD_ID: u16 = 0x0001;

/// `"HPKE" || kem_id || kdf_id || aead_id`: names the suite in the key
/// schedule and in every proof transcript.
const fn hpke_suite_id() -> [u8; 10] {
    let k = KEM_ID.to_be_bytes();
    let f = KDF_ID.to_be_bytes();
    let a = AEAD_ID.to_be_bytes();
    [b'H', b'P', b'K', b'E', k[0], k[1], f[0], f[1], a[0], a[1]]
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ThresholdError {
    #[error("a threshold must be 2..=n and n at most 255 (got {k} of {n})")]
    BadCounts { k: usize, n: usize },
    #[error("a key, point or scalar is malformed")]
    BadKey,
    #[error("the operating system's random generator failed")]
    Random,
    #[error("secret sharing failed")]
    Sharing,
    #[error("share {index} does not match the published commitments")]
    BadShare { index: u8 },
    #[error("no verification point is published for custodian {index}")]
    UnknownCustodian { index: u8 },
    #[error("the partial decryption from custodian {index} does not verify")]
    BadPartial { index: u8 },
    #[error("custodian {index} sent more than one partial decryption")]
    DuplicatePartial { index: u8 },
    #[error("{have} partial decryption(s) given but {need} are needed")]
    NotEnough { have: usize, need: usize },
    #[error("the verification points do not belong to this break-glass key")]
    WrongCustodians,
    #[error("sealing failed")]
    Seal,
    #[error("the link could not be opened")]
    Open,
}
