//! Fixtures shared by `tests/` and `examples/`, compiled only with the
//! `testkit` feature (the crate's dev-dependency on itself turns it on), so
//! no release build carries them: a veil served on a temporary directory,
//! a P-256 holder key usable by both openmls and veil's presentations, and
//! the openmls client and hub the example flows drive.
//!
//! Errors are boxed: a fixture only reports why it could not go on.

pub mod holder;
pub mod hub;
pub mod instance;
pub mod member;
pub mod persona;
pub mod pki;

pub use holder::HolderKey;
pub use hub::Hub;
pub use instance::{Served, Veil, serve};
pub use member::Member;
pub use persona::{
    CommittedLeaf, Persona, credential_uri, lifetime_within, members, merge_commit, mint,
};

use openmls::prelude::{Capabilities, Ciphersuite, CredentialType, ExtensionType};

use crate::formats::mls::CONNECTION_ONLY_EXTENSION_TYPE;

/// What a fixture failed on.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A fixture's result.
pub type Res<T> = Result<T, Error>;

/// The only suite a P-256 pseudonym key can sign in.
pub const SUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMP256_AES128GCM_SHA256_P256;

/// Leaves must list x509, the credential type veil mints, and the
/// connection-only KeyPackage extension a client may set (RFC 9420 §7.2: a
/// KeyPackage's extensions must be in its leaf's capabilities).
pub fn capabilities() -> Capabilities {
    Capabilities::builder()
        .credentials(vec![CredentialType::X509, CredentialType::Basic])
        .ciphersuites(vec![SUITE])
        .extensions(vec![ExtensionType::Unknown(CONNECTION_ONLY_EXTENSION_TYPE)])
        .build()
}

/// Prints one step of an example's story.
pub fn step(text: &str) {
    println!("\n==> {text}");
}
