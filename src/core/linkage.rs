//! The privacy core: how accounts and pseudonyms are linked without any
//! plaintext link at rest (DESIGN.md, "Privacy model").
//!
//! - `account_ref = HMAC-SHA256(k_ref, account)`: accounts are stored only by it.
//! - `ops_link = AEAD(k_ops, account_ref; aad = pseudonym id)`: lets the online
//!   service act on the account behind a pseudonym without anyone seeing it.
//! - `glass_link = HPKE-seal(break-glass public key, account; aad = account_ref)`:
//!   the only way back to the raw account id, sealed once per account.

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

type GlassKem = X25519HkdfSha256;
const GLASS_INFO: &[u8] = b"veil glass_link v1";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    #[error("a link key has the wrong length")]
    BadKey,
    #[error("a sealed link could not be opened")]
    Open,
    #[error("sealing failed")]
    Seal,
}

/// `HMAC(k_ref, account)`: the only form in which an account is stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountRef(pub [u8; 32]);

impl std::fmt::Debug for AccountRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountRef(..)")
    }
}

/// The online link keys. The private break-glass key is not here: the
/// online service can seal to it but never open.
pub struct LinkKeys {
    k_ref: hmac::Key,
    k_ops: LessSafeKey,
    glass_public: <GlassKem as hpke::Kem>::PublicKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for LinkKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKeys(..)")
    }
}

impl LinkKeys {
    pub fn new(k_ref: &[u8], k_ops: &[u8], glass_public: &[u8]) -> Result<Self, LinkError> {
        if k_ref.len() != 32 {
            return Err(LinkError::BadKey);
        }
        let k_ops = UnboundKey::new(&AES_256_GCM, k_ops).map_err(|_| LinkError::BadKey)?;
        let glass_public = <GlassKem as hpke::Kem>::PublicKey::from_bytes(glass_public)
            .map_err(|_| LinkError::BadKey)?;
        Ok(Self {
            k_ref: hmac::Key::new(hmac::HMAC_SHA256, k_ref),
            k_ops: LessSafeKey::new(k_ops),
            glass_public,
            rng: SystemRandom::new(),
        })
    }

    pub fn account_ref(&self, account: &str) -> AccountRef {
        let tag = hmac::sign(&self.k_ref, account.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        AccountRef(out)
    }

    /// Keyed tag for other account-scoped identifiers (relation keys), under
    /// the same key but domain-separated from account refs.
    pub fn keyed_tag(&self, domain: &str, value: &str) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.k_ref);
        ctx.update(domain.as_bytes());
        ctx.update(&[0]);
        ctx.update(value.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    /// What a revealed break-glass request keeps of its account: a keyed tag
    /// that no other table holds, so the request's pseudonym joins nothing.
    pub fn reveal_tag(&self, account: &AccountRef) -> [u8; 32] {
        self.account_tag("break-glass reveal", account)
    }

    /// What a deleted account leaves behind: a keyed tag, in its own
    /// domain, that only a mint of the same account id recomputes.
    pub fn tombstone_tag(&self, account: &AccountRef) -> [u8; 32] {
        self.account_tag("deleted account", account)
    }

    fn account_tag(&self, domain: &str, account: &AccountRef) -> [u8; 32] {
        let hex: String = account.0.iter().map(|b| format!("{b:02x}")).collect();
        self.keyed_tag(domain, &hex)
    }

    /// Encrypts `plaintext` under `k_ops` with a random nonce: `nonce || ct || tag`.
    pub fn seal_ops(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, LinkError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| LinkError::Seal)?;
        let mut buf = plaintext.to_vec();
        self.k_ops
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buf)
            .map_err(|_| LinkError::Seal)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    pub fn open_ops(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, LinkError> {
        if sealed.len() < NONCE_LEN {
            return Err(LinkError::Open);
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| LinkError::Open)?;
        let mut buf = ct.to_vec();
        let plain = self
            .k_ops
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .map_err(|_| LinkError::Open)?;
        Ok(plain.to_vec())
    }

    /// `ops_link` for a pseudonym: binds the account ref to that pseudonym id,
    /// so a link cannot be moved to another pseudonym row.
    pub fn seal_ops_link(
        &self,
        pseudonym_id: &str,
        account: &AccountRef,
    ) -> Result<Vec<u8>, LinkError> {
        self.seal_ops(&account.0, pseudonym_id.as_bytes())
    }

    pub fn open_ops_link(
        &self,
        pseudonym_id: &str,
        sealed: &[u8],
    ) -> Result<AccountRef, LinkError> {
        let plain = self.open_ops(sealed, pseudonym_id.as_bytes())?;
        let bytes: [u8; 32] = plain.try_into().map_err(|_| LinkError::Open)?;
        Ok(AccountRef(bytes))
    }

    /// `glass_link`: `enc || ciphertext`, openable only with the break-glass key.
    pub fn seal_glass_link(
        &self,
        account: &str,
        account_ref: &AccountRef,
    ) -> Result<Vec<u8>, LinkError> {
        let (enc, ct) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, GlassKem>(
            &OpModeS::Base,
            &self.glass_public,
            GLASS_INFO,
            account.as_bytes(),
            &account_ref.0,
        )
        .map_err(|_| LinkError::Seal)?;
        let mut out = enc.to_bytes().to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }
}

/// A fresh break-glass key pair: (private, public), raw X25519 bytes.
pub fn generate_glass_keypair() -> (Zeroizing<Vec<u8>>, Vec<u8>) {
    let (sk, pk) = GlassKem::gen_keypair();
    (Zeroizing::new(sk.to_bytes().to_vec()), pk.to_bytes().to_vec())
}

/// Opens a `glass_link` with the break-glass private key (a reveal only).
pub fn open_glass_link(
    private_key: &[u8],
    account_ref: &AccountRef,
    sealed: &[u8],
) -> Result<Zeroizing<String>, LinkError> {
    const ENC_LEN: usize = 32;
    if sealed.len() < ENC_LEN {
        return Err(LinkError::Open);
    }
    let sk = <GlassKem as hpke::Kem>::PrivateKey::from_bytes(private_key)
        .map_err(|_| LinkError::BadKey)?;
    let (enc, ct) = sealed.split_at(ENC_LEN);
    let enc = <GlassKem as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| LinkError::Open)?;
    let plain = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, GlassKem>(
        &OpModeR::Base,
        &sk,
        &enc,
        GLASS_INFO,
        ct,
        &account_ref.0,
    )
    .map_err(|_| LinkError::Open)?;
    String::from_utf8(plain).map(Zeroizing::new).map_err(|_| LinkError::Open)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (LinkKeys, Zeroizing<Vec<u8>>) {
        let (sk, pk) = generate_glass_keypair();
        (LinkKeys::new(&[7u8; 32], &[9u8; 32], &pk).unwrap(), sk)
    }

    #[test]
    fn ops_link_is_bound_to_its_pseudonym() {
        let (keys, _) = keys();
        let account = keys.account_ref("alice");
        let sealed = keys.seal_ops_link("p1", &account).unwrap();
        assert_eq!(keys.open_ops_link("p1", &sealed).unwrap(), account);
        assert_eq!(keys.open_ops_link("p2", &sealed), Err(LinkError::Open));
        assert_ne!(keys.seal_ops_link("p1", &account).unwrap(), sealed, "nonces must differ");
    }

    #[test]
    fn glass_link_opens_only_with_the_private_key_and_right_ref() {
        let (keys, sk) = keys();
        let account = keys.account_ref("alice@example.com");
        let sealed = keys.seal_glass_link("alice@example.com", &account).unwrap();
        assert_eq!(open_glass_link(&sk, &account, &sealed).unwrap().as_str(), "alice@example.com");
        let other = keys.account_ref("bob");
        assert_eq!(open_glass_link(&sk, &other, &sealed), Err(LinkError::Open));
        let (wrong, _) = generate_glass_keypair();
        assert_eq!(open_glass_link(&wrong, &account, &sealed), Err(LinkError::Open));
    }

    #[test]
    fn account_refs_are_keyed() {
        let (keys, _) = keys();
        let (_, pk) = generate_glass_keypair();
        let other = LinkKeys::new(&[8u8; 32], &[9u8; 32], &pk).unwrap();
        assert_ne!(keys.account_ref("alice"), other.account_ref("alice"));
        assert_eq!(keys.account_ref("alice"), keys.account_ref("alice"));
        assert_ne!(keys.keyed_tag("email", "alice"), keys.account_ref("alice").0);
    }
}
